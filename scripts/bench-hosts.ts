/**
 * Benchmark (not a test) of the host side, on a lab host: the program carried out for real
 * (records, then the customer's one playbook run: container, services, NGINX with the host's
 * wildcard certificate, firewall) for one new customer, then for ten new customers at once on
 * the same host; prints both times and their ratio, and the seconds of each phase.
 *
 *   npm run bench:hosts
 *
 * Needs root and the lab's Debian packages (see .ci/run). Tears the lab down when done.
 */
import * as fs from "fs";
import * as os from "os";
import { CustomersFileEntry } from "../components/customers";
import { Deployment } from "../lab/executor";
import { LabStack, Timing } from "../lab/lab-stack";
import program = require("../index");
import { since } from "./lib/bench";

/** The machine's CPU seconds busy and in all so far (/proc/stat; the lab's hosts share this kernel). */
function cpuSeconds(): { busy: number; all: number; self: number } {
    const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const hz = 100; // USER_HZ on Linux
    const idle = f[3] + (f[4] ?? 0);
    const all = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const self = process.cpuUsage();
    return { busy: (all - idle) / hz, all: all / hz, self: (self.user + self.system) / 1e6 };
}

/** How busy the CPUs were since `from`: CPU seconds used, the share of all the cores, and this process's part. */
function cpuSince(from: { busy: number; all: number; self: number }): string {
    const now = cpuSeconds();
    const busy = now.busy - from.busy;
    return `${busy.toFixed(1)} CPU s, ${((100 * busy) / (now.all - from.all)).toFixed(0)}% of ${os.cpus().length} cores; `
        + `of it this process (the program, SSH) ${(now.self - from.self).toFixed(1)} s`;
}

function phase(timings: Timing[], from: number, suffix: string): string {
    const xs = timings.slice(from).filter((t) => t.op === "create" && t.name.endsWith(suffix)).map((t) => t.seconds);
    if (!xs.length) return "-";
    return `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)} s`;
}

async function main(): Promise<void> {
    const host = "osm-bench1";
    let t = Date.now();
    const stack = await LabStack.start({ id: "bench", hostNames: [host], capacity: 40 });
    const up = since(t);
    try {
        t = Date.now();
        const empty: Deployment = await stack.deploy(program, []);
        const setup = since(t);

        const one: CustomersFileEntry[] = [{ name: "Bench Single" }];
        let mark = stack.timings.length;
        t = Date.now();
        let cpu = cpuSeconds();
        const d1 = await stack.deploy(program, one, empty);
        const single = since(t);
        const singleCpu = cpuSince(cpu);
        const singleContainer = phase(stack.timings, mark, "-container");
        const rerunSetup1 = stack.timings.slice(mark).some((x) => x.name.endsWith("-setup"));

        const ten: CustomersFileEntry[] = Array.from({ length: 10 }, (_, i) => ({ name: `Bench Ten ${i + 1}` }));
        mark = stack.timings.length;
        t = Date.now();
        cpu = cpuSeconds();
        await stack.deploy(program, [...one, ...ten], d1);
        const tenAtOnce = since(t);
        const tenCpu = cpuSince(cpu);
        const rerunSetup10 = stack.timings.slice(mark).some((x) => x.name.endsWith("-setup"));

        const lines = [
            `lab up (base ${stack.seconds.base.toFixed(1)} s${stack.seconds.base > 5 ? ", built" : ", cached"}; hosts + PowerDNS + pebble ${stack.seconds.labUp.toFixed(1)} s): ${up.toFixed(1)} s`,
            `host bootstrap + ansible copy + host-setup: ${setup.toFixed(1)} s`,
            `one customer (records, customer playbook ${singleContainer}): ${single.toFixed(1)} s (${singleCpu})`,
            `ten customers at once on one host (customer playbooks ${phase(stack.timings, mark, "-container")}): ${tenAtOnce.toFixed(1)} s (${tenCpu})`,
            `ratio ten-at-once / one: ${(tenAtOnce / single).toFixed(2)} (aim: one < 5 s, ratio < 3)`,
        ];
        if (rerunSetup1 || rerunSetup10) lines.push("note: host-setup re-ran during a measurement (ansible/ changed meanwhile); figures include it");
        process.stdout.write(lines.join("\n") + "\n");
    } finally {
        await stack.stop();
    }
}

main().catch((e) => {
    process.stderr.write(`bench-hosts: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
});
