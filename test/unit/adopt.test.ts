/**
 * Adopting the old orchestrator's customers in place (issue 12 item 2), the program's part: an
 * `adopt: true` customer's playbook is told its upstream container (`<name>-svr`, the name as the
 * orchestrator stored it) and nothing changes for the others; a name that cannot be such a
 * container is refused; moving, restoring elsewhere or renaming an adopted customer is refused
 * before anything runs, naming the customer and what to keep; verify counts an adopted container
 * as its customer's, and an upstream one not adopted yet as no customer's.
 */
import * as assert from "assert";
import { customerNames } from "../../components/naming";
import { customerDrift, hostDrift } from "../../scripts/lib/verify/drift";
import { DeclaredFleet, HostStatus } from "../../scripts/lib/verify/types";
import { Evaluation, unwrapSecrets } from "../../scripts/lib/engine";
import { HOST_KEYS, runProgram, runRefused, Scratch, SENTINEL_SSH_KEY, TEST_SECRETS, testHosts, testSettings } from "./support/fleet";

const COMMAND = "command:remote:Command";
const envOf = (ev: Evaluation<any>, label: string) => unwrapSecrets(ev.resources.find((r) => r.name === `${label}-container` && r.type === COMMAND)!.inputs).environment;

describe("adopt: the old orchestrator's container taken over in place", function () {
    this.timeout(60_000);
    const scratch = new Scratch();
    after(() => scratch.cleanup());
    const adopted = { name: "Harbour Cold Store", host: "beta", mqttPort: 8901, adopt: true };

    it("the adopted customer's playbook is told its container <name>-svr; the others' environment is unchanged", async () => {
        const customersFile = scratch.customers({ customers: [adopted, { name: "Acme" }] });
        const ev = await runProgram({ customersFile });
        assert.strictEqual(envOf(ev, "harbour-cold-store").OSM_ADOPT_CONTAINER, "Harbour Cold Store-svr");
        assert.ok(!("OSM_ADOPT_CONTAINER" in envOf(ev, "acme")));
        // The same customer without adopt: no such variable (its environment as before this release).
        const plain = await runProgram({ customersFile: scratch.customers({ customers: [{ ...adopted, adopt: false }, { name: "Acme" }] }) });
        assert.ok(!("OSM_ADOPT_CONTAINER" in envOf(plain, "harbour-cold-store")));
        assert.deepStrictEqual(envOf(plain, "acme"), envOf(ev, "acme"));
    });

    it("a name that cannot be the orchestrator's container is refused, naming the field", async () => {
        const customersFile = scratch.customers({ customers: [{ name: "Acme & Sons", label: "acme", host: "beta", mqttPort: 8901, adopt: true }] });
        const { err, registered } = await runRefused({ customersFile });
        assert.match(err.message, /adopt: true takes over the old orchestrator's container "Acme & Sons-svr".*give "name" exactly as the orchestrator stored it/);
        assert.deepStrictEqual(registered, []);
    });

    it("moving an adopted customer to another host is refused before anything runs, with what to keep", async () => {
        const customersFile = scratch.customers({ customers: [{ ...adopted, host: "alpha" }] });
        const { err, registered } = await runRefused({ customersFile, previous: { "harbour-cold-store": { host: "beta", mqttPort: 8901 } } });
        assert.match(err.message, /customer "harbour-cold-store" is adopted \(it runs in the old orchestrator's container Harbour Cold Store-svr on host "beta"\).*not supported yet: keep its "host" pin to "beta"/);
        assert.deepStrictEqual(registered, []);
    });

    it("an adopted customer on a lost host is not restored elsewhere: refused", async () => {
        const customersFile = scratch.customers({ customers: [{ name: "Harbour Cold Store", mqttPort: 8901, host: "alpha", adopt: true }] });
        const settings = testSettings({
            backup: { repository: "sftp:osmbackup@backup.example.org:/srv/restic/osm", schedule: "daily", keep: { daily: 7, weekly: 4, monthly: 6 },
                sftpKnownHosts: `backup.example.org ${HOST_KEYS.alpha.split(" ").slice(0, 2).join(" ")}` },
            hosts: testHosts().map((h) => h.name === "beta" ? { ...h, lost: true } : h),
        });
        const { err } = await runRefused({ customersFile, settings, secrets: { ...TEST_SECRETS, backupPassword: "correct-horse-battery-staple", backupSftpKey: SENTINEL_SSH_KEY },
            previous: { "harbour-cold-store": { host: "beta", mqttPort: 8901 } } });
        assert.match(err.message, /customer "harbour-cold-store" is adopted .*moving or restoring an adopted customer on another host \("alpha"\) is not supported yet/);
    });

    it("renaming an adopted customer is refused (the new label would take over the same container, the old one's delete remove it)", async () => {
        const customersFile = scratch.customers({ customers: [{ ...adopted, label: "harbour", previousLabel: "harbour-cold-store" }] });
        const { err } = await runRefused({ customersFile, previous: { "harbour-cold-store": { host: "beta", mqttPort: 8901 } } });
        assert.match(err.message, /customer "harbour" is adopted, and renaming it \(from "harbour-cold-store"\) is not supported yet.*keep its label \("label": "harbour-cold-store"\)/);
    });

    it("verify: an adopted container is its customer's; an upstream one not adopted is no customer's", () => {
        const domain = "osm.example.test";
        const fleet: DeclaredFleet = {
            stack: "prod", domain, sshUser: "root", zone: domain, powerdnsHost: "ns1.example.test",
            hosts: [{ name: "osm1", fqdn: `osm1.${domain}`, address: "192.0.2.1", sshPort: 22, hostKey: "ssh-ed25519 AAAA", drain: false }],
            customers: [{ label: "quayside", host: "osm1", mqttPort: 8931, names: customerNames("quayside", domain, true) }],
        };
        const names = Object.values(fleet.customers[0].names).sort();
        const status: HostStatus = {
            host: "osm1", time: "2026-12-01T00:00:00Z", errors: [],
            containers: [
                { name: "quayside-svr", state: "RUNNING", managed: false, adopted: true, customer: "quayside", address: "10.0.3.11" },
                { name: "northfield-svr", state: "RUNNING", managed: false, address: "10.0.3.13" },
            ],
            nginx: { running: true, sites: [{ file: "quayside.conf", customer: "quayside", names, certificates: [] }],
                streams: [{ file: "quayside.conf", customer: "quayside", ports: [8931], upstreams: ["10.0.3.11:1883"] }] },
            firewall: { loaded: true, mqttPorts: [8931], portFiles: { quayside: 8931 } },
            certificates: [{ lineage: "osm--wildcard", names: [`*.${domain}`], daysLeft: 80 }],
            archives: [],
        };
        assert.deepStrictEqual(customerDrift(fleet, fleet.customers[0], status), []);
        assert.deepStrictEqual(hostDrift(fleet, fleet.hosts[0], status).map((f) => f.problem), ["container northfield-svr (running) no customer owns"]);
        status.containers![0].state = "STOPPED";
        const [stopped] = customerDrift(fleet, fleet.customers[0], status);
        assert.strictEqual(stopped.problem, "container stopped");
        assert.match(stopped.action, /customer\.yml/, "its playbook starts it as the old orchestrator does");
    });
});
