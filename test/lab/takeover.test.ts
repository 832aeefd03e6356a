/**
 * Taking over a host the old orchestrator built (issue 12 item 3): on an upstream-style lab
 * host (lab/upstream-host.ts: three `<name>-svr` containers under /srv/osm-lxc/lxc, lxcbr0 with
 * its dnsmasq, upstream's NGINX includes and per-customer certificates, ufw's rules, a
 * WireGuard tunnel's configuration), the project's host set-up runs once, as the program runs
 * it (bootstrap, then `/opt/osm/ansible/run host-setup.yml` over SSH), while a device keeps
 * publishing to one of the customers and a browser keeps loading its Grafana. Proves: no
 * published message fails and no page fails during the set-up; afterwards every upstream
 * customer still answers on its old MQTT port with its old credentials and certificate, and on
 * its four HTTPS names; a reading retained before is still in its broker's store; the containers
 * still get DHCP and DNS from lxcbr0's dnsmasq through the new firewall; the firewall keeps
 * ufw's ports and the WireGuard port, and opens the monitoring ports on the tunnel only; the
 * network script run again changes nothing.
 */
import * as assert from "assert";
import * as path from "path";
import { BOOTSTRAP_SCRIPT } from "../../components/host";
import { playbook as playbookCommand } from "../../components/remote";
import { ensureBase } from "../../lab/base";
import { BrowserSimulator, DeviceSimulator } from "../../lab/device";
import { Lab, REPO_ROOT, stopLab } from "../../lab/hosts";
import { run, waitFor } from "../../lab/lab-exec";
import { httpsGet, mosquitto, MqttTarget } from "../../lab/outside";
import { PowerDnsLab, startPowerDns } from "../../lab/pdns-server";
import { Pebble, startPebble } from "../../lab/pebble";
import { acmeChallengeZone, AcmeDns } from "../../lab/lab-stack";
import { Connection, connect, execOn } from "../../lab/remote";
import { buildUpstreamHost, UpstreamCustomer, UpstreamHost, upstreamNames, UPSTREAM_WIREGUARD_PORT } from "../../lab/upstream-host";

const HOST = "osm-up1";
const DOMAIN = "osm.example.test";

