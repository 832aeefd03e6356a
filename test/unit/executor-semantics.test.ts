/**
 * The lab executor follows Pulumi's and @pulumi/command's semantics (issue 8 item 4), one test
 * per rule, each naming the source it follows. No servers: handlers are fakes that record what
 * they are asked, and the remote handlers run with a recording runner/copier instead of SSH.
 *
 * Sources (read in their mirrors, versions as installed):
 *  - pulumi/pulumi v3.248.0: pkg/resource/deploy/step_generator.go, step.go, source_eval.go,
 *    pkg/resource/graph/dependency_graph.go, sdk/go/common/resource/archive/archive.go;
 *  - @pulumi/pulumi 3.248.0 (node_modules): cmd/dynamic-provider/index.js, runtime/resource.js;
 *  - pulumi/pulumi-command v1.2.1: provider/pkg/provider/remote/*.go, common/inputs.go;
 *  - pulumi/pulumi-go-provider v1.3.0 (pulumi-command 1.2.1's): infer/resource.go.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { evaluate } from "../../scripts/lib/engine";
import { Carried, carryOut, CarryOutError, Deployment, destroyAll, destroyRemoved, DiffResult, DYNAMIC_TYPE, dynamicHandler, Handler, Handlers, planOf, ResourceRequest, Step } from "../../lab/executor";
import { pathContains } from "../../lab/properties";
import { CommandRun, commandHandler, COMMAND_TYPE, copyToRemoteHandler, COPY_TYPE, DeleteResult } from "../../lab/remote";

const THING = "test:index:Thing";

const conn = (host: string) => ({ host, port: 22, user: "root", privateKey: "k", hostKey: "ssh-ed25519 AAAA" });

class Thing extends pulumi.CustomResource {
    declare public readonly value: pulumi.Output<any>;
    constructor(name: string, props: Record<string, pulumi.Input<any>>, opts?: pulumi.CustomResourceOptions) {
        super(THING, name, props, opts);
    }
}

/** A custom resource of a given type (the remote resources' tokens), inputs as given. */
class Raw extends pulumi.CustomResource {
    constructor(type: string, name: string, props: Record<string, any>, opts?: pulumi.CustomResourceOptions) {
        super(type, name, props, opts);
    }
}

class Group extends pulumi.ComponentResource {
    constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
        super("test:index:Group", name, {}, opts);
    }
}

/** A fake provider for Thing: records every call; its diff may be given per test. */
function thing(opts: { diff?: (old: Carried, next: ResourceRequest) => DiffResult; noUpdate?: boolean; failCreate?: string } = {}) {
    const calls: string[] = [];
    const seen: { op: string; name: string; olds?: any; old?: Carried; inputs?: any }[] = [];
    let n = 0;
    const handler: Handler = {
        async check(r, olds) {
            seen.push({ op: "check", name: r.name, olds, inputs: r.inputs });
            return r.inputs;
        },
        ...(opts.diff ? { diff: async (old: Carried, next: ResourceRequest) => opts.diff!(old, next) } : {}),
        async create(r) {
            await new Promise((res) => setTimeout(res, 2));
            if (opts.failCreate === r.name) throw new Error(`${r.name} failed on purpose`);
            calls.push(`create ${r.name}=${r.inputs.value}`);
            seen.push({ op: "create", name: r.name, inputs: r.inputs });
            return { id: `${r.name}-${++n}`, outputs: { ...r.inputs, made: n } };
        },
        ...(opts.noUpdate ? {} : {
            async update(old: Carried, next: ResourceRequest) {
                calls.push(`update ${next.name}=${next.inputs.value}`);
                seen.push({ op: "update", name: next.name, old, inputs: next.inputs });
                return { outputs: { ...next.inputs, made: old.outputs.made } };
            },
        }),
        async delete(r) {
            await new Promise((res) => setTimeout(res, 2));
            calls.push(`delete ${r.name}=${r.inputs.value}`);
            seen.push({ op: "delete", name: r.name, old: r });
        },
    };
    return { calls, seen, handlers: { [THING]: handler } as Handlers };
}

const run = (program: () => any, handlers: Handlers, previous?: Deployment, deleteRemoved?: boolean) =>
    carryOut(program, { config: {}, handlers, previous, deleteRemoved });

const ops = (steps: Step[] | undefined) => (steps ?? []).map((s) => `${s.op} ${s.name}${s.skipped ? ` (${s.skipped})` : ""}`);

