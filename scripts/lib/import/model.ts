/**
 * The old orchestrator's rows -> customers.json entries, the stack's hosts, and every
 * inconsistency found on the way with what to do about it. Pure (no database, no files):
 * `npm run import` reads the rows and writes the result; the unit suite feeds it rows.
 *
 * Facts of the old system it relies on: a row is active while `active_before` is NULL; a
 * customer's names are its name as typed plus `""`, `-chirpstack`, `-influx`, `-mqtt` under
 * the domain, CNAMEs to `<host>.<domain>`; a move changed `osm_hosts_id` and never DNS; the
 * orchestrator never reused a port that any row of a host ever held (deleted rows included);
 * a customer's container on its host is `<name>-svr`.
 */
import { acceptsEnv, expectOf } from "../../../components/contract";
import { CustomersFileEntry, labelProblem } from "../../../components/customers";
import { customerLabel, hostFqdn, upstreamContainerName } from "../../../components/naming";
import { reservedPorts } from "../../../components/placement";

/** `osm_hosts` (orchestrator/schema.sql upstream). */
export interface HostRow {
    id: number;
    name: string;
    ip_addr: string;
    capacity: number;
    active_since: number;
    active_before: number | null;
}

/** `osm_customers`. */
export interface CustomerRow {
    id: number;
    osm_hosts_id: number;
    name: string;
    host_mqtt_port: number;
    active_since: number;
    active_before: number | null;
}

/** One row of PowerDNS's `records` table (the zone's A and CNAME rows). */
export interface RecordRow {
    name: string;
    type: string;
    content: string;
    ttl: number;
    disabled: boolean;
}

/**
 * `blocking`: the import writes nothing (the program would refuse the result, or it would
 * cut devices off); `warning`: written, but someone must act; `note`: for the record;
 * `unchecked`: what this run could not see, so nobody takes it as checked.
 */
export type Severity = "blocking" | "warning" | "note" | "unchecked";

export interface Finding {
    severity: Severity;
    /** Whom it is about: `customer "Acme" (osm_customers.id 3)`, `host "osm1"`. */
    subject: string;
    /** What is wrong. */
    message: string;
    /** What to do. */
    fix: string;
    /** The customer (its name as stored) it is about, if one. */
    customer?: string;
}

/** A host as the stack config's `osm-hosting:hosts` takes it. */
export interface StackHost {
    name: string;
    address: string;
    capacity: number;
    hostKey?: string;
    adopt?: boolean;
    reservedMqttPorts?: number[];
    [key: string]: unknown;
}

export interface ImportInput {
    hosts: HostRow[];
    customers: CustomerRow[];
    /** The hosting domain (upstream's `pdns_domain`). */
    domain: string;
    /** PowerDNS's rows of the zone; undefined when PowerDNS was not read. */
    records?: RecordRow[];
    /** Container directories listed on a host (`ls -1 /srv/osm-lxc/lxc/containers`), by host name. */
    containers?: Record<string, string[]>;
    /** Host keys by host name (from the orchestrator's known_hosts). */
    hostKeys?: Record<string, string>;
    /** customers.json as it is (parsed), or undefined when there is none. */
    existingCustomers?: unknown;
    /** The placements lock's names of the stack, label -> name (a name's label may be fixed there). */
    lockedNames?: Record<string, string>;
    /** The stack config's `osm-hosting:hosts` as it is (raw), or undefined. */
    existingHosts?: unknown[];
    /** Names of active customers to leave to the old system for now: not imported, their ports reserved. */
    skip?: string[];
}

export interface ImportResult {
    /** One entry per imported customer, in `osm_customers.id` order. */
    customers: CustomersFileEntry[];
    /** One per active host, in `osm_hosts.id` order. */
    hosts: StackHost[];
    findings: Finding[];
    /** customers.json after the merge: its entries as they were, then the new ones. */
    mergedCustomers: { customers: unknown[]; [key: string]: unknown };
    /** Entries of `customers` the file lacks (the others are there already, equal). */
    added: CustomersFileEntry[];
    /** The stack's hosts after the merge: its own as they were (plus reserved ports and adopt), then the new ones. */
    mergedHosts: StackHost[];
    /** Host names the merge adds or changes. */
    hostChanges: string[];
}

