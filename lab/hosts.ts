/**
 * Fake OSM hosts: each is a network namespace plus its own mount and UTS namespaces, held
 * open by one long-lived "anchor" process, with its own sshd. Everything inside a host runs
 * with `nsenter -t ANCHOR -m -u -n` (see lab-notes: `ip netns exec` would remount /sys and
 * hide the v1 cgroup mounts LXC needs).
 *
 * Inside a host: a fresh sysfs (this namespace's devices) with the cgroup mounts bound back;
 * overlays of /etc, /var, /root, /opt, /srv whose upper dirs are real directories; fresh
 * tmpfs /run (/tmp stays shared: the checkout may be under it); /var/lib/lxc and /var/lib/osm bound from real directories (an overlay
 * upper dir — the containers' rootfs — cannot sit on overlayfs); the container base bound
 * read-only at /var/lib/osm/base/rootfs when one is given.
 *
 * Every object created is written to the lab's state file as soon as it exists, so teardown
 * (also from another process: `lab-cli down`) removes exactly what was made.
 */
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { hostContract } from "../components/contract";
import { projectRoot } from "../components/paths";
import { alive, run, runInHost, runSync, sleep, spawnDetached, waitFor } from "./lab-exec";
import { addBlackhole, assertIpForwardOff, assertSlotRangeUnused, MAX_SLOT, removeBlackhole, slotPlan, SlotPlan } from "./netsafety";

/** The checkout (where Pulumi.yaml is), from sources or from any compiled output dir. */
export const REPO_ROOT = projectRoot();
export const LAB_ROOT = path.join(REPO_ROOT, ".lab");
/** Where the playbooks expect the containers' OS base on a host. */
export const HOST_BASE_PATH = hostContract().baseRootfs;
/** Where the lab places the ACME CA bundle on each host (stack config `acme.caBundle`). */
export const HOST_CA_BUNDLE_PATH = "/etc/osm-lab/acme-ca.pem";

export interface LabHostState {
    name: string;
    index: number;
    address: string;
    sshPort: number;
    /** The host's public host key, one line: "ssh-ed25519 AAAA…". */
    hostKey: string;
    netns: string;
    /** Root-namespace end of the host's veth (the other end is eth0 inside the host). */
    veth: string;
    anchorPid?: number;
    dir: string;
}

export interface LabState {
    id: string;
    slot: number;
    dir: string;
    bridge?: string;
    blackhole?: string;
    bridgeAddress: string;
    prefixLength: number;
    sshUser: string;
    privateKeyPath: string;
    knownHostsPath: string;
    hosts: LabHostState[];
    basePath?: string;
    /** Processes started in the root namespace for the lab (e.g. pebble), killed on teardown. */
    rootPids: { pid: number; what: string }[];
    createdAt: string;
}

export interface StartLabOptions {
    /** Lab id: its directory is .lab/<id>; a second lab with another id can run beside it. */
    id: string;
    hostNames: string[];
    /** A container base rootfs (see base.ts) to bind read-only at HOST_BASE_PATH. */
    basePath?: string;
    /** Register exit/SIGINT handlers that tear the lab down (tests: yes; `lab-cli up`: no). */
    teardownOnExit?: boolean;
}

const HOST_NAME_RE = /^[a-z][a-z0-9-]{0,30}$/;

function statePath(dir: string): string {
    return path.join(dir, "state.json");
}

export function saveState(s: LabState): void {
    fs.mkdirSync(s.dir, { recursive: true });
    const tmp = statePath(s.dir) + ".tmp";
    fs.writeFileSync(tmp, JSON.stringify(s, null, 2));
    fs.renameSync(tmp, statePath(s.dir));
}

export function loadState(id: string): LabState | undefined {
    const p = statePath(path.join(LAB_ROOT, id));
    return fs.existsSync(p) ? (JSON.parse(fs.readFileSync(p, "utf8")) as LabState) : undefined;
}

