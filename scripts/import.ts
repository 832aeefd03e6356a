/**
 * npm run import -- --config PATH [options]: the old orchestrator's fleet as this project's
 * input. Reads its MySQL database (and PowerDNS's) read-only, reports every inconsistency with
 * what to do, and with --write adds the customers to customers.json; the stack's hosts are
 * printed as YAML for Pulumi.<stack>.yaml (a reviewed file with comments: edited by hand).
 * Exit 0: nothing blocking; 1: blocking problems (nothing written); 2: it could not run.
 */
import * as fs from "fs";
import * as path from "path";
import { PROJECT } from "../components/config";
import { projectRoot } from "../components/paths";
import { readLock } from "../components/placements-lock";
import { formatProblem, InputError } from "../components/problems";
import { programProblems } from "./lib/import/check";
import { hostKeyFor, parseKnownHosts } from "./lib/import/known-hosts";
import { analyse, Finding, ImportInput, RecordRow, UPSTREAM_CONTAINERS_DIR } from "./lib/import/model";
import { entryLine, formatCustomersFile, formatFindings, hostsYaml } from "./lib/import/output";
import { describe, readOrchestrator, readPowerDns, readUpstreamConfig, UsageError, withPassword } from "./lib/import/source";
import { readStackFile } from "./lib/offline";

const USAGE = `usage: npm run import -- --config PATH [--powerdns-config PATH | --no-powerdns]
    [--password-file PATH] [--powerdns-password-file PATH] [--known-hosts PATH] [--containers HOST=FILE]...
    [--skip NAME]... [--stack NAME] [--stack-file PATH] [--customers PATH] [--lock PATH] [--dry-run | --write] [--json]
passwords: --password-file / --powerdns-password-file (mode 0600), else $OSM_ORCHESTRATOR_DB_PASSWORD /
    $OSM_POWERDNS_DB_PASSWORD, else the config file's; never on the command line`;

interface Options {
    config?: string; powerdnsConfig?: string; noPowerdns: boolean; passwordFile?: string; powerdnsPasswordFile?: string;
    knownHosts?: string; containers: [string, string][]; skip: string[]; stack: string; stackFile?: string;
    customers?: string; lock?: string; dryRun: boolean; write: boolean; json: boolean;
}

function parseArgs(argv: string[]): Options {
    const o: Options = { noPowerdns: false, containers: [], skip: [], stack: "prod", dryRun: false, write: false, json: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new UsageError(`${a} needs a value\n${USAGE}`);
            return v;
        };
        if (a === "--config") o.config = value();
        else if (a === "--powerdns-config") o.powerdnsConfig = value();
        else if (a === "--no-powerdns") o.noPowerdns = true;
        else if (a === "--password-file") o.passwordFile = value();
        else if (a === "--powerdns-password-file") o.powerdnsPasswordFile = value();
        else if (a === "--known-hosts") o.knownHosts = value();
        else if (a === "--containers") {
            const v = value();
            const m = /^([^=]+)=(.+)$/.exec(v);
            if (!m) throw new UsageError(`--containers takes HOST=FILE (FILE: the output of ls -1 ${UPSTREAM_CONTAINERS_DIR} on HOST), got ${JSON.stringify(v)}`);
            o.containers.push([m[1], m[2]]);
        } else if (a === "--skip") o.skip.push(value());
        else if (a === "--stack") o.stack = value();
        else if (a === "--stack-file") o.stackFile = value();
        else if (a === "--customers") o.customers = value();
        else if (a === "--lock") o.lock = value();
        else if (a === "--dry-run") o.dryRun = true;
        else if (a === "--write") o.write = true;
        else if (a === "--json") o.json = true;
        else if (a === "--help" || a === "-h") { console.log(USAGE); process.exit(0); }
        else if (/^--(password|pass|pw)(=|$)/.test(a)) throw new UsageError(`${a.split("=")[0]}: a password is never taken on the command line (others can read it there); use --password-file (0600) or $OSM_ORCHESTRATOR_DB_PASSWORD`);
        else throw new UsageError(`unknown argument ${a}\n${USAGE}`);
    }
    if (!o.config) throw new UsageError(`--config is required: the orchestrator's config.yaml (beside orchestrator_cli.py)\n${USAGE}`);
    if (o.dryRun && o.write) throw new UsageError(`--dry-run and --write exclude each other\n${USAGE}`);
    if (o.noPowerdns && o.powerdnsConfig) throw new UsageError(`--no-powerdns and --powerdns-config exclude each other\n${USAGE}`);
    return o;
}

