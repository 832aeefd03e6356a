/**
 * `npm run plan` as a user runs it: `node build/scripts/plan.js` in a child process, for the
 * example fleet and for bad input. The runs start together (each loads Pulumi, ~2-3 s) and
 * the tests read their results.
 */
import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as yaml from "js-yaml";
import * as path from "path";
import { projectRoot } from "../../components/paths";
import { Scratch } from "./support/fleet";

const ROOT = projectRoot();
const PLAN = path.join(ROOT, "build", "scripts", "plan.js");
const DOMAIN = "opensmartmonitor.devtank.co.uk";

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the plan with a bare environment: no Pulumi CLI settings, no secrets, no passphrase. */
function plan(args: string[]): Promise<Run> {
    return run(process.execPath, ["--stack-trace-limit=0", PLAN, ...args], "/nonexistent");
}

function run(file: string, args: string[], home: string): Promise<Run> {
    return new Promise((resolve) => {
        execFile(file, args, {
            cwd: ROOT, timeout: 600000, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home },
        }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr }));
    });
}

const stackFile = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8")) as { config: Record<string, any> };
const HOSTS: Array<{ name: string; address: string; capacity: number }> = stackFile.config["osm-hosting:hosts"];
const EXAMPLE = JSON.parse(fs.readFileSync(path.join(ROOT, "customers.json"), "utf8")) as { customers: Array<{ name: string }> };
const LABELS = EXAMPLE.customers.map((c) => c.name.toLowerCase().replace(/\s+/g, "-"));