/** Anchor: enters the host's net ns, gets private mount + UTS namespaces, mounts, then sleeps. */
const ANCHOR_SCRIPT = `
set -eu
H="$1"; NAME="$2"; BASE="$3"
hostname "$NAME"
mkdir -p "$H/cgsave"
mount --rbind /sys/fs/cgroup "$H/cgsave"
mount -t sysfs sysfs /sys
mount --rbind "$H/cgsave" /sys/fs/cgroup
umount -l "$H/cgsave"
for d in etc var root opt srv; do
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$H/upper/$d,workdir=$H/work/$d" "/$d"
done
mkdir -p /var/lib/lxc /var/lib/osm
mount --bind "$H/lxc" /var/lib/lxc
mount --bind "$H/osm" /var/lib/osm
if [ -n "$BASE" ]; then
  mkdir -p ${HOST_BASE_PATH}
  mount --bind "$BASE" ${HOST_BASE_PATH}
  mount -o remount,bind,ro ${HOST_BASE_PATH}
fi
# /run is the host's own (sshd, LXC, nginx pid files). /tmp stays the machine's: the
# checkout (and so $H) may live under /tmp, as a CI clone can, and must stay visible.
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/lock /run/sshd /run/user
chmod 1777 /run/lock
touch "$H/anchor.ready"
exec sleep infinity
`;

function writeFileMode(p: string, text: string, mode: number): void {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text, { mode });
    fs.chmodSync(p, mode);
}

