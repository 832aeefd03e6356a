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

/** Types whose content is a domain name (lower case, as PowerDNS prints it). */
const NAME_TYPES = ["CNAME", "NS", "PTR", "DNAME", "ALIAS"];
/** Types whose content ends in a domain name after numeric fields (MX 10 mx., SRV 0 5 5060 sip.). */
const TARGET_TYPES: { [type: string]: number } = { MX: 1, SRV: 3 };

/**
 * One record's content in one canonical form, so a declared value and the one a refresh reads
 * compare equal: addresses without leading zeros and IPv6 compressed (AAAA `2001:DB8:0:0::1`
 * is `2001:db8::1`, as PowerDNS prints it), domain names in lower case, fields separated by
 * one space. A content that does not parse is left as written (PowerDNS will say what is wrong).
 */
export function canonicalContent(type: string, content: string): string {
    const t = String(type).trim().toUpperCase();
    const c = String(content).trim();
    if (t === "A") return canonicalIpv4(c) ?? c;
    if (t === "AAAA") return canonicalIpv6(c) ?? c;
    if (NAME_TYPES.includes(t)) return c.toLowerCase();
    if (t in TARGET_TYPES) {
        const fields = c.split(/\s+/);
        if (fields.length !== TARGET_TYPES[t] + 1 || !fields.slice(0, -1).every((f) => /^\d+$/.test(f))) return c;
        return [...fields.slice(0, -1).map((f) => String(Number(f))), fields[fields.length - 1].toLowerCase()].join(" ");
    }
    return c;
}

/** Dotted quad without leading zeros, or undefined when not an IPv4 address. */
function canonicalIpv4(c: string): string | undefined {
    const parts = c.split(".");
    if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
    return parts.map(Number).join(".");
}

/** The eight 16-bit groups of an IPv6 address (with an optional dotted-quad tail), or undefined. */
function ipv6Groups(c: string): number[] | undefined {
    let text = c.toLowerCase();
    const tail: number[] = [];
    const quad = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (quad) {
        const v4 = canonicalIpv4(quad[2]);
        if (!v4) return undefined;
        const b = v4.split(".").map(Number);
        tail.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
        text = quad[1].endsWith("::") ? quad[1] : quad[1].slice(0, -1);
    }
    const halves = text.split("::");
    if (halves.length > 2) return undefined;
    const parse = (h: string) => (h === "" ? [] : h.split(":"));
    const head = parse(halves[0]);
    const rest = halves.length === 2 ? parse(halves[1]) : [];
    if (![...head, ...rest].every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
    const given = head.length + rest.length + tail.length;
    if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
    const zeros = new Array(8 - given).fill(0);
    return [...head.map((g) => parseInt(g, 16)), ...zeros, ...rest.map((g) => parseInt(g, 16)), ...tail];
}

/**
 * An IPv6 address in the RFC 5952 form PowerDNS accepts: lower case, no leading zeros, the
 * first longest run of two or more zero groups as `::`, all groups in hex. PowerDNS prints
 * IPv4-mapped and -compatible addresses with a dotted quad (inet_ntop) but refuses that
 * spelling as input, so a dotted tail is read and written back in hex.
 */
function canonicalIpv6(c: string): string | undefined {
    const w = ipv6Groups(c);
    if (!w) return undefined;
    let best = { base: -1, len: 0 };
    for (let i = 0; i < 8;) {
        if (w[i] !== 0) { i++; continue; }
        let j = i;
        while (j < 8 && w[j] === 0) j++;
        if (j - i > best.len) best = { base: i, len: j - i };
        i = j;
    }
    if (best.len < 2) best = { base: -1, len: 0 };
    let out = "";
    for (let i = 0; i < 8; i++) {
        if (i >= best.base && i < best.base + best.len && best.base >= 0) {
            if (i === best.base) out += ":";
            continue;
        }
        if (i > 0) out += ":";
        out += w[i].toString(16);
    }
    if (best.base >= 0 && best.base + best.len === 8) out += ":";
    return out;
}

/** Record contents as a set: each in its canonical form (canonicalContent), sorted, no duplicates. */
export function canonicalRecords(type: string, records: string[]): string[] {
    return [...new Set(records.map((r) => canonicalContent(type, r)))].sort();
}

/** Whether two record lists hold the same contents as sets (see canonicalRecords). */
export function sameRecords(type: string, a: string[], b: string[]): boolean {
    const x = canonicalRecords(type, a);
    const y = canonicalRecords(type, b);
    return x.length === y.length && x.every((v, i) => v === y[i]);
}
