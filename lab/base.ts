/**
 * The lab's container base: a Debian bookworm minbase made by debootstrap on the host side
 * (never from inside a networked container), with the packages the customers' containers
 * need, plus stand-ins for the vendor services this machine cannot install (Grafana :3000,
 * ChirpStack :8080, InfluxDB 2 :8086): tiny busybox HTTP servers that answer every request
 * with the service name and the customer (the container's hostname), so a test can prove
 * which container answered.
 *
 * Production's base differs only in getting the vendor packages. The base is cached under
 * .lab/cache keyed by a hash of everything that goes into it (a fresh machine rebuilds it).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { hostContract } from "../components/contract";
import { LAB_ROOT, REPO_ROOT } from "./hosts";
import { run } from "./lab-exec";

export const SUITE = "bookworm";
export const MIRROR = "http://deb.debian.org/debian";
/** Packages added to minbase (debootstrap resolves their dependencies). */
export const BASE_PACKAGES = ["systemd-sysv", "iproute2", "mosquitto", "busybox", "ca-certificates"];

/** Service -> port of the stand-ins (the ports the real services use). */
export const STANDIN_PORTS: Record<string, number> = { grafana: 3000, chirpstack: 8080, influxdb: 8086 };

const BASE_RECORD = `/${hostContract().baseRecord}`;

const STANDIN_SCRIPT = `#!/bin/sh
# Lab stand-in for a vendor service (Grafana, ChirpStack, InfluxDB 2): answers every request
# with the service name and the customer (this container's hostname). Not in production.
set -eu
svc="$1"
case "$svc" in
  grafana) port=3000 ;;
  chirpstack) port=8080 ;;
  influxdb) port=8086 ;;
  *) echo "osm-standin: unknown service $svc" >&2; exit 1 ;;
esac
dir=/run/osm-standin/$svc
mkdir -p "$dir"
customer=$(hostname)
# A versioned base (osm-build-base's record) gives each service its version, as the real
# packages would; a version ending in "-fails" is the lab's base whose service does not start.
version="lab stand-in"; shown=""
key=$svc; [ "$svc" != influxdb ] || key=influxdb2
if [ -f ${BASE_RECORD} ]; then
  version=$(grep -o '"'"$key"'": "[^"]*"' ${BASE_RECORD} | cut -d'"' -f4)
  shown=" (version $version)"
  case "$version" in *-fails) echo "osm-standin: $svc $version does not start (the lab's failing base)" >&2; exit 1 ;; esac
fi
printf '%s stand-in for customer %s%s\\n' "$svc" "$customer" "$shown" > "$dir/index.html"
# The health endpoints npm run verify asks (scripts/lib/verify/services.ts), answered as
# the real services do.
case "$svc" in
  grafana) mkdir -p "$dir/api"; printf '{"database": "ok", "version": "%s", "customer": "%s"}\\n' "$version" "$customer" > "$dir/api/health" ;;
  influxdb) printf '{"name": "influxdb", "status": "pass", "version": "%s", "message": "lab stand-in for customer %s"}\\n' "$version" "$customer" > "$dir/health" ;;
esac
# Any other path answers the same text (as the 404 page).
printf 'E404:%s/index.html\\n' "$dir" > "$dir/httpd.conf"
exec busybox httpd -f -p "0.0.0.0:$port" -h "$dir" -c "$dir/httpd.conf"
`;

const STANDIN_UNIT = `[Unit]
Description=OSM lab stand-in for %i
After=network.target

[Service]
ExecStart=/usr/local/sbin/osm-standin %i
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`;

/** Runs on a copy of the debootstrap tree ($1): the base's own configuration. */
const CONFIGURE_SCRIPT = `set -eu
R="$1"; NAMESERVER="$4"
install -m 0755 "$2" "$R/usr/local/sbin/osm-standin"
install -m 0644 "$3" "$R/etc/systemd/system/osm-standin@.service"
mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
for s in grafana chirpstack influxdb; do
  ln -sf ../osm-standin@.service "$R/etc/systemd/system/multi-user.target.wants/osm-standin@$s.service"
done
# As production's base (ansible/files/osm-build-base): the address comes from LXC, DNS is
# the host's dnsmasq on the customers' bridge.
printf 'nameserver %s\n' "$NAMESERVER" > "$R/etc/resolv.conf"
# debootstrap copies the build machine's hostname and hosts: a container's name comes from
# LXC (lxc.uts.name), which systemd would otherwise overwrite from /etc/hostname.
rm -f "$R/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
# Every container gets its own machine-id at first boot.
: > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*
`;

/** The customers' bridge address from the playbooks' vars (the containers' DNS server). */
export function bridgeAddress(): string {
    const vars = fs.readFileSync(path.join(REPO_ROOT, "ansible", "vars", "osm.yml"), "utf8");
    const m = /^osm_bridge_address:\s*([0-9.]+)\s*$/m.exec(vars);
    if (!m) throw new Error("ansible/vars/osm.yml has no osm_bridge_address: the lab base needs it for the containers' resolv.conf");
    return m[1];
}

