/**
 * Test helper: a throwaway PowerDNS Authoritative server on loopback, with the sqlite backend
 * or with its production backend, MySQL (Debian's mariadb-server run as a plain process on a
 * scratch data dir, never the system one). Everything runs as plain processes recorded by PID
 * and stopped by PID: by `stop()`, and by a process exit handler if a test run dies first.
 *
 * Secrets (the API key, the MySQL password) go into 0600 files, never into argv or logs.
 */
import { ChildProcess, spawn, execFile } from "child_process";
import * as crypto from "crypto";
import * as dgram from "dgram";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { POWERDNS_MYSQL_PRIVILEGES } from "../components/powerdns-database";

export type Backend = "sqlite" | "mysql";

export interface DigAnswer {
    /** NOERROR, NXDOMAIN, ... */
    status: string;
    /** Answer section, one `type data` string per record (e.g. `CNAME h1.z.`, `A 192.0.2.1`). */
    answers: string[];
}

export interface PowerDnsLab {
    backend: Backend;
    /** PIDs of the processes it runs (pdns_server, and mariadbd when it started one). */
    pids: number[];
    /** Its scratch directory (config, database, logs), removed by stop(). */
    dir: string;
    /** API base URL (`http://127.0.0.1:PORT`), as the stack config's `powerdns.apiUrl`. */
    apiUrl: string;
    apiKey: string;
    /** DNS port on 127.0.0.1 (UDP and TCP). */
    dnsPort: number;
    /** Zone created at start (with trailing dot). */
    zone: string;
    /** Calls the API directly (bypassing the provider), e.g. to make a hand edit. */
    api(method: string, pathname: string, body?: unknown): Promise<{ status: number; text: string; json: any }>;
    /** Creates another zone; its NS is `ns1.<zone>` unless `nameserver` is given. */
    createZone(zone: string, nameserver?: string): Promise<void>;
    /**
     * Creates a TSIG key and lets it, and it alone, update `zone` by RFC 2136 from `from`
     * (CIDRs): the ACME challenge zone's set-up (README.md, Certificates).
     */
    allowUpdates(zone: string, keyName: string, from: string[]): Promise<TsigKey>;
    /** Sets one rrset by hand (REPLACE), as an operator would. */
    setRrset(name: string, type: string, ttl: number, records: string[]): Promise<void>;
    /** `dig @127.0.0.1 -p PORT NAME TYPE`: what resolvers see. */
    dig(name: string, type?: string): Promise<DigAnswer>;
    /** Answers for many names in one dig process (one `dig` per 100 names). */
    digMany(names: string[], type?: string): Promise<Map<string, DigAnswer>>;
    stop(): Promise<void>;
}

/** PIDs this process started and has not stopped yet, and scratch dirs: cleaned on exit if a test dies. */
const livePids = new Set<number>();
const liveDirs = new Set<string>();
let exitHandlerInstalled = false;
function installExitHandler(): void {
    if (!exitHandlerInstalled) {
        exitHandlerInstalled = true;
        process.on("exit", () => {
            for (const pid of livePids) {
                try { process.kill(pid, "SIGKILL"); } catch { /* already gone */ }
            }
            for (const dir of liveDirs) fs.rmSync(dir, { recursive: true, force: true });
        });
        for (const sig of ["SIGINT", "SIGTERM"] as const) {
            process.once(sig, () => process.exit(130));
        }
    }
}
function track(child: ChildProcess): void {
    if (child.pid === undefined) throw new Error("failed to start a lab process");
    installExitHandler();
    livePids.add(child.pid);
}
function scratchDir(prefix: string, parent = os.tmpdir()): string {
    installExitHandler();
    const dir = fs.mkdtempSync(path.join(parent, prefix));
    liveDirs.add(dir);
    return dir;
}
function removeDir(dir: string): void {
    fs.rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
}

