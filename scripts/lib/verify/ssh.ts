/**
 * SSH to a host with its pinned key only (the stack's `hostKey`): a host presenting any other
 * key is refused before authentication, so nothing is sent to it. Runs one command and
 * returns its output. One attempt, with a deadline: verify reports a dead host, it does not
 * wait for it.
 */
import { Client, ConnectConfig } from "ssh2";

/** How verify logs in: a private key (the stack's), or an ssh-agent socket. */
export interface SshAuth {
    privateKey?: string;
    agent?: string;
}

export interface SshTarget {
    address: string;
    port: number;
    user: string;
    /** `ssh-ed25519 AAAA…`. */
    hostKey: string;
}

/** Why an SSH attempt failed, sorted for advice. */
export class SshError extends Error {
    constructor(public readonly kind: "hostkey" | "auth" | "unreachable" | "command", message: string) {
        super(message);
        this.name = "SshError";
    }
}

/** Type and key blob of an OpenSSH public key line. */
export function parseHostKey(line: string): { type: string; blob: Buffer } {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 2 || !/^(ssh-|ecdsa-)/.test(parts[0])) throw new Error(`hostKey is not an OpenSSH public key line ("ssh-ed25519 AAAA…")`);
    const blob = Buffer.from(parts[1], "base64");
    const n = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
    if (blob.subarray(4, 4 + n).toString() !== parts[0]) throw new Error("hostKey's key data does not match its type");
    return { type: parts[0], blob };
}

/** Runs `command` on the host; stdout and stderr back, or an SshError. */
export function sshRun(t: SshTarget, auth: SshAuth, command: string, timeoutMs: number, commandMs = Math.max(30_000, 3 * timeoutMs)): Promise<{ code: number | null; stdout: string; stderr: string; connectMs: number; commandMs: number }> {
    const pinned = parseHostKey(t.hostKey);
    return new Promise((resolve, reject) => {
        const client = new Client();
        const t0 = Date.now();
        let mismatch = false;
        let settled = false;
        const fail = (e: SshError) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            close();
            reject(e);
        };
        // Closed for good: a half-open attempt would count against sshd's MaxStartups.
        const close = () => {
            client.end();
            (client as any).destroy?.();
        };
        // A dead host is known after the connect deadline; a slow osm-status gets longer.
        let timer = setTimeout(() => fail(new SshError("unreachable", `no SSH answer from ${t.address}:${t.port} within ${timeoutMs} ms`)), timeoutMs);
        const cfg: ConnectConfig = {
            host: t.address, port: t.port, username: t.user, readyTimeout: timeoutMs,
            privateKey: auth.privateKey, agent: auth.agent,
            algorithms: { serverHostKey: [pinned.type as any] },
            hostVerifier: (key: Buffer) => {
                const ok = Buffer.compare(key, pinned.blob) === 0;
                if (!ok) mismatch = true;
                return ok;
            },
        };
        client.once("error", (e: any) => {
            if (mismatch) return fail(new SshError("hostkey", `host key of ${t.address}:${t.port} differs from the pinned hostKey: refused`));
            if (e?.level === "client-authentication") return fail(new SshError("auth", `${t.user}@${t.address} refused the SSH key`));
            // A server offering no key of the pinned type cannot be the pinned host either.
            if (/no matching host key/i.test(String(e?.message))) return fail(new SshError("hostkey", `${t.address}:${t.port} offers no ${pinned.type} host key: refused`));
            fail(new SshError("unreachable", `SSH to ${t.address}:${t.port}: ${e?.code === "ECONNREFUSED" ? "connection refused" : e?.message ?? e}`));
        });
        let connectMs = 0;
        client.once("ready", () => {
            clearTimeout(timer);
            connectMs = Date.now() - t0;
            timer = setTimeout(() => fail(new SshError("command", `connected to ${t.address} in ${Date.now() - t0} ms, but the command did not finish within ${commandMs} ms`)), commandMs);
            client.exec(command, (err, ch) => {
                if (err) return fail(new SshError("command", `could not run a command on ${t.address}: ${err.message}`));
                const out: Buffer[] = [];
                const errb: Buffer[] = [];
                let code: number | null = null;
                ch.on("data", (d: Buffer) => out.push(d));
                ch.stderr.on("data", (d: Buffer) => errb.push(d));
                ch.on("exit", (c: number | null) => (code = c));
                ch.on("close", () => {
                    if (settled) return;
                    settled = true;
                    clearTimeout(timer);
                    close();
                    resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(errb).toString("utf8"), connectMs, commandMs: Date.now() - t0 - connectMs });
                });
                ch.end();
            });
        });
        if (!auth.privateKey && !auth.agent) return fail(new SshError("auth", "no SSH key: pass --ssh-key FILE or run an ssh-agent (SSH_AUTH_SOCK)"));
        client.connect(cfg);
    });
}
