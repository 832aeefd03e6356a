/**
 * The normal forms PowerDNS stores and compares: names (lower case, trailing dot), record ids
 * (`<zone>/<name>/<type>`) and record contents (a set). Pure functions, used both by the
 * program (check, diff) and by the provider at run time; function declarations so that
 * closure serialization carries them by value.
 */

/** Lower case with exactly one trailing dot: how PowerDNS stores names. */
export function canonicalName(name: string): string {
    const n = String(name).trim().toLowerCase();
    return n.endsWith(".") ? n : `${n}.`;
}

/** The record's id and the form an `adoptId` takes: `<zone>/<name>/<type>`, normalised. */
export function rrsetId(zone: string, name: string, type: string): string {
    return `${canonicalName(zone)}/${canonicalName(name)}/${String(type).trim().toUpperCase()}`;
}

/** Parses `<zone>/<name>/<type>` (any case, trailing dots optional) into its normal form. */
export function parseRrsetId(id: string): { zone: string; name: string; type: string } | undefined {
    const parts = String(id).split("/");
    if (parts.length !== 3 || parts.some((p) => p.trim() === "")) return undefined;
    return { zone: canonicalName(parts[0]), name: canonicalName(parts[1]), type: parts[2].trim().toUpperCase() };
}

/** Record contents as a set: trimmed, domain-name targets lower case, sorted, no duplicates. */
export function canonicalRecords(type: string, records: string[]): string[] {
    const nameLike = ["CNAME", "NS", "PTR", "DNAME", "ALIAS", "MX", "SRV"].includes(String(type).toUpperCase());
    const set = new Set(records.map((r) => {
        const t = String(r).trim();
        return nameLike ? t.toLowerCase() : t;
    }));
    return [...set].sort();
}

/** Whether two record lists hold the same contents as sets (see canonicalRecords). */
export function sameRecords(type: string, a: string[], b: string[]): boolean {
    const x = canonicalRecords(type, a);
    const y = canonicalRecords(type, b);
    return x.length === y.length && x.every((v, i) => v === y[i]);
}
