/**
 * `npm run verify` against a lab stack: the stack config with chosen hosts (names,
 * capacities, drain), a deployment carried out for it, and verify's options pointing at the
 * lab (its PowerDNS on loopback, pebble's root, the lab's SSH key). Shared by the verify
 * suite, the end to end suite and scripts/bench-verify.ts.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { CustomersFileEntry } from "../components/customers";
import { PROJECT, SECRET_KEYS } from "../components/config";
import { declaredFleet } from "../scripts/lib/verify/fleet";
import { verifyFleet, VerifyOptions } from "../scripts/lib/verify/run";
import { DeclaredFleet, MqttCredentials, Report } from "../scripts/lib/verify/types";
import { carryOut, Deployment } from "./executor";
import { LabStack } from "./lab-stack";
import { isLabAddress } from "./netsafety";

/** A host of the lab stack's config, beyond what the lab gives. */
export interface LabHostSpec {
    name: string;
    capacity: number;
    drain?: boolean;
    /** Left out of the stack config (a host removed from the fleet). */
    removed?: boolean;
    /** The machine is gone (hosts[].lost): its customers are restored on the others. */
    lost?: boolean;
}

/** The stack config for `customers` on the lab's hosts with `specs` (capacity, drain). */
export function labStackConfig(stack: LabStack, customers: CustomersFileEntry[], specs: LabHostSpec[]): { config: Record<string, string>; secretKeys: string[]; customersFile: string } {
    const dir = path.join(stack.lab.state.dir, "stack");
    fs.mkdirSync(dir, { recursive: true });
    const customersFile = path.join(dir, `customers-${crypto.randomBytes(4).toString("hex")}.json`);
    fs.writeFileSync(customersFile, JSON.stringify({ customers }, null, 2));
    const { config, secretKeys } = stack.config(customersFile);
    const hosts = JSON.parse(config[`${PROJECT}:hosts`]) as any[];
    config[`${PROJECT}:hosts`] = JSON.stringify(hosts.filter((h) => !specs.find((x) => x.name === h.name)?.removed).map((h) => {
        const s = specs.find((x) => x.name === h.name);
        return s ? { ...h, capacity: s.capacity, ...(s.drain ? { drain: true } : {}), ...(s.lost ? { lost: true } : {}) } : h;
    }));
    return { config, secretKeys, customersFile };
}

/** Carries the program out for a config (as LabStack.deploy does for its default config). */
export function deployConfig(stack: LabStack, program: () => any, c: { config: Record<string, string>; secretKeys: string[] }, previous?: Deployment,
    opts: { deleteRemoved?: boolean } = {}): Promise<Deployment> {
    return carryOut(program, { config: c.config, secretKeys: c.secretKeys, handlers: stack.handlers, previous, stack: "lab", deleteRemoved: opts.deleteRemoved });
}

/** The credentials a deployment's outputs hold (what `pulumi stack output --show-secrets` gives). */
export function credentialsOf(d: Deployment): Record<string, MqttCredentials> {
    const out: Record<string, MqttCredentials> = {};
    for (const [label, c] of Object.entries<any>(d.outputs?.customers ?? {})) {
        if (c?.credentials?.mqttPassword) out[label] = { mqttUsername: c.credentials.mqttUsername, mqttPassword: c.credentials.mqttPassword };
    }
    return out;
}

/** The fleet a deployment declares, as verify sees it (stack "lab"). */
export function labFleet(config: Record<string, string>, d: Deployment): Promise<DeclaredFleet> {
    return declaredFleet({ config, stack: "lab", previous: d.outputs.placements });
}

/** verify's options for the lab: its DNS, its CA (pebble's root, plus `extraCa`), its key. */
export function labVerifyOptions(stack: LabStack, fleet: DeclaredFleet, credentials: Record<string, MqttCredentials>, extraCa = ""): VerifyOptions {
    for (const h of fleet.hosts) {
        if (!isLabAddress(h.address)) throw new Error(`refusing to verify ${h.name} at ${h.address}: not a lab address`);
    }
    return {
        fleet,
        credentials,
        ca: fs.readFileSync(stack.pebble.rootCaPath, "utf8") + extraCa,
        dnsServer: { host: "127.0.0.1", port: stack.pdns.dnsPort },
        ssh: { privateKey: stack.lab.privateKey() },
        // The production default: on a loaded 2-core CI machine an SSH handshake into a lab
        // host has taken over 5 s.
        timeoutMs: 10_000,
        perHost: 8,
    };
}

export function runVerify(o: VerifyOptions): Promise<Report> {
    return verifyFleet(o);
}

/**
 * Writes `config` as a stack file (`Pulumi.<stack>.yaml`) without its secrets, as an operator's
 * checkout holds it (the secrets are in the stack's encrypted config, not in the file).
 */
export function writeStackFile(config: Record<string, string>, file: string): void {
    const plain: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config)) {
        if ((SECRET_KEYS as readonly string[]).some((s) => k === `${PROJECT}:${s}`)) continue;
        try {
            plain[k] = /^[[{]/.test(v) ? JSON.parse(v) : v;
        } catch {
            plain[k] = v;
        }
    }
    fs.writeFileSync(file, yaml.dump({ config: plain }));
}

/**
 * Files for the CLI (`npm run verify`) against the lab: a stack file without secrets, the
 * stack outputs as `pulumi stack output --show-secrets --json` prints them, the CA and key.
 */
export function writeCliFiles(stack: LabStack, config: Record<string, string>, d: Deployment, dir: string): { args: string[] } {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stackFile = path.join(dir, "Pulumi.lab.yaml");
    writeStackFile(config, stackFile);
    const outputs = path.join(dir, "outputs.json");
    fs.writeFileSync(outputs, JSON.stringify(d.outputs, null, 2), { mode: 0o600 });
    return {
        args: ["--stack", "lab", "--stack-file", stackFile, "--credentials", outputs, "--ca-file", stack.pebble.rootCaPath,
            "--dns-server", `127.0.0.1:${stack.pdns.dnsPort}`, "--ssh-key", stack.lab.state.privateKeyPath, "--timeout", "10"],
    };
}
