/**
 * Host keys from an OpenSSH known_hosts file: the old orchestrator's own (`~/.ssh/known_hosts`
 * of the user it runs as), the keys it already trusts when it connects to each host by its
 * address. Pure. Plain and hashed (`|1|salt|hash`) host patterns; `@revoked` keys are never
 * taken, `@cert-authority` lines and wildcard patterns are not host keys and are skipped.
 */
import * as crypto from "crypto";

/** Key types the stack config takes, most preferred first. */
export const KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;

export interface KnownKey {
    /** The host patterns as written (comma-separated in the file). */
    patterns: string[];
    /** `ssh-ed25519 AAAA...`: the stack config's `hostKey` form. */
    key: string;
    revoked: boolean;
}

/** Parses known_hosts text; lines that are not host keys are skipped. */
export function parseKnownHosts(text: string): KnownKey[] {
    const out: KnownKey[] = [];
    for (const raw of text.split("\n")) {
        const line = raw.trim();
        if (!line || line.startsWith("#")) continue;
        const fields = line.split(/\s+/);
        let revoked = false;
        if (fields[0].startsWith("@")) {
            if (fields[0] !== "@revoked") continue; // @cert-authority: a CA, not a host key
            revoked = true;
            fields.shift();
        }
        const [patterns, type, blob] = fields;
        if (!patterns || !type || !blob || !(KEY_TYPES as readonly string[]).includes(type) || !/^[A-Za-z0-9+/]+={0,3}$/.test(blob)) continue;
        out.push({ patterns: patterns.split(","), key: `${type} ${blob}`, revoked });
    }
    return out;
}

/** The form known_hosts gives a host on a port: `addr` on 22, `[addr]:port` otherwise. */
function hostToken(host: string, port: number): string {
    return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether one pattern names exactly `token` (hashed or plain; wildcards and negations never match). */
function patternMatches(pattern: string, token: string): boolean {
    const hashed = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(pattern);
    if (hashed) {
        const mac = crypto.createHmac("sha1", Buffer.from(hashed[1], "base64")).update(token).digest("base64");
        return mac === hashed[2];
    }
    return pattern.toLowerCase() === token.toLowerCase();
}

/**
 * The key known_hosts holds for a host (tried under each of `names`: its address, then its
 * names), the most preferred type first; undefined when none, or when the only ones are revoked.
 */
export function hostKeyFor(keys: KnownKey[], names: string[], port = 22): string | undefined {
    const tokens = names.map((n) => hostToken(n, port));
    const matching = keys.filter((k) => k.patterns.some((p) => !p.startsWith("!") && tokens.some((t) => patternMatches(p, t))));
    const revoked = new Set(keys.filter((k) => k.revoked).map((k) => k.key));
    const usable = matching.filter((k) => !k.revoked && !revoked.has(k.key));
    for (const type of KEY_TYPES) {
        const k = usable.find((u) => u.key.startsWith(`${type} `));
        if (k) return k.key;
    }
    return undefined;
}
