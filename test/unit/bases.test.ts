/**
 * Versioned OS bases and rolling upgrades (README.md, "Bases and upgrades"): the stack config's
 * bases, defaultBase, upgradeConcurrency and baseSeed; customers.json base; what the program
 * tells the hosts (OSM_BASE, OSM_BASES, OSM_BASE_SEED, and nothing new without bases); the
 * upgrades and their waves, as registered dependencies under mocks and in the plan; the lock's
 * base. The host side (the upgrade itself) is the lab's.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { baseUpgrades, basesByHost, basesEnv, BaseSpec, customerBases, effectiveBase, formatWaves, inWaveOrder, upgradeWaves, wavePredecessors } from "../../components/bases";
import { configKeyPath, DEFAULT_BASE_SUITE, DEFAULT_UPGRADE_CONCURRENCY, FleetSettings, readSettings } from "../../components/config";
import { checkCustomers, CustomerEntry } from "../../components/customers";
import { planFleet } from "../../components/fleet-plan";
import { loadInputs } from "../../components/inputs";
import { projectRoot } from "../../components/paths";
import { emptyLock, formatLock, PlacementsLock, readLock, withStack } from "../../components/placements-lock";
import { diffFleet } from "../../components/plan-diff";
import { checkBases } from "../../components/previous";
import { formatProblem, InputError, Problem } from "../../components/problems";
import { Evaluation, Registered, unwrapSecrets } from "../../scripts/lib/engine";
import { readStackFile } from "../../scripts/lib/offline";
import { formatDiff } from "../../scripts/lib/plan-report";
import { DOMAIN, lookupOf, PROJECT, runProgram, runRefused, Scratch, SENTINEL_TSIG_SECRET, TEST_SECRETS, testHosts, testSettings } from "./support/fleet";

const COMMAND = "command:remote:Command";
const OLD: Omit<BaseSpec, "suite"> = { grafana: "10.4.2", influxdb2: "2.7.1-1", chirpstack: "4.6.0", mosquitto: "2.0.11-1.2+deb12u1" };
const NEW: Omit<BaseSpec, "suite"> = { grafana: "11.3.0", influxdb2: "2.7.10-1", chirpstack: "4.9.0", mosquitto: "2.0.11-1.2+deb12u1" };
const OLD_ENV = "2026-12:suite=bookworm,grafana=10.4.2,influxdb2=2.7.1-1,chirpstack=4.6.0,mosquitto=2.0.11-1.2+deb12u1";
const NEW_ENV = "2027-01:suite=trixie,grafana=11.3.0,influxdb2=2.7.10-1,chirpstack=4.9.0,mosquitto=2.0.11-1.2+deb12u1";
/** The stack config of a fleet with two bases, the newer the default. */
const BASES = { bases: { "2026-12": OLD, "2027-01": { ...NEW, suite: "trixie" } }, defaultBase: "2027-01" };

function problemsOf(values: Record<string, unknown>, presentKeys: string[] = []): Problem[] {
    try {
        readSettings(lookupOf({ ...testSettings(), ...TEST_SECRETS, ...values }), "Pulumi.unit.yaml", presentKeys);
        return [];
    } catch (err) {
        if (err instanceof InputError) return err.problems;
        throw err;
    }
}

/** Each problem's path, and that its message has every fragment, in order. */
function assertSays(problems: Problem[], expected: [path: string, ...says: string[]][]): void {
    const shown = problems.map(formatProblem).join("\n");
    assert.deepStrictEqual(problems.map((p) => p.path), expected.map(([p]) => p), shown);
    expected.forEach(([, ...says], i) => {
        let from = 0;
        for (const s of says) {
            const at = problems[i].message.indexOf(s, from);
            assert.ok(at >= 0, `problem ${i} should say ${JSON.stringify(s)}:\n${shown}`);
            from = at + s.length;
        }
    });
}

function byName(ev: Evaluation<any>, name: string, type?: string): Registered {
    const found = ev.resources.filter((r) => r.name === name && (!type || r.type === type));
    assert.strictEqual(found.length, 1, `expected one ${name}, found ${found.length}`);
    return found[0];
}
const envOf = (ev: Evaluation<any>, name: string): Record<string, string> => unwrapSecrets(byName(ev, name, COMMAND).inputs).environment;

