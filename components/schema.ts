/** ajv set up once, and its errors turned into Problems that say what to do. Pure. */
import Ajv, { ErrorObject, ValidateFunction } from "ajv";
import { Problem } from "./problems";

// verbose: errors carry their parentSchema, which the messages below read (ranges, descriptions, allowed fields).
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });

export function compile(schema: object): ValidateFunction {
    return ajv.compile(schema);
}

function describe(v: unknown): string {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Value at an RFC 6901 pointer. */
export function at(doc: unknown, pointer: string): unknown {
    let cur: any = doc;
    for (const part of pointer.split("/").slice(1)) {
        if (cur === null || typeof cur !== "object") return undefined;
        cur = cur[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    }
    return cur;
}

/**
 * One Problem per schema error. `hint(path)` may add how to fix a value at a path (for
 * config: the `pulumi config set` command). Errors from `anyOf`/`if` bookkeeping are dropped.
 */
export function schemaProblems(errors: ErrorObject[] | null | undefined, doc: unknown, file: string,
    hint: (path: string) => string = () => ""): Problem[] {
    const out: Problem[] = [];
    const seen = new Set<string>();
    for (const e of errors ?? []) {
        let path = e.instancePath;
        let message: string;
        const got = describe(at(doc, e.instancePath));
        switch (e.keyword) {
            case "required":
                path = `${e.instancePath}/${(e.params as any).missingProperty}`;
                message = `"${(e.params as any).missingProperty}" is missing`;
                break;
            case "additionalProperties": {
                const field = (e.params as any).additionalProperty;
                path = `${e.instancePath}/${field}`;
                const allowed = Object.keys((e.parentSchema as any)?.properties ?? {}).join(", ");
                message = `unknown field "${field}"; remove it or correct its spelling (allowed: ${allowed})`;
                break;
            }
            case "type":
                message = `must be ${(e.params as any).type === "integer" ? "a whole number" : `a${/^[aeiou]/.test((e.params as any).type) ? "n" : ""} ${(e.params as any).type}`} (got ${got})`;
                break;
            case "enum":
                message = `must be one of ${(e.params as any).allowedValues.map(describe).join(", ")} (got ${got})`;
                break;
            case "minimum": case "maximum": case "exclusiveMinimum": case "exclusiveMaximum": {
                const s = e.parentSchema as any;
                const range = s.minimum !== undefined && s.maximum !== undefined ? `between ${s.minimum} and ${s.maximum}` : `${e.keyword.includes("inimum") ? ">=" : "<="} ${(e.params as any).limit}`;
                message = `must be ${range} (got ${got})`;
                break;
            }
            case "pattern":
                // The regex helps nobody; the field's description says what is expected.
                message = (e.parentSchema as any)?.description ? `must be ${(e.parentSchema as any).description} (got ${got})` : `${e.message} (got ${got})`;
                break;
            case "format": case "minLength": case "maxLength":
                message = `${(e.parentSchema as any)?.description ? `${(e.parentSchema as any).description.replace(/\.$/, "")}; ` : ""}${e.message} (got ${got})`;
                break;
            case "minItems":
                message = `must list at least ${(e.params as any).limit} item(s)`;
                break;
            case "anyOf": case "oneOf": case "if":
                continue;
            default:
                message = `${e.message ?? "is invalid"} (got ${got})`;
        }
        const key = `${path} ${message}`;
        if (seen.has(key)) continue;
        seen.add(key);
        // An unknown field is fixed by removing it (the message says so), not by setting it.
        const fix = e.keyword === "additionalProperties" ? "" : hint(path) || (e.keyword === "required" ? "add it" : "");
        out.push({ file, path, message: fix ? `${message}; ${fix}` : message });
    }
    return out;
}
