/**
 * Backups (issue 13), the pure parts: osm-hosting:backup and its secrets validated with messages
 * that say what to do; the OSM_BACKUP_* environment host set-up gets (schedule, keep, the SFTP
 * key encoded, secrets wrapped as secrets, a change of schedule re-running every host's set-up);
 * verify's backup check (age against maxAgeHours) and its report column.
 */
import * as assert from "assert";
import { backupEnvironment, DEFAULT_BACKUP_MAX_AGE_HOURS, readSettings } from "../../components/config";
import { InputError, Problem } from "../../components/problems";
import { isWrappedSecret, unwrapSecrets } from "../../scripts/lib/engine";
import { withPlaceholderSecrets } from "../../scripts/lib/offline";
import { backupCheck } from "../../scripts/lib/verify/drift";
import { formatReport, prometheus } from "../../scripts/lib/verify/report";
import { CheckResult, DeclaredFleet, HostStatus } from "../../scripts/lib/verify/types";
import { HOST_KEYS, lookupOf, runProgram, Scratch, SENTINEL_SSH_KEY, TEST_SECRETS, testSettings } from "./support/fleet";

const KNOWN_HOSTS = `backup.example.org ${HOST_KEYS.alpha.split(" ").slice(0, 2).join(" ")}`;
const SFTP = { repository: "sftp:osmbackup@backup.example.org:/srv/restic/osm", schedule: "*-*-* 02:30:00", keep: { daily: 7, weekly: 4, monthly: 6 }, sftpKnownHosts: KNOWN_HOSTS };
const S3 = { repository: "s3:https://s3.example.org/osm-backups", schedule: "daily", keep: { daily: 7, weekly: 4, monthly: 12 } };
const PASSWORD = "correct-horse-battery-staple";
const SFTP_SECRETS = { backupPassword: PASSWORD, backupSftpKey: SENTINEL_SSH_KEY };
const S3_SECRETS = { backupPassword: PASSWORD, backupS3AccessKeyId: "AKIAEXAMPLE123", backupS3SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };

function problemsOf(values: Record<string, unknown>): Problem[] {
    try {
        readSettings(lookupOf({ ...testSettings(), ...TEST_SECRETS, ...values }), "Pulumi.unit.yaml");
        return [];
    } catch (e) {
        if (e instanceof InputError) return e.problems;
        throw e;
    }
}

function settingsOf(values: Record<string, unknown>) {
    return readSettings(lookupOf({ ...testSettings(), ...TEST_SECRETS, ...values }), "Pulumi.unit.yaml");
}

