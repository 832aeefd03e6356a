/**
 * Issue 10, the logic of `npm run verify` without servers: drift both ways (osm-status against
 * the stack), certificate names (wildcards: any lineage may serve a name), service identities,
 * the MQTT packets, the report (table, advice, Prometheus), the credentials file, the bounds.
 */
import * as assert from "assert";
import { customerNames } from "../../components/naming";
import { CERT_MIN_DAYS, certificatesFor, certNameCovers, customerDrift, hostDrift } from "../../scripts/lib/verify/drift";
import { parseStackOutputs } from "../../scripts/lib/verify/fleet";
import { Limiter } from "../../scripts/lib/verify/limit";
import { connectPacket, parsePackets, parsePublish, publishPacket, subscribePacket } from "../../scripts/lib/verify/mqtt";
import { parseDnsServer } from "../../scripts/lib/verify/net";
import { formatReport, prometheus } from "../../scripts/lib/verify/report";
import { SERVICES } from "../../scripts/lib/verify/services";
import { CheckResult, DeclaredFleet, HostStatus, Report } from "../../scripts/lib/verify/types";

const DOMAIN = "osm.example.test";

function fleet(): DeclaredFleet {
    return {
        stack: "prod", domain: DOMAIN, sshUser: "root", zone: DOMAIN, powerdnsHost: "ns1.example.test",
        hosts: ["osm1", "osm2"].map((name, i) => ({ name, fqdn: `${name}.${DOMAIN}`, address: `192.0.2.${i + 1}`, sshPort: 22, hostKey: "ssh-ed25519 AAAA", drain: false })),
        customers: [
            { label: "acme", host: "osm1", mqttPort: 8900, names: customerNames("acme", DOMAIN) },
            { label: "devtank", host: "osm1", mqttPort: 8901, names: customerNames("devtank", DOMAIN) },
            { label: "saxon-mills", host: "osm2", mqttPort: 8902, names: customerNames("saxon-mills", DOMAIN) },
        ],
    };
}

/** What osm1 reports when it has exactly what the stack declares (one lineage per customer). */
function goodStatus(f = fleet(), host = "osm1"): HostStatus {
    const mine = f.customers.filter((c) => c.host === host);
    return {
        host, time: "2026-12-01T00:00:00Z", errors: [],
        containers: mine.map((c, i) => ({ name: c.label, state: "RUNNING", managed: true, address: `10.118.0.${i + 2}` })),
        nginx: {
            running: true,
            sites: mine.map((c) => ({ file: `${c.label}.conf`, customer: c.label, names: Object.values(c.names).sort(), certificates: [`/etc/letsencrypt/live/${c.label}/fullchain.pem`] })),
            streams: mine.map((c) => ({ file: `${c.label}.conf`, customer: c.label, ports: [c.mqttPort], upstreams: ["10.118.0.2:1883"] })),
        },
        firewall: { loaded: true, mqttPorts: mine.map((c) => c.mqttPort), portFiles: Object.fromEntries(mine.map((c) => [c.label, c.mqttPort])) },
        certificates: mine.map((c) => ({ lineage: c.label, names: Object.values(c.names).sort(), daysLeft: 80 })),
        archives: [],
    };
}

