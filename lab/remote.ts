/**
 * Lab handlers for @pulumi/command's remote resources, doing over SSH (the `ssh2` package) what
 * the provider does (pulumi-command v1.2.1, provider/pkg/provider/remote; the installed
 * @pulumi/command is 1.2.1):
 *  - `command:remote:Command`: create runs `create` (nothing when unset: commandController.go:48);
 *    a change of `triggers` replaces it (common/inputs.go:10, replaceOnChanges), any other
 *    change updates it in place, running `update`, or `create` when `update` is unset
 *    (commandController.go:76-80), with the NEW connection and environment; delete runs the
 *    STORED `delete` with the STORED connection and environment (commandController.go:86-91).
 *    The connection refuses any host key but `connection.hostKey`; `environment` goes as SSH
 *    env requests and a variable sshd refuses (outside its AcceptEnv) fails the command before
 *    it runs ("could not set environment variable", commandOutputs.go:42-47); the previous
 *    stdout/stderr go as PULUMI_COMMAND_STDOUT/STDERR unless addPreviousOutputInEnv is false,
 *    where a refusal is only a warning (commandOutputs.go:51-71). Outputs: inputs + stdout +
 *    stderr, one trailing newline trimmed (commandOutputs.go:103-106).
 *  - `command:remote:CopyToRemote`: copies a FileArchive folder over SFTP into `remotePath` when
 *    that is an existing directory (`/opt/osm` + `ansible/` -> `/opt/osm/ansible`), files
 *    created without a mode (the provider's `sftp.Create`: an executable bit is NOT carried
 *    over). A change of `triggers` replaces it (copy.go:38); any other change is an update that
 *    copies again only when the source's hash or `remotePath` changed (copyController.go:148),
 *    not for a connection change alone. It has no delete: remote files stay (copyController.go:66-70).
 * Values travel only as env requests or stdin, never in the command line; error messages
 * name the resource and carry the stderr tail, never the private key or the environment.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Client, ClientChannel, ConnectConfig, SFTPWrapper } from "ssh2";
import type { Carried, DiffResult, Handler, Handlers } from "./executor";
import { changedPaths, hashOf, topKey } from "./properties";

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
            if (mismatch) throw new Error(`${label(name, c)}: the host's key does not match the pinned hostKey; refusing to connect`, { cause: e });
            if (e?.level === "client-authentication") throw new Error(`${label(name, c)}: the host refused the private key`, { cause: e });
            lastError = e;
            if (i + 1 < attempts) await new Promise((r) => setTimeout(r, 500));
        }
    }
    throw new Error(`${label(name, c)}: could not connect after ${attempts} attempt(s) of ${timeoutMs} ms each: ${lastError?.message}`);
}

export interface ExecResult {
    code: number | null;
    signal?: string;
    stdout: string;
    stderr: string;
}

/** Runs `command` in one session; `env` goes as SSH env requests (a refusal goes unnoticed here: runCommand asks first). */
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

/** The error for a run that did not exit 0: the resource, the host, the stderr tail. */
function exitError(name: string, what: string, host: string, r: ExecResult): Error {
    const why = r.code === null ? `killed by ${r.signal ?? "a signal"}` : `exit status ${r.code}`;
    return new Error(`${name}: ${what} failed on ${host} (${why}): ${tail(r.stderr) || "(no stderr)"}`);
}

/** Connects, runs one command, disconnects; fails (naming the resource) on a non-zero exit. */
export async function runRemote(name: string, what: string, c: Connection, command: string, env?: Record<string, string>, stdin?: string): Promise<ExecResult> {
    const client = await connect(name, c);
    try {
        const r = await execOn(client, command, env, stdin);
        if (r.code !== 0) throw exitError(name, what, c.host, r);
        return r;
    } finally {
        client.end();
    }
}

/**
 * Sends `env` as SSH env requests that want a reply, as Go's ssh `Session.Setenv` does (and so
 * the provider), on a session that then only runs `true`; returns the names the server
 * refused. ssh2 sends its env requests without asking for a reply (a refusal goes unnoticed),
 * hence this probe through its channel internals (ssh2 1.16.0, pinned in package.json).
 */
