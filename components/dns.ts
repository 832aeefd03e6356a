import * as pulumi from "@pulumi/pulumi";

/** Where and how the fleet's records are written: one PowerDNS zone. */
/** The TTL the old orchestrator gives the records it writes (raw SQL into PowerDNS's tables). */
export const ORCHESTRATOR_RECORD_TTL = 1800;

/**
 * How long a resolver may still hold a customer's names after they change: an adopted
 * customer's records keep the orchestrator's TTL (keepAdoptedTtl), which can be longer than the
 * stack's. A move's old host forwards this long.
 */
export function namesTtl(dns: Pick<DnsTarget, "ttl" | "keepAdoptedTtl">, adopted: boolean): number {
    return adopted && dns.keepAdoptedTtl ? Math.max(dns.ttl, ORCHESTRATOR_RECORD_TTL) : dns.ttl;
}

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