async function stopChild(child: ChildProcess, name: string): Promise<void> {
    const pid = child.pid!;
    if (child.exitCode !== null || child.signalCode !== null) { livePids.delete(pid); return; }
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try { process.kill(pid, "SIGTERM"); } catch { /* gone */ }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => { timer = setTimeout(() => r(true), 10000); })]);
    clearTimeout(timer);
    if (timedOut) {
        try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
        await exited;
    }
    livePids.delete(pid);
    if (timedOut) throw new Error(`${name} (pid ${pid}) ignored SIGTERM for 10 s and was killed`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A port free on 127.0.0.1 for TCP (and UDP when `udp`), chosen by the kernel now. */
export async function freePort(udp = false): Promise<number> {
    for (let attempt = 0; attempt < 20; attempt++) {
        const port = await new Promise<number>((resolve, reject) => {
            const srv = net.createServer();
            srv.once("error", reject);
            srv.listen(0, "127.0.0.1", () => {
                const p = (srv.address() as net.AddressInfo).port;
                srv.close(() => resolve(p));
            });
        });
        if (!udp) return port;
        const udpFree = await new Promise<boolean>((resolve) => {
            const sock = dgram.createSocket("udp4");
            sock.once("error", () => resolve(false));
            sock.bind(port, "127.0.0.1", () => sock.close(() => resolve(true)));
        });
        if (udpFree) return port;
    }
    throw new Error("no free port found on 127.0.0.1");
}

function run(file: string, args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = execFile(file, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
            if (err) reject(new Error(`${file} ${args.join(" ")} failed: ${stderr.trim() || err.message}`));
            else resolve({ stdout, stderr });
        });
        if (input !== undefined) child.stdin!.end(input);
    });
}

function writeSecretFile(file: string, text: string): void {
    fs.writeFileSync(file, text, { mode: 0o600 });
}

