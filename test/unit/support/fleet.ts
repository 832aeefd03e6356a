/**
 * Shared fixtures of the unit suites: a small test fleet's stack config, sentinel secrets,
 * customers files in a scratch directory, a seeded PRNG, and index.ts evaluated under mocks.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as assert from "assert";
import { InputError } from "../../../components/problems";
import { configMap, evaluate, Evaluation, NewResourceArgs } from "../../../scripts/lib/engine";
import program = require("../../../index");
// The SDK's runtime internals (the mock monitor), used untyped on purpose.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeSettings = require("@pulumi/pulumi/runtime/settings");

export const PROJECT = "osm-hosting";

/** Distinctive secret values: any plain occurrence of them anywhere is a leak. */
export const SENTINEL_SSH_KEY =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nSENTINEL-ssh-key-6f1d2c9ab7e04a\n-----END OPENSSH PRIVATE KEY-----\n";
export const SENTINEL_SSH_KEY_MARK = "SENTINEL-ssh-key-6f1d2c9ab7e04a";
export const SENTINEL_API_KEY = "SENTINEL-pdns-api-key-93be55c41f";
export const SENTINEL_MYSQL_ADMIN = "SENTINEL-mysql-admin-0a7c3d";
export const SENTINEL_CUSTOMER_PASSWORD = "SENTINEL-mqtt-password-5e8f21";
export const SENTINEL_GENERATED_PASSWORD = "SENTINEL-generated-password-c47d";
/** Base64, as a TSIG secret must be. */
export const SENTINEL_TSIG_SECRET = "U0VOVElORUwtdHNpZy1zZWNyZXQtN2E5Yg==";
export const ALL_SENTINELS = [SENTINEL_SSH_KEY_MARK, SENTINEL_API_KEY, SENTINEL_MYSQL_ADMIN,
    SENTINEL_CUSTOMER_PASSWORD, SENTINEL_GENERATED_PASSWORD, SENTINEL_TSIG_SECRET];

export const DOMAIN = "osm.test.example";

export const HOST_KEYS = {
    alpha: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlphaAlphaAlphaAlphaAlphaAlphaAlpha00001",
    beta: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBetaBetaBetaBetaBetaBetaBetaBetaBeta0002",
    gamma: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGammaGammaGammaGammaGammaGammaGamma03",
};

/** Three hosts: alpha (plain), beta (SSH on 2222), gamma (draining). */
export function testHosts(): any[] {
    return [
        { name: "alpha", address: "192.0.2.10", capacity: 3, hostKey: HOST_KEYS.alpha },
        { name: "beta", address: "192.0.2.11", capacity: 4, hostKey: HOST_KEYS.beta, sshPort: 2222 },
        { name: "gamma", address: "192.0.2.12", capacity: 5, hostKey: HOST_KEYS.gamma, drain: true },
    ];
}

/** Plain (non-secret) stack settings of the test fleet, short keys. */
export function testSettings(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        domain: DOMAIN,
        sshUser: "osmadmin",
        hosts: testHosts(),
        powerdns: { apiUrl: "http://127.0.0.1:8081", zone: "test.example", ttl: 120 },
        acme: { server: "https://acme.test.example/dir", email: "ops@test.example", dnsServer: "192.0.2.53", tsigKey: "osm-acme" },
        containerLimits: { cpus: 3, memoryMiB: 3072 },
        ...overrides,
    };
}

export const TEST_SECRETS: Record<string, string> = {
    sshPrivateKey: SENTINEL_SSH_KEY,
    powerdnsApiKey: SENTINEL_API_KEY,
    acmeTsigSecret: SENTINEL_TSIG_SECRET,
};

/** A short-key lookup as `readSettings` takes it. */
export function lookupOf(values: Record<string, unknown>): (key: string) => string | undefined {
    return (key) => {
        const v = values[key];
        if (v === undefined) return undefined;
        return typeof v === "string" ? v : JSON.stringify(v);
    };
}

/** A scratch directory removed by `cleanup()`. */
export class Scratch {
    public readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-unit-"));
    private n = 0;

    /** Writes a customers file (a document, or raw text) and returns its path. */
    customers(doc: unknown): string {
        const file = path.join(this.dir, `customers-${++this.n}.json`);
        fs.writeFileSync(file, typeof doc === "string" ? doc : JSON.stringify(doc, null, 2));
        return file;
    }

    json(name: string, doc: unknown): string {
        const file = path.join(this.dir, name);
        fs.writeFileSync(file, JSON.stringify(doc));
        return file;
    }

    cleanup(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

export interface ProgramRun {
    /** Plain settings (short keys); default `testSettings()`. */
    settings?: Record<string, unknown>;
    /** Secret settings (short keys); default `TEST_SECRETS`. */
    secrets?: Record<string, string>;
    /** Keys of `secrets` the stack holds in plain text (not marked secret). */
    plainSecrets?: string[];
    /** Path of the customers file. */
    customersFile: string;
    /** The stack's previous `placements` output. */
    previous?: unknown;
    /** The stack's previous `bases` output (none: the stack had no bases output). */
    previousBases?: unknown;
    newResource?: (args: NewResourceArgs) => Promise<{ id: string; state: Record<string, any> }>;
    /** The program to evaluate; default the project's index.ts (a copy elsewhere reads its own ansible/). */
    program?: () => unknown;
}

/** Evaluates index.ts (the compiled program) for the test stack under mocks. */
export function runProgram(run: ProgramRun): Promise<Evaluation<any>> {
    const secrets = run.secrets ?? TEST_SECRETS;
    const config = configMap({ ...(run.settings ?? testSettings()), customersFile: run.customersFile, ...secrets });
    return evaluate(run.program ?? program, {
        config,
        secretKeys: Object.keys(secrets).filter((k) => !run.plainSecrets?.includes(k)).map((k) => `${PROJECT}:${k}`),
        project: PROJECT,
        stack: "unit",
        stackReferenceOutputs: {
            ...(run.previous === undefined ? {} : { placements: run.previous }),
            ...(run.previousBases === undefined ? {} : { bases: run.previousBases }),
        },
        newResource: run.newResource,
    });
}

/**
 * Runs the program expecting an InputError (a check failed); returns it and every resource
 * registered, components included (the mock monitor keeps each registration it completed).
 */
export async function runRefused(run: ProgramRun): Promise<{ err: InputError; registered: string[] }> {
    const custom: string[] = [];
    let err: unknown;
    try {
        await runProgram({ ...run, newResource: async (a) => { custom.push(a.urn); return { id: `${a.name}-id`, state: a.inputs }; } });
    } catch (e) {
        err = e;
    }
    await runtimeSettings.waitForRPCs();
    const all = [...runtimeSettings.getMonitor().getRegisteredResources().keys()] as string[];
    assert.ok(err instanceof InputError, `expected an InputError, got ${err}`);
    return { err, registered: [...new Set([...custom, ...all])].filter((urn) => !urn.includes("pulumi:pulumi:StackReference")) };
}

/** mulberry32: a small seeded PRNG, so every "random" sequence is reproducible. */
export function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

export function randomInt(rand: () => number, lo: number, hi: number): number {
    return lo + Math.floor(rand() * (hi - lo + 1));
}

export function shuffled<T>(rand: () => number, items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
}