describe("executor semantics: the engine's steps (pulumi/pulumi v3.248.0)", () => {
    it("create: a new resource is checked without olds and created (step_generator.go:1212-1219)", async () => {
        const t = thing();
        const d = await run(() => { new Thing("a", { value: "x" }); }, t.handlers);
        assert.deepStrictEqual(t.calls, ["create a=x"]);
        assert.strictEqual(t.seen.find((s) => s.op === "check")!.olds, undefined);
        assert.deepStrictEqual(ops(d.steps), ["create a"]);
    });

    it("same: unchanged inputs call no create/update, keep id and outputs; check gets the old inputs as olds (step_generator.go:1220-1228)", async () => {
        const t = thing();
        const d1 = await run(() => { new Thing("a", { value: "x" }); }, t.handlers);
        t.calls.length = 0;
        t.seen.length = 0;
        const d2 = await run(() => { new Thing("a", { value: "x" }); }, t.handlers, d1);
        assert.deepStrictEqual(t.calls, []);
        assert.deepStrictEqual(t.seen.find((s) => s.op === "check")!.olds, d1.resources[0].inputs);
        assert.deepStrictEqual([d2.resources[0].id, d2.resources[0].outputs], [d1.resources[0].id, d1.resources[0].outputs]);
        assert.deepStrictEqual(ops(d2.steps), ["same a"]);
    });

    it("update: a change the diff does not call a replacement updates in place with the stored state; the id stays (step_generator.go:2040-2050, step.go UpdateStep)", async () => {
        const t = thing();
        const d1 = await run(() => { new Thing("a", { value: "x" }); }, t.handlers);
        const d2 = await run(() => { new Thing("a", { value: "y" }); }, t.handlers, d1);
        assert.deepStrictEqual(t.calls, ["create a=x", "update a=y"]);
        const upd = t.seen.find((s) => s.op === "update")!;
        assert.strictEqual(upd.old!.outputs.value, "x", "update gets the stored state");
        assert.strictEqual(d2.resources[0].id, d1.resources[0].id);
        assert.deepStrictEqual(ops(d2.steps), ["update a"]);
    });

    it("replace: create before delete, the old one deleted after every registration, with its stored state (step_generator.go:2033-2038)", async () => {
        const t = thing({ diff: (old, next) => ({ changes: old.inputs.value !== next.inputs.value, replaces: old.inputs.value !== next.inputs.value ? ["value"] : [] }) });
        const prog = (v: string, late: boolean) => () => {
            const a = new Thing("a", { value: v });
            // Registered only once a's step is done: its create must come before a's old delete.
            if (late) new Thing("late", { value: a.value.apply((x) => `after-${x}`) });
        };
        const d1 = await run(prog("x", false), t.handlers);
        t.calls.length = 0;
        const d2 = await run(prog("y", true), t.handlers, d1);
        assert.deepStrictEqual(t.calls, ["create a=y", "create late=after-y", "delete a=x"]);
        const del = t.seen.find((s) => s.op === "delete")!;
        assert.deepStrictEqual([del.old!.id, del.old!.outputs], [d1.resources[0].id, d1.resources[0].outputs], "deleted with the stored id and outputs");
        assert.notStrictEqual(d2.resources.find((r) => r.name === "a")!.id, d1.resources[0].id);
        assert.deepStrictEqual(ops(d2.steps), ["create-replacement a", "create late", "delete-replaced a"]);
        assert.deepStrictEqual(Object.fromEntries(planOf(d2.steps!)), { [d1.resources[0].urn]: "replace", [d2.resources.find((r) => r.name === "late")!.urn]: "create" });
    });

    it("replace with the diff's deleteBeforeReplace: the old one is deleted first (step_generator.go:1922-1926, 2018-2031)", async () => {
        const t = thing({ diff: () => ({ changes: true, replaces: ["value"], deleteBeforeReplace: true }) });
        const d1 = await run(() => { new Thing("a", { value: "x" }); }, t.handlers);
        t.calls.length = 0;
        const d2 = await run(() => { new Thing("a", { value: "y" }); }, t.handlers, d1);
        assert.deepStrictEqual(t.calls, ["delete a=x", "create a=y"]);
        assert.deepStrictEqual(ops(d2.steps), ["delete-replaced a", "create-replacement a"]);
    });

    it("the deleteBeforeReplace resource option overrides the diff's, both ways (step_generator.go:1922-1925)", async () => {
        const dbr = thing({ diff: () => ({ changes: true, replaces: ["value"] }) });
        const a1 = await run(() => { new Thing("a", { value: "x" }, { deleteBeforeReplace: true }); }, dbr.handlers);
        dbr.calls.length = 0;
        await run(() => { new Thing("a", { value: "y" }, { deleteBeforeReplace: true }); }, dbr.handlers, a1);
        assert.deepStrictEqual(dbr.calls, ["delete a=x", "create a=y"]);

        const cbd = thing({ diff: () => ({ changes: true, replaces: ["value"], deleteBeforeReplace: true }) });
        const b1 = await run(() => { new Thing("b", { value: "x" }, { deleteBeforeReplace: false }); }, cbd.handlers);
        cbd.calls.length = 0;
        await run(() => { new Thing("b", { value: "y" }, { deleteBeforeReplace: false }); }, cbd.handlers, b1);
        assert.deepStrictEqual(cbd.calls, ["create b=y", "delete b=x"]);
    });

    it("a replacement's inputs are checked again without olds (step_generator.go:1881-1898)", async () => {
        const t = thing({ diff: () => ({ changes: true, replaces: ["value"] }) });
        const d1 = await run(() => { new Thing("a", { value: "x" }); }, t.handlers);
        t.seen.length = 0;
        await run(() => { new Thing("a", { value: "y" }); }, t.handlers, d1);
        const checks = t.seen.filter((s) => s.op === "check");
        assert.deepStrictEqual(checks.map((c) => c.olds === undefined ? "none" : c.olds.value), ["x", "none"]);
    });

    it("a diff that cannot tell is the engine's comparison of inputs; a handler without update replaces on any change (step_generator.go:2795-2805; infer/resource.go:1147-1149)", async () => {
        const withUpdate = thing();
        const u1 = await run(() => { new Thing("a", { value: "x" }); }, withUpdate.handlers);
        await run(() => { new Thing("a", { value: "y" }); }, withUpdate.handlers, u1);
        assert.deepStrictEqual(withUpdate.calls, ["create a=x", "update a=y"]);
        const noUpdate = thing({ noUpdate: true });
        const n1 = await run(() => { new Thing("a", { value: "x" }); }, noUpdate.handlers);
        await run(() => { new Thing("a", { value: "y" }); }, noUpdate.handlers, n1);
        assert.deepStrictEqual(noUpdate.calls, ["create a=x", "create a=y", "delete a=x"]);
    });

    it("dependsOn: creates after their dependencies; removed resources are deleted dependents first (dependency_graph.go:206-251, step_generator.go:2560 ScheduleDeletes)", async () => {
        const t = thing();
        const d1 = await run(() => {
            const a = new Thing("a", { value: "a" });
            const b = new Thing("b", { value: "b" }, { dependsOn: [a] });
            new Thing("c", { value: "c" }, { dependsOn: [b] });
        }, t.handlers);
        assert.deepStrictEqual(t.calls, ["create a=a", "create b=b", "create c=c"]);
        t.calls.length = 0;
        const d2 = await run(() => undefined, t.handlers, d1, true);
        assert.deepStrictEqual(t.calls, ["delete c=c", "delete b=b", "delete a=a"]);
        assert.deepStrictEqual(ops(d2.steps), ["delete c", "delete b", "delete a"]);
    });

    it("parent ordering: a custom child is deleted before its custom parent, and a dependent of a component before the component's children (dependency_graph.go:233-250)", async () => {
        const t = thing();
        const d1 = await run(() => {
            const p = new Thing("parent", { value: "p" });
            new Thing("child", { value: "c" }, { parent: p });
            const g = new Group("g");
            new Thing("member", { value: "m" }, { parent: g });
            new Thing("user", { value: "u" }, { dependsOn: [g] });
        }, t.handlers);
        t.calls.length = 0;
        await run(() => undefined, t.handlers, d1, true);
        const at = (x: string) => t.calls.indexOf(`delete ${x}`);
        assert.ok(at("child=c") < at("parent=p"), t.calls.join(", "));
        assert.ok(at("user=u") < at("member=m"), t.calls.join(", "));
        // The SDK lists a component's children in `dependencies`; a state naming the component
        // itself (as a remote component's dependents do) gets the same order from the graph.
        const g = "urn:pulumi:test::osm-hosting::test:index:Group::g";
        const state = (name: string, extra: Partial<Carried>): Carried => ({ urn: `${g.replace(/::g$/, "")}$test:index:Thing::${name}`, type: THING, name, id: name, inputs: { value: name }, outputs: {}, dependencies: [], ...extra });
        t.calls.length = 0;
        const user = { ...state("user", { dependencies: [g] }), urn: `urn:pulumi:test::osm-hosting::${THING}::user` };
        await destroyAll({ resources: [state("m1", { parent: g }), state("m2", { parent: g }), user], outputs: {} }, t.handlers);
        assert.strictEqual(t.calls[0], "delete user=user", t.calls.join(", "));
    });

    it("removals wait for destroyRemoved unless deleteRemoved; destroyRemoved appends its steps to the deployment's", async () => {
        const t = thing();
        const d1 = await run(() => { new Thing("a", { value: "a" }); new Thing("b", { value: "b" }); }, t.handlers);
        t.calls.length = 0;
        const d2 = await run(() => { new Thing("a", { value: "a" }); }, t.handlers, d1);
        assert.deepStrictEqual(t.calls, []);
        const removed = await destroyRemoved(d1, d2, t.handlers);
        assert.deepStrictEqual([removed.map((r) => r.name), t.calls, ops(d2.steps)], [["b"], ["delete b=b"], ["same a", "delete b"]]);
        // With deleteRemoved, destroyRemoved finds nothing left to do.
        const d3 = await run(() => undefined, t.handlers, d2, true);
        t.calls.length = 0;
        assert.deepStrictEqual((await destroyRemoved(d2, d3, t.handlers)).map((r) => r.name), ["a"]);
        assert.deepStrictEqual(t.calls, []);
    });

    it("retainOnDelete: the resource leaves the state without its delete, removed or replaced (step.go:630)", async () => {
        const t = thing({ diff: (old, next) => ({ changes: old.inputs.value !== next.inputs.value, replaces: ["value"] }) });
        const d1 = await run(() => {
            new Thing("kept", { value: "k" }, { retainOnDelete: true });
            new Thing("swapped", { value: "x" }, { retainOnDelete: true });
        }, t.handlers);
        t.calls.length = 0;
        const d2 = await run(() => { new Thing("swapped", { value: "y" }, { retainOnDelete: true }); }, t.handlers, d1, true);
        assert.deepStrictEqual(t.calls, ["create swapped=y"]);
        assert.deepStrictEqual(ops(d2.steps).sort(), ["create-replacement swapped", "delete kept (retainOnDelete)", "delete-replaced swapped (retainOnDelete)"]);
        assert.deepStrictEqual(d2.resources.map((r) => r.name), ["swapped"]);
    });

    it("protect: deleting a protected resource fails naming it and deletes nothing (step.go:616; the preview of pulumi up refuses it first)", async () => {
        const t = thing();
        const d1 = await run(() => {
            new Thing("guarded", { value: "g" }, { protect: true });
            new Thing("plain", { value: "p" });
        }, t.handlers);
        t.calls.length = 0;
        await assert.rejects(run(() => undefined, t.handlers, d1, true), /guarded: resource urn:pulumi:[^ ]*::guarded cannot be deleted because it is protected/);
        assert.deepStrictEqual(t.calls, [], "nothing deleted, not even the unprotected one");
        // Kept in the program, it stays; the other one goes. `pulumi destroy` refuses it too.
        const d2 = await run(() => { new Thing("guarded", { value: "g" }, { protect: true }); }, t.handlers, d1);
        await destroyRemoved(d1, d2, t.handlers);
        assert.deepStrictEqual(t.calls, ["delete plain=p"]);
        await assert.rejects(destroyAll(d2, t.handlers), /guarded: .* cannot be deleted because it is protected/);
        assert.deepStrictEqual(t.calls, ["delete plain=p"]);
    });

    it("protect: replacing a protected resource fails naming it and changes nothing (step_generator.go:1837-1851)", async () => {
        const t = thing({ diff: () => ({ changes: true, replaces: ["value"] }) });
        const d1 = await run(() => { new Thing("guarded", { value: "x" }, { protect: true }); }, t.handlers);
        t.calls.length = 0;
        const err = await run(() => { new Thing("guarded", { value: "y" }, { protect: true }); }, t.handlers, d1).then(() => undefined, (e) => e as CarryOutError);
        assert.ok(err instanceof CarryOutError, "must fail");
        assert.match(err.message, /guarded: unable to replace resource urn:pulumi:[^ ]*::guarded: it is protected/);
        assert.deepStrictEqual(t.calls, [], "neither the replacement created nor the old one deleted");
        assert.deepStrictEqual(err.deployment.resources.map((r) => [r.name, r.id]), [["guarded", d1.resources[0].id]], "the state keeps the old one");
        // Unprotected in the same change, the replacement goes ahead (old.Protect is not looked at).
        await run(() => { new Thing("guarded", { value: "y" }); }, t.handlers, d1);
        assert.deepStrictEqual(t.calls, ["create guarded=y", "delete guarded=x"]);
    });

    it("protect and retainOnDelete are inherited from the parent when unset (source_eval.go:1743-1751; SDK resource.js:211)", async () => {
        const t = thing();
        const d1 = await run(() => {
            const g = new Group("vault", { protect: true, retainOnDelete: true });
            new Thing("inside", { value: "i" }, { parent: g });
            new Thing("opted-out", { value: "o" }, { parent: g, protect: false, retainOnDelete: false });
        }, t.handlers);
        const byName = new Map(d1.resources.map((r) => [r.name, r.options]));
        assert.deepStrictEqual([byName.get("inside")!.protect, byName.get("inside")!.retainOnDelete], [true, true]);
        assert.deepStrictEqual([byName.get("opted-out")!.protect, byName.get("opted-out")!.retainOnDelete], [false, false]);
    });

    it("replaceOnChanges: a change under one of its paths replaces (step_generator.go:1826, 2911-2966)", async () => {
        const t = thing();
        const prog = (v: string, tag: string) => () => { new Thing("a", { value: v, meta: { tag } }, { replaceOnChanges: ["meta.tag"] }); };
        const d1 = await run(prog("x", "1"), t.handlers);
        const d2 = await run(prog("y", "1"), t.handlers, d1);
        await run(prog("y", "2"), t.handlers, d2);
        assert.deepStrictEqual(t.calls, ["create a=x", "update a=y", "create a=y", "delete a=y"]);
    });

    it("ignoreChanges: an ignored property keeps its old value, so its change alone is no change (step_generator.go:1151-1156, 2838-2858)", async () => {
        const t = thing();
        const prog = (v: string, note: string) => () => { new Thing("a", { value: v, note }, { ignoreChanges: ["note"] }); };
        const d1 = await run(prog("x", "first"), t.handlers);
        const d2 = await run(prog("x", "second"), t.handlers, d1);
        assert.deepStrictEqual([t.calls, ops(d2.steps)], [["create a=x"], ["same a"]]);
        await run(prog("y", "third"), t.handlers, d2);
        const upd = t.seen.find((s) => s.op === "update")!;
        assert.deepStrictEqual([upd.inputs.value, upd.inputs.note], ["y", "first"], "the update sees the old value of the ignored property");
    });

    it("deletedWith: a resource deleted with another being deleted is left to it (step.go:632)", async () => {
        const t = thing();
        const d1 = await run(() => {
            const db = new Thing("db", { value: "db" });
            new Thing("table", { value: "t" }, { deletedWith: db });
        }, t.handlers);
        t.calls.length = 0;
        const d2 = await run(() => undefined, t.handlers, d1, true);
        assert.deepStrictEqual(t.calls, ["delete db=db"]);
        assert.ok(ops(d2.steps).includes("delete table (deletedWith)"));
    });

    it("a failed run leaves the state as the engine does: old resources not reached, pending deletes; the next run deletes those (step_generator.go:2210-2241)", async () => {
        const ok = thing({ diff: (old, next) => ({ changes: old.inputs.value !== next.inputs.value, replaces: ["value"] }) });
        const prog = (v: string) => () => {
            const a = new Thing("a", { value: v });
            const b = new Thing("b", { value: a.value.apply((x) => `b-${x}`) });
            new Thing("c", { value: "c" }, { dependsOn: [b] });
        };
        const d1 = await run(prog("x"), ok.handlers);
        const failing = thing({ diff: (old, next) => ({ changes: old.inputs.value !== next.inputs.value, replaces: ["value"] }), failCreate: "b" });
        const err = await run(prog("y"), failing.handlers, d1).then(() => undefined, (e) => e as CarryOutError);
        assert.ok(err instanceof CarryOutError);
        assert.deepStrictEqual(failing.calls, ["create a=y"], "the old a is not deleted after a failure");
        const state = err.deployment.resources.map((r) => `${r.name}=${r.inputs.value}${r.pendingDelete ? " (pending delete)" : ""}`).sort();
        assert.deepStrictEqual(state, ["a=x (pending delete)", "a=y", "b=b-x", "c=c"]);
        failing.calls.length = 0;
        const d3 = await run(prog("y"), ok.handlers, err.deployment);
        assert.deepStrictEqual(ok.calls.slice(-3), ["create b=b-y", "delete b=b-x", "delete a=x"]);
        assert.ok(!d3.resources.some((r) => r.pendingDelete));
    });
});

