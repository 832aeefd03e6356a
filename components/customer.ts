import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { AnsibleShipment } from "./ansible-bundle";
import { AcmeSettings } from "./config";
import { DnsTarget } from "./dns";
import { Host } from "./host";
import { absolute, customerNames, CustomerNames } from "./naming";
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
    /** Already running elsewhere: take over its existing DNS records if they match. */
    adopt?: boolean;
    /** Where its records go. */
    dns: DnsTarget;
    /** ACME account for its certificate. */
    acme: AcmeSettings;
    /** CPU and memory limits of its container. */
    limits: { cpus: number; memoryMiB: number };
    /** The playbooks on its host: a change of what a command runs re-runs it in place (idempotent). */
    ansible: AnsibleShipment;
}

const CONTAINER_CREATE = "container-create.yml";
const CONTAINER_PROVISION = "container-provision.yml";
const CONTAINER_DELETE = "container-delete.yml";

/** What the provision playbook returns on stdout (see ansible/README.md). */
export interface CustomerCredentials {
    mqttUsername: string;
    mqttPassword: string;
    grafanaAdminPassword: string;
    influxToken: string;
}

/**
 * One customer: its three names (CNAMEs to its host), then its container created,
 * provisioned and, on removal, archived and deleted by the playbooks on its host.
 */
export class Customer extends pulumi.ComponentResource {
    public readonly label: string;
    public readonly hostName: string;
    public readonly names: CustomerNames;
    /** `<label>.<domain>:<port>`, what devices are configured with. */
    public readonly mqttEndpoint: string;
    public readonly urls: { grafana: string; influx: string; chirpstack: string };
    public readonly records: powerdns.Record[];
    public readonly container: command.remote.Command;
    public readonly provision: command.remote.Command;
    /** The customer's credentials, generated on its host (secret). */
    public readonly credentials: pulumi.Output<CustomerCredentials>;

    constructor(name: string, args: CustomerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("osm:hosting:Customer", name, {}, opts);
        this.label = args.label;
        this.hostName = args.host.hostName;
        this.names = customerNames(args.label, args.domain);
        this.mqttEndpoint = `${this.names.grafana}:${args.mqttPort}`;
        this.urls = {
            grafana: `https://${this.names.grafana}/`,
            influx: `https://${this.names.influx}/`,
            chirpstack: `https://${this.names.chirpstack}/`,
        };

        const target = absolute(args.host.fqdn);
        this.records = (["grafana", "influx", "chirpstack"] as const).map((service) =>
            new powerdns.Record(`${name}-${service}`, {
                apiUrl: args.dns.apiUrl, apiKey: args.dns.apiKey, zone: args.dns.zone, ttl: args.dns.ttl,
                name: absolute(this.names[service]), type: "CNAME", records: [target],
                ...(args.adopt ? { adoptId: `${args.dns.zone}/${absolute(this.names[service])}/CNAME` } : {}),
            }, { parent: this }));

        // The ACME account goes to both commands: create starts the certificate's issuance in
        // the background, provision waits for it (ansible/README.md).
        const environment: Record<string, string> = {
            OSM_CUSTOMER: args.label,
            OSM_DOMAIN: args.domain,
            OSM_HOST_NAME: args.host.hostName,
            OSM_MQTT_PORT: String(args.mqttPort),
            OSM_CPUS: String(args.limits.cpus),
            OSM_MEMORY_MIB: String(args.limits.memoryMiB),
            OSM_ACME_SERVER: args.acme.server,
            OSM_ACME_EMAIL: args.acme.email,
        };
        if (args.acme.caBundle) environment.OSM_ACME_CA_BUNDLE = args.acme.caBundle;
        // Certificates are issued for the names, so the records come first. A move to another
        // host replaces the container: the new one is created, then the old one archived.
        this.container = new command.remote.Command(`${name}-container`, {
            connection: args.host.connection,
            create: playbook(CONTAINER_CREATE),
            // The delete runs whatever container-delete.yml the host has by then (the latest copy),
            // so only what create runs triggers a re-run.
            delete: playbook(CONTAINER_DELETE),
            environment: { ...environment, OSM_PLAYBOOK_HASH: args.ansible.hashOf(CONTAINER_CREATE) },
            triggers: [args.host.hostName],
            addPreviousOutputInEnv: false,
        }, { parent: this, dependsOn: [...this.records, args.host.setup] });

        this.provision = new command.remote.Command(`${name}-provision`, {
            connection: args.host.connection,
            create: playbook(CONTAINER_PROVISION),
            environment: { ...environment, OSM_PLAYBOOK_HASH: args.ansible.hashOf(CONTAINER_PROVISION) },
            triggers: [args.host.hostName],
            addPreviousOutputInEnv: false,
            // stdout carries the credentials: secret, and never logged.
            logging: "stderr",
        }, { parent: this, dependsOn: [this.container], additionalSecretOutputs: ["stdout"] });

        this.credentials = pulumi.secret(this.provision.stdout.apply(parseCredentials));
        this.registerOutputs({ mqttEndpoint: this.mqttEndpoint, urls: this.urls, credentials: this.credentials });
    }
}

/** The provision playbook's result line; empty during preview. */
export function parseCredentials(stdout: string | undefined): CustomerCredentials {
    const text = (stdout ?? "").trim();
    if (!text) return { mqttUsername: "", mqttPassword: "", grafanaAdminPassword: "", influxToken: "" };
    const last = text.split("\n").pop()!;
    try {
        return JSON.parse(last) as CustomerCredentials;
    } catch {
        // Never echo the text: it may hold a password.
        throw new Error("the provision playbook's stdout is not the JSON credentials object ansible/README.md describes");
    }
}
