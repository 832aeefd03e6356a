import * as pulumi from "@pulumi/pulumi";
import { acceptsEnv, expectOf } from "./contract";
import { Placements } from "./placement";
import { InputError } from "./problems";

/** What this stack exported at its last update, as the program starts from it. */
export interface PreviousOutputs {
    /** Where each customer runs: what customers "already have". */
    placements: Placements;
    /** The base each customer runs on, for those on a named one (none: the base of before). */
    bases: Record<string, string>;
}

/**
 * The placements and bases this stack exported at its last update. Read through one
 * StackReference to the stack itself, which returns the last checkpoint's outputs (empty for a
 * new stack, and no `bases` before a stack had any). The values are checked, since a
 * hand-edited or corrupt output must not silently move or upgrade customers.
 */
export async function previousOutputs(): Promise<PreviousOutputs> {
    const self = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    // The name it has had since placements were first read: the reference is the same read.
    const ref = new pulumi.StackReference("previous-placements", { name: self });
    const read = async (name: string) => {
        const details = await ref.getOutputDetails(name);
        return details.value ?? details.secretValue;
    };
    const [placements, bases] = await Promise.all([read("placements"), read("bases")]);
    return {
        placements: checkPlacements(placements ?? {}, `stack output "placements" of ${self}`),
        bases: checkBases(bases ?? {}, `stack output "bases" of ${self}`),
    };
}

/** Checks a value has the `bases` output's shape (label -> a base's name); throws InputError naming each bad entry. */
export function checkBases(value: unknown, source: string): Record<string, string> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new InputError([{ file: source, path: "", message: `is not an object of {"<label>": "<base>"}` }]);
    }
    const problems = Object.entries(value as Record<string, unknown>).flatMap(([label, b]) =>
        typeof b === "string" && acceptsEnv("OSM_BASE", b)
            ? []
            : [{ file: source, path: `/${label}`, message: `must be a base's name, ${expectOf("OSM_BASE")} (got ${JSON.stringify(b)})` }]);
    if (problems.length) throw new InputError(problems);
    return value as Record<string, string>;
}

/** Checks a value has the `placements` shape; throws InputError naming the first bad entry. */
export function checkPlacements(value: unknown, source: string): Placements {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new InputError([{ file: source, path: "", message: `is not an object of {"<label>": {"host": ..., "mqttPort": ...}}` }]);
    }
    const problems = Object.entries(value as Record<string, { host?: unknown; mqttPort?: unknown } | null>).flatMap(([label, p]) =>
        typeof p?.host === "string" && Number.isInteger(p?.mqttPort)
            ? []
            : [{ file: source, path: `/${label}`, message: `must be {"host": "<host name>", "mqttPort": <number>} (got ${JSON.stringify(p)})` }]);
    if (problems.length) throw new InputError(problems);
    return value as Placements;
}
