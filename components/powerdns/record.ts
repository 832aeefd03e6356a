/**
 * The project's PowerDNS record resource: a Pulumi dynamic resource over the PowerDNS
 * Authoritative HTTP API, modelled on Terraform's `powerdns_record` (zone, name, type, ttl,
 * records) so a bridged provider could replace it without touching the components.
 *
 * The work is done by the provider (provider.ts), which Pulumi's Node dynamic provider host
 * runs from the `__provider` text stored in each record's state. The SDK's own
 * `pulumi.dynamic.Resource` would store the provider's whole serialized closure there (27 KB
 * per record, twice: inputs and outputs). A Record instead stores `PROVIDER_LOADER`, a few
 * hundred bytes that require the provider by package name; the package is the provider's
 * compiled code, committed in `runtime/` (npm run build:provider) and linked into
 * node_modules by npm ci.
 */
import * as pulumi from "@pulumi/pulumi";

/** Arguments of a PowerDNS rrset, modelled on Terraform's `powerdns_record`. */
export interface RecordArgs {
    /** PowerDNS API base URL, e.g. `http://127.0.0.1:8081` (no `/api/v1`). */
    apiUrl: pulumi.Input<string>;
    /** PowerDNS API key. Must be a Pulumi secret. */
    apiKey: pulumi.Input<string>;
    /** Zone the record lives in, e.g. `opensmartmonitor.devtank.co.uk` (trailing dot optional). */
    zone: pulumi.Input<string>;
    /** Fully qualified record name (trailing dot optional; normalised to lower case + dot). */
    name: pulumi.Input<string>;
    /** Record type: A, AAAA, CNAME, TXT, ... */
    type: pulumi.Input<string>;
    /** Time to live in seconds. */
    ttl: pulumi.Input<number>;
    /** Record contents (a set: order does not matter; compared in each type's canonical form). */
    records: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * Adopt an rrset that already exists, named `<zone>/<name>/<type>`; create takes it over only
     * when its content matches what is declared (dynamic resources cannot be `pulumi import`ed).
     */
    adoptId?: pulumi.Input<string>;
    /**
     * With `adoptId`: keep the TTL the adopted rrset has (e.g. 1800 of rows the old orchestrator
     * wrote); `ttl` then applies only when there is no rrset to adopt. Default false: `ttl` is written.
     */
    adoptTtl?: pulumi.Input<boolean>;
}

/** The package holding the provider's compiled code (components/powerdns/runtime). */
export const PROVIDER_PACKAGE = "@osm-hosting/powerdns-provider";

/** The type token of every Node dynamic resource: the engine sends it to the dynamic provider host. */
const DYNAMIC_RESOURCE_TYPE = "pulumi-nodejs:dynamic:Resource";

/**
 * The `__provider` every Record stores: the host evaluates it with require-from-string and
 * calls `handler()`. Module resolution starts at the host's working directory (the project's,
 * or inside its node_modules), so the package resolves by name; when it is missing, Node's
 * error names the package (npm ci links it). Short, because every record stores it twice, and
 * it never changes with the provider's code, so a new provider version rewrites no state.
 */
export const PROVIDER_LOADER = `exports.handler = () => require(${JSON.stringify(PROVIDER_PACKAGE)}).provider;\n`;

/** One PowerDNS rrset managed through the Authoritative HTTP API. Its id is `<zone>/<name>/<type>`. */
export class Record extends pulumi.CustomResource {
    declare public readonly zone: pulumi.Output<string>;
    declare public readonly name: pulumi.Output<string>;
    declare public readonly type: pulumi.Output<string>;
    /** The TTL PowerDNS has: the declared one, or the adopted rrset's while `adoptTtl` keeps it. */
    declare public readonly ttl: pulumi.Output<number>;
    declare public readonly records: pulumi.Output<string[]>;

    constructor(name: string, args: RecordArgs, opts?: pulumi.CustomResourceOptions) {
        super(DYNAMIC_RESOURCE_TYPE, name,
            { ...args, adoptId: args.adoptId, adoptTtl: args.adoptTtl, apiKey: pulumi.secret(args.apiKey), __provider: PROVIDER_LOADER },
            { ...opts, additionalSecretOutputs: ["apiKey"] });
    }
}
