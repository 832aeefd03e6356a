/**
 * npm run plan -- [--stack NAME] [--customers PATH] [--previous PATH] [--lock PATH] [--json | --all] [--write | --check]
 * Evaluates the program offline and prints the plan as a diff against what is deployed (the
 * lock, and --previous): one line per changed customer, one per changed host (against the
 * hosts the lock records), then each host's load. --all adds every customer's names; --json
 * prints it all machine-readable. --write records the placements and hosts in the lock
 * (placements.lock.json); --check fails when the lock is not what --write would write.
 */
import * as fs from "fs";
import * as path from "path";
import { formatWaves } from "../components/bases";
import { DEFAULT_UPGRADE_CONCURRENCY, PROJECT } from "../components/config";
import { planFleet } from "../components/fleet-plan";
import { loadInputs } from "../components/inputs";
import { projectRoot } from "../components/paths";
import { Placements } from "../components/placement";
import { formatLock, HostRecord, lockedCustomers, lockedHosts, lockedPlacements, readLock, withStack } from "../components/placements-lock";
import { diffHosts, pluginsChange } from "../components/plan-diff";
import { formatProblem, InputError, jsonErrorAt } from "../components/problems";
import { checkPlacements } from "../components/previous";
import { declaredRecords, evaluateOffline, offlineConfig, OfflineOptions } from "./lib/offline";
import { baseChangeWords, formatDiff, formatHostDiff, formatHosts, hostLoads, hostLockLines, pluginsWords, table } from "./lib/plan-report";

const USAGE = "usage: npm run plan -- [--stack NAME] [--customers PATH] [--previous PATH] [--lock PATH] [--json | --all] [--write | --check]";

function parseArgs(argv: string[]) {
    const opts = {
        stack: "prod", customers: undefined as string | undefined, previous: undefined as string | undefined,
        lock: undefined as string | undefined, json: false, all: false, write: false, check: false,
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new Error(`${a} needs a value\n${USAGE}`);
            return v;
        };
        if (a === "--stack") opts.stack = value();
        else if (a === "--customers") opts.customers = value();
        else if (a === "--previous") opts.previous = value();
        else if (a === "--lock") opts.lock = value();
        else if (a === "--json") opts.json = true;
        else if (a === "--all") opts.all = true;
        else if (a === "--write") opts.write = true;
        else if (a === "--check") opts.check = true;
        else if (a === "--help" || a === "-h") { console.log(USAGE); process.exit(0); }
        else throw new Error(`unknown argument ${a}\n${USAGE}`);
    }
    if (opts.write && opts.check) throw new Error(`--write and --check exclude each other\n${USAGE}`);
    if (opts.json && opts.all) throw new Error(`--json and --all exclude each other (--json has everything)\n${USAGE}`);
    return opts;
}

/** The JSON file an option names; its problems name the option. */
function readJsonOption(option: string, file: string): unknown {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new InputError([{ file, path: "", message: `cannot be read (${(err as NodeJS.ErrnoException).code}); ${option} takes the path of a file from \`pulumi stack output placements --json\`` }]);
    }
    try {
        return JSON.parse(text);
    } catch (err) {
        throw new InputError([{ file, path: "", message: `is not valid JSON (${jsonErrorAt(text, err as Error)}), given as ${option}; write it with \`pulumi stack output placements --json > ${file}\`` }]);
    }
}

/**
 * --write: records the plan's placements and the stack config's hosts in the lock (as
 * version 2, upgrading a version 1 file); --check: fails when that would change it.
 */