describe("verify: drift between a host's osm-status and the stack", () => {
    it("finds nothing when the host has exactly what the stack declares", () => {
        const f = fleet();
        const s = goodStatus(f);
        for (const c of f.customers.filter((x) => x.host === "osm1")) assert.deepStrictEqual(customerDrift(f, c, s), []);
        assert.deepStrictEqual(hostDrift(f, f.hosts[0], s), []);
    });

    it("a declared customer missing or stopped, with the command that mends it", () => {
        const f = fleet();
        const s = goodStatus(f);
        s.containers = s.containers!.filter((c) => c.name !== "acme");
        const [missing] = customerDrift(f, f.customers[0], s);
        assert.strictEqual(missing.problem, "no container on osm1");
        assert.match(missing.action, /pulumi up -s prod --replace 'urn:pulumi:prod::osm-hosting::osm:hosting:Customer\$command:remote:Command::acme-container'$/);
        const t = goodStatus(f);
        t.containers![0].state = "STOPPED";
        assert.deepStrictEqual(customerDrift(f, f.customers[0], t).map((x) => x.problem), ["container stopped"]);
        assert.match(customerDrift(f, f.customers[0], t)[0].action, /lxc-start -n acme .*\/var\/lib\/osm\/containers\/acme\/lxc\.log/);
    });

    it("its NGINX site, stream port and firewall port: missing or different", () => {
        const f = fleet();
        const s = goodStatus(f);
        s.nginx!.sites[0].names = s.nginx!.sites[0].names.filter((n) => !n.includes("-influx"));
        s.nginx!.streams[0].ports = [8999];
        s.firewall!.mqttPorts = [8901];
        const p = customerDrift(f, f.customers[0], s);
        assert.deepStrictEqual(p.map((x) => x.problem), [`NGINX site lacks acme-influx.${DOMAIN}`, "MQTT port on host 8999, stack says 8900", "firewall closes MQTT port 8900"]);
        assert.match(p[1].action, /pin "mqttPort": 8999 in customers.json/);
        const t = goodStatus(f);
        t.nginx!.sites = t.nginx!.sites.filter((x) => x.customer !== "acme");
        assert.deepStrictEqual(customerDrift(f, f.customers[0], t).map((x) => x.problem), ["no NGINX site"]);
    });

    it("mqttWebsocket: the site must hold the fourth name too (osm-status lists it as any other)", () => {
        const f = fleet();
        const on = { ...f.customers[0], names: customerNames("acme", DOMAIN, true) };
        const s = goodStatus(f);
        assert.deepStrictEqual(customerDrift(f, on, s).map((x) => x.problem), [`NGINX site lacks acme-mqtt.${DOMAIN}`, `no certificate for acme-mqtt.${DOMAIN}`]);
        s.nginx!.sites[0].names = [...s.nginx!.sites[0].names, `acme-mqtt.${DOMAIN}`].sort();
        // The status's certificates are per customer here: the fourth name needs one too.
        assert.deepStrictEqual(customerDrift(f, on, s).map((x) => x.problem), [`no certificate for acme-mqtt.${DOMAIN}`]);
        s.certificates = [{ lineage: "osm--wildcard", names: [`*.${DOMAIN}`], daysLeft: 80 }];
        assert.deepStrictEqual(customerDrift(f, on, s), []);
    });

    it("certificates are found by name, not by lineage: a per-host wildcard lineage serves every customer", () => {
        assert.ok(certNameCovers(`*.${DOMAIN}`, `acme-influx.${DOMAIN}`));
        assert.ok(certNameCovers(`ACME.${DOMAIN}.`, `acme.${DOMAIN}`));
        assert.ok(!certNameCovers(`*.${DOMAIN}`, `a.b.${DOMAIN}`), "a wildcard covers one label only");
        assert.ok(!certNameCovers(`*.${DOMAIN}`, DOMAIN));
        const f = fleet();
        const s = goodStatus(f);
        s.certificates = [{ lineage: "osm1", names: [`*.${DOMAIN}`], daysLeft: 60 }];
        assert.deepStrictEqual(customerDrift(f, f.customers[0], s), []);
        s.certificates = [{ lineage: "osm1", names: [`*.${DOMAIN}`], daysLeft: CERT_MIN_DAYS - 1 }, { lineage: "old", names: [`acme.${DOMAIN}`], daysLeft: 5 }];
        assert.strictEqual(certificatesFor(`acme.${DOMAIN}`, s.certificates)[0].lineage, "osm1", "the longest-lived lineage first");
        const p = customerDrift(f, f.customers[0], s);
        assert.strictEqual(p.length, 3);
        assert.strictEqual(p[0].problem, `certificate for acme.${DOMAIN} expires in 20 day(s)`);
        assert.match(p[0].action, /certbot renew --cert-name osm1/);
        s.certificates = [{ lineage: "acme", names: Object.values(f.customers[0].names), daysLeft: -2.5 }];
        assert.match(customerDrift(f, f.customers[0], s)[0].problem, /expired 3 day\(s\) ago$/);
        s.certificates = [];
        assert.strictEqual(customerDrift(f, f.customers[0], s)[0].problem, `no certificate for acme.${DOMAIN}`);
    });

    it("the other way: containers, sites, streams and ports that no customer of the stack owns there", () => {
        const f = fleet();
        const s = goodStatus(f);
        s.containers!.push({ name: "stray", state: "STOPPED", managed: false }, { name: "saxon-mills", state: "RUNNING", managed: true });
        s.nginx!.sites.push({ file: "stray.conf", customer: "stray", names: [`stray.${DOMAIN}`], certificates: [] });
        s.nginx!.streams.push({ file: "stray.conf", customer: "stray", ports: [8950], upstreams: [] });
        s.firewall!.mqttPorts.push(8950, 8960);
        s.firewall!.portFiles.stray = 8950;
        s.nginx!.running = false;
        const p = hostDrift(f, f.hosts[0], s);
        assert.deepStrictEqual(p.map((x) => x.problem), [
            "NGINX not running",
            "container stray (stopped) no customer owns",
            "container saxon-mills (running) no customer owns",
            "NGINX site stray.conf no customer owns",
            "NGINX stream stray.conf (port 8950) no customer owns",
            "firewall opens port 8950 no customer owns",
            "firewall opens port 8960 no customer owns",
        ]);
        assert.match(p[1].action, /OSM_CUSTOMER=stray bash \/opt\/osm\/ansible\/run container-delete\.yml.*"adopt": true/);
        assert.match(p[2].action, /^the stack places saxon-mills on osm2: this copy is left over/);
        assert.match(p[6].action, /osm-firewall apply/);
    });

    it("reports what osm-status could not read, and leaves unread parts unjudged", () => {
        const f = fleet();
        const s: HostStatus = { host: "osm1", time: "", errors: ["lxc-ls failed (exit 1): boom"] };
        assert.deepStrictEqual(customerDrift(f, f.customers[0], s), []);
        assert.match(hostDrift(f, f.hosts[0], s)[0].problem, /^osm-status: lxc-ls failed/);
    });
});

