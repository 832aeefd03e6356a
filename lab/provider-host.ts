/**
 * Test helper: Pulumi's own Node dynamic provider host (@pulumi/pulumi/cmd/dynamic-provider),
 * started as the engine starts it (a separate process printing its gRPC port) and called over
 * gRPC the way the engine calls it: Configure, then Check/Diff/Create/Read/Update/Delete with
 * the serialized provider in `__provider`. Stopped by PID.
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
// The SDK's own gRPC stack and generated stubs (dependencies of @pulumi/pulumi).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (SDK internals, a test double or a computed path)
const grpc = require("@grpc/grpc-js");
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (SDK internals, a test double or a computed path)
const structproto = require("google-protobuf/google/protobuf/struct_pb");
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (SDK internals, a test double or a computed path)
const provrpc = require("@pulumi/pulumi/proto/provider_grpc_pb");
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (SDK internals, a test double or a computed path)
const provproto = require("@pulumi/pulumi/proto/provider_pb");

type Props = Record<string, any>;

export interface ProviderHost {
    pid: number;
    check(urn: string, olds: Props, news: Props): Promise<{ inputs: Props; failures: { property: string; reason: string }[] }>;
    diff(urn: string, id: string, olds: Props, news: Props): Promise<{ changes: number; replaces: string[]; deleteBeforeReplace: boolean }>;
    create(urn: string, props: Props): Promise<{ id: string; props: Props }>;
    read(urn: string, id: string, props: Props): Promise<{ id: string; props: Props }>;
    update(urn: string, id: string, olds: Props, news: Props): Promise<Props>;
    delete(urn: string, id: string, props: Props): Promise<void>;
    stop(): Promise<void>;
}

/** DiffResponse.DiffChanges values. */
export const DIFF = { UNKNOWN: 0, NONE: 1, SOME: 2 };

/**
 * Starts the host. `cwd` is its working directory: the CLI starts it in the project's
 * directory; by default here the host's own (inside node_modules), so the suites also prove
 * nothing depends on it.
 */
export async function startProviderHost(opts: { cwd?: string } = {}): Promise<ProviderHost> {
    const entry = require.resolve("@pulumi/pulumi/cmd/dynamic-provider/index.js");
    // The argument is the engine's address; the host only needs it to be present.
    const child: ChildProcess = spawn(process.execPath, [entry, "127.0.0.1:1"], { stdio: ["ignore", "pipe", "pipe"], cwd: opts.cwd ?? path.dirname(entry) });
    const onExit = () => { try { process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ } };
    process.on("exit", onExit);
    let stderr = "";
    child.stderr!.on("data", (d) => { stderr += d; });
    const port = await new Promise<number>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`provider host did not print its port: ${stderr}`)), 30000);
        child.stdout!.on("data", (d) => {
            out += d;
            const m = /^(\d+)\s*$/m.exec(out);
            if (m) { clearTimeout(timer); resolve(Number(m[1])); }
        });
        child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`provider host exited (${code}): ${stderr}`)); });
    });
    const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = <T>(method: string, req: any): Promise<T> => new Promise((resolve, reject) =>
        client[method](req, (err: any, res: T) => (err ? reject(new Error(err.details ?? err.message)) : resolve(res))));
    const struct = (p: Props) => structproto.Struct.fromJavaScript(p);

    const configure = new provproto.ConfigureRequest();
    configure.setArgs(struct({}));
    configure.setAcceptsecrets(true);
    await call("configure", configure);

    return {
        pid: child.pid!,
        async check(urn, olds, news) {
            const req = new provproto.CheckRequest();
            req.setUrn(urn); req.setOlds(struct(olds)); req.setNews(struct(news));
            const res: any = await call("check", req);
            return { inputs: res.getInputs().toJavaScript(), failures: res.getFailuresList().map((f: any) => ({ property: f.getProperty(), reason: f.getReason() })) };
        },
        async diff(urn, id, olds, news) {
            const req = new provproto.DiffRequest();
            req.setUrn(urn); req.setId(id); req.setOlds(struct(olds)); req.setNews(struct(news));
            const res: any = await call("diff", req);
            return { changes: res.getChanges(), replaces: res.getReplacesList(), deleteBeforeReplace: res.getDeletebeforereplace() };
        },
        async create(urn, props) {
            const req = new provproto.CreateRequest();
            req.setUrn(urn); req.setProperties(struct(props));
            const res: any = await call("create", req);
            return { id: res.getId(), props: res.getProperties().toJavaScript() };
        },
        async read(urn, id, props) {
            const req = new provproto.ReadRequest();
            req.setUrn(urn); req.setId(id); req.setProperties(struct(props));
            const res: any = await call("read", req);
            return { id: res.getId(), props: res.getProperties()?.toJavaScript() ?? {} };
        },
        async update(urn, id, olds, news) {
            const req = new provproto.UpdateRequest();
            req.setUrn(urn); req.setId(id); req.setOlds(struct(olds)); req.setNews(struct(news));
            const res: any = await call("update", req);
            return res.getProperties().toJavaScript();
        },
        async delete(urn, id, props) {
            const req = new provproto.DeleteRequest();
            req.setUrn(urn); req.setId(id); req.setProperties(struct(props));
            await call("delete", req);
        },
        async stop() {
            client.close();
            process.off("exit", onExit);
            if (child.exitCode !== null || child.signalCode !== null) return;
            const exited = new Promise((r) => child.once("exit", r));
            child.kill("SIGTERM");
            await exited;
        },
    };
}