function lockStep(opts: { stack: string; write: boolean; check: boolean }, lockPath: string, outputs: any, hosts: HostRecord[]): void {
    const file = lockPath;
    const shown = path.relative(process.cwd(), lockPath).startsWith("..") ? lockPath : path.relative(process.cwd(), lockPath);
    const placements = outputs.placements as Placements;
    // The bases output exists only for a stack with bases: without, the lock records none.
    const bases = (outputs.bases ?? {}) as Record<string, string>;
    const facts = Object.fromEntries(Object.entries<any>(outputs.customers).map(([label, c]) => [label, { name: c.name, mqttWebsocket: c.urls?.mqttWebsocket !== undefined,
        grafanaPlugins: (c.grafanaPlugins ?? []) as string[], ...(bases[label] !== undefined ? { base: bases[label] } : {}) }]));
    const old = readLock(file);
    const next = withStack(old, opts.stack, placements, facts, hosts);
    const text = formatLock(next);
    const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    const before = lockedPlacements(old, opts.stack);
    const changes = [
        ...(lockedHosts(old, opts.stack) === undefined && opts.write
            ? [`hosts: ${hosts.length} recorded (upgraded from lockfile version 1, which had none)`]
            : hostLockLines(diffHosts(lockedHosts(old, opts.stack), hosts, {}, {}))),
        ...Object.keys(placements).filter((l) => !before[l]).map((l) => `+ ${l} on ${placements[l].host}:${placements[l].mqttPort}`),
        ...Object.keys(before).filter((l) => !placements[l]).map((l) => `- ${l} (was on ${before[l].host}:${before[l].mqttPort})`),
        ...Object.keys(placements).filter((l) => before[l] && (before[l].host !== placements[l].host || before[l].mqttPort !== placements[l].mqttPort))
            .map((l) => `~ ${l} ${before[l].host}:${before[l].mqttPort} -> ${placements[l].host}:${placements[l].mqttPort}`),
        ...Object.keys(placements).filter((l) => before[l] && (lockedCustomers(old, opts.stack)[l]?.mqttWebsocket === true) !== facts[l]?.mqttWebsocket)
            .map((l) => `~ ${l} mqttWebsocket ${facts[l]?.mqttWebsocket ? "on" : "off"}`),
        ...Object.keys(placements).filter((l) => before[l]).flatMap((l) => {
            const c = pluginsChange(lockedCustomers(old, opts.stack)[l]?.grafanaPlugins ?? [], facts[l]?.grafanaPlugins ?? []);
            return c ? [`~ ${l} grafanaPlugins ${pluginsWords(c)}`] : [];
        }),
        ...Object.keys(placements).filter((l) => before[l] && (lockedCustomers(old, opts.stack)[l]?.base ?? "") !== (facts[l]?.base ?? ""))
            .map((l) => `~ ${l} ${baseChangeWords({ from: lockedCustomers(old, opts.stack)[l]?.base ?? "", to: facts[l]?.base ?? "" })}`),
    ];
    const counted = `${Object.keys(placements).length} customers, ${hosts.length} hosts`;
    if (opts.check) {
        if (text === current) { console.log(`${shown} is up to date for stack ${opts.stack} (${counted})`); return; }
        console.error(`${shown} is stale for stack ${opts.stack}${changes.length ? `:\n${changes.map((c) => `  ${c}`).join("\n")}` : " (names or format differ)"}\n` +
            `run npm run plan -- --write${opts.stack === "prod" ? "" : ` --stack ${opts.stack}`} and commit it`);
        process.exit(1);
    }
    if (text !== current) fs.writeFileSync(file, text);
    console.log(`${text === current ? "unchanged" : "wrote"} ${shown} for stack ${opts.stack} (${counted}${changes.length ? `; ${changes.length} changed` : ""})`);
    for (const c of changes) console.log(`  ${c}`);
}

/**
 * `--previous` takes `pulumi stack output placements --json`, or a saved `npm run -s plan --
 * --json` (its `placements`): both are what README says to save and feed back.
 */
