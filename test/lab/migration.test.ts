/**
 * Issue 12 item 6: the whole takeover in one sequence, as the operators carry it out (README,
 * "Taking over"). The old fleet: the orchestrator's MariaDB (lab/orchestrator-fixtures.ts: active
 * and deleted customers, a retired host, a name with a space, a customer whose CNAMEs still name
 * its old host, two customers on one port) with its hosts' addresses those of two lab hosts;
 * PowerDNS running on that same MySQL database with the rows the orchestrator wrote, its API
 * turned on as the migration guide says; two upstream-style hosts (lab/upstream-host.ts) with the
 * containers the database names, laid out upstream's way, and a deleted customer's container left
 * running. Then: `npm run import` with the lab's known_hosts and each host's container listing,
 * its report reviewed, the fixes it names made (the stale CNAMEs re-pointed in SQL; the two
 * customers that cannot be taken over skipped), its output written, the program carried out for
 * it (upstream2 unreachable over SSH for the first update, which must fail naming it and change
 * nothing there; the next one completes), and `verify`. Devices publish to every customer and a browser loads a Grafana from before
 * the program runs to after it, each re-resolving its name through that PowerDNS. Proves: no
 * device or page fails; every customer answers on its old names, port and credentials; a reading
 * retained before is still in its broker's store; no second container; the orchestrator's tables
 * are unchanged; and a second run (import and program) changes nothing.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { PROJECT } from "../../components/config";
import { ensureBase } from "../../lab/base";
import { BrowserSimulator, DeviceLog, DeviceSimulator } from "../../lab/device";
import { CarryOutError, Deployment, planOf } from "../../lab/executor";
import { LabStack } from "../../lab/lab-stack";
import {
    FIXTURE_CUSTOMERS, loadOrchestrator, LoadedOrchestrator, ORCHESTRATOR_DATABASE, ORCHESTRATOR_DOMAIN, POWERDNS_DATABASE, runImport,
} from "../../lab/orchestrator-fixtures";
import { httpsGet, mosquitto, MqttTarget } from "../../lab/outside";
import { MysqlBackend, ScratchMariaDb, startMariaDb, startPowerDns } from "../../lab/pdns-server";
import { POWERDNS_MYSQL_PRIVILEGES } from "../../components/powerdns-database";
import { buildUpstreamHost, UpstreamCustomer, UpstreamHost } from "../../lab/upstream-host";
import { deployConfig, labFleet, labVerifyOptions, writeStackFile } from "../../lab/verify-stack";
import { formatReport } from "../../scripts/lib/verify/report";
import { verifyFleet } from "../../scripts/lib/verify/run";
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (the program)
const program: () => Promise<any> = require("../../index");

const DOMAIN = ORCHESTRATOR_DOMAIN;
const HOSTS = ["upstream1", "upstream2"];
/** The containers on each upstream host: the database's active customers there, and "oldco", deleted but its container left running. */
const ON_HOST: Record<string, string[]> = { upstream1: ["acme", "oldco"], upstream2: ["harbour", "dairy"] };
/** What the report leaves to the old system: no container can be taken over ("Blue Widget Co": upstream cannot serve a name with a space; "mills": its port is dairy's). */
const SKIPPED = ["Blue Widget Co", "mills"];
const TAKEN_OVER = ["acme", "harbour", "dairy"];

const portOf = (name: string) => FIXTURE_CUSTOMERS.find((c) => c.name === name)!.host_mqtt_port;

