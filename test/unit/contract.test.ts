/**
 * One host contract: the program's validation and each playbook's environment check accept
 * exactly the same values. The same table of good and bad values goes to both sides: the
 * program (readSettings / checkCustomers, with the value in the setting that becomes the
 * variable) and the real tasks/check-env.yml, run by ansible-playbook for each playbook with
 * that playbook's variables from ansible/vars/osm.yml.
 */
import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { basesEnv, BaseSpec } from "../../components/bases";
import { backupEnvironment, readSettings } from "../../components/config";
import { acceptsEnv, CONTRACT_FILE, hostContract, parseContract } from "../../components/contract";
import { MQTT_WEBSOCKET_ON } from "../../components/customer";
import { parseMoveKey } from "../../components/host";
import { checkCustomers } from "../../components/customers";
import { pluginsEnv } from "../../components/grafana-plugins";
import * as yaml from "js-yaml";
import { customerLabel, MAX_LABEL_LENGTH, NAME_SUFFIXES } from "../../components/naming";
import { projectRoot } from "../../components/paths";
import { InputError } from "../../components/problems";
import { HOST_KEYS, lookupOf, SENTINEL_SSH_KEY, TEST_SECRETS, testSettings } from "./support/fleet";

const ROOT = projectRoot();
const ANSIBLE = path.join(ROOT, "ansible");
/** A file that exists on the test machine and on every Debian host. */
const EXISTING_FILE = "/etc/hostname";
/** A real ed25519 public key (ssh-keygen's shape: 68 base64 characters), as a host's move key is. */
const ED25519_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFVYVETxhueZb9M3kKYzqRziUCQzEcM0k8M51c9nTCT2";

