/**
 * The lab's Grafana plugin mirror: what `grafanaPluginSource` names in production (grafana.com's
 * API, or a local mirror), laid out the same, `<url>/<id>/versions/<version>/download`, served
 * in this process on the lab's bridge address (its hosts reach nothing else). The archives are
 * zips made here as Grafana's are: one folder holding plugin.json and the plugin's files.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as http from "http";
import { AddressInfo } from "net";

/** One archive the mirror serves. */
export interface PluginArchive {
    id: string;
    version: string;
    /** The id its plugin.json gives (default `id`): another makes an archive of the wrong plugin. */
    jsonId?: string;
    /** More files in its folder, path -> text ("a.sh!" : executable). */
    files?: Record<string, string>;
    /** The folder's name in the zip (default `id`, as grafana.com's archives). */
    folder?: string;
}

/** The zip of one plugin, built by Python's zipfile (modes kept, as Grafana's archives have them). */
export function pluginZip(a: PluginArchive): Buffer {
    const folder = a.folder ?? a.id;
    const files: [string, string, number][] = [[`${folder}/plugin.json`, JSON.stringify({ type: "panel", id: a.jsonId ?? a.id, info: { version: a.version } }), 0o644]];
    for (const [p, text] of Object.entries(a.files ?? {})) {
        const exec = p.endsWith("!");
        files.push([`${folder}/${exec ? p.slice(0, -1) : p}`, text, exec ? 0o755 : 0o644]);
    }
    const py = [
        "import io, json, sys, zipfile",
        "buf = io.BytesIO()",
        "with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:",
        "    for name, text, mode in json.load(sys.stdin):",
        "        info = zipfile.ZipInfo(name, (2026, 12, 1, 0, 0, 0))",
        "        info.external_attr = (0o100000 | mode) << 16",
        "        z.writestr(info, text)",
        "sys.stdout.buffer.write(buf.getvalue())",
    ].join("\n");
    const r = spawnSync("/usr/bin/python3", ["-c", py], { input: JSON.stringify(files), maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`pluginZip: python3 failed: ${r.stderr.toString()}`);
    return r.stdout;
}

export class PluginMirror {
    /** Requests served, as `<id>/<version>` (to see what a host fetched, and how often). */
    private constructor(private readonly server: http.Server, public readonly url: string, private readonly archives: Map<string, Buffer>,
        public readonly fetched: string[]) {}

    /** Serves `archives` on `address` (the lab's bridge address), on a free port. */
    static async start(address: string, archives: PluginArchive[]): Promise<PluginMirror> {
        const byPath = new Map(archives.map((a) => [`/grafana-plugins/${a.id}/versions/${a.version}/download`, pluginZip(a)]));
        const fetched: string[] = [];
        const server = http.createServer((req, res) => {
            const body = byPath.get(req.url ?? "");
            if (!body) {
                res.writeHead(404, { "content-type": "text/plain" }).end("no such plugin version\n");
                return;
            }
            fetched.push((req.url ?? "").split("/").slice(2, 5).filter((_, i) => i !== 1).join("/"));
            res.writeHead(200, { "content-type": "application/zip", "content-length": body.length }).end(body);
        });
        await new Promise<void>((resolve, reject) => {
            server.once("error", reject);
            server.listen(0, address, () => resolve());
        });
        const port = (server.address() as AddressInfo).port;
        return new PluginMirror(server, `http://${address}:${port}/grafana-plugins`, byPath, fetched);
    }

    /** The SHA-256 of an archive it serves (what customers.json's sha256 pins). */
    sha256(id: string, version: string): string {
        const body = this.archives.get(`/grafana-plugins/${id}/versions/${version}/download`);
        if (!body) throw new Error(`the mirror has no ${id} ${version}`);
        return crypto.createHash("sha256").update(body).digest("hex");
    }

    stop(): Promise<void> {
        return new Promise((resolve) => this.server.close(() => resolve()));
    }
}