/** upstream's four names per customer, in the order it wrote them. */
export const UPSTREAM_SUFFIXES = ["", "-chirpstack", "-influx", "-mqtt"] as const;
/** Where a customer's container lives on an upstream host. */
export const UPSTREAM_CONTAINERS_DIR = "/srv/osm-lxc/lxc/containers";

/** `<name>-svr`: a customer's LXC container upstream (components/naming.ts). */
export const containerName = upstreamContainerName;

/** A DNS name as compared here: lower case, no trailing dot. */
function dnsKey(name: string): string {
    return name.trim().toLowerCase().replace(/\.$/, "");
}

const q = JSON.stringify;
const active = (r: { active_before: number | null }) => r.active_before === null;

/** The entry a customer gets: its name as stored, its label explicit, pinned where it runs. */
function entryOf(c: CustomerRow, host: HostRow): CustomersFileEntry {
    return { name: c.name, label: customerLabel(c.name), host: host.name, mqttPort: c.host_mqtt_port, adopt: true };
}

/** Same keys and values (order aside). */
function sameEntry(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined).sort();
    const kb = Object.keys(b).filter((k) => b[k] !== undefined).sort();
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

/** Turns the orchestrator's rows into entries, hosts and findings. */
export function analyse(input: ImportInput): ImportResult {
    const findings: Finding[] = [];
    const add = (severity: Severity, subject: string, message: string, fix: string, customer?: string) =>
        findings.push({ severity, subject, message, fix, ...(customer !== undefined ? { customer } : {}) });
    const domain = input.domain;
    const skip = new Set(input.skip ?? []);
    const hostById = new Map(input.hosts.map((h) => [h.id, h]));
    const activeHosts = input.hosts.filter(active).sort((a, b) => a.id - b.id);
    const activeCustomers = input.customers.filter(active).sort((a, b) => a.id - b.id);
    const hostSubject = (h: HostRow) => `host ${q(h.name)} (osm_hosts.id ${h.id})`;
    const customerSubject = (c: CustomerRow) => `customer ${q(c.name)} (osm_customers.id ${c.id})`;

    for (const name of skip) {
        if (!activeCustomers.some((c) => c.name === name)) {
            add("blocking", `--skip ${q(name)}`, "names no active customer", "give the name exactly as the orchestrator stores it (osm_customers.name), or drop the option");
        }
    }

    // Hosts.
    const seenHostName = new Map<string, HostRow>();
    const seenAddress = new Map<string, HostRow>();
    for (const h of activeHosts) {
        if (!acceptsEnv("OSM_HOST_NAME", h.name)) {
            add("blocking", hostSubject(h), `its name is not one the program takes: it must be ${expectOf("OSM_HOST_NAME")}`,
                `the host's name is its DNS name ${h.name}.${domain}; rename the host upstream first (a new A record, and every customer's CNAMEs), then import again`);
        }
        if (!/^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(h.ip_addr)) {
            add("blocking", hostSubject(h), `its address ${q(h.ip_addr)} is not an IPv4 address`, "correct osm_hosts.ip_addr to the address the host answers on, then import again");
        }
        if (!Number.isInteger(h.capacity) || h.capacity < 1 || h.capacity > 1000) {
            add("blocking", hostSubject(h), `its capacity ${h.capacity} is not from 1 to 1000`, "correct osm_hosts.capacity, then import again");
        }
        const twin = seenHostName.get(h.name);
        if (twin) add("blocking", hostSubject(h), `has the same name as active host id ${twin.id}`, "mark the stale one inactive (osm_hosts.active_before), then import again");
        else seenHostName.set(h.name, h);
        const twinAddress = seenAddress.get(h.ip_addr);
        if (twinAddress) add("blocking", hostSubject(h), `has the address ${h.ip_addr} of active host ${q(twinAddress.name)} too`, "correct osm_hosts.ip_addr of one of them, then import again");
        else seenAddress.set(h.ip_addr, h);
    }

    // Customers: where each is, its label and its port.
    const imported: { row: CustomerRow; host: HostRow; entry: CustomersFileEntry }[] = [];
    const byLabel = new Map<string, CustomerRow>();
    const portHolder = new Map<string, CustomerRow>();
    const perHost = new Map<number, number>();
    for (const c of activeCustomers) {
        const skipped = skip.has(c.name);
        const severity: Severity = skipped ? "note" : "blocking";
        const subject = customerSubject(c);
        const host = hostById.get(c.osm_hosts_id);
        if (!host || !active(host)) {
            add(severity, subject, host ? `is active on host ${q(host.name)}, which the orchestrator has retired` : `is on osm_hosts.id ${c.osm_hosts_id}, which does not exist`,
                `find where ${containerName(c.name)} runs (${UPSTREAM_CONTAINERS_DIR} on each host); correct osm_customers.osm_hosts_id, or mark the customer inactive if it is gone, then import again`, c.name);
            continue;
        }
        perHost.set(host.id, (perHost.get(host.id) ?? 0) + 1);
        const label = customerLabel(c.name);
        const wrong = labelProblem(label, `its name gives DNS label ${q(label)}`, true);
        if (wrong) {
            add(severity, subject, `${wrong.replace(/; [^;]*$/, "")}: the program cannot keep upstream's names ${c.name}.${domain} and the others`,
                `leave it to the old system for now (--skip ${q(c.name)}); then choose a label (a-z, 0-9, dashes), add its entry by hand with "label", and tell its users and devices the new names`, c.name);
        } else if (label !== dnsKey(c.name)) {
            add(skipped ? "note" : "warning", subject, `upstream's names are ${q(`${c.name}.${domain}`)} (and -chirpstack, -influx, -mqtt), but its label is ${q(label)}: the program declares ${label}.${domain}, ${label}-influx.${domain} and ${label}-chirpstack.${domain}, new names`,
                `tell its users the new names (its MQTT port stays ${c.host_mqtt_port}); upstream's rows under the old names are not adopted and stay in PowerDNS until deleted by hand`, c.name);
        }
        const sameLabel = byLabel.get(label);
        if (sameLabel && !wrong) {
            add(severity, subject, `has the label ${q(label)} of active customer ${q(sameLabel.name)} (id ${sameLabel.id}) too`,
                `one of them is stale or a duplicate: mark it inactive in the orchestrator, or --skip one of them, then import again`, c.name);
        } else if (!wrong) {
            byLabel.set(label, c);
        }
        const port = c.host_mqtt_port;
        if (!acceptsEnv("OSM_MQTT_PORT", String(port)) || reservedPorts({}).includes(port)) {
            add(severity, subject, `its MQTT port ${port} is not one the program can give (${expectOf("OSM_MQTT_PORT")}, not 22, 80 or 443)`,
                "find the port its NGINX stream listens on (customers.stream.d on its host) and correct osm_customers.host_mqtt_port, then import again", c.name);
        }
        const key = `${host.id}:${port}`;
        const other = portHolder.get(key);
        if (other) {
            add(severity, subject, `has MQTT port ${port} on host ${q(host.name)}, as active customer ${q(other.name)} (id ${other.id}) does: only one NGINX stream can listen there, so the other's devices reach the wrong broker (upstream's moves kept ports without checking)`,
                `find which of the two the stream on ${host.name} serves (customers.stream.d); give the other a free port: move it to another host with its port, or give it a new port and reconfigure its devices, correct osm_customers, then import again (or --skip one of them)`, c.name);
        } else {
            portHolder.set(key, c);
        }
        if (!skipped) imported.push({ row: c, host, entry: entryOf(c, host) });
    }
    for (const h of activeHosts) {
        const n = perHost.get(h.id) ?? 0;
        if (n > h.capacity) {
            add("blocking", hostSubject(h), `holds ${n} active customers but its capacity is ${h.capacity}`,
                `raise osm_hosts.capacity to at least ${n} (or move customers off it upstream), then import again`);
        }
    }

    // Ports held by deleted rows of a host: the old orchestrator never gave them again, nor may the program.
    const reserved = new Map<number, Map<number, string[]>>();
    const holdsPort = (hostId: number, port: number) => activeCustomers.some((c) => c.osm_hosts_id === hostId && c.host_mqtt_port === port && !skip.has(c.name));
    const reserve = (hostId: number, port: number, why: string) => {
        const ports = reserved.get(hostId) ?? new Map<number, string[]>();
        ports.set(port, [...(ports.get(port) ?? []), why]);
        reserved.set(hostId, ports);
    };
    for (const c of input.customers) {
        if (!active(c) && !holdsPort(c.osm_hosts_id, c.host_mqtt_port)) reserve(c.osm_hosts_id, c.host_mqtt_port, `deleted ${q(c.name)}`);
    }
    for (const c of activeCustomers) {
        if (skip.has(c.name) && !holdsPort(c.osm_hosts_id, c.host_mqtt_port)) reserve(c.osm_hosts_id, c.host_mqtt_port, `skipped ${q(c.name)}`);
    }
    for (const h of activeHosts) {
        const ports = reserved.get(h.id);
        if (!ports?.size) continue;
        const list = [...ports.keys()].sort((a, b) => a - b);
        add("note", hostSubject(h), `MQTT ports held by customers not imported: ${list.map((p) => `${p} (${ports.get(p)!.join(", ")})`).join(", ")}`,
            "kept from reuse as its reservedMqttPorts in the stack config (the old orchestrator never reused a port either; devices of a deleted customer may still send to it)");
    }

    // PowerDNS, when read: each host's A record, each customer's CNAMEs.
    const recordsByName = new Map<string, RecordRow[]>();
    for (const r of input.records ?? []) {
        const k = dnsKey(r.name);
        recordsByName.set(k, [...(recordsByName.get(k) ?? []), r]);
    }
    const live = (name: string, type: string) => (recordsByName.get(dnsKey(name)) ?? []).filter((r) => r.type.toUpperCase() === type && !r.disabled);
    const hostByFqdn = new Map(input.hosts.map((h) => [dnsKey(hostFqdn(h.name, domain)), h]));
    if (input.records === undefined) {
        add("unchecked", "PowerDNS", "its records were not read: upstream's DNS names were derived, not seen, and no CNAME was checked against the host the database names",
            "give --powerdns-config (upstream's config.yaml has a pdns section), or check by hand that every customer's names point to its host");
    } else {
        for (const h of activeHosts) {
            const a = live(hostFqdn(h.name, domain), "A");
            const contents = a.map((r) => r.content.trim());
            if (a.length === 0) {
                add("warning", hostSubject(h), `PowerDNS has no A record for ${hostFqdn(h.name, domain)}`, `the program creates it (${h.ip_addr}); check nothing else serves that name`);
            } else if (contents.length !== 1 || contents[0] !== h.ip_addr) {
                add("blocking", hostSubject(h), `PowerDNS's A record ${hostFqdn(h.name, domain)} says ${contents.join(", ")}, the orchestrator ${h.ip_addr}`,
                    "find which address the host answers on; correct the record (or osm_hosts.ip_addr), then import again: the program adopts an A record only when it matches");
            }
        }
        for (const { row: c, host } of imported) {
            const want = dnsKey(hostFqdn(host.name, domain));
            const stale = new Map<string, string[]>();
            const missing: string[] = [];
            for (const suffix of UPSTREAM_SUFFIXES) {
                const name = `${c.name}${suffix}.${domain}`;
                const rows = live(name, "CNAME");
                if (rows.length === 0) { if (suffix !== "-mqtt") missing.push(name); continue; }
                const targets = [...new Set(rows.map((r) => dnsKey(r.content)))];
                if (targets.length !== 1 || targets[0] !== want) stale.set(name, targets);
            }
            const subject = customerSubject(c);
            if (stale.size) {
                const targets = [...new Set([...stale.values()].flat())];
                const where = targets.map((t) => hostByFqdn.get(t)).filter((h): h is HostRow => h !== undefined);
                const seen = where.map((h) => ({ h, listed: input.containers?.[h.name]?.includes(containerName(c.name)) }));
                const hint = seen.some((s) => s.listed) ? `: ${containerName(c.name)} is listed on ${seen.filter((s) => s.listed).map((s) => s.h.name).join(", ")}, so the database may be the stale one` : "";
                add("blocking", subject, `its CNAMEs ${[...stale.keys()].join(", ")} point to ${targets.join(", ")}, but the orchestrator has it on ${q(host.name)} (${want}): upstream's moves changed the database, never DNS${hint}`,
                    `find where ${containerName(c.name)} runs (${UPSTREAM_CONTAINERS_DIR}, or --containers). If on ${host.name}, point the rows to ${want} (in PowerDNS's records table: content = '${want}' for those names) so its devices find it; ` +
                    `if on ${where.length ? where.map((h) => h.name).join("/") : targets.join("/")}, correct osm_customers.osm_hosts_id (id ${c.id}); then import again`, c.name);
            }
            const capitals = UPSTREAM_SUFFIXES.flatMap((suffix) => live(`${c.name}${suffix}.${domain}`, "CNAME")).filter((r) => r.name !== r.name.toLowerCase());
            if (capitals.length) {
                add("note", subject, `PowerDNS holds its names as typed, with capitals (${capitals.map((r) => r.name).join(", ")})`,
                    "PowerDNS's SQL backends expect names in lower case, so whether they answer depends on the database's collation: check with dig before relying on them; the program's names are lower case", c.name);
            }
            if (missing.length) {
                add("warning", subject, `PowerDNS has no CNAME ${missing.join(", ")}`, "the program creates its names; check its users did not rely on the missing ones", c.name);
            }
        }
    }

    // Rows a delete should have removed: a new customer of that label would find its names taken.
    if (input.records !== undefined) {
        const activeNames = new Set(activeCustomers.map((c) => dnsKey(c.name)));
        const deleted = [...new Map(input.customers.filter((c) => !active(c) && !activeNames.has(dnsKey(c.name))).map((c) => [dnsKey(c.name), c])).values()];
        for (const c of deleted) {
            const left = UPSTREAM_SUFFIXES.map((suffix) => `${c.name}${suffix}.${domain}`).filter((n) => live(n, "CNAME").length > 0);
            if (left.length) {
                add("warning", customerSubject(c), `was deleted, but PowerDNS still has ${left.join(", ")}`,
                    "delete those rows (upstream's delete did not finish); until then the program refuses a new customer of that label, as the names are taken");
            }
        }
    }

    // Containers, where a listing was given: each customer's `<name>-svr` on its host, nothing unaccounted for.
    for (const h of activeHosts) {
        const listed = input.containers?.[h.name];
        if (listed === undefined) {
            add("unchecked", hostSubject(h), `whether each of its customers has its container ${UPSTREAM_CONTAINERS_DIR}/<name>-svr was not checked`,
                `run ls -1 ${UPSTREAM_CONTAINERS_DIR} on ${h.name} and give its output as --containers ${h.name}=FILE`);
            continue;
        }
        const names = new Set(listed.map((l) => l.trim().replace(/\/$/, "")).filter(Boolean));
        const mine = activeCustomers.filter((c) => c.osm_hosts_id === h.id);
        for (const c of mine) {
            if (!names.has(containerName(c.name))) {
                add(skip.has(c.name) ? "note" : "blocking", customerSubject(c), `has no container ${containerName(c.name)} in ${UPSTREAM_CONTAINERS_DIR} on ${h.name}`,
                    `find it (another host? a failed move or create?) before adopting it; correct the orchestrator (osm_hosts_id, or mark it inactive), then import again`, c.name);
            }
        }
        const owned = new Set(mine.map((c) => containerName(c.name)));
        const strays = [...names].filter((n) => n.endsWith("-svr") && !owned.has(n)).sort();
        if (strays.length) {
            add("warning", hostSubject(h), `has containers no active customer of it owns: ${strays.join(", ")}`,
                "a deleted or moved customer's leftovers, or a customer the orchestrator lost: the program leaves them alone; find out whose they are before removing anything");
        }
    }

    // The host entries, and the merge with the stack's own.
    const hosts: StackHost[] = activeHosts.map((h) => {
        const ports = [...(reserved.get(h.id)?.keys() ?? [])].sort((a, b) => a - b);
        return {
            name: h.name, address: h.ip_addr, capacity: h.capacity,
            ...(input.hostKeys?.[h.name] ? { hostKey: input.hostKeys[h.name] } : {}),
            adopt: true,
            ...(ports.length ? { reservedMqttPorts: ports } : {}),
        };
    });
    const { mergedHosts, hostChanges } = mergeHosts(hosts, input.existingHosts ?? [], add);

    // What is said of a skipped customer is for the record: it stays with the old system for now.
    for (const f of findings) if (f.customer !== undefined && skip.has(f.customer) && f.severity === "note") f.message = `left to the old system (--skip): ${f.message}`;

    const customers = imported.map((i) => i.entry);
    const { merged, added } = mergeCustomers(customers, input.existingCustomers, input.lockedNames ?? {}, add);
    return { customers, hosts, findings, mergedCustomers: merged, added, mergedHosts, hostChanges };
}

