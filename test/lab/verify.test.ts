/**
 * Issue 10, item 4: `npm run verify` on the lab. The example fleet (customers.json and the
 * four hosts of Pulumi.prod.yaml, osm0 draining) is carried out on lab hosts; verify passes.
 * Then each fault is made by hand, verify names it and what to do, and passes again once it is
 * mended: a stopped container; a deleted CNAME; a CNAME to the wrong host; an NGINX site
 * removed; a certificate for another name; an expired certificate; a wrong MQTT password in
 * the credentials; an extra container no customer owns; a host whose SSH key changed; a host
 * that is down. One lab for all of them; each case mends what it broke.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { CustomersFileEntry } from "../../components/customers";
import { Deployment } from "../../lab/executor";
import { run } from "../../lab/lab-exec";
import { LAB_DOMAIN, LabStack } from "../../lab/lab-stack";
import { credentialsOf, deployConfig, labFleet, labStackConfig, labVerifyOptions, writeCliFiles } from "../../lab/verify-stack";
import { layout } from "../../scripts/lib/verify/actions";
import { verifyFleet, VerifyOptions } from "../../scripts/lib/verify/run";
import { formatReport } from "../../scripts/lib/verify/report";
import { CheckName, DeclaredFleet, Report } from "../../scripts/lib/verify/types";
import { REPO_ROOT } from "../../lab/hosts";
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (the program)
const program: () => Promise<any> = require("../../index");

/** The example fleet's hosts (Pulumi.prod.yaml): names, capacities, osm0 draining. */
const HOSTS = [
    { name: "osm1", capacity: 40 }, { name: "osm2", capacity: 40 }, { name: "osm3", capacity: 60 }, { name: "osm0", capacity: 20, drain: true },
];

/** The problems of one row's check, as text. */
function problems(rep: Report, name: string, check: CheckName): string {
    const r = rep.results.find((x) => x.name === name && x.check === check);
    assert.ok(r, `a ${check} result for ${name}`);
    return r!.findings.map((f) => `${f.problem} => ${f.action}`).join("\n");
}

function failing(rep: Report): string[] {
    return rep.results.filter((r) => r.status === "fail").map((r) => `${r.name}/${r.check}`).sort();
}

