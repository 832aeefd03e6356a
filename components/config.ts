/**
 * Stack config (Pulumi.<stack>.yaml): read through a key lookup, checked against a JSON
 * Schema and the rules beyond it. Pure apart from the lookup, so `npm run plan`, the tests
 * and the Pulumi program share it. Every problem names the key and the command that fixes it.
 */
import { BASE_PACKAGES, BASE_SUITE, BASE_VERSION, BaseSettings, BaseSpec, hostsAcceptBases } from "./bases";
import { acceptsEnv, expectOf, hostContract, schemaOf } from "./contract";
import { InputError, Problem } from "./problems";
import { compile, schemaProblems } from "./schema";

export const PROJECT = "osm-hosting";

export interface HostSettings {
    /** Host name; its public name is `<name>.<domain>`. */
    name: string;
    /** Public IPv4 address (the A record and the SSH target). */
    address: string;
    /** How many customers it may hold. */
    capacity: number;
    /** The host's public SSH host key (`ssh-ed25519 AAAA...`), pinned in every connection. */
    hostKey: string;
    /** SSH port; 22 when not set. */
    sshPort: number;
    /** No new customers go to a draining host; the ones it has stay. */
    drain: boolean;
    /**
     * The machine is gone (a dead disk, a wiped server): nothing is run on it any more, its A
     * record goes, and its customers are restored from their backups on the other hosts
     * (README.md, Backups). Implies `drain`.
     */
    lost: boolean;
    /** The host already runs: take over its existing A record if it matches. */
    adopt: boolean;
    /**
     * MQTT ports no customer may be given on this host: ports the old orchestrator's deleted
     * customers held there (it never reused one), so their devices, still sending, never reach another customer.
     */
    reservedMqttPorts: number[];
}

export interface PowerDnsSettings {
    /** PowerDNS HTTP API base URL, e.g. `https://ns1.example:8081`. */
    apiUrl: string;
    /** The zone the fleet's records live in. */
    zone: string;
    /** TTL of the records the program declares; 300 when not set. */
    ttl: number;
    /**
     * Adopted records (`adopt`) keep the TTL they have (the old orchestrator wrote 1800) unless
     * this is false: then they get `ttl` too. True when not set.
     */
    keepAdoptedTtl: boolean;
    /**
     * Names in the zone that are not the fleet's (NS, mail, www...): labels under the domain
     * or absolute names (trailing dot). No host or customer may take one.
     */
    reservedNames: string[];
}

export interface AcmeSettings {
    /** ACME directory URL (Let's Encrypt in production). */
    server: string;
    /** Account e-mail for expiry notices. */
    email: string;
    /** Path on the hosts of a CA bundle certbot must trust (test CAs only). */
    caBundle?: string;
    /** IPv4 address of the DNS server that takes the hosts' RFC 2136 updates of `_acme-challenge.<domain>`. */
    dnsServer: string;
    /** Its DNS port; 53 when not set. */
    dnsPort: number;
    /** Name of the TSIG key allowed to update that zone (and nothing else). */
    tsigKey: string;
    /** The key's algorithm; `hmac-sha256` when not set. */
    tsigAlgorithm: string;
    /** Seconds certbot waits between its update and the CA's check; 5 when not set. */
    propagationSeconds: number;
}

export interface MysqlSettings {
    /** `host:port` of the MySQL server behind PowerDNS. */
    endpoint: string;
    /** Administrative user the program connects as. */
    adminUser: string;
    /** PowerDNS's database. */
    database: string;
    /** PowerDNS's user. */
    user: string;
    /** Host part of PowerDNS's user (`localhost`, `%`, an address). */
    userHost: string;
}

/** Backups (README.md, Backups): restic into one repository, on every host. */
export interface BackupSettings {
    /** restic repository: `sftp:USER@HOST:/PATH`, `sftp://USER@HOST:PORT//PATH` or `s3:https://ENDPOINT/BUCKET[/PATH]`. */
    repository: string;
    /** systemd OnCalendar expression of the nightly run (each host adds a random delay). */
    schedule: string;
    /** Retention per customer (`restic forget --prune`). */
    /** Snapshots kept per customer: the latest of each of the last N days, weeks, months, and (`last`) the N latest whatever their day. */
    keep: { daily: number; weekly: number; monthly: number; last?: number };
    /** For SFTP: the backup server's known_hosts line (pinned; StrictHostKeyChecking=yes). */
    sftpKnownHosts?: string;
    /** `verify` fails for a customer whose last snapshot is older than this (26 when not set). */
    maxAgeHours: number;
}

/** The default of `backup.maxAgeHours`: a nightly run, plus its random delay and a margin. */
export const DEFAULT_BACKUP_MAX_AGE_HOURS = 26;

