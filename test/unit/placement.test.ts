/**
 * Placement: CRC-8 ports, the rules (pin, keep, least-utilised, drain), its errors, and
 * properties over random fleets and random edit sequences with previous placements fed back.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../../components/paths";
import {
    crc8, CustomerRequest, HostCapacity, place, PlacementError, Placements, preferredMqttPort, reservedPorts, usage,
} from "../../components/placement";
import { prng, randomInt, shuffled } from "./support/fleet";

/** A second, independent CRC-8 (poly 0x07, init 0): table-driven, built bit by bit from the polynomial. */
const CRC8_TABLE = (() => {
    const table: number[] = [];
    for (let n = 0; n < 256; n++) {
        let r = n;
        for (let k = 0; k < 8; k++) r = (r & 0x80) ? ((r << 1) ^ 0x07) & 0xff : (r << 1) & 0xff;
        table.push(r);
    }
    return table;
})();
function crc8Table(text: string): number {
    let crc = 0;
    for (const b of Buffer.from(text, "utf8")) crc = CRC8_TABLE[crc ^ b];
    return crc;
}

function expectPlacementError(fn: () => unknown, ...fragments: RegExp[]): PlacementError {
    let caught: unknown;
    try {
        fn();
    } catch (err) {
        caught = err;
    }
    assert.ok(caught instanceof PlacementError, `expected a PlacementError, got ${caught}`);
    for (const f of fragments) assert.match(caught.message, f);
    return caught;
}

/** Labels whose preferred ports are equal (a CRC-8 collision), found deterministically. */
function collidingLabels(count: number): string[] {
    const byCrc = new Map<number, string[]>();
    for (let i = 0; ; i++) {
        const label = `c${i}`;
        const crc = crc8(label);
        const list = byCrc.get(crc) ?? [];
        list.push(label);
        byCrc.set(crc, list);
        if (list.length === count) return list;
    }
}

describe("placement: a pure module", () => {
    it("placement, naming, validation and problems import nothing of Pulumi (directly or through each other)", () => {
        const dir = path.join(projectRoot(), "components");
        const pure = ["placement", "naming", "customers", "config", "schema", "problems", "paths", "contract", "grafana-plugins", "bases"];
        for (const name of pure) {
            const source = fs.readFileSync(path.join(dir, `${name}.ts`), "utf8");
            const imports = [...source.matchAll(/^import\b[^;]*?from "([^"]+)";|require\("([^"]+)"\)/gm)].map((m) => m[1] ?? m[2]);
            assert.ok(imports.length > 0 || name === "problems" || name === "naming", `${name}: no imports found`);
            for (const spec of imports) {
                assert.ok(!spec.startsWith("@pulumi/"), `${name}.ts imports ${spec}`);
                if (spec.startsWith("./")) assert.ok(pure.includes(spec.slice(2)), `${name}.ts imports ${spec}, which is not known to be pure`);
            }
        }
    });
});

