/**
 * Static checks of the host side (ansible/), no lab needed: every playbook passes
 * `ansible-playbook --syntax-check`; the folder passes `ansible-lint --offline` with the
 * profile set in ansible/.ansible-lint; the NGINX config the templates generate for sample
 * customers passes `nginx -t` in a scratch prefix; the shell scripts parse; the playbooks
 * refuse missing or malformed OSM_* variables before touching anything, naming them (and
 * AcceptEnv); the address allocator hands out distinct addresses under concurrency.
 */
import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.resolve(__dirname, "../../..");
const ANSIBLE = path.join(REPO, "ansible");
const PLAYBOOKS = ["host-setup.yml", "container-create.yml", "container-provision.yml", "container-delete.yml"];

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
                { label: "acme", address: "10.118.0.2", port: 8901 },
                { label: "blue-widget-co", address: "10.118.0.3", port: 8999 },
                // The longest label (52 characters) makes the longest server_name.
                { label: "a".repeat(25) + "-" + "b".repeat(26), address: "10.118.255.254", port: 65535 },
            ];
            const common = {
                osm_nginx_dir: path.join(dir, "osm"),
                osm_nginx_pid: path.join(dir, "nginx.pid"),
                osm_nginx_log_dir: path.join(dir, "logs"),
                osm_acme_webroot: path.join(dir, "acme"),
                osm_letsencrypt_dir: path.join(dir, "le"),
                osm_domain: "opensmartmonitor.devtank.co.uk",
            };
            for (const d of ["osm/http", "osm/stream", "logs", "acme"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
            // Relative load_module paths (modules-enabled) resolve against the prefix.
            fs.symlinkSync("/usr/lib/nginx/modules", path.join(dir, "modules"));
            fs.writeFileSync(path.join(dir, "nginx.conf"), await render("nginx.conf.j2", common));
            for (const c of customers) {
                const live = path.join(dir, "le", "live", c.label);
                fs.mkdirSync(live, { recursive: true });
                const cert = await sh("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=osm-test", "-keyout", path.join(live, "privkey.pem"), "-out", path.join(live, "fullchain.pem")]);
                assert.strictEqual(cert.code, 0, cert.stderr);
                const vars = { ...common, osm_customer: c.label, osm_address: c.address, osm_mqtt_port: c.port };
                const http = await render("customer-http.conf.j2", vars);
                const stream = await render("customer-stream.conf.j2", vars);
                for (const n of ["", "-chirpstack", "-influx"]) assert.match(http, new RegExp(`server_name ${c.label}${n}\\.${common.osm_domain.replace(/\./g, "\\.")};`));
                assert.match(http, new RegExp(`location /api/live/ \\{\\s+proxy_pass http://${c.address.replace(/\./g, "\\.")}:3000;`));
                assert.match(http, /proxy_pass http:\/\/[0-9.]+:8080;[^}]*Upgrade \$http_upgrade/);
                assert.match(http, /proxy_pass http:\/\/[0-9.]+:8086;/);
                assert.match(stream, new RegExp(`listen ${c.port} ssl;[^}]*proxy_pass ${c.address.replace(/\./g, "\\.")}:1883;`));
                fs.writeFileSync(path.join(dir, "osm", "http", `${c.label}.conf`), http);
                fs.writeFileSync(path.join(dir, "osm", "stream", `${c.label}.conf`), stream);
            }
            const r = await sh("nginx", ["-t", "-p", dir, "-c", path.join(dir, "nginx.conf")]);
            assert.strictEqual(r.code, 0, `nginx -t: ${r.stderr}`);
            assert.match(r.stderr, /test is successful/);
        });

        it("nginx -t catches a broken customer config (the check can fail)", async () => {
            fs.writeFileSync(path.join(dir, "osm", "stream", "broken.conf"), "server { listen 8902 ssl; proxy_pass 10.118.0.9:1883; }\n");
            const r = await sh("nginx", ["-t", "-p", dir, "-c", path.join(dir, "nginx.conf")]);
            fs.rmSync(path.join(dir, "osm", "stream", "broken.conf"));
            assert.notStrictEqual(r.code, 0);
            assert.match(r.stderr, /ssl_certificate/);
        });
    });

    it("renders the LXC config with v2 limits on cgroup v2 hosts and v1 limits elsewhere", async () => {
        const vars = {
            osm_customer: "acme", osm_base_rootfs: "/var/lib/osm/base/rootfs", osm_containers_dir: "/var/lib/osm/containers",
            osm_bridge: "osmbr0", osm_bridge_prefix: 16, osm_bridge_broadcast: "10.118.255.255", osm_mac: "00:16:3e:76:01:0a", osm_address: "10.118.1.10",
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
        // Only the first task may run: each case must fail in "Check the OSM_* environment variables".
        const cases: { title: string; playbook: string; env: Record<string, string>; expect: RegExp[] }[] = [
            { title: "every variable missing", playbook: "container-create.yml", env: {},
                expect: [/not set: OSM_CUSTOMER .*OSM_CPUS .*OSM_MEMORY_MIB/, /AcceptEnv OSM_\*/] },
            { title: "provision without the ACME variables", playbook: "container-provision.yml",
                env: { OSM_CUSTOMER: "acme", OSM_DOMAIN: "osm.example.test", OSM_MQTT_PORT: "8901" },
                expect: [/not set: OSM_ACME_SERVER .*OSM_ACME_EMAIL/, /AcceptEnv/] },
            { title: "a label with a trailing dash", playbook: "container-create.yml", env: { ...good, OSM_CUSTOMER: "acme-" },
                expect: [/OSM_CUSTOMER="acme-" is malformed: it must be a DNS label/] },
            { title: "a label with upper case", playbook: "container-delete.yml", env: { OSM_CUSTOMER: "Acme" }, expect: [/OSM_CUSTOMER="Acme" is malformed/] },
            { title: "a label of 53 characters", playbook: "container-create.yml", env: { ...good, OSM_CUSTOMER: "a".repeat(53) },
                expect: [/OSM_CUSTOMER=.* is malformed: .*1-52 characters/] },
            { title: "a shell metacharacter in a label", playbook: "container-delete.yml", env: { OSM_CUSTOMER: "a;reboot" }, expect: [/OSM_CUSTOMER="a;reboot" is malformed/] },
            { title: "a port below 1024", playbook: "container-provision.yml", env: { ...good, OSM_MQTT_PORT: "1023" }, expect: [/OSM_MQTT_PORT="1023" is malformed: .*1024 to 65535/] },
            { title: "a port above 65535", playbook: "container-provision.yml", env: { ...good, OSM_MQTT_PORT: "65536" }, expect: [/OSM_MQTT_PORT="65536" is malformed/] },
            { title: "a domain with a trailing dot", playbook: "host-setup.yml",
                env: { OSM_HOST_NAME: "osm-1", OSM_DOMAIN: "osm.example.test.", OSM_ACME_SERVER: good.OSM_ACME_SERVER, OSM_ACME_EMAIL: good.OSM_ACME_EMAIL },
                expect: [/OSM_DOMAIN="osm.example.test." is malformed/] },
            { title: "zero CPUs and too little memory", playbook: "container-create.yml", env: { ...good, OSM_CPUS: "0", OSM_MEMORY_MIB: "16" },
                expect: [/OSM_CPUS="0" is malformed/, /OSM_MEMORY_MIB="16" is malformed/] },
            { title: "a CA bundle that does not exist", playbook: "container-provision.yml", env: { ...good, OSM_ACME_CA_BUNDLE: "/nonexistent/ca.pem" },
                expect: [/OSM_ACME_CA_BUNDLE=\/nonexistent\/ca.pem names no file on this host/] },
            { title: "an ACME server that is no URL", playbook: "host-setup.yml",
                env: { OSM_HOST_NAME: "osm-1", OSM_DOMAIN: "osm.example.test", OSM_ACME_SERVER: "acme.example.test", OSM_ACME_EMAIL: "ops" },
                expect: [/OSM_ACME_SERVER="acme.example.test" is malformed/, /OSM_ACME_EMAIL="ops" is malformed/] },
        ];
        for (const c of cases) {
            it(`refuses ${c.title}`, async () => {
                const r = await sh("ansible-playbook", ["-i", "localhost,", "-c", "local", c.playbook], { cwd: ANSIBLE, env: envWith(c.env) });
                assert.notStrictEqual(r.code, 0, "the playbook must fail");
                // Ansible prints the message JSON-encoded: undo the quote escaping.
                const log = (r.stdout + r.stderr).replace(/\\"/g, '"');
                assert.match(log, /TASK \[Check the OSM_\* environment variables\][^]*fatal:/);
                assert.match(log, /ok=0 +changed=0 +unreachable=0 +failed=1/, "nothing ran before or after the check");
                for (const e of c.expect) assert.match(log, e);
            });
        }
    });

    describe("osm-address (allocation under a lock)", () => {
        let dir: string;
        const env = () => ({ ...process.env, OSM_STATE_DIR: dir, OSM_ETC_HOSTS: path.join(dir, "hosts"), OSM_DNSMASQ_PID: path.join(dir, "none.pid") });
        const tool = path.join(ANSIBLE, "files", "osm-address");
        before(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-address-"));
            fs.writeFileSync(path.join(dir, "hosts"), "127.0.0.1\tlocalhost\n");
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
            assert.match(missing.stdout, /run container-create\.yml first/);
            const bad = await sh(tool, ["allocate", "Bad;label"], { env: env() });
            assert.notStrictEqual(bad.code, 0);
        });
    });
});
