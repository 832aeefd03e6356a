/**
 * Benchmark (not a timed test): the PowerDNS record provider against a lab PowerDNS (sqlite).
 * Measures one raw PATCH carrying 300 rrsets, then 300 concurrent creates through the
 * provider as Pulumi runs it (serialized, deserialized, called), and prints the ratio
 * (aim: <= 5x). Also 300 concurrent deletes. Starts and stops its own PowerDNS.
 *
 *   npm run bench:powerdns -- [rounds]
 */
import { startPowerDns, PowerDnsLab } from "../lab/pdns-server";
import { serializedProvider } from "../lab/powerdns-fixtures";
import { startProviderHost } from "../lab/provider-host";

const COUNT = 300;

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
}

async function patch(lab: PowerDnsLab, rrsets: unknown[]): Promise<void> {
    const res = await lab.api("PATCH", `/api/v1/servers/localhost/zones/${lab.zone}`, { rrsets });
    if (res.status !== 204) throw new Error(`raw PATCH failed: ${res.status} ${res.text}`);
}

async function main(): Promise<void> {
    const rounds = Number(process.argv[2] ?? 3);
    const lab = await startPowerDns({ backend: "sqlite" });
    try {
        const { text, provider } = await serializedProvider();
        await lab.api("GET", `/api/v1/servers/localhost/zones/${lab.zone}`); // warm up the HTTP client
        const raw: number[] = [];
        const creates: number[] = [];
        const deletes: number[] = [];
        for (let round = 0; round < rounds; round++) {
            const names = Array.from({ length: COUNT }, (_, i) => `r${round}-${i}.${lab.zone}`);
            const content = (i: number) => `192.0.2.${(i % 250) + 1}`;

            // One raw PATCH with all rrsets: the floor any client can reach.
            let t = process.hrtime.bigint();
            await patch(lab, names.map((name, i) => ({ name, type: "A", ttl: 300, changetype: "REPLACE", records: [{ content: content(i), disabled: false }] })));
            raw.push(Number(process.hrtime.bigint() - t) / 1e6);
            await patch(lab, names.map((name) => ({ name, type: "A", changetype: "DELETE" })));

            // The same rrsets through the provider, all at once, as Pulumi's provider host calls it.
            const inputs = names.map((name, i) => ({
                apiUrl: lab.apiUrl, apiKey: lab.apiKey, zone: lab.zone, name, type: "A", ttl: 300, records: [content(i)], __provider: text,
            }));
            t = process.hrtime.bigint();
            const created = await Promise.all(inputs.map((x) => provider.create(x)));
            creates.push(Number(process.hrtime.bigint() - t) / 1e6);

            const answers = await lab.digMany(names);
            const missing = names.filter((n, i) => answers.get(n)?.answers[0] !== `A ${content(i)}`);
            if (missing.length) throw new Error(`${missing.length} records missing after the provider's creates, e.g. ${missing[0]}`);

            t = process.hrtime.bigint();
            await Promise.all(created.map((c: any) => provider.delete(c.id, c.outs)));
            deletes.push(Number(process.hrtime.bigint() - t) / 1e6);
            const after = await lab.digMany(names);
            if (names.some((n) => after.get(n)!.status !== "NXDOMAIN")) throw new Error("records left after the provider's deletes");
        }
        // For context: the same through Pulumi's own provider host over gRPC, which adds the
        // transport of every request (each one carries the serialized provider, as the engine's do).
        const host = await startProviderHost();
        const viaHost: number[] = [];
        try {
            for (let round = 0; round < rounds; round++) {
                const names = Array.from({ length: COUNT }, (_, i) => `h${round}-${i}.${lab.zone}`);
                const t = process.hrtime.bigint();
                const created = await Promise.all(names.map((name, i) => host.create(`urn:bench::${name}`, {
                    apiUrl: lab.apiUrl, apiKey: lab.apiKey, zone: lab.zone, name, type: "A", ttl: 300, records: [`192.0.2.${(i % 250) + 1}`], __provider: text,
                })));
                viaHost.push(Number(process.hrtime.bigint() - t) / 1e6);
                await Promise.all(created.map((c, i) => host.delete(`urn:bench::${names[i]}`, c.id, c.props)));
            }
        } finally {
            await host.stop();
        }
        const fmt = (xs: number[]) => `${median(xs).toFixed(1)} ms (runs: ${xs.map((x) => x.toFixed(1)).join(", ")})`;
        console.log(`PowerDNS ${lab.backend} backend, ${COUNT} A records, ${rounds} rounds, medians:`);
        console.log(`  raw: one PATCH with ${COUNT} rrsets        ${fmt(raw)}`);
        console.log(`  provider: ${COUNT} concurrent creates      ${fmt(creates)}`);
        console.log(`  provider: ${COUNT} concurrent deletes      ${fmt(deletes)}`);
        const ratio = median(creates) / median(raw);
        console.log(`  ratio creates/raw: ${ratio.toFixed(2)}x (aim <= 5x)`);
        console.log(`  context: ${COUNT} concurrent creates through Pulumi's dynamic provider host over gRPC ${fmt(viaHost)}`);
        console.log(`           (${(text.length / 1024).toFixed(0)} KiB serialized provider in every request; the gRPC transport dominates)`);
    } finally {
        await lab.stop();
    }
}

main().catch((e) => {
    console.error(`bench-powerdns failed: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
});