describe("placement: CRC-8 and MQTT ports", () => {
    it('crc8("123456789") is 0xF4 (the catalogue check value of CRC-8/SMBUS)', () => {
        assert.strictEqual(crc8("123456789"), 0xf4);
    });

    it("agrees with a table-driven implementation on fixed vectors", () => {
        // Worked by hand: one byte 0x01 shifts through 0x80 and picks up the polynomial once.
        const vectors: Array<[string, number]> = [["", 0x00], ["\u0001", 0x07], ["\u0002", 0x0e], ["123456789", 0xf4]];
        for (const [text, want] of vectors) {
            assert.strictEqual(crc8(text), want, JSON.stringify(text));
            assert.strictEqual(crc8Table(text), want, `table ${JSON.stringify(text)}`);
        }
        assert.strictEqual(crc8("acme"), crc8Table("acme"));
        assert.strictEqual(crc8("blue-widget-co"), crc8Table("blue-widget-co"));
    });

    it("agrees with the table-driven implementation on 2000 random labels", () => {
        const rand = prng(8883);
        const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-";
        for (let i = 0; i < 2000; i++) {
            const label = Array.from({ length: randomInt(rand, 1, 52) }, () => alphabet[randomInt(rand, 0, alphabet.length - 1)]).join("");
            assert.strictEqual(crc8(label), crc8Table(label), label);
        }
    });

    it("a label's preferred port is 8883 + CRC-8(label)", () => {
        for (const label of ["acme", "blue-widget-co", "devtank", "x"]) {
            assert.strictEqual(preferredMqttPort(label), 8883 + crc8Table(label));
        }
        const [only] = Object.values(place([{ name: "h", capacity: 1 }], [{ label: "acme" }]));
        assert.deepStrictEqual(only, { host: "h", mqttPort: 8883 + crc8Table("acme") });
    });

    it("a collision on one host steps the later label (in label order) up by one", () => {
        const [a, b, c] = collidingLabels(3);
        const base = preferredMqttPort(a);
        const got = place([{ name: "h", capacity: 3 }], [{ label: c }, { label: b }, { label: a }]);
        // New customers are served in label order, whatever the file's order.
        const order = [a, b, c].sort();
        assert.deepStrictEqual(order.map((l) => got[l].mqttPort), [base, base + 1, base + 2]);
    });

    it("the same preferred port on two hosts is no collision", () => {
        const [a, b] = collidingLabels(2);
        const got = place([{ name: "h1", capacity: 1 }, { name: "h2", capacity: 1 }], [{ label: a }, { label: b }]);
        assert.strictEqual(got[a].mqttPort, got[b].mqttPort);
        assert.notStrictEqual(got[a].host, got[b].host);
    });

    it("steps past the host's own SSH port", () => {
        const got = place([{ name: "h", capacity: 1, sshPort: preferredMqttPort("acme") }], [{ label: "acme" }]);
        assert.strictEqual(got.acme.mqttPort, preferredMqttPort("acme") + 1);
        assert.deepStrictEqual(reservedPorts({ name: "h", capacity: 1, sshPort: 2222 }), [2222, 80, 443]);
        assert.deepStrictEqual(reservedPorts({ name: "h", capacity: 1 }), [22, 80, 443]);
    });
});

