/**
 * From validated inputs to the fleet's placements and the plan's diff: the lock and the
 * deployed placements reconciled, label changes kept on their host, every customer placed,
 * the result compared with what is deployed (customers, and hosts against the lock's), and
 * `maxDeletes` enforced. One home for these steps: the program (index.ts) runs them, and
 * `npm run plan` runs the same for its diff.
 * Pure (no Pulumi).
 */
import { FleetSettings } from "./config";
import { CustomerEntry } from "./customers";
import { CustomerRequest, placeOrReport, Placements } from "./placement";
import { DeployedFleet, diffFleet, diffHosts, HostDiff, maxDeletesProblems, PlanDiff } from "./plan-diff";
import { knownPlacements, lockedCustomers, lockedHosts, lockedPlacements, PlacementsLock } from "./placements-lock";
import { InputError } from "./problems";

export interface FleetPlanArgs {
    settings: Pick<FleetSettings, "hosts" | "customersFile" | "maxDeletes">;
    customers: CustomerEntry[];
    /** The placements lock and where it was read. */
    lock: PlacementsLock;
    lockFile: string;
    stack: string;
    /** The stack's deployed placements (its `placements` output, or `--previous`), and what to call them in messages. */
    deployed: Placements;
    deployedSource: string;
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
    const placements = placeOrReport(a.settings.hosts, a.customers.map((c) => request(c, known, hosts)), known, a.settings.customersFile);
    const deployed: DeployedFleet = Object.fromEntries(Object.entries(known).map(([label, p]) =>
        [label, { host: p.host, mqttPort: p.mqttPort, ...(locked[label] ? { name: locked[label].name, mqttWebsocket: locked[label].mqttWebsocket === true } : {}) }]));
    const diff = diffFleet(deployed, a.customers.map((c) => ({
        label: c.label, name: c.name, ...placements[c.label], ...(c.previousLabel !== undefined ? { previousLabel: c.previousLabel } : {}),
        mqttWebsocket: c.mqttWebsocket,
    })));
    const problems = maxDeletesProblems(diff, a.settings.maxDeletes, { customersFile: a.settings.customersFile, stackFile: a.stackFile });
    if (problems.length) throw new InputError(problems);
    return { placements, deployed, diff, hosts: diffHosts(lockedHosts(a.lock, a.stack), a.settings.hosts, deployed, placements) };
}