/** The fleet's settings, validated. Secret values are held apart (see `FleetSecrets`). */
export interface FleetSettings {
    domain: string;
    sshUser: string;
    hosts: HostSettings[];
    powerdns: PowerDnsSettings;
    acme: AcmeSettings;
    containerLimits: { cpus: number; memoryMiB: number };
    powerdnsMysql?: MysqlSettings;
    /** Backups; none when not set. */
    backup?: BackupSettings;
    /** Path of customers.json. */
    customersFile: string;
    /** Path of the placements lock (placements.lock.json). */
    placementsLock: string;
    /**
     * How many customers one update may delete (default 1): a truncated or badly merged
     * customers.json must not wipe the fleet. Raised for one update when deletions are meant.
     */
    maxDeletes: number;
    /**
     * Where hosts fetch customers' Grafana plugins (customers.json grafanaPlugins), as
     * `<source>/<id>/versions/<version>/download`: grafana.com's API by default, or a local mirror
     * laid out the same (http(s):// or file:// on the hosts).
     */
    grafanaPluginSource: string;
    /**
     * Versioned OS bases (README.md, "Bases and upgrades"): absent when the stack names none, and
     * then every customer stays on the one base of before and no base variable is sent anywhere.
     */
    bases?: BaseSettings;
}

/** The highest `maxDeletes` the stack takes (read-only tools evaluate with it). */
export const MAX_DELETES_CEILING = 100000;

/** The default of `grafanaPluginSource`: grafana.com's plugin API (what grafana-cli fetches from). */
export const DEFAULT_GRAFANA_PLUGIN_SOURCE = "https://grafana.com/api/plugins";

/** The default of a base's `suite` (stack config `bases.<name>.suite`). */
export const DEFAULT_BASE_SUITE = "bookworm";

/** The default of `upgradeConcurrency`: one customer of a host upgraded at a time. */
export const DEFAULT_UPGRADE_CONCURRENCY = 1;

/** The highest `upgradeConcurrency` the stack takes. */
export const MAX_UPGRADE_CONCURRENCY = 50;

/** The default of `maxDeletes`. */
export const DEFAULT_MAX_DELETES = 1;

/** The default of `powerdns.ttl`: the TTL of every record the program writes (adopted ones: keepAdoptedTtl). */
export const DEFAULT_DNS_TTL = 300;

/** The stack config as its schema admits it (defaults not yet applied). */
interface StackDoc {
    domain: string;
    sshUser: string;
    customersFile?: string;
    placementsLock?: string;
    maxDeletes?: number;
    grafanaPluginSource?: string;
    bases?: Record<string, Omit<BaseSpec, "suite"> & { suite?: string }>;
    defaultBase?: string;
    upgradeConcurrency?: number;
    baseSeed?: string;
    hosts: (Omit<HostSettings, "sshPort" | "drain" | "lost" | "adopt" | "reservedMqttPorts"> & { sshPort?: number; drain?: boolean; lost?: boolean; adopt?: boolean; reservedMqttPorts?: number[] })[];
    powerdns: Omit<PowerDnsSettings, "ttl" | "keepAdoptedTtl" | "reservedNames"> & { ttl?: number; keepAdoptedTtl?: boolean; reservedNames?: string[] };
    acme: Omit<AcmeSettings, "dnsPort" | "tsigAlgorithm" | "propagationSeconds"> & { dnsPort?: number; tsigAlgorithm?: string; propagationSeconds?: number };
    containerLimits: { cpus: number; memoryMiB: number };
    powerdnsMysql?: Omit<MysqlSettings, "userHost"> & { userHost?: string };
    backup?: Omit<BackupSettings, "maxAgeHours"> & { maxAgeHours?: number };
}

/** Secret settings, as plain strings: the program wraps them in `pulumi.secret` at once. */
export interface FleetSecrets {
    sshPrivateKey: string;
    powerdnsApiKey: string;
    powerdnsMysqlAdminPassword?: string;
    /** The secret of the TSIG key `acme.tsigKey` (base64). */
    acmeTsigSecret: string;
    /** The restic repository's password (with `backup`). */
    backupPassword?: string;
    /** The SFTP login's private key (with an `sftp:` repository). */
    backupSftpKey?: string;
    /** The S3 access key id and secret (with an `s3:` repository). */
    backupS3AccessKeyId?: string;
    backupS3SecretAccessKey?: string;
}

const hostnamePattern = "^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$";
const ipv4Pattern = "^((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$";

/** The base the fixes and messages show. */
const EXAMPLE_BASE = "2027-01";
const EXAMPLE_BASE_SPEC: BaseSpec = { suite: DEFAULT_BASE_SUITE, grafana: "11.3.0", influxdb2: "2.7.10-1", chirpstack: "4.9.0", mosquitto: "2.0.11-1.2+deb12u1" };

/** One package version of a base: OSM_BASES's version piece (checked whole against OSM_BASES too). */
function baseVersionSchema(pkg: string): Record<string, unknown> {
    return { type: "string", pattern: BASE_VERSION, description: `the ${pkg} package's Debian version without an epoch, such as "${EXAMPLE_BASE_SPEC[pkg as keyof BaseSpec]}" (quoted in YAML)` };
}

