/**
 * The resource graph index.ts declares, evaluated under mocks: records, commands, parents,
 * dependencies, environment, outputs; with previous placements; with and without MySQL.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { projectRoot } from "../../components/paths";
import * as powerdns from "../../components/powerdns";
import { declaredRecords, evaluateOffline } from "../../scripts/lib/offline";
import { configMap, evaluate, Evaluation, isWrappedSecret, Registered, unwrapSecrets } from "../../scripts/lib/engine";
import program = require("../../index");
import { DOMAIN, HOST_KEYS, runProgram, Scratch, SENTINEL_MYSQL_ADMIN, SENTINEL_SSH_KEY, SENTINEL_TSIG_SECRET, TEST_SECRETS, testHosts, testSettings } from "./support/fleet";

// The SDK's runtime internals (the mock monitor), used untyped on purpose.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeSettings = require("@pulumi/pulumi/runtime/settings");

const CUSTOMERS = {
    customers: [
        { name: "Blue Widget Co" },
        { name: "Acme" },
        { name: "Northfield Dairy" },
        { name: "Harbour Cold Store", host: "beta", mqttPort: 9500, adopt: true },
        { name: "Old Mill", host: "gamma" },
    ],
};
const LABELS = ["blue-widget-co", "acme", "northfield-dairy", "harbour-cold-store", "old-mill"];
const HOSTS = testHosts();
const hostByName = new Map(HOSTS.map((h) => [h.name as string, h]));
const SERVICES = ["grafana", "influx", "chirpstack"] as const;
const RECORD = "pulumi-nodejs:dynamic:Resource";
const COMMAND = "command:remote:Command";

function byName(ev: Evaluation<any>, name: string, type?: string): Registered {
    const found = ev.resources.filter((r) => r.name === name && (!type || r.type === type));
    assert.strictEqual(found.length, 1, `expected one resource named ${name}${type ? ` of type ${type}` : ""}, found ${found.length}`);
    return found[0];
}

function ofType(ev: Evaluation<any>, type: string): Registered[] {
    return ev.resources.filter((r) => r.type === type);
}

function serviceName(label: string, service: typeof SERVICES[number]): string {
    return service === "grafana" ? `${label}.${DOMAIN}.` : `${label}-${service}.${DOMAIN}.`;
}

describe("graph: the program under mocks", function () {
    this.timeout(30000);
    const scratch = new Scratch();
    let ev: Evaluation<any>;
    let customersFile: string;

    before(async () => {
        customersFile = scratch.customers(CUSTOMERS);
        ev = await runProgram({ customersFile });
    });
    after(() => scratch.cleanup());

    it("declares exactly: per host a component, A record, bootstrap, ansible copy, setup; per customer a component, 3 records (4 with mqttWebsocket), one command (container)", () => {
        const counts = new Map<string, number>();
        for (const r of ev.resources) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
        assert.deepStrictEqual(Object.fromEntries(counts), {
            "osm:hosting:Host": 3,
            "osm:hosting:Customer": 5,
            // The adopted customer has mqttWebsocket by default: its fourth name.
            [RECORD]: 3 + 5 * 3 + 1,
            [COMMAND]: 3 * 2 + 5,
            "command:remote:CopyToRemote": 3,
        });
        assert.deepStrictEqual(ofType(ev, "osm:hosting:Customer").map((r) => r.name).sort(), [...LABELS].sort());
    });

    it("each customer has exactly its three records (four with mqttWebsocket): right names, CNAME to its host's FQDN with a trailing dot", () => {
        for (const label of LABELS) {
            const component = byName(ev, label, "osm:hosting:Customer");
            const records = ev.resources.filter((r) => r.type === RECORD && r.parent === component.urn);
            const extra = label === "harbour-cold-store" ? [`${label}-mqtt`] : [];
            assert.deepStrictEqual(records.map((r) => r.name).sort(), [...SERVICES.map((s) => `${label}-${s}`), ...extra].sort());
            const host = ev.outputs.placements[label].host;
            for (const service of SERVICES) {
                const i = unwrapSecrets(byName(ev, `${label}-${service}`).inputs);
                assert.strictEqual(i.name, serviceName(label, service));
                assert.strictEqual(i.type, "CNAME");
                assert.deepStrictEqual(i.records, [`${host}.${DOMAIN}.`]);
                assert.strictEqual(i.zone, "test.example");
                assert.strictEqual(i.ttl, 120);
                assert.strictEqual(i.apiUrl, "http://127.0.0.1:8081");
            }
        }
    });

    it("every record name is declared once, and the full record set is hosts' A + customers' CNAMEs", () => {
        const records = declaredRecords(ev.resources);
        const names = records.map((r) => r.name);
        assert.strictEqual(new Set(names).size, names.length, "a name declared twice");
        const expected = [
            ...HOSTS.map((h) => ({ name: `${h.name}.${DOMAIN}.`, type: "A", content: h.address })),
            ...LABELS.flatMap((l) => SERVICES.map((s) => ({ name: serviceName(l, s), type: "CNAME", content: `${ev.outputs.placements[l].host}.${DOMAIN}.` }))),
            { name: `harbour-cold-store-mqtt.${DOMAIN}.`, type: "CNAME", content: `beta.${DOMAIN}.` },
        ];
        const key = (r: { name: string }) => r.name;
        assert.deepStrictEqual([...records].sort((a, b) => key(a).localeCompare(key(b))), expected.sort((a, b) => key(a).localeCompare(key(b))));
    });

    it("only adopted customers and hosts declare adoptId <zone>/<name>/<type> on their records, keeping their TTL", async () => {
        for (const r of ev.resources.filter((x) => x.type === RECORD)) {
            const i = unwrapSecrets(r.inputs);
            if (r.name.startsWith("harbour-cold-store-")) assert.deepStrictEqual([i.adoptId, i.adoptTtl], [`test.example/${i.name}/CNAME`, true], r.name);
            else assert.deepStrictEqual([i.adoptId, i.adoptTtl], [undefined, undefined], r.name);
        }
        const adoptBeta = await runProgram({ customersFile, settings: testSettings({ hosts: HOSTS.map((h) => (h.name === "beta" ? { ...h, adopt: true } : h)) }) });
        assert.deepStrictEqual([unwrapSecrets(byName(adoptBeta, "beta-a").inputs).adoptId, unwrapSecrets(byName(adoptBeta, "beta-a").inputs).adoptTtl], [`test.example/beta.${DOMAIN}./A`, true]);
        assert.strictEqual(unwrapSecrets(byName(adoptBeta, "alpha-a").inputs).adoptId, undefined);
        // The stack config says otherwise: adopted records get powerdns.ttl too.
        const rewrite = await runProgram({ customersFile, settings: testSettings({ powerdns: { apiUrl: "http://127.0.0.1:8081", zone: "test.example", ttl: 120, keepAdoptedTtl: false } }) });
        const cname = unwrapSecrets(byName(rewrite, "harbour-cold-store-grafana").inputs);
        assert.deepStrictEqual([cname.adoptId !== undefined, cname.adoptTtl === true, cname.ttl], [true, false, 120]);
    });

    it("mqttWebsocket: 4 records when on (adopted ones adopt the fourth), 3 when off; the playbook is told only when on", async () => {
        const container = (e: Evaluation<any>, label: string) => unwrapSecrets(byName(e, `${label}-container`, COMMAND).inputs).environment;
        const mqtt = unwrapSecrets(byName(ev, "harbour-cold-store-mqtt", RECORD).inputs);
        assert.deepStrictEqual([mqtt.name, mqtt.type, mqtt.records, mqtt.adoptId],
            [`harbour-cold-store-mqtt.${DOMAIN}.`, "CNAME", [`beta.${DOMAIN}.`], `test.example/harbour-cold-store-mqtt.${DOMAIN}./CNAME`]);
        assert.strictEqual(container(ev, "harbour-cold-store").OSM_MQTT_WEBSOCKET, "yes");
        assert.strictEqual(container(ev, "acme").OSM_MQTT_WEBSOCKET, undefined);
        assert.strictEqual(ev.outputs.customers["harbour-cold-store"].urls.mqttWebsocket, `wss://harbour-cold-store-mqtt.${DOMAIN}/`);
        assert.strictEqual(ev.outputs.customers.acme.urls.mqttWebsocket, undefined);
        const flipped = await runProgram({ customersFile: scratch.customers({ customers: CUSTOMERS.customers.map((c) =>
            c.name === "Acme" ? { ...c, mqttWebsocket: true } : c.adopt ? { ...c, mqttWebsocket: false } : c) }) });
        const recordsOf = (e: Evaluation<any>, label: string) => e.resources.filter((r) => r.type === RECORD && r.parent === byName(e, label, "osm:hosting:Customer").urn).map((r) => r.name).sort();
        assert.deepStrictEqual(recordsOf(flipped, "acme"), ["acme-chirpstack", "acme-grafana", "acme-influx", "acme-mqtt"]);
        assert.strictEqual(unwrapSecrets(byName(flipped, "acme-mqtt", RECORD).inputs).adoptId, undefined);
        assert.strictEqual(container(flipped, "acme").OSM_MQTT_WEBSOCKET, "yes");
        assert.deepStrictEqual(recordsOf(flipped, "harbour-cold-store"), ["harbour-cold-store-chirpstack", "harbour-cold-store-grafana", "harbour-cold-store-influx"]);
        assert.strictEqual(container(flipped, "harbour-cold-store").OSM_MQTT_WEBSOCKET, undefined);
    });

    it("each host has its A record under its component", () => {
        for (const h of HOSTS) {
            const rec = byName(ev, `${h.name}-a`, RECORD);
            assert.strictEqual(rec.parent, byName(ev, h.name, "osm:hosting:Host").urn);
            const i = unwrapSecrets(rec.inputs);
            assert.deepStrictEqual([i.name, i.type, i.records], [`${h.name}.${DOMAIN}.`, "A", [h.address]]);
        }
    });

    it("a customer's commands run on its host: address, SSH port, user, pinned host key", () => {
        for (const label of LABELS) {
            const host = hostByName.get(ev.outputs.placements[label].host)!;
            for (const cmd of [`${label}-container`]) {
                const c = unwrapSecrets(byName(ev, cmd, COMMAND).inputs).connection;
                assert.strictEqual(c.host, host.address, cmd);
                assert.strictEqual(c.port, host.sshPort ?? 22, cmd);
                assert.strictEqual(c.user, "osmadmin", cmd);
                assert.strictEqual(c.hostKey, (HOST_KEYS as Record<string, string>)[host.name], cmd);
                assert.strictEqual(c.privateKey, SENTINEL_SSH_KEY, cmd);
            }
        }
    });

    it("a host's own commands run on it, with its host key pinned", () => {
        for (const h of HOSTS) {
            for (const [name, type] of [[`${h.name}-bootstrap`, COMMAND], [`${h.name}-ansible`, "command:remote:CopyToRemote"], [`${h.name}-setup`, COMMAND]]) {
                const c = unwrapSecrets(byName(ev, name, type).inputs).connection;
                assert.deepStrictEqual([c.host, c.port, c.hostKey], [h.address, h.sshPort ?? 22, h.hostKey], name);
            }
        }
    });

    it("every child's parent is its component, named after it; components are top-level", () => {
        const components = new Map(ev.resources.filter((r) => !r.custom).map((r) => [r.urn, r]));
        for (const c of components.values()) assert.strictEqual(c.parent, undefined, `${c.name} has a parent`);
        for (const r of ev.resources.filter((x) => x.custom)) {
            const parent = r.parent && components.get(r.parent);
            assert.ok(parent, `${r.type}::${r.name} is not parented to a component`);
            assert.ok(r.name.startsWith(`${parent.name}-`), `${r.name} is not named after its parent ${parent.name}`);
        }
    });

    it("the container depends on its host's setup alone, and its three records on it (names point to a host once it serves them)", () => {
        for (const label of LABELS) {
            const host = ev.outputs.placements[label].host;
            const container = byName(ev, `${label}-container`, COMMAND);
            // No other customer's or host's resources, and no move grant: nobody moves here.
            assert.deepStrictEqual(container.dependencies, [byName(ev, `${host}-setup`).urn], `${label}-container's dependencies`);
            for (const s of SERVICES) assert.ok(byName(ev, `${label}-${s}`).dependencies.includes(container.urn), `${label}-${s} does not depend on ${label}-container`);
            assert.ok(!ev.resources.some((r) => r.name === `${label}-provision`), "one command per customer: no -provision");
        }
    });

    it("a host's setup follows the ansible copy, which follows the bootstrap", () => {
        for (const h of HOSTS) {
            assert.deepStrictEqual(byName(ev, `${h.name}-ansible`).dependencies, [byName(ev, `${h.name}-bootstrap`).urn]);
            assert.deepStrictEqual(byName(ev, `${h.name}-setup`).dependencies, [byName(ev, `${h.name}-ansible`).urn]);
            assert.deepStrictEqual(byName(ev, `${h.name}-bootstrap`).dependencies, []);
        }
    });

    it("values reach commands only through OSM_* environment variables, never the command line", () => {
        const commands = ev.resources.filter((r) => r.type === COMMAND);
        for (const r of commands) {
            const i = unwrapSecrets(r.inputs);
            const env: Record<string, string> = i.environment ?? {};
            // sshd accepts exactly OSM_* (AcceptEnv): any other name would silently not arrive.
            for (const k of Object.keys(env)) assert.match(k, /^OSM_[A-Z0-9_]+$/, `${r.name}: ${k}`);
            for (const script of [i.create, i.update, i.delete].filter((s) => s !== undefined)) {
                for (const [k, v] of Object.entries(env)) {
                    assert.ok(!script.includes(v), `${r.name}: the command line contains ${k}'s value ${JSON.stringify(v)}: ${script}`);
                }
            }
        }
        for (const label of LABELS) {
            const port = String(ev.outputs.placements[label].mqttPort);
            const host = ev.outputs.placements[label].host;
            const container = unwrapSecrets(byName(ev, `${label}-container`).inputs);
            assert.strictEqual(container.create, "bash /opt/osm/ansible/run customer.yml");
            assert.strictEqual(container.delete, "bash /opt/osm/ansible/run container-delete.yml");
            const { OSM_PLAYBOOK_HASH, ...env } = container.environment;
            assert.match(OSM_PLAYBOOK_HASH, /^[0-9a-f]{16}$/);
            assert.deepStrictEqual(env, {
                // No ACME settings: the host's certificate for *.<domain> serves it.
                OSM_CUSTOMER: label, OSM_DOMAIN: DOMAIN, OSM_HOST_NAME: host, OSM_MQTT_PORT: port, OSM_CPUS: "3", OSM_MEMORY_MIB: "3072",
                // mqttWebsocket (the adopted customer's default): its fourth name's vhost and listener.
                ...(label === "harbour-cold-store" ? { OSM_MQTT_WEBSOCKET: "yes" } : {}),
                // adopt: the old orchestrator's container, taken over in place.
                ...(label === "harbour-cold-store" ? { OSM_ADOPT_CONTAINER: "Harbour Cold Store-svr" } : {}),
            });
            // A move to another host replaces the container rather than updating it in place.
            assert.deepStrictEqual(container.triggers, [host]);
        }
        for (const h of HOSTS) {
            const setup = unwrapSecrets(byName(ev, `${h.name}-setup`).inputs);
            assert.strictEqual(setup.create, "bash /opt/osm/ansible/run host-setup.yml");
            const { OSM_PLAYBOOK_HASH, ...env } = setup.environment;
            assert.match(OSM_PLAYBOOK_HASH, /^[0-9a-f]{16}$/);
            assert.deepStrictEqual(env, {
                OSM_HOST_NAME: h.name, OSM_DOMAIN: DOMAIN, OSM_ACME_SERVER: "https://acme.test.example/dir", OSM_ACME_EMAIL: "ops@test.example",
                OSM_ACME_DNS_SERVER: "192.0.2.53", OSM_ACME_DNS_PORT: "53", OSM_ACME_DNS_PROPAGATION_SECONDS: "5", OSM_ACME_TSIG_KEY: "osm-acme",
                OSM_ACME_TSIG_ALGORITHM: "hmac-sha256", OSM_ACME_TSIG_SECRET: SENTINEL_TSIG_SECRET,
            });
            // The TSIG secret makes the setup's whole environment secret in the state.
            assert.ok(isWrappedSecret(byName(ev, `${h.name}-setup`).inputs.environment), `${h.name}-setup: environment is secret`);
            // The bootstrap runs before sshd accepts OSM_*: it must not rely on any variable.
            assert.strictEqual(unwrapSecrets(byName(ev, `${h.name}-bootstrap`).inputs).environment, undefined);
        }
    });

    it("a CA bundle for a test ACME server reaches the host setup (the one certbot run), not the customers", async () => {
        assert.ok(ev.resources.every((r) => unwrapSecrets(r.inputs).environment?.OSM_ACME_CA_BUNDLE === undefined), "set without caBundle");
        const lab = await runProgram({ customersFile, settings: testSettings({ acme: { ...testSettings().acme as object, server: "https://127.0.0.1:14000/dir", caBundle: "/opt/osm/lab-ca.pem" } }) });
        for (const h of HOSTS) {
            const env = unwrapSecrets(byName(lab, `${h.name}-setup`, COMMAND).inputs).environment;
            assert.deepStrictEqual([env.OSM_ACME_SERVER, env.OSM_ACME_CA_BUNDLE], ["https://127.0.0.1:14000/dir", "/opt/osm/lab-ca.pem"], h.name);
        }
        for (const l of LABELS) assert.strictEqual(unwrapSecrets(byName(lab, `${l}-container`, COMMAND).inputs).environment.OSM_ACME_CA_BUNDLE, undefined, l);
    });

    it("no command sends its previous output back as environment (addPreviousOutputInEnv: false)", () => {
        const commands = ev.resources.filter((r) => r.type === COMMAND);
        assert.strictEqual(commands.length, 11);
        for (const r of commands) assert.strictEqual(r.inputs.addPreviousOutputInEnv, false, r.name);
    });

    it("the ansible folder's shipped files (no docs, no lint configs) are copied with CopyToRemote into /opt/osm", async () => {
        const listing = (dir: string, rel = ""): string[] => fs.readdirSync(path.join(dir, rel), { withFileTypes: true })
            .flatMap((e) => (e.isDirectory() ? listing(dir, `${rel}${e.name}/`) : [`${rel}${e.name}`])).sort();
        const source = listing(path.join(projectRoot(), "ansible"));
        for (const h of HOSTS) {
            const copy = byName(ev, `${h.name}-ansible`, "command:remote:CopyToRemote");
            assert.strictEqual(copy.inputs.remotePath, "/opt/osm");
            assert.strictEqual(copy.inputs.source.constructor.name, "FileArchive");
            const staged: string = await copy.inputs.source.path;
            assert.strictEqual(path.basename(staged), "ansible", "CopyToRemote puts the folder in remotePath under its own name");
            const shipped = listing(staged);
            assert.deepStrictEqual(shipped, source.filter((f) => !f.endsWith(".md") && !f.split("/").some((p) => p.startsWith("."))));
            assert.ok(source.includes("README.md") && !shipped.includes("README.md"));
            for (const f of shipped) assert.ok(fs.readFileSync(path.join(staged, f)).equals(fs.readFileSync(path.join(projectRoot(), "ansible", f))), f);
        }
    });

    it("outputs: placements exactly {label: {host, mqttPort}}, the pin honoured", () => {
        const placements = ev.outputs.placements;
        assert.deepStrictEqual(Object.keys(placements), LABELS);
        for (const [label, p] of Object.entries<any>(placements)) {
            assert.deepStrictEqual(Object.keys(p).sort(), ["host", "mqttPort"], label);
            assert.ok(hostByName.has(p.host) && Number.isInteger(p.mqttPort), label);
        }
        assert.deepStrictEqual(placements["harbour-cold-store"], { host: "beta", mqttPort: 9500 });
        assert.strictEqual(placements["old-mill"].host, "gamma");
        // Unpinned customers never go to the draining gamma.
        for (const l of ["blue-widget-co", "acme", "northfield-dairy"]) assert.notStrictEqual(placements[l].host, "gamma");
    });

    it("outputs: per customer its host, MQTT endpoint and three URLs (four with mqttWebsocket)", () => {
        assert.deepStrictEqual(Object.keys(ev.outputs.customers), LABELS);
        for (const label of LABELS) {
            const c = ev.outputs.customers[label];
            const p = ev.outputs.placements[label];
            assert.strictEqual(c.host, p.host);
            assert.strictEqual(c.mqttEndpoint, `${label}.${DOMAIN}:${p.mqttPort}`);
            assert.deepStrictEqual(c.urls, {
                grafana: `https://${label}.${DOMAIN}/`, influx: `https://${label}-influx.${DOMAIN}/`, chirpstack: `https://${label}-chirpstack.${DOMAIN}/`,
                ...(label === "harbour-cold-store" ? { mqttWebsocket: `wss://${label}-mqtt.${DOMAIN}/` } : {}),
            });
            assert.deepStrictEqual(Object.keys(c.credentials).sort(), ["grafanaAdminPassword", "influxToken", "mqttPassword", "mqttUsername"]);
        }
    });

    it("outputs: per host used/capacity", () => {
        const used: Record<string, number> = { alpha: 0, beta: 0, gamma: 0 };
        for (const p of Object.values<any>(ev.outputs.placements)) used[p.host]++;
        assert.deepStrictEqual(ev.outputs.hosts, {
            alpha: { used: used.alpha, capacity: 3 }, beta: { used: used.beta, capacity: 4 }, gamma: { used: used.gamma, capacity: 5 },
        });
        assert.strictEqual(used.alpha + used.beta + used.gamma, 5);
        assert.strictEqual(ev.outputs.powerdnsMysql, undefined);
    });

    it("with previous placements fed in, the outputs and the resources keep them", async () => {
        // Ports and hosts that fresh placement would not choose; a departed customer is dropped.
        const previous = {
            "acme": { host: "beta", mqttPort: 30001 },
            "northfield-dairy": { host: "alpha", mqttPort: 30002 },
            "long-gone": { host: "beta", mqttPort: 30003 },
        };
        const again = await runProgram({ customersFile, previous });
        assert.deepStrictEqual(again.outputs.placements.acme, previous.acme);
        assert.deepStrictEqual(again.outputs.placements["northfield-dairy"], previous["northfield-dairy"]);
        assert.strictEqual(again.outputs.placements["long-gone"], undefined);
        assert.strictEqual(again.outputs.customers.acme.mqttEndpoint, `acme.${DOMAIN}:30001`);
        const env = unwrapSecrets(byName(again, "acme-container").inputs).environment;
        assert.deepStrictEqual([env.OSM_HOST_NAME, env.OSM_MQTT_PORT, env.OSM_MOVE_FROM_ADDRESS], ["beta", "30001", undefined]);
        assert.deepStrictEqual(unwrapSecrets(byName(again, "acme-grafana").inputs).records, [`beta.${DOMAIN}.`]);
        assert.strictEqual(unwrapSecrets(byName(again, "acme-container").inputs).connection.host, "192.0.2.11");
        assert.ok(!again.resources.some((r) => r.name.endsWith("-move-grant")), "nobody moves");
        // Feeding the output back as previous changes nothing.
        const third = await runProgram({ customersFile, previous: again.outputs.placements });
        assert.deepStrictEqual(third.outputs.placements, again.outputs.placements);
    });

    it("a customer on a draining host moves: a grant on the old host, the new container pulls it (pinned key), the names follow", async () => {
        const previous = { "acme": { host: "gamma", mqttPort: 30001 } };
        const moved = await runProgram({ customersFile, previous });
        const to = moved.outputs.placements.acme;
        assert.notStrictEqual(to.host, "gamma");
        assert.strictEqual(to.mqttPort, 30001, "the devices' port goes with it");
        const grant = byName(moved, "acme-move-grant", COMMAND);
        const g = unwrapSecrets(grant.inputs);
        assert.strictEqual(g.connection.host, "192.0.2.12", "the grant runs on the host it leaves");
        assert.match(g.create, /move-grant\.yml$/);
        assert.match(g.delete, /move-revoke\.yml$/);
        assert.deepStrictEqual([g.environment.OSM_CUSTOMER, g.environment.OSM_MQTT_PORT, g.environment.OSM_MOVE_PEER_ADDRESS, g.environment.OSM_DNS_TTL],
            ["acme", "30001", unwrapSecrets(byName(moved, "acme-container").inputs).connection.host, "120"]);
        const container = byName(moved, "acme-container", COMMAND);
        const env = unwrapSecrets(container.inputs).environment;
        assert.deepStrictEqual([env.OSM_HOST_NAME, env.OSM_MOVE_FROM_ADDRESS, env.OSM_MOVE_FROM_SSH_PORT],
            [to.host, "192.0.2.12", "22"]);
        assert.strictEqual(env.OSM_MOVE_FROM_HOST_KEY, HOST_KEYS.gamma.split(" ").slice(0, 2).join(" "), "the old host's pinned key, no comment");
        assert.ok(container.dependencies.includes(grant.urn), "the pull waits for the grant");
        for (const s of SERVICES) {
            const r = byName(moved, `acme-${s}`);
            assert.deepStrictEqual(unwrapSecrets(r.inputs).records, [`${to.host}.${DOMAIN}.`]);
            assert.ok(r.dependencies.includes(container.urn), `acme-${s} is re-pointed only after the new container serves`);
        }
        assert.ok(!JSON.stringify(g.environment).includes("PRIVATE KEY"), "no private key in what the grant sends");
        assert.ok(isWrappedSecret(grant.inputs.connection), "the connection (with the program's key) stays secret");
    });

    it("reads the previous placements from the stack's own outputs (a StackReference to itself)", async () => {
        const refs: string[] = [];
        await evaluate(() => {
            const monitor = runtimeSettings.getMonitor();
            for (const method of ["registerResource", "readResource"]) {
                const original = monitor[method].bind(monitor);
                monitor[method] = (req: any, cb: any) => {
                    if (req.getType() === "pulumi:pulumi:StackReference") refs.push(JSON.stringify(req.getObject?.()?.toJavaScript?.() ?? req.getProperties?.()?.toJavaScript?.()));
                    return original(req, cb);
                };
            }
            return program();
        }, {
            config: configMap({ ...testSettings(), customersFile, ...TEST_SECRETS }),
            secretKeys: Object.keys(TEST_SECRETS).map((k) => `osm-hosting:${k}`),
            stack: "staging", organization: "devtank",
        });
        assert.deepStrictEqual(refs, [JSON.stringify({ name: "devtank/osm-hosting/staging" })]);
    });

    it("is deterministic: the same input, or customers.json reordered, gives the same graph", async () => {
        const signature = (e: Evaluation<any>) => e.resources.map((r) => JSON.stringify([r.type, r.name, r.parent, [...r.dependencies].sort(), unwrapSecrets(r.inputs)]))
            .sort();
        const again = await runProgram({ customersFile });
        assert.deepStrictEqual(signature(again), signature(ev));
        const reordered = scratch.customers({ customers: [...CUSTOMERS.customers].reverse() });
        const other = await runProgram({ customersFile: reordered });
        assert.deepStrictEqual(signature(other), signature(ev));
        assert.deepStrictEqual(other.outputs.placements, ev.outputs.placements);
    });

    it("a malformed previous placements output is refused, naming the entry", async () => {
        await assert.rejects(runProgram({ customersFile, previous: { acme: { host: "alpha", mqttPort: "9000" } } }),
            (err: Error) => err.name === "InputError" && /\/acme: must be \{"host": "<host name>", "mqttPort": <number>\}/.test(err.message));
    });

    it("the PowerDNS MySQL component appears only when powerdnsMysql is configured", async () => {
        assert.strictEqual(ev.resources.filter((r) => r.type.startsWith("mysql:") || r.type.includes(":providers:mysql") || r.type === "osm:hosting:PowerDnsDatabase").length, 0);
        const withMysql = await runProgram({
            customersFile,
            settings: testSettings({ powerdnsMysql: { endpoint: "127.0.0.1:3306", adminUser: "root", database: "pdns", user: "pdns", userHost: "127.0.0.1" } }),
            secrets: { ...TEST_SECRETS, powerdnsMysqlAdminPassword: SENTINEL_MYSQL_ADMIN },
        });
        const component = byName(withMysql, "powerdns-mysql", "osm:hosting:PowerDnsDatabase");
        const children = withMysql.resources.filter((r) => r.parent === component.urn);
        assert.deepStrictEqual(children.map((r) => r.type).sort(), [
            "mysql:index/database:Database", "mysql:index/grant:Grant", "mysql:index/user:User", "pulumi-nodejs:dynamic:Resource", "pulumi:providers:mysql",
        ]);
        const grant = unwrapSecrets(children.find((r) => r.type === "mysql:index/grant:Grant")!.inputs);
        assert.deepStrictEqual([grant.database, grant.user, grant.host], ["pdns", "pdns", "127.0.0.1"]);
        assert.deepStrictEqual(grant.privileges, ["SELECT", "INSERT", "UPDATE", "DELETE"]);
        const provider = unwrapSecrets(children.find((r) => r.type === "pulumi:providers:mysql")!.inputs);
        assert.deepStrictEqual([provider.endpoint, provider.username], ["127.0.0.1:3306", "root"]);
        assert.deepStrictEqual(Object.keys(withMysql.outputs.powerdnsMysql).sort(), ["database", "password", "user"]);
        // The rest of the graph is unchanged by it.
        assert.strictEqual(withMysql.resources.length - 1 - children.length, ev.resources.length);
    });
});

describe("graph: resource classes", function () {
    this.timeout(30000);
    it("a PowerDNS Record exposes its declared outputs (zone, name, type, ttl, records)", async () => {
        let record: powerdns.Record | undefined;
        await evaluate(() => {
            record = new powerdns.Record("probe", {
                apiUrl: "http://127.0.0.1:8081", apiKey: "k", zone: "test.example", name: "probe.test.example.", type: "A", ttl: 60, records: ["192.0.2.1"],
            });
            return {};
        }, { config: {} });
        // Fields declared `zone!: Output<string>` are emitted as ES2022 class fields and reset what
        // super() set to undefined; `declare readonly zone: ...` keeps them.
        for (const field of ["zone", "name", "type", "ttl", "records"] as const) {
            assert.ok(pulumi.Output.isInstance(record![field]), `Record.${field} is ${record![field]}`);
        }
        assert.strictEqual(await new Promise((r) => record!.name.apply(r)), "probe.test.example.");
    });
});

describe("graph: the example fleet (Pulumi.prod.yaml + customers.json) offline", function () {
    this.timeout(30000);

    it("evaluates to 4 hosts and 7 customers, every unpinned one off the draining osm0", async () => {
        const ev = await evaluateOffline({ stack: "prod" });
        assert.strictEqual(ofType(ev, "osm:hosting:Host").length, 4);
        assert.strictEqual(ofType(ev, "osm:hosting:Customer").length, 7);
        // The adopted Harbour Cold Store keeps its fourth name (mqttWebsocket by default).
        assert.strictEqual(ev.resources.length, 4 * 5 + 7 * 5 + 1);
        assert.deepStrictEqual(ev.outputs.placements["harbour-cold-store"], { host: "osm2", mqttPort: 8901 });
        for (const p of Object.values<any>(ev.outputs.placements)) assert.notStrictEqual(p.host, "osm0");
        assert.strictEqual(ev.outputs.hosts.osm0.used, 0);
    });
});
