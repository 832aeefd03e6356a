/**
 * The PowerDNS Authoritative HTTP API as the provider uses it: requests with retries and
 * backoff, at most MAX_IN_FLIGHT requests per API URL, errors that say what to fix (and never
 * quote the key), and rrset reads. Runs inside the provider: Node globals only (fetch,
 * AbortSignal, setTimeout); state shared across calls lives on `globalThis`, because values
 * captured by the serialized closure are copies.
 */
import { canonicalName, canonicalRecords } from "./names";
import type { RrsetState } from "./inputs";

/**
 * What went wrong. `zone` is only ever PowerDNS's own word that the zone is absent (delete and
 * read take it as "gone"); `notapi` is an answer that is not PowerDNS's API at all.
 */
export type PdnsErrorKind = "auth" | "zone" | "rejected" | "unreachable" | "server" | "notapi";
export interface PdnsError extends Error { pdnsKind: PdnsErrorKind; reason: string }

function pdnsError(kind: PdnsErrorKind, reason: string): PdnsError {
    const e = new Error(reason) as PdnsError;
    e.pdnsKind = kind;
    e.reason = reason;
    return e;
}

/**
 * The key requests are sent with. The stored key normally; `OSM_POWERDNS_API_KEY` in the
 * environment of `pulumi` overrides it, because deletes run with the key stored at create:
 * after a key rotation, records removed from the program could not be deleted otherwise.
 */
export function effectiveKey(s: { apiKey: string }): string {
    const override = process.env.OSM_POWERDNS_API_KEY;
    return override && override.trim() !== "" ? override.trim() : s.apiKey;
}

/** One line, the record's name first, the API key never. */
export function recordError(s: { name: string; type: string; apiKey: string }, e: unknown): Error {
    let reason = (e as PdnsError)?.reason ?? (e instanceof Error ? e.message : String(e));
    reason = reason.replace(/\s+/g, " ").trim();
    // Messages are built without the key; this is a safety net (too short a key would
    // mangle ordinary words, and is no secret worth the name anyway).
    for (const key of [s.apiKey, effectiveKey(s)]) {
        if (key && key.length >= 6) reason = reason.split(key).join("[redacted]");
    }
    return new Error(`PowerDNS record ${s.name} ${s.type}: ${reason}`);
}

/** The API's root under a base URL (the provider only uses the server `localhost`). */
const SERVER_PATH = "/api/v1/servers/localhost";

const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** At most this many requests in flight per API URL (a refresh reads every record at once). */
const MAX_IN_FLIGHT = 16;

/** Waits for a request slot of this API URL; returns its release. Shared on globalThis like the queues. */
async function requestSlot(apiUrl: string): Promise<() => void> {
    const g = globalThis as any;
    if (!g.__osmHostingPowerDnsSlots) g.__osmHostingPowerDnsSlots = new Map<string, { busy: number; waiting: (() => void)[] }>();
    const slots: Map<string, { busy: number; waiting: (() => void)[] }> = g.__osmHostingPowerDnsSlots;
    let slot = slots.get(apiUrl);
    if (!slot) { slot = { busy: 0, waiting: [] }; slots.set(apiUrl, slot); }
    const mine = slot;
    if (mine.busy >= MAX_IN_FLIGHT) await new Promise<void>((r) => mine.waiting.push(r));
    else mine.busy++;
    // A released slot passes straight to the next waiter, so `busy` stays counted.
    return () => {
        const next = mine.waiting.shift();
        if (next) next();
        else mine.busy--;
    };
}

export async function pdnsRequest(s: { apiUrl: string; apiKey: string; zone: string }, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const release = await requestSlot(s.apiUrl);
    try {
        return await pdnsRequestNow(s, method, path, body);
    } finally {
        release();
    }
}

/**
 * One API call. Retries connection failures and 5xx (sqlite's "database is locked") with
 * exponential backoff; maps 401/404/4xx to errors that say what to fix.
 */