const stackSchema = {
    type: "object",
    additionalProperties: false,
    required: ["domain", "sshUser", "hosts", "powerdns", "acme", "containerLimits"],
    properties: {
        // Settings that reach the hosts as OSM_* variables follow the host contract's rules.
        domain: schemaOf("OSM_DOMAIN"),
        sshUser: { type: "string", pattern: "^[a-z_][a-z0-9_-]{0,31}$", description: "a Unix user name" },
        customersFile: { type: "string", minLength: 1 },
        placementsLock: { type: "string", minLength: 1 },
        maxDeletes: { type: "integer", minimum: 0, maximum: MAX_DELETES_CEILING },
        grafanaPluginSource: schemaOf("OSM_GRAFANA_PLUGIN_SOURCE"),
        // Names are checked by rule (OSM_BASE), the whole by OSM_BASES's: readSettings, basesProblems.
        bases: {
            type: "object",
            additionalProperties: {
                type: "object",
                additionalProperties: false,
                required: [...BASE_PACKAGES],
                properties: {
                    suite: { type: "string", pattern: BASE_SUITE, description: `a Debian suite's code name such as "${DEFAULT_BASE_SUITE}"` },
                    ...Object.fromEntries(BASE_PACKAGES.map((p) => [p, baseVersionSchema(p)])),
                },
            },
        },
        defaultBase: schemaOf("OSM_BASE"),
        upgradeConcurrency: { type: "integer", minimum: 1, maximum: MAX_UPGRADE_CONCURRENCY },
        baseSeed: schemaOf("OSM_BASE_SEED"),
        hosts: {
            type: "array",
            minItems: 1,
            items: {
                type: "object",
                additionalProperties: false,
                required: ["name", "address", "capacity", "hostKey"],
                properties: {
                    name: schemaOf("OSM_HOST_NAME"),
                    address: { type: "string", pattern: ipv4Pattern, description: "an IPv4 address" },
                    capacity: { type: "integer", minimum: 1, maximum: 1000 },
                    hostKey: { type: "string", pattern: "^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( [^\\n]*)?$", description: "the host's public SSH key, one line as in /etc/ssh/ssh_host_ed25519_key.pub" },
                    sshPort: { type: "integer", minimum: 1, maximum: 65535 },
                    drain: { type: "boolean" },
                    lost: { type: "boolean" },
                    adopt: { type: "boolean" },
                    reservedMqttPorts: { type: "array", uniqueItems: true, items: schemaOf("OSM_MQTT_PORT") },
                },
            },
        },
        powerdns: {
            type: "object",
            additionalProperties: false,
            required: ["apiUrl", "zone"],
            properties: {
                apiUrl: { type: "string", pattern: "^https?://[^\\s/]+(:\\d+)?/?$", description: "the PowerDNS API base URL, e.g. https://ns1.example.org:8081" },
                zone: { type: "string", pattern: hostnamePattern, description: "a lower-case DNS zone name" },
                ttl: schemaOf("OSM_DNS_TTL"),
                keepAdoptedTtl: { type: "boolean" },
                reservedNames: {
                    type: "array", uniqueItems: true,
                    items: { type: "string", pattern: "^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\\.?$", description: "a lower-case DNS name or label" },
                },
            },
        },
        acme: {
            type: "object",
            additionalProperties: false,
            required: ["server", "email", "dnsServer", "tsigKey"],
            properties: {
                server: schemaOf("OSM_ACME_SERVER"),
                email: schemaOf("OSM_ACME_EMAIL"),
                caBundle: schemaOf("OSM_ACME_CA_BUNDLE"),
                dnsServer: schemaOf("OSM_ACME_DNS_SERVER"),
                dnsPort: schemaOf("OSM_ACME_DNS_PORT"),
                tsigKey: schemaOf("OSM_ACME_TSIG_KEY"),
                tsigAlgorithm: schemaOf("OSM_ACME_TSIG_ALGORITHM"),
                propagationSeconds: schemaOf("OSM_ACME_DNS_PROPAGATION_SECONDS"),
            },
        },
        containerLimits: {
            type: "object",
            additionalProperties: false,
            required: ["cpus", "memoryMiB"],
            properties: {
                cpus: schemaOf("OSM_CPUS"),
                memoryMiB: schemaOf("OSM_MEMORY_MIB"),
            },
        },
        backup: {
            type: "object",
            additionalProperties: false,
            required: ["repository", "schedule", "keep"],
            properties: {
                repository: schemaOf("OSM_BACKUP_REPOSITORY"),
                schedule: schemaOf("OSM_BACKUP_SCHEDULE"),
                keep: {
                    type: "object",
                    additionalProperties: false,
                    required: ["daily", "weekly", "monthly"],
                    properties: {
                        daily: schemaOf("OSM_BACKUP_KEEP_DAILY"),
                        weekly: schemaOf("OSM_BACKUP_KEEP_WEEKLY"),
                        monthly: schemaOf("OSM_BACKUP_KEEP_MONTHLY"),
                        last: schemaOf("OSM_BACKUP_KEEP_LAST"),
                    },
                },
                sftpKnownHosts: schemaOf("OSM_BACKUP_SFTP_KNOWN_HOSTS"),
                maxAgeHours: { type: "integer", minimum: 1, maximum: 8760 },
            },
        },
        powerdnsMysql: {
            type: "object",
            additionalProperties: false,
            required: ["endpoint", "adminUser", "database", "user"],
            properties: {
                endpoint: { type: "string", pattern: "^[A-Za-z0-9.-]+:\\d{1,5}$", description: "host:port" },
                adminUser: { type: "string", pattern: "^[A-Za-z0-9_]{1,32}$" },
                database: { type: "string", pattern: "^[A-Za-z0-9_]{1,64}$" },
                user: { type: "string", pattern: "^[A-Za-z0-9_]{1,32}$" },
                userHost: { type: "string", pattern: "^[A-Za-z0-9.%_-]{1,255}$" },
            },
        },
    },
};
const validateStack = compile(stackSchema);

