/**
 * A whole lab stack for the program: fake hosts on the container base, a throwaway PowerDNS
 * (the stack's DNS) and pebble (its ACME server, resolving through that PowerDNS), plus the
 * stack config that points the program at them and the executor's handlers. Shared by the end
 * to end suite and scripts/bench-hosts.ts.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { configMap } from "../scripts/lib/engine";
import { CustomersFileEntry } from "../components/customers";
import { ensureBase } from "./base";
import { carryOut, Deployment, dynamicHandler, DYNAMIC_TYPE, Handlers } from "./executor";
import { HOST_CA_BUNDLE_PATH, Lab, stopLab } from "./hosts";
import { PowerDnsLab, startPowerDns } from "./pdns-server";
import { Pebble, startPebble } from "./pebble";
import { DeleteResult, remoteHandlers } from "./remote";

export const LAB_DOMAIN = "osm.lab.test";

/** What the hosts need for ACME DNS-01 against the lab PowerDNS (stack config `acme.*`, `acmeTsigSecret`). */
export interface AcmeDns {
    dnsServer: string;
    dnsPort: number;
    tsigKey: string;
    tsigAlgorithm: string;
    tsigSecret: string;
}

/**
 * The ACME challenge zone `_acme-challenge.<domain>` on the lab PowerDNS (started with
 * `updatesOn: [bridge address]`), updatable only by its own TSIG key and only from the lab's
 * hosts: what the operator sets up once in production (README.md, Certificates).
 */
export async function acmeChallengeZone(pdns: PowerDnsLab, lab: Lab, domain: string): Promise<AcmeDns> {
    const zone = `_acme-challenge.${domain}`;
    // A host name cannot hold '_': the zone's NS is the parent's.
    await pdns.createZone(zone, `ns1.${domain}`);
    const key = await pdns.allowUpdates(zone, "osm-acme", [`${lab.state.bridgeAddress}/${lab.state.prefixLength}`]);
    return { dnsServer: lab.state.bridgeAddress, dnsPort: pdns.dnsPort, tsigKey: key.name, tsigAlgorithm: key.algorithm, tsigSecret: key.secret };
}


/** One create/delete a handler did: resource name and seconds. */
export interface Timing {
    op: string;
    name: string;
    seconds: number;
    ok: boolean;
    /** When it ended (Date.now()), to place what was seen from outside in the steps. */
    endedAt: number;
}

/**
 * The executor's handlers for everything the program declares. Each operation's resource
 * name and duration go to `timings` (names only: no inputs, no outputs), and to stderr with
 * OSM_LAB_TRACE=1.
 */
export function labHandlers(timings: Timing[] = [], deletes: DeleteResult[] = []): Handlers {
    const all: Handlers = { [DYNAMIC_TYPE]: dynamicHandler(), ...remoteHandlers((r) => deletes.push(r)) };
    const trace = process.env.OSM_LAB_TRACE === "1";
    const out: Handlers = {};
    for (const [type, h] of Object.entries(all)) {
        const wrap = <T>(op: string, name: string, f: () => Promise<T>): Promise<T> => {
            const t = Date.now();
            if (trace) process.stderr.write(`[lab] ${op} ${name} …\n`);
            const done = (ok: boolean) => {
                timings.push({ op, name, seconds: (Date.now() - t) / 1000, ok, endedAt: Date.now() });
                if (trace) process.stderr.write(`[lab] ${op} ${name} ${ok ? "ok" : "FAILED"} ${Date.now() - t} ms\n`);
            };
            return f().then((v) => (done(true), v), (e) => (done(false), Promise.reject(e)));
        };
        out[type] = {
            ...(h.check ? { check: h.check.bind(h) } : {}),
            ...(h.diff ? { diff: h.diff.bind(h) } : {}),
            create: (r) => wrap("create", r.name, () => h.create(r)),
            delete: (r) => wrap("delete", r.name, () => h.delete(r)),
            ...(h.update ? { update: (p: any, n: any) => wrap("update", n.name, () => h.update!(p, n)) } : {}),
        };
    }
    return out;
}

export interface LabStackOptions {
    id: string;
    hostNames: string[];
    /** Capacity of each host in the stack config. */
    capacity?: number;
    /** The hosting domain (default LAB_DOMAIN). */
    domain?: string;
    /**
     * Starts the stack's PowerDNS for the lab just started, holding the zone `domain` (default:
     * a fresh sqlite-backed server), e.g. one on the old orchestrator's MySQL database.
     */
    powerDns?: (lab: Lab) => Promise<PowerDnsLab>;
}

