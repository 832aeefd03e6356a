/** Bounded concurrency: at most `n` tasks of one key at a time (verify's bound per host). */
export class Limiter {
    private running = 0;
    private readonly queue: (() => void)[] = [];

    constructor(private readonly n: number) {
        if (!(n >= 1)) throw new Error(`a concurrency bound must be at least 1 (got ${n})`);
    }

    async run<T>(task: () => Promise<T>): Promise<T> {
        if (this.running >= this.n) await new Promise<void>((r) => this.queue.push(r));
        this.running++;
        try {
            return await task();
        } finally {
            this.running--;
            this.queue.shift()?.();
        }
    }
}

/** One limiter per key, made on first use. */
export class KeyedLimiter {
    private readonly limiters = new Map<string, Limiter>();

    constructor(private readonly n: number) {}

    run<T>(key: string, task: () => Promise<T>): Promise<T> {
        let l = this.limiters.get(key);
        if (!l) this.limiters.set(key, (l = new Limiter(this.n)));
        return l.run(task);
    }
}

/** `p`, or a rejection naming `what` after `ms` (a last guard: the probes have their own deadlines). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout;
    return Promise.race([
        p.finally(() => clearTimeout(timer)),
        new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms))),
    ]);
}