/** Keys whose values are objects or arrays (stored JSON-encoded by Pulumi). */
const structured = ["hosts", "powerdns", "acme", "containerLimits", "powerdnsMysql", "backup", "bases"];
const plain = ["domain", "sshUser", "customersFile", "placementsLock", "grafanaPluginSource", "defaultBase", "baseSeed"];
/** Keys whose values are numbers (Pulumi stores them as strings). */
const numeric = ["maxDeletes", "upgradeConcurrency"];
/** Settings of the bases that mean nothing without `bases`. */
const BASE_KEYS = ["defaultBase", "upgradeConcurrency", "baseSeed"] as const;
export const SECRET_KEYS = ["sshPrivateKey", "powerdnsApiKey", "powerdnsMysqlAdminPassword", "acmeTsigSecret",
    "backupPassword", "backupSftpKey", "backupS3AccessKeyId", "backupS3SecretAccessKey"] as const;

/** Example values per setting (`hosts.capacity` stands for every `hosts[i].capacity`), for the fix commands. */
const examples: Record<string, string | number | boolean> = {
    domain: "opensmartmonitor.devtank.co.uk",
    sshUser: "root",
    customersFile: "customers.json",
    placementsLock: "placements.lock.json",
    maxDeletes: 3,
    grafanaPluginSource: DEFAULT_GRAFANA_PLUGIN_SOURCE,
    defaultBase: EXAMPLE_BASE,
    upgradeConcurrency: 2,
    baseSeed: "/var/lib/osm/base-seed",
    ...Object.fromEntries(Object.entries(EXAMPLE_BASE_SPEC).map(([k, v]) => [`bases.${k}`, v])),
    "hosts.name": "osm1",
    "hosts.address": "203.0.113.10",
    "hosts.capacity": 40,
    "hosts.hostKey": "ssh-ed25519 AAAA...",
    "hosts.sshPort": 22,
    "hosts.drain": true,
    "hosts.lost": true,
    "hosts.adopt": true,
    "hosts.reservedMqttPorts": 8884,
    "powerdns.apiUrl": "https://ns1.example.org:8081",
    "powerdns.zone": "opensmartmonitor.devtank.co.uk",
    "powerdns.ttl": 300,
    "powerdns.keepAdoptedTtl": false,
    "powerdns.reservedNames": "ns1",
    "acme.server": "https://acme-v02.api.letsencrypt.org/directory",
    "acme.email": "hosting@example.org",
    "acme.caBundle": "/etc/ssl/certs/ca-certificates.crt",
    "acme.dnsServer": "203.0.113.53",
    "acme.dnsPort": 53,
    "acme.tsigKey": "osm-acme",
    "acme.tsigAlgorithm": "hmac-sha256",
    "acme.propagationSeconds": 5,
    "containerLimits.cpus": 2,
    "containerLimits.memoryMiB": 2048,
    "powerdnsMysql.endpoint": "127.0.0.1:3306",
    "powerdnsMysql.adminUser": "root",
    "powerdnsMysql.database": "pdns",
    "powerdnsMysql.user": "pdns",
    "powerdnsMysql.userHost": "localhost",
    "backup.repository": "sftp:osmbackup@backup.example.org:/srv/restic/osm",
    "backup.schedule": "*-*-* 02:30:00",
    "backup.keep.daily": 7,
    "backup.keep.weekly": 4,
    "backup.keep.monthly": 6,
    "backup.keep.last": 3,
    "backup.sftpKnownHosts": "backup.example.org ssh-ed25519 AAAA...",
    "backup.maxAgeHours": 26,
};

/** Structured settings whose keys are names (`bases.<name>`), not fields. */
const NAMED = new Set(["bases"]);

/** A structured setting that is missing or empty is fixed by setting its first required field. */
const firstField: Record<string, string> = {
    hosts: "/hosts/0/name",
    powerdns: "/powerdns/apiUrl",
    acme: "/acme/server",
    containerLimits: "/containerLimits/cpus",
    powerdnsMysql: "/powerdnsMysql/endpoint",
    backup: "/backup/repository",
    bases: `/bases/${EXAMPLE_BASE}/grafana`,
};

/** `/hosts/0/capacity` -> `osm-hosting:hosts[0].capacity`, the form `pulumi config set --path` takes. */
export function configKeyPath(path: string): string {
    const [top, ...rest] = path.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    // The name of a named setting (`bases.2027-01`) is a key, whatever its characters: quoted when it has a dot.
    return rest.reduce((acc, p, i) => (NAMED.has(top) && i === 0 ? (p.includes(".") ? `${acc}[${JSON.stringify(p)}]` : `${acc}.${p}`)
        : /^\d+$/.test(p) ? `${acc}[${p}]` : `${acc}.${p}`), `${PROJECT}:${top}`);
}

