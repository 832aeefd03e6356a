/**
 * The PowerDNS record provider against a real PowerDNS (sqlite and MySQL backends), run the
 * way Pulumi runs it: the SDK serializes the provider into the resource's state, the
 * executor deserializes it like the dynamic provider host and calls it. Every effect is
 * checked with dig against the server.
 */
import * as assert from "assert";
import { carryOut, Deployment, destroyAll, dynamicHandler, DYNAMIC_TYPE, Handlers, CarryOutError } from "../../lab/executor";
import { startPowerDns, PowerDnsLab, Backend, freePort } from "../../lab/pdns-server";
import { recordsProgram, serializedProvider } from "../../lab/powerdns-fixtures";

const handlers: Handlers = { [DYNAMIC_TYPE]: dynamicHandler() };

/** Every error text a test saw, to prove the API key never appears in one. */
const errorTexts: string[] = [];
async function failure(p: Promise<unknown>): Promise<string> {
    try {
        await p;
    } catch (e) {
        const text = e instanceof CarryOutError ? e.failures.map((f) => f.message).join("\n") : String((e as Error).message ?? e);
        errorTexts.push(text);
        return text;
    }
    throw new Error("expected a failure, got success");
}

for (const backend of ["sqlite", "mysql"] as Backend[]) {
    describe(`PowerDNS record provider, ${backend} backend`, function () {
        let lab: PowerDnsLab;
        let provider: any;
        let providerText: string;
        const deployments: Deployment[] = [];
        const conn = () => ({ apiUrl: lab.apiUrl, apiKey: lab.apiKey, zone: lab.zone.replace(/\.$/, "") });
        const fqdn = (label: string) => `${label}.${lab.zone}`;
        /** State as create stores it, to call the provider directly. */
        const state = (name: string, type: string, records: string[], ttl = 300) =>
            ({ apiUrl: lab.apiUrl, apiKey: lab.apiKey, zone: lab.zone, name: fqdn(name), type, ttl, records, __provider: providerText });

        before(async function () {
            this.timeout(60000);
            lab = await startPowerDns({ backend });
            ({ text: providerText, provider } = await serializedProvider());
        });
        after(async function () {
            this.timeout(60000);
            if (lab) await lab.stop();
        });
        afterEach(async () => {
            // Whatever a test carried out goes again, also when it failed half way.
            while (deployments.length) await destroyAll(deployments.pop()!, handlers).catch(() => undefined);
        });

        it("creates records through the serialized provider; names normalised; dig answers through the CNAME", async () => {
            const program = recordsProgram(conn(), {
                "h1-a": { name: `H1.${lab.zone.replace(/\.$/, "").toUpperCase()}`, type: "a", ttl: 300, records: ["192.0.2.10"] },
                "acme-grafana": { name: fqdn("acme").replace(/\.$/, ""), type: "CNAME", ttl: 300, records: [fqdn("h1")] },
            });
            const d = await carryOut(program, { config: {}, handlers });
            deployments.push(d);
            const a = d.resources.find((r) => r.name === "h1-a")!;
            assert.strictEqual(a.id, `${lab.zone}/${fqdn("h1")}/A`);
            assert.strictEqual(a.outputs.name, fqdn("h1"));
            assert.strictEqual(a.outputs.type, "A");
            assert.deepStrictEqual(await lab.dig(fqdn("h1")), { status: "NOERROR", answers: ["A 192.0.2.10"] });
            assert.deepStrictEqual(await lab.dig(fqdn("acme")), { status: "NOERROR", answers: [`CNAME ${fqdn("h1")}`, "A 192.0.2.10"] });
            assert.ok(!providerText.includes(lab.apiKey), "the serialized provider must not carry the key");

            // Carrying out the same program again changes nothing (the engine's "same").
            const again = await carryOut(program, { config: {}, handlers, previous: d });
            deployments[deployments.length - 1] = again;
            assert.deepStrictEqual(again.resources.map((r) => r.outputs), d.resources.map((r) => r.outputs));
        });

        it("updates ttl and records in place (no replace) and replaces on a name or type change", async () => {
            const base = { "r": { name: fqdn("web"), type: "A", ttl: 300, records: ["192.0.2.1"] } };
            const d1 = await carryOut(recordsProgram(conn(), base), { config: {}, handlers });
            deployments.push(d1);
            const id1 = d1.resources[0].id;

            // Reordered records are the same set: diff reports nothing.
            const reordered = await provider.diff(id1, d1.resources[0].outputs, state("web", "A", ["192.0.2.1"]));
            assert.strictEqual(reordered.changes, false);

            const d2 = await carryOut(recordsProgram(conn(), { r: { ...base.r, ttl: 60, records: ["192.0.2.3", "192.0.2.2"] } }), { config: {}, handlers, previous: d1 });
            deployments[deployments.length - 1] = d2;
            const diff = await provider.diff(id1, d1.resources[0].outputs, d2.resources[0].inputs);
            assert.deepStrictEqual([diff.changes, diff.replaces], [true, []]);
            assert.strictEqual(d2.resources[0].id, id1);
            const live = await lab.api("GET", `/api/v1/servers/localhost/zones/${lab.zone}?rrset_name=${fqdn("web")}&rrset_type=A`);
            assert.strictEqual(live.json.rrsets[0].ttl, 60);
            assert.deepStrictEqual((await lab.dig(fqdn("web"))).answers.sort(), ["A 192.0.2.2", "A 192.0.2.3"]);

            // Name change: replaced (create the new one, then delete the old one).
            const d3 = await carryOut(recordsProgram(conn(), { r: { ...base.r, name: fqdn("www") } }), { config: {}, handlers, previous: d2 });
            deployments[deployments.length - 1] = d3;
            assert.strictEqual(d3.resources[0].id, `${lab.zone}/${fqdn("www")}/A`);
            assert.strictEqual((await lab.dig(fqdn("web"))).status, "NXDOMAIN");
            assert.deepStrictEqual((await lab.dig(fqdn("www"))).answers, ["A 192.0.2.1"]);

            // Type change to CNAME at the same name: the old rrset must go first.
            const toCname = await provider.diff(d3.resources[0].id, d3.resources[0].outputs, state("www", "CNAME", [fqdn("web")]));
            assert.deepStrictEqual([toCname.replaces, toCname.deleteBeforeReplace], [["type"], true]);
            const d4 = await carryOut(recordsProgram(conn(), { r: { name: fqdn("www"), type: "CNAME", ttl: 300, records: [fqdn("h9")] } }), { config: {}, handlers, previous: d3 });
            deployments[deployments.length - 1] = d4;
            assert.deepStrictEqual((await lab.dig(fqdn("www"), "CNAME")).answers, [`CNAME ${fqdn("h9")}`]);
            assert.deepStrictEqual((await lab.dig(fqdn("www"), "A")).answers, [`CNAME ${fqdn("h9")}`]);
        });

        it("read (refresh) reports a hand edit, and a record deleted by hand as gone; an error is not absence", async () => {
            const d = await carryOut(recordsProgram(conn(), { r: { name: fqdn("drift"), type: "A", ttl: 300, records: ["192.0.2.1"] } }), { config: {}, handlers });
            deployments.push(d);
            const stored = d.resources[0];
            const unchanged = await provider.read(stored.id, stored.outputs);
            assert.deepStrictEqual([unchanged.id, unchanged.props.ttl, unchanged.props.records], [stored.id, 300, ["192.0.2.1"]]);

            await lab.setRrset(fqdn("drift"), "A", 120, ["192.0.2.99", "192.0.2.98"]);
            const drifted = await provider.read(stored.id, stored.outputs);
            assert.deepStrictEqual([drifted.id, drifted.props.ttl, drifted.props.records], [stored.id, 120, ["192.0.2.98", "192.0.2.99"]]);
            // What the next `pulumi up` would do: put the declared content back, in place.
            const plan = await provider.diff(stored.id, drifted.props, stored.inputs);
            assert.deepStrictEqual([plan.changes, plan.replaces], [true, []]);

            // Disabled by hand: still there, serving nothing; drift, not absence.
            const disable = await lab.api("PATCH", `/api/v1/servers/localhost/zones/${lab.zone}`, {
                rrsets: [{ name: fqdn("drift"), type: "A", ttl: 120, changetype: "REPLACE", records: [{ content: "192.0.2.98", disabled: true }] }],
            });
            assert.strictEqual(disable.status, 204);
            const disabled = await provider.read(stored.id, stored.outputs);
            assert.deepStrictEqual([disabled.id, disabled.props.records], [stored.id, []]);
            // ... and create does not take it over either.
            const overDisabled = await failure(carryOut(recordsProgram(conn(), { other: { name: fqdn("drift"), type: "A", ttl: 300, records: ["192.0.2.1"] } }), { config: {}, handlers }));
            assert.match(overDisabled, /already exists in PowerDNS \(\[\]\)/);

            const wrongKey = await failure(provider.read(stored.id, { ...stored.outputs, apiKey: "not-the-key" }));
            assert.match(wrongKey, /PowerDNS rejected the API key/);

            const del = await lab.api("PATCH", `/api/v1/servers/localhost/zones/${lab.zone}`, { rrsets: [{ name: fqdn("drift"), type: "A", changetype: "DELETE" }] });
            assert.strictEqual(del.status, 204);
            const gone = await provider.read(stored.id, stored.outputs);
            assert.strictEqual(gone.id, "");
            // Deleting a record that is already gone is not an error.
            await provider.delete(stored.id, stored.outputs);
            await provider.read("x/y/A", undefined).then(() => assert.fail("read without state must fail"), (e: Error) => assert.match(e.message, /cannot be imported.*adoptId/));
        });

        it("create refuses an existing rrset unless adoptId names it and its records match; adoption then owns it", async () => {
            await lab.setRrset(fqdn("old"), "A", 3600, ["198.51.100.7"]);
            const declared = { name: fqdn("old"), type: "A", ttl: 300, records: ["198.51.100.7"] };
            const id = `${lab.zone}/${fqdn("old")}/A`;
            const esc = (t: string) => t.replace(/[.[\]()]/g, (c) => `\\${c}`);
            const notOwned = await failure(carryOut(recordsProgram(conn(), { r: declared }), { config: {}, handlers }));
            assert.match(notOwned, new RegExp(`^PowerDNS record ${esc(fqdn("old"))} A: it already exists in PowerDNS \\(\\[198\\.51\\.100\\.7\\]\\) and is not managed by this stack: to take it over, declare it with adoptId "${esc(id)}";`));
            const differs = await failure(carryOut(recordsProgram(conn(), { r: { ...declared, records: ["192.0.2.7"] } }), { config: {}, handlers }));
            assert.match(differs, /already exists in PowerDNS .* declare it with adoptId ".*" and its current records \(declared: \[192\.0\.2\.7\]\)/);
            const adoptDiffers = await failure(carryOut(recordsProgram(conn(), { r: { ...declared, records: ["192.0.2.7"], adoptId: id } }), { config: {}, handlers }));
            assert.match(adoptDiffers, /adoption refused: the existing rrset holds \[198\.51\.100\.7\] \(ttl 3600\), the program declares \[192\.0\.2\.7\].*\(pdnsutil replace-rrset osm\.example\.test\. old A 3600 "192\.0\.2\.7"\)$/);
            const wrongAdopt = await failure(carryOut(recordsProgram(conn(), { r: { ...declared, adoptId: `${lab.zone}/${fqdn("other")}/A` } }), { config: {}, handlers }));
            assert.match(wrongAdopt, /adoptId .* does not name this record/);
            const live = await lab.api("GET", `/api/v1/servers/localhost/zones/${lab.zone}?rrset_name=${fqdn("old")}&rrset_type=A`);
            assert.deepStrictEqual([live.json.rrsets[0].ttl, (await lab.dig(fqdn("old"))).answers], [3600, ["A 198.51.100.7"]], "refused creates leave the rrset alone");

            // Adoption by id (any case, dots optional) with matching records: taken over, ttl rewritten.
            const adoptId = `${lab.zone.toUpperCase().replace(/\.$/, "")}/${fqdn("old").replace(/\.$/, "")}/a`;
            const d1 = await carryOut(recordsProgram(conn(), { r: { ...declared, adoptId } }), { config: {}, handlers });
            deployments.push(d1);
            assert.strictEqual(d1.resources[0].id, id);
            const adopted = await lab.api("GET", `/api/v1/servers/localhost/zones/${lab.zone}?rrset_name=${fqdn("old")}&rrset_type=A`);
            assert.strictEqual(adopted.json.rrsets[0].ttl, 300);
            // Once adopted it is an ordinary record: updates and delete work on it.
            const d2 = await carryOut(recordsProgram(conn(), { r: { ...declared, records: ["192.0.2.7"], adoptId } }), { config: {}, handlers, previous: d1 });
            deployments[deployments.length - 1] = d2;
            assert.deepStrictEqual((await lab.dig(fqdn("old"))).answers, ["A 192.0.2.7"]);
            await destroyAll(deployments.pop()!, handlers);
            assert.strictEqual((await lab.dig(fqdn("old"))).status, "NXDOMAIN");
        });

        it("reports PowerDNS's own reasons in one line with the record's name; a bad rrset does not sink the others", async () => {
            await lab.setRrset(fqdn("taken"), "A", 300, ["192.0.2.5"]);
            const program = recordsProgram(conn(), {
                good1: { name: fqdn("good1"), type: "A", ttl: 300, records: ["192.0.2.1"] },
                badip: { name: fqdn("badip"), type: "A", ttl: 300, records: ["not-an-address"] },
                good2: { name: fqdn("good2"), type: "A", ttl: 300, records: ["192.0.2.2"] },
                relative: { name: fqdn("rel"), type: "CNAME", ttl: 300, records: ["h1"] },
                conflict: { name: fqdn("taken"), type: "CNAME", ttl: 300, records: [fqdn("h1")] },
                good3: { name: fqdn("good3"), type: "TXT", ttl: 300, records: ['"hello"'] },
            });
            let err: CarryOutError | undefined;
            try { await carryOut(program, { config: {}, handlers }); } catch (e) { err = e as CarryOutError; }
            assert.ok(err instanceof CarryOutError, "carrying out must fail");
            deployments.push(err.deployment);
            const messages = err.failures.map((f) => f.message);
            errorTexts.push(...messages);
            for (const m of messages) assert.ok(!m.includes("\n"), `one line: ${m}`);
            const about = (label: string) => messages.find((m) => m.startsWith(`PowerDNS record ${fqdn(label)} `)) ?? "";
            assert.match(about("badip"), /PowerDNS refused it \(HTTP 422\): .*(not-an-address|[Pp]arsing)/);
            assert.match(about("rel"), /PowerDNS refused it \(HTTP 422\): .*h1/);
            assert.match(about("taken"), /Conflicts with pre-existing RRset/);
            assert.strictEqual(messages.length, 3, messages.join("\n"));
            const answers = await lab.digMany([fqdn("good1"), fqdn("good2"), fqdn("badip"), fqdn("rel")]);
            assert.deepStrictEqual([...answers.values()].map((a) => a.status), ["NOERROR", "NOERROR", "NXDOMAIN", "NXDOMAIN"]);
            assert.deepStrictEqual((await lab.dig(fqdn("good3"), "TXT")).answers, ['TXT "hello"']);
            assert.deepStrictEqual((await lab.dig(fqdn("taken"))).answers, ["A 192.0.2.5"]);
        });

        it("names the problem for a wrong key, an unknown zone, a dead URL, a wrong path and invalid inputs; never shows the key", async () => {
            const one = (over: object) => recordsProgram({ ...conn(), ...over }, { r: { name: fqdn("x"), type: "A", ttl: 300, records: ["192.0.2.1"] } });
            const wrongKey = "wrong-key-" + lab.apiKey.slice(0, 6);
            const keyMsg = await failure(carryOut(one({ apiKey: wrongKey }), { config: {}, handlers }));
            assert.match(keyMsg, new RegExp(`^PowerDNS record ${fqdn("x").replace(/\./g, "\\.")} A: PowerDNS rejected the API key`));
            assert.ok(!keyMsg.includes(wrongKey));

            const zoneMsg = await failure(carryOut(recordsProgram({ ...conn(), zone: "nozone.example.test" }, { r: { name: "x.nozone.example.test", type: "A", ttl: 300, records: ["192.0.2.1"] } }), { config: {}, handlers }));
            assert.match(zoneMsg, /zone nozone\.example\.test\. does not exist on the PowerDNS server at http:\/\/127\.0\.0\.1:\d+/);

            const deadUrl = `http://127.0.0.1:${await freePort()}`;
            const deadMsg = await failure(carryOut(one({ apiUrl: deadUrl }), { config: {}, handlers }));
            assert.match(deadMsg, new RegExp(`the PowerDNS API at ${deadUrl.replace(/\./g, "\\.")} does not answer \\(ECONNREFUSED\\)`));

            const outOfZone = await failure(carryOut(recordsProgram(conn(), { r: { name: "x.elsewhere.test", type: "A", ttl: 300, records: ["192.0.2.1"] } }), { config: {}, handlers }));
            assert.match(outOfZone, /record x\.elsewhere\.test\. is not inside zone/);
            const badTtl = await failure(carryOut(recordsProgram(conn(), { r: { name: fqdn("x"), type: "A", ttl: 0, records: [] } }), { config: {}, handlers }));
            assert.match(badTtl, /ttl must be a whole number/);
            assert.match(badTtl, /records must be a non-empty list/);

            // Delete of a record in a zone that is gone, or of one never created: done, no error.
            await provider.delete("z/n/A", { ...state("never", "A", ["192.0.2.1"]), zone: "nozone.example.test." });
            await provider.delete("z/n/A", state("never", "A", ["192.0.2.1"]));
            // PowerDNS answers that zone with the 404 it gives any unknown path; its zone list confirms it.
            assert.strictEqual((await provider.read("z/n/A", { ...state("never", "A", ["192.0.2.1"]), zone: "nozone.example.test." })).id, "");
            const prefixed = await failure(provider.delete("z/n/A", { ...state("never", "A", ["192.0.2.1"]), apiUrl: `${lab.apiUrl}/pdns` }));
            assert.match(prefixed, new RegExp(`no PowerDNS API under this path .*, but ${lab.apiUrl.replace(/\./g, "\\.")} has one: set powerdns\\.apiUrl to ${lab.apiUrl.replace(/\./g, "\\.")}$`));

            for (const text of errorTexts) assert.ok(!text.includes(lab.apiKey), `an error text shows the API key: ${text}`);
        });

        it("after a key rotation, OSM_POWERDNS_API_KEY lets delete and read work with state holding the old key", async () => {
            const d = await carryOut(recordsProgram(conn(), { r: { name: fqdn("rotate"), type: "A", ttl: 300, records: ["192.0.2.1"] } }), { config: {}, handlers });
            deployments.push(d);
            const stale = { ...d.resources[0].outputs, apiKey: "key-before-rotation" };
            const refused = await failure(provider.delete(d.resources[0].id, stale));
            assert.match(refused, /PowerDNS rejected the API key .*after a key rotation, run with the new key in OSM_POWERDNS_API_KEY/);
            process.env.OSM_POWERDNS_API_KEY = lab.apiKey;
            try {
                assert.deepStrictEqual((await provider.read(d.resources[0].id, stale)).props.records, ["192.0.2.1"]);
                await provider.delete(d.resources[0].id, stale);
            } finally {
                delete process.env.OSM_POWERDNS_API_KEY;
            }
            assert.strictEqual((await lab.dig(fqdn("rotate"))).status, "NXDOMAIN");
        });

        if (backend === "sqlite") {
            it("creates 300 records at once, then deletes them at once (sqlite: parallel PATCHes would fail with 'database is locked')", async function () {
                this.timeout(120000);
                const records: Parameters<typeof recordsProgram>[1] = {};
                const names: string[] = [];
                for (let i = 0; i < 300; i++) {
                    names.push(fqdn(`bulk${i}`));
                    records[`bulk${i}`] = { name: fqdn(`bulk${i}`), type: "A", ttl: 300, records: [`192.0.2.${i % 250 + 1}`] };
                }
                // Control: the same 300 rrsets as 300 parallel single PATCHes straight to the API
                // do fail here, so the provider's success below is not for want of contention.
                const raw = await Promise.all(names.map((name, i) => lab.api("PATCH", `/api/v1/servers/localhost/zones/${lab.zone}`, {
                    rrsets: [{ name, type: "A", ttl: 300, changetype: "REPLACE", records: [{ content: `192.0.2.${i % 250 + 1}`, disabled: false }] }],
                }).catch(() => ({ status: 0 }))));
                const failed = raw.filter((r) => r.status !== 204).length; if (process.env.OSM_LAB_TRACE) console.log(`      (control: ${failed} of 300 parallel raw PATCHes failed)`);
                assert.ok(failed > 0, "300 parallel raw PATCHes all passed: the contention this test relies on did not happen");
                await lab.api("PATCH", `/api/v1/servers/localhost/zones/${lab.zone}`, { rrsets: names.map((name) => ({ name, type: "A", changetype: "DELETE" })) });

                const d = await carryOut(recordsProgram(conn(), records), { config: {}, handlers });
                deployments.push(d);
                assert.strictEqual(d.resources.length, 300);
                const up = await lab.digMany(names);
                names.forEach((n, i) => assert.deepStrictEqual(up.get(n), { status: "NOERROR", answers: [`A 192.0.2.${i % 250 + 1}`] }, n));
                // A refresh reads all of them at once (at most 16 requests in flight per server).
                const reads = await Promise.all(d.resources.map((r) => provider.read(r.id, r.outputs)));
                reads.forEach((r: any, i: number) => assert.deepStrictEqual([r.id, r.props.records], [d.resources[i].id, d.resources[i].outputs.records]));
                await destroyAll(deployments.pop()!, handlers);
                const down = await lab.digMany(names);
                for (const n of names) assert.strictEqual(down.get(n)!.status, "NXDOMAIN", n);
            });
        }
    });
}
