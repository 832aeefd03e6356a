/**
 * Drift both ways, pure: what a host reports (osm-status) against what the stack declares for
 * it. A declared customer missing or stopped, its NGINX site, stream port or firewall port
 * missing or different, no certificate for a name or one expiring soon; and on the host side
 * whatever no customer of the stack owns (containers, sites, streams, firewall ports).
 * Which certbot lineage covers a name is found by the names in the certificates (wildcards
 * too), not by the lineage's name: hosts may hold one lineage per customer or one per host.
 */
import { namesOf } from "../../../components/naming";
import { act, layout } from "./actions";
import { DeclaredCustomer, DeclaredFleet, DeclaredHost, Finding, HostStatus, StatusCertificate, StatusContainer } from "./types";


/** Certificates expiring in fewer days than this are a problem (issue 10). */
export const CERT_MIN_DAYS = 21;

/** True when certificate name `pattern` (maybe `*.domain`) covers `name` (RFC 6125: one label). */
export function certNameCovers(pattern: string, name: string): boolean {
    const p = pattern.toLowerCase().replace(/\.$/, "");
    const n = name.toLowerCase().replace(/\.$/, "");
    if (p === n) return true;
    if (!p.startsWith("*.")) return false;
    const dot = n.indexOf(".");
    return dot > 0 && n.slice(dot + 1) === p.slice(2);
}

/** The lineages whose certificate covers `name`, longest-lived first. */
export function certificatesFor(name: string, certs: StatusCertificate[]): StatusCertificate[] {
    return certs.filter((c) => c.names.some((p) => certNameCovers(p, name))).sort((a, b) => (b.daysLeft ?? -1e9) - (a.daysLeft ?? -1e9));
}

/** Every name the customer declares (the fourth with mqttWebsocket): each needs its vhost and a certificate. */
function allNames(c: DeclaredCustomer): string[] {
    return namesOf(c.names);
}

/** The customer a container serves: an adopted one's (osm-status names it), else the one its name is. */
function ownerOf(c: StatusContainer): string {
    return c.customer ?? c.name;
}

/** What is wrong on its host with one declared customer (empty: all is there). */
export function customerDrift(fleet: DeclaredFleet, c: DeclaredCustomer, s: HostStatus): Finding[] {
    const out: Finding[] = [];
    const { stack } = fleet;
    const container = s.containers?.find((x) => ownerOf(x) === c.label);
    if (s.containers) {
        if (!container) out.push({ problem: `no container on ${c.host}`, action: act.recreate(stack, c.label) });
        // An adopted one (the old orchestrator's) is started by its playbook, as that one starts it (lxc-start -f).
        else if (container.state !== "RUNNING") out.push({ problem: `container ${container.state.toLowerCase()}`, action: container.adopted ? act.reprovision(stack, c.label) : act.start(c.host, c.label) });
    }
    if (s.nginx) {
        const site = s.nginx.sites.find((x) => x.customer === c.label);
        const missing = site ? allNames(c).filter((n) => !site.names.includes(n)) : allNames(c);
        if (!site) out.push({ problem: "no NGINX site", action: act.reprovision(stack, c.label) });
        else if (missing.length) out.push({ problem: `NGINX site lacks ${missing.join(", ")}`, action: act.reprovision(stack, c.label) });
        const stream = s.nginx.streams.find((x) => x.customer === c.label);
        if (!stream) out.push({ problem: "no NGINX MQTT stream", action: act.reprovision(stack, c.label) });
        else if (!stream.ports.includes(c.mqttPort)) {
            out.push({ problem: `MQTT port on host ${stream.ports.join(",")}, stack says ${c.mqttPort}`, action: `devices use the port they were configured with: if ${c.mqttPort} is right, ${act.reprovision(stack, c.label)}; if the host's is, pin "mqttPort": ${stream.ports[0]} in customers.json` });
        }
    }
    if (s.firewall && !s.firewall.mqttPorts.includes(c.mqttPort)) {
        out.push({ problem: `firewall closes MQTT port ${c.mqttPort}`, action: act.reprovision(stack, c.label) });
    }
    if (s.certificates) {
        for (const n of allNames(c)) {
            const [best] = certificatesFor(n, s.certificates);
            if (!best) out.push({ problem: `no certificate for ${n}`, action: act.reprovision(stack, c.label) });
            else if ((best.daysLeft ?? 0) < CERT_MIN_DAYS) {
                out.push({ problem: `certificate for ${n} ${expiry(best.daysLeft ?? 0)}`, action: act.renew(c.host, best.lineage) });
            }
        }
    }
    return dedupe(out);
}

