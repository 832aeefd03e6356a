/**
 * The network side of verify, as a device or browser sees the fleet: DNS questions to one
 * server, TLS connections with the certificate judged (chain, name, days left) and an HTTPS
 * GET through them. Every operation has its own deadline, so a dead host costs the timeout.
 */
import * as dns from "dns";
import * as https from "https";
import * as net from "net";
import * as tls from "tls";

/** A DNS server to ask: address (or name) and port. */
export interface DnsServer {
    host: string;
    port: number;
}

/** "HOST[:PORT]" (port 53 by default; IPv6 as "[::1]:5300"). */
export function parseDnsServer(text: string): DnsServer {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
    if (!m) throw new Error(`--dns-server ${text}: expected HOST or HOST:PORT`);
    const port = m[2] ? Number(m[2]) : 53;
    if (!(port > 0 && port < 65536)) throw new Error(`--dns-server ${text}: bad port`);
    return { host: m[1], port };
}

/** A resolver asking `server` only (its name, if it is one, looked up once by the system). */
export async function resolverFor(server: DnsServer | "system", timeoutMs: number): Promise<dns.promises.Resolver> {
    const r = new dns.promises.Resolver({ timeout: Math.max(500, Math.floor(timeoutMs / 2)), tries: 2 });
    if (server === "system") return r;
    const address = net.isIP(server.host) ? server.host : (await dns.promises.lookup(server.host)).address;
    r.setServers([net.isIPv6(address) ? `[${address}]:${server.port}` : `${address}:${server.port}`]);
    return r;
}

/** The answer to one question: the records, or what the server said instead. */
export type DnsAnswer = { ok: true; records: string[] } | { ok: false; code: string };

/** Asks one question; NXDOMAIN and NODATA are answers, not errors. */
export async function ask(r: dns.promises.Resolver, name: string, type: "CNAME" | "A"): Promise<DnsAnswer> {
    try {
        const records = type === "CNAME" ? await r.resolveCname(name) : await r.resolve4(name);
        return { ok: true, records: records.map((x) => x.toLowerCase().replace(/\.$/, "")) };
    } catch (e: any) {
        return { ok: false, code: String(e?.code ?? e?.message ?? e) };
    }
}

/** What a TLS server presented, judged against the name asked for. */
export interface PeerCertificate {
    /** Chained to a trusted CA and in its validity period. */
    trusted: boolean;
    /** Why not (OpenSSL's code, e.g. CERT_HAS_EXPIRED). */
    trustError?: string;
    /** Valid for the name asked for. */
    nameOk: boolean;
    names: string[];
    daysLeft: number;
    validTo: string;
}

/** The judgement of a peer certificate for `servername`. */
export function judgeCertificate(socket: tls.TLSSocket, servername: string, now = Date.now()): PeerCertificate {
    const cert = socket.getPeerCertificate();
    if (!cert || !cert.valid_to) return { trusted: false, trustError: "no certificate", nameOk: false, names: [], daysLeft: 0, validTo: "" };
    const names = (cert.subjectaltname ?? "").split(/,\s*/).filter((x) => x.startsWith("DNS:")).map((x) => x.slice(4));
    const nameOk = tls.checkServerIdentity(servername, cert) === undefined;
    const end = Date.parse(cert.valid_to);
    return {
        trusted: socket.authorized,
        ...(socket.authorized ? {} : { trustError: String(socket.authorizationError) }),
        nameOk, names, daysLeft: Math.round(((end - now) / 86_400_000) * 100) / 100, validTo: new Date(end).toISOString(),
    };
}

/** In a few words: what is wrong with a certificate for `name`, or null. */
export function certificateProblem(c: PeerCertificate, name: string): string | null {
    if (!c.nameOk) return `certificate is for ${c.names.join(", ") || "no name"}, not ${name}`;
    if (!c.trusted) {
        if (c.trustError === "CERT_HAS_EXPIRED") return `certificate expired ${Math.abs(Math.floor(c.daysLeft))} day(s) ago`;
        return `certificate not trusted (${c.trustError})`;
    }
    return null;
}

/** Connection options shared by HTTPS and MQTT: the address to dial, the name to ask for. */
export interface TlsTarget {
    address: string;
    port: number;
    /** SNI and the name the certificate must hold. */
    servername: string;
    /** CA certificates to trust (PEM); the system's when unset. */
    ca?: string;
    timeoutMs: number;
}

/** Opens a TLS connection without trusting it yet: the caller judges the certificate first. */
export function openTls(t: TlsTarget): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
        const socket = tls.connect({ host: t.address, port: t.port, servername: t.servername, ca: t.ca, rejectUnauthorized: false });
        const timer = setTimeout(() => socket.destroy(new Error(`no TLS answer from ${t.address}:${t.port} within ${t.timeoutMs} ms`)), t.timeoutMs);
        socket.once("secureConnect", () => {
            clearTimeout(timer);
            resolve(socket);
        });
        socket.once("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
    });
}

/** A connection error in a few words ("connection refused", "timed out", …). */
export function netProblem(e: any, what: string): string {
    const code = e?.code as string | undefined;
    if (code === "ECONNREFUSED") return `${what}: connection refused`;
    if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return `${what}: host unreachable`;
    if (code === "ECONNRESET") return `${what}: connection reset`;
    if (/within \d+ ms|timed out/i.test(String(e?.message))) return `${what}: no answer (timed out)`;
    // OpenSSL's long error strings: only the reason ("tlsv1 unrecognized name").
    const ssl = /SSL routines:[^:]*:([^:]+):/.exec(String(e?.message));
    if (ssl) return `${what}: TLS refused (${ssl[1].trim()})`;
    return `${what}: ${e?.message ?? e}`;
}

export interface HttpsAnswer {
    status: number;
    body: string;
    certificate: PeerCertificate;
}

/** GET https://servername/path through `address` (the name's host), with the certificate judged. */
export function httpsGet(t: TlsTarget, pathname: string): Promise<HttpsAnswer> {
    return new Promise((resolve, reject) => {
        let certificate: PeerCertificate | undefined;
        const req = https.request({
            host: t.address, port: t.port, servername: t.servername, path: pathname, method: "GET", ca: t.ca,
            rejectUnauthorized: false, agent: false, headers: { Host: t.servername, "User-Agent": "osm-verify" },
        }, (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on("data", (d: Buffer) => {
                // Enough to tell the service; the rest is not read.
                if (size < 65536) chunks.push(d);
                size += d.length;
            });
            res.on("end", () => {
                clearTimeout(timer);
                resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), certificate: certificate! });
            });
            res.on("error", reject);
        });
        const timer = setTimeout(() => req.destroy(new Error(`no HTTPS answer within ${t.timeoutMs} ms`)), t.timeoutMs);
        req.on("socket", (s: tls.TLSSocket) => s.once("secureConnect", () => (certificate = judgeCertificate(s, t.servername))));
        req.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        req.end();
    });
}