export interface Base {
    /** The rootfs directory on this machine (bound read-only into each lab host). */
    path: string;
    key: string;
    /** True when this call built it (false: came from the cache). */
    built: boolean;
    seconds: number;
}

function hash(parts: string[]): string {
    const h = crypto.createHash("sha256");
    for (const p of parts) h.update(p + "\0");
    return h.digest("hex").slice(0, 16);
}

/** Key of the debootstrap tree: suite, mirror, packages. */
export function debootstrapKey(): string {
    return hash([SUITE, MIRROR, "minbase", ...BASE_PACKAGES]);
}

/** Key of the configured base: the tree plus everything configured into it. */
export function baseKey(): string {
    return hash([debootstrapKey(), STANDIN_SCRIPT, STANDIN_UNIT, CONFIGURE_SCRIPT, bridgeAddress()]);
}

/**
 * Returns the cached base, building it first when missing (one builder at a time: flock).
 * Two layers: the debootstrap tree (slow, keyed by the package list) and the configured copy
 * (seconds), so a change of the stand-ins does not re-run debootstrap.
 */
export async function ensureBase(opts: { log?: (m: string) => void } = {}): Promise<Base> {
    const t0 = Date.now();
    const key = baseKey();
    const cache = path.join(LAB_ROOT, "cache");
    const dir = path.join(cache, `base-${key}`);
    const rootfs = path.join(dir, "rootfs");
    fs.mkdirSync(cache, { recursive: true });
    if (fs.existsSync(path.join(dir, "complete"))) return { path: rootfs, key, built: false, seconds: (Date.now() - t0) / 1000 };

    const tree = path.join(cache, `debootstrap-${debootstrapKey()}`);
    if (!fs.existsSync(path.join(tree, "complete"))) opts.log?.(`building the container base (debootstrap ${SUITE}, ~1 min)…`);
    const files = path.join(cache, `base-${key}.files`);
    fs.mkdirSync(files, { recursive: true });
    fs.writeFileSync(path.join(files, "osm-standin"), STANDIN_SCRIPT);
    fs.writeFileSync(path.join(files, "osm-standin@.service"), STANDIN_UNIT);
    fs.writeFileSync(path.join(files, "configure.sh"), CONFIGURE_SCRIPT);
    // Under flock: a second builder waits, then finds "complete" and does nothing.
    const script = `set -eu
dir="$1"; tree="$2"; pkgs="$3"; files="$4"; ns="$5"
if [ -e "$dir/complete" ]; then exit 0; fi
if [ ! -e "$tree/complete" ]; then
  rm -rf "$tree.building"; mkdir -p "$tree.building"
  debootstrap --variant=minbase --include="$pkgs" ${SUITE} "$tree.building/rootfs" ${MIRROR} > "$tree.building/debootstrap.log" 2>&1 || { tail -20 "$tree.building/debootstrap.log" >&2; exit 1; }
  touch "$tree.building/complete"
  rm -rf "$tree"; mv "$tree.building" "$tree"
fi
rm -rf "$dir.building"; mkdir -p "$dir.building"
cp -a "$tree/rootfs" "$dir.building/rootfs"
sh "$files/configure.sh" "$dir.building/rootfs" "$files/osm-standin" "$files/osm-standin@.service" "$ns"
touch "$dir.building/complete"
rm -rf "$dir"; mv "$dir.building" "$dir"
`;
    await run("flock", [path.join(cache, "base.lock"), "sh", "-c", script, "build-base", dir, tree, BASE_PACKAGES.join(","), files, bridgeAddress()], { timeoutMs: 15 * 60_000 });
    fs.rmSync(files, { recursive: true, force: true });
    pruneCache(cache, [path.basename(dir), path.basename(tree)]);
    const seconds = (Date.now() - t0) / 1000;
    opts.log?.(`container base ready in ${seconds.toFixed(1)} s`);
    return { path: rootfs, key, built: true, seconds };
}

/** Removes older bases (~260 MB each) that no running lab has bound into its hosts. */
function pruneCache(cache: string, keep: string[]): void {
    const inUse = new Set<string>();
    for (const id of fs.readdirSync(LAB_ROOT)) {
        const state = path.join(LAB_ROOT, id, "state.json");
        if (!fs.existsSync(state)) continue;
        try {
            const basePath = JSON.parse(fs.readFileSync(state, "utf8")).basePath;
            if (typeof basePath === "string") inUse.add(path.basename(path.dirname(basePath)));
        } catch {
            /* a state being written: keep everything this time */
            return;
        }
    }
    for (const e of fs.readdirSync(cache)) {
        if (!/^(base|debootstrap)-[0-9a-f]{16}$/.test(e) || keep.includes(e) || inUse.has(e)) continue;
        fs.rmSync(path.join(cache, e), { recursive: true, force: true });
    }
}
