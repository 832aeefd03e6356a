/**
 * Versioned OS bases (stack config `bases`, customers.json `base`; README.md, "Bases and
 * upgrades"): a customer's effective base, the values its host takes (OSM_BASE, OSM_BASES), and
 * the rolling upgrade of the customers whose base changes in place, in waves per host. Pure.
 */
import { acceptsEnv } from "./contract";

/** What one base holds: the Debian suite it is bootstrapped from and the services' package versions. */
export interface BaseSpec {
    /** The Debian suite (`bookworm`). */
    suite: string;
    /** Debian package versions, without an epoch (`11.3.0`, `2.7.10-1`). */
    grafana: string;
    influxdb2: string;
    chirpstack: string;
    mosquitto: string;
}

/** The fields of a spec in the order OSM_BASES gives them (after `suite`). */
export const BASE_PACKAGES = ["grafana", "influxdb2", "chirpstack", "mosquitto"] as const;

/** One version in OSM_BASES (ansible/vars/osm.yml): a Debian package version without an epoch. */
export const BASE_VERSION = "^[0-9][0-9A-Za-z.+~-]{0,63}$";
/** A Debian suite's code name, as OSM_BASES takes it. */
export const BASE_SUITE = "^[a-z]{2,20}$";

/** The stack's bases (stack config `bases`, `defaultBase`, `upgradeConcurrency`, `baseSeed`), validated. */
export interface BaseSettings {
    /** By name (OSM_BASE's rule): what each base holds. */
    specs: Record<string, BaseSpec>;
    /** The base of a customer whose entry names none (one of `specs`). */
    defaultBase: string;
    /** How many customers of one host are upgraded at once (a wave). */
    upgradeConcurrency: number;
    /** A prepared root tree on each host that bases are copied from instead of debootstrap and the vendors' repositories. */
    baseSeed?: string;
}

/** What a customer's base depends on. */
export interface BaseChoice {
    label: string;
    /** customers.json `base`. */
    base?: string;
    /** An adopted customer stays on the old orchestrator's own OS base: none of the stack's. */
    adopt?: boolean;
}

/**
 * A customer's effective base: its `base`, else the stack's `defaultBase`; undefined when the
 * stack has no bases (it stays on the one base of before) or the customer is adopted.
 */
export function effectiveBase(c: BaseChoice, bases: BaseSettings | undefined): string | undefined {
    if (!bases || c.adopt) return undefined;
    return c.base ?? bases.defaultBase;
}

/** Each customer's effective base, label -> base, for those that have one (in the customers' order). */
export function customerBases(customers: readonly BaseChoice[], bases: BaseSettings | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const c of customers) {
        const b = effectiveBase(c, bases);
        if (b !== undefined) out[c.label] = b;
    }
    return out;
}

/** One base as OSM_BASES gives it: `NAME:suite=SUITE,grafana=V,influxdb2=V,chirpstack=V,mosquitto=V`. */
export function baseEnvItem(name: string, spec: BaseSpec): string {
    return `${name}:${[`suite=${spec.suite}`, ...BASE_PACKAGES.map((p) => `${p}=${spec[p]}`)].join(",")}`;
}

/**
 * OSM_BASES for a host whose customers use the bases `names`: each base once, sorted by name,
 * separated by spaces; "" for none (the variable is then not sent). A name without a spec is a
 * bug of the caller (validation makes every customer's base one of the stack's).
 */
export function basesEnv(bases: Readonly<Record<string, BaseSpec>>, names: Iterable<string>): string {
    return [...new Set(names)].sort().map((n) => {
        const spec = bases[n];
        if (!spec) throw new Error(`no base "${n}" among the stack's bases (${Object.keys(bases).join(", ")})`);
        return baseEnvItem(n, spec);
    }).join(" ");
}

/** True when the hosts take every one of `bases` (OSM_BASES's rule: the hosts' word is the last). */
export function hostsAcceptBases(bases: Readonly<Record<string, BaseSpec>>): boolean {
    const names = Object.keys(bases);
    return names.length === 0 || acceptsEnv("OSM_BASES", basesEnv(bases, names));
}

/** A customer as this update plans it, for `baseUpgrades`. */
export interface PlannedBase {
    label: string;
    /** The host it is placed on. */
    host: string;
    /** Its effective base; undefined: the base of before (or an adopted customer's own). */
    base?: string;
    /** Created from its backup in this update (customers.json `restore`, or its host lost): not an upgrade. */
    restored?: boolean;
}