async function waitFor(what: string, child: ChildProcess, logFile: string, probe: () => Promise<boolean>, timeoutMs = 30000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) while starting: ${tail(logFile)}`);
        }
        if (await probe().catch(() => false)) return;
        await sleep(25);
    }
    throw new Error(`${what} did not come up in ${timeoutMs} ms: ${tail(logFile)}`);
}

function tail(file: string): string {
    try { return fs.readFileSync(file, "utf8").trim().split("\n").slice(-8).join(" | "); } catch { return "(no log)"; }
}

/** A scratch MariaDB: mariadbd as a plain process on its own data dir, socket and loopback port. */
export interface ScratchMariaDb {
    pid: number;
    port: number;
    socket: string;
    /** Runs SQL as the server's root (over the socket, SQL on stdin). Returns tab-separated rows. */
    admin(sql: string): Promise<string>;
    /** Runs SQL as `user` over TCP 127.0.0.1 (password in a 0600 defaults file, never argv). */
    as(user: string, password: string, sql: string, database?: string): Promise<string>;
    stop(): Promise<void>;
}

/** PowerDNS's schema, loaded by the admin (PowerDNS's own user may only use the tables). */
export const POWERDNS_MYSQL_SCHEMA = "/usr/share/pdns-backend-mysql/schema/schema.mysql.sql";

export async function startMariaDb(parentDir?: string): Promise<ScratchMariaDb> {
    const dir = scratchDir("osm-mariadb-", parentDir);
    const datadir = path.join(dir, "data");
    const socket = path.join(dir, "mysql.sock");
    const logFile = path.join(dir, "mysql.log");
    try {
        await run("mariadb-install-db", ["--no-defaults", `--datadir=${datadir}`, "--user=root", "--auth-root-authentication-method=socket", "--skip-test-db"]);
    } catch (e) {
        removeDir(dir);
        throw e;
    }
    const port = await freePort();
    const out = fs.openSync(logFile, "a");
    const child = spawn("mariadbd", [
        "--no-defaults", `--datadir=${datadir}`, `--socket=${socket}`, `--port=${port}`, "--bind-address=127.0.0.1",
        "--user=root", "--skip-name-resolve", "--skip-log-bin", `--pid-file=${path.join(dir, "mysql.pid")}`,
        `--log-error=${logFile}`, "--innodb-buffer-pool-size=16M",
    ], { stdio: ["ignore", out, out] });
    track(child);
    fs.closeSync(out);
    const admin = async (sql: string) => (await run("mariadb", ["--no-defaults", "-S", socket, "-u", "root", "-N", "-B"], sql)).stdout;
    let n = 0;
    const as = async (user: string, password: string, sql: string, database?: string) => {
        const defaults = path.join(dir, `client-${++n}.cnf`);
        writeSecretFile(defaults, `[client]\nuser=${user}\npassword=${password}\nhost=127.0.0.1\nport=${port}\nprotocol=TCP\n`);
        try {
            return (await run("mariadb", [`--defaults-file=${defaults}`, "-N", "-B", ...(database ? [database] : [])], sql)).stdout;
        } finally {
            fs.rmSync(defaults, { force: true });
        }
    };
    const stop = async () => {
        try { await stopChild(child, "mariadbd"); } finally { removeDir(dir); }
    };
    try {
        await waitFor("mariadbd", child, logFile, async () => fs.existsSync(socket) && (await admin("SELECT 1")).trim() === "1");
        return { pid: child.pid!, port, socket, admin, as, stop };
    } catch (e) {
        await stop().catch(() => undefined);
        throw e;
    }
}

/** Where PowerDNS's gmysql backend logs in. */
export interface MysqlBackend { port: number; database: string; user: string; password: string }

/**
 * A MariaDB of its own with PowerDNS's database and schema, and PowerDNS's user granted
 * exactly POWERDNS_MYSQL_PRIVILEGES on that database (the list the program grants).
 */
async function startOwnMysql(dir: string): Promise<{ backend: MysqlBackend; db: ScratchMariaDb }> {
    const db = await startMariaDb(dir);
    try {
        const backend = { port: db.port, database: "pdns", user: "pdns", password: crypto.randomBytes(18).toString("base64url") };
        await db.admin(`CREATE DATABASE ${backend.database};\nUSE ${backend.database};\n` + fs.readFileSync(POWERDNS_MYSQL_SCHEMA, "utf8"));
        await db.admin(`CREATE USER '${backend.user}'@'127.0.0.1' IDENTIFIED BY '${backend.password}';\n` +
            `GRANT ${POWERDNS_MYSQL_PRIVILEGES.join(", ")} ON ${backend.database}.* TO '${backend.user}'@'127.0.0.1';\n`);
        return { backend, db };
    } catch (e) {
        await db.stop().catch(() => undefined);
        throw e;
    }
}

export interface StartOptions {
    backend?: Backend;
    /** Zone to create at start; default `osm.example.test.` */
    zone?: string;
    /** mysql backend only: log in here instead of starting a MariaDB of its own. */
    mysql?: MysqlBackend;
    /**
     * Also listen on these addresses (e.g. a lab bridge's, so lab hosts reach it), and take
     * RFC 2136 updates: from no address for any zone (`allow-dnsupdate-from=` empty), so only
     * a zone set up with `allowUpdates` can be changed, by its key.
     */
    updatesOn?: string[];
    /**
     * false: the webserver without its HTTP API (`api=no`), as the old orchestrator's PowerDNS
     * runs. Then no zone is created (the database must hold it: give `mysql`) and `api` answers
     * 404 like every API path of that server.
     */
    api?: boolean;
    /** false: the database holds the zone already (`mysql` loaded with it); default true. */
    createZone?: boolean;
}

/** A TSIG key as PowerDNS made it. */
export interface TsigKey { name: string; algorithm: string; secret: string }

/** Starts PowerDNS (and its MariaDB for the mysql backend) and creates the zone. */
export async function startPowerDns(opts: StartOptions = {}): Promise<PowerDnsLab> {
    const backend = opts.backend ?? "sqlite";
    const zone = canonical(opts.zone ?? "osm.example.test");
    const dir = scratchDir(`osm-pdns-${backend}-`);
    const apiKey = crypto.randomBytes(24).toString("base64url");
    let mysql: ScratchMariaDb | undefined;
    let pdns: ChildProcess | undefined;
    const cleanup = async () => {
        const errors: string[] = [];
        if (pdns) await stopChild(pdns, "pdns_server").catch((e) => errors.push(String(e)));
        if (mysql) await mysql.stop().catch((e) => errors.push(String(e)));
        removeDir(dir);
        if (errors.length) throw new Error(errors.join("; "));
    };
    try {
        const backendConf: string[] = [];
        if (backend === "sqlite") {
            const db = path.join(dir, "pdns.sqlite3");
            await run("sqlite3", [db], fs.readFileSync("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql", "utf8"));
            backendConf.push("launch=gsqlite3", `gsqlite3-database=${db}`);
        } else {
            let db = opts.mysql;
            if (!db) {
                const own = await startOwnMysql(dir);
                mysql = own.db;
                db = own.backend;
            }
            backendConf.push("launch=gmysql", "gmysql-host=127.0.0.1", `gmysql-port=${db.port}`, `gmysql-dbname=${db.database}`,
                `gmysql-user=${db.user}`, `gmysql-password=${db.password}`);
        }
        for (let attempt = 1; ; attempt++) {
            const apiPort = await freePort();
            const dnsPort = await freePort(true);
            const confDir = path.join(dir, "conf");
            fs.mkdirSync(confDir, { recursive: true });
            writeSecretFile(path.join(confDir, "pdns.conf"), [
                ...backendConf,
                `api=${opts.api === false ? "no" : "yes"}`, `api-key=${apiKey}`, "webserver=yes", "webserver-address=127.0.0.1", `webserver-port=${apiPort}`,
                "webserver-allow-from=127.0.0.0/8", `local-address=${["127.0.0.1", ...(opts.updatesOn ?? [])].join(",")}`, `local-port=${dnsPort}`,
                ...(opts.updatesOn ? ["dnsupdate=yes", "allow-dnsupdate-from="] : []),
                "daemon=no", "guardian=no", `socket-dir=${dir}`,
                // Empty: otherwise pdns sends a DNS query to the internet at start.
                "security-poll-suffix=", "loglevel=4", "",
            ].join("\n"));
            const logFile = path.join(dir, "pdns.log");
            const out = fs.openSync(logFile, "a");
            const child = spawn("pdns_server", [`--config-dir=${confDir}`], { stdio: ["ignore", out, out] });
            track(child);
            fs.closeSync(out);
            pdns = child;
            const apiUrl = `http://127.0.0.1:${apiPort}`;
            try {
                // Without the API, the webserver's own page says it is up.
                const probe = opts.api === false ? `${apiUrl}/` : `${apiUrl}/api/v1/servers/localhost`;
                await waitFor("pdns_server", child, logFile, async () => (await fetch(probe, { headers: { "X-API-Key": apiKey } })).ok, 15000);
            } catch (e) {
                await stopChild(child, "pdns_server").catch(() => undefined);
                pdns = undefined;
                // A port taken between choosing and binding: choose again.
                if (attempt < 3 && /Address already in use|Unable to bind/i.test(String(e))) continue;
                throw e;
            }
            const pids = [child.pid!, ...(mysql ? [mysql.pid] : [])];
            const lab = makeLab(backend, apiUrl, apiKey, dnsPort, zone, cleanup, pids, dir);
            if (opts.api !== false && opts.createZone !== false) await lab.createZone(zone);
            return lab;
        }
    } catch (e) {
        await cleanup().catch(() => undefined);
        throw e;
    }
}

