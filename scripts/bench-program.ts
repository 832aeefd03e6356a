/**
 * npm run bench: the program's evaluation time and peak memory under mocks for 10, 100 and
 * 1000 customers, beside the bare SDK's floor: a program that registers the same resources
 * (types, parents, dependencies, inputs of the same shapes) with no program logic, under the
 * same SDK, engine and node flags. A benchmark to read, not a timed test. Each size and kind
 * runs in a fresh process so one does not warm or bloat the next.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import type { CustomResourceOptions, Inputs } from "@pulumi/pulumi";
import { projectRoot } from "../components/paths";

const SIZES = [10, 100, 1000];

/** The node flags Pulumi.yaml gives the program, so the figures match `pulumi up`. */
function nodeArgs(): string[] {
    const project = yaml.load(fs.readFileSync(path.join(projectRoot(), "Pulumi.yaml"), "utf8")) as any;
    return String(project?.runtime?.options?.nodeargs ?? "").split(/\s+/).filter(Boolean);
}

type Kind = "program" | "floor";

function benchHosts(n: number) {
    return Array.from({ length: Math.max(3, Math.ceil(n / 100)) }, (_, i) => ({
        name: `osm${i + 1}`, address: `203.0.113.${10 + i}`, capacity: 200,
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJkEVt2NJISwu3R2L27RjdHle/MzFCz2Y3uqFaKDvZXQ",
    }));
}

/**
 * The floor: per host a component with an A record, two commands and a copy; per customer a
 * component with three records and two commands, each record taking its host's and each
 * command its host's outputs, inputs of the same size as the program's. No config, no
 * validation, no placement.
 */
async function floorProgram(n: number): Promise<() => unknown> {
    const pulumi = await import("@pulumi/pulumi");
    const command = await import("@pulumi/command");
    /** A record's `__provider`: as long as the program's loader. */
    const LOADER_SIZED = "x".repeat((await import("../components/powerdns/record")).PROVIDER_LOADER.length);
    /** A custom resource of any type token, as the engine sees a dynamic Record. */
    class Plain extends pulumi.CustomResource {
        constructor(type: string, name: string, props: Inputs, opts: CustomResourceOptions) {
            super(type, name, props, opts);
        }
    }
    return () => {
        const hosts = benchHosts(n).map((h) => {
            const c = new pulumi.ComponentResource("osm:hosting:Host", h.name, {}, {});
            const connection = pulumi.secret({ host: h.address, port: 22, user: "root", hostKey: h.hostKey, privateKey: "k".repeat(400), dialErrorLimit: 4, perDialTimeout: 15 });
            const record = new Plain("pulumi-nodejs:dynamic:Resource", `${h.name}-a`, {
                apiUrl: "https://ns1.example.org:8081", apiKey: pulumi.secret("key"), zone: "example.org", ttl: 300, name: `${h.name}.example.org.`, type: "A", records: [h.address], __provider: LOADER_SIZED,
            }, { parent: c });
            const bootstrap = new command.remote.Command(`${h.name}-bootstrap`, { connection, create: "x".repeat(1200), addPreviousOutputInEnv: false }, { parent: c });
            const copy = new command.remote.CopyToRemote(`${h.name}-ansible`, { connection, source: new pulumi.asset.FileArchive("."), remotePath: "/opt/osm" }, { parent: c, dependsOn: [bootstrap] });
            const setup = new command.remote.Command(`${h.name}-setup`, { connection, create: "bash /opt/osm/ansible/run host-setup.yml", environment: { OSM_HOST_NAME: h.name, OSM_DOMAIN: "example.org" }, addPreviousOutputInEnv: false }, { parent: c, dependsOn: [copy] });
            return { connection, record, setup, name: h.name };
        });
        return Object.fromEntries(Array.from({ length: n }, (_, i) => {
            const label = `customer-${i}-ltd`;
            const h = hosts[i % hosts.length];
            const c = new pulumi.ComponentResource("osm:hosting:Customer", label, {}, {});
            const records = ["grafana", "influx", "chirpstack"].map((s) => new Plain("pulumi-nodejs:dynamic:Resource", `${label}-${s}`, {
                apiUrl: "https://ns1.example.org:8081", apiKey: pulumi.secret("key"), zone: "example.org", ttl: 300, name: `${label}-${s}.example.org.`, type: "CNAME", records: [`${h.name}.example.org.`], __provider: LOADER_SIZED,
            }, { parent: c }));
            const environment = { OSM_CUSTOMER: label, OSM_DOMAIN: "example.org", OSM_HOST_NAME: h.name, OSM_MQTT_PORT: "8900", OSM_CPUS: "1", OSM_MEMORY_MIB: "1024", OSM_ACME_SERVER: "https://acme.example.org/dir", OSM_ACME_EMAIL: "ops@example.org", OSM_PLAYBOOK_HASH: "0123456789abcdef" };
            const container = new command.remote.Command(`${label}-container`, { connection: h.connection, create: "bash /opt/osm/ansible/run container-create.yml", delete: "bash /opt/osm/ansible/run container-delete.yml", environment, triggers: [h.name], addPreviousOutputInEnv: false }, { parent: c, dependsOn: [...records, h.setup] });
            const provision = new command.remote.Command(`${label}-provision`, { connection: h.connection, create: "bash /opt/osm/ansible/run container-provision.yml", environment, triggers: [h.name], addPreviousOutputInEnv: false, logging: "stderr" }, { parent: c, dependsOn: [container], additionalSecretOutputs: ["stdout"] });
            return [label, { host: h.name, credentials: pulumi.secret(provision.stdout) }];
        }));
    };
}

