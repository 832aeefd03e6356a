/**
 * Issue 3 item 6 for real: the PowerDnsDatabase component's resources (@pulumi/mysql database,
 * user with the generated password, grant) carried out against a scratch MariaDB, then a
 * PowerDNS running on exactly that database and user, with records written through the
 * provider and checked with dig. The grant is limited to that database.
 *
 * The executor has no handler for @pulumi/mysql (its provider binary is a Terraform bridge):
 * this suite's handlers carry the three resource types out as the equivalent SQL, over TCP
 * as the provider's admin user (password in a 0600 client file, never argv).
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { PowerDnsDatabase, POWERDNS_MYSQL_PRIVILEGES } from "../../components/powerdns-database";
import { Carried, carryOut, Deployment, destroyAll, dynamicHandler, DYNAMIC_TYPE, Handler, Handlers } from "../../lab/executor";
import { POWERDNS_MYSQL_SCHEMA, PowerDnsLab, ScratchMariaDb, startMariaDb, startPowerDns } from "../../lab/pdns-server";
import { recordsProgram } from "../../lab/powerdns-fixtures";

const IDENT = /^[A-Za-z0-9_]+$/;
const HOST = /^[A-Za-z0-9.%_-]+$/;
const sqlString = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
function ident(v: unknown, what: string): string {
    if (typeof v !== "string" || !IDENT.test(v)) throw new Error(`${what} ${JSON.stringify(v)} is not a plain identifier`);
    return v;
}
function account(user: unknown, host: unknown): string {
    if (typeof host !== "string" || !HOST.test(host)) throw new Error(`host ${JSON.stringify(host)} is not a host pattern`);
    return `'${ident(user, "user")}'@'${host}'`;
}

/** @pulumi/mysql resources as SQL, as the admin user the (single) mysql provider names. */
function mysqlHandlers(db: ScratchMariaDb): Handlers {
    let admin: { username: string; password: string } | undefined;
    const sql = (text: string) => {
        if (!admin) throw new Error("no mysql provider carried out yet");
        return db.as(admin.username, admin.password, text);
    };
    const provider: Handler = {
        async create(r) {
            if (r.inputs.endpoint !== `127.0.0.1:${db.port}`) throw new Error(`mysql provider endpoint ${r.inputs.endpoint} is not the lab MariaDB`);
            admin = { username: r.inputs.username, password: r.inputs.password };
            return { id: `${r.name}-provider`, outputs: r.inputs };
        },
        async delete() { /* a provider holds nothing */ },
    };
    const database: Handler = {
        async create(r) {
            await sql(`CREATE DATABASE \`${ident(r.inputs.name, "database")}\`;`);
            return { id: r.inputs.name, outputs: r.inputs };
        },
        async delete(r: Carried) { await sql(`DROP DATABASE IF EXISTS \`${ident(r.outputs.name, "database")}\`;`); },
    };
    const user: Handler = {
        async create(r) {
            if (typeof r.inputs.plaintextPassword !== "string" || r.inputs.plaintextPassword.length < 16) throw new Error("user without a generated password");
            await sql(`CREATE USER ${account(r.inputs.user, r.inputs.host)} IDENTIFIED BY ${sqlString(r.inputs.plaintextPassword)};`);
            return { id: `${r.inputs.user}@${r.inputs.host}`, outputs: r.inputs };
        },
        async delete(r: Carried) { await sql(`DROP USER IF EXISTS ${account(r.outputs.user, r.outputs.host)};`); },
    };
    const grant: Handler = {
        async create(r) {
            const privileges: string[] = r.inputs.privileges;
            if (!privileges.every((p) => /^[A-Z ]+$/.test(p))) throw new Error(`odd privilege in ${privileges}`);
            await sql(`GRANT ${privileges.join(", ")} ON \`${ident(r.inputs.database, "database")}\`.* TO ${account(r.inputs.user, r.inputs.host)};`);
            return { id: `${r.inputs.user}@${r.inputs.host}:${r.inputs.database}`, outputs: r.inputs };
        },
        async delete(r: Carried) {
            await sql(`REVOKE ALL PRIVILEGES ON \`${ident(r.outputs.database, "database")}\`.* FROM ${account(r.outputs.user, r.outputs.host)};`);
        },
    };
    return {
        "pulumi:providers:mysql": provider,
        "mysql:index/database:Database": database,
        "mysql:index/user:User": user,
        "mysql:index/grant:Grant": grant,
    };
}

