// CONTRACT STUB - being implemented (issue 3). The exported names and Args are fixed:
// components use exactly this interface.
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
    /** Record contents (a set: order does not matter). */
    records: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * Adopt an rrset that already exists, named `<zone>/<name>/<type>`; create takes it over only
     * when its content matches what is declared (dynamic resources cannot be `pulumi import`ed).
     */
    adoptId?: pulumi.Input<string>;
}

/** One PowerDNS rrset managed through the Authoritative HTTP API. */
export class Record extends pulumi.dynamic.Resource {
    public readonly zone!: pulumi.Output<string>;
    public readonly name!: pulumi.Output<string>;
    public readonly type!: pulumi.Output<string>;
    public readonly ttl!: pulumi.Output<number>;
    public readonly records!: pulumi.Output<string[]>;

    constructor(name: string, args: RecordArgs, opts?: pulumi.CustomResourceOptions) {
        super(provider, name, { ...args, apiKey: pulumi.secret(args.apiKey) }, { ...opts, additionalSecretOutputs: ["apiKey"] });
    }
}

const provider: pulumi.dynamic.ResourceProvider = {
    async create() { throw new Error("PowerDNS provider not implemented yet"); },
};
