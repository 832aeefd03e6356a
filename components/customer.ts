import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { AnsibleShipment } from "./ansible-bundle";
import { DnsTarget, namesTtl } from "./dns";
import { GrafanaPlugin, pluginsEnv } from "./grafana-plugins";
import { Host } from "./host";
import { absolute, customerNames, CustomerNames, NAME_SUFFIXES } from "./naming";
import * as powerdns from "./powerdns";
import { playbook } from "./remote";

export interface CustomerArgs {
    /** The customer's DNS label (validated: `[a-z0-9-]`, at most 52 characters). */
    label: string;
    /** The hosting domain. */
    domain: string;
    /** The host the customer is placed on. */
    host: Host;
    /** The customer's MQTT-over-TLS port on its host. */
    mqttPort: number;
    /** Already running: take over its existing DNS records if they match (and, with `adoptContainer`, its container). */
    adopt?: boolean;
    /**
     * The old orchestrator's container of this customer on `host` (`<name>-svr`): taken over in
     * place, its data and credentials kept, nothing inside it rewritten (README.md, "Taking over the old
     * orchestrator's fleet", step 3; ansible/files/osm-adopt).
     */
    adoptContainer?: string;
    /** The fourth name, `<label>-mqtt.<domain>`: MQTT over WebSockets on 443 (record, vhost, listener). */
    mqttWebsocket?: boolean;
    /** Where its records go. */
    dns: DnsTarget;
    /** CPU and memory limits of its container. */
    limits: { cpus: number; memoryMiB: number };
    /** The playbooks on its host: a change of what a command runs re-runs it in place (idempotent). */
    ansible: AnsibleShipment;
    /**
     * The host it runs on now, when that is not `host` (the stack's deployed placements): the
     * customer moves, with its data, credentials and port (README.md, "Moving a customer").
     */
    movedFrom?: Host;
    /**
     * Create it from its backup (`latest` or a snapshot id) instead of empty or moved: its data
     * and credentials as backed up (README.md, Backups). The host refuses it over a running container.
     */
    restoreFrom?: string;
    /** Grafana plugins in its container (customers.json `grafanaPlugins`), fetched by its host. */
    grafanaPlugins?: readonly GrafanaPlugin[];
    /** Where the host fetches them (stack config `grafanaPluginSource`). */
    grafanaPluginSource: string;
    /**
     * Its OS base (bases.ts effectiveBase): one of the stack's bases, which its host builds
     * (OSM_BASES). A change on the same host upgrades the container in place. Absent: the base
     * of before (a stack without bases, or an adopted customer), and OSM_BASE is not sent.
     */
    base?: string;
    /**
     * Resources its container waits for besides its host's set-up: in a rolling upgrade, the
     * containers of the wave before it on its host (README.md, "Bases and upgrades"), so a
     * failed upgrade stops the later waves there.
     */
    after?: pulumi.Resource[];
}

/** One playbook run per customer: container, services, NGINX, firewall (ansible/README.md). */
const CUSTOMER_PLAYBOOK = "customer.yml";
const CONTAINER_DELETE = "container-delete.yml";
/** On the host a customer leaves: lets the new host pull it; its delete ends that. */
const MOVE_GRANT = "move-grant.yml";
const MOVE_REVOKE = "move-revoke.yml";

/** OSM_MQTT_WEBSOCKET's value when `mqttWebsocket` is on (unset when off; ansible/vars/osm.yml). */
export const MQTT_WEBSOCKET_ON = "yes";

/** The credentials in what customer.yml returns on stdout (see ansible/README.md). */
export interface CustomerCredentials {
    mqttUsername: string;
    mqttPassword: string;
    grafanaAdminPassword: string;
    influxToken: string;
}

/**
 * One customer: its three names, four with `mqttWebsocket` (CNAMEs to its host), then its container created and
 * provisioned in one playbook run and, on removal, archived and deleted, on its host.
 */
