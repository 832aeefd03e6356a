/**
 * customers.json: parsed, checked against customers.schema.json, then against the rules a
 * schema cannot express. Pure; every problem is reported at once.
 */
import * as fs from "fs";
import * as path from "path";
import { acceptsEnv, expectOf } from "./contract";
import { GrafanaPlugin, pluginProblems } from "./grafana-plugins";
import { customerLabel, MAX_LABEL_LENGTH, upstreamContainerName } from "./naming";
import { projectRoot } from "./paths";
import { CustomerRequest, reservedPorts } from "./placement";
import { InputError, jsonErrorAt, Problem } from "./problems";
import { compile, schemaProblems } from "./schema";

// The schema file sits at the project root, where customers.json's `$schema` points.
const validateSchema = compile(JSON.parse(fs.readFileSync(path.join(projectRoot(), "customers.schema.json"), "utf8")));

/** A customers.json entry as written (see customers.schema.json). */
export interface CustomersFileEntry {
    /** Display name; only what is shown (a rename changes nothing else once the label is fixed). */
    name: string;
    /** DNS label, explicit: default the name's (`customerLabel`), or the lock's for this name. */
    label?: string;
    /** A label change: the label the customer had until now (README: Labels). */
    previousLabel?: string;
    /** Pin to this host. */
    host?: string;
    /** Pin to this MQTT port. */
    mqttPort?: number;
    /**
     * Already running where the old orchestrator put it (pin `host` and `mqttPort`): taken over in
     * place, its container `<name>-svr`, data and credentials kept, and its DNS records if they match.
     */
    adopt?: boolean;
    /** The fourth name `<label>-mqtt.<domain>`: MQTT over WebSockets on 443 (default: `adopt`). */
    mqttWebsocket?: boolean;
    /** Create it from its backup: `latest` or a snapshot id (README: Backups, restoring). */
    restore?: { from: string };
    /** Grafana plugins installed into its container from the host side (README: Grafana plugins). */
    grafanaPlugins?: GrafanaPlugin[];
    /** Its OS base: one of the stack config's `bases` (default: its `defaultBase`; README: Bases and upgrades). */
    base?: string;
}

/** Where a customer's label comes from: its `label` field, the lock (placed earlier under this name), or its name. */
export type LabelSource = "label" | "lock" | "name";

/** A customers.json entry, validated, as the program uses it (the component is `Customer`). */
export interface CustomerEntry extends CustomerRequest {
    /** Display name from customers.json. */
    name: string;
    /** DNS label: the name of every resource, record and container of the customer. */
    label: string;
    /** Where `label` comes from (messages point at the field to change). */
    labelSource: LabelSource;
    /** The label it had until now, for an explicit label change. */
    previousLabel?: string;
    /** Already running: taken over in place (its container, credentials, DNS records). */
    adopt: boolean;
    /** With `adopt`: the old orchestrator's container of it on its host, `<name>-svr`. */
    upstreamContainer?: string;
    /**
     * `<label>-mqtt.<domain>`: MQTT over WebSockets through NGINX on 443 to the container's
     * Mosquitto. Default off for a new customer, on for an adopted one (the old orchestrator gave
     * every customer that name, and its devices or dashboards may use it), unless set false.
     */
    mqttWebsocket: boolean;
    /** customers.json `restore.from`: `latest` or a snapshot id; absent without a restore request. */
    restoreFrom?: string;
    /** customers.json `grafanaPlugins` (none: []). */
    grafanaPlugins: GrafanaPlugin[];
    /** customers.json `base`: one of the stack's bases; absent: the stack's `defaultBase` (bases.ts effectiveBase). */
    base?: string;
}

/**
 * What validation knows of the stack's bases: their names (`[]`: the stack has none). Not given,
 * a customer's `base` is judged on its form alone (the stack config could not be read).
 */
export interface KnownBases {
    names: readonly string[];
}

/** What validation needs to know of the hosts. */
export interface KnownHost {
    name: string;
    sshPort?: number;
    /** MQTT ports no customer may pin there (hosts[].reservedMqttPorts). */
    reservedMqttPorts?: number[];
}

/**
 * What is wrong with a label, or undefined. `what` says where it came from (`name "Foo Bar"
 * gives DNS label "foo-bar"`, `label "foo-bar"`) and `fromName` picks the fix: a derived label
 * is fixed in the name, an explicit one in the label. The same rules for both, so an explicit
 * label can never be one the hosts would refuse.
 */
