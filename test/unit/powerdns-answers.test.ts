/**
 * What the record provider makes of each kind of HTTP answer, against real HTTP servers on
 * 127.0.0.1 (node http) that answer as the server in front of it would. The PowerDNS ones
 * answer exactly as pdns_server 4.7.3 does (measured; test/lab/powerdns.test.ts checks the
 * same cases against the real server): an unknown zone and every API path of a server with
 * api=no are the same 404 `{"error": "Not Found"}`, without a Server header, so only PowerDNS's
 * own zone list tells them apart. Delete and read take "absent" only from PowerDNS itself.
 */
import * as assert from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import { provider } from "../../components/powerdns/provider";

const KEY = "unit-key-0123456789abcdef";
const ZONE = "z.test.";

interface Seen { method: string; url: string; key: string | undefined; body: string }
interface Fake { url: string; seen: Seen[]; close(): Promise<void> }

type Answer = { status: number; headers?: { [k: string]: string }; body?: string };
type Route = (req: http.IncomingMessage, body: string) => Answer;

async function serve(route: Route): Promise<Fake> {
    const seen: Seen[] = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (c) => { body += c; });
        req.on("end", () => {
            seen.push({ method: req.method!, url: req.url!, key: req.headers["x-api-key"] as string | undefined, body });
            const a = route(req, body);
            res.writeHead(a.status, a.headers ?? {});
            res.end(a.body ?? "");
        });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
        url, seen,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
    };
}

