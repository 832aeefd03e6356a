/**
 * The record provider as each record stores it (the loader) run in a bare `node` process started in the project's
 * directory (deserialized as Pulumi's dynamic provider host does, nothing else loaded), against
 * a lab PowerDNS (sqlite): create, read, update and delete really reach the server, concurrent
 * writes share one write queue in that process, and it loads only the provider package. The no-server part:
 * test/unit/powerdns-serialized.test.ts.
 */
import * as assert from "assert";
import { startPowerDns, PowerDnsLab } from "../../lab/pdns-server";
import { PROVIDER_RUNTIME_FILES, runtimeFilesLoaded, serializedProvider } from "../../lab/powerdns-fixtures";
import { hostRequireFromString, ProviderProcess, startProviderProcess } from "../../lab/provider-process";

describe("PowerDNS record provider as serialized, in a bare node process, against a lab PowerDNS", function () {
    this.timeout(120000);
    let lab: PowerDnsLab;
    let proc: ProviderProcess;
    const fqdn = (label: string) => `${label}.${lab.zone}`;
    const declared = (label: string, records: string[], extra: object = {}) =>
        ({ apiUrl: lab.apiUrl, apiKey: lab.apiKey, zone: lab.zone.replace(/\.$/, "").toUpperCase(), name: fqdn(label).toUpperCase(), type: "a", ttl: 300, records, ...extra });
    /** check, then create with the checked inputs, as the engine does. */
    const create = async (label: string, records: string[], extra: object = {}) => {
        const { inputs, failures } = await proc.call("check", {}, declared(label, records, extra));
        assert.deepStrictEqual(failures, []);
        return proc.call("create", inputs);
    };

    before(async () => {
        const [started, { text }] = await Promise.all([startPowerDns({ backend: "sqlite" }), serializedProvider()]);
        lab = started;
        proc = await startProviderProcess(text);
    });
    after(async () => {
        if (proc) await proc.stop();
        if (lab) await lab.stop();
    });

    it("check, create, read after a hand edit, update and delete reach the server", async () => {
        const created = await create("web", ["192.0.2.2", "192.0.2.1"]);
        assert.strictEqual(created.id, `${lab.zone}/${fqdn("web")}/A`);
        assert.deepStrictEqual([created.outs.name, created.outs.records], [fqdn("web"), ["192.0.2.1", "192.0.2.2"]]);
        assert.deepStrictEqual((await lab.dig(fqdn("web"))).answers.sort(), ["A 192.0.2.1", "A 192.0.2.2"]);

        await lab.setRrset(fqdn("web"), "A", 60, ["198.51.100.1"]);
        const refreshed = await proc.call("read", created.id, created.outs);
        assert.deepStrictEqual([refreshed.id, refreshed.props.ttl, refreshed.props.records], [created.id, 60, ["198.51.100.1"]]);

        const { outs } = await proc.call("update", created.id, refreshed.props, created.outs);
        assert.deepStrictEqual(outs.records, ["192.0.2.1", "192.0.2.2"]);
        assert.deepStrictEqual((await lab.dig(fqdn("web"))).answers.sort(), ["A 192.0.2.1", "A 192.0.2.2"]);

        await proc.call("delete", created.id, outs);
        assert.strictEqual((await lab.dig(fqdn("web"))).status, "NXDOMAIN");
        assert.strictEqual((await proc.call("read", created.id, outs)).id, "", "deleted reads as gone");
    });

    it("refuses to take over an existing rrset unless adopted, then adopts a matching one", async () => {
        await lab.setRrset(fqdn("old"), "A", 600, ["192.0.2.7"]);
        await assert.rejects(create("old", ["192.0.2.7"]), /already exists in PowerDNS \(\[192\.0\.2\.7\]\) and is not managed by this stack/);
        const adopted = await create("old", ["192.0.2.7"], { adoptId: `${lab.zone}/${fqdn("old")}/A` });
        assert.strictEqual((await proc.call("read", adopted.id, adopted.outs)).props.ttl, 300, "adoption rewrites the declared ttl");
        await proc.call("delete", adopted.id, adopted.outs);
    });

    it("a wrong key fails with one line that names the record and quotes no key", async () => {
        const wrongKey = "wrong-" + lab.apiKey.slice(-8);
        await assert.rejects(create("k", ["192.0.2.1"], { apiKey: wrongKey }), (e: Error) => {
            assert.match(e.message, new RegExp(`^PowerDNS record ${fqdn("k").replace(/\./g, "\\.")} A: PowerDNS rejected the API key`));
            assert.ok(!e.message.includes(wrongKey) && !e.message.includes(lab.apiKey) && !e.message.includes("\n"));
            return true;
        });
    });

    it("100 creates and then 100 deletes sent at once all succeed in that one process", async () => {
        const labels = Array.from({ length: 100 }, (_, i) => `bare${i}`);
        const created = await Promise.all(labels.map((l, i) => create(l, [`192.0.2.${i + 1}`])));
        const up = await lab.digMany(labels.map(fqdn));
        labels.forEach((l, i) => assert.deepStrictEqual(up.get(fqdn(l))!.answers, [`A 192.0.2.${i + 1}`], l));
        await Promise.all(created.map((c) => proc.call("delete", c.id, c.outs)));
        const down = await lab.digMany(labels.map(fqdn));
        for (const l of labels) assert.strictEqual(down.get(fqdn(l))!.status, "NXDOMAIN", l);
    });

    it("has still loaded nothing but require-from-string and the provider's runtime package", async () => {
        const loaded = await proc.loadedModules();
        assert.strictEqual(loaded[0], hostRequireFromString());
        assert.deepStrictEqual(runtimeFilesLoaded(loaded), PROVIDER_RUNTIME_FILES);
    });
});
