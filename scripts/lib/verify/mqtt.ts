/**
 * Just enough MQTT 3.1.1 (OASIS, mqtt-v3.1.1) for verify: CONNECT with a user and password,
 * SUBSCRIBE, PUBLISH at QoS 0 and read it back, DISCONNECT; over a TLS socket (or a WebSocket
 * in one, websocket.ts) opened and judged by the caller. The password goes only into the CONNECT packet on a connection whose
 * certificate was already found trusted and valid for the name: never to an unknown server.
 */
import * as crypto from "crypto";
import { Duplex } from "stream";

/** CONNACK return codes (3.1.1 §3.2.2.3). */
export const CONNACK_CODES: Record<number, string> = {
    0: "accepted", 1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
    4: "bad user name or password", 5: "not authorized",
};

function remainingLength(n: number): Buffer {
    const out: number[] = [];
    do {
        let b = n % 128;
        n = Math.floor(n / 128);
        if (n > 0) b |= 0x80;
        out.push(b);
    } while (n > 0);
    return Buffer.from(out);
}

function str(s: string): Buffer {
    const b = Buffer.from(s, "utf8");
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    return Buffer.concat([len, b]);
}

function packet(type: number, flags: number, body: Buffer): Buffer {
    return Buffer.concat([Buffer.from([(type << 4) | flags]), remainingLength(body.length), body]);
}

/** CONNECT, clean session, keep-alive 30 s, with user name and password. */
export function connectPacket(clientId: string, username: string, password: string): Buffer {
    const header = Buffer.concat([str("MQTT"), Buffer.from([4, 0b11000010, 0, 30])]);
    return packet(1, 0, Buffer.concat([header, str(clientId), str(username), str(password)]));
}

export function subscribePacket(id: number, topic: string): Buffer {
    const pid = Buffer.alloc(2);
    pid.writeUInt16BE(id);
    return packet(8, 0b0010, Buffer.concat([pid, str(topic), Buffer.from([0])]));
}

export function publishPacket(topic: string, payload: string): Buffer {
    return packet(3, 0, Buffer.concat([str(topic), Buffer.from(payload, "utf8")]));
}

export const DISCONNECT = Buffer.from([0xe0, 0]);

export interface Packet {
    type: number;
    flags: number;
    body: Buffer;
}

/** Splits a byte stream into packets; returns the packets and the bytes left over. */
export function parsePackets(buf: Buffer): { packets: Packet[]; rest: Buffer } {
    const packets: Packet[] = [];
    let i = 0;
    for (;;) {
        if (buf.length - i < 2) break;
        let len = 0;
        let mult = 1;
        let j = i + 1;
        let complete = false;
        for (let k = 0; k < 4 && j < buf.length; k++, j++) {
            len += (buf[j] & 0x7f) * mult;
            mult *= 128;
            if ((buf[j] & 0x80) === 0) {
                complete = true;
                j++;
                break;
            }
        }
        if (!complete || buf.length < j + len) break;
        packets.push({ type: buf[i] >> 4, flags: buf[i] & 0x0f, body: buf.subarray(j, j + len) });
        i = j + len;
    }
    return { packets, rest: buf.subarray(i) };
}

/** Topic and payload of a PUBLISH at QoS 0. */
export function parsePublish(p: Packet): { topic: string; payload: string } {
    const n = p.body.readUInt16BE(0);
    const qos = (p.flags >> 1) & 3;
    const start = 2 + n + (qos > 0 ? 2 : 0);
    return { topic: p.body.subarray(2, 2 + n).toString("utf8"), payload: p.body.subarray(start).toString("utf8") };
}

/** What one session found: CONNACK's code, and whether the message came back. */
export interface MqttSession {
    connack: number;
    /** Only asked when `roundTrip` is set and the login was accepted. */
    echoed?: boolean;
}

/**
 * Logs in on `socket` (already judged), and with `roundTrip` subscribes to a fresh topic,
 * publishes to it and waits for the message. Ends the socket. Rejects on timeout or when the
 * broker closes the connection before answering.
 */
export function mqttSession(socket: Duplex, creds: { username: string; password: string }, roundTrip: boolean, timeoutMs: number): Promise<MqttSession> {
    return new Promise((resolve, reject) => {
        const topic = `osm/verify/${crypto.randomBytes(6).toString("hex")}`;
        const payload = `verify-${crypto.randomBytes(6).toString("hex")}`;
        let buf: Buffer = Buffer.alloc(0);
        let connack: number | undefined;
        let done = false;
        const finish = (err: Error | null, v?: MqttSession) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            if (connack === 0 && !socket.destroyed) socket.end(DISCONNECT);
            else socket.destroy();
            if (err) reject(err);
            else resolve(v!);
        };
        const timer = setTimeout(() => finish(new Error(connack === undefined ? `no CONNACK within ${timeoutMs} ms` : `the published message did not come back within ${timeoutMs} ms`)), timeoutMs);
        socket.on("data", (d: Buffer) => {
            const { packets, rest } = parsePackets(Buffer.concat([buf, d]));
            buf = rest;
            for (const p of packets) {
                if (p.type === 2) {
                    connack = p.body[1];
                    if (connack !== 0 || !roundTrip) return finish(null, { connack });
                    socket.write(subscribePacket(1, topic));
                } else if (p.type === 9) {
                    if (p.body[2] === 0x80) return finish(new Error(`the broker refused the subscription to ${topic}`));
                    socket.write(publishPacket(topic, payload));
                } else if (p.type === 3) {
                    const m = parsePublish(p);
                    if (m.topic === topic && m.payload === payload) return finish(null, { connack: 0, echoed: true });
                }
            }
        });
        socket.once("close", () => finish(new Error(connack === undefined ? "the broker closed the connection before CONNACK" : "the broker closed the connection")));
        socket.once("error", (e) => finish(e));
        socket.write(connectPacket(`osm-verify-${crypto.randomBytes(4).toString("hex")}`, creds.username, creds.password));
    });
}