describe("executor semantics: resource options read off the register request (runtime/resource.js:366-412)", () => {
    it("records protect, retainOnDelete, deleteBeforeReplace (only when set), ignoreChanges, replaceOnChanges, deletedWith, additionalSecretOutputs", async () => {
        const ev = await evaluate(() => {
            const a = new Thing("a", { value: 1 }, { protect: true, retainOnDelete: true, deleteBeforeReplace: false, ignoreChanges: ["x"], replaceOnChanges: ["y.z"], additionalSecretOutputs: ["value"] });
            new Thing("b", { value: 2 }, { deletedWith: a });
        }, { config: {} });
        const a = ev.resources.find((r) => r.name === "a")!;
        const b = ev.resources.find((r) => r.name === "b")!;
        assert.deepStrictEqual(a.options, { protect: true, retainOnDelete: true, deleteBeforeReplace: false, ignoreChanges: ["x"], replaceOnChanges: ["y.z"], additionalSecretOutputs: ["value"] });
        assert.deepStrictEqual(b.options, { protect: false, retainOnDelete: false, ignoreChanges: [], replaceOnChanges: [], additionalSecretOutputs: [], deletedWith: a.urn });
    });

    it("@pulumi/command's classes send replaceOnChanges triggers[*] themselves (remote/command.js:132, copyToRemote.js:131)", async () => {
        const ev = await evaluate(() => {
            new command.remote.Command("c", { connection: conn("h"), create: "true" });
            new command.remote.CopyToRemote("k", { connection: conn("h"), source: new pulumi.asset.StringAsset("x"), remotePath: "/x" });
        }, { config: {} });
        for (const r of ev.resources) assert.deepStrictEqual(r.options.replaceOnChanges, ["triggers[*]"], r.name);
        assert.ok(pathContains("triggers[*]", "triggers[0]") && !pathContains("triggers[*]", "environment.OSM_X"));
    });
});

