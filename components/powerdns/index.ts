/**
 * PowerDNS records managed through the Authoritative HTTP API (`import * as powerdns from
 * "./powerdns"`). One file per concern:
 * - record.ts: the `Record` resource and its Args (the program side; imports @pulumi/pulumi);
 * - provider.ts: the dynamic provider the SDK serializes into each Record's state, built from
 *   - names.ts: normal forms of names, ids and record contents,
 *   - inputs.ts: check, diff and the stored state,
 *   - client.ts: the HTTP API with retries and a limit of requests in flight,
 *   - write-queue.ts: the per-zone queue that coalesces writes into one PATCH.
 */
export { Record, RecordArgs } from "./record";
export { RrsetState, checkInputs, diffState } from "./inputs";
export { canonicalName, canonicalRecords, parseRrsetId, rrsetId, sameRecords } from "./names";