describe("npm run verify on the lab: the example fleet, every fault named and mended", function () {
    this.timeout(900_000);
    let stack: LabStack;
    let deployment: Deployment;
    let config: Record<string, string>;
    let fleet: DeclaredFleet;
    let options: VerifyOptions;
    let faultCa: string;
    const faultDir = () => path.join(stack.lab.state.dir, "fault-ca");

    /** Verify with the lab's options (and `patch`); the report, with its text on failure of an assertion. */
    async function verify(patch: Partial<VerifyOptions> = {}): Promise<Report> {
        return verifyFleet({ ...options, ...patch });
    }

    /** Runs verify until it passes (a mended service may need a moment to come back). */
    async function passesAgain(patch: Partial<VerifyOptions> = {}, withinMs = 30_000): Promise<Report> {
        const t = Date.now();
        let rep: Report;
        do {
            rep = await verify(patch);
            if (rep.ok) return rep;
            await new Promise((r) => setTimeout(r, 1000));
        } while (Date.now() - t < withinMs);
        assert.fail(`verify still fails after mending:\n${formatReport(rep)}`);
    }

    /** A certificate (and key) for `names` from the suite's own CA, trusted by verify; expired when asked. */
    async function issue(names: string[], expired: boolean): Promise<{ cert: string; key: string }> {
        const d = faultDir();
        const id = `${names[0]}-${expired ? "expired" : "valid"}`;
        const csr = path.join(d, `${id}.csr`);
        await run("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${names[0]}`, "-keyout", path.join(d, `${id}.key`), "-out", csr]);
        fs.writeFileSync(path.join(d, `${id}.ext`), `[leaf]\nsubjectAltName = ${names.map((n) => `DNS:${n}`).join(",")}\nbasicConstraints = CA:FALSE\n`);
        const dates = expired ? ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"] : ["-days", "90"];
        await run("openssl", ["ca", "-batch", "-config", path.join(d, "ca.cnf"), "-cert", path.join(d, "ca.pem"), "-keyfile", path.join(d, "ca.key"),
            "-extfile", path.join(d, `${id}.ext`), "-extensions", "leaf", ...dates, "-in", csr, "-out", path.join(d, `${id}.pem`)]);
        return { cert: fs.readFileSync(path.join(d, `${id}.pem`), "utf8"), key: fs.readFileSync(path.join(d, `${id}.key`), "utf8") };
    }

    /** Puts `pem` in place of a customer's lineage files on its host (keeping the originals), reloads NGINX. */
    async function swapCertificate(host: string, label: string, pem: { cert: string; key: string }): Promise<void> {
        const live = `${layout().osm_letsencrypt_dir}/live/${label}`;
        await stack.lab.sh(host, `set -e; cd "$1"; mkdir -p .verify-saved; for f in cert.pem fullchain.pem privkey.pem; do [ -e .verify-saved/$f ] || mv $f .verify-saved/$f; done
            printf '%s' "$2" > cert.pem; printf '%s' "$2" > fullchain.pem; printf '%s' "$3" > privkey.pem; chmod 600 privkey.pem
            bash "$4/ansible/files/osm-nginx" reload >/dev/null`, live, pem.cert, pem.key, layout().osm_remote_root);
    }

    async function restoreCertificate(host: string, label: string): Promise<void> {
        const live = `${layout().osm_letsencrypt_dir}/live/${label}`;
        await stack.lab.sh(host, `set -e; cd "$1"; for f in cert.pem fullchain.pem privkey.pem; do rm -f $f; mv .verify-saved/$f $f; done; rmdir .verify-saved
            bash "$2/ansible/files/osm-nginx" reload >/dev/null`, live, layout().osm_remote_root);
    }

    const customerOn = (host: string) => fleet.customers.find((c) => c.host === host)!;
    const hostOf = (label: string) => fleet.customers.find((c) => c.label === label)!.host;

    before(async function () {
        stack = await LabStack.start({ id: "verify", hostNames: HOSTS.map((h) => h.name) });
        const customers = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "customers.json"), "utf8")) as { customers: CustomersFileEntry[] }).customers;
        const c = labStackConfig(stack, customers, HOSTS);
        config = c.config;
        const t = Date.now();
        deployment = await deployConfig(stack, program, c);
        stack.seconds.deploy = (Date.now() - t) / 1000;
        fleet = await labFleet(config, deployment);
        // The suite's own CA, for the certificate faults (trusted by verify beside pebble's root).
        const d = faultDir();
        fs.mkdirSync(d, { recursive: true });
        await run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=osm-verify-fault-ca", "-days", "2", "-keyout", path.join(d, "ca.key"), "-out", path.join(d, "ca.pem")]);
        fs.writeFileSync(path.join(d, "index.txt"), "");
        fs.writeFileSync(path.join(d, "serial"), "01\n");
        fs.writeFileSync(path.join(d, "ca.cnf"), `[ca]\ndefault_ca = fault\n[fault]\ndatabase = ${d}/index.txt\nnew_certs_dir = ${d}\nserial = ${d}/serial\n` + "default_md = sha256\npolicy = any\nunique_subject = no\n[any]\ncommonName = supplied\n");
        faultCa = fs.readFileSync(path.join(d, "ca.pem"), "utf8");
        options = labVerifyOptions(stack, fleet, credentialsOf(deployment), faultCa);
    });

    after(async function () {
        if (stack) {
            process.stderr.write(`verify suite timings (s): ${JSON.stringify(stack.seconds)}\n`);
            await stack.stop();
        }
    });

    it("passes on the example fleet as carried out (every customer: DNS, HTTPS, MQTT, on its host; every host)", async () => {
        assert.deepStrictEqual(fleet.customers.map((c) => c.label).sort(), ["acme", "blue-widget-co", "devtank", "greenleaf-vertical-farms", "harbour-cold-store", "northfield-dairy", "saxon-mills"]);
        assert.ok(!fleet.customers.some((c) => c.host === "osm0"), "osm0 drains: no new customer there");
        const t = Date.now();
        const rep = await verify();
        stack.seconds.verify = (Date.now() - t) / 1000;
        assert.ok(rep.ok, formatReport(rep));
        assert.strictEqual(rep.results.filter((r) => r.status === "skip").length, 0, formatReport(rep));
        const text = formatReport(rep);
        assert.match(text, /^CUSTOMER\s+HOST\s+DNS\s+HTTPS\s+MQTT\s+ON HOST\s+CERT DAYS$/m);
        assert.match(text, /^PASS: /m);
        // Days left seen from outside, per name and MQTT endpoint.
        const https = rep.results.find((r) => r.name === "acme" && r.check === "https")!;
        assert.deepStrictEqual(Object.keys(https.certDaysLeft!).sort(), [`acme-chirpstack.${LAB_DOMAIN}`, `acme-influx.${LAB_DOMAIN}`, `acme.${LAB_DOMAIN}`]);
        for (const d of Object.values(https.certDaysLeft!)) assert.ok(d > 21, `days left ${d}`);
    });

    it("the CLI: table, --json, --prometheus, exit 0; no secret in any output", async () => {
        const dir = path.join(stack.lab.state.dir, "cli");
        const { args } = writeCliFiles(stack, config, deployment, dir);
        const prom = path.join(dir, "osm-verify.prom");
        const r = await run("node", [path.join(REPO_ROOT, "build", "scripts", "verify.js"), ...args, "--json", "--prometheus", prom], { allowFail: true, timeoutMs: 120_000 });
        assert.strictEqual(r.code, 0, `${r.stdout}\n${r.stderr}`);
        const rep = JSON.parse(r.stdout) as Report;
        assert.ok(rep.ok);
        const metrics = fs.readFileSync(prom, "utf8");
        assert.match(metrics, /^osm_verify_check_ok\{subject="customer",name="acme",host="osm\d",check="mqtt"\} 1$/m);
        assert.match(metrics, /^osm_verify_certificate_days_left\{customer="acme",host="osm\d",check="https",name="acme\.osm\.lab\.test"\} \d+(\.\d+)?$/m);
        assert.match(metrics, /^osm_verify_last_run_timestamp_seconds \d+/m);
        assert.match(metrics, /^osm_verify_ok 1$/m);
        const text = await run("node", [path.join(REPO_ROOT, "build", "scripts", "verify.js"), ...args, "--only", "acme", "devtank"], { allowFail: true, timeoutMs: 120_000 });
        assert.strictEqual(text.code, 0, text.stdout + text.stderr);
        assert.match(text.stdout, /^acme\s+osm\d\s+ok\s+ok\s+ok\s+ok\s+\d+$/m);
        assert.doesNotMatch(text.stdout, /^blue-widget-co/m, "--only checks only those customers");
        for (const [label, c] of Object.entries(credentialsOf(deployment))) {
            for (const out of [r.stdout, r.stderr, metrics, text.stdout, text.stderr]) assert.ok(!out.includes(c.mqttPassword), `${label}'s password printed`);
        }
    });

    it("a stopped container: named (on host, HTTPS, MQTT), with how to start it; passes once started", async () => {
        const c = customerOn("osm1");
        await stack.lab.exec(c.host, "lxc-stop", ["-n", c.label, "-k"]);
        const rep = await verify();
        assert.ok(!rep.ok);
        assert.match(problems(rep, c.label, "host"), /container stopped => start it on osm1: lxc-start -n /);
        assert.match(problems(rep, c.label, "https"), new RegExp(`${c.names.grafana}: not Grafana \\(GET /api/health: HTTP 502\\)`));
        assert.ok(failing(rep).every((f) => f.startsWith(`${c.label}/`)), `only ${c.label} fails: ${failing(rep)}`);
        // The CLI exits 1 and shows the row and the advice.
        const dir = path.join(stack.lab.state.dir, "cli");
        const { args } = writeCliFiles(stack, config, deployment, dir);
        const cli = await run("node", [path.join(REPO_ROOT, "build", "scripts", "verify.js"), ...args], { allowFail: true, timeoutMs: 120_000 });
        assert.strictEqual(cli.code, 1, cli.stdout + cli.stderr);
        assert.match(cli.stdout, new RegExp(`^${c.label}\\s+osm1\\s+ok\\s+.*container stopped`, "m"));
        assert.match(cli.stdout, /^Problems and what to do:$/m);
        assert.match(cli.stdout, /^ {4}do: start it on osm1: lxc-start/m);
        assert.match(cli.stdout, /^FAIL: /m);
        await stack.lab.exec(c.host, "lxc-start", ["-n", c.label]);
        await passesAgain();
    });

    it("a deleted CNAME: named, with pulumi refresh + up; passes once it is back", async () => {
        const c = customerOn("osm2");
        await stack.pdns.api("PATCH", `/api/v1/servers/localhost/zones/${LAB_DOMAIN}.`, { rrsets: [{ name: `${c.names.influx}.`, type: "CNAME", changetype: "DELETE" }] });
        const rep = await verify();
        assert.deepStrictEqual(failing(rep), [`${c.label}/dns`]);
        assert.match(problems(rep, c.label, "dns"), new RegExp(`${c.names.influx}: no CNAME \\(NXDOMAIN\\) => pulumi refresh -s lab .*pulumi up -s lab`));
        await stack.pdns.setRrset(`${c.names.influx}.`, "CNAME", 60, [`${c.host}.${LAB_DOMAIN}.`]);
        await passesAgain();
    });

    it("a CNAME to the wrong host: named with both hosts; passes once pointed back", async () => {
        const c = customerOn("osm1");
        await stack.pdns.setRrset(`${c.names.chirpstack}.`, "CNAME", 60, [`osm3.${LAB_DOMAIN}.`]);
        const rep = await verify();
        assert.deepStrictEqual(failing(rep), [`${c.label}/dns`]);
        assert.match(problems(rep, c.label, "dns"), new RegExp(`${c.names.chirpstack} -> osm3.${LAB_DOMAIN}, not osm1.${LAB_DOMAIN} => pulumi refresh`));
        await stack.pdns.setRrset(`${c.names.chirpstack}.`, "CNAME", 60, [`osm1.${LAB_DOMAIN}.`]);
        await passesAgain();
    });

    it("an NGINX site removed: named (on host, HTTPS), with the provisioning to re-run; passes once it is back", async () => {
        const c = customerOn("osm3");
        const site = `${layout().osm_nginx_dir}/http/${c.label}.conf`;
        await stack.lab.sh(c.host, 'set -e; mv "$1" /root/verify-saved-site.conf; bash "$2/ansible/files/osm-nginx" reload >/dev/null', site, layout().osm_remote_root);
        const rep = await verify();
        assert.match(problems(rep, c.label, "host"), new RegExp(`no NGINX site => re-run its provisioning .*pulumi up -s lab --replace 'urn:pulumi:lab::osm-hosting::osm:hosting:Customer\\$command:remote:Command::${c.label}-provision'`));
        assert.match(problems(rep, c.label, "https"), /certificate is for|connection reset|not Grafana|socket hang up/);
        assert.deepStrictEqual(failing(rep), [`${c.label}/host`, `${c.label}/https`]);
        await stack.lab.sh(c.host, 'set -e; mv /root/verify-saved-site.conf "$1"; bash "$2/ansible/files/osm-nginx" reload >/dev/null', site, layout().osm_remote_root);
        await passesAgain();
    });

    it("a certificate replaced by one for another name: named from outside; passes once the right one is back", async () => {
        const c = customerOn("osm2");
        await swapCertificate(c.host, c.label, await issue([`someone-else.${LAB_DOMAIN}`], false));
        const rep = await verify();
        assert.match(problems(rep, c.label, "https"), new RegExp(`${c.names.grafana}: certificate is for someone-else.${LAB_DOMAIN}, not ${c.names.grafana}`));
        assert.match(problems(rep, c.label, "mqtt"), new RegExp(`certificate is for someone-else.${LAB_DOMAIN}, not ${c.names.grafana}`));
        // The host's own view (osm-status reads cert.pem): no certificate for its names.
        assert.match(problems(rep, c.label, "host"), new RegExp(`no certificate for ${c.names.grafana}`));
        await restoreCertificate(c.host, c.label);
        await passesAgain();
    });

    it("an expired certificate: named from outside and on the host, with the renewal to run; passes once renewed", async () => {
        const c = customerOn("osm1");
        await swapCertificate(c.host, c.label, await issue(Object.values(c.names), true));
        const rep = await verify();
        assert.match(problems(rep, c.label, "https"), new RegExp(`${c.names.influx}: certificate expired \\d+ day\\(s\\) ago => renew it on osm1: certbot renew --cert-name ${c.label}`));
        assert.match(problems(rep, c.label, "mqtt"), /certificate expired \d+ day\(s\) ago/);
        assert.match(problems(rep, c.label, "host"), /certificate for .* expired \d+ day\(s\) ago => renew it on osm1/);
        await restoreCertificate(c.host, c.label);
        await passesAgain();
    });

    it("a wrong MQTT password in the credentials file: login refused, export the file again; passes with the right one", async () => {
        const c = customerOn("osm3");
        const creds = { ...options.credentials!, [c.label]: { ...options.credentials![c.label], mqttPassword: "not-the-password" } };
        const rep = await verify({ credentials: creds });
        assert.deepStrictEqual(failing(rep), [`${c.label}/mqtt`]);
        assert.match(problems(rep, c.label, "mqtt"), /login refused \(5: not authorized\) => the credentials file does not match the host: export it again \(pulumi stack output -s lab --show-secrets --json > FILE\)/);
        await passesAgain();
    });

    it("an extra container no customer owns: named on its host, with how to archive it or adopt it; passes once removed", async () => {
        const lxc = "/var/lib/lxc";
        await stack.lab.sh("osm3", `set -e; mkdir -p "$1/stray-co"; printf 'lxc.uts.name = stray-co\\nlxc.rootfs.path = dir:/var/lib/lxc/stray-co/rootfs\\n' > "$1/stray-co/config"; mkdir -p "$1/stray-co/rootfs"`, lxc);
        const rep = await verify();
        assert.deepStrictEqual(failing(rep), ["osm3/drift"]);
        assert.match(problems(rep, "osm3", "drift"), /container stray-co \(stopped\) no customer owns => If nobody needs it, archive and remove it on osm3: OSM_CUSTOMER=stray-co bash \/opt\/osm\/ansible\/run container-delete.yml/);
        await stack.lab.sh("osm3", 'rm -rf "$1/stray-co"', lxc);
        await passesAgain();
    });

    it("a host whose SSH key changed: refused before anything is sent, named with what to do; passes once the key is back", async () => {
        const host = "osm2";
        await stack.lab.sh(host, `set -e; cd /etc/ssh; mv ssh_host_ed25519_key /root/verify-saved-key; mv ssh_host_ed25519_key.pub /root/verify-saved-key.pub
            ssh-keygen -q -t ed25519 -N '' -f ssh_host_ed25519_key; kill -HUP "$(cat /run/sshd.pid)"`);
        await new Promise((r) => setTimeout(r, 500));
        try {
            const rep = await verify();
            assert.match(problems(rep, host, "ssh"), /host key changed: refused => host key of .* differs from the pinned hostKey: refused\. nothing was sent\. If osm2 was reinstalled/);
            assert.strictEqual(rep.results.find((r) => r.name === host && r.check === "status")!.status, "skip");
            // Its customers are still checked from outside, and pass there.
            const c = customerOn(host);
            assert.strictEqual(rep.results.find((r) => r.name === c.label && r.check === "https")!.status, "ok");
            assert.strictEqual(rep.results.find((r) => r.name === c.label && r.check === "host")!.status, "skip");
        } finally {
            await stack.lab.sh(host, `set -e; cd /etc/ssh; mv /root/verify-saved-key ssh_host_ed25519_key; mv /root/verify-saved-key.pub ssh_host_ed25519_key.pub; kill -HUP "$(cat /run/sshd.pid)"`);
        }
        await new Promise((r) => setTimeout(r, 500));
        await passesAgain();
    });

    it("a host that is down: reported within the timeout (not minutes); passes once it is back", async () => {
        const h = stack.lab.host("osm1");
        const timeoutMs = 3000;
        await run("ip", ["link", "set", h.veth, "down"]);
        try {
            const t = Date.now();
            const rep = await verify({ timeoutMs });
            const seconds = (Date.now() - t) / 1000;
            assert.ok(seconds < (timeoutMs / 1000) * 3 + 3, `verify took ${seconds} s with a ${timeoutMs} ms timeout`);
            assert.match(problems(rep, "osm1", "ssh"), /unreachable => .*the host osm1 is down or unreachable/);
            const c = customerOn("osm1");
            assert.match(problems(rep, c.label, "https"), /timed out|unreachable/);
            assert.ok(failing(rep).every((f) => f.startsWith("osm1/") || fleet.customers.find((x) => `${x.label}/` === f.slice(0, x.label.length + 1))?.host === "osm1"), `only osm1 and its customers fail: ${failing(rep)}`);
        } finally {
            await run("ip", ["link", "set", h.veth, "up"]);
        }
        await passesAgain({}, 60_000);
        assert.ok(hostOf(customerOn("osm1").label) === "osm1");
    });
});
