/**
 * From validated inputs to the fleet's placements and the plan's diff: the lock and the
 * deployed placements reconciled, label changes kept on their host, every customer placed,
 * the result compared with what is deployed (customers, and hosts against the lock's), and
 * `maxDeletes` enforced. One home for these steps: the program (index.ts) runs them, and
 * `npm run plan` runs the same for its diff.
 * Pure (no Pulumi).
 */
import { baseUpgrades, effectiveBase, Upgrade, upgradeWaves } from "./bases";
import { DEFAULT_UPGRADE_CONCURRENCY, FleetSettings } from "./config";
import { CustomerEntry } from "./customers";
import { pluginsEnv } from "./grafana-plugins";
import { CustomerRequest, placeOrReport, Placements } from "./placement";
import { DeployedFleet, diffFleet, diffHosts, HostDiff, maxDeletesProblems, PlanDiff } from "./plan-diff";
import { knownPlacements, lockedCustomers, lockedHosts, lockedPlacements, PlacementsLock } from "./placements-lock";
import { InputError, Problem } from "./problems";

export interface FleetPlanArgs {
    settings: Pick<FleetSettings, "hosts" | "customersFile" | "maxDeletes" | "bases">;
    customers: CustomerEntry[];
    /** The placements lock and where it was read. */
    lock: PlacementsLock;
    lockFile: string;
    stack: string;
    /** The stack's deployed placements (its `placements` output, or `--previous`), and what to call them in messages. */
    deployed: Placements;
    deployedSource: string;
    /**
     * The stack's `bases` output (label -> base, customers on a named base only), read with
     * `deployed`: for the customers there, what they run on ("" when not named: the base of
     * before). Not given (`npm run plan`), the lock's bases are what is deployed.
     */
    deployedBases?: Record<string, string>;
    /** The stack file, for the `maxDeletes` problem (`Pulumi.<stack>.yaml`). */
    stackFile: string;
}

export interface FleetPlan {
    /** Every customer's host and MQTT port, in customers.json's order. */
    placements: Placements;
    /** What deployed means here: the lock's placements and the stack's, with the lock's names. */
    deployed: DeployedFleet;
    diff: PlanDiff;
    /** The stack config's hosts against the lock's (unknown for a version 1 lock). */
    hosts: HostDiff;
    /** The customers this update creates from their backups: label -> `latest` or a snapshot id. */
    restores: Record<string, string>;
    /** The customers whose base changes in place (README.md, "Bases and upgrades"), in customers.json's order. */
    upgrades: Upgrade[];
    /** Their waves per host (bases.ts upgradeWaves, the stack's upgradeConcurrency); {} without upgrades. */
    waves: Record<string, string[][]>;
}

/**
 * A label change takes its new label on the host the old label runs on (so the old
 * container's archive stays beside it), never on the old label's port there: that port is the
 * old container's until it is deleted, after the new one is created. Unless pinned elsewhere.
 */
function request(c: CustomerEntry, known: Placements, hosts: Set<string>): CustomerRequest {
    const old = c.previousLabel === undefined ? undefined : known[c.previousLabel];
    if (!old || known[c.label] || !hosts.has(old.host) || (c.host !== undefined && c.host !== old.host)) return c;
    return { ...c, host: old.host, ...(c.mqttPort === undefined ? { avoidMqttPort: old.mqttPort } : {}) };
}

