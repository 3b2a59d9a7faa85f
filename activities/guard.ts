// Owns one sample of a watched service for rollbackGuard: its /health (as the watch probes it) and its /metrics
// (Prometheus text) reduced to the counters the runbook's triggers need. A failed scrape is data, never an error.
// Metric names (what a guarded service must expose; the demo image does):
//   cortex_http_requests_total, cortex_http_request_errors_total       counters → error rate per interval
//   cortex_http_request_duration_seconds_sum / _count                   counters → mean response time per interval
//   cortex_db_connection_up (gauge 1|0), cortex_db_connection_errors_total (counter) → database connection failures
import { probe, type HealthSample } from './health.ts';

export const GUARD_METRICS = {
  requests: 'cortex_http_requests_total',
  errors: 'cortex_http_request_errors_total',
  durationSum: 'cortex_http_request_duration_seconds_sum',
  durationCount: 'cortex_http_request_duration_seconds_count',
  dbUp: 'cortex_db_connection_up',
  dbErrors: 'cortex_db_connection_errors_total',
} as const;

export type GuardCounters = Partial<Record<keyof typeof GUARD_METRICS, number>>;

export interface GuardSample {
  at: string;
  health: HealthSample;
  /** The metrics found (a missing one is absent); undefined when /metrics could not be read. */
  metrics?: GuardCounters;
  metricsError?: string;
}

/** Unlabelled samples (and the sum over label sets) of the named metrics in Prometheus text format. */
export function parseMetrics(text: string): GuardCounters {
  const byName = new Map<string, keyof typeof GUARD_METRICS>(
    Object.entries(GUARD_METRICS).map(([k, v]) => [v, k as keyof typeof GUARD_METRICS]),
  );
  const out: GuardCounters = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    const key = m ? byName.get(m[1]!) : undefined;
    if (!m || !key) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) out[key] = (out[key] ?? 0) + v;
  }
  return out;
}

export function createGuardActivities() {
  return {
    async sampleGuardedService({
      healthUrl,
      metricsUrl,
      timeoutMs = 5000,
    }: {
      healthUrl: string;
      metricsUrl: string;
      timeoutMs?: number;
    }): Promise<GuardSample> {
      const at = new Date().toISOString();
      const [health, metrics] = await Promise.all([
        probe(healthUrl, timeoutMs),
        fetch(metricsUrl, { signal: AbortSignal.timeout(timeoutMs) }).then(
          async (r) => (r.ok ? { metrics: parseMetrics(await r.text()) } : { metricsError: `HTTP ${r.status}` }),
          (err: unknown) => {
            const e = err as { cause?: { code?: string }; message?: string };
            return { metricsError: e.cause?.code ?? e.message ?? String(err) };
          },
        ),
      ]);
      return { at, health, ...metrics };
    },
  };
}
