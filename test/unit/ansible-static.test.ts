/**
 * Static checks of the host side (ansible/), no lab needed: every playbook passes
 * `ansible-playbook --syntax-check`; the folder passes `ansible-lint --offline` with the
 * profile set in ansible/.ansible-lint; the NGINX config the templates generate for sample
 * customers passes `nginx -t` in a scratch prefix; the shell scripts parse; the playbooks
 * refuse missing or malformed OSM_* variables before touching anything, naming them (and
 * AcceptEnv); the folder passes yamllint; the host contract (vars/osm.yml) is the only copy of
 * the layout and the rules, and files/osm_contract.py applies the rules as check-env.yml does;
 * the firewall ruleset renders and loads (in a network namespace of its own); the address
 * allocator hands out distinct addresses under concurrency.
 */
import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";

const REPO = path.resolve(__dirname, "../../..");
const ANSIBLE = path.join(REPO, "ansible");
const PLAYBOOKS = ["host-setup.yml", "customer.yml", "container-delete.yml", "move-grant.yml", "move-revoke.yml"];

interface Out {
    code: number;
    stdout: string;
    stderr: string;
}

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {}): Promise<Out> {
    return new Promise((resolve) => {
        const child = execFile(cmd, args, { cwd: opts.cwd, env: opts.env as NodeJS.ProcessEnv | undefined, maxBuffer: 32 << 20, timeout: 180_000 },
            (err, stdout, stderr) => {
                const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
                resolve({ code, stdout: String(stdout), stderr: String(stderr) });
            });
        if (opts.input !== undefined) child.stdin!.end(opts.input);
    });
}

/** The environment without any OSM_* variable, plus `osm`. */
function envWith(osm: Record<string, string>): Record<string, string | undefined> {
    const env: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("OSM_")) env[k] = v;
    return { ...env, ANSIBLE_CONFIG: path.join(ANSIBLE, "ansible.cfg"), ANSIBLE_NOCOLOR: "1", ...osm };
}

/** The host contract as the playbooks load it. */
interface Contract {
    osm_env_rules: Record<string, { pattern?: string; integer?: [number, number]; expect: string }>;
    osm_playbook_env: Record<string, { required: string[]; optional: string[] }>;
    [key: string]: unknown;
}
const CONTRACT_FILE = path.join(ANSIBLE, "vars", "osm.yml");
const contract = (): Contract => yaml.load(fs.readFileSync(CONTRACT_FILE, "utf8")) as Contract;

/**
 * A copy of ansible/ (scripts, templates, contract) in DIR/ansible whose contract has the
 * given layout values instead, so a script can run against scratch paths: the scripts take
 * no path from anywhere else.
 */
function scratchAnsible(dir: string, layout: Record<string, string | string[]>): string {
    const copy = path.join(dir, "ansible");
    fs.cpSync(ANSIBLE, copy, { recursive: true });
    let text = fs.readFileSync(CONTRACT_FILE, "utf8");
    for (const [key, value] of Object.entries(layout)) {
        const line = new RegExp(`^${key}: .*$`, "m");
        assert.match(text, line, `the contract has ${key}`);
        text = text.replace(line, `${key}: ${JSON.stringify(value)}`);
    }
    fs.writeFileSync(path.join(copy, "vars", "osm.yml"), text);
    return copy;
}

/** Renders templates the way Ansible's template lookup does (Jinja2, trim_blocks). */
async function render(template: string, vars: Record<string, unknown>): Promise<string> {
    const py = `
import json, sys, jinja2
env = jinja2.Environment(loader=jinja2.FileSystemLoader(sys.argv[1]), trim_blocks=True, keep_trailing_newline=True,
                         undefined=jinja2.StrictUndefined)
sys.stdout.write(env.get_template(sys.argv[2]).render(json.loads(sys.stdin.read())))
`;
    const r = await sh("/usr/bin/python3", ["-c", py, path.join(ANSIBLE, "templates"), template], { input: JSON.stringify(vars) });
    assert.strictEqual(r.code, 0, `rendering ${template}: ${r.stderr}`);
    return r.stdout;
}

