/**
 * Lab executor: carries out what a Pulumi program declares, without the Pulumi CLI, with the
 * engine's semantics (@pulumi/pulumi 3.248; pulumi/pulumi v3.248.0 pkg/resource/deploy).
 *
 * The program is evaluated under mocks (scripts/lib/engine.ts); the mock's `newResource` runs
 * each custom resource's step with the handler of its type. The SDK registers a resource only
 * after everything it depends on has returned, so steps run in the engine's order and
 * parallelism. For a resource the previous deployment has (same URN), as the step generator
 * does (step_generator.go continueStepsFromImport and continueStepsFromDiff):
 *  1. `ignoreChanges` paths take their old values (processIgnoreChanges);
 *  2. the handler's check gets the old inputs as olds (step_generator.go:1220-1228);
 *  3. its diff decides; a diff that cannot tell ("unknown") is the engine's comparison of old
 *     and new inputs (diffResource, step_generator.go:2795-2805); `replaceOnChanges` turns a
 *     change under its paths into a replacement (applyReplaceOnChanges);
 *  4. no change: "same", the old outputs stay; a change: "update" (the handler's update);
 *     a replacement: refused when the resource is protected (step_generator.go:1837), the new
 *     inputs checked again without olds (:1887), then create-before-delete: the replacement is
 *     created now and the old resource deleted after every registration (:2033-2038), or, with
 *     `deleteBeforeReplace` (the resource option wins over the diff's, :1922-1925), the old one
 *     deleted first.
 * Deletes (replaced resources, removed ones, and pending deletes of an earlier failed run) use
 * the stored state, dependents first (ScheduleDeletes); a protected resource is never deleted
 * (step.go:616), one with `retainOnDelete` leaves the state without its delete (step.go:630),
 * one `deletedWith` a resource deleted in the same run is left to it (step.go:632).
 * Every step is recorded in order in `Deployment.steps`.
 *
 * Not modelled (the program uses none): the dependents a delete-before-replace must replace as
 * well (calculateDependentReplacements), aliases, `replaceWith`, `replacementTrigger`, imports.
 */
import { evaluate, ResourceOptions, unwrapSecrets } from "../scripts/lib/engine";
import { applyIgnoreChanges, changedPaths, pathContains, stampHashes, topKey } from "./properties";

// The dynamic provider host deserializes providers with this package (a dependency of
// @pulumi/pulumi); using the same one runs the provider exactly as Pulumi does.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (SDK internals, a test double or a computed path)
const requireFromString: (code: string) => any = require("require-from-string");

/** One resource as the program declares it: inputs with secrets unwrapped (assets and archives stay the SDK's objects, their `path` a Promise). */
export interface ResourceRequest { type: string; name: string; urn: string; inputs: Record<string, any> }

/** What a provider's diff says. */
export interface DiffResult {
    /** `undefined`: the provider cannot tell (DIFF_UNKNOWN); the engine then compares the inputs. */
    changes?: boolean;
    /** Properties whose change forces a replacement. */
    replaces?: string[];
    /** Paths that changed (the detailed diff); `replaceOnChanges` is matched against them. */
    changed?: string[];
    /** The provider asks for the old resource to go before its replacement is created. */
    deleteBeforeReplace?: boolean;
}

/** What carries out one resource type: the provider's methods as the engine calls them. */
export interface Handler {
    /** The provider's check: `olds` are the old inputs (undefined for a create or a replacement). Returns the checked inputs; throws on failures. Default: the inputs as they are. */
    check?(r: ResourceRequest, olds: Record<string, any> | undefined): Promise<Record<string, any>>;
    /** The provider's diff of the stored state and the checked new inputs. Default: unknown (the engine compares inputs). */
    diff?(old: Carried, next: ResourceRequest): Promise<DiffResult>;
    /** Create it; returns its id and outputs. */
    create(r: ResourceRequest): Promise<{ id: string; outputs: Record<string, any> }>;
    /** Update it in place; the id stays. Without it every change is a replacement (a provider that cannot update). */
    update?(old: Carried, next: ResourceRequest): Promise<{ id?: string; outputs: Record<string, any> }>;
    /** Remove it, given its stored state (id, inputs, outputs). */
    delete(r: Carried): Promise<void>;
}