function canonical(name: string): string {
    const n = name.trim().toLowerCase();
    return n.endsWith(".") ? n : `${n}.`;
}

function makeLab(backend: Backend, apiUrl: string, apiKey: string, dnsPort: number, zone: string, cleanup: () => Promise<void>, pids: number[], dir: string): PowerDnsLab {
    let stopped = false;
    const api = async (method: string, pathname: string, body?: unknown) => {
        const res = await fetch(`${apiUrl}${pathname}`, {
            method,
            headers: { "X-API-Key": apiKey, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        let json: any;
        try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
        return { status: res.status, text, json };
    };
    const parseDig = (out: string): Map<string, DigAnswer> => {
        // `dig +noall +comments +answer`: a header line with the status per query, then answers.
        const result = new Map<string, DigAnswer>();
        let current: DigAnswer | undefined;
        for (const line of out.split("\n")) {
            const status = /status: ([A-Z]+)/.exec(line);
            if (status) { current = { status: status[1], answers: [] }; continue; }
            const question = /^;([^\s;]+)\s+IN\s+\S+/.exec(line);
            if (question && current) { result.set(question[1].toLowerCase(), current); continue; }
            const rr = /^(\S+)\s+\d+\s+IN\s+(\S+)\s+(.+)$/.exec(line);
            if (rr && current) current.answers.push(`${rr[2]} ${rr[3].trim().toLowerCase()}`);
        }
        return result;
    };
    const digMany = async (names: string[], type = "A") => {
        const all = new Map<string, DigAnswer>();
        for (let i = 0; i < names.length; i += 100) {
            const chunk = names.slice(i, i + 100);
            const args = ["+noall", "+comments", "+question", "+answer", "+tries=1", "+time=2", "-p", String(dnsPort), "@127.0.0.1"];
            for (const n of chunk) args.push(canonical(n), type);
            const { stdout } = await run("dig", args);
            const parsed = parseDig(stdout);
            for (const n of chunk) {
                const a = parsed.get(canonical(n));
                if (!a) throw new Error(`dig gave no answer for ${n}: ${stdout.slice(0, 500)}`);
                all.set(canonical(n), a);
            }
        }
        return all;
    };
    return {
        backend, pids, dir, apiUrl, apiKey, dnsPort, zone, api,
        async createZone(z: string, nameserver?: string) {
            const res = await api("POST", "/api/v1/servers/localhost/zones", {
                name: canonical(z), kind: "Native", nameservers: [nameserver ? canonical(nameserver) : `ns1.${canonical(z)}`], soa_edit_api: "DEFAULT",
            });
            if (res.status !== 201) throw new Error(`creating zone ${z} failed: ${res.status} ${res.text}`);
        },
        async allowUpdates(z: string, keyName: string, from: string[]) {
            const key = await api("POST", "/api/v1/servers/localhost/tsigkeys", { name: keyName, algorithm: "hmac-sha256" });
            if (key.status !== 201) throw new Error(`creating TSIG key ${keyName} failed: ${key.status} ${key.text}`);
            for (const [kind, metadata] of [["TSIG-ALLOW-DNSUPDATE", [keyName]], ["ALLOW-DNSUPDATE-FROM", from]] as const) {
                const res = await api("PUT", `/api/v1/servers/localhost/zones/${canonical(z)}/metadata/${kind}`, { metadata });
                if (res.status !== 200) throw new Error(`setting ${kind} on ${z} failed: ${res.status} ${res.text}`);
            }
            return { name: keyName, algorithm: "hmac-sha256", secret: String(key.json.key) };
        },
        async setRrset(name: string, type: string, ttl: number, records: string[]) {
            const res = await api("PATCH", `/api/v1/servers/localhost/zones/${zone}`, {
                rrsets: [{ name: canonical(name), type, ttl, changetype: "REPLACE", records: records.map((content) => ({ content, disabled: false })) }],
            });
            if (res.status !== 204) throw new Error(`hand edit of ${name} failed: ${res.status} ${res.text}`);
        },
        async dig(name: string, type = "A") {
            return (await digMany([name], type)).get(canonical(name))!;
        },
        digMany,
        async stop() {
            if (stopped) return;
            stopped = true;
            await cleanup();
        },
    };
}