describe("plan: npm run plan, offline", function () {
    // ~8 s on an idle 2-core machine; a busy one (other suites' servers) has taken 50 s.
    // 13 runs, ~1 s each on an idle 2-core machine; under load 20 (other suites' labs) they took 4 min.
    this.timeout(900000);
    const scratch = new Scratch();
    const runs: Record<string, Run> = {};
    const previous = { "acme": { host: "osm3", mqttPort: 20001 }, "devtank": { host: "osm0", mqttPort: 20002 } };
    let invalidFile = "";
    let v1Upgraded = "";

    before(async () => {
        invalidFile = scratch.customers({ customers: [{ name: "Acme" }, { name: "ACME" }, { name: "Bad!", hots: "osm1" }, { name: "Pinned", host: "osm9" }] });
        const small = scratch.customers({ customers: [{ name: "Solo Farm" }, { name: "Duo Dairy", host: "osm1", mqttPort: 12345 }] });
        const previousFile = scratch.json("previous.json", previous);
        const locked = JSON.parse(fs.readFileSync(path.join(ROOT, "placements.lock.json"), "utf8")).stacks.prod.customers as Record<string, any>;
        scratch.json("deployed-as-locked.json", Object.fromEntries(Object.entries(locked).map(([l, c]) => [l, { host: c.host, mqttPort: c.mqttPort }])));
        const badPrevious = scratch.json("bad-previous.json", { acme: { host: "osm3" } });
        // The example fleet with one change of each kind (against the committed lock).
        const example = JSON.parse(fs.readFileSync(path.join(ROOT, "customers.json"), "utf8")).customers as any[];
        const changed = example.filter((c) => c.name !== "Saxon Mills").map((c) =>
            c.name === "Blue Widget Co" ? { name: "Blue Widget Company", label: "blue-widget-co" } : c.name === "Devtank" ? { ...c, host: "osm1" } : c);
        const diffFile = scratch.customers({ customers: [...changed, { name: "Zed New" }] });
        const pluginsFile = scratch.customers({ customers: example.map((c) => (c.name === "Acme" ? { ...c, grafanaPlugins: [{ id: "grafana-clock-panel", version: "2.1.5" }] } : c)) });
        // The committed lock, as written against other hosts (osm1 elsewhere, osm5 since removed)...
        const committed = JSON.parse(fs.readFileSync(path.join(ROOT, "placements.lock.json"), "utf8"));
        const otherHosts = structuredClone(committed);
        otherHosts.stacks.prod.hosts.osm1.address = "203.0.113.99";
        otherHosts.stacks.prod.hosts.osm5 = { address: "203.0.113.15", capacity: 10, drain: true };
        const otherHostsLock = scratch.json("other-hosts.lock.json", otherHosts);
        // ...and as lockfile version 1 wrote it (no hosts).
        const v1Lock = scratch.json("v1.lock.json", { lockfileVersion: 1, stacks: { prod: committed.stacks.prod.customers } });
        v1Upgraded = scratch.json("v1-upgraded.lock.json", { lockfileVersion: 1, stacks: { prod: committed.stacks.prod.customers } });
        const jobs: Record<string, string[]> = {
            table: ["--all"],
            plain: [],
            diff: ["--customers", diffFile],
            diffJson: ["--customers", diffFile, "--json"],
            plugins: ["--customers", pluginsFile],
            empty: ["--customers", scratch.customers({ customers: [] })],
            json: ["--json"],
            previous: ["--json", "--previous", previousFile, "--lock", path.join(scratch.dir, "no-lock.json")],
            revertedLock: ["--json", "--previous", previousFile],
            checkRepo: ["--check"],
            otherHosts: ["--lock", otherHostsLock],
            otherHostsCheck: ["--check", "--lock", otherHostsLock],
            v1: ["--lock", v1Lock, "--previous", previousFile.replace("previous.json", "deployed-as-locked.json")],
            v1Check: ["--check", "--lock", v1Lock],
            v1Json: ["--json", "--lock", v1Lock],
            v1Write: ["--write", "--lock", v1Upgraded],
            // Another fleet, not the deployed one: against no lock (against prod's it would delete all 7).
            small: ["--customers", small, "--all", "--lock", path.join(scratch.dir, "no-lock.json")],
            invalid: ["--customers", invalidFile],
            noStack: ["--stack", "nosuch"],
            badArg: ["--frobnicate"],
            badPrevious: ["--previous", badPrevious],
            missingPrevious: ["--previous", path.join(scratch.dir, "no-such-previous.json")],
            missingCustomers: ["--customers", path.join(scratch.dir, "no-such-customers.json")],
            syntaxCustomers: ["--customers", scratch.customers('{\n  "customers": [\n    { "name": "Acme", }\n  ]\n}\n')],
        };
        // One run per core at a time: more only adds contention (measured: 9 at once took 13 s, 2 at a time 8 s).
        const queue = Object.entries(jobs);
        const worker = async () => {
            for (let job = queue.shift(); job; job = queue.shift()) runs[job[0]] = await plan(job[1]);
        };
        await Promise.all(Array.from({ length: Math.max(1, os.availableParallelism()) }, worker));
        // As README says to save it: npm's own banner goes to stdout unless -s. After the others:
        // npm run compiles first, and must not rewrite build/ under a running plan.
        runs.npmJson = await run("npm", ["run", "-s", "plan", "--", "--json"], scratch.dir);
        runs.fedBack = await plan(["--json", "--previous", scratch.json("saved-plan.json", JSON.parse(runs.npmJson.stdout))]);
    });
    after(() => scratch.cleanup());

    it("prints the example fleet as a table: customer, host, port, each name -> target", () => {
        const { code, stdout, stderr } = runs.table;
        assert.strictEqual(code, 0, stderr);
        const placements = JSON.parse(runs.json.stdout).placements;
        const lines = stdout.split("\n");
        for (const label of LABELS) {
            const p = placements[label];
            const target = `CNAME ${p.host}.${DOMAIN}.`;
            const first = lines.findIndex((l) => l.startsWith(`${label} `));
            assert.ok(first >= 0, `no row for ${label}:\n${stdout}`);
            assert.match(lines[first], new RegExp(`^${label}\\s+${p.host}\\s+${p.mqttPort}\\s+${label}\\.${DOMAIN.replace(/\./g, "\\.")}\\.\\s+${target.replace(/\./g, "\\.")}$`));
            assert.match(lines[first + 1], new RegExp(`^\\s+${label}-influx\\.\\S+\\s+${target.replace(/\./g, "\\.")}$`));
            assert.match(lines[first + 2], new RegExp(`^\\s+${label}-chirpstack\\.\\S+\\s+${target.replace(/\./g, "\\.")}$`));
        }
    });

    it("prints each host with its A record, used/capacity, percent and draining", () => {
        for (const r of [runs.table, runs.plain]) {
            const placements = JSON.parse(runs.json.stdout).placements;
            for (const h of HOSTS as Array<{ name: string; address: string; capacity: number; drain?: boolean }>) {
                const used = Object.values<any>(placements).filter((p) => p.host === h.name).length;
                const line = r.stdout.split("\n").find((l) => l.startsWith(`${h.name} `));
                assert.ok(line, `no host row for ${h.name}`);
                assert.match(line, new RegExp(`^${h.name}\\s+${h.name}\\.${DOMAIN.replace(/\./g, "\\.")}\\. A ${h.address.replace(/\./g, "\\.")}\\s+${used}/${h.capacity}\\s+${Math.round((100 * used) / h.capacity)}%${h.drain ? "\\s+draining" : ""}$`));
            }
        }
    });

    it("the example fleet as committed: no changes, the unchanged in one line, no customer table without --all", () => {
        const { code, stdout, stderr } = runs.plain;
        assert.strictEqual(code, 0, stderr);
        const lines = stdout.split("\n");
        assert.strictEqual(lines[0], "Stack prod, against what is deployed: the lock placements.lock.json");
        assert.strictEqual(lines[1], "Plan: no changes, 7 unchanged");
        assert.strictEqual(lines[2], `  = 7 customers unchanged`);
        assert.deepStrictEqual(lines.slice(3, 5), ["Hosts: no changes, 4 unchanged", "  = 4 hosts unchanged"]);
        for (const label of LABELS) assert.ok(!lines.some((l) => l.split(/\s+/).includes(label)), `${label} has a line of its own:\n${stdout}`);
    });

    it("a change of each kind: a warning at the top, then one line per changed customer, the rest in one line", () => {
        const { code, stdout, stderr } = runs.diff;
        assert.strictEqual(code, 0, stderr);
        const lines = stdout.split("\n");
        assert.match(lines[1], /^WARNING: this plan deletes 1 customer \(saxon-mills\), moves 1 customer \(devtank\)/);
        assert.match(lines[2], /^Plan: 1 to add, 1 to delete, 1 to move, 1 rename\(s\), 4 unchanged$/);
        const one = (label: string) => {
            const found = lines.filter((l) => l.split(/\s+/).includes(label));
            assert.strictEqual(found.length, 1, `${label}:\n${stdout}`);
            return found[0];
        };
        assert.match(one("saxon-mills"), /^ {2}- +saxon-mills +"Saxon Mills" +delete from osm3:\d+; its data is archived on osm3$/);
        assert.match(one("devtank"), /^ {2}~ +devtank +"Devtank" +move osm3:9000 -> osm1:9000;/);
        assert.match(one("blue-widget-co"), /^ {2}~ +blue-widget-co +"Blue Widget Company" +rename "Blue Widget Co" -> "Blue Widget Company" \(label, names, container, port and credentials kept\)$/);
        assert.match(one("zed-new"), new RegExp(`^ {2}\\+ +zed-new +"Zed New" +new on osm\\d:\\d+: zed-new\\{,-influx,-chirpstack\\}\\.${DOMAIN.replace(/\./g, "\\.")}$`));
        assert.ok(lines.includes("  = 4 customers unchanged"), stdout);
        // --json carries the same changes.
        const out = JSON.parse(runs.diffJson.stdout);
        assert.deepStrictEqual(out.changes.map((c: any) => [c.kind, c.label]), [["delete", "saxon-mills"], ["move", "devtank"], ["rename", "blue-widget-co"], ["add", "zed-new"]]);
        assert.deepStrictEqual(out.changes[1].from, { host: "osm3", mqttPort: 9000 });
        assert.deepStrictEqual(out.changes[1].to, { host: "osm1", mqttPort: 9000 });
        assert.strictEqual(out.unchanged, 4);
    });

    it("a customer's Grafana plugins added: one option change, saying which plugin and what happens", () => {
        const { code, stdout, stderr } = runs.plugins;
        assert.strictEqual(code, 0, stderr);
        const lines = stdout.split("\n");
        assert.ok(lines.includes("Plan: 1 option change(s), 6 unchanged"), stdout);
        assert.ok(lines.some((l) => /^ {2}~ +acme +"Acme" +Grafana plugins \+grafana-clock-panel 2\.1\.5 \(installed by its host; Grafana restarts once\)$/.test(l)), stdout);
    });

    it("host changes against the hosts the lock was written against: a warning at the top, one line per changed host", () => {
        const { code, stdout, stderr } = runs.otherHosts;
        assert.strictEqual(code, 0, stderr);
        const lines = stdout.split("\n");
        assert.strictEqual(lines[1], "WARNING: this plan removes 1 host (osm5), changes the address of 1 host (osm1): their A records go or change; read the host lines marked - and ~ below");
        assert.strictEqual(lines[2], "Plan: no changes, 7 unchanged");
        const at = lines.indexOf("Hosts: 1 to remove, 1 changed, 3 unchanged");
        assert.ok(at > 0, stdout);
        assert.match(lines[at + 1], /^ {2}- +osm5 +remove \(was 203\.0\.113\.15\): its A record goes, the machine itself is left as it is$/);
        assert.match(lines[at + 2], /^ {2}~ +osm1 +address 203\.0\.113\.99 -> 203\.0\.113\.10: its A record changes, devices follow after the TTL \(300 s\)$/);
        assert.strictEqual(lines[at + 3], "  = 3 hosts unchanged");
    });

    it("--check fails when the lock's hosts are stale, naming each host change and the fix", () => {
        const { code, stdout, stderr } = runs.otherHostsCheck;
        assert.strictEqual(code, 1, stdout);
        assert.match(stderr, /other-hosts\.lock\.json is stale for stack prod:\n {2}- host osm5 \(was 203\.0\.113\.15\)\n {2}~ host osm1 address 203\.0\.113\.99 -> 203\.0\.113\.10\nrun npm run plan -- --write and commit it\n$/);
    });

    it("a lockfile version 1 lock (no hosts) is still read: the plan says it cannot diff hosts, --check says to upgrade it", () => {
        const { code, stdout, stderr } = runs.v1;
        assert.strictEqual(code, 0, stderr);
        const lines = stdout.split("\n");
        assert.match(lines[0], /^Stack prod, against what is deployed: the lock .*v1\.lock\.json and --previous .*deployed-as-locked\.json \(customers only: it holds no hosts, so hosts are diffed against the lock\)$/);
        assert.strictEqual(lines[1], "Plan: no changes, 7 unchanged");
        assert.ok(lines.includes("Hosts: not diffed: the lock records no hosts (lockfile version 1); npm run plan -- --write records them"), stdout);
        assert.ok(!lines.some((l) => l.startsWith("WARNING")), stdout);
        assert.strictEqual(runs.v1Check.code, 1);
        assert.match(runs.v1Check.stderr, /v1\.lock\.json is stale for stack prod:\n {2}hosts: not recorded yet \(lockfile version 1\); --write records them\nrun npm run plan -- --write/);
        // --write upgrades it to what is committed: the customers as they were, the hosts recorded.
        assert.strictEqual(runs.v1Write.code, 0, runs.v1Write.stderr);
        assert.match(runs.v1Write.stdout, /^wrote .*v1-upgraded\.lock\.json for stack prod \(7 customers, 4 hosts; 1 changed\)\n {2}hosts: 4 recorded \(upgraded from lockfile version 1, which had none\)\n$/);
        assert.strictEqual(fs.readFileSync(v1Upgraded, "utf8"), fs.readFileSync(path.join(ROOT, "placements.lock.json"), "utf8"));
    });

    it('{"customers": []} is refused: it would delete every customer; each is named, with the maxDeletes fix', () => {
        const { code, stdout, stderr } = runs.empty;
        assert.strictEqual(code, 1);
        assert.strictEqual(stdout, "");
        for (const label of LABELS) assert.match(stderr, new RegExp(`customer "${label}" \\(".*", on osm\\d:\\d+\\) would be deleted`));
        assert.match(stderr, /Pulumi\.prod\.yaml osm-hosting:maxDeletes: this update would delete 7 customers .*pulumi config set osm-hosting:maxDeletes 7/);
    });

    it("what README says to save and feed back works: npm run -s plan -- --json is JSON, and --previous takes it", () => {
        assert.strictEqual(runs.npmJson.code, 0, runs.npmJson.stderr);
        const saved = JSON.parse(runs.npmJson.stdout);
        assert.deepStrictEqual(saved.placements, JSON.parse(runs.json.stdout).placements);
        assert.strictEqual(runs.fedBack.code, 0, runs.fedBack.stderr);
        assert.deepStrictEqual(JSON.parse(runs.fedBack.stdout).placements, saved.placements);
        assert.deepStrictEqual(JSON.parse(runs.fedBack.stdout).changes, []);
    });

    it("--json prints exactly {placements, records: [{name, type, content}], changes, unchanged, stalePreviousLabels, hosts, hostChanges, hostsUnchanged}", () => {
        const { code, stdout, stderr } = runs.json;
        assert.strictEqual(code, 0, stderr);
        const out = JSON.parse(stdout);
        assert.deepStrictEqual(Object.keys(out).sort(), ["changes", "hostChanges", "hosts", "hostsUnchanged", "placements", "records", "stalePreviousLabels", "unchanged"]);
        assert.deepStrictEqual([out.changes, out.unchanged, out.stalePreviousLabels], [[], LABELS.length, []]);
        assert.deepStrictEqual([out.hostChanges, out.hostsUnchanged], [[], HOSTS.length]);
        // Without a lock every host is new; without host knowledge (a version 1 lock), null: not "no changes".
        const none = JSON.parse(runs.previous.stdout);
        assert.deepStrictEqual([none.hostChanges.map((h: any) => h.kind), none.hostsUnchanged], [HOSTS.map(() => "add"), 0]);
        const v1 = JSON.parse(runs.v1Json.stdout);
        assert.deepStrictEqual([v1.hostChanges, v1.hostsUnchanged], [null, null]);
        assert.deepStrictEqual(out.hosts.osm0, { used: 0, capacity: 20, percent: 0, before: 0, drain: true });
        assert.deepStrictEqual(Object.keys(out.placements), LABELS);
        for (const p of Object.values<any>(out.placements)) assert.deepStrictEqual(Object.keys(p).sort(), ["host", "mqttPort"]);
        for (const r of out.records) assert.deepStrictEqual(Object.keys(r).sort(), ["content", "name", "type"]);
        assert.strictEqual(out.records.filter((r: any) => r.type === "A").length, HOSTS.length);
        // Three names each, and the adopted Harbour Cold Store's fourth (mqttWebsocket by default).
        assert.strictEqual(out.records.filter((r: any) => r.type === "CNAME").length, LABELS.length * 3 + 1);
        assert.ok(out.records.some((r: any) => r.name === `harbour-cold-store-mqtt.${DOMAIN}.` && r.type === "CNAME"));
        for (const label of LABELS) {
            const target = `${out.placements[label].host}.${DOMAIN}.`;
            for (const name of [`${label}.${DOMAIN}.`, `${label}-influx.${DOMAIN}.`, `${label}-chirpstack.${DOMAIN}.`]) {
                assert.deepStrictEqual(out.records.filter((r: any) => r.name === name), [{ name, type: "CNAME", content: target }]);
            }
        }
        for (const h of HOSTS) {
            assert.deepStrictEqual(out.records.filter((r: any) => r.name === `${h.name}.${DOMAIN}.`), [{ name: `${h.name}.${DOMAIN}.`, type: "A", content: h.address }]);
        }
        assert.deepStrictEqual(out.placements["harbour-cold-store"], { host: "osm2", mqttPort: 8901 });
    });

    it("--previous keeps the placements it is given; a customer on a draining host moves off it with its port", () => {
        const { code, stdout, stderr } = runs.previous;
        assert.strictEqual(code, 0, stderr);
        const out = JSON.parse(stdout);
        assert.deepStrictEqual(out.placements.acme, previous.acme);
        // osm0 drains: devtank leaves it, keeping the port its devices use.
        assert.notStrictEqual(out.placements.devtank.host, "osm0");
        assert.strictEqual(out.placements.devtank.mqttPort, previous.devtank.mqttPort);
        assert.ok(out.records.some((r: any) => r.name === `devtank.${DOMAIN}.` && r.content === `${out.placements.devtank.host}.${DOMAIN}.`));
        // Without it, these two land elsewhere: the option really changed something.
        const fresh = JSON.parse(runs.json.stdout).placements;
        assert.notDeepStrictEqual([fresh.acme, fresh.devtank], [previous.acme, previous.devtank]);
    });

    it("a --previous or --customers file that does not exist: the error names the file and the option", () => {
        for (const [run, option] of [[runs.missingPrevious, "--previous"], [runs.missingCustomers, "--customers"]] as const) {
            assert.notStrictEqual(run.code, 0);
            assert.strictEqual(run.stdout, "");
            assert.match(run.stderr, new RegExp(`no-such-(previous|customers)\\.json: .*${option} takes the path`));
        }
    });

    it("a customers file with a JSON syntax error: the error names the file, the line and the column", () => {
        const { code, stderr } = runs.syntaxCustomers;
        assert.notStrictEqual(code, 0);
        assert.match(stderr, /customers-\d+\.json: is not valid JSON \(line 3, column 23: .*\); fix the syntax/);
    });

    it("the committed placements.lock.json is what --write would write (CI fails on a stale lock)", () => {
        const { code, stdout, stderr } = runs.checkRepo;
        assert.strictEqual(code, 0, `${stdout}${stderr}`);
        assert.match(stdout, /^placements\.lock\.json is up to date for stack prod \(7 customers, 4 hosts\)$/m);
    });

    it("deployed placements that disagree with the lock are refused, naming both: a reverted lock moves nobody", () => {
        const { code, stdout, stderr } = runs.revertedLock;
        assert.notStrictEqual(code, 0);
        assert.strictEqual(stdout, "");
        assert.match(stderr, /placements\.lock\.json \/acme: says customer "acme" is on osm1:\d+, but the stack's "placements" output has it on osm3:20001; nothing moves without a pin/);
        assert.match(stderr, /\/devtank: says customer "devtank" is on osm3:\d+, but .* has it on osm0:20002/);
    });

    it("--customers plans another file", () => {
        const { code, stdout, stderr } = runs.small;
        assert.strictEqual(code, 0, stderr);
        assert.match(stdout, /^solo-farm\s+osm\d/m);
        assert.match(stdout, new RegExp(`^duo-dairy\\s+osm1\\s+12345\\s+duo-dairy\\.${DOMAIN.replace(/\./g, "\\.")}\\.`, "m"));
        for (const label of LABELS) assert.ok(!stdout.includes(`${label}.${DOMAIN}`), `${label} should not be in this plan`);
    });

    it("an invalid customers file exits non-zero printing every problem with file and path", () => {
        const { code, stdout, stderr } = runs.invalid;
        assert.notStrictEqual(code, 0);
        assert.strictEqual(stdout, "");
        assert.match(stderr, /^Invalid input \(4 problem\(s\)\); nothing would be changed:/);
        assert.ok(stderr.includes(`${invalidFile} /customers/2/hots: unknown field "hots"`), stderr);
        assert.ok(stderr.includes(`${invalidFile} /customers/1/name: name "ACME" gives DNS label "acme", the same as /customers/0/name`), stderr);
        assert.ok(stderr.includes(`${invalidFile} /customers/2/name: name "Bad!" gives DNS label "bad!", which contains "!"`), stderr);
        assert.ok(stderr.includes(`${invalidFile} /customers/3/host: host "osm9" is not in the stack config`), stderr);
    });

    it("an unknown --stack fails clearly", () => {
        const { code, stdout, stderr } = runs.noStack;
        assert.notStrictEqual(code, 0);
        assert.strictEqual(stdout, "");
        assert.ok(stderr.includes(`no stack file ${path.join(ROOT, "Pulumi.nosuch.yaml")}; pass --stack NAME for an existing Pulumi.NAME.yaml`), stderr);
    });

    it("an unknown option fails with the usage", () => {
        const { code, stderr } = runs.badArg;
        assert.notStrictEqual(code, 0);
        assert.match(stderr, /unknown argument --frobnicate/);
        assert.match(stderr, /usage: npm run plan -- \[--stack NAME\] \[--customers PATH\] \[--previous PATH\] \[--lock PATH\] \[--json \| --all\] \[--write \| --check\]/);
    });

    it("a malformed --previous file is refused, naming it and the entry", () => {
        const { code, stderr } = runs.badPrevious;
        assert.notStrictEqual(code, 0);
        assert.match(stderr, /bad-previous\.json \/acme: must be \{"host": "<host name>", "mqttPort": <number>\}/);
    });

    it("never needs a secret: Pulumi.prod.yaml holds none, the runs had no Pulumi environment, no placeholder is printed", () => {
        const text = fs.readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8");
        assert.ok(!/secure:/.test(text), "Pulumi.prod.yaml holds an encrypted value");
        for (const key of ["sshPrivateKey", "powerdnsApiKey", "powerdnsMysqlAdminPassword"]) {
            assert.strictEqual(stackFile.config[`osm-hosting:${key}`], undefined, key);
        }
        for (const r of [runs.table, runs.json, runs.previous, runs.small, runs.diff, runs.npmJson]) {
            assert.strictEqual(r.code, 0);
            assert.ok(!/placeholder|PRIVATE KEY/.test(r.stdout + r.stderr), "a placeholder secret was printed");
        }
    });
});

describe("plan: the placements lock (--write, --check)", function () {
    this.timeout(600000);
    const scratch = new Scratch();
    after(() => scratch.cleanup());
    const lock = () => JSON.parse(fs.readFileSync(path.join(scratch.dir, "placements.lock.json"), "utf8"));
    const lockArgs = () => ["--lock", path.join(scratch.dir, "placements.lock.json")];

    it("--write records every customer's host, port and name; --check then passes, and fails naming what a change adds", async () => {
        const two = scratch.customers({ customers: [{ name: "Solo Farm" }, { name: "Duo Dairy" }] });
        const written = await plan(["--customers", two, "--write", ...lockArgs()]);
        assert.strictEqual(written.code, 0, written.stderr);
        assert.match(written.stdout, /^wrote .*placements\.lock\.json for stack prod \(2 customers, 4 hosts; 6 changed\)$/m);
        assert.match(written.stdout, /^ {2}\+ host osm1 203\.0\.113\.10, capacity 40$/m);
        const doc = lock();
        assert.strictEqual(doc.lockfileVersion, 2);
        // Keys in one order, hosts and customers sorted: the pull request's diff shows only what changed.
        assert.deepStrictEqual(Object.keys(doc.stacks.prod), ["hosts", "customers"]);
        assert.deepStrictEqual(Object.keys(doc.stacks.prod.hosts), HOSTS.map((h) => h.name).sort());
        assert.deepStrictEqual(doc.stacks.prod.hosts.osm0, { address: "203.0.113.9", capacity: 20, drain: true });
        assert.deepStrictEqual(Object.keys(doc.stacks.prod.hosts.osm1), ["address", "capacity", "drain"]);
        assert.deepStrictEqual(Object.keys(doc.stacks.prod.customers), ["duo-dairy", "solo-farm"]);
        assert.deepStrictEqual(Object.keys(doc.stacks.prod.customers["solo-farm"]), ["name", "host", "mqttPort"]);
        assert.strictEqual(doc.stacks.prod.customers["solo-farm"].name, "Solo Farm");

        assert.strictEqual((await plan(["--customers", two, "--check", ...lockArgs()])).code, 0);
        const three = scratch.customers({ customers: [{ name: "Solo Farm" }, { name: "Duo Dairy" }, { name: "Trio Tech" }] });
        const stale = await plan(["--customers", three, "--check", ...lockArgs()]);
        assert.strictEqual(stale.code, 1);
        assert.match(stale.stderr, /placements\.lock\.json is stale for stack prod:\n {2}\+ trio-tech on osm\d:\d+\nrun npm run plan -- --write and commit it/);
        assert.deepStrictEqual(lock(), doc, "--check changes nothing");
    });

    it("the program places only the customers the lock lacks: a locked customer stays, whatever the load", async () => {
        // Lock Solo Farm on the host the placement would not choose for it now.
        const one = scratch.customers({ customers: [{ name: "Solo Farm" }] });
        const fresh = JSON.parse((await plan(["--customers", one, "--json", "--lock", path.join(scratch.dir, "none.json")])).stdout).placements["solo-farm"];
        const other = HOSTS.find((h) => h.name !== fresh.host && h.name !== "osm0")!.name;
        fs.writeFileSync(path.join(scratch.dir, "pinned.lock.json"), JSON.stringify({ lockfileVersion: 1, stacks: { prod: { "solo-farm": { name: "Solo Farm", host: other, mqttPort: 20100 } } } }));
        const run = await plan(["--customers", one, "--json", "--lock", path.join(scratch.dir, "pinned.lock.json")]);
        assert.strictEqual(run.code, 0, run.stderr);
        assert.deepStrictEqual(JSON.parse(run.stdout).placements["solo-farm"], { host: other, mqttPort: 20100 });
    });

    it("a move under review: a pin in customers.json and the lock written for it agree, the deployed place differs: planned", async () => {
        const deployed = scratch.json("deployed.json", { "solo-farm": { host: "osm1", mqttPort: 20200 } });
        const moved = scratch.customers({ customers: [{ name: "Solo Farm", host: "osm2", mqttPort: 20200 }] });
        const lockFile = path.join(scratch.dir, "move.lock.json");
        const written = await plan(["--customers", moved, "--previous", deployed, "--write", "--lock", lockFile]);
        assert.strictEqual(written.code, 0, written.stderr);
        const run = await plan(["--customers", moved, "--previous", deployed, "--json", "--lock", lockFile]);
        assert.strictEqual(run.code, 0, run.stderr);
        assert.deepStrictEqual(JSON.parse(run.stdout).placements["solo-farm"], { host: "osm2", mqttPort: 20200 });
        // The same lock with the pin reverted is refused: the lock alone never moves a customer.
        const unpinned = scratch.customers({ customers: [{ name: "Solo Farm" }] });
        const reverted = await plan(["--customers", unpinned, "--previous", deployed, "--json", "--lock", lockFile]);
        assert.strictEqual(reverted.code, 1);
        assert.match(reverted.stderr, /says customer "solo-farm" is on osm2:20200, but the stack's "placements" output has it on osm1:20200/);
    });

    it("a malformed lock is refused, naming the file and the entry", async () => {
        fs.writeFileSync(path.join(scratch.dir, "bad.lock.json"), JSON.stringify({ lockfileVersion: 1, stacks: { prod: { acme: { host: "osm1" } } } }));
        const run = await plan(["--lock", path.join(scratch.dir, "bad.lock.json")]);
        assert.strictEqual(run.code, 1);
        assert.match(run.stderr, /bad\.lock\.json \/stacks\/prod\/acme: must be \{"name": "\.\.\.", "host": "\.\.\.", "mqttPort": <number>\}/);
    });
});
