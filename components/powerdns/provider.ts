/**
 * The dynamic provider of `Record`: check/diff/create/read/update/delete over the PowerDNS API.
 *
 * How Pulumi runs it, and why the code looks the way it does:
 * - It runs in Pulumi's Node dynamic provider host (one process for all resources of a
 *   `pulumi up`), loaded by the `__provider` text each Record stores: record.ts's
 *   PROVIDER_LOADER requires it by package name. The package is this module and the ones it
 *   imports, compiled into runtime/ (`npm run build:provider`; a unit test fails when runtime/
 *   is stale). It uses Node only (fetch, setTimeout): no @pulumi/pulumi at run time.
 * - Records created before the loader carry the whole provider serialized by value (test
 *   fixture powerdns-provider-7b21364). Delete runs with the provider stored in the state, so
 *   those deletes run the old text, which is self-contained. Diff runs with the new provider: a
 *   record whose stored provider differs is updated in place, and update writes to PowerDNS
 *   only when the rrset itself changes, so the first `up` swaps the stored provider for the
 *   loader without touching DNS.
 * - Adoption: `pulumi import` and the `import` option cannot work for dynamic resources (no
 *   stored state means no serialized provider to run: pulumi/pulumi#16175, #3550). Create never
 *   silently takes over an rrset that already exists (Terraform's REPLACE upsert did): it
 *   refuses, unless the record is declared with `adoptId: "<zone>/<name>/<type>"` naming it AND
 *   the existing records match the declared ones as a set (like the `import` option, which
 *   refuses a resource that differs from its declaration). The TTL it had is stored
 *   (`adoptedTtl`); it is kept while the declaration says `adoptTtl`, else the declared ttl is
 *   written.
 * - Absence: delete succeeds and read reports "gone" only when PowerDNS itself says the rrset
 *   or its zone is absent (client.ts: PowerDNS answers a missing zone with the same 404 as a
 *   server without its API, so that 404 is confirmed first). Anything else is an error.
 */
import type * as pulumi from "@pulumi/pulumi";
import { LiveRrset, PdnsError, readRrset, recordError } from "./client";
import { checkInputs, diffState, toState, wantedTtl } from "./inputs";
import { rrsetId } from "./names";
import { enqueueWrite } from "./write-queue";

export const provider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: any, news: any) {
        return checkInputs(news);
    },

    async diff(_id: string, olds: any, news: any) {
        const result = diffState(toState(olds), checkInputs(news).inputs);
        // A record stored with another provider (the serialized one of older versions) is
        // updated in place to store the current one; update skips the write.
        return providerChanged(olds, news) ? { ...result, changes: true } : result;
    },

    async create(inputs: any) {
        const s = await enqueueWrite("create", toState(inputs));
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
            // A zone PowerDNS says is absent holds no rrset; any other failure is no answer.
            if ((e as PdnsError).pdnsKind !== "zone") throw recordError(s, e);
        }
        if (!live) return { id: "", props: {} };
        return { id: rrsetId(s.zone, s.name, s.type), props: { ...s, ttl: live.ttl, records: live.records } };
    },

    async update(_id: string, olds: any, news: any) {
        const old = toState(olds);
        const s = { ...toState(news), ttl: Number(wantedTtl(old, news)) };
        if (old.adoptedTtl !== undefined) s.adoptedTtl = old.adoptedTtl;
        if (diffState(old, s).changes) await enqueueWrite("update", s);
        return { outs: s };
    },

    async delete(_id: string, props: any) {
        await enqueueWrite("delete", toState(props));
    },
};

/** Whether the state was written by another provider than the one declared now. */
function providerChanged(olds: any, news: any): boolean {
    return typeof olds?.__provider === "string" && typeof news?.__provider === "string" && olds.__provider !== news.__provider;
}
