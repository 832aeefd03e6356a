/**
 * npm run verify -- [options]: every customer of the stack checked from outside (DNS from
 * the stack's PowerDNS, HTTPS per name, MQTT over TLS with its credentials) and every host
 * over SSH with its pinned key (osm-status against what the stack declares). Exit 0 only
 * when every check passes; 1 when one fails; 2 when verify itself cannot run.
 */
import * as fs from "fs";
import * as path from "path";
import { formatProblem, InputError } from "../components/problems";
import { projectRoot } from "../components/paths";
import { readStackFile } from "./lib/offline";
import { declaredFleet, readStackOutputs, StackOutputs } from "./lib/verify/fleet";
import { parseDnsServer } from "./lib/verify/net";
import { formatReport, prometheus } from "./lib/verify/report";
import { verifyFleet } from "./lib/verify/run";
import { PROJECT } from "../components/config";

const USAGE = `usage: npm run verify -- [--stack NAME] [--stack-file PATH] [--customers PATH] [--only LABEL...]
        [--credentials FILE] [--ca-file FILE] [--dns-server HOST[:PORT]] [--public] [--ssh-key FILE]
        [--timeout SECONDS] [--per-host N] [--json] [--prometheus FILE]
  --credentials FILE   the output of: pulumi stack output --show-secrets --json (MQTT logins; its
                       placements keep customers where they are). Without it MQTT is skipped.
  --ca-file FILE       CA certificates (PEM) the certificates must chain to (default: the system's)
  --dns-server H[:P]   the PowerDNS to ask (default: the host of powerdns.apiUrl, port 53)
  --public             also ask this machine's resolver
  --ssh-key FILE       the stack's SSH private key (default: $OSM_SSH_KEY_FILE, else ssh-agent)
  --timeout SECONDS    deadline of each network operation (default 10)
  --per-host N         operations at once against one host (default 8)`;

interface Options {
    stack: string;
    stackFile?: string;
    customers?: string;
    only?: string[];
    credentials?: string;
    caFile?: string;
    dnsServer?: string;
    public: boolean;
    sshKey?: string;
    timeout: number;
    perHost: number;
    json: boolean;
    prometheus?: string;
}

function parseArgs(argv: string[]): Options {
    const o: Options = { stack: "prod", public: false, timeout: 10, perHost: 8, json: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new UsageError(`${a} needs a value`);
            return v;
        };
        const number = (min: number) => {
            const v = Number(value());
            if (!Number.isFinite(v) || v < min) throw new UsageError(`${a} needs a number of at least ${min}`);
            return v;
        };
        switch (a) {
            case "--stack": o.stack = value(); break;
            case "--stack-file": o.stackFile = value(); break;
            case "--customers": o.customers = value(); break;
            case "--only":
                o.only = [...(o.only ?? []), value()];
                while (argv[i + 1] !== undefined && !argv[i + 1].startsWith("--")) o.only.push(argv[++i]);
                break;
            case "--credentials": o.credentials = value(); break;
            case "--ca-file": o.caFile = value(); break;
            case "--dns-server": o.dnsServer = value(); break;
            case "--public": o.public = true; break;
            case "--ssh-key": o.sshKey = value(); break;
            case "--timeout": o.timeout = number(1); break;
            case "--per-host": o.perHost = Math.floor(number(1)); break;
            case "--json": o.json = true; break;
            case "--prometheus": o.prometheus = value(); break;
            case "--help": case "-h": console.log(USAGE); process.exit(0); break;
            default: throw new UsageError(`unknown argument ${a}`);
        }
    }
    return o;
}

class UsageError extends Error {}

function readFile(file: string, what: string): string {
    try {
        return fs.readFileSync(file, "utf8");
    } catch (e: any) {
        throw new UsageError(`cannot read ${what} ${file}: ${e.code ?? e.message}`);
    }
}

async function main(): Promise<number> {
    const o = parseArgs(process.argv.slice(2));
    const stackFile = o.stackFile ?? path.join(projectRoot(), `Pulumi.${o.stack}.yaml`);
    if (!fs.existsSync(stackFile)) throw new UsageError(`no stack file ${stackFile}; pass --stack NAME for an existing Pulumi.NAME.yaml (or --stack-file PATH)`);
    const config = readStackFile(stackFile);
    if (o.customers) config[`${PROJECT}:customersFile`] = path.resolve(o.customers);
    const outputs: StackOutputs | undefined = o.credentials ? readStackOutputs(o.credentials) : undefined;
    const fleet = await declaredFleet({ config, stack: o.stack, previous: outputs?.placements });
    const keyFile = o.sshKey ?? process.env.OSM_SSH_KEY_FILE;
    const ssh = { privateKey: keyFile ? readFile(keyFile, "SSH key") : undefined, agent: keyFile ? undefined : process.env.SSH_AUTH_SOCK };
    const tty = process.stderr.isTTY && !o.json;
    const report = await verifyFleet({
        fleet,
        credentials: outputs?.credentials,
        ca: o.caFile ? readFile(o.caFile, "CA file") : undefined,
        dnsServer: o.dnsServer ? parseDnsServer(o.dnsServer) : { host: fleet.powerdnsHost, port: 53 },
        publicDns: o.public,
        ssh,
        timeoutMs: o.timeout * 1000,
        perHost: o.perHost,
        only: o.only,
        onProgress: tty ? (done, total, last) => process.stderr.write(`\r\x1b[K[${done}/${total}] ${last}`) : undefined,
    });
    if (tty) process.stderr.write("\r\x1b[K");
    if (o.prometheus) {
        // Written whole, then renamed: the textfile collector never reads half a file.
        const tmp = `${o.prometheus}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, prometheus(report));
        fs.renameSync(tmp, o.prometheus);
    }
    console.log(o.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.ok ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
    if (err instanceof InputError) {
        console.error(`verify: invalid input (${err.problems.length} problem(s)):`);
        for (const p of err.problems) console.error(`  ${formatProblem(p)}`);
    } else if (err instanceof UsageError) {
        console.error(`verify: ${err.message}\n${USAGE}`);
    } else {
        console.error(`verify failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    process.exit(2);
});
