/**
 * What of `ansible/` goes to the hosts, and which of those files each playbook uses. Pure
 * (files in, hashes out), so a change re-runs exactly the commands whose files it touches:
 * an edit of `ansible/README.md` changes no resource's inputs, an edit of the customers'
 * NGINX template re-runs the customers' provisioning and not host set-up.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** The playbook wrapper every remote command goes through (see ansible/README.md). */
export const RUNNER = "run";

/** Files of `ansible/` that only developers read (docs, lint configs): never shipped, never hashed. */
export function isShipped(relPath: string): boolean {
    return !relPath.endsWith(".md") && !relPath.split("/").some((part) => part.startsWith("."));
}

/** The shipped files of a folder, by relative path (POSIX separators), sorted. */
export interface AnsibleBundle {
    /** The source folder. */
    dir: string;
    files: ReadonlyMap<string, Buffer>;
}

export function readBundle(dir: string): AnsibleBundle {
    const files = new Map<string, Buffer>();
    const walk = (rel: string) => {
        for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
            const p = rel ? `${rel}/${entry.name}` : entry.name;
            if (!isShipped(p)) continue;
            if (entry.isDirectory()) walk(p);
            else if (entry.isFile()) files.set(p, fs.readFileSync(path.join(dir, p)));
        }
    };
    walk("");
    return { dir, files: new Map([...files].sort(([a], [b]) => (a < b ? -1 : 1))) };
}

const NAME_CHAR = /[A-Za-z0-9_.-]/;

/** True when `text` names `token` as a whole word (so `osm-nginx` is not found in `osm-nginx-reload`). */
function mentions(text: string, token: string): boolean {
    for (let i = text.indexOf(token); i >= 0; i = text.indexOf(token, i + 1)) {
        const before = text[i - 1];
        const after = text[i + token.length];
        // A trailing "." is punctuation ("see osm-put."), not part of a longer name.
        const afterIsName = after !== undefined && NAME_CHAR.test(after) && !(after === "." && !NAME_CHAR.test(text[i + token.length + 1] ?? " "));
        if ((before === undefined || !NAME_CHAR.test(before)) && !afterIsName) return true;
    }
    return false;
}

/** Folders whose files are named one by one; a file of any other folder is used through its folder. */
const LAYOUT_FOLDERS = new Set([".", "files", "tasks", "templates", "vars"]);

/**
 * How a file can be named by another: its relative path (`templates/customer-http.conf.j2`),
 * its base name (`osm-put`, called as `{{ osm_scripts }}/osm-put`), for Python its module
 * name (`import osm_contract`, `callbacks_enabled = osm_result`), and outside the layout
 * folders its folder (`callback_plugins = ./callback_plugins`).
 */
function namesOf(relPath: string): string[] {
    const base = path.posix.basename(relPath);
    const folder = path.posix.dirname(relPath);
    const names = [relPath, base];
    if (base.endsWith(".py")) names.push(base.slice(0, -3));
    if (!LAYOUT_FOLDERS.has(folder)) names.push(folder);
    return names;
}

/** A top-level playbook, which `run PLAYBOOK` starts. */
export function isPlaybook(relPath: string): boolean {
    return !relPath.includes("/") && relPath.endsWith(".yml");
}

/**
 * Every shipped file that running `roots` can read: the roots and, transitively, each file
 * that one of them names. A file named by mistake only costs a re-run; a missed one would skip
 * a needed re-run, so the scan errs on the side of naming.
 */
export function filesUsedBy(bundle: AnsibleBundle, roots: string[]): string[] {
    for (const r of roots) {
        if (!bundle.files.has(r)) throw new Error(`${path.join(bundle.dir, r)} does not exist: the program runs it on the hosts`);
    }
    const used = new Set<string>();
    const queue = [...roots];
    while (queue.length) {
        const file = queue.shift()!;
        if (used.has(file)) continue;
        used.add(file);
        const text = bundle.files.get(file)!.toString("utf8");
        for (const candidate of bundle.files.keys()) {
            // Playbooks are entry points: one naming another ("provision waits for it") is prose.
            if (used.has(candidate) || isPlaybook(candidate)) continue;
            if (namesOf(candidate).some((n) => mentions(text, n))) queue.push(candidate);
        }
    }
    return [...used].sort();
}

/** Content hash of the given files (paths and bytes). */
export function hashFiles(bundle: AnsibleBundle, files: string[]): string {
    const hash = crypto.createHash("sha256");
    for (const f of [...files].sort()) hash.update(`${f}\0`).update(bundle.files.get(f)!).update("\0");
    return hash.digest("hex").slice(0, 16);
}

/** The hash of exactly what `run PLAYBOOK` runs: the wrapper, the playbook and what they name. */
export function playbookHash(bundle: AnsibleBundle, playbook: string): string {
    return hashFiles(bundle, filesUsedBy(bundle, [RUNNER, playbook]));
}

/**
 * Writes the shipped files to `<stagingRoot>/<hash>/ansible` (once per content) and returns
 * that folder, which CopyToRemote copies to the hosts. @pulumi/command copies only a path
 * archive (FileArchive), so the shipped subset needs a folder of its own; the hash in its path
 * makes an unchanged bundle the same input. Versions staged over a day ago are removed
 * (a younger one may still be in use by a concurrent run).
 */
export function stageBundle(bundle: AnsibleBundle, stagingRoot: string): string {
    const version = hashFiles(bundle, [...bundle.files.keys()]);
    const target = path.join(stagingRoot, version, "ansible");
    if (!fs.existsSync(target)) {
        // Written beside, then renamed: a concurrent evaluation never sees half a bundle.
        fs.mkdirSync(stagingRoot, { recursive: true });
        const partial = fs.mkdtempSync(path.join(stagingRoot, `.${version}-`));
        for (const [rel, content] of bundle.files) {
            fs.mkdirSync(path.join(partial, "ansible", path.dirname(rel)), { recursive: true });
            fs.writeFileSync(path.join(partial, "ansible", rel), content);
        }
        try {
            fs.renameSync(partial, path.join(stagingRoot, version));
        } catch (err) {
            // Another evaluation staged the same version first: its copy is identical.
            fs.rmSync(partial, { recursive: true, force: true });
            if (!fs.existsSync(target)) throw err;
        }
    }
    const dayAgo = Date.now() - 24 * 3600 * 1000;
    for (const other of fs.readdirSync(stagingRoot)) {
        const p = path.join(stagingRoot, other);
        if (other !== version && fs.statSync(p).mtimeMs < dayAgo) fs.rmSync(p, { recursive: true, force: true });
    }
    return target;
}

/** The playbooks as the components use them: where the shipped copy is, and each one's hash. */
export interface AnsibleShipment {
    /** Local folder (named `ansible`) that CopyToRemote sends to every host. */
    source: string;
    /** Hash of exactly what `run PLAYBOOK` runs (see playbookHash). */
    hashOf(playbook: string): string;
}

/** Reads `dir`, stages its shipped files under `stagingRoot`, and hashes each playbook on demand. */
export function shipAnsible(dir: string, stagingRoot: string): AnsibleShipment {
    const bundle = readBundle(dir);
    const hashes = new Map<string, string>();
    return {
        source: stageBundle(bundle, stagingRoot),
        hashOf(playbook) {
            if (!hashes.has(playbook)) hashes.set(playbook, playbookHash(bundle, playbook));
            return hashes.get(playbook)!;
        },
    };
}
