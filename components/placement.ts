/**
 * Placement: which host and which MQTT port each customer gets. Pure (no Pulumi), so it is
 * tested on its own and used by the program, `npm run plan` and the benchmarks alike.
 *
 * Rules, in order:
 *  1. a pin in customers.json (`host`, `mqttPort`) wins;
 *  2. otherwise a customer keeps the host and port it already has (the stack's previous
 *     `placements` output): devices in the field are configured with that port;
 *  3. a new customer, and one on a draining host, goes to the least-utilised host
 *     (customers/capacity) with room that is not draining; ties go to the host listed first in
 *     the stack config;
 *  4. a customer that moves (a pin to another host, or off a draining host) keeps its MQTT
 *     port unless one is pinned: a port its new host has given to another customer is refused,
 *     naming that customer, since the devices cannot be told a new port; a customer whose
 *     host is no longer in the stack config is refused, pinned or not (a move copies from it).
 * A host's `reservedMqttPorts` are never given (nor kept, nor pinned): the devices of a customer
 * the old orchestrator deleted there may still send to them.
 * MQTT ports follow the orchestrator this project replaces: 8883 + CRC-8(label), stepping
 * up by one past ports already taken on that host.
 */
import { rangeOf } from "./contract";
import { WEB_PORTS } from "./naming";
import { InputError } from "./problems";

export interface HostCapacity {
    name: string;
    /** How many customers the host may hold. */
    capacity: number;
    /** A draining host gets no new customers, and its customers move to the others. */
    drain?: boolean;
    /** The machine is gone: drained (the config sets `drain` too), its customers restored elsewhere. */
    lost?: boolean;
    /** The host's SSH port: never given to a customer. */
    sshPort?: number;
    /** MQTT ports never given to a customer here (the old orchestrator's deleted customers held them). */
    reservedMqttPorts?: number[];
}

export interface CustomerRequest {
    /** DNS label, unique. */
    label: string;
    /** Pinned host, if any. */
    host?: string;
    /** Pinned MQTT port, if any. */
    mqttPort?: number;
    /**
     * A port it must not be given: a label change's old port, which the old container's NGINX
     * stream holds on that host until it is deleted, after the new one is created.
     */
    avoidMqttPort?: number;
}

export interface Placement {
    host: string;
    mqttPort: number;
}

/** `{"<label>": {"host": ..., "mqttPort": ...}}`: the `placements` stack output's shape. */
export type Placements = Record<string, Placement>;

export interface HostUsage {
    used: number;
    capacity: number;
}

export class PlacementError extends Error {
    constructor(public readonly reasons: string[]) {
        super(reasons.join("\n"));
        this.name = "PlacementError";
    }
}

/** CRC-8, polynomial 0x07, initial value 0, no reflection, no final xor (the common "crc-8"). */
export function crc8(text: string): number {
    let crc = 0;
    for (const byte of Buffer.from(text, "utf8")) {
        crc ^= byte;
        for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
    }
    return crc;
}

/** The port the old orchestrator would first try for a label. */
export function preferredMqttPort(label: string): number {
    return 8883 + crc8(label);
}

/** Ports the host itself serves (SSH, HTTP, HTTPS): never a customer's MQTT port. */
export function reservedPorts(host: Partial<HostCapacity>): number[] {
    return [host.sshPort ?? 22, ...WEB_PORTS];
}

/** Who holds a port besides customers, for messages. */
const HOST_ITSELF = "the host itself";
// Not a possible label (labels are a-z, 0-9 and dashes).
const RESERVED = "(reserved)";

/** `holder` (a customer label, HOST_ITSELF or RESERVED) as a message says it. */
function holderText(holder: string): string {
    if (holder === HOST_ITSELF) return "the host itself now uses it";
    if (holder === RESERVED) return "it is reserved there (hosts[].reservedMqttPorts: a deleted customer's devices may still send to it)";
    return `so does customer "${holder}"`;
}

/**
 * Places every customer. Throws PlacementError listing every problem (with each host's
 * used/total when nothing fits); never returns a partial result.
 */