describe("bases: the stack config", () => {
    it("reads bases, defaultBase, upgradeConcurrency and baseSeed, with the defaults (suite, concurrency 1, no seed)", () => {
        const { settings } = readSettings(lookupOf({ ...testSettings(), ...TEST_SECRETS, ...BASES }), "Pulumi.unit.yaml");
        assert.deepStrictEqual(settings.bases, {
            specs: { "2026-12": { suite: DEFAULT_BASE_SUITE, ...OLD }, "2027-01": { suite: "trixie", ...NEW } },
            defaultBase: "2027-01", upgradeConcurrency: DEFAULT_UPGRADE_CONCURRENCY,
        });
        assert.strictEqual(DEFAULT_BASE_SUITE, "bookworm");
        assert.strictEqual(DEFAULT_UPGRADE_CONCURRENCY, 1);
        // Numeric and plain keys as Pulumi stores them (strings).
        const seeded = readSettings(lookupOf({ ...testSettings(), ...TEST_SECRETS, ...BASES, upgradeConcurrency: "3", baseSeed: "/var/lib/osm/base-seed" }), "Pulumi.unit.yaml",
            [`${PROJECT}:bases`, `${PROJECT}:defaultBase`, `${PROJECT}:upgradeConcurrency`, `${PROJECT}:baseSeed`]).settings.bases!;
        assert.deepStrictEqual([seeded.upgradeConcurrency, seeded.baseSeed], [3, "/var/lib/osm/base-seed"]);
        // Without bases: no such setting at all.
        assert.ok(!("bases" in readSettings(lookupOf({ ...testSettings(), ...TEST_SECRETS }), "Pulumi.unit.yaml").settings));
    });

    it("refuses malformed bases, each problem at its key with the fix, all in one run", () => {
        assertSays(problemsOf({
            bases: { "2027-01": { ...NEW, grafana: "v11", suite: "Trixie", flavour: "x" }, "2026-12": { grafana: "1:10.4.2", influxdb2: "2.7.1", chirpstack: "4.6.0" },
                "Bad_Name": OLD, "2025.1": { ...OLD, mosquitto: 2 } },
            defaultBase: "2027-01",
        }), [
            ["osm-hosting:bases.2027-01.flavour", 'unknown field "flavour"', "allowed: suite, grafana, influxdb2, chirpstack, mosquitto"],
            ["osm-hosting:bases.2027-01.suite", "a Debian suite's code name", "(got \"Trixie\")", "pulumi config set --path 'osm-hosting:bases.2027-01.suite' \"bookworm\""],
            ["osm-hosting:bases.2027-01.grafana", "the grafana package's Debian version without an epoch", "(got \"v11\")", "pulumi config set --path 'osm-hosting:bases.2027-01.grafana' \"11.3.0\""],
            ["osm-hosting:bases.2026-12.mosquitto", '"mosquitto" is missing', "pulumi config set --path 'osm-hosting:bases.2026-12.mosquitto' \"2.0.11-1.2+deb12u1\""],
            ["osm-hosting:bases.2026-12.grafana", "without an epoch", "(got \"1:10.4.2\")"],
            ['osm-hosting:bases["2025.1"].mosquitto', "must be a string (got 2)", "pulumi config set --path 'osm-hosting:bases[\"2025.1\"].mosquitto'"],
            ["osm-hosting:bases.Bad_Name", '"Bad_Name" is not a base name', "a-z, 0-9, '.' and '-'", "rename it"],
        ]);
    });

    it("defaultBase: required with bases, one of them; an empty bases is refused", () => {
        assertSays(problemsOf({ bases: BASES.bases }), [
            ["osm-hosting:defaultBase", "is missing while osm-hosting:bases is set", '"2026-12", "2027-01"', 'pulumi config set osm-hosting:defaultBase "2027-01"'],
        ]);
        assertSays(problemsOf({ ...BASES, defaultBase: "2027-02" }), [
            ["osm-hosting:defaultBase", '"2027-02" is not one of osm-hosting:bases ("2026-12", "2027-01")', "pulumi config set osm-hosting:defaultBase", 'or add a base "2027-02"'],
        ]);
        assertSays(problemsOf({ ...BASES, defaultBase: "Latest" }), [["osm-hosting:defaultBase", "must be a base's name", '(got "Latest")']]);
        assertSays(problemsOf({ bases: {} }), [["osm-hosting:bases", "names no base", "pulumi config rm osm-hosting:bases"]]);
        assertSays(problemsOf({ bases: ["2027-01"] }), [["osm-hosting:bases", "must be an object", "pulumi config set --path 'osm-hosting:bases.2027-01.grafana'"]]);
    });

    it("upgradeConcurrency: a whole number from 1 to 50; baseSeed: an absolute path (the hosts' OSM_BASE_SEED rule)", () => {
        for (const bad of [0, 51, "two", 1.5]) {
            assertSays(problemsOf({ ...BASES, upgradeConcurrency: bad }), [["osm-hosting:upgradeConcurrency", typeof bad === "string" || bad === 1.5 ? "must be a whole number" : "must be between 1 and 50",
                "pulumi config set osm-hosting:upgradeConcurrency 2"]]);
        }
        assertSays(problemsOf({ ...BASES, baseSeed: "srv/seed" }), [["osm-hosting:baseSeed", "an absolute path on the host of a prepared root tree", '(got "srv/seed")']]);
    });

    it("defaultBase, upgradeConcurrency and baseSeed without bases are refused, each with what to do", () => {
        assertSays(problemsOf({ defaultBase: "2027-01", upgradeConcurrency: 2, baseSeed: "/srv/seed" }), [
            ["osm-hosting:defaultBase", "is set but osm-hosting:bases is not", "pulumi config rm osm-hosting:defaultBase", "or define the bases in osm-hosting:bases"],
            ["osm-hosting:upgradeConcurrency", "is set but osm-hosting:bases is not", "pulumi config rm osm-hosting:upgradeConcurrency"],
            ["osm-hosting:baseSeed", "is set but osm-hosting:bases is not", "pulumi config rm osm-hosting:baseSeed"],
        ]);
        // Known keys: not "unknown setting".
        assert.deepStrictEqual(problemsOf({ ...BASES, upgradeConcurrency: 2, baseSeed: "/srv/seed" },
            ["bases", "defaultBase", "upgradeConcurrency", "baseSeed"].map((k) => `${PROJECT}:${k}`)), []);
    });

    it("a name with a dot is a quoted key in the fix's path (pulumi config set --path)", () => {
        assert.strictEqual(configKeyPath("/bases/2027.01/grafana"), 'osm-hosting:bases["2027.01"].grafana');
        assert.strictEqual(configKeyPath("/bases/2027/grafana"), "osm-hosting:bases.2027.grafana");
        assert.strictEqual(configKeyPath("/hosts/0/capacity"), "osm-hosting:hosts[0].capacity");
    });
});