/** A runner standing in for SSH: records each run (host, script, environment). */
function recordingRunner() {
    const runs: CommandRun[] = [];
    const runner = async (r: CommandRun) => {
        runs.push(r);
        return { stdout: `out of ${r.what} on ${r.connection.host}`, stderr: "" };
    };
    return { runs, runner };
}


describe("executor semantics: command:remote:Command (pulumi-command v1.2.1)", () => {
    // The SDK's own class: it adds `replaceOnChanges: ["triggers[*]"]` (remote/command.js:132).
    const prog = (args: Partial<command.remote.CommandArgs>, opts?: pulumi.CustomResourceOptions) => () => {
        new command.remote.Command("cmd", { addPreviousOutputInEnv: false, connection: conn("unset"), ...args }, opts);
    };
    const handlers = (runner: (r: CommandRun) => Promise<any>, deletes: DeleteResult[] = []): Handlers =>
        ({ [COMMAND_TYPE]: commandHandler((d) => deletes.push(d), runner) });

    it("create runs `create` with its connection and environment; without `create` nothing runs (remote/commandController.go:31-60)", async () => {
        const r = recordingRunner();
        const d = await run(prog({ connection: conn("h1"), create: "make it", environment: { OSM_A: "1" } }), handlers(r.runner));
        assert.deepStrictEqual(r.runs.map((x) => [x.what, x.connection.host, x.command, x.environment]), [["create", "h1", "make it", { OSM_A: "1" }]]);
        assert.strictEqual(d.resources[0].outputs.stdout, "out of create on h1");
        const none = recordingRunner();
        const d2 = await run(prog({ connection: conn("h1"), delete: "rm it" }), handlers(none.runner));
        assert.deepStrictEqual([none.runs, d2.resources[0].outputs.stdout], [[], ""]);
    });

    it("a change of ordinary inputs updates in place: `update` when set, else `create` again, with the NEW connection and environment (commandController.go:63-83)", async () => {
        const r = recordingRunner();
        const d1 = await run(prog({ connection: conn("h1"), create: "make", delete: "rm", environment: { OSM_A: "1" } }), handlers(r.runner));
        const d2 = await run(prog({ connection: conn("h2"), create: "make", delete: "rm", environment: { OSM_A: "2" } }), handlers(r.runner), d1);
        await run(prog({ connection: conn("h2"), create: "make", update: "refresh", delete: "rm", environment: { OSM_A: "3" } }), handlers(r.runner), d2);
        assert.deepStrictEqual(r.runs.map((x) => `${x.what} ${x.command} on ${x.connection.host} OSM_A=${x.environment!.OSM_A}`),
            ["create make on h1 OSM_A=1", "create make on h2 OSM_A=2", "update refresh on h2 OSM_A=3"]);
        assert.deepStrictEqual(ops(d2.steps), ["update cmd"], "no delete: an in-place update");
    });

    it("an update with neither `update` nor `create` runs nothing and keeps the old stdout (commandController.go:70, 75-81)", async () => {
        const r = recordingRunner();
        const d1 = await run(prog({ connection: conn("h1"), create: "make" }), handlers(r.runner));
        const d2 = await run(prog({ connection: conn("h1"), delete: "rm" }), handlers(r.runner), d1);
        assert.deepStrictEqual([r.runs.length, d2.resources[0].outputs.stdout], [1, "out of create on h1"]);
    });

    it("the previous stdout/stderr go into the environment unless addPreviousOutputInEnv is false (commandOutputs.go:51-71)", async () => {
        const r = recordingRunner();
        const d1 = await run(prog({ connection: conn("h1"), create: "make", addPreviousOutputInEnv: true }), handlers(r.runner));
        await run(prog({ connection: conn("h1"), create: "make again", addPreviousOutputInEnv: true }), handlers(r.runner), d1);
        assert.deepStrictEqual(r.runs.map((x) => x.previous?.stdout), [undefined, "out of create on h1"]);
        const off = recordingRunner();
        const e1 = await run(prog({ connection: conn("h1"), create: "make" }), handlers(off.runner));
        await run(prog({ connection: conn("h1"), create: "make again" }), handlers(off.runner), e1);
        assert.deepStrictEqual(off.runs.map((x) => x.previous), [undefined, undefined]);
    });

    it("a change of `triggers` replaces: create on the new host, then the old one's STORED delete with its STORED connection and environment (common/inputs.go:10, commandController.go:86-91)", async () => {
        const r = recordingRunner();
        const deletes: DeleteResult[] = [];
        const d1 = await run(prog({ connection: conn("hostA"), create: "make v1", delete: "rm v1", environment: { OSM_HOST: "a" }, triggers: ["hostA"] }), handlers(r.runner, deletes));
        r.runs.length = 0;
        const d2 = await run(prog({ connection: conn("hostB"), create: "make v2", delete: "rm v2", environment: { OSM_HOST: "b" }, triggers: ["hostB"] }), handlers(r.runner, deletes), d1);
        assert.deepStrictEqual(r.runs.map((x) => `${x.what} ${x.command} on ${x.connection.host} OSM_HOST=${x.environment!.OSM_HOST}`),
            ["create make v2 on hostB OSM_HOST=b", "delete rm v1 on hostA OSM_HOST=a"]);
        assert.deepStrictEqual(deletes, [{ name: "cmd", host: "hostA", stdout: "out of delete on hostA" }]);
        assert.deepStrictEqual(ops(d2.steps), ["create-replacement cmd", "delete-replaced cmd"]);
    });

    it("deleteBeforeReplace on a command: the old one's delete runs before the new create", async () => {
        const r = recordingRunner();
        const d1 = await run(prog({ connection: conn("hostA"), create: "make", delete: "rm", triggers: [1] }, { deleteBeforeReplace: true }), handlers(r.runner));
        r.runs.length = 0;
        await run(prog({ connection: conn("hostB"), create: "make", delete: "rm", triggers: [2] }, { deleteBeforeReplace: true }), handlers(r.runner), d1);
        assert.deepStrictEqual(r.runs.map((x) => `${x.what} on ${x.connection.host}`), ["delete on hostA", "create on hostB"]);
    });

    it("internal `__` keys do not make a diff (pulumi-go-provider infer/resource.go:1166-1172)", async () => {
        const r = recordingRunner();
        const raw = (meta: string) => () => { new Raw(COMMAND_TYPE, "cmd", { connection: conn("h1"), create: "make", __meta: meta }); };
        const d1 = await run(raw("one"), handlers(r.runner));
        const d2 = await run(raw("two"), handlers(r.runner), d1);
        assert.deepStrictEqual([r.runs.length, ops(d2.steps)], [1, ["same cmd"]]);
    });
});

