/**
 * Lab executor: carries out what a Pulumi program declares, without the Pulumi CLI.
 *
 * The program is evaluated under mocks (scripts/lib/engine.ts); the mock's `newResource` runs
 * the handler of each custom resource's type for real. The SDK registers a resource only after
 * everything it depends on has returned, so handlers run in the engine's order and
 * parallelism. Removals come from comparing two deployments and are carried out with the
 * stored state, dependents first, as the engine would.
 */
import { evaluate, unwrapSecrets } from "../scripts/lib/engine";

// The dynamic provider host deserializes providers with this package (a dependency of
// @pulumi/pulumi); using the same one runs the provider exactly as Pulumi does.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const requireFromString: (code: string) => any = require("require-from-string");

export interface Handler {
    /**
     * Carry the resource out; inputs have secrets unwrapped (assets and archives stay the SDK's
     * objects, their `path` a Promise). Returns its id and outputs.
     */
    create(r: { type: string; name: string; urn: string; inputs: Record<string, any> }): Promise<{ id: string; outputs: Record<string, any> }>;
    /** Remove it, given what create stored (as the engine would: stored outputs/inputs). */
    delete(r: Carried): Promise<void>;
    /**
     * Optional: what a change of inputs does (dynamic resources: the provider's diff, then
     * update or replace). Without it a change re-runs create (command semantics).
     */
    update?(previous: Carried, next: { type: string; name: string; urn: string; inputs: Record<string, any> }): Promise<{ id: string; outputs: Record<string, any> }>;
}
export interface Carried { urn: string; type: string; name: string; id: string; inputs: Record<string, any>; outputs: Record<string, any>; dependencies: string[]; parent?: string }
export interface Deployment { resources: Carried[]; outputs: any }
/** Keyed by type token. */
export type Handlers = Record<string, Handler>;

export const DYNAMIC_TYPE = "pulumi-nodejs:dynamic:Resource";

/** A failed carry-out: what did get carried out is in `deployment`, so a test can tear it down. */
export class CarryOutError extends Error {
    constructor(message: string, public readonly deployment: Deployment, public readonly failures: Error[]) {
        super(message);
    }
}

/** Deserialized providers, one per serialized text: exactly the dynamic provider host's cache. */
const providerCache = new Map<string, any>();

/** Deserializes `__provider` the way @pulumi/pulumi/cmd/dynamic-provider does. */
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
 * `pulumi-nodejs:dynamic:Resource`: runs the serialized provider the way the host does:
 * check(olds, news) then create(checked) / diff + update or replace / delete(id, outputs).
 * Outputs carry `__provider` like the engine's state, so delete uses the provider of create.
 */
export function dynamicHandler(): Handler {
    const checked = async (provider: any, name: string, olds: Record<string, any>, news: Record<string, any>) => {
        if (!provider.check) return news;
        const result = await provider.check(olds, news);
        if (result.failures && result.failures.length) throw checkFailed(name, result.failures);
        return { ...(result.inputs ?? news), __provider: news.__provider };
    };
    const create = async (r: { name: string; inputs: Record<string, any> }) => {
        const provider = deserializeProvider(r.inputs.__provider);
        const inputs = await checked(provider, r.name, {}, r.inputs);
        const result = await provider.create(inputs);
        return { id: String(result.id), outputs: { ...(result.outs ?? {}), __provider: inputs.__provider } };
    };
    const del = async (r: Carried) => {
        const provider = deserializeProvider(r.outputs.__provider ?? r.inputs.__provider);
        if (provider.delete) await provider.delete(r.id, r.outputs);
    };
    return {
        create,
        delete: del,
        async update(previous, next) {
            const provider = deserializeProvider(next.inputs.__provider ?? previous.outputs.__provider);
            const news = await checked(provider, next.name, previous.inputs, next.inputs);
            const diff = provider.diff ? await provider.diff(previous.id, previous.outputs, news) : { changes: true };
            if (diff.changes === false) return { id: previous.id, outputs: previous.outputs };
            if (diff.replaces && diff.replaces.length > 0) {
                if (diff.deleteBeforeReplace) {
                    await del(previous);
                    return create(next);
                }
                const created = await create(next);
                await del(previous);
                return created;
            }
            const result = provider.update ? ((await provider.update(previous.id, previous.outputs, news)) ?? {}) : {};
            return { id: previous.id, outputs: { ...(result.outs ?? news), __provider: news.__provider } };
        },
    };
}

/** A comparable form of inputs: promises (an archive's path) awaited, keys sorted, class named. */
async function comparable(v: any): Promise<any> {
    if (v instanceof Promise) return comparable(await v);
    if (Array.isArray(v)) return Promise.all(v.map(comparable));
    if (v && typeof v === "object") {
        const proto = Object.getPrototypeOf(v);
        const out: Record<string, any> = proto === Object.prototype || proto === null ? {} : { "<class>": proto?.constructor?.name };
        for (const k of Object.keys(v).sort()) out[k] = await comparable(v[k]);
        return out;
    }
    return v;
}

