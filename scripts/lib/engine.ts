/**
 * Evaluates a Pulumi program in-process under `pulumi.runtime.setMocks`, recording every
 * registered resource with its parent, dependencies and resource options (the mock API hides
 * them, so the monitor's registerResource is wrapped to read them off the request).
 *
 * `newResource` decides what a custom resource "does": the default echoes its inputs (a
 * plain mock); the lab's executor passes one that carries the resource out for real.
 */
import * as pulumi from "@pulumi/pulumi";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (SDK internals, a test double or a computed path)
const settings = require("@pulumi/pulumi/runtime/settings");

/** The SDK's marker for a secret value inside serialized properties. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/**
 * The resource options the engine acts on, as the SDK's RegisterResourceRequest carries them
 * (@pulumi/pulumi runtime/resource.js: setProtect, setDeletebeforereplace, ...). Protect,
 * retainOnDelete and deletedWith left unset are inherited from the parent, as the engine's
 * resource monitor does (pulumi pkg/resource/deploy/source_eval.go, inheritFromParent).
 */
export interface ResourceOptions {
    protect: boolean;
    retainOnDelete: boolean;
    /** Only when the program set it (true or false); otherwise the provider's diff decides. */
    deleteBeforeReplace?: boolean;
    /** Property paths whose changes are ignored (old values kept). */
    ignoreChanges: string[];
    /** Property paths whose changes force a replacement. */
    replaceOnChanges: string[];
    /** URN of the resource whose deletion takes this one with it. */
    deletedWith?: string;
    additionalSecretOutputs: string[];
}

export interface Registered {
    urn: string;
    type: string;
    name: string;
    custom: boolean;
    /** Inputs as the engine received them: secrets still wrapped in the SDK's signature. */
    inputs: any;
    parent: string | undefined;
    /** URNs this resource depends on (dependsOn plus the resources its inputs came from). */
    dependencies: string[];
    id: string | undefined;
    /** Outputs returned for it. */
    state: Record<string, any>;
    options: ResourceOptions;
}

export interface NewResourceArgs {
    type: string;
    name: string;
    urn: string;
    parent: string | undefined;
    dependencies: string[];
    custom: boolean;
    /** Inputs with the secret wrappers still in place. */
    inputs: any;
    options: ResourceOptions;
}

export interface EvaluateOptions {
    /** Stack config, full keys (`osm-hosting:domain`); objects are JSON-encoded like Pulumi does. */
    config: Record<string, string>;
    /** Config keys that are secret. */
    secretKeys?: string[];
    project?: string;
    stack?: string;
    preview?: boolean;
    /** Pulumi organization (self-managed backends call theirs `organization`). */
    organization?: string;
    /** Outputs a `pulumi:pulumi:StackReference` returns (the stack's previous outputs). */
    stackReferenceOutputs?: Record<string, unknown>;
    /** What a custom resource does; default: its outputs are its inputs. */
    newResource?: (args: NewResourceArgs) => Promise<{ id: string; state: Record<string, any> }>;
}

export interface Evaluation<T> {
    resources: Registered[];
    /** The program's return value with every Output resolved (secrets unwrapped). */
    outputs: T;
    /** The program's return value as returned (Outputs intact, so secretness can be checked). */
    raw: unknown;
}

/** True when `v` is a value wrapped in the SDK's secret signature. */
export function isWrappedSecret(v: unknown): v is { value: unknown } {
    return typeof v === "object" && v !== null && (v as any)[SECRET_SIG] === SECRET_VALUE;
}

/**
 * Rebuilds plain data (arrays, plain and null-prototype objects) with `onSecret` applied to each
 * secret wrapper. Objects that are not plain data stay intact: the SDK's FileArchive/FileAsset
 * carry their `path` as a Promise, which a handler must still see.
 */
export function mapSecrets(v: any, onSecret: (wrapped: { value: unknown }) => any): any {
    if (isWrappedSecret(v)) return onSecret(v);
    if (Array.isArray(v)) return v.map((x) => mapSecrets(x, onSecret));
    if (v && typeof v === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(v))) {
        const out: Record<string, any> = {};
        for (const [k, x] of Object.entries(v)) out[k] = mapSecrets(x, onSecret);
        return out;
    }
    return v;
}

/** Removes every secret wrapper, recursively (a secret inside a secret too). */
export function unwrapSecrets(v: any): any {
    return mapSecrets(v, (s) => unwrapSecrets(s.value));
}