const json = (status: number, value: unknown): Answer => ({ status, headers: { "Content-Type": "application/json" }, body: JSON.stringify(value) });
/** pdns_server's 404: JSON when asked for JSON, else plain text. */
const pdnsNotFound = (req: http.IncomingMessage): Answer => (/json/.test(req.headers.accept ?? "")
    ? json(404, { error: "Not Found" })
    : { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" }, body: "Not Found" });
const MONITOR = { status: 200, headers: { "Content-Type": "text/html; charset=utf-8" }, body: "<!DOCTYPE html>\n<html><head>\n<title>PowerDNS Authoritative Server Monitor</title>\n</head><body>PowerDNS 4.7.3</body></html>" };
const API = "/api/v1/servers/localhost";

interface PdnsZone { rrsets: { name: string; type: string; ttl: number; records: { content: string; disabled: boolean }[] }[] }

/**
 * pdns_server's webserver: with `api` its API (key checked first, as PowerDNS does), the
 * monitor page at /, and 404 for everything else. `zones` is its data; PATCHes are applied.
 */
function powerDns(opts: { api: boolean; zones?: { [zone: string]: PdnsZone }; prefix?: string }): Route {
    const zones = opts.zones ?? {};
    return (req, body) => {
        const u = new URL(req.url!, "http://x");
        if (u.pathname === "/") return MONITOR;
        if (!opts.api || !u.pathname.startsWith("/api")) return pdnsNotFound(req);
        if (req.headers["x-api-key"] !== KEY) {
            return { status: 401, headers: { "Content-Type": "text/plain; charset=utf-8", "WWW-Authenticate": 'X-API-Key realm="PowerDNS"' }, body: "Unauthorized" };
        }
        if (u.pathname === API) return json(200, { daemon_type: "authoritative", id: "localhost", type: "Server", version: "4.7.3" });
        if (u.pathname === `${API}/zones` && req.method === "GET") {
            const want = u.searchParams.get("zone");
            return json(200, Object.keys(zones).filter((z) => want === null || z === want).map((name) => ({ name, id: name, kind: "Native" })));
        }
        const m = new RegExp(`^${API}/zones/([^/]+)$`).exec(u.pathname);
        const zone = m && zones[decodeURIComponent(m[1])];
        if (!m || !zone) return pdnsNotFound(req);
        const name = decodeURIComponent(m[1]);
        if (req.method === "GET") {
            const rn = u.searchParams.get("rrset_name");
            const rt = u.searchParams.get("rrset_type");
            return json(200, { name, id: name, kind: "Native", rrsets: zone.rrsets.filter((r) => (rn === null || r.name === rn) && (rt === null || r.type === rt)) });
        }
        if (req.method === "PATCH") {
            for (const c of JSON.parse(body).rrsets) {
                zone.rrsets = zone.rrsets.filter((r) => !(r.name === c.name && r.type === c.type));
                if (c.changetype === "REPLACE") zone.rrsets.push({ name: c.name, type: c.type, ttl: c.ttl, records: c.records });
            }
            return { status: 204 };
        }
        return json(405, { error: "Method Not Allowed" });
    };
}

/** A record's stored state at this server (what delete and read get). */
const state = (apiUrl: string, over: object = {}) => ({ apiUrl, apiKey: KEY, zone: ZONE, name: `c.${ZONE}`, type: "CNAME", ttl: 300, records: [`h1.${ZONE}`], ...over });

async function failure(p: Promise<unknown>): Promise<string> {
    try { await p; } catch (e) { return (e as Error).message; }
    throw new Error("expected a failure, got success");
}
const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

describe("PowerDNS record: absent only when PowerDNS says so (HTTP servers on 127.0.0.1)", function () {
    this.timeout(20000);
    const fakes: Fake[] = [];
    const start = async (route: Route) => { const f = await serve(route); fakes.push(f); return f; };
    const messages: string[] = [];
    const fails = async (p: Promise<unknown>) => { const m = await failure(p); messages.push(m); return m; };
    after(async () => {
        for (const f of fakes) await f.close();
        for (const m of messages) assert.ok(!m.includes(KEY), `an error shows the API key: ${m}`);
    });

    it("delete: a zone PowerDNS does not have is gone (its 404 is confirmed by the zone list); an absent rrset too", async () => {
        const pdns = await start(powerDns({ api: true, zones: { [ZONE]: { rrsets: [] } } }));
        await provider.delete!("id", state(pdns.url, { zone: "gone.test.", name: "c.gone.test." }));
        assert.deepStrictEqual(pdns.seen.map((s) => `${s.method} ${s.url}`), [`PATCH ${API}/zones/gone.test.`, `GET ${API}/zones?zone=gone.test.`]);
        await provider.delete!("id", state(pdns.url));
        assert.strictEqual(pdns.seen.at(-1)!.method, "PATCH");
    });

    it("delete against PowerDNS with api=no fails, says its API is off and what to set", async () => {
        const off = await start(powerDns({ api: false }));
        const m = await fails(provider.delete!("id", state(off.url)));
        assert.match(m, new RegExp(`^PowerDNS record c\\.z\\.test\\. CNAME: ${esc(off.url)}: PowerDNS's webserver answers \\("PowerDNS Authoritative Server Monitor"\\) but not its HTTP API \\(HTTP 404 on /api/v1/servers/localhost\\): set api=yes and api-key in pdns\\.conf and restart PowerDNS`));
        // The probes of its page carry no key.
        assert.deepStrictEqual(off.seen.filter((s) => s.key !== undefined).map((s) => s.url), [`${API}/zones/${ZONE}`, `${API}/zones?zone=${ZONE}`]);
    });

    it("delete against a plain HTTP server fails: not a PowerDNS API, with its Server header and page", async () => {
        const nginx = await start(() => ({ status: 404, headers: { "Content-Type": "text/html", Server: "nginx/1.22.1" }, body: "<html><head><title>404 Not Found</title></head><body>nginx</body></html>" }));
        const m = await fails(provider.delete!("id", state(nginx.url)));
        assert.match(m, new RegExp(`${esc(nginx.url)}: not a PowerDNS API \\(404 without a PowerDNS error body; Server: nginx/1\\.22\\.1, its page "404 Not Found"\\): check powerdns\\.apiUrl and that api=yes in pdns\\.conf$`));
        assert.deepStrictEqual(nginx.seen.filter((s) => s.url === "/").map((s) => s.key), [undefined]);
    });

    it("delete under a wrong path prefix fails and names the URL that has the API", async () => {
        const pdns = await start(powerDns({ api: true, zones: { [ZONE]: { rrsets: [] } } }));
        const m = await fails(provider.delete!("id", state(`${pdns.url}/pdns`)));
        assert.match(m, new RegExp(`${esc(pdns.url)}/pdns: no PowerDNS API under this path \\(HTTP 404 on /api/v1/servers/localhost\\), but ${esc(pdns.url)} has one: set powerdns\\.apiUrl to ${esc(pdns.url)}$`));
        // The origin was asked without the key (its 401 challenge says it is PowerDNS).
        assert.deepStrictEqual(pdns.seen.filter((s) => s.url === API).map((s) => s.key), [undefined]);
    });

    it("a server that answers 200 to anything is no PowerDNS: delete, read and create fail", async () => {
        const ok = await start(() => ({ status: 200, headers: { "Content-Type": "text/plain" }, body: "OK" }));
        assert.match(await fails(provider.delete!("id", state(ok.url))), /not a PowerDNS API \(PATCH answered HTTP 200; PowerDNS answers 204\): check powerdns\.apiUrl/);
        assert.match(await fails(provider.read!("id", state(ok.url))), /not a PowerDNS API \(HTTP 200 without JSON\)/);
        assert.match(await fails(provider.create!(state(ok.url))), /not a PowerDNS API \(HTTP 200 without JSON\)/);
        const js = await start(() => json(200, { status: "ok" }));
        assert.match(await fails(provider.read!("id", state(js.url))), /not a PowerDNS API \(its answer for zone z\.test\. holds no rrsets of that zone\)/);
    });

    it("read: gone when PowerDNS lacks the rrset or its zone; an error against api=no or for a 4xx without PowerDNS's error body", async () => {
        const pdns = await start(powerDns({ api: true, zones: { [ZONE]: { rrsets: [] } } }));
        assert.strictEqual((await provider.read!("id", state(pdns.url))).id, "");
        assert.strictEqual((await provider.read!("id", state(pdns.url, { zone: "gone.test.", name: "c.gone.test." }))).id, "");
        const off = await start(powerDns({ api: false }));
        assert.match(await fails(provider.read!("id", state(off.url))), /but not its HTTP API/);
        const teapot = await start(() => ({ status: 418, headers: { "Content-Type": "text/html" }, body: "<p>no</p>" }));
        assert.match(await fails(provider.read!("id", state(teapot.url))), /not a PowerDNS API \(HTTP 418 without a PowerDNS error body\)/);
    });

    it("a 404 for a zone PowerDNS lists is an error, not absence", async () => {
        const real = powerDns({ api: true, zones: { [ZONE]: { rrsets: [] } } });
        const odd = await start((req, body) => (req.url!.startsWith(`${API}/zones/`) ? pdnsNotFound(req) : real(req, body)));
        assert.match(await fails(provider.delete!("id", state(odd.url))), /answered 404 for zone z\.test\. but lists it/);
    });

    it("401: PowerDNS's challenge is a wrong key; another server's 401 is not PowerDNS", async () => {
        const pdns = await start(powerDns({ api: true, zones: { [ZONE]: { rrsets: [] } } }));
        assert.match(await fails(provider.delete!("id", state(pdns.url, { apiKey: "another-key-123456" }))), /PowerDNS rejected the API key/);
        const proxy = await start(() => ({ status: 401, headers: { "WWW-Authenticate": 'Basic realm="proxy"', Server: "Caddy" } }));
        assert.match(await fails(provider.delete!("id", state(proxy.url))), /not a PowerDNS API \(HTTP 401 without PowerDNS's X-API-Key challenge; Server: Caddy\)/);
    });
});

describe("PowerDNS record: adoption of rows written by SQL (HTTP server on 127.0.0.1)", function () {
    this.timeout(20000);
    let fake: Fake;
    let zone: PdnsZone;
    /** As the API reads back a row upstream inserted: content `h1.z.test` gets its dot. */
    const upstreamRow = () => ({ name: `c.${ZONE}`, type: "CNAME", ttl: 1800, records: [{ content: `H1.${ZONE}`, disabled: false }] });
    beforeEach(async () => {
        zone = { rrsets: [upstreamRow()] };
        fake = await serve(powerDns({ api: true, zones: { [ZONE]: zone } }));
    });
    afterEach(() => fake.close());
    const adopt = (over: object = {}) => ({ ...state(fake.url), adoptId: `${ZONE}/c.${ZONE}/CNAME`, ...over });
    const patched = () => JSON.parse(fake.seen.filter((s) => s.method === "PATCH").at(-1)!.body).rrsets;

    it("takes a matching row over and keeps its TTL with adoptTtl; a later up keeps it, a refresh reads it", async () => {
        const { id, outs } = await provider.create!(adopt({ adoptTtl: true }));
        assert.strictEqual(id, `${ZONE}/c.${ZONE}/CNAME`);
        assert.deepStrictEqual([outs.ttl, outs.adoptedTtl, outs.records], [1800, 1800, [`h1.${ZONE}`]]);
        assert.deepStrictEqual(patched(), [{ name: `c.${ZONE}`, type: "CNAME", ttl: 1800, changetype: "REPLACE", records: [{ content: `h1.${ZONE}`, disabled: false }] }]);
        // The same declaration again (ttl 300 declared, adoptTtl): nothing to do.
        const { inputs } = await provider.check!({}, adopt({ adoptTtl: true }));
        assert.strictEqual((await provider.diff!(id, outs, inputs)).changes, false);
        assert.strictEqual((await provider.read!(id, outs)).props.ttl, 1800);
        // The stack config stops keeping it: the declared ttl is written, in place.
        const { inputs: plain } = await provider.check!({}, adopt());
        const d = await provider.diff!(id, outs, plain);
        assert.deepStrictEqual([d.changes, d.replaces], [true, []]);
        const up = await provider.update!(id, outs, plain);
        assert.deepStrictEqual([up.outs.ttl, up.outs.adoptedTtl, patched()[0].ttl], [300, 1800, 300]);
        // ... and keeping it again puts 1800 back.
        const back = await provider.update!(id, up.outs, inputs);
        assert.deepStrictEqual([back.outs.ttl, patched()[0].ttl], [1800, 1800]);
    });

    it("without adoptTtl writes the declared TTL (and notes the one it found)", async () => {
        const { outs } = await provider.create!(adopt());
        assert.deepStrictEqual([outs.ttl, outs.adoptedTtl, patched()[0].ttl], [300, 1800, 300]);
    });

    it("refuses a row that points elsewhere, with both contents, its TTL and the pdnsutil command that fixes it", async () => {
        const m = await failure(provider.create!(adopt({ adoptTtl: true, records: [`h2.${ZONE}`] })));
        assert.strictEqual(m, `PowerDNS record c.${ZONE} CNAME: adoption refused: the existing rrset holds [h1.${ZONE}] (ttl 1800), the program declares [h2.${ZONE}]; ` +
            "adoption takes over only a matching rrset: declare its current records (change them in a later update) or fix the rrset in PowerDNS first " +
            `(pdnsutil replace-rrset ${ZONE} c CNAME 1800 "h2.${ZONE}")`);
        assert.strictEqual(fake.seen.filter((s) => s.method === "PATCH").length, 0);
        assert.deepStrictEqual(zone.rrsets, [upstreamRow()]);
    });

    it("with adoptTtl and nothing to adopt, creates it with the declared TTL", async () => {
        zone.rrsets = [];
        const { outs } = await provider.create!(adopt({ adoptTtl: true }));
        assert.deepStrictEqual([outs.ttl, outs.adoptedTtl, patched()[0].ttl], [300, undefined, 300]);
        const { inputs } = await provider.check!({}, adopt({ adoptTtl: true }));
        assert.strictEqual((await provider.diff!("id", outs, inputs)).changes, false);
    });

    it("check: adoptTtl is a boolean and needs adoptId", async () => {
        const noId = await provider.check!({}, { ...state(fake.url), adoptTtl: true });
        assert.match(noId.failures![0].reason, /adoptTtl keeps the TTL of an adopted rrset, so it needs adoptId/);
        const bad = await provider.check!({}, adopt({ adoptTtl: "yes" }));
        assert.match(bad.failures![0].reason, /adoptTtl must be true or false/);
        const off = await provider.check!({}, adopt({ adoptTtl: false, adoptedTtl: 5 }));
        assert.deepStrictEqual([off.failures, "adoptTtl" in off.inputs, "adoptedTtl" in off.inputs], [[], false, false]);
    });
});