export function labelProblem(label: string, what: string, fromName: boolean): string | undefined {
    const chars = fromName ? "use only letters, digits, spaces and dashes" : "use only lower-case letters a-z, digits and dashes";
    if (!/^[a-z0-9-]+$/.test(label)) {
        const bad = [...new Set(label.replace(/[a-z0-9-]/g, ""))].map((ch) => JSON.stringify(ch)).join(" ");
        return `${what}, which contains ${bad}; ${chars}`;
    }
    if (label.startsWith("-") || label.endsWith("-")) return `${what}, which starts or ends with a dash; remove the leading or trailing dash`;
    if (label.length > MAX_LABEL_LENGTH) {
        return `${what} of ${label.length} characters; shorten it to at most ${MAX_LABEL_LENGTH} so "${label}-chirpstack" fits DNS's 63`;
    }
    if (label.includes("--")) return `${what} with two dashes in a row; remove the extra dash${fromName ? " or space" : ""}`;
    // The hosts' own rule (ansible/vars/osm.yml) has the last word; the cases above explain it.
    if (!acceptsEnv("OSM_CUSTOMER", label)) return `${what}, which the hosts refuse: it must be ${expectOf("OSM_CUSTOMER")}`;
    return undefined;
}

/**
 * Validates a parsed customers document; returns the customers or the problems. `locked`: the
 * stack's lock, label -> name: an entry without `label` whose name the lock holds under another
 * label keeps that label (it was fixed when the customer was first placed).
 */
