/**
 * Outages seen from outside, as a customer's browser sees them: one loop per name probes
 * `https://NAME<path>` through the host it resolves to (lab/outside.ts httpsGet) every
 * `intervalMs`; a name is down from the first failed probe to the next answered one. A request
 * NGINX holds until the container is back answers late instead of failing: the longest gap
 * between two answers (`longestGapMs`) counts that wait too, as a browser sees it. Used by the
 * upgrade lab test and `npm run bench:upgrade`.
 */
import { httpsGet } from "./outside";

/** One outage: from the first probe that failed to the first that answered again (ms since the epoch). */
export interface Outage { from: number; to: number }

export class OutageWatch {
    private watching = true;
    private readonly loops: Promise<void>[];
    readonly outages = new Map<string, Outage[]>();
    /** name -> the longest time between two answers (ms), from the first answer on. */
    readonly longestGapMs = new Map<string, number>();

    /**
     * @param targets name -> the host address it resolves to
     * @param caFile the CA that signs the hosts' certificates
     * @param path what to GET (an answer other than 200 counts as down)
     */
    constructor(targets: ReadonlyMap<string, string>, caFile: string, path = "/api/health", intervalMs = 50) {
        this.loops = [...targets].map(async ([name, address]) => {
            const seen: Outage[] = [];
            this.outages.set(name, seen);
            let since: number | undefined;
            let answered: number | undefined;
            this.longestGapMs.set(name, 0);
            while (this.watching) {
                const t = Date.now();
                const up = await httpsGet(name, address, caFile, path).then((r) => r.status === 200, () => false);
                if (up) {
                    const now = Date.now();
                    if (answered !== undefined) this.longestGapMs.set(name, Math.max(this.longestGapMs.get(name)!, now - answered));
                    answered = now;
                }
                if (!up && since === undefined) since = t;
                if (up && since !== undefined) { seen.push({ from: since, to: t }); since = undefined; }
                await new Promise((r) => setTimeout(r, intervalMs));
            }
            if (since !== undefined) seen.push({ from: since, to: Date.now() });
        });
    }

    /** Stops every loop (after its probe in flight) and returns the outages by name. */
    async stop(): Promise<Map<string, Outage[]>> {
        this.watching = false;
        await Promise.all(this.loops);
        return this.outages;
    }
}

/** The longest outage of a name, in ms (0 when it never went down). */
export function longestOutageMs(outages: readonly Outage[]): number {
    return Math.max(0, ...outages.map((o) => o.to - o.from));
}

/** The most names down at the same moment (a sweep over all the outages). */
export function mostDownAtOnce(outages: Iterable<readonly Outage[]>): number {
    const edges = [...outages].flat().flatMap((o) => [{ at: o.from, n: 1 }, { at: o.to, n: -1 }])
        // At the same moment an end goes before a start: touching outages do not overlap.
        .sort((x, y) => x.at - y.at || x.n - y.n);
    let down = 0;
    let most = 0;
    for (const e of edges) most = Math.max(most, (down += e.n));
    return most;
}