/** A resource as the state stores it. */
export interface Carried {
    urn: string;
    type: string;
    name: string;
    id: string;
    /** Checked inputs (secrets unwrapped). */
    inputs: Record<string, any>;
    outputs: Record<string, any>;
    dependencies: string[];
    parent?: string;
    /** Resource options of its last registration (absent in hand-made states: all off). */
    options?: ResourceOptions;
    /** A replaced resource whose delete has not run yet (the engine's `delete: true`). */
    pendingDelete?: boolean;
}

/** What one step did, in the order the steps finished. */
export interface Step {
    seq: number;
    op: "same" | "create" | "update" | "create-replacement" | "delete-replaced" | "delete";
    urn: string;
    type: string;
    name: string;
    /** The state the step produced (same, create, update, create-replacement) or removed (deletes). */
    state: Carried;
    /** A delete that left the resource alone: why (retainOnDelete, or deletedWith a resource deleted too). */
    skipped?: "retainOnDelete" | "deletedWith";
}

/** What a resource's steps amount to. */
export type Plan = "same" | "create" | "update" | "replace" | "delete";

export interface Deployment {
    resources: Carried[];
    outputs: any;
    /** Steps of the run that made this deployment (plus removals destroyRemoved carried out for it). */
    steps?: Step[];
}

/** Keyed by type token. */
export type Handlers = Record<string, Handler>;

export const DYNAMIC_TYPE = "pulumi-nodejs:dynamic:Resource";

/** A failed carry-out: `deployment` holds the state as the engine would leave it (what was carried out, what was not reached yet, pending deletes), so a test can tear it down. */
export class CarryOutError extends Error {
    constructor(message: string, public readonly deployment: Deployment, public readonly failures: Error[]) {
        super(message);
    }
}

/** Deserialized providers, one per serialized text: exactly the dynamic provider host's cache. */
const providerCache = new Map<string, any>();

/** Deserializes `__provider` the way @pulumi/pulumi/cmd/dynamic-provider does (index.js:67-81). */
export function deserializeProvider(serialized: unknown): any {
    if (typeof serialized !== "string" || serialized === "") throw new Error("dynamic resource without a serialized __provider");
    let provider = providerCache.get(serialized);
    if (!provider) {
        provider = requireFromString(serialized).handler();
        providerCache.set(serialized, provider);
    }
    return provider;
}