/** Pre-populates a host's overlay upper dirs (before they are mounted, as overlayfs requires). */
async function prepareHostDir(h: LabHostState, publicClientKey: string): Promise<void> {
    for (const d of ["etc", "var", "root", "opt", "srv"]) {
        fs.mkdirSync(path.join(h.dir, "upper", d), { recursive: true });
        fs.mkdirSync(path.join(h.dir, "work", d), { recursive: true });
    }
    fs.mkdirSync(path.join(h.dir, "lxc"), { recursive: true });
    fs.mkdirSync(path.join(h.dir, "osm"), { recursive: true });
    const sshDir = path.join(h.dir, "upper", "etc", "ssh");
    fs.mkdirSync(sshDir, { recursive: true });
    // Throwaway host key; hide the machine's own host keys (overlay whiteouts) so the host
    // offers only its own key.
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${h.name}`, "-f", path.join(sshDir, "ssh_host_ed25519_key")]);
    for (const k of ["ssh_host_rsa_key", "ssh_host_rsa_key.pub", "ssh_host_ecdsa_key", "ssh_host_ecdsa_key.pub"]) {
        await run("mknod", [path.join(sshDir, k), "c", "0", "0"]);
    }
    // Key-only login; every other setting is Debian's stock sshd_config (no AcceptEnv OSM_*:
    // the program's bootstrap command must add it, as on a production host).
    writeFileMode(path.join(sshDir, "sshd_config.d", "lab-key-only.conf"), "PasswordAuthentication no\n", 0o644);
    writeFileMode(path.join(h.dir, "upper", "etc", "hostname"), `${h.name}\n`, 0o644);
    fs.mkdirSync(path.join(h.dir, "upper", "root", ".ssh"), { recursive: true, mode: 0o700 });
    fs.chmodSync(path.join(h.dir, "upper", "root", ".ssh"), 0o700);
    writeFileMode(path.join(h.dir, "upper", "root", ".ssh", "authorized_keys"), publicClientKey, 0o600);
    const pub = fs.readFileSync(path.join(sshDir, "ssh_host_ed25519_key.pub"), "utf8").trim().split(/\s+/);
    h.hostKey = `${pub[0]} ${pub[1]}`;
}

function tcpOpen(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ host, port, timeout: 500 });
        s.once("connect", () => {
            s.destroy();
            resolve(true);
        });
        s.once("error", () => resolve(false));
        s.once("timeout", () => {
            s.destroy();
            resolve(false);
        });
    });
}

/** Claims the first free slot by creating its bridge (creation fails when another lab has it). */
function claimSlot(): { plan: SlotPlan; bridge: string } {
    for (let slot = 1; slot <= MAX_SLOT; slot++) {
        const bridge = `osmlbr${slot}`;
        const plan = slotPlan(slot);
        const r = runSync("ip", ["link", "add", bridge, "type", "bridge"]);
        if (r.code !== 0) {
            if (/File exists/.test(r.stderr)) continue;
            throw new Error(`could not create lab bridge ${bridge}: ${r.stderr.trim()}`);
        }
        try {
            assertSlotRangeUnused(plan);
        } catch (e) {
            runSync("ip", ["link", "del", bridge]);
            throw e;
        }
        return { plan, bridge };
    }
    throw new Error(`all ${MAX_SLOT} lab slots are in use (ip link show type bridge | grep osmlbr); run 'npm run lab -- down --id ID' for stale labs`);
}

export class Lab {
    private constructor(public readonly state: LabState) {}

    get hosts(): LabHostState[] {
        return this.state.hosts;
    }

    host(name: string): LabHostState {
        const h = this.state.hosts.find((x) => x.name === name);
        if (!h) throw new Error(`no lab host named ${name} (have: ${this.state.hosts.map((x) => x.name).join(", ")})`);
        return h;
    }

    /** Runs a program inside a host (root, its namespaces); rejects when it fails, unless `allowFail`. */
    exec(hostName: string, cmd: string, args: string[], input?: string, opts: { allowFail?: boolean } = {}) {
        return runInHost(this.host(hostName).anchorPid!, cmd, args, { input, allowFail: opts.allowFail });
    }

    /** Runs a shell script inside a host; values go as positional args, never spliced in. */
    sh(hostName: string, script: string, ...args: string[]) {
        return runInHost(this.host(hostName).anchorPid!, "sh", ["-c", script, "sh", ...args]);
    }

    privateKey(): string {
        return fs.readFileSync(this.state.privateKeyPath, "utf8");
    }

    /** Records a root-namespace process (e.g. pebble) so teardown stops it. */
    addRootPid(pid: number, what: string): void {
        this.state.rootPids.push({ pid, what });
        saveState(this.state);
    }

    /** Destroys one host outright (a dead machine); the others run on. */
    destroy(hostName: string): void {
        destroyHost(this.state, hostName);
    }

    teardown(): void {
        teardownLab(this.state);
    }

    static async start(opts: StartLabOptions): Promise<Lab> {
        if (opts.hostNames.length < 1) throw new Error("a lab needs at least one host");
        for (const n of opts.hostNames) {
            if (!HOST_NAME_RE.test(n)) throw new Error(`lab host name "${n}" must match ${HOST_NAME_RE}`);
        }
        if (new Set(opts.hostNames).size !== opts.hostNames.length) throw new Error("lab host names must be unique");
        if (!/^[a-z0-9-]{1,20}$/.test(opts.id)) throw new Error(`lab id "${opts.id}" must match [a-z0-9-]{1,20}`);
        assertIpForwardOff();

        const dir = path.join(LAB_ROOT, opts.id);
        const stale = loadState(opts.id);
        if (stale) teardownLab(stale);
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir, { recursive: true });

        const { plan, bridge } = claimSlot();
        const state: LabState = {
            id: opts.id,
            slot: plan.slot,
            dir,
            bridge,
            bridgeAddress: plan.bridgeAddress,
            prefixLength: plan.prefixLength,
            sshUser: "root",
            privateKeyPath: path.join(dir, "id_ed25519"),
            knownHostsPath: path.join(dir, "known_hosts"),
            hosts: [],
            basePath: opts.basePath,
            rootPids: [],
            createdAt: new Date().toISOString(),
        };
        saveState(state);
        const lab = new Lab(state);
        if (opts.teardownOnExit) registerExitTeardown(state);
        try {
            // Blackhole first, only then the (more specific) lab addresses.
            addBlackhole(plan);
            state.blackhole = plan.blackhole;
            saveState(state);
            await run("ip", ["addr", "add", `${plan.bridgeAddress}/${plan.prefixLength}`, "dev", bridge]);
            await run("ip", ["link", "set", bridge, "up"]);

            raiseInotifyLimit();
            await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `osm-lab-${opts.id}`, "-f", state.privateKeyPath]);
            const clientPub = fs.readFileSync(state.privateKeyPath + ".pub", "utf8");

            opts.hostNames.forEach((name, index) => {
                state.hosts.push({
                    name,
                    index,
                    address: plan.hostAddress(index),
                    sshPort: 22,
                    hostKey: "",
                    netns: `osml${plan.slot}-${name}`,
                    veth: `osml${plan.slot}h${index}`,
                    dir: path.join(dir, "hosts", name),
                });
            });
            await Promise.all(state.hosts.map((h) => startHost(state, h, plan, clientPub)));
            fs.writeFileSync(state.knownHostsPath, state.hosts.map((h) => `${h.address} ${h.hostKey}\n`).join(""));
            saveState(state);
            return lab;
        } catch (e) {
            teardownLab(state);
            throw e;
        }
    }
}

async function startHost(state: LabState, h: LabHostState, plan: SlotPlan, clientPub: string): Promise<void> {
    await prepareHostDir(h, clientPub);
    await run("ip", ["netns", "add", h.netns]);
    saveState(state);
    await run("ip", ["link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.netns]);
    saveState(state);
    await run("ip", ["link", "set", h.veth, "master", state.bridge!, "up"]);
    await run("ip", ["-n", h.netns, "addr", "add", `${h.address}/${plan.prefixLength}`, "dev", "eth0"]);
    await run("ip", ["-n", h.netns, "link", "set", "eth0", "up"]);
    await run("ip", ["-n", h.netns, "link", "set", "lo", "up"]);

    const log = fs.openSync(path.join(h.dir, "anchor.log"), "a");
    h.anchorPid = spawnDetached(
        "nsenter",
        [`--net=/run/netns/${h.netns}`, "unshare", "-m", "-u", "--propagation", "private", "sh", "-c", ANCHOR_SCRIPT, "anchor", h.dir, h.name, state.basePath ?? ""],
        log,
    );
    fs.closeSync(log);
    saveState(state);
    const ready = path.join(h.dir, "anchor.ready");
    await waitFor(`host ${h.name}'s anchor to mount its namespaces (see ${h.dir}/anchor.log)`, () => {
        if (!alive(h.anchorPid!)) throw new Error("anchor died");
        return fs.existsSync(ready);
    }, 10_000, 20).catch((e) => {
        const logText = fs.existsSync(path.join(h.dir, "anchor.log")) ? fs.readFileSync(path.join(h.dir, "anchor.log"), "utf8") : "";
        throw new Error(`${e.message}: ${logText.trim().slice(-800)}`);
    });
    // sshd daemonizes inside the host and writes /run/sshd.pid there (bootstrap HUPs it).
    await runInHost(h.anchorPid, "/usr/sbin/sshd", ["-E", "/var/log/sshd-lab.log"]);
    await waitFor(`sshd on ${h.name} (${h.address}:22)`, () => tcpOpen(h.address, h.sshPort), 10_000, 30);
}

