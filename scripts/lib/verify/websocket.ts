/**
 * Just enough WebSocket (RFC 6455) for verify to speak MQTT over it, as a browser or device
 * does on `<label>-mqtt.<domain>`: the HTTP upgrade asking for the `mqtt` subprotocol (MQTT
 * 3.1.1 §6), then binary frames, masked from the client, answered pings, a close frame at the
 * end. No dependency: Node 20 has no WebSocket client without a flag, and Debian 12's
 * mosquitto_pub has no websockets support. The caller opens and judges the TLS connection
 * first, so nothing is sent to a server that did not prove the name.
 */
import * as crypto from "crypto";
import { Duplex } from "stream";

/** RFC 6455 §1.3: the key's accept value is SHA-1(key + this GUID), base64. */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Opcodes of RFC 6455 §5.2. */
const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** What the server answered to the upgrade when it was not a WebSocket. */
export class UpgradeRefused extends Error {
    constructor(public readonly status: number, detail: string) {
        super(`WebSocket upgrade refused: ${detail}`);
    }
}

/** One client frame: FIN, the opcode, masked with a fresh key (§5.3). */
export function clientFrame(opcode: number, payload: Buffer, mask = crypto.randomBytes(4)): Buffer {
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n])
        : n < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff])
            : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = payload[i] ^ mask[i % 4];
    return Buffer.concat([head, mask, body]);
}

export interface Frame {
    fin: boolean;
    opcode: number;
    payload: Buffer;
}

/** Splits server bytes into frames (unmasked, or masked: both are read); returns the rest. */
export function parseFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
    const frames: Frame[] = [];
    let i = 0;
    for (;;) {
        if (buf.length - i < 2) break;
        const b0 = buf[i];
        const b1 = buf[i + 1];
        let len = b1 & 0x7f;
        let j = i + 2;
        if (len === 126) {
            if (buf.length < j + 2) break;
            len = buf.readUInt16BE(j);
            j += 2;
        } else if (len === 127) {
            if (buf.length < j + 8) break;
            len = Number(buf.readBigUInt64BE(j));
            j += 8;
        }
        const masked = (b1 & 0x80) !== 0;
        const mask = masked ? buf.subarray(j, j + 4) : undefined;
        if (masked) j += 4;
        if (buf.length < j + len) break;
        const payload = Buffer.from(buf.subarray(j, j + len));
        if (mask) for (let k = 0; k < payload.length; k++) payload[k] ^= mask[k % 4];
        frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload });
        i = j + len;
    }
    return { frames, rest: buf.subarray(i) };
}

/** The upgrade request for `host` and `path`, asking for the `mqtt` subprotocol. */
export function upgradeRequest(host: string, path: string, key: string): string {
    return [`GET ${path} HTTP/1.1`, `Host: ${host}`, "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Key: ${key}`,
        "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: mqtt", "User-Agent: osm-verify", "", ""].join("\r\n");
}

/** Judges the server's answer to the upgrade: null when it is a WebSocket for this key and `mqtt`. */
export function upgradeProblem(head: string, key: string): { status: number; detail: string } | null {
    const [statusLine, ...lines] = head.split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
    if (status !== 101) return { status, detail: status ? `HTTP ${status}` : `not an HTTP answer (${JSON.stringify(statusLine.slice(0, 40))})` };
    const headers = new Map(lines.map((l) => { const c = l.indexOf(":"); return [l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim()] as const; }));
    const accept = crypto.createHash("sha1").update(key + ACCEPT_GUID).digest("base64");
    if (headers.get("sec-websocket-accept") !== accept) return { status, detail: "wrong Sec-WebSocket-Accept (not a WebSocket server)" };
    if ((headers.get("sec-websocket-protocol") ?? "").toLowerCase() !== "mqtt") return { status, detail: `subprotocol ${JSON.stringify(headers.get("sec-websocket-protocol") ?? "")}, not mqtt` };
    return null;
}

/** The bytes of an open WebSocket as a stream: what is written goes out as binary frames. */
class WebSocketStream extends Duplex {
    private buf: Buffer;
    private closing = false;

    constructor(private readonly socket: Duplex, rest: Buffer) {
        super();
        this.buf = Buffer.alloc(0);
        socket.on("data", (d: Buffer) => this.onBytes(d));
        socket.once("close", () => {
            this.push(null);
            this.destroy();
        });
        socket.once("error", (e) => this.destroy(e));
        if (rest.length) this.onBytes(rest);
    }

    private onBytes(d: Buffer): void {
        const { frames, rest } = parseFrames(Buffer.concat([this.buf, d]));
        this.buf = rest;
        for (const f of frames) {
            if (f.opcode === OP.binary || f.opcode === OP.continuation || f.opcode === OP.text) this.push(f.payload);
            else if (f.opcode === OP.ping) this.socket.write(clientFrame(OP.pong, f.payload));
            else if (f.opcode === OP.close) {
                if (!this.closing) this.socket.write(clientFrame(OP.close, f.payload.subarray(0, 2)));
                this.socket.end();
            }
        }
    }

    override _read(): void {
        // Data is pushed as frames arrive.
    }

    override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
        this.socket.write(clientFrame(OP.binary, chunk), cb);
    }

    override _final(cb: (e?: Error | null) => void): void {
        // A normal closure (1000), then the TCP/TLS end.
        this.closing = true;
        this.socket.write(clientFrame(OP.close, Buffer.from([0x03, 0xe8])));
        this.socket.end();
        cb();
    }

    override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
        this.socket.destroy();
        cb(err);
    }
}

/**
 * Upgrades `socket` (already judged) to a WebSocket on `path` of `host`; resolves with a
 * stream of its binary messages' bytes. Rejects with UpgradeRefused when the server answers
 * anything but a WebSocket for `mqtt`, or on timeout.
 */
export function openWebSocket(socket: Duplex, host: string, path: string, timeoutMs: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
        const key = crypto.randomBytes(16).toString("base64");
        let buf = Buffer.alloc(0);
        const done = (err: Error | null, ws?: Duplex) => {
            clearTimeout(timer);
            socket.off("data", onData);
            socket.off("error", onError);
            socket.off("close", onClose);
            if (err) { socket.destroy(); reject(err); } else resolve(ws!);
        };
        const onData = (d: Buffer) => {
            buf = Buffer.concat([buf, d]);
            const end = buf.indexOf("\r\n\r\n");
            if (end < 0) {
                if (buf.length > 16384) done(new UpgradeRefused(0, "an answer without end of headers"));
                return;
            }
            const bad = upgradeProblem(buf.subarray(0, end).toString("latin1"), key);
            if (bad) return done(new UpgradeRefused(bad.status, bad.detail));
            done(null, new WebSocketStream(socket, buf.subarray(end + 4)));
        };
        const onError = (e: Error) => done(e);
        const onClose = () => done(new Error("the server closed the connection before answering the WebSocket upgrade"));
        const timer = setTimeout(() => done(new Error(`no answer to the WebSocket upgrade within ${timeoutMs} ms`)), timeoutMs);
        socket.on("data", onData);
        socket.once("error", onError);
        socket.once("close", onClose);
        socket.write(upgradeRequest(host, path, key));
    });
}
