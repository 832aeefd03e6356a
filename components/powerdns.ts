/**
 * The project's PowerDNS record resource: a Pulumi dynamic provider over the PowerDNS
 * Authoritative HTTP API, modelled on Terraform's `powerdns_record` (zone, name, type, ttl,
 * records) so a bridged provider could replace it without touching the components.
 *
 * How Pulumi runs it, and why the code looks the way it does:
 * - The provider object below is serialized (closure serialization) into the state of every
 *   Record and runs later in Pulumi's Node dynamic provider host, one process for all
 *   resources of a `pulumi up`. Everything it uses is either a function of this file (captured
 *   by value as source text) or a global of Node (fetch, setTimeout). It captures no imported
 *   module and no live object.
 * - Pulumi calls create/update/delete for many records at once. The sqlite backend answers
 *   parallel PATCHes with HTTP 500 "database is locked", and the MySQL backends have had
 *   deadlocks under concurrent PATCHes. So every write goes through one queue per
 *   (API URL, zone, key) per process, which coalesces what arrives together into ONE PATCH
 *   (one backend transaction, all or nothing) and settles each caller with its own result.
 *   The queue lives on `globalThis`: state captured in the serialized closure would be copied
 *   by value, not shared.
 * - A PATCH is atomic: when PowerDNS rejects one rrset (422) the whole batch is refused, so the
 *   batch is split in halves until each rejected rrset carries its own error and every other
 *   one is written. 5xx and connection failures are retried with backoff (writes are REPLACE /
 *   DELETE, so repeating them is safe).
 * - Adoption: `pulumi import` and the `import` option cannot work for dynamic resources (no
 *   stored state means no serialized provider to run: pulumi/pulumi#16175, #3550). Create never
 *   silently takes over an rrset that already exists (Terraform's REPLACE upsert did): it refuses,
 *   unless the record is declared with `adoptId: "<zone>/<name>/<type>"` naming it AND the
 *   existing records match the declared ones as a set (like the `import` option, which refuses
 *   a resource that differs from its declaration). A different ttl is rewritten.
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
}

// ---------------------------------------------------------------------------------------------
// Pure helpers (exported for unit tests; function declarations so the serialized closure
// captures them by value).

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

export function sameRecords(type: string, a: string[], b: string[]): boolean {
    const x = canonicalRecords(type, a);
    const y = canonicalRecords(type, b);
    return x.length === y.length && x.every((v, i) => v === y[i]);
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
    return { inputs, failures };
}

/** What `pulumi up` must do to go from stored state `olds` to checked inputs `news`. */
export function diffState(olds: { [k: string]: any }, news: { [k: string]: any }): pulumi.dynamic.DiffResult {
    const replaces = ["zone", "name", "type"].filter((k) => olds[k] !== news[k]);
    const changedInPlace = ["apiUrl", "apiKey", "ttl"].filter((k) => olds[k] !== news[k]);
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

// ---------------------------------------------------------------------------------------------
// The HTTP client and the per-zone write queue (run inside the provider).

type PdnsErrorKind = "auth" | "zone" | "rejected" | "unreachable" | "server";
interface PdnsError extends Error { pdnsKind: PdnsErrorKind; reason: string }

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
function effectiveKey(s: { apiKey: string }): string {
    const override = process.env.OSM_POWERDNS_API_KEY;
    return override && override.trim() !== "" ? override.trim() : s.apiKey;
}

/** One line, the record's name first, the API key never. */
function recordError(s: { name: string; type: string; apiKey: string }, e: unknown): Error {
    let reason = (e as PdnsError)?.reason ?? (e instanceof Error ? e.message : String(e));
    reason = reason.replace(/\s+/g, " ").trim();
    // Messages are built without the key; this is a safety net (too short a key would
    // mangle ordinary words, and is no secret worth the name anyway).
    for (const key of [s.apiKey, effectiveKey(s)]) {
        if (key && key.length >= 6) reason = reason.split(key).join("[redacted]");
    }
    return new Error(`PowerDNS record ${s.name} ${s.type}: ${reason}`);
}

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

async function pdnsRequest(s: { apiUrl: string; apiKey: string; zone: string }, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
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
    const url = `${s.apiUrl}/api/v1/servers/localhost${path}`;
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
        if (res.status >= 200 && res.status < 300) return { status: res.status, json };
        if (res.status === 401 || res.status === 403) {
            throw pdnsError("auth", `PowerDNS rejected the API key (${s.apiUrl}): check the powerdnsApiKey secret` +
                (process.env.OSM_POWERDNS_API_KEY ? " and OSM_POWERDNS_API_KEY" : "; after a key rotation, run with the new key in OSM_POWERDNS_API_KEY"));
        }
        if (res.status === 404) {
            throw pdnsError("zone", `zone ${s.zone} does not exist on the PowerDNS server at ${s.apiUrl} (${detail || "404 Not Found"}): create the zone there or fix powerdns.zone`);
        }
        if (res.status >= 500) {
            last = `PowerDNS at ${s.apiUrl} failed with HTTP ${res.status} ${attempts} times: ${detail}`;
            if (attempt < attempts) { await sleepMs(Math.min(2000, 40 * 2 ** attempt) * (0.5 + Math.random())); continue; }
            throw pdnsError("server", last);
        }
        throw pdnsError("rejected", `PowerDNS refused it (HTTP ${res.status}): ${detail}`);
    }
    throw pdnsError("server", last);
}