describe("verify: which service answers", () => {
    it("knows Grafana, InfluxDB 2 and ChirpStack by their own endpoints", () => {
        assert.strictEqual(SERVICES.grafana.judge(200, '{"commit":"abc","database":"ok","version":"11.0.0"}'), null);
        assert.strictEqual(SERVICES.grafana.judge(200, '{"database":"failing"}'), "Grafana's database is failing");
        assert.strictEqual(SERVICES.grafana.judge(502, "<html>Bad Gateway</html>"), "not Grafana (GET /api/health: HTTP 502)");
        assert.strictEqual(SERVICES.influx.judge(200, '{"name":"influxdb","message":"ready for queries and writes","status":"pass"}'), null);
        assert.match(SERVICES.influx.judge(200, '{"database":"ok"}')!, /^not InfluxDB/, "Grafana behind the InfluxDB name");
        assert.strictEqual(SERVICES.chirpstack.judge(200, "<title>ChirpStack LoRaWAN® Network-Server</title>"), null);
        assert.match(SERVICES.chirpstack.judge(200, '{"database":"ok"}')!, /^not ChirpStack/);
    });
});

describe("verify: MQTT 3.1.1 packets", () => {
    it("frames CONNECT, SUBSCRIBE and PUBLISH, and parses a stream split anywhere", () => {
        const long = "x".repeat(300); // remaining length over 127: two bytes
        const bytes = Buffer.concat([connectPacket("id", "user", "pw"), subscribePacket(1, "t/1"), publishPacket("t/1", long)]);
        for (const cut of [1, 2, 5, 20, bytes.length - 1]) {
            const a = parsePackets(bytes.subarray(0, cut));
            const b = parsePackets(Buffer.concat([a.rest, bytes.subarray(cut)]));
            const all = [...a.packets, ...b.packets];
            assert.deepStrictEqual(all.map((p) => p.type), [1, 8, 3], `cut at ${cut}`);
            assert.deepStrictEqual(parsePublish(all[2]), { topic: "t/1", payload: long });
            assert.strictEqual(b.rest.length, 0);
        }
        const c = parsePackets(connectPacket("id", "user", "pw")).packets[0].body;
        assert.strictEqual(c.subarray(2, 6).toString(), "MQTT");
        assert.strictEqual(c[6], 4, "protocol level 4 (3.1.1)");
        assert.strictEqual(c[7], 0b11000010, "user name, password, clean session");
    });
});

function result(p: Partial<CheckResult> & Pick<CheckResult, "name" | "check">): CheckResult {
    return { subject: "customer", host: "osm1", status: "ok", findings: [], seconds: 0.1, ...p };
}