export function checkCustomers(doc: unknown, file: string, hosts: KnownHost[], locked: Record<string, string> = {}, bases?: KnownBases): { customers: CustomerEntry[]; problems: Problem[] } {
    const schemaOk = validateSchema(doc);
    const problems: Problem[] = schemaOk ? [] : schemaProblems(validateSchema.errors, doc, file);
    // The rules run even when the schema fails, on the values that are well-typed, so one run
    // reports every problem; a value the schema rejected is not judged twice.
    const entries = (doc as { customers?: unknown } | null)?.customers;
    if (!Array.isArray(entries)) return { customers: [], problems };
    const hostByName = new Map(hosts.map((h) => [h.name, h]));
    const labels = new Map<string, number>();
    const names = new Map<string, number>();
    const ports = new Map<string, number>();
    const customers: CustomerEntry[] = [];
    /** Each customer's index in `entries` (entries that are not objects give none). */
    const entryIndex: number[] = [];
    // Lock labels by name, for names the lock holds under one label only.
    const lockedByName = new Map<string, string | null>();
    for (const [l, n] of Object.entries(locked)) lockedByName.set(n, lockedByName.has(n) ? null : l);

    entries.forEach((raw, i) => {
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return; // reported by the schema
        const e = raw as { name?: unknown; label?: unknown; previousLabel?: unknown; host?: unknown; mqttPort?: unknown; adopt?: unknown; mqttWebsocket?: unknown; restore?: { from?: unknown }; grafanaPlugins?: unknown; base?: unknown };
        const at = `/customers/${i}`;
        const nameOk = typeof e.name === "string" && e.name.length >= 1 && e.name.length <= 80;
        const explicitOk = typeof e.label === "string" && e.label.length >= 1;
        const hostOk = typeof e.host === "string" && e.host.length >= 1;
        const portOk = Number.isInteger(e.mqttPort) && acceptsEnv("OSM_MQTT_PORT", String(e.mqttPort));
        const name = nameOk ? e.name as string : "";
        const quoted = JSON.stringify(name);
        const derived = customerLabel(name);
        const fromLock = e.label === undefined && nameOk && !(derived in locked) ? lockedByName.get(name) ?? undefined : undefined;
        const labelSource: LabelSource = e.label !== undefined ? "label" : fromLock !== undefined ? "lock" : "name";
        const label = labelSource === "label" ? (explicitOk ? e.label as string : "") : fromLock ?? derived;
        // A problem of the label is fixed where the label comes from.
        const labelPath = labelSource === "label" ? `${at}/label` : `${at}/name`;
        const what = labelSource === "label" ? `label "${label}"` : labelSource === "lock"
            ? `name ${quoted} has DNS label "${label}" in the placements lock` : `name ${quoted} gives DNS label "${label}"`;
        if (labelSource === "label" && !explicitOk) {
            // reported by the schema
        } else if (!nameOk) {
            // reported by the schema
        } else if (label.length === 0) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} is blank; give the customer a name` });
        } else {
            const wrong = labelProblem(label, what, labelSource === "name");
            if (wrong) problems.push({ file, path: labelPath, message: wrong });
        }
        const first = labels.get(label);
        if (first !== undefined && label) {
            const other = entries[first] as { name: string; label?: string };
            const where = other.label !== undefined ? `/customers/${first}/label` : `/customers/${first}/name`;
            problems.push({ file, path: labelPath, message: `${what}, the same as ${where} (${JSON.stringify(other.name)}); give one of them a different ${labelSource === "label" ? "label" : "name"}` });
        } else if (label) {
            labels.set(label, i);
        }
        // Two labels may share a display name only by accident: the plan and the lock tell customers apart by it.
        const sameName = names.get(name);
        if (nameOk && sameName !== undefined && first === undefined) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} is also /customers/${sameName}/name; give each customer its own display name` });
        } else if (nameOk && sameName === undefined) {
            names.set(name, i);
        }
        let previousLabel: string | undefined;
        if (typeof e.previousLabel === "string" && e.previousLabel.length >= 1) {
            previousLabel = e.previousLabel;
            const wrong = labelProblem(previousLabel, `previousLabel "${previousLabel}"`, false);
            if (wrong) problems.push({ file, path: `${at}/previousLabel`, message: `${wrong.replace(/; .*$/, "")}; it must be the label the customer has now (the lock's key)` });
            else if (previousLabel === label) problems.push({ file, path: `${at}/previousLabel`, message: `previousLabel "${previousLabel}" is the customer's label already; remove previousLabel, or set "label" to the new label` });
        }
        const hostName = hostOk ? e.host as string : undefined;
        const host = hostName === undefined ? undefined : hostByName.get(hostName);
        if (hostName !== undefined && !host) {
            problems.push({ file, path: `${at}/host`, message: `host "${hostName}" is not in the stack config; use one of ${hosts.map((h) => `"${h.name}"`).join(", ")} or remove the pin` });
        }
        const port = portOk ? e.mqttPort as number : undefined;
        if (port !== undefined) {
            if (reservedPorts(host ?? {}).includes(port)) {
                problems.push({ file, path: `${at}/mqttPort`, message: `mqttPort ${port} is used by the host itself (SSH, HTTP or HTTPS); choose another port` });
            } else if (host?.reservedMqttPorts?.includes(port)) {
                problems.push({ file, path: `${at}/mqttPort`, message: `mqttPort ${port} is reserved on host "${hostName}" (its reservedMqttPorts in the stack config: a customer the old orchestrator deleted there held it, and its devices may still send to it); choose another port` });
            }
        }
        if (e.mqttPort !== undefined && e.host === undefined) {
            problems.push({ file, path: `${at}/mqttPort`, message: `mqttPort is pinned but host is not; a port is only unique on one host, so pin "host" too` });
        } else if (port !== undefined && hostName !== undefined) {
            const key = `${hostName}:${port}`;
            const other = ports.get(key);
            if (other !== undefined) {
                problems.push({ file, path: `${at}/mqttPort`, message: `mqttPort ${port} on host "${hostName}" is already pinned by /customers/${other}; choose another port` });
            } else {
                ports.set(key, i);
            }
        }
        if (e.adopt === true && (e.host === undefined || e.mqttPort === undefined)) {
            problems.push({ file, path: `${at}/adopt`, message: `adopt: true takes over a customer where it already runs, so it needs "host" and "mqttPort" pinned to what it has there; add ${[e.host === undefined ? "\"host\"" : "", e.mqttPort === undefined ? "\"mqttPort\"" : ""].filter(Boolean).join(" and ")}` });
        }
        const upstreamContainer = e.adopt === true ? upstreamContainerName(name) : undefined;
        if (upstreamContainer !== undefined && !acceptsEnv("OSM_ADOPT_CONTAINER", upstreamContainer)) {
            problems.push({ file, path: `${at}/name`, message: `adopt: true takes over the old orchestrator's container "${upstreamContainer}" (the name as it stored it, then -svr), ` +
                `which is not ${expectOf("OSM_ADOPT_CONTAINER")}: give "name" exactly as the orchestrator stored it (npm run import writes it)` });
        }
        // A restore brings its data from the backup; adopting takes over what runs: not both.
        const restoreFrom = typeof e.restore?.from === "string" && acceptsEnv("OSM_RESTORE_FROM", e.restore.from) ? e.restore.from : undefined;
        if (e.restore !== undefined && e.adopt === true) {
            problems.push({ file, path: `${at}/restore`, message: "restore and adopt: true exclude each other (adopting takes over the container where it runs, a restore creates it from its backup); remove one of them" });
        }
        const pluginIssues = pluginProblems(e.grafanaPlugins, `${at}/grafanaPlugins`);
        problems.push(...pluginIssues.map((p) => ({ file, ...p })));
        const plugins = Array.isArray(e.grafanaPlugins) && !pluginIssues.length ? e.grafanaPlugins as GrafanaPlugin[] : [];
        if (e.adopt === true && Array.isArray(e.grafanaPlugins) && e.grafanaPlugins.length > 0) {
            problems.push({ file, path: `${at}/grafanaPlugins`, message: "Grafana plugins for an adopted customer (its old orchestrator's container) are not supported yet; remove grafanaPlugins, or add them once it runs in a container of the project's own" });
        }
        const baseIssue = baseProblem(e.base, e.adopt === true, bases);
        if (baseIssue) problems.push({ file, path: `${at}/base`, message: baseIssue });
        entryIndex.push(i);
        customers.push({ name, label, labelSource, ...(previousLabel !== undefined ? { previousLabel } : {}), host: hostName, mqttPort: port, adopt: e.adopt === true,
            ...(upstreamContainer !== undefined ? { upstreamContainer } : {}),
            // A non-boolean is the schema's problem; the default follows adopt.
            mqttWebsocket: typeof e.mqttWebsocket === "boolean" ? e.mqttWebsocket : e.adopt === true, ...(restoreFrom !== undefined ? { restoreFrom } : {}),
            grafanaPlugins: plugins.map((p) => ({ id: p.id, version: p.version, ...(p.sha256 ? { sha256: p.sha256 } : {}) })),
            ...(typeof e.base === "string" ? { base: e.base } : {}) });
    });
    // A previous label still in use by another entry is not being given up, nor can two customers be it.
    const givenUp = new Map<string, number>();
    customers.forEach((c, k) => {
        if (c.previousLabel !== undefined) {
            const other = givenUp.get(c.previousLabel);
            if (other !== undefined) {
                problems.push({ file, path: `/customers/${entryIndex[k]}/previousLabel`, message: `previousLabel "${c.previousLabel}" is also /customers/${other}/previousLabel; one customer had that label: remove it from the other entry` });
            } else {
                givenUp.set(c.previousLabel, entryIndex[k]);
            }
        }
        const holder = c.previousLabel === undefined ? undefined : labels.get(c.previousLabel);
        if (holder !== undefined && holder !== entryIndex[k]) {
            problems.push({ file, path: `/customers/${entryIndex[k]}/previousLabel`, message: `previousLabel "${c.previousLabel}" is the label of /customers/${holder} (${JSON.stringify((entries[holder] as { name: string }).name)}); a label change gives the old label up: remove previousLabel, or change the other customer` });
        }
    });
    return { customers: problems.length ? [] : customers, problems };
}

