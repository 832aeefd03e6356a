/**
 * npm run import for real: the old orchestrator's database and PowerDNS's (the lab fixture,
 * lab/orchestrator-fixtures.ts) on a scratch MariaDB, read by a user that may only SELECT the
 * four tables the import needs; the script run as a user runs it, its report, the refusal to
 * write while something blocks, the fix the report names, the write, and a second run that
 * changes nothing. The databases are the same afterwards.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    FIXTURE_HOST_KEYS, fixtureKnownHosts, loadOrchestrator, LoadedOrchestrator, ORCHESTRATOR_DATABASE, ORCHESTRATOR_DOMAIN, POWERDNS_DATABASE, runImport,
} from "../../lab/orchestrator-fixtures";
import { ScratchMariaDb, startMariaDb } from "../../lab/pdns-server";

describe("npm run import against the orchestrator's databases (MariaDB)", function () {
    this.timeout(120000);
    let db: ScratchMariaDb;
    let dir: string;
    let loaded: LoadedOrchestrator;
    let args: string[];
    let customersFile: string;
    const checksums = async () => db.admin(`CHECKSUM TABLE ${["osm_hosts", "osm_customers", "osm_wireguard", "osm_secrets", "osm_keys"].map((t) => `${ORCHESTRATOR_DATABASE}.${t}`).join(", ")}, ${POWERDNS_DATABASE}.records;`);

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-import-"));
        db = await startMariaDb();
        loaded = await loadOrchestrator(db, dir);
        const stackFile = path.join(dir, "Pulumi.import.yaml");
        fs.writeFileSync(stackFile, [
            "config:",
            `  osm-hosting:domain: ${ORCHESTRATOR_DOMAIN}`,
            "  osm-hosting:sshUser: root",
            "  osm-hosting:powerdns:",
            "    apiUrl: http://127.0.0.1:8081",
            `    zone: ${ORCHESTRATOR_DOMAIN}`,
            "  osm-hosting:acme:",
            "    server: https://acme.example.test/dir",
            "    email: ops@example.test",
            "    dnsServer: 192.0.2.53",
            "    tsigKey: osm-acme",
            "  osm-hosting:containerLimits:",
            "    cpus: 1",
            "    memoryMiB: 640",
            "",
        ].join("\n"));
        customersFile = path.join(dir, "customers.json");
        fs.writeFileSync(customersFile, `{\n  "$schema": "./customers.schema.json",\n  "customers": [\n  ]\n}\n`);
        fs.writeFileSync(path.join(dir, "known_hosts"), fixtureKnownHosts());
        fs.writeFileSync(path.join(dir, "upstream1.containers"), "acme-svr\nBlue Widget Co-svr\noldco-svr\n");
        args = ["--config", loaded.configFile, "--powerdns-password-file", loaded.passwordFile, "--known-hosts", path.join(dir, "known_hosts"),
            "--containers", `upstream1=${path.join(dir, "upstream1.containers")}`, "--stack", "import", "--stack-file", stackFile,
            "--customers", customersFile, "--lock", path.join(dir, "placements.lock.json")];
    });
    after(async () => {
        if (db) await db.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("reports every inconsistency and writes nothing while one blocks; after the fixes it names, writes the entries and hosts; a second run changes nothing", async () => {
        const before = await checksums();
        const original = fs.readFileSync(customersFile, "utf8");

        const dry = await runImport([...args, "--dry-run"]);
        assert.strictEqual(dry.code, 1, dry.stdout + dry.stderr);
        const report = dry.stdout;
        assert.match(report, /Read \(read-only\) osm_orchestrator as osm_import on 127\.0\.0\.1:\d+: 2 active hosts \(1 retired\), 5 active customers \(3 deleted rows\)/);
        assert.match(report, /BLOCKING.*\(2\)/);
        assert.match(report, /customer "harbour" \(osm_customers\.id 4\): its CNAMEs harbour\.osm\.example\.test.* point to upstream1\.osm\.example\.test, but the orchestrator has it on "upstream2"/);
        assert.match(report, /customer "mills" \(osm_customers\.id 6\): has MQTT port 9010 on host "upstream2", as active customer "dairy"/);
        assert.match(report, /customer "Blue Widget Co".*label is "blue-widget-co"/);
        assert.match(report, /host "upstream1".*containers no active customer of it owns: oldco-svr/);
        assert.match(report, /host "upstream1".*MQTT ports held by customers not imported: 9026 \(deleted "oldco"\)/);
        assert.match(report, /UNCHECKED[^\n]*\n(.*\n)*.*host "upstream2".*was not checked/);
        assert.ok(!/customers to add|osm-hosting:hosts/.test(report), "--dry-run prints the report alone");
        for (const out of [dry.stdout, dry.stderr]) assert.ok(!out.includes(loaded.password), "the password is never printed");

        const refused = await runImport([...args, "--write"]);
        assert.strictEqual(refused.code, 1);
        assert.match(refused.stdout, /Nothing written: fix the blocking problems above/);
        assert.strictEqual(fs.readFileSync(customersFile, "utf8"), original);

        // A wrong password: it cannot run, says why, and echoes nothing.
        const wrong = await runImport(args, { OSM_ORCHESTRATOR_DB_PASSWORD: "not-the-password-4c1d" });
        assert.strictEqual(wrong.code, 2);
        assert.match(wrong.stderr, /cannot connect to the orchestrator's database \(osm_orchestrator as osm_import on 127\.0\.0\.1:\d+, password from \$OSM_ORCHESTRATOR_DB_PASSWORD\): .*Access denied/);
        assert.ok(!wrong.stderr.includes("not-the-password-4c1d"));

        assert.strictEqual(await checksums(), before, "the import changed nothing in either database");

        // The fixes the report names: DNS re-pointed to the host the database says; mills left to the old system.
        await db.admin(`UPDATE ${POWERDNS_DATABASE}.records SET content = 'upstream2.${ORCHESTRATOR_DOMAIN}' WHERE name LIKE 'harbour%';`);
        const write = await runImport([...args, "--skip", "mills", "--write", "--json"]);
        assert.strictEqual(write.code, 0, write.stdout + write.stderr);
        const out = JSON.parse(write.stdout);
        assert.deepStrictEqual([out.blocking, out.wrote], [false, true]);
        assert.strictEqual(fs.readFileSync(customersFile, "utf8"), [
            "{",
            `  "$schema": "./customers.schema.json",`,
            `  "customers": [`,
            `    { "name": "acme", "label": "acme", "host": "upstream1", "mqttPort": 8910, "adopt": true },`,
            `    { "name": "Blue Widget Co", "label": "blue-widget-co", "host": "upstream1", "mqttPort": 8918, "adopt": true },`,
            `    { "name": "harbour", "label": "harbour", "host": "upstream2", "mqttPort": 8996, "adopt": true },`,
            `    { "name": "dairy", "label": "dairy", "host": "upstream2", "mqttPort": 9010, "adopt": true }`,
            "  ]",
            "}",
            "",
        ].join("\n"));
        assert.deepStrictEqual(out.stackHosts, [
            { name: "upstream1", address: "192.0.2.21", capacity: 10, hostKey: FIXTURE_HOST_KEYS.upstream1, adopt: true, reservedMqttPorts: [9026] },
            { name: "upstream2", address: "192.0.2.22", capacity: 10, hostKey: FIXTURE_HOST_KEYS.upstream2, adopt: true, reservedMqttPorts: [9053] },
        ]);

        const again = await runImport([...args, "--skip", "mills", "--write"]);
        assert.strictEqual(again.code, 0, again.stdout + again.stderr);
        assert.match(again.stdout, /0 customers to add, 4 already there/);
        assert.match(again.stdout, /customers\.json unchanged/);
        assert.match(again.stdout, /osm-hosting:hosts:\n {4}- name: upstream1\n/);
    });
});
