/**
 * Issue 4, items 6 and 7, end to end: the program, evaluated with a lab stack config (its hosts
 * are the lab's fake hosts, its DNS the lab PowerDNS, its ACME server pebble), has every
 * resource it declares carried out for real (records through the provider; CopyToRemote and
 * every remote command's create, later delete, over SSH with the declared environment). Then,
 * checked from outside over the lab network: each customer's three names answer over HTTPS
 * through NGINX from that customer's container; MQTT over TLS with the customer's credentials
 * reaches that customer's broker and no other; a wrong password is refused; ten customers
 * created at once on one host all work; a removed customer leaves an archive holding its data
 * and nothing else on its host; a customer pinned to another host is created there first, then
 * archived on the old one (README, Placement), and answers from its new host.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import { DeviceLog, DeviceSimulator } from "../../lab/device";
import { CarryOutError, Deployment, destroyRemoved, planOf } from "../../lab/executor";
import { unregisterExitTeardown } from "../../lab/hosts";
import { httpsGet, MqttTarget, mosquitto } from "../../lab/outside";
import { CustomersFileEntry } from "../../components/customers";
import { LAB_DOMAIN as DOMAIN, LabStack } from "../../lab/lab-stack";
import { PluginMirror } from "../../lab/plugin-mirror";
import { withCpuHogsFor } from "../../lab/load";
import { credentialsOf, labFleet, labVerifyOptions } from "../../lab/verify-stack";
import { formatReport } from "../../scripts/lib/verify/report";
import { verifyFleet } from "../../scripts/lib/verify/run";
import * as fs from "fs";
import * as path from "path";
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (SDK internals, a test double or a computed path)
const program: () => Promise<any> = require("../../index");

const SERVICES = [
    { suffix: "", standin: "grafana" },
    { suffix: "-influx", standin: "influxdb" },
    { suffix: "-chirpstack", standin: "chirpstack" },
] as const;

describe("end to end: the program carried out on lab hosts", function () {
    this.timeout(1_200_000);
    let stack: LabStack;
    let first: Deployment;
    let current: Deployment;
    /** The customers.json entries `current` was carried out for. */
    let currentEntries: CustomersFileEntry[] = [];

    async function deploy(customers: CustomersFileEntry[], previous?: Deployment, opts: { deleteRemoved?: boolean } = {}): Promise<Deployment> {
        try {
            return await stack.deploy(program, customers, previous, opts);
        } catch (e) {
            // What was carried out stays in `current` for the next steps' diagnostics.
            if (e instanceof CarryOutError) current = e.deployment;
            if (e instanceof Error && /\/opt\/osm\/ansible\/[^:]*: Permission denied/.test(e.message)) {
                e.message += "\n(hint: @pulumi/command's CopyToRemote creates files without their mode, as the lab does:"
                    + " nothing in /opt/osm/ansible is executable on a real host; run it as 'bash /opt/osm/ansible/run X'"
                    + " and do not exec files/* directly, or restore their modes first)";
            }
            throw e;
        }
    }

    function creds(d: Deployment, label: string) {
        const c = d.outputs?.customers?.[label]?.credentials;
        if (!c || !c.mqttPassword) throw new Error(`no credentials for ${label} in the deployment's outputs`);
        return c as { mqttUsername: string; mqttPassword: string };
    }

    async function mqttTarget(d: Deployment, label: string, password?: string): Promise<MqttTarget> {
        const name = `${label}.${DOMAIN}`;
        const c = creds(d, label);
        return { name, port: d.outputs.placements[label].mqttPort, address: await stack.resolve(name), caFile: stack.pebble.rootCaPath, username: c.mqttUsername, password: password ?? c.mqttPassword };
    }

    async function assertAnswers(label: string): Promise<void> {
        for (const s of SERVICES) {
            const name = `${label}${s.suffix}.${DOMAIN}`;
            const address = await stack.resolve(name);
            const r = await httpsGet(name, address, stack.pebble.rootCaPath);
            assert.strictEqual(r.status, 200, `${name}: HTTP ${r.status}`);
            assert.strictEqual(r.body.trim(), `${s.standin} stand-in for customer ${label}`, `${name} answered from the wrong place`);
        }
    }

    /** What a customer left on a host after its delete (container, config, addresses, NGINX, firewall, certificate). */
    async function leftoversOn(host: string, label: string, mqttPort: number): Promise<string> {
        return (await stack.lab.sh(host, `
            c="$1"
            lxc-ls -1 | grep -x -- "$c" || true
            # By content and by name; excepted: its archive, the run wrapper's (empty) flock file
            # and LXC's own empty lock file in /run (a tmpfs).
            { grep -rlF -- "$c" /etc /var/lib/osm /var/lib/lxc /run 2>/dev/null; find /etc /var/lib/osm /var/lib/lxc /run -name "*$c*" 2>/dev/null; } |
              grep -v -e '^/var/lib/osm/archives/' -e "^/var/lib/osm/locks/customer-$c.lock$" -e "^/run/lxc/lock/var/lib/lxc/.$c$" | sort -u || true
            nft list ruleset 2>/dev/null | grep -F -- "$2" || true
        `, label, `dport ${mqttPort}`)).stdout.trim();
    }

    /** The judge of "nothing broke" (issue 10): npm run verify's checks pass on the fleet `current` declares. */
    async function assertVerifies(): Promise<void> {
        const file = path.join(stack.lab.state.dir, "stack", `verify-${crypto.randomBytes(4).toString("hex")}.json`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, JSON.stringify({ customers: currentEntries }));
        const fleet = await labFleet(stack.config(file).config, current);
        const rep = await verifyFleet(labVerifyOptions(stack, fleet, credentialsOf(current)));
        assert.ok(rep.ok, `verify after the change:\n${formatReport(rep)}`);
    }

    /** Later steps need the first deployment; without it they fail at once, saying why. */
    function needFirst(): void {
        if (!first) throw new Error("not run: the first deployment failed (see the first failure)");
    }

    before(async function () {
        stack = await LabStack.start({ id: "e2e", hostNames: ["osm-lab1", "osm-lab2"] });
    });

    // Issue 9: the ten-at-once test runs beside two busy CPU hogs (a shared CI machine), started
    // before it and stopped by PID after it, also when it fails.
    withCpuHogsFor(/10 customers at once/, { beforeEach, afterEach });

    after(async function () {
        if (!stack) return;
        const timing = (re: RegExp) => stack.timings.filter((t) => re.test(t.name) && t.op === "create").map((t) => t.seconds.toFixed(1)).join(" ");
        process.stderr.write(`e2e timings (s): ${JSON.stringify(stack.seconds)}; -container: ${timing(/-container$/)}\n`);
        if (process.env.OSM_LAB_KEEP === "1") {
            unregisterExitTeardown(stack.lab.state.id);
            process.stderr.write(`OSM_LAB_KEEP=1: lab left running (npm run lab -- down --id e2e; PowerDNS stops with this process)\n`);
            return;
        }
        await stack.stop();
    });

    // Alpha Dairy has the fourth name too (mqttWebsocket: MQTT over WebSockets on 443): verify
    // checks its record, certificate and an MQTT session over wss://, also after its move.
    const three: CustomersFileEntry[] = [{ name: "Alpha Dairy", mqttWebsocket: true }, { name: "Bravo Farms" }, { name: "Charlie Greenhouses" }];
    const labels = ["alpha-dairy", "bravo-farms", "charlie-greenhouses"];

    it("carries out every resource the program declares (records, bootstrap, ansible copy, setup, containers)", async () => {
        const t = Date.now();
        currentEntries = three;
        first = await deploy(three);
        current = first;
        stack.seconds.firstDeploy = (Date.now() - t) / 1000;
        const byName = new Map(first.resources.map((r) => [r.name, r]));
        for (const h of stack.lab.hosts) {
            for (const n of [`${h.name}-a`, `${h.name}-bootstrap`, `${h.name}-ansible`, `${h.name}-setup`]) assert.ok(byName.has(n), `${n} carried out`);
        }
        for (const l of labels) {
            for (const n of [`${l}-grafana`, `${l}-influx`, `${l}-chirpstack`, `${l}-container`]) assert.ok(byName.has(n), `${n} carried out`);
            const created = JSON.parse(byName.get(`${l}-container`)!.outputs.stdout.trim().split("\n").pop()!);
            assert.match(created.address, /^\d+\.\d+\.\d+\.\d+$/);
        }
        // Both hosts got customers (placement spreads them), and the playbooks ran on them.
        const used = new Set(Object.values(first.outputs.placements).map((p: any) => p.host));
        assert.deepStrictEqual([...used].sort(), ["osm-lab1", "osm-lab2"]);
        for (const h of stack.lab.hosts) {
            assert.match((await stack.lab.exec(h.name, "cat", ["/etc/ssh/sshd_config.d/osm-accept-env.conf"])).stdout, /AcceptEnv OSM_\*/);
            await stack.lab.exec(h.name, "test", ["-f", "/opt/osm/ansible/host-setup.yml"]);
        }
    });

    it("answers each customer's three names over HTTPS through NGINX from that customer's container", async () => {
        needFirst();
        for (const l of labels) await assertAnswers(l);
        assert.strictEqual(await stack.resolve(`alpha-dairy-mqtt.${DOMAIN}`), await stack.resolve(`alpha-dairy.${DOMAIN}`), "the fourth name leads to its host");
        await assertVerifies();
    });

    it("delivers MQTT over TLS with the customer's credentials to that customer's broker and no other", async () => {
        needFirst();
        const topic = `osm/e2e/${crypto.randomBytes(4).toString("hex")}`;
        const [a, ...others] = labels;
        const message = `reading-${crypto.randomBytes(6).toString("hex")}`;
        // Retained, so each broker can be asked afterwards what it holds on the topic.
        const pub = await mosquitto("mosquitto_pub", await mqttTarget(first, a), ["-t", topic, "-m", message, "-r", "-q", "1"]);
        assert.strictEqual(pub.code, 0, `publish failed: ${pub.stderr}`);
        const got = await mosquitto("mosquitto_sub", await mqttTarget(first, a), ["-t", topic, "-C", "1", "-W", "10"]);
        assert.strictEqual(got.stdout.trim(), message, `${a}'s broker holds the message (${got.stderr})`);
        for (const o of others) {
            const none = await mosquitto("mosquitto_sub", await mqttTarget(first, o), ["-t", topic, "-C", "1", "-W", "3"]);
            assert.strictEqual(none.stdout.trim(), "", `${o}'s broker must not have ${a}'s message`);
            assert.match(none.stderr + none.code, /Timed out|27/, `${o}: subscription worked but stayed empty`);
        }
        // A live subscriber sees a live message too.
        // (Published until the subscriber, connecting in parallel, has received it.)
        let received = false;
        const live = mosquitto("mosquitto_sub", await mqttTarget(first, others[0]), ["-t", `${topic}/live`, "-C", "1", "-W", "20"])
            .finally(() => (received = true));
        const target = await mqttTarget(first, others[0]);
        for (let i = 0; i < 15 && !received; i++) {
            await new Promise((r) => setTimeout(r, 1000));
            if (!received) await mosquitto("mosquitto_pub", target, ["-t", `${topic}/live`, "-m", "live-1", "-q", "1"]);
        }
        assert.strictEqual((await live).stdout.trim(), "live-1");
    });

    it("refuses a wrong MQTT password, and another customer's password", async () => {
        needFirst();
        const [a, b] = labels;
        const wrong = await mosquitto("mosquitto_pub", await mqttTarget(first, a, "not-the-password"), ["-t", "osm/x", "-m", "x"]);
        assert.notStrictEqual(wrong.code, 0);
        assert.match(wrong.stderr, /not authori[sz]ed|Connection Refused/i);
        const crossed = await mosquitto("mosquitto_pub", await mqttTarget(first, a, creds(first, b).mqttPassword), ["-t", "osm/x", "-m", "x"]);
        assert.notStrictEqual(crossed.code, 0, "b's password must not open a's broker");
    });

    it("a Grafana plugin in customers.json reaches that customer's container only, from the stack's plugin mirror, and goes when removed; only its command re-runs", async () => {
        needFirst();
        const [a] = labels;
        const mirror = await PluginMirror.start(stack.lab.state.bridgeAddress, [{ id: "alpha-clock-panel", version: "1.0.0" }]);
        try {
            stack.settings.grafanaPluginSource = mirror.url;
            const placements = current.outputs.placements as Record<string, { host: string }>;
            const pluginDir = async (l: string) =>
                (await stack.lab.sh(placements[l].host, 'lxc-attach -n "$1" -- ls -A /var/lib/grafana/plugins 2>&1 || true', l)).stdout.trim();
            const changed = (d: Deployment) => Object.fromEntries([...planOf(d.steps!)].filter(([, p]) => p !== "same")
                .map(([urn, p]) => [d.resources.find((r) => r.urn === urn)?.name ?? urn.split("::").pop()!, p]));
            const sha = mirror.sha256("alpha-clock-panel", "1.0.0");
            const withPlugin = currentEntries.map((e) => (e.name === "Alpha Dairy" ? { ...e, grafanaPlugins: [{ id: "alpha-clock-panel", version: "1.0.0", sha256: sha }] } : e));
            const added = await deploy(withPlugin, current);
            current = added;
            currentEntries = withPlugin;
            assert.deepStrictEqual(changed(added), { [`${a}-container`]: "update" });
            assert.strictEqual(await pluginDir(a), ".osm-hosting-plugins.json\nalpha-clock-panel");
            for (const l of labels.slice(1)) assert.match(await pluginDir(l), /No such file or directory/, `${l} never has ${a}'s plugin`);
            assert.deepStrictEqual(added.outputs.customers[a].grafanaPlugins, [`alpha-clock-panel@1.0.0@${sha}`]);
            assert.deepStrictEqual(creds(added, a), creds(first, a));
            await assertAnswers(a);
            const without = currentEntries.map(({ grafanaPlugins: _, ...e }) => e);
            const removed = await deploy(without, current);
            current = removed;
            currentEntries = without;
            assert.deepStrictEqual(changed(removed), { [`${a}-container`]: "update" });
            assert.strictEqual(await pluginDir(a), ".osm-hosting-plugins.json");
            assert.deepStrictEqual(mirror.fetched, ["alpha-clock-panel/1.0.0"]);
        } finally {
            await mirror.stop();
        }
    });

    it("creates 10 customers at once on one host, beside two busy CPU hogs: distinct addresses and MACs, consistent /etc/hosts and dnsmasq, nginx -t, all answer", async () => {
        needFirst();
        const ten = Array.from({ length: 10 }, (_, i) => ({ name: `Parallel ${i + 1}`, host: "osm-lab2" }));
        const t = Date.now();
        currentEntries = [...three, ...ten];
        current = await deploy(currentEntries, first);
        stack.seconds.tenConcurrent = (Date.now() - t) / 1000;
        const tenLabels = ten.map((_, i) => `parallel-${i + 1}`);
        const results = tenLabels.map((l) => {
            const r = current.resources.find((x) => x.name === `${l}-container`)!;
            return { label: l, ...JSON.parse(r.outputs.stdout.trim().split("\n").pop()!) } as { label: string; address: string; mac: string };
        });
        assert.strictEqual(new Set(results.map((r) => r.address)).size, 10, "distinct addresses");
        assert.strictEqual(new Set(results.map((r) => r.mac.toLowerCase())).size, 10, "distinct MACs");
        const hosts = (await stack.lab.exec("osm-lab2", "cat", ["/etc/hosts"])).stdout;
        const dnsmasq = (await stack.lab.sh("osm-lab2", "cat /var/lib/osm/network/*hosts* 2>/dev/null || true")).stdout;
        for (const r of results) {
            // ansible/files/osm-address writes "ADDRESS osm-CUSTOMER".
            const lines = hosts.split("\n").filter((l) => l.split(/\s+/).includes(`osm-${r.label}`));
            assert.strictEqual(lines.length, 1, `one /etc/hosts line for ${r.label}`);
            assert.strictEqual(lines[0].split(/\s+/)[0], r.address, `/etc/hosts address of ${r.label}`);
            const d = dnsmasq.split("\n").filter((l) => l.toLowerCase().includes(r.mac.toLowerCase()));
            assert.strictEqual(d.length, 1, `one dnsmasq entry for ${r.label}'s MAC`);
            assert.ok(d[0].includes(r.address), `dnsmasq entry of ${r.label} gives ${r.address}: ${d[0]}`);
        }
        await stack.lab.exec("osm-lab2", "nginx", ["-t", "-q"]);
        for (const l of tenLabels) await assertAnswers(l);
        // The customers there before are untouched.
        for (const l of labels) await assertAnswers(l);
        await assertVerifies();
    });

    it("removing a customer archives its data and leaves nothing else of it on its host", async () => {
        needFirst();
        const victim = "charlie-greenhouses";
        const host = current.outputs.placements[victim].host as string;
        // A marker in the container's data, to find in the archive.
        const marker = `marker-${crypto.randomBytes(6).toString("hex")}`;
        await stack.lab.exec(host, "lxc-attach", ["-n", victim, "--", "sh", "-c", `mkdir -p /srv/osm-e2e && echo ${marker} > /srv/osm-e2e/marker`]);
        const keep = current.outputs.placements;
        const remaining = Object.keys(keep).filter((l) => l !== victim);
        const entries: CustomersFileEntry[] = [
            ...three.filter((c) => c.name !== "Charlie Greenhouses"),
            ...Array.from({ length: 10 }, (_, i) => ({ name: `Parallel ${i + 1}`, host: "osm-lab2" })),
        ];
        currentEntries = entries;
        const next = await deploy(entries, current);
        const removed = await destroyRemoved(current, next, stack.handlers);
        current = next;
        assert.deepStrictEqual(removed.map((r) => r.name).sort(), [`${victim}-chirpstack`, `${victim}-container`, `${victim}-grafana`, `${victim}-influx`].sort());

        // The archive: dated, on the host, holding the container's data.
        const archives = (await stack.lab.sh(host, 'ls -1 /var/lib/osm/archives/ | grep -F -- "$1" || true', victim)).stdout.trim().split("\n").filter(Boolean);
        assert.strictEqual(archives.length, 1, `one archive of ${victim}: ${archives.join(", ")}`);
        assert.match(archives[0], new RegExp(`^${victim}-\\d{8}T?\\d{6}Z?.*\\.tar\\.gz$`));
        // The delete reported that archive's path.
        const reported = stack.deletes.find((d) => d.name === `${victim}-container`);
        assert.ok(reported, "the container's delete ran");
        assert.strictEqual(JSON.parse(reported!.stdout.trim().split("\n").pop()!).archive, `/var/lib/osm/archives/${archives[0]}`);
        const listing = (await stack.lab.sh(host, 'tar -xzOf "/var/lib/osm/archives/$1" --wildcards "*osm-e2e/marker"', archives[0])).stdout.trim();
        assert.strictEqual(listing, marker, "the archive holds the container's data");

        // Nothing else of it: container, config, addresses, NGINX, firewall, certificate, names.
        const leftovers = await leftoversOn(host, victim, keep[victim].mqttPort);
        assert.strictEqual(leftovers, "", `left on ${host} after deleting ${victim}:\n${leftovers}`);
        for (const s of SERVICES) assert.strictEqual((await stack.pdns.dig(`${victim}${s.suffix}.${DOMAIN}`)).status, "NXDOMAIN");
        for (const l of remaining.slice(0, 3)) await assertAnswers(l);
        await assertVerifies();
    });

    it("pinning a customer to another host moves it with its data, credentials and port, while a device publishes throughout: no message lost; the old host keeps only the archive", async () => {
        needFirst();
        const placements = current.outputs.placements as Record<string, { host: string; mqttPort: number }>;
        const hostsOf = (h: string) => Object.values(placements).filter((p) => p.host === h).map((p) => p.mqttPort);
        const other = (h: string) => stack.lab.hosts.map((x) => x.name).find((n) => n !== h)!;
        // One of the first customers whose port is free on the other host (a pin must not clash).
        const mover = labels.slice(0, 2).find((l) => !hostsOf(other(placements[l].host)).includes(placements[l].mqttPort));
        assert.ok(mover, `a customer whose port is free on the other host: ${JSON.stringify(placements)}`);
        const from = placements[mover].host;
        const to = other(from);
        const port = placements[mover].mqttPort;
        const fromAddress = stack.lab.host(from).address;
        const toAddress = stack.lab.host(to).address;
        const marker = `marker-${crypto.randomBytes(6).toString("hex")}`;
        await stack.lab.exec(from, "lxc-attach", ["-n", mover, "--", "sh", "-c", `mkdir -p /srv/osm-e2e && echo ${marker} > /srv/osm-e2e/marker`]);
        const credsBefore = creds(current, mover);

        // A collector's persistent session (QoS 1, clean session off): the broker keeps what is
        // published for it while it is away, in its store, which moves with the data.
        const deviceTopic = `osm/e2e/device/${crypto.randomBytes(4).toString("hex")}`;
        const collectorId = `collector-${crypto.randomBytes(3).toString("hex")}`;
        const session = await mosquitto("mosquitto_sub", await mqttTarget(current, mover), ["-c", "-i", collectorId, "-q", "1", "-t", deviceTopic, "-W", "2"]);
        assert.ok(/Timed out|^$/.test(session.stderr.trim()), `the collector's session on ${from}: ${session.stderr}`);
        // The device publishes to wherever its name resolves, before, during and after the move.
        const device = new DeviceSimulator(() => mqttTarget(current, mover), deviceTopic, `device-${mover}`);
        device.start();
        // A browser whose resolver still has the old host: it asks the old host throughout.
        const stale: { at: number; seen: string }[] = [];
        let browsing = true;
        const browser = (async () => {
            while (browsing) {
                const at = Date.now();
                const seen = await httpsGet(`${mover}.${DOMAIN}`, fromAddress, stack.pebble.rootCaPath)
                    .then((r) => `${r.status} ${r.body.trim()}`, (e: Error) => e.message);
                stale.push({ at, seen });
                await new Promise((r) => setTimeout(r, 1000));
            }
        })();
        await new Promise((r) => setTimeout(r, 2000));

        // The operator's edit: the customers.json entry pins the other host and the same port.
        const entry = currentEntries.find((c) => c.name.toLowerCase().replace(/ /g, "-") === mover);
        assert.ok(entry, `${mover} is among the entries carried out`);
        const moved = currentEntries.map((c) => (c === entry ? { ...c, host: to, mqttPort: port } : c));
        const deletesBefore = stack.deletes.length;
        currentEntries = moved;
        const moveStarted = Date.now();
        let next: Deployment;
        let log: DeviceLog;
        try {
            next = await deploy(moved, current);
        } finally {
            // A little longer, from the new host; stopped also when the move failed.
            await new Promise((r) => setTimeout(r, 2000));
            log = await device.stop();
            browsing = false;
            await browser;
        }
        const moveSeconds = (Date.now() - moveStarted) / 1000;
        const before = current;
        current = next;
        assert.deepStrictEqual(next.outputs.placements[mover], { host: to, mqttPort: port });
        console.log(`      move of ${mover}: ${moveSeconds.toFixed(1)} s in all (the old host forwards for the TTL); ` +
            `longest MQTT gap a device saw ${(log.longestGapMs / 1000).toFixed(1)} s; ${log.acked.length} messages acknowledged, ${log.failures} attempts retried`);
        assert.ok(log.acked.length > 10, `the device published throughout: ${JSON.stringify(log)}`);
        // The same credentials: the outputs, and the device connected with the old ones all along.
        assert.deepStrictEqual(creds(next, mover), credsBefore, "the move keeps the credentials");
        // Every acknowledged message is in the broker's store on the new host, for the collector.
        const drained = await mosquitto("mosquitto_sub", await mqttTarget(next, mover), ["-c", "-i", collectorId, "-q", "1", "-t", deviceTopic, "-W", "10"], 30_000);
        const received = new Set(drained.stdout.split("\n").filter(Boolean).map(Number));
        const lost = log.acked.filter((n) => !received.has(n));
        assert.deepStrictEqual(lost, [], `messages acknowledged but not delivered after the move (${received.size} delivered): ${drained.stderr}`);
        // The file written before the move is in the container on the new host.
        const there = (await stack.lab.exec(to, "lxc-attach", ["-n", mover, "--", "cat", "/srv/osm-e2e/marker"])).stdout.trim();
        assert.strictEqual(there, marker, "the data moved with it");

        // The stale browser: once the new container was up (the old one stopped at the handover),
        // the old host forwarded to the new one, which had to show a certificate for the name
        // from the fleet's CA (proxy_ssl_verify; a failed check answers 502).
        const handedOver = stack.timings.filter((t) => t.name === `${mover}-container` && t.op === "create").pop()!.endedAt;
        const forwarded = stale.filter((x) => x.at > handedOver);
        const grafana = `200 grafana stand-in for customer ${mover}`;
        assert.ok(forwarded.some((x) => x.seen === grafana), `the old host forwarded after the handover: ${JSON.stringify(forwarded.slice(0, 5))}`);
        assert.deepStrictEqual(forwarded.filter((x) => /^5\d\d /.test(x.seen)), [], "no forwarded request failed at the new host's certificate");

        // The plan: its container replaced, its three names updated, all else the same.
        const plans = planOf(next.steps!);
        const name = (urn: string) => next.resources.find((r) => r.urn === urn)?.name ?? urn;
        const changed = Object.fromEntries([...plans].filter(([, p]) => p !== "same").map(([urn, p]) => [name(urn), p]));
        assert.deepStrictEqual(changed, {
            [`${mover}-move-grant`]: "create",
            [`${mover}-container`]: "replace",
            [`${mover}-grafana`]: "update", [`${mover}-influx`]: "update", [`${mover}-chirpstack`]: "update",
            ...(mover === "alpha-dairy" ? { [`${mover}-mqtt`]: "update" } : {}),
        });
        assert.strictEqual(plans.size, before.resources.length + 1, "every resource has its step");
        // In that order: the grant on the old host, the container on the new host (it pulls the
        // data), the names re-pointed, and only then the old one deleted (forwarding, then archived).
        const step = (op: string, res: string) => next.steps!.find((s) => s.op === op && s.name === res);
        const grant = step("create", `${mover}-move-grant`)!;
        const created = step("create-replacement", `${mover}-container`)!;
        const repointed = step("update", `${mover}-grafana`)!;
        const removed = step("delete-replaced", `${mover}-container`)!;
        assert.strictEqual(grant.state.inputs.connection.host, fromAddress, "the grant runs on the old host");
        assert.strictEqual(created.state.inputs.connection.host, toAddress, "created on the new host");
        assert.strictEqual(removed.state.outputs.connection.host, fromAddress, "deleted with its stored connection: the old host");
        assert.ok(grant.seq < created.seq && created.seq < repointed.seq && repointed.seq < removed.seq,
            `grant ${grant.seq} < created ${created.seq} < names ${repointed.seq} < old deleted ${removed.seq}`);

        // From outside: its names lead to the new host, whose NGINX serves its container; MQTT too.
        for (const s of SERVICES) assert.strictEqual(await stack.resolve(`${mover}${s.suffix}.${DOMAIN}`), toAddress);
        await assertAnswers(mover);
        const topic = `osm/e2e/moved/${crypto.randomBytes(4).toString("hex")}`;
        const target = await mqttTarget(next, mover);
        assert.strictEqual(target.address, toAddress);
        const pub = await mosquitto("mosquitto_pub", target, ["-t", topic, "-m", marker, "-r", "-q", "1"]);
        assert.strictEqual(pub.code, 0, `publish to ${mover} on ${to}:${port} failed: ${pub.stderr}`);
        const got = await mosquitto("mosquitto_sub", target, ["-t", topic, "-C", "1", "-W", "10"]);
        assert.strictEqual(got.stdout.trim(), marker, `${mover}'s broker on ${to} holds the message (${got.stderr})`);
        assert.match((await stack.lab.exec(to, "lxc-info", ["-n", mover, "-s"])).stdout, /RUNNING/);

        // On the old host: the archive the delete reported, holding its data, and nothing else of it.
        const reported = stack.deletes.slice(deletesBefore).filter((d) => d.name === `${mover}-container`);
        assert.deepStrictEqual(reported.map((d) => d.host), [fromAddress], "one container delete, on the old host");
        const archive = JSON.parse(reported[0].stdout.trim().split("\n").pop()!).archive as string;
        assert.match(archive, new RegExp(`^/var/lib/osm/archives/${mover}-\\d{8}T?\\d{6}Z?.*\\.tar\\.gz$`));
        await stack.lab.exec(from, "test", ["-f", archive]);
        const archived = (await stack.lab.sh(from, 'tar -xzOf "$1" --wildcards "*osm-e2e/marker"', archive)).stdout.trim();
        assert.strictEqual(archived, marker, "the archive holds the old container's data");
        const leftovers = await leftoversOn(from, mover, port);
        assert.strictEqual(leftovers, "", `left on ${from} after moving ${mover} away:\n${leftovers}`);
        await stack.lab.exec(to, "nginx", ["-t", "-q"]);
        await stack.lab.exec(from, "nginx", ["-t", "-q"]);
        // The others are untouched.
        for (const l of Object.keys(placements).filter((x) => x !== mover).slice(0, 3)) await assertAnswers(l);
        await assertVerifies();

        // The next update (the move is deployed): the grant ends, the container is re-run in place.
        // As pulumi up: the resource the program no longer declares (the grant) is deleted in the same run.
        const after = await deploy(moved, current, { deleteRemoved: true });
        current = after;
        const plans2 = planOf(after.steps!);
        const changed2 = Object.fromEntries([...plans2].filter(([, p]) => p !== "same").map(([urn, p]) => [after.resources.find((r) => r.urn === urn)?.name ?? urn.split("::").pop()!, p]));
        assert.deepStrictEqual(changed2, { [`${mover}-move-grant`]: "delete", [`${mover}-container`]: "update" });
        const keys = (await stack.lab.sh(from, "cat /root/.ssh/authorized_keys 2>/dev/null || true")).stdout;
        assert.doesNotMatch(keys, /osm-move:/, "the old host lets the new one in no more");
        assert.strictEqual((await stack.lab.exec(to, "lxc-attach", ["-n", mover, "--", "cat", "/srv/osm-e2e/marker"])).stdout.trim(), marker);
        assert.deepStrictEqual(creds(after, mover), credsBefore);
        await assertVerifies();
    });
});
