/**
 * placements.lock.json: every deployed customer's host and MQTT port, per stack, committed
 * beside customers.json the way package-lock.json sits beside package.json, and the hosts
 * (address, capacity, drain) it was written against. `npm run plan -- --write` writes it; the
 * program reads it and places only the customers it lacks, so a placement decision is a line
 * in the pull request's diff, and no failed or partial `pulumi up` can lose one; the plan
 * diffs the stack config's hosts against its hosts. Pure (no Pulumi).
 */
import * as fs from "fs";
import { acceptsEnv } from "./contract";
import { Placement, Placements } from "./placement";
import { InputError, jsonErrorAt, Problem } from "./problems";

/**
 * 2: per stack `{"hosts", "customers"}`; the hosts are those the lock was written against,
 * so the plan can show host changes. 1: per stack the customers only (still read; no host
 * knowledge until `--write` upgrades the file).
 */
export const LOCKFILE_VERSION = 2;

/** One customer in the lock: where it runs, and the name it had when it was placed. */
export interface LockedPlacement extends Placement {
    name: string;
    /** Present (true) only when it has the fourth name, `<label>-mqtt` (customers.json `mqttWebsocket`). */
    mqttWebsocket?: true;
    /** Present only when it has Grafana plugins: each `id@version[@sha256]`, sorted (customers.json `grafanaPlugins`). */
    grafanaPlugins?: string[];
    /**
     * Present only when the stack has bases (stack config `bases`) and the customer one of them:
     * its effective base. Absent in a stack with bases: the base of before (or an adopted customer's own).
     */
    base?: string;
}

/** What `withStack` records of a customer besides its placement. */
export interface LockedCustomerFacts {
    name: string;
    mqttWebsocket?: boolean;
    grafanaPlugins?: string[];
    /** Its effective base, when the stack has bases. */
    base?: string;
}

/** One host in the lock: what the stack config said of it when the lock was written. */
export interface LockedHost {
    address: string;
    capacity: number;
    drain: boolean;
}

/** A host as the stack config gives it, for `withStack` and the host diff. */
export interface HostRecord extends LockedHost {
    name: string;
}

/** One stack in the lock. */
export interface LockedStack {
    /** By host name; absent when the stack was written by lockfile version 1 (hosts unknown). */
    hosts?: Record<string, LockedHost>;
    /** By customer label. */
    customers: Record<string, LockedPlacement>;
}

/** The lock file: per stack, its hosts and its customers. */
export interface PlacementsLock {
    /** The version of the file as read (`LOCKFILE_VERSION` once written). */
    lockfileVersion: number;
    stacks: Record<string, LockedStack>;
}