/** What is wrong with an entry's `base` (a string: the schema judges the rest), or undefined. */
function baseProblem(base: unknown, adopt: boolean, bases: KnownBases | undefined): string | undefined {
    if (typeof base !== "string" || base.length === 0) return undefined;
    if (adopt) {
        return "a base for an adopted customer (it runs in the old orchestrator's container, on that one's own OS base) is not supported yet; " +
            "remove \"base\", or add it once the customer runs in a container of the project's own";
    }
    if (bases === undefined) {
        return acceptsEnv("OSM_BASE", base) ? undefined : `"${base}" is not a base name: it must be ${expectOf("OSM_BASE")}, one of the stack config's bases`;
    }
    if (bases.names.length === 0) {
        return `the stack config has no bases (osm-hosting:bases), so there is no base "${base}" to run on; remove "base", ` +
            "or define the bases in the stack config first (README.md, Bases and upgrades)";
    }
    if (!bases.names.includes(base)) {
        return `base "${base}" is not one of the stack config's bases (${bases.names.map((n) => JSON.stringify(n)).join(", ")}); ` +
            `use one of them, remove "base" for the stack's defaultBase, or add "${base}" to osm-hosting:bases`;
    }
    return undefined;
}

/** Reads and validates a customers file; throws InputError with every problem. */
export function loadCustomers(file: string, hosts: KnownHost[], locked: Record<string, string> = {}, bases?: KnownBases): CustomerEntry[] {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new InputError([{ file, path: "", message: `cannot read the customers file (${(err as NodeJS.ErrnoException).code}); create it or set osm-hosting:customersFile` }]);
    }
    let doc: unknown;
    try {
        doc = JSON.parse(text);
    } catch (err) {
        throw new InputError([{ file, path: "", message: `is not valid JSON (${jsonErrorAt(text, err as Error)}); fix the syntax` }]);
    }
    const { customers, problems } = checkCustomers(doc, file, hosts, locked, bases);
    if (problems.length) throw new InputError(problems);
    return customers;
}
