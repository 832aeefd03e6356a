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
import { LAB_ROOT } from "./hosts";
import { run } from "./lab-exec";

export const SUITE = "bookworm";
export const MIRROR = "http://deb.debian.org/debian";
/** Packages added to minbase (debootstrap resolves their dependencies). */
export const BASE_PACKAGES = ["systemd-sysv", "iproute2", "mosquitto", "busybox", "ca-certificates"];

/** Service -> port of the stand-ins (the ports the real services use). */
export const STANDIN_PORTS: Record<string, number> = { grafana: 3000, chirpstack: 8080, influxdb: 8086 };

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
printf '%s stand-in for customer %s\\n' "$svc" "$customer" > "$dir/index.html"
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

const NETWORKD_ETH0 = `[Match]
Name=eth0

[Network]
DHCP=ipv4
`;

/** Runs inside the fresh rootfs ($1) after debootstrap: the base's own configuration. */
const CONFIGURE_SCRIPT = `set -eu
R="$1"
install -m 0755 "$2" "$R/usr/local/sbin/osm-standin"
install -m 0644 "$3" "$R/etc/systemd/system/osm-standin@.service"
install -m 0644 "$4" "$R/etc/systemd/network/eth0.network"
mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
for s in grafana chirpstack influxdb; do
  ln -sf ../osm-standin@.service "$R/etc/systemd/system/multi-user.target.wants/osm-standin@$s.service"
done
chroot "$R" systemctl enable systemd-networkd.service >/dev/null 2>&1
# Every container gets its own machine-id at first boot.
: > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*
`;

export interface Base {
    /** The rootfs directory on this machine (bound read-only into each lab host). */
    path: string;
    key: string;
    /** True when this call built it (false: came from the cache). */
    built: boolean;
    seconds: number;
}

export function baseKey(): string {
    const h = crypto.createHash("sha256");
    h.update([SUITE, MIRROR, "minbase", ...BASE_PACKAGES].join("\n"));
    for (const t of [STANDIN_SCRIPT, STANDIN_UNIT, NETWORKD_ETH0, CONFIGURE_SCRIPT]) h.update("\0" + t);
    return h.digest("hex").slice(0, 16);
}

/** Returns the cached base, building it first when missing (one builder at a time: flock). */
export async function ensureBase(opts: { log?: (m: string) => void } = {}): Promise<Base> {
    const t0 = Date.now();
    const key = baseKey();
    const cache = path.join(LAB_ROOT, "cache");
    const dir = path.join(cache, `base-${key}`);
    const rootfs = path.join(dir, "rootfs");
    const done = path.join(dir, "complete");
    fs.mkdirSync(cache, { recursive: true });
    if (fs.existsSync(done)) return { path: rootfs, key, built: false, seconds: (Date.now() - t0) / 1000 };

    opts.log?.(`building the container base ${key} (debootstrap ${SUITE}, ~1 min)…`);
    const files = path.join(cache, `base-${key}.files`);
    fs.mkdirSync(files, { recursive: true });
    fs.writeFileSync(path.join(files, "osm-standin"), STANDIN_SCRIPT);
    fs.writeFileSync(path.join(files, "osm-standin@.service"), STANDIN_UNIT);
    fs.writeFileSync(path.join(files, "eth0.network"), NETWORKD_ETH0);
    fs.writeFileSync(path.join(files, "configure.sh"), CONFIGURE_SCRIPT);
    const tmp = `${dir}.building`;
    // Under flock: a second builder waits, then sees "complete" and returns.
    const script = `set -eu
if [ -e "$1/complete" ]; then exit 0; fi
rm -rf "$2"
mkdir -p "$2"
debootstrap --variant=minbase --include="$3" ${SUITE} "$2/rootfs" ${MIRROR} > "$2/debootstrap.log" 2>&1 || { tail -20 "$2/debootstrap.log" >&2; exit 1; }
sh "$4/configure.sh" "$2/rootfs" "$4/osm-standin" "$4/osm-standin@.service" "$4/eth0.network"
touch "$2/complete"
rm -rf "$1"
mv "$2" "$1"
`;
    await run("flock", [path.join(cache, "base.lock"), "sh", "-c", script, "build-base", dir, tmp, BASE_PACKAGES.join(","), files], { timeoutMs: 15 * 60_000 });
    fs.rmSync(files, { recursive: true, force: true });
    const seconds = (Date.now() - t0) / 1000;
    opts.log?.(`container base ready in ${seconds.toFixed(1)} s`);
    return { path: rootfs, key, built: true, seconds };
}
