/**
 * Lab handlers for @pulumi/command's remote resources, doing over SSH (the `ssh2` package)
 * what the provider does (pulumi-command provider/pkg/provider/remote):
 *  - `command:remote:Command`: dial `connection`, refuse any host key but `connection.hostKey`,
 *    send `environment` as SSH env requests (sshd's AcceptEnv decides, a refusal is silent,
 *    exactly like the provider's ignored Setenv errors), run `create`; at delete time run the
 *    STORED `delete` with the STORED connection and environment. Outputs: inputs + stdout +
 *    stderr (one trailing newline trimmed, as the provider does).
 *  - `command:remote:CopyToRemote`: copy a FileArchive folder over SFTP with the provider's
 *    semantics: into `remotePath` when it is an existing directory (`/opt/osm` + `ansible/` ->
 *    `/opt/osm/ansible`), files created without a mode (sftp default, like the provider's
 *    `sftp.Create`: an executable bit is NOT carried over). Never deletes remote files.
 * Values travel only as env requests or stdin, never in the command line; error messages
 * name the resource and carry the stderr tail, never the private key or the environment.
 */
import * as fs from "fs";
import * as path from "path";
import { Client, ClientChannel, ConnectConfig, SFTPWrapper } from "ssh2";
import type { Carried, Handler, Handlers } from "./executor";

export const COMMAND_TYPE = "command:remote:Command";
export const COPY_TYPE = "command:remote:CopyToRemote";

export interface Connection {
    host: string;
    port?: number;
    user?: string;
    privateKey?: string;
    hostKey?: string;
    dialErrorLimit?: number;
    perDialTimeout?: number;
}

/** Parses "ssh-ed25519 AAAA… [comment]" into its type and key blob. */
export function parseHostKey(line: string): { type: string; blob: Buffer } {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 2 || !/^(ssh-|ecdsa-)/.test(parts[0])) throw new Error(`hostKey is not an OpenSSH public key line ("ssh-ed25519 AAAA…")`);
    const blob = Buffer.from(parts[1], "base64");
    // The blob starts with its own type name; a mismatch means a garbled key.
    const n = blob.readUInt32BE(0);
    if (blob.subarray(4, 4 + n).toString() !== parts[0]) throw new Error("hostKey's key data does not match its type");
    return { type: parts[0], blob };
}

function label(name: string, c: Connection): string {
    return `${name}: ${c.user ?? "root"}@${c.host}:${c.port ?? 22}`;
}

/** Connects with the host key pinned; retries dial errors (not key mismatches) like the provider. */
export async function connect(name: string, c: Connection): Promise<Client> {
    if (!c || typeof c.host !== "string") throw new Error(`${name}: connection has no host`);
    if (!c.hostKey) throw new Error(`${name}: connection has no hostKey; refusing to connect without a pinned host key`);
    if (!c.privateKey) throw new Error(`${name}: connection has no privateKey`);
    const pinned = parseHostKey(c.hostKey);
    const attempts = Math.max(1, Math.min(c.dialErrorLimit ?? 10, 10));
    const timeoutMs = (c.perDialTimeout ?? 15) * 1000;
    let lastError: Error | undefined;
    for (let i = 0; i < attempts; i++) {
        let mismatch = false;
        try {
            return await new Promise<Client>((resolve, reject) => {
                const client = new Client();
                const cfg: ConnectConfig = {
                    host: c.host,
                    port: c.port ?? 22,
                    username: c.user ?? "root",
                    privateKey: c.privateKey,
                    readyTimeout: timeoutMs,
                    algorithms: { serverHostKey: [pinned.type as any] },
                    hostVerifier: (key: Buffer) => {
                        const ok = Buffer.compare(key, pinned.blob) === 0;
                        if (!ok) mismatch = true;
                        return ok;
                    },
                };
                client.once("ready", () => resolve(client));
                client.once("error", (e) => {
                    client.end();
                    reject(e);
                });
                client.connect(cfg);
            });
        } catch (e: any) {
            if (mismatch) throw new Error(`${label(name, c)}: the host's key does not match the pinned hostKey; refusing to connect`);
            if (e?.level === "client-authentication") throw new Error(`${label(name, c)}: the host refused the private key`);
            lastError = e;
            if (i + 1 < attempts) await new Promise((r) => setTimeout(r, 500));
        }
    }
    throw new Error(`${label(name, c)}: could not connect after ${attempts} attempt(s): ${lastError?.message}`);
}