describe("ansible/ static checks", function () {
    this.timeout(240_000);

    for (const p of PLAYBOOKS) {
        it(`${p} passes ansible-playbook --syntax-check`, async () => {
            const r = await sh("ansible-playbook", ["--syntax-check", "-i", "localhost,", p], { cwd: ANSIBLE, env: envWith({}) });
            assert.strictEqual(r.code, 0, r.stdout + r.stderr);
        });
    }

    it("passes ansible-lint --offline with the profile of ansible/.ansible-lint", async () => {
        const conf = fs.readFileSync(path.join(ANSIBLE, ".ansible-lint"), "utf8");
        assert.match(conf, /^profile: production$/m, "the lint profile is 'production'");
        const r = await sh("ansible-lint", ["--offline", "--nocolor", "-q"], { cwd: ANSIBLE, env: { ...process.env, NO_COLOR: "1" } });
        assert.strictEqual(r.code, 0, `ansible-lint found problems:\n${r.stdout}\n${r.stderr}`);
    });

    it("passes yamllint --strict with the checkout's .yamllint", async () => {
        assert.ok(fs.existsSync(path.join(REPO, ".yamllint")), "the checkout has a .yamllint");
        const r = await sh("yamllint", ["--strict", "-f", "parsable", "ansible/"], { cwd: REPO });
        assert.strictEqual(r.code, 0, `yamllint found problems:\n${r.stdout}\n${r.stderr}`);
    });

    it("yamllint fails on a problem (the check can fail)", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-yamllint-"));
        try {
            fs.writeFileSync(path.join(dir, "bad.yml"), "---\nkey: value \nmode: 0644\n");
            const r = await sh("yamllint", ["--strict", "-f", "parsable", "-c", path.join(REPO, ".yamllint"), dir]);
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stdout, /trailing-spaces/);
            assert.match(r.stdout, /octal-values/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("no bash script exits silently under set -e: each names the failing command (ERR trap), and a pipeline that finds nothing does not end it", async () => {
        const scripts = [path.join(ANSIBLE, "run"), ...fs.readdirSync(path.join(ANSIBLE, "files")).map((f) => path.join(ANSIBLE, "files", f))]
            .filter((f) => /^#!.*\bbash\b/.test(fs.readFileSync(f, "utf8").split("\n")[0]));
        assert.ok(scripts.length >= 5, "the bash scripts were found");
        for (const f of scripts) {
            const text = fs.readFileSync(f, "utf8");
            assert.match(text, /^set -euo pipefail\n(#.*\n)?trap '.*failed \(exit \$\?\)" >&2' ERR$/m, `${f} sets the ERR trap right after set -euo pipefail`);
            // `ps --ppid` with no child exits 1: unguarded in a pipeline it ended osm-nginx silently.
            for (const line of text.split("\n")) if (/\bps\b.*--ppid/.test(line)) assert.match(line, /\|\| true/, `${f}: ${line.trim()}`);
        }
        // The trap as the scripts set it really reports a failed pipeline in a command substitution.
        const trap = fs.readFileSync(path.join(ANSIBLE, "files", "osm-nginx"), "utf8").match(/^trap .* ERR$/m)![0];
        const r = await sh("bash", ["-c", `set -euo pipefail\n${trap}\nv="$(ps -o pid= --ppid 999999999 | sort)"\necho unreachable`]);
        assert.notStrictEqual(r.code, 0);
        assert.match(r.stderr, /osm-nginx: line 3: .*ps -o pid= --ppid 999999999.* failed \(exit 1\)/);
        assert.doesNotMatch(r.stdout, /unreachable/);
    });

    it("has shell scripts that parse and Python scripts that compile", async () => {
        const files = fs.readdirSync(path.join(ANSIBLE, "files")).map((f) => path.join(ANSIBLE, "files", f));
        files.push(path.join(ANSIBLE, "run"));
        for (const f of files) {
            const first = fs.readFileSync(f, "utf8").split("\n")[0];
            assert.ok((fs.statSync(f).mode & 0o111) !== 0, `${f} is executable`);
            if (/^#!\/usr\/bin\/python3$/.test(first)) {
                const r = await sh("/usr/bin/python3", ["-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())", f]);
                assert.strictEqual(r.code, 0, `${f}: ${r.stderr}`);
            } else {
                assert.match(first, /^#!\/(usr\/bin\/env bash|bin\/sh|bin\/bash)/, `${f} has a shell shebang`);
                const r = await sh(/sh$/.test(first) && !/bash/.test(first) ? "sh" : "bash", ["-n", f]);
                assert.strictEqual(r.code, 0, `${f}: ${r.stderr}`);
            }
        }
    });

    describe("generated NGINX config", () => {
        let dir: string;
        before(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-nginx-"));
        });
        after(() => fs.rmSync(dir, { recursive: true, force: true }));

        it("passes nginx -t for sample customers (HTTPS vhosts + MQTT stream servers)", async () => {
            const customers = [
                { label: "acme", address: "10.118.0.2", port: 8901, websocket: true },
                { label: "blue-widget-co", address: "10.118.0.3", port: 8999, websocket: false },
                // The longest label (52 characters) makes the longest server_name (its -mqtt name too).
                { label: "a".repeat(25) + "-" + "b".repeat(26), address: "10.118.255.254", port: 65535, websocket: true },
            ];
            const { osm_mqtt_websocket_suffix: wsSuffix, osm_mqtt_websocket_port: wsPort } = contract();
            const common = {
                osm_nginx_dir: path.join(dir, "osm"),
                osm_nginx_pidfile: path.join(dir, "nginx.pid"),
                osm_nginx_log_dir: path.join(dir, "logs"),
                osm_acme_webroot: path.join(dir, "acme"),
                osm_letsencrypt_dir: path.join(dir, "le"),
                osm_domain: "opensmartmonitor.devtank.co.uk",
            };
            for (const d of ["osm/http", "osm/stream", "logs", "acme"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
            // Relative load_module paths (modules-enabled) resolve against the prefix.
            fs.symlinkSync("/usr/lib/nginx/modules", path.join(dir, "modules"));
            fs.writeFileSync(path.join(dir, "nginx.conf"), await render("nginx.conf.j2", common));
            // The host's one certificate (for *.<domain>) serves every customer.
            const live = path.join(dir, "le", "live", "osm--wildcard");
            fs.mkdirSync(live, { recursive: true });
            const cert = await sh("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                "-subj", "/CN=osm-test", "-keyout", path.join(live, "privkey.pem"), "-out", path.join(live, "fullchain.pem")]);
            assert.strictEqual(cert.code, 0, cert.stderr);
            for (const c of customers) {
                const vars = { ...common, osm_wildcard_cert_name: "osm--wildcard", osm_customer: c.label, osm_address: c.address, osm_mqtt_port: c.port,
                    osm_mqtt_websocket: c.websocket, osm_mqtt_websocket_suffix: wsSuffix, osm_mqtt_websocket_port: wsPort };
                const http = await render("customer-http.conf.j2", vars);
                const stream = await render("customer-stream.conf.j2", vars);
                for (const n of ["", "-chirpstack", "-influx"]) assert.match(http, new RegExp(`server_name ${c.label}${n}\\.${common.osm_domain.replace(/\./g, "\\.")};`));
                assert.match(http, new RegExp(`location /api/live/ \\{\\s+proxy_pass http://${c.address.replace(/\./g, "\\.")}:3000;`));
                assert.match(http, /proxy_pass http:\/\/[0-9.]+:8080;[^}]*Upgrade \$http_upgrade/);
                assert.match(http, /proxy_pass http:\/\/[0-9.]+:8086;/);
                // mqttWebsocket: <label>-mqtt.<domain> -> Mosquitto's websockets listener, upgraded; without it, no such vhost.
                const ws = new RegExp(`server_name ${c.label}-mqtt\\.${common.osm_domain.replace(/\./g, "\\.")};[^}]*proxy_pass http://${c.address.replace(/\./g, "\\.")}:9001;[^}]*Upgrade \\$http_upgrade`);
                if (c.websocket) assert.match(http, ws);
                else assert.doesNotMatch(http, /-mqtt\.|:9001/);
                assert.match(stream, new RegExp(`listen ${c.port} ssl;[^}]*proxy_pass ${c.address.replace(/\./g, "\\.")}:1883;`));
                fs.writeFileSync(path.join(dir, "osm", "http", `${c.label}.conf`), http);
                fs.writeFileSync(path.join(dir, "osm", "stream", `${c.label}.conf`), stream);
            }
            const r = await sh("nginx", ["-t", "-p", dir, "-c", path.join(dir, "nginx.conf")]);
            assert.strictEqual(r.code, 0, `nginx -t: ${r.stderr}`);
            assert.match(r.stderr, /test is successful/);
        });

        it("keeps the old orchestrator's includes while its directory exists (nginx -t with its vhost and MQTT port), and has none elsewhere", async () => {
            const c = contract();
            const upstreamDir = path.join(dir, "devtank");
            const common = {
                osm_nginx_dir: path.join(dir, "osm"), osm_nginx_pidfile: path.join(dir, "nginx.pid"), osm_nginx_log_dir: path.join(dir, "logs"),
                osm_acme_webroot: path.join(dir, "acme"), osm_upstream_nginx_dir: upstreamDir,
                osm_upstream_nginx_http_includes: c.osm_upstream_nginx_http_includes, osm_upstream_nginx_stream_includes: c.osm_upstream_nginx_stream_includes,
            };
            const plain = await render("nginx.conf.j2", { ...common, osm_upstream_nginx: false });
            assert.doesNotMatch(plain, /devtank/);
            const kept = await render("nginx.conf.j2", { ...common, osm_upstream_nginx: true });
            for (const d of ["customers.http.d", "services"]) assert.match(kept, new RegExp(`http \\{[^]*include ${upstreamDir}/${d}/\\*\\.conf;[^]*\\n\\}\\n\\nstream`));
            assert.match(kept, new RegExp(`stream \\{[^]*include ${upstreamDir}/customers\\.stream\\.d/\\*\\.conf;`));
            // An upstream customer as the old orchestrator wrote it: its own certificate, its four names, its MQTT port.
            for (const d of ["osm/http", "osm/stream", "logs", "acme", "devtank/customers.http.d", "devtank/customers.stream.d", "devtank/services", "up"]) {
                fs.mkdirSync(path.join(dir, d), { recursive: true });
            }
            if (!fs.existsSync(path.join(dir, "modules"))) fs.symlinkSync("/usr/lib/nginx/modules", path.join(dir, "modules"));
            const cert = await sh("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                "-subj", "/CN=quayside.osm.example.test", "-keyout", path.join(dir, "up", "privkey.pem"), "-out", path.join(dir, "up", "fullchain.pem")]);
            assert.strictEqual(cert.code, 0, cert.stderr);
            const tls = `ssl_certificate ${dir}/up/fullchain.pem; ssl_certificate_key ${dir}/up/privkey.pem;`;
            fs.writeFileSync(path.join(dir, "devtank", "customers.http.d", "quayside.conf"), ["", "-chirpstack", "-influx", "-mqtt"].map((n) =>
                `server { listen 443 ssl; server_name quayside${n}.osm.example.test; ${tls} location / { proxy_pass http://127.0.0.1:3000; ` +
                "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; } }\n").join("") +
                "server { listen 80; server_name quayside.osm.example.test; return 301 https://$host$request_uri; }\n");
            fs.writeFileSync(path.join(dir, "devtank", "customers.stream.d", "quayside.conf"), `server { listen 8931 ssl; ${tls} proxy_pass 127.0.0.1:1883; }\n`);
            fs.writeFileSync(path.join(dir, "devtank", "services", "status.conf"), "server { listen 127.0.0.1:8099; location /nginx_status { stub_status; } }\n");
            fs.writeFileSync(path.join(dir, "upstream.conf"), kept);
            const r = await sh("nginx", ["-t", "-p", dir, "-c", path.join(dir, "upstream.conf")]);
            assert.strictEqual(r.code, 0, `nginx -t: ${r.stderr}`);
            fs.rmSync(upstreamDir, { recursive: true, force: true });
        });

        it("nginx -t catches a broken customer config (the check can fail)", async () => {
            fs.writeFileSync(path.join(dir, "osm", "stream", "broken.conf"), "server { listen 8902 ssl; proxy_pass 10.118.0.9:1883; }\n");
            const r = await sh("nginx", ["-t", "-p", dir, "-c", path.join(dir, "nginx.conf")]);
            fs.rmSync(path.join(dir, "osm", "stream", "broken.conf"));
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stderr, /ssl_certificate/);
        });
    });

    it("gives Mosquitto a websockets listener on the container's address with mqttWebsocket only (no other change of its config)", async () => {
        const c = contract();
        const vars = { osm_address: "10.118.0.2", osm_mqtt_websocket_port: c.osm_mqtt_websocket_port };
        const off = await render("mosquitto-osm.conf.j2", { ...vars, osm_mqtt_websocket: false });
        const on = await render("mosquitto-osm.conf.j2", { ...vars, osm_mqtt_websocket: true });
        assert.doesNotMatch(off, /9001|websockets/);
        assert.ok(on.startsWith(off), "the option only adds lines: customers without it keep their file (no restart)");
        assert.match(on.slice(off.length), /^listener 9001 10\.118\.0\.2\nprotocol websockets\n$/m);
        // Same users: one password file for every listener.
        assert.match(on, /^per_listener_settings false$/m);
        assert.match(on, /^allow_anonymous false$/m);
        // A move forwards the fourth name too, when the customer has it.
        // The contract's own values (osm_peer_ca_bundle, the suffixes...), then the per-run ones.
        const fwd = { ...c, osm_customer: "acme", osm_domain: "osm.example.test", osm_move_peer_address: "192.0.2.11", osm_letsencrypt_dir: "/etc/letsencrypt",
            osm_wildcard_cert_name: "osm--wildcard" };
        const names = (t: string) => [...t.matchAll(/^\s*server_name (\S+);/gm)].map((m) => m[1]);
        assert.deepStrictEqual(names(await render("customer-forward-http.conf.j2", { ...fwd, osm_mqtt_websocket: false })),
            ["acme.osm.example.test", "acme-influx.osm.example.test", "acme-chirpstack.osm.example.test"]);
        assert.deepStrictEqual(names(await render("customer-forward-http.conf.j2", { ...fwd, osm_mqtt_websocket: true })),
            ["acme.osm.example.test", "acme-influx.osm.example.test", "acme-chirpstack.osm.example.test", "acme-mqtt.osm.example.test"]);
    });

    it("renders the LXC config with v2 limits on cgroup v2 hosts and v1 limits elsewhere", async () => {
        const vars = {
            // The customer's base, as customer.yml sets it: here the one base of before (no OSM_BASE).
            osm_customer: "acme", osm_customer_base_rootfs: "/var/lib/osm/base/rootfs", osm_containers_dir: "/var/lib/osm/containers",
            osm_bridge: "osmbr0", osm_bridge_prefix: 16, osm_bridge_broadcast: "10.118.255.255", osm_veth_prefix: "osmv",
            osm_mac: "00:16:3e:76:01:0a", osm_address: "10.118.1.10",
            osm_memory_mib: "512", osm_cpus: "1.5",
        };
        const v2 = await render("lxc-container.conf.j2", { ...vars, osm_cgroup2: true });
        assert.match(v2, /^lxc\.rootfs\.path = overlayfs:\/var\/lib\/osm\/base\/rootfs:\/var\/lib\/osm\/containers\/acme\/upper$/m);
        assert.match(v2, /^lxc\.cgroup2\.memory\.max = 512M$/m);
        assert.match(v2, /^lxc\.cgroup2\.cpu\.max = 150000 100000$/m);
        assert.match(v2, /^lxc\.net\.0\.veth\.pair = osmv010a$/m);
        assert.match(v2, /^lxc\.net\.0\.ipv4\.address = 10\.118\.1\.10\/16 10\.118\.255\.255$/m);
        assert.doesNotMatch(v2, /lxc\.cgroup\./);
        const v1 = await render("lxc-container.conf.j2", { ...vars, osm_cgroup2: false });
        assert.match(v1, /^lxc\.cgroup\.memory\.limit_in_bytes = 512M$/m);
        assert.match(v1, /^lxc\.cgroup\.cpu\.cfs_quota_us = 150000$/m);
        assert.doesNotMatch(v1, /lxc\.cgroup2\./);
    });

    describe("environment checks (fail before touching anything)", () => {
        const good = {
            OSM_CUSTOMER: "acme", OSM_DOMAIN: "osm.example.test", OSM_HOST_NAME: "osm-1", OSM_MQTT_PORT: "8901",
            OSM_CPUS: "1", OSM_MEMORY_MIB: "512", OSM_ACME_SERVER: "https://acme.example.test/dir", OSM_ACME_EMAIL: "ops@example.test",
        };
        const hostGood = {
            OSM_HOST_NAME: "osm-1", OSM_DOMAIN: "osm.example.test", OSM_ACME_SERVER: good.OSM_ACME_SERVER, OSM_ACME_EMAIL: good.OSM_ACME_EMAIL,
            OSM_ACME_DNS_SERVER: "192.0.2.53", OSM_ACME_DNS_PORT: "53", OSM_ACME_DNS_PROPAGATION_SECONDS: "5", OSM_ACME_TSIG_KEY: "osm-acme",
            OSM_ACME_TSIG_ALGORITHM: "hmac-sha256", OSM_ACME_TSIG_SECRET: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
        };
        // Only the first task may run: each case must fail in "Check the OSM_* environment variables".
        const cases: { title: string; playbook: string; env: Record<string, string>; expect: RegExp[] }[] = [
            { title: "every variable missing", playbook: "customer.yml", env: {},
                expect: [/not set: OSM_CUSTOMER .*OSM_CPUS .*OSM_MEMORY_MIB/, /AcceptEnv OSM_\*/] },
            { title: "provision without its port", playbook: "customer.yml",
                env: { OSM_CUSTOMER: "acme", OSM_DOMAIN: "osm.example.test" },
                expect: [/not set: OSM_MQTT_PORT/, /AcceptEnv/] },
            { title: "host set-up without the ACME DNS-01 settings", playbook: "host-setup.yml",
                env: { OSM_HOST_NAME: "osm-1", OSM_DOMAIN: "osm.example.test", OSM_ACME_SERVER: good.OSM_ACME_SERVER, OSM_ACME_EMAIL: good.OSM_ACME_EMAIL },
                expect: [/not set: OSM_ACME_DNS_SERVER .*OSM_ACME_TSIG_KEY .*OSM_ACME_TSIG_SECRET/, /AcceptEnv/] },
            { title: "a malformed TSIG secret, without showing it", playbook: "host-setup.yml",
                env: { ...hostGood, OSM_ACME_TSIG_SECRET: "not base64 SECRET-SENTINEL-81f" },
                expect: [/OSM_ACME_TSIG_SECRET=\(secret, not shown\) is malformed: it must be the TSIG key's secret, base64/] },
            { title: "a label with a trailing dash", playbook: "customer.yml", env: { ...good, OSM_CUSTOMER: "acme-" },
                expect: [/OSM_CUSTOMER="acme-" is malformed: it must be a DNS label/] },
            { title: "a label with upper case", playbook: "container-delete.yml", env: { OSM_CUSTOMER: "Acme" }, expect: [/OSM_CUSTOMER="Acme" is malformed/] },
            { title: "a label of 53 characters", playbook: "customer.yml", env: { ...good, OSM_CUSTOMER: "a".repeat(53) },
                expect: [/OSM_CUSTOMER=.* is malformed: .*1-52 characters/] },
            { title: "a shell metacharacter in a label", playbook: "container-delete.yml", env: { OSM_CUSTOMER: "a;reboot" }, expect: [/OSM_CUSTOMER="a;reboot" is malformed/] },
            { title: "a port below 1024", playbook: "customer.yml", env: { ...good, OSM_MQTT_PORT: "1023" }, expect: [/OSM_MQTT_PORT="1023" is malformed: .*1024 to 65535/] },
            { title: "a port above 65535", playbook: "customer.yml", env: { ...good, OSM_MQTT_PORT: "65536" }, expect: [/OSM_MQTT_PORT="65536" is malformed/] },
            { title: "a domain with a trailing dot", playbook: "host-setup.yml",
                env: { ...hostGood, OSM_DOMAIN: "osm.example.test." },
                expect: [/OSM_DOMAIN="osm.example.test." is malformed/] },
            { title: "zero CPUs and too little memory", playbook: "customer.yml", env: { ...good, OSM_CPUS: "0", OSM_MEMORY_MIB: "16" },
                expect: [/OSM_CPUS="0" is malformed/, /OSM_MEMORY_MIB="16" is malformed/] },
            { title: "a CA bundle that does not exist", playbook: "host-setup.yml", env: { ...hostGood, OSM_ACME_CA_BUNDLE: "/nonexistent/ca.pem" },
                expect: [/OSM_ACME_CA_BUNDLE=\/nonexistent\/ca.pem names no file on this host/] },
            { title: "an ACME server that is no URL", playbook: "host-setup.yml",
                env: { ...hostGood, OSM_ACME_SERVER: "acme.example.test", OSM_ACME_EMAIL: "ops" },
                expect: [/OSM_ACME_SERVER="acme.example.test" is malformed/, /OSM_ACME_EMAIL="ops" is malformed/] },
            // Values the host accepted before the program's rules and the host's became one contract.
            { title: "ACME over plain http and an e-mail address without a domain", playbook: "host-setup.yml",
                env: { ...hostGood, OSM_ACME_SERVER: "http://acme.example.test/dir", OSM_ACME_EMAIL: "ops@localhost" },
                expect: [/OSM_ACME_SERVER="http:\/\/acme.example.test\/dir" is malformed: it must be an ACME directory URL \(https\)/, /OSM_ACME_EMAIL="ops@localhost" is malformed/] },
            { title: "a label with two dashes in a row", playbook: "container-delete.yml", env: { OSM_CUSTOMER: "a--b" },
                expect: [/OSM_CUSTOMER="a--b" is malformed: .*no '--'/] },
            { title: "half a CPU and memory below 256 MiB", playbook: "customer.yml", env: { ...good, OSM_CPUS: "0.5", OSM_MEMORY_MIB: "255" },
                expect: [/OSM_CPUS="0.5" is malformed: it must be a whole number of CPUs from 1 to 64/, /OSM_MEMORY_MIB="255" is malformed: .*from 256/] },
            { title: "a port with a leading zero and a label with a trailing newline", playbook: "customer.yml",
                env: { ...good, OSM_MQTT_PORT: "09001", OSM_CUSTOMER: "acme\n" },
                expect: [/OSM_MQTT_PORT="09001" is malformed/, /OSM_CUSTOMER="acme\\+n" is malformed/] },
        ];
        for (const c of cases) {
            it(`refuses ${c.title}`, async () => {
                const r = await sh("ansible-playbook", ["-i", "localhost,", "-c", "local", "-e", `osm_playbook=${c.playbook}`, c.playbook],
                    { cwd: ANSIBLE, env: envWith(c.env) });
                assert.notStrictEqual(r.code, 0, "the playbook must fail");
                // Ansible prints the message JSON-encoded: undo the quote escaping.
                const log = (r.stdout + r.stderr).replace(/\\"/g, '"');
                assert.match(log, /TASK \[Check the OSM_\* environment variables\][^]*fatal:/);
                assert.match(log, /ok=0 +changed=0 +unreachable=0 +failed=1/, "nothing ran before or after the check");
                for (const e of c.expect) assert.match(log, e);
                assert.ok(!log.includes("SECRET-SENTINEL-81f"), "a secret value is never shown");
            });
        }

        it("refuses to run without knowing which playbook it is (osm_playbook, passed by ./run)", async () => {
            const r = await sh("ansible-playbook", ["-i", "localhost,", "-c", "local", "container-delete.yml"], { cwd: ANSIBLE, env: envWith({ OSM_CUSTOMER: "acme" }) });
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stdout + r.stderr, /osm_playbook_env in vars\/osm\.yml.*run it through \.\/run, or pass -e osm_playbook=FILE\.yml/);
            assert.match(r.stdout + r.stderr, /ok=0 +changed=0 +unreachable=0 +failed=1/);
        });
    });

    describe("the host contract (vars/osm.yml)", () => {
        const c = contract();
        const names = Object.keys(c.osm_env_rules);

        it("lists the environment of every playbook, and only variables it has rules for", () => {
            assert.deepStrictEqual(Object.keys(c.osm_playbook_env).sort(), [...PLAYBOOKS].sort());
            for (const [p, env] of Object.entries(c.osm_playbook_env)) {
                assert.deepStrictEqual(Object.keys(env).sort(), ["optional", "required"], p);
                for (const n of [...env.required, ...env.optional]) assert.ok(names.includes(n), `${p}: ${n} has a rule`);
                assert.strictEqual(new Set([...env.required, ...env.optional]).size, env.required.length + env.optional.length, `${p} lists each name once`);
            }
            for (const p of PLAYBOOKS) {
                assert.doesNotMatch(fs.readFileSync(path.join(ANSIBLE, p), "utf8"), /osm_(required|optional)_env/, `${p} lists no variables of its own`);
            }
        });

        it("has rules of one kind each, in the dialect JavaScript and Python share", () => {
            for (const [n, rule] of Object.entries(c.osm_env_rules)) {
                assert.match(n, /^OSM_[A-Z0-9_]+$/);
                assert.ok(typeof rule.expect === "string" && rule.expect.length > 10, `${n} has an expect text`);
                assert.ok((rule.pattern === undefined) !== (rule.integer === undefined), `${n} has a pattern or an integer range`);
                if (rule.pattern !== undefined) {
                    assert.match(rule.pattern, /^\^.*\$$/, `${n}: anchored`);
                    assert.doesNotMatch(rule.pattern, /\(\?<|\(\?P/, `${n}: no lookbehind or named group`);
                    assert.doesNotThrow(() => new RegExp(rule.pattern!), `${n}: JavaScript reads the pattern`);
                } else {
                    const [lo, hi] = rule.integer!;
                    assert.ok(Number.isInteger(lo) && Number.isInteger(hi) && 0 <= lo && lo <= hi, `${n}: integer range`);
                }
            }
        });

        it("is the only copy of the layout and the rules: no script or template carries its own", () => {
            const layoutValues = Object.entries(c)
                .filter(([k, v]) => k.startsWith("osm_") && (typeof v === "string" || typeof v === "number") && !String(v).includes("{{"))
                .map(([k, v]) => [k, String(v)] as const)
                .filter(([, v]) => v.length >= 6); // short values (16, osmv) are too common to search for
            const files = [
                ...fs.readdirSync(path.join(ANSIBLE, "files")).map((f) => path.join("files", f)),
                ...fs.readdirSync(path.join(ANSIBLE, "templates")).map((f) => path.join("templates", f)),
                "run",
            ];
            const found: string[] = [];
            for (const f of files) {
                let docstring = false;
                fs.readFileSync(path.join(ANSIBLE, f), "utf8").split("\n").forEach((line, i) => {
                    // Comments and Python docstrings may name things.
                    const quotes = (line.match(/"""/g) ?? []).length;
                    const inDocstring = docstring || quotes > 0;
                    if (quotes % 2 === 1) docstring = !docstring;
                    if (inDocstring || /^\s*#/.test(line)) return;
                    for (const [k, v] of layoutValues) if (line.includes(v)) found.push(`${f}:${i + 1} has ${k}'s value ${v}`);
                    if (/\{0,50\}|\{0,61\}/.test(line)) found.push(`${f}:${i + 1} has a copy of a label pattern`);
                    if (/\$\{OSM_[A-Z_]+:-[^}]|os\.environ\.get\("OSM_/.test(line)) found.push(`${f}:${i + 1} has a default of its own: ${line.trim()}`);
                });
            }
            assert.deepStrictEqual(found, []);
        });

        it("osm_contract.py prints the layout for shell scripts and checks values", async () => {
            const tool = path.join(ANSIBLE, "files", "osm_contract.py");
            const shell = await sh("bash", ["-c", 'eval "$(/usr/bin/python3 "$1" shell)" && echo "$osm_state_dir|$osm_bridge|$osm_bridge_prefix|$osm_remote_root"', "-", tool]);
            assert.strictEqual(shell.code, 0, shell.stderr);
            assert.strictEqual(shell.stdout.trim(), `${c.osm_state_dir}|${c.osm_bridge}|${c.osm_bridge_prefix}|${c.osm_remote_root}`);
            const bad = await sh("/usr/bin/python3", [tool, "shell", "OSM_CUSTOMER", "a--b", "OSM_MQTT_PORT", "80"]);
            assert.strictEqual(bad.code, 2);
            assert.strictEqual(bad.stdout, "", "no layout printed when a value is malformed");
            assert.match(bad.stderr, /^OSM_CUSTOMER="a--b" is malformed: it must be a DNS label.*\nOSM_MQTT_PORT="80" is malformed: it must be a TCP port number from 1024 to 65535\n$/);
            assert.strictEqual((await sh("/usr/bin/python3", [tool, "check", "OSM_CPUS", "64"])).code, 0);
            assert.strictEqual((await sh("/usr/bin/python3", [tool, "check", "OSM_CPUS", "65"])).code, 1);
        });

        it("gives the same verdicts in osm_contract.py (the scripts) as in check-env.yml (the playbooks)", async function () {
            this.timeout(180_000);
            // Per variable: values on both sides of each limit.
            const table: Record<string, string[]> = {
                OSM_CUSTOMER: ["a", "acme-2", "a".repeat(52), "a".repeat(53), "a--b", "-a", "a-", "Acme", "a_b", "acme\n"],
                OSM_HOST_NAME: ["osm-1", "a".repeat(63), "a".repeat(64), "osm_1", "osm-"],
                OSM_DOMAIN: ["osm.example.com", "example.co", `${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(59)}.example`,
                    `${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(60)}.example`, "localhost", "osm.example.com.", "Osm.example.com", "osm.1com", "osm..example.com"],
                OSM_MQTT_PORT: ["1024", "8883", "65535", "1023", "65536", "08883", "+8883", "88 83", "0"],
                OSM_CPUS: ["1", "64", "0", "65", "0.5", "1.0", "01", "-1"],
                OSM_MEMORY_MIB: ["256", "262144", "255", "262145", "60", "512M", "1e3"],
                OSM_ACME_SERVER: ["https://acme-v02.api.letsencrypt.org/directory", "https://10.0.0.1:14000/dir", "https://[::1]:14000/dir",
                    "http://acme.example/dir", "https://", "https://a b/", "ftp://x/"],
                OSM_ACME_EMAIL: ["ops@example.com", "a.b+c@mail.example.org", "ops@localhost", "ops", "@example.com", "ops@example.c", "o ps@example.com"],
                // check-env.yml also wants the CA bundle to exist: the good paths are files on every machine.
                OSM_ACME_CA_BUNDLE: ["/etc/passwd", "/etc/hostname", "/", "etc/passwd", "/etc/pass wd", "/etc//passwd"],
                OSM_ACME_DNS_SERVER: ["192.0.2.53", "10.0.0.1", "255.255.255.255", "256.1.1.1", "1.2.3", "ns1.example.org", "01.2.3.4"],
                OSM_ACME_DNS_PORT: ["53", "1", "65535", "0", "65536", "053"],
                OSM_ACME_DNS_PROPAGATION_SECONDS: ["0", "5", "600", "601", "-1", "05"],
                OSM_ACME_TSIG_KEY: ["osm-acme", "acme.key", "-osm", "OSM", "a b"],
                OSM_ACME_TSIG_ALGORITHM: ["hmac-sha256", "hmac-sha512", "hmac-md5", "HMAC-SHA256", "sha256"],
                OSM_ACME_TSIG_SECRET: ["c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2Vj==", "short==", "not base64 at all!!!!!!!"],
                OSM_MOVE_FROM_ADDRESS: ["192.0.2.10", "255.255.255.255", "256.1.1.1", "01.2.3.4", "192.0.2.1\n"],
                OSM_MOVE_FROM_SSH_PORT: ["22", "1", "65535", "0", "65536", "022"],
                OSM_MOVE_FROM_HOST_KEY: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFVYVETxhueZb9M3kKYzqRziUCQzEcM0k8M51c9nTCT2", "ecdsa-sha2-nistp256 AAAAE2VjZHNh", "ssh-dss AAAAB3", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFVYVETxhueZb9M3kKYzqRziUCQzEcM0k8M51c9nTCT2 comment", "ssh-ed25519 AAAA;x"],
                OSM_MOVE_PEER_ADDRESS: ["192.0.2.11", "1.2.3", "::1"],
                OSM_MOVE_PEER_KEY: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFVYVETxhueZb9M3kKYzqRziUCQzEcM0k8M51c9nTCT2", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFVYVETxhueZb9M3kKYzqRziUCQzEcM0k8M51c9nTCT2=", "ssh-rsa AAAAB3NzaC1yc2E", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFVYVETxhueZb9M3kKYzqRziUCQzEcM0k8M51c9nTCT2\n"],
                OSM_DNS_TTL: ["30", "86400", "29", "86401", "030"],
                OSM_GRAFANA_PLUGINS: ["grafana-clock-panel@2.1.5", "a-panel@1.0.0 b-app@2.0.0-rc.1@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "grafana-clock@2.1.5", "grafana-clock-panel@2.1",
                    "grafana-clock-panel@2.1.5  b-app@1.0.0", "grafana-clock-panel@2.1.5\n", "Grafana-clock-panel@1.0.0"],
                OSM_GRAFANA_PLUGIN_SOURCE: ["https://grafana.com/api/plugins", "http://10.0.0.1:8080/mirror", "file:///srv/grafana-plugins", "ftp://x/y",
                    "https://a b/", "https://x/$(reboot)", "https://x/\n"],
                OSM_BASE: ["2027-01", "b".repeat(32), "b".repeat(33), "-2027", "Base", "2027-01\n"],
                OSM_BASES: ["2027-01:suite=bookworm,grafana=11.3.0,influxdb2=2.7.10-1,chirpstack=4.9.0,mosquitto=2.0.11-1.2+deb12u1",
                    "a:suite=bookworm,grafana=1,influxdb2=2,chirpstack=3,mosquitto=4 b:suite=trixie,grafana=1~rc1,influxdb2=2,chirpstack=3,mosquitto=4",
                    "a:suite=bookworm,grafana=1:1,influxdb2=2,chirpstack=3,mosquitto=4", "a:suite=bookworm,influxdb2=2,grafana=1,chirpstack=3,mosquitto=4",
                    "a:suite=bookworm,grafana=1,influxdb2=2,chirpstack=3,mosquitto=4 ", "a:suite=bookworm,grafana=1,influxdb2=2,chirpstack=3,mosquitto=4\n"],
                OSM_BASE_SEED: ["/var/lib/osm/base-seed", "relative/seed", "/srv/a b", "/srv/seed\n"],
                OSM_MQTT_WEBSOCKET: ["yes", "no", "YES", "yes\n"],
                OSM_RESTORE_FROM: ["latest", "0a1b2c3d", "0a1b2c3", "Latest", "latest\n"],
                OSM_ADOPT_CONTAINER: ["quayside-svr", "Harbour Cold Store-svr", "quayside", "-svr", "a;b-svr", "quayside-svr\n"],
                OSM_BACKUP_REPOSITORY: ["sftp:osmbackup@backup.example.org:/srv/restic", "sftp://b@127.0.0.1:2222//srv/r", "s3:https://s3.example.org/bucket/osm",
                    "sftp:b@h:rel", "s3:https://s3.example.org", "local:/srv", "sftp:b@h:/x y", "sftp:b@h:/x\n"],
                OSM_BACKUP_SCHEDULE: ["daily", "*-*-* 02:30:00", "daily; reboot", "$(reboot)", "a".repeat(65)],
                OSM_BACKUP_KEEP_DAILY: ["0", "3660", "3661", "07", "-1"],
                OSM_BACKUP_KEEP_WEEKLY: ["0", "520", "521", "4w"],
                OSM_BACKUP_KEEP_MONTHLY: ["0", "1200", "1201", "6.0"],
                OSM_BACKUP_KEEP_LAST: ["0", "1000", "1001", "3.0"],
                OSM_BACKUP_PASSWORD: ["correct-horse-battery", "!#$%&()*+,-./:;<=>?@[]^_{|}~", "short", "has a space in it", "tab\there-and-more"],
                OSM_BACKUP_SFTP_KNOWN_HOSTS: ["backup.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFVYVETxhueZb9M3kKYzqRziUCQzEcM0k8M51c9nTCT2",
                    "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "h ssh-dss AAAAB3", "h ssh-ed25519 AAAA\n"],
                OSM_BACKUP_SFTP_KEY: ["LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0KYjNCbGJuTnphQzFyWlhrdGRqRUFBQUFBQkc1dmJtVUFBQUFFYm05dVpRQUFBQUFBQUFBQgo=",
                    "LS0tLS1CRUdJTg==", "not base64 at all, with spaces and more than forty characters"],
                OSM_BACKUP_S3_ACCESS_KEY_ID: ["AKIAEXAMPLE123", "ab", "a b c"],
                OSM_BACKUP_S3_SECRET_ACCESS_KEY: ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "short", "with spaces inside"],
            };
            assert.deepStrictEqual(Object.keys(table).sort(), [...names].sort(), "the table covers every rule");
            const py = [
                "import json, sys",
                "sys.dont_write_bytecode = True",
                "sys.path.insert(0, sys.argv[1])",
                "import osm_contract",
                "print(json.dumps({n: [osm_contract.problem(n, v) is None for v in vs] for n, vs in json.loads(sys.stdin.read()).items()}))",
            ].join("\n");
            const r = await sh("/usr/bin/python3", ["-c", py, path.join(ANSIBLE, "files")], { input: JSON.stringify(table) });
            assert.strictEqual(r.code, 0, r.stderr);
            const scripts = JSON.parse(r.stdout) as Record<string, boolean[]>;
            // check-env.yml on a copy with one more playbook that takes every variable as optional
            // (so only the rules decide), one value of each variable per run.
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-check-env-"));
            try {
                const copy = scratchAnsible(dir, {});
                fs.appendFileSync(path.join(copy, "vars", "osm.yml"), `  check-only.yml:\n    required: []\n    optional: [${names.join(", ")}]\n`);
                fs.writeFileSync(path.join(copy, "check-only.yml"), "---\n- name: Check only\n  hosts: localhost\n  gather_facts: false\n  vars_files: [vars/osm.yml]\n" +
                    "  tasks:\n    - name: Check the environment\n      ansible.builtin.import_tasks: tasks/check-env.yml\n");
                const rounds = Math.max(...Object.values(table).map((v) => v.length));
                const playbooks: Record<string, boolean[]> = Object.fromEntries(names.map((n) => [n, [] as boolean[]]));
                for (let k = 0; k < rounds; k++) {
                    const env: Record<string, string> = {};
                    for (const n of names) if (table[n][k] !== undefined) env[n] = table[n][k];
                    const run = await sh("ansible-playbook", ["-i", "localhost,", "-c", "local", "-e", "osm_playbook=check-only.yml", "check-only.yml"],
                        { cwd: copy, env: { ...envWith(env), ANSIBLE_CONFIG: path.join(copy, "ansible.cfg") } });
                    const log = (run.stdout + run.stderr).replace(/\\"/g, '"');
                    assert.match(log, /ok=0 +changed=0 +unreachable=0 +failed=[01] /, log);
                    for (const n of Object.keys(env)) playbooks[n].push(!new RegExp(`[^A-Z_]${n}=`).test(log)); // a name appears only in its problem
                }
                assert.deepStrictEqual(scripts, playbooks);
                for (const n of names) assert.deepStrictEqual(new Set(scripts[n]), new Set([true, false]), `${n}: good and bad values tested`);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("scripts refuse a malformed label with the rule's message before touching anything", async () => {
            const calls: [string, string[]][] = [
                ["osm-credentials", ["--read", "a--b"]], ["osm-address", ["show", "a--b"]], ["osm-influx-setup", ["a--b", "10.118.0.2"]],
                ["osm-container-config", ["a--b"]], ["osm-nginx", ["remove", "a--b"]], ["osm-cert", ["delete", "a--b"]],
            ];
            for (const [tool, args] of calls) {
                const f = path.join(ANSIBLE, "files", tool);
                const interpreter = fs.readFileSync(f, "utf8").startsWith("#!/usr/bin/python3") ? "/usr/bin/python3" : "bash";
                const r = await sh(interpreter, [f, ...args], { input: "[]" });
                assert.notStrictEqual(r.code, 0, tool);
                assert.match(r.stderr, /OSM_CUSTOMER="a--b" is malformed: it must be a DNS label/, tool);
            }
        });
    });

    /** A copy of ansible/ whose firewall state lives under `dir` (its port files in dir/firewall). */
    function firewallScratch(dir: string): string {
        const copy = scratchAnsible(dir, {
            osm_locks_dir: path.join(dir, "locks"), osm_firewall_dir: path.join(dir, "firewall"), osm_nft_file: path.join(dir, "etc", "osm.nft"),
            // Never this machine's: no old orchestrator's files (its tests are below).
            osm_upstream_root: path.join(dir, "no-srv"), osm_wireguard_dir: path.join(dir, "no-wireguard"),
            osm_upstream_ufw_rules: [path.join(dir, "no-user.rules"), path.join(dir, "no-user6.rules")],
        });
        fs.mkdirSync(path.join(dir, "firewall"));
        return copy;
    }

    /** The "== NAME" sections of a script's output, by name; a missing one fails. */
    function sections(stdout: string): (name: string) => string {
        const parts = new Map(stdout.split(/^== /m).filter((p) => p !== "").map((p) => [p.slice(0, p.indexOf("\n")), p.slice(p.indexOf("\n") + 1)]));
        return (name) => parts.get(name) ?? assert.fail(`no "== ${name}" in ${stdout}`);
    }

    describe("osm-firewall (in a network namespace of its own)", () => {
        it("renders templates/osm.nft.j2 with the MQTT ports, loads it once, and refuses a ruleset nft -c rejects", async function () {
            if (process.getuid?.() !== 0) this.skip(); // nftables needs root (CI and the lab run as root)
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-firewall-"));
            try {
                const copy = firewallScratch(dir);
                fs.writeFileSync(path.join(dir, "firewall", "a.port"), "8901\n");
                fs.writeFileSync(path.join(dir, "firewall", "b.port"), "9000\n");
                fs.writeFileSync(path.join(dir, "firewall", "junk.port"), "80; drop\n"); // not a port: ignored
                const tool = path.join(copy, "files", "osm-firewall");
                const template = path.join(copy, "templates", "osm.nft.j2");
                // unshare -n: the rules land in a new, empty network namespace, never this machine's.
                const script = `
                    set -u
                    echo "== first"; /usr/bin/python3 "$1" apply
                    echo "== again"; /usr/bin/python3 "$1" apply
                    echo "== loaded"; nft list ruleset
                    echo "tcp dport { 22, 80, 443 } accept; this is no nft" >> "$2"
                    echo "== broken"; /usr/bin/python3 "$1" apply 2>&1; echo "exit $?"
                    echo "== still"; nft list set inet osm mqtt_ports`;
                const r = await sh("unshare", ["-n", "bash", "-c", script, "-", tool, template]);
                assert.strictEqual(r.code, 0, r.stderr);
                const part = sections(r.stdout);
                assert.strictEqual(part("first").trim(), "changed: firewall ruleset loaded (MQTT ports: 8901, 9000)");
                assert.strictEqual(part("again").trim(), "", "nothing changes when nothing changed");
                const loaded = part("loaded");
                assert.match(loaded, /set mqtt_ports \{\s+type inet_service\s+elements = \{ 8901, 9000 \}/);
                assert.match(loaded, /chain input \{\s+type filter hook input priority filter; policy drop;/);
                assert.match(loaded, /tcp dport \{ 22, 80, 443 \} accept/);
                assert.match(loaded, new RegExp(`iifname "${contract().osm_bridge}" jump from_containers`));
                assert.match(loaded, new RegExp(`table bridge osm \\{[^]*iifname "${contract().osm_veth_prefix}\\*" drop`));
                assert.match(part("broken"), /osm-firewall: nft -c refused the rendered ruleset[^]*exit 1/);
                assert.match(part("still"), /elements = \{ 8901, 9000 \}/, "the loaded ruleset stays");
                assert.doesNotMatch(fs.readFileSync(path.join(dir, "etc", "osm.nft"), "utf8"), /this is no nft/, "the ruleset file stays");
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
        it("add PORT opens one port in the loaded set (one nft command), loads the whole ruleset when none is loaded, and refuses a malformed port", async function () {
            if (process.getuid?.() !== 0) this.skip();
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-firewall-"));
            try {
                const copy = firewallScratch(dir);
                fs.writeFileSync(path.join(dir, "firewall", "a.port"), "8901\n");
                const tool = path.join(copy, "files", "osm-firewall");
                const script = `
                    set -u
                    echo "== empty"; /usr/bin/python3 "$1" add 8901
                    echo "== add"; echo 8902 > "$2/b.port"; /usr/bin/python3 "$1" add 8902
                    echo "== again"; /usr/bin/python3 "$1" add 8902
                    echo "== bad"; /usr/bin/python3 "$1" add "80; drop" 2>&1; echo "exit $?"
                    echo "== set"; nft list set inet osm mqtt_ports
                    echo "== apply"; /usr/bin/python3 "$1" apply; nft list set inet osm mqtt_ports`;
                const r = await sh("unshare", ["-n", "bash", "-c", script, "-", tool, path.join(dir, "firewall")]);
                assert.strictEqual(r.code, 0, r.stderr);
                const part = sections(r.stdout);
                assert.strictEqual(part("empty").trim(), "changed: firewall ruleset loaded (MQTT ports: 8901)", "no ruleset yet: the whole one is loaded");
                assert.strictEqual(part("add").trim(), "changed: firewall: MQTT port 8902 opened");
                assert.strictEqual(part("again").trim(), "", "an open port changes nothing");
                assert.match(part("bad"), /OSM_MQTT_PORT="80; drop" is malformed[^]*exit 1/);
                assert.match(part("set"), /elements = \{ 8901, 8902 \}/);
                // The ruleset file predates the add: the next apply renders and loads the same set.
                assert.match(part("apply"), /changed: firewall ruleset loaded \(MQTT ports: 8901, 8902\)[^]*elements = \{ 8901, 8902 \}/);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });

    describe("osm-firewall on a host the old orchestrator built (in a network namespace of its own)", () => {
        /** A scratch copy whose upstream files (ufw's rules, WireGuard, the containers' tree) live under `dir`. */
        function upstreamScratch(dir: string): string {
            const copy = scratchAnsible(dir, {
                osm_locks_dir: path.join(dir, "locks"), osm_firewall_dir: path.join(dir, "firewall"), osm_nft_file: path.join(dir, "etc", "osm.nft"),
                osm_upstream_root: path.join(dir, "srv"), osm_wireguard_dir: path.join(dir, "wireguard"),
                osm_upstream_ufw_rules: [path.join(dir, "user.rules"), path.join(dir, "user6.rules")],
            });
            for (const d of ["firewall", "wireguard"]) fs.mkdirSync(path.join(dir, d));
            return copy;
        }
        const apply = (copy: string) => sh("unshare", ["-n", "bash", "-c", 'set -u; /usr/bin/python3 "$1" apply && echo "== loaded" && nft list table inet osm && ' +
            'echo "== again" && /usr/bin/python3 "$1" apply', "-", path.join(copy, "files", "osm-firewall")]);

        it("keeps ufw's allow rules, lxcbr0's DHCP and DNS, each WireGuard port and the monitoring ports on its tunnel only", async function () {
            if (process.getuid?.() !== 0) this.skip();
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-firewall-up-"));
            try {
                const copy = upstreamScratch(dir);
                fs.mkdirSync(path.join(dir, "srv"));
                fs.writeFileSync(path.join(dir, "firewall", "adopted.port"), "8950\n");
                // ufw's own file format: each rule's tuple comment, then its iptables lines (ignored).
                fs.writeFileSync(path.join(dir, "user.rules"), ["*filter", "### RULES ###",
                    "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "-A ufw-user-input -p tcp --dport 22 -j ACCEPT",
                    "### tuple ### allow tcp 8931 0.0.0.0/0 any 0.0.0.0/0 in",
                    "### tuple ### allow any 8962 0.0.0.0/0 any 0.0.0.0/0 in",
                    "### tuple ### limit tcp 8000:8010,8020 0.0.0.0/0 any 10.8.0.0/24 in_eth1",
                    "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in",
                    "### END RULES ###", "COMMIT", ""].join("\n"));
                fs.writeFileSync(path.join(dir, "user6.rules"), "### tuple ### allow tcp 8931 ::/0 any ::/0 in\n");
                fs.writeFileSync(path.join(dir, "wireguard", "wg0.conf"), "[Interface]\nPrivateKey = x\nListenPort = 51820\n");
                fs.writeFileSync(path.join(dir, "wireguard", "wg1.conf"), "[Interface]\nPrivateKey = y\n");
                const r = await apply(copy);
                assert.strictEqual(r.code, 0, r.stderr);
                const part = sections("== first\n" + r.stdout);
                assert.strictEqual(part("first").trim(), "changed: firewall ruleset loaded (MQTT ports: 8950)");
                assert.strictEqual(part("again").trim(), "", "nothing changes when nothing changed");
                const loaded = part("loaded");
                assert.match(loaded, /elements = \{ 8950 \}/, "the project's own ports stay in its set");
                assert.match(loaded, /meta nfproto ipv4 tcp dport 8931 accept/);
                assert.match(loaded, /meta nfproto ipv6 tcp dport 8931 accept/);
                assert.match(loaded, /meta nfproto ipv4 meta l4proto \{ tcp, udp \} th dport 8962 accept/);
                assert.match(loaded, /iifname "eth1" ip saddr 10\.8\.0\.0\/24 tcp dport \{ 8000-8010, 8020 \} accept/);
                assert.strictEqual(loaded.match(/tcp dport 22 accept/g)?.length, 1, "a rule ufw holds twice (by port and by app) is rendered once");
                assert.match(loaded, /iifname "lxcbr0" udp dport \{ 53, 67 \} accept/);
                assert.match(loaded, /iifname "lxcbr0" tcp dport 53 accept/);
                assert.match(loaded, /udp dport 51820 accept/);
                assert.match(loaded, /iifname "wg0" tcp dport \{ 9100, 19999 \} accept/);
                assert.match(loaded, /iifname "wg1" tcp dport \{ 9100, 19999 \} accept/);
                assert.doesNotMatch(loaded, /^\s*tcp dport \{[^}]*9100/m, "the exporters are not open to the world");
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("renders nothing of that on a host without the old orchestrator's files, and refuses a ufw rule it cannot carry over", async function () {
            if (process.getuid?.() !== 0) this.skip();
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-firewall-up-"));
            try {
                const copy = upstreamScratch(dir);
                const none = await apply(copy);
                assert.strictEqual(none.code, 0, none.stderr);
                assert.doesNotMatch(none.stdout, /lxcbr0|wg0|nfproto ipv4/);
                fs.writeFileSync(path.join(dir, "user.rules"), "### tuple ### allow tcp 8931;drop 0.0.0.0/0 any 0.0.0.0/0 in\n");
                const bad = await apply(copy);
                assert.notStrictEqual(bad.code, 0);
                assert.match(bad.stderr, /user\.rules:1: a ufw rule this script cannot carry over, nothing changed/);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });

    describe("osm-move-serve (the forced command of a move key)", () => {
        it("serves a customer only to the host its grant names, and only its credentials, an rsync reading its upper dir, or the handover", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-move-serve-"));
            try {
                const containers = path.join(dir, "containers");
                const copy = scratchAnsible(dir, { osm_containers_dir: containers });
                // Two customers moving from this host: "a" to 192.0.2.1, "b" to 192.0.2.2 (the same
                // new host for both would share one key line: the grant decides, not the line).
                for (const [c, peer] of [["a", "192.0.2.1"], ["b", "192.0.2.2"]]) {
                    fs.mkdirSync(path.join(containers, c, "move-out"), { recursive: true });
                    fs.writeFileSync(path.join(containers, c, "move-out", "grant"), `${peer}\n`);
                    fs.writeFileSync(path.join(containers, c, "move-out", "move.json"), "{}");
                    fs.writeFileSync(path.join(containers, c, "credentials.json"), JSON.stringify({ mqttPassword: `secret-of-${c}` }));
                }
                const tool = path.join(copy, "files", "osm-move-serve");
                const serve = (peer: string, request: string) => sh("bash", [tool, peer], { env: { ...process.env, SSH_ORIGINAL_COMMAND: request } });
                const mine = await serve("192.0.2.1", "credentials a");
                assert.strictEqual(mine.code, 0, mine.stderr);
                assert.match(mine.stdout, /secret-of-a/);
                for (const [request, why] of [
                    ["credentials b", /no move of customer b to it is granted/],
                    ["handover b", /no move of customer b to it is granted/],
                    [`rsync --server --sender -logDtprHAXe.iLsfxCIvu --numeric-ids . ${containers}/b/upper/`, /no move of customer b to it is granted/],
                    [`rsync --server --sender -logDtprHAXe.iLsfxCIvu --numeric-ids . /etc/`, /malformed|no move of customer/],
                    [`rsync --server -logDtpre.iLsfxCIvu . ${containers}/a/upper/`, /rsync may only read/],
                    [`rsync --server --sender --remove-source-files . ${containers}/a/upper/`, /rsync option --remove-source-files is not allowed/],
                    ["credentials ../b", /malformed/],
                    ["sh -c id", /unknown request/],
                    ["credentials", /unknown request/],
                ] as const) {
                    const r = await serve("192.0.2.1", request);
                    assert.notStrictEqual(r.code, 0, `${request} was served`);
                    assert.match(r.stderr, why, request);
                    assert.doesNotMatch(r.stdout, /secret-of-b/, request);
                }
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });

    describe("osm-address (allocation under a lock)", () => {
        let dir: string;
        let tool: string;
        const env = () => process.env;
        before(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-address-"));
            fs.writeFileSync(path.join(dir, "hosts"), "127.0.0.1\tlocalhost\n");
            // The allocator on a copy whose contract points at scratch paths.
            const copy = scratchAnsible(dir, {
                osm_network_dir: path.join(dir, "network"), osm_dhcp_hosts_file: path.join(dir, "network", "dhcp-hosts"),
                osm_dhcp_leases_file: path.join(dir, "network", "dnsmasq.leases"), osm_locks_dir: path.join(dir, "locks"),
                osm_etc_hosts: path.join(dir, "hosts"), osm_dnsmasq_pidfile: path.join(dir, "none.pid"), osm_dnsmasq_conf: path.join(dir, "dnsmasq.conf"),
            });
            tool = path.join(copy, "files", "osm-address");
        });
        after(() => fs.rmSync(dir, { recursive: true, force: true }));

        it("gives 20 concurrent customers distinct addresses and MACs, consistently in both files", async () => {
            const labels = Array.from({ length: 20 }, (_, i) => `c${i}`);
            const results = await Promise.all(labels.map((l) => sh(tool, ["allocate", l], { env: env() })));
            const got = results.map((r, i) => {
                assert.strictEqual(r.code, 0, r.stderr);
                return { label: labels[i], ...(JSON.parse(r.stdout) as { address: string; mac: string; changed: boolean }) };
            });
            assert.strictEqual(new Set(got.map((g) => g.address)).size, 20);
            assert.strictEqual(new Set(got.map((g) => g.mac)).size, 20);
            assert.ok(got.every((g) => g.changed && /^10\.118\.\d+\.\d+$/.test(g.address) && g.address !== "10.118.0.1"));
            const dhcp = fs.readFileSync(path.join(dir, "network", "dhcp-hosts"), "utf8").trim().split("\n");
            const hosts = fs.readFileSync(path.join(dir, "hosts"), "utf8");
            assert.strictEqual(dhcp.length, 20);
            for (const g of got) {
                assert.ok(dhcp.includes(`${g.mac},${g.address},${g.label}`), `dhcp entry of ${g.label}`);
                assert.strictEqual(hosts.split("\n").filter((l) => l.startsWith(`${g.address}\tosm-${g.label} `)).length, 1, `hosts line of ${g.label}`);
            }
            assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m, "other lines kept");
        });

        it("is idempotent, releases, and reuses a released address", async () => {
            const again = JSON.parse((await sh(tool, ["allocate", "c3"], { env: env() })).stdout);
            assert.strictEqual(again.changed, false);
            const rel = JSON.parse((await sh(tool, ["release", "c3"], { env: env() })).stdout);
            assert.strictEqual(rel.changed, true);
            assert.strictEqual(JSON.parse((await sh(tool, ["release", "c3"], { env: env() })).stdout).changed, false);
            assert.doesNotMatch(fs.readFileSync(path.join(dir, "hosts"), "utf8"), /osm-c3 /);
            const fresh = JSON.parse((await sh(tool, ["allocate", "new"], { env: env() })).stdout);
            assert.strictEqual(fresh.address, again.address, "the lowest free address is reused");
            const missing = await sh(tool, ["show", "nobody"], { env: env() });
            assert.strictEqual(missing.code, 1);
            assert.match(missing.stdout, /run customer\.yml first/);
            const bad = await sh(tool, ["allocate", "Bad;label"], { env: env() });
            assert.notStrictEqual(bad.code, 0);
        });
    });
});
