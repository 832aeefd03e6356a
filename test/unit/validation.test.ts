/**
 * Invalid input, as a table: customers.json and stack config. Each row asserts exactly which
 * problems are reported (file, JSON path) and that each message says what to do. Then: all
 * problems come in one run, and the program registers nothing when any check fails.
 */
import * as assert from "assert";
import * as fs from "fs";
import { readSettings } from "../../components/config";
import { checkCustomers, KnownHost, loadCustomers } from "../../components/customers";
import { formatProblem, InputError, Problem } from "../../components/problems";
import { readStackFile } from "../../scripts/lib/offline";
import {
    lookupOf, PROJECT, runProgram, runRefused, Scratch, SENTINEL_API_KEY, SENTINEL_SSH_KEY, SENTINEL_SSH_KEY_MARK, SENTINEL_TSIG_SECRET,
    TEST_SECRETS, testHosts, testSettings,
} from "./support/fleet";

/** One expected problem: its path and fragments its message must contain (in order). */
interface Expect { path: string; says: string[] }

function assertProblems(problems: Problem[], file: string, expected: Expect[]): void {
    const shown = problems.map(formatProblem).join("\n");
    assert.strictEqual(problems.length, expected.length, `expected ${expected.length} problem(s), got:\n${shown}`);
    expected.forEach((want, i) => {
        const p = problems[i];
        assert.strictEqual(p.file, file, shown);
        assert.strictEqual(p.path, want.path, shown);
        let from = 0;
        for (const fragment of want.says) {
            const at = p.message.indexOf(fragment, from);
            assert.ok(at >= 0, `problem ${i} (${p.path}) should say ${JSON.stringify(fragment)}:\n  ${p.message}`);
            from = at + fragment.length;
        }
        // The formatted line names the file and the path, as the user sees it.
        assert.ok(formatProblem(p).startsWith(`${file} ${want.path}: `) || (want.path === "" && formatProblem(p).startsWith(`${file}: `)), formatProblem(p));
    });
}

const CUSTOMERS = "customers.json";
const HOSTS: KnownHost[] = [{ name: "osm1" }, { name: "osm2", sshPort: 2222 }];
const name52 = "a".repeat(52);
const name53 = "b".repeat(53);

interface CustomersCase { title: string; doc: unknown; expect: Expect[] }

