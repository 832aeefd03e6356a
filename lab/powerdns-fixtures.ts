/** Shared by the PowerDNS lab suites and the benchmark: the provider as Pulumi stores it. */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { projectRoot } from "../components/paths";
import { Record as PdnsRecord, RecordArgs } from "../components/powerdns";
import { evaluate, SECRET_SIG } from "../scripts/lib/engine";
import { deserializeProvider } from "./executor";

/**
 * The provider text the SDK serializes into a Record's state (`__provider`), obtained by
 * declaring one Record under mocks, and the provider deserialized from it the way Pulumi's
 * dynamic provider host does it.
 */
export async function serializedProvider(): Promise<{ text: string; provider: any }> {
    const text = await storedProviderText("probe", (name) => {
        new PdnsRecord(name, { apiUrl: "http://127.0.0.1:9", apiKey: pulumi.secret("k"), zone: "z.test", name: "a.z.test", type: "A", ttl: 60, records: ["192.0.2.1"] });
    });
    return { text, provider: deserializeProvider(text) };
}

/**
 * The `__provider` text the SDK stores for the dynamic resource `declare` declares under the
 * given name (under mocks): the SDK's own serialization, for any provider.
 */
export async function storedProviderText(resourceName: string, declare: (name: string) => void): Promise<string> {
    const ev = await evaluate(() => { declare(resourceName); }, { config: {} });
    const resource = ev.resources.find((r) => r.name === resourceName);
    const raw = resource?.inputs.__provider;
    // __provider is stored as a secret since 3.75.
    const text: unknown = raw && typeof raw === "object" && SECRET_SIG in raw ? raw.value : raw;
    if (typeof text !== "string" || !text.includes("exports.handler")) throw new Error(`no serialized provider found in the inputs of ${resourceName}`);
    return text;
}

/** A program declaring the given records (name -> args without connection) in one zone. */
export function recordsProgram(conn: { apiUrl: string; apiKey: string; zone: string }, records: { [resourceName: string]: Omit<RecordArgs, "apiUrl" | "apiKey" | "zone"> & { zone?: string } }) {
    return () => {
        const out: { [k: string]: pulumi.Output<string> } = {};
        for (const [name, args] of Object.entries(records)) {
            const r = new PdnsRecord(name, { apiUrl: conn.apiUrl, apiKey: pulumi.secret(conn.apiKey), zone: conn.zone, ...args });
            out[name] = r.id;
        }
        return out;
    };
}

/**
 * The modules a process that loaded the record provider holds besides require-from-string
 * (listed first): the runtime package's files, relative to components/powerdns/runtime, sorted.
 */
export function runtimeFilesLoaded(loaded: string[]): string[] {
    const runtime = path.join(projectRoot(), "components", "powerdns", "runtime");
    return loaded.slice(1).map((f) => path.relative(runtime, f)).sort();
}

/** What runtimeFilesLoaded gives when the provider loaded its package and nothing else. */
export const PROVIDER_RUNTIME_FILES = ["client.js", "inputs.js", "names.js", "provider.js", "write-queue.js"];
