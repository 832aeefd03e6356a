/** What `npm run import` prints and writes: the report, customers.json's text, the hosts' YAML. Pure. */
import * as yaml from "js-yaml";
import { PROJECT } from "../../../components/config";
import { Finding, Severity, StackHost } from "./model";

const HEADINGS: [Severity, string][] = [
    ["blocking", "BLOCKING: nothing is written until each is fixed (or the customer is --skip'ed)"],
    ["warning", "WARNINGS: written, but act on each"],
    ["note", "NOTES"],
    ["unchecked", "UNCHECKED: this run could not see these"],
];

/** The report: findings grouped by severity, each with what to do. */
export function formatFindings(findings: Finding[]): string[] {
    const lines: string[] = [];
    for (const [severity, heading] of HEADINGS) {
        const some = findings.filter((f) => f.severity === severity);
        if (!some.length) continue;
        lines.push("", `${heading} (${some.length})`);
        for (const f of some) lines.push(`  - ${f.subject}: ${f.message}`, `    what to do: ${f.fix}`);
    }
    if (!findings.some((f) => f.severity !== "unchecked" && f.severity !== "note")) lines.push("", "No inconsistency found.");
    return lines;
}

/** One customers.json entry on one line, as the file is written by hand: `{ "name": "Acme", ... }`. */
export function entryLine(e: unknown): string {
    if (!e || typeof e !== "object" || Array.isArray(e)) return JSON.stringify(e);
    const parts = Object.entries(e as Record<string, unknown>).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`);
    return parts.length ? `{ ${parts.join(", ")} }` : "{}";
}

/** customers.json's text: its keys as they were, one line per customer. */
export function formatCustomersFile(doc: { customers: unknown[]; [key: string]: unknown }): string {
    const keys = Object.keys(doc).filter((k) => k !== "customers");
    const head = keys.map((k) => `  ${JSON.stringify(k)}: ${JSON.stringify(doc[k])},`);
    const body = doc.customers.map((e, i) => `    ${entryLine(e)}${i < doc.customers.length - 1 ? "," : ""}`);
    return ["{", ...head, `  "customers": [`, ...body, "  ]", "}", ""].join("\n");
}

/** The stack's hosts as they go under `config:` in Pulumi.<stack>.yaml. */
export function hostsYaml(hosts: StackHost[]): string {
    const text = yaml.dump({ [`${PROJECT}:hosts`]: hosts }, { lineWidth: -1, noRefs: true, flowLevel: 3 });
    return text.split("\n").filter(Boolean).map((l) => `  ${l}`).join("\n");
}
