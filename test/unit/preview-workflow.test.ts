/**
 * The preview workflow's plan step (.github/scripts/plan-comment) run as the workflow runs it,
 * with `git` and `pulumi` stand-ins on PATH (there is no GitHub or Pulumi Cloud here): the
 * comment is the real `npm run plan` against the base branch's lock and the stack's
 * placements; a missing input is said in the comment; a refused plan fails the step.
 * What stays unrun here is GitHub's part (checkout, pulumi/actions, `gh pr comment`).
 */
import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { projectRoot } from "../../components/paths";
import { lockedCustomers, lockedPlacements, readLock } from "../../components/placements-lock";
import { Scratch } from "./support/fleet";

const ROOT = projectRoot();
const SCRIPT = path.join(ROOT, ".github", "scripts", "plan-comment");
const STACK = "devtank/prod";

interface Run { code: number | null; stdout: string; stderr: string; comment: string; calls: string[] }

describe("preview workflow: the plan posted beside pulumi preview", function () {
    // Each run is one `npm run plan` (~3 s idle; the build is done by npm test).
    this.timeout(180_000);
    const scratch = new Scratch();
    after(() => scratch.cleanup());
    const bin = path.join(scratch.dir, "bin");
    const calls = path.join(scratch.dir, "calls.log");
    fs.mkdirSync(bin);
    // Stand-ins: they log their arguments, and answer from files the test names (or fail as the real ones do).
    fs.writeFileSync(path.join(bin, "git"), `#!/bin/sh
echo "git $*" >> "${calls}"
case "$1" in
  fetch) [ -n "$FAKE_GIT_FETCH_FAILS" ] && { echo "fatal: couldn't find remote ref $5" >&2; exit 128; }; exit 0 ;;
  show) [ -n "$FAKE_BASE_LOCK" ] && exec cat "$FAKE_BASE_LOCK"; echo "fatal: path 'placements.lock.json' does not exist in 'FETCH_HEAD'" >&2; exit 128 ;;
esac
exit 99
`, { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "pulumi"), `#!/bin/sh
echo "pulumi $*" >> "${calls}"
[ -n "$FAKE_PLACEMENTS" ] && exec cat "$FAKE_PLACEMENTS"
echo "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions" >&2
exit 255
`, { mode: 0o755 });

    const committed = readLock(path.join(ROOT, "placements.lock.json"));
    /** The committed lock without `drop` (as if the pull request added those customers). */
    function baseLock(drop: string[], extra: Record<string, unknown> = {}): string {
        const doc = JSON.parse(fs.readFileSync(path.join(ROOT, "placements.lock.json"), "utf8"));
        for (const label of drop) delete doc.stacks.prod.customers[label];
        Object.assign(doc.stacks.prod.customers, extra);
        return scratch.json(`base-${Math.random().toString(36).slice(2)}.lock.json`, doc);
    }
    const placementsOf = (lockFile: string) => scratch.json(`placements-${Math.random().toString(36).slice(2)}.json`, lockedPlacements(readLock(lockFile), "prod"));

    function run(env: Record<string, string>): Promise<Run> {
        const out = path.join(scratch.dir, `comment-${Math.random().toString(36).slice(2)}.md`);
        fs.writeFileSync(calls, "");
        return new Promise((resolve) => {
            execFile("bash", [SCRIPT, STACK, "main", out], {
                cwd: ROOT, timeout: 170_000,
                env: { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: scratch.dir, ...env },
            }, (err, stdout, stderr) => resolve({
                code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr,
                comment: fs.existsSync(out) ? fs.readFileSync(out, "utf8") : "", calls: fs.readFileSync(calls, "utf8").trim().split("\n"),
            }));
        });
    }

    it("the workflow runs this script in its plan step, and posts the file it writes", () => {
        const wf = yaml.load(fs.readFileSync(path.join(ROOT, ".github", "workflows", "preview.yml"), "utf8")) as any;
        const steps: Array<{ name?: string; run?: string }> = wf.jobs.preview.steps;
        const plan = steps.find((s) => s.name === "Plan against the deployed placements");
        assert.ok(plan?.run, "a plan step");
        const [, file] = /plan-comment "[^"]+" "\$\{\{ github\.base_ref \}\}" "(\$RUNNER_TEMP\/[\w.]+)"$/.exec(plan.run!.trim()) ?? [];
        assert.ok(file, plan.run);
        const post = steps.find((s) => s.name === "Post the plan on the pull request");
        assert.ok(post?.run?.includes(`--body-file "${file}"`), post?.run);
    });

    it("a pull request adding a customer: the comment is the plan against the base lock and the stack's placements", async () => {
        const base = baseLock(["saxon-mills"]);
        const r = await run({ FAKE_BASE_LOCK: base, FAKE_PLACEMENTS: placementsOf(base) });
        assert.strictEqual(r.code, 0, r.stderr + r.comment);
        const lines = r.comment.split("\n");
        assert.strictEqual(lines[0], `#### \`npm run plan\` for ${STACK}`);
        assert.strictEqual(lines[1], "```", "no note: both inputs were read");
        assert.ok(lines.some((l) => /^Plan: 1 to add, 6 unchanged$/.test(l)), r.comment);
        assert.ok(lines.some((l) => /^ {2}\+ +saxon-mills +"Saxon Mills" +new on osm\d:\d+: saxon-mills\{,-influx,-chirpstack\}\./.test(l)), r.comment);
        assert.ok(!lines.some((l) => l.startsWith("> osm-hosting") || l.startsWith("> tsc")), "no npm banner");
        assert.strictEqual(lines.filter((l) => l === "```").length, 2);
        assert.deepStrictEqual(r.calls, ["git fetch --quiet --depth=1 origin main", "git show FETCH_HEAD:placements.lock.json", `pulumi stack output --stack ${STACK} placements --json`]);
    });

    it("without a lock on the base branch or a readable stack output, the comment says so above the plan", async () => {
        const r = await run({});
        assert.strictEqual(r.code, 0, r.stderr + r.comment);
        const notes = r.comment.split("\n").filter((l) => l.startsWith("> note: "));
        assert.strictEqual(notes.length, 2, r.comment);
        assert.match(notes[0], /the base branch \(main\) has no placements\.lock\.json that could be read \(fatal: path 'placements\.lock\.json' does not exist in 'FETCH_HEAD'/);
        assert.match(notes[1], /the stack's placements output could not be read \(error: PULUMI_ACCESS_TOKEN must be set/);
        assert.match(r.comment, /^Plan: 7 to add, 0 unchanged$/m);
    });

    it("a plan the program refuses (two deletions, maxDeletes 1) fails the step, and its comment names them", async () => {
        const gone = { "old-one": { name: "Old One", host: "osm1", mqttPort: 8950 }, "old-two": { name: "Old Two", host: "osm1", mqttPort: 8951 } };
        const base = baseLock([], gone);
        assert.deepStrictEqual(Object.keys(lockedCustomers(readLock(base), "prod")).length, Object.keys(lockedCustomers(committed, "prod")).length + 2);
        const r = await run({ FAKE_BASE_LOCK: base, FAKE_PLACEMENTS: placementsOf(base) });
        assert.strictEqual(r.code, 1, r.comment);
        assert.match(r.comment.split("\n")[0], /^#### `npm run plan` for devtank\/prod \(refused: exit 1\)$/);
        assert.match(r.comment, /customer "old-one" \("Old One", on osm1:8950\) would be deleted/);
        assert.match(r.comment, /customer "old-two" \("Old Two", on osm1:8951\) would be deleted/);
        assert.match(r.comment, /osm-hosting:maxDeletes/);
    });
});
