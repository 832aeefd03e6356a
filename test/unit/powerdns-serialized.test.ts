/**
 * The PowerDNS record provider as each Record stores it (`__provider`: the loader), run in a
 * bare `node` process started in the project's directory and deserialized the way Pulumi's
 * dynamic provider host does it: proves the loader finds the provider's runtime package there
 * and loads nothing else (no @pulumi/pulumi, no file of the program). The same against a real
 * PowerDNS: test/lab/powerdns-process.test.ts. The provider serialized by value by earlier
 * versions (a fixture) still runs, and a record it stored moves to the loader without a write.
 * Negative controls show the bare-process check catches providers that capture what they
 * must not.
 */
import * as assert from "assert";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import { projectRoot } from "../../components/paths";
import { checkInputs, PROVIDER_LOADER } from "../../components/powerdns";
import { deserializeProvider } from "../../lab/executor";
import { PROVIDER_RUNTIME_FILES, runtimeFilesLoaded, serializedProvider, storedProviderText } from "../../lab/powerdns-fixtures";
import { hostRequireFromString, projectFiles, ProviderProcess, startProviderProcess } from "../../lab/provider-process";

const good = { apiUrl: "http://127.0.0.1:8081/", apiKey: "secret-key-123", zone: "Osm.Example.Test", name: "ACME.osm.example.test", type: "cname", ttl: 300, records: ["H1.osm.example.test."] };

describe("PowerDNS provider as serialized, in a bare node process in the project's directory", function () {
    this.timeout(60000);
    let proc: ProviderProcess;
    let stored: string;
    before(async () => {
        stored = (await serializedProvider()).text;
        proc = await startProviderProcess(stored);
    });
    after(async () => {
        if (proc) await proc.stop();
    });

    it("deserializes to a provider with every method the engine calls", () => {
        assert.deepStrictEqual([...proc.methods].sort(), ["check", "create", "delete", "diff", "read", "update"]);
    });
    it("check normalises good inputs exactly as the program's checkInputs does", async () => {
        const { inputs, failures } = await proc.call("check", {}, good);
        assert.deepStrictEqual(failures, []);
        assert.deepStrictEqual(inputs, { ...good, apiUrl: "http://127.0.0.1:8081", zone: "osm.example.test.", name: "acme.osm.example.test.", type: "CNAME", records: ["h1.osm.example.test."] });
        assert.deepStrictEqual(inputs, checkInputs(good).inputs);
    });
    const bad: [string, object, RegExp][] = [
        ["a name outside the zone", { name: "acme.other.test" }, /record acme\.other\.test\. is not inside zone osm\.example\.test\./],
        ["a URL with /api/v1", { apiUrl: "http://127.0.0.1:8081/api/v1" }, /must not include \/api or \/api\/v1 \(the provider adds it\)/],
        ["a zero ttl", { ttl: 0 }, /ttl must be a whole number of seconds/],
        ["an adoptId of another record", { adoptId: "osm.example.test/other.osm.example.test/CNAME" }, /does not name this record/],
        ["an empty key", { apiKey: "" }, /apiKey is missing or empty/],
    ];
    for (const [what, change, expected] of bad) {
        it(`check names ${what}`, async () => {
            const { failures } = await proc.call("check", {}, { ...good, ...change });
            assert.strictEqual(failures.length, 1, JSON.stringify(failures));
            assert.match(failures[0].reason, expected);
        });
    }
    it("diff: the same set in another case changes nothing; a new type replaces, deleting the CNAME first", async () => {
        const olds = checkInputs(good).inputs;
        const same = await proc.call("diff", "id", olds, { ...good, records: ["H1.OSM.example.test."] });
        assert.strictEqual(same.changes, false);
        const byType = await proc.call("diff", "id", olds, { ...good, type: "A", records: ["192.0.2.1"] });
        assert.deepStrictEqual([byType.changes, byType.replaces, byType.deleteBeforeReplace], [true, ["type"], true]);
    });
    it("create runs the write queue and the HTTP client: a URL fetch refuses fails at once, naming the record and the URL, never the key", async () => {
        // Port 1 is one of fetch's "bad ports": refused before any connection, not retried.
        const inputs = checkInputs({ ...good, apiUrl: "http://127.0.0.1:1" }).inputs;
        await assert.rejects(proc.call("create", inputs), (e: Error) => {
            assert.match(e.message, /^PowerDNS record acme\.osm\.example\.test\. CNAME: the PowerDNS API at http:\/\/127\.0\.0\.1:1 does not answer \(bad port\)/);
            assert.ok(!e.message.includes(good.apiKey));
            return true;
        });
    });
    it("read without stored state says to declare adoptId (dynamic resources cannot be imported)", async () => {
        await assert.rejects(proc.call("read", "z.test./a.z.test./A", {}), /cannot read without stored state.*adoptId "z\.test\.\/a\.z\.test\.\/A"/);
    });
    it("is the loader, a few hundred bytes, the same for every record", async () => {
        assert.strictEqual(stored, PROVIDER_LOADER);
        assert.ok(PROVIDER_LOADER.length < 512, `${PROVIDER_LOADER.length} bytes`);
    });
    it("has loaded require-from-string and the provider's runtime package, nothing else (no @pulumi/pulumi, no program file)", async () => {
        const loaded = await proc.loadedModules();
        assert.strictEqual(loaded[0], hostRequireFromString());
        assert.deepStrictEqual(runtimeFilesLoaded(loaded), PROVIDER_RUNTIME_FILES);
    });
});