describe("executor semantics: command:remote:CopyToRemote (pulumi-command v1.2.1)", () => {
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-semantics-"));
        fs.mkdirSync(path.join(dir, "bundle"));
        fs.writeFileSync(path.join(dir, "bundle", "a.yml"), "a: 1\n");
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    // The SDK's own class (it adds `replaceOnChanges: ["triggers[*]"]`, remote/copyToRemote.js:131).
    const prog = (args: Partial<command.remote.CopyToRemoteArgs>) => () => {
        new command.remote.CopyToRemote("copy", { source: new pulumi.asset.FileArchive(path.join(dir, "bundle")), remotePath: "/opt/osm", connection: conn("unset"), ...args });
    };
    function copier() {
        const copies: string[] = [];
        const handlers: Handlers = { [COPY_TYPE]: copyToRemoteHandler(async (_name, i) => { copies.push(`${i.connection.host}:${i.remotePath}`); }) };
        return { copies, handlers };
    }

    it("an edit of the source folder's content re-copies it (the hash stored at the copy, archive.go:184-198; copyController.go:148)", async () => {
        const c = copier();
        const d1 = await run(prog({ connection: conn("h1") }), c.handlers);
        const d2 = await run(prog({ connection: conn("h1") }), c.handlers, d1);
        assert.deepStrictEqual([c.copies, ops(d2.steps)], [["h1:/opt/osm"], ["same copy"]]);
        fs.writeFileSync(path.join(dir, "bundle", "a.yml"), "a: 2\n");
        const d3 = await run(prog({ connection: conn("h1") }), c.handlers, d2);
        assert.deepStrictEqual([c.copies, ops(d3.steps)], [["h1:/opt/osm", "h1:/opt/osm"], ["update copy"]]);
    });

    it("a remotePath change re-copies; a connection change alone updates without copying (copyController.go:137-154)", async () => {
        const c = copier();
        const d1 = await run(prog({ connection: conn("h1") }), c.handlers);
        const d2 = await run(prog({ connection: conn("h1"), remotePath: "/srv/osm" }), c.handlers, d1);
        const d3 = await run(prog({ connection: conn("h2"), remotePath: "/srv/osm" }), c.handlers, d2);
        assert.deepStrictEqual(c.copies, ["h1:/opt/osm", "h1:/srv/osm"]);
        assert.deepStrictEqual([ops(d2.steps), ops(d3.steps)], [["update copy"], ["update copy"]]);
    });

    it("a `triggers` change replaces it: copied again, and the old one's delete removes nothing (copy.go:38; no CustomDelete, copyController.go:66-70)", async () => {
        const c = copier();
        const d1 = await run(prog({ connection: conn("h1"), triggers: ["one"] }), c.handlers);
        const d2 = await run(prog({ connection: conn("h1"), triggers: ["two"] }), c.handlers, d1);
        assert.deepStrictEqual([c.copies, ops(d2.steps)], [["h1:/opt/osm", "h1:/opt/osm"], ["create-replacement copy", "delete-replaced copy"]]);
    });
});

