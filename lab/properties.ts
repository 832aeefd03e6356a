/**
 * Resource properties as the Pulumi engine compares them, for the lab executor: assets and
 * archives by content hash (taken when a resource is carried out, as the state stores it),
 * property paths (`ignoreChanges`, `replaceOnChanges`), and the paths where two property maps
 * differ (the engine's detailed diff).
 *
 * Sources: @pulumi/pulumi 3.248 (pulumi/pulumi v3.248.0):
 *  - sdk/go/common/resource/archive/archive.go:184-198: archives are equal iff their hashes are;
 *    the hash covers file names and contents only (a tar with mode 0600 for every file, :657-661).
 *  - pkg/resource/deploy/step_generator.go:2838 processIgnoreChanges: each ignored path is reset
 *    to its old value (or removed when the old inputs lack it).
 *  - step_generator.go:2911 applyReplaceOnChanges: a replaceOnChanges path forces a replacement
 *    when it contains a changed path.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

/** Hashes taken when an asset or archive was carried out: the state's `hash`. */
const stamped = new WeakMap<object, string>();

function isAssetOrArchive(v: unknown): v is object {
    return pulumi.asset.Asset.isInstance(v) || pulumi.asset.Archive.isInstance(v);
}

/** Names and contents of a file or folder, walked in sorted order. */
function hashPath(hash: crypto.Hash, p: string, rel: string): void {
    const st = fs.statSync(p);
    if (st.isDirectory()) {
        for (const name of fs.readdirSync(p).sort()) hashPath(hash, path.join(p, name), rel === "" ? name : `${rel}/${name}`);
    } else if (st.isFile()) {
        const data = fs.readFileSync(p);
        hash.update(`file ${rel} ${data.length}\n`);
        hash.update(data);
    }
}

/** The content hash of an asset or archive as it is now. */
async function contentHash(v: any): Promise<string> {
    const hash = crypto.createHash("sha256");
    const field = async (x: any) => (x instanceof Promise ? await x : x);
    const p = await field(v.path);
    const text = await field(v.text);
    const uri = await field(v.uri);
    const assets = await field(v.assets);
    if (typeof p === "string") {
        hashPath(hash, p, "");
    } else if (typeof text === "string") {
        hash.update(`text\n${text}`);
    } else if (typeof uri === "string") {
        hash.update(`uri\n${uri}`);
    } else if (assets && typeof assets === "object") {
        for (const k of Object.keys(assets).sort()) hash.update(`member ${k} ${await contentHash(assets[k])}\n`);
    } else {
        throw new Error("an asset or archive without path, text, uri or assets cannot be hashed");
    }
    return hash.digest("hex");
}

/** The hash of `v` stored when it was carried out (or, when it never was, its content now). */
export async function hashOf(v: object): Promise<string> {
    return stamped.get(v) ?? contentHash(v);
}

/**
 * Records the content hash of every asset and archive in `v`, as the engine stores `hash` in
 * the state: a later comparison sees the content as it was when the resource was carried out.
 */
export async function stampHashes(v: any): Promise<void> {
    if (isAssetOrArchive(v)) {
        if (!stamped.has(v)) stamped.set(v, await contentHash(v));
    } else if (Array.isArray(v)) {
        for (const x of v) await stampHashes(x);
    } else if (v && typeof v === "object") {
        for (const x of Object.values(v)) await stampHashes(x);
    }
}

/** The form two values are compared in: promises awaited, assets and archives as their hash. */
async function comparable(v: any): Promise<any> {
    if (v instanceof Promise) return comparable(await v);
    if (isAssetOrArchive(v)) return { "<hash>": await hashOf(v) };
    if (Array.isArray(v)) return Promise.all(v.map(comparable));
    if (v && typeof v === "object") {
        const out: Record<string, any> = {};
        for (const k of Object.keys(v).sort()) out[k] = await comparable(v[k]);
        return out;
    }
    return v;
}

