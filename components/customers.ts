/**
 * customers.json: parsed, checked against customers.schema.json, then against the rules a
 * schema cannot express. Pure; every problem is reported at once.
 */
import * as fs from "fs";
import * as path from "path";
import { acceptsEnv, expectOf } from "./contract";
import { customerLabel, MAX_LABEL_LENGTH } from "./naming";
import { projectRoot } from "./paths";
import { CustomerRequest, reservedPorts } from "./placement";
import { InputError, jsonErrorAt, Problem } from "./problems";
import { compile, schemaProblems } from "./schema";

// The schema file sits at the project root, where customers.json's `$schema` points.
const validateSchema = compile(JSON.parse(fs.readFileSync(path.join(projectRoot(), "customers.schema.json"), "utf8")));

/** A customers.json entry as written (see customers.schema.json). */
export interface CustomersFileEntry {
    /** Display name; its DNS label is derived. */
    name: string;
    /** Pin to this host. */
    host?: string;
    /** Pin to this MQTT port. */
    mqttPort?: number;
    /** Already running: take over its existing DNS records if they match. */
    adopt?: boolean;
}

/** A customers.json entry, validated, as the program uses it (the component is `Customer`). */
export interface CustomerEntry extends CustomerRequest {
    /** Display name from customers.json. */
    name: string;
    /** Derived DNS label. */
    label: string;
    /** Already running: take over its existing DNS records if they match. */
    adopt: boolean;
}

/** What validation needs to know of the hosts. */
export interface KnownHost {
    name: string;
    sshPort?: number;
}

/** Validates a parsed customers document; returns the customers or the problems. */
export function checkCustomers(doc: unknown, file: string, hosts: KnownHost[]): { customers: CustomerEntry[]; problems: Problem[] } {
    const schemaOk = validateSchema(doc);
    const problems: Problem[] = schemaOk ? [] : schemaProblems(validateSchema.errors, doc, file);
    // The rules run even when the schema fails, on the values that are well-typed, so one run
    // reports every problem; a value the schema rejected is not judged twice.
    const entries = (doc as { customers?: unknown } | null)?.customers;
    if (!Array.isArray(entries)) return { customers: [], problems };
    const hostByName = new Map(hosts.map((h) => [h.name, h]));
    const labels = new Map<string, number>();
    const ports = new Map<string, number>();
    const customers: CustomerEntry[] = [];

    entries.forEach((raw, i) => {
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return; // reported by the schema
        const e = raw as { name?: unknown; host?: unknown; mqttPort?: unknown; adopt?: unknown };
        const at = `/customers/${i}`;
        const nameOk = typeof e.name === "string" && e.name.length >= 1 && e.name.length <= 80;
        const hostOk = typeof e.host === "string" && e.host.length >= 1;
        const portOk = Number.isInteger(e.mqttPort) && acceptsEnv("OSM_MQTT_PORT", String(e.mqttPort));
        const name = nameOk ? e.name as string : "";
        const label = customerLabel(name);
        const quoted = JSON.stringify(name);
        if (!nameOk) {
            // reported by the schema
        } else if (label.length === 0) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} is blank; give the customer a name` });
        } else if (!/^[a-z0-9-]+$/.test(label)) {
            const bad = [...new Set(label.replace(/[a-z0-9-]/g, ""))].map((ch) => JSON.stringify(ch)).join(" ");
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} gives DNS label "${label}", which contains ${bad}; use only letters, digits, spaces and dashes` });
        } else if (label.startsWith("-") || label.endsWith("-")) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} gives DNS label "${label}", which starts or ends with a dash; remove the leading or trailing dash` });
        } else if (label.length > MAX_LABEL_LENGTH) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} gives DNS label "${label}" of ${label.length} characters; shorten it to at most ${MAX_LABEL_LENGTH} so "${label}-chirpstack" fits DNS's 63` });
        } else if (label.includes("--")) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} gives DNS label "${label}" with two dashes in a row; remove the extra dash or space` });
        } else if (!acceptsEnv("OSM_CUSTOMER", label)) {
            // The hosts' own rule (ansible/vars/osm.yml) has the last word; the cases above explain it.
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} gives DNS label "${label}", which the hosts refuse: it must be ${expectOf("OSM_CUSTOMER")}` });
        }
        const first = labels.get(label);
        if (first !== undefined && label) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} gives DNS label "${label}", the same as /customers/${first}/name (${JSON.stringify((entries[first] as { name: string }).name)}); give one of them a different name` });
        } else if (label) {
            labels.set(label, i);
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
        customers.push({ name, label, host: hostName, mqttPort: port, adopt: e.adopt === true });
    });
    return { customers: problems.length ? [] : customers, problems };
}

/** Reads and validates a customers file; throws InputError with every problem. */
export function loadCustomers(file: string, hosts: KnownHost[]): CustomerEntry[] {
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
    const { customers, problems } = checkCustomers(doc, file, hosts);
    if (problems.length) throw new InputError(problems);
    return customers;
}
