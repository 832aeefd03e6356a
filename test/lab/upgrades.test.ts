/**
 * Issue 14, items 4 and 5 through the program: rolling upgrades on one lab host, with
 * upgradeConcurrency 2. Seven customers run on the base of before (a stack without bases); the
 * stack then names bases "lab-1" and "lab-2" (stand-in services reporting 1.0.0 and 2.0.0),
 * lab-1 the default: all seven are upgraded from the base of before; then the default becomes
 * lab-2: the six not pinned to lab-1 are upgraded. Each time, watched from outside (HTTPS to
 * each customer's Grafana name, every ~50 ms), no more than 2 customers are down at once, the
 * host's upgrades run in the waves the program declares (each wave starts after the one before
 * it has ended), and each upgraded customer keeps its data, credentials, names and MQTT port;
 * the customer pinned to lab-1 is not restarted by the second; `npm run verify`'s checks pass.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { CustomersFileEntry } from "../../components/customers";
import { hostContract } from "../../components/contract";
import { upgradeWaves } from "../../components/bases";
import { CarryOutError, Deployment } from "../../lab/executor";
import { LAB_DOMAIN as DOMAIN, LabStack } from "../../lab/lab-stack";
import { httpsGet, MqttTarget, mosquitto } from "../../lab/outside";
import { credentialsOf, labFleet, labVerifyOptions } from "../../lab/verify-stack";
import { formatReport } from "../../scripts/lib/verify/report";
import { verifyFleet } from "../../scripts/lib/verify/run";
import { longestOutageMs, mostDownAtOnce, OutageWatch } from "../../lab/outage-watch";
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (SDK internals, a test double or a computed path)
const program: () => Promise<any> = require("../../index");

const HOST = "osm-lab1";
const ROLLED = ["wa", "wb", "wc", "wd", "we", "wf"];
const PINNED = "wpin";
const CONCURRENCY = 2;
const base = (v: string) => ({ grafana: v, influxdb2: v, chirpstack: v, mosquitto: v });

describe("rolling upgrades through the program on a lab host", function () {
    this.timeout(900_000);
    let stack: LabStack;
    /** The last deployment carried out. */
    let current: Deployment | undefined;

    const entries = (withBases: boolean): CustomersFileEntry[] => [
        ...ROLLED.map((label) => ({ name: label, label })),
        { name: PINNED, label: PINNED, ...(withBases ? { base: "lab-1" } : {}) },
    ];

    async function deploy(withBases: boolean, previous?: Deployment): Promise<Deployment> {
        try {
            return await stack.deploy(program, entries(withBases), previous);
        } catch (e) {
            if (e instanceof CarryOutError) throw new Error(`${e.message}\nsteps: ${(e.deployment.steps ?? []).map((s) => `${s.op} ${s.name}`).join(", ")}`, { cause: e });
            throw e;
        }
    }

    async function address(label: string): Promise<string> {
        return stack.resolve(`${label}.${DOMAIN}`);
    }

    async function version(label: string): Promise<string> {
        const r = await httpsGet(`${label}.${DOMAIN}`, await address(label), stack.pebble.rootCaPath, "/api/health");
        assert.strictEqual(r.status, 200, `${label}: HTTP ${r.status}`);
        return JSON.parse(r.body).version;
    }

    async function mqtt(d: Deployment, label: string): Promise<MqttTarget> {
        const c = d.outputs.customers[label].credentials;
        return { name: `${label}.${DOMAIN}`, port: d.outputs.placements[label].mqttPort, address: await address(label), caFile: stack.pebble.rootCaPath, username: c.mqttUsername, password: c.mqttPassword };
    }

    async function retained(d: Deployment, label: string): Promise<string> {
        const r = await mosquitto("mosquitto_sub", await mqtt(d, label), ["-t", "osm/reading", "-C", "1", "-W", "10"], 20_000);
        return r.stdout.trim();
    }

    /**
     * Carries out the next update, after `previous`, watching every customer from outside; checks
     * that exactly `upgraded` were upgraded, in the program's waves, never more than CONCURRENCY
     * down at once, none of the others down, and that each upgraded one runs `version` with its
     * data, credentials, names and port kept.
     */
    async function rollingUpgrade(previous: Deployment, upgraded: string[], version_: string): Promise<Deployment> {
        const all = [...ROLLED, PINNED];
        const addresses = new Map(await Promise.all(all.map(async (c) => [c, await address(c)] as const)));
        // One watcher per customer, probing its Grafana name from outside every ~50 ms.
        const watch = new OutageWatch(new Map([...addresses].map(([c, a]) => [`${c}.${DOMAIN}`, a])), stack.pebble.rootCaPath);
        const downs = (c: string) => watch.outages.get(`${c}.${DOMAIN}`)!;
        const t0 = Date.now();
        const next = await deploy(true, previous).finally(() => watch.stop());

        // What the program declared: the waves, and an update of exactly the upgraded customers' commands.
        const waves = upgradeWaves(upgraded.map((label) => ({ label, host: HOST })), CONCURRENCY)[HOST];
        const updated = (next.steps ?? []).filter((s) => s.op === "update" && /-container$/.test(s.name)).map((s) => s.name).sort();
        assert.deepStrictEqual(updated, [...upgraded].sort().map((c) => `${c}-container`));
        // Carried out in that order: each wave starts after every upgrade of the wave before has ended.
        const span = (c: string) => {
            const t = stack.timings.filter((x) => x.op === "update" && x.name === `${c}-container` && x.endedAt >= t0).pop()!;
            return { start: t.endedAt - t.seconds * 1000, end: t.endedAt };
        };
        for (let w = 1; w < waves.length; w++) {
            const ended = Math.max(...waves[w - 1].map((c) => span(c).end));
            const started = Math.min(...waves[w].map((c) => span(c).start));
            assert.ok(started >= ended, `wave ${w + 1} started ${ended - started} ms before wave ${w} ended`);
        }

        // Seen from outside.
        const mostDown = mostDownAtOnce(watch.outages.values());
        console.log(`      rolling upgrade of ${upgraded.length} in ${waves.length} waves: ${((Date.now() - t0) / 1000).toFixed(1)} s in all; at most ${mostDown} customers down at once; `
            + `longest outage seen from outside: ${upgraded.map((c) => `${c} ${(longestOutageMs(downs(c)) / 1000).toFixed(1)} s`).join(", ")}`);
        assert.ok(mostDown <= CONCURRENCY, `${mostDown} customers down at once: ${JSON.stringify(Object.fromEntries(watch.outages))}`);
        // The watchers saw the upgrades (else the bound above proves nothing).
        const seenDown = upgraded.filter((c) => downs(c).length > 0);
        assert.ok(seenDown.length >= upgraded.length / 2, `the watchers saw only ${seenDown.join(", ") || "none"} down`);
        for (const c of all.filter((x) => !upgraded.includes(x))) assert.deepStrictEqual(downs(c), [], `${c} was down`);

        for (const c of upgraded) {
            assert.strictEqual(await version(c), version_, `${c} runs ${version_}`);
            assert.strictEqual(await retained(next, c), `reading-of-${c}`, `${c}'s data`);
            assert.deepStrictEqual(next.outputs.customers[c].credentials, previous.outputs.customers[c].credentials, `${c}'s credentials`);
            assert.deepStrictEqual(next.outputs.placements[c], previous.outputs.placements[c], `${c}'s placement and port`);
            assert.strictEqual(await address(c), addresses.get(c), `${c}'s names`);
        }
        return next;
    }

    before(async function () {
        stack = await LabStack.start({ id: "upgrades", hostNames: [HOST] });
    });

    after(async function () {
        if (stack) await stack.stop();
    });

    it("deploys seven customers on the base of before (a stack without bases), each holding a retained reading", async () => {
        current = await deploy(false);
        assert.strictEqual(current.outputs.bases, undefined);
        for (const c of [...ROLLED, PINNED]) {
            assert.strictEqual(await version(c), "lab stand-in", `${c} runs on the base of before`);
            const pub = await mosquitto("mosquitto_pub", await mqtt(current, c), ["-t", "osm/reading", "-r", "-q", "1", "-m", `reading-of-${c}`]);
            assert.strictEqual(pub.code, 0, `publish to ${c}: ${pub.stderr}`);
        }
    });

    it(`naming bases upgrades all seven from the base of before to lab-1, in waves of ${CONCURRENCY}, never more than ${CONCURRENCY} down at once`, async () => {
        if (!current) throw new Error("not run: the first deployment failed (see the first failure)");
        Object.assign(stack.settings, {
            bases: { "lab-1": base("1.0.0"), "lab-2": base("2.0.0") },
            defaultBase: "lab-1",
            upgradeConcurrency: CONCURRENCY,
            // The lab's bases are built from its own base (stand-ins reporting the record's versions).
            baseSeed: hostContract().baseRootfs,
        });
        const previous = current;
        current = undefined;
        current = await rollingUpgrade(previous, [...ROLLED, PINNED], "1.0.0");
        assert.deepStrictEqual(current.outputs.bases, Object.fromEntries(entries(true).map((c) => [c.label, "lab-1"])));
    });

    it(`a new defaultBase upgrades the six on it to lab-2 in waves of ${CONCURRENCY}; the one pinned to lab-1 is not restarted; verify passes`, async () => {
        if (!current) throw new Error("not run: the deployment before failed (see the first failure)");
        const pinnedPid = (await stack.lab.sh(HOST, `lxc-info -n ${PINNED} -pH`)).stdout.trim();
        stack.settings.defaultBase = "lab-2";
        const previous = current;
        current = undefined;
        current = await rollingUpgrade(previous, ROLLED, "2.0.0");
        assert.deepStrictEqual(current.outputs.bases, { ...Object.fromEntries(ROLLED.map((c) => [c, "lab-2"])), [PINNED]: "lab-1" });
        assert.strictEqual(await version(PINNED), "1.0.0");
        assert.strictEqual((await stack.lab.sh(HOST, `lxc-info -n ${PINNED} -pH`)).stdout.trim(), pinnedPid, `${PINNED} was not restarted`);
        assert.strictEqual(await retained(current, PINNED), `reading-of-${PINNED}`);

        // And npm run verify's checks pass on the upgraded fleet.
        const file = path.join(stack.lab.state.dir, "stack", "verify-upgrades.json");
        fs.writeFileSync(file, JSON.stringify({ customers: entries(true) }));
        const rep = await verifyFleet(labVerifyOptions(stack, await labFleet(stack.config(file).config, current), credentialsOf(current)));
        assert.ok(rep.ok, `verify after the upgrades:\n${formatReport(rep)}`);
    });
});
