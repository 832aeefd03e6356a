/**
 * PowerDNS records managed through the Authoritative HTTP API (`import * as powerdns from
 * "./powerdns"`). One file per concern:
 * - record.ts: the `Record` resource and its Args (the program side; imports @pulumi/pulumi),
 *   and the loader each Record stores as its provider;
 * - provider.ts: the dynamic provider, compiled into runtime/ (npm run build:provider), built from
 *   - names.ts: normal forms of names, ids and record contents,
 *   - inputs.ts: check, diff and the stored state,
 *   - client.ts: the HTTP API with retries and a limit of requests in flight,
 *   - write-queue.ts: the per-zone queue that coalesces writes into one PATCH.
 */
export { PROVIDER_LOADER, PROVIDER_PACKAGE, Record, RecordArgs } from "./record";
export { RrsetState, checkInputs, diffState } from "./inputs";
export { canonicalContent, canonicalName, canonicalRecords, parseRrsetId, rrsetId, sameRecords } from "./names";