interface LiveRrset { ttl: number; records: string[] }

/**
 * The rrsets of a zone answer, keyed `name/type`, with their enabled contents. An rrset whose
 * records are all disabled by hand exists (with no records: drift, not absence); one that
 * holds only comments does not.
 */
function rrsetsOf(json: any): Map<string, LiveRrset> {
    const out = new Map<string, LiveRrset>();
    for (const r of Array.isArray(json?.rrsets) ? json.rrsets : []) {
        const all = Array.isArray(r.records) ? r.records : [];
        if (all.length === 0) continue;
        const records = all.filter((x: any) => !x.disabled).map((x: any) => String(x.content));
        out.set(`${canonicalName(r.name)}/${String(r.type).toUpperCase()}`, { ttl: r.ttl, records: canonicalRecords(r.type, records) });
    }
    return out;
}

/** Every rrset of the zone (one request). */
async function readZone(s: { apiUrl: string; apiKey: string; zone: string }): Promise<Map<string, LiveRrset>> {
    return rrsetsOf((await pdnsRequest(s, "GET", `/zones/${encodeURIComponent(s.zone)}`)).json);
}

/**
 * Reads one rrset (`?rrset_name=&rrset_type=`); undefined only when PowerDNS says it is absent.
 * PowerDNS 4.7's rrset filter leaves out records disabled by hand, so an empty answer is
 * confirmed against the zone before it counts as absence.
 */
async function readRrset(s: RrsetState): Promise<LiveRrset | undefined> {
    const q = `?rrset_name=${encodeURIComponent(s.name)}&rrset_type=${encodeURIComponent(s.type)}`;
    const { json } = await pdnsRequest(s, "GET", `/zones/${encodeURIComponent(s.zone)}${q}`);
    return rrsetsOf(json).get(`${s.name}/${s.type}`) ?? (await readZone(s)).get(`${s.name}/${s.type}`);
}

interface WriteOp {
    kind: "create" | "update" | "delete";
    state: RrsetState;
    resolve: () => void;
    reject: (e: Error) => void;
}
interface ZoneQueue { pending: WriteOp[]; running: boolean }

/** How long the first write waits for others to join its PATCH, and the most one PATCH carries. */
const BATCH_WINDOW_MS = 4;
const MAX_BATCH = 1000;

function zoneQueues(): Map<string, ZoneQueue> {
    const g = globalThis as any;
    if (!g.__osmHostingPowerDnsQueues) g.__osmHostingPowerDnsQueues = new Map<string, ZoneQueue>();
    return g.__osmHostingPowerDnsQueues;
}

/** Queues a write for its zone; resolves when PowerDNS has applied it. */
function enqueueWrite(kind: WriteOp["kind"], state: RrsetState): Promise<void> {
    const queues = zoneQueues();
    const key = JSON.stringify([state.apiUrl, state.zone, effectiveKey(state)]);
    let q = queues.get(key);
    if (!q) { q = { pending: [], running: false }; queues.set(key, q); }
    const queue = q;
    return new Promise<void>((resolve, reject) => {
        queue.pending.push({ kind, state, resolve, reject });
        if (!queue.running) {
            queue.running = true;
            setTimeout(() => { void drainQueue(queue, key, queues); }, BATCH_WINDOW_MS);
        }
    });
}

async function drainQueue(q: ZoneQueue, key: string, queues: Map<string, ZoneQueue>): Promise<void> {
    while (q.pending.length > 0) {
        // One op per rrset per PATCH: two changes of one rrset in one PATCH would be ambiguous.
        const batch: WriteOp[] = [];
        const later: WriteOp[] = [];
        const seen = new Set<string>();
        for (const op of q.pending) {
            const id = `${op.state.name}/${op.state.type}`;
            if (seen.has(id) || batch.length >= MAX_BATCH) later.push(op);
            else { seen.add(id); batch.push(op); }
        }
        q.pending = later;
        try {
            await runBatch(batch);
        } catch (e) {
            for (const op of batch) op.reject(recordError(op.state, e));
        }
    }
    q.running = false;
    if (queues.get(key) === q) queues.delete(key);
}