/** A path as shown: relative to the working directory when under it. */
function shown(file: string): string {
    const rel = path.relative(process.cwd(), file);
    return rel.startsWith("..") ? file : rel;
}

function readJson(file: string, what: string): unknown {
    try {
        return JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (err) {
        throw new UsageError(`${file}: ${what} cannot be read as JSON (${(err as Error).message}); fix it first (npm run plan says what is wrong)`);
    }
}

function readText(file: string, option: string): string {
    try {
        return fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new UsageError(`${option} ${file}: cannot be read (${(err as NodeJS.ErrnoException).code})`);
    }
}

/** Writes through a temporary file and a rename, keeping the file's mode. */
function writeAtomically(file: string, text: string): void {
    const mode = fs.existsSync(file) ? fs.statSync(file).mode & 0o777 : 0o644;
    const tmp = `${file}.import-${process.pid}`;
    fs.writeFileSync(tmp, text, { mode });
    fs.renameSync(tmp, file);
}

async function main(): Promise<number> {
    const o = parseArgs(process.argv.slice(2));
    const root = projectRoot();
    const upstream = readUpstreamConfig(o.config!);
    if (!upstream.orchestrator) throw new UsageError(`${o.config}: has no orchestrator section (user, password, host, database); give the orchestrator's config.yaml`);
    const orchestrator = withPassword(upstream.orchestrator, o.passwordFile, "--password-file", "OSM_ORCHESTRATOR_DB_PASSWORD", process.env);
    const pdnsFile = o.powerdnsConfig ?? o.config!;
    const pdnsConfig = o.noPowerdns ? undefined : o.powerdnsConfig ? readUpstreamConfig(o.powerdnsConfig) : upstream;
    if (o.powerdnsConfig && !pdnsConfig?.pdns) throw new UsageError(`${o.powerdnsConfig}: has no pdns section (user, password, host, database)`);
    const pdns = pdnsConfig?.pdns && withPassword(pdnsConfig.pdns, o.powerdnsPasswordFile, "--powerdns-password-file", "OSM_POWERDNS_DB_PASSWORD", process.env);

    // This project's side: the stack config, customers.json, the lock.
    const stackFile = path.resolve(o.stackFile ?? path.join(root, `Pulumi.${o.stack}.yaml`));
    if (!fs.existsSync(stackFile)) throw new UsageError(`${stackFile}: no such stack file; give --stack NAME of an existing Pulumi.NAME.yaml, or --stack-file PATH`);
    let config: Record<string, string>;
    try {
        config = readStackFile(stackFile);
    } catch (err) {
        if (err instanceof InputError) throw new UsageError(err.problems.map(formatProblem).join("\n"));
        throw err;
    }
    const setting = (key: string) => config[`${PROJECT}:${key}`];
    const customersFile = path.resolve(o.customers ?? path.join(root, setting("customersFile") ?? "customers.json"));
    const lockFile = path.resolve(o.lock ?? path.join(root, setting("placementsLock") ?? "placements.lock.json"));
    const existingCustomers = fs.existsSync(customersFile) ? readJson(customersFile, "customers.json") : undefined;
    let lock;
    try {
        lock = readLock(lockFile);
    } catch (err) {
        if (err instanceof InputError) throw new UsageError(err.problems.map(formatProblem).join("\n"));
        throw err;
    }
    let existingHosts: unknown[] = [];
    if (setting("hosts") !== undefined) {
        const parsed = JSON.parse(setting("hosts")!);
        if (!Array.isArray(parsed)) throw new UsageError(`${stackFile}: ${PROJECT}:hosts is not a list; fix it first`);
        existingHosts = parsed;
    }
    const stackDomain = setting("domain");
    const domain = upstream.domain ?? stackDomain;
    if (!domain) throw new UsageError(`no domain: neither ${o.config} (pdns_domain) nor ${stackFile} (${PROJECT}:domain) names it`);

    const early: Finding[] = [];
    if (upstream.exposedPassword) {
        early.push({ severity: "warning", subject: o.config!, message: "holds a database password and group or others may read it", fix: `chmod 600 ${o.config}` });
    }
    if (stackDomain && upstream.domain && stackDomain !== upstream.domain) {
        early.push({ severity: "blocking", subject: shown(stackFile), message: `its domain is ${stackDomain}, the orchestrator's pdns_domain ${upstream.domain}`,
            fix: `set ${PROJECT}:domain to ${upstream.domain}: the customers' names must stay what the field uses` });
    }

    // The old side, read-only.
    const rows = await readOrchestrator(orchestrator);
    let records: RecordRow[] | undefined;
    if (pdns) {
        const domainId = pdnsConfig!.domainId ?? 1;
        if (pdnsConfig!.domainId === undefined) {
            early.push({ severity: "note", subject: pdnsFile, message: "has no pdns_domain_id: read the zone of domains.id 1", fix: "the id upstream's set-up gives its zone; set pdns_domain_id if yours differs" });
        }
        const got = await readPowerDns(pdns, domainId);
        records = got.records;
        const zone = got.zone?.toLowerCase().replace(/\.$/, "");
        if (zone === undefined) {
            early.push({ severity: "blocking", subject: `PowerDNS (${describe(pdns)})`, message: `has no zone with domains.id ${domainId}`, fix: `set pdns_domain_id in ${pdnsFile} to the id of ${domain} in PowerDNS's domains table` });
            records = undefined;
        } else if (zone !== domain && !domain.endsWith(`.${zone}`)) {
            early.push({ severity: "blocking", subject: `PowerDNS (${describe(pdns)})`, message: `domains.id ${domainId} is the zone ${zone}, which does not hold ${domain}`, fix: `set pdns_domain_id in ${pdnsFile} to the id of ${domain}'s zone` });
            records = undefined;
        }
    }
    const keys = o.knownHosts ? parseKnownHosts(readText(o.knownHosts, "--known-hosts")) : [];
    const hostKeys: Record<string, string> = {};
    for (const h of rows.hosts) {
        const k = hostKeyFor(keys, [h.ip_addr, h.name, `${h.name}.${domain}`]);
        if (k) hostKeys[h.name] = k;
    }
    const containers: Record<string, string[]> = {};
    for (const [host, file] of o.containers) {
        if (!rows.hosts.some((h) => h.name === host)) throw new UsageError(`--containers ${host}=${file}: the orchestrator has no host ${JSON.stringify(host)}`);
        containers[host] = readText(file, `--containers ${host}=`).split("\n");
    }

    const input: ImportInput = {
        ...rows, domain, records, containers, hostKeys, existingCustomers, existingHosts, skip: o.skip,
        lockedNames: Object.fromEntries(Object.entries(lock.stacks[o.stack] ?? {}).map(([label, p]) => [label, p.name])),
    };
    const result = analyse(input);
    // The program's own validation of what would be written (a host without a key yet is judged on the rest).
    const placeholderKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIImportPlaceholderImportPlaceholder00";
    // Customers already blocked are left out of it: their problem is reported once, and the others' still are.
    const blocked = new Set(result.findings.filter((f) => f.severity === "blocking" && f.customer !== undefined).map((f) => f.customer));
    const imported = new Set(result.added);
    const judged = { ...result.mergedCustomers, customers: result.mergedCustomers.customers.filter((e) => !(imported.has(e as never) && blocked.has((e as { name: string }).name))) };
    const problems = programProblems({
        config, hosts: result.mergedHosts.map((h) => (h.hostKey ? h : { ...h, hostKey: placeholderKey })), customersDoc: judged, lock,
        stack: o.stack, stackFile: shown(stackFile), customersFile: shown(customersFile), lockFile: shown(lockFile),
    });
    const findings = [...early, ...result.findings, ...problems.map((p): Finding => ({
        severity: "blocking", subject: "the program", message: `would refuse the result: ${formatProblem(p)}`, fix: "fix the cause above or in the orchestrator, then import again",
    }))];
    const blocking = findings.some((f) => f.severity === "blocking");

    const customersText = formatCustomersFile(result.mergedCustomers);
    const current = fs.existsSync(customersFile) ? fs.readFileSync(customersFile, "utf8") : undefined;
    const changes = result.added.length > 0 && customersText !== current;
    let wrote = false;
    if (o.write && !blocking && changes) {
        writeAtomically(customersFile, customersText);
        wrote = true;
    }
    const active = rows.hosts.filter((h) => h.active_before === null).length;
    const activeCustomers = rows.customers.filter((c) => c.active_before === null).length;
    const summary = {
        source: describe(orchestrator), powerdns: pdns && records ? describe(pdns) : null, domain,
        hosts: { active, retired: rows.hosts.length - active }, customers: { active: activeCustomers, deleted: rows.customers.length - activeCustomers, imported: result.customers.length },
    };
    if (o.json) {
        console.log(JSON.stringify({
            summary, blocking, findings, customers: result.customers, added: result.added, customersFile: shown(customersFile), wrote,
            hosts: result.hosts, stackHosts: result.mergedHosts, hostChanges: result.hostChanges,
        }, null, 2));
        return blocking ? 1 : 0;
    }
    console.log(`Read (read-only) ${summary.source}: ${active} active hosts (${summary.hosts.retired} retired), ${activeCustomers} active customers (${summary.customers.deleted} deleted rows)`);
    console.log(records ? `Read (read-only) PowerDNS ${summary.powerdns}: ${records.length} A/CNAME rows` : "PowerDNS not read");
    for (const line of formatFindings(findings)) console.log(line);
    if (o.dryRun) return blocking ? 1 : 0;

    console.log("");
    console.log(`${shown(customersFile)}: ${result.added.length} customers to add, ${result.customers.length - result.added.length} already there`);
    for (const e of result.added) console.log(`  + ${entryLine(e)}`);
    if (result.hostChanges.length) {
        console.log("");
        console.log(`${shown(stackFile)}: put this in place of ${PROJECT}:hosts under config: (hosts ${result.hostChanges.join(", ")} added or changed)`);
        console.log(hostsYaml(result.mergedHosts));
    } else {
        console.log(`${shown(stackFile)}: its hosts already hold the orchestrator's`);
    }
    console.log("");
    if (blocking) {
        console.log(`Nothing written: fix the blocking problems above, then run it again${o.write ? "" : " with --write"}.`);
    } else if (!o.write) {
        console.log("Nothing written (no --write).");
    } else {
        console.log(wrote ? `Wrote ${shown(customersFile)} (${result.added.length} added; the entries it had are as they were).` : `${shown(customersFile)} unchanged.`);
        console.log(`Next: the hosts above into ${shown(stackFile)}, then npm run plan -- --write${o.stack === "prod" ? "" : ` --stack ${o.stack}`}, and review both diffs.`);
    }
    return blocking ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => {
    if (err instanceof UsageError) console.error(`import: ${err.message}`);
    else console.error(`import failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    process.exit(2);
});
