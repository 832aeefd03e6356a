/**
 * The project's PowerDNS record resource: a Pulumi dynamic resource over the PowerDNS
 * Authoritative HTTP API, modelled on Terraform's `powerdns_record` (zone, name, type, ttl,
 * records) so a bridged provider could replace it without touching the components. The work is
 * done by `provider` (provider.ts), which the SDK serializes into each Record's state.
 */
import * as pulumi from "@pulumi/pulumi";
import { provider } from "./provider";

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
    /** Record contents (a set: order does not matter). */
    records: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * Adopt an rrset that already exists, named `<zone>/<name>/<type>`; create takes it over only
     * when its content matches what is declared (dynamic resources cannot be `pulumi import`ed).
     */
    adoptId?: pulumi.Input<string>;
}

/** One PowerDNS rrset managed through the Authoritative HTTP API. Its id is `<zone>/<name>/<type>`. */
export class Record extends pulumi.dynamic.Resource {
    declare public readonly zone: pulumi.Output<string>;
    declare public readonly name: pulumi.Output<string>;
    declare public readonly type: pulumi.Output<string>;
    declare public readonly ttl: pulumi.Output<number>;
    declare public readonly records: pulumi.Output<string[]>;

    constructor(name: string, args: RecordArgs, opts?: pulumi.CustomResourceOptions) {
        super(provider, name, { ...args, adoptId: args.adoptId, apiKey: pulumi.secret(args.apiKey) },
            { ...opts, additionalSecretOutputs: ["apiKey"] });
    }
}
