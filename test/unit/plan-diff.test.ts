/**
 * The plan as a diff against what is deployed (components/plan-diff.ts), without Pulumi: each
 * kind of change, the rename without a label, maxDeletes, host changes against the lock's
 * hosts (and the lock's versions), and the report at 130 customers.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_MAX_DELETES, readSettings } from "../../components/config";
import { Placements } from "../../components/placement";
import { emptyLock, formatLock, HostRecord, LockedHost, lockedCustomers, lockedHosts, readLock, withStack } from "../../components/placements-lock";
import { DeployedFleet, diffFleet, diffHosts, maxDeletesProblems, PlannedCustomer } from "../../components/plan-diff";
import { formatProblem, InputError } from "../../components/problems";
import { formatDiff, formatHostDiff, formatHosts, hostLoads, hostLockLines } from "../../scripts/lib/plan-report";
import { lookupOf, PROJECT, Scratch, TEST_SECRETS, testSettings } from "./support/fleet";

const FILES = { customersFile: "customers.json", stackFile: "Pulumi.prod.yaml" };
const DOMAIN = "osm.example.org";

/** Deployed as the lock holds them: name, host, port. */
const deployed: DeployedFleet = {
    "acme": { name: "Acme", host: "osm1", mqttPort: 9000 },
    "blue-widget-co": { name: "Blue Widget Co", host: "osm1", mqttPort: 9001 },
    "devtank": { name: "Devtank", host: "osm2", mqttPort: 9002 },
    "harbour": { name: "Harbour", host: "osm2", mqttPort: 9003 },
    "old-label": { name: "Old Name", host: "osm2", mqttPort: 9004 },
    "saxon-mills": { name: "Saxon Mills", host: "osm1", mqttPort: 9005 },
    "zeta": { name: "Zeta", host: "osm1", mqttPort: 9006 },
};
const keep = (label: string): PlannedCustomer => ({ label, name: deployed[label].name!, host: deployed[label].host, mqttPort: deployed[label].mqttPort });

