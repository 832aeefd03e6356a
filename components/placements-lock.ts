/**
 * placements.lock.json: every deployed customer's host and MQTT port, per stack, committed
 * beside customers.json the way package-lock.json sits beside package.json. `npm run plan --
 * --write` writes it; the program reads it and places only the customers it lacks, so a
 * placement decision is a line in the pull request's diff, and no failed or partial
 * `pulumi up` can lose one. Pure (no Pulumi).
 */
import * as fs from "fs";
import { Placement, Placements } from "./placement";
import { InputError, jsonErrorAt, Problem } from "./problems";

export const LOCKFILE_VERSION = 1;

/** One customer in the lock: where it runs, and the name it had when it was placed. */
export interface LockedPlacement extends Placement {
    name: string;
}

/** The lock file: per stack, per customer label. */
export interface PlacementsLock {
    lockfileVersion: number;
    stacks: Record<string, Record<string, LockedPlacement>>;
}

export function emptyLock(): PlacementsLock {
    return { lockfileVersion: LOCKFILE_VERSION, stacks: {} };
}

/** Reads the lock; a missing file is an empty lock (a new project). Throws InputError when malformed. */
export function readLock(file: string): PlacementsLock {
    if (!fs.existsSync(file)) return emptyLock();
    const text = fs.readFileSync(file, "utf8");
    /** Parsed JSON, checked field by field below. */
    type Raw = { lockfileVersion?: unknown; stacks?: Record<string, Record<string, { name?: unknown; host?: unknown; mqttPort?: unknown } | null> | null> };
    let doc: Raw | null;
    try {
        doc = JSON.parse(text);
    } catch (err) {
        throw new InputError([{ file, path: "", message: `is not valid JSON (${jsonErrorAt(text, err as Error)}); restore it from git, or write it again with npm run plan -- --write` }]);
    }
    const problems: Problem[] = [];
    if (doc?.lockfileVersion !== LOCKFILE_VERSION) {
        problems.push({ file, path: "/lockfileVersion", message: `must be ${LOCKFILE_VERSION} (got ${JSON.stringify(doc?.lockfileVersion)}); restore it from git` });
    }
    const stacks = doc?.stacks;
    if (typeof stacks !== "object" || stacks === null || Array.isArray(stacks)) {
        problems.push({ file, path: "/stacks", message: `must be an object of {"<stack>": {"<label>": {"name", "host", "mqttPort"}}}; restore it from git` });
    } else {
        for (const [stack, entries] of Object.entries(stacks)) {
            for (const [label, p] of Object.entries(entries ?? {})) {
                if (typeof p?.name !== "string" || typeof p?.host !== "string" || !Number.isInteger(p?.mqttPort)) {
                    problems.push({ file, path: `/stacks/${stack}/${label}`, message: `must be {"name": "...", "host": "...", "mqttPort": <number>} (got ${JSON.stringify(p)}); restore it from git` });
                }
            }
        }
    }
    if (problems.length) throw new InputError(problems);
    return doc as unknown as PlacementsLock;
}

/** The lock's placements of one stack, in the `placements` output's shape. */
export function lockedPlacements(lock: PlacementsLock, stack: string): Placements {
    return Object.fromEntries(Object.entries(lock.stacks[stack] ?? {}).map(([label, p]) => [label, { host: p.host, mqttPort: p.mqttPort }]));
}

/** The lock with one stack's customers replaced by `placements` (labels sorted, for small diffs). */
export function withStack(lock: PlacementsLock, stack: string, placements: Placements, names: Record<string, string>): PlacementsLock {
    const entries: Record<string, LockedPlacement> = {};
    for (const label of Object.keys(placements).sort()) {
        entries[label] = { name: names[label] ?? label, host: placements[label].host, mqttPort: placements[label].mqttPort };
    }
    const stacks: PlacementsLock["stacks"] = {};
    for (const name of [...new Set([...Object.keys(lock.stacks), stack])].sort()) stacks[name] = name === stack ? entries : lock.stacks[name];
    return { lockfileVersion: LOCKFILE_VERSION, stacks };
}

/** The file's text: two-space JSON with a final newline, as npm writes its lock. */
export function formatLock(lock: PlacementsLock): string {
    return `${JSON.stringify(lock, null, 2)}\n`;
}

/** A customer's pin in customers.json, as the cross-check needs it. */
export interface PinnedCustomer {
    label: string;
    host?: string;
    mqttPort?: number;
}

const same = (a: Placement, b: Placement) => a.host === b.host && a.mqttPort === b.mqttPort;
const where = (p: Placement) => `${p.host}:${p.mqttPort}`;

/**
 * The placements the program starts from: what is deployed (the stack's own `placements`
 * output, or `--previous`) and what the lock holds. Where both know a customer they must
 * agree, unless customers.json pins it to what the lock says (a move under review): a
 * reverted or hand-edited lock must never move a customer. A customer only the stack knows
 * keeps its deployed place (the lock is stale: `npm run plan -- --check` says so).
 */
export function knownPlacements(lock: Placements, deployed: Placements, customers: PinnedCustomer[], lockFile: string, deployedSource: string): Placements {
    const problems: Problem[] = [];
    const byLabel = new Map(customers.map((c) => [c.label, c]));
    const known: Placements = { ...lock };
    for (const [label, d] of Object.entries(deployed)) {
        const l = lock[label];
        if (!l) { known[label] = d; continue; }
        if (same(l, d)) continue;
        const c = byLabel.get(label);
        const pinnedToLock = c !== undefined && c.host === l.host && (c.mqttPort === undefined || c.mqttPort === l.mqttPort);
        if (pinnedToLock) continue;
        problems.push({
            file: lockFile, path: `/${label}`,
            message: `says customer "${label}" is on ${where(l)}, but ${deployedSource} has it on ${where(d)}; nothing moves without a pin: ` +
                `to keep it where it runs, write the lock again (npm run plan -- --write); to move it, pin "host"${l.mqttPort !== d.mqttPort ? ` and "mqttPort"` : ""} in customers.json`,
        });
    }
    if (problems.length) throw new InputError(problems);
    return known;
}
