/**
 * The rules for a record's declared inputs and its stored state: check (validate and
 * normalise), diff (what `pulumi up` must do) and the state every other method works from.
 * Pure functions with no runtime import, run both by the program and by the provider.
 */
import type * as pulumi from "@pulumi/pulumi";
import { canonicalName, canonicalRecords, parseRrsetId, rrsetId, sameRecords } from "./names";

/** Stored state of a record: everything read/update/delete need (delete only gets the state). */
export interface RrsetState {
    apiUrl: string;
    apiKey: string;
    zone: string;
    name: string;
    type: string;
    ttl: number;
    records: string[];
    adoptId?: string;
    /** With adoptId: keep the adopted rrset's TTL (`ttl` then applies only when create finds none). */
    adoptTtl?: boolean;
    /** The TTL the rrset had when create adopted it (output only): what `adoptTtl` keeps. */
    adoptedTtl?: number;
}

/** The SDK's placeholder for a value not known yet (preview). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/**
 * Validates and normalises declared inputs. Returns the normal form and one failure per bad
 * field; values not known yet (preview) are passed through. Never quotes the API key.
 */
export function checkInputs(news: { [k: string]: any }): { inputs: { [k: string]: any }; failures: { property: string; reason: string }[] } {
    const failures: { property: string; reason: string }[] = [];
    const inputs: { [k: string]: any } = { ...news };
    const known = (k: string) => news[k] !== UNKNOWN && news[k] !== undefined && news[k] !== null;
    const str = (k: string) => typeof news[k] === "string" && news[k].trim() !== "";
    const where = () => (typeof news.name === "string" ? ` (record ${news.name})` : "");

    if (news.apiUrl !== UNKNOWN) {
        if (!str("apiUrl") || !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(news.apiUrl)) {
            failures.push({ property: "apiUrl", reason: `apiUrl must be the PowerDNS API base URL like http://127.0.0.1:8081, got ${JSON.stringify(news.apiUrl)}${where()}` });
        } else if (/\/api(\/v1)?\/*$/.test(news.apiUrl.trim())) {
            failures.push({ property: "apiUrl", reason: `apiUrl ${news.apiUrl} must not include /api or /api/v1 (the provider adds it): use ${news.apiUrl.trim().replace(/\/api(\/v1)?\/*$/, "")}` });
        } else {
            inputs.apiUrl = news.apiUrl.trim().replace(/\/+$/, "");
        }
    }
    if (news.apiKey !== UNKNOWN && !str("apiKey")) {
        failures.push({ property: "apiKey", reason: `apiKey is missing or empty${where()}: set it with \`pulumi config set --secret powerdnsApiKey\`` });
    }
    for (const k of ["zone", "name"]) {
        if (!known(k)) { if (news[k] !== UNKNOWN) failures.push({ property: k, reason: `${k} is missing${where()}` }); continue; }
        if (!str(k) || !/^[a-z0-9_*.-]+\.?$/i.test(news[k].trim()) || /\.\./.test(news[k])) {
            failures.push({ property: k, reason: `${k} ${JSON.stringify(news[k])} is not a DNS name (letters, digits, '-', '_', dots)` });
        } else {
            inputs[k] = canonicalName(news[k]);
        }
    }
    if (!failures.some((f) => f.property === "zone" || f.property === "name") && news.zone !== UNKNOWN && news.name !== UNKNOWN &&
        inputs.name !== inputs.zone && !inputs.name.endsWith(`.${inputs.zone}`)) {
        failures.push({ property: "name", reason: `record ${inputs.name} is not inside zone ${inputs.zone}: use a name ending in .${inputs.zone}` });
    }
    if (news.type !== UNKNOWN) {
        if (!str("type") || !/^[A-Za-z][A-Za-z0-9]*$/.test(news.type.trim())) {
            failures.push({ property: "type", reason: `type ${JSON.stringify(news.type)} is not a record type like A, AAAA, CNAME, TXT${where()}` });
        } else {
            inputs.type = news.type.trim().toUpperCase();
        }
    }
    if (news.ttl !== UNKNOWN) {
        if (typeof news.ttl !== "number" || !Number.isInteger(news.ttl) || news.ttl < 1 || news.ttl > 2147483647) {
            failures.push({ property: "ttl", reason: `ttl must be a whole number of seconds >= 1, got ${JSON.stringify(news.ttl)}${where()}` });
        }
    }
    if (news.records !== UNKNOWN) {
        const recs = news.records;
        if (!Array.isArray(recs) || recs.length === 0) {
            failures.push({ property: "records", reason: `records must be a non-empty list of record contents${where()} (to remove a record, remove the resource)` });
        } else if (!recs.includes(UNKNOWN)) {
            if (recs.some((r: unknown) => typeof r !== "string" || r.trim() === "")) {
                failures.push({ property: "records", reason: `records must all be non-empty strings${where()}` });
            } else if (typeof inputs.type === "string") {
                inputs.records = canonicalRecords(inputs.type, recs);
            }
        }
    }
    if (known("adoptId") && news.adoptId !== "") {
        const parsed = parseRrsetId(news.adoptId);
        const own = [inputs.zone, inputs.name, inputs.type].every((v) => typeof v === "string" && v !== UNKNOWN)
            ? rrsetId(inputs.zone, inputs.name, inputs.type) : undefined;
        if (!parsed) {
            failures.push({ property: "adoptId", reason: `adoptId ${JSON.stringify(news.adoptId)} must have the form <zone>/<name>/<type>${where()}` });
        } else if (own && rrsetId(parsed.zone, parsed.name, parsed.type) !== own) {
            failures.push({ property: "adoptId", reason: `adoptId ${news.adoptId} does not name this record (${own})` });
        } else {
            inputs.adoptId = rrsetId(parsed.zone, parsed.name, parsed.type);
        }
    } else {
        delete inputs.adoptId;
    }
    if (news.adoptTtl !== undefined && news.adoptTtl !== UNKNOWN) {
        if (typeof news.adoptTtl !== "boolean") {
            failures.push({ property: "adoptTtl", reason: `adoptTtl must be true or false, got ${JSON.stringify(news.adoptTtl)}${where()}` });
        } else if (news.adoptTtl && typeof inputs.adoptId !== "string" && news.adoptId !== UNKNOWN) {
            failures.push({ property: "adoptTtl", reason: `adoptTtl keeps the TTL of an adopted rrset, so it needs adoptId${where()}: set adoptId or drop adoptTtl` });
        }
    }
    if (inputs.adoptTtl !== true) delete inputs.adoptTtl;
    // Output only: create records it.
    delete inputs.adoptedTtl;
    return { inputs, failures };
}

/**
 * The TTL the rrset must have: the one it had when adopted while the declaration keeps it
 * (`adoptTtl`), the declared `ttl` otherwise (also for an adopted rrset once the declaration
 * stops keeping it).
 */
export function wantedTtl(olds: { [k: string]: any }, news: { [k: string]: any }): unknown {
    return news.adoptTtl === true && typeof olds.adoptedTtl === "number" ? olds.adoptedTtl : news.ttl;
}

/** What `pulumi up` must do to go from stored state `olds` to checked inputs `news`. */
export function diffState(olds: { [k: string]: any }, news: { [k: string]: any }): pulumi.dynamic.DiffResult {
    const replaces = ["zone", "name", "type"].filter((k) => olds[k] !== news[k]);
    const changedInPlace = ["apiUrl", "apiKey"].filter((k) => olds[k] !== news[k]);
    if (olds.ttl !== wantedTtl(olds, news)) changedInPlace.push("ttl");
    const oldRecords = Array.isArray(olds.records) ? olds.records : [];
    const newRecords = Array.isArray(news.records) ? news.records : [];
    if (news.records === UNKNOWN || newRecords.includes(UNKNOWN) || !sameRecords(String(news.type), oldRecords, newRecords)) {
        changedInPlace.push("records");
    }
    // A CNAME cannot sit beside another type at the same name: the old one must go first.
    const deleteBeforeReplace = replaces.length > 0 && olds.name === news.name && (olds.type === "CNAME" || news.type === "CNAME");
    return {
        changes: replaces.length + changedInPlace.length > 0,
        replaces,
        stables: ["zone", "name", "type"].filter((k) => !replaces.includes(k)),
        deleteBeforeReplace,
    };
}

/** The stored state from (checked) inputs or outputs. */
export function toState(p: { [k: string]: any }): RrsetState {
    const type = String(p.type).trim().toUpperCase();
    const s: RrsetState = {
        apiUrl: String(p.apiUrl).trim().replace(/\/+$/, ""),
        apiKey: String(p.apiKey),
        zone: canonicalName(p.zone),
        name: canonicalName(p.name),
        type,
        ttl: Number(p.ttl),
        records: canonicalRecords(type, Array.isArray(p.records) ? p.records : []),
    };
    if (typeof p.adoptId === "string" && p.adoptId !== "") {
        const parsed = parseRrsetId(p.adoptId);
        s.adoptId = parsed ? rrsetId(parsed.zone, parsed.name, parsed.type) : p.adoptId;
    }
    if (p.adoptTtl === true) s.adoptTtl = true;
    if (typeof p.adoptedTtl === "number") s.adoptedTtl = p.adoptedTtl;
    return s;
}