/** Each variable: values with the verdict both sides must give (so the table itself can fail). */
const TABLE: Record<string, [value: string, accepted: boolean][]> = {
    OSM_CUSTOMER: [["acme", true], ["blue-widget-co", true], ["a", true], ["x".repeat(MAX_LABEL_LENGTH), true],
        ["x".repeat(MAX_LABEL_LENGTH + 1), false], ["a--b", false], ["-acme", false], ["acme-", false], ["a_b", false],
        ["a.b", false], ["a;reboot", false], ["9lives", true]],
    OSM_HOST_NAME: [["osm1", true], ["osm-lab-2", true], ["h".repeat(63), true], ["h".repeat(64), false], ["-osm", false],
        ["osm_1", false], ["OSM1", false], ["osm.1", false]],
    OSM_DOMAIN: [["opensmartmonitor.devtank.co.uk", true], ["osm.example.test", true], ["osm.example.test.", false],
        ["OSM.example.test", false], ["localhost", false], ["osm..example.test", false], [`${"d".repeat(60)}.${"e".repeat(60)}.${"f".repeat(60)}.uk`, true],
        [`${"d".repeat(60)}.${"e".repeat(60)}.${"f".repeat(63)}.abc.uk`, false], ["osm.example.test;reboot", false]],
    OSM_MQTT_PORT: [["1024", true], ["8883", true], ["65535", true], ["1023", false], ["65536", false], ["0", false]],
    OSM_CPUS: [["1", true], ["2", true], ["64", true], ["0", false], ["65", false]],
    OSM_MEMORY_MIB: [["256", true], ["2048", true], ["262144", true], ["255", false], ["60", false], ["262145", false]],
    OSM_ACME_SERVER: [["https://acme-v02.api.letsencrypt.org/directory", true], ["https://127.0.0.1:14000/dir", true],
        ["http://acme.example.org/directory", false], ["acme.example.org", false], ["https://acme.example.org/dir?x=1", false],
        ["https://acme example.org/", false]],
    OSM_ACME_EMAIL: [["hosting@example.org", true], ["ops.team+acme@devtank.co.uk", true], ["ops@localhost", false],
        ["ops", false], ["o'p@example.org", false], ["ops@example.org;reboot", false]],
    OSM_ACME_CA_BUNDLE: [[EXISTING_FILE, true], ["/", false], ["relative/ca.pem", false], ["/etc/a b.pem", false], ["//etc/hostname", false]],
    OSM_ACME_DNS_SERVER: [["192.0.2.53", true], ["10.0.0.1", true], ["256.0.0.1", false], ["ns1.example.org", false], ["1.2.3", false]],
    OSM_ACME_DNS_PORT: [["53", true], ["5353", true], ["0", false], ["65536", false]],
    OSM_ACME_DNS_PROPAGATION_SECONDS: [["5", true], ["0", true], ["600", true], ["601", false]],
    OSM_ACME_TSIG_KEY: [["osm-acme", true], ["acme.key", true], ["OSM", false], ["-osm", false], ["a b", false]],
    OSM_ACME_TSIG_ALGORITHM: [["hmac-sha256", true], ["hmac-sha512", true], ["hmac-md5", false], ["HMAC-SHA256", false]],
    OSM_ACME_TSIG_SECRET: [["c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", true], ["c2VjcmV0LXNlY3JldC1zZWNyZXQtc2Vj==", true], ["short==", false],
        ["not base64 at all!!!!!!!", false]],
    OSM_MOVE_FROM_ADDRESS: [["192.0.2.10", true], ["10.0.0.1", true], ["256.1.1.1", false], ["osm1.example.org", false], ["192.0.2.1;reboot", false]],
    OSM_MOVE_FROM_SSH_PORT: [["22", true], ["2222", true], ["0", false], ["65536", false]],
    OSM_MOVE_FROM_HOST_KEY: [[HOST_KEYS.alpha.split(" ").slice(0, 2).join(" "), true], ["ssh-ed25519 AAAA;reboot", false], ["ssh-dss AAAAB3Nza", false], ["AAAAC3NzaC1lZDI1NTE5", false]],
    OSM_MOVE_PEER_ADDRESS: [["192.0.2.11", true], ["1.2.3", false], ["::1", false]],
    OSM_MOVE_PEER_KEY: [[ED25519_KEY, true], ["ssh-rsa AAAAB3NzaC1yc2E", false], ["ssh-ed25519 AAAA", false], [`${ED25519_KEY} osm-move@x`, false]],
    OSM_MQTT_WEBSOCKET: [["yes", true], ["no", false], ["1", false], ["YES", false], ["yes;reboot", false]],
    OSM_RESTORE_FROM: [["latest", true], ["0a1b2c3d", true], ["0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9", true], ["0a1b2c3", false],
        ["LATEST", false], ["0A1B2C3D", false], ["latest;reboot", false]],
    OSM_ADOPT_CONTAINER: [["quayside-svr", true], ["Harbour Cold Store-svr", true], ["acme", false], ["-svr", false], ["acme-svr;reboot", false], ["a$(x)-svr", false]],
    OSM_BASE: [["2027-01", true], ["bookworm.2", true], ["b".repeat(32), true], ["b".repeat(33), false], ["-2027", false], [".x", false],
        ["2027_01", false], ["Base", false], ["2027-01;reboot", false]],
    OSM_BASES: [["2027-01:suite=bookworm,grafana=11.3.0,influxdb2=2.7.10-1,chirpstack=4.9.0,mosquitto=2.0.11-1.2+deb12u1", true],
        ["2026-12:suite=bookworm,grafana=10.4.2,influxdb2=2.7.1,chirpstack=4.6.0,mosquitto=2.0.11 2027-01:suite=trixie,grafana=11.3.0~beta1,influxdb2=2.7.10,chirpstack=4.9.0,mosquitto=2.0.20", true],
        ["2027-01:suite=bookworm,grafana=1:11.3.0,influxdb2=2.7.10,chirpstack=4.9.0,mosquitto=2.0.11", false],
        ["2027-01:suite=bookworm,influxdb2=2.7.10,grafana=11.3.0,chirpstack=4.9.0,mosquitto=2.0.11", false],
        ["2027-01:suite=Bookworm,grafana=11.3.0,influxdb2=2.7.10,chirpstack=4.9.0,mosquitto=2.0.11", false],
        ["2027-01:suite=bookworm,grafana=11.3.0,influxdb2=2.7.10,chirpstack=4.9.0,mosquitto=v2", false],
        ["2027-01:suite=bookworm,grafana=11.3.0,influxdb2=2.7.10,chirpstack=4.9.0,mosquitto=2.0.11;reboot", false]],
    OSM_BASE_SEED: [["/var/lib/osm/base-seed", true], ["/srv/seed_1.0", true], ["relative/seed", false], ["/srv/a b", false], ["/srv/$(reboot)", false]],
    OSM_DNS_TTL: [["30", true], ["300", true], ["86400", true], ["29", false], ["86401", false]],
    OSM_GRAFANA_PLUGINS: [["grafana-clock-panel@2.1.5", true], [`a-panel@1.0.0 yesoreyeram-infinity-datasource@2.0.0-beta.1@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`, true],
        ["grafana-clock@2.1.5", false], ["grafana-clock-panel@2.1", false], ["grafana-clock-panel@2.1.5@abc", false], ["Grafana-clock-panel@2.1.5", false],
        ["grafana-clock-panel@2.1.5  b-app@1.0.0", false], ["grafana-clock-panel@2.1.5;reboot", false]],
    OSM_GRAFANA_PLUGIN_SOURCE: [["https://grafana.com/api/plugins", true], ["http://10.0.0.1:8080/mirror", true], ["file:///srv/grafana-plugins", true],
        ["ftp://mirror.example/plugins", false], ["https://a b/", false], ["https://x/$(reboot)", false], ["grafana.com/api/plugins", false]],
    OSM_BACKUP_REPOSITORY: [["sftp:osmbackup@backup.example.org:/srv/restic/osm", true], ["sftp://osmbackup@127.0.0.1:2222//srv/restic", true],
        ["s3:https://s3.example.org/osm-backups", true], ["sftp:osmbackup@backup.example.org:relative", false], ["/srv/restic", false],
        ["sftp:u@h:/x;reboot", false], ["s3:https://s3.example.org", false], ["rest:http://backup.example.org/", false]],
    OSM_BACKUP_SCHEDULE: [["*-*-* 02:30:00", true], ["daily", true], ["Mon..Fri 03:00", true], ["daily;reboot", false], ["02:30 && reboot", false]],
    OSM_BACKUP_KEEP_DAILY: [["7", true], ["0", true], ["3660", true], ["3661", false], ["07", false]],
    OSM_BACKUP_KEEP_WEEKLY: [["4", true], ["520", true], ["521", false]],
    OSM_BACKUP_KEEP_MONTHLY: [["6", true], ["1200", true], ["1201", false]],
    OSM_BACKUP_KEEP_LAST: [["3", true], ["0", true], ["1000", true], ["1001", false], ["03", false]],
    OSM_BACKUP_PASSWORD: [["correct-horse-battery", true], ["short", false], ["with a space here", false]],
    OSM_BACKUP_SFTP_KNOWN_HOSTS: [[`backup.example.org ${HOST_KEYS.alpha.split(" ").slice(0, 2).join(" ")}`, true],
        [`[127.0.0.1]:2222 ${HOST_KEYS.alpha.split(" ").slice(0, 2).join(" ")}`, true], [HOST_KEYS.alpha.split(" ").slice(0, 2).join(" "), false],
        ["backup.example.org ssh-ed25519 AAAA;reboot", false]],
    OSM_BACKUP_SFTP_KEY: [[Buffer.from(`${SENTINEL_SSH_KEY.trim()}\n`).toString("base64"), true]],
    OSM_BACKUP_S3_ACCESS_KEY_ID: [["AKIAEXAMPLE123", true], ["a b", false]],
    OSM_BACKUP_S3_SECRET_ACCESS_KEY: [["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", true], ["short", false], ["with space inside", false]],
};

