/**
 * Load beside a lab test: busy CPU hogs (`sh -c 'while :; do :; done'`), as other jobs on a
 * shared CI machine would be. Started and stopped by their PIDs only (never by name), and
 * killed by an exit handler if the test process dies first.
 */
import { spawn } from "child_process";

export interface CpuHogs {
    pids: number[];
    /** Kills them (SIGKILL, by PID) and waits until they are gone. Idempotent. */
    stop(): Promise<void>;
}

const live = new Set<number>();
let exitHandler = false;

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

/** Starts `n` busy processes; the caller stops them (a test's after hook, also on failure). */
export function startCpuHogs(n: number): CpuHogs {
    if (!exitHandler) {
        exitHandler = true;
        process.on("exit", () => {
            for (const pid of live) {
                try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
            }
        });
    }
    const children = Array.from({ length: n }, () => spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" }));
    const pids = children.map((c) => {
        if (c.pid === undefined) throw new Error("could not start a CPU hog (sh)");
        live.add(c.pid);
        return c.pid;
    });
    let stopped = false;
    return {
        pids,
        async stop() {
            if (stopped) return;
            stopped = true;
            await Promise.all(children.map((c) => new Promise<void>((resolve) => {
                const pid = c.pid!;
                live.delete(pid);
                if (c.exitCode !== null || c.signalCode !== null || !alive(pid)) return resolve();
                c.once("exit", () => resolve());
                try { process.kill(pid, "SIGKILL"); } catch { resolve(); }
            })));
        },
    };
}

/** The two mocha hooks a suite registers with (passed in: the lab does not depend on mocha). */
export interface EachHooks {
    beforeEach(fn: (this: { currentTest?: { title: string } }) => void): void;
    afterEach(fn: () => Promise<void>): void;
}

/**
 * Registers, for the calling suite, that each test whose title matches `titles` runs beside
 * `n` busy CPU hogs, started before it and stopped by PID after it, also when it fails.
 */
export function withCpuHogsFor(titles: RegExp, hooks: EachHooks, n = 2): void {
    let hogs: CpuHogs | undefined;
    hooks.beforeEach(function () {
        if (titles.test(this.currentTest?.title ?? "")) hogs = startCpuHogs(n);
    });
    hooks.afterEach(async () => {
        await hogs?.stop();
        hogs = undefined;
    });
}