/** Places the fleet and diffs it; throws InputError (nothing registered yet) when anything is wrong. */
export function planFleet(a: FleetPlanArgs): FleetPlan {
    const locked = lockedCustomers(a.lock, a.stack);
    const known = knownPlacements(lockedPlacements(a.lock, a.stack), a.deployed, a.customers, a.lockFile, a.deployedSource);
    const hosts = new Set(a.settings.hosts.map((h) => h.name));
    const lost = new Set(a.settings.hosts.filter((h) => h.lost).map((h) => h.name));
    const pinnedToLost = a.customers.filter((c) => c.host !== undefined && lost.has(c.host)).map((c) => ({ file: a.settings.customersFile, path: "",
        message: `customer "${c.label}" is pinned to host "${c.host}", which is lost (the stack config's lost: true); pin another host, or remove the pin so it is restored on the least used one` }));
    if (pinnedToLost.length) throw new InputError(pinnedToLost);
    const placements = placeOrReport(a.settings.hosts, a.customers.map((c) => request(c, known, hosts)), known, a.settings.customersFile);
    // The base a customer runs on: the stack's bases output where it knows the customer (the
    // program), else the lock's; unknown for one only --previous knows.
    const deployedBase = (label: string): string | undefined => a.deployedBases !== undefined && a.deployed[label] ? a.deployedBases[label] ?? ""
        : locked[label] ? locked[label].base ?? "" : undefined;
    const deployed: DeployedFleet = Object.fromEntries(Object.entries(known).map(([label, p]) => {
        const base = deployedBase(label);
        return [label, { host: p.host, mqttPort: p.mqttPort, ...(locked[label] ? { name: locked[label].name, mqttWebsocket: locked[label].mqttWebsocket === true, grafanaPlugins: locked[label].grafanaPlugins ?? [] } : {}),
            ...(base !== undefined ? { base } : {}) }];
    }));
    const restores = restoreRequests(a.customers, known, lost);
    const bases = Object.fromEntries(a.customers.map((c) => [c.label, effectiveBase(c, a.settings.bases)]));
    const diff = diffFleet(deployed, a.customers.map((c) => ({
        label: c.label, name: c.name, ...placements[c.label], ...(c.previousLabel !== undefined ? { previousLabel: c.previousLabel } : {}),
        mqttWebsocket: c.mqttWebsocket, ...(restores[c.label] !== undefined ? { restoreFrom: restores[c.label] } : {}),
        grafanaPlugins: pluginsEnv(c.grafanaPlugins).split(" ").filter(Boolean), ...(bases[c.label] !== undefined ? { base: bases[c.label] } : {}),
    })));
    // An upgrade is judged against where the customer really runs (the stack's placements when
    // they know it: a move under review has the lock on its new host already).
    const upgrades = baseUpgrades(a.customers.map((c) => ({ label: c.label, host: placements[c.label].host, base: bases[c.label], restored: restores[c.label] !== undefined })), (label) => {
        const host = a.deployed[label]?.host ?? known[label]?.host;
        const base = deployed[label]?.base;
        return host !== undefined && base !== undefined ? { host, base } : undefined;
    });
    // The diff says "upgrade" exactly for the customers upgraded here (the waves').
    const upgraded = new Set(upgrades.map((u) => u.label));
    for (const c of diff.changes) if (c.baseChange) c.baseChange.upgrade = upgraded.has(c.label);
    const problems = [
        ...backToBeforeProblems(a.customers, deployed, bases, a.settings.bases !== undefined, { customersFile: a.settings.customersFile, stackFile: a.stackFile }),
        ...restoreProblems(a.customers, known, placements, lost, a.settings.customersFile),
        ...adoptionProblems(a.customers, known, placements, a.settings.customersFile),
        ...orphanedDeletes(diff, hosts, lost, a.settings.customersFile),
        ...maxDeletesProblems(diff, a.settings.maxDeletes, { customersFile: a.settings.customersFile, stackFile: a.stackFile }),
    ];
    if (problems.length) throw new InputError(problems);
    return { placements, deployed, diff, hosts: diffHosts(lockedHosts(a.lock, a.stack), a.settings.hosts, deployed, placements), restores,
        upgrades, waves: upgradeWaves(upgrades, a.settings.bases?.upgradeConcurrency ?? DEFAULT_UPGRADE_CONCURRENCY) };
}

/**
 * A customer on a named base cannot go back to the base of before (the stack's bases removed,
 * or it was adopted since): nothing on the hosts takes a customer's data back to older
 * software. Refused, with the fix.
 */