/** A good osm-hosting:backup (SFTP) and its secrets, for the verdicts on the backup variables. */
const BACKUP = { repository: "sftp:osmbackup@backup.example.org:/srv/restic/osm", schedule: "*-*-* 02:30:00", keep: { daily: 7, weekly: 4, monthly: 6 },
    sftpKnownHosts: `backup.example.org ${HOST_KEYS.alpha.split(" ").slice(0, 2).join(" ")}` };
const BACKUP_SECRETS = { backupPassword: "correct-horse-battery", backupSftpKey: SENTINEL_SSH_KEY };
const S3_SECRETS = { backupS3AccessKeyId: "AKIAEXAMPLE123", backupS3SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };

/** A good stack config base (osm-hosting:bases.<name>), for the verdicts on the base variables. */
const BASE = { grafana: "11.3.0", influxdb2: "2.7.10-1", chirpstack: "4.9.0", mosquitto: "2.0.11-1.2+deb12u1" };

/** The program's verdict: does it accept an input that makes it send exactly `value` as `name`? */
function programAccepts(name: string, value: string): boolean {
    const settings = testSettings();
    const host0 = (settings.hosts as any[])[0];
    const accepts = (overrides: Record<string, unknown>): boolean => {
        try {
            readSettings(lookupOf({ ...settings, ...TEST_SECRETS, ...overrides }), "Pulumi.unit.yaml");
            return true;
        } catch (err) {
            if (err instanceof InputError) return false;
            throw err;
        }
    };
    const acme = settings.acme as Record<string, unknown>;
    const limits = settings.containerLimits as Record<string, unknown>;
    switch (name) {
        case "OSM_CUSTOMER": {
            // The program sends the label of the name; these values are their own labels.
            assert.strictEqual(customerLabel(value), value, `table value ${value} must be a label already`);
            const derived = checkCustomers({ customers: [{ name: value }] }, "customers.json", [{ name: "alpha" }]).problems.length === 0;
            // An explicit label goes through the same rules as a derived one.
            const explicit = checkCustomers({ customers: [{ name: "Some Customer", label: value }] }, "customers.json", [{ name: "alpha" }]).problems.length === 0;
            assert.strictEqual(explicit, derived, `"label": ${JSON.stringify(value)} and a name giving that label must get the same verdict`);
            return derived;
        }
        case "OSM_MQTT_PORT":
            return checkCustomers({ customers: [{ name: "acme", host: "alpha", mqttPort: Number(value) }] }, "customers.json", [{ name: "alpha" }]).problems.length === 0;
        case "OSM_HOST_NAME":
            return accepts({ hosts: [{ ...host0, name: value }] });
        case "OSM_DOMAIN":
            return accepts({ domain: value, powerdns: { ...(settings.powerdns as object), zone: "uk" } }) || accepts({ domain: value, powerdns: { ...(settings.powerdns as object), zone: value } });
        case "OSM_CPUS":
            return accepts({ containerLimits: { ...limits, cpus: Number(value) } });
        case "OSM_MEMORY_MIB":
            return accepts({ containerLimits: { ...limits, memoryMiB: Number(value) } });
        case "OSM_ACME_SERVER":
            return accepts({ acme: { ...acme, server: value } });
        case "OSM_ACME_EMAIL":
            return accepts({ acme: { ...acme, email: value } });
        case "OSM_ACME_CA_BUNDLE":
            return accepts({ acme: { ...acme, caBundle: value } });
        case "OSM_ACME_DNS_SERVER":
            return accepts({ acme: { ...acme, dnsServer: value } });
        case "OSM_ACME_DNS_PORT":
            return accepts({ acme: { ...acme, dnsPort: Number(value) } });
        case "OSM_ACME_DNS_PROPAGATION_SECONDS":
            return accepts({ acme: { ...acme, propagationSeconds: Number(value) } });
        case "OSM_ACME_TSIG_KEY":
            return accepts({ acme: { ...acme, tsigKey: value } });
        case "OSM_ACME_TSIG_ALGORITHM":
            return accepts({ acme: { ...acme, tsigAlgorithm: value } });
        case "OSM_ACME_TSIG_SECRET":
            return accepts({ acmeTsigSecret: value });
        // A move sends the old host's address, SSH port and pinned key as the stack config has them.
        case "OSM_MOVE_FROM_ADDRESS":
        case "OSM_MOVE_PEER_ADDRESS":
            return accepts({ hosts: [{ ...host0, address: value }] });
        case "OSM_MOVE_FROM_SSH_PORT":
            return accepts({ hosts: [{ ...host0, sshPort: Number(value) }] });
        case "OSM_MOVE_FROM_HOST_KEY":
            return accepts({ hosts: [{ ...host0, hostKey: value }] });
        // Made by the new host's host-setup.yml, never an input: the program takes it only in this shape (parseMoveKey).
        case "OSM_MOVE_PEER_KEY":
            return parseMoveKey(JSON.stringify({ moveKey: value })) === value;
        // Sent only with customers.json mqttWebsocket on, always this one value (components/customer.ts).
        case "OSM_MQTT_WEBSOCKET":
            return value === MQTT_WEBSOCKET_ON;
        // customers.json restore.from, as the program sends it (or "latest" for a lost host's customers).
        case "OSM_RESTORE_FROM":
            return checkCustomers({ customers: [{ name: "Acme", restore: { from: value } }] }, "customers.json", [{ name: "alpha" }]).problems.length === 0;
        // customers.json adopt: <name>-svr of an entry that passes validation (components/naming.ts).
        case "OSM_ADOPT_CONTAINER":
            return value.endsWith("-svr") && checkCustomers({ customers: [{ name: value.slice(0, -4), host: "alpha", mqttPort: 30001, adopt: true }] },
                "customers.json", [{ name: "alpha" }]).problems.length === 0;
        // customers.json grafanaPlugins, as pluginsEnv formats a valid list (sorted by id).
        case "OSM_GRAFANA_PLUGINS": {
            const plugins = value.split(" ").map((item) => {
                const [id, version, sha256] = item.split("@");
                return { id, version, ...(sha256 !== undefined ? { sha256 } : {}) };
            });
            return checkCustomers({ customers: [{ name: "acme", grafanaPlugins: plugins }] }, "customers.json", [{ name: "alpha" }]).problems.length === 0 &&
                pluginsEnv(plugins) === value;
        }
        case "OSM_GRAFANA_PLUGIN_SOURCE":
            return accepts({ grafanaPluginSource: value });
        // Stack config bases: a base's name (with defaultBase naming it), the whole as basesEnv gives
        // the bases a host's customers use (every one of the stack's here), and baseSeed.
        case "OSM_BASE":
            return accepts({ bases: { [value]: BASE }, defaultBase: value });
        case "OSM_BASES": {
            const specs: Record<string, BaseSpec> = {};
            for (const item of value.split(" ")) {
                const [name, fields] = item.split(/:(.*)/s);
                const pairs = (fields ?? "").split(",").map((f) => f.split("="));
                // The program writes the fields in one order: another order is no value it sends.
                if (pairs.map(([k]) => k).join(",") !== "suite,grafana,influxdb2,chirpstack,mosquitto") return false;
                specs[name] = Object.fromEntries(pairs) as unknown as BaseSpec;
            }
            return accepts({ bases: specs, defaultBase: Object.keys(specs)[0] }) && basesEnv(specs, Object.keys(specs)) === value;
        }
        case "OSM_BASE_SEED":
            return accepts({ bases: { "2027-01": BASE }, defaultBase: "2027-01", baseSeed: value });
        case "OSM_DNS_TTL":
            return accepts({ powerdns: { ...(settings.powerdns as object), ttl: Number(value) } });
        // Backups: the program sends osm-hosting:backup's values and its secrets as they are
        // (the SFTP key base64-encoded by backupEnvironment, from a key that passed its check).
        case "OSM_BACKUP_REPOSITORY": {
            const s3 = value.startsWith("s3:");
            return accepts({ backup: { ...BACKUP, repository: value, ...(s3 ? { sftpKnownHosts: undefined } : {}) }, ...BACKUP_SECRETS,
                ...(s3 ? { backupSftpKey: undefined, ...S3_SECRETS } : {}) });
        }
        case "OSM_BACKUP_SCHEDULE":
            return accepts({ backup: { ...BACKUP, schedule: value }, ...BACKUP_SECRETS });
        case "OSM_BACKUP_KEEP_DAILY":
        case "OSM_BACKUP_KEEP_WEEKLY":
        case "OSM_BACKUP_KEEP_MONTHLY":
        case "OSM_BACKUP_KEEP_LAST": {
            const which = name.split("_").pop()!.toLowerCase();
            if (!/^(0|[1-9][0-9]*)$/.test(value)) return false;  // the program sends String(number): never "07"
            return accepts({ backup: { ...BACKUP, keep: { ...BACKUP.keep, [which]: Number(value) } }, ...BACKUP_SECRETS });
        }
        case "OSM_BACKUP_PASSWORD":
            return accepts({ backup: BACKUP, ...BACKUP_SECRETS, backupPassword: value });
        case "OSM_BACKUP_SFTP_KNOWN_HOSTS":
            return accepts({ backup: { ...BACKUP, sftpKnownHosts: value }, ...BACKUP_SECRETS });
        case "OSM_BACKUP_SFTP_KEY":
            return backupEnvironment({ ...BACKUP, maxAgeHours: 26 }, { ...TEST_SECRETS, ...BACKUP_SECRETS } as any).OSM_BACKUP_SFTP_KEY === value;
        case "OSM_BACKUP_S3_ACCESS_KEY_ID":
        case "OSM_BACKUP_S3_SECRET_ACCESS_KEY":
            return accepts({ backup: { ...BACKUP, repository: "s3:https://s3.example.org/osm", sftpKnownHosts: undefined }, ...BACKUP_SECRETS,
                backupSftpKey: undefined, ...S3_SECRETS, [name === "OSM_BACKUP_S3_ACCESS_KEY_ID" ? "backupS3AccessKeyId" : "backupS3SecretAccessKey"]: value });
        default:
            throw new Error(`no program setting mapped to ${name}: add it to this test`);
    }
}

