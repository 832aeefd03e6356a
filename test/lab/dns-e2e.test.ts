/**
 * End to end for DNS (issue 3 item 7): the whole program, evaluated for the example fleet
 * (Pulumi.prod.yaml + customers.json, with the lab PowerDNS as its API), has every record it
 * declares carried out through the serialized provider against a real PowerDNS; dig then
 * checks every name. Removing a customer from customers.json and carrying out the change
 * removes exactly its three names.
 *
 * Only the records are carried out for real here: remote commands and MySQL resources get a
 * recording no-op handler in THIS test (the hosts' lab proves them: e2e-hosting.test.ts).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { customerLabel } from "../../components/naming";
import { projectRoot } from "../../components/paths";
import { configMap } from "../../scripts/lib/engine";
import { readStackFile } from "../../scripts/lib/offline";
import { Carried, carryOut, Deployment, destroyAll, destroyRemoved, dynamicHandler, DYNAMIC_TYPE, Handler, Handlers } from "../../lab/executor";
import { DigAnswer, PowerDnsLab, startPowerDns } from "../../lab/pdns-server";
import program = require("../../index");

const ROOT = projectRoot();
const PROJECT = "osm-hosting";

/** Stands in for resources this test does not carry out; records what was asked of it. */
function recordingNoop(log: string[]): Handler {
    return {
        async create(r) { log.push(`create ${r.type}::${r.name}`); return { id: `${r.name}-noop`, outputs: r.inputs }; },
        async delete(r) { log.push(`delete ${r.type}::${r.name}`); },
    };
}