const INOTIFY_INSTANCES = "/proc/sys/fs/inotify/max_user_instances";
/** Every systemd container holds several inotify instances, all counted against root in the
 * initial user namespace: at the kernel default (128) about a dozen containers on the whole
 * machine exhaust it and the next container's boot stalls (systemctl waits forever). Same on
 * production hosts: host setup must raise it there too. */
export const INOTIFY_INSTANCES_NEEDED = 8192;

/** The value before any lab raised it, kept until the last lab is down. */
const INOTIFY_ORIGINAL = path.join(LAB_ROOT, "inotify-original");

function raiseInotifyLimit(): void {
    const current = Number(fs.readFileSync(INOTIFY_INSTANCES, "utf8").trim());
    if (current >= INOTIFY_INSTANCES_NEEDED) return;
    if (!fs.existsSync(INOTIFY_ORIGINAL)) fs.writeFileSync(INOTIFY_ORIGINAL, String(current));
    fs.writeFileSync(INOTIFY_INSTANCES, String(INOTIFY_INSTANCES_NEEDED));
}

/** Puts the original limit back when no lab (an osmlbr* bridge) is up any more. */
function restoreInotifyLimit(): void {
    if (!fs.existsSync(INOTIFY_ORIGINAL)) return;
    const bridges = runSync("ip", ["-o", "link", "show", "type", "bridge"]).stdout;
    if (/\bosmlbr\d+[:@]/.test(bridges)) return;
    try {
        const original = fs.readFileSync(INOTIFY_ORIGINAL, "utf8").trim();
        if (/^\d+$/.test(original)) fs.writeFileSync(INOTIFY_INSTANCES, original);
        fs.rmSync(INOTIFY_ORIGINAL, { force: true });
    } catch {
        /* best effort */
    }
}

