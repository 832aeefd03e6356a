/** What every remote command of the fleet shares: the pinned SSH connection and the host layout. */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { hostContract } from "./contract";

/** Where the program keeps its files on a host (the host contract's `osm_remote_root`). */
export const REMOTE_ROOT = hostContract().remoteRoot;
/**
 * Runs one playbook of ansible/ on the host (see ansible/README.md). Through bash, because
 * CopyToRemote creates files without their mode: nothing it copies is executable.
 */
export function playbook(name: string): string {
    return `bash ${REMOTE_ROOT}/ansible/run ${name}`;
}

export interface SshTarget {
    /** Address to dial. */
    address: string;
    /** SSH port. */
    port: number;
    /** Login user. */
    user: string;
    /** The host's public host key; the connection refuses any other. */
    hostKey: string;
    /** Private key to log in with (a secret). */
    privateKey: pulumi.Input<string>;
}

/**
 * The connection for @pulumi/command, as a secret. The host key is pinned: without it the
 * provider accepts any key and a machine in the middle would receive the customers' secrets.
 * Dialling gives up after ~1 minute instead of the default 10 x 15 s.
 */
export function sshConnection(t: SshTarget): pulumi.Output<command.types.input.remote.ConnectionArgs> {
    return pulumi.secret(pulumi.output(t.privateKey).apply((privateKey) => ({
        host: t.address,
        port: t.port,
        user: t.user,
        hostKey: t.hostKey,
        privateKey,
        dialErrorLimit: 4,
        perDialTimeout: 15,
    })));
}