describe("placement: rules", () => {
    const hosts: HostCapacity[] = [
        { name: "a", capacity: 10 },
        { name: "b", capacity: 4 },
        { name: "c", capacity: 2 },
    ];

    it("a pinned host and port win over the previous placement", () => {
        const previous: Placements = { acme: { host: "a", mqttPort: 9000 } };
        const got = place(hosts, [{ label: "acme", host: "c", mqttPort: 12000 }], previous);
        assert.deepStrictEqual(got.acme, { host: "c", mqttPort: 12000 });
    });

    it("a pin of the host alone keeps the previous port, on that host and on another (a move: the devices keep their port)", () => {
        const previous: Placements = { acme: { host: "b", mqttPort: 9100 } };
        assert.deepStrictEqual(place(hosts, [{ label: "acme", host: "b" }], previous).acme, { host: "b", mqttPort: 9100 });
        assert.deepStrictEqual(place(hosts, [{ label: "acme", host: "c" }], previous).acme, { host: "c", mqttPort: 9100 });
        assert.deepStrictEqual(place(hosts, [{ label: "acme", host: "c", mqttPort: 9200 }], previous).acme, { host: "c", mqttPort: 9200 });
    });

    it("a move to a host where another customer has its port is refused, naming both", () => {
        const previous: Placements = { acme: { host: "b", mqttPort: 9100 }, zeta: { host: "c", mqttPort: 9100 } };
        expectPlacementError(() => place(hosts, [{ label: "acme", host: "c" }, { label: "zeta" }], previous),
            /customer "acme" would move from host "b" to "c" with its MQTT port 9100 \(its devices use it\), but on "c" so does customer "zeta"; move it to another host/);
    });

    it("an unpinned customer keeps its previous host and port, even on a fuller host", () => {
        const previous: Placements = { acme: { host: "c", mqttPort: 10001 }, c1: { host: "c", mqttPort: 10002 } };
        assert.deepStrictEqual(place(hosts, [{ label: "acme" }, { label: "c1" }, { label: "zeta" }], previous), {
            acme: { host: "c", mqttPort: 10001 }, c1: { host: "c", mqttPort: 10002 },
            zeta: { host: "a", mqttPort: preferredMqttPort("zeta") },
        });
    });

    it("the customers of a draining host move to the least-utilised others, each with its port; a pin keeps one there", () => {
        const drained = hosts.map((h) => (h.name === "a" ? { ...h, drain: true } : h));
        const previous: Placements = { acme: { host: "a", mqttPort: 10001 }, beta: { host: "a", mqttPort: 10002 }, stay: { host: "a", mqttPort: 10003 } };
        const got = place(drained, [{ label: "acme" }, { label: "beta" }, { label: "stay", host: "a" }], previous);
        assert.deepStrictEqual(got, {
            acme: { host: "b", mqttPort: 10001 }, // b 0/4 and c 0/2 tie: b is listed first
            beta: { host: "c", mqttPort: 10002 }, // then c 0/2 is below b 1/4
            stay: { host: "a", mqttPort: 10003 },
        });
    });

    it("a new customer goes to the least-utilised host (customers/capacity)", () => {
        // a: 5/10 = 0.5, b: 1/4 = 0.25, c: 1/2 = 0.5 -> b
        const previous: Placements = {};
        const existing: CustomerRequest[] = [];
        for (let i = 0; i < 5; i++) { existing.push({ label: `a${i}` }); previous[`a${i}`] = { host: "a", mqttPort: 10000 + i }; }
        existing.push({ label: "b0" }); previous.b0 = { host: "b", mqttPort: 10000 };
        existing.push({ label: "c0" }); previous.c0 = { host: "c", mqttPort: 10000 };
        assert.strictEqual(place(hosts, [...existing, { label: "new" }], previous).new.host, "b");
        // With b at 2/4 = 0.5 too, all three tie: the host listed first wins.
        previous.b1 = { host: "b", mqttPort: 10001 };
        assert.strictEqual(place(hosts, [...existing, { label: "b1" }, { label: "new" }], previous).new.host, "a");
        // The tie-break follows the stack config's order, not the names.
        assert.strictEqual(place([hosts[2], hosts[1], hosts[0]], [...existing, { label: "b1" }, { label: "new" }], previous).new.host, "c");
    });

    it("several new customers fill hosts evenly by utilisation, in label order", () => {
        const got = place(hosts, ["f", "e", "d", "c", "b", "a"].map((label) => ({ label })));
        // a(10) b(4) c(2): a->a(0.1) b->b(0.25) c->c(0.5) d->a(0.2) e->a(0.3) f->b(0.5)
        assert.deepStrictEqual(Object.fromEntries(Object.entries(got).map(([l, p]) => [l, p.host])), { f: "b", e: "a", d: "a", c: "c", b: "b", a: "a" });
        assert.deepStrictEqual(usage(hosts, got), { a: { used: 3, capacity: 10 }, b: { used: 2, capacity: 4 }, c: { used: 1, capacity: 2 } });
    });

    it("a draining host gets no new customer, even when it is the emptiest", () => {
        const got = place([{ name: "busy", capacity: 2 }, { name: "idle", capacity: 100, drain: true }], [{ label: "x" }, { label: "y" }]);
        assert.deepStrictEqual([got.x.host, got.y.host], ["busy", "busy"]);
    });

    it("a pin to a draining host is honoured (the operator decides)", () => {
        const got = place([{ name: "a", capacity: 2 }, { name: "old", capacity: 2, drain: true }], [{ label: "x", host: "old" }]);
        assert.strictEqual(got.x.host, "old");
    });

    it("the output lists customers in the file's order", () => {
        const got = place(hosts, [{ label: "zeta" }, { label: "alpha" }, { label: "mid" }]);
        assert.deepStrictEqual(Object.keys(got), ["zeta", "alpha", "mid"]);
    });
});

