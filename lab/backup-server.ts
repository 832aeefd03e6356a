/**
 * A lab host as the fleet's backup server (an SFTP restic repository under /srv/restic), and
 * what the stack config says of it: shared by the backup and restore suites.
 */
import * as fs from "fs";
import * as path from "path";
import { Lab } from "./hosts";
import { run } from "./lab-exec";
import { LabStack } from "./lab-stack";
import { hostContract } from "../components/contract";

/** The repository's path on the backup server. */
const REPOSITORY_PATH = "/srv/restic/osm";

/** The fleet's backup key (its own, not the lab's), in the lab's state dir. */
function keyPath(lab: Lab): string {
    return path.join(lab.state.dir, "backup-key");
}

/** Makes the fleet's backup key and lets it in as root on lab host `server`. */
export async function prepareBackupServer(lab: Lab, server: string): Promise<void> {
    const key = keyPath(lab);
    for (const f of [key, `${key}.pub`]) fs.rmSync(f, { force: true });
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "osm-backup@lab", "-f", key]);
    const r = await lab.exec(server, "sh", ["-c", "mkdir -p /root/.ssh /srv/restic && cat >> /root/.ssh/authorized_keys"], fs.readFileSync(`${key}.pub`, "utf8"));
    if (r.code !== 0) throw new Error(`backup server ${server}: letting the backup key in: ${r.stderr}`);
}

/**
 * Adds `osm-hosting:backup` (SFTP to `server`, its host key pinned) and its secrets to a lab
 * stack config, with `keep` as the retention.
 */
export function withBackup(stack: LabStack, c: { config: Record<string, string>; secretKeys: string[] }, server: string, password: string,
    keep: Record<string, number>): void {
    const bk = stack.lab.host(server);
    const at = bk.sshPort === 22 ? bk.address : `[${bk.address}]:${bk.sshPort}`;
    c.config["osm-hosting:backup"] = JSON.stringify({
        repository: bk.sshPort === 22 ? `sftp:root@${bk.address}:${REPOSITORY_PATH}` : `sftp://root@${bk.address}:${bk.sshPort}/${REPOSITORY_PATH}`,
        schedule: "*-*-* 02:30:00", keep, sftpKnownHosts: `${at} ${bk.hostKey.split(" ").slice(0, 2).join(" ")}`,
    });
    c.config["osm-hosting:backupPassword"] = password;
    c.config["osm-hosting:backupSftpKey"] = fs.readFileSync(keyPath(stack.lab), "utf8");
    c.secretKeys.push("osm-hosting:backupPassword", "osm-hosting:backupSftpKey");
}

/** The backup unit's ExecStart on `host`, run as systemd runs it (the lab hosts have no systemd). */
export async function runBackupService(lab: Lab, host: string): Promise<{ code: number; stderr: string; seconds: number }> {
    const unit = (await lab.exec(host, "cat", ["/etc/systemd/system/osm-backup.service"])).stdout;
    const line = unit.split("\n").find((l) => l.startsWith("ExecStart="));
    if (!line) throw new Error(`${host}: osm-backup.service has no ExecStart line`);
    const t = Date.now();
    const r = await lab.exec(host, "sh", ["-c", `${line.slice("ExecStart=".length)}; echo "exit $?" >&2`]);
    const code = Number(/exit (\d+)\s*$/.exec(r.stderr)![1]);
    return { code, stderr: r.stderr, seconds: (Date.now() - t) / 1000 };
}

/**
 * restic run on fleet host `host` with the host's own backup settings (files/osm-backup's
 * `restic`, so the repository, password and SFTP key are the ones the timer uses), read-only
 * (`--no-lock`): e.g. `["snapshots", "--json"]`, `["ls", "--json", id]`, `["dump", id, file]`.
 */
export async function resticOnHost(lab: Lab, host: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const files = `${hostContract().remoteRoot}/ansible/files`;
    const r = await lab.exec(host, "sh", ["-c", `cd ${files} && /usr/bin/python3 -c '
import json, sys
sys.dont_write_bytecode = True
import importlib.machinery, importlib.util
loader = importlib.machinery.SourceFileLoader("osm_backup", "osm-backup")
spec = importlib.util.spec_from_loader("osm_backup", loader)
m = importlib.util.module_from_spec(spec); loader.exec_module(m)
rc, out, err = m.restic(m.load_config(), "--no-lock", *json.loads(sys.stdin.read()))
sys.stdout.write(out); sys.stderr.write(err); sys.exit(rc)
'`], JSON.stringify(args), { allowFail: true });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}