function rrsetChange(op: WriteOp): any {
    const s = op.state;
    if (op.kind === "delete") return { name: s.name, type: s.type, changetype: "DELETE" };
    return { name: s.name, type: s.type, ttl: s.ttl, changetype: "REPLACE", records: s.records.map((content) => ({ content, disabled: false })) };
}

async function runBatch(batch: WriteOp[]): Promise<void> {
    const conn = batch[0].state;
    let writes = batch;
    const creates = batch.filter((op) => op.kind === "create");
    if (creates.length > 0) {
        // Create must not silently take over an rrset that already exists. The whole batch
        // shares one read of the zone (the rrset filter would miss an rrset disabled by hand).
        let live: Map<string, LiveRrset>;
        try {
            live = await readZone(conn);
        } catch (e) {
            for (const op of creates) op.reject(recordError(op.state, e));
            writes = batch.filter((op) => op.kind !== "create");
            live = new Map();
        }
        writes = writes.filter((op) => {
            if (op.kind !== "create") return true;
            const s = op.state;
            const id = rrsetId(s.zone, s.name, s.type);
            const current = live.get(`${s.name}/${s.type}`);
            if (!current) return true;
            const matches = sameRecords(s.type, current.records, s.records);
            if (s.adoptId !== id) {
                op.reject(recordError(s, `it already exists in PowerDNS ([${current.records.join(", ")}]) and is not managed by this stack: ` +
                    `to take it over, declare it with adoptId "${id}"${matches ? "" : ` and its current records (declared: [${s.records.join(", ")}])`}; ` +
                    `otherwise remove the existing rrset or choose another name`));
                return false;
            }
            if (!matches) {
                op.reject(recordError(s, `adoption refused: the existing rrset holds [${current.records.join(", ")}], the program declares [${s.records.join(", ")}]; ` +
                    `adoption takes over only a matching rrset: declare its current records (change them in a later update) or fix the rrset in PowerDNS first`));
                return false;
            }
            return true; // adopted: the REPLACE below writes the declared ttl
        });
    }
    await patchSplitting(writes);
}

/** PATCHes all ops at once; on a rejection splits the batch so each op gets its own result. */
async function patchSplitting(ops: WriteOp[]): Promise<void> {
    if (ops.length === 0) return;
    const conn = ops[0].state;
    try {
        await pdnsRequest(conn, "PATCH", `/zones/${encodeURIComponent(conn.zone)}`, { rrsets: ops.map(rrsetChange) });
        for (const op of ops) op.resolve();
    } catch (e) {
        const err = e as PdnsError;
        if (err.pdnsKind === "rejected" && ops.length > 1) {
            const half = Math.ceil(ops.length / 2);
            await patchSplitting(ops.slice(0, half));
            await patchSplitting(ops.slice(half));
            return;
        }
        for (const op of ops) {
            // A record in a zone that no longer exists is gone: deleting it is done.
            if (op.kind === "delete" && err.pdnsKind === "zone") op.resolve();
            else op.reject(recordError(op.state, e));
        }
    }
}

/** The stored state from (checked) inputs or outputs. */
function toState(p: { [k: string]: any }): RrsetState {
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
    return s;
}

const provider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: any, news: any) {
        return checkInputs(news);
    },

    async diff(_id: string, olds: any, news: any) {
        return diffState(toState(olds), checkInputs(news).inputs);
    },

    async create(inputs: any) {
        const s = toState(inputs);
        await enqueueWrite("create", s);
        return { id: rrsetId(s.zone, s.name, s.type), outs: s };
    },

    /** `pulumi refresh`: reports the live ttl and records; gone only when PowerDNS says so. */
    async read(id: string, props: any) {
        if (!props || typeof props.apiUrl !== "string" || typeof props.apiKey !== "string") {
            throw new Error(`PowerDNS record ${id}: cannot read without stored state. Dynamic resources cannot be imported ` +
                `(pulumi/pulumi#16175): declare the record with adoptId "${id}" instead`);
        }
        const s = toState(props);
        let live: LiveRrset | undefined;
        try {
            live = await readRrset(s);
        } catch (e) {
            throw recordError(s, e);
        }
        if (!live) return { id: "", props: {} };
        return { id: rrsetId(s.zone, s.name, s.type), props: { ...s, ttl: live.ttl, records: live.records } };
    },

    async update(_id: string, _olds: any, news: any) {
        const s = toState(news);
        await enqueueWrite("update", s);
        return { outs: s };
    },

    async delete(_id: string, props: any) {
        await enqueueWrite("delete", toState(props));
    },
};
