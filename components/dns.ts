import * as pulumi from "@pulumi/pulumi";

/** Where and how the fleet's records are written: one PowerDNS zone. */
export interface DnsTarget {
    /** PowerDNS API base URL. */
    apiUrl: string;
    /** PowerDNS API key (a secret). */
    apiKey: pulumi.Input<string>;
    /** The zone. */
    zone: string;
    /** TTL of the records. */
    ttl: number;
    /** Adopted records keep their TTL instead (the Record's `adoptTtl`). */
    keepAdoptedTtl: boolean;
}
