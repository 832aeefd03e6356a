import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { AnsibleShipment } from "./ansible-bundle";
import { AcmeSettings, BACKUP_SECRET_ENV, HostSettings } from "./config";
import { acceptsEnv } from "./contract";
import { absolute, hostFqdn } from "./naming";
import { DnsTarget } from "./dns";
import * as powerdns from "./powerdns";
import { playbook, REMOTE_ROOT, sshConnection } from "./remote";

export interface HostArgs {
    /** The host as the stack config describes it (name, address, host key, ...). */
    host: HostSettings;
    /** The hosting domain; the host's public name is `<name>.<domain>`. */
    domain: string;
    /** The SSH login user. */
    sshUser: string;
    /** The SSH private key (a secret). */
    sshPrivateKey: pulumi.Input<string>;
    /** Where the host's A record goes. */
    dns: DnsTarget;
    /** ACME account and DNS-01 settings for the host's certificate (`*.<domain>`). */
    acme: AcmeSettings;
    /** The secret of the TSIG key that may update the ACME challenge zone (a secret). */
    acmeTsigSecret: pulumi.Input<string>;
    /**
     * The OSM_BACKUP_* variables (config.ts backupEnvironment; {} without backup): a change
     * re-runs host set-up, so every host gets the new schedule. The secret ones stay secrets.
     */
    backupEnv?: Record<string, string>;
    /**
     * OSM_BASES: the bases its customers use (bases.ts basesEnv), which host set-up builds before
     * their containers run on them; "" or absent (no customer there on a base of the stack's):
     * not sent, and host set-up runs as it did before bases.
     */
    bases?: string;
    /** OSM_BASE_SEED: a prepared root tree on the host that bases are copied from (stack config `baseSeed`); absent: not sent. */
    baseSeed?: string;
    /** The playbooks shipped to the host; a change of what host set-up runs re-runs it. */
    ansible: AnsibleShipment;
}

/**
 * Makes the very first connection useful: sshd must accept the OSM_* variables before any
 * command can be sent one, so this script takes none. Idempotent; reloads sshd only on change.
 */
export const BOOTSTRAP_SCRIPT = `set -eu
if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO="sudo -n"; fi
$SUDO mkdir -p ${REMOTE_ROOT}
conf=/etc/ssh/sshd_config.d/osm-accept-env.conf
want='AcceptEnv OSM_*'
if [ "$($SUDO cat "$conf" 2>/dev/null || true)" != "$want" ]; then
  grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config.d/' /etc/ssh/sshd_config || { echo "osm bootstrap: /etc/ssh/sshd_config does not Include sshd_config.d/*.conf; add that line" >&2; exit 1; }
  echo "$want" | $SUDO tee "$conf" >/dev/null
  $SUDO /usr/sbin/sshd -t
  if [ -d /run/systemd/system ]; then $SUDO systemctl reload ssh; else $SUDO kill -HUP "$(cat /run/sshd.pid)"; fi
  # sshd re-executes itself on the HUP: its listener is closed and opened again, and a
  # connection made meanwhile is refused or reset. The next command connects as soon as this
  # one ends, so wait here until sshd listens again (on the port this session came in on).
  port=$(echo "\${SSH_CONNECTION:-}" | cut -d' ' -f4)
  if [ -n "$port" ]; then
    sleep 0.2
    n=0
    until ss -Hltn "sport = :$port" | grep -q .; do
      n=$((n + 1))
      [ "$n" -le 100 ] || { echo "osm bootstrap: sshd does not listen on port $port again 20 s after its reload: see journalctl -u ssh" >&2; exit 1; }
      sleep 0.2
    done
  fi
  echo "osm bootstrap: sshd now accepts OSM_* variables" >&2
fi
if ! command -v ansible-playbook >/dev/null; then
  $SUDO apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q ansible-core >&2
fi
echo '{}'
`;

const HOST_SETUP = "host-setup.yml";

/** One OSM host: its A record, the playbooks shipped to it, and its idempotent set-up. */
export class Host extends pulumi.ComponentResource {
    /** Host name from the stack config. */
    public readonly hostName: string;
    /** Public name, `<name>.<domain>`. */
    public readonly fqdn: string;
    public readonly address: string;
    /** The pinned SSH connection (secret). */
    public readonly connection: pulumi.Output<command.types.input.remote.ConnectionArgs>;
    /** Completes when the host is ready for customers; customers depend on it. */
    public readonly setup: command.remote.Command;
    public readonly record: powerdns.Record;
    /** The SSH port and pinned host key, for the other hosts that pull customers from this one. */
    public readonly sshPort: number;
    public readonly hostKey: string;
    /**
     * The host's own move key (public), made by host-setup.yml: the host a customer leaves
     * lets it in for that customer while the customer moves here.
     */
    public readonly moveKey: pulumi.Output<string | undefined>;

    constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("osm:hosting:Host", name, {}, opts);
        const h = args.host;
        this.hostName = h.name;
        this.address = h.address;
        this.sshPort = h.sshPort;
        this.hostKey = h.hostKey;
        this.fqdn = hostFqdn(h.name, args.domain);
        this.connection = sshConnection({ address: h.address, port: h.sshPort, user: args.sshUser, hostKey: h.hostKey, privateKey: args.sshPrivateKey });

        this.record = new powerdns.Record(`${name}-a`, {
            apiUrl: args.dns.apiUrl, apiKey: args.dns.apiKey, zone: args.dns.zone, ttl: args.dns.ttl,
            name: absolute(this.fqdn), type: "A", records: [h.address],
            ...(h.adopt ? { adoptId: `${args.dns.zone}/${absolute(this.fqdn)}/A`, adoptTtl: args.dns.keepAdoptedTtl } : {}),
        }, { parent: this });

        const bootstrap = new command.remote.Command(`${name}-bootstrap`, {
            connection: this.connection,
            create: BOOTSTRAP_SCRIPT,
            addPreviousOutputInEnv: false,
        }, { parent: this });

        const ansible = new command.remote.CopyToRemote(`${name}-ansible`, {
            connection: this.connection,
            source: new pulumi.asset.FileArchive(args.ansible.source),
            remotePath: REMOTE_ROOT,
        }, { parent: this, dependsOn: [bootstrap] });

        const environment: Record<string, pulumi.Input<string>> = {
            OSM_HOST_NAME: h.name,
            OSM_DOMAIN: args.domain,
            OSM_ACME_SERVER: args.acme.server,
            OSM_ACME_EMAIL: args.acme.email,
            OSM_ACME_DNS_SERVER: args.acme.dnsServer,
            OSM_ACME_DNS_PORT: String(args.acme.dnsPort),
            OSM_ACME_DNS_PROPAGATION_SECONDS: String(args.acme.propagationSeconds),
            OSM_ACME_TSIG_KEY: args.acme.tsigKey,
            OSM_ACME_TSIG_ALGORITHM: args.acme.tsigAlgorithm,
            // Through the SSH environment, never the command line; the environment is then
            // secret in the state as a whole.
            OSM_ACME_TSIG_SECRET: pulumi.secret(args.acmeTsigSecret),
            OSM_PLAYBOOK_HASH: args.ansible.hashOf(HOST_SETUP),
        };
        if (args.acme.caBundle) environment.OSM_ACME_CA_BUNDLE = args.acme.caBundle;
        if (args.bases) environment.OSM_BASES = args.bases;
        if (args.baseSeed !== undefined) environment.OSM_BASE_SEED = args.baseSeed;
        for (const [k, v] of Object.entries(args.backupEnv ?? {})) {
            environment[k] = BACKUP_SECRET_ENV.includes(k) ? pulumi.secret(v) : v;
        }
        this.setup = new command.remote.Command(`${name}-setup`, {
            connection: this.connection,
            create: playbook(HOST_SETUP),
            environment,
            addPreviousOutputInEnv: false,
        }, { parent: this, dependsOn: [ansible] });

        this.moveKey = this.setup.stdout.apply(parseMoveKey);
        this.registerOutputs({ fqdn: this.fqdn, address: this.address });
    }
}

/**
 * The move key in host-setup.yml's result line; "" when the result has none (a setup of before
 * moves existed), undefined when there is no result at all (evaluated without hosts, as the
 * plan does). Only a move needs it, and says so (see Customer).
 */
export function parseMoveKey(stdout: string | undefined): string | undefined {
    if (stdout === undefined) return undefined;
    const last = stdout.trim().split("\n").pop() ?? "";
    try {
        const key = (JSON.parse(last) as { moveKey?: unknown }).moveKey;
        return typeof key === "string" && acceptsEnv("OSM_MOVE_PEER_KEY", key) ? key : "";
    } catch {
        return "";
    }
}