const customerCases: CustomersCase[] = [
    { title: "a character outside a-z0-9- in the label", doc: { customers: [{ name: "Acme & Sons" }] },
        expect: [{ path: "/customers/0/name", says: ['"Acme & Sons"', 'DNS label "acme-&-sons"', 'contains "&"', "use only letters, digits, spaces and dashes"] }] },
    { title: "a non-ASCII letter", doc: { customers: [{ name: "Café Nord" }] },
        expect: [{ path: "/customers/0/name", says: ['"café-nord"', 'contains "é"', "use only letters, digits, spaces and dashes"] }] },
    { title: "a dot in the name", doc: { customers: [{ name: "acme.io" }] },
        expect: [{ path: "/customers/0/name", says: ['contains "."', "use only"] }] },
    { title: "a leading dash", doc: { customers: [{ name: "-acme" }] },
        expect: [{ path: "/customers/0/name", says: ['"-acme"', "starts or ends with a dash", "remove the leading or trailing dash"] }] },
    { title: "a trailing dash", doc: { customers: [{ name: "Acme-" }] },
        expect: [{ path: "/customers/0/name", says: ['"acme-"', "starts or ends with a dash", "remove the leading or trailing dash"] }] },
    { title: "a label of 53 characters", doc: { customers: [{ name: name52 }, { name: name53 }] },
        expect: [{ path: "/customers/1/name", says: ["of 53 characters", "shorten it to at most 52", `"${name53}-chirpstack" fits DNS's 63`] }] },
    { title: "adopt without host and mqttPort", doc: { customers: [{ name: "Old Farm", adopt: true }] },
        expect: [{ path: "/customers/0/adopt", says: ['needs "host" and "mqttPort" pinned', 'add "host" and "mqttPort"'] }] },
    { title: "adopt with a host but no mqttPort", doc: { customers: [{ name: "Old Farm", host: "osm1", adopt: true }] },
        expect: [{ path: "/customers/0/adopt", says: ['add "mqttPort"'] }] },
    { title: "an empty name (schema)", doc: { customers: [{ name: "" }] },
        expect: [{ path: "/customers/0/name", says: ["Display name", "must NOT have fewer than 1 characters", '(got "")'] }] },
    { title: "a blank name (spaces only)", doc: { customers: [{ name: "   " }] },
        expect: [{ path: "/customers/0/name", says: ['name "   " is blank', "give the customer a name"] }] },
    { title: '"Acme" and "acme" clash', doc: { customers: [{ name: "Acme" }, { name: "acme" }] },
        expect: [{ path: "/customers/1/name", says: ['DNS label "acme"', "the same as /customers/0/name", '("Acme")', "give one of them a different name"] }] },
    // Decided by the code: a run of whitespace becomes ONE dash, so these two are the same customer label.
    { title: '"Blue Widget Co" and "blue  widget co" clash (whitespace runs collapse)', doc: { customers: [{ name: "Blue Widget Co" }, { name: "blue  widget co" }] },
        expect: [{ path: "/customers/1/name", says: ['"blue-widget-co"', "the same as /customers/0/name", "give one of them a different name"] }] },
    { title: "a spaced dash gives two dashes in a row", doc: { customers: [{ name: "Blue - Widget" }] },
        expect: [{ path: "/customers/0/name", says: ['"blue---widget"', "two dashes in a row", "remove the extra dash or space"] }] },
    { title: "a pin to an unknown host", doc: { customers: [{ name: "Acme", host: "osm9" }] },
        expect: [{ path: "/customers/0/host", says: ['host "osm9" is not in the stack config', 'use one of "osm1", "osm2"', "or remove the pin"] }] },
    { title: "mqttPort 80", doc: { customers: [{ name: "Acme", host: "osm1", mqttPort: 80 }] },
        expect: [{ path: "/customers/0/mqttPort", says: ["must be between 1024 and 65535", "(got 80)"] }] },
    { title: "mqttPort 443", doc: { customers: [{ name: "Acme", host: "osm1", mqttPort: 443 }] },
        expect: [{ path: "/customers/0/mqttPort", says: ["must be between 1024 and 65535", "(got 443)"] }] },
    { title: "mqttPort 22", doc: { customers: [{ name: "Acme", host: "osm1", mqttPort: 22 }] },
        expect: [{ path: "/customers/0/mqttPort", says: ["must be between 1024 and 65535", "(got 22)"] }] },
    { title: "mqttPort = the pinned host's own sshPort", doc: { customers: [{ name: "Acme", host: "osm2", mqttPort: 2222 }] },
        expect: [{ path: "/customers/0/mqttPort", says: ["mqttPort 2222 is used by the host itself", "choose another port"] }] },
    { title: "mqttPort 1023", doc: { customers: [{ name: "Acme", host: "osm1", mqttPort: 1023 }] },
        expect: [{ path: "/customers/0/mqttPort", says: ["must be between 1024 and 65535", "(got 1023)"] }] },
    { title: "mqttPort 65536", doc: { customers: [{ name: "Acme", host: "osm1", mqttPort: 65536 }] },
        expect: [{ path: "/customers/0/mqttPort", says: ["must be between 1024 and 65535", "(got 65536)"] }] },
    { title: 'mqttPort as a string "8883"', doc: { customers: [{ name: "Acme", host: "osm1", mqttPort: "8883" }] },
        expect: [{ path: "/customers/0/mqttPort", says: ["must be a whole number", '(got "8883")'] }] },
    { title: "mqttPort 8883.5", doc: { customers: [{ name: "Acme", host: "osm1", mqttPort: 8883.5 }] },
        expect: [{ path: "/customers/0/mqttPort", says: ["must be a whole number", "(got 8883.5)"] }] },
    { title: "the same mqttPort pinned twice on one host", doc: { customers: [{ name: "Acme", host: "osm1", mqttPort: 9000 }, { name: "Zeta", host: "osm1", mqttPort: 9000 }] },
        expect: [{ path: "/customers/1/mqttPort", says: ['mqttPort 9000 on host "osm1" is already pinned by /customers/0', "choose another port"] }] },
    { title: "mqttPort pinned without host", doc: { customers: [{ name: "Acme", mqttPort: 9000 }] },
        expect: [{ path: "/customers/0/mqttPort", says: ["mqttPort is pinned but host is not", 'pin "host" too'] }] },
    { title: "unknown field hots in a customer", doc: { customers: [{ name: "Acme", hots: "osm1" }] },
        expect: [{ path: "/customers/0/hots", says: ['unknown field "hots"', "remove it or correct its spelling", "(allowed: name, label, previousLabel, host, mqttPort, adopt, restore, grafanaPlugins, base, mqttWebsocket)"] }] },
    { title: "unknown field at the top level", doc: { customers: [], hots: [] },
        expect: [{ path: "/hots", says: ['unknown field "hots"', "remove it or correct its spelling", "(allowed: $schema, customers)"] }] },
    { title: "customers missing", doc: { $schema: "./customers.schema.json" },
        expect: [{ path: "/customers", says: ['"customers" is missing', "add it"] }] },
    { title: "a customer without a name", doc: { customers: [{ host: "osm1" }] },
        expect: [{ path: "/customers/0/name", says: ['"name" is missing', "add it"] }] },
    { title: "customers not an array", doc: { customers: { name: "Acme" } },
        expect: [{ path: "/customers", says: ["must be an array", '(got {"name":"Acme"})'] }] },
    { title: "the document is an array", doc: [{ name: "Acme" }],
        expect: [{ path: "", says: ["must be an object"] }] },
    { title: "a customer that is a string", doc: { customers: ["Acme"] },
        expect: [{ path: "/customers/0", says: ["must be an object", '(got "Acme")'] }] },
    { title: "a name that is a number", doc: { customers: [{ name: 42 }] },
        expect: [{ path: "/customers/0/name", says: ["must be a string", "(got 42)"] }] },
    { title: "adopt that is not a boolean", doc: { customers: [{ name: "Acme", adopt: "yes" }] },
        expect: [{ path: "/customers/0/adopt", says: ["must be a boolean", '(got "yes")'] }] },
    { title: "mqttWebsocket that is not a boolean", doc: { customers: [{ name: "Acme", mqttWebsocket: "on" }] },
        expect: [{ path: "/customers/0/mqttWebsocket", says: ["must be a boolean", '(got "on")'] }] },
    // Explicit labels: the same rules as a derived label, reported at /label with a fix for the label.
    { title: "an explicit label in upper case", doc: { customers: [{ name: "Acme", label: "Acme" }] },
        expect: [{ path: "/customers/0/label", says: ['label "Acme"', 'contains "A"', "use only lower-case letters a-z, digits and dashes"] }] },
    { title: "an explicit label with a space", doc: { customers: [{ name: "Acme", label: "acme co" }] },
        expect: [{ path: "/customers/0/label", says: ['label "acme co"', 'contains " "'] }] },
    { title: "an explicit label with a leading dash", doc: { customers: [{ name: "Acme", label: "-acme" }] },
        expect: [{ path: "/customers/0/label", says: ['label "-acme"', "starts or ends with a dash"] }] },
    { title: "an explicit label of 53 characters", doc: { customers: [{ name: "Long", label: name53 }] },
        expect: [{ path: "/customers/0/label", says: ["of 53 characters", "shorten it to at most 52"] }] },
    { title: "an explicit label with two dashes in a row", doc: { customers: [{ name: "Acme", label: "ac--me" }] },
        expect: [{ path: "/customers/0/label", says: ["two dashes in a row", "remove the extra dash"] }] },
    { title: "an empty explicit label (schema)", doc: { customers: [{ name: "Acme", label: "" }] },
        expect: [{ path: "/customers/0/label", says: ["DNS label", "must NOT have fewer than 1 characters"] }] },
    { title: "an explicit label that is another customer's derived label", doc: { customers: [{ name: "Acme" }, { name: "Acme Two", label: "acme" }] },
        expect: [{ path: "/customers/1/label", says: ['label "acme"', "the same as /customers/0/name", '("Acme")', "give one of them a different label"] }] },
    { title: "two customers with one display name (labels differ)", doc: { customers: [{ name: "Acme" }, { name: "Acme", label: "acme-2" }] },
        expect: [{ path: "/customers/1/name", says: ['name "Acme" is also /customers/0/name', "give each customer its own display name"] }] },
    { title: "previousLabel equal to the label", doc: { customers: [{ name: "Acme", previousLabel: "acme" }] },
        expect: [{ path: "/customers/0/previousLabel", says: ['previousLabel "acme" is the customer\'s label already', 'set "label" to the new label'] }] },
    { title: "previousLabel that is another customer's label", doc: { customers: [{ name: "Acme" }, { name: "Zeta", previousLabel: "acme" }] },
        expect: [{ path: "/customers/1/previousLabel", says: ['previousLabel "acme" is the label of /customers/0 ("Acme")', "remove previousLabel"] }] },
    { title: "one previousLabel on two entries", doc: { customers: [{ name: "Zeta", previousLabel: "old" }, { name: "Eta", previousLabel: "old" }] },
        expect: [{ path: "/customers/1/previousLabel", says: ['previousLabel "old" is also /customers/0/previousLabel'] }] },
    { title: "a malformed previousLabel", doc: { customers: [{ name: "Zeta", previousLabel: "Old Co" }] },
        expect: [{ path: "/customers/0/previousLabel", says: ['previousLabel "Old Co"', 'contains "O" " " "C"', "the label the customer has now"] }] },
    { title: "an empty host pin", doc: { customers: [{ name: "Acme", host: "" }] },
        expect: [{ path: "/customers/0/host", says: ["Pin the customer to this OSM host", "must NOT have fewer than 1 characters"] }] },
];