/** How long one ansible-playbook run of the harness may take, even on a loaded machine. */
const PLAYBOOK_TIMEOUT_MS = 240_000;
/** At most one run per core at a time: more only adds contention, and under load timeouts. */
let running = 0;
const waiting: (() => void)[] = [];
async function slot<T>(f: () => Promise<T>): Promise<T> {
    while (running >= Math.max(1, os.availableParallelism())) await new Promise<void>((r) => waiting.push(r));
    running++;
    try { return await f(); } finally { running--; waiting.shift()?.(); }
}

function ansiblePlaybook(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("OSM_") && v !== undefined) clean[k] = v;
    return slot(() => new Promise((resolve, reject) => {
        execFile("ansible-playbook", args, { env: { ...clean, ANSIBLE_CONFIG: path.join(ANSIBLE, "ansible.cfg"), ANSIBLE_NOCOLOR: "1", ...env }, timeout: PLAYBOOK_TIMEOUT_MS, maxBuffer: 16 << 20 },
            (err, stdout, stderr) => {
                if (err && (err as any).killed) {
                    reject(new Error(`ansible-playbook ${args.join(" ")} did not finish within ${PLAYBOOK_TIMEOUT_MS / 1000} s (killed by ${(err as any).signal})`));
                    return;
                }
                resolve({ code: err ? (typeof (err as any).code === "number" ? (err as any).code : 1) : 0, out: `${stdout}${stderr}` });
            });
    }));
}