/** Everything a lab deployment needs; `stop()` tears all of it down. */
export class LabStack {
    readonly timings: Timing[] = [];
    /** Stdout of every remote delete carried out (e.g. `{"archive": ...}`). */
    readonly deletes: DeleteResult[] = [];
    readonly handlers: Handlers;
    readonly seconds: Record<string, number> = {};
    readonly domain: string;
    /** More stack config for the next deployments (plain settings, e.g. `grafanaPluginSource`). */
    readonly settings: Record<string, unknown> = {};
    private constructor(
        public readonly lab: Lab,
        public readonly pdns: PowerDnsLab,
        public readonly pebble: Pebble,
        public readonly acmeDns: AcmeDns,
        private readonly opts: LabStackOptions,
    ) {
        this.handlers = labHandlers(this.timings, this.deletes);
        this.domain = opts.domain ?? LAB_DOMAIN;
    }

    static async start(opts: LabStackOptions): Promise<LabStack> {
        let t = Date.now();
        const base = await ensureBase();
        const baseSeconds = (Date.now() - t) / 1000;
        t = Date.now();
        const lab = await Lab.start({ id: opts.id, hostNames: opts.hostNames, basePath: base.path, teardownOnExit: true });
        let pdns: PowerDnsLab | undefined;
        try {
            const domain = opts.domain ?? LAB_DOMAIN;
            pdns = opts.powerDns ? await opts.powerDns(lab) : await startPowerDns({ zone: domain, updatesOn: [lab.state.bridgeAddress] });
            const acmeDns = await acmeChallengeZone(pdns, lab, domain);
            const pebble = await startPebble(lab, { dnsServer: `127.0.0.1:${pdns.dnsPort}` });
            const s = new LabStack(lab, pdns, pebble, acmeDns, opts);
            s.seconds.base = baseSeconds;
            s.seconds.labUp = (Date.now() - t) / 1000;
            return s;
        } catch (e) {
            await stopLab(lab);
            if (pdns) await pdns.stop().catch(() => undefined);
            throw e;
        }
    }

    /** Stack config and secret keys for a customers file. */
    config(customersFile: string): { config: Record<string, string>; secretKeys: string[] } {
        const { lab, pdns, pebble, acmeDns } = this;
        const config = configMap({
            domain: this.domain,
            sshUser: lab.state.sshUser,
            hosts: lab.hosts.map((h) => ({ name: h.name, address: h.address, sshPort: h.sshPort, capacity: this.opts.capacity ?? 20, hostKey: h.hostKey })),
            // The shortest TTL the stack accepts: a move's old host forwards this long.
            powerdns: { apiUrl: pdns.apiUrl, zone: this.domain, ttl: 30 },
            acme: {
                server: pebble.directoryUrl, email: "hosting@example.org", caBundle: HOST_CA_BUNDLE_PATH,
                dnsServer: acmeDns.dnsServer, dnsPort: acmeDns.dnsPort, tsigKey: acmeDns.tsigKey, tsigAlgorithm: acmeDns.tsigAlgorithm,
                // One authoritative server: the record is live at once.
                propagationSeconds: 0,
            },
            containerLimits: { cpus: 1, memoryMiB: 256 },
            ...this.settings,
            customersFile,
            sshPrivateKey: lab.privateKey(),
            powerdnsApiKey: pdns.apiKey,
            acmeTsigSecret: acmeDns.tsigSecret,
        });
        return { config, secretKeys: ["osm-hosting:sshPrivateKey", "osm-hosting:powerdnsApiKey", "osm-hosting:acmeTsigSecret"] };
    }

    /**
     * Writes a customers file and carries the program out for it (after `previous`); removed
     * resources are deleted too with `deleteRemoved` (as `pulumi up` does), else destroyRemoved.
     */
    async deploy(program: () => any, customers: CustomersFileEntry[], previous?: Deployment, opts: { deleteRemoved?: boolean } = {}): Promise<Deployment> {
        const dir = path.join(this.lab.state.dir, "stack");
        fs.mkdirSync(dir, { recursive: true });
        const file = path.join(dir, `customers-${crypto.randomBytes(4).toString("hex")}.json`);
        fs.writeFileSync(file, JSON.stringify({ customers }, null, 2));
        const { config, secretKeys } = this.config(file);
        return carryOut(program, { config, secretKeys, handlers: this.handlers, previous, stack: "lab", deleteRemoved: opts.deleteRemoved });
    }

    /** What the lab PowerDNS answers for `name`: the address at the end of its CNAME chain. */
    async resolve(name: string): Promise<string> {
        const a = await this.pdns.dig(name, "A");
        const rec = a.answers.find((x) => x.startsWith("A "));
        if (!rec) throw new Error(`${name} does not resolve (${a.status}: ${a.answers.join(", ")})`);
        return rec.slice(2).trim();
    }

    async stop(): Promise<void> {
        await stopLab(this.lab);
        await this.pdns.stop();
    }
}
