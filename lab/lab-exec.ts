/**
 * Small process helpers for the lab: run a program with an argv (never a shell line built
 * from values), fail with the program's own stderr tail, and run things inside a fake host.
 */
import { execFile, execFileSync, spawn } from "child_process";
import * as fs from "fs";

export interface RunOptions {
    /** Text written to the program's stdin. */
    input?: string;
    /** Extra environment (merged over process.env). */
    env?: Record<string, string>;
    timeoutMs?: number;
    /** Tolerate a non-zero exit: resolve with the code instead of failing. */
    allowFail?: boolean;
}

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

function tail(s: string, n = 1500): string {
    const t = s.trim();
    return t.length > n ? "…" + t.slice(t.length - n) : t;
}

/** Runs `cmd args…`; rejects on non-zero exit with the command name and stderr tail. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = execFile(
            cmd,
            args,
            {
                env: opts.env ? { ...process.env, ...opts.env } : process.env,
                timeout: opts.timeoutMs ?? 300_000,
                maxBuffer: 64 * 1024 * 1024,
                encoding: "utf8",
            },
            (err, stdout, stderr) => {
                const code = err ? (typeof (err as any).code === "number" ? (err as any).code : 1) : 0;
                if (err && !opts.allowFail) {
                    const why = (err as any).killed ? `timed out after ${opts.timeoutMs ?? 300_000} ms` : `exited ${code}`;
                    reject(new Error(`${cmd} ${args.slice(0, 3).join(" ")} ${why}: ${tail(stderr || stdout)}`));
                } else resolve({ code, stdout, stderr });
            },
        );
        if (opts.input !== undefined) child.stdin!.end(opts.input);
        else child.stdin?.end();
    });
}

/** Synchronous variant for teardown paths (process 'exit' handlers cannot await). */
export function runSync(cmd: string, args: string[], allowFail = true): RunResult {
    try {
        const stdout = execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
        return { code: 0, stdout, stderr: "" };
    } catch (e: any) {
        if (!allowFail) throw new Error(`${cmd} ${args.join(" ")} failed: ${tail(String(e.stderr ?? e.message))}`, { cause: e });
        return { code: typeof e.status === "number" ? e.status : 1, stdout: String(e.stdout ?? ""), stderr: String(e.stderr ?? "") };
    }
}

/** Argv prefix that runs a program inside a fake host (its mount, UTS and network namespaces). */
export function inHostArgv(anchorPid: number): string[] {
    return ["nsenter", "-t", String(anchorPid), "-m", "-u", "-n", "--"];
}

/** Runs a program inside a fake host. */
export function runInHost(anchorPid: number, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const [n, ...rest] = inHostArgv(anchorPid);
    return run(n, [...rest, cmd, ...args], opts);
}

/** Starts a long-lived process detached from our process group; returns its PID. */
export function spawnDetached(cmd: string, args: string[], logFile: number, env?: Record<string, string>): number {
    const child = spawn(cmd, args, {
        detached: true,
        stdio: ["ignore", logFile, logFile],
        env: env ? { ...process.env, ...env } : process.env,
    });
    child.unref();
    if (!child.pid) throw new Error(`could not start ${cmd}`);
    return child.pid;
}

export function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns true or `timeoutMs` passes; then fails with `what`. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000, stepMs = 50): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
        try {
            if (await check()) return;
        } catch {
            /* not yet */
        }
        if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await sleep(stepMs);
    }
}

/** True when a process with this PID exists and is not a zombie (PID 1 here may reap late). */
export function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
    } catch {
        return false;
    }
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
        return false;
    }
}
