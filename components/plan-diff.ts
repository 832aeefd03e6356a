/**
 * The plan as a diff against what is deployed, like `pulumi preview` or `terraform plan`:
 * which customers are added, deleted, moved, relabelled, renamed or get another port, and how
 * many stay as they are. Pure (no Pulumi): the program enforces `maxDeletes` with it, and
 * `npm run plan` prints it.
 *
 * A customer is its label: the label names its records, container, port and credentials, so
 * a change of display name alone ("rename") changes nothing deployed, while a customer whose
 * label is gone is deleted (its container archived on its host) even when an entry with a
 * similar name is added: that pair is reported as a likely rename, with the fix.
 *
 * Hosts are diffed too: the stack config's against those the lock was written against
 * (added, removed, address, capacity or drain changed), when the lock records them.
 */
import { PROJECT } from "./config";
import { Placement, Placements } from "./placement";
import { HostRecord, LockedHost } from "./placements-lock";
import { Problem } from "./problems";

/** A customer as deployed: its placement and, when the lock knows them, its display name and options. */
export interface DeployedCustomer extends Placement {
    name?: string;
    /** Whether it has the fourth name `<label>-mqtt`; unknown (absent) when only the stack's placements know it. */
    mqttWebsocket?: boolean;
    /** Its Grafana plugins (`id@version[@sha256]`); unknown (absent) when only the stack's placements know it. */
    grafanaPlugins?: string[];
    /** Its base ("": the base of before); unknown (absent) when only the stack's placements know it. */
    base?: string;
}

/** The deployed customers by label (the lock's and the stack's `placements`). */
export type DeployedFleet = Record<string, DeployedCustomer>;

/** A customer as this update would leave it. */
export interface PlannedCustomer extends Placement {
    label: string;
    name: string;
    /** A label change: the label it had until now (customers.json `previousLabel`). */
    previousLabel?: string;
    /** customers.json `mqttWebsocket`: it has the fourth name. */
    mqttWebsocket?: boolean;
    /** Created from its backup (`latest` or a snapshot id): customers.json `restore`, or its host is lost. */
    restoreFrom?: string;
    /** customers.json `grafanaPlugins`, each `id@version[@sha256]`. */
    grafanaPlugins?: string[];
    /** Its effective base (bases.ts effectiveBase); absent: the base of before (no bases, or adopted). */
    base?: string;
}

/**
 * What happens to one customer. `move`: another host (its data, credentials and port copied
 * there; the old host forwards for the DNS TTL, then archives its copy); `port`: another MQTT port on the same host; `rename`: only the display
 * name; `relabel`: an explicit label change (`previousLabel`): new names, container and port;
 * `option`: only `mqttWebsocket` (the fourth name, its vhost and listener, added or removed in place), its Grafana plugins or its
 * base (an upgrade in place: README.md, "Bases and upgrades");
 * `restore`: created from its backup, on a new host (its own is lost) or in place (its data replaced).
 */
export type ChangeKind = "delete" | "relabel" | "restore" | "move" | "port" | "option" | "rename" | "add";

/** The kinds in the order a plan lists them: what loses data or reaches devices first. */
export const CHANGE_ORDER: readonly ChangeKind[] = ["delete", "relabel", "restore", "move", "port", "option", "rename", "add"];

