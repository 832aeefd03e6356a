/**
 * verify's MQTT over WebSockets (scripts/lib/verify/websocket.ts): the frames, the upgrade's
 * judgement, and a real session with Debian's Mosquitto on a websockets listener on loopback
 * (password file, no anonymous clients), as `<label>-mqtt.<domain>` reaches it behind NGINX.
 */
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { mqttSession } from "../../scripts/lib/verify/mqtt";
import { clientFrame, openWebSocket, parseFrames, upgradeProblem, UpgradeRefused } from "../../scripts/lib/verify/websocket";

/** A free port on loopback (bound, then let go). */
function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = s.address() as net.AddressInfo;
            s.close(() => resolve(port));
        });
        s.on("error", reject);
    });
}

function connect(port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1", () => resolve(s));
        s.once("error", reject);
    });
}

describe("verify: MQTT over WebSockets", function () {
    this.timeout(30_000);

    it("masks client frames and reads server frames of every length form, split anywhere", () => {
        const mask = Buffer.from([1, 2, 3, 4]);
        const f = clientFrame(2, Buffer.from("abc"), mask);
        assert.deepStrictEqual([...f.subarray(0, 2)], [0x82, 0x83]);
        assert.deepStrictEqual([...f.subarray(6)], [0x61 ^ 1, 0x62 ^ 2, 0x63 ^ 3]);
        // A masked frame reads back as its payload.
        assert.strictEqual(parseFrames(f).frames[0].payload.toString(), "abc");
        const server = (n: number) => {
            const head = n < 126 ? Buffer.from([0x82, n]) : n < 65536 ? Buffer.from([0x82, 126, n >> 8, n & 0xff])
                : Buffer.concat([Buffer.from([0x82, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
            return Buffer.concat([head, Buffer.alloc(n, 7)]);
        };
        const stream = Buffer.concat([server(5), server(300), server(70_000)]);
        for (const cut of [1, 3, 7, 200, 400, stream.length - 1]) {
            const a = parseFrames(stream.subarray(0, cut));
            const b = parseFrames(Buffer.concat([a.rest, stream.subarray(cut)]));
            assert.deepStrictEqual([...a.frames, ...b.frames].map((x) => x.payload.length), [5, 300, 70_000], `cut at ${cut}`);
            assert.strictEqual(b.rest.length, 0);
        }
        assert.strictEqual(clientFrame(2, Buffer.alloc(70_000)).length, 2 + 8 + 4 + 70_000);
    });

    it("accepts only a 101 with this key's accept value and the mqtt subprotocol", () => {
        const key = "dGhlIHNhbXBsZSBub25jZQ==";
        const ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt";
        assert.strictEqual(upgradeProblem(ok, key), null);
        assert.deepStrictEqual(upgradeProblem(ok.replace("s3pP", "xxxx"), key), { status: 101, detail: "wrong Sec-WebSocket-Accept (not a WebSocket server)" });
        assert.match(upgradeProblem(ok.replace("Protocol: mqtt", "Protocol: chat"), key)!.detail, /subprotocol "chat", not mqtt/);
        assert.deepStrictEqual(upgradeProblem("HTTP/1.1 502 Bad Gateway\r\nServer: nginx", key), { status: 502, detail: "HTTP 502" });
    });

    it("reports a server that is not a WebSocket (an HTTP service behind the name)", async () => {
        const server = http.createServer((_req, res) => res.end("grafana stand-in\n"));
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        try {
            const socket = await connect((server.address() as net.AddressInfo).port);
            await assert.rejects(openWebSocket(socket, "acme-mqtt.osm.example.test", "/", 5000), (e: unknown) => e instanceof UpgradeRefused && e.status === 200 && /refused: HTTP 200/.test(e.message));
        } finally {
            server.close();
        }
    });

    describe("with Mosquitto's websockets listener (the container's, as configured by mosquitto-osm.conf.j2)", () => {
        let dir: string;
        let broker: ChildProcess | undefined;
        let wsPort: number;
        const user = "acme";
        const password = crypto.randomBytes(12).toString("base64url");

        before(async function () {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-mqtt-ws-"));
            fs.chmodSync(dir, 0o755);
            // The password file as osm-credentials writes it ($7$: PBKDF2-SHA512, 101 iterations).
            const salt = crypto.randomBytes(12);
            const digest = crypto.pbkdf2Sync(password, salt, 101, 64, "sha512");
            fs.writeFileSync(path.join(dir, "passwd"), `${user}:$7$101$${salt.toString("base64")}$${digest.toString("base64")}\n`, { mode: 0o644 });
            const tcpPort = await freePort();
            wsPort = await freePort();
            fs.writeFileSync(path.join(dir, "mosquitto.conf"), [
                "per_listener_settings false", "allow_anonymous false", `password_file ${path.join(dir, "passwd")}`,
                `listener ${tcpPort} 127.0.0.1`, `listener ${wsPort} 127.0.0.1`, "protocol websockets", "",
            ].join("\n"));
            const log = fs.openSync(path.join(dir, "log"), "w");
            broker = spawn("mosquitto", ["-c", path.join(dir, "mosquitto.conf")], { stdio: ["ignore", log, log] });
            fs.closeSync(log);
            const deadline = Date.now() + 10_000;
            for (;;) {
                const up = await connect(wsPort).then((s) => { s.destroy(); return true; }, () => false);
                if (up) break;
                if (Date.now() > deadline || broker.exitCode !== null) throw new Error(`mosquitto did not listen on ${wsPort}: ${fs.readFileSync(path.join(dir, "log"), "utf8")}`);
                await new Promise((r) => setTimeout(r, 100));
            }
        });
        after(async () => {
            if (broker && broker.exitCode === null) {
                const gone = new Promise((r) => broker!.once("exit", r));
                broker.kill("SIGTERM");
                await gone;
            }
            fs.rmSync(dir, { recursive: true, force: true });
        });

        it("logs in, subscribes, publishes and reads the message back over the WebSocket", async () => {
            const ws = await openWebSocket(await connect(wsPort), "acme-mqtt.osm.example.test", "/", 5000);
            assert.deepStrictEqual(await mqttSession(ws, { username: user, password }, true, 5000), { connack: 0, echoed: true });
        });

        it("is refused with a wrong password (the same users as on 1883)", async () => {
            const ws = await openWebSocket(await connect(wsPort), "acme-mqtt.osm.example.test", "/", 5000);
            const r = await mqttSession(ws, { username: user, password: "wrong" }, false, 5000).catch((e: Error) => e);
            // Mosquitto answers CONNACK 5 (not authorized), or closes at once.
            if (r instanceof Error) assert.match(r.message, /closed the connection before CONNACK/);
            else assert.notStrictEqual(r.connack, 0);
        });
    });
});