/** PIDs in a network namespace plus all their descendants (containers live in their own
 * namespaces but descend from the host's LXC monitor). */
function pidsToKill(netns: string, extra: number[]): number[] {
    const roots = new Set<number>(extra.filter((p) => p > 0));
    const out = runSync("ip", ["netns", "pids", netns]).stdout;
    for (const l of out.split("\n")) if (/^\d+$/.test(l.trim())) roots.add(Number(l.trim()));
    const children = new Map<number, number[]>();
    for (const e of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(e)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            if (!children.has(ppid)) children.set(ppid, []);
            children.get(ppid)!.push(Number(e));
        } catch {
            /* gone */
        }
    }
    const all = new Set<number>();
    const stack = [...roots];
    while (stack.length) {
        const p = stack.pop()!;
        if (all.has(p) || p === process.pid || p <= 1) continue;
        all.add(p);
        for (const c of children.get(p) ?? []) stack.push(c);
    }
    return [...all];
}

function sleepSync(ms: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Removes everything a lab made. Synchronous, so it also works from a process 'exit' handler. */
/** Destroys one host outright, as a dead machine (its containers, processes, network, files): the rest of the lab runs on. */
export function destroyHost(state: LabState, name: string): void {
    const h = state.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no lab host ${name}`);
    teardownLab({ ...state, hosts: [h], rootPids: [], bridge: undefined, blackhole: undefined }, { hostOnly: true });
    fs.rmSync(path.join(state.dir, "hosts", h.name), { recursive: true, force: true });
}

export function teardownLab(state: LabState, opts: { hostOnly?: boolean } = {}): void {
    for (const r of state.rootPids ?? []) {
        try {
            process.kill(r.pid, "SIGKILL");
        } catch {
            /* already gone */
        }
    }
    for (const h of state.hosts) {
        if (h.anchorPid && alive(h.anchorPid)) {
            // Stop containers the LXC way first (their control sockets live in this host).
            runSync("nsenter", ["-t", String(h.anchorPid), "-m", "-u", "-n", "--", "sh", "-c",
                'for c in $(lxc-ls --running 2>/dev/null); do lxc-stop -k -n "$c" >/dev/null 2>&1 || true; done']);
        }
        // Again until none is left: a playbook still running when a test fails can fork (an
        // NGINX reload's new workers) between the listing and the kill, and such a child escaped.
        for (let round = 0; round < 20; round++) {
            const victims = pidsToKill(h.netns, h.anchorPid ? [h.anchorPid] : []).filter(alive);
            if (victims.length === 0) break;
            for (const p of victims) {
                try {
                    process.kill(p, "SIGKILL");
                } catch {
                    /* gone */
                }
            }
            for (let i = 0; i < 100 && victims.some(alive); i++) sleepSync(20);
        }
        runSync("ip", ["netns", "del", h.netns]);
        runSync("ip", ["link", "del", h.veth]);
    }
    if (opts.hostOnly) return;
    if (state.bridge) runSync("ip", ["link", "del", state.bridge]);
    if (state.blackhole) removeBlackhole(state.blackhole);
    restoreInotifyLimit();
    fs.rmSync(path.join(state.dir, "hosts"), { recursive: true, force: true });
    fs.rmSync(statePath(state.dir), { force: true });
}

const exitTeardowns = new Map<string, LabState>();
let handlersInstalled = false;

/** Tears a lab down when the process exits or is interrupted (tests must leave nothing). */
export function registerExitTeardown(state: LabState): void {
    exitTeardowns.set(state.id, state);
    if (handlersInstalled) return;
    handlersInstalled = true;
    const all = () => {
        for (const s of exitTeardowns.values()) {
            try {
                teardownLab(s);
            } catch {
                /* best effort at exit */
            }
        }
        exitTeardowns.clear();
    };
    process.on("exit", all);
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        process.on(sig, () => {
            all();
            process.exit(130);
        });
    }
}

/** Forget the exit hook for a lab that was torn down normally. */
export function unregisterExitTeardown(id: string): void {
    exitTeardowns.delete(id);
}

export async function stopLab(lab: Lab): Promise<void> {
    teardownLab(lab.state);
    unregisterExitTeardown(lab.state.id);
    await sleep(0);
}