function previousPlacementsOf(doc: unknown): unknown {
    const d = doc as { placements?: unknown; records?: unknown } | null;
    // A placements map cannot hold an array under "records" (each entry is {host, mqttPort}).
    return d && typeof d === "object" && Array.isArray(d.records) && d.placements !== undefined ? d.placements : doc;
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    let previous: Placements | undefined;
    if (opts.previous) previous = checkPlacements(previousPlacementsOf(readJsonOption("--previous", opts.previous)), opts.previous);
    if (opts.customers && !fs.existsSync(opts.customers)) {
        throw new InputError([{ file: opts.customers, path: "", message: "does not exist; --customers takes the path of a customers file" }]);
    }
    const lockFile = path.resolve(opts.lock ?? path.join(projectRoot(), "placements.lock.json"));
    const offline: OfflineOptions = {
        stack: opts.stack, customersFile: opts.customers, previous,
        overrides: opts.lock ? { [`${PROJECT}:placementsLock`]: lockFile } : {},
    };
    const { outputs, resources } = await evaluateOffline(offline);
    const records = declaredRecords(resources);
    // The inputs as the program read them (--write records their hosts), then the program's
    // own steps again, for the diff it enforced (deterministic: the same result).
    const { config, secretKeys } = offlineConfig(offline);
    const stackFile = `Pulumi.${opts.stack}.yaml`;
    const inputs = loadInputs((key) => config[`${PROJECT}:${key}`], stackFile, Object.keys(config), projectRoot(), opts.stack,
        (key) => secretKeys.includes(`${PROJECT}:${key}`));
    if (opts.write || opts.check) return lockStep(opts, lockFile, outputs, inputs.settings.hosts);

    const fleet = planFleet({
        ...inputs, stack: opts.stack, stackFile, deployed: previous ?? {},
        deployedSource: opts.previous ? `--previous ${opts.previous}` : `the stack's "placements" output`,
    });
    const domain = inputs.settings.domain;
    const loads = hostLoads(inputs.settings.hosts, fleet.placements, fleet.deployed);
    if (opts.json) {
        console.log(JSON.stringify({
            placements: outputs.placements, records,
            changes: fleet.diff.changes, unchanged: fleet.diff.unchanged, stalePreviousLabels: fleet.diff.stalePreviousLabels,
            hosts: Object.fromEntries(loads.map(({ name, ...load }) => [name, load])),
            // null: the lock records no hosts (version 1), so host changes are not known.
            hostChanges: fleet.hosts.known ? fleet.hosts.changes : null, hostsUnchanged: fleet.hosts.known ? fleet.hosts.unchanged : null,
            // Only for a stack with bases: per host, the waves of its customers' upgrades.
            ...(inputs.settings.bases ? { upgradeWaves: fleet.waves } : {}),
        }, null, 2));
        return;
    }
    const shown = path.relative(process.cwd(), lockFile).startsWith("..") ? lockFile : path.relative(process.cwd(), lockFile);
    // `pulumi stack output placements` holds customers only: hosts are always the lock's.
    console.log(`Stack ${opts.stack}, against what is deployed: the lock ${shown}` +
        `${opts.previous ? ` and --previous ${opts.previous} (customers only: it holds no hosts, so hosts are diffed against the lock)` : ""}`);
    const hostDiff = formatHostDiff(fleet.hosts, domain, inputs.settings.powerdns.ttl);
    const waves = formatWaves(fleet.waves, inputs.settings.bases?.upgradeConcurrency ?? DEFAULT_UPGRADE_CONCURRENCY);
    for (const line of [...hostDiff.warnings, ...formatDiff(fleet.diff, domain), ...waves, ...hostDiff.lines]) console.log(line);
    console.log("");
    if (opts.all) {
        const target = new Map(records.map((r) => [r.name, `${r.type} ${r.content}`]));
        const rows = [["CUSTOMER", "HOST", "MQTT PORT", "NAME", "RECORD"]];
        for (const [label, p] of Object.entries(outputs.placements as Placements)) {
            const c = outputs.customers[label];
            const names = [c.urls.grafana, c.urls.influx, c.urls.chirpstack, c.urls.mqttWebsocket].filter(Boolean).map((u: string) => `${new URL(u).hostname}.`);
            names.forEach((n, i) => rows.push(i === 0 ? [label, p.host, String(p.mqttPort), n, target.get(n) ?? "?"] : ["", "", "", n, target.get(n) ?? "?"]));
        }
        console.log(table(rows));
        console.log("");
    }
    console.log(formatHosts(loads, (name) => {
        const a = records.find((r) => r.type === "A" && r.name === `${name}.${domain}.`);
        return a ? `${a.name} A ${a.content}` : "?";
    }));
}

main().then(() => process.exit(0), (err) => {
    if (err instanceof InputError) {
        console.error(`Invalid input (${err.problems.length} problem(s)); nothing would be changed:`);
        for (const p of err.problems) console.error(`  ${formatProblem(p)}`);
    } else {
        console.error(`plan failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    process.exit(1);
});
