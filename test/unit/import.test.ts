/**
 * npm run import without a database: the orchestrator's rows (the lab fixture's) -> entries,
 * hosts and findings; the result accepted by the program itself (index.ts under mocks);
 * reserved ports honoured by placement, customers.json and the stack config; known_hosts;
 * upstream's config.yaml and the password sources; the CLI refusing a password in argv.
 */
import * as assert from "assert";
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { readSettings } from "../../components/config";
import { checkCustomers } from "../../components/customers";
import { projectRoot } from "../../components/paths";
import { place, PlacementError } from "../../components/placement";
import { emptyLock } from "../../components/placements-lock";
import {
    FIXTURE_CUSTOMERS, FIXTURE_HOST_KEYS, FIXTURE_HOSTS, fixtureKnownHosts, fixtureRecords, ORCHESTRATOR_DOMAIN,
} from "../../lab/orchestrator-fixtures";
import { programProblems } from "../../scripts/lib/import/check";
import { hostKeyFor, parseKnownHosts } from "../../scripts/lib/import/known-hosts";
import { analyse, Finding, ImportInput } from "../../scripts/lib/import/model";
import { formatCustomersFile, hostsYaml } from "../../scripts/lib/import/output";
import { readUpstreamConfig, UsageError, withPassword } from "../../scripts/lib/import/source";
import { configMap } from "../../scripts/lib/engine";
import { lookupOf, runProgram, Scratch, TEST_SECRETS, testSettings } from "./support/fleet";

const KEYS = FIXTURE_HOST_KEYS;

function fixture(overrides: Partial<ImportInput> = {}): ImportInput {
    return {
        hosts: FIXTURE_HOSTS, customers: FIXTURE_CUSTOMERS, domain: ORCHESTRATOR_DOMAIN, records: fixtureRecords(),
        hostKeys: { ...KEYS }, ...overrides,
    };
}

/** The fixture with harbour's DNS re-pointed to the host the database names (as the report says to). */
function repointed() {
    return fixtureRecords().map((r) => (r.name.startsWith("harbour") ? { ...r, content: `upstream2.${ORCHESTRATOR_DOMAIN}` } : r));
}

const of = (findings: Finding[], severity: Finding["severity"]) => findings.filter((f) => f.severity === severity);
const text = (f: Finding) => `${f.subject}: ${f.message} | ${f.fix}`;

/** A stack for the imported fleet: the unit suite's settings on the fixture's domain. */
function importStack(hosts: unknown[]): Record<string, unknown> {
    return testSettings({ domain: ORCHESTRATOR_DOMAIN, hosts, powerdns: { apiUrl: "http://127.0.0.1:8081", zone: ORCHESTRATOR_DOMAIN, ttl: 120 } });
}

