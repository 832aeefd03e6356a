/**
 * Evaluating the program offline: a stack's YAML turned into the config map the Pulumi
 * runtime would see, and the program run under mocks (no CLI, no network, no secrets).
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { PROJECT, SECRET_KEYS } from "../../components/config";
import { projectRoot } from "../../components/paths";
import { InputError } from "../../components/problems";
import { evaluate, Evaluation, Registered, unwrapSecrets } from "./engine";

/** Placeholders for secrets: the plan never needs the real ones. */
const PLACEHOLDER_SECRETS: Record<string, string> = {
    sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nplan-placeholder\n-----END OPENSSH PRIVATE KEY-----\n",
    powerdnsApiKey: "plan-placeholder",
    powerdnsMysqlAdminPassword: "plan-placeholder",
    // Base64, as the TSIG secret's rule wants.
    acmeTsigSecret: "cGxhbi1wbGFjZWhvbGRlci10c2lnLXNlY3JldA==",
    backupPassword: "plan-placeholder-restic-password",
    backupSftpKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nplan-placeholder\n-----END OPENSSH PRIVATE KEY-----\n",
    backupS3AccessKeyId: "plan-placeholder",
    backupS3SecretAccessKey: "plan-placeholder-secret",
};

/** The backup secrets the stack's `backup` needs (none without it): a placeholder for any other would be a leftover. */
function backupSecretsNeeded(config: Record<string, string>): string[] {
    const raw = config[`${PROJECT}:backup`];
    if (raw === undefined) return [];
    let repo: string;
    try {
        repo = String((JSON.parse(raw) as { repository?: unknown })?.repository ?? "");
    } catch {
        return ["backupPassword"];
    }
    return ["backupPassword", ...(repo.startsWith("s3:") ? ["backupS3AccessKeyId", "backupS3SecretAccessKey"] : repo.startsWith("sftp:") ? ["backupSftpKey"] : [])];
}

/** `Pulumi.<stack>.yaml` as a Pulumi config map (objects JSON-encoded, keys namespaced). */
export function readStackFile(file: string): Record<string, string> {
    let doc: { config?: Record<string, unknown> } | undefined;
    try {
        doc = yaml.load(fs.readFileSync(file, "utf8")) as typeof doc;
    } catch (err) {
        if (!(err instanceof yaml.YAMLException)) throw err;
        const at = err.mark ? `line ${err.mark.line + 1}, column ${err.mark.column + 1}: ` : "";
        throw new InputError([{ file, path: "", message: `is not valid YAML (${at}${err.reason}); fix the syntax` }]);
    }
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(doc?.config ?? {})) {
        const full = key.includes(":") ? key : `${PROJECT}:${key}`;
        if (value && typeof value === "object" && "secure" in (value as object)) continue; // encrypted: replaced below
        out[full] = typeof value === "string" ? value : JSON.stringify(value);
    }
    return out;
}

/** The config map with every secret the program reads filled by a placeholder. */
export function withPlaceholderSecrets(config: Record<string, string>): { config: Record<string, string>; secretKeys: string[] } {
    const out = { ...config };
    const secretKeys: string[] = [];
    for (const key of SECRET_KEYS) {
        const full = `${PROJECT}:${key}`;
        if (key === "powerdnsMysqlAdminPassword" && out[`${PROJECT}:powerdnsMysql`] === undefined) continue;
        if (key.startsWith("backup") && !backupSecretsNeeded(config).includes(key)) continue;
        // A value already here came in plain text: left unmarked, so the program refuses it.
        if (out[full] !== undefined) continue;
        out[full] = out[full] ?? PLACEHOLDER_SECRETS[key];
        secretKeys.push(full);
    }
    return { config: out, secretKeys };
}

export interface OfflineOptions {
    /** Stack name: reads `Pulumi.<stack>.yaml` from the project root. */
    stack: string;
    /** Customers file (overrides the stack's `customersFile`). */
    customersFile?: string;
    /** Previous `placements` output. */
    previous?: unknown;
    /** Extra or replacing config values (full keys); those of secret keys count as secrets. */
    overrides?: Record<string, string>;
}

/** The config map (and its secret keys) the program sees for a stack offline. */
export function offlineConfig(opts: OfflineOptions): { config: Record<string, string>; secretKeys: string[] } {
    const root = projectRoot();
    const stackFile = path.join(root, `Pulumi.${opts.stack}.yaml`);
    if (!fs.existsSync(stackFile)) throw new Error(`no stack file ${stackFile}; pass --stack NAME for an existing Pulumi.NAME.yaml`);
    const base = readStackFile(stackFile);
    if (opts.customersFile) base[`${PROJECT}:customersFile`] = path.resolve(opts.customersFile);
    const secretOverrides = new Set(SECRET_KEYS.map((k) => `${PROJECT}:${k}`).filter((k) => opts.overrides?.[k] !== undefined));
    const plainOverrides = Object.fromEntries(Object.entries(opts.overrides ?? {}).filter(([k]) => !secretOverrides.has(k)));
    const { config, secretKeys } = withPlaceholderSecrets({ ...base, ...plainOverrides });
    for (const k of secretOverrides) {
        config[k] = opts.overrides![k];
        if (!secretKeys.includes(k)) secretKeys.push(k);
    }
    return { config, secretKeys };
}

/** Evaluates index.ts for a stack offline. */
export async function evaluateOffline(opts: OfflineOptions): Promise<Evaluation<any>> {
    const { config, secretKeys } = offlineConfig(opts);
    // Loaded on first use: a missing stack file is reported without loading the program.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program: () => Promise<unknown> = require("../../index");
    return evaluate(program, {
        config, secretKeys, stack: opts.stack, project: PROJECT,
        stackReferenceOutputs: opts.previous === undefined ? {} : { placements: opts.previous },
    });
}

export interface DnsRecord { name: string; type: string; content: string }

/** The PowerDNS records a evaluation declares, one line per content. */
export function declaredRecords(resources: Registered[]): DnsRecord[] {
    return resources
        .filter((r) => r.type === "pulumi-nodejs:dynamic:Resource" && r.inputs.type && r.inputs.records)
        .flatMap((r) => {
            const i = unwrapSecrets(r.inputs);
            return (i.records as string[]).map((content) => ({ name: i.name, type: i.type, content }));
        });
}