/** Resolves every Output inside `v` (objects and arrays walked). */
export async function resolveDeep(v: any): Promise<any> {
    if (pulumi.Output.isInstance(v)) {
        // The SDK's internal promise rejects when the Output does (apply would never call back).
        return resolveDeep(await (v as any).promise());
    }
    if (v instanceof Promise) return resolveDeep(await v);
    if (Array.isArray(v)) return Promise.all(v.map(resolveDeep));
    if (v && typeof v === "object" && !(v instanceof pulumi.Resource)) {
        const out: Record<string, any> = {};
        for (const [k, x] of Object.entries(v)) out[k] = await resolveDeep(x);
        return out;
    }
    return v;
}

/** Runs `program` under mocks and returns what it registered and returned. */
export async function evaluate<T>(program: () => T | Promise<T>, opts: EvaluateOptions): Promise<Evaluation<any>> {
    const project = opts.project ?? "osm-hosting";
    const stack = opts.stack ?? "test";
    const resources: Registered[] = [];
    const requests = new Map<string, { urn: string; parent: string | undefined; dependencies: string[]; options: ResourceOptions }>();
    const optionsByUrn = new Map<string, ResourceOptions>();

    const mocks: pulumi.runtime.Mocks = {
        newResource: async (args) => {
            if (args.type === "pulumi:pulumi:StackReference") {
                // A read, not a registration: it is not recorded.
                return { id: args.name, state: { name: args.name, outputs: opts.stackReferenceOutputs ?? {}, secretOutputNames: [] } };
            }
            const meta = requests.get(`${args.type}::${args.name}`)!;
            let result: { id: string | undefined; state: Record<string, any> };
            if (opts.newResource && args.custom) {
                result = await opts.newResource({ type: args.type, name: args.name, urn: meta.urn, parent: meta.parent, dependencies: meta.dependencies, custom: !!args.custom, inputs: args.inputs, options: meta.options });
            } else {
                result = { id: args.custom ? `${args.name}-id` : undefined, state: args.inputs };
            }
            resources.push({ urn: meta.urn, type: args.type, name: args.name, custom: !!args.custom, inputs: args.inputs, parent: meta.parent, dependencies: meta.dependencies, id: result.id, state: result.state, options: meta.options });
            return { id: result.id, state: result.state };
        },
        call: () => ({}),
    };

    pulumi.runtime.setAllConfig(opts.config, opts.secretKeys ?? []);
    await pulumi.runtime.setMocks(mocks, project, stack, opts.preview ?? false, opts.organization ?? "organization");
    const monitor = settings.getMonitor();
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, cb: any) => {
        const parent = req.getParent() || undefined;
        const deps = new Set<string>(req.getDependenciesList());
        const propDeps = req.getPropertydependenciesMap();
        propDeps.forEach((v: any) => v.getUrnsList().forEach((u: string) => deps.add(u)));
        const urn = monitor.newUrn(req.getParent(), req.getType(), req.getName());
        const options = requestOptions(req, parent ? optionsByUrn.get(parent) : undefined);
        optionsByUrn.set(urn, options);
        requests.set(`${req.getType()}::${req.getName()}`, { urn, parent, dependencies: [...deps], options });
        return register(req, cb);
    };

    const raw = await program();
    const outputs = await resolveDeep(raw);
    await settings.waitForRPCs();
    return { resources, outputs, raw };
}

/** The options of one RegisterResourceRequest (resource_pb.js getters), unset ones from the parent. */
function requestOptions(req: any, parent: ResourceOptions | undefined): ResourceOptions {
    const options: ResourceOptions = {
        protect: req.hasProtect() ? req.getProtect() : parent?.protect ?? false,
        retainOnDelete: req.hasRetainondelete() ? req.getRetainondelete() : parent?.retainOnDelete ?? false,
        ignoreChanges: req.getIgnorechangesList(),
        replaceOnChanges: req.getReplaceonchangesList(),
        additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    };
    if (req.getDeletebeforereplacedefined()) options.deleteBeforeReplace = req.getDeletebeforereplace();
    const deletedWith = req.getDeletedwith() || parent?.deletedWith;
    if (deletedWith) options.deletedWith = deletedWith;
    return options;
}

/** Config map from plain values: objects are JSON-encoded, keys get the project prefix. */
export function configMap(values: Record<string, unknown>, project = "osm-hosting"): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(values)) {
        out[k.includes(":") ? k : `${project}:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    }
    return out;
}
