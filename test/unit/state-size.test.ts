/**
 * Issue 9: at most 5 KiB of resource inputs per customer, over the example fleet and over 1000
 * customers (under mocks): each customer's own resources, and at 1000 its share of everything, with
 * secrets of production's sizes stored as ciphertext.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { evaluateOffline } from "../../scripts/lib/offline";
import { productionSizedSecrets, stateSize } from "../../scripts/lib/state-size";
import { PROJECT } from "../../components/config";
import { PROVIDER_LOADER } from "../../components/powerdns";

const LIMIT = 5 * 1024;

/** Fails unless each customer's own resources (and, with `withShare`, its share of hosts and stack) fit the limit. */
function check(what: string, s: ReturnType<typeof stateSize>, withShare: boolean) {
    const kib = (b: number) => `${(b / 1024).toFixed(2)} KiB`;
    const detail = `${what}: ${s.customers} customers, ${s.resources} resources, ${kib(s.totalBytes)} in all, ` +
        `${kib(s.perCustomerBytes)} per customer, largest customer ${kib(s.largestCustomerBytes)}; ` +
        `largest input ${s.largestInput.resource}.${s.largestInput.property} ${s.largestInput.bytes} B`;
    assert.ok(s.customers > 0, detail);
    assert.ok(s.largestCustomerBytes <= LIMIT, detail);
    if (withShare) assert.ok(s.perCustomerBytes <= LIMIT, detail);
}

describe("state size: resource inputs per customer", function () {
    this.timeout(300000);
    it("the example fleet (Pulumi.prod.yaml, customers.json) stores at most 5 KiB per customer", async () => {
        const ev = await evaluateOffline({ stack: "prod", overrides: productionSizedSecrets(PROJECT) });
        const s = stateSize(ev.resources);
        // Its 4 hosts over 7 customers add about 2.4 KiB each (hosts cost the same at any size).
        check("example fleet", s, false);
        // Every record stores the loader, not the provider's code.
        const records = ev.resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource");
        assert.ok(records.length > 0);
        for (const r of records) assert.strictEqual(r.inputs.__provider, PROVIDER_LOADER, r.name);
    });
    it("1000 customers on 10 hosts store at most 5 KiB per customer, as the example does", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-state-"));
        try {
            const file = path.join(dir, "customers.json");
            fs.writeFileSync(file, JSON.stringify({ customers: Array.from({ length: 1000 }, (_, i) => ({ name: `Customer ${i} Ltd` })) }));
            const hosts = Array.from({ length: 10 }, (_, i) => ({
                name: `osm${i + 1}`, address: `203.0.113.${10 + i}`, capacity: 200,
                hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJkEVt2NJISwu3R2L27RjdHle/MzFCz2Y3uqFaKDvZXQ",
            }));
            // A fleet of its own: against prod's lock it would delete prod's customers (refused by maxDeletes).
            const ev = await evaluateOffline({ stack: "prod", customersFile: file, overrides: {
                ...productionSizedSecrets(PROJECT), [`${PROJECT}:hosts`]: JSON.stringify(hosts), [`${PROJECT}:placementsLock`]: path.join(dir, "no.lock.json"),
            } });
            check("1000 customers", stateSize(ev.resources), true);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
