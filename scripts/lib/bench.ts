/** What the benchmarks (scripts/bench-*.ts) share: their whole-number options and their clock. */

/** `--NAME N` from the command line (a whole number from `min`), else `dflt`. */
export function wholeArg(name: string, dflt: number, min = 0): number {
    const i = process.argv.indexOf(`--${name}`);
    const v = i > 0 ? Number(process.argv[i + 1]) : dflt;
    if (!Number.isInteger(v) || v < min) throw new Error(`--${name} takes a whole number from ${min}`);
    return v;
}

/** Seconds since `t` (a Date.now()). */
export function since(t: number): number {
    return (Date.now() - t) / 1000;
}
