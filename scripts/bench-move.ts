/**
 * Benchmark (not a test) of a move between two lab hosts, carried out by the program for real:
 * one customer with DATA_MIB of data in its container (default 1024: 1 GiB of random bytes,
 * which neither compresses nor deduplicates), pinned to the other host while a simulated
 * device publishes QoS 1 messages to it. Prints the move's wall time (including the old
 * host's forwarding for the record TTL), the phases of the new container's create, and the
 * longest gap between two acknowledged messages the device saw (the MQTT outage).
 *
 *   npm run bench:move [-- --mib N]
 *
 * Needs root and the lab's Debian packages (see .ci/run). Tears the lab down when done.
 */
import { CustomersFileEntry } from "../components/customers";
import { DeviceSimulator } from "../lab/device";
import { LAB_DOMAIN, LabStack } from "../lab/lab-stack";
import { MqttTarget } from "../lab/outside";
import { Deployment } from "../lab/executor";
import program = require("../index");
import { since, wholeArg } from "./lib/bench";

async function main(): Promise<void> {
    const mib = wholeArg("mib", 1024);
    const [a, b] = ["osm-bench-m1", "osm-bench-m2"];
    const stack = await LabStack.start({ id: "bmove", hostNames: [a, b] });
    try {
        const label = "bench-mover";
        const one: CustomersFileEntry[] = [{ name: "Bench Mover", host: a }];
        const d0 = await stack.deploy(program, one);
        const port = d0.outputs.placements[label].mqttPort as number;
        let t = Date.now();
        // Random bytes: a realistic worst case for the copy (no compression helps).
        await stack.lab.exec(a, "lxc-attach", ["-n", label, "--", "sh", "-c",
            `mkdir -p /srv/bench && head -c ${mib}M /dev/urandom > /srv/bench/blob && sync && sha256sum /srv/bench/blob`]);
        const before = (await stack.lab.exec(a, "lxc-attach", ["-n", label, "--", "sha256sum", "/srv/bench/blob"])).stdout.split(" ")[0];
        process.stderr.write(`[bench-move] ${mib} MiB written into ${label} on ${a} in ${since(t).toFixed(1)} s\n`);

        let current: Deployment = d0;
        const target = async (): Promise<MqttTarget> => {
            const c = current.outputs.customers[label].credentials;
            const name = `${label}.${LAB_DOMAIN}`;
            return { name, port, address: await stack.resolve(name), caFile: stack.pebble.rootCaPath, username: c.mqttUsername, password: c.mqttPassword };
        };
        const device = new DeviceSimulator(target, "bench/move", "bench-device");
        device.start();
        await new Promise((r) => setTimeout(r, 3000));
        const mark = stack.timings.length;
        t = Date.now();
        try {
            current = await stack.deploy(program, [{ name: "Bench Mover", host: b }], d0);
        } finally {
            await new Promise((r) => setTimeout(r, 3000));
        }
        const move = since(t);
        const log = await device.stop();
        const after = (await stack.lab.exec(b, "lxc-attach", ["-n", label, "--", "sha256sum", "/srv/bench/blob"])).stdout.split(" ")[0];
        if (after !== before) throw new Error(`the data differs after the move: ${before} -> ${after}`);
        const phases = stack.timings.slice(mark).filter((x) => x.op !== "same")
            .map((x) => `${x.name} ${x.op} ${x.seconds.toFixed(1)} s`).join("; ");
        process.stdout.write([
            `data: ${mib} MiB (sha256 the same after the move)`,
            `move, from pulumi up's start to the old copy archived: ${move.toFixed(1)} s (includes the old host forwarding for the TTL)`,
            `steps: ${phases}`,
            `device: longest gap between acknowledged messages ${(log.longestGapMs / 1000).toFixed(1)} s; ${log.acked.length} acknowledged, ${log.failures} attempts retried`,
            ...(log.errors.length ? [`first failed attempts: ${log.errors.slice(0, 3).join(" | ")}`] : []),
        ].join("\n") + "\n");
    } finally {
        await stack.stop();
    }
}

main().catch((e) => {
    process.stderr.write(`bench-move: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
});
