/**
 * An upstream-style OSM host on a lab host: what the old orchestrator (devtank-ltd/osm-ansible)
 * leaves on a host it built, written from the facts in the project's notes (its code is not
 * copied), so the takeover (README.md, "Taking over the old orchestrator's fleet") can be
 * rehearsed against it:
 *
 * - one LXC container `<name>-svr` per customer, laid out under /srv/osm-lxc/lxc:
 *   `containers/<name>-svr/{rootfs-layer/, lxc.container.conf, .snapshots/}` and the OS base
 *   it overlays, `os-bases/001-bookworm-DD-MM-YYYY` (its own lowerdir, not the project's
 *   base path), started with `lxc-start -f` by `/opt/devtank/start-containers.sh`, not from
 *   /var/lib/lxc. Production has a btrfs subvolume per container; the lab has a plain
 *   directory (bound from a real filesystem: an overlay upper dir cannot sit on overlayfs),
 *   and the base is the lab's base (stand-ins for Grafana, ChirpStack, InfluxDB 2) bound
 *   read-only, not a copy;
 * - the bridge `lxcbr0` (10.0.3.1/24) with a dnsmasq as Debian's lxc-net runs it (fixed
 *   addresses from `dhcp-host=` lines in /etc/lxc/dnsmasq.conf, names from /etc/hosts
 *   `<ip> <name>-svr`). Unlike upstream, no NAT out (the lab never routes containers out), and
 *   each container also gets its address from its LXC config, as the lab base has no DHCP
 *   client running at boot;
 * - in each container Mosquitto with listeners 1883 and 9001 (websockets), a password file
 *   with the customer name as user and an ACL, persistence on (Debian's default), and the
 *   plain `/root/passwords.json`;
 * - NGINX as upstream configures it: nginx.conf including `devtank/customers.http.d/*.conf`,
 *   `devtank/services/*.conf` and, in `stream {}`, `devtank/customers.stream.d/*.conf`; per
 *   customer four HTTPS names (`<c>`, `-chirpstack`, `-influx`, `-mqtt`) proxied to
 *   `<name>-svr`, its MQTT port (`listen PORT ssl; proxy_pass <name>-svr:1883`) and its own
 *   certificate (`/etc/letsencrypt/live/<c>.<domain>/`, here from a lab CA of this module);
 * - ufw's rules file (`/etc/ufw/user.rules`: SSH, 80, 443 and each MQTT port, `ufw allow`
 *   tuples). ufw itself is not installed in the lab: no ufw chains filter, only the file is
 *   there for host set-up to read;
 * - a WireGuard tunnel's configuration, `/etc/wireguard/wg0.conf` (ListenPort 51820); the lab
 *   has no `wg0` interface (this kernel has no wireguard module), so what comes over the tunnel
 *   (upstream: the monitoring exporters, 9100 and 19999) is checked in the ruleset, not sent.
 *
 * `passwords.json` has the shape upstream's provisioning writes (read in its cleanup role, not
 * copied): `{"Influx": {user: password}, "Influx Token", "Postgres": {...}, "Mosquitto":
 * {<name>: password}, "Grafana Admin": {"admin": ...}, "Grafana Viewer": {"viewer": ...},
 * "Chirpstack Admin": {"admin": ...}}` (`upstreamPasswordsFile`).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Lab } from "./hosts";
import { run } from "./lab-exec";

export const UPSTREAM_ROOT = "/srv/osm-lxc/lxc";
export const UPSTREAM_BRIDGE = "lxcbr0";
export const UPSTREAM_BRIDGE_ADDRESS = "10.0.3.1";
export const UPSTREAM_OS_BASE = `${UPSTREAM_ROOT}/os-bases/001-bookworm-29-11-2024`;
export const UPSTREAM_WIREGUARD_PORT = 51820;

export interface UpstreamCustomerSpec {
    /** The customer name as the orchestrator stored it (its container is `<name>-svr`). */
    name: string;
    mqttPort: number;
}

export interface UpstreamPasswords {
    mqtt_user: string;
    mqtt_password: string;
    grafana_admin_password: string;
    influx_token: string;
}