/** The command that sets the value at a JSON path such as `/hosts/0/capacity`. */
export function configFix(path: string): string {
    const parts = path.split("/").slice(1);
    if (parts.length === 0) return "";
    if (parts.length === 1 && firstField[parts[0]]) path = firstField[parts[0]];
    const [top, ...rest] = path.split("/").slice(1);
    // Indexes and the names of named settings stand for any: `hosts.capacity`, `bases.grafana`.
    const example = examples[[top, ...rest.filter((p, i) => !/^\d+$/.test(p) && !(NAMED.has(top) && i === 0))].join(".")] ?? "VALUE";
    const value = typeof example === "string" ? JSON.stringify(example) : String(example);
    return rest.length
        ? `set it with: pulumi config set --path '${configKeyPath(path)}' ${value}`
        : `set it with: pulumi config set ${configKeyPath(path)} ${value}`;
}

/** Reads a config value by its short key; returns undefined when not set. */
export type ConfigLookup = (key: string) => string | undefined;

/**
 * Reads and checks the stack's settings. `file` names where they live (`Pulumi.prod.yaml`);
 * `isSecret` tells whether a key's value is stored as a secret.
 * Returns the settings and the secrets, or throws InputError listing every problem.
 */
export function readSettings(lookup: ConfigLookup, file: string, presentKeys: string[] = [],
    isSecret: (key: string) => boolean = () => true): { settings: FleetSettings; secrets: FleetSecrets } {
    const problems: Problem[] = [];
    // A secret written in plain text is readable by anyone with the repository: refuse it
    // (without quoting it) before anything can use it.
    for (const key of SECRET_KEYS) {
        if (lookup(key) !== undefined && !isSecret(key)) {
            problems.push({ file, path: `${PROJECT}:${key}`, message: `is stored in plain text, where anyone who can read ${file} reads it; ` +
                `remove it (pulumi config rm ${PROJECT}:${key}) and set it with: pulumi config set --secret ${PROJECT}:${key} < FILE` });
        }
    }
    // A misspelt key (`osm-hosting:hots`) must not be silently ignored.
    const known = new Set<string>([...plain, ...numeric, ...structured, ...SECRET_KEYS]);
    for (const full of presentKeys) {
        if (!full.startsWith(`${PROJECT}:`)) continue;
        const key = full.slice(PROJECT.length + 1);
        if (!known.has(key)) {
            problems.push({ file, path: full, message: `unknown setting; remove it or correct its spelling (known: ${[...known].join(", ")})` });
        }
    }
    const doc: Record<string, unknown> = {};
    const unparsable = new Set<string>();
    for (const key of plain) {
        const v = lookup(key);
        if (v !== undefined) doc[key] = v;
    }
    for (const key of numeric) {
        const v = lookup(key);
        // Not a number: kept as text, so the schema says "must be a whole number (got ...)".
        if (v !== undefined) doc[key] = /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v;
    }
    for (const key of structured) {
        const v = lookup(key);
        if (v === undefined) continue;
        try {
            doc[key] = JSON.parse(v);
        } catch {
            unparsable.add(key);
            problems.push({ file, path: `${PROJECT}:${key}`, message: `is not a structured value; write it as a YAML mapping/list under config, or ${configFix(`/${key}`)}` });
        }
    }
    const schemaOk = validateStack(doc);
    const wellFormed = schemaOk && unparsable.size === 0;
    if (!schemaOk) {
        for (const p of schemaProblems(validateStack.errors, doc, file, configFix)) {
            // A value that is not JSON was reported above; "is missing" would say it twice.
            if (unparsable.has(p.path.split("/")[1])) continue;
            problems.push({ ...p, path: configKeyPath(p.path) });
        }
    }
    const secrets = {
        sshPrivateKey: lookup("sshPrivateKey") ?? "",
        powerdnsApiKey: lookup("powerdnsApiKey") ?? "",
        powerdnsMysqlAdminPassword: lookup("powerdnsMysqlAdminPassword"),
        acmeTsigSecret: lookup("acmeTsigSecret") ?? "",
        backupPassword: lookup("backupPassword"),
        backupSftpKey: lookup("backupSftpKey"),
        backupS3AccessKeyId: lookup("backupS3AccessKeyId"),
        backupS3SecretAccessKey: lookup("backupS3SecretAccessKey"),
    };
    const secretFix = (key: string, what: string) => `set it with: pulumi config set --secret ${PROJECT}:${key} < ${what}`;
    if (!secrets.sshPrivateKey) {
        problems.push({ file, path: `${PROJECT}:sshPrivateKey`, message: `is missing; ${secretFix("sshPrivateKey", "~/.ssh/osm_hosting_ed25519")}` });
    } else if (!/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(secrets.sshPrivateKey.trim())) {
        problems.push({ file, path: `${PROJECT}:sshPrivateKey`, message: `is not a PEM/OpenSSH private key (it must start with "-----BEGIN ... PRIVATE KEY-----"); ${secretFix("sshPrivateKey", "~/.ssh/osm_hosting_ed25519")}` });
    }
    if (!secrets.powerdnsApiKey) {
        problems.push({ file, path: `${PROJECT}:powerdnsApiKey`, message: `is missing; ${secretFix("powerdnsApiKey", "pdns-api-key.txt")}` });
    } else if (/\s/.test(secrets.powerdnsApiKey)) {
        problems.push({ file, path: `${PROJECT}:powerdnsApiKey`, message: `contains whitespace (a stray newline?); ${secretFix("powerdnsApiKey", "pdns-api-key.txt")}` });
    }
    // The hosts' rule (vars/osm.yml), never echoing the value.
    const tsigRule = hostContract().envRules.OSM_ACME_TSIG_SECRET;
    if (!secrets.acmeTsigSecret) {
        problems.push({ file, path: `${PROJECT}:acmeTsigSecret`, message: `is missing; ${secretFix("acmeTsigSecret", "acme-tsig-secret.txt")} (the secret of the TSIG key acme.tsigKey, README.md: Certificates)` });
    } else if (!new RegExp(tsigRule.pattern!, "u").test(secrets.acmeTsigSecret)) {
        problems.push({ file, path: `${PROJECT}:acmeTsigSecret`, message: `is malformed (not shown): it must be ${tsigRule.expect}; ${secretFix("acmeTsigSecret", "acme-tsig-secret.txt")}` });
    }
    if (doc.powerdnsMysql !== undefined && !secrets.powerdnsMysqlAdminPassword) {
        problems.push({ file, path: `${PROJECT}:powerdnsMysqlAdminPassword`, message: `is missing while powerdnsMysql is set; ${secretFix("powerdnsMysqlAdminPassword", "mysql-admin-password.txt")}` });
    }
    problems.push(...backupProblems(doc.backup, secrets, file, secretFix));
    problems.push(...basesProblems(doc, lookup("bases") !== undefined, file));
    // Checks across fields need a well-formed document, but not the absence of other problems.
    if (wellFormed) {
        const d = doc as unknown as StackDoc;
        const names = new Map<string, number>();
        const addresses = new Map<string, number>();
        d.hosts.forEach((h, i) => {
            if (names.has(h.name)) problems.push({ file, path: `${PROJECT}:hosts[${i}].name`, message: `host name "${h.name}" is also hosts[${names.get(h.name)}]; host names must be unique` });
            names.set(h.name, i);
            if (addresses.has(h.address)) problems.push({ file, path: `${PROJECT}:hosts[${i}].address`, message: `address ${h.address} is also hosts[${addresses.get(h.address)}]; each host needs its own address` });
            addresses.set(h.address, i);
            // Its customers come back from their backups: without a repository there are none.
            if (h.lost === true && d.backup === undefined) {
                problems.push({ file, path: `${PROJECT}:hosts[${i}].lost`, message: `host "${h.name}" is lost, but no osm-hosting:backup is configured, so its customers have no backups to be restored from; set osm-hosting:backup to the repository their backups are in, or remove lost` });
            }
        });
        if (d.hosts.length > 0 && d.hosts.every((h) => h.lost === true)) {
            problems.push({ file, path: `${PROJECT}:hosts`, message: "every host is lost, so there is none to restore the customers on; add a host" });
        }
        const zone = d.powerdns.zone;
        if (d.domain !== zone && !d.domain.endsWith(`.${zone}`)) {
            problems.push({ file, path: `${PROJECT}:powerdns.zone`, message: `zone "${zone}" does not contain the domain "${d.domain}"; set powerdns.zone to the domain or a parent of it` });
        }
    }
    if (problems.length) throw new InputError(problems);

    const d = doc as unknown as StackDoc;
    const settings: FleetSettings = {
        domain: d.domain,
        sshUser: d.sshUser,
        hosts: d.hosts.map((h) => ({ name: h.name, address: h.address, capacity: h.capacity, hostKey: h.hostKey.trim(), sshPort: h.sshPort ?? 22,
            // A lost host takes no customers and keeps none: it drains (placement, the lock).
            drain: (h.drain ?? false) || (h.lost ?? false), lost: h.lost ?? false, adopt: h.adopt ?? false, reservedMqttPorts: h.reservedMqttPorts ?? [] })),
        powerdns: { apiUrl: d.powerdns.apiUrl.replace(/\/$/, ""), zone: d.powerdns.zone, ttl: d.powerdns.ttl ?? DEFAULT_DNS_TTL, keepAdoptedTtl: d.powerdns.keepAdoptedTtl ?? true, reservedNames: d.powerdns.reservedNames ?? [] },
        acme: { dnsPort: 53, tsigAlgorithm: "hmac-sha256", propagationSeconds: 5, ...d.acme },
        containerLimits: { ...d.containerLimits },
        powerdnsMysql: d.powerdnsMysql && { userHost: "localhost", ...d.powerdnsMysql },
        backup: d.backup && { ...d.backup, keep: { ...d.backup.keep }, maxAgeHours: d.backup.maxAgeHours ?? DEFAULT_BACKUP_MAX_AGE_HOURS },
        customersFile: d.customersFile ?? "customers.json",
        placementsLock: d.placementsLock ?? "placements.lock.json",
        maxDeletes: d.maxDeletes ?? DEFAULT_MAX_DELETES,
        grafanaPluginSource: (d.grafanaPluginSource ?? DEFAULT_GRAFANA_PLUGIN_SOURCE).replace(/\/+$/, ""),
        // Only with bases: a stack without them has no such key, and behaves as before bases existed.
        ...(d.bases ? { bases: {
            specs: Object.fromEntries(Object.entries(d.bases).map(([name, b]) => [name, { suite: b.suite ?? DEFAULT_BASE_SUITE,
                grafana: b.grafana, influxdb2: b.influxdb2, chirpstack: b.chirpstack, mosquitto: b.mosquitto }])),
            defaultBase: d.defaultBase!,
            upgradeConcurrency: d.upgradeConcurrency ?? DEFAULT_UPGRADE_CONCURRENCY,
            ...(d.baseSeed !== undefined ? { baseSeed: d.baseSeed } : {}),
        } } : {}),
    };
    return { settings, secrets };
}

