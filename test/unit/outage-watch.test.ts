/** The arithmetic of outages seen from outside (lab/outage-watch.ts), which the upgrade lab test's bound rests on. */
import * as assert from "assert";
import { longestOutageMs, mostDownAtOnce } from "../../lab/outage-watch";

describe("outages seen from outside", () => {
    it("counts the most names down at the same moment", () => {
        assert.strictEqual(mostDownAtOnce([]), 0);
        assert.strictEqual(mostDownAtOnce([[], []]), 0);
        // Two overlap, the third comes after both.
        assert.strictEqual(mostDownAtOnce([[{ from: 0, to: 10 }], [{ from: 5, to: 15 }], [{ from: 20, to: 30 }]]), 2);
        // Three overlap in 8..9 only.
        assert.strictEqual(mostDownAtOnce([[{ from: 0, to: 9 }], [{ from: 8, to: 15 }], [{ from: 2, to: 4 }, { from: 7, to: 12 }]]), 3);
        // Touching outages (one ends as the next starts) do not overlap.
        assert.strictEqual(mostDownAtOnce([[{ from: 0, to: 10 }], [{ from: 10, to: 20 }]]), 1);
    });

    it("gives a name's longest outage", () => {
        assert.strictEqual(longestOutageMs([]), 0);
        assert.strictEqual(longestOutageMs([{ from: 0, to: 300 }, { from: 1000, to: 2200 }, { from: 3000, to: 3100 }]), 1200);
    });
});