describe("bases: customers.json base", () => {
    const hosts = [{ name: "alpha" }];
    const known = { names: ["2026-12", "2027-01"] };

    it("takes one of the stack's bases; the effective base is it, else defaultBase; none without bases or for an adopted customer", () => {
        const { customers, problems } = checkCustomers({ customers: [{ name: "Acme", base: "2026-12" }, { name: "Dairy" }] }, "customers.json", hosts, {}, known);
        assert.deepStrictEqual(problems, []);
        assert.deepStrictEqual(customers.map((c) => c.base), ["2026-12", undefined]);
        const { settings } = readSettings(lookupOf({ ...testSettings(), ...TEST_SECRETS, ...BASES }), "Pulumi.unit.yaml");
        assert.deepStrictEqual(customers.map((c) => effectiveBase(c, settings.bases)), ["2026-12", "2027-01"]);
        assert.deepStrictEqual(customers.map((c) => effectiveBase(c, undefined)), [undefined, undefined]);
        assert.strictEqual(effectiveBase({ label: "old", adopt: true }, settings.bases), undefined);
        assert.deepStrictEqual(customerBases([...customers, { label: "old", adopt: true }], settings.bases), { acme: "2026-12", dairy: "2027-01" });
    });

    it("refuses a base the stack does not have (listing the ones it has), any base when it has none, and one for an adopted customer", () => {
        const doc = { customers: [{ name: "Acme", base: "2027-02" }, { name: "Quayside", host: "alpha", mqttPort: 30001, adopt: true, base: "2027-01" }, { name: "Mill", base: 7 }] };
        assertSays(checkCustomers(doc, "customers.json", hosts, {}, known).problems, [
            ["/customers/2/base", "must be a string"],
            ["/customers/0/base", 'base "2027-02" is not one of the stack config\'s bases ("2026-12", "2027-01")', 'remove "base" for the stack\'s defaultBase, or add "2027-02" to osm-hosting:bases'],
            ["/customers/1/base", "adopted customer", "not supported yet", 'remove "base"'],
        ]);
        assertSays(checkCustomers({ customers: [{ name: "Acme", base: "2027-01" }] }, "customers.json", hosts, {}, { names: [] }).problems, [
            ["/customers/0/base", "the stack config has no bases (osm-hosting:bases)", 'remove "base"', "define the bases in the stack config first"],
        ]);
        // The stack's bases unknown (its config unreadable): judged on its form only.
        assertSays(checkCustomers({ customers: [{ name: "Acme", base: "Bad Base" }, { name: "Dairy", base: "2099-01" }] }, "customers.json", hosts).problems, [
            ["/customers/0/base", '"Bad Base" is not a base name'],
        ]);
    });

    it("loadInputs judges each customer's base against the stack's, with the stack config's problems in one InputError", () => {
        const scratch = new Scratch();
        try {
            const customersFile = scratch.customers({ customers: [{ name: "Acme", base: "2027-02" }, { name: "Dairy", base: "2026-12" }] });
            const config = { ...testSettings(), ...TEST_SECRETS, customersFile, placementsLock: path.join(scratch.dir, "none.lock.json") };
            const load = (extra: Record<string, unknown>) => {
                try {
                    loadInputs(lookupOf({ ...config, ...extra }), "Pulumi.unit.yaml", [], scratch.dir, "unit");
                    return [];
                } catch (err) {
                    assert.ok(err instanceof InputError);
                    return err.problems;
                }
            };
            assertSays(load(BASES), [["/customers/0/base", 'base "2027-02" is not one of']]);
            // Without bases: both refused; with a bad stack config besides, its problem and both customers' in one run.
            assertSays(load({}), [["/customers/0/base", "the stack config has no bases"], ["/customers/1/base", "the stack config has no bases"]]);
            assertSays(load({ ...BASES, upgradeConcurrency: 0 }), [["osm-hosting:upgradeConcurrency", "between 1 and 50"], ["/customers/0/base", 'base "2027-02" is not one of']]);
        } finally {
            scratch.cleanup();
        }
    });
});

