/**
 * Secrets stay secrets: the SSH key, the PowerDNS API key, the MySQL admin password, the
 * generated PowerDNS MySQL password and customer credentials reach resources and outputs only
 * wrapped as secrets. Every value is a distinctive sentinel, searched for everywhere.
 */
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { parseCredentials } from "../../components/customer";
import { isWrappedSecret, NewResourceArgs, Registered, SECRET_SIG, SECRET_VALUE } from "../../scripts/lib/engine";
import {
    ALL_SENTINELS, PROJECT, Scratch, SENTINEL_API_KEY, SENTINEL_CUSTOMER_PASSWORD, SENTINEL_GENERATED_PASSWORD,
    SENTINEL_MYSQL_ADMIN, SENTINEL_SSH_KEY, SENTINEL_SSH_KEY_MARK, SENTINEL_TSIG_SECRET, TEST_SECRETS, testSettings,
} from "./support/fleet";
import { configMap, evaluate, Evaluation } from "../../scripts/lib/engine";
import program = require("../../index");

// The SDK's runtime internals (the mock monitor), used untyped on purpose.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeSettings = require("@pulumi/pulumi/runtime/settings");

/** Every place (a path) where a sentinel occurs in `v` outside any secret wrapper. */
function plainLeaks(v: unknown, where: string, out: string[] = []): string[] {
    if (isWrappedSecret(v)) return out;
    if (typeof v === "string") {
        for (const s of ALL_SENTINELS) if (v.includes(s)) out.push(`${where} holds ${s}`);
    } else if (Array.isArray(v)) {
        v.forEach((x, i) => plainLeaks(x, `${where}[${i}]`, out));
    } else if (v && typeof v === "object") {
        // Serialized (protobuf-struct) secrets carry the signature under this key too.
        if ((v as any)[SECRET_SIG] !== undefined) return out;
        for (const [k, x] of Object.entries(v)) plainLeaks(x, `${where}.${k}`, out);
    }
    return out;
}

/**
 * The customer's command returns credentials on stdout; the generated MySQL password its value.
 * Like the engine, outputs named in a registration's additionalSecretOutputs come back secret
 * (the mock monitor alone would return them plain).
 */
function fakeCarryOut(secretOutputs: Map<string, string[]>) {
    return async (a: NewResourceArgs) => {
        const result = await carryOut(a);
        const id = result.id;
        const state = { ...result.state }; // a copy: the recorded inputs must stay as registered
        for (const k of secretOutputs.get(a.name) ?? []) {
            if (k in state && !isWrappedSecret(state[k])) state[k] = { [SECRET_SIG]: SECRET_VALUE, value: state[k] };
        }
        return { id, state };
    };
}

async function carryOut(a: NewResourceArgs): Promise<{ id: string; state: Record<string, any> }> {
    if (a.type === "command:remote:Command" && a.name.endsWith("-container")) {
        const label = a.name.slice(0, -"-container".length);
        const stdout = JSON.stringify({ address: "10.118.0.2", mac: "00:16:3e:76:00:02", mqttUsername: label, mqttPassword: `${SENTINEL_CUSTOMER_PASSWORD}-${label}`, grafanaAdminPassword: SENTINEL_CUSTOMER_PASSWORD, influxToken: SENTINEL_CUSTOMER_PASSWORD });
        return { id: `${a.name}-id`, state: { ...a.inputs, stdout, stderr: "provisioned" } };
    }
    if (a.type === "pulumi-nodejs:dynamic:Resource" && a.name.endsWith("-password")) {
        return { id: `${a.name}-id`, state: { ...a.inputs, value: SENTINEL_GENERATED_PASSWORD } };
    }
    return { id: `${a.name}-id`, state: a.inputs };
}

