/**
 * Benchmark (not a test) of `npm run verify`'s wall time on lab fleets carried out for real:
 *  1. the example fleet (customers.json on four hosts as in Pulumi.prod.yaml, osm0 draining);
 *  2. 100 customers on two lab hosts (deployed in waves of 20).
 * Each verify runs three times; the median, min and max are printed, with the deploy times;
 * the 100-customer fleet is also measured once after each wave.
 *
 *   npm run bench:verify [-- --only example|hundred] [-- --customers N]
 *
 * Needs root and the lab's Debian packages (see .ci/run). Tears each lab down when done.
 */
import * as fs from "fs";
import * as path from "path";
import { CustomersFileEntry } from "../components/customers";
import { Deployment } from "../lab/executor";
import { REPO_ROOT } from "../lab/hosts";
import { LabStack } from "../lab/lab-stack";
import { credentialsOf, deployConfig, LabHostSpec, labFleet, labStackConfig, labVerifyOptions } from "../lab/verify-stack";
import { formatReport } from "./lib/verify/report";
import { verifyFleet } from "./lib/verify/run";
import program = require("../index");
import { since } from "./lib/bench";

let lastNotes = "";

async function measure(stack: LabStack, config: Record<string, string>, d: Deployment, runs = 3): Promise<string> {
    const fleet = await labFleet(config, d);
    const o = labVerifyOptions(stack, fleet, credentialsOf(d));
    const times: number[] = [];
    let checks = 0;
    for (let i = 0; i < runs; i++) {
        const t = Date.now();
        const rep = await verifyFleet(o);
        times.push(since(t));
        checks = rep.results.length;
        lastNotes = rep.results.filter((r) => r.check === "status").map((r) => `${r.name}: ${r.note}`).join("; ");
        if (!rep.ok) throw new Error(`verify failed on the benchmark fleet:\n${formatReport(rep)}`);
    }
    times.sort((a, b) => a - b);
    process.stderr.write(`[bench-verify] ${lastNotes}\n`);
    return `${fleet.customers.length} customers on ${fleet.hosts.length} hosts, ${checks} checks: median ${times[Math.floor(runs / 2)].toFixed(2)} s (min ${times[0].toFixed(2)}, max ${times[runs - 1].toFixed(2)}; --per-host ${o.perHost})`;
}

async function fleetBench(id: string, hosts: LabHostSpec[], customers: CustomersFileEntry[], wave: number): Promise<string> {
    let t = Date.now();
    const stack = await LabStack.start({ id, hostNames: hosts.map((h) => h.name) });
    const up = since(t);
    try {
        t = Date.now();
        let d: Deployment | undefined;
        let config: Record<string, string> = {};
        for (let n = Math.min(wave, customers.length); ; n = Math.min(n + wave, customers.length)) {
            const c = labStackConfig(stack, customers.slice(0, n), hosts);
            config = c.config;
            d = await deployConfig(stack, program, c, d);
            process.stderr.write(`[bench-verify] ${id}: ${n}/${customers.length} customers carried out (${since(t).toFixed(0)} s)\n`);
            if (n === customers.length) break;
            // A figure per wave too: on a slow machine the last waves may not be reached in time.
            process.stdout.write(`${id} after ${n} customers: verify ${await measure(stack, config, d, 1)}\n`);
        }
        const deploy = since(t);
        const line = await measure(stack, config, d!);
        return `${id}: lab up ${up.toFixed(1)} s, deploy ${deploy.toFixed(1)} s; verify ${line}`;
    } finally {
        await stack.stop();
    }
}

async function main(): Promise<void> {
    const args = process.argv.slice(2);
    const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
    const count = args.includes("--customers") ? Number(args[args.indexOf("--customers") + 1]) : 100;
    const lines: string[] = [];
    if (!only || only === "example") {
        const customers = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "customers.json"), "utf8")) as { customers: CustomersFileEntry[] }).customers;
        const hosts = [{ name: "osm1", capacity: 40 }, { name: "osm2", capacity: 40 }, { name: "osm3", capacity: 60 }, { name: "osm0", capacity: 20, drain: true }];
        lines.push(await fleetBench("bench-example", hosts, customers, customers.length));
        process.stdout.write(lines[lines.length - 1] + "\n");
    }
    if (!only || only === "hundred") {
        const customers = Array.from({ length: count }, (_, i) => ({ name: `Bench Customer ${i + 1}` }));
        lines.push(await fleetBench("bench-hundred", [{ name: "osm-b1", capacity: 60 }, { name: "osm-b2", capacity: 60 }], customers, 20));
        process.stdout.write(lines[lines.length - 1] + "\n");
    }
}

main().catch((e) => {
    process.stderr.write(`bench-verify: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
});
