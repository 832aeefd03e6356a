/**
 * Runs every check of a declared fleet, concurrently: each network operation to a host goes
 * through that host's bound, DNS questions through their own, and each has a deadline.
 * Returns one result per customer and check and per host and check (types.ts).
 */
import * as crypto from "crypto";
import { act, statusCommand } from "./actions";
import { backupCheck, CERT_MIN_DAYS, certificatesFor, customerDrift, expiry, hostDrift } from "./drift";
import { KeyedLimiter, withTimeout } from "./limit";
import { CONNACK_CODES, mqttSession } from "./mqtt";
import { ask, certificateProblem, DnsServer, httpsGet, judgeCertificate, netProblem, openTls, resolverFor } from "./net";
import { SERVICES } from "./services";
import { SshAuth, SshError, sshRun } from "./ssh";
import { openWebSocket, UpgradeRefused } from "./websocket";
import { CheckName, CheckResult, CUSTOMER_CHECKS, HOST_CHECKS, DeclaredCustomer, DeclaredFleet, DeclaredHost, Finding, HostStatus, MqttCredentials, Report } from "./types";

export interface VerifyOptions {
    fleet: DeclaredFleet;
    /** Customers' MQTT credentials by label; without them the MQTT check is skipped. */
    credentials?: Record<string, MqttCredentials>;
    /** CA certificates (PEM) the fleet's certificates must chain to; the system's when unset. */
    ca?: string;
    /** The PowerDNS server to ask. */
    dnsServer: DnsServer;
    /** Ask the machine's own resolver too. */
    publicDns?: boolean;
    ssh: SshAuth;
    /** Deadline of each network operation. */
    timeoutMs: number;
    /** At most this many operations at once against one host. */
    perHost: number;
    /** Only these customers (labels); hosts are all checked. */
    only?: string[];
    /** Called after each check. */
    onProgress?: (done: number, total: number, last: string) => void;
}

/** Per host: its status, or why there is none. */
type StatusOutcome = { status: HostStatus; timing: string } | { error: string };

