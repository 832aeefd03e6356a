/**
 * Verify's results for people and machines, pure: a table with one row per customer and per
 * host and one column per check (`ok`, or the problem in a few words), each problem then
 * listed with what to do; and the Prometheus text format (node_exporter's textfile
 * collector). Results carry no secret, so nothing here can print one.
 */
import { CheckName, CheckResult, CUSTOMER_CHECKS, HOST_CHECKS, Report } from "./types";

const TITLES: Record<CheckName, string> = { dns: "DNS", https: "HTTPS", mqtt: "MQTT", host: "ON HOST", backup: "BACKUP", ssh: "SSH", status: "OSM-STATUS", drift: "DRIFT" };
const CELL_MAX = 46;

function cell(r: CheckResult | undefined): string {
    if (!r) return "-";
    if (r.status === "ok") return r.check === "backup" && r.note ? `ok (${r.note})` : "ok";
    if (r.status === "skip") return `skipped${r.note ? ` (${r.note})` : ""}`;
    const first = r.findings[0]?.problem ?? "failed";
    const more = r.findings.length > 1 ? ` (+${r.findings.length - 1})` : "";
    const text = first.length + more.length > CELL_MAX ? `${first.slice(0, CELL_MAX - more.length - 1)}…` : first;
    return text + more;
}

function table(rows: string[][]): string {
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    return rows.map((r) => r.map((x, c) => x.padEnd(widths[c])).join("  ").trimEnd()).join("\n");
}

/** Lowest days left of the certificates a row's checks saw. */
function minDays(rs: CheckResult[]): string {
    const days = rs.flatMap((r) => Object.values(r.certDaysLeft ?? {}));
    return days.length ? String(Math.floor(Math.min(...days))) : "-";
}

/** The whole report as text: the two tables, then every problem with what to do. */
export function formatReport(rep: Report): string {
    const by = (subject: "customer" | "host") => {
        const m = new Map<string, CheckResult[]>();
        for (const r of rep.results.filter((x) => x.subject === subject)) m.set(r.name, [...(m.get(r.name) ?? []), r]);
        return m;
    };
    const customers = by("customer");
    const hosts = by("host");
    const out: string[] = [];
    if (customers.size) {
        // The backup column only for a stack with backups (verify checks them only then).
        const checks = CUSTOMER_CHECKS.filter((c) => c !== "backup" || rep.results.some((r) => r.check === "backup"));
        const rows = [["CUSTOMER", "HOST", ...checks.map((c) => TITLES[c]), "CERT DAYS"]];
        for (const [name, rs] of customers) rows.push([name, rs[0].host, ...checks.map((c) => cell(rs.find((r) => r.check === c))), minDays(rs)]);
        out.push(table(rows), "");
    }
    const hrows = [["HOST", ...HOST_CHECKS.map((c) => TITLES[c])]];
    for (const [name, rs] of hosts) hrows.push([name, ...HOST_CHECKS.map((c) => cell(rs.find((r) => r.check === c)))]);
    out.push(table(hrows), "");
    const failed = rep.results.filter((r) => r.status === "fail");
    if (failed.length) {
        out.push("Problems and what to do:");
        for (const r of failed) {
            for (const f of r.findings) out.push(`- ${r.name} ${TITLES[r.check]}: ${f.problem}`, `    do: ${f.action}`);
        }
        out.push("");
    }
    const skipped = rep.results.filter((r) => r.status === "skip").length;
    out.push(`${rep.ok ? "PASS" : "FAIL"}: ${rep.results.length - failed.length - skipped} ok, ${failed.length} failed, ${skipped} skipped in ${rep.seconds.toFixed(1)} s (stack ${rep.stack})`);
    return out.join("\n");
}

function labelValue(v: string): string {
    return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labels(l: Record<string, string>): string {
    return `{${Object.entries(l).map(([k, v]) => `${k}="${labelValue(v)}"`).join(",")}}`;
}

/**
 * Prometheus text format: `osm_verify_check_ok` per customer/host and check (1 ok, 0 failed;
 * skipped checks are left out), `osm_verify_certificate_days_left` per name, and the run's
 * time, duration and verdict.
 */
export function prometheus(rep: Report): string {
    const lines: string[] = [
        "# HELP osm_verify_check_ok 1 when the check passed, 0 when it failed (npm run verify).",
        "# TYPE osm_verify_check_ok gauge",
    ];
    for (const r of rep.results) {
        if (r.status === "skip") continue;
        lines.push(`osm_verify_check_ok${labels({ subject: r.subject, name: r.name, host: r.host, check: r.check })} ${r.status === "ok" ? 1 : 0}`);
    }
    lines.push("# HELP osm_verify_certificate_days_left Days until the certificate a name presents expires.", "# TYPE osm_verify_certificate_days_left gauge");
    for (const r of rep.results) {
        for (const [name, days] of Object.entries(r.certDaysLeft ?? {})) {
            lines.push(`osm_verify_certificate_days_left${labels({ customer: r.name, host: r.host, check: r.check, name })} ${days}`);
        }
    }
    lines.push("# HELP osm_verify_backup_age_seconds How old the customer's latest backup snapshot is.", "# TYPE osm_verify_backup_age_seconds gauge");
    for (const r of rep.results) {
        if (r.backupAgeSeconds !== undefined) lines.push(`osm_verify_backup_age_seconds${labels({ customer: r.name, host: r.host })} ${Math.round(r.backupAgeSeconds)}`);
    }
    lines.push(
        "# HELP osm_verify_last_run_timestamp_seconds When the last verify run started.", "# TYPE osm_verify_last_run_timestamp_seconds gauge",
        `osm_verify_last_run_timestamp_seconds ${Date.parse(rep.startedAt) / 1000}`,
        "# HELP osm_verify_duration_seconds How long the last verify run took.", "# TYPE osm_verify_duration_seconds gauge",
        `osm_verify_duration_seconds ${rep.seconds}`,
        "# HELP osm_verify_ok 1 when every check of the last run passed.", "# TYPE osm_verify_ok gauge",
        `osm_verify_ok ${rep.ok ? 1 : 0}`,
    );
    return lines.join("\n") + "\n";
}
