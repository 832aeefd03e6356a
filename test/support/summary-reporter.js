// Mocha's spec reporter, then the wall time of each file's suites (slowest first: where CI's
// minutes go), then one plain closing line, "N passed, N failed", that CI reads.
"use strict";
const path = require("path");
const Mocha = require("mocha");
const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END, EVENT_TEST_PASS, EVENT_TEST_FAIL } = Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
    constructor(runner, options) {
        super(runner, options);
        let passed = 0;
        let failed = 0;
        const started = new Map();
        const seconds = new Map();
        runner.on(EVENT_TEST_PASS, () => passed++);
        runner.on(EVENT_TEST_FAIL, () => failed++); // hook failures arrive here too
        // Top-level suites only (their hooks included), summed per file.
        runner.on(EVENT_SUITE_BEGIN, (s) => { if (s.parent && s.parent.root) started.set(s, Date.now()); });
        runner.on(EVENT_SUITE_END, (s) => {
            if (!started.has(s)) return;
            const file = s.file ? path.relative(process.cwd(), s.file) : s.title;
            seconds.set(file, (seconds.get(file) || 0) + (Date.now() - started.get(s)) / 1000);
        });
        runner.once(EVENT_RUN_END, () => {
            const rows = [...seconds].sort((a, b) => b[1] - a[1]).filter(([, s]) => s >= 1);
            if (rows.length) {
                process.stdout.write("\nwall time per file (>= 1 s):\n");
                for (const [file, s] of rows) process.stdout.write(`  ${s.toFixed(1).padStart(7)} s  ${file}\n`);
            }
            process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
        });
    }
}
module.exports = SummaryReporter;
