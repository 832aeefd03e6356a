/**
 * Which service must answer behind each of a customer's names, and how to tell it is that
 * one: the endpoint each vendor offers for health or login, and what its answer looks like.
 * Pure: the HTTPS probe fetches, these judge.
 */
import { HttpService } from "../../../components/naming";

export interface ServiceProbe {
    /** Shown in messages. */
    title: string;
    /** The path to GET. */
    path: string;
    /** Null when the answer is this service's; else what is wrong, in a few words. */
    judge(status: number, body: string): string | null;
}

function json(body: string): any {
    try {
        return JSON.parse(body);
    } catch {
        return undefined;
    }
}

/** By the key of `CustomerNames` (the MQTT-over-WebSocket name is judged by its upgrade: run.ts). */
export const SERVICES: Record<HttpService, ServiceProbe> = {
    // Grafana: GET /api/health -> {"database": "ok", "version": ...} (no login needed).
    grafana: {
        title: "Grafana",
        path: "/api/health",
        judge: (status, body) => {
            const j = json(body);
            if (status === 200 && j && typeof j.database === "string") return j.database === "ok" ? null : `Grafana's database is ${j.database}`;
            return `not Grafana (GET /api/health: HTTP ${status})`;
        },
    },
    // InfluxDB 2: GET /health -> {"name": "influxdb", "status": "pass", ...}.
    influx: {
        title: "InfluxDB",
        path: "/health",
        judge: (status, body) => {
            const j = json(body);
            if (j?.name === "influxdb") return j.status === "pass" ? null : `InfluxDB reports ${j.status}: ${j.message ?? ""}`.trim();
            return `not InfluxDB (GET /health: HTTP ${status})`;
        },
    },
    // ChirpStack v4: its web UI's page (title "ChirpStack"); the API behind it is gRPC.
    chirpstack: {
        title: "ChirpStack",
        path: "/",
        judge: (status, body) => (status === 200 && /chirpstack/i.test(body) ? null : `not ChirpStack (GET /: HTTP ${status})`),
    },
};