async function one(kind: Kind, n: number) {
    // Imported here so the parent process stays small.
    const start = process.hrtime.bigint();
    let resources: number;
    let stateKiB: number | undefined;
    if (kind === "floor") {
        const { evaluate } = await import("./lib/engine");
        const ev = await evaluate(await floorProgram(n), { config: {}, stack: "prod" });
        resources = ev.resources.length;
    } else {
        const { evaluateOffline } = await import("./lib/offline");
        const { productionSizedSecrets } = await import("./lib/state-size");
        const { PROJECT } = await import("../components/config");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-bench-"));
        const file = path.join(dir, "customers.json");
        fs.writeFileSync(file, JSON.stringify({ customers: Array.from({ length: n }, (_, i) => ({ name: `Customer ${i} Ltd` })) }));
        // A fleet of its own, not prod's: against prod's lock it would delete prod's customers (refused by maxDeletes).
        const ev = await evaluateOffline({ stack: "prod", customersFile: file, overrides: {
            ...productionSizedSecrets(PROJECT), [`${PROJECT}:hosts`]: JSON.stringify(benchHosts(n)), [`${PROJECT}:placementsLock`]: path.join(dir, "no.lock.json"),
        } });
        resources = ev.resources.length;
        stateKiB = (await import("./lib/state-size")).stateSize(ev.resources).perCustomerBytes / 1024;
        fs.rmSync(dir, { recursive: true, force: true });
    }
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const peakMiB = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(JSON.stringify({ kind, n, resources, ms, peakMiB, stateKiB }) + "\n");
}

function run(kind: Kind, n: number): { resources: number; ms: number; peakMiB: number; stateKiB?: number } {
    const out = execFileSync(process.execPath, [...nodeArgs(), ...(process.env.OSM_BENCH_NODE_ARGS ?? "").split(/\s+/).filter(Boolean), __filename, kind, String(n)], { encoding: "utf8" });
    return JSON.parse(out.trim().split("\n").pop()!);
}

function main() {
    const [kind, size] = process.argv.slice(2);
    if (kind) return one(kind as Kind, Number(size)).then(() => process.exit(0));
    console.log(`node ${nodeArgs().join(" ")}`);
    console.log("customers  resources  program (time, peak RSS)   floor (time, peak RSS)    ratio time  ratio memory  inputs per customer");
    for (const n of SIZES) {
        const p = run("program", n);
        const f = run("floor", n);
        console.log(`${String(n).padStart(9)}  ${String(p.resources).padStart(9)}  ${(p.ms / 1000).toFixed(2).padStart(7)} s ${p.peakMiB.toFixed(0).padStart(6)} MiB   ${(f.ms / 1000).toFixed(2).padStart(7)} s ${f.peakMiB.toFixed(0).padStart(6)} MiB   ${(p.ms / f.ms).toFixed(2).padStart(9)}x ${(p.peakMiB / f.peakMiB).toFixed(2).padStart(11)}x  ${p.stateKiB!.toFixed(2).padStart(8)} KiB`);
        if (p.resources !== f.resources) console.log(`           (the floor registered ${f.resources} resources: its shapes no longer match the program's)`);
    }
    return Promise.resolve();
}

main().catch((err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
});
