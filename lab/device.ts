/**
 * A device in the field, simulated from outside: it publishes numbered QoS 1 messages to its
 * customer's MQTT endpoint one after another, each over a new TLS connection to wherever the
 * customer's name resolves at that moment (as a device re-resolves when it reconnects), and
 * retries a message until the broker acknowledges it (QoS 1: a message counts as sent only
 * then). Afterwards it reports what was acknowledged and the longest time without any
 * acknowledged message: the outage a device saw.
 */
import { httpsGet, MqttTarget, mosquitto } from "./outside";

export interface DeviceLog {
    /** Numbers of the messages the broker acknowledged, in order. */
    acked: number[];
    /** Publish attempts that failed (and were retried). */
    failures: number;
    /** The longest gap between two acknowledged messages, in milliseconds. */
    longestGapMs: number;
    /** Why the attempts failed, first few (for a test's message). */
    errors: string[];
    /** The message given up when `stop(giveUpAfterMs)` ran out of time (never acknowledged). */
    abandoned?: number;
}

export class DeviceSimulator {
    private running = false;
    private loop?: Promise<void>;
    private readonly log: DeviceLog = { acked: [], failures: 0, longestGapMs: 0, errors: [] };

    /**
     * @param target resolves the endpoint for each connection (the lab DNS answer of the moment)
     * @param topic where the messages go
     * @param clientId the device's MQTT client id
     * @param intervalMs pause after each acknowledged message
     */
    constructor(private readonly target: () => Promise<MqttTarget>, private readonly topic: string,
        private readonly clientId: string, private readonly intervalMs = 200) {}

    start(): void {
        if (this.running) throw new Error("the device simulator is already running");
        this.running = true;
        this.loop = this.run();
    }

    private giveUp = false;

    /** Stops after the message in flight is acknowledged; returns the log. With `giveUpAfterMs`,
     * a message still not acknowledged by then is given up (`abandoned`), so a test fails with
     * the device's errors instead of waiting for a broker that does not answer any more. */
    async stop(giveUpAfterMs?: number): Promise<DeviceLog> {
        this.running = false;
        const timer = giveUpAfterMs === undefined ? undefined : setTimeout(() => (this.giveUp = true), giveUpAfterMs);
        try {
            await this.loop;
        } finally {
            clearTimeout(timer);
        }
        return this.log;
    }

    private async run(): Promise<void> {
        let last = Date.now();
        for (let n = 1; this.running; n++) {
            // A device does not give a message up: it retries until the broker acknowledges it.
            for (;;) {
                let error: string;
                try {
                    const r = await mosquitto("mosquitto_pub", await this.target(),
                        ["-t", this.topic, "-m", String(n), "-q", "1", "-i", this.clientId], 15_000);
                    if (r.code === 0) break;
                    error = `exit ${r.code}: ${r.stderr.trim()}`;
                } catch (e) {
                    error = e instanceof Error ? e.message : String(e);
                }
                this.log.failures++;
                if (this.log.errors.length < 5) this.log.errors.push(`message ${n}: ${error}`);
                if (this.giveUp) {
                    this.log.abandoned = n;
                    return;
                }
                await new Promise((r) => setTimeout(r, 100));
            }
            const now = Date.now();
            this.log.longestGapMs = Math.max(this.log.longestGapMs, now - last);
            last = now;
            this.log.acked.push(n);
            await new Promise((r) => setTimeout(r, this.intervalMs));
        }
    }
}

/** Where a browser loads its page: the name (SNI and Host), the address it resolves to now, the CA it trusts. */
export interface PageTarget {
    name: string;
    address: string;
    caFile: string;
}

/** What a browser saw: pages that loaded as expected, and why the others did not. */
export interface BrowserLog {
    ok: number;
    failed: string[];
}

/**
 * A browser from outside: loads a page over HTTPS again and again (`target` resolved for each
 * load), until stopped; a page counts when it answers 200 with a body matching `expect`.
 */
export class BrowserSimulator {
    private running = false;
    private loop?: Promise<void>;
    private readonly log: BrowserLog = { ok: 0, failed: [] };

    constructor(private readonly target: () => Promise<PageTarget>, private readonly expect: RegExp, private readonly intervalMs = 100) {}

    start(): void {
        if (this.running) throw new Error("the browser simulator is already running");
        this.running = true;
        this.loop = this.run();
    }

    /** Stops after the page in flight; returns the log. */
    async stop(): Promise<BrowserLog> {
        this.running = false;
        await this.loop;
        return this.log;
    }

    private async run(): Promise<void> {
        while (this.running) {
            try {
                const t = await this.target();
                const r = await httpsGet(t.name, t.address, t.caFile);
                if (r.status === 200 && this.expect.test(r.body)) this.log.ok++;
                else this.log.failed.push(`HTTP ${r.status}`);
            } catch (e) {
                this.log.failed.push(e instanceof Error ? e.message : String(e));
            }
            await new Promise((r) => setTimeout(r, this.intervalMs));
        }
    }
}
