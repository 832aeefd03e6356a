/**
 * What an operator runs to mend each kind of problem. The one home of those texts, so the
 * table, --json and the tests say the same. Paths on hosts come from the host contract.
 */
import { PROJECT } from "../../../components/config";
import { hostContract } from "../../../components/contract";

/** The host layout values verify names in its advice (ansible/vars/osm.yml). */
export interface Layout {
    osm_remote_root: string;
    osm_containers_dir: string;
    osm_letsencrypt_dir: string;
    osm_nginx_dir: string;
    /** The lineage of each host's one certificate, for *.<domain>. */
    osm_wildcard_cert_name: string;
}

/** The layout from the host contract (parsed once, by components/contract.ts). */
export function layout(): Layout {
    const c = hostContract();
    return {
        osm_remote_root: c.remoteRoot, osm_containers_dir: c.containersDir, osm_letsencrypt_dir: c.letsencryptDir,
        osm_nginx_dir: c.nginxDir, osm_wildcard_cert_name: c.wildcardCertName,
    };
}

/** The command that runs osm-status on a host (root; through python3: CopyToRemote drops modes). */
export function statusCommand(sshUser: string): string {
    return `${sshUser === "root" ? "" : "sudo -n "}/usr/bin/python3 ${layout().osm_remote_root}/ansible/files/osm-status`;
}

/** URN of one of a customer's commands, for `pulumi up --replace`. */
export function customerUrn(stack: string, label: string, command: "container"): string {
    return `urn:pulumi:${stack}::${PROJECT}::osm:hosting:Customer$command:remote:Command::${label}-${command}`;
}

/** Advice texts, by situation. */
export const act = {
    dnsRecord: (stack: string) => `pulumi refresh -s ${stack} (sees the hand edit), then pulumi up -s ${stack} (puts the record back)`,
    hostRecord: (stack: string) => `pulumi refresh -s ${stack}, then pulumi up -s ${stack} (puts the host's A record back)`,
    dnsServer: (server: string) => `PowerDNS at ${server} does not answer: check that pdns_server runs there and that this machine may ask it (--dns-server HOST:PORT to ask another)`,
    reprovision: (stack: string, label: string) => `re-run its provisioning (idempotent, keeps data and credentials): on its host, OSM_CUSTOMER=${label} and the rest of its OSM_* environment (pulumi stack export -s ${stack}) with bash ${layout().osm_remote_root}/ansible/run customer.yml; never --replace '${customerUrn(stack, label, "container")}', which archives it and starts it empty`,
    recreate: (stack: string, label: string) => `re-create it (a new container starts empty): pulumi up -s ${stack} --replace '${customerUrn(stack, label, "container")}'`,
    start: (host: string, label: string) => `start it on ${host}: lxc-start -n ${label} (why it stopped: ${layout().osm_containers_dir}/${label}/lxc.log)`,
    unreachable: (host: string) => `the host ${host} is down or unreachable: check its power and network (console), then run verify again`,
    hostKey: (host: string, stack: string) => `nothing was sent. If ${host} was reinstalled, read its new key on the console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then update its hostKey in Pulumi.${stack}.yaml; otherwise treat it as a possible attack`,
    sshAuth: (host: string) => `the host refused the SSH key: pass the stack's key with --ssh-key FILE (pulumi config get osm-hosting:sshPrivateKey), or check authorized_keys on ${host}`,
    shipAnsible: (stack: string) => `osm-status is not on the host: pulumi up -s ${stack} copies the ansible folder there`,
    renew: (host: string, lineage: string) => `renew it on ${host}: certbot renew --cert-name ${lineage} (renewals normally run twice a day: check certbot's timer on ${host})`,
    mqttCredentials: (stack: string) => `the credentials file does not match the host: export it again (pulumi stack output -s ${stack} --show-secrets --json > FILE); if it is current, re-run the provisioning`,
    anonymous: (stack: string, label: string) => `the broker lets a wrong password in: ${act.reprovision(stack, label)}`,
    startNginx: (host: string) => `start NGINX on ${host}: bash ${layout().osm_remote_root}/ansible/files/osm-nginx ensure-running (nginx -t shows why it does not start)`,
    unowned: (host: string, label: string, elsewhere?: string) =>
        `${elsewhere ? `the stack places ${label} on ${elsewhere}: this copy is left over. ` : ""}If nobody needs it, archive and remove it on ${host}: ` +
        `OSM_CUSTOMER=${label} bash ${layout().osm_remote_root}/ansible/run container-delete.yml; to keep it, add the customer to customers.json pinned to ${host} and its port, with "adopt": true`,
    firewallPort: (host: string, port: number) => `on ${host}: remove the port file holding ${port} from the firewall folder, then bash ${layout().osm_remote_root}/ansible/files/osm-firewall apply`,
    statusErrors: (host: string) => `osm-status on ${host} could not read part of the host: run it there by hand (python3 ${layout().osm_remote_root}/ansible/files/osm-status) and mend what it names`,
};