describe("bases: the host values and the waves (pure)", () => {
    const specs: Record<string, BaseSpec> = { "2026-12": { suite: "bookworm", ...OLD }, "2027-01": { suite: "trixie", ...NEW } };

    it("OSM_BASES: the bases named, each once, sorted by name, fields in the hosts' order; \"\" for none; per host only its customers' bases", () => {
        assert.strictEqual(basesEnv(specs, ["2027-01", "2026-12", "2027-01"]), `${OLD_ENV} ${NEW_ENV}`);
        assert.strictEqual(basesEnv(specs, []), "");
        assert.throws(() => basesEnv(specs, ["2099-01"]), /no base "2099-01"/);
        assert.deepStrictEqual(basesByHost(specs, { acme: "2027-01", dairy: "2026-12", mill: "2027-01" },
            { acme: { host: "alpha" }, dairy: { host: "beta" }, mill: { host: "beta" }, old: { host: "gamma" } }), { alpha: NEW_ENV, beta: `${OLD_ENV} ${NEW_ENV}` });
    });

    it("upgradeWaves: per host, sorted by label, in waves of upgradeConcurrency", () => {
        const ups = [{ label: "e", host: "osm2" }, { label: "c", host: "osm1" }, { label: "a", host: "osm1" }, { label: "b", host: "osm1" }, { label: "d", host: "osm1" }, { label: "f", host: "osm1" }];
        assert.deepStrictEqual(upgradeWaves(ups, 2), { osm1: [["a", "b"], ["c", "d"], ["f"]], osm2: [["e"]] });
        assert.deepStrictEqual(upgradeWaves(ups, 1).osm1, [["a"], ["b"], ["c"], ["d"], ["f"]]);
        assert.deepStrictEqual(upgradeWaves(ups, 50), { osm1: [["a", "b", "c", "d", "f"]], osm2: [["e"]] });
        assert.deepStrictEqual(upgradeWaves([], 2), {});
        assert.throws(() => upgradeWaves(ups, 0), /upgradeConcurrency/);
        const waves = upgradeWaves(ups, 2);
        assert.deepStrictEqual(wavePredecessors(waves), { c: ["a", "b"], d: ["a", "b"], f: ["c", "d"] });
        // Construction order: earlier waves first, everything else as it came.
        assert.deepStrictEqual(inWaveOrder(["f", "x", "c", "a", "e", "d", "b"].map((label) => ({ label })), waves).map((x) => x.label), ["x", "a", "e", "b", "c", "d", "f"]);
    });

    it("an upgrade: on the same host, not restored, not new, base changed (\"\": the base of before)", () => {
        const deployed: Record<string, { host: string; base: string }> = {
            same: { host: "osm1", base: "2027-01" }, legacy: { host: "osm1", base: "" }, older: { host: "osm1", base: "2026-12" },
            moved: { host: "osm2", base: "2026-12" }, restored: { host: "osm1", base: "2026-12" },
        };
        const planned = [
            { label: "same", host: "osm1", base: "2027-01" }, { label: "legacy", host: "osm1", base: "2027-01" }, { label: "older", host: "osm1", base: "2027-01" },
            { label: "moved", host: "osm1", base: "2027-01" }, { label: "restored", host: "osm1", base: "2027-01", restored: true }, { label: "new", host: "osm1", base: "2027-01" },
            // A label change: the new label is not deployed.
            { label: "relabelled", host: "osm1", base: "2027-01" },
        ];
        assert.deepStrictEqual(baseUpgrades(planned, (l) => deployed[l]), [
            { label: "legacy", host: "osm1", from: "", to: "2027-01" }, { label: "older", host: "osm1", from: "2026-12", to: "2027-01" },
        ]);
    });

    it("the stack's bases output is checked: a malformed one is refused, naming the entry", () => {
        assert.deepStrictEqual(checkBases({ acme: "2027-01" }, "out"), { acme: "2027-01" });
        assert.throws(() => checkBases({ acme: 5, dairy: "Bad Base" }, "stack output \"bases\""), (err: unknown) => err instanceof InputError &&
            err.problems.map((p) => p.path).join() === "/acme,/dairy" && /must be a base's name/.test(err.problems[0].message));
        assert.throws(() => checkBases(["2027-01"], "out"), /is not an object of \{"<label>": "<base>"\}/);
    });
});

describe("bases: what the program sends the hosts", function () {
    this.timeout(60000);
    const scratch = new Scratch();
    after(() => scratch.cleanup());
    const CUSTOMERS = { customers: [{ name: "Acme", host: "alpha" }, { name: "Dairy", host: "beta", base: "2026-12" },
        { name: "Harbour", host: "beta", mqttPort: 9500, adopt: true }, { name: "Mill", host: "beta" }] };

    it("each customer's command gets OSM_BASE (its base, else defaultBase; none when adopted); each host OSM_BASES of its customers' bases, and OSM_BASE_SEED", async () => {
        const ev = await runProgram({ customersFile: scratch.customers(CUSTOMERS), settings: testSettings({ ...BASES, baseSeed: "/var/lib/osm/base-seed" }) });
        assert.deepStrictEqual(["acme", "dairy", "harbour", "mill"].map((l) => envOf(ev, `${l}-container`).OSM_BASE), ["2027-01", "2026-12", undefined, "2027-01"]);
        assert.strictEqual(envOf(ev, "alpha-setup").OSM_BASES, NEW_ENV);
        assert.strictEqual(envOf(ev, "beta-setup").OSM_BASES, `${OLD_ENV} ${NEW_ENV}`);
        // gamma has no customer: nothing to build there.
        assert.ok(!("OSM_BASES" in envOf(ev, "gamma-setup")));
        for (const h of ["alpha", "beta", "gamma"]) assert.strictEqual(envOf(ev, `${h}-setup`).OSM_BASE_SEED, "/var/lib/osm/base-seed", h);
        // The bases output: the customers on a named base, in customers.json's order.
        assert.deepStrictEqual(ev.outputs.bases, { acme: "2027-01", dairy: "2026-12", mill: "2027-01" });
        assert.deepStrictEqual(Object.keys(ev.outputs.bases), ["acme", "dairy", "mill"]);
        // Without a seed: not sent.
        const unseeded = await runProgram({ customersFile: scratch.customers(CUSTOMERS), settings: testSettings(BASES) });
        assert.ok(!("OSM_BASE_SEED" in envOf(unseeded, "alpha-setup")));
    });

    it("a stack without bases: the host and customer commands' environment is exactly as before bases (nothing sent), no bases output", async () => {
        const plain = { customers: CUSTOMERS.customers.map(({ base: _base, ...c }) => c) };
        const ev = await runProgram({ customersFile: scratch.customers(plain), previous: { acme: { host: "alpha", mqttPort: 30001 } }, previousBases: {} });
        for (const r of ev.resources.filter((x) => x.type === COMMAND)) {
            for (const k of Object.keys(unwrapSecrets(r.inputs).environment ?? {})) assert.ok(!k.startsWith("OSM_BASE"), `${r.name}: ${k}`);
        }
        const { OSM_PLAYBOOK_HASH: setupHash, ...alpha } = envOf(ev, "alpha-setup");
        assert.match(setupHash, /^[0-9a-f]{16}$/);
        assert.deepStrictEqual(alpha, {
            OSM_HOST_NAME: "alpha", OSM_DOMAIN: DOMAIN, OSM_ACME_SERVER: "https://acme.test.example/dir", OSM_ACME_EMAIL: "ops@test.example",
            OSM_ACME_DNS_SERVER: "192.0.2.53", OSM_ACME_DNS_PORT: "53", OSM_ACME_DNS_PROPAGATION_SECONDS: "5", OSM_ACME_TSIG_KEY: "osm-acme",
            OSM_ACME_TSIG_ALGORITHM: "hmac-sha256", OSM_ACME_TSIG_SECRET: SENTINEL_TSIG_SECRET,
        });
        const { OSM_PLAYBOOK_HASH: containerHash, ...acme } = envOf(ev, "acme-container");
        assert.match(containerHash, /^[0-9a-f]{16}$/);
        assert.deepStrictEqual(acme, { OSM_CUSTOMER: "acme", OSM_DOMAIN: DOMAIN, OSM_HOST_NAME: "alpha", OSM_MQTT_PORT: "30001", OSM_CPUS: "3", OSM_MEMORY_MIB: "3072" });
        assert.ok(!("bases" in ev.outputs));
        // The same with no bases output at all (a stack before this release): the same graph.
        const before = await runProgram({ customersFile: scratch.customers(plain), previous: { acme: { host: "alpha", mqttPort: 30001 } } });
        const signature = (e: Evaluation<any>) => e.resources.map((r) => JSON.stringify([r.name, [...r.dependencies].sort(), unwrapSecrets(r.inputs)])).sort();
        assert.deepStrictEqual(signature(before), signature(ev));
    });

    it("a customer on a named base cannot go back to the base of before: bases removed from the stack config are refused, nothing registered", async () => {
        const { err, registered } = await runRefused({ customersFile: scratch.customers({ customers: [{ name: "Acme" }] }),
            previous: { acme: { host: "alpha", mqttPort: 30001 } }, previousBases: { acme: "2027-01" } });
        assert.match(err.message, /Pulumi\.unit\.yaml osm-hosting:bases: is not set, but customer "acme" runs on base "2027-01": going back to the base of before is not supported; set osm-hosting:bases/);
        assert.deepStrictEqual(registered.filter((u) => !u.includes("pulumi:pulumi:Stack")), []);
        const malformed = await runRefused({ customersFile: scratch.customers({ customers: [{ name: "Acme" }] }), previous: {}, previousBases: { acme: 2027 } });
        assert.match(malformed.err.message, /stack output "bases" of .*\/acme: must be a base's name/);
    });
});

describe("bases: rolling upgrades under mocks (the registered dependencies)", function () {
    this.timeout(60000);
    const scratch = new Scratch();
    after(() => scratch.cleanup());
    const hosts = testHosts().map((h) => (h.name === "beta" ? { ...h, capacity: 10 } : h));
    // customers.json order is not the waves': a customer of the second wave comes first.
    const CUSTOMERS = { customers: [{ name: "Delta" }, { name: "Bravo" }, { name: "Charlie" }, { name: "Alpha Co" }, { name: "Echo" }, { name: "Current" }, { name: "Moved" }, { name: "Newbie" }] };
    const previous = {
        "delta": { host: "beta", mqttPort: 30001 }, "bravo": { host: "beta", mqttPort: 30002 }, "charlie": { host: "beta", mqttPort: 30003 },
        "alpha-co": { host: "beta", mqttPort: 30004 }, "echo": { host: "alpha", mqttPort: 30005 }, "current": { host: "beta", mqttPort: 30006 },
        // gamma drains: this one moves, onto a new container made on the new base (not an upgrade).
        "moved": { host: "gamma", mqttPort: 30007 },
    };
    // Only current already runs on the new base; moved on the old one, the rest on the base of before.
    const previousBases = { current: "2027-01", moved: "2026-12" };
    const run = (upgradeConcurrency: number) => runProgram({ customersFile: scratch.customers(CUSTOMERS), previous, previousBases,
        settings: testSettings({ hosts, ...BASES, upgradeConcurrency }) });
    const deps = (ev: Evaluation<any>, label: string) => byName(ev, `${label}-container`, COMMAND).dependencies;
    const urn = (ev: Evaluation<any>, name: string) => byName(ev, name).urn;

    it("upgradeConcurrency 2: each container of wave 2 on a host depends on every container of wave 1 there; the others on their host alone", async () => {
        const ev = await run(2);
        // beta's upgrades, by label: alpha-co, bravo | charlie, delta; alpha's: echo.
        for (const label of ["alpha-co", "bravo", "current"]) assert.deepStrictEqual(deps(ev, label), [urn(ev, "beta-setup")], label);
        for (const label of ["charlie", "delta"]) {
            assert.deepStrictEqual([...deps(ev, label)].sort(), [urn(ev, "beta-setup"), urn(ev, "alpha-co-container"), urn(ev, "bravo-container")].sort(), label);
        }
        assert.deepStrictEqual(deps(ev, "echo"), [urn(ev, "alpha-setup")]);
        // The moved one waits for its grant only; the new one for its host.
        const moved = ev.outputs.placements.moved.host;
        assert.deepStrictEqual([...deps(ev, "moved")].sort(), [urn(ev, `${moved}-setup`), urn(ev, "moved-move-grant")].sort());
        assert.deepStrictEqual(deps(ev, "newbie"), [urn(ev, `${ev.outputs.placements.newbie.host}-setup`)]);
        // Everyone gets the default base; the outputs keep customers.json's order.
        assert.deepStrictEqual(Object.keys(ev.outputs.customers), ["delta", "bravo", "charlie", "alpha-co", "echo", "current", "moved", "newbie"]);
        assert.deepStrictEqual(Object.keys(ev.outputs.bases), Object.keys(ev.outputs.customers));
        assert.ok(Object.values(ev.outputs.bases).every((b) => b === "2027-01"));
        assert.strictEqual(envOf(ev, "charlie-container").OSM_BASE, "2027-01");
    });

    it("upgradeConcurrency 1: one chain per host, in label order", async () => {
        const ev = await run(1);
        const chain = ["alpha-co", "bravo", "charlie", "delta"];
        assert.deepStrictEqual(deps(ev, "alpha-co"), [urn(ev, "beta-setup")]);
        chain.slice(1).forEach((label, i) => assert.deepStrictEqual([...deps(ev, label)].sort(), [urn(ev, "beta-setup"), urn(ev, `${chain[i]}-container`)].sort(), label));
        assert.deepStrictEqual(deps(ev, "echo"), [urn(ev, "alpha-setup")]);
    });

    it("run by the engine (preview, up), the program lists the waves in its messages; under mocks, as npm run plan runs it, it prints nothing", async () => {
        const printed: string[] = [];
        const log = console.log;
        const runtime = pulumi.runtime as { getEngine: () => unknown };
        const getEngine = runtime.getEngine;
        console.log = (...args: unknown[]) => { printed.push(args.join(" ")); };
        try {
            await run(2);
            assert.deepStrictEqual(printed, [], "no engine: nothing printed");
            // An engine is there: the SDK's log.info sends each line to it (here, with none
            // connected after all, it prints them as "info: [runtime] ...").
            runtime.getEngine = () => ({});
            await run(2);
        } finally {
            runtime.getEngine = getEngine;
            console.log = log;
        }
        assert.deepStrictEqual(printed, [
            "info: [runtime] upgrade waves on alpha (upgradeConcurrency 2): 1: echo",
            "info: [runtime] upgrade waves on beta (upgradeConcurrency 2): 1: alpha-co, bravo  2: charlie, delta",
        ]);
    });

    it("once upgraded (the bases output says so), nothing waits for anything", async () => {
        const ev = await run(1);
        const again = await runProgram({ customersFile: scratch.customers(CUSTOMERS), previous: ev.outputs.placements, previousBases: ev.outputs.bases,
            settings: testSettings({ hosts, ...BASES, upgradeConcurrency: 1 }) });
        for (const label of Object.keys(again.outputs.customers)) {
            assert.deepStrictEqual(deps(again, label), [urn(again, `${again.outputs.placements[label].host}-setup`)], label);
        }
    });
});

describe("bases: the plan and the lock", () => {
    const scratch = new Scratch();
    after(() => scratch.cleanup());
    const hosts = testHosts().map((h) => (h.name === "beta" ? { ...h, capacity: 10 } : h));
    const settingsOf = (extra: Record<string, unknown>): FleetSettings =>
        readSettings(lookupOf({ ...testSettings({ hosts }), ...TEST_SECRETS, ...BASES, ...extra }), "Pulumi.unit.yaml").settings;
    const lockHosts = Object.fromEntries(hosts.map((h) => [h.name, { address: h.address, capacity: h.capacity, drain: h.drain === true }]));
    /** As --write left it: three customers on beta (acme and charlie on 2026-12, bravo on the base of before), one on the draining gamma. */
    const lock: PlacementsLock = { lockfileVersion: 2, stacks: { unit: { hosts: lockHosts, customers: {
        acme: { name: "Acme", host: "beta", mqttPort: 9000, base: "2026-12" },
        bravo: { name: "Bravo", host: "beta", mqttPort: 9001 },
        charlie: { name: "Charlie", host: "beta", mqttPort: 9002, base: "2026-12" },
        moved: { name: "Moved", host: "gamma", mqttPort: 9003, base: "2026-12" },
    } } } };
    const customers = (): CustomerEntry[] => checkCustomers({ customers: [{ name: "Acme" }, { name: "Bravo" }, { name: "Charlie", base: "2026-12" }, { name: "Moved" }] },
        "customers.json", hosts, {}, { names: ["2026-12", "2027-01"] }).customers;
    const plan = (upgradeConcurrency: number) => planFleet({ settings: { ...settingsOf({ upgradeConcurrency }), customersFile: "customers.json" }, customers: customers(),
        lock, lockFile: "placements.lock.json", stack: "unit", stackFile: "Pulumi.unit.yaml", deployed: {}, deployedSource: "test" });

    it("a base change in place is an option change with baseChange (\"\": the base of before) and an upgrade; with a move, not", () => {
        const p = plan(2);
        const byLabel = new Map(p.diff.changes.map((c) => [c.label, c]));
        assert.deepStrictEqual([byLabel.get("acme")?.kind, byLabel.get("acme")?.baseChange], ["option", { from: "2026-12", to: "2027-01", upgrade: true }]);
        assert.deepStrictEqual([byLabel.get("bravo")?.kind, byLabel.get("bravo")?.baseChange], ["option", { from: "", to: "2027-01", upgrade: true }]);
        assert.ok(!byLabel.has("charlie"), "its explicit base is the one it has");
        assert.deepStrictEqual([byLabel.get("moved")?.kind, byLabel.get("moved")?.baseChange], ["move", { from: "2026-12", to: "2027-01", upgrade: false }]);
        assert.deepStrictEqual(p.upgrades.map((u) => u.label), ["acme", "bravo"]);
        assert.deepStrictEqual(p.waves, { beta: [["acme", "bravo"]] });
        assert.deepStrictEqual(plan(1).waves, { beta: [["acme"], ["bravo"]] });
    });

    it("the report: a warning, the line of each change saying what happens, then the waves per host", () => {
        const p = plan(1);
        const lines = formatDiff(p.diff, DOMAIN);
        assert.match(lines.find((l) => l.startsWith("WARNING: this plan changes the base"))!,
            /^WARNING: this plan changes the base of 2 customers in place \(acme, bravo\): each is stopped, switched to its new base and started/);
        const line = (label: string) => lines.find((l) => l.split(/\s+/).includes(label))!;
        assert.match(line("acme"), /^ {2}~ +acme +"Acme" +base 2026-12 -> 2027-01 \(upgrade: snapshot, stop, switch, start, verify; rolled back on failure\)$/);
        assert.match(line("bravo"), /^ {2}~ +bravo +"Bravo" +base of before -> 2027-01 \(upgrade: snapshot, stop, switch, start, verify; rolled back on failure\)$/);
        assert.match(line("moved"), /^ {2}~ +moved +"Moved" +move gamma:9003 -> \w+:9003; .*; base 2026-12 -> 2027-01 \(its new container is made on 2027-01\)$/);
        assert.deepStrictEqual(formatWaves(p.waves, 1), ["upgrade waves on beta (upgradeConcurrency 1): 1: acme  2: bravo"]);
        assert.deepStrictEqual(formatWaves({ osm2: [["c"]], osm1: [["acme", "beta"], ["gamma"]] }, 2),
            ["upgrade waves on osm1 (upgradeConcurrency 2): 1: acme, beta  2: gamma", "upgrade waves on osm2 (upgradeConcurrency 2): 1: c"]);
        assert.deepStrictEqual(formatWaves({}, 2), []);
    });

    it("a lock without bases stays byte for byte as it was; with bases it records each customer's base, read back; a malformed one is refused", () => {
        const placements = { acme: { host: "beta", mqttPort: 9000 }, zeta: { host: "beta", mqttPort: 9001 } };
        const plain = withStack(emptyLock(), "unit", placements, { acme: { name: "Acme" }, zeta: { name: "Zeta" } }, []);
        assert.ok(!formatLock(plain).includes("base"));
        assert.strictEqual(formatLock(plain), formatLock(withStack(emptyLock(), "unit", placements, { acme: { name: "Acme", base: undefined }, zeta: { name: "Zeta" } }, [])));
        const based = withStack(emptyLock(), "unit", placements, { acme: { name: "Acme", grafanaPlugins: ["grafana-clock-panel@2.1.5"], base: "2027-01" }, zeta: { name: "Zeta" } }, []);
        assert.deepStrictEqual(Object.keys(based.stacks.unit.customers.acme), ["name", "host", "mqttPort", "grafanaPlugins", "base"]);
        assert.deepStrictEqual(readLock(scratch.json("based.lock.json", JSON.parse(formatLock(based)))), based);
        for (const bad of [7, "Bad Base", ""]) {
            assert.throws(() => readLock(scratch.json("bad.lock.json", { lockfileVersion: 2, stacks: { unit: { customers: { acme: { name: "Acme", host: "beta", mqttPort: 9000, base: bad } } } } })),
                (err: unknown) => err instanceof InputError && err.problems[0].path === "/stacks/unit/customers/acme" && /"base": "<a base's name>" \(got/.test(err.problems[0].message));
        }
    });

    it("the diff alone: a deployed base unknown (only the stack's placements know the customer) is no change", () => {
        const d = diffFleet({ acme: { host: "osm1", mqttPort: 9000 } }, [{ label: "acme", name: "Acme", host: "osm1", mqttPort: 9000, base: "2027-01" }]);
        assert.deepStrictEqual([d.changes, d.unchanged], [[], 1]);
    });

    it("the plan of a stack without bases refuses customers the lock has on a named base", () => {
        const settings = readSettings(lookupOf({ ...testSettings({ hosts }), ...TEST_SECRETS }), "Pulumi.unit.yaml").settings;
        const plain = checkCustomers({ customers: [{ name: "Acme" }, { name: "Bravo" }, { name: "Charlie" }, { name: "Moved" }] }, "customers.json", hosts, {}, { names: [] }).customers;
        assert.throws(() => planFleet({ settings: { ...settings, customersFile: "customers.json" }, customers: plain, lock, lockFile: "placements.lock.json", stack: "unit",
            stackFile: "Pulumi.unit.yaml", deployed: {}, deployedSource: "test" }), (err: unknown) => err instanceof InputError &&
            err.problems.map((p) => p.message.match(/customer "(\w+)"/)![1]).join() === "acme,charlie,moved" && err.problems.every((p) => p.path === "osm-hosting:bases"));
    });

    it("the example stack file documents the new keys (commented out: prod has no bases)", () => {
        const text = fs.readFileSync(path.join(projectRoot(), "Pulumi.prod.yaml"), "utf8");
        for (const key of ["bases", "defaultBase", "upgradeConcurrency", "baseSeed"]) assert.match(text, new RegExp(`^ *# osm-hosting:${key}:`, "m"), key);
        // Uncommented, the example is a stack config the program takes.
        const lines = text.split("\n");
        const from = lines.findIndex((l) => l.startsWith("  # osm-hosting:bases:"));
        const uncommented = [...lines.slice(0, from), ...lines.slice(from).map((l) => l.replace(/^ {2}# /, "  "))].join("\n");
        const file = path.join(scratch.dir, "Pulumi.uncommented.yaml");
        fs.writeFileSync(file, uncommented);
        const values = readStackFile(file);
        const { settings } = readSettings((k) => values[`${PROJECT}:${k}`] ?? TEST_SECRETS[k], file, Object.keys(values));
        assert.deepStrictEqual(Object.keys(settings.bases!.specs), ["2027-01"]);
        assert.deepStrictEqual([settings.bases!.defaultBase, settings.bases!.upgradeConcurrency, settings.bases!.baseSeed], ["2027-01", 1, "/var/lib/osm/base-seed"]);
    });
});