async function pdnsRequestNow(s: { apiUrl: string; apiKey: string; zone: string }, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const url = `${s.apiUrl}${SERVER_PATH}${path}`;
    const attempts = 8;
    let last = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
        let res: Response;
        try {
            res = await fetch(url, {
                method,
                headers: { "X-API-Key": effectiveKey(s), Accept: "application/json", ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
                body: body === undefined ? undefined : JSON.stringify(body),
                signal: AbortSignal.timeout(20000),
            });
        } catch (e: any) {
            // Connection errors carry a code (ECONNREFUSED, ...): worth retrying. Others (a
            // timeout, a URL fetch refuses such as a "bad port") are not.
            const code: string | undefined = e?.cause?.code;
            const why = code ?? (e?.name === "TimeoutError" ? "no answer in 20 s" : e?.cause?.message ?? e?.message ?? "error");
            last = `the PowerDNS API at ${s.apiUrl} does not answer (${why}): check powerdns.apiUrl and that the server runs`;
            if (attempt < attempts && code) { await sleepMs(Math.min(2000, 40 * 2 ** attempt) * (0.5 + Math.random())); continue; }
            throw pdnsError("unreachable", last);
        }
        const text = await res.text();
        let json: any;
        try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
        const detail = (typeof json?.error === "string" ? json.error : text).replace(/\s+/g, " ").trim().slice(0, 300);
        if (res.status >= 200 && res.status < 300) {
            // A catch-all server answers 200 to anything: a write PowerDNS did not confirm is not done.
            if (method === "PATCH" && res.status !== 204) {
                throw pdnsError("notapi", `${s.apiUrl}: not a PowerDNS API (PATCH answered HTTP ${res.status}${reached(res)}; PowerDNS answers 204): check powerdns.apiUrl`);
            }
            if (method === "GET" && (json === null || typeof json !== "object")) {
                throw pdnsError("notapi", `${s.apiUrl}: not a PowerDNS API (HTTP ${res.status} without JSON${reached(res)}): check powerdns.apiUrl`);
            }
            return { status: res.status, json };
        }
        if (res.status === 401 || res.status === 403) {
            if (!isPowerDnsAuth(res)) {
                throw pdnsError("notapi", `${s.apiUrl}: not a PowerDNS API (HTTP ${res.status} without PowerDNS's X-API-Key challenge${reached(res)}): check powerdns.apiUrl`);
            }
            throw pdnsError("auth", `PowerDNS rejected the API key (${s.apiUrl}): check the powerdnsApiKey secret` +
                (process.env.OSM_POWERDNS_API_KEY ? " and OSM_POWERDNS_API_KEY" : "; after a key rotation, run with the new key in OSM_POWERDNS_API_KEY"));
        }
        if (res.status === 404) throw await notFound(s, res);
        if (res.status >= 500) {
            last = `PowerDNS at ${s.apiUrl} failed with HTTP ${res.status} ${attempts} times: ${detail}`;
            if (attempt < attempts) { await sleepMs(Math.min(2000, 40 * 2 ** attempt) * (0.5 + Math.random())); continue; }
            throw pdnsError("server", last);
        }
        if (typeof json?.error !== "string") {
            throw pdnsError("notapi", `${s.apiUrl}: not a PowerDNS API (HTTP ${res.status} without a PowerDNS error body${reached(res)}): check powerdns.apiUrl`);
        }
        throw pdnsError("rejected", `PowerDNS refused it (HTTP ${res.status}): ${detail}`);
    }
    throw pdnsError("server", last);
}

/**
 * A 404: PowerDNS 4.7 answers an unknown zone with 404 `{"error": "Not Found"}`, exactly as it
 * answers every API path when its API is off (api=no), a wrong path prefix or a wrong server
 * id; and it sends no `Server` header. So a 404 counts as "the zone is absent" only once
 * PowerDNS itself confirms it: its zone list, filtered by name, comes back empty. Anything else
 * is an error that says what answered and what to fix.
 */
async function notFound(s: { apiUrl: string; apiKey: string; zone: string }, res: Response): Promise<PdnsError> {
    const confirm = await probe(`${s.apiUrl}${SERVER_PATH}/zones?zone=${encodeURIComponent(s.zone)}`, effectiveKey(s));
    if (confirm?.status === 200 && Array.isArray(confirm.json)) {
        if (!confirm.json.some((z: any) => typeof z?.name === "string" && canonicalName(z.name) === canonicalName(s.zone))) {
            return pdnsError("zone", `zone ${s.zone} does not exist on the PowerDNS server at ${s.apiUrl} (PowerDNS lists no such zone): create the zone there or fix powerdns.zone`);
        }
        return pdnsError("server", `PowerDNS at ${s.apiUrl} answered 404 for zone ${s.zone} but lists it: retry; if it persists, check the server's log`);
    }
    return pdnsError("notapi", await notApiReason(s.apiUrl, res));
}

/**
 * Why the server at `apiUrl` is not PowerDNS's API, from probes that carry no API key: the
 * origin's API (answers 401 with PowerDNS's X-API-Key challenge) when the URL has a path, then
 * the webserver's own page (PowerDNS's webserver runs without its API when api=no).
 */
