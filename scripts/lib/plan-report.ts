/**
 * `npm run plan`'s report of a diff (components/plan-diff.ts): one line per changed customer,
 * a warning at the top when customers are deleted or moved, the unchanged ones in one line;
 * the same for hosts (a warning when one is removed or its address changes); then each
 * host's load. Pure: the CLI prints it, the tests read it.
 */
import { NAME_SUFFIXES } from "../../components/naming";
import { HostCapacity, Placements } from "../../components/placement";
import { Change, ChangeKind, DeployedFleet, HostChange, HostChangeKind, HostDiff, PlanDiff } from "../../components/plan-diff";

/** One host's load before and after the update. */
export interface HostLoad {
    name: string;
    /** Customers on it after the update. */
    used: number;
    capacity: number;
    /** `used` as a whole percentage of `capacity`. */
    percent: number;
    /** Customers on it as deployed. */
    before: number;
    /** A draining host keeps its customers and gets no new ones. */
    drain: boolean;
    /** The machine is gone: its customers are restored on the others (only when so). */
    lost?: true;
}

/** Each configured host's load, as deployed and as planned. */
export function hostLoads(hosts: HostCapacity[], planned: Placements, deployed: DeployedFleet): HostLoad[] {
    const count = (ps: { host: string }[], host: string) => ps.filter((p) => p.host === host).length;
    return hosts.map((h) => {
        const used = count(Object.values(planned), h.name);
        return { name: h.name, used, capacity: h.capacity, percent: Math.round((100 * used) / h.capacity), before: count(Object.values(deployed), h.name), drain: h.drain === true, ...(h.lost ? { lost: true as const } : {}) };
    });
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string {
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd()).join("\n");
}

const SYMBOL: Record<ChangeKind, string> = { add: "+", delete: "-", relabel: "-/+", restore: "<", move: "~", port: "~", option: "~", rename: "~" };
/** The counts line's words for each kind. */
const COUNTED: Record<ChangeKind, string> = {
    add: "to add", delete: "to delete", move: "to move", relabel: "label change(s)", restore: "to restore", port: "port change(s)", option: "option change(s)", rename: "rename(s)",
};
const where = (p: { host: string; mqttPort: number }) => `${p.host}:${p.mqttPort}`;

/** The fourth name added or removed (in place: container, data, port and credentials kept). */
function websocketDetail(c: Change, domain: string): string {
    const name = `${c.label}${NAME_SUFFIXES.mqtt}.${domain}`;
    return c.mqttWebsocketChange === "on"
        ? `mqttWebsocket on: adds ${name} (record, vhost, Mosquitto's WebSocket listener)`
        : `mqttWebsocket off: removes ${name}; clients using MQTT over WebSockets there stop working`;
}

/** Plugins installed and removed, in words ("+grafana-clock-panel 2.1.5, -acme-map-panel 2.0.0"). */
export function pluginsWords(c: { installed: string[]; removed: string[] }): string {
    const shown = (p: string) => p.split("@").slice(0, 2).join(" ");
    return [...c.installed.map((p) => `+${shown(p)}`), ...c.removed.map((p) => `-${shown(p)}`)].join(", ");
}

/** A change of Grafana plugins (in the container's data; Grafana restarts once). */
function pluginsDetail(c: Change): string {
    return `Grafana plugins ${pluginsWords(c.pluginsChange!)} (installed by its host; Grafana restarts once)`;
}

/** A base change in words: "base 2026-12 -> 2027-01", "base of before -> 2027-01" ("": the base of before). */
export function baseChangeWords(b: { from: string; to: string }): string {
    return `${b.from === "" ? "base of before" : `base ${b.from}`} -> ${b.to === "" ? "the base of before" : b.to}`;
}

/** What the host does to upgrade a customer in place (README.md, "Bases and upgrades"). */
export const UPGRADE_STEPS = "upgrade: snapshot, stop, switch, start, verify; rolled back on failure";

/** A change of base: in place an upgrade; with a move, the new container is made on the new base. */
function baseDetail(c: Change): string {
    const b = c.baseChange!;
    return b.upgrade
        ? `${baseChangeWords(b)} (${UPGRADE_STEPS})`
        : `${baseChangeWords(b)} (its new container is made on ${b.to === "" ? "the base of before" : b.to})`;
}