async function sameValue(a: unknown, b: unknown): Promise<boolean> {
    return JSON.stringify(await comparable(a)) === JSON.stringify(await comparable(b));
}

/**
 * Evaluates `program` and carries out each custom resource with the handler of its type.
 * Resources of `previous` with identical inputs are kept as they are (the engine's "same");
 * changed ones go to the handler's `update` (or `create` again). Removals are not done here:
 * see destroyRemoved.
 */
export async function carryOut(program: () => any, opts: {
    config: Record<string, string>; secretKeys?: string[]; handlers: Handlers; previous?: Deployment; stack?: string;
}): Promise<Deployment> {
    const before = new Map((opts.previous?.resources ?? []).map((r) => [r.urn, r]));
    const carried: Carried[] = [];
    const failures: Error[] = [];
    let evaluation: Awaited<ReturnType<typeof evaluate>> | undefined;
    try {
        evaluation = await evaluate(program, {
            config: opts.config,
            secretKeys: opts.secretKeys,
            stack: opts.stack,
            stackReferenceOutputs: opts.previous?.outputs?.placements !== undefined ? { placements: opts.previous.outputs.placements } : {},
            newResource: async (args) => {
                try {
                    if (failures.length > 0) throw new Error(`${args.type}::${args.name} not carried out: an earlier resource failed`);
                    const handler = opts.handlers[args.type];
                    if (!handler) throw new Error(`no handler for resource type ${args.type} (resource ${args.name}): the executor cannot carry it out`);
                    const inputs = unwrapSecrets(args.inputs);
                    const request = { type: args.type, name: args.name, urn: args.urn, inputs };
                    const old = before.get(args.urn);
                    let result: { id: string; outputs: Record<string, any> };
                    if (old && old.type === args.type && await sameValue(old.inputs, inputs)) {
                        result = { id: old.id, outputs: old.outputs };
                    } else if (old && old.type === args.type) {
                        result = handler.update ? await handler.update(old, request) : await handler.create(request);
                    } else {
                        result = await handler.create(request);
                    }
                    carried.push({ urn: args.urn, type: args.type, name: args.name, id: result.id, inputs, outputs: result.outputs, dependencies: args.dependencies, parent: args.parent });
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
    const deployment: Deployment = { resources: carried, outputs: evaluation?.outputs };
    if (failures.length > 0) {
        throw new CarryOutError(`carrying out the program failed: ${failures.map((f) => f.message).join(" | ")}`, deployment, failures);
    }
    return deployment;
}

/** Deletes `toDelete` with their handlers, each after everything among them that depends on it. */
async function deleteInOrder(toDelete: Carried[], handlers: Handlers): Promise<void> {
    const urns = new Set(toDelete.map((r) => r.urn));
    const dependents = new Map<string, Carried[]>(toDelete.map((r) => [r.urn, []]));
    for (const r of toDelete) {
        for (const d of new Set([...r.dependencies, ...(r.parent ? [r.parent] : [])])) {
            if (urns.has(d) && d !== r.urn) dependents.get(d)!.push(r);
        }
    }
    const done = new Map<string, Promise<void>>();
    const failures: Error[] = [];
    const remove = (r: Carried): Promise<void> => {
        let p = done.get(r.urn);
        if (!p) {
            p = (async () => {
                const results = await Promise.allSettled(dependents.get(r.urn)!.map(remove));
                if (results.some((x) => x.status === "rejected")) throw new Error(`${r.name} not deleted: a resource depending on it failed to delete`);
                const handler = handlers[r.type];
                if (!handler) throw new Error(`no handler for resource type ${r.type} (resource ${r.name}): the executor cannot delete it`);
                try {
                    await handler.delete(r);
                } catch (e) {
                    failures.push(e instanceof Error ? e : new Error(String(e)));
                    throw e;
                }
            })();
            done.set(r.urn, p);
        }
        return p;
    };
    const results = await Promise.allSettled(toDelete.map(remove));
    if (results.some((x) => x.status === "rejected")) {
        const reasons = failures.length ? failures : results.flatMap((x) => (x.status === "rejected" ? [x.reason as Error] : []));
        throw new Error(`deleting failed: ${reasons.map((f) => f.message).join(" | ")}`);
    }
}

/** Deletes what `previous` had and `next` lacks, dependents first; returns what it deleted. */
export async function destroyRemoved(previous: Deployment, next: Deployment, handlers: Handlers): Promise<Carried[]> {
    const kept = new Set(next.resources.map((r) => r.urn));
    const removed = previous.resources.filter((r) => !kept.has(r.urn));
    await deleteInOrder(removed, handlers);
    return removed;
}

/** Deletes everything in the deployment, dependents first. */
export async function destroyAll(d: Deployment, handlers: Handlers): Promise<void> {
    await deleteInOrder(d.resources, handlers);
}
