/**
 * Both input files checked in one go: a bad stack config does not hide the problems of
 * customers.json (or the reverse), so one run reports everything.
 */
import * as path from "path";
import { ConfigLookup, FleetSecrets, FleetSettings, readSettings } from "./config";
import { CustomerEntry, KnownBases, KnownHost, loadCustomers } from "./customers";
import { emptyLock, lockedCustomers, PlacementsLock, readLock } from "./placements-lock";
import { InputError, Problem } from "./problems";
import { zoneNameProblems } from "./zone-names";

export interface Inputs {
    settings: FleetSettings;
    secrets: FleetSecrets;
    customers: CustomerEntry[];
    /** The placements lock (empty when there is none) and its path. */
    lock: PlacementsLock;
    lockFile: string;
}

/** The hosts named in a config that failed validation, when they can be made out at all. */
function hostsOfInvalidConfig(lookup: ConfigLookup): KnownHost[] | undefined {
    try {
        const hosts = JSON.parse(lookup("hosts") ?? "");
        if (!Array.isArray(hosts) || !hosts.every((h) => typeof h?.name === "string")) return undefined;
        return hosts.map((h) => ({ name: h.name, sshPort: Number.isInteger(h.sshPort) ? h.sshPort : undefined }));
    } catch {
        return undefined;
    }
}

/** The base names of a config that failed validation: none when it sets no bases; unknown when they cannot be made out. */
function basesOfInvalidConfig(lookup: ConfigLookup): KnownBases | undefined {
    const raw = lookup("bases");
    if (raw === undefined) return { names: [] };
    try {
        const bases = JSON.parse(raw);
        return bases !== null && typeof bases === "object" && !Array.isArray(bases) ? { names: Object.keys(bases) } : undefined;
    } catch {
        return undefined;
    }
}

/**
 * Reads the stack config, the placements lock and the customers file (relative to `root`);
 * throws InputError with the problems of all. The lock comes before the customers: a label it
 * holds for a name is that customer's label. `isSecret(key)`: whether the stack stores that
 * key as a secret.
 */
export function loadInputs(lookup: ConfigLookup, stackFile: string, presentKeys: string[], root: string, stack: string,
    isSecret?: (key: string) => boolean): Inputs {
    const problems: Problem[] = [];
    let config: { settings: FleetSettings; secrets: FleetSecrets } | undefined;
    try {
        config = readSettings(lookup, stackFile, presentKeys, isSecret);
    } catch (err) {
        if (!(err instanceof InputError)) throw err;
        problems.push(...err.problems);
    }
    // Without a usable host list a pinned host cannot be judged: customers.json waits.
    const hosts = config?.settings.hosts ?? hostsOfInvalidConfig(lookup);
    const lockFile = path.resolve(root, config?.settings.placementsLock ?? lookup("placementsLock") ?? "placements.lock.json");
    let lock = emptyLock();
    try {
        lock = readLock(lockFile);
    } catch (err) {
        if (!(err instanceof InputError)) throw err;
        problems.push(...err.problems);
    }
    const lockedNames = Object.fromEntries(Object.entries(lockedCustomers(lock, stack)).map(([label, p]) => [label, p.name]));
    let customers: CustomerEntry[] = [];
    if (hosts) {
        const file = config?.settings.customersFile ?? lookup("customersFile") ?? "customers.json";
        try {
            // Each customer's base is judged against the stack's bases here, where both are known.
            const bases = config ? { names: Object.keys(config.settings.bases?.specs ?? {}) } : basesOfInvalidConfig(lookup);
            customers = loadCustomers(path.resolve(root, file), hosts, lockedNames, bases);
        } catch (err) {
            if (!(err instanceof InputError)) throw err;
            problems.push(...err.problems);
        }
    }
    if (config && customers.length) {
        const { settings } = config;
        problems.push(...zoneNameProblems({
            domain: settings.domain, zone: settings.powerdns.zone, reserved: settings.powerdns.reservedNames,
            hosts: settings.hosts, customers, stackFile, customersFile: path.resolve(root, settings.customersFile),
        }));
    }
    if (problems.length || !config) throw new InputError(problems);
    return { ...config, customers, lock, lockFile };
}