type Add = (severity: Severity, subject: string, message: string, fix: string, customer?: string) => void;

/** The stack's hosts with the imported ones: an existing host must be the same one; it gains reserved ports and adopt. */
function mergeHosts(hosts: StackHost[], existing: unknown[], add: Add): { mergedHosts: StackHost[]; hostChanges: string[] } {
    const mergedHosts = existing.map((h) => ({ ...(h as StackHost) }));
    const hostChanges: string[] = [];
    for (const h of hosts) {
        const i = mergedHosts.findIndex((e) => e.name === h.name);
        const subject = `host ${q(h.name)}`;
        if (i < 0) {
            const clash = mergedHosts.find((e) => e.address === h.address);
            if (clash) add("blocking", subject, `its address ${h.address} is host ${q(clash.name)}'s in the stack config`, "the same machine under two names: remove or rename one of them, then import again");
            if (!h.hostKey) {
                add("blocking", subject, "no SSH host key is known for it", `give --known-hosts with the orchestrator's known_hosts (the keys it already trusts), or read /etc/ssh/ssh_host_ed25519_key.pub on the host's console (not ssh-keyscan: it trusts whatever answers) and add the host to the stack config by hand`);
            }
            mergedHosts.push(h);
            hostChanges.push(h.name);
            continue;
        }
        const e = mergedHosts[i];
        const differ = (["address", "capacity"] as const).filter((k) => e[k] !== h[k]);
        if (differ.length) {
            add("blocking", subject, `the stack config has it with ${differ.map((k) => `${k} ${e[k]}`).join(", ")}, the orchestrator with ${differ.map((k) => `${k} ${h[k]}`).join(", ")}`,
                "make them agree (the stack config's entry is kept as it is), then import again");
        }
        if (h.hostKey && e.hostKey && String(e.hostKey).trim() !== h.hostKey) {
            add("blocking", subject, "the stack config pins another SSH host key than the orchestrator's known_hosts has",
                "one of them is wrong: compare both with /etc/ssh/ssh_host_*_key.pub on the host's console, correct it, then import again");
        }
        if (!e.hostKey && !h.hostKey) add("blocking", subject, "no SSH host key is known for it", "give --known-hosts, or set its hostKey in the stack config");
        const ports = [...new Set([...(e.reservedMqttPorts ?? []), ...(h.reservedMqttPorts ?? [])])].sort((a, b) => a - b);
        const next: StackHost = { ...e, ...(e.hostKey ? {} : h.hostKey ? { hostKey: h.hostKey } : {}), adopt: true, ...(ports.length ? { reservedMqttPorts: ports } : {}) };
        if (!sameEntry(next, e)) {
            mergedHosts[i] = next;
            hostChanges.push(h.name);
        }
    }
    return { mergedHosts, hostChanges };
}