export class Customer extends pulumi.ComponentResource {
    public readonly label: string;
    public readonly hostName: string;
    public readonly names: CustomerNames;
    /** `<label>.<domain>:<port>`, what devices are configured with. */
    public readonly mqttEndpoint: string;
    /** `mqttWebsocket`: the MQTT-over-WebSocket URL, absent without the option. */
    public readonly urls: { grafana: string; influx: string; chirpstack: string; mqttWebsocket?: string };
    public readonly records: powerdns.Record[];
    /** Creates and provisions the container (one playbook run); its delete archives it. */
    public readonly container: command.remote.Command;
    /** The customer's credentials, generated on its host (secret). */
    public readonly credentials: pulumi.Output<CustomerCredentials>;
    /** During a move: on the old host, the new host's leave to pull this customer. */
    public readonly moveGrant?: command.remote.Command;

    constructor(name: string, args: CustomerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("osm:hosting:Customer", name, {}, opts);
        this.label = args.label;
        this.hostName = args.host.hostName;
        this.names = customerNames(args.label, args.domain, args.mqttWebsocket === true);
        this.mqttEndpoint = `${this.names.grafana}:${args.mqttPort}`;
        this.urls = {
            grafana: `https://${this.names.grafana}/`,
            influx: `https://${this.names.influx}/`,
            chirpstack: `https://${this.names.chirpstack}/`,
            ...(this.names.mqtt ? { mqttWebsocket: `wss://${this.names.mqtt}/` } : {}),
        };

        // No ACME settings: the host's certificate for *.<domain> serves every customer.
        const environment: Record<string, pulumi.Input<string>> = {
            OSM_CUSTOMER: args.label,
            OSM_DOMAIN: args.domain,
            OSM_HOST_NAME: args.host.hostName,
            OSM_MQTT_PORT: String(args.mqttPort),
            OSM_CPUS: String(args.limits.cpus),
            OSM_MEMORY_MIB: String(args.limits.memoryMiB),
            // Only when on: customers without it keep the environment they had.
            ...(args.mqttWebsocket ? { OSM_MQTT_WEBSOCKET: MQTT_WEBSOCKET_ON } : {}),
            // Only with a restore request: customers without one keep the environment they had.
            ...(args.restoreFrom !== undefined ? { OSM_RESTORE_FROM: args.restoreFrom } : {}),
            // Only when adopted: other customers keep the environment they had.
            ...(args.adoptContainer !== undefined ? { OSM_ADOPT_CONTAINER: args.adoptContainer } : {}),
            // Only with plugins (the source with them): customers without any keep the environment they had.
            ...(args.grafanaPlugins?.length ? { OSM_GRAFANA_PLUGINS: pluginsEnv(args.grafanaPlugins), OSM_GRAFANA_PLUGIN_SOURCE: args.grafanaPluginSource } : {}),
            // Only with a base of the stack's: without bases, customers keep the environment they had.
            ...(args.base !== undefined ? { OSM_BASE: args.base } : {}),
        };
        const from = args.movedFrom;
        if (from) {
            // The old host lets the new one in for this customer; the new one pulls it (customer.yml).
            this.moveGrant = new command.remote.Command(`${name}-move-grant`, {
                connection: from.connection,
                create: playbook(MOVE_GRANT),
                delete: playbook(MOVE_REVOKE),
                environment: {
                    OSM_CUSTOMER: args.label,
                    OSM_DOMAIN: args.domain,
                    OSM_HOST_NAME: from.hostName,
                    OSM_MQTT_PORT: String(args.mqttPort),
                    OSM_MOVE_PEER_ADDRESS: args.host.address,
                    OSM_MOVE_PEER_KEY: args.host.moveKey.apply((key) => (key === "" ? missingMoveKey(args.host.hostName) : key ?? "")),
                    OSM_DNS_TTL: String(namesTtl(args.dns, args.adopt === true)),
                    // The old host forwards the fourth name too while the move lasts.
                    ...(args.mqttWebsocket ? { OSM_MQTT_WEBSOCKET: MQTT_WEBSOCKET_ON } : {}),
                    OSM_PLAYBOOK_HASH: args.ansible.hashOf(MOVE_GRANT),
                },
                addPreviousOutputInEnv: false,
                logging: "stderr",
            }, { parent: this, dependsOn: [from.setup, args.host.setup] });
            environment.OSM_MOVE_FROM_ADDRESS = from.address;
            environment.OSM_MOVE_FROM_SSH_PORT = String(from.sshPort);
            // Type and key only: the stack config may carry a comment after them.
            environment.OSM_MOVE_FROM_HOST_KEY = from.hostKey.split(" ").slice(0, 2).join(" ");
        }
        // One command (one SSH session, one Ansible start) per customer, not two: on a busy host
        // each Ansible start is about a second of CPU (ansible/README.md).
        // The name stays `-container`: on a running fleet this is an in-place update that re-runs
        // the idempotent playbook (data, address, port and credentials kept); the old
        // `-provision` commands had no delete, so removing them changes nothing on the hosts.
        // A move to another host replaces it: the new one is created first (it pulls the data),
        // the names then point to it, and the old one's delete forwards for the TTL, then archives.
        // deletedWith the host's A record: a lost host's resources leave the program, its record
        // with them, and the delete of a container there (which could not reach the machine) is
        // left to it, so its customers are restored elsewhere without waiting on a dead host.
        // Planning refuses to delete a customer in the update that removes its (not lost) host.
        this.container = new command.remote.Command(`${name}-container`, {
            connection: args.host.connection,
            create: playbook(CUSTOMER_PLAYBOOK),
            // The delete runs whatever container-delete.yml the host has by then (the latest copy),
            // so only what create runs triggers a re-run.
            delete: playbook(CONTAINER_DELETE),
            environment: { ...environment, OSM_PLAYBOOK_HASH: args.ansible.hashOf(CUSTOMER_PLAYBOOK) },
            triggers: [args.host.hostName],
            addPreviousOutputInEnv: false,
            // stdout carries the credentials: secret, and never logged.
            logging: "stderr",
        }, { parent: this, dependsOn: [args.host.setup, ...(this.moveGrant ? [this.moveGrant] : []), ...(args.after ?? [])], additionalSecretOutputs: ["stdout"], deletedWith: args.host.record });

        // The names come after the container: they point to a host once it serves the customer
        // (the host's wildcard certificate needs no name of the customer's), so a move re-points
        // them only when the new host has taken over.
        const target = absolute(args.host.fqdn);
        // One record per declared name (resource `<label>-<key>`): the option off, `-mqtt` is not
        // declared, so turning it off deletes that record.
        const services = (Object.keys(NAME_SUFFIXES) as (keyof CustomerNames)[]).filter((k) => this.names[k] !== undefined);
        this.records = services.map((service) =>
            new powerdns.Record(`${name}-${service}`, {
                apiUrl: args.dns.apiUrl, apiKey: args.dns.apiKey, zone: args.dns.zone, ttl: args.dns.ttl,
                name: absolute(this.names[service]!), type: "CNAME", records: [target],
                ...(args.adopt ? { adoptId: `${args.dns.zone}/${absolute(this.names[service]!)}/CNAME`, adoptTtl: args.dns.keepAdoptedTtl } : {}),
            }, { parent: this, dependsOn: [this.container] }));

        this.credentials = pulumi.secret(this.container.stdout.apply(parseCredentials));
        this.registerOutputs({ mqttEndpoint: this.mqttEndpoint, urls: this.urls, credentials: this.credentials });
    }
}

function missingMoveKey(host: string): never {
    throw new Error(`host ${host} has no move key in its setup's result (a setup of before moves existed): run \`pulumi up\` once without the move, so host-setup.yml re-runs there, then move the customer`);
}

/** The credentials in the customer playbook's result line; empty during preview. */
export function parseCredentials(stdout: string | undefined): CustomerCredentials {
    const text = (stdout ?? "").trim();
    if (!text) return { mqttUsername: "", mqttPassword: "", grafanaAdminPassword: "", influxToken: "" };
    const last = text.split("\n").pop()!;
    let r: Record<string, unknown>;
    try {
        r = JSON.parse(last) as Record<string, unknown>;
    } catch {
        // Never echo the text: it may hold a password.
        throw new Error("the customer playbook's stdout is not the JSON object with the credentials ansible/README.md describes");
    }
    // The address and MAC beside them are not credentials.
    return { mqttUsername: String(r.mqttUsername ?? ""), mqttPassword: String(r.mqttPassword ?? ""),
        grafanaAdminPassword: String(r.grafanaAdminPassword ?? ""), influxToken: String(r.influxToken ?? "") };
}