describe("verify: the report", () => {
    const rep: Report = {
        stack: "prod", startedAt: "2026-12-01T00:00:00.000Z", seconds: 1.234, ok: false,
        results: [
            result({ name: "acme", check: "dns" }),
            result({ name: "acme", check: "https", certDaysLeft: { [`acme.${DOMAIN}`]: 80.5, [`acme-influx.${DOMAIN}`]: 12.2 }, status: "fail", findings: [{ problem: `acme-influx.${DOMAIN}: certificate expires in 12 day(s)`, action: "renew it on osm1: certbot renew --cert-name acme" }] }),
            result({ name: "acme", check: "mqtt", status: "skip", note: "no --credentials" }),
            result({ name: "acme", check: "host", status: "fail", findings: [{ problem: "container stopped", action: "start it" }, { problem: "no NGINX site", action: "re-run" }] }),
            result({ subject: "host", name: "osm1", check: "ssh" }),
            result({ subject: "host", name: "osm1", check: "drift", status: "fail", findings: [{ problem: 'container "x" no customer owns', action: "archive it" }] }),
        ],
    };

    it("one row per customer and per host, one column per check, then each problem with what to do", () => {
        const text = formatReport(rep);
        assert.match(text, /^CUSTOMER {2}HOST {2}DNS {2}HTTPS .* {2}MQTT .* {2}ON HOST .* {2}CERT DAYS$/m);
        assert.match(text, /^acme {6}osm1 {2}ok {3}acme-influx\.osm\.example\.test: certificate exp… {2}skipped \(no --credentials\) {2}container stopped \(\+1\) {2}12$/m);
        assert.match(text, /^osm1 {2}ok {3}- {4}- {11}container "x" no customer owns$/m);
        assert.match(text, /^- acme ON HOST: no NGINX site\n {4}do: re-run$/m);
        assert.match(text, /^FAIL: 2 ok, 3 failed, 1 skipped in 1\.2 s \(stack prod\)$/m);
    });

    it("Prometheus text format: a gauge per customer and check, days left per name, the run's time", () => {
        const text = prometheus(rep);
        assert.match(text, /^# TYPE osm_verify_check_ok gauge$/m);
        assert.match(text, /^osm_verify_check_ok\{subject="customer",name="acme",host="osm1",check="https"\} 0$/m);
        assert.match(text, /^osm_verify_check_ok\{subject="host",name="osm1",host="osm1",check="ssh"\} 1$/m);
        assert.doesNotMatch(text, /check="mqtt"/, "skipped checks are left out");
        assert.match(text, /^osm_verify_certificate_days_left\{customer="acme",host="osm1",check="https",name="acme-influx\.osm\.example\.test"\} 12\.2$/m);
        assert.match(text, /^osm_verify_last_run_timestamp_seconds 1796083200$/m);
        assert.match(text, /^osm_verify_ok 0$/m);
        for (const line of text.trim().split("\n")) assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[\d.e+]+)$/, line);
    });
});

describe("verify: inputs", () => {
    it("reads the credentials from pulumi stack output --show-secrets --json, and never echoes the file", () => {
        const doc = { placements: { acme: { host: "osm1", mqttPort: 8900 } }, customers: { acme: { credentials: { mqttUsername: "acme", mqttPassword: "s3cret-pw", grafanaAdminPassword: "g", influxToken: "t" } } } };
        const out = parseStackOutputs(JSON.stringify(doc), "out.json");
        assert.deepStrictEqual(out.credentials, { acme: { mqttUsername: "acme", mqttPassword: "s3cret-pw" } });
        assert.deepStrictEqual(out.placements, doc.placements);
        assert.throws(() => parseStackOutputs(JSON.stringify({ customers: { acme: { credentials: "[secret]" } } }), "out.json"), /out\.json: customers\.acme\.credentials is hidden: pass --show-secrets/);
        for (const bad of ['{"customers": {"acme": {"credentials": {"mqttPassword": "s3cret-pw"', '{"placements": "s3cret-pw"}']) {
            assert.throws(() => parseStackOutputs(bad, "out.json"), (e: Error) => /out\.json/.test(e.message) && !e.message.includes("s3cret-pw"));
        }
    });

    it("takes --dns-server as HOST[:PORT]", () => {
        assert.deepStrictEqual(parseDnsServer("127.0.0.1:5300"), { host: "127.0.0.1", port: 5300 });
        assert.deepStrictEqual(parseDnsServer("ns1.example.test"), { host: "ns1.example.test", port: 53 });
        assert.deepStrictEqual(parseDnsServer("[::1]:53"), { host: "::1", port: 53 });
        assert.throws(() => parseDnsServer("a:b:c"), /HOST or HOST:PORT/);
    });

    it("bounds the operations at once against one host", async () => {
        const l = new Limiter(3);
        let now = 0;
        let peak = 0;
        await Promise.all(Array.from({ length: 20 }, () => l.run(async () => {
            peak = Math.max(peak, ++now);
            await new Promise((r) => setTimeout(r, 5));
            now--;
        })));
        assert.strictEqual(peak, 3);
    });
});
