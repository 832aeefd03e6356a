import * as fs from "fs";
import * as path from "path";

/** The project's root (where Pulumi.yaml is), whether running from sources or from build/. */
export function projectRoot(): string {
    let dir = __dirname;
    while (!fs.existsSync(path.join(dir, "Pulumi.yaml"))) {
        const up = path.dirname(dir);
        if (up === dir) throw new Error(`Pulumi.yaml not found above ${__dirname}`);
        dir = up;
    }
    return dir;
}
