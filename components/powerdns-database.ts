/**
 * PowerDNS's MySQL backend, declared with @pulumi/mysql: its database, its own user with a
 * generated secret password, and a grant limited to that database.
 */
import * as pulumi from "@pulumi/pulumi";
import * as mysql from "@pulumi/mysql";

/**
 * What PowerDNS's gmysql backend needs on its database: plain DML on its tables (the API's
 * zone and record writes included). The schema itself is loaded by the database admin. The
 * lab's MySQL variant runs PowerDNS with exactly this list (test/lab/pdns-server.ts).
 */
export const POWERDNS_MYSQL_PRIVILEGES: readonly string[] = Object.freeze(["SELECT", "INSERT", "UPDATE", "DELETE"]);

export interface PowerDnsDatabaseArgs {
    /** MySQL server, `host:port`. */
    endpoint: pulumi.Input<string>;
    /** Admin user that may create databases, users and grants. */
    adminUser: pulumi.Input<string>;
    /** Admin password. Must be a Pulumi secret. */
    adminPassword: pulumi.Input<string>;
    /** PowerDNS's database name. */
    database: pulumi.Input<string>;
    /** PowerDNS's MySQL user name. */
    user: pulumi.Input<string>;
    /** Host part of the user (where PowerDNS connects from), e.g. `10.0.0.5` or `localhost`. */
    userHost: pulumi.Input<string>;
}

/** PowerDNS's database, user and grant on the MySQL server behind it. */
export class PowerDnsDatabase extends pulumi.ComponentResource {
    /** Name of the database. */
    public readonly database: pulumi.Output<string>;
    /** MySQL user PowerDNS logs in as. */
    public readonly user: pulumi.Output<string>;
    /** Generated password of that user (secret): goes into PowerDNS's `gmysql-password`. */
    public readonly password: pulumi.Output<string>;

    constructor(name: string, args: PowerDnsDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("osm:hosting:PowerDnsDatabase", name, {}, opts);
        const provider = new mysql.Provider(`${name}-mysql`, {
            endpoint: args.endpoint,
            username: args.adminUser,
            password: pulumi.secret(args.adminPassword),
        }, { parent: this });
        const child = { parent: this, provider };
        const database = new mysql.Database(`${name}-db`, { name: args.database }, child);
        const password = new GeneratedPassword(`${name}-password`, { parent: this });
        const user = new mysql.User(`${name}-user`, {
            user: args.user,
            host: args.userHost,
            plaintextPassword: password.value,
        }, child);
        new mysql.Grant(`${name}-grant`, {
            user: user.user,
            host: user.host.apply((h) => h ?? "%"),
            database: database.name,
            privileges: [...POWERDNS_MYSQL_PRIVILEGES],
        }, child);
        this.database = database.name;
        this.user = user.user;
        this.password = pulumi.secret(password.value);
        this.registerOutputs({ database: this.database, user: this.user, password: this.password });
    }
}

/**
 * A random password made once, at create, and kept in state as a secret (@pulumi/random is not
 * among the project's packages). Nothing to delete: it only exists in state.
 */
class GeneratedPassword extends pulumi.dynamic.Resource {
    declare public readonly value: pulumi.Output<string>;

    constructor(name: string, opts?: pulumi.CustomResourceOptions) {
        super(passwordProvider, name, { value: undefined }, { ...opts, additionalSecretOutputs: ["value"] });
    }
}

const passwordProvider: pulumi.dynamic.ResourceProvider = {
    async create() {
        // Required at call time: the provider is serialized into state and runs in Pulumi's
        // dynamic provider host. 24 bytes = 32 URL-safe characters, no quoting trouble in pdns.conf.
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- a require inside the serialized closure, on purpose (above)
        const value = require("crypto").randomBytes(24).toString("base64url");
        return { id: `password-${Date.now().toString(36)}`, outs: { value } };
    },
};
