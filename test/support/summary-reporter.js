// Mocha's spec reporter plus one plain closing line, "N passed, N failed", that CI reads.
"use strict";
const Mocha = require("mocha");
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL } = Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
    constructor(runner, options) {
        super(runner, options);
        let passed = 0;
        let failed = 0;
        runner.on(EVENT_TEST_PASS, () => passed++);
        runner.on(EVENT_TEST_FAIL, () => failed++); // hook failures arrive here too
        runner.once(EVENT_RUN_END, () => process.stdout.write(`\n${passed} passed, ${failed} failed\n`));
    }
}
module.exports = SummaryReporter;
