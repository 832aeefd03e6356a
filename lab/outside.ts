/**
 * Checks "from outside" a lab host, as a customer's browser or device would make them, from
 * the root namespace over the lab bridge: HTTPS through NGINX (curl --resolve, the lab CA) and
 * MQTT over TLS (mosquitto_pub/sub). Names resolve to what the lab PowerDNS answers: curl gets
 * `--resolve`; the mosquitto clients (which have no such option) run in a private mount
 * namespace whose /etc/hosts holds those answers. Credentials go into a 0600 options file the
 * clients read ($XDG_CONFIG_HOME/mosquitto_pub), never into argv.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { run, RunResult } from "./lab-exec";
import { isLabAddress } from "./netsafety";

function assertLab(address: string): void {
    if (!isLabAddress(address)) throw new Error(`refusing test traffic to ${address}: not a lab address`);
}

/** GET https://NAME/ through the host at `address`, verifying with `caFile`. */
export async function httpsGet(name: string, address: string, caFile: string, pathname = "/"): Promise<{ status: number; body: string }> {
    assertLab(address);
    const r = await run("curl", ["-sS", "--max-time", "10", "--resolve", `${name}:443:${address}`, "--cacert", caFile,
        "-o", "-", "-w", "\n%{http_code}", `https://${name}${pathname}`], { allowFail: true });
    if (r.code !== 0) throw new Error(`curl https://${name}${pathname} via ${address} failed (exit ${r.code}): ${r.stderr.trim()}`);
    const i = r.stdout.lastIndexOf("\n");
    return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}

export interface MqttTarget {
    name: string;
    port: number;
    /** The host's address the name resolves to (from the lab DNS). */
    address: string;
    caFile: string;
    username: string;
    password: string;
}

/** Runs a mosquitto client against `t` with its options (and secret) in a 0600 file. */
export async function mosquitto(client: "mosquitto_pub" | "mosquitto_sub", t: MqttTarget, args: string[], timeoutMs = 30_000): Promise<RunResult> {
    assertLab(t.address);
    for (const v of [t.username, t.password]) {
        if (/[\s]/.test(v)) throw new Error("MQTT credentials with whitespace cannot go through the options file");
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-mqtt-"));
    try {
        fs.chmodSync(dir, 0o700);
        const options = [`-h ${t.name}`, `-p ${t.port}`, `--cafile ${t.caFile}`, `-u ${t.username}`, `-P ${t.password}`, ""].join("\n");
        fs.writeFileSync(path.join(dir, client), options, { mode: 0o600 });
        fs.writeFileSync(path.join(dir, "hosts"), `127.0.0.1 localhost\n${t.address} ${t.name}\n`);
        return await run("unshare", ["-m", "--propagation", "private", "sh", "-c", 'mount --bind "$1" /etc/hosts && shift && exec "$@"', "sh",
            path.join(dir, "hosts"), client, ...args], { env: { XDG_CONFIG_HOME: dir }, allowFail: true, timeoutMs });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
