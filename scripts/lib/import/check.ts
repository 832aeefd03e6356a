/**
 * The import's result judged by the program's own rules before anything is written: the
 * stack config with the merged hosts (readSettings, placeholder secrets), customers.json as
 * merged (checkCustomers, with the lock's labels), the zone's names, and the placement
 * against the lock (planFleet: ports, capacity, maxDeletes). Pure (no files).
 */
import { PROJECT, readSettings } from "../../../components/config";
import { checkCustomers } from "../../../components/customers";
import { planFleet } from "../../../components/fleet-plan";
import { PlacementsLock } from "../../../components/placements-lock";
import { InputError, Problem } from "../../../components/problems";
import { zoneNameProblems } from "../../../components/zone-names";
import { withPlaceholderSecrets } from "../offline";

export interface ProgramCheck {
    /** The stack's config map as `readStackFile` gives it (full keys, objects JSON-encoded). */
    config: Record<string, string>;
    /** The hosts the import would have the stack hold. */
    hosts: unknown[];
    /** customers.json as the import would write it. */
    customersDoc: unknown;
    lock: PlacementsLock;
    stack: string;
    stackFile: string;
    customersFile: string;
    lockFile: string;
}

/** Every problem the program would report for the merged inputs (empty: it accepts them). */
export function programProblems(c: ProgramCheck): Problem[] {
    const { config, secretKeys } = withPlaceholderSecrets({ ...c.config, [`${PROJECT}:hosts`]: JSON.stringify(c.hosts) });
    const lookup = (key: string) => config[`${PROJECT}:${key}`];
    let settings;
    try {
        settings = readSettings(lookup, c.stackFile, Object.keys(config), (key) => secretKeys.includes(`${PROJECT}:${key}`)).settings;
    } catch (err) {
        if (err instanceof InputError) return err.problems;
        throw err;
    }
    const lockedNames = Object.fromEntries(Object.entries(c.lock.stacks[c.stack] ?? {}).map(([label, p]) => [label, p.name]));
    const { customers, problems } = checkCustomers(c.customersDoc, c.customersFile, settings.hosts, lockedNames, { names: Object.keys(settings.bases?.specs ?? {}) });
    if (problems.length) return problems;
    const names = zoneNameProblems({
        domain: settings.domain, zone: settings.powerdns.zone, reserved: settings.powerdns.reservedNames,
        hosts: settings.hosts, customers, stackFile: c.stackFile, customersFile: c.customersFile,
    });
    if (names.length) return names;
    try {
        planFleet({
            settings: { ...settings, customersFile: c.customersFile }, customers, lock: c.lock, lockFile: c.lockFile, stack: c.stack,
            stackFile: c.stackFile, deployed: {}, deployedSource: "the stack's deployed placements",
        });
    } catch (err) {
        if (err instanceof InputError) return err.problems;
        throw err;
    }
    return [];
}