export function refusedEnv(client: Client, env: Record<string, string>): Promise<string[]> {
    if (Object.keys(env).length === 0) return Promise.resolve([]);
    const protocol = (client as any)._protocol;
    const channels = (client as any)._chanMgr?._channels;
    if (!protocol || typeof protocol.env !== "function" || !channels) {
        return Promise.reject(new Error("ssh2's internals changed (Client._protocol.env, _chanMgr): cannot ask sshd whether it accepts the environment"));
    }
    const refused: string[] = [];
    const original = protocol.env;
    return new Promise((resolve, reject) => {
        protocol.env = function (chanId: number, key: string, value: string) {
            const chan = Object.values(channels).find((c: any) => c && c.outgoing && c.outgoing.id === chanId) as any;
            if (!chan || !Array.isArray(chan._callbacks)) throw new Error("ssh2's internals changed (Channel._callbacks): cannot ask for env replies");
            chan._callbacks.push((failed: boolean) => { if (failed) refused.push(key); });
            return original.call(this, chanId, key, value, true);
        };
        client.exec("true", { env }, (err: Error | undefined, ch: ClientChannel) => {
            protocol.env = original;
            if (err) return reject(err);
            // The exec reply follows the env replies: `refused` is complete now.
            ch.on("close", () => resolve(refused));
            ch.resume();
            ch.stderr.resume();
            ch.end();
        });
    });
}

/** One run of a command's script, as the provider's `run` does it (commandOutputs.go:30-108). */
export interface CommandRun {
    name: string;
    what: "create" | "update" | "delete";
    connection: Connection;
    command: string;
    environment?: Record<string, string>;
    stdin?: string;
    /** The previous stdout/stderr, sent as PULUMI_COMMAND_STDOUT/STDERR (addPreviousOutputInEnv). */
    previous?: { stdout: string; stderr: string };
}

/** Runs a CommandRun: its stdout and stderr, one trailing newline trimmed. */
export type CommandRunner = (r: CommandRun) => Promise<{ stdout: string; stderr: string }>;

/** The SSH runner: a refused `environment` variable fails before the command runs; refused PULUMI_COMMAND_* are dropped. */
export const runCommand: CommandRunner = async (r) => {
    const client = await connect(r.name, r.connection);
    try {
        const env = r.environment ?? {};
        const refused = await refusedEnv(client, env);
        if (refused.length) {
            throw new Error(`${r.name}: ${r.what} on ${r.connection.host}: could not set environment variable ${refused.map((k) => JSON.stringify(k)).join(", ")}: `
                + "sshd refused it (it is not in sshd's AcceptEnv; the host bootstrap adds AcceptEnv OSM_*)");
        }
        const optional: Record<string, string> = {};
        if (r.previous?.stdout) optional.PULUMI_COMMAND_STDOUT = r.previous.stdout;
        if (r.previous?.stderr) optional.PULUMI_COMMAND_STDERR = r.previous.stderr;
        const res = await execOn(client, r.command, { ...env, ...optional }, r.stdin);
        if (res.code !== 0) throw exitError(r.name, r.what, r.connection.host, res);
        return { stdout: trimOne(res.stdout), stderr: trimOne(res.stderr) };
    } finally {
        client.end();
    }
};

/** What a delete printed: the engine drops it; a test may want it (e.g. the archive path). */
export interface DeleteResult {
    name: string;
    /** The host it ran on (the stored connection's). */
    host: string;
    stdout: string;
}

/** A provider id: the name and 8 random hex digits (resource.NewUniqueHex(name, 8, 0), commandController.go:40). */
function uniqueId(prefix: string): string {
    return `${prefix}${crypto.randomBytes(4).toString("hex")}`;
}

/**
 * pulumi-go-provider's default diff (infer/resource.go:1155-1253, v1.3.0 as pulumi-command 1.2.1
 * uses it): old inputs against new ones, `__`-prefixed keys and `version` left out (:1166-1172);
 * a change under a replaceOnChanges property (`triggers` for both remote resources) replaces,
 * any other change updates (the resources implement CustomUpdate, :1134-1146).
 */
export async function inferDiff(olds: Record<string, any>, news: Record<string, any>, replaceOnChanges: string[]): Promise<DiffResult> {
    const own = (m: Record<string, any>) => Object.fromEntries(Object.entries(m ?? {}).filter(([k]) => k !== "version" && !k.startsWith("__")));
    const changed = await changedPaths(own(olds), own(news));
    return { changes: changed.length > 0, changed, replaces: [...new Set(changed.map(topKey).filter((k) => replaceOnChanges.includes(k)))] };
}

/** Whether the previous output goes into the environment (default true: commandOutputs.go:51). */
function previousOutput(state: Record<string, any>): { stdout: string; stderr: string } | undefined {
    if (state.addPreviousOutputInEnv === false) return undefined;
    return { stdout: state.stdout ?? "", stderr: state.stderr ?? "" };
}

