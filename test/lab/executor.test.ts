/**
 * The lab executor itself (no servers): order, reuse, failures, archives, removals.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { Carried, carryOut, CarryOutError, Deployment, destroyAll, destroyRemoved, Handler, Handlers } from "../../lab/executor";

const THING = "test:index:Thing";

class Thing extends pulumi.CustomResource {
    declare public readonly value: pulumi.Output<any>;
    constructor(name: string, props: { value: pulumi.Input<any> }, opts?: pulumi.CustomResourceOptions) {
        super(THING, name, props, opts);
    }
}

function recorder(fail?: (name: string) => boolean) {
    const log: string[] = [];
    const seen: Record<string, any> = {};
    const handler: Handler = {
        async create(r) {
            await new Promise((res) => setTimeout(res, 5));
            if (fail?.(r.name)) throw new Error(`${r.name} failed on purpose`);
            log.push(`create ${r.name}`);
            seen[r.name] = r.inputs;
            return { id: `${r.name}-id`, outputs: { ...r.inputs, made: true } };
        },
        async delete(r: Carried) {
            await new Promise((res) => setTimeout(res, 5));
            log.push(`delete ${r.name}`);
        },
    };
    return { log, seen, handlers: { [THING]: handler } as Handlers };
}

describe("lab executor", () => {
    let dir: string;
    before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "osm-executor-")); });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const chain = (value: string) => () => {
        const a = new Thing("a", { value: pulumi.secret(value) });
        const b = new Thing("b", { value: a.value.apply((v) => `${v}+b`) });
        const c = new Thing("c", { value: "c" }, { dependsOn: [b] });
        new Thing("free", { value: "free" });
        return { c: c.value };
    };

    it("carries out in dependency order with secrets unwrapped, reuses unchanged resources, replaces changed ones (a handler without update)", async () => {
        const r = recorder();
        const d1 = await carryOut(chain("x"), { config: {}, handlers: r.handlers });
        assert.ok(r.log.indexOf("create a") < r.log.indexOf("create b") && r.log.indexOf("create b") < r.log.indexOf("create c"), r.log.join());
        assert.strictEqual(r.seen.a.value, "x");
        assert.strictEqual(r.seen.b.value, "x+b");
        assert.strictEqual(d1.resources.length, 4);
        r.log.length = 0;
        const d2 = await carryOut(chain("x"), { config: {}, handlers: r.handlers, previous: d1 });
        assert.deepStrictEqual(r.log, []);
        assert.strictEqual(d2.resources.length, 4);
        const d3 = await carryOut(chain("y"), { config: {}, handlers: r.handlers, previous: d2 });
        // Replacements: the new ones first, then the old ones, dependents first.
        assert.deepStrictEqual(r.log, ["create a", "create b", "delete b", "delete a"]);
        await destroyAll(d3, r.handlers);
    });

    it("deletes removed resources dependents first, and only those", async () => {
        const r = recorder();
        const d1 = await carryOut(chain("x"), { config: {}, handlers: r.handlers });
        const d2 = await carryOut(() => { new Thing("free", { value: "free" }); }, { config: {}, handlers: r.handlers, previous: d1 });
        r.log.length = 0;
        const removed = await destroyRemoved(d1, d2, r.handlers);
        assert.deepStrictEqual(removed.map((x) => x.name).sort(), ["a", "b", "c"]);
        assert.deepStrictEqual(r.log, ["delete c", "delete b", "delete a"]);
    });

    it("keeps a FileArchive's path for the handler and notices when its content changes", async () => {
        fs.mkdirSync(path.join(dir, "one"));
        fs.mkdirSync(path.join(dir, "two"));
        fs.writeFileSync(path.join(dir, "one", "f"), "one\n");
        fs.writeFileSync(path.join(dir, "two", "f"), "two\n");
        const r = recorder();
        const prog = (p: string) => () => { new Thing("copy", { value: new pulumi.asset.FileArchive(p) }); };
        const d1 = await carryOut(prog(path.join(dir, "one")), { config: {}, handlers: r.handlers });
        assert.strictEqual(await r.seen.copy.value.path, path.join(dir, "one"));
        r.log.length = 0;
        const d2 = await carryOut(prog(path.join(dir, "one")), { config: {}, handlers: r.handlers, previous: d1 });
        assert.deepStrictEqual(r.log, []);
        const d3 = await carryOut(prog(path.join(dir, "two")), { config: {}, handlers: r.handlers, previous: d2 });
        assert.deepStrictEqual(r.log, ["create copy", "delete copy"]);
        // The same folder with other content is another archive (archives compare by hash).
        r.log.length = 0;
        fs.writeFileSync(path.join(dir, "two", "f"), "two, edited\n");
        await carryOut(prog(path.join(dir, "two")), { config: {}, handlers: r.handlers, previous: d3 });
        assert.deepStrictEqual(r.log, ["create copy", "delete copy"]);
    });

    it("fails with the handler's error, without hanging, carrying out nothing after it; what was done is returned", async () => {
        const r = recorder((name) => name === "b");
        let err: CarryOutError | undefined;
        try { await carryOut(chain("x"), { config: {}, handlers: r.handlers }); } catch (e) { err = e as CarryOutError; }
        assert.ok(err instanceof CarryOutError);
        assert.match(err.message, /b failed on purpose/);
        assert.ok(!r.log.includes("create c"), "c depends on b: not carried out");
        assert.ok(err.deployment.resources.some((x) => x.name === "a"));
        await destroyAll(err.deployment, r.handlers);
    });

    it("names a type it has no handler for", async () => {
        class Unknown extends pulumi.CustomResource { constructor() { super("test:index:Unknown", "u", {}); } }
        await assert.rejects(carryOut(() => { new Unknown(); }, { config: {}, handlers: {} }),
            /no handler for resource type test:index:Unknown \(resource u\)/);
    });

    it("feeds the previous placements output to the StackReference", async () => {
        const previous: Deployment = { resources: [], outputs: { placements: { acme: { host: "osm1", mqttPort: 8900 } } } };
        const d = await carryOut(() => {
            const ref = new pulumi.StackReference("self", { name: "org/osm-hosting/lab" });
            return { seen: ref.getOutput("placements") };
        }, { config: {}, handlers: {}, previous });
        assert.deepStrictEqual(d.outputs.seen, previous.outputs.placements);
    });
});
