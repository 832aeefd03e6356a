/**
 * The old orchestrator's databases as a lab fixture: its MySQL tables (osm_hosts,
 * osm_customers, osm_wireguard, osm_secrets, osm_keys) and PowerDNS's rows as it wrote them,
 * written from the facts of its schema and its SQL (not its code). One fleet of rows shared
 * by the import's suites and the takeover's: active and deleted customers, a retired host, a
 * name with a space, a customer moved without its DNS (its CNAMEs still name its old host),
 * and two customers on one port of a host.
 */
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../components/paths";
import { CustomerRow, HostRow, RecordRow } from "../scripts/lib/import/model";
import { ORCHESTRATOR_RECORD_TTL } from "../components/dns";
import { POWERDNS_MYSQL_SCHEMA, ScratchMariaDb } from "./pdns-server";

/** The hosting domain (upstream's pdns_domain) and PowerDNS's domains.id of its zone. */
export const ORCHESTRATOR_DOMAIN = "osm.example.test";
export const ORCHESTRATOR_DOMAIN_ID = 1;
export const ORCHESTRATOR_DATABASE = "osm_orchestrator";
export const POWERDNS_DATABASE = "pdns";

/** Seconds since the epoch, as the orchestrator stores times (UNIX_TIMESTAMP()). */
const T0 = 1700000000;

export const FIXTURE_HOSTS: HostRow[] = [
    { id: 1, name: "upstream1", ip_addr: "192.0.2.21", capacity: 10, active_since: T0, active_before: null },
    { id: 2, name: "upstream2", ip_addr: "192.0.2.22", capacity: 10, active_since: T0 + 100, active_before: null },
    // Retired: its last customer was deleted first.
    { id: 3, name: "upstream0", ip_addr: "192.0.2.20", capacity: 5, active_since: T0 - 1000, active_before: T0 + 50 },
];

/**
 * Ports as the orchestrator gave them (8883 + CRC-8 of the name, past ports the host's rows
 * ever held), except where a move kept one: "harbour" moved from upstream1 to upstream2 with
 * its port and its CNAMEs left on upstream1; "mills" moved to upstream2 with 9010, which
 * "dairy" had there already.
 */
export const FIXTURE_CUSTOMERS: CustomerRow[] = [
    { id: 1, osm_hosts_id: 1, name: "acme", host_mqtt_port: 8910, active_since: T0 + 10, active_before: null },
    { id: 2, osm_hosts_id: 1, name: "Blue Widget Co", host_mqtt_port: 8918, active_since: T0 + 20, active_before: null },
    { id: 3, osm_hosts_id: 1, name: "oldco", host_mqtt_port: 9026, active_since: T0 + 30, active_before: T0 + 300 },
    { id: 4, osm_hosts_id: 2, name: "harbour", host_mqtt_port: 8996, active_since: T0 + 40, active_before: null },
    { id: 5, osm_hosts_id: 2, name: "dairy", host_mqtt_port: 9010, active_since: T0 + 150, active_before: null },
    { id: 6, osm_hosts_id: 2, name: "mills", host_mqtt_port: 9010, active_since: T0 + 160, active_before: null },
    { id: 7, osm_hosts_id: 2, name: "gone", host_mqtt_port: 9053, active_since: T0 + 170, active_before: T0 + 400 },
    { id: 8, osm_hosts_id: 3, name: "retro", host_mqtt_port: 8898, active_since: T0 - 900, active_before: T0 + 40 },
];

/** The fixture's hosts with some addresses replaced (a takeover test points them at its lab hosts). */
export function fixtureHosts(addresses: Record<string, string> = {}): HostRow[] {
    return FIXTURE_HOSTS.map((h) => ({ ...h, ip_addr: addresses[h.name] ?? h.ip_addr }));
}

/** The host each customer's CNAMEs name: its host, except "harbour" (moved; DNS left behind). */
export const FIXTURE_DNS_HOST: Record<string, string> = {
    "acme": "upstream1", "Blue Widget Co": "upstream1", "harbour": "upstream1", "dairy": "upstream2", "mills": "upstream2",
};

/** Public host keys as the orchestrator's known_hosts holds them (made-up keys of the right form). */
export const FIXTURE_HOST_KEYS: Record<string, string> = {
    upstream1: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixtureUpstreamOneHostKeyForTheImportTest1",
    upstream2: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixtureUpstreamTwoHostKeyForTheImportTest2",
};

/** The orchestrator user's known_hosts: one hashed entry (HashKnownHosts yes), one plain, by address. */
export function fixtureKnownHosts(hosts: HostRow[] = FIXTURE_HOSTS): string {
    const [one, two] = hosts;
    const salt = crypto.randomBytes(20);
    const hash = crypto.createHmac("sha1", salt).update(one.ip_addr).digest("base64");
    return [
        `|1|${salt.toString("base64")}|${hash} ${FIXTURE_HOST_KEYS[one.name]}`,
        `${two.ip_addr} ${FIXTURE_HOST_KEYS[two.name]}`,
        "",
    ].join("\n");
}