/**
 * A dynamic provider recording its calls in a global (the serialized provider runs in this
 * process); `behaviour` sets what diff and update answer.
 */
const probeProvider: pulumi.dynamic.ResourceProvider = {
    async check(olds: any, news: any) {
        (globalThis as any).__osmProbe.calls.push({ op: "check", olds, news });
        return { inputs: { ...news, checked: true } };
    },
    async diff(id: string, olds: any, news: any) {
        const probe = (globalThis as any).__osmProbe;
        probe.calls.push({ op: "diff", id, olds, news });
        return probe.diff ?? { changes: olds.value !== news.value };
    },
    async create(inputs: any) {
        (globalThis as any).__osmProbe.calls.push({ op: "create", inputs });
        return { id: `id-${inputs.value}`, outs: { value: inputs.value, made: "create" } };
    },
    async update(id: string, olds: any, news: any) {
        const probe = (globalThis as any).__osmProbe;
        probe.calls.push({ op: "update", id, olds, news });
        // The host copes with an update that returns nothing (index.js:277).
        return (probe.noOuts ? undefined : { outs: { value: news.value, made: "update" } }) as pulumi.dynamic.UpdateResult;
    },
    async delete(id: string, props: any) {
        (globalThis as any).__osmProbe.calls.push({ op: "delete", id, props });
    },
};