describe("PowerDnsDatabase carried out on a lab MariaDB, and PowerDNS running on it", function () {
    this.timeout(120000);
    let db: ScratchMariaDb;
    let lab: PowerDnsLab | undefined;
    let handlers: Handlers;
    const live: Deployment[] = [];
    const adminPassword = crypto.randomBytes(18).toString("base64url");

    before(async () => {
        db = await startMariaDb();
        // The operator's admin account the stack config names (powerdnsMysql.adminUser).
        await db.admin(`CREATE USER 'osmadmin'@'127.0.0.1' IDENTIFIED BY '${adminPassword}';\nGRANT ALL PRIVILEGES ON *.* TO 'osmadmin'@'127.0.0.1' WITH GRANT OPTION;\n`);
        handlers = { ...mysqlHandlers(db), [DYNAMIC_TYPE]: dynamicHandler() };
    });
    after(async () => {
        if (lab) await lab.stop().catch(() => undefined);
        while (live.length) await destroyAll(live.pop()!, handlers).catch(() => undefined);
        if (db) await db.stop();
    });

    it("creates the database, the user with a generated password and a grant of exactly the list; PowerDNS serves records from it", async () => {
        const d = await carryOut(() => {
            const c = new PowerDnsDatabase("powerdns-mysql", {
                endpoint: `127.0.0.1:${db.port}`, adminUser: "osmadmin", adminPassword: pulumi.secret(adminPassword),
                database: "pdns_lab", user: "pdns_lab", userHost: "127.0.0.1",
            });
            return { database: c.database, user: c.user, password: c.password };
        }, { config: {}, handlers });
        live.push(d);
        const { database, user, password } = d.outputs;
        assert.deepStrictEqual([database, user], ["pdns_lab", "pdns_lab"]);
        assert.match(password, /^[A-Za-z0-9_-]{32}$/);

        const grants = (await db.admin("SHOW GRANTS FOR 'pdns_lab'@'127.0.0.1';")).trim().split("\n").filter((g) => !/GRANT USAGE ON \*\.\*/.test(g));
        assert.deepStrictEqual(grants, [`GRANT ${POWERDNS_MYSQL_PRIVILEGES.join(", ")} ON \`pdns_lab\`.* TO \`pdns_lab\`@\`127.0.0.1\``]);

        // The schema is the admin's job (the component cannot run SQL); then PowerDNS runs on it.
        await db.admin(`USE pdns_lab;\n${fs.readFileSync(POWERDNS_MYSQL_SCHEMA, "utf8")}`);
        lab = await startPowerDns({ backend: "mysql", mysql: { port: db.port, database, user, password } });
        const conn = { apiUrl: lab.apiUrl, apiKey: lab.apiKey, zone: lab.zone };
        const records = await carryOut(recordsProgram(conn, {
            "h1-a": { name: `h1.${lab.zone}`, type: "A", ttl: 300, records: ["192.0.2.10"] },
            "c-grafana": { name: `c.${lab.zone}`, type: "CNAME", ttl: 300, records: [`h1.${lab.zone}`] },
        }), { config: {}, handlers });
        assert.deepStrictEqual((await lab.dig(`c.${lab.zone}`)).answers, [`CNAME h1.${lab.zone}`, "A 192.0.2.10"]);
        await destroyAll(records, handlers);
        assert.strictEqual((await lab.dig(`c.${lab.zone}`)).status, "NXDOMAIN");

        // Limited to its database: no DDL, nothing elsewhere.
        await assert.rejects(db.as(user, password, "CREATE TABLE extra (i INT);", "pdns_lab"), /denied/i);
        await assert.rejects(db.as(user, password, "SELECT user FROM mysql.user;"), /denied/i);
        assert.match(await db.as(user, password, "SELECT COUNT(*) FROM domains;", "pdns_lab"), /^1\s*$/);

        await lab.stop();
        lab = undefined;
        await destroyAll(live.pop()!, handlers);
        assert.strictEqual((await db.admin("SELECT COUNT(*) FROM mysql.user WHERE user = 'pdns_lab';")).trim(), "0");
        assert.strictEqual((await db.admin("SHOW DATABASES LIKE 'pdns_lab';")).trim(), "");
    });
});