/**
 * `command:remote:Command`. `onDelete` sees each delete's stdout (never logged here); `run`
 * carries a script out (over SSH by default; the unit suite passes a recorder).
 */
export function commandHandler(onDelete?: (r: DeleteResult) => void, run: CommandRunner = runCommand): Handler {
    return {
        diff: (old, next) => inferDiff(old.inputs, next.inputs, ["triggers"]),
        async create(r) {
            const i = r.inputs;
            const id = uniqueId(r.name);
            if (typeof i.create !== "string") return { id, outputs: { ...i, stdout: "", stderr: "" } };
            const out = await run({ name: r.name, what: "create", connection: i.connection, command: i.create, environment: i.environment, stdin: i.stdin });
            return { id, outputs: { ...i, ...out } };
        },
        async update(old, next) {
            // The new inputs with the old stdout/stderr, then `update` or else `create` run.
            const i = next.inputs;
            const before = { stdout: old.outputs.stdout ?? "", stderr: old.outputs.stderr ?? "" };
            const what = typeof i.update === "string" ? "update" : typeof i.create === "string" ? "create" : undefined;
            if (!what) return { id: old.id, outputs: { ...i, ...before } };
            const out = await run({ name: next.name, what, connection: i.connection, command: i[what], environment: i.environment, stdin: i.stdin, previous: previousOutput({ ...i, ...before }) });
            return { id: old.id, outputs: { ...i, ...out } };
        },
        async delete(r: Carried) {
            // The state stored at the last create/update: script, connection, environment, stdout.
            const stored = { ...r.inputs, ...r.outputs };
            if (typeof stored.delete !== "string") return;
            const out = await run({ name: r.name, what: "delete", connection: stored.connection, command: stored.delete, environment: stored.environment, stdin: stored.stdin, previous: previousOutput(stored) });
            onDelete?.({ name: r.name, host: stored.connection?.host, stdout: out.stdout });
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

/** Copies a CopyToRemote's source to its remotePath (copyController.go:157-269). */
export type Copier = (name: string, inputs: Record<string, any>) => Promise<void>;

/** The SFTP copier: the provider's destination rules (copyController.go:221-228). */
export const copyOverSftp: Copier = async (name, i) => {
    const src = await sourcePath(name, i.source);
    const remotePath: string = i.remotePath;
    if (typeof remotePath !== "string" || !remotePath.startsWith("/")) throw new Error(`${name}: remotePath must be an absolute path`);
    const client = await connect(name, i.connection);
    try {
        const s = await sftpOf(client);
        const destKind = await rstat(s, remotePath);
        if (fs.statSync(src).isDirectory()) {
            if (destKind === "file") throw new Error(`${name}: remote path ${remotePath} exists but is not a directory`);
            if (!destKind) await rmkdir(s, remotePath);
            let dest = remotePath;
            if (!src.endsWith("/")) {
                dest = path.posix.join(remotePath, path.basename(src));
                const k = await rstat(s, dest);
                if (k === "file") throw new Error(`${name}: remote path ${dest} exists but is not a directory`);
                if (!k) await rmkdir(s, dest);
            }
            await copyDir(s, src, dest);
        } else {
            await rput(s, src, destKind === "dir" ? path.posix.join(remotePath, path.basename(src)) : remotePath);
        }
        s.end();
    } catch (e: any) {
        throw new Error(`${name}: copying to ${i.connection?.host}:${remotePath} failed: ${e.message}`, { cause: e });
    } finally {
        client.end();
    }
};

/** `command:remote:CopyToRemote`; `copy` does the copying (over SFTP by default). */
export function copyToRemoteHandler(copy: Copier = copyOverSftp): Handler {
    return {
        diff: (old, next) => inferDiff(old.inputs, next.inputs, ["triggers"]),
        async create(r) {
            await copy(r.name, r.inputs);
            return { id: uniqueId(""), outputs: { ...r.inputs } };
        },
        async update(old, next) {
            const sourceChanged = await hashOf(old.inputs.source) !== await hashOf(next.inputs.source);
            if (sourceChanged || old.inputs.remotePath !== next.inputs.remotePath) await copy(next.name, next.inputs);
            return { id: old.id, outputs: { ...next.inputs } };
        },
        async delete() {
            // No delete in the provider: the remote files stay.
        },
    };
}

/** Both handlers, keyed by type token, to merge into the executor's handlers. */
export function remoteHandlers(onDelete?: (r: DeleteResult) => void): Handlers {
    return { [COMMAND_TYPE]: commandHandler(onDelete), [COPY_TYPE]: copyToRemoteHandler() };
}