/** A customer as deployed, for `baseUpgrades`: its host and base ("" the base of before); undefined: not deployed, or its base unknown. */
export type DeployedBase = (label: string) => { host: string; base: string } | undefined;

/** A customer upgraded in place: its container stays on its host and changes base. */
export interface Upgrade {
    label: string;
    host: string;
    /** The base it runs on ("" the base of before) and the one it gets. */
    from: string;
    to: string;
}

/**
 * The upgrades of this update: customers that stay on the host they run on (not moved, not
 * restored, not new, not a label change: those get a new container, made on their new base) and
 * whose base changes. In the order of `planned`.
 */
export function baseUpgrades(planned: readonly PlannedBase[], deployed: DeployedBase): Upgrade[] {
    const out: Upgrade[] = [];
    for (const p of planned) {
        const d = deployed(p.label);
        if (!d || d.host !== p.host || p.restored) continue;
        const to = p.base ?? "";
        if (d.base !== to) out.push({ label: p.label, host: p.host, from: d.base, to });
    }
    return out;
}

/**
 * The rolling upgrade's waves: per host, its upgraded customers sorted by label, in waves of
 * `concurrency`. Wave k of a host starts once every customer of wave k-1 there is done, so a
 * host never has more than `concurrency` customers upgrading at once, and a failed upgrade
 * stops that host's later waves.
 */
export function upgradeWaves(upgrades: readonly { label: string; host: string }[], concurrency: number): Record<string, string[][]> {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`upgradeConcurrency must be a whole number from 1 (got ${concurrency})`);
    const byHost = new Map<string, string[]>();
    for (const u of upgrades) byHost.set(u.host, [...(byHost.get(u.host) ?? []), u.label]);
    const out: Record<string, string[][]> = {};
    for (const host of [...byHost.keys()].sort()) {
        const labels = [...new Set(byHost.get(host))].sort();
        const waves: string[][] = [];
        for (let i = 0; i < labels.length; i += concurrency) waves.push(labels.slice(i, i + concurrency));
        out[host] = waves;
    }
    return out;
}

/**
 * The rolling upgrade's waves, one line per host (upgradeWaves):
 * `upgrade waves on osm1 (upgradeConcurrency 2): 1: acme, beta  2: gamma`; none without upgrades.
 */
export function formatWaves(waves: Readonly<Record<string, string[][]>>, concurrency: number): string[] {
    return Object.keys(waves).sort().filter((h) => waves[h].length)
        .map((h) => `upgrade waves on ${h} (upgradeConcurrency ${concurrency}): ${waves[h].map((w, k) => `${k + 1}: ${w.join(", ")}`).join("  ")}`);
}

/** For each upgraded customer after the first wave of its host: the labels of the wave before it there. */
export function wavePredecessors(waves: Readonly<Record<string, string[][]>>): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const host of Object.keys(waves)) {
        waves[host].forEach((wave, k) => {
            if (k > 0) for (const label of wave) out[label] = [...waves[host][k - 1]];
        });
    }
    return out;
}

/**
 * `items` in the order to construct them: every customer of an earlier wave before those of a
 * later one (the later ones depend on them), the others as they come; stable otherwise.
 */
export function inWaveOrder<T extends { label: string }>(items: readonly T[], waves: Readonly<Record<string, string[][]>>): T[] {
    const index = new Map<string, number>();
    for (const host of Object.keys(waves)) waves[host].forEach((wave, k) => wave.forEach((label) => index.set(label, k)));
    return items.map((item, i) => ({ item, i, k: index.get(item.label) ?? 0 }))
        .sort((a, b) => a.k - b.k || a.i - b.i).map((x) => x.item);
}

/**
 * OSM_BASES per host: the bases of the customers placed on it (`customerBases`: label -> base),
 * as `basesEnv` gives them; a host none of whose customers has a base gets none (not in the result).
 */
export function basesByHost(specs: Readonly<Record<string, BaseSpec>>, customerBases: Readonly<Record<string, string>>,
    placements: Readonly<Record<string, { host: string }>>): Record<string, string> {
    const names = new Map<string, string[]>();
    for (const [label, base] of Object.entries(customerBases)) {
        const host = placements[label]?.host;
        if (host !== undefined) names.set(host, [...(names.get(host) ?? []), base]);
    }
    return Object.fromEntries([...names].map(([host, n]) => [host, basesEnv(specs, n)]));
}
