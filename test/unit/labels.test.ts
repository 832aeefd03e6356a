/**
 * Stable labels and maxDeletes, in the program itself (index.ts under mocks): a rename keeps
 * every resource as it is, a label the lock fixed stays, a label change keeps its host but not
 * its old port, and an update deleting more than maxDeletes customers registers nothing.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { preferredMqttPort } from "../../components/placement";
import { Registered, unwrapSecrets } from "../../scripts/lib/engine";
import { PROJECT, runProgram, runRefused, Scratch, testSettings } from "./support/fleet";

/** Every registered resource by URN, with its inputs as plain data. */
function byUrn(resources: Registered[]): Map<string, unknown> {
    return new Map(resources.filter((r) => r.type !== "pulumi:pulumi:StackReference").map((r) => [r.urn, unwrapSecrets(r.inputs)]));
}

describe("labels: stable across renames, changed only explicitly", function () {
    this.timeout(60000);
    const scratch = new Scratch();
    after(() => scratch.cleanup());

    it("a rename (same label, new name) registers exactly the same resources with the same inputs: nothing is replaced", async () => {
        const before = await runProgram({ customersFile: scratch.customers({ customers: [{ name: "Acme" }, { name: "Zeta Farms" }] }) });
        const renamed = await runProgram({
            customersFile: scratch.customers({ customers: [{ name: "Acme Industries", label: "acme" }, { name: "Zeta Farms" }] }),
            previous: before.outputs.placements,
        });
        const a = byUrn(before.resources);
        const b = byUrn(renamed.resources);
        assert.ok([...a.keys()].some((u) => u.endsWith("::acme-container")), [...a.keys()].join("\n"));
        assert.deepStrictEqual([...b.keys()].sort(), [...a.keys()].sort(), "the same resource names (URNs)");
        for (const [urn, inputs] of a) assert.deepStrictEqual(b.get(urn), inputs, `inputs of ${urn}`);
        assert.deepStrictEqual(renamed.outputs.placements, before.outputs.placements);
        // Only what is displayed changes.
        assert.strictEqual(before.outputs.customers.acme.name, "Acme");
        assert.strictEqual(renamed.outputs.customers.acme.name, "Acme Industries");
    });

    it("a rename without a label gives another label: other resource names (the check above can fail)", async () => {
        const before = await runProgram({ customersFile: scratch.customers({ customers: [{ name: "Acme" }] }) });
        const after = await runProgram({ customersFile: scratch.customers({ customers: [{ name: "Acme Industries" }] }), previous: before.outputs.placements });
        assert.ok([...byUrn(after.resources).keys()].some((u) => u.endsWith("::acme-industries-container")));
        assert.ok(![...byUrn(after.resources).keys()].some((u) => u.endsWith("::acme-container")));
    });

    it("a label the lock holds for a name stays that customer's label, with its placement", async () => {
        const lock = scratch.json("labels.lock.json", { lockfileVersion: 1, stacks: { unit: { "acme-co": { name: "Acme", host: "beta", mqttPort: 9100 } } } });
        const ev = await runProgram({ settings: testSettings({ placementsLock: lock }), customersFile: scratch.customers({ customers: [{ name: "Acme" }] }) });
        assert.deepStrictEqual(ev.outputs.placements, { "acme-co": { host: "beta", mqttPort: 9100 } });
        assert.ok(ev.resources.some((r) => r.name === "acme-co-container"));
    });

    it("a label change (previousLabel) stays on the old label's host, never on its old port, and is not a delete", async () => {
        const oldPort = preferredMqttPort("new-co"); // the port the new label would get first
        const ev = await runProgram({
            settings: testSettings({ maxDeletes: 0 }),
            customersFile: scratch.customers({ customers: [{ name: "New Co", label: "new-co", previousLabel: "old-co" }] }),
            previous: { "old-co": { host: "beta", mqttPort: oldPort } },
        });
        assert.deepStrictEqual(ev.outputs.placements, { "new-co": { host: "beta", mqttPort: oldPort + 1 } });
        assert.ok(ev.resources.some((r) => r.name === "new-co-container"));
    });
});

describe("labels: maxDeletes in the program", function () {
    this.timeout(60000);
    const scratch = new Scratch();
    after(() => scratch.cleanup());
    const deployed = { acme: { host: "alpha", mqttPort: 9000 }, zeta: { host: "alpha", mqttPort: 9001 }, eta: { host: "beta", mqttPort: 9002 } };

    it("default 1: one deletion goes through", async () => {
        const ev = await runProgram({ customersFile: scratch.customers({ customers: [{ name: "Acme" }, { name: "Zeta" }] }), previous: deployed });
        assert.deepStrictEqual(Object.keys(ev.outputs.placements), ["acme", "zeta"]);
    });

    it("default 1: two deletions are refused naming both and the setting, and nothing is registered", async () => {
        const file = scratch.customers({ customers: [{ name: "Acme" }] });
        const { err, registered } = await runRefused({ customersFile: file, previous: deployed });
        assert.deepStrictEqual(registered, []);
        assert.deepStrictEqual(err.problems.map((p) => [p.file, p.path]), [[file, ""], [file, ""], ["Pulumi.unit.yaml", `${PROJECT}:maxDeletes`]]);
        assert.match(err.problems[0].message, /customer "eta" \(on beta:9002\) would be deleted/);
        assert.match(err.problems[1].message, /customer "zeta" \(on alpha:9001\) would be deleted/);
        assert.match(err.problems[2].message, /pulumi config set osm-hosting:maxDeletes 2/);
    });

    it("osm-hosting:maxDeletes raises the limit for an update that means it", async () => {
        const ev = await runProgram({ settings: testSettings({ maxDeletes: 2 }), customersFile: scratch.customers({ customers: [{ name: "Acme" }] }), previous: deployed });
        assert.deepStrictEqual(Object.keys(ev.outputs.placements), ["acme"]);
    });

    it('{"customers": []} is refused, naming every deployed customer, nothing registered', async () => {
        const file = scratch.customers({ customers: [] });
        const { err, registered } = await runRefused({ customersFile: file, previous: deployed });
        assert.deepStrictEqual(registered, []);
        assert.deepStrictEqual(err.problems.slice(0, -1).map((p) => /customer "([^"]+)"/.exec(p.message)![1]), ["acme", "eta", "zeta"]);
        assert.match(err.message, /would delete 3 customers/);
    });

    it("the lock counts as deployed too: a customer only the lock holds is a deletion", async () => {
        const lock = path.join(scratch.dir, "two.lock.json");
        fs.writeFileSync(lock, JSON.stringify({ lockfileVersion: 1, stacks: { unit: { acme: { name: "Acme", host: "alpha", mqttPort: 9000 }, zeta: { name: "Zeta", host: "alpha", mqttPort: 9001 } } } }));
        const { err } = await runRefused({ settings: testSettings({ placementsLock: lock }), customersFile: scratch.customers({ customers: [] }) });
        assert.match(err.problems[0].message, /customer "acme" \("Acme", on alpha:9000\) would be deleted/);
    });
});
