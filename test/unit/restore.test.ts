/**
 * Restores (issue 13, item 3), the program's part: a customer with `"restore"` in customers.json,
 * or on a host the stack config marks `lost`, is created from its backup (OSM_RESTORE_FROM), with
 * no move from a host that cannot answer; a lost host's own resources leave the program, and each
 * container's delete goes with its host's A record (deletedWith), so nothing waits on a dead host.
 * Refused, naming the fix: a restore on another host while the customer still runs on its own, a
 * pin to a lost host, a lost host without backups, restore with adopt, a delete in the update that
 * removes its host; and the plan shows each restore.
 */
import * as assert from "assert";
import { readSettings } from "../../components/config";
import { CustomerEntry } from "../../components/customers";
import { planFleet } from "../../components/fleet-plan";
import { emptyLock } from "../../components/placements-lock";
import { InputError, Problem } from "../../components/problems";
import { Evaluation, Registered, unwrapSecrets } from "../../scripts/lib/engine";
import { formatDiff } from "../../scripts/lib/plan-report";
import { HOST_KEYS, lookupOf, runProgram, runRefused, Scratch, SENTINEL_SSH_KEY, TEST_SECRETS, testHosts, testSettings } from "./support/fleet";

const SFTP = { repository: "sftp:osmbackup@backup.example.org:/srv/restic/osm", schedule: "*-*-* 02:30:00", keep: { daily: 7, weekly: 4, monthly: 6 },
    sftpKnownHosts: `backup.example.org ${HOST_KEYS.alpha.split(" ").slice(0, 2).join(" ")}` };
const SECRETS = { ...TEST_SECRETS, backupPassword: "correct-horse-battery-staple", backupSftpKey: SENTINEL_SSH_KEY };
const COMMAND = "command:remote:Command";

/** The test fleet with backups, gamma lost (it was only draining). */
function lostGamma(overrides: Record<string, unknown> = {}) {
    return testSettings({ backup: SFTP, hosts: testHosts().map((h) => h.name === "gamma" ? { ...h, lost: true } : h), ...overrides });
}

function byName(ev: Evaluation<any>, name: string, type = COMMAND): Registered {
    const found = ev.resources.filter((r) => r.name === name && r.type === type);
    assert.strictEqual(found.length, 1, `one ${type} named ${name}`);
    return found[0];
}

function messages(err: InputError): string {
    return err.problems.map((p) => `${p.path}: ${p.message}`).join("\n");
}