export interface UpstreamCustomer extends UpstreamCustomerSpec {
    container: string;
    /** The DNS label of its names (`<label>.<domain>`, ...). */
    label: string;
    address: string;
    mac: string;
    passwords: UpstreamPasswords;
}

export interface UpstreamHost {
    host: string;
    domain: string;
    customers: UpstreamCustomer[];
    /** Local file: the CA of the customers' upstream certificates (what their devices trust). */
    caFile: string;
}

const secret = () => crypto.randomBytes(18).toString("base64url");

/** The container's plain /root/passwords.json, in upstream's shape, holding `p` and passwords of its own. */
export function upstreamPasswordsFile(p: UpstreamPasswords): string {
    return JSON.stringify({
        "Influx": { devtank: secret(), customer: secret(), grafana: secret(), chirpstack: secret() },
        "Influx Token": p.influx_token,
        "Postgres": { chirpstack_as: secret(), chirpstack_ns: secret() },
        "Mosquitto": { [p.mqtt_user]: p.mqtt_password },
        "Grafana Admin": { admin: p.grafana_admin_password },
        "Grafana Viewer": { viewer: secret() },
        "Chirpstack Admin": { admin: secret() },
    }, null, 4) + "\n";
}

/** Runs a script in the host; values go as positional args. Fails with its stderr. */
async function sh(lab: Lab, host: string, what: string, script: string, ...args: string[]): Promise<string> {
    const r = await lab.sh(host, `set -eu\n${script}`, ...args).catch((e) => {
        throw new Error(`upstream host ${host}: ${what}: ${e instanceof Error ? e.message : String(e)}`);
    });
    return r.stdout;
}

/** Writes a file into the host (through its mount namespace) with a mode, content on stdin. */
async function put(lab: Lab, host: string, file: string, content: string, mode = "0644"): Promise<void> {
    const r = await lab.exec(host, "sh", ["-c", 'set -eu; mkdir -p "$(dirname "$1")"; cat > "$1"; chmod "$2" "$1"', "sh", file, mode], content);
    if (r.code !== 0) throw new Error(`upstream host ${host}: writing ${file}: ${r.stderr}`);
}

function commonConf(): string {
    return `# The customers' common LXC settings (upstream's include/common.conf, from the notes' facts).
lxc.include = /usr/share/lxc/config/common.conf
lxc.arch = linux64
lxc.net.0.type = veth
lxc.net.0.link = ${UPSTREAM_BRIDGE}
lxc.net.0.flags = up
lxc.net.0.name = eth0
lxc.cgroup2.cpu.max = 1000000 1000000
lxc.cgroup2.memory.low = 512M
lxc.cgroup2.memory.max = 640M
lxc.cgroup2.memory.swap.max = 200M
lxc.start.auto = 1
lxc.apparmor.profile = unconfined
`;
}

function containerConf(c: UpstreamCustomer): string {
    const dir = `${UPSTREAM_ROOT}/containers/${c.container}`;
    return `lxc.include = ${UPSTREAM_ROOT}/include/common.conf
lxc.rootfs.path = overlayfs:${UPSTREAM_OS_BASE}:${dir}/rootfs-layer
lxc.uts.name = ${c.container}
lxc.net.0.hwaddr = ${c.mac}
# Lab only: the address dnsmasq hands out is also set here (the lab base runs no DHCP client).
lxc.net.0.ipv4.address = ${c.address}/24
`;
}

function mosquittoConf(): string {
    return `# Upstream's broker settings (from the notes' facts).
per_listener_settings false
allow_anonymous false
password_file /etc/mosquitto/passwd
acl_file /etc/mosquitto/acl
listener 1883
listener 9001
protocol websockets
`;
}

function nginxConf(): string {
    return `user www-data;
worker_processes auto;
pid /run/nginx.pid;
include /etc/nginx/modules-enabled/*.conf;
events { worker_connections 768; }
http {
    sendfile on;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    server_names_hash_bucket_size 128;
    ssl_protocols TLSv1.2 TLSv1.3;
    access_log /var/log/nginx/access.log;
    error_log /var/log/nginx/error.log;
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
    include /etc/nginx/devtank/customers.http.d/*.conf;
    include /etc/nginx/devtank/services/*.conf;
}
stream {
    include /etc/nginx/devtank/customers.stream.d/*.conf;
}
`;
}

