/**
 * The lab itself, proven on its own: fake hosts reachable over SSH with pinned keys, sshd
 * with Debian's stock AcceptEnv until the program's bootstrap adds OSM_*, the remote-command
 * handlers (env requests, stored delete, failures, CopyToRemote semantics), an LXC container
 * on the debootstrap base inside a host with its stand-in services, pebble issuing a
 * certificate validated over the lab network, and a teardown that leaves nothing.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { BOOTSTRAP_SCRIPT } from "../../components/host";
import { ensureBase } from "../../lab/base";
import { HOST_BASE_PATH, Lab, LabState, REPO_ROOT, stopLab } from "../../lab/hosts";
import { alive, run, runSync, spawnDetached, waitFor } from "../../lab/lab-exec";
import { hasBlackhole } from "../../lab/netsafety";
import { startPebble } from "../../lab/pebble";
import { commandHandler, copyToRemoteHandler, runRemote } from "../../lab/remote";

describe("lab hosts (network namespaces + sshd + LXC)", function () {
    this.timeout(300_000);
    let lab: Lab;
    let snapshot: LabState;
    const conn = (name: string) => {
        const h = lab.host(name);
        return { host: h.address, port: h.sshPort, user: "root", privateKey: lab.privateKey(), hostKey: h.hostKey, dialErrorLimit: 2, perDialTimeout: 5 };
    };

    before(async function () {
        const base = await ensureBase();
        lab = await Lab.start({ id: "test-hosts", hostNames: ["osm-t1", "osm-t2"], basePath: base.path, teardownOnExit: true });
        snapshot = JSON.parse(JSON.stringify(lab.state));
    });
    after(async () => {
        if (lab) await stopLab(lab);
    });

    it("puts each host on its own lab address, blackholed range, no default route, ip_forward 0", async () => {
        assert.ok(hasBlackhole(lab.state.blackhole!), "blackhole route for the lab range");
        assert.strictEqual(fs.readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim(), "0");
        for (const h of lab.hosts) {
            const routes = (await lab.exec(h.name, "ip", ["route"])).stdout;
            assert.ok(!/default/.test(routes), `no default route in ${h.name}: ${routes}`);
            assert.strictEqual((await lab.exec(h.name, "hostname", [])).stdout.trim(), h.name);
        }
        assert.notStrictEqual(lab.hosts[0].hostKey, lab.hosts[1].hostKey);
    });

    it("runs commands over SSH with the pinned host key and refuses another key", async () => {
        const r = await runRemote("t", "create", conn("osm-t1"), "hostname; id -u");
        assert.strictEqual(r.stdout, "osm-t1\n0\n");
        const wrong = { ...conn("osm-t1"), hostKey: lab.host("osm-t2").hostKey };
        await assert.rejects(runRemote("t", "create", wrong, "true"), /does not match the pinned hostKey; refusing/);
        await assert.rejects(runRemote("t", "create", { ...conn("osm-t1"), hostKey: undefined as any }, "true"), /without a pinned host key/);
    });

    it("refuses OSM_* env until the program's bootstrap script adds AcceptEnv, then sends it", async () => {
        const cmd = commandHandler();
        const marker = `/run/osm-probe-${process.pid}-${Date.now()}`;
        const probe = { connection: conn("osm-t2"), create: `touch ${marker}; echo "\${OSM_PROBE:-unset} \${LANG:-nolang}"`, environment: { OSM_PROBE: "v1", LANG: "C.UTF-8" } };
        // Stock sshd accepts LANG only; like @pulumi/command 1.2.1 (commandOutputs.go:42-47) the
        // refused variable fails the command before it runs.
        await assert.rejects(cmd.create({ type: "command:remote:Command", name: "probe", urn: "u", inputs: probe }), /probe: create on 198\.51\.100\.\d+: could not set environment variable "OSM_PROBE": sshd refused it/);
        assert.strictEqual((await lab.sh("osm-t2", 'test -e "$1" && echo ran || echo not-run', marker)).stdout.trim(), "not-run");
        const lang = await cmd.create({ type: "command:remote:Command", name: "probe", urn: "u", inputs: { ...probe, environment: { LANG: "C.UTF-8" } } });
        assert.strictEqual(lang.outputs.stdout, "unset C.UTF-8");
        const boot = await cmd.create({ type: "command:remote:Command", name: "osm-t2-bootstrap", urn: "u", inputs: { connection: conn("osm-t2"), create: BOOTSTRAP_SCRIPT } });
        assert.match(boot.outputs.stderr, /sshd now accepts OSM_\* variables/);
        const after = await cmd.create({ type: "command:remote:Command", name: "probe", urn: "u", inputs: probe });
        assert.strictEqual(after.outputs.stdout, "v1 C.UTF-8");
        // Idempotent: a second bootstrap changes nothing; the other host is untouched.
        const again = await cmd.create({ type: "command:remote:Command", name: "b", urn: "u", inputs: { connection: conn("osm-t2"), create: BOOTSTRAP_SCRIPT } });
        assert.strictEqual(again.outputs.stderr, "");
        await assert.rejects(cmd.create({ type: "command:remote:Command", name: "probe", urn: "u", inputs: { ...probe, connection: conn("osm-t1") } }), /could not set environment variable "OSM_PROBE"/);
    });

    it("runs the stored delete, and reports a failure with the resource name and stderr tail, no env values", async () => {
        const cmd = commandHandler();
        const inputs = { connection: conn("osm-t2"), create: 'touch "/tmp/m-$OSM_NAME"', delete: 'rm "/tmp/m-$OSM_NAME"', environment: { OSM_NAME: "x1" } };
        const made = await cmd.create({ type: "command:remote:Command", name: "marker", urn: "u", inputs });
        await lab.exec("osm-t2", "test", ["-f", "/tmp/m-x1"]);
        await cmd.delete({ urn: "u", type: "command:remote:Command", name: "marker", id: made.id, inputs, outputs: made.outputs, dependencies: [] });
        assert.strictEqual((await lab.sh("osm-t2", 'test -e /tmp/m-x1 && echo there || echo gone')).stdout.trim(), "gone");
        const err = await cmd.create({ type: "command:remote:Command", name: "c1-container", urn: "u", inputs: { connection: conn("osm-t2"), create: 'echo "step 3 broke" >&2; exit 4', environment: { OSM_SECRETISH: "s3cr3t-value" } } })
            .then(() => undefined, (e: Error) => e);
        assert.ok(err, "a non-zero exit must fail");
        assert.match(err!.message, /^c1-container: create failed on 198\.51\.100\.\d+ \(exit status 4\): step 3 broke$/);
        assert.ok(!err!.message.includes("s3cr3t-value") && !err!.message.includes("PRIVATE KEY"));
    });

    it("CopyToRemote copies a folder INTO an existing remotePath, like @pulumi/command", async () => {
        const copy = copyToRemoteHandler();
        await lab.exec("osm-t1", "mkdir", ["-p", "/opt/osm"]);
        const src = path.join(lab.state.dir, "copysrc", "bundle");
        fs.mkdirSync(path.join(src, "sub", "deep"), { recursive: true });
        fs.writeFileSync(path.join(src, "top.txt"), "top\n");
        fs.writeFileSync(path.join(src, "sub", "deep", "x.yml"), "x: 1\n");
        fs.writeFileSync(path.join(src, "run"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
        const inputs = { connection: conn("osm-t1"), source: { __pulumiArchive: true, path: Promise.resolve(src) }, remotePath: "/opt/osm" };
        await copy.create({ type: "command:remote:CopyToRemote", name: "osm-t1-ansible", urn: "u", inputs });
        const listing = (await lab.sh("osm-t1", "cd /opt/osm && find . -type f | sort && stat -c %a bundle/run")).stdout.trim().split("\n");
        assert.deepStrictEqual(listing, ["./bundle/run", "./bundle/sub/deep/x.yml", "./bundle/top.txt", "644"]);
        // A lost archive path is a clear error, not a silent no-op.
        await assert.rejects(copy.create({ type: "t", name: "n", urn: "u", inputs: { ...inputs, source: { __pulumiArchive: true, path: {} } } }), /n: source has no local path/);
    });

    it("starts an LXC container on the debootstrap base inside a host; its stand-ins answer with the customer", async () => {
        const script = `set -eu
ip link add osmtestbr type bridge; ip addr add 10.77.0.1/24 dev osmtestbr; ip link set osmtestbr up
d=/var/lib/lxc/acme-test; mkdir -p $d/upper $d/work
cat > $d/config <<EOF
lxc.uts.name = acme-test
lxc.rootfs.path = overlayfs:${HOST_BASE_PATH}:$d/upper
lxc.include = /usr/share/lxc/config/common.conf
lxc.net.0.type = veth
lxc.net.0.link = osmtestbr
lxc.net.0.flags = up
lxc.net.0.ipv4.address = 10.77.0.2/24
lxc.cgroup.memory.limit_in_bytes = 268435456
EOF
lxc-start -n acme-test -f $d/config
lxc-wait -n acme-test -s RUNNING -t 10
`;
        await lab.sh("osm-t1", script);
        await waitFor("the container's grafana stand-in", async () => /grafana stand-in for customer acme-test/.test((await lab.exec("osm-t1", "curl", ["-s", "--max-time", "1", "http://10.77.0.2:3000/"])).stdout), 20_000, 200);
        for (const [svc, port] of [["chirpstack", 8080], ["influxdb", 8086]] as const) {
            await waitFor(`${svc} stand-in`, async () => (await lab.exec("osm-t1", "curl", ["-s", "--max-time", "1", `http://10.77.0.2:${port}/api/x`])).stdout === `${svc} stand-in for customer acme-test\n`, 10_000, 200);
        }
        const mosq = await lab.exec("osm-t1", "lxc-attach", ["-n", "acme-test", "--", "ls", "/usr/sbin/mosquitto", "/usr/bin/mosquitto_passwd"]);
        assert.match(mosq.stdout, /mosquitto_passwd/);
        // The container is invisible from the other host and from the root namespace's LXC.
        assert.doesNotMatch((await lab.exec("osm-t2", "lxc-ls", [])).stdout, /acme-test/);
    });

    it("pebble issues a certificate validated over HTTP-01 through the lab network", async () => {
        // A loopback-only DNS answering for the test domain (never forwards anywhere).
        const dnsPort = 20000 + (process.pid % 20000);
        const log = fs.openSync(path.join(lab.state.dir, "dnsmasq.log"), "a");
        const pid = spawnDetached("dnsmasq", ["--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1",
            "--except-interface=nonexistent", `--port=${dnsPort}`, `--address=/t1.lab.test/${lab.host("osm-t1").address}`, "--pid-file="], log);
        lab.addRootPid(pid, "dnsmasq");
        const pebble = await startPebble(lab, { dnsServer: `127.0.0.1:${dnsPort}` });
        await lab.sh("osm-t1",
            'REQUESTS_CA_BUNDLE="$1" certbot certonly -n --standalone --agree-tos -m lab@example.org --no-eff-email --server "$2" -d www.t1.lab.test >/tmp/certbot.log 2>&1 || { tail -20 /tmp/certbot.log >&2; exit 1; }',
            pebble.hostCaBundlePath, pebble.directoryUrl);
        const pem = (await lab.exec("osm-t1", "cat", ["/etc/letsencrypt/live/www.t1.lab.test/fullchain.pem"])).stdout;
        const local = path.join(lab.state.dir, "issued.pem");
        fs.writeFileSync(local, pem);
        await run("openssl", ["verify", "-CAfile", pebble.rootCaPath, "-untrusted", local, local]);
        const text = (await run("openssl", ["x509", "-in", local, "-noout", "-ext", "subjectAltName"])).stdout;
        assert.match(text, /DNS:www\.t1\.lab\.test/);
    });

    it("teardown leaves no namespace, link, route, process or directory behind", async () => {
        const s = snapshot;
        const pids = lab.hosts.map((h) => h.anchorPid!);
        await stopLab(lab);
        const netns = runSync("ip", ["netns", "list"]).stdout;
        for (const h of s.hosts) {
            assert.ok(!netns.includes(h.netns), `netns ${h.netns} removed`);
            assert.notStrictEqual(runSync("ip", ["link", "show", h.veth]).code, 0, `veth ${h.veth} removed`);
        }
        assert.notStrictEqual(runSync("ip", ["link", "show", s.bridge!]).code, 0, "bridge removed");
        assert.ok(!hasBlackhole(s.blackhole!), "blackhole route removed");
        const routes = runSync("ip", ["route", "show", "table", "all"]).stdout;
        assert.ok(!routes.includes(s.bridge!) && !routes.includes(s.blackhole!), `no route of this lab left: ${routes}`);
        for (const p of [...pids, ...lab.state.rootPids.map((r) => r.pid)]) assert.ok(!alive(p), `pid ${p} gone`);
        assert.ok(!fs.existsSync(path.join(s.dir, "hosts")));
        assert.ok(fs.existsSync(REPO_ROOT));
        lab = undefined as any;
    });
});