describe("DNS end to end: the example fleet's records through the provider against a lab PowerDNS", function () {
    this.timeout(180000);
    let lab: PowerDnsLab;
    let scratch: string;
    const log: string[] = [];
    const noop = recordingNoop(log);
    const dynamic = dynamicHandler();
    const records: Handler = {
        async create(r) { log.push(`create ${r.type}::${r.name}`); return dynamic.create(r); },
        async delete(r) { log.push(`delete ${r.type}::${r.name}`); return dynamic.delete(r); },
        async update(previous, next) { log.push(`update ${next.type}::${next.name}`); return dynamic.update!(previous, next); },
    };
    const handlers: Handlers = new Proxy({ [DYNAMIC_TYPE]: records } as Handlers, {
        get: (target, type: string) => target[type] ?? (/^(command:remote:|mysql:|pulumi:providers:mysql$)/.test(type) ? noop : undefined),
    });
    const live: Deployment[] = [];

    // The stack file read as `npm run plan` reads it: a config map, objects JSON-encoded.
    const stackConfig = readStackFile(path.join(ROOT, "Pulumi.prod.yaml"));
    const setting = (key: string) => JSON.parse(stackConfig[`${PROJECT}:${key}`]);
    const domain: string = stackConfig[`${PROJECT}:domain`];
    const hosts: { name: string; address: string }[] = setting("hosts");
    const fleet = JSON.parse(fs.readFileSync(path.join(ROOT, "customers.json"), "utf8"));
    const fqdn = (n: string) => `${n}.${domain}.`;
    /** A customer's names; `fourth`: with `<label>-mqtt` (mqttWebsocket, which adopted ones have by default). */
    const namesOf = (label: string, fourth = false) => [fqdn(label), fqdn(`${label}-influx`), fqdn(`${label}-chirpstack`), ...(fourth ? [fqdn(`${label}-mqtt`)] : [])];

    function config(customersFile: string): Record<string, string> {
        const values: Record<string, unknown> = { ...stackConfig };
        values[`${PROJECT}:powerdns`] = { ...setting("powerdns"), apiUrl: lab.apiUrl };
        values[`${PROJECT}:customersFile`] = customersFile;
        values[`${PROJECT}:sshPrivateKey`] = "-----BEGIN OPENSSH PRIVATE KEY-----\nlab-dns-e2e-not-a-key\n-----END OPENSSH PRIVATE KEY-----\n";
        values[`${PROJECT}:powerdnsApiKey`] = lab.apiKey;
        // The hosts' DNS-01 key: never used here (no host runs), but the program requires it.
        values[`${PROJECT}:acmeTsigSecret`] = Buffer.from("lab-dns-e2e-not-a-tsig-secret").toString("base64");
        return configMap(values, PROJECT);
    }
    const secretKeys = [`${PROJECT}:sshPrivateKey`, `${PROJECT}:powerdnsApiKey`, `${PROJECT}:acmeTsigSecret`];
    const writeCustomers = (name: string, doc: unknown) => {
        const file = path.join(scratch, name);
        fs.writeFileSync(file, JSON.stringify(doc, null, 2));
        return file;
    };

    before(async () => {
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "osm-dns-e2e-"));
        lab = await startPowerDns({ backend: "sqlite", zone: setting("powerdns").zone });
    });
    after(async () => {
        while (live.length) await destroyAll(live.pop()!, handlers).catch(() => undefined);
        if (lab) await lab.stop();
        if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    });

    it("resolves every customer's three names through the CNAME to its host, every host to its address; removing a customer removes exactly its names", async () => {
        // Adopted customers' records exist already, as the old orchestrator left them (four names).
        const adopted = fleet.customers.filter((c: any) => c.adopt && c.host);
        for (const c of adopted) {
            for (const n of namesOf(customerLabel(c.name), true)) await lab.setRrset(n, "CNAME", 300, [fqdn(c.host)]);
        }

        const first = await carryOut(program, { config: config(writeCustomers("customers.json", fleet)), secretKeys, handlers, stack: "lab" });
        live.push(first);
        const placements: Record<string, { host: string; mqttPort: number }> = first.outputs.placements;
        const labels = fleet.customers.map((c: any) => customerLabel(c.name));
        assert.deepStrictEqual(Object.keys(placements).sort(), [...labels].sort());
        // The program's outputs say who has the fourth name; the example fleet's adopted customer does.
        const fourth = (label: string) => first.outputs.customers[label].urls.mqttWebsocket !== undefined;
        assert.ok(adopted.length > 0 && adopted.every((c: any) => fourth(customerLabel(c.name))), "adopted customers keep their -mqtt name");
        const records = first.resources.filter((r) => r.type === DYNAMIC_TYPE && r.outputs.type !== undefined);
        assert.strictEqual(records.length, hosts.length + labels.reduce((n: number, l: string) => n + namesOf(l, fourth(l)).length, 0), "one A per host, the CNAMEs of each customer's names");

        const address = new Map(hosts.map((h) => [h.name, h.address]));
        const expected = new Map<string, DigAnswer>();
        for (const h of hosts) expected.set(fqdn(h.name), { status: "NOERROR", answers: [`A ${h.address}`] });
        for (const label of labels) {
            const host = placements[label].host;
            for (const n of namesOf(label, fourth(label))) expected.set(n, { status: "NOERROR", answers: [`CNAME ${fqdn(host)}`, `A ${address.get(host)}`] });
        }
        const before = await lab.digMany([...expected.keys()]);
        assert.deepStrictEqual(Object.fromEntries(before), Object.fromEntries(expected));

        // Remove one customer (not the adopted one) and carry the change out, removals included.
        const gone = fleet.customers.find((c: any) => !c.adopt && customerLabel(c.name) !== labels[0]) ?? fleet.customers[0];
        const goneLabel = customerLabel(gone.name);
        const reduced = { ...fleet, customers: fleet.customers.filter((c: any) => c !== gone) };
        log.length = 0;
        const second = await carryOut(program, { config: config(writeCustomers("customers-reduced.json", reduced)), secretKeys, handlers, previous: first, stack: "lab" });
        live.push(second);
        assert.strictEqual(log.length, 0, `nothing of the other customers or hosts is carried out again: ${log.join(", ")}`);
        const removed = await destroyRemoved(first, second, handlers);
        live.splice(live.indexOf(first), 1);

        const removedRecords = removed.filter((r) => r.type === DYNAMIC_TYPE).map((r) => r.outputs.name).sort();
        assert.deepStrictEqual(removedRecords, [...namesOf(goneLabel)].sort());
        assert.ok(removed.every((r) => r.urn.includes(goneLabel)), `only ${goneLabel}'s resources are removed: ${removed.map((r) => r.name)}`);
        // Dependents first: each resource is deleted only after everything removed that depends on it.
        const at = (r: Carried) => log.indexOf(`delete ${r.type}::${r.name}`);
        assert.strictEqual(log.length, removed.length, log.join(", "));
        for (const r of removed) {
            assert.ok(at(r) >= 0, `${r.name} deleted`);
            for (const dep of removed.filter((x) => x.dependencies.includes(r.urn))) {
                assert.ok(at(dep) < at(r), `${dep.name} (depends on ${r.name}) must be deleted first: ${log.join(", ")}`);
            }
        }
        const container = removed.find((r) => r.name === `${goneLabel}-container`);
        // Names point to a host only while it serves them: they go first, then the container is archived.
        assert.ok(container && removed.filter((r) => r.type === DYNAMIC_TYPE).every((rec) => rec.dependencies.includes(container.urn)),
            "its records depend on the container (so they are deleted before it)");

        const after = await lab.digMany([...expected.keys()]);
        for (const [name, answer] of expected) {
            if (namesOf(goneLabel).includes(name)) assert.deepStrictEqual(after.get(name), { status: "NXDOMAIN", answers: [] }, name);
            else assert.deepStrictEqual(after.get(name), answer, `${name} must be unchanged`);
        }
        for (const label of labels.filter((l: string) => l !== goneLabel)) {
            assert.deepStrictEqual(second.outputs.placements[label], placements[label], `${label} keeps its host and port`);
        }
    });
});