/** One line of the plan: one customer. */
export interface Change {
    kind: ChangeKind;
    /** Its label (for `delete`, the label that goes; for `relabel`, the new one). */
    label: string;
    /** Display name: the planned one, or (`delete`) the lock's, when known. */
    name?: string;
    /** Where it is deployed (absent for `add`). */
    from?: Placement;
    /** Where it will be (absent for `delete`). */
    to?: Placement;
    /** The display name it had, when that changes (a `rename`, or with a move, port or label change). */
    previousName?: string;
    /** `relabel`: the label it had. */
    previousLabel?: string;
    /** `add`: a deleted customer whose entry this looks like, renamed without a `label`. */
    likelyRenameOf?: string;
    /** `delete`: the added customer that looks like this one renamed without a `label`. */
    likelyRenamedTo?: string;
    /** `add`: with the fourth name, `<label>-mqtt` (customers.json `mqttWebsocket`). */
    mqttWebsocket?: true;
    /** `option`, or with a move, port change or rename: the fourth name is added ("on") or removed ("off"). */
    mqttWebsocketChange?: "on" | "off";
    /** `restore`: what it is restored from (`latest` or a snapshot id). */
    restoreFrom?: string;
    /** Grafana plugins installed (a new one or a new version) and removed, each `id@version`. */
    pluginsChange?: { installed: string[]; removed: string[] };
    /**
     * Its base changes ("": the base of before). `upgrade`: in place, its container upgraded (in
     * the plan's waves); otherwise (a move) its new container is made on `to`.
     */
    baseChange?: { from: string; to: string; upgrade: boolean };
}

export interface PlanDiff {
    /** One per changed customer, in `CHANGE_ORDER`, then by label. */
    changes: Change[];
    /** Planned customers that stay exactly as deployed. */
    unchanged: number;
    /** Entries whose `previousLabel` is not deployed (the change is done, or never was): remove the field. */
    stalePreviousLabels: { label: string; previousLabel: string }[];
}

/** The words of a label that tell customers apart ("co", "ltd" do not). */
function words(label: string): Set<string> {
    return new Set(label.split("-").filter((w) => w.length >= 3 && !["ltd", "inc", "llc", "the", "and", "company", "gmbh"].includes(w)));
}

/** Whether an added label looks like a deleted one renamed: a shared word, or one a prefix of the other. */
function alike(a: string, b: string): boolean {
    if (a.startsWith(`${b}-`) || b.startsWith(`${a}-`)) return true;
    const wb = words(b);
    return [...words(a)].some((w) => wb.has(w));
}

