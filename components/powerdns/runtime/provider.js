"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.provider = void 0;
const client_1 = require("./client");
const inputs_1 = require("./inputs");
const names_1 = require("./names");
const write_queue_1 = require("./write-queue");
exports.provider = {
    async check(_olds, news) {
        return (0, inputs_1.checkInputs)(news);
    },
    async diff(_id, olds, news) {
        const result = (0, inputs_1.diffState)((0, inputs_1.toState)(olds), (0, inputs_1.checkInputs)(news).inputs);
        // A record stored with another provider (the serialized one of older versions) is
        // updated in place to store the current one; update skips the write.
        return providerChanged(olds, news) ? { ...result, changes: true } : result;
    },
    async create(inputs) {
        const s = await (0, write_queue_1.enqueueWrite)("create", (0, inputs_1.toState)(inputs));
        return { id: (0, names_1.rrsetId)(s.zone, s.name, s.type), outs: s };
    },
    /** `pulumi refresh`: reports the live ttl and records; gone only when PowerDNS says so. */
    async read(id, props) {
        if (!props || typeof props.apiUrl !== "string" || typeof props.apiKey !== "string") {
            throw new Error(`PowerDNS record ${id}: cannot read without stored state. Dynamic resources cannot be imported ` +
                `(pulumi/pulumi#16175): declare the record with adoptId "${id}" instead`);
        }
        const s = (0, inputs_1.toState)(props);
        let live;
        try {
            live = await (0, client_1.readRrset)(s);
        }
        catch (e) {
            // A zone PowerDNS says is absent holds no rrset; any other failure is no answer.
            if (e.pdnsKind !== "zone")
                throw (0, client_1.recordError)(s, e);
        }
        if (!live)
            return { id: "", props: {} };
        return { id: (0, names_1.rrsetId)(s.zone, s.name, s.type), props: { ...s, ttl: live.ttl, records: live.records } };
    },
    async update(_id, olds, news) {
        const old = (0, inputs_1.toState)(olds);
        const s = { ...(0, inputs_1.toState)(news), ttl: Number((0, inputs_1.wantedTtl)(old, news)) };
        if (old.adoptedTtl !== undefined)
            s.adoptedTtl = old.adoptedTtl;
        if ((0, inputs_1.diffState)(old, s).changes)
            await (0, write_queue_1.enqueueWrite)("update", s);
        return { outs: s };
    },
    async delete(_id, props) {
        await (0, write_queue_1.enqueueWrite)("delete", (0, inputs_1.toState)(props));
    },
};
/** Whether the state was written by another provider than the one declared now. */
function providerChanged(olds, news) {
    return typeof olds?.__provider === "string" && typeof news?.__provider === "string" && olds.__provider !== news.__provider;
}