const CONFIG = "Pulumi.unit.yaml";

interface ConfigCase {
    title: string;
    /** Changes to the test settings (short keys; undefined removes one). */
    settings?: Record<string, unknown>;
    /** Changes to the secrets (undefined removes one). */
    secrets?: Record<string, string | undefined>;
    /** Extra config keys present in the stack (full keys). */
    extraKeys?: string[];
    expect: Expect[];
}

function hostsWith(i: number, change: Record<string, unknown>): unknown[] {
    return testHosts().map((h, j) => (j === i ? { ...h, ...change } : h));
}

const configCases: ConfigCase[] = [
    { title: "domain missing", settings: { domain: undefined },
        expect: [{ path: `${PROJECT}:domain`, says: ['"domain" is missing', `set it with: pulumi config set ${PROJECT}:domain "opensmartmonitor.devtank.co.uk"`] }] },
    { title: "domain not lower-case", settings: { domain: "OSM.Example.org" },
        expect: [{ path: `${PROJECT}:domain`, says: ["a lower-case DNS name", '(got "OSM.Example.org")', `set it with: pulumi config set ${PROJECT}:domain`] }] },
    { title: "domain without a dot", settings: { domain: "localhost" },
        expect: [{ path: `${PROJECT}:domain`, says: ["a lower-case DNS name", '(got "localhost")', "pulumi config set"] }] },
    { title: "hosts missing", settings: { hosts: undefined },
        expect: [{ path: `${PROJECT}:hosts`, says: ['"hosts" is missing', `pulumi config set --path '${PROJECT}:hosts[0].name' "osm1"`] }] },
    { title: "hosts empty", settings: { hosts: [] },
        expect: [{ path: `${PROJECT}:hosts`, says: ["must list at least 1 item(s)", `pulumi config set --path '${PROJECT}:hosts[0].name' "osm1"`] }] },
    { title: "hosts set as a plain string", settings: { hosts: "osm1" },
        expect: [{ path: `${PROJECT}:hosts`, says: ["is not a structured value", "write it as a YAML mapping/list"] }] },
    { title: "a bad address", settings: { hosts: hostsWith(1, { address: "192.0.2.256" }) },
        expect: [{ path: `${PROJECT}:hosts[1].address`, says: ["an IPv4 address", '(got "192.0.2.256")', `pulumi config set --path '${PROJECT}:hosts[1].address' "203.0.113.10"`] }] },
    { title: "an address that is a name", settings: { hosts: hostsWith(0, { address: "osm1.example.org" }) },
        expect: [{ path: `${PROJECT}:hosts[0].address`, says: ["an IPv4 address", '(got "osm1.example.org")'] }] },
    { title: "capacity 0", settings: { hosts: hostsWith(0, { capacity: 0 }) },
        expect: [{ path: `${PROJECT}:hosts[0].capacity`, says: ["must be between 1 and 1000", "(got 0)", `pulumi config set --path '${PROJECT}:hosts[0].capacity' 40`] }] },
    { title: "capacity as a string", settings: { hosts: hostsWith(2, { capacity: "40" }) },
        expect: [{ path: `${PROJECT}:hosts[2].capacity`, says: ["must be a whole number", '(got "40")'] }] },
    { title: "a bad hostKey (no key type)", settings: { hosts: hostsWith(0, { hostKey: "AAAAC3NzaC1lZDI1NTE5AAAAIJkEVt2" }) },
        expect: [{ path: `${PROJECT}:hosts[0].hostKey`, says: ["the host's public SSH key", "ssh_host_ed25519_key.pub", `pulumi config set --path '${PROJECT}:hosts[0].hostKey'`] }] },
    { title: "a hostKey spanning two lines", settings: { hosts: hostsWith(1, { hostKey: "ssh-ed25519 AAAAC3Nz\nssh-rsa AAAAB3" }) },
        expect: [{ path: `${PROJECT}:hosts[1].hostKey`, says: ["the host's public SSH key, one line"] }] },
    { title: "hostKey missing", settings: { hosts: testHosts().map((h, j) => (j === 0 ? { name: h.name, address: h.address, capacity: h.capacity } : h)) },
        expect: [{ path: `${PROJECT}:hosts[0].hostKey`, says: ['"hostKey" is missing', `pulumi config set --path '${PROJECT}:hosts[0].hostKey'`] }] },
    { title: "sshPort out of range", settings: { hosts: hostsWith(1, { sshPort: 70000 }) },
        expect: [{ path: `${PROJECT}:hosts[1].sshPort`, says: ["must be between 1 and 65535", "(got 70000)", `pulumi config set --path '${PROJECT}:hosts[1].sshPort' 22`] }] },
    { title: "drain that is not a boolean", settings: { hosts: hostsWith(2, { drain: "yes" }) },
        expect: [{ path: `${PROJECT}:hosts[2].drain`, says: ["must be a boolean", '(got "yes")', `pulumi config set --path '${PROJECT}:hosts[2].drain' true`] }] },
    { title: "a host's adopt that is not a boolean", settings: { hosts: hostsWith(0, { adopt: 1 }) },
        expect: [{ path: `${PROJECT}:hosts[0].adopt`, says: ["must be a boolean", "(got 1)", `pulumi config set --path '${PROJECT}:hosts[0].adopt' true`] }] },
    { title: "an upper-case host name", settings: { hosts: hostsWith(0, { name: "OSM1" }) },
        expect: [{ path: `${PROJECT}:hosts[0].name`, says: ["a DNS label", '(got "OSM1")'] }] },
    { title: "unknown field hots inside a host", settings: { hosts: hostsWith(0, { hots: "x" }) },
        expect: [{ path: `${PROJECT}:hosts[0].hots`, says: ['unknown field "hots"', "remove it or correct its spelling", "(allowed: name, address, capacity, hostKey, sshPort, drain"] }] },
    { title: "duplicate host names", settings: { hosts: hostsWith(2, { name: "alpha" }) },
        expect: [{ path: `${PROJECT}:hosts[2].name`, says: ['host name "alpha" is also hosts[0]', "host names must be unique"] }] },
    { title: "duplicate host addresses", settings: { hosts: hostsWith(1, { address: "192.0.2.10" }) },
        expect: [{ path: `${PROJECT}:hosts[1].address`, says: ["address 192.0.2.10 is also hosts[0]", "each host needs its own address"] }] },
    { title: "a PowerDNS API URL that is not http(s)", settings: { powerdns: { apiUrl: "ftp://ns1.example.org", zone: "test.example" } },
        expect: [{ path: `${PROJECT}:powerdns.apiUrl`, says: ["the PowerDNS API base URL", '(got "ftp://ns1.example.org")', `pulumi config set --path '${PROJECT}:powerdns.apiUrl'`] }] },
    { title: "PowerDNS ttl below 30", settings: { powerdns: { apiUrl: "http://127.0.0.1:8081", zone: "test.example", ttl: 5 } },
        expect: [{ path: `${PROJECT}:powerdns.ttl`, says: ["must be between 30 and 86400", "(got 5)", `pulumi config set --path '${PROJECT}:powerdns.ttl' 300`] }] },
    { title: "keepAdoptedTtl that is not a boolean", settings: { powerdns: { apiUrl: "http://127.0.0.1:8081", zone: "test.example", keepAdoptedTtl: "no" } },
        expect: [{ path: `${PROJECT}:powerdns.keepAdoptedTtl`, says: ["boolean", `pulumi config set --path '${PROJECT}:powerdns.keepAdoptedTtl' false`] }] },
    { title: "an ACME server over plain http", settings: { acme: { server: "http://acme.example/dir", email: "ops@test.example", dnsServer: "192.0.2.53", tsigKey: "osm-acme" } },
        expect: [{ path: `${PROJECT}:acme.server`, says: ["an ACME directory URL (https)", `pulumi config set --path '${PROJECT}:acme.server'`] }] },
    { title: "containerLimits missing", settings: { containerLimits: undefined },
        expect: [{ path: `${PROJECT}:containerLimits`, says: ['"containerLimits" is missing', `pulumi config set --path '${PROJECT}:containerLimits.cpus' 2`] }] },
    { title: "a zone that does not contain the domain", settings: { powerdns: { apiUrl: "http://127.0.0.1:8081", zone: "other.example" } },
        expect: [{ path: `${PROJECT}:powerdns.zone`, says: ['zone "other.example" does not contain the domain "osm.test.example"', "set powerdns.zone to the domain or a parent of it"] }] },
    { title: "a zone that only shares a suffix with the domain", settings: { powerdns: { apiUrl: "http://127.0.0.1:8081", zone: "est.example" } },
        expect: [{ path: `${PROJECT}:powerdns.zone`, says: ['zone "est.example" does not contain the domain'] }] },
    { title: "sshPrivateKey missing", secrets: { sshPrivateKey: undefined },
        expect: [{ path: `${PROJECT}:sshPrivateKey`, says: ["is missing", `pulumi config set --secret ${PROJECT}:sshPrivateKey <`] }] },
    { title: "powerdnsApiKey missing", secrets: { powerdnsApiKey: undefined },
        expect: [{ path: `${PROJECT}:powerdnsApiKey`, says: ["is missing", `pulumi config set --secret ${PROJECT}:powerdnsApiKey <`] }] },
    { title: "a malformed private key", secrets: { sshPrivateKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 SENTINEL-public-key-pasted" },
        expect: [{ path: `${PROJECT}:sshPrivateKey`, says: ["is not a PEM/OpenSSH private key", `pulumi config set --secret ${PROJECT}:sshPrivateKey <`] }] },
    { title: "an API key with a trailing newline", secrets: { powerdnsApiKey: `${SENTINEL_API_KEY}\n` },
        expect: [{ path: `${PROJECT}:powerdnsApiKey`, says: ["contains whitespace", `pulumi config set --secret ${PROJECT}:powerdnsApiKey <`] }] },
    { title: "powerdnsMysql without its admin password", settings: { powerdnsMysql: { endpoint: "127.0.0.1:3306", adminUser: "root", database: "pdns", user: "pdns" } },
        expect: [{ path: `${PROJECT}:powerdnsMysqlAdminPassword`, says: ["is missing while powerdnsMysql is set", `pulumi config set --secret ${PROJECT}:powerdnsMysqlAdminPassword <`] }] },
    { title: "an unknown key osm-hosting:hots", extraKeys: [`${PROJECT}:hots`],
        expect: [{ path: `${PROJECT}:hots`, says: ["unknown setting", "remove it or correct its spelling", "known: domain"] }] },
];

function configLookup(c: Omit<ConfigCase, "expect">): { lookup: (k: string) => string | undefined; keys: string[] } {
    const values: Record<string, unknown> = { ...testSettings(), ...TEST_SECRETS };
    for (const [k, v] of Object.entries({ ...c.settings, ...c.secrets })) {
        if (v === undefined) delete values[k];
        else values[k] = v;
    }
    const keys = [...Object.keys(values).map((k) => `${PROJECT}:${k}`), ...(c.extraKeys ?? [])];
    return { lookup: lookupOf(values), keys };
}

function settingsProblems(c: Omit<ConfigCase, "expect">): Problem[] {
    const { lookup, keys } = configLookup(c);
    try {
        readSettings(lookup, CONFIG, keys);
    } catch (err) {
        assert.ok(err instanceof InputError, `expected InputError, got ${err}`);
        return err.problems;
    }
    return [];
}

describe("validation: customers.json", () => {
    it(`has a corpus of at least 25 invalid customers documents (${customerCases.length})`, () => {
        assert.ok(customerCases.length >= 25);
    });

    for (const c of customerCases) {
        it(`rejects ${c.title}`, () => {
            const { customers, problems } = checkCustomers(c.doc, CUSTOMERS, HOSTS);
            assertProblems(problems, CUSTOMERS, c.expect);
            assert.deepStrictEqual(customers, [], "no customers are returned when a problem is found");
        });
    }

    it("accepts a 52-character label, a port equal to another host's sshPort, and one port on two hosts", () => {
        const doc = { customers: [
            { name: name52 },
            { name: "Acme", host: "osm1", mqttPort: 2222 },
            { name: "Zeta", host: "osm2", mqttPort: 2222 + 1 },
            { name: "Yod", host: "osm2", mqttPort: 9000 },
            { name: "Xi", host: "osm1", mqttPort: 9000 },
        ] };
        const { customers, problems } = checkCustomers(doc, CUSTOMERS, HOSTS);
        assert.deepStrictEqual(problems, []);
        assert.deepStrictEqual(customers.map((c) => c.label), [name52, "acme", "zeta", "yod", "xi"]);
    });

    it("takes an explicit label as the label (a rename keeps it), and a label the lock holds for the name", () => {
        const doc = { customers: [
            { name: "Blue Widget Company", label: "blue-widget-co" },
            { name: "Acme" },
            { name: "Zeta", label: "zeta-new", previousLabel: "zeta" },
        ] };
        // The lock placed "Acme" under the label "acme-co" (an explicit label since removed): it stays.
        const { customers, problems } = checkCustomers(doc, CUSTOMERS, HOSTS, { "acme-co": "Acme", "blue-widget-co": "Blue Widget Co" });
        assert.deepStrictEqual(problems, []);
        assert.deepStrictEqual(customers.map((c) => [c.label, c.labelSource, c.previousLabel]), [
            ["blue-widget-co", "label", undefined], ["acme-co", "lock", undefined], ["zeta-new", "label", "zeta"],
        ]);
        // Without the lock, the name decides.
        assert.strictEqual(checkCustomers(doc, CUSTOMERS, HOSTS).customers[1].label, "acme");
    });

    it("mqttWebsocket: off for a new customer, on for an adopted one, unless set", () => {
        const doc = { customers: [
            { name: "New" }, { name: "New On", mqttWebsocket: true },
            { name: "Old", host: "osm1", mqttPort: 8900, adopt: true }, { name: "Old Off", host: "osm1", mqttPort: 8901, adopt: true, mqttWebsocket: false },
        ] };
        const { customers, problems } = checkCustomers(doc, CUSTOMERS, HOSTS);
        assert.deepStrictEqual(problems, []);
        assert.deepStrictEqual(customers.map((c) => [c.label, c.mqttWebsocket]), [["new", false], ["new-on", true], ["old", true], ["old-off", false]]);
    });
    it('derives "Blue Widget Co" -> blue-widget-co and trims outer spaces', () => {
        const { customers, problems } = checkCustomers({ customers: [{ name: "Blue Widget Co" }, { name: "  Saxon\tMills " }] }, CUSTOMERS, HOSTS);
        assert.deepStrictEqual(problems, []);
        assert.deepStrictEqual(customers.map((c) => c.label), ["blue-widget-co", "saxon-mills"]);
    });

    it("reports a file that is not JSON, naming the file and asking to fix the syntax", () => {
        const scratch = new Scratch();
        try {
            const file = scratch.customers('{ "customers": [ { "name": "Acme", } ] }');
            assert.throws(() => loadCustomers(file, HOSTS), (err: unknown) => {
                assert.ok(err instanceof InputError);
                assertProblems(err.problems, file, [{ path: "", says: ["is not valid JSON (line 1, column 36:", "fix the syntax"] }]);
                assert.ok(err.message.includes(file));
                return true;
            });
        } finally {
            scratch.cleanup();
        }
    });

    it("reports a customers file that does not exist, with how to fix it", () => {
        const missing = "/nonexistent/osm-unit/customers.json";
        assert.throws(() => loadCustomers(missing, HOSTS), (err: unknown) => {
            assert.ok(err instanceof InputError);
            assertProblems(err.problems, missing, [{ path: "", says: ["cannot read the customers file (ENOENT)", "create it or set osm-hosting:customersFile"] }]);
            return true;
        });
    });

    it("reports every problem of one document in one run, schema and rule problems together", () => {
        const doc = { customers: [
            { name: "Acme" },
            { name: "acme" },                             // clash with 0
            { name: "Zeta", hots: "osm1" },               // unknown field
            { name: "Eta", host: "osm9" },                // unknown host
            { name: "Theta", host: "osm1", mqttPort: 80 }, // port out of range
            { name: "Iota-" },                            // trailing dash
            { name: "Kappa", mqttPort: 9001 },            // port without host
        ] };
        const { problems } = checkCustomers(doc, CUSTOMERS, HOSTS);
        assert.deepStrictEqual(problems.map((p) => p.path).sort(), [
            "/customers/1/name", "/customers/2/hots", "/customers/3/host", "/customers/4/mqttPort", "/customers/5/name", "/customers/6/mqttPort",
        ], problems.map(formatProblem).join("\n"));
    });
});

describe("validation: stack config", () => {
    it(`has a corpus of stack config cases (${configCases.length})`, () => {
        assert.ok(configCases.length >= 25);
    });

    it("accepts the test fleet's settings and applies the defaults", () => {
        const { settings, secrets } = readSettings(lookupOf({ ...testSettings(), ...TEST_SECRETS }), CONFIG);
        assert.deepStrictEqual(settings.hosts.map((h) => [h.name, h.sshPort, h.drain]), [["alpha", 22, false], ["beta", 2222, false], ["gamma", 22, true]]);
        assert.strictEqual(settings.customersFile, "customers.json");
        assert.strictEqual(settings.powerdns.ttl, 120);
        assert.strictEqual(settings.powerdns.keepAdoptedTtl, true);
        assert.strictEqual(secrets.sshPrivateKey, SENTINEL_SSH_KEY);
    });

    for (const c of configCases) {
        it(`rejects ${c.title}`, () => {
            assertProblems(settingsProblems(c), CONFIG, c.expect);
        });
    }

    it("has a concrete example value in the fix for every setting (no placeholder)", () => {
        const wrong: any[] = [];
        const host = { name: [], address: [], capacity: [], hostKey: [], sshPort: [], drain: [], adopt: [] };
        const problems = settingsProblems({
            title: "every leaf wrong",
            settings: {
                domain: 1, sshUser: 1, customersFile: 1, hosts: [host],
                powerdns: { apiUrl: wrong, zone: wrong, ttl: wrong, keepAdoptedTtl: wrong },
                acme: { server: wrong, email: wrong, caBundle: wrong, dnsServer: wrong, dnsPort: wrong, tsigKey: wrong, tsigAlgorithm: wrong, propagationSeconds: wrong },
                containerLimits: { cpus: wrong, memoryMiB: wrong },
                powerdnsMysql: { endpoint: wrong, adminUser: wrong, database: wrong, user: wrong, userHost: wrong },
            },
            secrets: { powerdnsMysqlAdminPassword: "x" },
        });
        // Every leaf but customersFile (any string will do) is wrong: 28 problems.
        assert.strictEqual(problems.length, 28, problems.map(formatProblem).join("\n"));
        for (const p of problems) {
            assert.match(p.message, /set it with: pulumi config set (--path '[^']+'|\S+) \S/, formatProblem(p));
            assert.ok(!p.message.includes("VALUE"), `no example for ${p.path}: ${p.message}`);
        }
    });

    it("never repeats a secret value in a message", () => {
        for (const c of configCases) {
            for (const p of settingsProblems(c)) {
                for (const s of [SENTINEL_SSH_KEY_MARK, SENTINEL_API_KEY, "SENTINEL-public-key-pasted"]) {
                    assert.ok(!formatProblem(p).includes(s), `${c.title}: message repeats a secret: ${formatProblem(p)}`);
                }
            }
        }
    });

    it("reports every problem of the stack config in one run", () => {
        const problems = settingsProblems({
            title: "many",
            settings: { domain: "Bad_Domain", hosts: hostsWith(0, { capacity: 0, hots: 1 }), acme: undefined },
            secrets: { powerdnsApiKey: undefined },
            extraKeys: [`${PROJECT}:hots`],
        });
        assert.deepStrictEqual(problems.map((p) => p.path).sort(), [
            `${PROJECT}:acme`, `${PROJECT}:domain`, `${PROJECT}:hosts[0].capacity`, `${PROJECT}:hosts[0].hots`, `${PROJECT}:hots`, `${PROJECT}:powerdnsApiKey`,
        ], problems.map(formatProblem).join("\n"));
    });

    it("reports cross-field problems (duplicates, zone) together with a missing secret", () => {
        const problems = settingsProblems({
            title: "cross",
            settings: { hosts: hostsWith(1, { name: "alpha", address: "192.0.2.10" }), powerdns: { apiUrl: "http://127.0.0.1:8081", zone: "elsewhere.example" } },
            secrets: { sshPrivateKey: undefined },
        });
        assert.deepStrictEqual(problems.map((p) => p.path).sort(), [
            `${PROJECT}:hosts[1].address`, `${PROJECT}:hosts[1].name`, `${PROJECT}:powerdns.zone`, `${PROJECT}:sshPrivateKey`,
        ], problems.map(formatProblem).join("\n"));
    });
});

describe("validation: nothing is registered when a check fails", function () {
    // Each case evaluates the program (~0.5 s, several times that on a busy machine).
    this.timeout(30000);
    const scratch = new Scratch();
    after(() => scratch.cleanup());

    it("a bad customers file: InputError naming the file, no resource", async () => {
        const file = scratch.customers({ customers: [{ name: "Acme" }, { name: "acme" }, { name: "ok", hots: 1 }] });
        const { err, registered } = await runRefused({ customersFile: file });
        assert.deepStrictEqual(registered, []);
        assert.ok(err.problems.length >= 1 && err.problems.every((p) => p.file === file), err.message);
        assert.ok(err.message.includes("nothing was changed"), err.message);
    });

    it("a bad stack config: InputError naming the stack file, no resource", async () => {
        const file = scratch.customers({ customers: [{ name: "Acme" }] });
        const { err, registered } = await runRefused({ customersFile: file, secrets: { powerdnsApiKey: SENTINEL_API_KEY, acmeTsigSecret: SENTINEL_TSIG_SECRET } });
        assert.deepStrictEqual(registered, []);
        assert.deepStrictEqual(err.problems.map((p) => [p.file, p.path]), [["Pulumi.unit.yaml", `${PROJECT}:sshPrivateKey`]]);
    });

    it("a bad stack config and a bad customers file: both files' problems in one run, no resource", async () => {
        const file = scratch.customers({ customers: [{ name: "Acme" }, { name: "ok", host: "nowhere" }] });
        const { err, registered } = await runRefused({ customersFile: file, secrets: { powerdnsApiKey: SENTINEL_API_KEY, acmeTsigSecret: SENTINEL_TSIG_SECRET } });
        assert.deepStrictEqual(registered, []);
        assert.deepStrictEqual(err.problems.map((p) => [p.file, p.path]), [
            ["Pulumi.unit.yaml", `${PROJECT}:sshPrivateKey`],
            [file, "/customers/1/host"],
        ]);
    });

    it("no host with room: InputError naming every host with used/total, no resource", async () => {
        // alpha 3 + beta 4 (gamma drains): 8 new customers cannot fit.
        const file = scratch.customers({ customers: Array.from({ length: 8 }, (_, i) => ({ name: `Customer ${i}` })) });
        const { err, registered } = await runRefused({ customersFile: file });
        assert.deepStrictEqual(registered, []);
        assert.ok(/alpha 3\/3, beta 4\/4, gamma 0\/5 \(draining\)/.test(err.message), err.message);
    });

    it("a malformed previous placements output: InputError naming the entry, no resource", async () => {
        const file = scratch.customers({ customers: [{ name: "Acme" }] });
        const { err, registered } = await runRefused({ customersFile: file, previous: { acme: { host: "alpha" } } });
        assert.deepStrictEqual(registered, []);
        assert.deepStrictEqual(err.problems.map((p) => p.path), ["/acme"]);
    });

    it("a host removed while it still has customers: InputError, no resource", async () => {
        const file = scratch.customers({ customers: [{ name: "Acme" }] });
        const { err, registered } = await runRefused({ customersFile: file, previous: { acme: { host: "retired", mqttPort: 9000 } } });
        assert.deepStrictEqual(registered, []);
        assert.match(err.message, /customer "acme" runs on host "retired", which is no longer in the stack config/);
        assert.strictEqual(err.problems[0].file, file);
    });

    it("names that clash in the zone: InputError naming both owners, no resource", async () => {
        const file = scratch.customers({ customers: [{ name: "Acme" }, { name: "Acme Influx" }, { name: "Alpha" }] });
        const { err, registered } = await runRefused({ customersFile: file });
        assert.deepStrictEqual(registered, []);
        assert.deepStrictEqual(err.problems.map((p) => [p.file, p.path]), [[file, "/customers/1/name"], [file, "/customers/2/name"]]);
        assert.match(err.problems[0].message, /acme-influx\.osm\.test\.example\. would be declared twice: as the InfluxDB name of customer "Acme" .* and as the Grafana name of customer "Acme Influx"; give customer "Acme Influx" another name/);
        assert.match(err.problems[1].message, /alpha\.osm\.test\.example\. would be declared twice: as the A record of host "alpha" \(Pulumi\.unit\.yaml \/hosts\/0\/name\) and as the Grafana name of customer "Alpha"/);
    });

    it("a secret stored in plain text in the stack file: InputError with the --secret fix, the value never quoted, no resource", async () => {
        const file = scratch.customers({ customers: [{ name: "Acme" }] });
        const { err, registered } = await runRefused({ customersFile: file, plainSecrets: ["powerdnsApiKey"] });
        assert.deepStrictEqual(registered, []);
        assert.deepStrictEqual(err.problems.map((p) => [p.file, p.path]), [["Pulumi.unit.yaml", `${PROJECT}:powerdnsApiKey`]]);
        assert.match(err.problems[0].message, /is stored in plain text.*pulumi config rm osm-hosting:powerdnsApiKey.*pulumi config set --secret osm-hosting:powerdnsApiKey/);
        assert.ok(!err.message.includes(SENTINEL_API_KEY));
    });

    it("a well-formed run does register resources (the check above can fail)", async () => {
        const file = scratch.customers({ customers: [{ name: "Acme" }] });
        const ev = await runProgram({ customersFile: file });
        assert.ok(ev.resources.length > 0);
    });
});

describe("validation: stack files", () => {
    it("a YAML syntax error names the file, the line and the column", () => {
        const scratch = new Scratch();
        try {
            const file = scratch.json("Pulumi.broken.yaml", "");
            fs.writeFileSync(file, "config:\n  osm-hosting:domain: osm.example.org\n  osm-hosting:hosts: [\n    {name: osm1\n");
            assert.throws(() => readStackFile(file), (err: unknown) => {
                assert.ok(err instanceof InputError);
                assert.strictEqual(err.problems[0].file, file);
                assert.match(err.problems[0].message, /^is not valid YAML \(line \d+, column \d+: .+\); fix the syntax$/);
                return true;
            });
        } finally {
            scratch.cleanup();
        }
    });
});
