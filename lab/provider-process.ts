/**
 * Test helper: a serialized dynamic provider (`__provider` text) run in a bare `node` process
 * started in the project's directory, deserialized as Pulumi's dynamic provider host does it
 * (`require("require-from-string")(text).handler()`, getProvider() in
 * @pulumi/pulumi/cmd/dynamic-provider/index.js) and with nothing else loaded: no @pulumi/pulumi,
 * no project module, no global another module set up, a minimal environment. What the text does
 * not carry itself is missing there, where an in-process deserialization would find it in the
 * test's own process. Methods are called over stdin/stdout, one JSON line per call.
 * The process is stopped by its PID.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { projectRoot } from "../components/paths";

export interface ProviderProcess {
    pid: number;
    /** The file the serialized text was written to (it is required from a string, as the host does). */
    file: string;
    /** Names of the function-valued members of the deserialized provider (check, diff, ...). */
    methods: string[];
    /** Calls `provider[method](...args)` in the process; rejects with the provider's error message. */
    call(method: string, ...args: unknown[]): Promise<any>;
    /** Every file in the process's require cache, absolute paths. */
    loadedModules(): Promise<string[]>;
    stop(): Promise<void>;
}

/** Loaded files that are not packages from node_modules: the project's own tree (sources, build/). */
export function projectFiles(loaded: string[]): string[] {
    return loaded.filter((f) => !f.split(path.sep).includes("node_modules"));
}

/**
 * The require-from-string the dynamic provider host resolves (a dependency of @pulumi/pulumi),
 * so the process deserializes with exactly the host's copy.
 */
export function hostRequireFromString(): string {
    const host = require.resolve("@pulumi/pulumi/cmd/dynamic-provider/index.js");
    return require.resolve("require-from-string", { paths: [path.dirname(host)] });
}

/**
 * The program the bare process runs (`node -e`): it loads only fs, readline and
 * require-from-string, reports the provider's methods (or why it cannot be deserialized), then
 * answers calls. Results are JSON; an error is reported by its message.
 */
function runnerSource(providerFile: string, requireFromStringPath: string): string {
    return `
"use strict";
const fs = require("fs");
const readline = require("readline");
const requireFromString = require(${JSON.stringify(requireFromStringPath)});
const send = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const message = (e) => (e && e.stack ? String(e.stack) : String(e));
process.on("unhandledRejection", (e) => send({ uncaught: message(e) }));
process.on("uncaughtException", (e) => send({ uncaught: message(e) }));
let provider;
try {
    provider = requireFromString(fs.readFileSync(${JSON.stringify(providerFile)}, "utf8")).handler();
    send({ ready: Object.keys(provider).filter((k) => typeof provider[k] === "function") });
} catch (e) {
    send({ failed: message(e) });
    process.exit(1);
}
readline.createInterface({ input: process.stdin }).on("line", async (line) => {
    const { id, method, args } = JSON.parse(line);
    try {
        if (method === "__loadedModules") return send({ id, result: Object.keys(require.cache) });
        if (typeof provider[method] !== "function") throw new Error("the provider has no method " + method);
        const result = await provider[method](...args);
        send({ id, result: result === undefined ? null : result });
    } catch (e) {
        send({ id, error: e && e.message !== undefined ? String(e.message) : String(e) });
    }
});
`;
}

export interface ProviderProcessOptions {
    /** Working directory of the process; the project's root by default, as Pulumi starts its host. */
    cwd?: string;
    /** Environment variables besides PATH (nothing else of the test's environment is passed on). */
    env?: Record<string, string>;
}

/**
 * Writes `serializedText` to a scratch file and starts the bare process on it. Rejects when the
 * text cannot be deserialized there. Call stop() (the process is killed on exit otherwise).
 */
export async function startProviderProcess(serializedText: string, opts: ProviderProcessOptions = {}): Promise<ProviderProcess> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-provider-"));
    const file = path.join(dir, "provider.js");
    fs.writeFileSync(file, serializedText, { mode: 0o600 });
    const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });
    // No NODE_OPTIONS (it could preload modules), nothing of the test's environment.
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...opts.env };
    const child: ChildProcess = spawn(process.execPath, ["-e", runnerSource(file, hostRequireFromString())],
        { cwd: opts.cwd ?? projectRoot(), env, stdio: ["pipe", "pipe", "pipe"] });
    const onExit = () => { try { process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ } removeDir(); };
    process.on("exit", onExit);

    let stderr = "";
    child.stderr!.on("data", (d) => { stderr += d; });
    const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
    const uncaught: string[] = [];
    let ready: ((methods: string[]) => void) | undefined;
    let failed: ((e: Error) => void) | undefined;
    const started = new Promise<string[]>((resolve, reject) => { ready = resolve; failed = reject; });
    let buffered = "";
    child.stdout!.on("data", (d) => {
        buffered += d;
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            const msg = JSON.parse(line);
            if (msg.ready) ready!(msg.ready);
            else if (msg.failed) failed!(new Error(`the serialized provider cannot be deserialized in a bare node process: ${msg.failed}`));
            else if (msg.uncaught) uncaught.push(msg.uncaught);
            else {
                const p = pending.get(msg.id);
                pending.delete(msg.id);
                if (!p) continue;
                if ("error" in msg) p.reject(new Error(msg.error));
                else p.resolve(msg.result);
            }
        }
    });
    child.once("exit", (code, signal) => {
        const why = new Error(`provider process exited (${code ?? signal})${uncaught.length ? `; uncaught: ${uncaught.join("; ")}` : ""}: ${stderr}`);
        failed!(why);
        for (const p of pending.values()) p.reject(why);
        pending.clear();
    });

    const stop = async () => {
        process.off("exit", onExit);
        if (child.exitCode === null && child.signalCode === null) {
            const exited = new Promise((r) => child.once("exit", r));
            child.kill("SIGTERM");
            await exited;
        }
        removeDir();
    };
    let methods: string[];
    try {
        methods = await started;
    } catch (e) {
        await stop();
        throw e;
    }

    let nextId = 0;
    const request = (method: string, args: unknown[]) => new Promise<any>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        child.stdin!.write(JSON.stringify({ id, method, args }) + "\n");
    });
    return {
        pid: child.pid!,
        file,
        methods,
        async call(method, ...args) {
            const result = await request(method, args);
            // An error thrown outside the call (a timer, a dropped promise) is a failure too.
            if (uncaught.length) throw new Error(`uncaught in the provider process: ${uncaught.join("; ")}`);
            return result;
        },
        loadedModules: () => request("__loadedModules", []),
        stop,
    };
}
