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
    let cur: unknown = doc;
    for (const part of pointer.split("/").slice(1)) {
        if (cur === null || typeof cur !== "object") return undefined;
        cur = (cur as Record<string, unknown>)[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    }
    return cur;
}

/** The parts of ajv's error params that the messages use. */
interface ErrorParams {
    missingProperty?: string;
    additionalProperty?: string;
    type?: string;
    allowedValues?: unknown[];
    limit?: number;
}

/** The parts of the failing (sub)schema that the messages use. */
interface SchemaNode {
    properties?: Record<string, unknown>;
    minimum?: number;
    maximum?: number;
    description?: string;
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
        const params = e.params as ErrorParams;
        const parent = e.parentSchema as SchemaNode | undefined;
        switch (e.keyword) {
            case "required":
                path = `${e.instancePath}/${params.missingProperty}`;
                message = `"${params.missingProperty}" is missing`;
                break;
            case "additionalProperties": {
                const field = params.additionalProperty;
                path = `${e.instancePath}/${field}`;
                const allowed = Object.keys(parent?.properties ?? {}).join(", ");
                message = `unknown field "${field}"; remove it or correct its spelling (allowed: ${allowed})`;
                break;
            }
            case "type":
                message = `must be ${params.type === "integer" ? "a whole number" : `a${/^[aeiou]/.test(params.type ?? "") ? "n" : ""} ${params.type}`} (got ${got})`;
                break;
            case "enum":
                message = `must be one of ${(params.allowedValues ?? []).map(describe).join(", ")} (got ${got})`;
                break;
            case "minimum": case "maximum": case "exclusiveMinimum": case "exclusiveMaximum": {
                const range = parent?.minimum !== undefined && parent.maximum !== undefined ? `between ${parent.minimum} and ${parent.maximum}` : `${e.keyword.includes("inimum") ? ">=" : "<="} ${params.limit}`;
                message = `must be ${range} (got ${got})`;
                break;
            }
            case "pattern":
                // The regex helps nobody; the field's description says what is expected.
                message = parent?.description ? `must be ${parent.description} (got ${got})` : `${e.message} (got ${got})`;
                break;
            case "format": case "minLength": case "maxLength":
                message = `${parent?.description ? `${parent.description.replace(/\.$/, "")}; ` : ""}${e.message} (got ${got})`;
                break;
            case "minItems":
                message = `must list at least ${params.limit} item(s)`;
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