/** The four names of a customer, with the container port each is proxied to. */
export function upstreamNames(): { suffix: string; port: number }[] {
    return [{ suffix: "", port: 3000 }, { suffix: "-chirpstack", port: 8080 }, { suffix: "-influx", port: 8086 }, { suffix: "-mqtt", port: 9001 }];
}

function customerHttp(c: UpstreamCustomer, domain: string): string {
    const live = `/etc/letsencrypt/live/${c.label}.${domain}`;
    const names = upstreamNames();
    const servers = names.map(({ suffix, port }) => `server {
    listen 443 ssl;
    server_name ${c.label}${suffix}.${domain};
    ssl_certificate ${live}/fullchain.pem;
    ssl_certificate_key ${live}/privkey.pem;
    location / {
        proxy_pass http://${c.container}:${port};
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
    }
}
`);
    // certbot --nginx's redirects of port 80 for the names.
    servers.push(`server {
    listen 80;
    server_name ${names.map((n) => `${c.label}${n.suffix}.${domain}`).join(" ")};
    return 301 https://$host$request_uri;
}
`);
    return servers.join("");
}

function customerStream(c: UpstreamCustomer, domain: string): string {
    const live = `/etc/letsencrypt/live/${c.label}.${domain}`;
    return `server {
    listen ${c.mqttPort} ssl;
    ssl_certificate ${live}/fullchain.pem;
    ssl_certificate_key ${live}/privkey.pem;
    proxy_pass ${c.container}:1883;
}
`;
}

/** certbot's renewal config of a lineage made by `certbot certonly --nginx`. */
function renewalConf(lineage: string): string {
    return `# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = /etc/letsencrypt/archive/${lineage}
cert = /etc/letsencrypt/live/${lineage}/cert.pem
privkey = /etc/letsencrypt/live/${lineage}/privkey.pem
chain = /etc/letsencrypt/live/${lineage}/chain.pem
fullchain = /etc/letsencrypt/live/${lineage}/fullchain.pem

[renewalparams]
account = 0123456789abcdef0123456789abcdef
authenticator = nginx
installer = None
server = https://acme-v02.api.letsencrypt.org/directory
`;
}

function ufwRules(ports: number[]): string {
    const rule = (port: number, proto = "tcp") => `### tuple ### allow ${proto} ${port} 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p ${proto} --dport ${port} -j ACCEPT\n\n`;
    return `*filter
:ufw-user-input - [0:0]
:ufw-user-output - [0:0]
### RULES ###

${[22, 80, 443].map((p) => rule(p)).join("")}${ports.map((p) => rule(p)).join("")}### END RULES ###
COMMIT
`;
}

/** A lab CA and, per customer, a certificate for its four names (signed by it). */
async function certificates(dir: string, domain: string, labels: string[]): Promise<{ ca: string; certs: Map<string, { cert: string; key: string }> }> {
    fs.mkdirSync(dir, { recursive: true });
    const ca = path.join(dir, "upstream-ca.pem");
    const caKey = path.join(dir, "upstream-ca.key");
    await run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", "/CN=upstream lab CA", "-keyout", caKey, "-out", ca]);
    const certs = new Map<string, { cert: string; key: string }>();
    for (const label of labels) {
        const key = path.join(dir, `${label}.key`);
        const csr = path.join(dir, `${label}.csr`);
        const cert = path.join(dir, `${label}.pem`);
        const ext = path.join(dir, `${label}.ext`);
        fs.writeFileSync(ext, `subjectAltName=${upstreamNames().map((n) => `DNS:${label}${n.suffix}.${domain}`).join(",")}\n`);
        await run("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", `/CN=${label}.${domain}`,
            "-keyout", key, "-out", csr]);
        await run("openssl", ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert]);
        certs.set(label, { cert: fs.readFileSync(cert, "utf8") + fs.readFileSync(ca, "utf8"), key: fs.readFileSync(key, "utf8") });
    }
    return { ca, certs };
}

/**
 * Builds the upstream layout on lab host `host` (started with a base: `Lab.start({basePath})`)
 * and starts its containers, dnsmasq and NGINX; resolves when every customer's broker answers
 * on its container address.
 */