/** What a change does, in words: the DETAIL column. */
export function changeDetail(c: Change, domain: string): string {
    const renamed = (c.previousName !== undefined && c.kind !== "rename" ? `; renamed from ${JSON.stringify(c.previousName)}` : "") +
        (c.mqttWebsocketChange && c.kind !== "option" ? `; ${websocketDetail(c, domain)}` : "") +
        (c.pluginsChange && c.kind !== "option" ? `; ${pluginsDetail(c)}` : "") +
        (c.baseChange && c.kind !== "option" ? `; ${baseDetail(c)}` : "");
    switch (c.kind) {
        case "add":
            return `new on ${where(c.to!)}: ${c.label}{${Object.values(NAME_SUFFIXES).filter((x) => c.mqttWebsocket || x !== NAME_SUFFIXES.mqtt).join(",")}}.${domain}` +
                (c.pluginsChange ? `; ${pluginsDetail(c)}` : "") + (c.likelyRenameOf
                ? `; looks like "${c.likelyRenameOf}" renamed: to keep its container, data, port and credentials, add "label": "${c.likelyRenameOf}" to this entry`
                : "");
        case "delete":
            return `delete from ${where(c.from!)}; its data is archived on ${c.from!.host}` + (c.likelyRenamedTo
                ? `; if "${c.likelyRenamedTo}" (added) is this customer renamed, add "label": "${c.label}" to its entry instead`
                : "");
        case "move":
            // README (Moving a customer): data, credentials and port go with it; a short MQTT outage.
            return `move ${where(c.from!)} -> ${where(c.to!)}; data, credentials, port go along; ${c.from!.host} forwards, then archives${renamed}`;
        case "port":
            return `port ${c.from!.mqttPort} -> ${c.to!.mqttPort} on ${c.to!.host}; its devices must be reconfigured${renamed}`;
        case "option":
            return [...(c.baseChange ? [baseDetail(c)] : []), ...(c.mqttWebsocketChange ? [websocketDetail(c, domain)] : []), ...(c.pluginsChange ? [pluginsDetail(c)] : [])].join("; ") +
                (c.previousName !== undefined ? `; renamed from ${JSON.stringify(c.previousName)}` : "");
        case "rename":
            return `rename ${JSON.stringify(c.previousName)} -> ${JSON.stringify(c.name)} (label, names, container, port and credentials kept)`;
        case "restore":
            return c.from === undefined
                ? `restore on ${where(c.to!)} from its backup (${c.restoreFrom}): data and credentials as backed up`
                : c.from.host === c.to!.host
                    ? `restore in place on ${where(c.to!)} from its backup (${c.restoreFrom}): its data now is replaced (kept in an archive on ${c.to!.host}); stop its container first (lxc-stop), or the host refuses`
                    : `restore ${where(c.from)} -> ${where(c.to!)} from its backup (${c.restoreFrom}), ${c.from.host} being lost: data and credentials as backed up, port kept; what came after that backup is gone with the host${renamed}`;
        case "relabel":
            return `label change ${c.previousLabel} -> ${c.label}, ${where(c.from!)} -> ${where(c.to!)}: new names, container (empty, new credentials) and port; ` +
                `the old one archived on ${c.from!.host}${renamed}`;
    }
}

/** "1 customer", "2 customers". */
const customers = (n: number) => `${n} customer${n === 1 ? "" : "s"}`;

/** Up to five names, then how many more: a line stays short at any fleet size. */
function someNames(names: string[]): string {
    const shown = names.slice(0, 5).join(", ");
    return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
}
const someLabels = (cs: Change[]) => someNames(cs.map((c) => c.label));

/** The diff's lines: the warning (if any), one line per changed customer, the unchanged ones, notes. */
export function formatDiff(diff: PlanDiff, domain: string): string[] {
    const lines: string[] = [];
    const of = (k: ChangeKind) => diff.changes.filter((c) => c.kind === k);
    const risky: string[] = [];
    if (of("delete").length) risky.push(`deletes ${customers(of("delete").length)} (${someLabels(of("delete"))})`);
    if (of("move").length) risky.push(`moves ${customers(of("move").length)} (${someLabels(of("move"))})`);
    if (of("relabel").length) risky.push(`changes the label of ${customers(of("relabel").length)} (${someLabels(of("relabel"))})`);
    if (risky.length) lines.push(`WARNING: this plan ${risky.join(", ")}: their containers are replaced and the old ones archived; read the lines marked - and ~ below`);
    const upgraded = diff.changes.filter((c) => c.baseChange?.upgrade);
    if (upgraded.length) {
        lines.push(`WARNING: this plan changes the base of ${customers(upgraded.length)} in place (${someLabels(upgraded)}): each is stopped, switched to its new base and started, ` +
            "its devices see an outage meanwhile; read the lines marked ~ and the upgrade waves below");
    }
    if (of("restore").length) lines.push(`WARNING: this plan restores ${customers(of("restore").length)} (${someLabels(of("restore"))}) from backups: their data becomes what was backed up; read the lines marked < below`);
    const counts = (["add", "delete", "restore", "move", "relabel", "port", "option", "rename"] as const).map((k) => [k, of(k).length] as const).filter(([, n]) => n > 0);
    lines.push(`Plan: ${counts.length ? counts.map(([k, n]) => `${n} ${COUNTED[k]}`).join(", ") : "no changes"}, ${diff.unchanged} unchanged`);
    if (diff.changes.length) {
        lines.push(...table(diff.changes.map((c) => [
            `  ${SYMBOL[c.kind]}`, c.label, c.name !== undefined ? JSON.stringify(c.name) : "", changeDetail(c, domain),
        ])).split("\n"));
    }
    lines.push(`  = ${customers(diff.unchanged)} unchanged`);
    for (const s of diff.stalePreviousLabels) {
        lines.push(`note: customer "${s.label}" has "previousLabel": "${s.previousLabel}", which is not deployed (the label change is done, or there was none); remove previousLabel from its entry`);
    }
    return lines;
}