describe("placement: errors", () => {
    it("no room names every host with used/total and drain, and the fix", () => {
        const hosts: HostCapacity[] = [{ name: "a", capacity: 1 }, { name: "b", capacity: 2 }, { name: "old", capacity: 5, drain: true }];
        const err = expectPlacementError(() => place(hosts, ["p", "q", "r", "s"].map((label) => ({ label }))),
            /no host has room for new customer "s": a 1\/1, b 2\/2, old 0\/5 \(draining\); add a host or raise a capacity in the stack config/);
        assert.strictEqual(err.reasons.length, 1);
    });

    it("every customer that does not fit is named", () => {
        const err = expectPlacementError(() => place([{ name: "a", capacity: 1 }], ["p", "q", "r"].map((label) => ({ label }))));
        assert.deepStrictEqual(err.reasons.map((r) => /new customer "(\w+)"/.exec(r)?.[1]), ["q", "r"]);
    });

    it("pins beyond a host's capacity are reported with the capacity", () => {
        expectPlacementError(() => place([{ name: "a", capacity: 1 }, { name: "b", capacity: 9 }], [{ label: "p", host: "a" }, { label: "q", host: "a" }]),
            /host "a" would hold 2 customers but its capacity is 1; raise its capacity or pin customers to other hosts/);
    });

    it("a host removed while it still has customers is a clear error", () => {
        const previous: Placements = { acme: { host: "gone", mqttPort: 9000 }, zeta: { host: "a", mqttPort: 9001 } };
        const err = expectPlacementError(() => place([{ name: "a", capacity: 5 }], [{ label: "acme" }, { label: "zeta" }], previous),
            /customer "acme" runs on host "gone", which is no longer in the stack config; keep the host, with drain: true, until its customers have moved \(one pulumi up\), then remove it/);
        assert.strictEqual(err.reasons.length, 1);
    });

    it("a customer pinned off a removed host is refused too: its move copies from that host", () => {
        const previous: Placements = { acme: { host: "gone", mqttPort: 9000 } };
        const err = expectPlacementError(() => place([{ name: "a", capacity: 5 }], [{ label: "acme", host: "a" }], previous),
            /customer "acme" runs on host "gone", which is no longer in the stack config, and is pinned to "a": its move copies its data from "gone"; keep "gone" in the stack config \(drain: true\)/);
        assert.strictEqual(err.reasons.length, 1);
    });

    it("a removed host whose customers are gone too is fine", () => {
        const previous: Placements = { acme: { host: "gone", mqttPort: 9000 } };
        assert.deepStrictEqual(place([{ name: "a", capacity: 5 }], [{ label: "zeta" }], previous), { zeta: { host: "a", mqttPort: preferredMqttPort("zeta") } });
    });

    it("a pin to an unknown host is an error", () => {
        expectPlacementError(() => place([{ name: "a", capacity: 5 }], [{ label: "x", host: "nope" }]),
            /customer "x" is pinned to host "nope", which is not in the stack config; pin an existing host/);
    });

    it("a pinned port that a kept customer already uses is the pin's problem", () => {
        const previous: Placements = { acme: { host: "a", mqttPort: 9000 } };
        const err = expectPlacementError(() => place([{ name: "a", capacity: 5 }], [{ label: "acme" }, { label: "new", host: "a", mqttPort: 9000 }], previous),
            /MQTT port 9000 pinned for customer "new" on host "a" is already used by customer "acme"; pin another mqttPort/);
        assert.strictEqual(err.reasons.length, 1);
    });

    it("a kept port that is now the host's SSH port is reported", () => {
        const previous: Placements = { acme: { host: "a", mqttPort: 2222 } };
        expectPlacementError(() => place([{ name: "a", capacity: 5, sshPort: 2222 }], [{ label: "acme" }], previous),
            /customer "acme" already has MQTT port 2222 on host "a" \(previous placements\), but the host itself now uses it; pin "acme" to a free mqttPort/);
    });
});

// ---------------------------------------------------------------------------------------------
// Properties over random fleets and random edit sequences.

interface Fleet { hosts: HostCapacity[]; customers: CustomerRequest[] }

function randomFleet(rand: () => number): HostCapacity[] {
    const n = randomInt(rand, 2, 5);
    return Array.from({ length: n }, (_, i) => {
        const h: HostCapacity = { name: `h${i}`, capacity: randomInt(rand, 1, 8) };
        if (rand() < 0.25) h.drain = true;
        // Sometimes an SSH port inside the MQTT range, so stepping past it is exercised.
        if (rand() < 0.3) h.sshPort = rand() < 0.5 ? 2222 : 8883 + randomInt(rand, 0, 255);
        return h;
    });
}