/** customers.json with the imported entries: an entry of the same label or name must be the same one, else nothing is overwritten. */
function mergeCustomers(entries: CustomersFileEntry[], existingDoc: unknown, lockedNames: Record<string, string>, add: Add):
    { merged: ImportResult["mergedCustomers"]; added: CustomersFileEntry[] } {
    const doc = (existingDoc && typeof existingDoc === "object" && !Array.isArray(existingDoc) ? existingDoc : { $schema: "./customers.schema.json" }) as Record<string, unknown>;
    const existing = Array.isArray(doc.customers) ? doc.customers as unknown[] : [];
    if (existingDoc !== undefined && !Array.isArray((existingDoc as { customers?: unknown } | null)?.customers)) {
        add("blocking", "customers.json", "has no \"customers\" list", "restore it from git (npm run plan reports what is wrong with it), then import again");
    }
    const lockLabelOf = new Map(Object.entries(lockedNames).map(([label, name]) => [name, label]));
    const labelOf = (e: { name?: unknown; label?: unknown }) => typeof e.label === "string" ? e.label
        : typeof e.name === "string" ? lockLabelOf.get(e.name) ?? customerLabel(e.name) : undefined;
    const added: CustomersFileEntry[] = [];
    for (const entry of entries) {
        const i = existing.findIndex((e) => e && typeof e === "object" && (labelOf(e as object) === entry.label || (e as { name?: unknown }).name === entry.name));
        if (i < 0) { added.push(entry); continue; }
        const e = existing[i] as Record<string, unknown>;
        if (sameEntry(e, entry as unknown as Record<string, unknown>)) continue;
        add("blocking", `customer ${q(entry.name)}`, `customers.json /customers/${i} is already ${JSON.stringify(e)}; the import would write ${JSON.stringify(entry)}`,
            "nothing is overwritten: if it is this customer, replace the entry with the import's (or remove it) and import again; if it is another, give one of them another label", entry.name);
    }
    return { merged: { ...doc, customers: [...existing, ...added] }, added };
}
