import * as pulumi from "@pulumi/pulumi";
import { Placements } from "./placement";
import { InputError } from "./problems";

/**
 * The placements this stack exported at its last update: what customers "already have".
 * Read through a StackReference to the stack itself, which returns the last checkpoint's
 * outputs (empty for a new stack). The value is checked, since a hand-edited or corrupt
 * output must not silently move customers.
 */
export async function previousPlacements(): Promise<Placements> {
    const self = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    const ref = new pulumi.StackReference("previous-placements", { name: self });
    const details = await ref.getOutputDetails("placements");
    const value = details.value ?? details.secretValue;
    return checkPlacements(value ?? {}, `stack output "placements" of ${self}`);
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