/** The host table: record, used/capacity, percent, what the update changes, draining. */
export function formatHosts(loads: HostLoad[], aRecord: (host: string) => string): string {
    const rows = [["HOST", "RECORD", "CUSTOMERS", "USE", "CHANGE", "STATE"]];
    for (const h of loads) {
        const delta = h.used - h.before;
        rows.push([h.name, aRecord(h.name), `${h.used}/${h.capacity}`, `${h.percent}%`, delta === 0 ? "" : `${delta > 0 ? "+" : ""}${delta} (was ${h.before})`, h.lost ? "lost" : h.drain ? "draining" : ""]);
    }
    return table(rows);
}

/** "1 host", "2 hosts". */
const hostsCount = (n: number) => `${n} host${n === 1 ? "" : "s"}`;
const HOST_SYMBOL: Record<HostChangeKind, string> = { add: "+", remove: "-", change: "~" };

/** What a host change does, in words. `ttl`: the records' TTL, after which devices follow an address change. */
export function hostChangeDetail(h: HostChange, domain: string, ttl: number): string {
    const customersOff = (l: string[]) => `${customers(l.length)} (${someNames(l)})`;
    switch (h.kind) {
        case "add":
            return `new: ${h.name}.${domain}. A ${h.to!.address}, capacity ${h.to!.capacity}${h.to!.drain ? ", draining" : ""}; host set-up runs on it`;
        case "remove":
            return `remove (was ${h.from!.address}): its A record goes, the machine itself is left as it is` +
                (h.leaving ? `; the archives of ${customersOff(h.leaving)} deleted from it stay there: copy them off first` : "");
        case "change":
            return h.changed!.map((f) => {
                if (f === "address") return `address ${h.from!.address} -> ${h.to!.address}: its A record changes, devices follow after the TTL (${ttl} s)`;
                if (f === "capacity") return `capacity ${h.from!.capacity} -> ${h.to!.capacity}`;
                return h.to!.drain
                    ? `drain set: takes no new customers${h.leaving ? `; ${customersOff(h.leaving)} leave it` : ""}`
                    : "drain cleared: takes new customers again";
            }).join("; ");
    }
}

/**
 * The host section of the plan: warnings for the top (a host removed, an address changed),
 * then its lines: a summary, one line per changed host, the unchanged ones in one line.
 * `unknownWhy`: what to say when the lock records no hosts.
 */
export function formatHostDiff(diff: HostDiff, domain: string, ttl: number, unknownWhy = "the lock records no hosts (lockfile version 1)"): { warnings: string[]; lines: string[] } {
    if (!diff.known) return { warnings: [], lines: [`Hosts: not diffed: ${unknownWhy}; npm run plan -- --write records them`] };
    const of = (pred: (h: HostChange) => boolean) => diff.changes.filter(pred).map((h) => h.name);
    const removed = of((h) => h.kind === "remove");
    const readdressed = of((h) => h.changed?.includes("address") === true);
    const risky: string[] = [];
    if (removed.length) risky.push(`removes ${hostsCount(removed.length)} (${someNames(removed)})`);
    if (readdressed.length) risky.push(`changes the address of ${hostsCount(readdressed.length)} (${someNames(readdressed)})`);
    const warnings = risky.length ? [`WARNING: this plan ${risky.join(", ")}: their A records go or change; read the host lines marked - and ~ below`] : [];
    const counts = [["remove", "to remove"], ["change", "changed"], ["add", "to add"]]
        .map(([k, words]) => [diff.changes.filter((h) => h.kind === k).length, words] as const).filter(([n]) => n > 0);
    const lines = [`Hosts: ${counts.length ? counts.map(([n, words]) => `${n} ${words}`).join(", ") : "no changes"}, ${diff.unchanged} unchanged`];
    if (diff.changes.length) lines.push(...table(diff.changes.map((h) => [`  ${HOST_SYMBOL[h.kind]}`, h.name, hostChangeDetail(h, domain, ttl)])).split("\n"));
    lines.push(`  = ${hostsCount(diff.unchanged)} unchanged`);
    return { warnings, lines };
}

/** `--write` and `--check`: the lock's host entries that change, one line each. */
export function hostLockLines(diff: HostDiff): string[] {
    if (!diff.known) return ["hosts: not recorded yet (lockfile version 1); --write records them"];
    return diff.changes.map((h) => h.kind === "add" ? `+ host ${h.name} ${h.to!.address}, capacity ${h.to!.capacity}${h.to!.drain ? ", draining" : ""}`
        : h.kind === "remove" ? `- host ${h.name} (was ${h.from!.address})`
        : `~ host ${h.name} ${h.changed!.map((f) => `${f} ${h.from![f]} -> ${h.to![f]}`).join(", ")}`);
}
