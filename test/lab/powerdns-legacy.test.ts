/**
 * Records stored by the provider of earlier versions (serialized by value into each record's
 * state: fixture of 7b21364), driven through Pulumi's own dynamic provider host started in the
 * project's directory as the CLI starts it, against a lab PowerDNS: the first `up` after the
 * change moves each record's state to the loader without writing to PowerDNS (the zone's
 * serial does not move), and a delete run with the old provider text still deletes. Then the
 * canonical forms: whatever PowerDNS prints back for a spelling of a content (a dotted quad for
 * an IPv4-mapped address, which it refuses as input) has the canonical form of what was
 * declared, so refresh followed by `up` rewrites nothing.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../../components/paths";
import { canonicalContent, checkInputs, PROVIDER_LOADER } from "../../components/powerdns";
import { startPowerDns, PowerDnsLab } from "../../lab/pdns-server";
import { DIFF, ProviderHost, startProviderHost } from "../../lab/provider-host";

const OLD_PROVIDER = fs.readFileSync(path.join(projectRoot(), "test", "fixtures", "powerdns-provider-7b21364.serialized.txt"), "utf8");

describe("PowerDNS records stored by the old provider, and canonical contents, in Pulumi's provider host", function () {
    this.timeout(120000);
    let lab: PowerDnsLab;
    let host: ProviderHost;
    const urn = (n: string) => `urn:pulumi:lab::osm-hosting::pulumi-nodejs:dynamic:Resource::${n}`;
    const fqdn = (label: string) => `${label}.${lab.zone}`;
    const inputs = (label: string, type: string, records: string[], provider: string) => ({
        apiUrl: lab.apiUrl, apiKey: lab.apiKey, zone: lab.zone, name: fqdn(label), type, ttl: 300, records, __provider: provider,
    });
    const serial = async () => {
        const zone = (await lab.api("GET", `/api/v1/servers/localhost/zones/${lab.zone}`)).json;
        return Number(zone.serial);
    };
    /** check + create, as the engine does for a new resource. */
    const create = async (label: string, type: string, records: string[], provider: string) => {
        const checked = await host.check(urn(label), {}, inputs(label, type, records, provider));
        assert.deepStrictEqual(checked.failures, []);
        return { checked: checked.inputs, created: await host.create(urn(label), checked.inputs) };
    };

    before(async () => {
        [lab, host] = await Promise.all([startPowerDns({ backend: "sqlite" }), startProviderHost({ cwd: projectRoot() })]);
    });
    after(async () => {
        if (host) await host.stop();
        if (lab) await lab.stop();
    });

    it("the first up after the change stores the loader in place, writing nothing to PowerDNS", async () => {
        const { created } = await create("legacy-a", "CNAME", ["osm1.example.test."], OLD_PROVIDER);
        assert.strictEqual(created.props.__provider, OLD_PROVIDER, "created by the old provider, stored with it");
        const before = await serial();

        const news = (await host.check(urn("legacy-a"), created.props, inputs("legacy-a", "CNAME", ["osm1.example.test."], PROVIDER_LOADER))).inputs;
        const plan = await host.diff(urn("legacy-a"), created.id, created.props, news);
        assert.deepStrictEqual([plan.changes, plan.replaces, plan.deleteBeforeReplace], [DIFF.SOME, [], false], "an update in place, never a replacement");
        const updated = await host.update(urn("legacy-a"), created.id, created.props, news);
        assert.strictEqual(updated.__provider, PROVIDER_LOADER, "the state now holds the loader");
        assert.strictEqual(await serial(), before, "no write reached PowerDNS");
        assert.deepStrictEqual((await lab.dig(fqdn("legacy-a"), "CNAME")).answers, ["CNAME osm1.example.test."]);
        assert.strictEqual((await host.diff(urn("legacy-a"), created.id, updated, news)).changes, DIFF.NONE, "the next up has nothing to do");

        // A real change on the same first up does write.
        const moved = (await host.check(urn("legacy-a"), created.props, inputs("legacy-a", "CNAME", ["osm2.example.test."], PROVIDER_LOADER))).inputs;
        await host.update(urn("legacy-a"), created.id, updated, moved);
        assert.deepStrictEqual((await lab.dig(fqdn("legacy-a"), "CNAME")).answers, ["CNAME osm2.example.test."]);
        await host.delete(urn("legacy-a"), created.id, { ...moved, __provider: PROVIDER_LOADER });
        assert.strictEqual((await lab.dig(fqdn("legacy-a"))).status, "NXDOMAIN");
    });

    it("a record removed from the program is deleted by the old provider its state holds", async () => {
        const { created } = await create("legacy-b", "A", ["192.0.2.7"], OLD_PROVIDER);
        assert.deepStrictEqual((await lab.dig(fqdn("legacy-b"))).answers, ["A 192.0.2.7"]);
        await host.delete(urn("legacy-b"), created.id, created.props);
        assert.strictEqual((await lab.dig(fqdn("legacy-b"))).status, "NXDOMAIN");
    });

    // Spellings of one content and what PowerDNS prints back; the provider's canonical form must match.
    const spellings: [string, string][] = [
        ["AAAA", "2001:DB8:0:0::1"],
        ["AAAA", "2001:0db8:0000:0000:0000:0000:0000:0001"],
        ["AAAA", "2001:db8:0:1:0:0:0:1"],
        ["AAAA", "2001:db8:0:0:1:0:0:1"],
        ["AAAA", "::FFFF:C000:201"],
        ["AAAA", "::ffff:192.0.2.1"],
        ["AAAA", "64:ff9b::192.0.2.1"],
        ["AAAA", "FE80::"],
        ["A", "192.0.2.9"],
        ["CNAME", "Osm1.Example.Test."],
        ["MX", "10 Mail.Example.Test."],
    ];
    it("reads back every spelling in the canonical form the provider compares, so refresh then up changes nothing", async () => {
        for (const [i, [type, declared]] of spellings.entries()) {
            const label = `canon${i}`;
            const { checked, created } = await create(label, type, [declared], PROVIDER_LOADER);
            const live = (await lab.api("GET", `/api/v1/servers/localhost/zones/${lab.zone}`)).json.rrsets.find((r: any) => r.name === fqdn(label) && r.type === type);
            assert.ok(live, `${type} ${declared}: no rrset`);
            const printed = live.records.map((r: any) => r.content);
            assert.deepStrictEqual(printed.map((c: string) => canonicalContent(type, c)), [canonicalContent(type, declared)], `${type} ${declared}: PowerDNS prints ${printed}`);
            const refreshed = await host.read(urn(label), created.id, created.props);
            assert.deepStrictEqual(refreshed.props.records, checked.records);
            assert.strictEqual((await host.diff(urn(label), created.id, refreshed.props, checked)).changes, DIFF.NONE, `${type} ${declared}: refresh then up would rewrite it`);
            assert.deepStrictEqual(checked.records, checkInputs(inputs(label, type, printed, PROVIDER_LOADER)).inputs.records, "declaring what PowerDNS prints changes nothing either");
        }
    });
});