/** Checks one successful placement against every property; `before` is the previous placements. */
function checkPlacement(fleet: Fleet, before: Placements, got: Placements, context: string): void {
    const labels = fleet.customers.map((c) => c.label);
    assert.deepStrictEqual(Object.keys(got).sort(), [...labels].sort(), `${context}: every customer placed once`);
    const hostByName = new Map(fleet.hosts.map((h) => [h.name, h]));
    const ports = new Map<string, Set<number>>();
    for (const [label, p] of Object.entries(got)) {
        const h = hostByName.get(p.host);
        assert.ok(h, `${context}: ${label} on unknown host ${p.host}`);
        const kept = before[label];
        if (kept && hostByName.get(kept.host)?.drain) {
            assert.strictEqual(p.mqttPort, kept.mqttPort, `${context}: ${label} moved off draining ${kept.host} without its port`);
            assert.ok(!h.drain, `${context}: ${label} moved off draining ${kept.host} onto draining ${h.name}`);
        } else if (kept) {
            assert.deepStrictEqual(p, kept, `${context}: existing customer ${label} moved or changed port`);
        } else {
            assert.ok(!h.drain, `${context}: new customer ${label} placed on draining host ${h.name}`);
        }
        assert.ok(p.mqttPort >= 1024 && p.mqttPort <= 65535, `${context}: port ${p.mqttPort}`);
        assert.ok(!reservedPorts(h).includes(p.mqttPort), `${context}: ${label} got reserved port ${p.mqttPort} on ${h.name}`);
        const set = ports.get(p.host) ?? new Set<number>();
        assert.ok(!set.has(p.mqttPort), `${context}: port ${p.mqttPort} twice on ${p.host}`);
        set.add(p.mqttPort);
        ports.set(p.host, set);
    }
    for (const [name, u] of Object.entries(usage(fleet.hosts, got))) {
        assert.ok(u.used <= u.capacity, `${context}: host ${name} over capacity ${u.used}/${u.capacity}`);
    }
    // A new customer's port is its preferred port, stepped up only past ports in use on its host.
    for (const [label, p] of Object.entries(got)) {
        if (before[label]) continue;
        const preferred = preferredMqttPort(label);
        assert.ok(p.mqttPort >= preferred, `${context}: ${label} port ${p.mqttPort} below preferred ${preferred}`);
        const taken = new Set([...ports.get(p.host)!, ...reservedPorts(hostByName.get(p.host)!)]);
        for (let q = preferred; q < p.mqttPort; q++) assert.ok(taken.has(q), `${context}: ${label} skipped free port ${q}`);
    }
}

/** The host a single new customer must get: least used/capacity with room, not draining, first listed on ties. */
function expectedHostForOne(hosts: HostCapacity[], before: Placements, customers: CustomerRequest[]): string | undefined {
    const used = new Map(hosts.map((h) => [h.name, 0]));
    for (const c of customers) if (before[c.label]) used.set(before[c.label].host, used.get(before[c.label].host)! + 1);
    let best: string | undefined;
    let bestNum = 0;
    let bestDen = 1;
    for (const h of hosts) {
        const u = used.get(h.name)!;
        if (h.drain || u >= h.capacity) continue;
        // Compare u/cap < bestNum/bestDen exactly, in integers.
        if (best === undefined || u * bestDen < bestNum * h.capacity) { best = h.name; bestNum = u; bestDen = h.capacity; }
    }
    return best;
}

