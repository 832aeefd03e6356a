/** eslint (typescript-eslint, type-aware; eslint.config.mjs) passes on the whole project, so CI runs it. */
import * as assert from "assert";
import { execFile } from "child_process";
import * as path from "path";
import { projectRoot } from "../../components/paths";

describe("lint", function () {
    this.timeout(180_000);

    it("eslint finds no problem in the TypeScript (eslint.config.mjs)", async () => {
        const root = projectRoot();
        const r = await new Promise<{ code: number; out: string }>((resolve) =>
            execFile(process.execPath, [path.join(root, "node_modules", "eslint", "bin", "eslint.js"), "--max-warnings=0", "."], { cwd: root, maxBuffer: 16 << 20 },
                (err, stdout, stderr) => resolve({ code: err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0, out: `${stdout}${stderr}` })));
        assert.strictEqual(r.code, 0, `eslint found problems (run npm run lint):\n${r.out}`);
    });
});
