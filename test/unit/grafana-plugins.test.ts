/**
 * customers.json grafanaPlugins: what is refused (and why), and what the program tells the
 * customer's host (OSM_GRAFANA_PLUGINS, sorted, with the stack's grafanaPluginSource), only for
 * customers that have plugins. The host side is tested in the lab (test/lab/playbooks.test.ts).
 */
import * as assert from "assert";
import { DEFAULT_GRAFANA_PLUGIN_SOURCE } from "../../components/config";
import { checkCustomers } from "../../components/customers";
import { pluginsEnv } from "../../components/grafana-plugins";
import { formatProblem } from "../../components/problems";
import { Evaluation, unwrapSecrets } from "../../scripts/lib/engine";
import { runProgram, runRefused, Scratch, testSettings } from "./support/fleet";

const SHA = "0123456789abcdef".repeat(4);
const CLOCK = { id: "grafana-clock-panel", version: "2.1.5" };
const INFINITY = { id: "yesoreyeram-infinity-datasource", version: "2.4.0", sha256: SHA };

function environmentOf(ev: Evaluation<any>, label: string): Record<string, string> {
    const r = ev.resources.find((x) => x.name === `${label}-container` && x.type === "command:remote:Command");
    assert.ok(r, `no ${label}-container`);
    return unwrapSecrets(r.inputs).environment;
}

describe("Grafana plugins per customer", () => {
    const scratch = new Scratch();
    after(() => scratch.cleanup());

    it("refuses malformed or repeated plugins, each with its path and fix, all in one run", () => {
        const { problems } = checkCustomers({ customers: [
            { name: "Acme", grafanaPlugins: [{ id: "Clock Panel", version: "2.1.5" }, { id: "grafana-clock-panel", version: "v2" },
                { id: "grafana-clock-panel", version: "2.1.6", sha256: "xyz" }, { id: "grafana-clock-panel", version: "2.1.7" }] },
            { name: "Quayside", host: "alpha", mqttPort: 30001, adopt: true, grafanaPlugins: [CLOCK] },
            { name: "Dairy", grafanaPlugins: [{ id: "grafana-clock-panel" }] },
            { name: "Mills", grafanaPlugins: "grafana-clock-panel" },
        ] }, "customers.json", [{ name: "alpha" }]);
        const shown = problems.map(formatProblem);
        assert.deepStrictEqual(problems.map((p) => p.path), [
            "/customers/2/grafanaPlugins/0/version", // the schema: version missing
            "/customers/3/grafanaPlugins", // the schema: not a list
            "/customers/0/grafanaPlugins/0/id", "/customers/0/grafanaPlugins/1/version", "/customers/0/grafanaPlugins/2/id",
            "/customers/0/grafanaPlugins/2/sha256", "/customers/0/grafanaPlugins/3/id", "/customers/1/grafanaPlugins",
        ], shown.join("\n"));
        const says = (path: string, re: RegExp) => assert.match(problems.find((p) => p.path === path)!.message, re);
        says("/customers/0/grafanaPlugins/0/id", /"Clock Panel" is not a Grafana plugin id: .*such as "grafana-clock-panel"/);
        says("/customers/0/grafanaPlugins/1/version", /"v2" is not a plugin version: .*such as "2\.1\.5"/);
        says("/customers/0/grafanaPlugins/2/id", /listed twice \(also at \/customers\/0\/grafanaPlugins\/1\); keep one entry/);
        says("/customers/0/grafanaPlugins/2/sha256", /not a SHA-256 in hex.*or leave sha256 out/);
        says("/customers/1/grafanaPlugins", /adopted customer .* not supported yet; remove grafanaPlugins/);
    });

    it("sends the plugins, sorted by id, and their source only to customers that have any", async () => {
        const customersFile = scratch.customers({ customers: [{ name: "Acme", grafanaPlugins: [INFINITY, CLOCK] }, { name: "Dairy" }] });
        const ev = await runProgram({ customersFile });
        const acme = environmentOf(ev, "acme");
        assert.strictEqual(acme.OSM_GRAFANA_PLUGINS, `grafana-clock-panel@2.1.5 yesoreyeram-infinity-datasource@2.4.0@${SHA}`);
        assert.strictEqual(acme.OSM_GRAFANA_PLUGIN_SOURCE, DEFAULT_GRAFANA_PLUGIN_SOURCE);
        const dairy = environmentOf(ev, "dairy");
        assert.deepStrictEqual([dairy.OSM_GRAFANA_PLUGINS, dairy.OSM_GRAFANA_PLUGIN_SOURCE], [undefined, undefined]);
        // Reordered in customers.json: the same command (no re-run on the host).
        const reordered = await runProgram({ customersFile: scratch.customers({ customers: [{ name: "Acme", grafanaPlugins: [CLOCK, INFINITY] }, { name: "Dairy" }] }) });
        assert.deepStrictEqual(environmentOf(reordered, "acme"), acme);
        assert.strictEqual(pluginsEnv([]), "");
    });

    it("takes a local mirror from the stack config, and refuses a source the hosts would refuse", async () => {
        const customersFile = scratch.customers({ customers: [{ name: "Acme", grafanaPlugins: [CLOCK] }] });
        const ev = await runProgram({ customersFile, settings: testSettings({ grafanaPluginSource: "http://10.0.0.5:8080/grafana-plugins/" }) });
        assert.strictEqual(environmentOf(ev, "acme").OSM_GRAFANA_PLUGIN_SOURCE, "http://10.0.0.5:8080/grafana-plugins");
        const { err, registered } = await runRefused({ customersFile, settings: testSettings({ grafanaPluginSource: "ftp://mirror.example/plugins" }) });
        assert.match(err.message, /osm-hosting:grafanaPluginSource.*https:\/\/grafana\.com\/api\/plugins or a local mirror/s);
        assert.deepStrictEqual(registered.filter((u) => !u.includes("pulumi:pulumi:Stack")), []);
    });
});
