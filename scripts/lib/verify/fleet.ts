/**
 * The fleet as the stack declares it: the program's own evaluation under mocks (the same
 * placement `pulumi up` makes, given the stack's previous placements) plus the host settings
 * of the stack config. And the credentials file, `pulumi stack output --show-secrets --json`.
 */
import * as fs from "fs";
import { MAX_DELETES_CEILING, PROJECT, readSettings, SECRET_KEYS } from "../../../components/config";
import { customerNames, hostFqdn } from "../../../components/naming";
import { checkPlacements } from "../../../components/previous";
import { evaluate } from "../engine";
import { withPlaceholderSecrets } from "../offline";
import { DeclaredFleet, MqttCredentials } from "./types";

export interface FleetSource {
    /** The stack config as the runtime sees it (full keys, objects JSON-encoded). */
    config: Record<string, string>;
    stack: string;
    /** The stack's previous `placements` output, so customers stay where they are. */
    previous?: unknown;
}

/** Evaluates the program for `src` and returns its hosts and placed customers. */
export async function declaredFleet(src: FleetSource): Promise<DeclaredFleet> {
    // The config as the runtime resolved it: a secret present here was decrypted, not plain
    // text in the stack file (the program refuses that itself; verify only needs placements).
    const { config, secretKeys } = withPlaceholderSecrets(src.config);
    for (const k of SECRET_KEYS.map((key) => `${PROJECT}:${key}`)) if (config[k] !== undefined && !secretKeys.includes(k)) secretKeys.push(k);
    // Verify changes nothing: checking a subset (--customers) is not a deletion for
    // maxDeletes to refuse (pulumi up refuses those).
    config[`${PROJECT}:maxDeletes`] = String(MAX_DELETES_CEILING);
    const lookup = (k: string) => config[`${PROJECT}:${k}`];
    const { settings } = readSettings(lookup, `Pulumi.${src.stack}.yaml`, Object.keys(config));
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the program, loaded on first use
    const program: () => Promise<unknown> = require("../../../index");
    const ev = await evaluate(program, {
        config, secretKeys, stack: src.stack, project: PROJECT,
        stackReferenceOutputs: src.previous === undefined ? {} : { placements: src.previous },
    });
    const placements = ev.outputs.placements as Record<string, { host: string; mqttPort: number }>;
    const customers = (ev.outputs.customers ?? {}) as Record<string, { urls?: { mqttWebsocket?: string } }>;
    return {
        stack: src.stack,
        domain: settings.domain,
        sshUser: settings.sshUser,
        zone: settings.powerdns.zone,
        powerdnsHost: new URL(settings.powerdns.apiUrl).hostname.replace(/^\[|\]$/g, ""),
        // A lost host is gone: nothing of it is declared, so there is nothing to check on it.
        hosts: settings.hosts.filter((h) => !h.lost).map((h) => ({ name: h.name, fqdn: hostFqdn(h.name, settings.domain), address: h.address, sshPort: h.sshPort, hostKey: h.hostKey, drain: h.drain })),
        // The fourth name where the program declares it (the customer's mqttWebsocket URL).
        customers: Object.entries(placements).map(([label, p]) => ({
            label, host: p.host, mqttPort: p.mqttPort, names: customerNames(label, settings.domain, customers[label]?.urls?.mqttWebsocket !== undefined),
        })),
        ...(settings.backup ? { backup: { maxAgeHours: settings.backup.maxAgeHours } } : {}),
    };
}

/** What verify takes from the stack's outputs: previous placements and the credentials. */
export interface StackOutputs {
    placements?: unknown;
    credentials: Record<string, MqttCredentials>;
}

/**
 * Reads `pulumi stack output --show-secrets --json`. Its content is never echoed (it holds
 * passwords): errors name the file and the key only.
 */
export function parseStackOutputs(text: string, file: string): StackOutputs {
    let doc: any;
    try {
        doc = JSON.parse(text);
    } catch {
        throw new Error(`${file} is not JSON: write it with pulumi stack output --show-secrets --json > ${file}`);
    }
    if (!doc || typeof doc !== "object" || typeof doc.customers !== "object" || doc.customers === null) {
        throw new Error(`${file} has no "customers" object: write it with pulumi stack output --show-secrets --json > ${file}`);
    }
    const credentials: Record<string, MqttCredentials> = {};
    for (const [label, c] of Object.entries<any>(doc.customers)) {
        const cr = c?.credentials;
        if (cr === "[secret]" || (typeof cr === "string" && /secret/.test(cr))) {
            throw new Error(`${file}: customers.${label}.credentials is hidden: pass --show-secrets to pulumi stack output`);
        }
        if (cr && typeof cr.mqttUsername === "string" && typeof cr.mqttPassword === "string") {
            credentials[label] = { mqttUsername: cr.mqttUsername, mqttPassword: cr.mqttPassword };
        }
    }
    const placements = doc.placements === undefined ? undefined : checkPlacements(doc.placements, file);
    return { placements, credentials };
}

export function readStackOutputs(file: string): StackOutputs {
    return parseStackOutputs(fs.readFileSync(file, "utf8"), file);
}