class Probe extends pulumi.dynamic.Resource {
    constructor(name: string, props: { value: string }, opts?: pulumi.CustomResourceOptions) {
        super(probeProvider, name, props, opts);
    }
}

describe("executor semantics: dynamic resources as the dynamic provider host calls them (@pulumi/pulumi cmd/dynamic-provider/index.js)", () => {
    let probe: { calls: any[]; diff?: any; noOuts?: boolean };
    const handlers: Handlers = { [DYNAMIC_TYPE]: dynamicHandler() };
    const prog = (value: string, opts?: pulumi.CustomResourceOptions) => () => { new Probe("p", { value }, opts); };
    beforeEach(() => { probe = (globalThis as any).__osmProbe = { calls: [] }; });
    after(() => { delete (globalThis as any).__osmProbe; });
    const opsOf = () => probe.calls.map((c) => c.op);

    it("create: check(olds = {}, news), then create(checked inputs); outputs are its outs plus __provider (index.js:119-159, 212-228, 357-361)", async () => {
        const d = await run(prog("x"), handlers);
        assert.deepStrictEqual(opsOf(), ["check", "create"]);
        assert.deepStrictEqual(probe.calls[0].olds, {});
        assert.strictEqual(probe.calls[1].inputs.checked, true, "create gets what check returned");
        assert.strictEqual(typeof d.resources[0].outputs.__provider, "string");
        assert.deepStrictEqual({ ...d.resources[0].outputs, __provider: undefined }, { value: "x", made: "create", __provider: undefined });
        assert.strictEqual(d.resources[0].id, "id-x");
    });

    it("check gets the old inputs as olds, diff gets (id, stored outputs, checked news) (index.js:123-129, 178-182; step_generator.go:1223)", async () => {
        const d1 = await run(prog("x"), handlers);
        probe.calls.length = 0;
        await run(prog("x"), handlers, d1);
        assert.deepStrictEqual(opsOf(), ["check", "diff"]);
        assert.strictEqual(probe.calls[0].olds.checked, true, "olds are the stored (checked) inputs");
        assert.deepStrictEqual([probe.calls[1].id, probe.calls[1].olds.made, probe.calls[1].news.checked], ["id-x", "create", true]);
    });

    it("update: update(id, stored outputs, checked news); without outs the outputs are __provider alone (index.js:268-287)", async () => {
        const d1 = await run(prog("x"), handlers);
        const d2 = await run(prog("y"), handlers, d1);
        const upd = probe.calls.find((c) => c.op === "update");
        assert.deepStrictEqual([upd.id, upd.olds.made, upd.news.value], ["id-x", "create", "y"]);
        assert.deepStrictEqual([d2.resources[0].id, d2.resources[0].outputs.made], ["id-x", "update"]);
        probe.noOuts = true;
        const d3 = await run(prog("z"), handlers, d2);
        assert.deepStrictEqual(Object.keys(d3.resources[0].outputs), ["__provider"]);
    });

    it("replaces from diff: create-before-delete by default; the replacement re-checked without olds; delete(id, stored outputs) (index.js:192-196, 288-302)", async () => {
        const d1 = await run(prog("x"), handlers);
        probe.calls.length = 0;
        probe.diff = { changes: true, replaces: ["value"] };
        await run(prog("y"), handlers, d1);
        assert.deepStrictEqual(opsOf(), ["check", "diff", "check", "create", "delete"]);
        assert.deepStrictEqual(probe.calls[2].olds, {}, "re-checked without olds");
        const del = probe.calls[4];
        assert.deepStrictEqual([del.id, del.props.made, typeof del.props.__provider], ["id-x", "create", "string"]);
    });

    it("deleteBeforeReplace from diff: delete first, then create (index.js:195-196)", async () => {
        const d1 = await run(prog("x"), handlers);
        probe.calls.length = 0;
        probe.diff = { changes: true, replaces: ["value"], deleteBeforeReplace: true };
        await run(prog("y"), handlers, d1);
        assert.deepStrictEqual(opsOf(), ["check", "diff", "delete", "check", "create"]);
    });

    it("a diff with changes: false is the engine's same, even with replaces (step_generator.go:1832, 1774-1800)", async () => {
        const d1 = await run(prog("x"), handlers);
        probe.calls.length = 0;
        probe.diff = { changes: false, replaces: ["value"] };
        const d2 = await run(prog("y"), handlers, d1);
        assert.deepStrictEqual([opsOf(), ops(d2.steps)], [["check", "diff"], ["same p"]]);
    });
});
