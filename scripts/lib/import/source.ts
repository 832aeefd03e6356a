/**
 * The old orchestrator's side of `npm run import`: its config.yaml (the MySQL connections of
 * its own database and of PowerDNS's, the domain), and the rows read from both, read-only.
 *
 * config.yaml (beside orchestrator_cli.py upstream) holds `orchestrator:` and `pdns:`, each
 * the keyword arguments of a MySQL connection (user, password, host, database; port and
 * unix_socket when set), and `pdns_domain`, `pdns_domain_id`. A password comes from a 0600
 * file (--password-file), else the environment, else the config file: never from argv.
 *
 * The client is `mariadb` (MariaDB's own connector, pure JavaScript, promise API with its own
 * types, and MySQL 8's caching_sha2_password as well as MariaDB's auth plugins); `mysql` 2.18.1
 * was last released in 2020 and cannot log in to a MySQL 8 default account.
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as mariadb from "mariadb";
import { CustomerRow, HostRow, RecordRow } from "./model";

/** Where one MySQL database is, and who logs in (the password apart, never printed). */
export interface Connection {
    host: string;
    port: number;
    socketPath?: string;
    user: string;
    database: string;
    password?: string;
    /** Where the password came from, for messages (never the password). */
    passwordFrom: string;
}

export interface UpstreamConfig {
    orchestrator?: Connection;
    pdns?: Connection;
    domain?: string;
    domainId?: number;
    /** The file holds a password and group or others may read it. */
    exposedPassword: boolean;
}

/** A problem with the command's input: it cannot run (exit 2), nothing was read or written. */
export class UsageError extends Error {}

const KNOWN_KEYS = ["host", "port", "user", "password", "passwd", "database", "db", "unix_socket", "charset"];

function connectionOf(section: unknown, file: string, key: string): Connection {
    if (typeof section !== "object" || section === null || Array.isArray(section)) {
        throw new UsageError(`${file}: ${key} must be a mapping of user, password, host, database (upstream's config.yaml format)`);
    }
    const s = section as Record<string, unknown>;
    const unknown = Object.keys(s).filter((k) => !KNOWN_KEYS.includes(k));
    if (unknown.length) {
        throw new UsageError(`${file}: ${key} has ${unknown.join(", ")}, which npm run import does not support (it takes ${KNOWN_KEYS.join(", ")}); remove ${unknown.length > 1 ? "them" : "it"} from a copy of the file`);
    }
    const str = (k: string) => (typeof s[k] === "string" || typeof s[k] === "number" ? String(s[k]) : undefined);
    const user = str("user");
    const database = str("database") ?? str("db");
    if (!user) throw new UsageError(`${file}: ${key}.user is missing; add the MySQL user the orchestrator logs in as`);
    if (!database) throw new UsageError(`${file}: ${key}.database is missing; add the database name (osm_orchestrator, pdns)`);
    const port = s.port === undefined ? 3306 : Number(s.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`${file}: ${key}.port must be a TCP port number`);
    const password = str("password") ?? str("passwd");
    return {
        host: str("host") ?? "localhost", port, ...(str("unix_socket") ? { socketPath: str("unix_socket") } : {}),
        user, database, ...(password !== undefined ? { password } : {}), passwordFrom: password !== undefined ? file : "none",
    };
}

/** Reads upstream's config.yaml (or a file of its format). */
export function readUpstreamConfig(file: string): UpstreamConfig {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new UsageError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code}); give the orchestrator's config.yaml`);
    }
    let doc: Record<string, unknown>;
    try {
        doc = yaml.load(text) as Record<string, unknown>;
    } catch (err) {
        throw new UsageError(`${file}: is not valid YAML (${(err as Error).message.split("\n")[0]})`);
    }
    if (typeof doc !== "object" || doc === null) throw new UsageError(`${file}: is not a mapping; give the orchestrator's config.yaml`);
    const orchestrator = doc.orchestrator === undefined ? undefined : connectionOf(doc.orchestrator, file, "orchestrator");
    const pdns = doc.pdns === undefined ? undefined : connectionOf(doc.pdns, file, "pdns");
    const domain = typeof doc.pdns_domain === "string" ? doc.pdns_domain.trim().toLowerCase().replace(/\.$/, "") : undefined;
    const domainId = doc.pdns_domain_id === undefined ? undefined : Number(doc.pdns_domain_id);
    if (domainId !== undefined && !Number.isInteger(domainId)) throw new UsageError(`${file}: pdns_domain_id must be a number (PowerDNS's domains.id of the zone)`);
    const hasPassword = [orchestrator, pdns].some((c) => c?.password !== undefined);
    const exposedPassword = hasPassword && (fs.statSync(file).mode & 0o077) !== 0;
    return { orchestrator, pdns, domain, domainId, exposedPassword };
}