describe("import: the orchestrator's rows", () => {
    it("reports the fixture's inconsistencies: the space in a name, DNS left on the old host, one port twice, ports of deleted rows, what was not checked", () => {
        const r = analyse(fixture());
        assert.deepStrictEqual(r.customers.map((c) => [c.name, c.label, c.host, c.mqttPort, c.adopt]), [
            ["acme", "acme", "upstream1", 8910, true],
            ["Blue Widget Co", "blue-widget-co", "upstream1", 8918, true],
            ["harbour", "harbour", "upstream2", 8996, true],
            ["dairy", "dairy", "upstream2", 9010, true],
            ["mills", "mills", "upstream2", 9010, true],
        ]);
        const blocking = of(r.findings, "blocking").map(text).sort();
        assert.strictEqual(blocking.length, 2, blocking.join("\n"));
        assert.match(blocking[0], /"harbour".*CNAMEs harbour\.osm\.example\.test, harbour-chirpstack.*harbour-mqtt.* point to upstream1\.osm\.example\.test, but the orchestrator has it on "upstream2"/);
        assert.match(blocking[0], /content = 'upstream2\.osm\.example\.test'.*correct osm_customers\.osm_hosts_id \(id 4\)/);
        assert.match(blocking[1], /"mills".*MQTT port 9010 on host "upstream2", as active customer "dairy" \(id 5\) does/);
        const warnings = of(r.findings, "warning").map(text);
        assert.strictEqual(warnings.length, 1, warnings.join("\n"));
        assert.match(warnings[0], /"Blue Widget Co".*upstream's names are "Blue Widget Co\.osm\.example\.test".*label is "blue-widget-co".*new names.*MQTT port stays 8918/);
        const notes = of(r.findings, "note").map(text);
        assert.match(notes.find((n) => n.startsWith("customer \"Blue Widget Co\""))!, /with capitals/);
        assert.deepStrictEqual(notes.filter((n) => n.startsWith("host")).map((n) => /^host "(\w+)".*held by customers not imported: (.*) \| /.exec(n)?.slice(1)), [
            ["upstream1", `9026 (deleted "oldco")`], ["upstream2", `9053 (deleted "gone")`],
        ]);
        // Containers were not listed: said so per host, not taken as checked.
        assert.deepStrictEqual(of(r.findings, "unchecked").map((f) => f.subject), ["host \"upstream1\" (osm_hosts.id 1)", "host \"upstream2\" (osm_hosts.id 2)"]);
        // The retired host and its deleted customer are not imported; each active host is, with its key and reserved ports.
        assert.deepStrictEqual(r.hosts, [
            { name: "upstream1", address: "192.0.2.21", capacity: 10, hostKey: KEYS.upstream1, adopt: true, reservedMqttPorts: [9026] },
            { name: "upstream2", address: "192.0.2.22", capacity: 10, hostKey: KEYS.upstream2, adopt: true, reservedMqttPorts: [9053] },
        ]);
    });

    it("rows a delete left behind in PowerDNS are a warning (a new customer of that label would find its names taken)", () => {
        const left = [...fixtureRecords(), { name: `oldco.${ORCHESTRATOR_DOMAIN}`, type: "CNAME", content: `upstream1.${ORCHESTRATOR_DOMAIN}`, ttl: 1800, disabled: false }];
        const r = analyse(fixture({ records: left }));
        assert.match(of(r.findings, "warning").map(text).join("\n"), /customer "oldco" \(osm_customers\.id 3\): was deleted, but PowerDNS still has oldco\.osm\.example\.test \|/);
    });

    it("names stored with capitals are a note (PowerDNS's SQL backends expect lower case)", () => {
        const rows = FIXTURE_CUSTOMERS.map((c) => (c.name === "acme" ? { ...c, name: "Acme" } : c));
        const records = fixtureRecords().map((r) => (r.name.startsWith("acme") ? { ...r, name: `A${r.name.slice(1)}` } : r));
        const r = analyse(fixture({ customers: rows, records }));
        assert.strictEqual(r.customers[0].label, "acme");
        assert.match(of(r.findings, "note").map(text).join("\n"), /customer "Acme".*with capitals \(Acme\.osm\.example\.test, Acme-chirpstack/);
        assert.ok(!r.findings.some((f) => f.customer === "Acme" && f.severity !== "note"), "DNS compares names case-insensitively: no stale CNAME, no missing one");
    });

    it("without PowerDNS: says DNS is unchecked instead of passing it", () => {
        const r = analyse(fixture({ records: undefined }));
        assert.ok(of(r.findings, "unchecked").some((f) => f.subject === "PowerDNS" && /not read/.test(f.message)));
        assert.ok(!r.findings.some((f) => f.subject.startsWith("customer") && /CNAME/.test(f.message)));
    });

    it("--skip leaves a customer to the old system: not imported, its findings notes, its port reserved unless an imported customer holds it", () => {
        const r = analyse(fixture({ records: repointed(), skip: ["mills"] }));
        assert.deepStrictEqual(of(r.findings, "blocking").map(text), []);
        assert.ok(!r.customers.some((c) => c.name === "mills"));
        assert.ok(of(r.findings, "note").some((f) => /"mills"/.test(f.subject) && /9010/.test(f.message)));
        assert.deepStrictEqual(r.hosts[1].reservedMqttPorts, [9053], "9010 is dairy's, imported");
        const skipDairy = analyse(fixture({ records: repointed(), skip: ["dairy"] }));
        assert.deepStrictEqual(skipDairy.hosts[1].reservedMqttPorts, [9053], "9010 is mills' now");
        const alone = analyse(fixture({ records: repointed(), skip: ["mills", "acme"] }));
        assert.deepStrictEqual(alone.hosts[0].reservedMqttPorts, [8910, 9026], "acme's port, no longer held by anyone imported, is reserved");
        assert.match(text(of(analyse(fixture({ skip: ["nobody"] })).findings, "blocking").find((f) => /nobody/.test(f.subject))!), /names no active customer/);
    });

    it("the result is what the program itself accepts: index.ts places every customer where it runs, with its port, and keeps reserved ports free", async () => {
        const r = analyse(fixture({ records: repointed(), skip: ["mills"] }));
        const scratch = new Scratch();
        try {
            // A new customer whose preferred port is a deleted customer's: it must step past it.
            const doc = { ...r.mergedCustomers, customers: [...r.mergedCustomers.customers, { name: "oldco" }] };
            const run = await runProgram({ settings: importStack(r.mergedHosts), customersFile: scratch.customers(doc) });
            assert.deepStrictEqual(run.outputs.placements, {
                "acme": { host: "upstream1", mqttPort: 8910 }, "blue-widget-co": { host: "upstream1", mqttPort: 8918 },
                "harbour": { host: "upstream2", mqttPort: 8996 }, "dairy": { host: "upstream2", mqttPort: 9010 },
                "oldco": { host: "upstream1", mqttPort: 9027 },
            });
            assert.strictEqual(run.outputs.customers["blue-widget-co"].name, "Blue Widget Co");
            // And the import's own check of what it would write agrees.
            const problems = programProblems({
                config: configMap(importStack([])), hosts: r.mergedHosts, customersDoc: r.mergedCustomers, lock: emptyLock(),
                stack: "unit", stackFile: "Pulumi.unit.yaml", customersFile: "customers.json", lockFile: "placements.lock.json",
            });
            assert.deepStrictEqual(problems, []);
        } finally {
            scratch.cleanup();
        }
    });

    it("the import's own check catches what the program would refuse (a label clash with a host, the lock's placements)", () => {
        const rows = [...FIXTURE_CUSTOMERS.filter((c) => c.name !== "mills"), { id: 9, osm_hosts_id: 1, name: "upstream2", host_mqtt_port: 9100, active_since: 1, active_before: null }];
        const r = analyse(fixture({ customers: rows, records: repointed() }));
        assert.deepStrictEqual(of(r.findings, "blocking"), []);
        const problems = programProblems({
            config: configMap(importStack([])), hosts: r.mergedHosts, customersDoc: r.mergedCustomers, lock: emptyLock(),
            stack: "unit", stackFile: "Pulumi.unit.yaml", customersFile: "customers.json", lockFile: "placements.lock.json",
        });
        assert.ok(problems.some((p) => /upstream2\.osm\.example\.test\. would be declared twice/.test(p.message)), JSON.stringify(problems));
    });

    it("blocks on what cannot be kept: a label the program refuses, a port it cannot give, a customer on a retired host, a host over capacity, a bad host row", () => {
        const base = FIXTURE_CUSTOMERS.filter((c) => c.name !== "mills");
        const r = analyse(fixture({
            records: repointed(),
            hosts: [...FIXTURE_HOSTS, { id: 4, name: "Bad_Host", ip_addr: "192.0.2.300", capacity: 1, active_since: 1, active_before: null }],
            customers: [...base,
                { id: 10, osm_hosts_id: 1, name: "acme_ltd", host_mqtt_port: 9200, active_since: 1, active_before: null },
                { id: 11, osm_hosts_id: 1, name: "webby", host_mqtt_port: 443, active_since: 1, active_before: null },
                { id: 12, osm_hosts_id: 3, name: "left", host_mqtt_port: 9300, active_since: 1, active_before: null },
                { id: 13, osm_hosts_id: 4, name: "x1", host_mqtt_port: 9301, active_since: 1, active_before: null },
                { id: 14, osm_hosts_id: 4, name: "x2", host_mqtt_port: 9302, active_since: 1, active_before: null },
                { id: 15, osm_hosts_id: 2, name: "ACME", host_mqtt_port: 9303, active_since: 1, active_before: null }],
        }));
        const blocking = of(r.findings, "blocking").map(text).join("\n");
        for (const re of [
            /"acme_ltd".*DNS label "acme_ltd", which contains "_".*cannot keep upstream's names.*--skip "acme_ltd"/,
            /"webby".*MQTT port 443 is not one the program can give/,
            /"left".*active on host "upstream0", which the orchestrator has retired/,
            /host "Bad_Host".*its name is not one the program takes/,
            /host "Bad_Host".*192\.0\.2\.300.*not an IPv4 address/,
            /host "Bad_Host".*holds 2 active customers but its capacity is 1/,
            /"ACME".*has the label "acme" of active customer "acme" \(id 1\)/,
            /host "Bad_Host".*no SSH host key/,
        ]) assert.match(blocking, re);
    });

    it("containers, where listed: a customer without its <name>-svr blocks, a container nobody owns is a warning", () => {
        const r = analyse(fixture({
            records: repointed(), skip: ["mills"],
            containers: { upstream1: ["acme-svr", "oldco-svr/", ""], upstream2: ["harbour-svr", "dairy-svr", "mills-svr"] },
        }));
        assert.deepStrictEqual(of(r.findings, "blocking").map(text).map((t) => /^customer "([^"]+)".*has no container (.*?) in \//.exec(t)?.slice(1)), [["Blue Widget Co", "Blue Widget Co-svr"]]);
        assert.match(of(r.findings, "warning").map(text).join("\n"), /host "upstream1".*containers no active customer of it owns: oldco-svr/);
        assert.ok(!of(r.findings, "unchecked").some((f) => /upstream[12]/.test(f.subject)));
    });

    it("merges with customers.json and the stack's hosts without overwriting anything; a second run adds nothing", () => {
        const first = analyse(fixture({ records: repointed(), skip: ["mills"], existingCustomers: { $schema: "./customers.schema.json", customers: [{ name: "Other" }] } }));
        assert.deepStrictEqual(first.mergedCustomers.customers.length, 5);
        assert.deepStrictEqual((first.mergedCustomers.customers[0] as { name: string }).name, "Other");
        const again = analyse(fixture({ records: repointed(), skip: ["mills"], existingCustomers: first.mergedCustomers, existingHosts: first.mergedHosts }));
        assert.deepStrictEqual([again.added, again.hostChanges, of(again.findings, "blocking")], [[], [], []]);
        assert.strictEqual(formatCustomersFile(again.mergedCustomers), formatCustomersFile(first.mergedCustomers));

        // An entry under the same label that differs is not overwritten: it blocks.
        const edited = { customers: [{ name: "acme", host: "upstream2", mqttPort: 8910, adopt: true }] };
        const clash = analyse(fixture({ records: repointed(), skip: ["mills"], existingCustomers: edited }));
        assert.match(of(clash.findings, "blocking").map(text).join("\n"), /customer "acme": customers.json \/customers\/0 is already .*"host":"upstream2".*nothing is overwritten/);
        assert.deepStrictEqual(clash.mergedCustomers.customers[0], edited.customers[0]);

        // A host the stack has: same address and capacity, or it blocks; it gains its reserved ports and adopt.
        const mine = [{ name: "upstream1", address: "192.0.2.21", capacity: 10, hostKey: KEYS.upstream1, sshPort: 2222 }];
        const merged = analyse(fixture({ records: repointed(), skip: ["mills"], existingHosts: mine }));
        assert.deepStrictEqual(merged.mergedHosts[0], { ...mine[0], adopt: true, reservedMqttPorts: [9026] });
        assert.deepStrictEqual(merged.hostChanges, ["upstream1", "upstream2"]);
        const moved = analyse(fixture({ records: repointed(), skip: ["mills"], existingHosts: [{ ...mine[0], address: "198.51.100.1" }] }));
        assert.match(of(moved.findings, "blocking").map(text).join("\n"), /host "upstream1".*stack config has it with address 198\.51\.100\.1, the orchestrator with address 192\.0\.2\.21/);
        const otherKey = analyse(fixture({ records: repointed(), skip: ["mills"], existingHosts: [{ ...mine[0], hostKey: KEYS.upstream2 }] }));
        assert.match(of(otherKey.findings, "blocking").map(text).join("\n"), /pins another SSH host key/);
    });

    it("writes customers.json as the file is written by hand (the repository's own file comes back byte for byte), and hosts as Pulumi YAML", () => {
        const file = path.join(projectRoot(), "customers.json");
        const own = fs.readFileSync(file, "utf8");
        assert.strictEqual(formatCustomersFile(JSON.parse(own)), own);
        const r = analyse(fixture({ records: repointed(), skip: ["mills"] }));
        const y = hostsYaml(r.mergedHosts);
        assert.match(y, /^ {2}osm-hosting:hosts:\n {4}- name: upstream1\n {6}address: 192\.0\.2\.21\n/);
        assert.match(y, /reservedMqttPorts: \[9026\]/);
        // What the YAML says is what the stack config takes.
        const doc = yaml.load(`config:\n${y}`) as { config: Record<string, unknown> };
        const { settings } = readSettings(lookupOf({ ...importStack(doc.config["osm-hosting:hosts"] as unknown[]), ...TEST_SECRETS }), "Pulumi.unit.yaml");
        assert.deepStrictEqual(settings.hosts.map((h) => [h.name, h.reservedMqttPorts, h.adopt]), [["upstream1", [9026], true], ["upstream2", [9053], true]]);
    });
});

describe("import: reserved MQTT ports in the program", () => {
    const hosts = [{ name: "h1", capacity: 5, reservedMqttPorts: [8910, 8911] }];
    it("placement never gives, keeps or takes a pin of a reserved port", () => {
        // acme's preferred port is 8910: past both reserved ones.
        assert.deepStrictEqual(place(hosts, [{ label: "acme" }]), { acme: { host: "h1", mqttPort: 8912 } });
        assert.throws(() => place(hosts, [{ label: "acme", host: "h1", mqttPort: 8911 }]),
            (e: unknown) => e instanceof PlacementError && /MQTT port 8911 pinned for customer "acme" on host "h1" is reserved \(hosts\[\]\.reservedMqttPorts/.test(e.message));
        assert.throws(() => place(hosts, [{ label: "acme" }], { acme: { host: "h1", mqttPort: 8910 } }),
            (e: unknown) => e instanceof PlacementError && /already has MQTT port 8910 on host "h1".*it is reserved there/.test(e.message));
        // A label that reads like the marker is still a customer.
        assert.deepStrictEqual(place([{ name: "h1", capacity: 5 }], [{ label: "reserved", host: "h1", mqttPort: 9000 }, { label: "x", host: "h1", mqttPort: 9001 }]),
            { reserved: { host: "h1", mqttPort: 9000 }, x: { host: "h1", mqttPort: 9001 } });
    });

    it("customers.json: a pin on a reserved port is reported at its mqttPort; the stack config checks the list", () => {
        const { problems } = checkCustomers({ customers: [{ name: "Acme", host: "h1", mqttPort: 8911 }] }, "customers.json", [{ name: "h1", reservedMqttPorts: [8911] }]);
        assert.deepStrictEqual(problems.map((p) => p.path), ["/customers/0/mqttPort"]);
        assert.match(problems[0].message, /mqttPort 8911 is reserved on host "h1"/);
        const bad = testSettings({ hosts: [{ name: "h1", address: "192.0.2.1", capacity: 1, hostKey: KEYS.upstream1, reservedMqttPorts: [80, 9000, 9000] }] });
        assert.throws(() => readSettings(lookupOf({ ...bad, ...TEST_SECRETS }), "Pulumi.unit.yaml"), /hosts\[0\]\.reservedMqttPorts/);
        const { settings } = readSettings(lookupOf({ ...testSettings(), ...TEST_SECRETS }), "Pulumi.unit.yaml");
        assert.deepStrictEqual(settings.hosts.map((h) => h.reservedMqttPorts), [[], [], []]);
    });
});

describe("import: known_hosts, upstream's config.yaml, passwords", () => {
    it("finds a host's key by address in plain and hashed entries, prefers ed25519, never a revoked key, skips CA lines and wildcards", () => {
        const keys = parseKnownHosts(fixtureKnownHosts());
        assert.strictEqual(hostKeyFor(keys, ["192.0.2.21"]), KEYS.upstream1);
        assert.strictEqual(hostKeyFor(keys, ["192.0.2.22"]), KEYS.upstream2);
        assert.strictEqual(hostKeyFor(keys, ["192.0.2.99"]), undefined);
        const rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCfixture";
        const more = parseKnownHosts([
            `@cert-authority *.example ${KEYS.upstream2}`,
            `192.0.2.3* ${KEYS.upstream2}`,
            `h,192.0.2.30 ${rsa}`,
            `192.0.2.30 ${KEYS.upstream1} comment`,
            `[192.0.2.31]:2222 ${KEYS.upstream1}`,
            `192.0.2.32 ${KEYS.upstream2}`,
            `@revoked * ${KEYS.upstream2}`,
        ].join("\n"));
        assert.strictEqual(hostKeyFor(more, ["192.0.2.30"]), KEYS.upstream1);
        assert.strictEqual(hostKeyFor(more, ["h"]), rsa);
        assert.strictEqual(hostKeyFor(more, ["192.0.2.31"]), undefined);
        assert.strictEqual(hostKeyFor(more, ["192.0.2.31"], 2222), KEYS.upstream1);
        assert.strictEqual(hostKeyFor(more, ["192.0.2.32"]), undefined, "revoked");
    });

    it("reads upstream's config.yaml; a password from a 0600 file, else the environment, else the file; refuses what it cannot honour", () => {
        const scratch = new Scratch();
        try {
            const file = path.join(scratch.dir, "config.yaml");
            fs.writeFileSync(file, "orchestrator:\n  user: u\n  password: p1\n  host: db.example\n  database: osm_orchestrator\npdns:\n  user: u2\n  database: pdns\n  port: 3307\npdns_domain: OSM.example.test.\npdns_domain_id: 1\nplugin_dir: /x\n", { mode: 0o644 });
            const c = readUpstreamConfig(file);
            assert.deepStrictEqual([c.orchestrator?.host, c.orchestrator?.port, c.orchestrator?.password, c.pdns?.host, c.pdns?.port, c.domain, c.domainId, c.exposedPassword],
                ["db.example", 3306, "p1", "localhost", 3307, "osm.example.test", 1, true]);
            assert.strictEqual(withPassword(c.orchestrator!, undefined, "--password-file", "X_PW", { X_PW: "p2" }).password, "p2");
            const pw = path.join(scratch.dir, "pw");
            fs.writeFileSync(pw, "p3\n", { mode: 0o640 });
            assert.throws(() => withPassword(c.orchestrator!, pw, "--password-file", "X_PW", {}), (e: unknown) => e instanceof UsageError && /chmod 600/.test(e.message));
            fs.chmodSync(pw, 0o600);
            assert.strictEqual(withPassword(c.orchestrator!, pw, "--password-file", "X_PW", { X_PW: "p2" }).password, "p3");
            fs.writeFileSync(file, "orchestrator:\n  user: u\n  database: d\n  ssl: {ca: x}\n");
            assert.throws(() => readUpstreamConfig(file), (e: unknown) => e instanceof UsageError && /ssl, which npm run import does not support/.test(e.message));
            fs.writeFileSync(file, "orchestrator:\n  database: d\n");
            assert.throws(() => readUpstreamConfig(file), /orchestrator\.user is missing/);
        } finally {
            scratch.cleanup();
        }
    });

    it("the CLI refuses a password on the command line without echoing it, and a run without --config", async () => {
        const secret = `pw-${crypto.randomBytes(6).toString("hex")}`;
        const run = (args: string[]) => new Promise<{ code: number; out: string }>((resolve) => {
            execFile(process.execPath, [path.join(projectRoot(), "build/scripts/import.js"), ...args], (err, stdout, stderr) =>
                resolve({ code: err ? Number((err as { code?: number }).code) : 0, out: stdout + stderr }));
        });
        const a = await run(["--config", "/nonexistent", `--password=${secret}`]);
        assert.strictEqual(a.code, 2);
        assert.match(a.out, /never taken on the command line/);
        assert.ok(!a.out.includes(secret));
        const b = await run([]);
        assert.deepStrictEqual([b.code, /--config is required/.test(b.out)], [2, true]);
    });
});
