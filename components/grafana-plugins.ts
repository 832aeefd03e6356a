/**
 * A customer's Grafana plugins (customers.json `grafanaPlugins`): their rules and the one value
 * the host takes, OSM_GRAFANA_PLUGINS (ansible/files/osm-grafana-plugins). Pure.
 */
import { acceptsEnv, expectOf } from "./contract";

/** One plugin as customers.json gives it. */
export interface GrafanaPlugin {
    /** Grafana's plugin id, `<org>-<name>-<type>` (`grafana-clock-panel`). */
    id: string;
    /** The plugin's version, as Grafana's catalogue lists it (`2.1.5`). */
    version: string;
    /** The archive's SHA-256 (hex): the host refuses an archive that differs. */
    sha256?: string;
}

/** Grafana's plugin ids: lower-case words joined by dashes, ending in the plugin type. */
export const PLUGIN_ID = /^[a-z0-9]+(-[a-z0-9]+)*-(app|panel|datasource)$/;
/** Versions as Grafana's catalogue gives them: semantic versions, with an optional pre-release. */
export const PLUGIN_VERSION = /^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$/;
export const SHA256 = /^[0-9a-f]{64}$/;

/**
 * OSM_GRAFANA_PLUGINS for these plugins: sorted by id, so that reordering customers.json
 * changes nothing on the host; "" for none (the variable is then not sent).
 */
export function pluginsEnv(plugins: readonly GrafanaPlugin[]): string {
    return [...plugins].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map((p) => [p.id, p.version, ...(p.sha256 ? [p.sha256] : [])].join("@")).join(" ");
}

/** What is wrong with one entry's plugins (`at`: its JSON pointer), each with its fix. */
export function pluginProblems(value: unknown, at: string): { path: string; message: string }[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) return []; // the schema's problem
    const out: { path: string; message: string }[] = [];
    const seen = new Map<string, number>();
    value.forEach((raw, i) => {
        const p = raw as Partial<Record<keyof GrafanaPlugin, unknown>> | null;
        if (p === null || typeof p !== "object") return;
        const here = `${at}/${i}`;
        if (typeof p.id === "string") {
            if (!PLUGIN_ID.test(p.id)) {
                out.push({ path: `${here}/id`, message: `"${p.id}" is not a Grafana plugin id: give it as grafana.com lists it, lower-case words joined by dashes and ending in -app, -panel or -datasource (such as "grafana-clock-panel")` });
            } else if (seen.has(p.id)) {
                out.push({ path: `${here}/id`, message: `plugin "${p.id}" is listed twice (also at ${at}/${seen.get(p.id)}); keep one entry with the version wanted` });
            } else {
                seen.set(p.id, i);
            }
        }
        if (typeof p.version === "string" && !PLUGIN_VERSION.test(p.version)) {
            out.push({ path: `${here}/version`, message: `"${p.version}" is not a plugin version: give it as Grafana's catalogue lists it, such as "2.1.5"` });
        }
        if (typeof p.sha256 === "string" && !SHA256.test(p.sha256)) {
            out.push({ path: `${here}/sha256`, message: `is not a SHA-256 in hex (64 characters 0-9a-f): give sha256sum's output for the plugin's archive, or leave sha256 out` });
        }
    });
    const wellTyped = value.every((p) => typeof p?.id === "string" && typeof p?.version === "string" && (p.sha256 === undefined || typeof p.sha256 === "string"));
    if (out.length === 0 && value.length > 0 && wellTyped) {
        // The hosts' own rule (ansible/vars/osm.yml) has the last word; the checks above explain it.
        const env = pluginsEnv(value as GrafanaPlugin[]);
        if (!acceptsEnv("OSM_GRAFANA_PLUGINS", env)) out.push({ path: at, message: `the hosts refuse these plugins: they must be ${expectOf("OSM_GRAFANA_PLUGINS")}` });
    }
    return out;
}