describe("a record stored by the provider of earlier versions (serialized by value, fixture of 7b21364)", function () {
    this.timeout(60000);
    const OLD_TEXT = fs.readFileSync(path.join(projectRoot(), "test", "fixtures", "powerdns-provider-7b21364.serialized.txt"), "utf8");
    let old: ProviderProcess;
    let current: ProviderProcess;
    before(async () => {
        old = await startProviderProcess(OLD_TEXT);
        current = await startProviderProcess(PROVIDER_LOADER);
    });
    after(async () => {
        if (old) await old.stop();
        if (current) await current.stop();
    });
    // Port 1 is refused by fetch before any connection: a call that tries to write fails.
    const stored: { [k: string]: any } = { ...checkInputs({ ...good, apiUrl: "http://127.0.0.1:1" }).inputs, __provider: OLD_TEXT };

    it("still deserializes on its own and loads nothing (delete runs it, with the state it stored)", async () => {
        assert.deepStrictEqual([...old.methods].sort(), ["check", "create", "delete", "diff", "read", "update"]);
        assert.deepStrictEqual(await old.loadedModules(), [hostRequireFromString()]);
        await assert.rejects(old.call("delete", "id", stored), /PowerDNS record acme\.osm\.example\.test\. CNAME: .*does not answer/);
    });
    it("diff with the current provider: an in-place update (no replacement) that stores the loader", async () => {
        const news = { ...stored, __provider: PROVIDER_LOADER };
        const d = await current.call("diff", "id", stored, news);
        assert.deepStrictEqual([d.changes, d.replaces, d.deleteBeforeReplace], [true, [], false]);
        const unchanged = await current.call("diff", "id", { ...stored, __provider: PROVIDER_LOADER }, news);
        assert.strictEqual(unchanged.changes, false, "a record already on the loader has nothing to do");
    });
    it("update of the same rrset writes nothing (the API is unreachable and it succeeds); a changed rrset does write", async () => {
        const news = { ...stored, __provider: PROVIDER_LOADER };
        const { outs } = await current.call("update", "id", stored, news);
        assert.deepStrictEqual(outs.records, stored.records);
        await assert.rejects(current.call("update", "id", stored, { ...news, records: ["h2.osm.example.test."] }), /does not answer/);
    });
});

// Negative controls: providers that capture what they must not, serialized by the SDK the same way.

/** Keeps its state in a module-level Map: the closure carries a plain object with Map's methods. */
const callsSeen = new Map<string, number>();
const capturesLiveMap: pulumi.dynamic.ResourceProvider = {
    async check(_olds, news) {
        callsSeen.set("check", (callsSeen.get("check") ?? 0) + 1);
        return { inputs: news, failures: [] };
    },
    async create() { return { id: "x" }; },
};

/** Relies on a global the deploying program sets up: there in the program's process only. */
const PROGRAM_GLOBAL = "__osmHostingTestRecordSuffix";
const readsProgramGlobal: pulumi.dynamic.ResourceProvider = {
    async check(_olds, news) {
        return { inputs: { ...news, name: `${news.name}${(globalThis as any)[PROGRAM_GLOBAL].suffix}` }, failures: [] };
    },
    async create() { return { id: "x" }; },
};

/** Loads a module of the project's build tree at run time: found from the project's directory only. */
const requiresProjectFile: pulumi.dynamic.ResourceProvider = {
    async check(_olds, news) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped CommonJS (SDK internals, a test double or a computed path)
        const names = require("./build/components/powerdns/names");
        return { inputs: { ...news, name: names.canonicalName(news.name) }, failures: [] };
    },
    async create() { return { id: "x" }; },
};

/** The smallest dynamic resource (the SDK's class is abstract). */
class ControlResource extends pulumi.dynamic.Resource {
    constructor(provider: pulumi.dynamic.ResourceProvider, name: string) {
        super(provider, name, { name: "a.z.test" });
    }
}

describe("the bare-process check catches a provider that captures what it must not (negative controls)", function () {
    this.timeout(60000);
    const serialized = (provider: pulumi.dynamic.ResourceProvider) =>
        storedProviderText("control", (name) => { new ControlResource(provider, name); });
    const withProcess = async <T>(text: string, f: (p: ProviderProcess) => Promise<T>): Promise<T> => {
        const p = await startProviderProcess(text);
        try { return await f(p); } finally { await p.stop(); }
    };

    it("a live object (a module-level Map): its copy has no Map inside, so the call fails", async () => {
        await withProcess(await serialized(capturesLiveMap), async (p) => {
            await assert.rejects(p.call("check", {}, { name: "a.z.test" }), /Method Map\.prototype\.(get|set) called on incompatible receiver/);
        });
    });
    it("a global of the program: works deserialized in the program's process, fails in the bare one", async () => {
        (globalThis as any)[PROGRAM_GLOBAL] = { suffix: "." };
        try {
            const text = await serialized(readsProgramGlobal);
            assert.strictEqual((await deserializeProvider(text).check({}, { name: "a.z.test" })).inputs.name, "a.z.test.");
            await withProcess(text, async (p) => {
                await assert.rejects(p.call("check", {}, { name: "a.z.test" }), /Cannot read properties of undefined \(reading 'suffix'\)/);
            });
        } finally {
            delete (globalThis as any)[PROGRAM_GLOBAL];
        }
    });
    it("a module of the project's tree: the call works from the project's directory, the loaded files show it", async () => {
        await withProcess(await serialized(requiresProjectFile), async (p) => {
            assert.strictEqual((await p.call("check", {}, { name: "A.z.test" })).inputs.name, "a.z.test.");
            const own = projectFiles(await p.loadedModules());
            assert.deepStrictEqual(own.map((f) => path.relative(projectRoot(), f)), [path.join("build", "components", "powerdns", "names.js")]);
        });
    });
});