/** "expires in 3 days" / "expired 2 days ago". */
export function expiry(daysLeft: number): string {
    const d = Math.abs(Math.floor(daysLeft));
    return daysLeft < 0 ? `expired ${d} day(s) ago` : `expires in ${Math.floor(daysLeft)} day(s)`;
}

/** What the host has that no customer of the stack owns there, and host-wide troubles. */
export function hostDrift(fleet: DeclaredFleet, h: DeclaredHost, s: HostStatus): Finding[] {
    const out: Finding[] = [];
    const mine = new Map(fleet.customers.filter((c) => c.host === h.name).map((c) => [c.label, c]));
    const elsewhere = (label: string) => fleet.customers.find((c) => c.label === label && c.host !== h.name)?.host;
    for (const e of s.errors ?? []) out.push({ problem: `osm-status: ${e}`, action: act.statusErrors(h.name) });
    if (s.nginx && !s.nginx.running) out.push({ problem: "NGINX not running", action: act.startNginx(h.name) });
    for (const c of s.containers ?? []) {
        if (!mine.has(ownerOf(c))) out.push({ problem: `container ${c.name} (${c.state.toLowerCase()}) no customer owns`, action: act.unowned(h.name, ownerOf(c), elsewhere(ownerOf(c))) });
    }
    for (const site of s.nginx?.sites ?? []) {
        if (!mine.has(site.customer)) out.push({ problem: `NGINX site ${site.file} no customer owns`, action: act.unowned(h.name, site.customer, elsewhere(site.customer)) });
    }
    const declaredPorts = new Set([...mine.values()].map((c) => c.mqttPort));
    for (const st of s.nginx?.streams ?? []) {
        if (!mine.has(st.customer)) out.push({ problem: `NGINX stream ${st.file} (port ${st.ports.join(",")}) no customer owns`, action: act.unowned(h.name, st.customer, elsewhere(st.customer)) });
    }
    for (const p of s.firewall?.mqttPorts ?? []) {
        if (!declaredPorts.has(p)) {
            const owner = Object.entries(s.firewall!.portFiles).find(([, v]) => v === p)?.[0];
            out.push({ problem: `firewall opens port ${p} no customer owns`, action: owner ? act.unowned(h.name, owner, elsewhere(owner)) : act.firewallPort(h.name, p) });
        }
    }
    return dedupe(out);
}

function dedupe(f: Finding[]): Finding[] {
    const seen = new Set<string>();
    return f.filter((x) => !seen.has(x.problem) && !!seen.add(x.problem));
}

/** A duration for people: minutes under 2 h, else hours. */
function ago(seconds: number): string {
    return seconds < 7200 ? `${Math.max(0, Math.round(seconds / 60))} min ago` : `${Math.round(seconds / 3600)} h ago`;
}

/**
 * A customer's backup, pure: its latest snapshot in the repository (what osm-status lists) must
 * exist and be younger than `backup.maxAgeHours`. The note gives its age; a failed last run of
 * its host gives the reason.
 */
export function backupCheck(fleet: DeclaredFleet, c: DeclaredCustomer, s: HostStatus, nowMs: number): { findings: Finding[]; note?: string; ageSeconds?: number } {
    const maxHours = fleet.backup?.maxAgeHours ?? 26;
    const journal = `see the reason with journalctl -u osm-backup.service on ${c.host}; run one now with systemctl start osm-backup.service (or python3 ${layout().osm_remote_root}/ansible/files/osm-backup run)`;
    const b = s.backups;
    if (!b || !b.configured) {
        return { findings: [{ problem: `no backup set up on ${c.host}`, action: `re-run host set-up (pulumi up -s ${fleet.stack}: host set-up writes osm-hosting:backup to every host)` }] };
    }
    const last = b.latest?.[c.label];
    const run = b.lastRun?.customers?.[c.label];
    const why = run && !run.ok && run.error ? `; its last run (${run.time}) failed: ${run.error}` : "";
    if (!last) {
        if (b.error) return { findings: [{ problem: "backup repository not readable", action: `${b.error}${why}; ${journal}` }] };
        return { findings: [{ problem: "no backup snapshot", action: `no snapshot of ${c.label} in ${b.repository ?? "the repository"}${why}; ${journal}` }] };
    }
    const ageSeconds = (nowMs - Date.parse(last.time)) / 1000;
    const note = `${ago(ageSeconds)}, ${last.id}`;
    if (!(ageSeconds <= maxHours * 3600)) {
        return { findings: [{ problem: `last backup ${ago(ageSeconds)} (over ${maxHours} h)`, action: `snapshot ${last.id} of ${last.time}${why}; ${journal}` }], note, ageSeconds };
    }
    return { findings: [], note, ageSeconds };
}
