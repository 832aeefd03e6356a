/**
 * A change re-runs only what it changes: every remote command carries the hash of exactly the
 * files it runs (components/ansible-bundle.ts). Proven under mocks on a copy of the project
 * whose ansible/ is edited: the inputs of every resource are compared before and after.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { filesUsedBy, playbookHash, readBundle } from "../../components/ansible-bundle";
import { projectRoot } from "../../components/paths";
import { Evaluation, unwrapSecrets } from "../../scripts/lib/engine";
import { runProgram, Scratch } from "./support/fleet";

const ROOT = projectRoot();

/** A copy of the project (sources' build, inputs, ansible/) that a test may edit. */
function copyProject(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-bundle-"));
    for (const f of ["Pulumi.yaml", "customers.schema.json"]) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
    fs.cpSync(path.join(ROOT, "ansible"), path.join(dir, "ansible"), { recursive: true });
    fs.mkdirSync(path.join(dir, "build"));
    fs.cpSync(path.join(ROOT, "build", "components"), path.join(dir, "build", "components"), { recursive: true });
    fs.copyFileSync(path.join(ROOT, "build", "index.js"), path.join(dir, "build", "index.js"));
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    return dir;
}

/** Every resource's inputs, secrets unwrapped and the archive's path resolved, by name. */
async function inputsByName(ev: Evaluation<unknown>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const r of ev.resources) {
        const i = unwrapSecrets(r.inputs);
        if (i.source?.path instanceof Promise) i.source = { archive: await i.source.path };
        out.set(r.name, JSON.stringify(i));
    }
    return out;
}

function changed(a: Map<string, string>, b: Map<string, string>): string[] {
    assert.deepStrictEqual([...a.keys()].sort(), [...b.keys()].sort());
    return [...a.keys()].filter((k) => a.get(k) !== b.get(k)).sort();
}

describe("a change re-runs only what it changes", function () {
    this.timeout(120000);
    let project: string;
    let scratch: Scratch;
    let customersFile: string;
    let evaluateCopy: () => Promise<Map<string, string>>;

    before(() => {
        project = copyProject();
        scratch = new Scratch();
        customersFile = scratch.customers({ customers: [{ name: "Acme" }, { name: "Blue Widget Co" }] });
        evaluateCopy = async () => {
            // A fresh copy of the program's modules each time: it reads ansible/ when evaluated.
            for (const k of Object.keys(require.cache)) if (k.startsWith(project + path.sep)) delete require.cache[k];
            // eslint-disable-next-line @typescript-eslint/no-require-imports -- the copy's path is known only at run time
            const program = require(path.join(project, "build", "index.js"));
            return inputsByName(await runProgram({ customersFile, program }));
        };
    });
    after(() => {
        fs.rmSync(project, { recursive: true, force: true });
        scratch.cleanup();
    });

    it("the copy evaluates like the project, and twice alike (the comparison below can see a change)", async () => {
        const mine = await inputsByName(await runProgram({ customersFile }));
        const copy = await evaluateCopy();
        assert.deepStrictEqual(changed(mine, copy), ["alpha-ansible", "beta-ansible", "gamma-ansible"],
            "only the staged folder's path differs (it lives in each project's build/)");
        assert.deepStrictEqual(changed(copy, await evaluateCopy()), []);
    });

    it("editing ansible/README.md changes no resource's inputs", async () => {
        const before = await evaluateCopy();
        fs.appendFileSync(path.join(project, "ansible", "README.md"), "\nAn operator's note.\n");
        assert.deepStrictEqual(changed(before, await evaluateCopy()), []);
    });

    it("editing the customers' NGINX template changes the customers' commands and the copy, not host set-up", async () => {
        const before = await evaluateCopy();
        fs.appendFileSync(path.join(project, "ansible", "templates", "customer-http.conf.j2"), "# a comment\n");
        assert.deepStrictEqual(changed(before, await evaluateCopy()), [
            "acme-container", "alpha-ansible", "beta-ansible", "blue-widget-co-container", "gamma-ansible",
        ]);
    });

    it("editing host-setup.yml changes host set-up (and the copy), no customer's command", async () => {
        const before = await evaluateCopy();
        fs.appendFileSync(path.join(project, "ansible", "host-setup.yml"), "# a comment\n");
        assert.deepStrictEqual(changed(before, await evaluateCopy()), [
            "alpha-ansible", "alpha-setup", "beta-ansible", "beta-setup", "gamma-ansible", "gamma-setup",
        ]);
    });

    it("editing the host contract (vars/osm.yml) re-runs every playbook", async () => {
        const before = await evaluateCopy();
        fs.appendFileSync(path.join(project, "ansible", "vars", "osm.yml"), "# a comment\n");
        const diff = changed(before, await evaluateCopy());
        for (const n of ["alpha-setup", "acme-container", "blue-widget-co-container"]) assert.ok(diff.includes(n), n);
    });
});

describe("ansible-bundle: which files each playbook runs", () => {
    const bundle = readBundle(path.join(ROOT, "ansible"));

    it("ships no docs or lint configs", () => {
        for (const f of bundle.files.keys()) assert.ok(!f.endsWith(".md") && !f.split("/").some((p) => p.startsWith(".")), f);
    });

    it("host set-up uses the host templates and scripts, not the customers' templates", () => {
        const used = filesUsedBy(bundle, ["run", "host-setup.yml"]);
        for (const f of ["run", "ansible.cfg", "callback_plugins/osm_result.py", "vars/osm.yml", "tasks/check-env.yml", "templates/nginx.conf.j2", "files/osm-net", "files/osm-firewall"]) {
            assert.ok(used.includes(f), `host-setup.yml should use ${f}`);
        }
        for (const f of ["templates/customer-http.conf.j2", "templates/lxc-container.conf.j2", "customer.yml"]) assert.ok(!used.includes(f), f);
    });

    it("a customer's playbook uses the customers' NGINX templates and the scripts it calls, transitively", () => {
        const used = filesUsedBy(bundle, ["run", "customer.yml"]);
        for (const f of ["templates/customer-http.conf.j2", "templates/customer-stream.conf.j2", "files/osm-nginx", "files/osm-firewall"]) assert.ok(used.includes(f), f);
        assert.ok(!used.includes("host-setup.yml"));
    });

    it("a missing playbook is an error naming it", () => {
        assert.throws(() => playbookHash(bundle, "no-such.yml"), /ansible\/no-such\.yml does not exist/);
    });
});
