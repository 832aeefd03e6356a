/**
 * Developer command for the lab:
 *   npm run lab -- up [--id dev] [--hosts osm-lab1,osm-lab2] [--no-base] [--no-acme]
 *   npm run lab -- down [--id dev]
 *   npm run lab -- status [--id dev]
 *   npm run lab -- exec HOST [--id dev] -- CMD [ARGS…]   (runs inside a lab host)
 * `up` leaves the lab running and writes .lab/lab.json (for the dev lab) describing it.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { HOST_BASE_PATH, Lab, LAB_ROOT, loadState, teardownLab } from "./hosts";
import { inHostArgv } from "./lab-exec";

function arg(name: string, dflt: string): string {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

function labJsonPath(id: string): string {
    return path.join(LAB_ROOT, id === "dev" ? "lab.json" : `lab-${id}.json`);
}

/** What another engineer needs to use a running lab. */
export function describeLab(lab: Lab, extra: Record<string, unknown> = {}) {
    const s = lab.state;
    return {
        id: s.id,
        sshUser: s.sshUser,
        privateKeyPath: s.privateKeyPath,
        knownHostsPath: s.knownHostsPath,
        bridgeAddress: s.bridgeAddress,
        basePath: s.basePath ? HOST_BASE_PATH : undefined,
        hosts: s.hosts.map((h) => ({
            name: h.name,
            address: h.address,
            sshPort: h.sshPort,
            hostKey: h.hostKey,
            netns: h.netns,
            anchorPid: h.anchorPid,
            exec: inHostArgv(h.anchorPid!).join(" "),
            ssh: `ssh -i ${s.privateKeyPath} -o UserKnownHostsFile=${s.knownHostsPath} -o StrictHostKeyChecking=yes -o ControlMaster=no ${s.sshUser}@${h.address}`,
        })),
        ...extra,
    };
}

async function main(): Promise<void> {
    const cmd = process.argv[2];
    const id = arg("id", "dev");
    if (cmd === "up") {
        const hostNames = arg("hosts", "osm-lab1,osm-lab2").split(",");
        const t0 = Date.now();
        let basePath: string | undefined;
        if (!process.argv.includes("--no-base")) {
            const { ensureBase } = await import("./base");
            basePath = (await ensureBase({ log: (m) => process.stderr.write(m + "\n") })).path;
        }
        const lab = await Lab.start({ id, hostNames, basePath });
        const extra: Record<string, unknown> = {};
        if (!process.argv.includes("--no-acme")) {
            const { startPebble } = await import("./pebble");
            const pebble = await startPebble(lab, { dnsServer: arg("dns", "") || undefined });
            extra.acme = { server: pebble.directoryUrl, caBundle: pebble.hostCaBundlePath, rootCaPath: pebble.rootCaPath };
        }
        const desc = describeLab(lab, extra);
        fs.writeFileSync(labJsonPath(id), JSON.stringify(desc, null, 2) + "\n");
        process.stdout.write(`lab "${id}" up in ${((Date.now() - t0) / 1000).toFixed(1)} s; described in ${labJsonPath(id)}\n`);
        for (const h of desc.hosts) process.stdout.write(`  ${h.name} ${h.address}\n    ${h.ssh}\n    run inside: ${h.exec} CMD\n`);
        process.stdout.write(`stop it with: npm run lab -- down --id ${id}\n`);
    } else if (cmd === "down") {
        const s = loadState(id);
        if (!s) {
            process.stdout.write(`no lab "${id}" running (no ${path.join(LAB_ROOT, id, "state.json")})\n`);
        } else {
            teardownLab(s);
            process.stdout.write(`lab "${id}" torn down\n`);
        }
        fs.rmSync(labJsonPath(id), { force: true });
    } else if (cmd === "exec") {
        // lab-cli exec HOST [--id ID] -- CMD ARGS…: runs a program inside a lab host.
        const s = loadState(id);
        if (!s) throw new Error(`no lab "${id}" running`);
        const h = s.hosts.find((x) => x.name === process.argv[3]);
        if (!h) throw new Error(`lab "${id}" has no host "${process.argv[3]}" (hosts: ${s.hosts.map((x) => x.name).join(", ")})`);
        const dd = process.argv.indexOf("--");
        if (dd < 0 || dd === process.argv.length - 1) throw new Error("usage: npm run lab -- exec HOST [--id ID] -- CMD [ARGS…]");
        const [n, ...rest] = inHostArgv(h.anchorPid!);
        const r = spawnSync(n, [...rest, ...process.argv.slice(dd + 1)], { stdio: "inherit" });
        process.exit(r.status ?? 1);
    } else if (cmd === "status") {
        const s = loadState(id);
        process.stdout.write(s ? JSON.stringify(s, null, 2) + "\n" : `no lab "${id}"\n`);
    } else {
        process.stderr.write("usage: npm run lab -- up|down|status|exec [--id ID] [--hosts a,b] [--no-base] [--no-acme] [--dns 127.0.0.1:PORT] [HOST -- CMD…]\n");
        process.exit(2);
    }
}

main().catch((e) => {
    process.stderr.write(`lab-cli: ${e.message}\n`);
    process.exit(1);
});
