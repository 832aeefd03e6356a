/**
 * Issue 3 item 6 for real: the PowerDnsDatabase component's resources (@pulumi/mysql database,
 * user with the generated password, grant) carried out against a scratch MariaDB, then a
 * PowerDNS running on exactly that database and user, with records written through the
 * provider and checked with dig. The grant is limited to that database.
 *
 * The executor has no handler for @pulumi/mysql (its provider binary is a Terraform bridge):
 * this suite's handlers carry the three resource types out as the equivalent SQL, over TCP
 * as the provider's admin user (password in a 0600 client file, never argv).
 *
 * On the same PowerDNS: rows the old orchestrator wrote by SQL are adopted through the API,
 * and a second pdns_server on the same database with api=no (as upstream runs it) shows that a
 * delete there fails instead of passing for "zone gone".
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { PowerDnsDatabase, POWERDNS_MYSQL_PRIVILEGES } from "../../components/powerdns-database";
import { Carried, carryOut, CarryOutError, Deployment, destroyAll, dynamicHandler, DYNAMIC_TYPE, Handler, Handlers } from "../../lab/executor";
import { MysqlBackend, POWERDNS_MYSQL_SCHEMA, PowerDnsLab, ScratchMariaDb, startMariaDb, startPowerDns } from "../../lab/pdns-server";
import { recordsProgram, serializedProvider } from "../../lab/powerdns-fixtures";

const IDENT = /^[A-Za-z0-9_]+$/;
const HOST = /^[A-Za-z0-9.%_-]+$/;
const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
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
    let backend: MysqlBackend | undefined;
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
        backend = { port: db.port, database, user, password };
    });

    it("adopts rows the old orchestrator wrote by SQL (TTL kept), updates and deletes them; a delete against api=no fails and leaves the record", async () => {
        assert.ok(lab && backend, "needs the PowerDNS of the test before");
        const zone = lab.zone;
        const bare = zone.replace(/\.$/, "");
        // Upstream's way: plain INSERTs into records, TTL 1800, prio 0, names and contents without the dot.
        const row = (name: string, type: string, content: string) =>
            `INSERT INTO records (domain_id, name, type, content, ttl, prio) SELECT id, '${name}.${bare}', '${type}', '${content}', 1800, 0 FROM domains WHERE name = '${bare}';`;
        await db.admin(`USE pdns_lab;\n${[row("up1", "A", "192.0.2.21"), row("acme", "CNAME", `up1.${bare}`), row("acme-influx", "CNAME", `up1.${bare}`), row("moved", "CNAME", `up0.${bare}`)].join("\n")}\n`);
        const rows = async (like: string) => (await db.admin(`SELECT name, type, content, ttl FROM pdns_lab.records WHERE name LIKE '${like}' ORDER BY name, type;`)).trim();
        assert.deepStrictEqual((await lab.dig(`acme.${zone}`)).answers, [`CNAME up1.${zone}`, "A 192.0.2.21"]);

        const { provider } = await serializedProvider();
        const conn = { apiUrl: lab.apiUrl, apiKey: lab.apiKey, zone };
        const adopted = (name: string, type: string, records: string[], adoptTtl?: boolean) =>
            ({ name: `${name}.${zone}`, type, ttl: 300, records, adoptId: `${zone}/${name}.${zone}/${type}`, ...(adoptTtl === undefined ? {} : { adoptTtl }) });
        const declared = {
            "up1-a": adopted("up1", "A", ["192.0.2.21"], true),
            "acme-grafana": adopted("acme", "CNAME", [`up1.${zone}`], true),
            "acme-influx": adopted("acme-influx", "CNAME", [`up1.${zone}`]),
        };
        const d1 = await carryOut(recordsProgram(conn, declared), { config: {}, handlers });
        live.push(d1);
        const ttls = () => Object.fromEntries(live[live.length - 1].resources.map((r) => [r.name, r.outputs.ttl]));
        assert.deepStrictEqual(ttls(), { "up1-a": 1800, "acme-grafana": 1800, "acme-influx": 300 });
        // Now the API's own rows (one per rrset), with the kept TTL.
        assert.strictEqual(await rows(`acme%`), [`acme-influx.${bare}\tCNAME\tup1.${bare}\t300`, `acme.${bare}\tCNAME\tup1.${bare}\t1800`].join("\n"));
        assert.deepStrictEqual((await lab.dig(`acme.${zone}`)).answers, [`CNAME up1.${zone}`, "A 192.0.2.21"]);

        // A row that points elsewhere (upstream never re-pointed DNS on a move) is refused, and left alone.
        let refused = "";
        try {
            await carryOut(recordsProgram(conn, { "moved-grafana": adopted("moved", "CNAME", [`up1.${zone}`], true) }), { config: {}, handlers });
        } catch (e) {
            refused = e instanceof CarryOutError ? e.failures.map((f) => f.message).join("\n") : String(e);
        }
        assert.match(refused, new RegExp(`${esc(`adoption refused: the existing rrset holds [up0.${zone}] (ttl 1800)`)}.*${esc(`(pdnsutil replace-rrset ${zone} moved CNAME 1800 "up1.${zone}")`)}`));
        assert.strictEqual(await rows("moved%"), `moved.${bare}\tCNAME\tup0.${bare}\t1800`);

        // Adopted, they are ordinary records: an update re-points one (its TTL still kept) ...
        const d2 = await carryOut(recordsProgram(conn, { ...declared, "acme-grafana": adopted("acme", "CNAME", [`other.${zone}`], true) }), { config: {}, handlers, previous: d1 });
        live[live.length - 1] = d2;
        assert.deepStrictEqual([(await lab.dig(`acme.${zone}`, "CNAME")).answers, ttls()["acme-grafana"]], [[`CNAME other.${zone}`], 1800]);

        // ... a delete through PowerDNS with api=no (its webserver on, every API path 404) fails and changes nothing ...
        const off = await startPowerDns({ backend: "mysql", mysql: backend, api: false });
        try {
            const r = d2.resources.find((x) => x.name === "up1-a")!;
            let offMsg = "";
            await provider.delete(r.id, { ...r.outputs, apiUrl: off.apiUrl }).catch((e: Error) => { offMsg = e.message; });
            assert.match(offMsg, new RegExp(`^${esc(`PowerDNS record up1.${zone} A: ${off.apiUrl}: PowerDNS's webserver answers ("PowerDNS Authoritative Server Monitor") but not its HTTP API`)}.*set api=yes`));
            assert.ok(!offMsg.includes(lab.apiKey));
            assert.deepStrictEqual((await off.dig(`up1.${zone}`)).answers, ["A 192.0.2.21"]);
        } finally {
            await off.stop();
        }
        assert.deepStrictEqual((await lab.dig(`up1.${zone}`)).answers, ["A 192.0.2.21"]);

        // ... and a delete through the API removes them.
        await destroyAll(live.pop()!, handlers);
        assert.strictEqual((await lab.dig(`acme.${zone}`)).status, "NXDOMAIN");
        assert.strictEqual(await rows("up1%") + await rows("acme%"), "");
        await db.admin(`DELETE FROM pdns_lab.records WHERE name = 'moved.${bare}';`);
    });

    it("removes the database and the user it created", async () => {
        assert.ok(lab, "needs the PowerDNS of the tests before");
        await lab.stop();
        lab = undefined;
        // The database's deployment is the first one (a failed test before may leave records after it).
        await destroyAll(live.shift()!, handlers);
        assert.strictEqual((await db.admin("SELECT COUNT(*) FROM mysql.user WHERE user = 'pdns_lab';")).trim(), "0");
        assert.strictEqual((await db.admin("SHOW DATABASES LIKE 'pdns_lab';")).trim(), "");
    });
});
