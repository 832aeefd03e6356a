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
import { run, waitFor } from "../../lab/lab-exec";
import { httpsGet } from "../../scripts/lib/verify/net";
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

    /** Puts `pem` in place of the host's lineage files (the one *.<domain> certificate; originals kept), reloads NGINX. */
    async function swapCertificate(host: string, _label: string, pem: { cert: string; key: string }): Promise<void> {
        const live = `${layout().osm_letsencrypt_dir}/live/${layout().osm_wildcard_cert_name}`;
        await stack.lab.sh(host, `set -e; cd "$1"; mkdir -p .verify-saved; for f in cert.pem fullchain.pem privkey.pem; do [ -e .verify-saved/$f ] || mv $f .verify-saved/$f; done
            printf '%s' "$2" > cert.pem; printf '%s' "$2" > fullchain.pem; printf '%s' "$3" > privkey.pem; chmod 600 privkey.pem
            bash "$4/ansible/files/osm-nginx" reload >/dev/null`, live, pem.cert, pem.key, layout().osm_remote_root);
    }

    async function restoreCertificate(host: string, _label: string): Promise<void> {
        const live = `${layout().osm_letsencrypt_dir}/live/${layout().osm_wildcard_cert_name}`;
        await stack.lab.sh(host, `set -e; cd "$1"; for f in cert.pem fullchain.pem privkey.pem; do rm -f $f; mv .verify-saved/$f $f; done; rmdir .verify-saved
            bash "$2/ansible/files/osm-nginx" reload >/dev/null`, live, layout().osm_remote_root);
    }

    const customerOn = (host: string) => fleet.customers.find((c) => c.host === host)!;

    before(async function () {
        stack = await LabStack.start({ id: "verify", hostNames: HOSTS.map((h) => h.name) });
        // The example's adopted customer runs in an old orchestrator's container in production; these
        // lab hosts have none (test/lab/adopt.test.ts adopts on one that has), so it is created new
        // here, keeping its fourth name.
        const customers = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "customers.json"), "utf8")) as { customers: CustomersFileEntry[] }).customers
            .map((e) => e.adopt ? { ...e, adopt: false, mqttWebsocket: e.mqttWebsocket ?? true } : e);
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
            // The CLI's files hold the lab customers' credentials.
            fs.rmSync(path.join(stack.lab.state.dir, "cli"), { recursive: true, force: true });
            await stack.stop();
        }
    });

    it("passes on the example fleet as carried out (every customer: DNS, HTTPS, MQTT, on its host; every host)", async () => {
        assert.deepStrictEqual(fleet.customers.map((c) => c.label).sort(), ["acme", "blue-widget-co", "devtank", "greenleaf-vertical-farms", "harbour-cold-store", "northfield-dairy", "saxon-mills"]);
        assert.ok(!fleet.customers.some((c) => c.host === "osm0"), "osm0 drains: no new customer there");
        const t = Date.now();
        const rep = await verify();
        stack.seconds.verify = (Date.now() - t) / 1000;
        process.stderr.write(`verify: ${rep.results.filter((r) => r.check === "status").map((r) => `${r.name}: ${r.note}`).join("; ")}\n`);
        for (const check of ["dns", "https", "mqtt", "host", "ssh", "status"]) {
            stack.seconds[`slowest-${check}`] = Math.max(...rep.results.filter((r) => r.check === check).map((r) => r.seconds));
        }
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

    /**
     * One fault: made, verify run and judged by `check`, then mended whatever the verdict (the
     * next cases share the lab), and verify must pass again.
     */
    async function fault(make: () => Promise<void>, check: (rep: Report) => Promise<void> | void, mend: () => Promise<void>, patch: Partial<VerifyOptions> = {}, withinMs?: number): Promise<void> {
        await make();
        let failure: unknown;
        try {
            const rep = await verify(patch);
            try {
                assert.ok(!rep.ok, "verify must fail while the fault is there");
                await check(rep);
            } catch (e: any) {
                e.message += `\n${formatReport(rep)}`;
                throw e;
            }
        } catch (e) {
            failure = e;
        }
        await mend();
        // Also after a failed check: the next case must start on a mended fleet.
        try {
            await passesAgain({}, withinMs);
        } catch (e) {
            failure ??= e;
        }
        if (failure) throw failure;
    }

    /** Only these rows/checks fail. */
    function onlyFailing(rep: Report, allowed: (f: string) => boolean): void {
        const bad = failing(rep).filter((f) => !allowed(f));
        assert.deepStrictEqual(bad, [], `others fail too: ${bad.join(", ")}`);
    }

    it("a stopped container: named (on host, HTTPS, MQTT), with how to start it; passes once started", async () => {
        const c = customerOn("osm1");
        await fault(() => stack.lab.exec(c.host, "lxc-stop", ["-n", c.label, "-k"]).then(() => undefined), async (rep) => {
            assert.match(problems(rep, c.label, "host"), /container stopped => start it on osm1: lxc-start -n /);
            // NGINX waits for the stopped container's address: no answer within the timeout.
            assert.match(problems(rep, c.label, "https"), new RegExp(`${c.names.grafana}: (no answer \\(timed out\\)|not Grafana \\(GET /api/health: HTTP 502\\)) => .*ON HOST column`));
            onlyFailing(rep, (f) => f.startsWith(`${c.label}/`));
            // The CLI exits 1 and shows the row and the advice.
            const { args } = writeCliFiles(stack, config, deployment, path.join(stack.lab.state.dir, "cli"));
            const cli = await run("node", [path.join(REPO_ROOT, "build", "scripts", "verify.js"), ...args], { allowFail: true, timeoutMs: 120_000 });
            assert.strictEqual(cli.code, 1, cli.stdout + cli.stderr);
            assert.match(cli.stdout, new RegExp(`^${c.label}\\s+osm1\\s+ok\\s+.*container stopped`, "m"));
            assert.match(cli.stdout, /^Problems and what to do:$/m);
            assert.match(cli.stdout, /^ {4}do: start it on osm1: lxc-start/m);
            assert.match(cli.stdout, /^FAIL: /m);
        }, () => stack.lab.exec(c.host, "lxc-start", ["-n", c.label]).then(() => undefined));
    });

    it("a deleted CNAME: named, with pulumi refresh + up; passes once it is back", async () => {
        const c = customerOn("osm2");
        await fault(
            () => stack.pdns.api("PATCH", `/api/v1/servers/localhost/zones/${LAB_DOMAIN}.`, { rrsets: [{ name: `${c.names.influx}.`, type: "CNAME", changetype: "DELETE" }] }).then(() => undefined),
            (rep) => {
                assert.deepStrictEqual(failing(rep), [`${c.label}/dns`]);
                assert.match(problems(rep, c.label, "dns"), new RegExp(`${c.names.influx}: no CNAME \\(NXDOMAIN\\) => pulumi refresh -s lab .*pulumi up -s lab`));
            },
            () => stack.pdns.setRrset(`${c.names.influx}.`, "CNAME", 60, [`${c.host}.${LAB_DOMAIN}.`]));
    });

    it("a CNAME to the wrong host: named with both hosts; passes once pointed back", async () => {
        const c = customerOn("osm1");
        await fault(() => stack.pdns.setRrset(`${c.names.chirpstack}.`, "CNAME", 60, [`osm3.${LAB_DOMAIN}.`]), (rep) => {
            assert.deepStrictEqual(failing(rep), [`${c.label}/dns`]);
            assert.match(problems(rep, c.label, "dns"), new RegExp(`${c.names.chirpstack} -> osm3.${LAB_DOMAIN}, not osm1.${LAB_DOMAIN} => pulumi refresh`));
        }, () => stack.pdns.setRrset(`${c.names.chirpstack}.`, "CNAME", 60, [`osm1.${LAB_DOMAIN}.`]));
    });

    it("an NGINX site removed: named (on host, HTTPS), with the provisioning to re-run; passes once it is back", async () => {
        const c = customerOn("osm3");
        const site = `${layout().osm_nginx_dir}/http/${c.label}.conf`;
        await fault(
            async () => {
                await stack.lab.sh(c.host, 'set -e; mv "$1" /root/verify-saved-site.conf; bash "$2/ansible/files/osm-nginx" reload >/dev/null', site, layout().osm_remote_root);
                // The old workers may serve the name a moment longer.
                const address = fleet.hosts.find((h) => h.name === c.host)!.address;
                await waitFor(`NGINX on ${c.host} to stop serving ${c.names.grafana}`, () => httpsGet({ address, port: 443, servername: c.names.grafana, ca: options.ca, timeoutMs: 2000 }, "/").then(() => false, () => true), 15_000, 200);
            },
            (rep) => {
                assert.match(problems(rep, c.label, "host"), new RegExp(`no NGINX site => re-run its provisioning .*OSM_CUSTOMER=${c.label} .*ansible/run customer\\.yml; never --replace 'urn:pulumi:lab::osm-hosting::osm:hosting:Customer\\$command:remote:Command::${c.label}-container'`));
                assert.match(problems(rep, c.label, "https"), new RegExp(`${c.names.grafana}: TLS refused \\(tlsv1 unrecognized name\\) => NGINX on ${c.host} has no site for ${c.names.grafana}: re-run its provisioning`));
                assert.deepStrictEqual(failing(rep), [`${c.label}/https`, `${c.label}/host`].sort());
            },
            () => stack.lab.sh(c.host, 'set -e; mv /root/verify-saved-site.conf "$1"; bash "$2/ansible/files/osm-nginx" reload >/dev/null', site, layout().osm_remote_root).then(() => undefined));
    });

    it("a certificate replaced by one for another name: named from outside and on the host; passes once the right one is back", async () => {
        const c = customerOn("osm2");
        const other = await issue([`someone-else.${LAB_DOMAIN}`], false);
        await fault(() => swapCertificate(c.host, c.label, other), (rep) => {
            assert.match(problems(rep, c.label, "https"), new RegExp(`${c.names.grafana}: certificate is for someone-else.${LAB_DOMAIN}, not ${c.names.grafana} => re-run its provisioning`));
            assert.match(problems(rep, c.label, "mqtt"), new RegExp(`certificate is for someone-else.${LAB_DOMAIN}, not ${c.names.grafana}`));
            // The host's own view (osm-status reads the lineage's cert.pem): none for its names.
            assert.match(problems(rep, c.label, "host"), new RegExp(`no certificate for ${c.names.grafana}`));
            // The host's one certificate serves all its customers: only they fail.
            onlyFailing(rep, (f) => fleet.customers.some((x) => x.host === c.host && f.startsWith(`${x.label}/`)));
        }, () => restoreCertificate(c.host, c.label));
    });

    it("an expired certificate: named from outside and on the host, with the renewal to run; passes once renewed", async () => {
        const c = customerOn("osm1");
        const expired = await issue(Object.values(c.names), true);
        await fault(() => swapCertificate(c.host, c.label, expired), (rep) => {
            assert.match(problems(rep, c.label, "https"), new RegExp(`${c.names.influx}: certificate expired \\d+ day\\(s\\) ago => renew it on osm1: certbot renew --cert-name ${layout().osm_wildcard_cert_name}`));
            assert.match(problems(rep, c.label, "mqtt"), /certificate expired \d+ day\(s\) ago => renew it on osm1/);
            assert.match(problems(rep, c.label, "host"), /certificate for .* expired \d+ day\(s\) ago => renew it on osm1/);
            // The host's one certificate serves all its customers: only they fail.
            onlyFailing(rep, (f) => fleet.customers.some((x) => x.host === c.host && f.startsWith(`${x.label}/`)));
        }, () => restoreCertificate(c.host, c.label));
    });

    it("a wrong MQTT password in the credentials file: login refused, export the file again; passes with the right one", async () => {
        const c = customerOn("osm3");
        const creds = { ...options.credentials!, [c.label]: { ...options.credentials![c.label], mqttPassword: "not-the-password" } };
        await fault(async () => undefined, (rep) => {
            assert.deepStrictEqual(failing(rep), [`${c.label}/mqtt`]);
            assert.match(problems(rep, c.label, "mqtt"), /login refused \(5: not authorized\) => the credentials file does not match the host: export it again \(pulumi stack output -s lab --show-secrets --json > FILE\)/);
        }, async () => undefined, { credentials: creds });
    });

    it("an extra container no customer owns: named on its host, with how to archive it or adopt it; passes once removed", async () => {
        const lxc = "/var/lib/lxc";
        await fault(
            () => stack.lab.sh("osm3", `set -e; mkdir -p "$1/stray-co/rootfs"; printf 'lxc.uts.name = stray-co\\nlxc.rootfs.path = dir:%s/stray-co/rootfs\\n' "$1" > "$1/stray-co/config"`, lxc).then(() => undefined),
            (rep) => {
                assert.deepStrictEqual(failing(rep), ["osm3/drift"]);
                assert.match(problems(rep, "osm3", "drift"), /container stray-co \(stopped\) no customer owns => If nobody needs it, archive and remove it on osm3: OSM_CUSTOMER=stray-co bash \/opt\/osm\/ansible\/run container-delete.yml/);
            },
            () => stack.lab.sh("osm3", 'rm -rf "$1/stray-co"', lxc).then(() => undefined));
    });

    it("a host whose SSH key changed: refused before anything is sent, named with what to do; passes once the key is back", async () => {
        const host = "osm2";
        const hup = 'kill -HUP "$(cat /run/sshd.pid)"; sleep 0.3';
        await fault(
            () => stack.lab.sh(host, `set -e; cd /etc/ssh; mv ssh_host_ed25519_key /root/verify-saved-key; mv ssh_host_ed25519_key.pub /root/verify-saved-key.pub
                ssh-keygen -q -t ed25519 -N '' -f ssh_host_ed25519_key; ${hup}`).then(() => undefined),
            (rep) => {
                assert.match(problems(rep, host, "ssh"), /host key changed: refused => host key of .* differs from the pinned hostKey: refused\. nothing was sent\. If osm2 was reinstalled/);
                assert.strictEqual(rep.results.find((r) => r.name === host && r.check === "status")!.status, "skip");
                // Its customers are still checked from outside, and pass there.
                const c = customerOn(host);
                assert.strictEqual(rep.results.find((r) => r.name === c.label && r.check === "https")!.status, "ok");
                assert.strictEqual(rep.results.find((r) => r.name === c.label && r.check === "host")!.status, "skip");
                assert.deepStrictEqual(failing(rep), [`${host}/ssh`]);
            },
            () => stack.lab.sh(host, `set -e; cd /etc/ssh; mv /root/verify-saved-key ssh_host_ed25519_key; mv /root/verify-saved-key.pub ssh_host_ed25519_key.pub; ${hup}`).then(() => undefined));
    });

    it("a host that is down: reported within the timeout (not minutes); passes once it is back", async () => {
        const h = stack.lab.host("osm1");
        const timeoutMs = 5000;
        const onOsm1 = new Set(["osm1", ...fleet.customers.filter((c) => c.host === "osm1").map((c) => c.label)]);
        let seconds = 0;
        await fault(() => run("ip", ["link", "set", h.veth, "down"]).then(() => undefined), (rep) => {
            seconds = rep.seconds;
            assert.ok(seconds < (timeoutMs / 1000) * 3 + 3, `verify took ${seconds} s with a ${timeoutMs} ms timeout`);
            assert.match(problems(rep, "osm1", "ssh"), /^unreachable => .*the host osm1 is down or unreachable/);
            const c = customerOn("osm1");
            assert.match(problems(rep, c.label, "https"), /(timed out|unreachable).* => the host osm1 is down or unreachable/);
            onlyFailing(rep, (f) => onOsm1.has(f.split("/")[0]));
        }, () => run("ip", ["link", "set", h.veth, "up"]).then(() => undefined), { timeoutMs }, 60_000);
        stack.seconds.verifyHostDown = seconds;
    });
});