export function place(hosts: HostCapacity[], customers: CustomerRequest[], previous: Placements = {}): Placements {
    const hostByName = new Map(hosts.map((h) => [h.name, h]));
    const members = new Map<string, string[]>(hosts.map((h) => [h.name, []]));
    const hostOf = new Map<string, string>();
    const reasons: string[] = [];
    const fresh: CustomerRequest[] = [];

    // Hosts: pins and previous placements first, so new customers see the real load.
    for (const c of customers) {
        const kept = previous[c.label]?.host;
        const drainedOff = c.host === undefined && kept !== undefined && hostByName.get(kept)?.drain === true;
        const host = c.host ?? (drainedOff ? undefined : kept);
        // A move copies from the old host (data, credentials): it must still be in the config.
        if (kept !== undefined && !hostByName.has(kept) && c.host !== undefined && c.host !== kept) {
            reasons.push(`customer "${c.label}" runs on host "${kept}", which is no longer in the stack config, and is pinned to "${c.host}": its move copies its data from "${kept}"; ` +
                `keep "${kept}" in the stack config (drain: true) until its customers have moved (one pulumi up), then remove it`);
            continue;
        }
        if (host === undefined) { fresh.push(c); continue; }
        if (!hostByName.has(host)) {
            reasons.push(c.host !== undefined
                ? `customer "${c.label}" is pinned to host "${host}", which is not in the stack config; pin an existing host`
                : `customer "${c.label}" runs on host "${host}", which is no longer in the stack config; keep the host, with drain: true, until its customers have moved (one pulumi up), then remove it`);
            continue;
        }
        hostOf.set(c.label, host);
        members.get(host)!.push(c.label);
    }
    // New customers in label order: the file's order must not matter.
    fresh.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    for (const c of fresh) {
        let best: HostCapacity | undefined;
        let bestLoad = Infinity;
        for (const h of hosts) {
            const used = members.get(h.name)!.length;
            if (h.drain || used >= h.capacity) continue;
            const load = used / h.capacity;
            if (load < bestLoad) { best = h; bestLoad = load; }
        }
        if (!best) {
            const usage = hosts.map((h) => `${h.name} ${members.get(h.name)!.length}/${h.capacity}${h.drain ? " (draining)" : ""}`).join(", ");
            reasons.push(`no host has room for new customer "${c.label}": ${usage}; add a host or raise a capacity in the stack config`);
            continue;
        }
        hostOf.set(c.label, best.name);
        members.get(best.name)!.push(c.label);
    }
    for (const h of hosts) {
        const n = members.get(h.name)!.length;
        if (n > h.capacity) {
            reasons.push(`host "${h.name}" would hold ${n} customers but its capacity is ${h.capacity}; raise its capacity or pin customers to other hosts`);
        }
    }
    if (reasons.length) throw new PlacementError(reasons);

    // Ports, per host: pinned and kept ports are taken first, then new ones in label order.
    const result: Placements = {};
    const byLabel = new Map(customers.map((c) => [c.label, c]));
    for (const h of hosts) {
        const taken = new Map<number, string>();
        for (const p of reservedPorts(h)) taken.set(p, HOST_ITSELF);
        for (const p of h.reservedMqttPorts ?? []) if (!taken.has(p)) taken.set(p, RESERVED);
        const labels = [...members.get(h.name)!].sort();
        // Kept ports first: devices in the field use them, so a pin colliding with one is the pin's problem.
        const pinned = labels.filter((l) => byLabel.get(l)!.mqttPort !== undefined);
        // Staying customers before those moving in: a mover never takes a stayer's port.
        const unpinned = labels.filter((l) => byLabel.get(l)!.mqttPort === undefined);
        const kept = [...unpinned.filter((l) => previous[l]?.host === h.name), ...unpinned.filter((l) => previous[l] && previous[l].host !== h.name)];
        const needPort = unpinned.filter((l) => !previous[l]);
        for (const label of kept) {
            const port = previous[label].mqttPort;
            const holder = taken.get(port);
            if (holder !== undefined) {
                const other = holderText(holder);
                reasons.push(previous[label].host === h.name
                    ? `customer "${label}" already has MQTT port ${port} on host "${h.name}" (previous placements), but ${other}; pin "${label}" to a free mqttPort`
                    : `customer "${label}" would move from host "${previous[label].host}" to "${h.name}" with its MQTT port ${port} (its devices use it), but on "${h.name}" ${other}; ` +
                      `move it to another host, or pin an mqttPort and reconfigure its devices`);
                continue;
            }
            taken.set(port, label);
            result[label] = { host: h.name, mqttPort: port };
        }
        for (const label of pinned) {
            const port = byLabel.get(label)!.mqttPort!;
            const holder = taken.get(port);
            if (holder !== undefined) {
                const by = holder === RESERVED ? "reserved (hosts[].reservedMqttPorts: a deleted customer's devices may still send to it)"
                    : `already used by ${holder === HOST_ITSELF ? holder : `customer "${holder}"`}`;
                reasons.push(`MQTT port ${port} pinned for customer "${label}" on host "${h.name}" is ${by}; pin another mqttPort`);
                continue;
            }
            taken.set(port, label);
            result[label] = { host: h.name, mqttPort: port };
        }
        for (const label of needPort) {
            let port = preferredMqttPort(label);
            const avoid = byLabel.get(label)!.avoidMqttPort;
            while (taken.has(port) || port === avoid) port++;
            if (port > rangeOf("OSM_MQTT_PORT")[1]) {
                reasons.push(`no free MQTT port above ${preferredMqttPort(label)} on host "${h.name}" for customer "${label}"; pin an mqttPort`);
                continue;
            }
            taken.set(port, label);
            result[label] = { host: h.name, mqttPort: port };
        }
    }
    if (reasons.length) throw new PlacementError(reasons);
    // Same order as customers.json, for readable outputs.
    const ordered: Placements = {};
    for (const c of customers) ordered[c.label] = result[c.label];
    return ordered;
}

/**
 * The host a customer leaves: the one it is deployed on, when that is not where it is placed
 * now (a pin to another host, or a draining host). Undefined for a new or staying customer.
 */
export function movedFrom<H>(deployedHost: string | undefined, placedHost: string, hosts: ReadonlyMap<string, H>): H | undefined {
    return deployedHost !== undefined && deployedHost !== placedHost ? hosts.get(deployedHost) : undefined;
}

/** Customers per host against capacity. */
export function usage(hosts: HostCapacity[], placements: Placements): Record<string, HostUsage> {
    const out: Record<string, HostUsage> = {};
    for (const h of hosts) out[h.name] = { used: 0, capacity: h.capacity };
    for (const p of Object.values(placements)) if (out[p.host]) out[p.host].used++;
    return out;
}

/** `place`, with its reasons reported as input problems of the customers file. */
export function placeOrReport(hosts: HostCapacity[], customers: CustomerRequest[], previous: Placements, file: string): Placements {
    try {
        return place(hosts, customers, previous);
    } catch (err) {
        if (!(err instanceof PlacementError)) throw err;
        throw new InputError(err.reasons.map((message) => ({ file, path: "", message })));
    }
}
