/** DNS naming rules shared by validation, placement and the components. Pure. */

/** DNS allows 63 characters per label; `-chirpstack` (11) must still fit after a customer label. */
export const MAX_LABEL_LENGTH = 63 - "-chirpstack".length; // 52


/** "Blue Widget Co" -> "blue-widget-co": lower case, one dash for each run of whitespace. */
export function customerLabel(displayName: string): string {
    return displayName.trim().toLowerCase().replace(/\s+/g, "-");
}

/**
 * The one home of a customer's names: `<label><suffix>.<domain>` for each. `mqtt` (MQTT over
 * WebSockets on 443) is declared only for customers with `mqttWebsocket`, but every customer
 * owns it in the zone (zone-names.ts), so turning the option on never clashes. The playbooks
 * hold the same suffixes (ansible/vars/osm.yml, pinned to these by test/unit/contract.test.ts).
 */
export const NAME_SUFFIXES = { grafana: "", influx: "-influx", chirpstack: "-chirpstack", mqtt: "-mqtt" } as const;

/** The names served by the customer's own HTTP services (the fourth is Mosquitto's websockets). */
export type HttpService = "grafana" | "influx" | "chirpstack";
export const HTTP_SERVICES: readonly HttpService[] = ["grafana", "influx", "chirpstack"];

/** The public names of a customer, without trailing dot. */
export interface CustomerNames {
    /** Grafana: `<label>.<domain>` */
    grafana: string;
    /** InfluxDB 2: `<label>-influx.<domain>` */
    influx: string;
    /** ChirpStack: `<label>-chirpstack.<domain>` */
    chirpstack: string;
    /** MQTT over WebSockets (NGINX on 443 -> Mosquitto's websockets listener): `<label>-mqtt.<domain>`, with `mqttWebsocket` only. */
    mqtt?: string;
}

/** The names a customer declares: the three HTTP ones, and `mqtt` when `mqttWebsocket` is on. */
export function customerNames(label: string, domain: string, mqttWebsocket = false): CustomerNames {
    const name = (key: keyof typeof NAME_SUFFIXES) => `${label}${NAME_SUFFIXES[key]}.${domain}`;
    return {
        grafana: name("grafana"), influx: name("influx"), chirpstack: name("chirpstack"),
        ...(mqttWebsocket ? { mqtt: name("mqtt") } : {}),
    };
}

/** Every declared name of a customer, in the order of NAME_SUFFIXES. */
export function namesOf(names: CustomerNames): string[] {
    return (Object.keys(NAME_SUFFIXES) as (keyof CustomerNames)[]).map((k) => names[k]).filter((n): n is string => n !== undefined);
}

/** `<name>-svr`: a customer's LXC container on a host the old orchestrator built (the name as it stored it). */
export function upstreamContainerName(name: string): string {
    return `${name}-svr`;
}

/** A host's public name: `<host>.<domain>`. */
export function hostFqdn(host: string, domain: string): string {
    return `${host}.${domain}`;
}

/** Absolute DNS name as PowerDNS wants it: lower case with a trailing dot. */
export function absolute(name: string): string {
    const lower = name.toLowerCase();
    return lower.endsWith(".") ? lower : `${lower}.`;
}

/** HTTP and HTTPS, which every host's NGINX serves; with the host's SSH port, never a customer's MQTT port. */
export const WEB_PORTS: readonly number[] = [80, 443];