function checkFailed(name: string, failures: { property: string; reason: string }[]): Error {
    return new Error(`${name}: invalid inputs: ${failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
}

/**
 * `pulumi-nodejs:dynamic:Resource`: the serialized provider called as the dynamic provider
 * host calls it (@pulumi/pulumi/cmd/dynamic-provider/index.js):
 *  - check(olds = old inputs or {}, news): its inputs, `__provider` from news (:119-159);
 *  - diff(id, olds = stored outputs, news = checked inputs); no diff method: unknown (:166-205);
 *  - create(checked inputs): outs plus `__provider` (:212-228, resultIncludingProvider :357);
 *  - update(id, stored outputs, checked inputs): its outs plus `__provider`; when it returns no
 *    outs (or there is no update method) the outputs are `__provider` alone (:268-287);
 *  - delete(id, stored outputs) with the provider stored in those outputs (:288-302).
 */
export function dynamicHandler(): Handler {
    return {
        async check(r, olds) {
            const news = r.inputs;
            const provider = deserializeProvider(news.__provider ?? olds?.__provider);
            let inputs = news;
            if (provider.check) {
                const result = await provider.check(olds ?? {}, news);
                if (result.failures && result.failures.length) throw checkFailed(r.name, result.failures);
                if (result.inputs) inputs = result.inputs;
            }
            return { ...inputs, __provider: news.__provider };
        },
        async diff(old, next) {
            const provider = deserializeProvider(next.inputs.__provider ?? old.outputs.__provider);
            if (!provider.diff) return {};
            const result = await provider.diff(old.id, old.outputs, next.inputs);
            return {
                changes: result.changes === true ? true : result.changes === false ? false : undefined,
                replaces: result.replaces ?? [],
                deleteBeforeReplace: !!result.deleteBeforeReplace,
            };
        },
        async create(r) {
            const provider = deserializeProvider(r.inputs.__provider);
            const result = await provider.create(r.inputs);
            return { id: String(result.id), outputs: { ...(result.outs ?? {}), __provider: r.inputs.__provider } };
        },
        async update(old, next) {
            const provider = deserializeProvider(next.inputs.__provider);
            const result = provider.update ? ((await provider.update(old.id, old.outputs, next.inputs)) ?? {}) : {};
            return { id: old.id, outputs: { ...(result.outs ?? {}), __provider: next.inputs.__provider } };
        },
        async delete(r) {
            const provider = deserializeProvider(r.outputs.__provider);
            if (provider.delete) await provider.delete(r.id, r.outputs);
        },
    };
}

/** The error the engine gives for replacing a protected resource (step_generator.go:1838-1841). */
function protectedReplace(r: { name: string; urn: string }): Error {
    return new Error(`${r.name}: unable to replace resource ${r.urn}: it is protected (protect: true). `
        + "To replace it, remove the protect option from the resource in the program and carry it out, then change it");
}

/** The error the engine gives for deleting a protected resource (step.go:588-594). */
function protectedDelete(r: Carried): Error {
    return new Error(`${r.name}: resource ${r.urn} cannot be deleted because it is protected (protect: true). `
        + "To delete it, remove the protect option from the resource in the program and carry it out first");
}

/** Records steps in the order they finish. */
class StepLog {
    constructor(readonly steps: Step[] = []) {}
    add(op: Step["op"], state: Carried, skipped?: Step["skipped"]): void {
        this.steps.push({ seq: this.steps.length + 1, op, urn: state.urn, type: state.type, name: state.name, state, ...(skipped ? { skipped } : {}) });
    }
}

/** The handler's diff, completed as the engine completes it (diffResource, applyReplaceOnChanges). */
async function diffOf(handler: Handler, old: Carried, next: ResourceRequest, options: ResourceOptions): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
    const d: DiffResult = handler.diff ? await handler.diff(old, next) : {};
    let changes = d.changes;
    let changed = d.changed ?? [];
    if (changes === undefined) {
        changed = await changedPaths(old.inputs, applyIgnoreChanges(next.inputs, old.inputs, options.ignoreChanges));
        changes = changed.length > 0;
    }
    if (!changes) return { changes: false, replaces: [], deleteBeforeReplace: false };
    const replaces = new Set(d.replaces ?? []);
    // A provider without update replaces on every change (pulumi-go-provider infer/resource.go:1147-1149).
    if (!handler.update) (changed.length ? changed.map(topKey) : ["*"]).forEach((k) => replaces.add(k));
    for (const p of options.replaceOnChanges) for (const c of changed) if (pathContains(p, c)) replaces.add(topKey(c));
    return { changes: true, replaces: [...replaces], deleteBeforeReplace: !!d.deleteBeforeReplace };
}

async function checked(handler: Handler, r: ResourceRequest, olds: Record<string, any> | undefined): Promise<ResourceRequest> {
    const inputs = handler.check ? await handler.check(r, olds) : r.inputs;
    await stampHashes(inputs);
    return { ...r, inputs };
}

const NO_OPTIONS: ResourceOptions = { protect: false, retainOnDelete: false, ignoreChanges: [], replaceOnChanges: [], additionalSecretOutputs: [] };

/**
 * Evaluates `program` and carries out each custom resource with the handler of its type, going
 * from `previous` (if any) as `pulumi up` does: creates, updates and replacements in the
 * engine's order, then the deletes of replaced resources (and of pending deletes `previous`
 * still holds). Resources the program no longer declares are deleted too with
 * `deleteRemoved: true` (as `pulumi up` does); otherwise destroyRemoved does that afterwards.
 */
export async function carryOut(program: () => any, opts: {
    config: Record<string, string>; secretKeys?: string[]; handlers: Handlers; previous?: Deployment; stack?: string; deleteRemoved?: boolean;
}): Promise<Deployment> {
    const previous = opts.previous?.resources ?? [];
    const before = new Map(previous.filter((r) => !r.pendingDelete).map((r) => [r.urn, r]));
    const log = new StepLog();
    const carried: Carried[] = [];
    /** Old states to delete after the registrations, with whether they are being replaced. */
    const condemned: { state: Carried; replacing: boolean }[] = previous.filter((r) => r.pendingDelete).map((state) => ({ state, replacing: true }));
    /** Old states gone already (deleted before their replacement). */
    const gone = new Set<Carried>();
    const failures: Error[] = [];
    let evaluation: Awaited<ReturnType<typeof evaluate>> | undefined;
    try {
        evaluation = await evaluate(program, {
            config: opts.config,
            secretKeys: opts.secretKeys,
            stack: opts.stack,
            // The outputs the program reads back from its own stack (components/previous.ts).
            stackReferenceOutputs: Object.fromEntries(["placements", "bases"]
                .filter((k) => opts.previous?.outputs?.[k] !== undefined).map((k) => [k, opts.previous!.outputs[k]])),
            newResource: async (args) => {
                try {
                    if (failures.length > 0) throw new Error(`${args.type}::${args.name} not carried out: an earlier resource failed`);
                    const handler = opts.handlers[args.type];
                    if (!handler) throw new Error(`no handler for resource type ${args.type} (resource ${args.name}): the executor cannot carry it out`);
                    const options = args.options ?? NO_OPTIONS;
                    const request: ResourceRequest = { type: args.type, name: args.name, urn: args.urn, inputs: unwrapSecrets(args.inputs) };
                    const state = (id: string, inputs: Record<string, any>, outputs: Record<string, any>): Carried =>
                        ({ urn: args.urn, type: args.type, name: args.name, id, inputs, outputs, dependencies: args.dependencies, parent: args.parent, options });
                    const create = async (op: "create" | "create-replacement", olds?: Record<string, any>) => {
                        const next = await checked(handler, request, olds);
                        const made = await handler.create(next);
                        const s = state(made.id, next.inputs, made.outputs);
                        log.add(op, s);
                        return s;
                    };
                    const old = before.get(args.urn);
                    let result: Carried;
                    if (!old) {
                        result = await create("create");
                    } else {
                        const next = await checked(handler, { ...request, inputs: applyIgnoreChanges(request.inputs, old.inputs, options.ignoreChanges) }, old.inputs);
                        const diff = await diffOf(handler, old, next, options);
                        if (!diff.changes) {
                            result = state(old.id, next.inputs, old.outputs);
                            log.add("same", result);
                        } else if (diff.replaces.length === 0) {
                            const updated = await handler.update!(old, next);
                            result = state(old.id, next.inputs, updated.outputs);
                            log.add("update", result);
                        } else {
                            if (options.protect && old.options?.protect) throw protectedReplace(old);
                            if (options.deleteBeforeReplace ?? diff.deleteBeforeReplace) {
                                await deleteOne(old, opts.handlers, log, "delete-replaced", new Set());
                                gone.add(old);
                                result = await create("create-replacement");
                            } else {
                                result = await create("create-replacement");
                                condemned.push({ state: { ...old, pendingDelete: true }, replacing: true });
                            }
                        }
                    }
                    carried.push(result);
                    return { id: result.id, state: result.outputs };
                } catch (e) {
                    const err = e instanceof Error ? e : new Error(String(e));
                    if (!/not carried out: an earlier resource failed/.test(err.message)) failures.push(err);
                    // Rejecting here leaves the SDK waiting forever for the resource's outputs:
                    // return an empty state instead; nothing after a failure is carried out, and
                    // carryOut reports the failures once the evaluation has settled.
                    // (A non-empty id: an empty one makes the resource's id unknown, and
                    // resolving the program's outputs would wait for it forever.)
                    return { id: `failed:${args.name}`, state: {} };
                }
            },
        });
    } catch (e) {
        if (failures.length === 0) failures.push(e instanceof Error ? e : new Error(String(e)));
    }
    const registered = new Set(carried.map((r) => r.urn));
    // What the state holds when the run stops: the old resources not reached, pending deletes.
    const stateNow = (deleted: Set<Carried>): Deployment => ({
        resources: [
            ...carried,
            ...previous.filter((r) => !r.pendingDelete && !registered.has(r.urn) && !gone.has(r) && !deleted.has(r)),
            ...condemned.filter((c) => c.replacing && !deleted.has(c.state)).map((c) => c.state),
        ],
        outputs: evaluation?.outputs,
        steps: log.steps,
    });
    if (failures.length > 0) {
        throw new CarryOutError(`carrying out the program failed: ${failures.map((f) => f.message).join(" | ")}`, stateNow(new Set()), failures);
    }
    if (opts.deleteRemoved) {
        for (const r of previous) if (!r.pendingDelete && !registered.has(r.urn)) condemned.push({ state: r, replacing: false });
    }
    const deleted = new Set<Carried>();
    try {
        await deleteInOrder(condemned, opts.handlers, log, deleted);
    } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        throw new CarryOutError(`carrying out the program failed: ${err.message}`, stateNow(deleted), [err]);
    }
    return { resources: carried, outputs: evaluation?.outputs, steps: log.steps };
}

/** Runs one delete with the stored state, unless the resource is retained or deleted with another. */
async function deleteOne(r: Carried, handlers: Handlers, log: StepLog, op: "delete" | "delete-replaced", deletedTogether: Set<string>): Promise<void> {
    if (r.options?.retainOnDelete) return log.add(op, r, "retainOnDelete");
    if (r.options?.deletedWith && deletedTogether.has(r.options.deletedWith)) return log.add(op, r, "deletedWith");
    const handler = handlers[r.type];
    if (!handler) throw new Error(`no handler for resource type ${r.type} (resource ${r.name}): the executor cannot delete it`);
    await handler.delete(r);
    log.add(op, r);
}

/**
 * Deletes `condemned`, each after everything among them that depends on it (its dependencies,
 * its parent, and the children of a component it depends on: pkg/resource/graph
 * dependency_graph.go:206-251). A protected resource that is not being replaced stops the
 * deletes before any runs (the engine refuses it in the preview `pulumi up` starts with).
 */
async function deleteInOrder(condemned: { state: Carried; replacing: boolean }[], handlers: Handlers, log: StepLog, deleted: Set<Carried>): Promise<void> {
    const refused = condemned.filter((c) => !c.replacing && c.state.options?.protect).map((c) => protectedDelete(c.state));
    if (refused.length) throw new Error(`deleting refused: ${refused.map((e) => e.message).join(" | ")}`);
    const states = condemned.map((c) => c.state);
    const replacing = new Set(condemned.filter((c) => c.replacing).map((c) => c.state));
    const urns = new Set(states.map((r) => r.urn));
    const dependents = dependentsAmong(states);
    const together = new Set(urns);
    const done = new Map<Carried, Promise<void>>();
    const failures: Error[] = [];
    const remove = (r: Carried): Promise<void> => {
        let p = done.get(r);
        if (!p) {
            p = (async () => {
                const results = await Promise.allSettled(dependents.get(r)!.map(remove));
                if (results.some((x) => x.status === "rejected")) throw new Error(`${r.name} not deleted: a resource depending on it failed to delete`);
                try {
                    await deleteOne(r, handlers, log, replacing.has(r) ? "delete-replaced" : "delete", together);
                    deleted.add(r);
                } catch (e) {
                    failures.push(e instanceof Error ? e : new Error(String(e)));
                    throw e;
                }
            })();
            done.set(r, p);
        }
        return p;
    };
    const results = await Promise.allSettled(states.map(remove));
    if (results.some((x) => x.status === "rejected")) {
        const reasons = failures.length ? failures : results.flatMap((x) => (x.status === "rejected" ? [x.reason as Error] : []));
        throw new Error(`deleting failed: ${reasons.map((f) => f.message).join(" | ")}`);
    }
}

/**
 * For each state, the states among `states` that depend on it and so are deleted before it: by
 * their dependencies or parent, and by depending on a component it is a child of, the latter only
 * towards states earlier in a topological order (as dependency_graph.go:233-245 does, so no
 * cycle can arise).
 */
function dependentsAmong(states: Carried[]): Map<Carried, Carried[]> {
    const needs = new Map(states.map((r) => [r, new Set([...r.dependencies, ...(r.parent ? [r.parent] : [])])]));
    const direct = (r: Carried, other: Carried) => other !== r && needs.get(r)!.has(other.urn);
    // Topological order over direct edges: what a state needs comes before it.
    const order: Carried[] = [];
    const placed = new Set<Carried>();
    const visit = (r: Carried, path: Set<Carried>) => {
        if (placed.has(r) || path.has(r)) return;
        path.add(r);
        for (const other of states) if (direct(r, other)) visit(other, path);
        placed.add(r);
        order.push(r);
    };
    for (const r of states) visit(r, new Set());
    const at = new Map(order.map((r, i) => [r, i]));
    const byUrn = new Map(states.map((r) => [r.urn, r]));
    const ancestors = new Map(states.map((r) => {
        const out = new Set<string>();
        for (let p = r.parent; p && !out.has(p); p = byUrn.get(p)?.parent) out.add(p);
        return [r, out];
    }));
    const dependents = new Map<Carried, Carried[]>(states.map((r) => [r, []]));
    for (const r of states) {
        for (const other of states) {
            if (other === r) continue;
            const viaComponent = at.get(other)! < at.get(r)! && [...needs.get(r)!].some((d) => !byUrn.has(d) && ancestors.get(other)!.has(d));
            if (direct(r, other) || viaComponent) dependents.get(other)!.push(r);
        }
    }
    return dependents;
}

/**
 * Deletes what `previous` had and `next` lacks (removed from the program), dependents first,
 * unless carryOut deleted it already (`deleteRemoved`); returns the removed resources. Its
 * steps are appended to `next.steps`, so one list shows the whole change in order.
 */
export async function destroyRemoved(previous: Deployment, next: Deployment, handlers: Handlers): Promise<Carried[]> {
    const kept = new Set(next.resources.map((r) => r.urn));
    const already = new Set((next.steps ?? []).filter((s) => s.op === "delete" || s.op === "delete-replaced").map((s) => s.state));
    const removed = previous.resources.filter((r) => !r.pendingDelete && !kept.has(r.urn));
    const log = new StepLog(next.steps ?? (next.steps = []));
    await deleteInOrder(removed.filter((r) => !already.has(r)).map((state) => ({ state, replacing: false })), handlers, log, new Set());
    return removed;
}

/** Deletes everything in the deployment, dependents first (`pulumi destroy`); returns the steps. */
export async function destroyAll(d: Deployment, handlers: Handlers): Promise<Step[]> {
    const log = new StepLog();
    await deleteInOrder(d.resources.map((state) => ({ state, replacing: !!state.pendingDelete })), handlers, log, new Set());
    return log.steps;
}

/** What each resource's steps amount to, by URN (same / create / update / replace / delete). */
export function planOf(steps: Step[]): Map<string, Plan> {
    const plans = new Map<string, Plan>();
    for (const s of steps) {
        const was = plans.get(s.urn);
        const now: Plan = s.op === "create-replacement" || s.op === "delete-replaced" ? "replace" : s.op;
        plans.set(s.urn, was === "replace" ? "replace" : now);
    }
    return plans;
}