/** A password from a file only its owner may read; refused otherwise. */
export function readPasswordFile(file: string, option: string): string {
    let st: fs.Stats;
    try {
        st = fs.statSync(file);
    } catch (err) {
        throw new UsageError(`${option} ${file}: cannot be read (${(err as NodeJS.ErrnoException).code})`);
    }
    if ((st.mode & 0o077) !== 0) {
        throw new UsageError(`${option} ${file}: group or others may read it (mode ${(st.mode & 0o777).toString(8)}); chmod 600 ${file}, then run again`);
    }
    return fs.readFileSync(file, "utf8").replace(/\r?\n$/, "");
}

/** The connection with its password from the file option, else the environment variable, else as it was. */
export function withPassword(c: Connection, file: string | undefined, fileOption: string, envName: string, env: NodeJS.ProcessEnv): Connection {
    if (file !== undefined) return { ...c, password: readPasswordFile(file, fileOption), passwordFrom: `${fileOption} ${file}` };
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== "") return { ...c, password: fromEnv, passwordFrom: `$${envName}` };
    return c;
}

export function describe(c: Connection): string {
    return `${c.database} as ${c.user} on ${c.socketPath ?? `${c.host}:${c.port}`}`;
}

/** Runs `read` in a read-only transaction (one consistent snapshot) and always ends it. */
async function readOnly<T>(c: Connection, what: string, read: (conn: mariadb.Connection) => Promise<T>): Promise<T> {
    let conn: mariadb.Connection;
    try {
        conn = await mariadb.createConnection({
            host: c.host, port: c.port, ...(c.socketPath ? { socketPath: c.socketPath } : {}), user: c.user, password: c.password,
            database: c.database, connectTimeout: 10000, bigIntAsNumber: true,
        });
    } catch (err) {
        // The driver's message names user and host, never the password.
        throw new UsageError(`cannot connect to ${what} (${describe(c)}, password from ${c.passwordFrom}): ${(err as Error).message}`);
    }
    try {
        await conn.query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
        return await read(conn);
    } catch (err) {
        throw new UsageError(`reading ${what} (${describe(c)}) failed: ${(err as Error).message}`);
    } finally {
        await conn.query("ROLLBACK").catch(() => undefined);
        await conn.end().catch(() => undefined);
    }
}

/** The orchestrator's hosts and customers (all rows: deleted ones hold reserved ports). Nothing else is read. */
export async function readOrchestrator(c: Connection): Promise<{ hosts: HostRow[]; customers: CustomerRow[] }> {
    return readOnly(c, "the orchestrator's database", async (conn) => {
        const hosts = await conn.query("SELECT id, name, ip_addr, capacity, active_since, active_before FROM osm_hosts ORDER BY id") as HostRow[];
        const customers = await conn.query("SELECT id, osm_hosts_id, name, host_mqtt_port, active_since, active_before FROM osm_customers ORDER BY id") as CustomerRow[];
        const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
        return {
            hosts: hosts.map((h) => ({ id: Number(h.id), name: String(h.name), ip_addr: String(h.ip_addr), capacity: Number(h.capacity), active_since: Number(h.active_since), active_before: num(h.active_before) })),
            customers: customers.map((r) => ({
                id: Number(r.id), osm_hosts_id: Number(r.osm_hosts_id), name: String(r.name), host_mqtt_port: Number(r.host_mqtt_port),
                active_since: Number(r.active_since), active_before: num(r.active_before),
            })),
        };
    });
}

/** PowerDNS's A and CNAME rows of the zone `domainId`, and the zone's name. */
export async function readPowerDns(c: Connection, domainId: number): Promise<{ zone: string | undefined; records: RecordRow[] }> {
    return readOnly(c, "PowerDNS's database", async (conn) => {
        const zones = await conn.query("SELECT name FROM domains WHERE id = ?", [domainId]) as { name: string }[];
        const rows = await conn.query("SELECT name, type, content, ttl, disabled FROM records WHERE domain_id = ? AND type IN ('A', 'CNAME') ORDER BY id", [domainId]) as Record<string, unknown>[];
        return {
            zone: zones[0]?.name,
            records: rows.map((r) => ({ name: String(r.name), type: String(r.type), content: String(r.content), ttl: Number(r.ttl), disabled: Number(r.disabled) === 1 || r.disabled === true })),
        };
    });
}
