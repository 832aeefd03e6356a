/**
 * The shapes `npm run verify` works with: the fleet as the stack declares it, what a host
 * reports (`ansible/files/osm-status`), and the results of the checks. No logic here.
 */
import { CustomerNames } from "../../../components/naming";

/** A host as the stack config declares it. */
export interface DeclaredHost {
    name: string;
    /** `<name>.<domain>`, no trailing dot. */
    fqdn: string;
    address: string;
    sshPort: number;
    /** The pinned public host key (`ssh-ed25519 AAAA…`). */
    hostKey: string;
    drain: boolean;
}

/** A customer as the program's own evaluation places it. */
export interface DeclaredCustomer {
    label: string;
    host: string;
    mqttPort: number;
    names: CustomerNames;
}

/** Everything verify checks against. */
export interface DeclaredFleet {
    /** Stack name (for the commands suggested). */
    stack: string;
    domain: string;
    sshUser: string;
    /** The PowerDNS zone. */
    zone: string;
    /** Host of the PowerDNS API URL: where its DNS is asked by default. */
    powerdnsHost: string;
    hosts: DeclaredHost[];
    customers: DeclaredCustomer[];
    /** With osm-hosting:backup: each customer's last snapshot must be younger than this. */
    backup?: { maxAgeHours: number };
}

/** A customer's MQTT credentials (from the stack's secret outputs). */
export interface MqttCredentials {
    mqttUsername: string;
    mqttPassword: string;
}

/** One container as `osm-status` reports it. */
export interface StatusContainer {
    name: string;
    /** LXC's state: RUNNING, STOPPED, … */
    state: string;
    /** Made by the playbooks (its config carries their mark). */
    managed: boolean;
    address?: string;
    mac?: string;
    limits?: { memoryMiB?: number; cpus?: number };
    /** The overlay's lower dir (the OS base). */
    base?: string;
    autostart?: boolean;
    /** An adopted container (the old orchestrator's `<name>-svr`): the customer it serves. */
    customer?: string;
    adopted?: boolean;
}

/** One certbot lineage as `osm-status` reports it. */
export interface StatusCertificate {
    lineage: string;
    names: string[];
    notAfter?: string;
    daysLeft?: number;
    error?: string;
}

/** What `ansible/files/osm-status` prints: what the host really has. */
export interface HostStatus {
    host: string;
    time: string;
    containers?: StatusContainer[];
    nginx?: {
        running: boolean;
        sites: { file: string; customer: string; names: string[]; certificates: string[] }[];
        streams: { file: string; customer: string; ports: number[]; upstreams: string[] }[];
    };
    firewall?: { loaded: boolean; mqttPorts: number[]; portFiles: Record<string, number | string> };
    certificates?: StatusCertificate[];
    archives?: { file: string; bytes: number; time: string }[];
    /** Backups (files/osm-backup): the repository's latest snapshot per customer, and the last run's outcome. */
    backups?: StatusBackups;
    /** Parts the host could not read. */
    errors: string[];
}

/** What `osm-status` reports of the host's backups. */
export interface StatusBackups {
    configured: boolean;
    repository?: string;
    /** Per customer label: its latest snapshot in the repository (any host's). */
    latest?: Record<string, { time: string; id: string; host?: string }>;
    /** The host's last run (osm_backup_state): per customer ok or its error. */
    lastRun?: { time: string; customers: Record<string, { ok: boolean; time: string; error?: string }> };
    /** Why the repository could not be listed. */
    error?: string;
}

/** A problem found, in a few words, and what to do about it. */
export interface Finding {
    problem: string;
    action: string;
}

/** The checks of a customer row. */
export const CUSTOMER_CHECKS = ["dns", "https", "mqtt", "host", "backup"] as const;
/** The checks of a host row. */
export const HOST_CHECKS = ["ssh", "dns", "status", "drift"] as const;
export type CheckName = (typeof CUSTOMER_CHECKS)[number] | (typeof HOST_CHECKS)[number];

/** The outcome of one check of one customer or host. */
export interface CheckResult {
    subject: "customer" | "host";
    /** Customer label or host name. */
    name: string;
    /** The host it is on (a host's own name for host rows). */
    host: string;
    check: CheckName;
    /** `skip`: not checked (why: `note`); it neither passes nor fails the run. */
    status: "ok" | "fail" | "skip";
    findings: Finding[];
    /** Why a check was skipped, or a remark on a passed one. */
    note?: string;
    /** Days until the certificate each name presents expires (HTTPS and MQTT). */
    certDaysLeft?: Record<string, number>;
    /** The backup check: how old the customer's latest snapshot is. */
    backupAgeSeconds?: number;
    seconds: number;
}

/** One run of verify. */
export interface Report {
    stack: string;
    startedAt: string;
    seconds: number;
    /** True when no check failed. */
    ok: boolean;
    results: CheckResult[];
}
