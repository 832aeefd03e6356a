/**
 * The PowerDNS record resource's pure parts (normalisation, check, diff) and the PowerDNS
 * MySQL database component, under mocks. The provider against a real server: test/lab.
 */
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { canonicalContent, canonicalName, canonicalRecords, checkInputs, diffState, parseRrsetId, Record as PdnsRecord, rrsetId } from "../../components/powerdns";
import { PowerDnsDatabase, POWERDNS_MYSQL_PRIVILEGES } from "../../components/powerdns-database";
import { evaluate, isWrappedSecret, unwrapSecrets } from "../../scripts/lib/engine";
import { deserializeProvider } from "../../lab/executor";

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const good = { apiUrl: "http://127.0.0.1:8081/", apiKey: "secret-key-123", zone: "Osm.Example.Test", name: "ACME.osm.example.test", type: "cname", ttl: 300, records: ["H1.osm.example.test."] };

describe("PowerDNS record: names, ids, contents", () => {
    it("normalises names to lower case with one trailing dot", () => {
        assert.strictEqual(canonicalName("Acme.Example.Test"), "acme.example.test.");
        assert.strictEqual(canonicalName(" acme.example.test. "), "acme.example.test.");
    });
    it("builds and parses ids <zone>/<name>/<type>", () => {
        assert.strictEqual(rrsetId("Z.test", "A.Z.test.", "cname"), "z.test./a.z.test./CNAME");
        assert.deepStrictEqual(parseRrsetId("Z.test/A.z.test/a"), { zone: "z.test.", name: "a.z.test.", type: "A" });
        for (const bad of ["z.test/a.z.test", "z.test//A", "a/b/c/d", ""]) assert.strictEqual(parseRrsetId(bad), undefined, bad);
    });
    it("treats contents as a set; target names of CNAME-like types case-insensitively, TXT exactly", () => {
        assert.deepStrictEqual(canonicalRecords("A", ["192.0.2.2", " 192.0.2.1", "192.0.2.2"]), ["192.0.2.1", "192.0.2.2"]);
        assert.deepStrictEqual(canonicalRecords("CNAME", ["H1.Example.Test."]), ["h1.example.test."]);
        assert.deepStrictEqual(canonicalRecords("TXT", ['"Hello"']), ['"Hello"']);
    });
    // One form per content; test/lab/powerdns-legacy.test.ts has a real server read spellings back.
    const canonical: [string, string, string][] = [
        ["AAAA", "2001:DB8:0:0::1", "2001:db8::1"],
        ["AAAA", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
        ["AAAA", "2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"],
        ["AAAA", "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
        ["AAAA", "2001:db8:1:1:1:1:0:1", "2001:db8:1:1:1:1:0:1"],
        ["AAAA", "0:0:0:0:0:0:0:0", "::"],
        ["AAAA", "0::1", "::1"],
        ["AAAA", "FE80::", "fe80::"],
        ["AAAA", "::FFFF:192.0.2.1", "::ffff:c000:201"],
        ["AAAA", "::ffff:c000:201", "::ffff:c000:201"],
        ["AAAA", "::192.0.2.1", "::c000:201"],
        ["AAAA", "64:ff9b::192.0.2.1", "64:ff9b::c000:201"],
        ["A", " 192.0.2.1 ", "192.0.2.1"],
        ["CNAME", "H1.Osm.Example.", "h1.osm.example."],
        ["MX", "10   Mail.Example.Test.", "10 mail.example.test."],
        ["SRV", "0 5  5060 SIP.Example.Test.", "0 5 5060 sip.example.test."],
        ["TXT", '"Mixed Case"', '"Mixed Case"'],
    ];
    for (const [type, declared, printed] of canonical) {
        it(`compares ${type} ${JSON.stringify(declared)} as ${printed}`, () => {
            assert.strictEqual(canonicalContent(type, declared), printed);
            assert.strictEqual(canonicalContent(type, printed), printed, "canonical forms are fixed points");
        });
    }
    it("leaves a content that does not parse as written (PowerDNS names what is wrong)", () => {
        for (const [type, bad] of [["AAAA", "2001:db8::1::2"], ["AAAA", "1:2:3:4:5:6:7"], ["AAAA", "12345::"], ["A", "192.0.2.256"], ["MX", "mail.example."]]) {
            assert.strictEqual(canonicalContent(type, bad), bad, `${type} ${bad}`);
        }
    });
});

describe("PowerDNS record: check", () => {
    it("normalises valid inputs", () => {
        const { inputs, failures } = checkInputs(good);
        assert.deepStrictEqual(failures, []);
        assert.deepStrictEqual(inputs, { ...good, apiUrl: "http://127.0.0.1:8081", zone: "osm.example.test.", name: "acme.osm.example.test.", type: "CNAME", records: ["h1.osm.example.test."] });
    });
    const cases: [string, object, RegExp][] = [
        ["name outside the zone", { name: "acme.other.test" }, /record acme\.other\.test\. is not inside zone osm\.example\.test\./],
        ["name with a space", { name: "a cme.osm.example.test" }, /name "a cme\.osm\.example\.test" is not a DNS name/],
        ["missing key", { apiKey: "" }, /apiKey is missing or empty.*pulumi config set --secret powerdnsApiKey/],
        ["bad url", { apiUrl: "127.0.0.1:8081" }, /apiUrl must be the PowerDNS API base URL/],
        ["URL with /api/v1", { apiUrl: "http://127.0.0.1:8081/api/v1" }, /must not include \/api or \/api\/v1 \(the provider adds it\): use http:\/\/127\.0\.0\.1:8081$/],
        ["zero ttl", { ttl: 0 }, /ttl must be a whole number of seconds/],
        ["fractional ttl", { ttl: 1.5 }, /ttl must be a whole number of seconds/],
        ["no records", { records: [] }, /records must be a non-empty list/],
        ["empty record", { records: [""] }, /records must all be non-empty strings/],
        ["bad type", { type: "C NAME" }, /type "C NAME" is not a record type/],
        ["adoptId of another record", { adoptId: "osm.example.test/other.osm.example.test/CNAME" }, /does not name this record \(osm\.example\.test\.\/acme\.osm\.example\.test\.\/CNAME\)/],
        ["malformed adoptId", { adoptId: "acme" }, /adoptId "acme" must have the form <zone>\/<name>\/<type>/],
    ];
    for (const [what, change, expected] of cases) {
        it(`rejects ${what}`, () => {
            const { failures } = checkInputs({ ...good, ...change });
            assert.strictEqual(failures.length, 1, JSON.stringify(failures));
            assert.match(failures[0].reason, expected);
            assert.ok(!failures[0].reason.includes(good.apiKey));
        });
    }
    it("accepts an adoptId naming the record in any case, and normalises it", () => {
        const { inputs, failures } = checkInputs({ ...good, adoptId: "OSM.example.test./acme.osm.example.test/cname" });
        assert.deepStrictEqual(failures, []);
        assert.strictEqual(inputs.adoptId, "osm.example.test./acme.osm.example.test./CNAME");
    });
    it("passes values not known yet (preview) through", () => {
        const { inputs, failures } = checkInputs({ ...good, apiKey: UNKNOWN, records: UNKNOWN, ttl: UNKNOWN });
        assert.deepStrictEqual(failures, []);
        assert.strictEqual(inputs.records, UNKNOWN);
    });
});

describe("PowerDNS record: diff", () => {
    const olds = checkInputs(good).inputs;
    it("an AAAA declared in another spelling of the address it holds changes nothing (refresh then up)", () => {
        const aaaa = { ...good, type: "AAAA", records: ["2001:DB8:0:0::1"] };
        const stored = checkInputs(aaaa).inputs;
        assert.deepStrictEqual(stored.records, ["2001:db8::1"]);
        assert.strictEqual(diffState({ ...stored, records: ["2001:db8::1"] }, checkInputs(aaaa).inputs).changes, false);
    });
    it("no change for the same set in another order or case", () => {
        const d = diffState(olds, checkInputs({ ...good, name: "acme.OSM.example.test.", records: ["h1.OSM.example.test."] }).inputs);
        assert.strictEqual(d.changes, false);
    });
    it("updates in place on ttl, records, URL or key", () => {
        for (const change of [{ ttl: 60 }, { records: ["h2.osm.example.test."] }, { apiUrl: "http://127.0.0.1:9999" }, { apiKey: "rotated-key" }]) {
            const d = diffState(olds, checkInputs({ ...good, ...change }).inputs);
            assert.deepStrictEqual([d.changes, d.replaces], [true, []], JSON.stringify(change));
        }
        assert.strictEqual(diffState(olds, { ...olds, records: UNKNOWN }).changes, true);
    });
    it("replaces on zone, name or type; deletes first when a CNAME would sit beside the old type", () => {
        const byName = diffState(olds, checkInputs({ ...good, name: "b.osm.example.test" }).inputs);
        assert.deepStrictEqual([byName.replaces, byName.deleteBeforeReplace], [["name"], false]);
        const byType = diffState(olds, checkInputs({ ...good, type: "A", records: ["192.0.2.1"] }).inputs);
        assert.deepStrictEqual([byType.replaces, byType.deleteBeforeReplace], [["type"], true]);
        const byZone = diffState(olds, checkInputs({ ...good, zone: "example.test" }).inputs);
        assert.deepStrictEqual(byZone.replaces, ["zone"]);
    });
    it("an adoptId added or removed later changes nothing", () => {
        assert.strictEqual(diffState(olds, checkInputs({ ...good, adoptId: "osm.example.test/acme.osm.example.test/CNAME" }).inputs).changes, false);
    });
});

describe("PowerDNS record resource under mocks", () => {
    it("exposes its outputs and passes the API key only as a secret", async () => {
        let seen: any;
        const ev = await evaluate(() => {
            const r = new PdnsRecord("x", { ...good, apiKey: pulumi.secret(good.apiKey) });
            seen = r;
            return { zone: r.zone, name: r.name, type: r.type, ttl: r.ttl, records: r.records };
        }, { config: {} });
        assert.ok(seen instanceof PdnsRecord);
        assert.deepStrictEqual(ev.outputs, { zone: good.zone, name: good.name, type: good.type, ttl: 300, records: good.records });
        const inputs = ev.resources.find((r) => r.name === "x")!.inputs;
        assert.ok(isWrappedSecret(inputs.apiKey), "apiKey must reach the engine as a secret");
        assert.ok(!JSON.stringify({ ...inputs, apiKey: undefined }).includes(good.apiKey));
    });
    it("wraps a plain API key into a secret too", async () => {
        const ev = await evaluate(() => { new PdnsRecord("y", good); }, { config: {} });
        assert.ok(isWrappedSecret(ev.resources.find((r) => r.name === "y")!.inputs.apiKey));
    });
});

describe("PowerDnsDatabase component under mocks", () => {
    const args = { endpoint: "db.example.test:3306", adminUser: "admin", adminPassword: pulumi.secret("admin-pw-sentinel"), database: "pdns", user: "pdns", userHost: "192.0.2.53" };
    it("declares a provider, the database, a user with a generated secret password and a grant of exactly the privilege list on that database", async () => {
        let component: PowerDnsDatabase | undefined;
        const ev = await evaluate(() => {
            component = new PowerDnsDatabase("powerdns-mysql", args);
            return { password: component.password };
        }, {
            config: {},
            newResource: async (a) => a.type === "pulumi-nodejs:dynamic:Resource" ? { id: "pw", state: { value: "generated-pw-sentinel" } } : { id: `${a.name}-id`, state: a.inputs },
        });
        const byType = (t: string) => ev.resources.filter((r) => r.type === t);
        const [provider] = byType("pulumi:providers:mysql");
        const p = unwrapSecrets(provider.inputs);
        assert.deepStrictEqual({ endpoint: p.endpoint, username: p.username, password: p.password }, { endpoint: args.endpoint, username: "admin", password: "admin-pw-sentinel" });
        assert.ok(isWrappedSecret(provider.inputs.password), "admin password must be secret");
        const [db] = byType("mysql:index/database:Database");
        assert.strictEqual(db.inputs.name, "pdns");
        const [user] = byType("mysql:index/user:User");
        assert.deepStrictEqual([user.inputs.user, user.inputs.host], ["pdns", "192.0.2.53"]);
        assert.ok(isWrappedSecret(user.inputs.plaintextPassword), "the generated password reaches the user as a secret");
        assert.strictEqual(unwrapSecrets(user.inputs.plaintextPassword), "generated-pw-sentinel");
        const [grant] = byType("mysql:index/grant:Grant");
        assert.deepStrictEqual({ user: grant.inputs.user, host: grant.inputs.host, database: grant.inputs.database, privileges: grant.inputs.privileges },
            { user: "pdns", host: "192.0.2.53", database: "pdns", privileges: [...POWERDNS_MYSQL_PRIVILEGES] });
        assert.ok(!("table" in grant.inputs) || grant.inputs.table === undefined || grant.inputs.table === "*");
        for (const r of [db, user, grant]) {
            assert.strictEqual(r.parent, ev.resources.find((x) => x.type === "osm:hosting:PowerDnsDatabase")!.urn);
        }
        assert.ok(pulumi.Output.isInstance((ev.raw as any).password));
        assert.ok(await new Promise((r) => (component!.password as any).isSecret.then(r)), "password output is secret");
        assert.strictEqual(ev.outputs.password, "generated-pw-sentinel");
    });
    it("the password is generated in create by the serialized provider: 32 URL-safe characters, new each time, marked secret", async () => {
        const ev = await evaluate(() => { new PowerDnsDatabase("pdb", args); }, { config: {} });
        const pw = ev.resources.find((r) => r.type === "pulumi-nodejs:dynamic:Resource")!;
        const provider = deserializeProvider(unwrapSecrets(pw.inputs.__provider));
        const a = await provider.create(unwrapSecrets(pw.inputs));
        const b = await provider.create(unwrapSecrets(pw.inputs));
        assert.match(a.outs.value, /^[A-Za-z0-9_-]{32}$/);
        assert.notStrictEqual(a.outs.value, b.outs.value);
        assert.notStrictEqual(a.id, "");
    });
    it("privileges are plain DML only: no DDL, no GRANT OPTION, no global rights", () => {
        assert.deepStrictEqual([...POWERDNS_MYSQL_PRIVILEGES].sort(), ["DELETE", "INSERT", "SELECT", "UPDATE"]);
    });
});
