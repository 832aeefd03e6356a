/**
 * Issue 12 item 2: customers the old orchestrator built, adopted in place by the program. On an
 * upstream-style lab host (lab/upstream-host.ts: three `<name>-svr` containers under
 * /srv/osm-lxc/lxc, lxcbr0, upstream's NGINX includes with a certificate per customer, ufw's
 * rules) with upstream's DNS records in PowerDNS, the program is carried out with two of the
 * three in customers.json as `adopt: true` (pinned host and port), while a device publishes to
 * one adopted customer and one that is not, and a browser loads the adopted one's Grafana.
 * Proves: no second container (lxc-ls); the stack's credentials are the ones in each container's
 * passwords.json, and connect; each adopted customer answers on its old port, four names and
 * credentials through the project's NGINX (the host's wildcard certificate), its reading retained
 * before still there; upstream's include files for it are taken away (kept for the way back); the
 * neighbour keeps its own; neither device nor browser sees a failure; the nightly backup (the stack
 * has one, on a lab backup server) reads each adopted customer from its upstream layout, frozen;
 * verify passes for the adopted customers and names the unadopted container on the host. A second
 * run changes nothing. A label with the project's own container beside the old one is refused,
 * naming both; one with only its own is left to it. Deleting an adopted customer archives its data from its upstream layout
 * (into the backup repository too) and removes its container.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { CustomersFileEntry } from "../../components/customers";
import { BrowserSimulator, DeviceLog, DeviceSimulator } from "../../lab/device";
import { CarryOutError, Deployment, planOf } from "../../lab/executor";
import { run } from "../../lab/lab-exec";
import { LAB_DOMAIN, LabStack } from "../../lab/lab-stack";
import { ensureBase } from "../../lab/base";
import { httpsGet, mosquitto, MqttTarget } from "../../lab/outside";
import { buildUpstreamHost, UpstreamCustomer, UpstreamHost, upstreamNames } from "../../lab/upstream-host";
import { deployConfig, labFleet, labStackConfig, labVerifyOptions } from "../../lab/verify-stack";
import { formatReport } from "../../scripts/lib/verify/report";
import { verifyFleet } from "../../scripts/lib/verify/run";
import { unwrapSecrets } from "../../scripts/lib/engine";
import { connect, execOn } from "../../lab/remote";
import { hostContract } from "../../components/contract";
import { prepareBackupServer, resticOnHost, runBackupService, withBackup } from "../../lab/backup-server";
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (the program)
const program: () => Promise<any> = require("../../index");

const HOST = "osm-ad1";
/** The fleet's backup server (a lab host outside the stack's hosts). */
const BK = "osm-adbk";
const ADOPTED = ["quayside", "millbrook"];
const NEIGHBOUR = "northfield";

