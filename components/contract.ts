/**
 * The host contract, read from its one home, `ansible/vars/osm.yml`: the rules every OSM_*
 * value must follow, the variables each playbook takes, and where the program puts things on
 * a host. The program validates with these same rules, so it and the hosts accept exactly the
 * same values. Pure apart from reading that file once.
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { projectRoot } from "./paths";

/** One OSM_* variable's rule: a pattern (Python's and JavaScript's shared dialect) or an integer range. */
export interface EnvRule {
    pattern?: string;
    integer?: [number, number];
    /** What a good value looks like, for messages. */
    expect: string;
    /** A secret: messages never show the value. */
    secret?: boolean;
}

/** The variables a playbook takes. */
export interface PlaybookEnv {
    required: string[];
    optional: string[];
}

export interface HostContract {
    /** Where the program keeps its files on a host; `ansible/` lands in it as `ansible`. */
    remoteRoot: string;
    /** The customers' OS base of before bases were versioned, on a host. */
    baseRootfs: string;
    /** The versioned bases on a host: `<basesDir>/<name>/rootfs`. */
    basesDir: string;
    /** Where a versioned base records what it holds, relative to its root (JSON). */
    baseRecord: string;
    /** Where the host's scripts keep their locks (and NGINX's reload generations). */
    locksDir: string;
    /** The customers' containers (one folder each: LXC config, data, log). */
    containersDir: string;
    /** certbot's folder (live/<lineage>/...). */
    letsencryptDir: string;
    /** The project's NGINX folder (http/, stream/ with one file per customer). */
    nginxDir: string;
    /** The lineage of each host's one certificate, for *.<domain>. */
    wildcardCertName: string;
    envRules: Readonly<Record<string, EnvRule>>;
    playbookEnv: Readonly<Record<string, PlaybookEnv>>;
}

export const CONTRACT_FILE = path.join("ansible", "vars", "osm.yml");

/** Parses the contract; a malformed one is a bug of this repository, named precisely. */
export function parseContract(text: string, file: string): HostContract {
    // Untyped YAML: every field is checked below before it is used.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const doc = yaml.load(text) as Record<string, any>;
    const fail = (what: string): never => { throw new Error(`${file}: ${what}`); };
    const str = (key: string): string => (typeof doc?.[key] === "string" ? doc[key] : fail(`${key} must be a string`));
    const rules: Record<string, EnvRule> = {};
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    for (const [name, r] of Object.entries<any>(doc?.osm_env_rules ?? fail("osm_env_rules is missing"))) {
        if (typeof r?.expect !== "string") fail(`osm_env_rules.${name}.expect must be a string`);
        if (typeof r.pattern === "string") {
            new RegExp(r.pattern, "u");
            rules[name] = { pattern: r.pattern, expect: r.expect, ...(r.secret === true ? { secret: true } : {}) };
        } else if (Array.isArray(r.integer) && r.integer.length === 2 && r.integer.every(Number.isInteger) && r.integer[0] <= r.integer[1]) {
            rules[name] = { integer: [r.integer[0], r.integer[1]], expect: r.expect };
        } else {
            fail(`osm_env_rules.${name} needs a pattern or integer: [min, max]`);
        }
    }
    const playbookEnv: Record<string, PlaybookEnv> = {};
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    for (const [playbook, e] of Object.entries<any>(doc?.osm_playbook_env ?? fail("osm_playbook_env is missing"))) {
        const list = (k: string): string[] => {
            const v = e?.[k] ?? [];
            if (!Array.isArray(v) || !v.every((n) => typeof n === "string" && rules[n])) fail(`osm_playbook_env.${playbook}.${k} must list variables of osm_env_rules`);
            return v;
        };
        playbookEnv[playbook] = { required: list("required"), optional: list("optional") };
    }
    return {
        remoteRoot: str("osm_remote_root"), baseRootfs: str("osm_base_rootfs"), basesDir: str("osm_bases_dir"), baseRecord: str("osm_base_record"), locksDir: str("osm_locks_dir"),
        containersDir: str("osm_containers_dir"), letsencryptDir: str("osm_letsencrypt_dir"), nginxDir: str("osm_nginx_dir"),
        wildcardCertName: str("osm_wildcard_cert_name"), envRules: rules, playbookEnv,
    };
}

let cached: HostContract | undefined;

/** The project's host contract (read once per process). */
export function hostContract(): HostContract {
    if (!cached) {
        const file = path.join(projectRoot(), CONTRACT_FILE);
        cached = parseContract(fs.readFileSync(file, "utf8"), file);
    }
    return cached;
}

function rule(name: string): EnvRule {
    const r = hostContract().envRules[name];
    if (!r) throw new Error(`${CONTRACT_FILE} has no rule for ${name}`);
    return r;
}

/** True when the hosts accept `value` for the variable `name` (as its playbooks check it). */
export function acceptsEnv(name: string, value: string): boolean {
    const r = rule(name);
    if (r.pattern) return new RegExp(r.pattern, "u").test(value);
    const [min, max] = r.integer!;
    return /^(0|[1-9][0-9]*)$/.test(value) && Number(value) >= min && Number(value) <= max;
}

/** What a good value of `name` looks like. */
export function expectOf(name: string): string {
    return rule(name).expect;
}

/** The JSON Schema of a setting that becomes the variable `name`: the same rule, for ajv. */
export function schemaOf(name: string): Record<string, unknown> {
    const r = rule(name);
    return r.pattern
        ? { type: "string", pattern: r.pattern, description: r.expect }
        : { type: "integer", minimum: r.integer![0], maximum: r.integer![1], description: r.expect };
}

/** The integer range of `name` (for rules such as the MQTT port's). */
export function rangeOf(name: string): [number, number] {
    const r = rule(name);
    if (!r.integer) throw new Error(`${CONTRACT_FILE}: ${name} is not an integer rule`);
    return r.integer;
}
