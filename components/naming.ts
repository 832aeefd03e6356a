/** DNS naming rules shared by validation, placement and the components. Pure. */

/** DNS allows 63 characters per label; `-chirpstack` (11) must still fit after a customer label. */
export const MAX_LABEL_LENGTH = 63 - "-chirpstack".length; // 52


/** "Blue Widget Co" -> "blue-widget-co": lower case, one dash for each run of whitespace. */
export function customerLabel(displayName: string): string {
    return displayName.trim().toLowerCase().replace(/\s+/g, "-");
}

/** The three public names of a customer, without trailing dot. */
export interface CustomerNames {
    /** Grafana: `<label>.<domain>` */
    grafana: string;
    /** InfluxDB 2: `<label>-influx.<domain>` */
    influx: string;
    /** ChirpStack: `<label>-chirpstack.<domain>` */
    chirpstack: string;
}

export function customerNames(label: string, domain: string): CustomerNames {
    return {
        grafana: `${label}.${domain}`,
        influx: `${label}-influx.${domain}`,
        chirpstack: `${label}-chirpstack.${domain}`,
    };
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