function backToBeforeProblems(customers: CustomerEntry[], deployed: DeployedFleet, bases: Record<string, string | undefined>, stackHasBases: boolean,
    files: { customersFile: string; stackFile: string }): Problem[] {
    return customers.filter((c) => (deployed[c.label]?.base ?? "") !== "" && bases[c.label] === undefined).map((c) => stackHasBases
        ? { file: files.customersFile, path: "", message: `customer "${c.label}" runs on base "${deployed[c.label].base}", and an adopted customer has no base of the stack's: ` +
            `going back to the base of before is not supported; remove "adopt" from its entry` }
        : { file: files.stackFile, path: "osm-hosting:bases", message: `is not set, but customer "${c.label}" runs on base "${deployed[c.label].base}": ` +
            `going back to the base of before is not supported; set osm-hosting:bases and osm-hosting:defaultBase again (README.md, Bases and upgrades)` });
}

/**
 * What each customer is created from: its `restore` request, else, when the host it runs on is
 * lost, its latest backup (a lost host's customers cannot be moved: there is nothing to copy from).
 */
export function restoreRequests(customers: CustomerEntry[], known: Placements, lost: ReadonlySet<string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const c of customers) {
        const from = c.restoreFrom ?? (known[c.label] !== undefined && lost.has(known[c.label].host) ? "latest" : undefined);
        if (from !== undefined) out[c.label] = from;
    }
    return out;
}

/** A restore on another host while the customer still runs on its own (not lost) would give it two lives: refused. */
function restoreProblems(customers: CustomerEntry[], known: Placements, placements: Placements, lost: ReadonlySet<string>, file: string): Problem[] {
    return customers.filter((c) => c.restoreFrom !== undefined && known[c.label] !== undefined && known[c.label].host !== placements[c.label].host && !lost.has(known[c.label].host))
        .map((c) => ({ file, path: "", message: `customer "${c.label}" has a restore request for host "${placements[c.label].host}" but runs on host "${known[c.label].host}", which is not lost: ` +
            `a restore there would leave two copies taking its devices' data; to move it with all its data, remove "restore" (a move copies it); ` +
            `to bring an earlier backup back, restore it in place (no "host" pin to another host) once its container is stopped; if "${known[c.label].host}" is gone, set lost: true on it in the stack config` }));
}

/**
 * An adopted customer runs in the old orchestrator's container, in its layout, where it is
 * (README.md, "Taking over the old orchestrator's fleet", step 3): moving it to another host, restoring it there
 * (its host lost) or renaming it is not built for that layout yet, so each is refused before
 * anything runs, never half done.
 */
function adoptionProblems(customers: CustomerEntry[], known: Placements, placements: Placements, file: string): Problem[] {
    const out: Problem[] = [];
    for (const c of customers.filter((x) => x.adopt)) {
        const from = known[c.label];
        if (from !== undefined && from.host !== placements[c.label].host) {
            out.push({ file, path: "", message: `customer "${c.label}" is adopted (it runs in the old orchestrator's container ${c.upstreamContainer} on host "${from.host}"), ` +
                `and moving or restoring an adopted customer on another host ("${placements[c.label].host}") is not supported yet: keep its "host" pin to "${from.host}" ` +
                `(if that host is gone, restore it by hand from the old orchestrator's backup)` });
        }
        if (c.previousLabel !== undefined && known[c.previousLabel] !== undefined) {
            out.push({ file, path: "", message: `customer "${c.label}" is adopted, and renaming it (from "${c.previousLabel}") is not supported yet: ` +
                `the new label would take over the same container ${c.upstreamContainer} and the old one's delete would remove it; keep its label ("label": "${c.previousLabel}")` });
        }
    }
    return out;
}

/**
 * A customer deleted in the update that removes its host would not be archived (its container's
 * delete goes with the host's: deletedWith), so the two are refused together, unless the host is lost.
 */
function orphanedDeletes(diff: PlanDiff, hosts: ReadonlySet<string>, lost: ReadonlySet<string>, file: string): Problem[] {
    return diff.changes.filter((c) => c.kind === "delete" && !hosts.has(c.from!.host) && !lost.has(c.from!.host))
        .map((c) => ({ file, path: "", message: `customer "${c.label}" would be deleted in the same update that removes its host "${c.from!.host}" from the stack config, so its data would not be archived; ` +
            `keep the host until the delete has run (one pulumi up), or restore the customer's entry` }));
}