export interface ExecResult {
    code: number | null;
    signal?: string;
    stdout: string;
    stderr: string;
}

/** Runs `command` in one session; `env` goes as SSH env requests. */
export function execOn(client: Client, command: string, env: Record<string, string> | undefined, stdin?: string): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
        client.exec(command, { env: env ?? {} }, (err: Error | undefined, ch: ClientChannel) => {
            if (err) return reject(err);
            const out: Buffer[] = [];
            const errb: Buffer[] = [];
            let code: number | null = null;
            let signal: string | undefined;
            ch.on("data", (d: Buffer) => out.push(d));
            ch.stderr.on("data", (d: Buffer) => errb.push(d));
            ch.on("exit", (c: number | null, s?: string) => {
                code = c;
                signal = s;
            });
            ch.on("close", () => resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(errb).toString("utf8") }));
            if (stdin) ch.end(stdin);
            else ch.end();
        });
    });
}

function trimOne(s: string): string {
    return s.endsWith("\n") ? s.slice(0, -1) : s;
}

function tail(s: string, n = 2000): string {
    const t = s.trim();
    return t.length > n ? "…" + t.slice(t.length - n) : t;
}

/** Connects, runs one command, disconnects; fails (naming the resource) on a non-zero exit. */
export async function runRemote(name: string, what: string, c: Connection, command: string, env?: Record<string, string>, stdin?: string): Promise<ExecResult> {
    const client = await connect(name, c);
    try {
        const r = await execOn(client, command, env, stdin);
        if (r.code !== 0) {
            const why = r.code === null ? `killed by ${r.signal ?? "a signal"}` : `exit status ${r.code}`;
            throw new Error(`${name}: ${what} failed on ${c.host} (${why}): ${tail(r.stderr) || "(no stderr)"}`);
        }
        return r;
    } finally {
        client.end();
    }
}

/** What a delete printed: the engine drops it; a test may want it (e.g. the archive path). */
export interface DeleteResult {
    name: string;
    stdout: string;
}

/** `command:remote:Command`. `onDelete` sees each delete's stdout (never logged here). */
export function commandHandler(onDelete?: (r: DeleteResult) => void): Handler {
    let counter = 0;
    return {
        async create(r) {
            const i = r.inputs;
            if (typeof i.create !== "string" || i.create === "") {
                return { id: `${r.name}-${++counter}`, outputs: { ...i, stdout: "", stderr: "" } };
            }
            const res = await runRemote(r.name, "create", i.connection, i.create, i.environment, i.stdin);
            return { id: `${r.name}-${Date.now().toString(36)}${(++counter).toString(36)}`, outputs: { ...i, stdout: trimOne(res.stdout), stderr: trimOne(res.stderr) } };
        },
        async delete(r: Carried) {
            // The engine runs delete with what was stored at create: script, connection, env.
            const stored = { ...r.inputs, ...r.outputs };
            if (typeof stored.delete !== "string" || stored.delete === "") return;
            const res = await runRemote(r.name, "delete", stored.connection, stored.delete, stored.environment, stored.stdin);
            onDelete?.({ name: r.name, stdout: trimOne(res.stdout) });
        },
    };
}

/** The local folder (or file) of a FileArchive/FileAsset source as inputs carry it. */
export async function sourcePath(name: string, source: any): Promise<string> {
    if (!source || typeof source !== "object") throw new Error(`${name}: source is missing`);
    let p: any = source.path;
    if (p && typeof p.then === "function") p = await p;
    if (typeof p !== "string" || p === "") {
        throw new Error(`${name}: source has no local path (got ${JSON.stringify(source)}); only FileArchive/FileAsset sources of a local path can be copied. If the executor unwrapped the inputs, it must keep the archive's path promise intact`);
    }
    if (!fs.existsSync(p)) throw new Error(`${name}: source ${p} does not exist`);
    return p;
}

