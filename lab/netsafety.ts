/**
 * Network safety for the lab (see the project's rules): lab hosts live in a documentation
 * range that is blackholed in the root namespace BEFORE any address of it is configured, so a
 * mistyped address can never leave the machine; the lab's own, more specific connected
 * route is the only way in. ip_forward stays 0 in the root namespace.
 *
 * Layout: 198.51.100.0/24 (TEST-NET-2) cut into /28 "slots", one per running lab, so a
 * developer's lab and a test run can coexist. In slot N the whole /28 is blackholed; the
 * bridge holds .16N+1/29 and hosts get .16N+2 … .16N+6.
 */
import * as fs from "fs";
import { runSync } from "./lab-exec";

export const LAB_SUPERNET = "198.51.100.0/24";
export const MAX_SLOT = 15;
export const MAX_HOSTS_PER_LAB = 5;

export interface SlotPlan {
    slot: number;
    /** The /28 blackholed in the root namespace. */
    blackhole: string;
    /** The bridge's address (root namespace side), without prefix. */
    bridgeAddress: string;
    /** Prefix of the connected lab network (more specific than the blackhole). */
    prefixLength: number;
    hostAddress(index: number): string;
}

export function slotPlan(slot: number): SlotPlan {
    if (!Number.isInteger(slot) || slot < 1 || slot > MAX_SLOT) throw new Error(`lab slot ${slot} out of range 1..${MAX_SLOT}`);
    const base = slot * 16;
    return {
        slot,
        blackhole: `198.51.100.${base}/28`,
        bridgeAddress: `198.51.100.${base + 1}`,
        prefixLength: 29,
        hostAddress(index: number): string {
            if (!Number.isInteger(index) || index < 0 || index >= MAX_HOSTS_PER_LAB) {
                throw new Error(`a lab holds at most ${MAX_HOSTS_PER_LAB} hosts (index ${index})`);
            }
            return `198.51.100.${base + 2 + index}`;
        },
    };
}

function toInt(ip: string): number {
    const p = ip.split(".").map(Number);
    if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${ip}`);
    return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}

/** [first, last] of a CIDR ("default" is everything). */
export function cidrRange(cidr: string): [number, number] {
    if (cidr === "default") return [0, 0xffffffff];
    const [ip, lenS] = cidr.split("/");
    const len = lenS === undefined ? 32 : Number(lenS);
    const size = 2 ** (32 - len);
    const first = Math.floor(toInt(ip) / size) * size;
    return [first, first + size - 1];
}

export function overlaps(a: string, b: string): boolean {
    const [a0, a1] = cidrRange(a);
    const [b0, b1] = cidrRange(b);
    return a0 <= b1 && b0 <= a1;
}

/** True when `address` lies inside the lab's documentation range (what tests may talk to). */
export function isLabAddress(address: string): boolean {
    return overlaps(`${address}/32`, LAB_SUPERNET);
}

/**
 * Refuses a slot whose range the root namespace already routes somewhere real (anything but
 * our own blackhole): using it could send test traffic to a real network.
 */
export function assertSlotRangeUnused(plan: SlotPlan): void {
    const routes = JSON.parse(runSync("ip", ["-j", "-4", "route", "show", "table", "all"], false).stdout || "[]") as any[];
    for (const r of routes) {
        if (!r.dst || r.dst === "default") continue;
        if (r.type === "blackhole" && r.dst === plan.blackhole) continue;
        if (r.type === "local" || r.type === "broadcast") {
            if (overlaps(r.dst, plan.blackhole)) throw new Error(`lab range ${plan.blackhole} holds a local address (${r.dst}) in the root namespace; pick another slot`);
            continue;
        }
        if (overlaps(r.dst, plan.blackhole) && !(r.dev && r.dev.startsWith("osmlbr"))) {
            throw new Error(`lab range ${plan.blackhole} overlaps the root namespace route ${r.dst} (${r.dev ?? r.type}); refusing to use it`);
        }
    }
}

export function assertIpForwardOff(): void {
    const v = fs.readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim();
    if (v !== "0") throw new Error("net.ipv4.ip_forward is 1 in the root namespace; the lab requires 0 (sysctl -w net.ipv4.ip_forward=0)");
}

/** Adds the slot's blackhole route; tolerates it already being there (a crashed run's). */
export function addBlackhole(plan: SlotPlan): void {
    const r = runSync("ip", ["route", "add", "blackhole", plan.blackhole]);
    if (r.code !== 0 && !/File exists/.test(r.stderr)) throw new Error(`could not add blackhole route ${plan.blackhole}: ${r.stderr.trim()}`);
}

export function removeBlackhole(cidr: string): void {
    runSync("ip", ["route", "del", "blackhole", cidr]);
}

/** True when the blackhole route for `cidr` is present in the root namespace. */
export function hasBlackhole(cidr: string): boolean {
    return runSync("ip", ["route", "show", "type", "blackhole", cidr]).stdout.trim().length > 0;
}
