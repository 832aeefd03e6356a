// osm-hosting: customers.json + stack config -> placed, validated hosting for every customer.
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { shipAnsible } from "./components/ansible-bundle";
import { basesByHost, customerBases, formatWaves, inWaveOrder, wavePredecessors } from "./components/bases";
import { backupEnvironment, DEFAULT_UPGRADE_CONCURRENCY, PROJECT } from "./components/config";
import { Customer } from "./components/customer";
import { pluginsEnv } from "./components/grafana-plugins";
import { Host } from "./components/host";
import { planFleet } from "./components/fleet-plan";
import { loadInputs } from "./components/inputs";
import { projectRoot } from "./components/paths";
import { movedFrom, usage } from "./components/placement";
import { PowerDnsDatabase } from "./components/powerdns-database";
import { previousOutputs } from "./components/previous";
import { isConfigSecret } from "./components/stack-secrets";

export = async () => {
    // 1. Inputs, all checked before a single resource is registered.
    const root = projectRoot();
    const stackFile = `Pulumi.${pulumi.getStack()}.yaml`;
    const { settings, secrets, customers, lock, lockFile } = loadInputs((key) => pulumi.runtime.getConfig(`${PROJECT}:${key}`),
        stackFile, Object.keys(pulumi.runtime.allConfig()), root, pulumi.getStack(), isConfigSecret);
    // Placements: the lock's and the deployed ones (which must agree), then new customers placed;
    // refused when the update would delete more customers than osm-hosting:maxDeletes allows;
    // customers whose base changes in place are upgraded in waves per host.
    const { placements: deployed, bases: deployedBases } = await previousOutputs();
    const { placements, restores, waves } = planFleet({
        settings, customers, lock, lockFile, stack: pulumi.getStack(), stackFile,
        deployed, deployedSource: `the stack's "placements" output`, deployedBases,
    });
    const bases = customerBases(customers, settings.bases);
    // The preview's and the update's messages list the waves (the lines `npm run plan` prints);
    // under mocks (plan, tests, lab) there is no engine to tell.
    if (pulumi.runtime.getEngine()) {
        for (const line of formatWaves(waves, settings.bases?.upgradeConcurrency ?? DEFAULT_UPGRADE_CONCURRENCY)) void pulumi.log.info(line);
    }

    // 2. Shared inputs of the components; secrets stay secrets from here on.
    const sshPrivateKey = pulumi.secret(secrets.sshPrivateKey);
    const dns = { ...settings.powerdns, apiKey: pulumi.secret(secrets.powerdnsApiKey) };
    const ansible = shipAnsible(path.join(root, "ansible"), path.join(root, "build", "ansible-bundle"));

    // 3. Hosts (a lost one has nothing left to run: its resources go) with the bases their
    // customers use, then each customer on the host it was placed on, restored from its backup
    // where asked or where its host is lost; an upgrade waits for the wave before it on its host.
    const hostBases = basesByHost(settings.bases?.specs ?? {}, bases, placements);
    const hosts = new Map(settings.hosts.filter((h) => !h.lost).map((h) => [h.name, new Host(h.name, {
        host: h, domain: settings.domain, sshUser: settings.sshUser, sshPrivateKey, dns, acme: settings.acme, ansible,
        acmeTsigSecret: pulumi.secret(secrets.acmeTsigSecret), backupEnv: backupEnvironment(settings.backup, secrets),
        bases: hostBases[h.name], baseSeed: settings.bases?.baseSeed,
    })]));
    const before = wavePredecessors(waves);
    const built = new Map<string, Customer>();
    for (const c of inWaveOrder(customers, waves)) built.set(c.label, new Customer(c.label, {
        label: c.label, domain: settings.domain, host: hosts.get(placements[c.label].host)!, mqttPort: placements[c.label].mqttPort, adopt: c.adopt, adoptContainer: c.upstreamContainer, mqttWebsocket: c.mqttWebsocket,
        dns, limits: settings.containerLimits, ansible, movedFrom: movedFrom(deployed[c.label]?.host, placements[c.label].host, hosts),
        restoreFrom: restores[c.label], grafanaPlugins: c.grafanaPlugins, grafanaPluginSource: settings.grafanaPluginSource,
        base: bases[c.label], after: (before[c.label] ?? []).map((l) => built.get(l)!.container),
    }));
    const fleet = customers.map((c) => built.get(c.label)!);

    // 4. PowerDNS's own MySQL database, when the stack manages it.
    const mysql = settings.powerdnsMysql && new PowerDnsDatabase("powerdns-mysql", {
        ...settings.powerdnsMysql, adminPassword: pulumi.secret(secrets.powerdnsMysqlAdminPassword!),
    });

    return {
        placements,
        hosts: usage(settings.hosts, placements),
        customers: Object.fromEntries(fleet.map((c, i) => [c.label, {
            name: customers[i].name, host: c.hostName, mqttEndpoint: c.mqttEndpoint, urls: c.urls, credentials: c.credentials,
            ...(customers[i].grafanaPlugins.length ? { grafanaPlugins: pluginsEnv(customers[i].grafanaPlugins).split(" ") } : {}),
        }])),
        // What each customer runs on, read back by the next update (components/previous.ts): only with bases.
        ...(settings.bases ? { bases } : {}),
        ...(mysql ? { powerdnsMysql: { database: mysql.database, user: mysql.user, password: mysql.password } } : {}),
    };
};