describe("the takeover in one sequence: import, review, the program, verify (issue 12 item 6)", function () {
    this.timeout(900_000);
    let db: ScratchMariaDb;
    let loaded: LoadedOrchestrator;
    let stack: LabStack;
    let dir: string;
    const upstream: Record<string, UpstreamHost> = {};
    let importArgs: string[];
    let customersFile: string;
    let stackHosts: Record<string, unknown>[];
    let config: Record<string, string>;
    let secretKeys: string[];
    let current: Deployment | undefined;
    let allCas: string;
    const figures: string[] = [];

    const customer = (name: string): UpstreamCustomer => Object.values(upstream).flatMap((u) => u.customers).find((c) => c.name === name)!;
    const hostOf = (name: string) => Object.keys(ON_HOST).find((h) => ON_HOST[h].includes(name))!;
    /** Where a device finds the customer: its name through the PowerDNS of the moment ("oldco" has no records any more: its host). */
    const target = async (c: UpstreamCustomer, caFile: string, password = c.passwords.mqtt_password): Promise<MqttTarget> => ({
        name: `${c.label}.${DOMAIN}`, port: c.mqttPort, caFile, username: c.passwords.mqtt_user, password,
        address: c.name === "oldco" ? stack.lab.host(hostOf(c.name)).address : await stack.resolve(`${c.label}.${DOMAIN}`),
    });
    const inHost = async (host: string, script: string, ...args: string[]) => (await stack.lab.sh(host, script, ...args)).stdout;
    const orchestratorChecksum = () => db.admin(`CHECKSUM TABLE ${["osm_hosts", "osm_customers", "osm_wireguard", "osm_secrets", "osm_keys"].map((t) => `${ORCHESTRATOR_DATABASE}.${t}`).join(", ")};`);
    const recordsOf = (names: string[]) => db.admin(`SELECT name, type, content, ttl FROM ${POWERDNS_DATABASE}.records WHERE ${names.map((n) => `name LIKE '${n.replace(/'/g, "")}%'`).join(" OR ")} ORDER BY name;`);
    let orchestratorBefore: string;

    async function deploy(): Promise<Deployment> {
        try {
            current = await deployConfig(stack, program, { config, secretKeys }, current, { deleteRemoved: true });
            return current;
        } catch (e) {
            if (e instanceof CarryOutError) current = e.deployment;
            throw e;
        }
    }

    before(async function () {
        const t0 = Date.now();
        db = await startMariaDb();
        dir = fs.mkdtempSync(path.join(db.socket, "..", "migration-"));
        // The old fleet's databases, its hosts' addresses the lab's; PowerDNS on them with its API on (README: "Taking over", step 1).
        stack = await LabStack.start({
            id: "test-migrate", hostNames: HOSTS, domain: DOMAIN,
            powerDns: async (lab) => {
                loaded = await loadOrchestrator(db, dir, Object.fromEntries(lab.hosts.map((h) => [h.name, h.address])));
                const backend: MysqlBackend = { port: db.port, database: POWERDNS_DATABASE, user: "pdns", password: loaded.password + "-pdns" };
                await db.admin(`CREATE USER '${backend.user}'@'127.0.0.1' IDENTIFIED BY '${backend.password}';\n` +
                    `GRANT ${POWERDNS_MYSQL_PRIVILEGES.join(", ")} ON ${backend.database}.* TO '${backend.user}'@'127.0.0.1';\n`);
                return startPowerDns({ backend: "mysql", mysql: backend, zone: DOMAIN, updatesOn: [lab.state.bridgeAddress], createZone: false });
            },
        });
        orchestratorBefore = await orchestratorChecksum();
        const basePath = (await ensureBase()).path;
        for (const host of HOSTS) {
            upstream[host] = await buildUpstreamHost(stack.lab, host, { domain: DOMAIN, basePath, customers: ON_HOST[host].map((name) => ({ name, mqttPort: portOf(name) })) });
        }
        // Devices trust the CAs of the certificates they may meet (in production all are Let's Encrypt's).
        allCas = path.join(dir, "all-cas.pem");
        fs.writeFileSync(allCas, [...HOSTS.map((h) => fs.readFileSync(upstream[h].caFile, "utf8")), fs.readFileSync(stack.pebble.rootCaPath, "utf8")].join(""));
        for (const c of Object.values(upstream).flatMap((u) => u.customers)) {
            // To its host's address: a name resolved now would stay in PowerDNS's cache past the fix below.
            const t: MqttTarget = { name: `${c.label}.${DOMAIN}`, port: c.mqttPort, caFile: allCas, username: c.passwords.mqtt_user, password: c.passwords.mqtt_password, address: stack.lab.host(hostOf(c.name)).address };
            const r = await mosquitto("mosquitto_pub", t, ["-t", `readings/${c.name}`, "-m", `before-${c.name}`, "-q", "1", "-r"]);
            assert.strictEqual(r.code, 0, `${c.name}: ${r.stderr}`);
        }

        // The import's inputs, as the operator gathers them: the stack file (no hosts yet), an empty
        // customers.json, the known_hosts of the machines, each host's container listing.
        const base = stack.config(path.join(dir, "customers.json"));
        secretKeys = base.secretKeys;
        const stackFile = path.join(dir, "Pulumi.lab.yaml");
        const withoutHosts = { ...base.config };
        delete withoutHosts[`${PROJECT}:hosts`];
        writeStackFile(withoutHosts, stackFile);
        config = base.config;
        customersFile = config[`${PROJECT}:customersFile`];
        fs.writeFileSync(customersFile, `{\n  "$schema": "./customers.schema.json",\n  "customers": [\n  ]\n}\n`);
        importArgs = ["--config", loaded.configFile, "--powerdns-password-file", loaded.passwordFile, "--known-hosts", stack.lab.state.knownHostsPath,
            "--stack", "lab", "--stack-file", stackFile, "--customers", customersFile, "--lock", path.join(dir, "placements.lock.json")];
        for (const host of HOSTS) {
            const listing = path.join(dir, `${host}.containers`);
            fs.writeFileSync(listing, await inHost(host, "ls -1 /srv/osm-lxc/lxc/containers"));
            importArgs.push("--containers", `${host}=${listing}`);
        }
        figures.push(`lab, MariaDB with the orchestrator's rows, PowerDNS on it, ACME, two upstream hosts with 4 containers: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
    after(async () => {
        if (figures.length) process.stdout.write(`\n      takeover figures:\n${figures.map((t) => `        ${t}`).join("\n")}\n`);
        if (stack) await stack.stop();
        if (db) await db.stop();
    });

    it("the import reports what blocks the takeover and writes nothing; after the fixes it names, it writes the customers and hosts", async () => {
        const dry = await runImport([...importArgs, "--dry-run"]);
        assert.strictEqual(dry.code, 1, dry.stdout + dry.stderr);
        const report = dry.stdout;
        assert.match(report, /customer "harbour" \(osm_customers\.id 4\): its CNAMEs .* point to upstream1\.osm\.example\.test, but the orchestrator has it on "upstream2"/, report);
        assert.match(report, /customer "mills" \(osm_customers\.id 6\): has MQTT port 9010 on host "upstream2", as active customer "dairy"/, report);
        assert.match(report, /customer "Blue Widget Co".*label is "blue-widget-co"/, report);
        assert.match(report, /customer "Blue Widget Co".*has no container Blue Widget Co-svr in \/srv\/osm-lxc\/lxc\/containers on upstream1/, report);
        assert.match(report, /host "upstream1".*containers no active customer of it owns: oldco-svr/, report);
        assert.match(report, /host "upstream1".*MQTT ports held by customers not imported: 9026 \(deleted "oldco"\)/, report);
        assert.doesNotMatch(report, /UNCHECKED/, "both hosts' containers were listed");
        for (const out of [dry.stdout, dry.stderr]) assert.ok(!out.includes(loaded.password), "the password is never printed");
        const refused = await runImport([...importArgs, "--write"]);
        assert.strictEqual(refused.code, 1);
        assert.match(refused.stdout, /Nothing written: fix the blocking problems above/);

        // The fixes it names: harbour's CNAMEs re-pointed where it runs (in PowerDNS's records table,
        // as upstream writes them); the customers that cannot be taken over stay with the old system.
        await db.admin(`UPDATE ${POWERDNS_DATABASE}.records SET content = 'upstream2.${DOMAIN}' WHERE name LIKE 'harbour%';`);
        const write = await runImport([...importArgs, ...SKIPPED.flatMap((n) => ["--skip", n]), "--write", "--json"]);
        assert.strictEqual(write.code, 0, write.stdout + write.stderr);
        const out = JSON.parse(write.stdout);
        assert.deepStrictEqual(out.added.map((e: { name: string }) => e.name), TAKEN_OVER);
        stackHosts = out.stackHosts;
        assert.deepStrictEqual(stackHosts.map((h) => [h.name, h.address, h.hostKey]), HOSTS.map((n) => [n, stack.lab.host(n).address, stack.lab.host(n).hostKey]),
            "the hosts' addresses and keys are the machines'");
        // Ports of customers not taken over stay reserved: the skipped one's, the deleted ones'.
        assert.deepStrictEqual(stackHosts.map((h) => h.reservedMqttPorts), [[portOf("Blue Widget Co"), portOf("oldco")], [portOf("gone")]]);
        const entries = JSON.parse(fs.readFileSync(customersFile, "utf8")).customers;
        assert.deepStrictEqual(entries, TAKEN_OVER.map((name) => ({ name, label: name, host: hostOf(name), mqttPort: portOf(name), adopt: true })));
        // The operator puts the hosts the import printed into the stack file.
        config[`${PROJECT}:hosts`] = JSON.stringify(stackHosts);
    });

    it("the program takes both hosts and three customers over in place, upstream2 unreachable over SSH at first, while every device and a browser see no failure", async () => {
        assert.strictEqual(await stack.resolve(`harbour.${DOMAIN}`), stack.lab.host("upstream2").address, "harbour's name, re-pointed, finds its host");
        const devices = [...TAKEN_OVER, "oldco"].map((name) => {
            const c = customer(name);
            return { c, sim: new DeviceSimulator(() => target(c, allCas), `readings/${name}/live`, `migration-device-${name}`, 100) };
        });
        const browser = new BrowserSimulator(async () => ({ name: `acme.${DOMAIN}`, address: await stack.resolve(`acme.${DOMAIN}`), caFile: allCas }), /grafana stand-in for customer acme-svr/);
        browser.start();
        for (const d of devices) d.sim.start();
        await new Promise((r) => setTimeout(r, 1000));
        // A fault first: upstream2's SSH refuses connections (the machine serves its customers, the
        // program cannot reach it). The update fails naming it and changes nothing there; once it is
        // reachable again, the next update completes the takeover.
        const unreachable = "upstream2";
        const configOf = async () => inHost(unreachable, "cat /etc/nginx/nginx.conf; ls /opt");
        const before = await configOf();
        await inHost(unreachable, "nft add table inet labfault && nft add chain inet labfault input '{ type filter hook input priority -50; }' && nft add rule inet labfault input tcp dport 22 reject with tcp reset");
        let faulted: unknown;
        let failure: unknown;
        try {
            const t1 = Date.now();
            await deploy().then(() => { faulted = "it succeeded"; }, (e) => { faulted = e; });
            figures.push(`the update with upstream2 unreachable: ${((Date.now() - t1) / 1000).toFixed(1)} s, failed as it must`);
        } finally {
            await inHost(unreachable, "nft delete table inet labfault");
        }
        const untouched = await configOf();
        const t0 = Date.now();
        await deploy().catch((e) => { failure = e; });
        const seconds = (Date.now() - t0) / 1000;
        await new Promise((r) => setTimeout(r, 1000));
        const logs: [string, DeviceLog][] = [];
        for (const d of devices) logs.push([d.c.name, await d.sim.stop(10_000)]);
        const pages = await browser.stop();
        assert.ok(faulted instanceof Error, `the update with upstream2 unreachable: ${String(faulted)}`);
        assert.match(faulted.message, /upstream2[^\n]*could not connect after \d+ attempt/, faulted.message.slice(0, 3000));
        assert.strictEqual(untouched, before, "nothing changed on upstream2 while it was unreachable");
        if (failure) throw failure;
        figures.push(`the update after it (the rest of the takeover): ${seconds.toFixed(1)} s; browser: ${pages.ok} pages, ${pages.failed.length} failed`);
        for (const [name, log] of logs) {
            figures.push(`device of ${name}: ${log.acked.length} messages acknowledged, ${log.failures} failed attempts, longest gap ${log.longestGapMs} ms`);
            assert.strictEqual(log.abandoned, undefined, `${name}'s device was cut off: message ${log.abandoned} never got through (${log.errors.join("; ")})`);
            assert.strictEqual(log.failures, 0, `${name}'s device saw failures: ${log.errors.join("; ")}`);
            assert.ok(log.acked.length >= 10, `${name}: too few messages: ${log.acked.length}`);
        }
        assert.deepStrictEqual(pages.failed, [], "no page failed during the takeover");
        assert.ok(pages.ok >= 5);
    });

    it("every customer answers on its old names, port and credentials, its reading from before still there; no second container; verify passes", async () => {
        for (const host of HOSTS) {
            const names = (await inHost(host, "lxc-ls -1")).split(/\s+/).filter(Boolean).sort();
            assert.deepStrictEqual(names, ON_HOST[host].map((n) => `${n}-svr`).sort(), `${host}'s containers`);
        }
        for (const name of TAKEN_OVER) {
            const c = customer(name);
            assert.deepStrictEqual(current!.outputs.customers[c.label].credentials, {
                mqttUsername: c.passwords.mqtt_user, mqttPassword: c.passwords.mqtt_password,
                grafanaAdminPassword: c.passwords.grafana_admin_password, influxToken: c.passwords.influx_token,
            }, `${name}'s credentials in the stack's outputs are its passwords.json`);
            // Through the project's NGINX only (pebble's CA): the retained reading from before.
            const t = await target(c, stack.pebble.rootCaPath);
            const r = await mosquitto("mosquitto_sub", t, ["-t", `readings/${name}`, "-C", "1", "-W", "5"]);
            assert.strictEqual(r.stdout.trim(), `before-${name}`, `${name}'s retained reading: ${r.stderr}`);
            const bad = await mosquitto("mosquitto_pub", await target(c, stack.pebble.rootCaPath, "not-the-password"), ["-t", "x", "-m", "x"]);
            assert.notStrictEqual(bad.code, 0, "a wrong password is refused");
            for (const suffix of ["", "-influx", "-chirpstack"]) {
                const page = await httpsGet(`${c.label}${suffix}.${DOMAIN}`, await stack.resolve(`${c.label}${suffix}.${DOMAIN}`), stack.pebble.rootCaPath);
                assert.strictEqual(page.status, 200, `${c.label}${suffix}`);
                assert.match(page.body, new RegExp(`stand-in for customer ${c.container}`));
            }
            // Its four records name its host and kept the orchestrator's TTL.
            const rows = (await recordsOf([c.label])).trim().split("\n").map((l) => l.split("\t"));
            assert.deepStrictEqual(rows.map(([n, type, content, ttl]) => [n, type, content.replace(/\.$/, ""), ttl]).sort(),
                ["", "-chirpstack", "-influx", "-mqtt"].map((s) => [`${c.label}${s}.${DOMAIN}`, "CNAME", `${hostOf(name)}.${DOMAIN}`, "1800"]).sort(), `${name}'s records`);
        }
        const oldco = customer("oldco");
        const r = await mosquitto("mosquitto_sub", await target(oldco, upstream.upstream1.caFile), ["-t", "readings/oldco", "-C", "1", "-W", "5"]);
        assert.strictEqual(r.stdout.trim(), "before-oldco", `the container left running still answers on upstream's files: ${r.stderr}`);

        const creds = Object.fromEntries(TAKEN_OVER.map((name) => [name, { mqttUsername: customer(name).passwords.mqtt_user, mqttPassword: customer(name).passwords.mqtt_password }]));
        const rep = await verifyFleet(labVerifyOptions(stack, await labFleet(config, current!), creds));
        const failed = rep.results.filter((x) => x.status === "fail");
        assert.deepStrictEqual(failed.filter((x) => x.subject === "customer").map((x) => `${x.name}/${x.check}`), [], formatReport(rep));
        const hostProblems = failed.flatMap((x) => x.findings.map((f) => f.problem));
        assert.deepStrictEqual(hostProblems.filter((p) => !/container oldco-svr \(running\) no customer owns/.test(p)), [], formatReport(rep));
        assert.ok(hostProblems.length > 0, "verify names the container no customer owns");

        // The skipped customers' rows are as the orchestrator wrote them; its tables were never written.
        assert.match(await recordsOf(["mills"]), /^mills\.osm\.example\.test\tCNAME\tupstream2\.osm\.example\.test\t1800$/m);
        assert.strictEqual(await orchestratorChecksum(), orchestratorBefore);
    });

    it("a second run changes nothing: the import finds everything there, the program changes no resource", async () => {
        const before = fs.readFileSync(customersFile, "utf8");
        const records = await recordsOf([...TAKEN_OVER, ...HOSTS]);
        const again = await runImport([...importArgs, ...SKIPPED.flatMap((n) => ["--skip", n]), "--write"]);
        assert.strictEqual(again.code, 0, again.stdout + again.stderr);
        assert.match(again.stdout, /0 customers to add, 3 already there/);
        assert.match(again.stdout, /customers\.json unchanged/);
        assert.strictEqual(fs.readFileSync(customersFile, "utf8"), before);
        const d = await deploy();
        const name = (urn: string) => d.resources.find((x) => x.urn === urn)?.name ?? urn.split("::").pop()!;
        const changed = Object.fromEntries([...planOf(d.steps!)].filter(([, p]) => p !== "same").map(([urn, p]) => [name(urn), p]));
        assert.deepStrictEqual(changed, {}, "every resource the same");
        assert.strictEqual(await recordsOf([...TAKEN_OVER, ...HOSTS]), records, "PowerDNS's rows the same");
    });
});