export async function buildUpstreamHost(lab: Lab, host: string, opts: { domain: string; basePath: string; customers: UpstreamCustomerSpec[] }): Promise<UpstreamHost> {
    const h = lab.host(host);
    const customers: UpstreamCustomer[] = opts.customers.map((spec, i) => ({
        ...spec,
        container: `${spec.name}-svr`,
        label: spec.name.toLowerCase().replace(/ /g, "-"),
        address: `10.0.3.${11 + i}`,
        mac: `00:16:3e:${crypto.randomBytes(3).toString("hex").match(/../g)!.join(":")}`,
        passwords: { mqtt_user: spec.name, mqtt_password: secret(), grafana_admin_password: secret(), influx_token: secret() },
    }));
    for (const c of customers) {
        if (!/^[a-z][a-z0-9-]{0,40}$/.test(c.name)) throw new Error(`upstream fixture: customer name ${JSON.stringify(c.name)} must be a-z, 0-9 and '-'`);
    }
    const { ca, certs } = await certificates(path.join(h.dir, "upstream-pki"), opts.domain, customers.map((c) => c.label));

    // The tree: the OS base bound read-only (its own path), the containers' dirs on a real directory.
    const containersReal = path.join(h.dir, "upstream-containers");
    fs.mkdirSync(containersReal, { recursive: true });
    await sh(lab, host, "mounting the upstream tree", `
mkdir -p "$1/containers" "$1/include" "$2" /opt/devtank /etc/lxc /etc/ufw /etc/wireguard /etc/nginx/devtank/customers.http.d /etc/nginx/devtank/customers.stream.d /etc/nginx/devtank/services /run/lxc
mountpoint -q "$2" || { mount --bind "$3" "$2" && mount -o remount,bind,ro "$2"; }
mountpoint -q "$1/containers" || mount --bind "$4" "$1/containers"`, UPSTREAM_ROOT, UPSTREAM_OS_BASE, opts.basePath, containersReal);
    await put(lab, host, `${UPSTREAM_ROOT}/include/common.conf`, commonConf());

    for (const c of customers) {
        const dir = `${UPSTREAM_ROOT}/containers/${c.container}`;
        const layer = `${dir}/rootfs-layer`;
        await sh(lab, host, `laying out ${c.container}`, 'mkdir -p "$1/.snapshots" "$1/rootfs-layer/root" "$1/rootfs-layer/etc/mosquitto/conf.d"; chmod 0700 "$1/rootfs-layer/root"', dir);
        await put(lab, host, `${dir}/lxc.container.conf`, containerConf(c));
        await put(lab, host, `${layer}/root/passwords.json`, upstreamPasswordsFile(c.passwords), "0600");
        await put(lab, host, `${layer}/etc/mosquitto/conf.d/upstream.conf`, mosquittoConf());
        await put(lab, host, `${layer}/etc/mosquitto/acl`, `user ${c.passwords.mqtt_user}\ntopic readwrite #\n`);
        // mosquitto_passwd -U hashes a plain user:password file in place (no password in argv).
        await put(lab, host, `${layer}/etc/mosquitto/passwd`, `${c.passwords.mqtt_user}:${c.passwords.mqtt_password}\n`, "0600");
        await sh(lab, host, `hashing ${c.container}'s MQTT password`, `mosquitto_passwd -U "$1" && chown "$(stat -c %u:%g "$2/var/lib/mosquitto")" "$1"`,
            `${layer}/etc/mosquitto/passwd`, UPSTREAM_OS_BASE);
        // certbot's lineage as `certonly --nginx` leaves it: archive/ files, live/ symlinks, its renewal config.
        const pki = certs.get(c.label)!;
        const lineage = `${c.label}.${opts.domain}`;
        const archive = `/etc/letsencrypt/archive/${lineage}`;
        for (const f of ["fullchain", "cert", "chain"]) await put(lab, host, `${archive}/${f}1.pem`, pki.cert);
        await put(lab, host, `${archive}/privkey1.pem`, pki.key, "0600");
        await sh(lab, host, `linking ${lineage}'s live files`, `
mkdir -p "/etc/letsencrypt/live/$1"
for f in fullchain privkey cert chain; do ln -sfn "../../archive/$1/\${f}1.pem" "/etc/letsencrypt/live/$1/$f.pem"; done`, lineage);
        await put(lab, host, `/etc/letsencrypt/renewal/${lineage}.conf`, renewalConf(lineage));
        await put(lab, host, `/etc/nginx/devtank/customers.http.d/${c.label}.conf`, customerHttp(c, opts.domain));
        await put(lab, host, `/etc/nginx/devtank/customers.stream.d/${c.label}.conf`, customerStream(c, opts.domain));
    }
    // Upstream's own service on the host (a status page on loopback).
    await put(lab, host, "/etc/nginx/devtank/services/status.conf", "server {\n    listen 127.0.0.1:8099;\n    location /nginx_status { stub_status; }\n}\n");
    await put(lab, host, "/etc/lxc/dnsmasq.conf", customers.map((c) => `dhcp-host=${c.mac},${c.address}\n`).join(""));
    await sh(lab, host, "writing /etc/hosts", 'for l in "$@"; do printf "%s\\n" "$l" >> /etc/hosts; done',
        ...customers.map((c) => `${c.address} ${c.container}`));
    await put(lab, host, "/etc/ufw/user.rules", ufwRules(customers.map((c) => c.mqttPort)), "0640");
    await put(lab, host, "/etc/wireguard/wg0.conf", `[Interface]\nAddress = 10.250.0.2/24\nPrivateKey = ${crypto.randomBytes(32).toString("base64")}\nListenPort = ${UPSTREAM_WIREGUARD_PORT}\n`, "0600");
    await put(lab, host, "/etc/nginx/nginx.conf", nginxConf());
    await put(lab, host, "/opt/devtank/start-containers.sh", `#!/bin/sh
# Starts every container of ${UPSTREAM_ROOT}/containers from its own config (not /var/lib/lxc).
for d in ${UPSTREAM_ROOT}/containers/*-svr; do
  n=$(basename "$d")
  lxc-info -n "$n" 2>/dev/null | grep -q RUNNING ||
    lxc-start -n "$n" -f "$d/lxc.container.conf" -o "/var/log/lxc-$n.log" </dev/null >/dev/null 2>&1 ||
    { echo "lxc-start $n failed:" >&2; tail -5 "/var/log/lxc-$n.log" >&2; exit 1; }
done
`, "0755");

    // lxcbr0 and its dnsmasq as Debian's lxc-net starts them (without the NAT).
    await sh(lab, host, "bringing up lxcbr0 and its dnsmasq", `
ip link show "$1" >/dev/null 2>&1 || ip link add "$1" type bridge
ip -4 addr show dev "$1" | grep -q "inet $2/" || ip addr add "$2/24" dev "$1"
ip link set "$1" up
mkdir -p /var/lib/misc
dnsmasq --conf-file=/etc/lxc/dnsmasq.conf --strict-order --bind-interfaces --pid-file=/run/lxc/dnsmasq.pid --listen-address "$2" \\
  --dhcp-range "10.0.3.2,10.0.3.254" --dhcp-lease-max=253 --dhcp-no-override --except-interface=lo --interface="$1" \\
  --dhcp-leasefile=/var/lib/misc/dnsmasq.$1.leases --dhcp-authoritative --user=dnsmasq </dev/null >/dev/null 2>/run/lxc/dnsmasq.err ||
  { cat /run/lxc/dnsmasq.err >&2; exit 1; }`, UPSTREAM_BRIDGE, UPSTREAM_BRIDGE_ADDRESS);
    await sh(lab, host, "starting the containers", "sh /opt/devtank/start-containers.sh");
    await sh(lab, host, "starting NGINX", "nginx -t -q && nginx </dev/null >/dev/null 2>/run/nginx-start.err || { cat /run/nginx-start.err >&2; exit 1; }");
    await sh(lab, host, "waiting for the brokers", `
for a in "$@"; do
  i=0
  until timeout 1 bash -c "</dev/tcp/$a/1883" 2>/dev/null; do
    i=$((i+1)); [ $i -lt 150 ] || { echo "no broker on $a:1883 after 30 s" >&2; exit 1; }
    sleep 0.2
  done
done`, ...customers.map((c) => c.address));
    return { host, domain: opts.domain, customers, caFile: ca };
}
