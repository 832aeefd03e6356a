"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.enqueueWrite = enqueueWrite;
/**
 * The per-zone write queue. Pulumi calls create/update/delete for many records at once; the
 * sqlite backend answers parallel PATCHes with HTTP 500 "database is locked" and the MySQL
 * backends have had deadlocks under concurrent PATCHes. So every write goes through one queue
 * per (API URL, zone, key) per process, which coalesces what arrives together into ONE PATCH
 * (one backend transaction, all or nothing) and settles each caller with its own result.
 * The queues live on `globalThis`: state captured in the serialized closure would be copied
 * by value, not shared.
 *
 * A PATCH is atomic: when PowerDNS rejects one rrset (422) the whole batch is refused, so the
 * batch is split in halves until each rejected rrset carries its own error and every other one
 * is written. Create never silently takes over an rrset that already exists: it refuses unless
 * the record is declared with the matching `adoptId` and the existing records match.
 */
const client_1 = require("./client");
const names_1 = require("./names");
/** How long the first write waits for others to join its PATCH, and the most one PATCH carries. */
const BATCH_WINDOW_MS = 4;
const MAX_BATCH = 1000;
function zoneQueues() {
    const g = globalThis;
    if (!g.__osmHostingPowerDnsQueues)
        g.__osmHostingPowerDnsQueues = new Map();
    return g.__osmHostingPowerDnsQueues;
}
/** Queues a write for its zone; resolves, with the state as written, when PowerDNS has applied it. */
function enqueueWrite(kind, state) {
    const queues = zoneQueues();
    const key = JSON.stringify([state.apiUrl, state.zone, (0, client_1.effectiveKey)(state)]);
    let q = queues.get(key);
    if (!q) {
        q = { pending: [], running: false };
        queues.set(key, q);
    }
    const queue = q;
    return new Promise((resolve, reject) => {
        const op = { kind, state, resolve: () => resolve(op.state), reject };
        queue.pending.push(op);
        if (!queue.running) {
            queue.running = true;
            setTimeout(() => { void drainQueue(queue, key, queues); }, BATCH_WINDOW_MS);
        }
    });
}
async function drainQueue(q, key, queues) {
    while (q.pending.length > 0) {
        // One op per rrset per PATCH: two changes of one rrset in one PATCH would be ambiguous.
        const batch = [];
        const later = [];
        const seen = new Set();
        for (const op of q.pending) {
            const id = `${op.state.name}/${op.state.type}`;
            if (seen.has(id) || batch.length >= MAX_BATCH)
                later.push(op);
            else {
                seen.add(id);
                batch.push(op);
            }
        }
        q.pending = later;
        try {
            await runBatch(batch);
        }
        catch (e) {
            for (const op of batch)
                op.reject((0, client_1.recordError)(op.state, e));
        }
    }
    q.running = false;
    if (queues.get(key) === q)
        queues.delete(key);
}
function rrsetChange(op) {
    const s = op.state;
    if (op.kind === "delete")
        return { name: s.name, type: s.type, changetype: "DELETE" };
    return { name: s.name, type: s.type, ttl: s.ttl, changetype: "REPLACE", records: s.records.map((content) => ({ content, disabled: false })) };
}
async function runBatch(batch) {
    const conn = batch[0].state;
    let writes = batch;
    const creates = batch.filter((op) => op.kind === "create");
    if (creates.length > 0) {
        // Create must not silently take over an rrset that already exists. The whole batch
        // shares one read of the zone (the rrset filter would miss an rrset disabled by hand).
        let live;
        try {
            live = await (0, client_1.readZone)(conn);
        }
        catch (e) {
            for (const op of creates)
                op.reject((0, client_1.recordError)(op.state, e));
            writes = batch.filter((op) => op.kind !== "create");
            live = new Map();
        }
        writes = writes.filter((op) => {
            if (op.kind !== "create")
                return true;
            const s = op.state;
            const id = (0, names_1.rrsetId)(s.zone, s.name, s.type);
            const current = live.get(`${s.name}/${s.type}`);
            if (!current)
                return true;
            const matches = (0, names_1.sameRecords)(s.type, current.records, s.records);
            if (s.adoptId !== id) {
                op.reject((0, client_1.recordError)(s, `it already exists in PowerDNS ([${current.records.join(", ")}]) and is not managed by this stack: ` +
                    `to take it over, declare it with adoptId "${id}"${matches ? "" : ` and its current records (declared: [${s.records.join(", ")}])`}; ` +
                    `otherwise remove the existing rrset or choose another name`));
                return false;
            }
            if (!matches) {
                op.reject((0, client_1.recordError)(s, `adoption refused: the existing rrset holds [${current.records.join(", ")}] (ttl ${current.ttl}), the program declares [${s.records.join(", ")}]; ` +
                    `adoption takes over only a matching rrset: declare its current records (change them in a later update) or fix the rrset in PowerDNS first ` +
                    `(pdnsutil replace-rrset ${s.zone} ${relativeName(s)} ${s.type} ${current.ttl} ${s.records.map((r) => JSON.stringify(r)).join(" ")})`));
                return false;
            }
            // Adopted: the REPLACE below rewrites it through the API (rows written by SQL become
            // the API's own), with the TTL it had while the declaration keeps it.
            op.state = { ...s, adoptedTtl: current.ttl, ...(s.adoptTtl ? { ttl: current.ttl } : {}) };
            return true;
        });
    }
    await patchSplitting(writes);
}
/** The name as pdnsutil takes it: relative to the zone, `@` for the apex. */
function relativeName(s) {
    return s.name === s.zone ? "@" : s.name.slice(0, -(s.zone.length + 1));
}
/** PATCHes all ops at once; on a rejection splits the batch so each op gets its own result. */
async function patchSplitting(ops) {
    if (ops.length === 0)
        return;
    const conn = ops[0].state;
    try {
        await (0, client_1.pdnsRequest)(conn, "PATCH", `/zones/${encodeURIComponent(conn.zone)}`, { rrsets: ops.map(rrsetChange) });
        for (const op of ops)
            op.resolve();
    }
    catch (e) {
        const err = e;
        if (err.pdnsKind === "rejected" && ops.length > 1) {
            const half = Math.ceil(ops.length / 2);
            await patchSplitting(ops.slice(0, half));
            await patchSplitting(ops.slice(half));
            return;
        }
        for (const op of ops) {
            // A record in a zone PowerDNS says it does not have is gone: deleting it is done.
            // (A server without the API, or another server, is an error: client.ts.)
            if (op.kind === "delete" && err.pdnsKind === "zone")
                op.resolve();
            else
                op.reject((0, client_1.recordError)(op.state, e));
        }
    }
}