/** A property path (`a.b`, `a[0]`, `a["b.c"]`, `*`, `a[*]`) as its segments. */
export function parsePath(p: string): (string | number)[] {
    const out: (string | number)[] = [];
    const re = /\[(\d+|\*)\]|\["((?:[^"\\]|\\.)*)"\]|\.?([^.[\]]+)/gy;
    let m: RegExpExecArray | null;
    while (re.lastIndex < p.length && (m = re.exec(p))) {
        if (m[1] !== undefined) out.push(m[1] === "*" ? "*" : Number(m[1]));
        else if (m[2] !== undefined) out.push(m[2].replace(/\\(.)/g, "$1"));
        else out.push(m[3]);
    }
    if (re.lastIndex !== p.length || out.length === 0) throw new Error(`property path ${JSON.stringify(p)} cannot be parsed`);
    return out;
}

function formatPath(segments: (string | number)[]): string {
    return segments.map((s, i) => (typeof s === "number" ? `[${s}]` : /^[A-Za-z_$][\w$]*$/.test(s) ? (i === 0 ? s : `.${s}`) : `["${s}"]`)).join("");
}

/** True when `outer` is `inner` or one of its ancestors (`*` matches any one segment). */
export function pathContains(outer: string, inner: string): boolean {
    const o = parsePath(outer);
    const i = parsePath(inner);
    if (o.length > i.length) return false;
    return o.every((s, k) => s === "*" || String(s) === String(i[k]));
}

/** The paths where `news` differs from `olds` (objects by key, arrays by index, leaves by value). */
export async function changedPaths(olds: Record<string, any>, news: Record<string, any>): Promise<string[]> {
    const out: string[] = [];
    const walk = (a: any, b: any, at: (string | number)[]) => {
        const both = (x: any) => x && typeof x === "object";
        if (Array.isArray(a) && Array.isArray(b)) {
            for (let k = 0; k < Math.max(a.length, b.length); k++) walk(a[k], b[k], [...at, k]);
        } else if (both(a) && both(b) && !Array.isArray(a) && !Array.isArray(b) && !("<hash>" in a) && !("<hash>" in b)) {
            for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], [...at, k]);
        } else if (JSON.stringify(a) !== JSON.stringify(b)) {
            out.push(formatPath(at));
        }
    };
    walk(await comparable(olds ?? {}), await comparable(news ?? {}), []);
    return out;
}

/** The top-level property a path starts with. */
export function topKey(p: string): string {
    return String(parsePath(p)[0]);
}

/**
 * `news` with each `ignoreChanges` path set back to its value in `olds`, or removed where
 * `olds` lacks it (step_generator.go processIgnoreChanges). `*` alone keeps all of `olds`.
 */
export function applyIgnoreChanges(news: Record<string, any>, olds: Record<string, any>, ignoreChanges: string[]): Record<string, any> {
    let out: Record<string, any> = structuredCopy(news);
    for (const p of ignoreChanges) {
        const segments = parsePath(p);
        if (segments.length === 1 && segments[0] === "*") {
            out = structuredCopy(olds);
            continue;
        }
        const old = lookup(olds, segments);
        if (old.found) {
            let to: any = out;
            for (let k = 0; k < segments.length - 1; k++) {
                if (!to[segments[k]] || typeof to[segments[k]] !== "object") to[segments[k]] = typeof segments[k + 1] === "number" ? [] : {};
                to = to[segments[k]];
            }
            to[segments[segments.length - 1]] = structuredCopy(old.value);
        } else {
            const parent = lookup(out, segments.slice(0, -1));
            if (parent.found && parent.value && typeof parent.value === "object") delete parent.value[segments[segments.length - 1]];
        }
    }
    return out;
}

function lookup(v: any, segments: (string | number)[]): { found: boolean; value?: any } {
    let at = v;
    for (const s of segments) {
        if (!at || typeof at !== "object" || !Object.prototype.hasOwnProperty.call(at, s)) return { found: false };
        at = at[s];
    }
    return { found: true, value: at };
}

/** A copy of plain objects and arrays; other objects (archives, assets) are shared. */
function structuredCopy(v: any): any {
    if (Array.isArray(v)) return v.map(structuredCopy);
    if (v && typeof v === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(v))) {
        const out: Record<string, any> = {};
        for (const [k, x] of Object.entries(v)) out[k] = structuredCopy(x);
        return out;
    }
    return v;
}