describe("plan diff: against what is deployed", () => {
    const planned: PlannedCustomer[] = [
        keep("acme"),
        { ...keep("blue-widget-co"), name: "Blue Widget Company" },              // rename (label kept)
        { ...keep("devtank"), host: "osm1", mqttPort: 9010 },                    // move
        { ...keep("harbour"), mqttPort: 9011 },                                  // port
        { label: "new-label", name: "New Name", previousLabel: "old-label", host: "osm2", mqttPort: 9012 }, // label change
        { label: "northfield", name: "Northfield", host: "osm3", mqttPort: 9013 }, // add
        keep("zeta"),
        // saxon-mills: gone (delete)
    ];
    const diff = diffFleet(deployed, planned);
    const byLabel = new Map(diff.changes.map((c) => [c.label, c]));

    it("finds each kind of change, once per customer, deletes first", () => {
        assert.deepStrictEqual(diff.changes.map((c) => [c.kind, c.label]), [
            ["delete", "saxon-mills"], ["relabel", "new-label"], ["move", "devtank"], ["port", "harbour"], ["rename", "blue-widget-co"], ["add", "northfield"],
        ]);
        assert.strictEqual(diff.unchanged, 2);
        assert.deepStrictEqual(diff.stalePreviousLabels, []);
    });

    it("records from -> to for moves and port changes, the old name for renames, the old label for label changes", () => {
        assert.deepStrictEqual(byLabel.get("devtank"), { kind: "move", label: "devtank", name: "Devtank", from: { host: "osm2", mqttPort: 9002 }, to: { host: "osm1", mqttPort: 9010 } });
        assert.deepStrictEqual(byLabel.get("harbour")!.to, { host: "osm2", mqttPort: 9011 });
        assert.deepStrictEqual(byLabel.get("blue-widget-co"), {
            kind: "rename", label: "blue-widget-co", name: "Blue Widget Company", previousName: "Blue Widget Co",
            from: { host: "osm1", mqttPort: 9001 }, to: { host: "osm1", mqttPort: 9001 },
        });
        const relabel = byLabel.get("new-label")!;
        assert.strictEqual(relabel.previousLabel, "old-label");
        assert.strictEqual(relabel.previousName, "Old Name");
        assert.deepStrictEqual(relabel.from, { host: "osm2", mqttPort: 9004 });
        // The old label is not a delete: the entry names it.
        assert.ok(!diff.changes.some((c) => c.label === "old-label"));
    });

    it("prints a warning at the top, one line per changed customer with its symbol, and the unchanged ones in one line", () => {
        const lines = formatDiff(diff, DOMAIN);
        assert.match(lines[0], /^WARNING: this plan deletes 1 customer \(saxon-mills\), moves 1 customer \(devtank\), changes the label of 1 customer \(new-label\)/);
        assert.match(lines[1], /^Plan: 1 to add, 1 to delete, 1 to move, 1 label change\(s\), 1 port change\(s\), 1 rename\(s\), 2 unchanged$/);
        const line = (label: string) => {
            const found = lines.filter((l) => l.split(/\s+/).includes(label));
            assert.strictEqual(found.length, 1, `one line for ${label}:\n${lines.join("\n")}`);
            return found[0];
        };
        assert.match(line("saxon-mills"), /^ {2}- +saxon-mills +"Saxon Mills" +delete from osm1:9005; its data is archived on osm1$/);
        assert.match(line("devtank"), /^ {2}~ +devtank +"Devtank" +move osm2:9002 -> osm1:9010; data, credentials, port go along; osm2 forwards, then archives$/);
        assert.match(line("harbour"), /^ {2}~ +harbour +"Harbour" +port 9003 -> 9011 on osm2/);
        assert.match(line("blue-widget-co"), /rename "Blue Widget Co" -> "Blue Widget Company" \(label, names, container, port and credentials kept\)$/);
        assert.match(line("new-label"), /^ {2}-\/\+ +new-label +"New Name" +label change old-label -> new-label, osm2:9004 -> osm2:9012/);
        assert.match(line("northfield"), /^ {2}\+ +northfield +"Northfield" +new on osm3:9013: northfield\{,-influx,-chirpstack\}\.osm\.example\.org$/);
        assert.strictEqual(lines.filter((l) => /^ {2}= 2 customers unchanged$/.test(l)).length, 1);
        assert.ok(!lines.some((l) => l.includes(" acme ") || l.includes(" zeta ")), "unchanged customers get no line of their own");
    });

    it("a plan without deletes or moves has no warning; no change at all says so", () => {
        const quiet = formatDiff(diffFleet(deployed, Object.keys(deployed).map(keep)), DOMAIN);
        assert.deepStrictEqual(quiet, ["Plan: no changes, 7 unchanged", "  = 7 customers unchanged"]);
        const onlyAdd = formatDiff(diffFleet({}, [{ label: "a", name: "A", host: "osm1", mqttPort: 9000 }]), DOMAIN);
        assert.ok(!onlyAdd.some((l) => l.startsWith("WARNING")), onlyAdd.join("\n"));
    });

    it("an added customer with mqttWebsocket lists its fourth name, <label>-mqtt", () => {
        const added = diffFleet({}, [{ label: "a", name: "A", host: "osm1", mqttPort: 9000 }, { label: "b", name: "B", host: "osm1", mqttPort: 9001, mqttWebsocket: true }]);
        assert.deepStrictEqual(added.changes.map((c) => [c.label, c.mqttWebsocket]), [["a", undefined], ["b", true]]);
        const lines = formatDiff(added, DOMAIN);
        assert.ok(lines.some((l) => l.endsWith(`new on osm1:9000: a{,-influx,-chirpstack}.${DOMAIN}`)), lines.join("\n"));
        assert.ok(lines.some((l) => l.endsWith(`new on osm1:9001: b{,-influx,-chirpstack,-mqtt}.${DOMAIN}`)), lines.join("\n"));
    });

    it("mqttWebsocket turned on or off is an option change (in place), also beside a move; unknown deployed options claim nothing", () => {
        const was: DeployedFleet = {
            a: { name: "A", host: "osm1", mqttPort: 9000, mqttWebsocket: false },
            b: { name: "B", host: "osm1", mqttPort: 9001, mqttWebsocket: true },
            c: { name: "C", host: "osm1", mqttPort: 9002, mqttWebsocket: false },
            d: { name: "D", host: "osm1", mqttPort: 9003 },                      // only the stack's placements know it
            e: { name: "E", host: "osm1", mqttPort: 9004, mqttWebsocket: true },
        };
        const diff = diffFleet(was, [
            { label: "a", name: "A", host: "osm1", mqttPort: 9000, mqttWebsocket: true },
            { label: "b", name: "B", host: "osm1", mqttPort: 9001 },
            { label: "c", name: "C", host: "osm2", mqttPort: 9002, mqttWebsocket: true },
            { label: "d", name: "D", host: "osm1", mqttPort: 9003, mqttWebsocket: true },
            { label: "e", name: "E", host: "osm1", mqttPort: 9004, mqttWebsocket: true },
        ]);
        assert.deepStrictEqual(diff.changes.map((c) => [c.kind, c.label, c.mqttWebsocketChange]), [["move", "c", "on"], ["option", "a", "on"], ["option", "b", "off"]]);
        assert.strictEqual(diff.unchanged, 2);
        const lines = formatDiff(diff, DOMAIN);
        assert.strictEqual(lines[1], "Plan: 1 to move, 2 option change(s), 2 unchanged");
        assert.ok(lines.some((l) => /^ {2}~ +a +"A" +mqttWebsocket on: adds a-mqtt\.osm\.example\.org \(record, vhost/.test(l)), lines.join("\n"));
        assert.ok(lines.some((l) => /^ {2}~ +b +"B" +mqttWebsocket off: removes b-mqtt\.osm\.example\.org; clients using MQTT over WebSockets there stop working$/.test(l)), lines.join("\n"));
        assert.ok(lines.some((l) => /^ {2}~ +c +"C" +move osm1:9002 -> osm2:9002; .*; mqttWebsocket on: adds c-mqtt\./.test(l)), lines.join("\n"));
    });

    it("Grafana plugins added, upgraded or dropped are an option change (in place), also beside a move; the lock records them sorted; unknown deployed plugins claim nothing", () => {
        const was: DeployedFleet = {
            a: { name: "A", host: "osm1", mqttPort: 9000, grafanaPlugins: ["grafana-clock-panel@2.1.5"] },
            b: { name: "B", host: "osm1", mqttPort: 9001, grafanaPlugins: ["grafana-clock-panel@2.1.5", "acme-map-panel@2.0.0"] },
            c: { name: "C", host: "osm1", mqttPort: 9002, grafanaPlugins: [] },
            d: { name: "D", host: "osm1", mqttPort: 9003 },                      // only the stack's placements know it
            e: { name: "E", host: "osm1", mqttPort: 9004, grafanaPlugins: ["grafana-clock-panel@2.1.5"] },
        };
        const diff = diffFleet(was, [
            { label: "a", name: "A", host: "osm1", mqttPort: 9000, grafanaPlugins: ["grafana-clock-panel@2.2.0", "zeta-graph-panel@1.0.0@" + "a".repeat(64)] },
            { label: "b", name: "B", host: "osm1", mqttPort: 9001, grafanaPlugins: ["grafana-clock-panel@2.1.5"] },
            { label: "c", name: "C", host: "osm2", mqttPort: 9002, grafanaPlugins: ["grafana-clock-panel@2.1.5"] },
            { label: "d", name: "D", host: "osm1", mqttPort: 9003, grafanaPlugins: ["grafana-clock-panel@2.1.5"] },
            { label: "e", name: "E", host: "osm1", mqttPort: 9004, grafanaPlugins: ["grafana-clock-panel@2.1.5"] },
        ]);
        assert.deepStrictEqual(diff.changes.map((c) => [c.kind, c.label, c.pluginsChange]), [
            ["move", "c", { installed: ["grafana-clock-panel@2.1.5"], removed: [] }],
            ["option", "a", { installed: ["grafana-clock-panel@2.2.0", `zeta-graph-panel@1.0.0@${"a".repeat(64)}`], removed: [] }],
            ["option", "b", { installed: [], removed: ["acme-map-panel@2.0.0"] }],
        ]);
        assert.strictEqual(diff.unchanged, 2);
        const lines = formatDiff(diff, DOMAIN);
        assert.ok(lines.some((l) => /^ {2}~ +a +"A" +Grafana plugins \+grafana-clock-panel 2\.2\.0, \+zeta-graph-panel 1\.0\.0 \(installed by its host; Grafana restarts once\)$/.test(l)), lines.join("\n"));
        assert.ok(lines.some((l) => /^ {2}~ +b +"B" +Grafana plugins -acme-map-panel 2\.0\.0 /.test(l)), lines.join("\n"));
        assert.ok(lines.some((l) => /^ {2}~ +c +"C" +move osm1:9002 -> osm2:9002; .*; Grafana plugins \+grafana-clock-panel 2\.1\.5 /.test(l)), lines.join("\n"));
        const added = formatDiff(diffFleet({}, [{ label: "g", name: "G", host: "osm1", mqttPort: 9007, grafanaPlugins: ["grafana-clock-panel@2.1.5"] }]), DOMAIN);
        assert.ok(added.some((l) => l.endsWith(`new on osm1:9007: g{,-influx,-chirpstack}.${DOMAIN}; Grafana plugins +grafana-clock-panel 2.1.5 (installed by its host; Grafana restarts once)`)), added.join("\n"));
        const lock = withStack(emptyLock(), "prod", { a: { host: "osm1", mqttPort: 9000 }, f: { host: "osm1", mqttPort: 9005 } },
            { a: { name: "A", grafanaPlugins: ["zeta-graph-panel@1.0.0", "grafana-clock-panel@2.2.0"] }, f: { name: "F", grafanaPlugins: [] } }, []);
        assert.deepStrictEqual(lockedCustomers(lock, "prod"), {
            a: { name: "A", host: "osm1", mqttPort: 9000, grafanaPlugins: ["grafana-clock-panel@2.2.0", "zeta-graph-panel@1.0.0"] },
            f: { name: "F", host: "osm1", mqttPort: 9005 },
        });
    });

    it("a name changed without a label is a delete and an add: both lines say so and give the label to keep it", () => {
        const renamed = diffFleet(deployed, [...Object.keys(deployed).filter((l) => l !== "acme").map(keep), { label: "acme-industries", name: "Acme Industries", host: "osm3", mqttPort: 9100 }]);
        const del = renamed.changes.find((c) => c.kind === "delete")!;
        const add = renamed.changes.find((c) => c.kind === "add")!;
        assert.deepStrictEqual([del.label, del.likelyRenamedTo, add.label, add.likelyRenameOf], ["acme", "acme-industries", "acme-industries", "acme"]);
        const lines = formatDiff(renamed, DOMAIN);
        assert.ok(lines.some((l) => /acme-industries .*looks like "acme" renamed: to keep its container, data, port and credentials, add "label": "acme" to this entry/.test(l)), lines.join("\n"));
        assert.ok(lines.some((l) => /- +acme .*if "acme-industries" \(added\) is this customer renamed, add "label": "acme" to its entry instead/.test(l)), lines.join("\n"));
        // The refusal names the fix too.
        assert.match(maxDeletesProblems(renamed, 0, FILES)[0].message, /add "label": "acme" to that entry instead/);
    });

    it("suggests no rename when the pairing is ambiguous or nothing alike", () => {
        const twoAlike = diffFleet(deployed, [...Object.keys(deployed).filter((l) => l !== "acme").map(keep),
            { label: "acme-north", name: "Acme North", host: "osm3", mqttPort: 9100 }, { label: "acme-south", name: "Acme South", host: "osm3", mqttPort: 9101 }]);
        assert.ok(twoAlike.changes.every((c) => c.likelyRenameOf === undefined && c.likelyRenamedTo === undefined), JSON.stringify(twoAlike.changes));
        const unlike = diffFleet(deployed, [...Object.keys(deployed).filter((l) => l !== "acme").map(keep), { label: "quux", name: "Quux", host: "osm3", mqttPort: 9100 }]);
        assert.ok(unlike.changes.every((c) => c.likelyRenameOf === undefined), JSON.stringify(unlike.changes));
    });

    it("a previousLabel that is not deployed is a note, not a label change", () => {
        const done = diffFleet({ "new-label": { name: "New Name", host: "osm2", mqttPort: 9012 } },
            [{ label: "new-label", name: "New Name", previousLabel: "old-label", host: "osm2", mqttPort: 9012 }]);
        assert.deepStrictEqual(done.changes, []);
        assert.deepStrictEqual(done.stalePreviousLabels, [{ label: "new-label", previousLabel: "old-label" }]);
        assert.match(formatDiff(done, DOMAIN).at(-1)!, /customer "new-label" has "previousLabel": "old-label", which is not deployed .*remove previousLabel/);
    });
});

describe("plan diff: maxDeletes", () => {
    it("defaults to 1 in the stack config; a setting raises it; a bad value is refused with the command that sets it", () => {
        const read = (extra: Record<string, unknown>) => readSettings(lookupOf({ ...testSettings(), ...TEST_SECRETS, ...extra }), "Pulumi.unit.yaml");
        assert.strictEqual(DEFAULT_MAX_DELETES, 1);
        assert.strictEqual(read({}).settings.maxDeletes, 1);
        assert.strictEqual(read({ maxDeletes: "5" }).settings.maxDeletes, 5);
        assert.strictEqual(read({ maxDeletes: "0" }).settings.maxDeletes, 0);
        for (const [bad, says] of [["-1", /must be between 0 and 100000 \(got -1\)/], ["many", /must be a whole number \(got "many"\)/], ["1.5", /must be a whole number \(got 1\.5\)/]] as const) {
            assert.throws(() => read({ maxDeletes: bad }), (err: unknown) => {
                assert.ok(err instanceof InputError);
                assert.deepStrictEqual(err.problems.map((p) => p.path), [`${PROJECT}:maxDeletes`]);
                assert.match(err.problems[0].message, says);
                assert.match(err.problems[0].message, /set it with: pulumi config set osm-hosting:maxDeletes 3/);
                return true;
            });
        }
    });

    it("allows up to maxDeletes deletions; one more is refused naming every customer and the fix", () => {
        const two = diffFleet(deployed, Object.keys(deployed).filter((l) => l !== "acme" && l !== "zeta").map(keep));
        assert.deepStrictEqual(maxDeletesProblems(two, 2, FILES), []);
        const problems = maxDeletesProblems(two, 1, FILES);
        assert.deepStrictEqual(problems.map((p) => [p.file, p.path]), [["customers.json", ""], ["customers.json", ""], ["Pulumi.prod.yaml", `${PROJECT}:maxDeletes`]]);
        assert.match(formatProblem(problems[0]), /^customers\.json: customer "acme" \("Acme", on osm1:9000\) would be deleted \(its container archived on osm1\), but it is not in this file; restore its entry$/);
        assert.match(problems[1].message, /customer "zeta" \("Zeta", on osm1:9006\)/);
        assert.match(problems[2].message, /would delete 2 customers .* at most 1 .*restore them; .*pulumi config set osm-hosting:maxDeletes 2 \(then pulumi config rm osm-hosting:maxDeletes\)/);
    });

    it('{"customers": []} deletes every customer: refused at the default, naming all of them', () => {
        const empty = diffFleet(deployed, []);
        const problems = maxDeletesProblems(empty, DEFAULT_MAX_DELETES, FILES);
        assert.deepStrictEqual(problems.slice(0, -1).map((p) => /customer "([^"]+)"/.exec(p.message)![1]), Object.keys(deployed).sort());
        assert.match(problems.at(-1)!.message, /would delete 7 customers/);
    });

    it("a label change is not counted as a delete (its entry names the old label)", () => {
        const relabel = diffFleet({ old: { name: "X", host: "osm1", mqttPort: 9000 } }, [{ label: "new", name: "X", previousLabel: "old", host: "osm1", mqttPort: 9001 }]);
        assert.deepStrictEqual(maxDeletesProblems(relabel, 0, FILES), []);
    });
});

describe("plan diff: hosts, against the hosts the lock was written against", () => {
    const locked: Record<string, LockedHost> = {
        osm0: { address: "192.0.2.9", capacity: 20, drain: false },
        osm1: { address: "192.0.2.10", capacity: 40, drain: false },
        osm2: { address: "192.0.2.11", capacity: 40, drain: true },
        osm3: { address: "192.0.2.12", capacity: 60, drain: false },
        retired: { address: "192.0.2.8", capacity: 10, drain: true },
    };
    const planned: HostRecord[] = [
        { name: "osm1", address: "192.0.2.20", capacity: 50, drain: false },  // address and capacity
        { name: "osm2", address: "192.0.2.11", capacity: 40, drain: false },  // drain cleared
        { name: "osm3", address: "192.0.2.12", capacity: 60, drain: false },  // unchanged
        { name: "osm0", address: "192.0.2.9", capacity: 20, drain: true },    // drain set
        { name: "osm4", address: "192.0.2.14", capacity: 30, drain: false },  // added
        // retired: removed
    ];
    // acme and zeta leave osm0 (drained), old-one is deleted from the retired host.
    const fleet: DeployedFleet = {
        "acme": { name: "Acme", host: "osm0", mqttPort: 9000 }, "zeta": { name: "Zeta", host: "osm0", mqttPort: 9001 },
        "stays": { name: "Stays", host: "osm1", mqttPort: 9002 }, "old-one": { name: "Old One", host: "retired", mqttPort: 9003 },
    };
    const after: Placements = { acme: { host: "osm1", mqttPort: 9000 }, zeta: { host: "osm3", mqttPort: 9001 }, stays: { host: "osm1", mqttPort: 9002 } };
    const diff = diffHosts(locked, planned, fleet, after);

    it("finds each host change once, removals first, then changes, then additions, each by name; the unchanged counted", () => {
        assert.strictEqual(diff.known, true);
        assert.deepStrictEqual(diff.changes.map((h) => [h.kind, h.name, h.changed]), [
            ["remove", "retired", undefined], ["change", "osm0", ["drain"]], ["change", "osm1", ["address", "capacity"]], ["change", "osm2", ["drain"]], ["add", "osm4", undefined],
        ]);
        assert.strictEqual(diff.unchanged, 1);
        const byName = new Map(diff.changes.map((h) => [h.name, h]));
        assert.deepStrictEqual(byName.get("retired"), { kind: "remove", name: "retired", from: locked.retired, leaving: ["old-one"] });
        assert.deepStrictEqual(byName.get("osm0")!.leaving, ["acme", "zeta"]);
        assert.deepStrictEqual(byName.get("osm1"), { kind: "change", name: "osm1", from: locked.osm1, to: { address: "192.0.2.20", capacity: 50, drain: false }, changed: ["address", "capacity"] });
        assert.deepStrictEqual(byName.get("osm4"), { kind: "add", name: "osm4", to: { address: "192.0.2.14", capacity: 30, drain: false } });
    });

    it("prints a warning at the top for a removed or readdressed host, then one line per changed host, the unchanged in one line", () => {
        const { warnings, lines } = formatHostDiff(diff, DOMAIN, 300);
        assert.deepStrictEqual(warnings, ["WARNING: this plan removes 1 host (retired), changes the address of 1 host (osm1): their A records go or change; read the host lines marked - and ~ below"]);
        assert.deepStrictEqual(lines, [
            "Hosts: 1 to remove, 3 changed, 1 to add, 1 unchanged",
            "  -  retired  remove (was 192.0.2.8): its A record goes, the machine itself is left as it is; the archives of 1 customer (old-one) deleted from it stay there: copy them off first",
            "  ~  osm0     drain set: takes no new customers; 2 customers (acme, zeta) leave it",
            "  ~  osm1     address 192.0.2.10 -> 192.0.2.20: its A record changes, devices follow after the TTL (300 s); capacity 40 -> 50",
            "  ~  osm2     drain cleared: takes new customers again",
            "  +  osm4     new: osm4.osm.example.org. A 192.0.2.14, capacity 30; host set-up runs on it",
            "  = 1 host unchanged",
        ]);
        // What --write and --check say of the lock's entries.
        assert.deepStrictEqual(hostLockLines(diff), [
            "- host retired (was 192.0.2.8)", "~ host osm0 drain false -> true", "~ host osm1 address 192.0.2.10 -> 192.0.2.20, capacity 40 -> 50",
            "~ host osm2 drain true -> false", "+ host osm4 192.0.2.14, capacity 30",
        ]);
    });

    it("hosts as the lock has them: no warning, no change lines, the unchanged in one line", () => {
        const same = diffHosts(locked, Object.entries(locked).map(([name, h]) => ({ name, ...h })), fleet, after);
        assert.deepStrictEqual(formatHostDiff(same, DOMAIN, 300), { warnings: [], lines: ["Hosts: no changes, 5 unchanged", "  = 5 hosts unchanged"] });
        assert.deepStrictEqual(hostLockLines(same), []);
    });

    it("without the lock's hosts (lockfile version 1) nothing is diffed, and the plan says so and how to record them", () => {
        const unknown = diffHosts(undefined, planned, fleet, after);
        assert.deepStrictEqual(unknown, { known: false, changes: [], unchanged: 0 });
        assert.deepStrictEqual(formatHostDiff(unknown, DOMAIN, 300), {
            warnings: [], lines: ["Hosts: not diffed: the lock records no hosts (lockfile version 1); npm run plan -- --write records them"],
        });
        assert.deepStrictEqual(hostLockLines(unknown), ["hosts: not recorded yet (lockfile version 1); --write records them"]);
    });
});

describe("plan diff: the lock's versions (2 records hosts; 1 is still read)", () => {
    const scratch = new Scratch();
    after(() => scratch.cleanup());
    const v1 = { lockfileVersion: 1, stacks: { prod: { acme: { name: "Acme", host: "osm1", mqttPort: 9000 } }, lab: { zeta: { name: "Zeta", host: "alpha", mqttPort: 9001 } } } };
    const hosts: HostRecord[] = [{ name: "osm2", address: "192.0.2.11", capacity: 40, drain: false }, { name: "osm1", address: "192.0.2.10", capacity: 40, drain: true }];

    it("a version 1 lock: its customers, and no hosts (unknown, not none); a missing lock knows there are none yet", () => {
        const lock = readLock(scratch.json("v1.lock.json", v1));
        assert.strictEqual(lock.lockfileVersion, 1);
        assert.deepStrictEqual(lockedCustomers(lock, "prod"), v1.stacks.prod);
        assert.strictEqual(lockedHosts(lock, "prod"), undefined);
        assert.strictEqual(lockedHosts(lock, "other"), undefined);
        const none = readLock(path.join(scratch.dir, "missing.lock.json"));
        assert.deepStrictEqual([lockedHosts(none, "prod"), lockedCustomers(none, "prod")], [{}, {}]);
    });

    it("--write upgrades to version 2: hosts then customers, each sorted, keys in one order; another stack keeps its customers, its hosts unknown", () => {
        const lock = withStack(readLock(scratch.json("v1.lock.json", v1)), "prod", { acme: { host: "osm1", mqttPort: 9000 } }, { acme: { name: "Acme" } }, hosts);
        const text = formatLock(lock);
        assert.strictEqual(text, `${JSON.stringify({
            lockfileVersion: 2,
            stacks: {
                lab: { customers: v1.stacks.lab },
                prod: {
                    hosts: { osm1: { address: "192.0.2.10", capacity: 40, drain: true }, osm2: { address: "192.0.2.11", capacity: 40, drain: false } },
                    customers: { acme: { name: "Acme", host: "osm1", mqttPort: 9000 } },
                },
            },
        }, null, 2)}\n`);
        // One host per line group: a capacity change is a one-line diff.
        assert.match(text, /\n {8}"osm1": \{\n {10}"address": "192\.0\.2\.10",\n {10}"capacity": 40,\n {10}"drain": true\n {8}\},\n/);
        const back = readLock(scratch.json("v2.lock.json", JSON.parse(text)));
        assert.deepStrictEqual(back, lock);
        assert.strictEqual(lockedHosts(back, "lab"), undefined, "a stack carried over from version 1 has no hosts until its own --write");
        assert.deepStrictEqual(lockedHosts(back, "new-stack"), {}, "a stack a version 2 lock does not hold has no hosts yet");
        assert.strictEqual(formatLock(withStack(back, "prod", { acme: { host: "osm1", mqttPort: 9000 } }, { acme: { name: "Acme" } }, [...hosts].reverse())), text, "the config's host order does not matter");
    });

    it("records mqttWebsocket only for customers that have it (the others' entries stay as they were), and reads it back", () => {
        const lock = withStack(emptyLock(), "prod",
            { acme: { host: "osm1", mqttPort: 9000 }, zeta: { host: "osm1", mqttPort: 9001 } },
            { acme: { name: "Acme", mqttWebsocket: true }, zeta: { name: "Zeta", mqttWebsocket: false } }, hosts);
        assert.deepStrictEqual(lockedCustomers(lock, "prod"), {
            acme: { name: "Acme", host: "osm1", mqttPort: 9000, mqttWebsocket: true }, zeta: { name: "Zeta", host: "osm1", mqttPort: 9001 },
        });
        assert.deepStrictEqual(readLock(scratch.json("ws.lock.json", JSON.parse(formatLock(lock)))), lock);
    });

    it("a malformed version 2 lock or an unknown version is refused, naming the file, the entry and the fix", () => {
        const refused = (doc: unknown, pathRe: string, says: RegExp) => assert.throws(() => readLock(scratch.json("bad.lock.json", doc)), (err: unknown) => {
            assert.ok(err instanceof InputError);
            assert.ok(err.problems.some((p) => p.path === pathRe && says.test(p.message)), JSON.stringify(err.problems));
            assert.ok(err.problems.every((p) => p.file.endsWith("bad.lock.json") && /npm run plan -- --write|restore it from git/.test(p.message)));
            return true;
        });
        refused({ lockfileVersion: 3, stacks: {} }, "/lockfileVersion", /must be 2 \(or 1, the version before hosts were recorded; got 3\)/);
        refused({ lockfileVersion: 2, stacks: { prod: { hosts: { osm1: { address: "192.0.2.10", capacity: "40", drain: false } }, customers: {} } } },
            "/stacks/prod/hosts/osm1", /must be \{"address": "\.\.\.", "capacity": <number>, "drain": <boolean>\}/);
        refused({ lockfileVersion: 2, stacks: { prod: { customers: { acme: { host: "osm1" } } } } }, "/stacks/prod/customers/acme", /must be \{"name": "\.\.\.", "host": "\.\.\.", "mqttPort": <number>\}/);
        refused({ lockfileVersion: 2, stacks: { prod: { customers: { acme: { name: "Acme", host: "osm1", mqttPort: 9000, mqttWebsocket: "yes" } } } } },
            "/stacks/prod/customers/acme", /optionally "mqttWebsocket": true, "grafanaPlugins": \["id@version", \.\.\.\] and "base": "<a base's name>" \(got/);
        refused({ lockfileVersion: 2, stacks: { prod: { customers: { acme: { name: "Acme", host: "osm1", mqttPort: 9000, grafanaPlugins: "grafana-clock-panel@2.1.5" } } } } },
            "/stacks/prod/customers/acme", /"grafanaPlugins": \["id@version", \.\.\.\] and "base": "<a base's name>" \(got/);
        // A version 1 body under version 2: its labels are not "hosts" or "customers".
        refused({ lockfileVersion: 2, stacks: v1.stacks }, "/stacks/prod", /has unknown key\(s\) "acme": only "hosts" and "customers"/);
        assert.ok(fs.existsSync(path.join(scratch.dir, "bad.lock.json")));
    });
});

describe("plan diff: readable at 130 customers", () => {
    const hosts = [{ name: "osm1", capacity: 60 }, { name: "osm2", capacity: 60 }, { name: "osm3", capacity: 60, drain: true }];
    const big: DeployedFleet = {};
    for (let i = 0; i < 130; i++) big[`customer-${String(i).padStart(3, "0")}`] = { name: `Customer ${i}`, host: hosts[i % 3].name, mqttPort: 9000 + i };
    const planned: PlannedCustomer[] = Object.entries(big).map(([label, d]) => ({ label, name: d.name!, host: d.host, mqttPort: d.mqttPort }));
    planned[3] = { ...planned[3], name: "Customer Three Ltd" };              // rename
    planned[4] = { ...planned[4], host: "osm1" };                           // move (from osm2)
    planned[5] = { ...planned[5], mqttPort: 9900 };                         // port
    planned.splice(6, 1);                                                   // delete customer-006
    planned.push({ label: "newcomer", name: "Newcomer", host: "osm1", mqttPort: 9901 });
    const diff = diffFleet(big, planned);

    it("one line per changed customer, one line for the 126 unchanged, nothing else per customer", () => {
        const lines = formatDiff(diff, DOMAIN);
        assert.strictEqual(diff.unchanged, 126);
        const changed = ["customer-003", "customer-004", "customer-005", "customer-006", "newcomer"];
        for (const label of changed) assert.strictEqual(lines.filter((l) => l.split(/\s+/).includes(label)).length, 1, label);
        // Warning, summary, five change lines, the unchanged line.
        assert.strictEqual(lines.length, 2 + changed.length + 1, lines.join("\n"));
        assert.strictEqual(lines.at(-1), "  = 126 customers unchanged");
        for (const l of lines.slice(2)) assert.ok(l.length <= 160, `line too long for a terminal or a PR comment (${l.length}): ${l}`);
    });

    it("the host section stays short: a drained host's 43 leaving customers are five labels and a count", () => {
        const locked = Object.fromEntries(hosts.map((h, i) => [h.name, { address: `192.0.2.${i + 1}`, capacity: h.capacity, drain: false }]));
        const drainedOff = Object.fromEntries(Object.entries(big).map(([label, d]) => [label, { host: d.host === "osm3" ? "osm1" : d.host, mqttPort: d.mqttPort }]));
        const { warnings, lines } = formatHostDiff(diffHosts(locked, hosts.map((h, i) => ({ ...h, address: `192.0.2.${i + 1}`, drain: h.drain === true })), big, drainedOff), DOMAIN, 300);
        assert.deepStrictEqual(warnings, []);
        assert.strictEqual(lines.length, 3, lines.join("\n"));
        assert.match(lines[1], /^ {2}~ +osm3 +drain set: takes no new customers; 43 customers \(customer-002, customer-005, customer-008, customer-011, customer-014 and 38 more\) leave it$/);
        for (const l of lines) assert.ok(l.length <= 160, `line too long (${l.length}): ${l}`);
    });

    it("the host table: one row per host with used/capacity, percent, the change and draining", () => {
        const after = Object.fromEntries(planned.map((p) => [p.label, { host: p.host, mqttPort: p.mqttPort }]));
        const table = formatHosts(hostLoads(hosts, after, big), (h) => `${h}.${DOMAIN}. A 192.0.2.1`).split("\n");
        assert.strictEqual(table.length, 1 + hosts.length);
        assert.match(table[0], /^HOST +RECORD +CUSTOMERS +USE +CHANGE +STATE$/);
        // osm1: 44 deployed, + customer-004 (moved in) + newcomer - customer-006 (deleted); osm2: 43 - customer-004; osm3: as it was.
        const loads = hostLoads(hosts, after, big);
        assert.deepStrictEqual(loads.map((h) => [h.name, h.before, h.used]), [["osm1", 44, 45], ["osm2", 43, 42], ["osm3", 43, 43]]);
        assert.match(table[1], /^osm1 +osm1\.osm\.example\.org\. A 192\.0\.2\.1 +45\/60 +75% +\+1 \(was 44\)$/);
        assert.match(table[2], /^osm2 .* 42\/60 +70% +-1 \(was 43\)$/);
        assert.match(table[3], /^osm3 .* 43\/60 +72% +draining$/);
    });
});
