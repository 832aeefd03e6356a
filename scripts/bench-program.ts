/**
 * npm run bench: the program's evaluation time and peak memory under mocks for 10, 100 and
 * 1000 customers (a benchmark to read, not a timed test). Each size runs in a fresh process
 * so one does not warm or bloat the next.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { projectRoot } from "../components/paths";

const SIZES = [10, 100, 1000];

/** The node flags Pulumi.yaml gives the program, so the figures match `pulumi up`. */
function nodeArgs(): string[] {
    const project = yaml.load(fs.readFileSync(path.join(projectRoot(), "Pulumi.yaml"), "utf8")) as any;
    return String(project?.runtime?.options?.nodeargs ?? "").split(/\s+/).filter(Boolean);
}

async function one(n: number) {
    // Imported here so the parent process stays small.
    const { evaluateOffline } = await import("./lib/offline");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-bench-"));
    const file = path.join(dir, "customers.json");
    const customers = Array.from({ length: n }, (_, i) => ({ name: `Customer ${i} Ltd` }));
    fs.writeFileSync(file, JSON.stringify({ customers }));
    const hosts = Array.from({ length: Math.max(3, Math.ceil(n / 100)) }, (_, i) => ({
        name: `osm${i + 1}`, address: `203.0.113.${10 + i}`, capacity: 200,
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJkEVt2NJISwu3R2L27RjdHle/MzFCz2Y3uqFaKDvZXQ",
    }));
    const start = process.hrtime.bigint();
    const { resources } = await evaluateOffline({ stack: "prod", customersFile: file, overrides: { "osm-hosting:hosts": JSON.stringify(hosts) } });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    fs.rmSync(dir, { recursive: true, force: true });
    const peakMiB = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(JSON.stringify({ n, resources: resources.length, ms, peakMiB }) + "\n");
}

function main() {
    const arg = process.argv[2];
    if (arg) return one(Number(arg)).then(() => process.exit(0));
    console.log(`node ${nodeArgs().join(" ")}`);
    console.log("customers  resources  evaluation  peak RSS   per customer");
    for (const n of SIZES) {
        const out = execFileSync(process.execPath, [...nodeArgs(), __filename, String(n)], { encoding: "utf8" });
        const r = JSON.parse(out.trim().split("\n").pop()!);
        console.log(`${String(r.n).padStart(9)}  ${String(r.resources).padStart(9)}  ${(r.ms / 1000).toFixed(2).padStart(8)} s  ${r.peakMiB.toFixed(0).padStart(5)} MiB  ${(r.ms / r.n).toFixed(2).padStart(7)} ms`);
    }
    return Promise.resolve();
}

main().catch((err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
});
