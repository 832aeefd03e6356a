/**
 * Every name the program declares in the zone, with its owner, checked against every other
 * and against the names the zone reserves, before anything is registered: PowerDNS holds one
 * rrset per name and type, and a CNAME cannot share its name with anything, so two owners of
 * one name would fail `pulumi up` halfway (or silently take each other's records). Pure.
 */
import { absolute, hostFqdn, NAME_SUFFIXES } from "./naming";
import { Problem } from "./problems";

/** One name the stack would declare, and who declares it. */
export interface NameClaim {
    /** Absolute, lower case. */
    name: string;
    /** Who declares it, for messages: `the Grafana name of customer "Acme"`. */
    owner: string;
    /** Where the owner is defined: a file and JSON path. */
    file: string;
    path: string;
    /** What to change to resolve a clash on this claim. */
    fix: string;
}

export interface ZoneNamesInput {
    domain: string;
    zone: string;
    /** Names the zone keeps for itself (NS, mail, www...): labels under the domain or absolute names. */
    reserved: string[];
    hosts: { name: string }[];
    /** `labelSource: "label"`: the label is explicit, so a clash is fixed in `/label`, not in the name. */
    customers: { name: string; label: string; labelSource?: "label" | "lock" | "name" }[];
    stackFile: string;
    customersFile: string;
}

/**
 * Every name of NAME_SUFFIXES, the MQTT-over-WebSocket one too whether or not the customer
 * has `mqttWebsocket` on: the name is the customer's either way, so the option can be turned
 * on later without a clash ("Acme Mqtt" beside "Acme" is refused from the start).
 */
const SERVICE_NAMES: Record<keyof typeof NAME_SUFFIXES, string> = {
    grafana: "Grafana", influx: "InfluxDB", chirpstack: "ChirpStack", mqtt: "MQTT-over-WebSocket",
};

/** Every name the program would declare. */
export function nameClaims(z: ZoneNamesInput): NameClaim[] {
    const claims: NameClaim[] = z.hosts.map((h, i) => ({
        name: absolute(hostFqdn(h.name, z.domain)), owner: `the A record of host "${h.name}"`,
        file: z.stackFile, path: `/hosts/${i}/name`, fix: `rename host "${h.name}"`,
    }));
    z.customers.forEach((c, i) => {
        const explicit = c.labelSource === "label";
        for (const [key, suffix] of Object.entries(NAME_SUFFIXES) as [keyof typeof NAME_SUFFIXES, string][]) {
            const service = SERVICE_NAMES[key];
            claims.push({
                name: absolute(`${c.label}${suffix}.${z.domain}`), owner: `the ${service} name of customer ${JSON.stringify(c.name)}`,
                file: z.customersFile, path: `/customers/${i}/${explicit ? "label" : "name"}`,
                // A label the lock fixed does not follow the name any more: only a "label" changes it.
                fix: c.labelSource === undefined || c.labelSource === "name" ? `give customer ${JSON.stringify(c.name)} another name`
                    : `give customer ${JSON.stringify(c.name)} another "label"`,
            });
        }
    });
    return claims;
}

/** A reserved entry as an absolute name: a bare label is taken as under the domain. */
export function reservedName(entry: string, domain: string): string {
    const e = entry.trim().toLowerCase();
    if (e.endsWith(".")) return e;
    return e.includes(".") ? `${e}.` : absolute(`${e}.${domain}`);
}

/** One problem per name declared twice, or declared where the zone reserves it. */
export function zoneNameProblems(z: ZoneNamesInput): Problem[] {
    const problems: Problem[] = [];
    const reserved = new Map<string, string>([[absolute(z.zone), "the zone's apex (SOA and NS records)"]]);
    if (absolute(z.domain) !== absolute(z.zone)) reserved.set(absolute(z.domain), "the hosting domain itself");
    for (const r of z.reserved) reserved.set(reservedName(r, z.domain), `reserved in the zone (powerdns.reservedNames in ${z.stackFile})`);

    const first = new Map<string, NameClaim>();
    for (const claim of nameClaims(z)) {
        const why = reserved.get(claim.name);
        if (why !== undefined) {
            problems.push({ file: claim.file, path: claim.path, message: `${claim.owner}, ${claim.name}, is ${why}; ${claim.fix}` });
            continue;
        }
        const earlier = first.get(claim.name);
        if (earlier) {
            problems.push({
                file: claim.file, path: claim.path,
                message: `${claim.name} would be declared twice: as ${earlier.owner} (${earlier.file} ${earlier.path}) and as ${claim.owner}; ${claim.fix} (or ${earlier.fix})`,
            });
            continue;
        }
        first.set(claim.name, claim);
    }
    return problems;
}