describe("taking over an upstream-built host (host set-up keeps its customers served)", function () {
    this.timeout(300_000);
    let lab: Lab;
    let dns: PowerDnsLab | undefined;
    let pebble: Pebble;
    let acmeDns: AcmeDns;
    let upstream: UpstreamHost;
    let address: string;
    const timings: string[] = [];

    const conn = (): Connection => {
        const h = lab.host(HOST);
        return { host: h.address, port: h.sshPort, user: "root", privateKey: lab.privateKey(), hostKey: h.hostKey, dialErrorLimit: 5, perDialTimeout: 10 };
    };
    const hostEnv = (): Record<string, string> => ({
        OSM_HOST_NAME: HOST, OSM_DOMAIN: DOMAIN, OSM_ACME_SERVER: pebble.directoryUrl, OSM_ACME_EMAIL: "ops@example.test",
        OSM_ACME_CA_BUNDLE: pebble.hostCaBundlePath, OSM_ACME_DNS_SERVER: acmeDns.dnsServer, OSM_ACME_DNS_PORT: String(acmeDns.dnsPort),
        OSM_ACME_DNS_PROPAGATION_SECONDS: "0", OSM_ACME_TSIG_KEY: acmeDns.tsigKey, OSM_ACME_TSIG_ALGORITHM: acmeDns.tsigAlgorithm,
        OSM_ACME_TSIG_SECRET: acmeDns.tsigSecret,
    });
    const mqtt = (c: UpstreamCustomer, password = c.passwords.mqtt_password): MqttTarget => ({
        name: `${c.label}.${DOMAIN}`, port: c.mqttPort, address, caFile: upstream.caFile, username: c.passwords.mqtt_user, password,
    });
    const inHost = async (script: string, ...args: string[]) => (await lab.sh(HOST, script, ...args)).stdout;
    const customer = (name: string) => upstream.customers.find((c) => c.name === name)!;

    before(async function () {
        const t0 = Date.now();
        const base = await ensureBase();
        lab = await Lab.start({ id: "test-takeover", hostNames: [HOST], basePath: base.path, teardownOnExit: true });
        address = lab.host(HOST).address;
        dns = await startPowerDns({ zone: DOMAIN, updatesOn: [lab.state.bridgeAddress] });
        acmeDns = await acmeChallengeZone(dns, lab, DOMAIN);
        pebble = await startPebble(lab, { dnsServer: `127.0.0.1:${dns.dnsPort}` });
        upstream = await buildUpstreamHost(lab, HOST, {
            domain: DOMAIN, basePath: base.path,
            customers: [{ name: "quayside", mqttPort: 8931 }, { name: "millbrook", mqttPort: 8962 }, { name: "northfield", mqttPort: 8990 }],
        });
        // What CopyToRemote does (modes dropped), then the program's bootstrap.
        await lab.sh(HOST, 'mkdir -p /opt/osm && rm -rf /opt/osm/ansible && cp -r --no-preserve=mode "$1" /opt/osm/ansible && find /opt/osm/ansible -type f -exec chmod 0644 {} +', path.join(REPO_ROOT, "ansible"));
        const client = await connect("bootstrap", conn());
        try {
            const b = await execOn(client, BOOTSTRAP_SCRIPT, undefined);
            assert.strictEqual(b.code, 0, b.stderr);
        } finally {
            client.end();
        }
        timings.push(`lab, DNS, ACME and the upstream host with 3 customers: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
    after(async () => {
        if (timings.length) process.stdout.write(`\n      takeover timings:\n${timings.map((t) => `        ${t}`).join("\n")}\n`);
        if (lab) await stopLab(lab);
        if (dns) await dns.stop();
    });

    it("the upstream host serves its customers (MQTT on their ports, old credentials; a wrong password is refused)", async () => {
        for (const c of upstream.customers) {
            // The reading that must survive: retained, QoS 1, in the broker's store.
            const r = await mosquitto("mosquitto_pub", mqtt(c), ["-t", `readings/${c.name}`, "-m", `before-${c.name}`, "-q", "1", "-r"]);
            assert.strictEqual(r.code, 0, `${c.name}: ${r.stderr}`);
        }
        const bad = await mosquitto("mosquitto_pub", mqtt(customer("quayside"), "not-the-password"), ["-t", "x", "-m", "x"]);
        assert.notStrictEqual(bad.code, 0, "a wrong password is refused");
        const page = await httpsGet(`quayside.${DOMAIN}`, address, upstream.caFile);
        assert.strictEqual(page.status, 200);
        assert.match(page.body, /grafana stand-in for customer quayside-svr/);
    });

    it("host set-up keeps every upstream customer served: a device and a browser see no failure throughout", async () => {
        const neighbour = customer("northfield");
        const device = new DeviceSimulator(async () => mqtt(neighbour), `readings/${neighbour.name}/live`, "takeover-device", 100);
        const browser = new BrowserSimulator(async () => ({ name: `${neighbour.label}.${DOMAIN}`, address: address, caFile: upstream.caFile }), /grafana stand-in/);
        browser.start();
        device.start();
        await new Promise((r) => setTimeout(r, 1000));
        const t0 = Date.now();
        const client = await connect("host-setup", conn());
        let setup;
        try {
            setup = await execOn(client, playbookCommand("host-setup.yml"), hostEnv());
        } finally {
            client.end();
        }
        const seconds = (Date.now() - t0) / 1000;
        await new Promise((r) => setTimeout(r, 1000));
        // A device cut off by the set-up would retry for ever: give its message up after 10 s.
        const log = await device.stop(10_000);
        const pages = await browser.stop();
        assert.strictEqual(setup.code, 0, `host-setup.yml failed:\n${setup.stderr.slice(-3000)}`);
        timings.push(`host set-up on the upstream host: ${seconds.toFixed(1)} s; device: ${log.acked.length} messages acknowledged, ` +
            `${log.failures} failed attempts, longest gap ${log.longestGapMs} ms; browser: ${pages.ok} pages, ${pages.failed.length} failed`);
        assert.strictEqual(log.abandoned, undefined, `the device was cut off: message ${log.abandoned} never got through after host set-up (${log.errors.join("; ")})`);
        assert.strictEqual(log.failures, 0, `the device saw failures during host set-up: ${log.errors.join("; ")}`);
        assert.ok(log.acked.length >= 10, `too few messages: ${log.acked.length}`);
        assert.ok(log.longestGapMs < 3000, `the device saw a gap of ${log.longestGapMs} ms`);
        assert.deepStrictEqual(pages.failed, [], "no page failed during host set-up");
        assert.ok(pages.ok >= 5);
        // Host set-up did its own part: its bridge, firewall, NGINX config with both layouts.
        const state = await inHost(`
            ip -br addr show dev osmbr0
            grep -E 'include .*(devtank|osm)/' /etc/nginx/nginx.conf
            kill -0 "$(cat /run/nginx.pid)" && echo nginx-running`);
        assert.match(state, /osmbr0 .*10\.118\.0\.1\/16/);
        for (const inc of ["/etc/nginx/osm/http/", "/etc/nginx/osm/stream/", "/etc/nginx/devtank/customers.http.d/", "/etc/nginx/devtank/services/",
            "/etc/nginx/devtank/customers.stream.d/"]) assert.ok(state.includes(`include ${inc}*.conf;`), `nginx.conf includes ${inc}: ${state}`);
        assert.match(state, /nginx-running/);
        // The way back: upstream's own nginx.conf, kept before it was replaced.
        const saved = await inHost("cat /etc/osm/upstream-nginx.conf");
        assert.match(saved, /include \/etc\/nginx\/devtank\/customers\.stream\.d\/\*\.conf;/);
        assert.doesNotMatch(saved, /\/etc\/nginx\/osm\//);
    });

    it("afterwards every upstream customer answers on its old port, credentials, certificate and four names, and its retained reading is still there", async () => {
        for (const c of upstream.customers) {
            const r = await mosquitto("mosquitto_sub", mqtt(c), ["-t", `readings/${c.name}`, "-C", "1", "-W", "5"]);
            assert.strictEqual(r.code, 0, `${c.name}: ${r.stderr}`);
            assert.strictEqual(r.stdout.trim(), `before-${c.name}`, `${c.name}'s retained reading`);
            for (const n of upstreamNames()) {
                const name = `${c.label}${n.suffix}.${DOMAIN}`;
                if (n.port === 9001) {
                    // MQTT over WebSockets: the upgrade for the mqtt subprotocol is answered by Mosquitto (101).
                    const r = await run("curl", ["-sS", "-i", "--max-time", "1.5", "--http1.1", "--resolve", `${name}:443:${address}`, "--cacert", upstream.caFile,
                        "-H", "Connection: Upgrade", "-H", "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13",
                        "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "-H", "Sec-WebSocket-Protocol: mqtt", `https://${name}/`], { allowFail: true });
                    assert.match(r.stdout, /^HTTP\/1\.1 101 /m, `${name}: ${r.stdout} ${r.stderr}`);
                    continue;
                }
                const page = await httpsGet(name, address, upstream.caFile);
                assert.strictEqual(page.status, 200, name);
                assert.match(page.body, new RegExp(`stand-in for customer ${c.container}`), name);
            }
        }
    });

    it("the firewall keeps ufw's ports, lxcbr0's DHCP and DNS, WireGuard, and the monitoring ports on the tunnel only", async () => {
        const rules = await inHost("nft list table inet osm");
        for (const c of upstream.customers) assert.match(rules, new RegExp(`meta nfproto ipv4 tcp dport ${c.mqttPort} accept`), `ufw's port ${c.mqttPort}`);
        assert.match(rules, /iifname "lxcbr0" udp dport \{ 53, 67 \} accept/);
        assert.match(rules, new RegExp(`udp dport ${UPSTREAM_WIREGUARD_PORT} accept`));
        assert.match(rules, /iifname "wg0" tcp dport \{ 9100, 19999 \} accept/);
        // From inside a container: a DHCP exchange with lxcbr0's dnsmasq, and its DNS.
        const c = customer("millbrook");
        const inside = await inHost(`
            lxc-attach -n "$1" -- busybox udhcpc -i eth0 -n -q -f -s /bin/true 2>&1 | tail -3
            lxc-attach -n "$1" -- busybox nslookup -type=a "$2" 10.0.3.1 2>&1`, c.container, customer("quayside").container);
        assert.match(inside, /lease of 10\.0\.3\.12 obtained|obtained.*10\.0\.3\.12/, `DHCP from lxcbr0's dnsmasq: ${inside}`);
        assert.match(inside, new RegExp(`Address:? .*${customer("quayside").address.replace(/\./g, "\\.")}`), `DNS: ${inside}`);
        // A stand-in node exporter on the host: not open to the lab network (only the tunnel may reach it).
        const pid = (await inHost('busybox httpd -f -p 9100 -h /etc/osm </dev/null >/dev/null 2>&1 & echo $!')).trim();
        assert.match(pid, /^\d+$/);
        try {
            await waitFor("the stand-in exporter on :9100", async () => (await lab.sh(HOST, "ss -Htln 'sport = :9100' | grep -q LISTEN").then(() => true, () => false)), 5000, 100);
            const probe = await run("timeout", ["2", "bash", "-c", `</dev/tcp/${address}/9100`], { allowFail: true });
            assert.notStrictEqual(probe.code, 0, "9100 is not open to the lab network");
        } finally {
            await inHost('kill "$1"', pid);
        }
    });

    it("the network script run again changes nothing", async () => {
        const again = await inHost("bash /opt/osm/ansible/files/osm-net up");
        assert.strictEqual(again.trim(), "", `osm-net up changed something: ${again}`);
    });

    it("going back as README says (upstream's nginx.conf, the project's tables and bridge removed): every customer still answers", async () => {
        await inHost(`
            set -e
            cp /etc/osm/upstream-nginx.conf /etc/nginx/nginx.conf
            nginx -t -q && nginx -s reload
            nft delete table inet osm
            nft delete table bridge osm
            kill "$(cat /run/osm-dnsmasq.pid)"
            ip link del osmbr0`);
        // The reload's old workers finish their connections; new ones load upstream's config.
        await waitFor("NGINX without the project's includes", async () => !/\/etc\/nginx\/osm\//.test(await inHost("cat /etc/nginx/nginx.conf")), 5000, 100);
        for (const c of upstream.customers) {
            const r = await mosquitto("mosquitto_sub", mqtt(c), ["-t", `readings/${c.name}`, "-C", "1", "-W", "5"]);
            assert.strictEqual(r.code, 0, `${c.name}: ${r.stderr}`);
            assert.strictEqual(r.stdout.trim(), `before-${c.name}`);
        }
        const page = await httpsGet(`millbrook-influx.${DOMAIN}`, address, upstream.caFile);
        assert.match(page.body, /influxdb stand-in for customer millbrook-svr/);
    });
});
