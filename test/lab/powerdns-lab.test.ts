/**
 * The lab PowerDNS helper itself: free ports at run time, and nothing left behind when the
 * test process dies (its exit handler kills the servers by PID and removes the scratch dir).
 */
import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { startPowerDns } from "../../lab/pdns-server";

/** Runs and is not a zombie (a killed orphan stays a zombie until init reaps it). */
function alive(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return !/^\d+ \(.*\) [ZX] /.test(stat);
    } catch {
        return false;
    }
}

describe("lab PowerDNS helper", function () {
    this.timeout(60000);

    it("two servers at once get different free ports, and stop() removes everything", async () => {
        const [a, b] = await Promise.all([startPowerDns(), startPowerDns()]);
        try {
            assert.notStrictEqual(a.apiUrl, b.apiUrl);
            assert.notStrictEqual(a.dnsPort, b.dnsPort);
            assert.ok(fs.readFileSync(path.join(a.dir, "conf", "pdns.conf"), "utf8").includes("security-poll-suffix=\n"));
            assert.strictEqual(fs.statSync(path.join(a.dir, "conf", "pdns.conf")).mode & 0o077, 0, "pdns.conf (holds the API key) is 0600");
        } finally {
            await Promise.all([a.stop(), b.stop()]);
        }
        for (const lab of [a, b]) {
            for (const pid of lab.pids) assert.ok(!alive(pid), `pid ${pid} still runs`);
            assert.ok(!fs.existsSync(lab.dir));
        }
    });

    for (const backend of ["sqlite", "mysql"]) {
        it(`a test process that dies leaves no ${backend} server and no scratch dir behind`, async () => {
            const helper = path.join(__dirname, "../../lab/pdns-server.js");
            const script = `require(${JSON.stringify(helper)}).startPowerDns({ backend: ${JSON.stringify(backend)} })
                .then((lab) => { console.log(JSON.stringify({ pids: lab.pids, dir: lab.dir })); throw new Error("test died"); });`;
            const out = await new Promise<string>((resolve) => execFile(process.execPath, ["-e", script], (_err, stdout) => resolve(stdout)));
            const { pids, dir } = JSON.parse(out.trim().split("\n").pop()!);
            assert.strictEqual(pids.length, backend === "mysql" ? 2 : 1);
            for (let i = 0; i < 50 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
            for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} survived its test process`);
            assert.ok(!fs.existsSync(dir), `${dir} left behind`);
        });
    }
});