/** PowerDNS's rows of the zone, as the orchestrator's SQL wrote them (TTL 1800, prio 0, names as typed). */
export function fixtureRecords(hosts: HostRow[] = FIXTURE_HOSTS): RecordRow[] {
    const d = ORCHESTRATOR_DOMAIN;
    const rows: RecordRow[] = hosts.filter((h) => h.active_before === null)
        .map((h) => ({ name: `${h.name}.${d}`, type: "A", content: h.ip_addr, ttl: ORCHESTRATOR_RECORD_TTL, disabled: false }));
    for (const c of FIXTURE_CUSTOMERS.filter((r) => r.active_before === null)) {
        for (const suffix of ["", "-chirpstack", "-influx", "-mqtt"]) {
            rows.push({ name: `${c.name}${suffix}.${d}`, type: "CNAME", content: `${FIXTURE_DNS_HOST[c.name]}.${d}`, ttl: ORCHESTRATOR_RECORD_TTL, disabled: false });
        }
    }
    return rows;
}

/** The orchestrator's tables, from its schema's facts (TEXT names, BIGINT times, NULL while active). */
export const ORCHESTRATOR_SCHEMA = `
CREATE TABLE osm_hosts (
  id INT PRIMARY KEY AUTO_INCREMENT, name TEXT NOT NULL, ip_addr TEXT NOT NULL, capacity INTEGER NOT NULL,
  active_since BIGINT NOT NULL, active_before BIGINT
);
CREATE TABLE osm_customers (
  id INT PRIMARY KEY AUTO_INCREMENT, osm_hosts_id INTEGER NOT NULL, name TEXT NOT NULL, host_mqtt_port INTEGER NOT NULL,
  active_since BIGINT NOT NULL, active_before BIGINT, FOREIGN KEY (osm_hosts_id) REFERENCES osm_hosts (id)
);
CREATE TABLE osm_wireguard (
  id INT PRIMARY KEY AUTO_INCREMENT, osm_hosts_id INT NULL, public_key TEXT NOT NULL, private_key TEXT NOT NULL, ip_addr TEXT NOT NULL,
  FOREIGN KEY (osm_hosts_id) REFERENCES osm_hosts (id)
);
CREATE TABLE osm_secrets (
  id INT PRIMARY KEY AUTO_INCREMENT, osm_customer_id INTEGER NOT NULL, secrets JSON NOT NULL, CHECK (JSON_VALID(secrets)),
  FOREIGN KEY (osm_customer_id) REFERENCES osm_customers (id)
);
CREATE TABLE osm_keys (
  id INT PRIMARY KEY AUTO_INCREMENT, osm_customer_id INTEGER NOT NULL, customer_key TEXT NOT NULL,
  FOREIGN KEY (osm_customer_id) REFERENCES osm_customers (id)
);
`;

const sql = (v: string | number | null) => (v === null ? "NULL" : typeof v === "number" ? String(v) : `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`);
const values = (rows: (string | number | null)[][]) => rows.map((r) => `(${r.map(sql).join(", ")})`).join(",\n  ");

/** A Fernet-looking token (not one: the fixture holds no real secret). */
const token = (seed: string) => `gAAAAA${crypto.createHash("sha256").update(seed).digest("base64url")}`;

/** INSERTs of every fixture row (secrets and keys are made-up tokens; WireGuard private keys are random). */
export function orchestratorRowsSql(hosts: HostRow[] = FIXTURE_HOSTS): string {
    const active = FIXTURE_CUSTOMERS.filter((c) => c.active_before === null);
    return [
        `INSERT INTO osm_hosts (id, name, ip_addr, capacity, active_since, active_before) VALUES\n  ${values(hosts.map((h) => [h.id, h.name, h.ip_addr, h.capacity, h.active_since, h.active_before]))};`,
        `INSERT INTO osm_customers (id, osm_hosts_id, name, host_mqtt_port, active_since, active_before) VALUES\n  ${values(FIXTURE_CUSTOMERS.map((c) => [c.id, c.osm_hosts_id, c.name, c.host_mqtt_port, c.active_since, c.active_before]))};`,
        `INSERT INTO osm_wireguard (id, osm_hosts_id, public_key, private_key, ip_addr) VALUES\n  ${values(hosts.map((h, i) => [i + 2, h.id, crypto.randomBytes(32).toString("base64"), crypto.randomBytes(32).toString("base64"), `10.10.0.${i + 2}`]))};`,
        // Deleting a customer deletes its secrets and key upstream: only active ones have them.
        `INSERT INTO osm_secrets (osm_customer_id, secrets) VALUES\n  ${values(active.map((c) => [c.id, JSON.stringify({ mqtt: { password: token(`${c.name}-mqtt`) }, grafana: { admin: token(`${c.name}-grafana`) } })]))};`,
        `INSERT INTO osm_keys (osm_customer_id, customer_key) VALUES\n  ${values(active.map((c) => [c.id, token(`${c.name}-key`)]))};`,
        "",
    ].join("\n");
}