describe("placement: properties over random edit sequences", function () {
    // ~0.5 s on an idle machine; room for a busy CI runner.
    this.timeout(20000);
    const SEEDS = 40;
    const STEPS = 60;

    it(`${SEEDS} fleets x ${STEPS} edits: capacity, stickiness, unique ports, determinism, order independence`, () => {
        let placedSteps = 0;
        let rejectedSteps = 0;
        let singleAdds = 0;
        for (let seed = 1; seed <= SEEDS; seed++) {
            const rand = prng(seed);
            const hosts = randomFleet(rand);
            let customers: CustomerRequest[] = [];
            let previous: Placements = {};
            let next = 0;
            const fresh = () => ({ label: `cust-${seed}-${next++}` });
            for (let step = 0; step < STEPS; step++) {
                const op = randomInt(rand, 0, 6);
                const before = customers;
                let edited = [...customers];
                let added = 0;
                if (op <= 1) {
                    added = randomInt(rand, 1, 3);
                    for (let k = 0; k < added; k++) edited.splice(randomInt(rand, 0, edited.length), 0, fresh());
                } else if (op === 2 && edited.length) {
                    edited.splice(randomInt(rand, 0, edited.length - 1), 1);
                } else if (op === 3) {
                    edited = shuffled(rand, edited);
                } else if (op === 4 && edited.length) {
                    // Rename one customer: to placement, one label goes and a new one comes.
                    edited.splice(randomInt(rand, 0, edited.length - 1), 1, fresh());
                    added = 1;
                } else if (op === 5) {
                    hosts[randomInt(rand, 0, hosts.length - 1)].capacity += randomInt(rand, 1, 3);
                } else {
                    const h = hosts[randomInt(rand, 0, hosts.length - 1)];
                    h.drain = !h.drain;
                }
                const context = `seed ${seed} step ${step} op ${op}`;
                const fleet = { hosts, customers: edited };
                let got: Placements;
                try {
                    got = place(hosts, edited, previous);
                } catch (err) {
                    // Only allowed when the new customers (and those leaving a draining host) cannot
                    // fit the non-draining hosts' room, or one leaving finds its port taken.
                    assert.ok(err instanceof PlacementError, `${context}: ${err}`);
                    if (/would move from host/.test(err.message)) {
                        customers = before;
                        rejectedSteps++;
                        continue;
                    }
                    const draining = new Set(hosts.filter((h) => h.drain).map((h) => h.name));
                    const staying = edited.filter((c) => previous[c.label] && !draining.has(previous[c.label].host));
                    const newcomers = edited.length - staying.length;
                    const room = hosts.filter((h) => !h.drain)
                        .reduce((sum, h) => sum + h.capacity - staying.filter((c) => previous[c.label].host === h.name).length, 0);
                    assert.ok(newcomers > room, `${context}: rejected although ${newcomers} new customer(s) fit in ${room}: ${err.message}`);
                    for (const h of hosts) assert.ok(err.message.includes(` ${h.name} `) || err.message.includes(`: ${h.name} `), `${context}: error does not name ${h.name}: ${err.message}`);
                    assert.match(err.message, /\d+\/\d+/);
                    customers = before; // the edit is refused, as `pulumi up` would refuse it
                    rejectedSteps++;
                    continue;
                }
                checkPlacement(fleet, previous, got, context);
                assert.deepStrictEqual(place(hosts, edited, previous), got, `${context}: same input, different output`);
                assert.deepStrictEqual(place(hosts, shuffled(rand, edited), previous), got, `${context}: order changed the output`);
                const movers = edited.some((c) => previous[c.label] && hosts.find((h) => h.name === previous[c.label].host)?.drain);
                if (added === 1 && !movers) {
                    const label = edited.find((c) => !previous[c.label])!.label;
                    assert.strictEqual(got[label].host, expectedHostForOne(hosts, previous, edited), `${context}: ${label} not on the least-utilised host`);
                    singleAdds++;
                }
                // Removed customers leave previous placements behind, as the stack output would.
                previous = got;
                customers = edited;
                placedSteps++;
            }
        }
        // The sequences really exercised both paths.
        assert.ok(placedSteps > SEEDS * STEPS * 0.5, `placed ${placedSteps}`);
        assert.ok(rejectedSteps > 0, "no sequence ever ran out of room");
        assert.ok(singleAdds > 100, `single adds ${singleAdds}`);
    });

    it("random fleets placed from scratch and from a shuffled history give the same result", () => {
        for (let seed = 100; seed < 140; seed++) {
            const rand = prng(seed);
            const hosts = randomFleet(rand).map((h) => ({ ...h, drain: false, capacity: h.capacity + 4 }));
            const customers = Array.from({ length: randomInt(rand, 1, 12) }, (_, i) => ({ label: `x${seed}-${i}` }));
            const first = place(hosts, customers);
            checkPlacement({ hosts, customers }, {}, first, `seed ${seed}`);
            // Feeding the result back changes nothing, in any order.
            assert.deepStrictEqual(place(hosts, shuffled(rand, customers), first), first);
            // Adding hosts afterwards moves nobody.
            const more = [...hosts, { name: "extra", capacity: 50 }];
            const again = place(more, customers, first);
            assert.deepStrictEqual(again, first);
        }
    });
});