describe("host contract: the program and every playbook accept exactly the same values", function () {
    this.timeout(900_000);
    const contract = hostContract();
    let harnessDir: string;

    before(() => {
        // The real check of each playbook, without the tasks after it: a play importing
        // vars/osm.yml and tasks/check-env.yml as the playbooks do, for one playbook's variables.
        harnessDir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-contract-"));
        fs.writeFileSync(path.join(harnessDir, "check.yml"), [
            "- name: Check the environment as a playbook does",
            "  hosts: localhost",
            "  gather_facts: false",
            "  vars_files:",
            `    - ${path.join(ANSIBLE, "vars", "osm.yml")}`,
            "  tasks:",
            "    - name: Check the environment",
            `      ansible.builtin.import_tasks: ${path.join(ANSIBLE, "tasks", "check-env.yml")}`,
            "",
        ].join("\n"));
    });
    after(() => fs.rmSync(harnessDir, { recursive: true, force: true }));

    it("every variable a playbook takes has a rule, and this table covers every rule", () => {
        for (const [playbook, env] of Object.entries(contract.playbookEnv)) {
            assert.ok(fs.existsSync(path.join(ANSIBLE, playbook)), `${CONTRACT_FILE} names ${playbook}, which does not exist`);
            for (const v of [...env.required, ...env.optional]) assert.ok(contract.envRules[v], `${playbook}: ${v}`);
        }
        assert.deepStrictEqual(Object.keys(TABLE).sort(), Object.keys(contract.envRules).sort());
    });

    for (const [name, rows] of Object.entries(TABLE)) {
        it(`${name}: the program's verdicts are the table's`, () => {
            for (const [value, accepted] of rows) {
                assert.strictEqual(programAccepts(name, value), accepted, `program on ${name}=${JSON.stringify(value)}`);
                assert.strictEqual(acceptsEnv(name, value), accepted, `contract rule on ${name}=${JSON.stringify(value)}`);
            }
        });
    }

    for (const playbook of Object.keys(hostContract().playbookEnv)) {
        it(`${playbook}: its environment check gives the table's verdicts`, async () => {
            const env = contract.playbookEnv[playbook];
            const names = [...env.required, ...env.optional];
            // A good value for each variable; then one run per row index, each variable set to
            // its row (the check names every malformed variable at once).
            const good = Object.fromEntries(names.map((n) => [n, TABLE[n].find(([, ok]) => ok)![0]]));
            const rounds = Math.max(...names.map((n) => TABLE[n].length));
            const runs = Array.from({ length: rounds }, async (_, i) => {
                const values = Object.fromEntries(names.map((n) => [n, (TABLE[n][i] ?? TABLE[n][0])[0]]));
                const r = await ansiblePlaybook(["-i", "localhost,", "-c", "local", "-e", `osm_playbook=${playbook}`, path.join(harnessDir, "check.yml")], values);
                return { values, r };
            });
            const all = await Promise.all(runs);
            for (const { values, r } of all) {
                for (const n of names) {
                    const expected = TABLE[n].find(([v]) => v === values[n])![1];
                    // The check names a refused variable as `NAME=<value> is malformed` (or, for a CA
                    // bundle, `NAME=<path> names no file`), and never names an accepted one so.
                    const refused = new RegExp(`\\b${n}=`).test(r.out);
                    assert.strictEqual(!refused, expected, `${playbook} on ${n}=${JSON.stringify(values[n])}:\n${r.out.slice(-2000)}`);
                }
                const anyBad = names.some((n) => !TABLE[n].find(([v]) => v === values[n])![1]);
                assert.strictEqual(r.code !== 0, anyBad, `${playbook} exit ${r.code} with ${JSON.stringify(values)}:\n${r.out.slice(-2000)}`);
            }
            // And with every variable good, the check passes (the harness can succeed).
            const ok = await ansiblePlaybook(["-i", "localhost,", "-c", "local", "-e", `osm_playbook=${playbook}`, path.join(harnessDir, "check.yml")], good);
            assert.strictEqual(ok.code, 0, ok.out);
        });
    }

    it("the playbooks' name suffixes are the program's (components/naming.ts NAME_SUFFIXES)", () => {
        const vars = yaml.load(fs.readFileSync(path.join(ROOT, CONTRACT_FILE), "utf8")) as Record<string, unknown>;
        const { mqtt, ...http } = NAME_SUFFIXES;
        assert.deepStrictEqual(vars.osm_site_suffixes, Object.values(http));
        assert.strictEqual(vars.osm_mqtt_websocket_suffix, mqtt);
    });

    it("customers.schema.json (for editors) states the contract's MQTT port range", () => {
        const schema = JSON.parse(fs.readFileSync(path.join(ROOT, "customers.schema.json"), "utf8"));
        const port = schema.properties.customers.items.properties.mqttPort;
        assert.deepStrictEqual([port.minimum, port.maximum], contract.envRules.OSM_MQTT_PORT.integer);
    });

    it("customers.schema.json (for editors) states the contract's rule of restore.from", () => {
        const schema = JSON.parse(fs.readFileSync(path.join(ROOT, "customers.schema.json"), "utf8"));
        assert.strictEqual(schema.properties.customers.items.properties.restore.properties.from.pattern, contract.envRules.OSM_RESTORE_FROM.pattern);
    });

    it("a malformed contract is refused, naming the file and the key", () => {
        assert.throws(() => parseContract("osm_remote_root: /opt/osm\nosm_base_rootfs: /b\nosm_env_rules:\n  OSM_X: {expect: x}\nosm_playbook_env: {}\n", "osm.yml"),
            /osm\.yml: osm_env_rules\.OSM_X needs a pattern or integer/);
        assert.throws(() => parseContract("osm_remote_root: /opt/osm\nosm_base_rootfs: /b\nosm_env_rules: {}\nosm_playbook_env:\n  a.yml: {required: [OSM_Y]}\n", "osm.yml"),
            /osm_playbook_env\.a\.yml\.required must list variables of osm_env_rules/);
    });
});
