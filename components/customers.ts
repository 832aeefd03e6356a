/**
 * customers.json: parsed, checked against customers.schema.json, then against the rules a
 * schema cannot express. Pure; every problem is reported at once.
 */
import * as fs from "fs";
import * as path from "path";
import { customerLabel, LABEL_PATTERN, MAX_LABEL_LENGTH, WEB_PORTS } from "./naming";
import { projectRoot } from "./paths";
import { CustomerRequest } from "./placement";
import { InputError, Problem } from "./problems";
import { compile, schemaProblems } from "./schema";

// The schema file sits at the project root, where customers.json's `$schema` points.
const validateSchema = compile(JSON.parse(fs.readFileSync(path.join(projectRoot(), "customers.schema.json"), "utf8")));

/** A customer as the program uses it. */
export interface Customer extends CustomerRequest {
    /** Display name from customers.json. */
    name: string;
    /** Derived DNS label. */
    label: string;
}

/** What validation needs to know of the hosts. */
export interface KnownHost {
    name: string;
    sshPort?: number;
}

/** Validates a parsed customers document; returns the customers or the problems. */
export function checkCustomers(doc: unknown, file: string, hosts: KnownHost[]): { customers: Customer[]; problems: Problem[] } {
    if (!validateSchema(doc)) {
        return { customers: [], problems: schemaProblems(validateSchema.errors, doc, file) };
    }
    const problems: Problem[] = [];
    const entries = (doc as { customers: Array<{ name: string; host?: string; mqttPort?: number }> }).customers;
    const hostByName = new Map(hosts.map((h) => [h.name, h]));
    const labels = new Map<string, number>();
    const ports = new Map<string, number>();
    const customers: Customer[] = [];

    entries.forEach((e, i) => {
        const at = `/customers/${i}`;
        const label = customerLabel(e.name);
        const quoted = JSON.stringify(e.name);
        if (label.length === 0) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} is blank; give the customer a name` });
        } else if (!/^[a-z0-9-]+$/.test(label)) {
            const bad = [...new Set(label.replace(/[a-z0-9-]/g, ""))].map((ch) => JSON.stringify(ch)).join(" ");
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} gives DNS label "${label}", which contains ${bad}; use only letters, digits, spaces and dashes` });
        } else if (!LABEL_PATTERN.test(label)) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} gives DNS label "${label}", which starts or ends with a dash; remove the leading or trailing dash` });
        } else if (label.length > MAX_LABEL_LENGTH) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} gives DNS label "${label}" of ${label.length} characters; shorten it to at most ${MAX_LABEL_LENGTH} so "${label}-chirpstack" fits DNS's 63` });
        } else if (label.includes("--")) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} gives DNS label "${label}" with two dashes in a row; remove the extra dash or space` });
        }
        const first = labels.get(label);
        if (first !== undefined && label) {
            problems.push({ file, path: `${at}/name`, message: `name ${quoted} gives DNS label "${label}", the same as /customers/${first}/name (${JSON.stringify(entries[first].name)}); give one of them a different name` });
        } else {
            labels.set(label, i);
        }
        const host = e.host === undefined ? undefined : hostByName.get(e.host);
        if (e.host !== undefined && !host) {
            problems.push({ file, path: `${at}/host`, message: `host "${e.host}" is not in the stack config; use one of ${hosts.map((h) => `"${h.name}"`).join(", ")} or remove the pin` });
        }
        if (e.mqttPort !== undefined) {
            const reserved = host ? [host.sshPort ?? 22, ...WEB_PORTS] : [22, ...WEB_PORTS];
            if (reserved.includes(e.mqttPort)) {
                problems.push({ file, path: `${at}/mqttPort`, message: `mqttPort ${e.mqttPort} is used by the host itself (SSH, HTTP or HTTPS); choose another port` });
            }
            if (e.host === undefined) {
                problems.push({ file, path: `${at}/mqttPort`, message: `mqttPort is pinned but host is not; a port is only unique on one host, so pin "host" too` });
            } else {
                const key = `${e.host}:${e.mqttPort}`;
                const other = ports.get(key);
                if (other !== undefined) {
                    problems.push({ file, path: `${at}/mqttPort`, message: `mqttPort ${e.mqttPort} on host "${e.host}" is already pinned by /customers/${other}; choose another port` });
                } else {
                    ports.set(key, i);
                }
            }
        }
        customers.push({ name: e.name, label, host: e.host, mqttPort: e.mqttPort });
    });
    return { customers: problems.length ? [] : customers, problems };
}

/** Reads and validates a customers file; throws InputError with every problem. */
export function loadCustomers(file: string, hosts: KnownHost[]): Customer[] {
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
        throw new InputError([{ file, path: "", message: `is not valid JSON (${(err as Error).message}); fix the syntax` }]);
    }
    const { customers, problems } = checkCustomers(doc, file, hosts);
    if (problems.length) throw new InputError(problems);
    return customers;
}