/** Compares the planned customers with the deployed ones. */
export function diffFleet(deployed: DeployedFleet, planned: PlannedCustomer[]): PlanDiff {
    const changes: Change[] = [];
    const plannedLabels = new Set(planned.map((p) => p.label));
    const relabelled = new Set<string>();
    const stalePreviousLabels: PlanDiff["stalePreviousLabels"] = [];
    let unchanged = 0;

    for (const p of planned) {
        const to: Placement = { host: p.host, mqttPort: p.mqttPort };
        const d = deployed[p.label];
        const prev = p.previousLabel === undefined ? undefined : deployed[p.previousLabel];
        if (p.previousLabel !== undefined && (!prev || d || relabelled.has(p.previousLabel))) {
            stalePreviousLabels.push({ label: p.label, previousLabel: p.previousLabel });
        }
        if (!d && prev && !relabelled.has(p.previousLabel!) && !plannedLabels.has(p.previousLabel!)) {
            relabelled.add(p.previousLabel!);
            changes.push({
                kind: "relabel", label: p.label, name: p.name, previousLabel: p.previousLabel, from: { host: prev.host, mqttPort: prev.mqttPort }, to,
                ...(prev.name !== undefined && prev.name !== p.name ? { previousName: prev.name } : {}),
            });
            continue;
        }
        if (p.restoreFrom !== undefined) {
            changes.push({ kind: "restore", label: p.label, name: p.name, to, restoreFrom: p.restoreFrom, ...(d ? { from: { host: d.host, mqttPort: d.mqttPort } } : {}),
                ...(d?.name !== undefined && d.name !== p.name ? { previousName: d.name } : {}) });
            continue;
        }
        if (!d) {
            changes.push({ kind: "add", label: p.label, name: p.name, to, ...(p.mqttWebsocket ? { mqttWebsocket: true as const } : {}),
                ...(p.grafanaPlugins?.length ? { pluginsChange: { installed: [...p.grafanaPlugins].sort(), removed: [] } } : {}) });
            continue;
        }
        const from: Placement = { host: d.host, mqttPort: d.mqttPort };
        const renamed = d.name !== undefined && d.name !== p.name;
        const websocket = d.mqttWebsocket === undefined || d.mqttWebsocket === (p.mqttWebsocket === true) ? undefined : p.mqttWebsocket ? "on" as const : "off" as const;
        const plugins = pluginsChange(d.grafanaPlugins, p.grafanaPlugins ?? []);
        const base = d.base === undefined || d.base === (p.base ?? "") ? undefined : { from: d.base, to: p.base ?? "", upgrade: d.host === p.host };
        const kind: ChangeKind | undefined = d.host !== p.host ? "move" : d.mqttPort !== p.mqttPort ? "port" : websocket || plugins || base ? "option" : renamed ? "rename" : undefined;
        if (!kind) { unchanged++; continue; }
        changes.push({ kind, label: p.label, name: p.name, from, to, ...(renamed ? { previousName: d.name } : {}), ...(websocket ? { mqttWebsocketChange: websocket } : {}),
            ...(plugins ? { pluginsChange: plugins } : {}), ...(base ? { baseChange: base } : {}) });
    }
    for (const [label, d] of Object.entries(deployed)) {
        if (plannedLabels.has(label) || relabelled.has(label)) continue;
        changes.push({ kind: "delete", label, ...(d.name !== undefined ? { name: d.name } : {}), from: { host: d.host, mqttPort: d.mqttPort } });
    }

    // A delete and an add that look alike, each with no other look-alike: a rename that forgot "label".
    const deletes = changes.filter((c) => c.kind === "delete");
    const adds = changes.filter((c) => c.kind === "add");
    const candidates = (c: Change, among: Change[]) => among.filter((o) => alike(c.label, o.label));
    for (const del of deletes) {
        const [add, ...more] = candidates(del, adds);
        if (!add || more.length || candidates(add, deletes).length !== 1) continue;
        del.likelyRenamedTo = add.label;
        add.likelyRenameOf = del.label;
    }

    changes.sort((a, b) => CHANGE_ORDER.indexOf(a.kind) - CHANGE_ORDER.indexOf(b.kind) || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    return { changes, unchanged, stalePreviousLabels };
}

/** The customers this update deletes (a label change is not counted: its entry names the old label). */
export function deletions(diff: PlanDiff): Change[] {
    return diff.changes.filter((c) => c.kind === "delete");
}

/** `label ("Name", on host:port)`, as problems and the plan name a customer. */
export function describeCustomer(c: Change): string {
    const at = c.from ?? c.to;
    return `"${c.label}"${c.name !== undefined ? ` (${JSON.stringify(c.name)}${at ? `, on ${at.host}:${at.mqttPort}` : ""})` : at ? ` (on ${at.host}:${at.mqttPort})` : ""}`;
}

/** Where the `maxDeletes` problems point. */
export interface MaxDeletesFiles {
    /** The customers file, whose entries are missing. */
    customersFile: string;
    /** The stack file (`Pulumi.<stack>.yaml`), which holds the limit. */
    stackFile: string;
}

/**
 * One problem per customer the update would delete, and one for the limit with the fix, when
 * it deletes more than `maxDeletes`; none otherwise. A `{"customers": []}` is refused here.
 */
export function maxDeletesProblems(diff: PlanDiff, maxDeletes: number, files: MaxDeletesFiles): Problem[] {
    const gone = deletions(diff);
    if (gone.length <= maxDeletes) return [];
    const problems: Problem[] = gone.map((c) => ({
        file: files.customersFile, path: "",
        message: `customer ${describeCustomer(c)} would be deleted (its container archived on ${c.from!.host}), but it is not in this file; ` +
            `restore its entry${c.likelyRenamedTo ? `, or, if it is "${c.likelyRenamedTo}" renamed, add "label": "${c.label}" to that entry instead` : ""}`,
    }));
    problems.push({
        file: files.stackFile, path: `${PROJECT}:maxDeletes`,
        message: `this update would delete ${gone.length} customers (above) and at most ${maxDeletes} may go in one update; ` +
            `if the customers file lost entries (truncated, a bad merge), restore them; if these deletions are meant, raise the limit ` +
            `for this one update: pulumi config set ${PROJECT}:maxDeletes ${gone.length} (then pulumi config rm ${PROJECT}:maxDeletes)`,
    });
    return problems;
}

/** What of a host the plan compares: the lock records these. */
export type HostField = "address" | "capacity" | "drain";
const HOST_FIELDS: readonly HostField[] = ["address", "capacity", "drain"];

/**
 * What happens to one host. `add`: its A record and set-up; `remove`: its A record goes (the
 * machine itself is left as it is); `change`: one or more of `changed`.
 */
export type HostChangeKind = "remove" | "change" | "add";

/** The host kinds in the order a plan lists them: what reaches devices first. */
export const HOST_CHANGE_ORDER: readonly HostChangeKind[] = ["remove", "change", "add"];

/** One line of the plan's host section: one host. */
export interface HostChange {
    kind: HostChangeKind;
    name: string;
    /** As the lock has it (absent for `add`). */
    from?: LockedHost;
    /** As the stack config has it (absent for `remove`). */
    to?: LockedHost;
    /** `change`: what changed, in `address`, `capacity`, `drain` order. */
    changed?: HostField[];
    /**
     * Deployed customers this update takes off the host (deleted, or moved off a draining
     * one), by label; on a removed host these can only be deletions (placement refuses to
     * move a customer off a host the config no longer has), whose archives stay on it.
     */
    leaving?: string[];
}

export interface HostDiff {
    /** False when the lock cannot say which hosts are deployed (lockfile version 1): no changes then. */
    known: boolean;
    /** One per changed host, in `HOST_CHANGE_ORDER`, then by name. */
    changes: HostChange[];
    /** Hosts that stay exactly as the lock has them. */
    unchanged: number;
}

/**
 * Compares the stack config's hosts with the lock's (`undefined`: the lock has none, so
 * nothing is known). `deployed` and `placements` say which customers leave each host.
 */
export function diffHosts(locked: Record<string, LockedHost> | undefined, planned: HostRecord[], deployed: DeployedFleet, placements: Placements): HostDiff {
    if (locked === undefined) return { known: false, changes: [], unchanged: 0 };
    const leaving = (host: string) => Object.entries(deployed).filter(([label, d]) => d.host === host && placements[label]?.host !== host).map(([label]) => label).sort();
    const withLeaving = (host: string) => { const l = leaving(host); return l.length ? { leaving: l } : {}; };
    const changes: HostChange[] = [];
    let unchanged = 0;
    const plannedNames = new Set(planned.map((h) => h.name));
    for (const h of planned) {
        const to: LockedHost = { address: h.address, capacity: h.capacity, drain: h.drain };
        const from = locked[h.name];
        if (!from) { changes.push({ kind: "add", name: h.name, to }); continue; }
        const changed = HOST_FIELDS.filter((f) => from[f] !== to[f]);
        if (!changed.length) { unchanged++; continue; }
        changes.push({ kind: "change", name: h.name, from: { address: from.address, capacity: from.capacity, drain: from.drain }, to, changed, ...withLeaving(h.name) });
    }
    for (const [name, from] of Object.entries(locked)) {
        if (plannedNames.has(name)) continue;
        changes.push({ kind: "remove", name, from: { address: from.address, capacity: from.capacity, drain: from.drain }, ...withLeaving(name) });
    }
    changes.sort((a, b) => HOST_CHANGE_ORDER.indexOf(a.kind) - HOST_CHANGE_ORDER.indexOf(b.kind) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { known: true, changes, unchanged };
}

/** The plugins a customer gains (or gets in another version) and loses; none when the deployed ones are unknown or the same. */
export function pluginsChange(deployed: string[] | undefined, planned: string[]): { installed: string[]; removed: string[] } | undefined {
    if (deployed === undefined) return undefined;
    const idOf = (p: string) => p.split("@")[0];
    const installed = planned.filter((p) => !deployed.includes(p)).sort();
    const removed = deployed.filter((p) => !planned.some((q) => idOf(q) === idOf(p))).sort();
    return installed.length || removed.length ? { installed, removed } : undefined;
}
