/** Every name unique in the zone (components/zone-names.ts), without Pulumi. */
import * as assert from "assert";
import { nameClaims, reservedName, zoneNameProblems, ZoneNamesInput } from "../../components/zone-names";

const base: ZoneNamesInput = {
    domain: "osm.example.org", zone: "example.org", reserved: [],
    hosts: [{ name: "osm1" }, { name: "osm2" }], customers: [],
    stackFile: "Pulumi.prod.yaml", customersFile: "customers.json",
};
const customers = (...names: string[]) => names.map((name) => ({ name, label: name.toLowerCase().replace(/\s+/g, "-") }));

describe("zone names: every declared name has one owner", () => {
    it("claims each host's name and each customer's four names (the MQTT-over-WebSocket one with the option off too)", () => {
        const claims = nameClaims({ ...base, customers: customers("Acme") });
        assert.deepStrictEqual(claims.map((c) => c.name), [
            "osm1.osm.example.org.", "osm2.osm.example.org.",
            "acme.osm.example.org.", "acme-influx.osm.example.org.", "acme-chirpstack.osm.example.org.", "acme-mqtt.osm.example.org.",
        ]);
    });
    it("refuses \"Acme Mqtt\" beside \"Acme\", naming both owners", () => {
        const problems = zoneNameProblems({ ...base, customers: customers("Acme", "Acme Mqtt") });
        assert.deepStrictEqual(problems.map((p) => [p.file, p.path]), [["customers.json", "/customers/1/name"]]);
        assert.match(problems[0].message, /acme-mqtt\.osm\.example\.org\. would be declared twice: as the MQTT-over-WebSocket name of customer "Acme" \(customers\.json \/customers\/0\/name\) and as the Grafana name of customer "Acme Mqtt"; give customer "Acme Mqtt" another name \(or give customer "Acme" another name\)/);
    });
    it("accepts a fleet whose names are all distinct", () => {
        assert.deepStrictEqual(zoneNameProblems({ ...base, customers: customers("Acme", "Northfield Dairy", "Acme Labs") }), []);
    });
    it("refuses a customer whose Grafana name is another customer's InfluxDB or ChirpStack name", () => {
        const problems = zoneNameProblems({ ...base, customers: customers("Acme", "Acme Influx", "Acme Chirpstack") });
        assert.deepStrictEqual(problems.map((p) => [p.file, p.path]), [["customers.json", "/customers/1/name"], ["customers.json", "/customers/2/name"]]);
        assert.match(problems[1].message, /acme-chirpstack\.osm\.example\.org\. would be declared twice: as the ChirpStack name of customer "Acme" \(customers\.json \/customers\/0\/name\) and as the Grafana name of customer "Acme Chirpstack"; give customer "Acme Chirpstack" another name \(or give customer "Acme" another name\)/);
    });
    it("refuses a customer named like a host (its CNAME would sit beside the host's A record)", () => {
        const [p] = zoneNameProblems({ ...base, customers: customers("OSM2") });
        assert.strictEqual(p.path, "/customers/0/name");
        assert.match(p.message, /as the A record of host "osm2" \(Pulumi\.prod\.yaml \/hosts\/1\/name\) and as the Grafana name of customer "OSM2"/);
    });
    it("refuses names the zone reserves: labels under the domain and absolute names", () => {
        assert.strictEqual(reservedName("ns1", "osm.example.org"), "ns1.osm.example.org.");
        assert.strictEqual(reservedName("mail.example.org.", "osm.example.org"), "mail.example.org.");
        const problems = zoneNameProblems({ ...base, reserved: ["www", "osm1-influx.osm.example.org."], customers: customers("WWW", "osm1") });
        assert.deepStrictEqual(problems.map((p) => p.path), ["/customers/0/name", "/customers/1/name", "/customers/1/name"]);
        assert.match(problems[0].message, /the Grafana name of customer "WWW", www\.osm\.example\.org\., is reserved in the zone \(powerdns\.reservedNames in Pulumi\.prod\.yaml\); give customer "WWW" another name/);
        assert.match(problems[1].message, /osm1\.osm\.example\.org\. would be declared twice/);
        assert.match(problems[2].message, /the InfluxDB name of customer "osm1", osm1-influx\.osm\.example\.org\., is reserved/);
    });
    it("checks an explicit label like a derived one, pointing at /label", () => {
        const problems = zoneNameProblems({ ...base, reserved: ["www"], customers: [
            { name: "Acme", label: "acme", labelSource: "name" },
            { name: "Acme Data", label: "acme-influx", labelSource: "label" },
            { name: "World Wide", label: "www", labelSource: "label" },
            { name: "Second Host", label: "osm2", labelSource: "label" },
        ] });
        assert.deepStrictEqual(problems.map((p) => p.path), ["/customers/1/label", "/customers/2/label", "/customers/3/label"]);
        assert.match(problems[0].message, /acme-influx\.osm\.example\.org\. would be declared twice: as the InfluxDB name of customer "Acme" .* and as the Grafana name of customer "Acme Data"; give customer "Acme Data" another "label"/);
        assert.match(problems[1].message, /www\.osm\.example\.org\., is reserved in the zone/);
        assert.match(problems[2].message, /as the A record of host "osm2"/);
    });
    it("refuses a host whose name is reserved", () => {
        const problems = zoneNameProblems({ ...base, domain: "example.org", reserved: ["osm2"] });
        assert.deepStrictEqual(problems.map((p) => [p.file, p.path]), [["Pulumi.prod.yaml", "/hosts/1/name"]]);
        assert.match(problems[0].message, /the A record of host "osm2", osm2\.example\.org\., is reserved in the zone \(powerdns\.reservedNames in Pulumi\.prod\.yaml\); rename host "osm2"/);
    });
});