describe("backup: osm-hosting:backup and its secrets", () => {
    it("an SFTP backup with its password, key and pinned host key is accepted; maxAgeHours defaults to 26", () => {
        const { settings } = settingsOf({ backup: SFTP, ...SFTP_SECRETS });
        assert.deepStrictEqual(settings.backup, { ...SFTP, maxAgeHours: DEFAULT_BACKUP_MAX_AGE_HOURS });
        assert.strictEqual(DEFAULT_BACKUP_MAX_AGE_HOURS, 26);
        assert.strictEqual(settingsOf({ backup: { ...SFTP, maxAgeHours: 50 }, ...SFTP_SECRETS }).settings.backup!.maxAgeHours, 50);
    });

    it("an S3 backup with its password and two keys is accepted; no backup is the default", () => {
        assert.strictEqual(settingsOf({ backup: S3, ...S3_SECRETS }).settings.backup!.repository, S3.repository);
        assert.strictEqual(settingsOf({}).settings.backup, undefined);
    });

    const cases: { title: string; values: Record<string, unknown>; expect: [path: string, says: RegExp][] }[] = [
        { title: "no password", values: { backup: SFTP, backupSftpKey: SENTINEL_SSH_KEY },
            expect: [["osm-hosting:backupPassword", /is missing while backup is set .*pulumi config set --secret osm-hosting:backupPassword </]] },
        { title: "a short password (not shown)", values: { backup: SFTP, ...SFTP_SECRETS, backupPassword: "hunter2" },
            expect: [["osm-hosting:backupPassword", /is malformed \(not shown\): it must be the restic repository's password: 12 to 1024/]] },
        { title: "SFTP without the key", values: { backup: SFTP, backupPassword: PASSWORD },
            expect: [["osm-hosting:backupSftpKey", /is missing while backup.repository is an SFTP repository; set it with: pulumi config set --secret osm-hosting:backupSftpKey/]] },
        { title: "SFTP with a key that is no private key", values: { backup: SFTP, ...SFTP_SECRETS, backupSftpKey: "ssh-ed25519 AAAA" },
            expect: [["osm-hosting:backupSftpKey", /is not a PEM\/OpenSSH private key/]] },
        { title: "SFTP without a pinned host key", values: { backup: { ...SFTP, sftpKnownHosts: undefined }, ...SFTP_SECRETS },
            expect: [["osm-hosting:backup.sftpKnownHosts", /host key must be pinned; .*pulumi config set --path 'osm-hosting:backup.sftpKnownHosts'/]] },
        { title: "a host key line without its host", values: { backup: { ...SFTP, sftpKnownHosts: HOST_KEYS.alpha.split(" ").slice(0, 2).join(" ") }, ...SFTP_SECRETS },
            expect: [["osm-hosting:backup.sftpKnownHosts", /must be the backup server's known_hosts line/]] },
        { title: "S3 without its keys", values: { backup: S3, backupPassword: PASSWORD },
            expect: [["osm-hosting:backupS3AccessKeyId", /is missing while backup.repository is an S3 repository/],
                ["osm-hosting:backupS3SecretAccessKey", /is missing while backup.repository is an S3 repository/]] },
        { title: "a repository restic's backends here do not take", values: { backup: { ...SFTP, repository: "/srv/restic" }, ...SFTP_SECRETS },
            expect: [["osm-hosting:backup.repository", /must be a restic repository: sftp:USER@HOST:\/PATH.*s3:https/]] },
        { title: "a schedule with a shell character", values: { backup: { ...SFTP, schedule: "daily; reboot" }, ...SFTP_SECRETS },
            expect: [["osm-hosting:backup.schedule", /must be a systemd OnCalendar expression/]] },
        { title: "keep out of range, and missing", values: { backup: { ...SFTP, keep: { daily: 5000, weekly: 4 } }, ...SFTP_SECRETS },
            expect: [["osm-hosting:backup.keep.monthly", /"monthly" is missing; set it with: pulumi config set --path 'osm-hosting:backup.keep.monthly' 6/],
                ["osm-hosting:backup.keep.daily", /must be between 0 and 3660 \(got 5000\)/]] },
        { title: "a misspelt field", values: { backup: { ...SFTP, shedule: "daily" }, ...SFTP_SECRETS },
            expect: [["osm-hosting:backup.shedule", /unknown field "shedule"; remove it or correct its spelling \(allowed: repository, schedule, keep/]] },
        { title: "a backup secret without backup (a leftover)", values: { backupPassword: PASSWORD },
            expect: [["osm-hosting:backupPassword", /is set but no backup is configured \(osm-hosting:backup\); remove it/]] },
        { title: "SFTP's key beside an S3 repository", values: { backup: S3, ...S3_SECRETS, backupSftpKey: SENTINEL_SSH_KEY },
            expect: [["osm-hosting:backupSftpKey", /is set but the repository does not use it/]] },
    ];
    for (const c of cases) {
        it(`refuses ${c.title}, saying what to do`, () => {
            const got = problemsOf(c.values);
            const shown = got.map((p) => `${p.path}: ${p.message}`).join("\n");
            assert.strictEqual(got.length, c.expect.length, shown);
            c.expect.forEach(([p, says], i) => {
                assert.strictEqual(got[i].path, p, shown);
                assert.match(got[i].message, says, shown);
            });
            // A secret's value is never repeated in a message.
            for (const v of [PASSWORD, "hunter2", SENTINEL_SSH_KEY.trim()]) assert.ok(!shown.includes(v), `a secret is shown:\n${shown}`);
        });
    }

    it("a plain-text backup password is refused without being shown", () => {
        let err: unknown;
        try {
            readSettings(lookupOf({ ...testSettings(), ...TEST_SECRETS, backup: SFTP, ...SFTP_SECRETS }), "Pulumi.unit.yaml", [], (k) => k !== "backupPassword");
        } catch (e) {
            err = e;
        }
        assert.ok(err instanceof InputError);
        assert.match(err.message, /backupPassword: is stored in plain text/);
        assert.ok(!err.message.includes(PASSWORD));
    });

    it("the plan's placeholders fill only the backup secrets the repository needs", () => {
        const full = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [`osm-hosting:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
        assert.deepStrictEqual(withPlaceholderSecrets(full({ backup: SFTP })).secretKeys.filter((k) => k.includes("backup")), ["osm-hosting:backupPassword", "osm-hosting:backupSftpKey"]);
        assert.deepStrictEqual(withPlaceholderSecrets(full({ backup: S3 })).secretKeys.filter((k) => k.includes("backup")),
            ["osm-hosting:backupPassword", "osm-hosting:backupS3AccessKeyId", "osm-hosting:backupS3SecretAccessKey"]);
        assert.deepStrictEqual(withPlaceholderSecrets(full({})).secretKeys.filter((k) => k.includes("backup")), []);
        // And they pass the checks (npm run plan and verify evaluate with them).
        const { config } = withPlaceholderSecrets(full({ ...testSettings(), backup: SFTP }));
        for (const [k, v] of Object.entries(TEST_SECRETS)) config[`osm-hosting:${k}`] = v;
        assert.doesNotThrow(() => readSettings((k) => config[`osm-hosting:${k}`], "Pulumi.unit.yaml"));
    });
});

describe("backup: the environment host set-up gets", () => {
    it("renders the schedule, the retention and the SFTP key (base64 of the key) and host key", () => {
        const { settings, secrets } = settingsOf({ backup: SFTP, ...SFTP_SECRETS });
        const env = backupEnvironment(settings.backup, secrets);
        assert.deepStrictEqual({ ...env, OSM_BACKUP_SFTP_KEY: "(checked below)" }, {
            OSM_BACKUP_REPOSITORY: SFTP.repository, OSM_BACKUP_SCHEDULE: "*-*-* 02:30:00",
            OSM_BACKUP_KEEP_DAILY: "7", OSM_BACKUP_KEEP_WEEKLY: "4", OSM_BACKUP_KEEP_MONTHLY: "6",
            OSM_BACKUP_PASSWORD: PASSWORD, OSM_BACKUP_SFTP_KNOWN_HOSTS: KNOWN_HOSTS, OSM_BACKUP_SFTP_KEY: "(checked below)",
        });
        assert.strictEqual(Buffer.from(env.OSM_BACKUP_SFTP_KEY, "base64").toString(), `${SENTINEL_SSH_KEY.trim()}\n`);
        assert.deepStrictEqual(backupEnvironment(undefined, secrets), {});
    });

    it("S3: the two keys instead of the SFTP ones", () => {
        const { settings, secrets } = settingsOf({ backup: S3, ...S3_SECRETS });
        const env = backupEnvironment(settings.backup, secrets);
        assert.strictEqual(env.OSM_BACKUP_S3_ACCESS_KEY_ID, "AKIAEXAMPLE123");
        assert.strictEqual(env.OSM_BACKUP_S3_SECRET_ACCESS_KEY, S3_SECRETS.backupS3SecretAccessKey);
        assert.strictEqual(env.OSM_BACKUP_SFTP_KEY, undefined);
    });

    it("every host's set-up gets them, secrets as secrets; a new schedule changes every host's set-up", async () => {
        const scratch = new Scratch();
        try {
            const customersFile = scratch.customers({ customers: [{ name: "Acme" }] });
            const run = (schedule: string) => runProgram({ customersFile, settings: testSettings({ backup: { ...SFTP, schedule } }), secrets: { ...TEST_SECRETS, ...SFTP_SECRETS } });
            const setups = (ev: Awaited<ReturnType<typeof run>>) => ev.resources.filter((r) => r.type === "command:remote:Command" && r.name.endsWith("-setup"));
            const a = await run("*-*-* 02:30:00");
            assert.strictEqual(setups(a).length, 3);
            for (const r of setups(a)) {
                const env = r.inputs.environment;
                assert.ok(isWrappedSecret(env) || isWrappedSecret(env.OSM_BACKUP_PASSWORD), `${r.name}: the password is a secret`);
                const plain = unwrapSecrets(env);
                assert.strictEqual(plain.OSM_BACKUP_SCHEDULE, "*-*-* 02:30:00");
                assert.strictEqual(plain.OSM_BACKUP_PASSWORD, PASSWORD);
                assert.ok(!String(unwrapSecrets(r.inputs).create).includes(PASSWORD), "never on the command line");
            }
            const b = await run("*-*-* 04:00:00");
            for (const r of setups(b)) assert.strictEqual(unwrapSecrets(r.inputs.environment).OSM_BACKUP_SCHEDULE, "*-*-* 04:00:00", `${r.name} gets the new schedule`);
        } finally {
            scratch.cleanup();
        }
    });
});

describe("backup: verify's check of each customer's last backup", () => {
    const fleet: DeclaredFleet = { stack: "prod", domain: "osm.example.test", sshUser: "root", zone: "osm.example.test", powerdnsHost: "127.0.0.1", hosts: [],
        customers: [], backup: { maxAgeHours: 26 } };
    const c = { label: "acme", host: "osm1", mqttPort: 8883, names: { grafana: "acme.osm.example.test", influx: "", chirpstack: "" } } as any;
    const now = Date.parse("2026-12-02T12:00:00Z");
    const status = (backups: HostStatus["backups"]): HostStatus => ({ host: "osm1", time: "", errors: [], backups });

    it("passes with a snapshot younger than maxAgeHours and reports its age", () => {
        const r = backupCheck(fleet, c, status({ configured: true, repository: "sftp:b@h:/r", latest: { acme: { time: "2026-12-02T02:31:10+00:00", id: "1a2b3c4d" } } }), now);
        assert.deepStrictEqual(r.findings, []);
        assert.strictEqual(r.note, "9 h ago, 1a2b3c4d");
        assert.strictEqual(r.ageSeconds, 9 * 3600 + 28 * 60 + 50);
    });

    it("fails past the threshold, naming the last run's reason", () => {
        const r = backupCheck(fleet, c, status({ configured: true, latest: { acme: { time: "2026-11-30T02:30:00Z", id: "1a2b3c4d" } },
            lastRun: { time: "2026-12-02T02:30:00Z", customers: { acme: { ok: false, time: "2026-12-02T02:30:05Z", error: "cannot open the repository" } } } }), now);
        assert.strictEqual(r.findings.length, 1);
        assert.strictEqual(r.findings[0].problem, "last backup 58 h ago (over 26 h)");
        assert.match(r.findings[0].action, /failed: cannot open the repository; see the reason with journalctl -u osm-backup.service on osm1/);
    });

    it("fails with no snapshot, with an unreadable repository, and on a host without backups set up", () => {
        assert.strictEqual(backupCheck(fleet, c, status({ configured: true, latest: {} }), now).findings[0].problem, "no backup snapshot");
        const unreadable = backupCheck(fleet, c, status({ configured: true, error: "Fatal: wrong password or no key found" }), now).findings[0];
        assert.strictEqual(unreadable.problem, "backup repository not readable");
        assert.match(unreadable.action, /wrong password/);
        assert.match(backupCheck(fleet, c, status({ configured: false }), now).findings[0].problem, /no backup set up on osm1/);
        assert.match(backupCheck(fleet, c, status(undefined), now).findings[0].action, /re-run host set-up/);
    });

    it("the report has a BACKUP column only with backup results; Prometheus gets the age", () => {
        const base = { subject: "customer" as const, name: "acme", host: "osm1", findings: [], seconds: 0.1 };
        const results: CheckResult[] = [
            { ...base, check: "dns", status: "ok" }, { ...base, check: "https", status: "ok" }, { ...base, check: "mqtt", status: "ok" }, { ...base, check: "host", status: "ok" },
        ];
        const rep = (rs: CheckResult[]) => ({ stack: "prod", startedAt: "2026-12-02T12:00:00Z", seconds: 1, ok: true, results: rs });
        assert.doesNotMatch(formatReport(rep(results)), /BACKUP/);
        const withBackup = [...results, { ...base, check: "backup" as const, status: "ok" as const, note: "9 h ago, 1a2b3c4d", backupAgeSeconds: 34130 }];
        const text = formatReport(rep(withBackup));
        assert.match(text, /^CUSTOMER {2}HOST {2}DNS {2}HTTPS {2}MQTT {2}ON HOST {2}BACKUP {18}CERT DAYS$/m);
        assert.match(text, /^acme {6}osm1 {2}ok {3}ok {5}ok {4}ok {7}ok \(9 h ago, 1a2b3c4d\) {2}-$/m);
        assert.match(prometheus(rep(withBackup)), /^osm_verify_backup_age_seconds\{customer="acme",host="osm1"\} 34130$/m);
    });
});