async function notApiReason(apiUrl: string, first: Response): Promise<string> {
    let origin = apiUrl;
    try { origin = new URL(apiUrl).origin; } catch { /* checked at input; keep the text */ }
    if (origin !== apiUrl) {
        const there = await probe(`${origin}${SERVER_PATH}`);
        if (there && (there.status === 200 || isPowerDnsAuth(there.res))) {
            return `${apiUrl}: no PowerDNS API under this path (HTTP 404 on ${SERVER_PATH}), but ${origin} has one: set powerdns.apiUrl to ${origin}`;
        }
    }
    const page = await probe(`${origin}/`);
    const title = page ? /<title>([^<]{0,120})<\/title>/i.exec(page.text)?.[1]?.trim() : undefined;
    if (page && /PowerDNS/.test(title ?? "")) {
        return `${apiUrl}: PowerDNS's webserver answers ("${title}") but not its HTTP API (HTTP 404 on ${SERVER_PATH}): ` +
            "set api=yes and api-key in pdns.conf and restart PowerDNS, then check powerdns.apiUrl";
    }
    return `${apiUrl}: not a PowerDNS API (404 without a PowerDNS error body${reached(first)}${title ? `, its page "${title}"` : ""}): ` +
        "check powerdns.apiUrl and that api=yes in pdns.conf";
}

/** What answered, for an error text: its `Server` header (PowerDNS sends none). */
function reached(res: Response): string {
    const server = res.headers.get("server");
    return server ? `; Server: ${server.replace(/[^\x20-\x7e]/g, "").slice(0, 80)}` : "";
}

/** PowerDNS's answer to a missing or wrong key carries `WWW-Authenticate: X-API-Key realm="PowerDNS"`. */
function isPowerDnsAuth(res: Response): boolean {
    return /X-API-Key\s+realm="PowerDNS"/i.test(res.headers.get("www-authenticate") ?? "");
}

/** One GET for a diagnosis: no retries, a short deadline, undefined when nothing answers. */
async function probe(url: string, key?: string): Promise<{ status: number; text: string; json: any; res: Response } | undefined> {
    try {
        const res = await fetch(url, { headers: { Accept: "application/json", ...(key ? { "X-API-Key": key } : {}) }, signal: AbortSignal.timeout(5000) });
        const text = (await res.text()).slice(0, 65536);
        let json: any;
        try { json = JSON.parse(text); } catch { json = undefined; }
        return { status: res.status, text, json, res };
    } catch {
        return undefined;
    }
}

export interface LiveRrset { ttl: number; records: string[] }

/**
 * The rrsets of a zone answer, keyed `name/type`, with their enabled contents. An rrset whose
 * records are all disabled by hand exists (with no records: drift, not absence); one that
 * holds only comments does not.
 */
function rrsetsOf(s: { apiUrl: string; zone: string }, json: any): Map<string, LiveRrset> {
    // An answer without the zone's name and rrsets is not PowerDNS's: it must not read as "absent".
    if (!Array.isArray(json?.rrsets) || typeof json?.name !== "string" || canonicalName(json.name) !== canonicalName(s.zone)) {
        throw pdnsError("notapi", `${s.apiUrl}: not a PowerDNS API (its answer for zone ${s.zone} holds no rrsets of that zone): check powerdns.apiUrl`);
    }
    const out = new Map<string, LiveRrset>();
    for (const r of json.rrsets) {
        const all = Array.isArray(r.records) ? r.records : [];
        if (all.length === 0) continue;
        const records = all.filter((x: any) => !x.disabled).map((x: any) => String(x.content));
        out.set(`${canonicalName(r.name)}/${String(r.type).toUpperCase()}`, { ttl: r.ttl, records: canonicalRecords(r.type, records) });
    }
    return out;
}

/** Every rrset of the zone (one request). */
export async function readZone(s: { apiUrl: string; apiKey: string; zone: string }): Promise<Map<string, LiveRrset>> {
    return rrsetsOf(s, (await pdnsRequest(s, "GET", `/zones/${encodeURIComponent(s.zone)}`)).json);
}

/**
 * Reads one rrset (`?rrset_name=&rrset_type=`); undefined only when PowerDNS says it is absent.
 * PowerDNS 4.7's rrset filter leaves out records disabled by hand, so an empty answer is
 * confirmed against the zone before it counts as absence.
 */
export async function readRrset(s: RrsetState): Promise<LiveRrset | undefined> {
    const q = `?rrset_name=${encodeURIComponent(s.name)}&rrset_type=${encodeURIComponent(s.type)}`;
    const { json } = await pdnsRequest(s, "GET", `/zones/${encodeURIComponent(s.zone)}${q}`);
    return rrsetsOf(s, json).get(`${s.name}/${s.type}`) ?? (await readZone(s)).get(`${s.name}/${s.type}`);
}
