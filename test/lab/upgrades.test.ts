/**
 * Issue 14, item 5 through the program: a rolling upgrade on one lab host. Seven customers run
 * on the lab's base "lab-1" (stand-in services reporting 1.0.0); the stack's default base then
 * becomes "lab-2" (2.0.0) with upgradeConcurrency 2. Watched from outside (HTTPS to each
 * customer's Grafana name, every ~50 ms) no more than 2 customers are down at once, the
 * host's upgrades run in the waves the program declares (each wave starts after the one before
 * it has ended), and each upgraded customer keeps its data, credentials, names and MQTT port;
 * the customer pinned to "lab-1" is not restarted; then `npm run verify`'s checks pass.
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

describe("rolling upgrade through the program on a lab host", function () {
    this.timeout(900_000);
    let stack: LabStack;
    let first: Deployment;

    const entries = (): CustomersFileEntry[] => [
        ...ROLLED.map((label) => ({ name: label, label })),
        { name: PINNED, label: PINNED, base: "lab-1" },
    ];

    async function deploy(previous?: Deployment): Promise<Deployment> {
        try {
            return await stack.deploy(program, entries(), previous);
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

    before(async function () {
        stack = await LabStack.start({ id: "upgrades", hostNames: [HOST] });
        Object.assign(stack.settings, {
            bases: { "lab-1": base("1.0.0"), "lab-2": base("2.0.0") },
            defaultBase: "lab-1",
            // The lab's bases are built from its own base (stand-ins reporting the record's versions).
            baseSeed: hostContract().baseRootfs,
        });
    });

    after(async function () {
        if (stack) await stack.stop();
    });

    it("deploys seven customers on base lab-1, each holding a retained reading", async () => {
        first = await deploy();
        assert.deepStrictEqual(first.outputs.bases, Object.fromEntries(entries().map((c) => [c.label, "lab-1"])));
        for (const c of [...ROLLED, PINNED]) {
            assert.strictEqual(await version(c), "1.0.0", `${c} runs on lab-1`);
            const pub = await mosquitto("mosquitto_pub", await mqtt(first, c), ["-t", "osm/reading", "-r", "-q", "1", "-m", `reading-of-${c}`]);
            assert.strictEqual(pub.code, 0, `publish to ${c}: ${pub.stderr}`);
        }
    });

    it(`upgrades the default base's customers in waves of ${CONCURRENCY}, never more than ${CONCURRENCY} down at once seen from outside, keeping their data`, async () => {
        if (!first) throw new Error("not run: the first deployment failed (see the first failure)");
        const addresses = new Map(await Promise.all([...ROLLED, PINNED].map(async (c) => [c, await address(c)] as const)));
        const pinnedPid = (await stack.lab.sh(HOST, `lxc-info -n ${PINNED} -pH`)).stdout.trim();
        Object.assign(stack.settings, { defaultBase: "lab-2", upgradeConcurrency: CONCURRENCY });

        // One watcher per customer, probing its Grafana name from outside every ~50 ms.
        const watch = new OutageWatch(new Map([...addresses].map(([c, a]) => [`${c}.${DOMAIN}`, a])), stack.pebble.rootCaPath);
        const downs = (c: string) => watch.outages.get(`${c}.${DOMAIN}`)!;
        const t0 = Date.now();
        const second = await deploy(first).finally(() => watch.stop());

        // What the program declared: the waves, and an update of exactly the rolled customers' commands.
        const waves = upgradeWaves(ROLLED.map((label) => ({ label, host: HOST })), CONCURRENCY)[HOST];
        assert.deepStrictEqual(waves, [["wa", "wb"], ["wc", "wd"], ["we", "wf"]]);
        const updated = (second.steps ?? []).filter((s) => s.op === "update" && /-container$/.test(s.name)).map((s) => s.name).sort();
        assert.deepStrictEqual(updated, ROLLED.map((c) => `${c}-container`));
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
        const longest = (c: string) => longestOutageMs(downs(c));
        console.log(`      rolling upgrade: ${((Date.now() - t0) / 1000).toFixed(1)} s in all; at most ${mostDown} customers down at once; `
            + `longest outage seen from outside: ${ROLLED.map((c) => `${c} ${(longest(c) / 1000).toFixed(1)} s`).join(", ")}`);
        assert.ok(mostDown <= CONCURRENCY, `${mostDown} customers down at once: ${JSON.stringify(Object.fromEntries(watch.outages))}`);
        // The watchers saw the upgrades (else the bound above proves nothing).
        const seenDown = ROLLED.filter((c) => downs(c).length > 0);
        assert.ok(seenDown.length >= ROLLED.length / 2, `the watchers saw only ${seenDown.join(", ") || "none"} down`);
        assert.deepStrictEqual(downs(PINNED), [], `${PINNED} was down`);

        // Each upgraded customer: the new base, its data, credentials, names and port kept.
        assert.deepStrictEqual(second.outputs.bases, { ...Object.fromEntries(ROLLED.map((c) => [c, "lab-2"])), [PINNED]: "lab-1" });
        for (const c of ROLLED) {
            assert.strictEqual(await version(c), "2.0.0", `${c} runs on lab-2`);
            assert.strictEqual(await retained(second, c), `reading-of-${c}`, `${c}'s data`);
            assert.deepStrictEqual(second.outputs.customers[c].credentials, first.outputs.customers[c].credentials, `${c}'s credentials`);
            assert.deepStrictEqual(second.outputs.placements[c], first.outputs.placements[c], `${c}'s placement and port`);
            assert.strictEqual(await address(c), addresses.get(c), `${c}'s names`);
        }
        assert.strictEqual(await version(PINNED), "1.0.0");
        assert.strictEqual((await stack.lab.sh(HOST, `lxc-info -n ${PINNED} -pH`)).stdout.trim(), pinnedPid, `${PINNED} was not restarted`);
        assert.strictEqual(await retained(second, PINNED), `reading-of-${PINNED}`);

        // And npm run verify's checks pass on the upgraded fleet.
        const file = path.join(stack.lab.state.dir, "stack", "verify-upgrades.json");
        fs.writeFileSync(file, JSON.stringify({ customers: entries() }));
        const rep = await verifyFleet(labVerifyOptions(stack, await labFleet(stack.config(file).config, second), credentialsOf(second)));
        assert.ok(rep.ok, `verify after the upgrade:\n${formatReport(rep)}`);
    });
});
