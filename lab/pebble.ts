/**
 * The lab's ACME CA: Debian's pebble as a plain process in the root namespace, listening on
 * the lab bridge's address (the lab hosts reach it there; nothing else can), validating
 * HTTP-01 on port 80 of the hosts, resolving names only through the lab's DNS server
 * (`-dnsserver`; never the machine's resolver). Its HTTPS listener gets a throwaway CA made
 * here; its issuing root and intermediate are new at each start and fetched from the
 * management listener.
 *
 * On every lab host the CA bundle certbot must trust (listener CA + pebble's root and
 * intermediate) is placed at HOST_CA_BUNDLE_PATH: that is the stack config's `acme.caBundle`.
 */
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as path from "path";
import { HOST_CA_BUNDLE_PATH, Lab } from "./hosts";
import { alive, run, runInHost, sleep, spawnDetached, waitFor } from "./lab-exec";

export const ACME_PORT = 14000;
export const ACME_MANAGEMENT_PORT = 15000;

export interface PebbleOptions {
    /** DNS server pebble resolves through (`127.0.0.1:PORT` of the lab PowerDNS). When
     * absent (dev lab only), pebble validates nothing (PEBBLE_VA_ALWAYS_VALID=1) and gets a
     * loopback dnsmasq that knows no names, so it never asks the machine's resolver. */
    dnsServer?: string;
}

export interface Pebble {
    pid: number;
    /** ACME directory URL (stack config `acme.server`). */
    directoryUrl: string;
    /** Path ON EACH HOST of the CA bundle certbot must trust (stack config `acme.caBundle`). */
    hostCaBundlePath: string;
    /** Local file: pebble's issuing root (verify what NGINX serves: `curl --cacert`). */
    rootCaPath: string;
    /** Local file: root + intermediate. */
    chainCaPath: string;
    /** Local file: the CA of pebble's own HTTPS listener. */
    listenerCaPath: string;
    stop(): void;
}

function httpsGet(url: string, ca: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const req = https.get(url, { ca, timeout: 5000 }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (d) => (body += d));
            res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
        });
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`${url}: timeout`)));
    });
}

function portOpen(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ host, port, timeout: 300 });
        s.once("connect", () => (s.destroy(), resolve(true)));
        s.once("error", () => resolve(false));
        s.once("timeout", () => (s.destroy(), resolve(false)));
    });
}

/** Throwaway CA and a certificate for pebble's listener, valid for the bridge address. */
async function makeListenerCert(dir: string, address: string): Promise<{ ca: string; cert: string; key: string }> {
    const ca = path.join(dir, "listener-ca.pem");
    const caKey = path.join(dir, "listener-ca.key");
    const key = path.join(dir, "listener.key");
    const csr = path.join(dir, "listener.csr");
    const cert = path.join(dir, "listener.pem");
    const ext = path.join(dir, "listener.ext");
    await run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", "/CN=OSM lab ACME listener CA", "-keyout", caKey, "-out", ca,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    await run("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", `/CN=${address}`, "-keyout", key, "-out", csr]);
    fs.writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:${address}\n`);
    await run("openssl", ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert]);
    return { ca, cert, key };
}

/** A loopback DNS server that answers nothing and forwards nowhere; recorded for teardown. */
async function startNullDns(lab: Lab, dir: string): Promise<string> {
    const port = 20000 + ((process.pid * 7 + lab.state.slot * 131) % 20000);
    const log = fs.openSync(path.join(dir, "null-dns.log"), "a");
    const pid = spawnDetached("dnsmasq", ["--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
        "--listen-address=127.0.0.1", `--port=${port}`, "--pid-file=", "--log-facility=-"], log);
    fs.closeSync(log);
    lab.addRootPid(pid, "null-dns");
    await sleep(200);
    if (!alive(pid)) throw new Error(`the null DNS (dnsmasq on 127.0.0.1:${port}) exited: ${fs.readFileSync(path.join(dir, "null-dns.log"), "utf8").trim().slice(-300)}`);
    return `127.0.0.1:${port}`;
}

/** Starts pebble for a lab and places the CA bundle on each of its hosts. */
export async function startPebble(lab: Lab, opts: PebbleOptions = {}): Promise<Pebble> {
    const addr = lab.state.bridgeAddress;
    const dir = path.join(lab.state.dir, "pebble");
    fs.mkdirSync(dir, { recursive: true });
    const { ca, cert, key } = await makeListenerCert(dir, addr);
    const config = path.join(dir, "pebble-config.json");
    fs.writeFileSync(config, JSON.stringify({
        pebble: {
            listenAddress: `${addr}:${ACME_PORT}`,
            managementListenAddress: `${addr}:${ACME_MANAGEMENT_PORT}`,
            certificate: cert,
            privateKey: key,
            httpPort: 80,
            tlsPort: 443,
            ocspResponderURL: "",
            externalAccountBindingRequired: false,
        },
    }, null, 2));
    // Pebble rejects 5% of nonces on purpose; Debian's certbot 2.1 then crashes ("can't set
    // attribute") instead of retrying, so ten concurrent issuances failed now and then.
    const env: Record<string, string> = { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" };
    const args = ["-config", config, "-strict=false"];
    if (opts.dnsServer) {
        if (!/^127\.\d+\.\d+\.\d+:\d+$/.test(opts.dnsServer)) throw new Error(`pebble's DNS server must be on loopback (127.x.y.z:PORT), got ${opts.dnsServer}`);
        args.push("-dnsserver", opts.dnsServer);
    } else {
        env.PEBBLE_VA_ALWAYS_VALID = "1";
        args.push("-dnsserver", await startNullDns(lab, dir));
    }
    const log = fs.openSync(path.join(dir, "pebble.log"), "a");
    const pid = spawnDetached("pebble", args, log, env);
    fs.closeSync(log);
    lab.addRootPid(pid, "pebble");
    await waitFor(`pebble on ${addr}:${ACME_PORT} (log: ${dir}/pebble.log)`, async () => {
        if (!alive(pid)) throw new Error("pebble exited");
        return (await portOpen(addr, ACME_PORT)) && (await portOpen(addr, ACME_MANAGEMENT_PORT));
    }, 10_000, 30);

    const caText = fs.readFileSync(ca, "utf8");
    const root = await httpsGet(`https://${addr}:${ACME_MANAGEMENT_PORT}/roots/0`, caText);
    const intermediate = await httpsGet(`https://${addr}:${ACME_MANAGEMENT_PORT}/intermediates/0`, caText);
    const rootCaPath = path.join(dir, "pebble-root.pem");
    const chainCaPath = path.join(dir, "pebble-chain.pem");
    fs.writeFileSync(rootCaPath, root);
    fs.writeFileSync(chainCaPath, root.trimEnd() + "\n" + intermediate);
    const bundle = caText.trimEnd() + "\n" + root.trimEnd() + "\n" + intermediate;
    for (const h of lab.hosts) {
        await runInHost(h.anchorPid!, "sh", ["-c", 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod 0644 "$1"', "sh", HOST_CA_BUNDLE_PATH], { input: bundle });
    }
    return {
        pid,
        directoryUrl: `https://${addr}:${ACME_PORT}/dir`,
        hostCaBundlePath: HOST_CA_BUNDLE_PATH,
        rootCaPath,
        chainCaPath,
        listenerCaPath: ca,
        stop() {
            try {
                process.kill(pid, "SIGKILL");
            } catch {
                /* gone */
            }
        },
    };
}