/** A JSON pointer's segment for `name` (RFC 6901). */
const pointerSegment = (name: string) => name.replace(/~/g, "~0").replace(/\//g, "~1");

/**
 * The rules of the bases beyond the schema: each name the hosts' (OSM_BASE), the whole as the
 * hosts take it (OSM_BASES), `defaultBase` one of them; `defaultBase`, `upgradeConcurrency` and
 * `baseSeed` refused without `bases` (`basesSet`: the key is there, even if malformed).
 */
function basesProblems(doc: Record<string, unknown>, basesSet: boolean, file: string): Problem[] {
    const out: Problem[] = [];
    const bases = doc.bases;
    if (!basesSet) {
        for (const key of BASE_KEYS) {
            if (doc[key] === undefined) continue;
            out.push({ file, path: `${PROJECT}:${key}`, message: `is set but ${PROJECT}:bases is not, so there is no base it could apply to; ` +
                `remove it (pulumi config rm ${PROJECT}:${key}) or define the bases in ${PROJECT}:bases (README.md, Bases and upgrades)` });
        }
        return out;
    }
    if (bases === null || typeof bases !== "object" || Array.isArray(bases)) return out; // the schema's problem
    const names = Object.keys(bases);
    const known = names.map((n) => JSON.stringify(n)).join(", ");
    if (names.length === 0) {
        out.push({ file, path: `${PROJECT}:bases`, message: `names no base; add one, ${configFix("/bases")}, or remove it (pulumi config rm ${PROJECT}:bases) to keep every customer on the base of before` });
    }
    const badNames = names.filter((n) => !acceptsEnv("OSM_BASE", n));
    for (const n of badNames) {
        out.push({ file, path: configKeyPath(`/bases/${pointerSegment(n)}`), message: `"${n}" is not a base name: it must be ${expectOf("OSM_BASE")}; rename it` });
    }
    const defaultBase = doc.defaultBase;
    if (defaultBase === undefined) {
        if (names.length) out.push({ file, path: `${PROJECT}:defaultBase`, message: `is missing while ${PROJECT}:bases is set: it is the base of every customer whose entry names none; ` +
            `set it to one of ${known} with: pulumi config set ${PROJECT}:defaultBase ${JSON.stringify(names[names.length - 1])}` });
    } else if (typeof defaultBase === "string" && acceptsEnv("OSM_BASE", defaultBase) && names.length && !names.includes(defaultBase)) {
        out.push({ file, path: `${PROJECT}:defaultBase`, message: `"${defaultBase}" is not one of ${PROJECT}:bases (${known}); ` +
            `set it to one of them with: pulumi config set ${PROJECT}:defaultBase ${JSON.stringify(names[names.length - 1])}, or add a base "${defaultBase}" to ${PROJECT}:bases` });
    }
    // The hosts' own rule has the last word, once each spec is well-formed (the schema said why otherwise).
    const specs = bases as Record<string, Record<string, unknown> | null>;
    const wellFormed = names.length > 0 && !badNames.length && names.every((n) => {
        const b = specs[n];
        return b !== null && typeof b === "object" && (b.suite === undefined || (typeof b.suite === "string" && new RegExp(BASE_SUITE).test(b.suite))) &&
            BASE_PACKAGES.every((p) => typeof b[p] === "string" && new RegExp(BASE_VERSION).test(b[p] as string));
    });
    if (wellFormed) {
        const full = Object.fromEntries(names.map((n) => [n, { suite: DEFAULT_BASE_SUITE, ...specs[n] } as BaseSpec]));
        if (!hostsAcceptBases(full)) out.push({ file, path: `${PROJECT}:bases`, message: `the hosts refuse these bases: they must be ${expectOf("OSM_BASES")}` });
    }
    return out;
}

/**
 * The backup secrets against `backup` (whatever its shape): the password always, the SFTP key
 * and a pinned host key for SFTP, the two S3 keys for S3; a backup secret without `backup` is
 * a leftover. Values are never shown.
 */
function backupProblems(backup: unknown, secrets: FleetSecrets, file: string, secretFix: (key: string, what: string) => string): Problem[] {
    const out: Problem[] = [];
    const rules = hostContract().envRules;
    const check = (key: keyof FleetSecrets, env: string, what: string, value: string | undefined, why: string) => {
        if (!value) {
            out.push({ file, path: `${PROJECT}:${key}`, message: `is missing while ${why}; ${secretFix(key, what)}` });
        } else if (!new RegExp(rules[env].pattern!, "u").test(value)) {
            out.push({ file, path: `${PROJECT}:${key}`, message: `is malformed (not shown): it must be ${rules[env].expect}; ${secretFix(key, what)}` });
        }
    };
    const extra: (keyof FleetSecrets)[] = [];
    if (backup === undefined) {
        extra.push("backupPassword", "backupSftpKey", "backupS3AccessKeyId", "backupS3SecretAccessKey");
    } else if (backup !== null && typeof backup === "object") {
        const b = backup as Partial<BackupSettings>;
        check("backupPassword", "OSM_BACKUP_PASSWORD", "restic-password.txt", secrets.backupPassword, "backup is set (the restic repository's password)");
        const repo = typeof b.repository === "string" ? b.repository : "";
        if (repo.startsWith("sftp:")) {
            if (!secrets.backupSftpKey) {
                out.push({ file, path: `${PROJECT}:backupSftpKey`, message: `is missing while backup.repository is an SFTP repository; ${secretFix("backupSftpKey", "~/.ssh/osm_backup_ed25519")} (the private key the backup server lets in)` });
            } else if (!/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(secrets.backupSftpKey.trim())) {
                out.push({ file, path: `${PROJECT}:backupSftpKey`, message: `is not a PEM/OpenSSH private key (it must start with "-----BEGIN ... PRIVATE KEY-----"); ${secretFix("backupSftpKey", "~/.ssh/osm_backup_ed25519")}` });
            }
            if (b.sftpKnownHosts === undefined) {
                out.push({ file, path: `${PROJECT}:backup.sftpKnownHosts`, message: `is missing while backup.repository is an SFTP repository: the backup server's host key must be pinned; set it to its known_hosts line (ssh-keyscan, checked out of band) with: pulumi config set --path '${PROJECT}:backup.sftpKnownHosts' "HOST ssh-ed25519 AAAA..."` });
            }
            extra.push("backupS3AccessKeyId", "backupS3SecretAccessKey");
        } else if (repo.startsWith("s3:")) {
            check("backupS3AccessKeyId", "OSM_BACKUP_S3_ACCESS_KEY_ID", "s3-access-key-id.txt", secrets.backupS3AccessKeyId, "backup.repository is an S3 repository");
            check("backupS3SecretAccessKey", "OSM_BACKUP_S3_SECRET_ACCESS_KEY", "s3-secret-access-key.txt", secrets.backupS3SecretAccessKey, "backup.repository is an S3 repository");
            if (b.sftpKnownHosts !== undefined) {
                out.push({ file, path: `${PROJECT}:backup.sftpKnownHosts`, message: `is for an SFTP repository, but backup.repository is S3; remove it with: pulumi config rm --path '${PROJECT}:backup.sftpKnownHosts'` });
            }
            extra.push("backupSftpKey");
        }
    }
    for (const key of extra) {
        if (secrets[key] !== undefined) {
            out.push({ file, path: `${PROJECT}:${key}`, message: `is set but ${backup === undefined ? "no backup is configured (osm-hosting:backup)" : "the repository does not use it"}; remove it (pulumi config rm ${PROJECT}:${key}) or ${backup === undefined ? "set osm-hosting:backup" : "correct backup.repository"}` });
        }
    }
    return out;
}

/** The OSM_BACKUP_* environment of host-setup.yml (secrets among them: the caller wraps them); {} without backup. */
export function backupEnvironment(backup: BackupSettings | undefined, secrets: FleetSecrets): Record<string, string> {
    if (!backup) return {};
    const env: Record<string, string> = {
        OSM_BACKUP_REPOSITORY: backup.repository,
        OSM_BACKUP_SCHEDULE: backup.schedule,
        OSM_BACKUP_KEEP_DAILY: String(backup.keep.daily),
        OSM_BACKUP_KEEP_WEEKLY: String(backup.keep.weekly),
        OSM_BACKUP_KEEP_MONTHLY: String(backup.keep.monthly),
        // Only when set: stacks without it keep the environment (and host set-up) they had.
        ...(backup.keep.last !== undefined ? { OSM_BACKUP_KEEP_LAST: String(backup.keep.last) } : {}),
        OSM_BACKUP_PASSWORD: secrets.backupPassword ?? "",
    };
    if (backup.repository.startsWith("sftp:")) {
        env.OSM_BACKUP_SFTP_KNOWN_HOSTS = backup.sftpKnownHosts ?? "";
        // A key has newlines, which an environment value here may not: base64, decoded on the host.
        env.OSM_BACKUP_SFTP_KEY = Buffer.from(`${(secrets.backupSftpKey ?? "").trim()}\n`).toString("base64");
    } else {
        env.OSM_BACKUP_S3_ACCESS_KEY_ID = secrets.backupS3AccessKeyId ?? "";
        env.OSM_BACKUP_S3_SECRET_ACCESS_KEY = secrets.backupS3SecretAccessKey ?? "";
    }
    return env;
}

/** The backup variables whose values are secret (wrapped in pulumi.secret by the Host). */
export const BACKUP_SECRET_ENV = ["OSM_BACKUP_PASSWORD", "OSM_BACKUP_SFTP_KEY", "OSM_BACKUP_S3_ACCESS_KEY_ID", "OSM_BACKUP_S3_SECRET_ACCESS_KEY"];
