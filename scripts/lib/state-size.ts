/**
 * How much the engine stores per customer: the inputs of every resource an evaluation
 * registers, as the JSON of a checkpoint holds them (a secret as the envelope of its
 * ciphertext), summed per customer (the resources under its Customer component) and over the
 * whole stack. The engine writes all of it back at every checkpoint of a `pulumi up`.
 */
import { mapSecrets, Registered, SECRET_SIG, SECRET_VALUE } from "./engine";

export const CUSTOMER_COMPONENT = "osm:hosting:Customer";

export interface StateSize {
    resources: number;
    customers: number;
    /** Inputs of every resource of the stack, bytes. */
    totalBytes: number;
    /** The largest customer's own resources (its component's subtree), bytes. */
    largestCustomerBytes: number;
    /** Everything divided by the customers: each one's share of hosts and stack included. */
    perCustomerBytes: number;
    /** The largest single input of any resource: its resource and property. */
    largestInput: { resource: string; property: string; bytes: number };
}

/**
 * A value as a checkpoint stores it: each secret as `{sig, ciphertext}`, the ciphertext being
 * what the passphrase and cloud secrets managers write (`v1:` + base64 of a 12-byte nonce, then
 * base64 of the AES-GCM text with its 16-byte tag): a secret costs about 4/3 of its length
 * plus 110 bytes.
 */
export function asStored(v: any): any {
    return mapSecrets(v, (s) => {
        const plain = JSON.stringify(s.value ?? null);
        const b64 = (n: number) => "x".repeat(4 * Math.ceil(n / 3));
        return { [SECRET_SIG]: SECRET_VALUE, ciphertext: `v1:${b64(12)}:${b64(Buffer.byteLength(plain) + 16)}` };
    });
}

const bytesOf = (v: unknown) => Buffer.byteLength(JSON.stringify(v ?? null) ?? "null");

export function stateSize(resources: Registered[]): StateSize {
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const customerOf = (r: Registered): string | undefined => {
        for (let p: Registered | undefined = r; p; p = p.parent ? byUrn.get(p.parent) : undefined) {
            if (p.type === CUSTOMER_COMPONENT) return p.urn;
        }
        return undefined;
    };
    const perCustomer = new Map<string, number>();
    let totalBytes = 0;
    let largestInput = { resource: "", property: "", bytes: 0 };
    for (const r of resources) {
        const inputs = asStored(r.inputs) ?? {};
        const bytes = bytesOf(inputs);
        totalBytes += bytes;
        const c = customerOf(r);
        if (c) perCustomer.set(c, (perCustomer.get(c) ?? 0) + bytes);
        for (const [property, v] of Object.entries(inputs)) {
            const b = bytesOf(v);
            if (b > largestInput.bytes) largestInput = { resource: r.name, property, bytes: b };
        }
    }
    const customers = resources.filter((r) => r.type === CUSTOMER_COMPONENT).length;
    return {
        resources: resources.length, customers, totalBytes,
        largestCustomerBytes: Math.max(0, ...perCustomer.values()),
        perCustomerBytes: customers ? totalBytes / customers : totalBytes,
        largestInput,
    };
}

/**
 * Secrets of production's sizes, for measuring (the plan's placeholders are shorter): an
 * OpenSSH ed25519 private key as long as one ssh-keygen writes (about 420 bytes) and a
 * 32-character API key.
 */
export function productionSizedSecrets(project: string): Record<string, string> {
    const body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW".repeat(5).match(/.{1,70}/g)!.join("\n");
    const key = `-----BEGIN OPENSSH PRIVATE KEY-----\n${body}\n-----END OPENSSH PRIVATE KEY-----\n`;
    return { [`${project}:sshPrivateKey`]: key, [`${project}:powerdnsApiKey`]: "k".repeat(32) };
}