export function emptyLock(): PlacementsLock {
    return { lockfileVersion: LOCKFILE_VERSION, stacks: {} };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const RESTORE = "restore it from git, or write it again with npm run plan -- --write";

/** The customers of one stack entry, checked (both versions hold them in the same shape). */
function checkCustomers(entries: unknown, at: string, file: string, problems: Problem[]): Record<string, LockedPlacement> {
    if (!isObject(entries)) {
        problems.push({ file, path: at, message: `must be an object of {"<label>": {"name", "host", "mqttPort"}} (got ${JSON.stringify(entries)}); ${RESTORE}` });
        return {};
    }
    for (const [label, p] of Object.entries(entries)) {
        const e = p as { name?: unknown; host?: unknown; mqttPort?: unknown; mqttWebsocket?: unknown; grafanaPlugins?: unknown; base?: unknown } | null;
        const plugins = e?.grafanaPlugins;
        if (typeof e?.name !== "string" || typeof e?.host !== "string" || !Number.isInteger(e?.mqttPort) || (e.mqttWebsocket !== undefined && e.mqttWebsocket !== true) ||
            (plugins !== undefined && !(Array.isArray(plugins) && plugins.every((x) => typeof x === "string"))) ||
            (e.base !== undefined && !(typeof e.base === "string" && acceptsEnv("OSM_BASE", e.base)))) {
            problems.push({ file, path: `${at}/${label}`, message: `must be {"name": "...", "host": "...", "mqttPort": <number>} and optionally "mqttWebsocket": true, ` +
                `"grafanaPlugins": ["id@version", ...] and "base": "<a base's name>" (got ${JSON.stringify(p)}); ${RESTORE}` });
        }
    }
    return entries as Record<string, LockedPlacement>;
}

function checkHosts(entries: unknown, at: string, file: string, problems: Problem[]): Record<string, LockedHost> {
    if (!isObject(entries)) {
        problems.push({ file, path: at, message: `must be an object of {"<host>": {"address", "capacity", "drain"}} (got ${JSON.stringify(entries)}); ${RESTORE}` });
        return {};
    }
    for (const [name, h] of Object.entries(entries)) {
        const e = h as { address?: unknown; capacity?: unknown; drain?: unknown } | null;
        if (typeof e?.address !== "string" || !Number.isInteger(e?.capacity) || typeof e?.drain !== "boolean") {
            problems.push({ file, path: `${at}/${name}`, message: `must be {"address": "...", "capacity": <number>, "drain": <boolean>} (got ${JSON.stringify(h)}); ${RESTORE}` });
        }
    }
    return entries as Record<string, LockedHost>;
}

/**
 * Reads the lock, version 2 or 1 (a version 1 stack has no hosts); a missing file is an
 * empty lock (a new project). Throws InputError when malformed.
 */
export function readLock(file: string): PlacementsLock {
    if (!fs.existsSync(file)) return emptyLock();
    const text = fs.readFileSync(file, "utf8");
    let doc: { lockfileVersion?: unknown; stacks?: unknown } | null;
    try {
        doc = JSON.parse(text);
    } catch (err) {
        throw new InputError([{ file, path: "", message: `is not valid JSON (${jsonErrorAt(text, err as Error)}); ${RESTORE}` }]);
    }
    const problems: Problem[] = [];
    const version = doc?.lockfileVersion;
    if (version !== 1 && version !== LOCKFILE_VERSION) {
        problems.push({ file, path: "/lockfileVersion", message: `must be ${LOCKFILE_VERSION} (or 1, the version before hosts were recorded; got ${JSON.stringify(version)}); ${RESTORE}` });
        throw new InputError(problems);
    }
    const stacks: Record<string, LockedStack> = {};
    if (!isObject(doc?.stacks)) {
        problems.push({ file, path: "/stacks", message: version === 1
            ? `must be an object of {"<stack>": {"<label>": {"name", "host", "mqttPort"}}}; ${RESTORE}`
            : `must be an object of {"<stack>": {"hosts": {...}, "customers": {...}}}; ${RESTORE}` });
    } else {
        for (const [stack, entry] of Object.entries(doc!.stacks as Record<string, unknown>)) {
            if (version === 1) { stacks[stack] = { customers: checkCustomers(entry ?? {}, `/stacks/${stack}`, file, problems) }; continue; }
            if (!isObject(entry)) {
                problems.push({ file, path: `/stacks/${stack}`, message: `must be {"hosts": {...}, "customers": {...}} (got ${JSON.stringify(entry)}); ${RESTORE}` });
                continue;
            }
            const unknown = Object.keys(entry).filter((k) => k !== "hosts" && k !== "customers");
            if (unknown.length) problems.push({ file, path: `/stacks/${stack}`, message: `has unknown key(s) ${unknown.map((k) => JSON.stringify(k)).join(", ")}: only "hosts" and "customers"; ${RESTORE}` });
            stacks[stack] = {
                // A stack another stack's --write carried over from version 1 has no hosts yet.
                ...(entry.hosts !== undefined ? { hosts: checkHosts(entry.hosts, `/stacks/${stack}/hosts`, file, problems) } : {}),
                customers: checkCustomers(entry.customers ?? {}, `/stacks/${stack}/customers`, file, problems),
            };
        }
    }
    if (problems.length) throw new InputError(problems);
    return { lockfileVersion: version, stacks };
}

/** The lock's customers of one stack, by label (none for a stack it does not hold). */
export function lockedCustomers(lock: PlacementsLock, stack: string): Record<string, LockedPlacement> {
    return lock.stacks[stack]?.customers ?? {};
}

/**
 * The hosts the lock was written against for one stack; undefined when it cannot say (the
 * stack was written by lockfile version 1). A stack the lock does not hold has none yet.
 */
export function lockedHosts(lock: PlacementsLock, stack: string): Record<string, LockedHost> | undefined {
    const s = lock.stacks[stack];
    if (!s) return lock.lockfileVersion === 1 ? undefined : {};
    return s.hosts;
}

/** The lock's placements of one stack, in the `placements` output's shape. */
export function lockedPlacements(lock: PlacementsLock, stack: string): Placements {
    return Object.fromEntries(Object.entries(lockedCustomers(lock, stack)).map(([label, p]) => [label, { host: p.host, mqttPort: p.mqttPort }]));
}

/**
 * The lock, as version 2, with one stack's hosts and customers replaced (each sorted by
 * name, each entry's keys in one order: the pull request's diff shows only what changed).
 */
export function withStack(lock: PlacementsLock, stack: string, placements: Placements, facts: Record<string, LockedCustomerFacts>, hosts: HostRecord[]): PlacementsLock {
    const hostEntries: Record<string, LockedHost> = {};
    for (const h of [...hosts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        hostEntries[h.name] = { address: h.address, capacity: h.capacity, drain: h.drain };
    }
    const customers: Record<string, LockedPlacement> = {};
    for (const label of Object.keys(placements).sort()) {
        customers[label] = {
            name: facts[label]?.name ?? label, host: placements[label].host, mqttPort: placements[label].mqttPort,
            ...(facts[label]?.mqttWebsocket ? { mqttWebsocket: true as const } : {}),
            ...(facts[label]?.grafanaPlugins?.length ? { grafanaPlugins: [...facts[label].grafanaPlugins!].sort() } : {}),
            // Only with a base: a stack without bases keeps the lock it had, byte for byte.
            ...(facts[label]?.base !== undefined ? { base: facts[label].base } : {}),
        };
    }
    const stacks: PlacementsLock["stacks"] = {};
    for (const name of [...new Set([...Object.keys(lock.stacks), stack])].sort()) {
        // Another stack keeps what it has (hosts stay unknown for one read from version 1).
        const s = name === stack ? { hosts: hostEntries, customers } : lock.stacks[name];
        stacks[name] = { ...(s.hosts ? { hosts: s.hosts } : {}), customers: s.customers };
    }
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
