/**
 * Benchmark (not a test) of a customer's upgrade to another base, carried out by the program
 * for real on a lab host: one customer on the lab base "lab-1" (stand-ins reporting 1.0.0),
 * then the stack's defaultBase switched between "lab-1" and "lab-2" RUNS times (default 3),
 * while a simulated device publishes QoS 1 messages to it and its Grafana name is probed over
 * HTTPS from outside every ~50 ms. Prints, per upgrade: the container command's wall time (the
 * host's snapshot, stop, switch, start and wait, and the rest of customer.yml), the longest
 * time its Grafana name failed, the longest gap between two of its answers (a request held
 * while the container restarts answers late), and the device's longest gap between two acknowledged
 * messages (the MQTT outage); then the medians.
 *
 *   npm run bench:upgrade [-- --runs N]
 *
 * Needs root and the lab's Debian packages (see .ci/run). Tears the lab down when done.
 */
import { hostContract } from "../components/contract";
import { CustomersFileEntry } from "../components/customers";
import { DeviceSimulator } from "../lab/device";
import { Deployment } from "../lab/executor";
import { LAB_DOMAIN, LabStack } from "../lab/lab-stack";
import { MqttTarget } from "../lab/outside";
import { longestOutageMs, OutageWatch } from "../lab/outage-watch";
import program = require("../index");
import { wholeArg } from "./lib/bench";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = (v: string) => ({ grafana: v, influxdb2: v, chirpstack: v, mosquitto: v });

async function main(): Promise<void> {
    const runs = wholeArg("runs", 3, 1);
    const host = "osm-bench-u1";
    const stack = await LabStack.start({ id: "bupg", hostNames: [host] });
    try {
        const label = "bench-upgrader";
        const customers: CustomersFileEntry[] = [{ name: "Bench Upgrader", label }];
        Object.assign(stack.settings, {
            bases: { "lab-1": base("1.0.0"), "lab-2": base("2.0.0") }, defaultBase: "lab-1", baseSeed: hostContract().baseRootfs,
        });
        let current: Deployment = await stack.deploy(program, customers);
        const name = `${label}.${LAB_DOMAIN}`;
        const address = await stack.resolve(name);
        const target = async (): Promise<MqttTarget> => {
            const c = current.outputs.customers[label].credentials;
            return { name, port: current.outputs.placements[label].mqttPort, address, caFile: stack.pebble.rootCaPath, username: c.mqttUsername, password: c.mqttPassword };
        };
        const rows: { command: number; https: number; answers: number; mqtt: number }[] = [];
        for (let i = 0; i < runs; i++) {
            const to = i % 2 === 0 ? "lab-2" : "lab-1";
            stack.settings.defaultBase = to;
            const device = new DeviceSimulator(target, "bench/upgrade", "bench-device");
            device.start();
            const watch = new OutageWatch(new Map([[name, address]]), stack.pebble.rootCaPath);
            await new Promise((r) => setTimeout(r, 2000));
            const mark = stack.timings.length;
            try {
                current = await stack.deploy(program, customers, current);
            } finally {
                await new Promise((r) => setTimeout(r, 2000));
                await watch.stop();
            }
            const log = await device.stop(30_000);
            const step = stack.timings.slice(mark).find((t) => t.op === "update" && t.name === `${label}-container`);
            if (!step) throw new Error(`run ${i + 1}: the container command was not updated: no upgrade happened`);
            if (current.outputs.bases[label] !== to) throw new Error(`run ${i + 1}: the stack says ${label} is on ${current.outputs.bases[label]}, not ${to}`);
            const row = { command: step.seconds, https: longestOutageMs(watch.outages.get(name)!) / 1000, answers: watch.longestGapMs.get(name)! / 1000, mqtt: log.longestGapMs / 1000 };
            rows.push(row);
            process.stdout.write(`upgrade ${i + 1} (to ${to}): command ${row.command.toFixed(1)} s; Grafana's name failing ${row.https.toFixed(1)} s, `
                + `longest gap between its answers ${row.answers.toFixed(1)} s; `
                + `device: longest gap between acknowledged messages ${row.mqtt.toFixed(1)} s (${log.acked.length} acknowledged, ${log.failures} attempts retried)\n`);
        }
        process.stdout.write(`median of ${runs}: command ${median(rows.map((r) => r.command)).toFixed(1)} s; `
            + `Grafana's name failing ${median(rows.map((r) => r.https)).toFixed(1)} s, gap between answers ${median(rows.map((r) => r.answers)).toFixed(1)} s; MQTT gap ${median(rows.map((r) => r.mqtt)).toFixed(1)} s\n`);
    } finally {
        await stack.stop();
    }
}

main().catch((e) => {
    process.stderr.write(`bench-upgrade: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
});
