// Owns HTTP health checks of the rolled-back service: one probe (a failed probe is data, never an error) and a
// heartbeating wait-until-healthy with a bound. "Healthy" = 2xx and, when the body is JSON with a `status`
// field, a status of healthy/ok/pass/up (the runbook's `jq -e '.status == "healthy"'`).
import { sleep, withHeartbeat } from './heartbeat.ts';

export interface HealthSample {
  at: string;
  ok: boolean;
  httpStatus?: number;
  status?: string;
  version?: string;
  latencyMs: number;
  error?: string;
}

export interface HealthWait {
  healthy: boolean;
  attempts: number;
  elapsedMs: number;
  last: HealthSample;
}

const FAST_POLL_MS = 20;
const FAST_POLL_FOR_MS = 1000;
const HEALTHY_WORDS = new Set(['healthy', 'ok', 'pass', 'up']);

/** The verdict on one /health answer (shared with probes made by other means, e.g. curl inside a namespace). */
export function judgeHealth(
  httpStatus: number,
  text: string,
): Pick<HealthSample, 'ok' | 'httpStatus' | 'status' | 'version'> {
  let status: string | undefined;
  let version: string | undefined;
  try {
    const body = JSON.parse(text) as { status?: unknown; version?: unknown };
    if (typeof body.status === 'string') status = body.status;
    if (typeof body.version === 'string') version = body.version;
  } catch {
    // not JSON: the HTTP status alone decides
  }
  const ok = httpStatus >= 200 && httpStatus < 300 && (status === undefined || HEALTHY_WORDS.has(status.toLowerCase()));
  return { ok, httpStatus, ...(status ? { status } : {}), ...(version ? { version } : {}) };
}

export async function probe(url: string, timeoutMs = 5000): Promise<HealthSample> {
  const started = Date.now();
  const at = new Date(started).toISOString();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    return { at, ...judgeHealth(res.status, await res.text()), latencyMs: Date.now() - started };
  } catch (err) {
    const e = err as { cause?: { code?: string }; message?: string; name?: string };
    const error = e.cause?.code ?? (e.name === 'TimeoutError' ? `timeout after ${timeoutMs} ms` : e.message);
    return { at, ok: false, latencyMs: Date.now() - started, error: error ?? String(err) };
  }
}

export function createHealthActivities() {
  return {
    /** One health sample (used by the post-rollback watch). */
    async probeHealth({ url, timeoutMs }: { url: string; timeoutMs?: number }): Promise<HealthSample> {
      return probe(url, timeoutMs);
    },

    /**
     * Polls until healthy or `timeoutSeconds` pass; heartbeats each poll. Never throws for an unhealthy service.
     * Polls fast for the first second (a service that comes up in 50 ms should not wait a whole interval, and not
     * every poll of lag is added to the rollback; a refused connection costs nothing) then backs off to
     * `maxIntervalMs`. With `stableForSeconds`, healthy means every probe answered healthy for that long after the
     * first healthy one (a start that a restarting dockerd loses answers once, then dies); a failure in that time
     * starts the count again. The wait ends after `timeoutSeconds` + `stableForSeconds` at most.
     */
    async waitHealthy({
      url,
      timeoutSeconds,
      maxIntervalMs = 1000,
      stableForSeconds = 0,
    }: {
      url: string;
      timeoutSeconds: number;
      maxIntervalMs?: number;
      stableForSeconds?: number;
    }): Promise<HealthWait> {
      let intervalMs = FAST_POLL_MS;
      const started = Date.now();
      let attempts = 0;
      let healthySince: number | undefined;
      // Heartbeats run on their own timer: a probe of a slow /health must not look like a dead worker.
      return withHeartbeat(
        async () => {
          for (;;) {
            attempts += 1;
            const last = await probe(url, Math.min(5000, timeoutSeconds * 1000));
            const now = Date.now();
            const elapsedMs = now - started;
            if (last.ok) {
              healthySince ??= now;
              if (now - healthySince >= stableForSeconds * 1000) return { healthy: true, attempts, elapsedMs, last };
            } else {
              healthySince = undefined;
            }
            const pauseMs = healthySince === undefined ? intervalMs : Math.min(intervalMs, 500);
            if (elapsedMs + pauseMs > (timeoutSeconds + stableForSeconds) * 1000)
              return { healthy: false, attempts, elapsedMs, last };
            await sleep(pauseMs);
            if (elapsedMs >= FAST_POLL_FOR_MS) intervalMs = Math.min(maxIntervalMs, Math.round(intervalMs * 1.5));
          }
        },
        500,
        () => ({ attempts }),
      );
    },
  };
}