export async function verifyFleet(o: VerifyOptions): Promise<Report> {
    const started = Date.now();
    const { fleet } = o;
    const hosts = new Map(fleet.hosts.map((h) => [h.name, h]));
    const customers = o.only ? fleet.customers.filter((c) => o.only!.includes(c.label)) : fleet.customers;
    const unknown = (o.only ?? []).filter((l) => !fleet.customers.some((c) => c.label === l));
    if (unknown.length) throw new Error(`--only ${unknown.join(", ")}: no such customer in the stack (have: ${fleet.customers.map((c) => c.label).join(", ")})`);
    const limit = new KeyedLimiter(o.perHost);
    const onHost = <T>(h: string, f: () => Promise<T>, what: string, ms = o.timeoutMs + 2000) => limit.run(h, () => withTimeout(f(), ms, what));
    const dnsLimit = new KeyedLimiter(16);
    const resolver = await resolverFor(o.dnsServer, o.timeoutMs);
    const system = o.publicDns ? await resolverFor("system", o.timeoutMs) : undefined;
    const serverText = `${o.dnsServer.host}:${o.dnsServer.port}`;

    const total = fleet.hosts.length * 4 + customers.length * 4;
    let done = 0;
    const results: CheckResult[] = [];
    const record = (r: CheckResult) => {
        results.push(r);
        o.onProgress?.(++done, total, `${r.name} ${r.check}`);
    };
    const timed = async (subject: "customer" | "host", name: string, host: string, check: CheckName, f: () => Promise<Omit<CheckResult, "subject" | "name" | "host" | "check" | "seconds">>) => {
        const t = Date.now();
        let r: Omit<CheckResult, "subject" | "name" | "host" | "check" | "seconds">;
        try {
            r = await f();
        } catch (e: any) {
            // A check's own bug or an unexpected error is a failure with its message, never a pass.
            r = { status: "fail", findings: [{ problem: `${check} check failed: ${e?.message ?? e}`, action: "run verify again; if it persists, report it with this message" }] };
        }
        record({ subject, name, host, check, seconds: (Date.now() - t) / 1000, ...r });
    };
    const verdict = (findings: Finding[], extra: Partial<CheckResult> = {}) => ({ status: findings.length ? "fail" as const : "ok" as const, findings, ...extra });

    // DNS answers for the hosts' A records, shared by the customers' checks.
    const aRecords = new Map<string, ReturnType<typeof ask>>();
    const aOf = (fqdn: string) => {
        if (!aRecords.has(fqdn)) aRecords.set(fqdn, dnsLimit.run("dns", () => ask(resolver, fqdn, "A")));
        return aRecords.get(fqdn)!;
    };
    const dnsDown = (code: string) => /ETIMEOUT|ECONNREFUSED|ESERVFAIL|EREFUSED/.test(code);

    // Hosts: SSH with the pinned key, then osm-status.
    const statuses = new Map<string, Promise<StatusOutcome>>();
    for (const h of fleet.hosts) {
        statuses.set(h.name, onHost(h.name, async (): Promise<StatusOutcome> => {
            try {
                const r = await sshRun({ address: h.address, port: h.sshPort, user: fleet.sshUser, hostKey: h.hostKey }, o.ssh, statusCommand(fleet.sshUser), o.timeoutMs);
                if (r.code !== 0) return { error: /No such file|can't open file/i.test(r.stderr) ? "osm-status missing" : `osm-status exit ${r.code}: ${r.stderr.trim().split("\n").pop()}` };
                return { status: JSON.parse(r.stdout) as HostStatus, timing: `SSH ${(r.connectMs / 1000).toFixed(2)} s, osm-status ${(r.commandMs / 1000).toFixed(2)} s` };
            } catch (e: any) {
                return { error: e instanceof SshError ? `${e.kind}:${e.message}` : `unreachable:${e?.message ?? e}` };
            }
        }, `SSH to ${h.name}`, Math.max(30_000, 3 * o.timeoutMs) + o.timeoutMs + 2000).catch((e) => ({ error: `unreachable:${e.message}` })));
    }

    const hostChecks = fleet.hosts.map(async (h) => {
        const s = await statuses.get(h.name)!;
        await timed("host", h.name, h.name, "ssh", async () => {
            if ("status" in s || !/^(hostkey|auth|unreachable):/.test(s.error)) return verdict([]);
            const [kind, ...rest] = s.error.split(":");
            const message = rest.join(":");
            const action = kind === "hostkey" ? act.hostKey(h.name, fleet.stack) : kind === "auth" ? act.sshAuth(h.name) : act.unreachable(h.name);
            return verdict([{ problem: kind === "hostkey" ? "host key changed: refused" : kind === "auth" ? "SSH key refused" : "unreachable", action: `${message}. ${action}` }]);
        });
        await timed("host", h.name, h.name, "status", async () => {
            if ("status" in s) return verdict([], { note: s.timing });
            if (/^(hostkey|auth|unreachable):/.test(s.error)) return { status: "skip", findings: [], note: "no SSH" };
            return verdict([{ problem: s.error.replace(/^command:/, ""), action: s.error === "osm-status missing" ? act.shipAnsible(fleet.stack) : act.statusErrors(h.name) }]);
        });
        await timed("host", h.name, h.name, "drift", async () => ("status" in s ? verdict(hostDrift(fleet, h, s.status)) : { status: "skip", findings: [], note: "no status" }));
    });
    const hostDns = fleet.hosts.map((h) => timed("host", h.name, h.name, "dns", async () => verdict(await hostRecordFindings(h))));

    async function hostRecordFindings(h: DeclaredHost): Promise<Finding[]> {
        const a = await aOf(h.fqdn);
        if (!a.ok) return [{ problem: dnsDown(a.code) ? `DNS server ${serverText}: ${a.code}` : `${h.fqdn}: no A record (${a.code})`, action: dnsDown(a.code) ? act.dnsServer(serverText) : act.hostRecord(fleet.stack) }];
        if (a.records.join(",") !== h.address) return [{ problem: `${h.fqdn} A ${a.records.join(",")}, stack says ${h.address}`, action: act.hostRecord(fleet.stack) }];
        return [];
    }

    async function dnsFindings(c: DeclaredCustomer, h: DeclaredHost): Promise<Finding[]> {
        const out: Finding[] = [];
        for (const name of Object.values(c.names)) {
            const cname = await dnsLimit.run("dns", () => ask(resolver, name, "CNAME"));
            if (!cname.ok) {
                out.push(dnsDown(cname.code) ? { problem: `DNS server ${serverText}: ${cname.code}`, action: act.dnsServer(serverText) } : { problem: `${name}: no CNAME (${cname.code === "ENOTFOUND" ? "NXDOMAIN" : cname.code})`, action: act.dnsRecord(fleet.stack) });
            } else if (cname.records.join(",") !== h.fqdn) {
                out.push({ problem: `${name} -> ${cname.records.join(",")}, not ${h.fqdn}`, action: act.dnsRecord(fleet.stack) });
            }
            if (system) {
                const pub = await ask(system, name, "A");
                if (!pub.ok || !pub.records.includes(h.address)) out.push({ problem: `public DNS: ${name} ${pub.ok ? `-> ${pub.records.join(",")}` : pub.code}, not ${h.address}`, action: `wait for the TTL, or check the delegation of ${fleet.zone} to PowerDNS` });
            }
        }
        const hostA = await hostRecordFindings(h);
        if (hostA.length && out.length === 0) out.push(...hostA);
        return out;
    }

    const lineageOf = async (h: string, name: string) => {
        const s = await statuses.get(h)!;
        return ("status" in s && certificatesFor(name, s.status.certificates ?? [])[0]?.lineage) || `<the lineage holding ${name}: certbot certificates>`;
    };

    /** Advice for a connection that failed: the host is down, or (it answers SSH) what is behind NGINX. */
    async function connectivityAction(h: DeclaredHost, c: DeclaredCustomer): Promise<string> {
        const s = await statuses.get(h.name)!;
        if ("error" in s && s.error.startsWith("unreachable:")) return act.unreachable(h.name);
        return `${h.name} itself answers: see this customer's ON HOST column (a stopped container leaves NGINX waiting); ${act.reprovision(fleet.stack, c.label)}`;
    }

    async function httpsCheck(c: DeclaredCustomer, h: DeclaredHost) {
        const findings: Finding[] = [];
        const days: Record<string, number> = {};
        await Promise.all((Object.keys(SERVICES) as (keyof typeof SERVICES)[]).map(async (svc) => {
            const name = c.names[svc];
            const probe = SERVICES[svc];
            try {
                const r = await onHost(h.name, () => httpsGet({ address: h.address, port: 443, servername: name, ca: o.ca, timeoutMs: o.timeoutMs }, probe.path), `HTTPS ${name}`);
                days[name] = r.certificate.daysLeft;
                const bad = certificateProblem(r.certificate, name);
                if (bad) {
                    findings.push({ problem: `${name}: ${bad}`, action: r.certificate.nameOk ? act.renew(h.name, await lineageOf(h.name, name)) : act.reprovision(fleet.stack, c.label) });
                    return;
                }
                if (r.certificate.daysLeft < CERT_MIN_DAYS) findings.push({ problem: `${name}: certificate ${expiry(r.certificate.daysLeft)}`, action: act.renew(h.name, await lineageOf(h.name, name)) });
                const wrong = probe.judge(r.status, r.body);
                if (wrong) findings.push({ problem: `${name}: ${wrong}`, action: r.status === 502 || r.status === 504
                    ? `NGINX on ${h.name} cannot reach ${probe.title}: see this customer's ON HOST column (is its container running?); if it runs, look at ${probe.title} in it (lxc-attach -n ${c.label} on ${h.name})`
                    : `check ${probe.title} in ${c.label}'s container (lxc-attach -n ${c.label} on ${h.name}); if NGINX sends the name elsewhere, ${act.reprovision(fleet.stack, c.label)}` });
            } catch (e: any) {
                const p = netProblem(e, name);
                findings.push({ problem: p, action: /unrecognized name/.test(p) ? `NGINX on ${h.name} has no site for ${name}: ${act.reprovision(fleet.stack, c.label)}` : await connectivityAction(h, c) });
            }
        }));
        // The fourth name (mqttWebsocket): its certificate, and a WebSocket for MQTT behind it.
        const ws = c.names.mqtt;
        if (ws) {
            try {
                const r = await onHost(h.name, async () => {
                    const socket = await openTls({ address: h.address, port: 443, servername: ws, ca: o.ca, timeoutMs: o.timeoutMs });
                    const certificate = judgeCertificate(socket, ws);
                    const bad = certificateProblem(certificate, ws);
                    if (bad) { socket.destroy(); return { certificate, bad }; }
                    (await openWebSocket(socket, ws, "/", o.timeoutMs)).destroy();
                    return { certificate };
                }, `WebSocket ${ws}`);
                days[ws] = r.certificate.daysLeft;
                if (r.bad) findings.push({ problem: `${ws}: ${r.bad}`, action: r.certificate.nameOk ? act.renew(h.name, await lineageOf(h.name, ws)) : act.reprovision(fleet.stack, c.label) });
                else if (r.certificate.daysLeft < CERT_MIN_DAYS) findings.push({ problem: `${ws}: certificate ${expiry(r.certificate.daysLeft)}`, action: act.renew(h.name, await lineageOf(h.name, ws)) });
            } catch (e: any) {
                if (e instanceof UpgradeRefused) {
                    findings.push({ problem: `${ws}: ${e.message}`, action: e.status === 502 || e.status === 504
                        ? `NGINX on ${h.name} cannot reach Mosquitto's websockets listener: see this customer's ON HOST column (is its container running?); if it runs, ${act.reprovision(fleet.stack, c.label)}`
                        : `NGINX on ${h.name} does not send ${ws} to Mosquitto's websockets listener: ${act.reprovision(fleet.stack, c.label)}` });
                } else {
                    const p = netProblem(e, ws);
                    findings.push({ problem: p, action: /unrecognized name/.test(p) ? `NGINX on ${h.name} has no site for ${ws}: ${act.reprovision(fleet.stack, c.label)}` : await connectivityAction(h, c) });
                }
            }
        }
        return verdict(findings, { certDaysLeft: days });
    }

    async function mqttCheck(c: DeclaredCustomer, h: DeclaredHost) {
        const creds = o.credentials?.[c.label];
        if (!o.credentials) return { status: "skip" as const, findings: [], note: "no --credentials" };
        if (!creds?.mqttUsername || !creds.mqttPassword) return verdict([{ problem: "no credentials in the file", action: act.mqttCredentials(fleet.stack) }]);
        const days: Record<string, number> = {};
        const findings: Finding[] = [];
        // MQTT over TLS on the customer's port; and over a WebSocket on 443 with mqttWebsocket.
        const transports = [
            { name: c.names.grafana, port: c.mqttPort, where: `${c.names.grafana}:${c.mqttPort}`, websocket: false },
            ...(c.names.mqtt ? [{ name: c.names.mqtt, port: 443, where: `wss://${c.names.mqtt}/`, websocket: true }] : []),
        ];
        for (const t of transports) {
            const session = (password: string, roundTrip: boolean) => onHost(h.name, async () => {
                const socket = await openTls({ address: h.address, port: t.port, servername: t.name, ca: o.ca, timeoutMs: o.timeoutMs });
                const cert = judgeCertificate(socket, t.name);
                days[t.where] = cert.daysLeft;
                const bad = certificateProblem(cert, t.name);
                if (bad) {
                    socket.destroy();
                    // Nothing was sent: the password goes only to a server that proved the name.
                    return { certProblem: bad, nameOk: cert.nameOk } as const;
                }
                const stream = t.websocket ? await openWebSocket(socket, t.name, "/", o.timeoutMs) : socket;
                return { session: await mqttSession(stream, { username: creds.mqttUsername, password }, roundTrip, o.timeoutMs), daysLeft: cert.daysLeft } as const;
            }, `MQTT ${t.where}`);
            try {
                const r = await session(creds.mqttPassword, true);
                if ("certProblem" in r) {
                    findings.push({ problem: `${t.where}: ${r.certProblem}`, action: r.nameOk ? act.renew(h.name, await lineageOf(h.name, t.name)) : act.reprovision(fleet.stack, c.label) });
                    continue;
                }
                if (r.session.connack !== 0) findings.push({ problem: `${t.websocket ? `${t.where}: ` : ""}login refused (${`${r.session.connack}: ${CONNACK_CODES[r.session.connack] ?? "refused"}`})`, action: act.mqttCredentials(fleet.stack) });
                else if (r.daysLeft < CERT_MIN_DAYS) findings.push({ problem: `${t.where}: certificate ${expiry(r.daysLeft)}`, action: act.renew(h.name, await lineageOf(h.name, t.name)) });
            } catch (e: any) {
                findings.push({ problem: e instanceof UpgradeRefused ? `${t.where}: ${e.message}` : netProblem(e, t.where), action: await connectivityAction(h, c) });
                continue;
            }
            try {
                const wrong = await session(`wrong-${crypto.randomBytes(9).toString("base64url")}`, false);
                if ("session" in wrong && wrong.session?.connack === 0) findings.push({ problem: `${t.websocket ? `${t.where}: ` : ""}a wrong password was let in`, action: act.anonymous(fleet.stack, c.label) });
            } catch {
                // Closed without CONNACK: refused too.
            }
        }
        return verdict(findings, { certDaysLeft: days });
    }

    const customerChecks = customers.map(async (c) => {
        const h = hosts.get(c.host);
        if (!h) throw new Error(`customer ${c.label} is placed on ${c.host}, which the stack config does not list`);
        await Promise.all([
            timed("customer", c.label, h.name, "dns", async () => verdict(await dnsFindings(c, h))),
            timed("customer", c.label, h.name, "https", () => httpsCheck(c, h)),
            timed("customer", c.label, h.name, "mqtt", () => mqttCheck(c, h)),
            timed("customer", c.label, h.name, "host", async () => {
                const s = await statuses.get(h.name)!;
                if (!("status" in s)) return { status: "skip", findings: [], note: `host ${h.name} not read` };
                return verdict(customerDrift(fleet, c, s.status));
            }),
            ...(fleet.backup ? [timed("customer", c.label, h.name, "backup", async () => {
                const s = await statuses.get(h.name)!;
                if (!("status" in s)) return { status: "skip", findings: [], note: `host ${h.name} not read` };
                const b = backupCheck(fleet, c, s.status, Date.now());
                return verdict(b.findings, { note: b.note, backupAgeSeconds: b.ageSeconds });
            })] : []),
        ]);
    });
    await Promise.all([...hostChecks, ...hostDns, ...customerChecks]);

    const rank = (r: CheckResult) => r.subject === "customer"
        ? customers.findIndex((c) => c.label === r.name) * 10 + (CUSTOMER_CHECKS as readonly string[]).indexOf(r.check)
        : 1e7 + fleet.hosts.findIndex((h) => h.name === r.name) * 10 + (HOST_CHECKS as readonly string[]).indexOf(r.check);
    results.sort((a, b) => rank(a) - rank(b));
    return { stack: fleet.stack, startedAt: new Date(started).toISOString(), seconds: (Date.now() - started) / 1000, ok: results.every((r) => r.status !== "fail"), results };
}