describe("secrets: kept secret from stack config to outputs", function () {
    this.timeout(30000);
    const scratch = new Scratch();
    let ev: Evaluation<any>;
    /** additionalSecretOutputs of every registration, by resource name. */
    const secretOutputs = new Map<string, string[]>();
    /** What the mock monitor holds at the end, component outputs included (serialized). */
    let monitorState: Array<[string, unknown]> = [];

    before(async () => {
        const customersFile = scratch.customers({ customers: [{ name: "Acme" }, { name: "Blue Widget Co" }, { name: "Zeta", host: "beta", mqttPort: 9500 }] });
        const settings = testSettings({ customersFile, powerdnsMysql: { endpoint: "127.0.0.1:3306", adminUser: "root", database: "pdns", user: "pdns" } });
        const secrets = { ...TEST_SECRETS, powerdnsMysqlAdminPassword: SENTINEL_MYSQL_ADMIN };
        ev = await evaluate(() => {
            // Registration requests say which outputs the engine must encrypt; the mock API drops that.
            const monitor = runtimeSettings.getMonitor();
            const register = monitor.registerResource.bind(monitor);
            monitor.registerResource = (req: any, cb: any) => {
                secretOutputs.set(req.getName(), req.getAdditionalsecretoutputsList());
                return register(req, cb);
            };
            return program();
        }, {
            config: configMap({ ...settings, ...secrets }),
            secretKeys: Object.keys(secrets).map((k) => `${PROJECT}:${k}`),
            stack: "unit",
            newResource: fakeCarryOut(secretOutputs),
        });
        await runtimeSettings.waitForRPCs();
        // Components' registered outputs (registerOutputs) as the engine would store them.
        monitorState = [...runtimeSettings.getMonitor().getRegisteredResources().entries()]
            .filter(([urn]: [string, any]) => /::osm:hosting:[A-Za-z]+::/.test(urn))
            .map(([urn, r]: [string, any]) => [urn, typeof r.state?.toJavaScript === "function" ? r.state.toJavaScript() : r.state]);
    });
    after(() => scratch.cleanup());

    function all(type: string): Registered[] {
        const found = ev.resources.filter((r) => r.type === type);
        assert.ok(found.length > 0, `no ${type}`);
        return found;
    }

    it("the SSH private key reaches every remote command only inside the secret connection", () => {
        const remote = [...all("command:remote:Command"), ...all("command:remote:CopyToRemote")];
        assert.strictEqual(remote.length, 3 * 3 + 3);
        for (const r of remote) {
            assert.ok(isWrappedSecret(r.inputs.connection), `${r.name}: connection is not a secret`);
            assert.strictEqual((r.inputs.connection as any).value.privateKey, SENTINEL_SSH_KEY, r.name);
        }
    });

    it("the PowerDNS API key reaches every record only as a secret input", () => {
        const records = all("pulumi-nodejs:dynamic:Resource").filter((r) => r.inputs.type !== undefined);
        assert.strictEqual(records.length, 3 + 3 * 3);
        for (const r of records) {
            assert.ok(isWrappedSecret(r.inputs.apiKey), `${r.name}: apiKey is not a secret`);
            assert.strictEqual((r.inputs.apiKey as any).value, SENTINEL_API_KEY, r.name);
            assert.ok(secretOutputs.get(r.name)!.includes("apiKey"), `${r.name}: apiKey output not marked secret`);
        }
    });

    it("the MySQL admin password reaches the MySQL provider only as a secret", () => {
        const [provider] = all("pulumi:providers:mysql");
        assert.ok(isWrappedSecret(provider.inputs.password), "provider password is not a secret");
        assert.strictEqual((provider.inputs.password as any).value, SENTINEL_MYSQL_ADMIN);
    });

    it("the generated PowerDNS MySQL password is a secret output, and a secret input of the user", () => {
        const password = ev.resources.find((r) => r.name === "powerdns-mysql-password")!;
        assert.deepStrictEqual(secretOutputs.get(password.name), ["value"]);
        const [user] = all("mysql:index/user:User");
        // A `value!:` class field (emitted as an ES2022 field) would reset the output super() set to
        // undefined, and the user would get no password at all; `declare` avoids that.
        assert.ok("plaintextPassword" in user.inputs, `the PowerDNS MySQL user is declared without a password: ${JSON.stringify(user.inputs)}`);
        assert.ok(isWrappedSecret(user.inputs.plaintextPassword), "user plaintextPassword is not a secret");
        assert.strictEqual((user.inputs.plaintextPassword as any).value, SENTINEL_GENERATED_PASSWORD);
        assert.strictEqual(ev.outputs.powerdnsMysql.password, SENTINEL_GENERATED_PASSWORD);
    });

    it("no resource input, nor any output the engine stores in the clear, holds a sentinel", () => {
        const leaks = ev.resources.flatMap((r) => {
            // Outputs named in additionalSecretOutputs are encrypted by the engine; the rest is stored as is.
            const secretNames = new Set(secretOutputs.get(r.name) ?? []);
            const clearState = Object.fromEntries(Object.entries(r.state ?? {}).filter(([k]) => !secretNames.has(k)));
            return [...plainLeaks(r.inputs, `${r.name}.inputs`), ...plainLeaks(clearState, `${r.name}.state`)];
        });
        assert.deepStrictEqual(leaks, []);
        // The detector does see a sentinel outside a wrapper, and the customer command's stdout did carry one.
        assert.strictEqual(plainLeaks({ a: [{ b: `x${SENTINEL_API_KEY}` }] }, "probe").length, 1);
        const provision = ev.resources.find((r) => r.name === "acme-container")!;
        assert.ok(isWrappedSecret(provision.state.stdout) && String(provision.state.stdout.value).includes(SENTINEL_CUSTOMER_PASSWORD));
    });

    it("no component output registered with the engine holds a sentinel in the clear", () => {
        assert.strictEqual(monitorState.length, 3 + 3 + 1, "every Host, Customer and PowerDnsDatabase component");
        // The credentials are there (so the check looks at real data), wrapped as secrets.
        assert.ok(JSON.stringify(monitorState).includes(SENTINEL_CUSTOMER_PASSWORD));
        const leaks = monitorState.flatMap(([urn, state]) => plainLeaks(state, urn));
        assert.deepStrictEqual(leaks, []);
    });

    it("the customer's command marks stdout secret and logs only stderr", () => {
        for (const r of all("command:remote:Command").filter((x) => x.name.endsWith("-container"))) {
            assert.ok(secretOutputs.get(r.name)!.includes("stdout"), `${r.name}: ${secretOutputs.get(r.name)}`);
            assert.strictEqual(r.inputs.logging, "stderr", r.name);
        }
    });

    it("customer credentials are secret outputs carrying the provisioned values", async () => {
        const raw = ev.raw as any;
        for (const label of ["acme", "blue-widget-co", "zeta"]) {
            const credentials = raw.customers[label].credentials;
            assert.ok(pulumi.Output.isInstance(credentials));
            assert.strictEqual(await pulumi.isSecret(credentials), true, `${label}: credentials are not secret`);
            assert.strictEqual(ev.outputs.customers[label].credentials.mqttPassword, `${SENTINEL_CUSTOMER_PASSWORD}-${label}`);
            assert.strictEqual(ev.outputs.customers[label].credentials.mqttUsername, label);
        }
        assert.strictEqual(await pulumi.isSecret(raw.powerdnsMysql.password), true, "the PowerDNS MySQL password output is not secret");
    });

    it("no plain stack output holds a sentinel", async () => {
        const leaks: string[] = [];
        const walk = async (v: any, where: string): Promise<void> => {
            if (pulumi.Output.isInstance(v)) {
                if (await pulumi.isSecret(v)) return;
                return walk(await new Promise((r) => v.apply(r)), where);
            }
            if (typeof v === "string") plainLeaks(v, where, leaks);
            else if (Array.isArray(v)) for (const [i, x] of v.entries()) await walk(x, `${where}[${i}]`);
            else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) await walk(x, `${where}.${k}`);
        };
        await walk(ev.raw, "outputs");
        assert.deepStrictEqual(leaks, []);
        // The walk reaches secret values too when asked (so the check is not vacuous).
        assert.ok(JSON.stringify(ev.outputs).includes(SENTINEL_CUSTOMER_PASSWORD));
    });

    it("a customer command's stdout that is not JSON fails without repeating it", () => {
        const bad = `mqttPassword=${SENTINEL_CUSTOMER_PASSWORD}`;
        assert.throws(() => parseCredentials(bad), (err: Error) => {
            assert.ok(!err.message.includes(SENTINEL_CUSTOMER_PASSWORD), err.message);
            assert.match(err.message, /not the JSON object with the credentials/);
            return true;
        });
        assert.deepStrictEqual(parseCredentials("ansible noise\n{\"address\":\"10.118.0.2\",\"mqttUsername\":\"a\",\"mqttPassword\":\"b\",\"grafanaAdminPassword\":\"c\",\"influxToken\":\"d\"}\n"),
            { mqttUsername: "a", mqttPassword: "b", grafanaAdminPassword: "c", influxToken: "d" });
    });

    it("secrets never reach a command line or an environment variable", () => {
        for (const r of all("command:remote:Command")) {
            const text = JSON.stringify({ create: r.inputs.create, update: r.inputs.update, delete: r.inputs.delete, environment: r.inputs.environment, triggers: r.inputs.triggers });
            for (const s of [SENTINEL_SSH_KEY_MARK, SENTINEL_API_KEY, SENTINEL_MYSQL_ADMIN]) assert.ok(!text.includes(s), `${r.name} carries ${s}`);
            // The TSIG secret goes to host set-up only, as SSH environment (never the command
            // line), and makes that environment secret as a whole.
            if (text.includes(SENTINEL_TSIG_SECRET)) {
                assert.match(r.name, /-setup$/, `${r.name} carries the TSIG secret`);
                assert.ok(isWrappedSecret(r.inputs.environment), `${r.name}: environment not secret`);
                assert.ok(!JSON.stringify([r.inputs.create, r.inputs.update, r.inputs.delete]).includes(SENTINEL_TSIG_SECRET));
            }
        }
        assert.ok(all("command:remote:Command").some((r) => JSON.stringify(r.inputs.environment ?? {}).includes(SENTINEL_TSIG_SECRET)), "the TSIG secret reaches host set-up");
    });
});
