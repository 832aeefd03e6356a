/** How long a move's old host forwards: the longest TTL a resolver may hold the names for. */
import * as assert from "assert";
import { namesTtl, ORCHESTRATOR_RECORD_TTL } from "../../components/dns";

describe("dns: the TTL a customer's names may be held for", function () {
    it("is the stack's TTL for a customer the program made", function () {
        assert.strictEqual(namesTtl({ ttl: 300, keepAdoptedTtl: true }, false), 300);
    });
    it("is the orchestrator's TTL for an adopted customer whose records keep theirs", function () {
        assert.strictEqual(namesTtl({ ttl: 300, keepAdoptedTtl: true }, true), ORCHESTRATOR_RECORD_TTL);
        assert.strictEqual(namesTtl({ ttl: 7200, keepAdoptedTtl: true }, true), 7200, "never shorter than the stack's");
    });
    it("is the stack's TTL for an adopted customer when adopted records get the stack's TTL", function () {
        assert.strictEqual(namesTtl({ ttl: 300, keepAdoptedTtl: false }, true), 300);
    });
});