describe("adopting the old orchestrator's customers in place (issue 12 item 2)", function () {
    this.timeout(900_000);
    let stack: LabStack;
    let upstream: UpstreamHost;
    let current: Deployment | undefined;
    let config: Record<string, string>;
    let address: string;
    let bothCas: string;
    const figures: string[] = [];

    const customer = (name: string): UpstreamCustomer => upstream.customers.find((c) => c.name === name)!;
    const entry = (name: string): CustomersFileEntry => ({ name, host: HOST, mqttPort: customer(name).mqttPort, adopt: true });
    const mqtt = (c: UpstreamCustomer, caFile: string, password = c.passwords.mqtt_password): MqttTarget => ({
        name: `${c.label}.${LAB_DOMAIN}`, port: c.mqttPort, address, caFile, username: c.passwords.mqtt_user, password,
    });
    const inHost = async (script: string, ...args: string[]) => (await stack.lab.sh(HOST, script, ...args)).stdout;

    async function deploy(names: string[]): Promise<Deployment> {
        const c = labStackConfig(stack, names.map(entry), [{ name: HOST, capacity: 10 }, { name: BK, capacity: 1, removed: true }]);
        withBackup(stack, c, BK, "adopt-lab-repository-password", { daily: 2, weekly: 1, monthly: 1 });
        // The host as `npm run import` gives it: adopted (its A record), the neighbour's port reserved.
        const hosts = JSON.parse(c.config["osm-hosting:hosts"]) as Record<string, unknown>[];
        c.config["osm-hosting:hosts"] = JSON.stringify(hosts.map((h) => ({ ...h, adopt: true, reservedMqttPorts: [customer(NEIGHBOUR).mqttPort] })));
        try {
            current = await deployConfig(stack, program, c, current, { deleteRemoved: true });
            config = c.config;
            return current;
        } catch (e) {
            if (e instanceof CarryOutError) current = e.deployment;
            throw e;
        }
    }

    function changed(d: Deployment): Record<string, string> {
        const name = (urn: string) => d.resources.find((r) => r.urn === urn)?.name ?? urn.split("::").pop()!;
        return Object.fromEntries([...planOf(d.steps!)].filter(([, p]) => p !== "same").map(([urn, p]) => [name(urn), p]));
    }

    const exists = async (file: string) => (await inHost('[ -e "$1" ] && echo yes || echo no', file)).trim() === "yes";
    /** lxc-ls's names on the host. */
    const containers = async () => (await inHost("lxc-ls -1")).split(/\s+/).filter(Boolean).sort();

    before(async function () {
        const t0 = Date.now();
        stack = await LabStack.start({ id: "test-adopt", hostNames: [HOST, BK] });
        await prepareBackupServer(stack.lab, BK);
        address = stack.lab.host(HOST).address;
        upstream = await buildUpstreamHost(stack.lab, HOST, {
            domain: LAB_DOMAIN, basePath: (await ensureBase()).path,
            customers: [{ name: "quayside", mqttPort: 8931 }, { name: "millbrook", mqttPort: 8962 }, { name: NEIGHBOUR, mqttPort: 8990 }],
        });
        // Upstream's records, as the old orchestrator wrote them (TTL 1800): the host's A record and four CNAMEs per customer.
        const fqdn = `${HOST}.${LAB_DOMAIN}.`;
        await stack.pdns.setRrset(fqdn, "A", 1800, [address]);
        for (const c of upstream.customers) {
            for (const n of upstreamNames()) await stack.pdns.setRrset(`${c.label}${n.suffix}.${LAB_DOMAIN}.`, "CNAME", 1800, [fqdn]);
        }
        // Devices trust the CAs of both certificates (in production both are Let's Encrypt's).
        bothCas = path.join(stack.lab.state.dir, "adopt-cas.pem");
        fs.writeFileSync(bothCas, fs.readFileSync(upstream.caFile, "utf8") + fs.readFileSync(stack.pebble.rootCaPath, "utf8"));
        for (const c of upstream.customers) {
            const r = await mosquitto("mosquitto_pub", mqtt(c, upstream.caFile), ["-t", `readings/${c.name}`, "-m", `before-${c.name}`, "-q", "1", "-r"]);
            assert.strictEqual(r.code, 0, `${c.name}: ${r.stderr}`);
        }
        figures.push(`lab, DNS, ACME and the upstream host with 3 customers: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
    after(async () => {
        if (figures.length) process.stdout.write(`\n      adoption figures:\n${figures.map((t) => `        ${t}`).join("\n")}\n`);
        if (stack) await stack.stop();
    });

    it("one update adopts two customers in place while a device and a browser see no failure, the neighbour's device neither", async () => {
        const devices = [customer("quayside"), customer(NEIGHBOUR)].map((c) =>
            ({ c, sim: new DeviceSimulator(async () => mqtt(c, bothCas), `readings/${c.name}/live`, `adopt-device-${c.name}`, 100) }));
        const browser = new BrowserSimulator(async () => ({ name: `quayside.${LAB_DOMAIN}`, address: address, caFile: bothCas }), /grafana stand-in for customer quayside-svr/);
        browser.start();
        for (const d of devices) d.sim.start();
        await new Promise((r) => setTimeout(r, 1000));
        const t0 = Date.now();
        let failure: unknown;
        await deploy(ADOPTED).catch((e) => { failure = e; });
        const seconds = (Date.now() - t0) / 1000;
        await new Promise((r) => setTimeout(r, 1000));
        const logs: [string, DeviceLog][] = [];
        for (const d of devices) logs.push([d.c.name, await d.sim.stop(10_000)]);
        const pages = await browser.stop();
        if (failure) throw failure;
        figures.push(`the update that adopts 2 customers (host set-up included): ${seconds.toFixed(1)} s; browser: ${pages.ok} pages, ${pages.failed.length} failed`);
        for (const [name, log] of logs) {
            figures.push(`device of ${name}: ${log.acked.length} messages acknowledged, ${log.failures} failed attempts, longest gap ${log.longestGapMs} ms`);
            assert.strictEqual(log.abandoned, undefined, `${name}'s device was cut off: message ${log.abandoned} never got through (${log.errors.join("; ")})`);
            assert.strictEqual(log.failures, 0, `${name}'s device saw failures: ${log.errors.join("; ")}`);
            assert.ok(log.acked.length >= 10, `${name}: too few messages: ${log.acked.length}`);
            assert.ok(log.longestGapMs < 3000, `${name}'s device saw a gap of ${log.longestGapMs} ms`);
        }
        assert.deepStrictEqual(pages.failed, [], "no page failed during the adoption");
        assert.ok(pages.ok >= 5);
    });

    it("no second container; the stack's credentials are each container's passwords.json", async () => {
        assert.deepStrictEqual(await containers(), ["millbrook-svr", "northfield-svr", "quayside-svr"]);
        assert.ok(await exists(`/etc/letsencrypt/renewal/${NEIGHBOUR}.${LAB_DOMAIN}.conf`), "the neighbour's renewal untouched");
        for (const name of ADOPTED) {
            const c = customer(name);
            assert.deepStrictEqual(current!.outputs.customers[c.label].credentials, {
                mqttUsername: c.passwords.mqtt_user, mqttPassword: c.passwords.mqtt_password,
                grafanaAdminPassword: c.passwords.grafana_admin_password, influxToken: c.passwords.influx_token,
            }, `${name}'s credentials in the stack's outputs`);
            // certbot no longer renews its old lineage (kept for the way back); its certificate stays.
            const lineage = `${c.label}.${LAB_DOMAIN}`;
            assert.ok(!(await exists(`/etc/letsencrypt/renewal/${lineage}.conf`)), `certbot still renews ${lineage}`);
            assert.ok(await exists(`/var/lib/osm/containers/${c.label}/upstream-certbot/${lineage}.conf`), `${lineage}'s renewal config kept`);
            assert.ok(await exists(`/etc/letsencrypt/live/${lineage}/fullchain.pem`), `${lineage}'s certificate kept`);
            const record = JSON.parse(await inHost('cat "/var/lib/osm/containers/$1/adopted.json"', c.label));
            assert.strictEqual(record.container, c.container);
            assert.strictEqual(record.address, c.address);
        }
    });

    it("each adopted customer answers through the project's NGINX on its old port, names and credentials, its retained reading there; the neighbour on upstream's", async () => {
        const pebbleCa = stack.pebble.rootCaPath;
        for (const name of ADOPTED) {
            const c = customer(name);
            // Only the project's certificate (pebble's CA) is accepted here: upstream's file is gone.
            const r = await mosquitto("mosquitto_sub", mqtt(c, pebbleCa), ["-t", `readings/${c.name}`, "-C", "1", "-W", "5"]);
            assert.strictEqual(r.code, 0, `${c.name}: ${r.stderr}`);
            assert.strictEqual(r.stdout.trim(), `before-${c.name}`, `${c.name}'s retained reading`);
            const bad = await mosquitto("mosquitto_pub", mqtt(c, pebbleCa, "not-the-password"), ["-t", "x", "-m", "x"]);
            assert.notStrictEqual(bad.code, 0, "a wrong password is refused");
            for (const n of upstreamNames()) {
                const host = `${c.label}${n.suffix}.${LAB_DOMAIN}`;
                if (n.port === 9001) {
                    const ws = await run("curl", ["-sS", "-i", "--max-time", "1.5", "--http1.1", "--resolve", `${host}:443:${address}`, "--cacert", pebbleCa,
                        "-H", "Connection: Upgrade", "-H", "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13",
                        "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "-H", "Sec-WebSocket-Protocol: mqtt", `https://${host}/`], { allowFail: true });
                    assert.match(ws.stdout, /^HTTP\/1\.1 101 /m, `${host}: ${ws.stdout} ${ws.stderr}`);
                    continue;
                }
                const page = await httpsGet(host, address, pebbleCa);
                assert.strictEqual(page.status, 200, host);
                assert.match(page.body, new RegExp(`stand-in for customer ${c.container}`), host);
            }
        }
        const files = await inHost("ls /etc/nginx/devtank/customers.http.d /etc/nginx/devtank/customers.stream.d; ls -R /etc/osm/upstream-nginx-adopted");
        assert.match(files, /customers\.http\.d:\nnorthfield\.conf\n/, files);
        assert.match(files, /customers\.stream\.d:\nnorthfield\.conf\n/, files);
        for (const name of ADOPTED) assert.match(files, new RegExp(`upstream-nginx-adopted/${name}/customers\\.stream\\.d:\\n${name}\\.conf`), files);
        const n = customer(NEIGHBOUR);
        const r = await mosquitto("mosquitto_sub", mqtt(n, upstream.caFile), ["-t", `readings/${n.name}`, "-C", "1", "-W", "5"]);
        assert.strictEqual(r.stdout.trim(), `before-${n.name}`, `${n.name} still on upstream's files: ${r.stderr}`);
    });

    it("the nightly backup reads an adopted customer from its upstream layout (its container frozen, running after), without snapper's snapshots", async () => {
        const c = customer("quayside");
        const dir = `/srv/osm-lxc/lxc/containers/${c.container}`;
        // A snapper snapshot in its folder: a copy of its data, neither backed up nor archived.
        await inHost('mkdir -p "$1/.snapshots/1" && echo copy > "$1/.snapshots/1/snapshot-copy"', dir);
        const r = await runBackupService(stack.lab, HOST);
        assert.strictEqual(r.code, 0, r.stderr);
        for (const name of ADOPTED) assert.match(r.stderr, new RegExp(`^osm-backup: customer ${name}: snapshot [0-9a-f]{8} `, "m"), r.stderr);
        assert.doesNotMatch(r.stderr, new RegExp(NEIGHBOUR), "a container no customer owns is not backed up");
        const snaps = await resticOnHost(stack.lab, HOST, ["snapshots", "--json", "--tag", "osm-data,customer=quayside"]);
        assert.strictEqual(snaps.code, 0, snaps.stderr);
        const [snap] = JSON.parse(snaps.stdout);
        const ls = await resticOnHost(stack.lab, HOST, ["ls", snap.short_id]);
        assert.strictEqual(ls.code, 0, ls.stderr);
        const files = new Set(ls.stdout.split("\n"));
        for (const f of [`${dir}/rootfs-layer/root/passwords.json`, `${dir}/rootfs-layer/etc/mosquitto/passwd`, `${dir}/lxc.container.conf`, "/var/lib/osm/containers/quayside/credentials.json"]) {
            assert.ok(files.has(f), `${f} in snapshot ${snap.short_id}`);
        }
        assert.ok(![...files].some((f) => f.startsWith(`${dir}/.snapshots/1`)), "snapper's snapshots are left out");
        assert.strictEqual((await inHost('lxc-info -n "$1" -sH', c.container)).trim(), "RUNNING", "thawed after");
    });

    it("verify passes for the adopted customers (their backups too) and names the container the stack does not own yet", async () => {
        const creds = Object.fromEntries(ADOPTED.map((name) => [name, { mqttUsername: customer(name).passwords.mqtt_user, mqttPassword: customer(name).passwords.mqtt_password }]));
        const rep = await verifyFleet(labVerifyOptions(stack, await labFleet(config, current!), creds));
        const failed = rep.results.filter((r) => r.status === "fail");
        assert.deepStrictEqual(failed.filter((r) => r.subject === "customer").map((r) => `${r.name}/${r.check}`), [], formatReport(rep));
        const hostProblems = failed.flatMap((r) => r.findings.map((f) => f.problem)).join("\n");
        assert.match(hostProblems, /container northfield-svr \(running\) no customer owns/, formatReport(rep));
        assert.doesNotMatch(hostProblems, /quayside|millbrook/, formatReport(rep));
    });

    it("a second run changes nothing", async () => {
        const before = await inHost("find /var/lib/osm/containers/quayside /etc/nginx/osm /etc/osm/upstream-nginx-adopted -type f -printf '%p %s %T@\\n' | sort");
        const d = await deploy(ADOPTED);
        assert.deepStrictEqual(changed(d), {}, "every resource the same");
        // And the playbook itself, run again as its command runs it (a later playbook change re-runs it): no change on the host.
        const stored = d.resources.find((r) => r.name === "quayside-container")!;
        const { environment, create } = unwrapSecrets(stored.inputs) as { environment: Record<string, string>; create: string };
        const h = stack.lab.host(HOST);
        const client = await connect("customer.yml again", { host: h.address, port: h.sshPort, user: "root", privateKey: stack.lab.privateKey(), hostKey: h.hostKey });
        try {
            const again = await execOn(client, create, environment);
            assert.strictEqual(again.code, 0, again.stderr.slice(-3000));
            assert.match(again.stderr, /changed=0\b/, `the playbook run again changed something:\n${again.stderr.slice(-3000)}`);
            assert.strictEqual(JSON.parse(again.stdout).mqttPassword, customer("quayside").passwords.mqtt_password);
        } finally {
            client.end();
        }
        assert.strictEqual(await inHost("find /var/lib/osm/containers/quayside /etc/nginx/osm /etc/osm/upstream-nginx-adopted -type f -printf '%p %s %T@\\n' | sort"), before);
    });

    it("osm-adopt refuses a customer with the project's own container beside the old orchestrator's, naming both, and leaves one served by its own to it", async () => {
        const n = customer(NEIGHBOUR);
        const adopt = (label: string, container: string) => stack.lab.exec(HOST, "/usr/bin/python3", [`${hostContract().remoteRoot}/ansible/files/osm-adopt`, "take", label, container], undefined, { allowFail: true });
        const made: string[] = [];
        // A container config of the project's own for a label (as a release before adoption in place made one).
        const own = async (label: string) => {
            made.push(label);
            await inHost('mkdir -p "/var/lib/lxc/$1" && printf "lxc.uts.name = %s\\n" "$1" > "/var/lib/lxc/$1/config"', label);
        };
        const traces = (label: string) => inHost('ls -d "/var/lib/osm/containers/$1" 2>/dev/null || true', label);
        try {
            await own(n.label);
            const both = await adopt(n.label, n.container);
            assert.notStrictEqual(both.code, 0, both.stdout);
            assert.match(both.stderr, new RegExp(`customer ${n.label} has a container of this project's own \\(/var/lib/lxc/${n.label}\\) and the old orchestrator's ${n.container} \\(/srv/osm-lxc/lxc/containers/${n.container}\\)`), both.stderr);
            assert.strictEqual((await traces(n.label)).trim(), "", "nothing imported or recorded");
            await own("ownco");
            const mine = await adopt("ownco", "ownco-svr");
            assert.strictEqual(mine.code, 0, mine.stderr);
            assert.deepStrictEqual(JSON.parse(mine.stdout.trim().split("\n").pop()!), { adopted: false }, "its own container keeps serving it");
            assert.strictEqual((await traces("ownco")).trim(), "");
        } finally {
            for (const label of made) await inHost('rm -rf "/var/lib/lxc/$1"', label);
        }
        const r = await mosquitto("mosquitto_sub", mqtt(n, upstream.caFile), ["-t", `readings/${n.name}`, "-C", "1", "-W", "5"]);
        assert.strictEqual(r.stdout.trim(), `before-${n.name}`, `${n.name} untouched: ${r.stderr}`);
    });

    it("deleting an adopted customer archives its data from its upstream layout and removes its container; the others keep answering", async () => {
        const c = customer("quayside");
        await deploy(["millbrook"]);
        const result = stack.deletes.map((x) => x.stdout).find((s) => /"archive"/.test(s) && /quayside/.test(s));
        assert.ok(result, `the delete's result names its archive: ${JSON.stringify(stack.deletes)}`);
        const archive = JSON.parse(result!.trim().split("\n").pop()!).archive as string;
        const listing = await inHost('tar -tzf "$1"', archive);
        assert.match(listing, /^quayside-svr\/rootfs-layer\/root\/passwords\.json$/m, "its data from the upstream layout");
        assert.match(listing, /^quayside-svr\/lxc\.container\.conf$/m);
        assert.match(listing, /^quayside\/credentials\.json$/m);
        assert.doesNotMatch(listing, /\.snapshots\/./);
        const stored = await resticOnHost(stack.lab, HOST, ["snapshots", "--json", "--tag", "osm-archive,customer=quayside"]);
        assert.strictEqual(JSON.parse(stored.stdout).length, 1, `its archive stored in the backup repository: ${stored.stderr}`);
        const gone = await inHost(`
            [ -e "/srv/osm-lxc/lxc/containers/$1" ] && echo dir-left
            grep -q "$1" /etc/hosts && echo hosts-left
            grep -qi "$3" /etc/lxc/dnsmasq.conf && echo dnsmasq-left
            [ -e "/var/lib/osm/containers/$2" ] && echo data-left
            [ -e "/etc/nginx/osm/stream/$2.conf" ] && echo nginx-left
            true`, c.container, c.label, c.mac);
        assert.strictEqual(gone.trim(), "");
        assert.deepStrictEqual(await containers(), ["millbrook-svr", "northfield-svr"]);
        for (const part of ["live", "archive"]) {
            assert.ok(!(await exists(`/etc/letsencrypt/${part}/quayside.${LAB_DOMAIN}`)), `its old lineage's ${part}/ removed`);
            assert.ok(await exists(`/etc/letsencrypt/${part}/millbrook.${LAB_DOMAIN}`), `millbrook's ${part}/ kept`);
        }
        for (const name of ["millbrook", NEIGHBOUR]) {
            const o = customer(name);
            const r = await mosquitto("mosquitto_sub", mqtt(o, bothCas), ["-t", `readings/${o.name}`, "-C", "1", "-W", "5"]);
            assert.strictEqual(r.stdout.trim(), `before-${o.name}`, `${o.name}: ${r.stderr}`);
        }
    });
});