function sftpOf(client: Client): Promise<SFTPWrapper> {
    return new Promise((resolve, reject) => client.sftp((e, s) => (e ? reject(e) : resolve(s))));
}

function rstat(s: SFTPWrapper, p: string): Promise<"dir" | "file" | undefined> {
    return new Promise((resolve, reject) =>
        s.stat(p, (e: any, st) => {
            if (e) return e.code === 2 ? resolve(undefined) : reject(new Error(`stat ${p}: ${e.message}`));
            resolve(st.isDirectory() ? "dir" : "file");
        }),
    );
}

function rmkdir(s: SFTPWrapper, p: string): Promise<void> {
    return new Promise((resolve, reject) => s.mkdir(p, (e) => (e ? reject(new Error(`mkdir ${p}: ${e.message}`)) : resolve())));
}

/** Creates/truncates `dst` without attributes (the server's default mode) and writes `src`. */
function rput(s: SFTPWrapper, src: string, dst: string): Promise<void> {
    const data = fs.readFileSync(src);
    return new Promise((resolve, reject) => {
        s.open(dst, "w", (e, handle) => {
            if (e) return reject(new Error(`create ${dst}: ${e.message}`));
            const write = (off: number) => {
                if (off >= data.length) {
                    return s.close(handle, (ce) => (ce ? reject(new Error(`close ${dst}: ${ce.message}`)) : resolve()));
                }
                const n = Math.min(32 * 1024, data.length - off);
                s.write(handle, data, off, n, off, (we) => (we ? reject(new Error(`write ${dst}: ${we.message}`)) : write(off + n)));
            };
            write(0);
        });
    });
}

async function copyDir(s: SFTPWrapper, src: string, dst: string): Promise<number> {
    let files = 0;
    for (const e of fs.readdirSync(src, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const from = path.join(src, e.name);
        const to = path.posix.join(dst, e.name);
        if (e.isDirectory()) {
            const kind = await rstat(s, to);
            if (kind === "file") throw new Error(`remote path ${to} exists but is not a directory`);
            if (!kind) await rmkdir(s, to);
            files += await copyDir(s, from, to);
        } else if (e.isFile()) {
            await rput(s, from, to);
            files++;
        }
    }
    return files;
}

/** `command:remote:CopyToRemote`. */
export function copyToRemoteHandler(): Handler {
    let counter = 0;
    return {
        async create(r) {
            const i = r.inputs;
            const src = await sourcePath(r.name, i.source);
            const remotePath: string = i.remotePath;
            if (typeof remotePath !== "string" || !remotePath.startsWith("/")) throw new Error(`${r.name}: remotePath must be an absolute path`);
            const client = await connect(r.name, i.connection);
            try {
                const s = await sftpOf(client);
                const destKind = await rstat(s, remotePath);
                if (fs.statSync(src).isDirectory()) {
                    if (destKind === "file") throw new Error(`${r.name}: remote path ${remotePath} exists but is not a directory`);
                    if (!destKind) await rmkdir(s, remotePath);
                    let dest = remotePath;
                    if (!src.endsWith("/")) {
                        dest = path.posix.join(remotePath, path.basename(src));
                        const k = await rstat(s, dest);
                        if (k === "file") throw new Error(`${r.name}: remote path ${dest} exists but is not a directory`);
                        if (!k) await rmkdir(s, dest);
                    }
                    await copyDir(s, src, dest);
                } else {
                    await rput(s, src, destKind === "dir" ? path.posix.join(remotePath, path.basename(src)) : remotePath);
                }
                s.end();
            } catch (e: any) {
                throw new Error(`${r.name}: copying to ${i.connection?.host}:${remotePath} failed: ${e.message}`);
            } finally {
                client.end();
            }
            return { id: `${r.name}-${Date.now().toString(36)}${(++counter).toString(36)}`, outputs: { ...i } };
        },
        async delete() {
            // Like the provider: removing a CopyToRemote leaves the remote files in place.
        },
    };
}

/** Both handlers, keyed by type token, to merge into the executor's handlers. */
export function remoteHandlers(onDelete?: (r: DeleteResult) => void): Handlers {
    return { [COMMAND_TYPE]: commandHandler(onDelete), [COPY_TYPE]: copyToRemoteHandler() };
}
