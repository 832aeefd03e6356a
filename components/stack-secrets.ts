/** What the running Pulumi stack says about its config (needs the Pulumi runtime; config.ts stays pure). */
import { PROJECT } from "./config";

/**
 * Whether the running stack stores a key of this project as a secret. The SDK answers it
 * (runtime/config.js isConfigSecret, from the engine's list of secret keys) but does not type
 * it; without it, nothing is refused.
 */
export function isConfigSecret(key: string): boolean {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- an untyped export of the SDK
    const check: unknown = require("@pulumi/pulumi/runtime/config").isConfigSecret;
    return typeof check === "function" ? Boolean(check(`${PROJECT}:${key}`)) : true;
}