/** PowerDNS's zone and rows (besides the fixture's A and CNAME rows, its SOA and NS). */
export function powerDnsRowsSql(hosts: HostRow[] = FIXTURE_HOSTS): string {
    const d = ORCHESTRATOR_DOMAIN;
    const id = ORCHESTRATOR_DOMAIN_ID;
    const rows = [
        [id, d, "SOA", `upstream1.${d} hostmaster.${d} 2024010101 10800 10800 108000 1800`, 1800],
        [id, d, "NS", `upstream1.${d}`, 10800],
        ...fixtureRecords(hosts).map((r) => [id, r.name, r.type, r.content, r.ttl]),
    ];
    return `INSERT INTO domains (id, name, type) VALUES (${id}, ${sql(d)}, 'NATIVE');\n` +
        `INSERT INTO records (domain_id, name, type, content, ttl, prio) VALUES\n  ${values(rows.map((r) => [...r, 0]))};\n`;
}

export interface LoadedOrchestrator {
    /** A MySQL user that may only SELECT the tables an import reads (osm_hosts, osm_customers; domains, records). */
    user: string;
    password: string;
    /** Upstream's config.yaml format, 0600: both sections, this user, the password in the orchestrator's only. */
    configFile: string;
    /** The same password in a 0600 file, for --powerdns-password-file. */
    passwordFile: string;
}

/**
 * Loads both databases into `db` and writes a config.yaml for them into `dir`. `addresses`
 * replaces hosts' addresses by name (osm_hosts.ip_addr and their A records alike).
 */
export async function loadOrchestrator(db: ScratchMariaDb, dir: string, addresses: Record<string, string> = {}): Promise<LoadedOrchestrator> {
    const hosts = fixtureHosts(addresses);
    await db.admin(`CREATE DATABASE ${ORCHESTRATOR_DATABASE};\nUSE ${ORCHESTRATOR_DATABASE};\n${ORCHESTRATOR_SCHEMA}\n${orchestratorRowsSql(hosts)}`);
    await db.admin(`CREATE DATABASE ${POWERDNS_DATABASE};\nUSE ${POWERDNS_DATABASE};\n${fs.readFileSync(POWERDNS_MYSQL_SCHEMA, "utf8")}\n${powerDnsRowsSql(hosts)}`);
    const user = "osm_import";
    const password = crypto.randomBytes(18).toString("base64url");
    await db.admin([
        `CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}';`,
        ...["osm_hosts", "osm_customers"].map((t) => `GRANT SELECT ON ${ORCHESTRATOR_DATABASE}.${t} TO '${user}'@'127.0.0.1';`),
        ...["domains", "records"].map((t) => `GRANT SELECT ON ${POWERDNS_DATABASE}.${t} TO '${user}'@'127.0.0.1';`),
        "",
    ].join("\n"));
    const configFile = path.join(dir, "config.yaml");
    fs.writeFileSync(configFile, [
        "orchestrator:",
        `  user: ${user}`,
        `  password: ${password}`,
        "  host: 127.0.0.1",
        `  port: ${db.port}`,
        `  database: ${ORCHESTRATOR_DATABASE}`,
        "pdns:",
        `  user: ${user}`,
        "  host: 127.0.0.1",
        `  port: ${db.port}`,
        `  database: ${POWERDNS_DATABASE}`,
        `pdns_domain: ${ORCHESTRATOR_DOMAIN}`,
        `pdns_domain_id: ${ORCHESTRATOR_DOMAIN_ID}`,
        "plugin_dir: /srv/osm-lxc/orchestrator/plugins",
        "",
    ].join("\n"), { mode: 0o600 });
    const passwordFile = path.join(dir, "pdns-password");
    fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    return { user, password, configFile, passwordFile };
}

/** What a run of the import script gave. */
export interface ImportRun { code: number; stdout: string; stderr: string }

/** Runs `npm run import`'s compiled script as an operator runs it: `args`, and only PATH and `env` in its environment. */
export function runImport(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ImportRun> {
    return new Promise((resolve) => {
        execFile(process.execPath, [path.join(projectRoot(), "build/scripts/import.js"), ...args], {
            env: { PATH: process.env.PATH, ...env }, maxBuffer: 16 << 20,
        }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr }));
    });
}
