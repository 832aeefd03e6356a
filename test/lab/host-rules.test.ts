/**
 * The lab's pure rules, without starting anything: address slots stay inside the
 * documentation range and never touch a real network; host-key lines are parsed strictly.
 */
import * as assert from "assert";
import { cidrRange, isLabAddress, MAX_SLOT, overlaps, slotPlan } from "../../lab/netsafety";
import { parseHostKey } from "../../lab/remote";

describe("lab rules (pure)", () => {
    it("gives every slot a /28 inside 198.51.100.0/24, hosts inside its connected /29, slots disjoint", () => {
        const seen: string[] = [];
        for (let s = 1; s <= MAX_SLOT; s++) {
            const p = slotPlan(s);
            assert.ok(overlaps(p.blackhole, "198.51.100.0/24") && cidrRange(p.blackhole)[1] - cidrRange(p.blackhole)[0] === 15);
            for (let i = 0; i < 5; i++) {
                const a = p.hostAddress(i);
                assert.ok(isLabAddress(a) && overlaps(`${a}/32`, `${p.bridgeAddress}/${p.prefixLength}`), `${a} in the connected net`);
                assert.notStrictEqual(a, p.bridgeAddress);
            }
            for (const other of seen) assert.ok(!overlaps(other, p.blackhole), `${other} vs ${p.blackhole}`);
            seen.push(p.blackhole);
        }
        assert.throws(() => slotPlan(0), /out of range/);
        assert.throws(() => slotPlan(MAX_SLOT + 1), /out of range/);
        assert.throws(() => slotPlan(1).hostAddress(5), /at most 5 hosts/);
    });

    it("recognises lab addresses only", () => {
        assert.ok(isLabAddress("198.51.100.18"));
        for (const a of ["192.0.2.2", "203.0.113.10", "10.118.0.1", "127.0.0.1", "198.51.101.1"]) assert.ok(!isLabAddress(a), a);
        assert.ok(overlaps("default", "198.51.100.0/24"));
        assert.throws(() => cidrRange("300.1.1.1/24"), /not an IPv4 address/);
    });

    it("parses a host key line and refuses garbled ones", () => {
        // A real ed25519 public key (type name inside the blob).
        const line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJkEVt2NJISwu3R2L27RjdHle/MzFCz2Y3uqFaKDvZXQ root@x";
        const k = parseHostKey(line);
        assert.strictEqual(k.type, "ssh-ed25519");
        assert.strictEqual(k.blob.length, 51);
        assert.throws(() => parseHostKey("AAAAC3NzaC1lZDI1NTE5"), /not an OpenSSH public key line/);
        assert.throws(() => parseHostKey("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJkEVt2NJISwu3R2L27RjdHle/MzFCz2Y3uqFaKDvZXQ"), /does not match its type/);
    });
});
