/**
 * The dynamic provider of `Record`: check/diff/create/read/update/delete over the PowerDNS API.
 *
 * How Pulumi runs it, and why the code looks the way it does:
 * - This object is serialized (closure serialization) into the state of every Record
 *   (`__provider`) and runs later in Pulumi's Node dynamic provider host, one process for all
 *   resources of a `pulumi up`, started in the project's directory. Functions of project files
 *   (this one, names, inputs, client, write-queue) are captured by value as source text; a
 *   module from node_modules would become a `require`. So this module and the ones it imports
 *   use only Node globals (fetch, setTimeout) at run time: no import of @pulumi/pulumi (types
 *   only) and no live object. It is one self-contained module: it could be required by name
 *   instead of being carried by value. test/unit/powerdns-serialized.test.ts runs the
 *   serialized text in a bare `node` process to prove it.
 * - Adoption: `pulumi import` and the `import` option cannot work for dynamic resources (no
 *   stored state means no serialized provider to run: pulumi/pulumi#16175, #3550). Create never
 *   silently takes over an rrset that already exists (Terraform's REPLACE upsert did): it
 *   refuses, unless the record is declared with `adoptId: "<zone>/<name>/<type>"` naming it AND
 *   the existing records match the declared ones as a set (like the `import` option, which
 *   refuses a resource that differs from its declaration). A different ttl is rewritten.
 */
import type * as pulumi from "@pulumi/pulumi";
import { LiveRrset, readRrset, recordError } from "./client";
import { checkInputs, diffState, toState } from "./inputs";
import { rrsetId } from "./names";
import { enqueueWrite } from "./write-queue";

export const provider: pulumi.dynamic.ResourceProvider = {
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
