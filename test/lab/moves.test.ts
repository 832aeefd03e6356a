/**
 * Issue 11, item 6, the operations beside a single move (which e2e-hosting proves with a device
 * publishing throughout): on a running lab fleet carried out by the program,
 *  - a rename with its label kept changes nothing on the hosts;
 *  - a truncated customers.json and a name clash are refused before anything is carried out;
 *  - a host drained moves its three customers to the other host with their data, credentials
 *    and ports, and is then removed from the stack with nothing of theirs left on it.
 * Each step ends with `verify` passing.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import { CustomersFileEntry } from "../../components/customers";
import { InputError } from "../../components/problems";
import { CarryOutError, Deployment, planOf } from "../../lab/executor";
import { LAB_DOMAIN as DOMAIN, LabStack } from "../../lab/lab-stack";
import { credentialsOf, deployConfig, LabHostSpec, labFleet, labStackConfig, labVerifyOptions } from "../../lab/verify-stack";
import { formatReport } from "../../scripts/lib/verify/report";
import { verifyFleet } from "../../scripts/lib/verify/run";
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (SDK internals, a test double or a computed path)
const program: () => Promise<any> = require("../../index");

const [H1, H2] = ["osm-mv1", "osm-mv2"];
const LEAVING = ["alder-farm", "birch-farm", "cedar-farm"];

describe("moves on a running lab fleet: rename, refusals, drain and remove a host", function () {
    this.timeout(1_200_000);
    let stack: LabStack;
    let current: Deployment;
    let config: Record<string, string>;
    const markers = new Map<string, string>();

    async function deploy(customers: CustomersFileEntry[], specs: LabHostSpec[], opts: { deleteRemoved?: boolean } = {}): Promise<Deployment> {
        const c = labStackConfig(stack, customers, specs);
        try {
            const d = await deployConfig(stack, program, c, current, opts);
            config = c.config;
            current = d;
            return d;
        } catch (e) {
            // What was carried out stays the state the next step starts from (as pulumi's checkpoint).
            if (e instanceof CarryOutError) current = e.deployment;
            throw e;
        }
    }

    async function assertVerifies(): Promise<void> {
        const rep = await verifyFleet(labVerifyOptions(stack, await labFleet(config, current), credentialsOf(current)));
        assert.ok(rep.ok, `verify:\n${formatReport(rep)}`);
    }

    function changed(d: Deployment): Record<string, string> {
        const name = (urn: string) => d.resources.find((r) => r.urn === urn)?.name ?? urn.split("::").pop()!;
        return Object.fromEntries([...planOf(d.steps!)].filter(([, p]) => p !== "same").map(([urn, p]) => [name(urn), p]));
    }

    /** A deploy the program must refuse before it carries anything out. */
    async function refused(customers: CustomersFileEntry[], pattern: RegExp): Promise<void> {
        const before = stack.timings.length;
        const deployed = current;
        const err = await deploy(customers, both).then(() => undefined, (e) => e);
        current = deployed; // nothing was carried out: the fleet is as it was
        assert.ok(err, "the deploy was carried out");
        // The program's input check, not a step that failed on a host.
        assert.ok(!(err instanceof CarryOutError) || err.failures.every((f) => f instanceof InputError || /problem\(s\) in the input/.test(f.message)), `not an input error: ${err}`);
        assert.match(String(err instanceof Error ? err.message : err), pattern);
        assert.strictEqual(stack.timings.length, before, "nothing was carried out");
    }

    const both: LabHostSpec[] = [{ name: H1, capacity: 10 }, { name: H2, capacity: 10 }];
    const fleet: CustomersFileEntry[] = [
        { name: "Alder Farm", host: H1 }, { name: "Birch Farm", host: H1 }, { name: "Cedar Farm", host: H1 }, { name: "Dune Dairy", host: H2 },
    ];

    before(async function () {
        stack = await LabStack.start({ id: "moves", hostNames: [H1, H2] });
    });

    after(async function () {
        if (stack) await stack.stop();
    });

    it("carries out four customers, three of them on one host, and leaves a file in each of those", async () => {
        await deploy(fleet, both);
        for (const l of LEAVING) {
            assert.strictEqual(current.outputs.placements[l].host, H1);
            const m = `marker-${crypto.randomBytes(6).toString("hex")}`;
            markers.set(l, m);
            await stack.lab.exec(H1, "lxc-attach", ["-n", l, "--", "sh", "-c", `mkdir -p /srv/osm-moves && echo ${m} > /srv/osm-moves/marker`]);
        }
        await assertVerifies();
    });

    it("a rename that keeps its label (and dropping pins the fleet already has) changes nothing on the hosts", async () => {
        const renamed = fleet.map((c) => (c.name === "Alder Farm" ? { name: "Alder Farms Ltd", label: "alder-farm" } : { name: c.name })) as CustomersFileEntry[];
        const d = await deploy(renamed, both);
        assert.deepStrictEqual(changed(d), {}, "every resource the same");
        assert.strictEqual(d.outputs.customers["alder-farm"].name, "Alder Farms Ltd");
        fleet.splice(0, fleet.length, ...renamed);
        await assertVerifies();
    });

    it("a truncated customers.json is refused, naming the customers it would delete; nothing is carried out", async () => {
        await refused(fleet.slice(0, 1), /birch-farm[^]*cedar-farm[^]*dune-dairy[^]*maxDeletes|maxDeletes[^]*birch-farm/);
    });

    it("a customer whose names clash with another's is refused, naming both", async () => {
        await refused([...fleet, { name: "Alder Farm Influx" }], /alder-farm-influx[^]*(Alder Farm|alder-farm)/);
    });

    it("draining a host moves its three customers to the other, each with its data, credentials and port", async () => {
        const before = current;
        const d = await deploy(fleet, [{ name: H1, capacity: 10, drain: true }, { name: H2, capacity: 10 }]);
        const c = changed(d);
        for (const l of LEAVING) {
            assert.deepStrictEqual(d.outputs.placements[l], { host: H2, mqttPort: before.outputs.placements[l].mqttPort }, `${l} moved with its port`);
            assert.strictEqual(c[`${l}-container`], "replace");
            assert.strictEqual(c[`${l}-move-grant`], "create");
            assert.deepStrictEqual(d.outputs.customers[l].credentials, before.outputs.customers[l].credentials, `${l} keeps its credentials`);
            const m = (await stack.lab.exec(H2, "lxc-attach", ["-n", l, "--", "cat", "/srv/osm-moves/marker"])).stdout.trim();
            assert.strictEqual(m, markers.get(l), `${l}'s data moved`);
            for (const suffix of ["", "-influx", "-chirpstack"]) assert.strictEqual(await stack.resolve(`${l}${suffix}.${DOMAIN}`), stack.lab.host(H2).address);
        }
        assert.strictEqual(c["dune-dairy-container"], undefined, "the customer already there is untouched");
        const left = (await stack.lab.sh(H1, "lxc-ls -1; ls -A /var/lib/osm/containers; ls -A /etc/nginx/osm/http; ls -A /etc/nginx/osm/stream")).stdout.trim();
        assert.strictEqual(left, "", `left on the drained host besides archives:\n${left}`);
        const archives = (await stack.lab.sh(H1, "ls -1 /var/lib/osm/archives")).stdout.trim().split("\n");
        for (const l of LEAVING) assert.ok(archives.some((a) => a.startsWith(`${l}-`)), `${l}'s archive on ${H1}: ${archives}`);
        await assertVerifies();
    });

    it("the drained host is then removed from the stack: the grants end, its record goes, the customers stay as they are", async () => {
        const d = await deploy(fleet, [{ name: H1, capacity: 10, removed: true }, { name: H2, capacity: 10 }], { deleteRemoved: true });
        const c = changed(d);
        for (const l of LEAVING) {
            assert.strictEqual(c[`${l}-move-grant`], "delete");
            assert.strictEqual(c[`${l}-container`], "update", `${l} is re-run in place (no move any more), not replaced`);
        }
        assert.strictEqual((await stack.pdns.dig(`${H1}.${DOMAIN}`, "A")).status, "NXDOMAIN");
        const keys = (await stack.lab.sh(H1, "cat /root/.ssh/authorized_keys 2>/dev/null || true")).stdout;
        assert.doesNotMatch(keys, /osm-move:/, "no move key is let in any more");
        for (const l of LEAVING) {
            assert.strictEqual((await stack.lab.exec(H2, "lxc-attach", ["-n", l, "--", "cat", "/srv/osm-moves/marker"])).stdout.trim(), markers.get(l));
        }
        await assertVerifies();
    });
});
