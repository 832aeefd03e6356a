/** One thing wrong with the input: where it is and how to fix it. */
export interface Problem {
    /** The file (or config source) the problem is in, e.g. `customers.json`, `Pulumi.prod.yaml`. */
    file: string;
    /** JSON path inside it, e.g. `/customers/3/name` (RFC 6901 pointer), or a config key. */
    path: string;
    /** What is wrong and what to do about it. */
    message: string;
}

export function formatProblem(p: Problem): string {
    return `${p.file}${p.path ? ` ${p.path}` : ""}: ${p.message}`;
}

/**
 * Thrown when input is invalid; carries every problem found, so one run reports all of them.
 * It is thrown before any resource is registered.
 */
export class InputError extends Error {
    constructor(public readonly problems: Problem[]) {
        super(`${problems.length} problem(s) in the input; nothing was changed:\n` +
            problems.map((p) => `  - ${formatProblem(p)}`).join("\n"));
        this.name = "InputError";
    }
}

/** Where a JSON.parse error is, as `line L, column C` (Node names only the offset). */
export function jsonErrorAt(text: string, err: Error): string {
    const m = /position (\d+)/.exec(err.message);
    const offset = m ? Number(m[1]) : /end of JSON input/.test(err.message) ? text.length : undefined;
    if (offset === undefined) return err.message;
    const before = text.slice(0, offset).split("\n");
    return `line ${before.length}, column ${before[before.length - 1].length + 1}: ${err.message.replace(/ in JSON at position \d+.*$/, "")}`;
}
