/**
 * The provider's runtime package (components/powerdns/runtime, committed) is the compiled form
 * of the provider's TypeScript sources: compiled again into a scratch directory, every file
 * must be byte for byte what is committed, with nothing extra. Fails when a source changed
 * without `npm run build:provider`.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { projectRoot } from "../../components/paths";
import { PROVIDER_RUNTIME_FILES } from "../../lab/powerdns-fixtures";

const RUNTIME = path.join(projectRoot(), "components", "powerdns", "runtime");
const jsFiles = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith(".js")).sort();

describe("PowerDNS provider runtime package", function () {
    this.timeout(120000);
    let scratch: string;
    before(() => {
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "osm-runtime-"));
        execFileSync(process.execPath, [path.join(projectRoot(), "node_modules", "typescript", "bin", "tsc"),
            "-p", path.join(projectRoot(), "components", "powerdns", "tsconfig.runtime.json"), "--outDir", scratch], { stdio: "pipe" });
    });
    after(() => fs.rmSync(scratch, { recursive: true, force: true }));

    it("holds exactly the compiled provider modules", () => {
        assert.deepStrictEqual(jsFiles(RUNTIME), jsFiles(scratch));
        assert.deepStrictEqual(jsFiles(RUNTIME), PROVIDER_RUNTIME_FILES);
    });
    it("is up to date with components/powerdns/*.ts (else: npm run build:provider, and commit runtime/)", () => {
        const stale = jsFiles(scratch).filter((f) => fs.readFileSync(path.join(scratch, f), "utf8") !== fs.readFileSync(path.join(RUNTIME, f), "utf8"));
        assert.deepStrictEqual(stale, [], `stale runtime files: ${stale.join(", ")}: run npm run build:provider and commit components/powerdns/runtime`);
    });
    it("is the package the loader names, linked into node_modules by npm ci", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(RUNTIME, "package.json"), "utf8"));
        const root = JSON.parse(fs.readFileSync(path.join(projectRoot(), "package.json"), "utf8"));
        assert.strictEqual(root.dependencies[pkg.name], "file:components/powerdns/runtime");
        assert.strictEqual(fs.realpathSync(require.resolve(pkg.name)), path.join(RUNTIME, "provider.js"));
    });
});