describe("restore: from a backup, onto a host, declared in customers.json or by a lost host", function () {
    this.timeout(60_000);
    const scratch = new Scratch();
    after(() => scratch.cleanup());

    it("a lost host's customers are restored from their latest backups on the others: no move from it, none of its resources left", async () => {
        const customersFile = scratch.customers({ customers: [{ name: "Acme" }, { name: "Old Mill" }] });
        const previous = { "acme": { host: "gamma", mqttPort: 30001 }, "old-mill": { host: "alpha", mqttPort: 30002 } };
        const ev = await runProgram({ customersFile, previous, settings: lostGamma(), secrets: SECRETS });
        const to = ev.outputs.placements.acme;
        assert.notStrictEqual(to.host, "gamma");
        assert.strictEqual(to.mqttPort, 30001, "its devices' port goes with it");
        const env = unwrapSecrets(byName(ev, "acme-container").inputs).environment;
        assert.strictEqual(env.OSM_RESTORE_FROM, "latest");
        assert.strictEqual(env.OSM_MOVE_FROM_ADDRESS, undefined, "nothing is pulled from a lost host");
        assert.ok(!ev.resources.some((r) => r.name.endsWith("-move-grant")), "no grant on a lost host");
        assert.ok(!ev.resources.some((r) => r.name.startsWith("gamma")), "a lost host declares nothing: its A record and commands go");
        assert.strictEqual(unwrapSecrets(byName(ev, "old-mill-container").inputs).environment.OSM_RESTORE_FROM, undefined, "a customer of a live host is not restored");
    });

    it("every container goes with its host's A record (deletedWith), so a lost host's deletes are never run; a move grant does not (its revoke runs on a host removed after a drain)", async () => {
        const customersFile = scratch.customers({ customers: [{ name: "Acme", host: "alpha" }, { name: "Old Mill" }] });
        const ev = await runProgram({ customersFile, previous: { acme: { host: "beta", mqttPort: 30001 } }, settings: testSettings(), secrets: TEST_SECRETS });
        const record = (host: string) => byName(ev, `${host}-a`, "pulumi-nodejs:dynamic:Resource").urn;
        for (const label of ["acme", "old-mill"]) {
            const c = byName(ev, `${label}-container`);
            assert.strictEqual(c.options.deletedWith, record(ev.outputs.placements[label].host), `${label}-container deletedWith its host's record`);
        }
        assert.strictEqual(byName(ev, "acme-move-grant").options.deletedWith, undefined, "the grant's revoke always runs");
    });

    it("customers.json restore.from reaches the host as OSM_RESTORE_FROM; customers without it are told nothing", async () => {
        const customersFile = scratch.customers({ customers: [{ name: "Acme", restore: { from: "0a1b2c3d" } }, { name: "Old Mill" }] });
        const ev = await runProgram({ customersFile, previous: { acme: { host: "alpha", mqttPort: 30001 } }, settings: testSettings({ backup: SFTP }), secrets: SECRETS });
        assert.strictEqual(unwrapSecrets(byName(ev, "acme-container").inputs).environment.OSM_RESTORE_FROM, "0a1b2c3d");
        assert.ok(!("OSM_RESTORE_FROM" in unwrapSecrets(byName(ev, "old-mill-container").inputs).environment));
    });

    it("a restore on another host while the customer runs on its own (not lost) is refused, with the ways out", async () => {
        const customersFile = scratch.customers({ customers: [{ name: "Acme", host: "beta", restore: { from: "latest" } }] });
        const { err, registered } = await runRefused({ customersFile, previous: { acme: { host: "alpha", mqttPort: 30001 } }, settings: testSettings({ backup: SFTP }), secrets: SECRETS });
        assert.match(messages(err), /customer "acme" has a restore request for host "beta" but runs on host "alpha", which is not lost: .*remove "restore" \(a move copies it\).*set lost: true on it/);
        assert.ok(!registered.some((u) => u.includes("command:remote:Command")), "nothing registered");
    });

    it("a pin to a lost host is refused", async () => {
        const customersFile = scratch.customers({ customers: [{ name: "Acme", host: "gamma" }] });
        const { err } = await runRefused({ customersFile, settings: lostGamma(), secrets: SECRETS });
        assert.match(messages(err), /customer "acme" is pinned to host "gamma", which is lost .*pin another host, or remove the pin/);
    });

    it("the stack config: lost needs a backup to restore from, and a host that is not lost; lost drains", () => {
        const problems = (values: Record<string, unknown>): Problem[] => {
            try {
                readSettings(lookupOf({ ...values, ...SECRETS }), "Pulumi.unit.yaml");
                return [];
            } catch (e) {
                if (e instanceof InputError) return e.problems;
                throw e;
            }
        };
        const noBackup = problems(testSettings({ hosts: testHosts().map((h) => h.name === "gamma" ? { ...h, lost: true } : h) }));
        assert.ok(noBackup.some((p) => p.path === "osm-hosting:hosts[2].lost" && /no osm-hosting:backup is configured, so its customers have no backups/.test(p.message)), JSON.stringify(noBackup));
        const all = problems(testSettings({ backup: SFTP, hosts: testHosts().map((h) => ({ ...h, lost: true })) }));
        assert.ok(all.some((p) => p.path === "osm-hosting:hosts" && /every host is lost/.test(p.message)), JSON.stringify(all));
        const { settings } = readSettings(lookupOf({ ...lostGamma(), ...SECRETS }), "Pulumi.unit.yaml");
        const gamma = settings.hosts.find((h) => h.name === "gamma")!;
        assert.deepStrictEqual([gamma.lost, gamma.drain], [true, true]);
        assert.strictEqual(settings.hosts.find((h) => h.name === "alpha")!.lost, false);
    });

    it("customers.json: restore.from is latest or a snapshot id; restore excludes adopt", async () => {
        for (const [entry, says] of [
            [{ name: "Acme", restore: { from: "yesterday" } }, /\/customers\/0\/restore\/from: must be "latest", or the id of one of its snapshots .*\(got "yesterday"\)/],
            [{ name: "Acme", restore: {} }, /\/customers\/0\/restore.*from/],
            [{ name: "Acme", host: "alpha", mqttPort: 30001, adopt: true, restore: { from: "latest" } }, /\/customers\/0\/restore: restore and adopt: true exclude each other/],
        ] as const) {
            const { err } = await runRefused({ customersFile: scratch.customers({ customers: [entry] }), settings: testSettings({ backup: SFTP }), secrets: SECRETS });
            assert.match(messages(err), says);
        }
    });

    describe("the plan", () => {
        const hosts = readSettings(lookupOf({ ...lostGamma(), ...SECRETS }), "Pulumi.unit.yaml").settings.hosts;
        const entry = (label: string, extra: Partial<CustomerEntry> = {}): CustomerEntry =>
            ({ name: label, label, labelSource: "name", adopt: false, mqttWebsocket: false, grafanaPlugins: [], ...extra });
        const plan = (customers: CustomerEntry[], deployed: Record<string, { host: string; mqttPort: number }>, hostList = hosts) => planFleet({
            settings: { hosts: hostList, customersFile: "customers.json", maxDeletes: 1 }, customers, lock: emptyLock(), lockFile: "placements.lock.json",
            stack: "unit", deployed, deployedSource: "test", stackFile: "Pulumi.unit.yaml",
        });

        it("lists each restore (from where to where, from which backup) under a warning at the top", () => {
            const p = plan([entry("acme"), entry("old-mill", { restoreFrom: "0a1b2c3d" }), entry("new-co", { restoreFrom: "latest" })],
                { "acme": { host: "gamma", mqttPort: 30001 }, "old-mill": { host: "alpha", mqttPort: 30002 } });
            assert.deepStrictEqual(p.restores, { "acme": "latest", "old-mill": "0a1b2c3d", "new-co": "latest" });
            const lines = formatDiff(p.diff, "test.example").join("\n");
            assert.match(lines, /^WARNING: this plan restores 3 customers \(acme, new-co, old-mill\) from backups/m);
            assert.match(lines, /<\s+acme\s+"acme"\s+restore gamma:30001 -> (alpha|beta):30001 from its backup \(latest\), gamma being lost/);
            assert.match(lines, /<\s+old-mill\s+"old-mill"\s+restore in place on alpha:30002 from its backup \(0a1b2c3d\): its data now is replaced .*stop its container first/);
            assert.match(lines, /<\s+new-co\s+"new-co"\s+restore on \S+ from its backup \(latest\)/);
            assert.match(lines, /Plan: 3 to restore, 0 unchanged/);
        });

        it("refuses to delete a customer in the update that removes its host (the archive would not be made), unless the host is lost", () => {
            const live = hosts.filter((h) => h.name !== "gamma");
            assert.throws(() => plan([entry("acme")], { "acme": { host: "alpha", mqttPort: 30001 }, "gone-co": { host: "gamma", mqttPort: 30002 } }, live),
                (e: unknown) => e instanceof InputError && /customer "gone-co" would be deleted in the same update that removes its host "gamma" .*keep the host until the delete has run/.test(messages(e)));
            // Lost: nothing can be archived there any more; the delete is the plan's to show.
            const p = plan([entry("acme")], { "acme": { host: "alpha", mqttPort: 30001 }, "gone-co": { host: "gamma", mqttPort: 30002 } });
            assert.deepStrictEqual(p.diff.changes.map((c) => [c.kind, c.label]), [["delete", "gone-co"]]);
        });
    });
});
