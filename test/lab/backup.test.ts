/**
 * Issue 13 (first part), in the lab: a fleet host whose stack configures osm-hosting:backup, and a
 * second lab host, not in the fleet, as the backup server (its sshd, SFTP, a key of its own, its
 * host key pinned). Two customers with data in their containers; the timer's service run as
 * systemd would run it; then: both customers' snapshots in the repository (restic's own listing),
 * their data in them, osm-status and verify reporting them; a customer whose playbook holds its
 * lock backed up only once it is done; an unchanged second run adding almost
 * nothing, retention pruning; an unreachable repository and a wrong password failing loudly, one
 * journal line per customer, the customers running on; a deleted customer's archive stored in the
 * repository.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import { CustomersFileEntry } from "../../components/customers";
import { hostContract } from "../../components/contract";
import { Deployment } from "../../lab/executor";
import { LabStack } from "../../lab/lab-stack";
import { prepareBackupServer, resticOnHost, runBackupService, withBackup } from "../../lab/backup-server";
import { credentialsOf, deployConfig, labFleet, labStackConfig, labVerifyOptions } from "../../lab/verify-stack";
import { formatReport } from "../../scripts/lib/verify/report";
import { verifyFleet } from "../../scripts/lib/verify/run";
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (SDK internals, a test double or a computed path)
const program: () => Promise<any> = require("../../index");

const [H1, BK] = ["osm-bk1", "osm-bksrv"];
const CUSTOMERS = ["alder-farm", "birch-farm"];
const REMOTE = hostContract().remoteRoot;
const BACKUP_DIR = "/etc/osm/backup";

describe("backups in the lab: a nightly run into an SFTP repository on a backup server", function () {
    this.timeout(900_000);
    let stack: LabStack;
    let current: Deployment;
    let config: Record<string, string>;
    let secretKeys: string[];
    const password = `lab-${crypto.randomBytes(12).toString("hex")}`;
    const markers = new Map<string, string>();
    const figures: string[] = [];

    const runService = () => runBackupService(stack.lab, H1);

    /** The repository's snapshots, as restic lists them on the fleet host (read-only). */
    async function snapshots(tag: string): Promise<{ short_id: string; tags: string[]; time: string }[]> {
        const r = await resticOnHost(stack.lab, H1, ["snapshots", "--json", "--tag", tag]);
        assert.strictEqual(r.code, 0, `restic snapshots failed: ${r.stderr}`);
        const doc = JSON.parse(r.stdout.trim() || "null");
        assert.ok(Array.isArray(doc), `restic snapshots gave no list: ${r.stdout.slice(0, 300)}`);
        return doc;
    }

    async function lastRun(): Promise<any> {
        return JSON.parse((await stack.lab.exec(H1, "cat", ["/var/lib/osm/backup-last-run.json"])).stdout);
    }

    async function state(label: string): Promise<string> {
        return (await stack.lab.exec(H1, "lxc-info", ["-n", label, "-sH"])).stdout.trim();
    }

    async function deploy(customers: CustomersFileEntry[], opts: { deleteRemoved?: boolean } = {}): Promise<Deployment> {
        const c = labStackConfig(stack, customers, [{ name: H1, capacity: 10 }, { name: BK, capacity: 1, removed: true }]);
        withBackup(stack, c, BK, password, { daily: 2, weekly: 1, monthly: 1 });
        current = await deployConfig(stack, program, c, current, opts);
        config = c.config;
        secretKeys = c.secretKeys;
        return current;
    }

    before(async function () {
        stack = await LabStack.start({ id: "backup", hostNames: [H1, BK] });
        // The backup server lets the fleet's backup key in (its own key, not the lab's).
        await prepareBackupServer(stack.lab, BK);
    });

    after(async function () {
        if (figures.length) console.log(`      backup figures:\n${figures.map((f) => `        ${f}`).join("\n")}`);
        if (stack) await stack.stop();
    });

    it("host set-up installs the timer with the stack's schedule and a random delay, the secrets root-only", async () => {
        const t = Date.now();
        await deploy(CUSTOMERS.map((l) => ({ name: l.replace(/-/g, " ").replace(/\b\w/g, (x) => x.toUpperCase()), host: H1 })));
        figures.push(`deploy of the host and two customers: ${((Date.now() - t) / 1000).toFixed(1)} s`);
        for (const l of CUSTOMERS) assert.strictEqual(current.outputs.placements[l].host, H1);
        const timer = (await stack.lab.exec(H1, "cat", ["/etc/systemd/system/osm-backup.timer"])).stdout;
        assert.match(timer, /^OnCalendar=\*-\*-\* 02:30:00$/m);
        assert.match(timer, /^RandomizedDelaySec=1800$/m);
        const modes = (await stack.lab.exec(H1, "stat", ["-c", "%a %U %n", BACKUP_DIR, `${BACKUP_DIR}/password`, `${BACKUP_DIR}/id_sftp`, `${BACKUP_DIR}/known_hosts`])).stdout.trim().split("\n");
        assert.deepStrictEqual(modes, [`700 root ${BACKUP_DIR}`, `600 root ${BACKUP_DIR}/password`, `600 root ${BACKUP_DIR}/id_sftp`, `600 root ${BACKUP_DIR}/known_hosts`]);
        assert.strictEqual((await stack.lab.exec(H1, "cat", [`${BACKUP_DIR}/password`])).stdout, password);
        // Data in each customer's container.
        for (const l of CUSTOMERS) {
            const m = `marker-${crypto.randomBytes(6).toString("hex")}`;
            markers.set(l, m);
            const w = await stack.lab.exec(H1, "lxc-attach", ["-n", l, "--", "sh", "-c", `mkdir -p /srv/osm-backup && echo ${m} > /srv/osm-backup/marker`]);
            assert.strictEqual(w.code, 0, w.stderr);
        }
    });

    it("the timer's service backs up both customers (frozen while read, running after), with their data and credentials", async () => {
        const r = await runService();
        assert.strictEqual(r.code, 0, r.stderr);
        for (const l of CUSTOMERS) assert.match(r.stderr, new RegExp(`^osm-backup: customer ${l}: snapshot [0-9a-f]{8} `, "m"));
        const snaps = await snapshots("osm-data");
        for (const l of CUSTOMERS) {
            assert.strictEqual(snaps.filter((s) => s.tags.includes(`customer=${l}`)).length, 1, `one snapshot of ${l}`);
            assert.strictEqual(await state(l), "RUNNING", `${l} runs (thawed)`);
        }
        const first = await lastRun();
        for (const l of CUSTOMERS) assert.ok(first.customers[l].ok, JSON.stringify(first.customers[l]));
        // The marker and the credentials are in the snapshot (restic dump, read back on the host).
        for (const l of CUSTOMERS) {
            const id = snaps.find((s) => s.tags.includes(`customer=${l}`))!.short_id;
            const dump = async (file: string) => {
                const r = await resticOnHost(stack.lab, H1, ["dump", id, file]);
                assert.strictEqual(r.code, 0, `restic dump ${id} ${file}: ${r.stderr}`);
                return r.stdout;
            };
            const marker = (await dump(`/var/lib/osm/containers/${l}/upper/srv/osm-backup/marker`)).trim();
            const credentials = await dump(`/var/lib/osm/containers/${l}/credentials.json`);
            assert.strictEqual(marker, markers.get(l), `${l}'s marker in snapshot ${id}`);
            assert.strictEqual(JSON.parse(credentials).mqttPassword, current.outputs.customers[l].credentials.mqttPassword, `${l}'s credentials in snapshot ${id}`);
        }
        figures.push(`first run, two customers: ${r.seconds.toFixed(1)} s; ${CUSTOMERS.map((l) => `${l} ${first.customers[l].bytesAdded} bytes added, frozen ${first.customers[l].frozenSeconds} s`).join("; ")}`);

        // An unchanged second run adds almost nothing, and retention (keep daily 2: one per day) prunes the first.
        const again = await runService();
        assert.strictEqual(again.code, 0, again.stderr);
        const second = await lastRun();
        for (const l of CUSTOMERS) {
            assert.ok(second.customers[l].bytesAdded < Math.max(200_000, first.customers[l].bytesAdded / 20), `${l}: second run added ${second.customers[l].bytesAdded} bytes (first ${first.customers[l].bytesAdded})`);
        }
        const after = await snapshots("osm-data");
        for (const l of CUSTOMERS) assert.strictEqual(after.filter((s) => s.tags.includes(`customer=${l}`)).length, 1, `${l}: the first snapshot of the day pruned`);
        figures.push(`unchanged second run: ${again.seconds.toFixed(1)} s; ${CUSTOMERS.map((l) => `${l} ${second.customers[l].bytesAdded} bytes added`).join("; ")}`);
    });

    // Issue 13's figures for a customer with 1 GiB of data: opt-in (OSM_BACKUP_GIB=1), not in CI's time.
    (process.env.OSM_BACKUP_GIB === "1" ? it : it.skip)("figures: 1 GiB customer, first and unchanged second backup, restore (OSM_BACKUP_GIB=1)", async () => {
        const l = CUSTOMERS[0];
        const w = await stack.lab.exec(H1, "lxc-attach", ["-n", l, "--", "sh", "-c", "head -c 1073741824 /dev/urandom > /srv/osm-backup/big && sync"]);
        assert.strictEqual(w.code, 0, w.stderr);
        const first = await runService();
        assert.strictEqual(first.code, 0, first.stderr);
        const a = (await lastRun()).customers[l];
        const second = await runService();
        assert.strictEqual(second.code, 0, second.stderr);
        const b = (await lastRun()).customers[l];
        const id = (await snapshots("osm-data")).find((s) => s.tags.includes(`customer=${l}`))!.short_id;
        const t = Date.now();
        const r = await resticOnHost(stack.lab, H1, ["restore", id, "--target", "/srv/restore-test"]);
        const size = await stack.lab.exec(H1, "sh", ["-c", "du -sb /srv/restore-test | cut -f1; rm -rf /srv/restore-test"]);
        const restoreSeconds = (Date.now() - t) / 1000;
        assert.strictEqual(r.code, 0, r.stderr.slice(-300));
        const restored = Number(size.stdout.trim());
        assert.ok(restored > 1073741824, `restored ${restored} bytes`);
        figures.push(`1 GiB customer ${l}: first backup ${a.seconds} s, ${a.bytesAdded} bytes added, frozen ${a.frozenSeconds} s; ` +
            `unchanged second ${b.seconds} s, ${b.bytesAdded} bytes added; restic restore of its snapshot (${restored} bytes) ${restoreSeconds.toFixed(1)} s`);
        await stack.lab.exec(H1, "lxc-attach", ["-n", l, "--", "rm", "-f", "/srv/osm-backup/big"]);
    });

    it("osm-status lists each customer's latest snapshot; verify reports it and passes", async () => {
        const status = JSON.parse((await stack.lab.exec(H1, "/usr/bin/python3", [`${REMOTE}/ansible/files/osm-status`])).stdout);
        assert.strictEqual(status.backups.configured, true);
        for (const l of CUSTOMERS) assert.match(status.backups.latest[l].time, /^\d{4}-\d\d-\d\dT/, JSON.stringify(status.backups));
        const rep = await verifyFleet(labVerifyOptions(stack, await labFleet(config, current), credentialsOf(current)));
        const text = formatReport(rep);
        assert.ok(rep.ok, `verify:\n${text}`);
        for (const l of CUSTOMERS) {
            const b = rep.results.find((r) => r.name === l && r.check === "backup")!;
            assert.strictEqual(b.status, "ok", text);
            assert.ok(b.backupAgeSeconds! < 600, text);
        }
        assert.match(text, /BACKUP/);
        assert.ok(!secretKeys.some((k) => text.includes(config[k])), "no secret in the report");
    });

    it("waits for a customer's lock while a playbook holds it (an upgrade, a move), backing it up once the playbook is done", async () => {
        // A playbook of the first customer runs (ansible/run's flock on its lock) for 6 s.
        const [busy, other] = CUSTOMERS;
        const lock = `${hostContract().locksDir}/customer-${busy}.lock`;
        const held = await stack.lab.sh(H1, `rm -f /tmp/lock-released; setsid flock "$1" sh -c 'echo held > /tmp/lock-held; sleep 6; date -u +%Y-%m-%dT%H:%M:%SZ > /tmp/lock-released' < /dev/null > /dev/null 2>&1 &
            for i in $(seq 50); do [ -f /tmp/lock-held ] && exit 0; sleep 0.1; done; echo "the lock holder did not start" >&2; exit 1`, lock);
        assert.strictEqual(held.code, 0, held.stderr);
        const r = await runService();
        assert.strictEqual(r.code, 0, r.stderr);
        const released = (await stack.lab.exec(H1, "cat", ["/tmp/lock-released"])).stdout.trim();
        const run = await lastRun();
        assert.ok(run.customers[busy].ok && run.customers[other].ok, JSON.stringify(run.customers));
        // Its snapshot was taken after the playbook let go (ISO times of one format compare as strings).
        assert.ok(run.customers[busy].time >= released, `${busy} backed up at ${run.customers[busy].time}, before its playbook ended at ${released}`);
        await stack.lab.exec(H1, "rm", ["-f", "/tmp/lock-held", "/tmp/lock-released"]);
    });

    it("an unreachable repository fails the run loudly, one line per customer, and the customers keep running", async () => {
        const cfgFile = `${BACKUP_DIR}/config.json`;
        const saved = (await stack.lab.exec(H1, "cat", [cfgFile])).stdout;
        const broken = { ...JSON.parse(saved), repository: "sftp://root@127.0.0.1:1//srv/restic/osm" };
        try {
            await stack.lab.exec(H1, "sh", ["-c", `cat > ${cfgFile}`], JSON.stringify(broken));
            const r = await runService();
            assert.strictEqual(r.code, 1, r.stderr);
            for (const l of CUSTOMERS) {
                assert.match(r.stderr, new RegExp(`^osm-backup: customer ${l}: backup FAILED: cannot open the repository sftp://root@127\\.0\\.0\\.1:1//srv/restic/osm: .+$`, "m"));
                assert.strictEqual(await state(l), "RUNNING");
            }
        } finally {
            await stack.lab.exec(H1, "sh", ["-c", `cat > ${cfgFile}`], saved);
        }
    });

    it("a wrong password is refused and nothing is written", async () => {
        const before = await snapshots("osm-data");
        try {
            await stack.lab.exec(H1, "sh", ["-c", `cat > ${BACKUP_DIR}/password`], "not-the-repository-password");
            const r = await runService();
            assert.strictEqual(r.code, 1, r.stderr);
            for (const l of CUSTOMERS) assert.match(r.stderr, new RegExp(`^osm-backup: customer ${l}: backup FAILED: the repository .* refuses the password`, "m"));
            // No new repository was made over the old one.
            const ls = await stack.lab.exec(BK, "sh", ["-c", "ls /srv/restic/osm/keys | wc -l"]);
            assert.strictEqual(ls.stdout.trim(), "1");
        } finally {
            await stack.lab.exec(H1, "sh", ["-c", `cat > ${BACKUP_DIR}/password`], password);
        }
        assert.deepStrictEqual((await snapshots("osm-data")).map((s) => s.short_id).sort(), before.map((s) => s.short_id).sort());
    });

    it("a deleted customer's archive goes to the repository too", async () => {
        await deploy([{ name: "Alder Farm", host: H1 }], { deleteRemoved: true });
        const archives = await snapshots("osm-archive");
        assert.strictEqual(archives.filter((s) => s.tags.includes("customer=birch-farm")).length, 1, JSON.stringify(archives));
    });
});
