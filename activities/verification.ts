// Owns the reads behind the runbook's Post-Rollback Verification and the watch's alert thresholds: the Cortex
// memory API round trip, a container's memory and recent error lines, the service's own check commands, and one
// watch sample (health + /metrics in one call). Every check returns its figure; a failed check is data, never an
// error (only a Docker engine that cannot be reached is).
import type Dockerode from 'dockerode';
import { execaRunner, type CommandRunner } from './command.ts';
import { FailureType } from '../common/failures.ts';
import { dockerFailure, retryable } from './failures.ts';
import { sleep, withHeartbeat } from './heartbeat.ts';
import { probe, type HealthSample } from './health.ts';

/** The counters and gauges of the service's /metrics the watch reads (absent when the service does not export). */
export interface ServiceMetrics {
  requests?: number;
  errors?: number;
  durationSecondsSum?: number;
  durationCount?: number;
  dbUp?: number;
  dbErrors?: number;
  residentBytes?: number;
}

export interface ServiceSample extends HealthSample {
  metrics?: ServiceMetrics;
  metricsError?: string;
}

export interface MemoryApiCheck {
  ok: boolean;
  storeStatus?: number;
  findStatus?: number;
  found: number;
  latencyMs: number;
  error?: string;
}

export interface CheckCommandResult {
  name: string;
  ok: boolean;
  exitCode?: number;
  timedOut: boolean;
  durationMs: number;
  /** stdout + stderr, the last OUTPUT_CAP characters. */
  output: string;
}

const OUTPUT_CAP = 4000;
const ERROR_LINE = /\b(error|fatal|panic|exception)\b/i;

/** Sums each metric over its label sets (Prometheus text format 0.0.4); comments and malformed lines skipped. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(l);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + v);
  }
  return out;
}

export function serviceMetrics(text: string): ServiceMetrics {
  const p = parsePrometheus(text);
  const pick = (...names: string[]) => names.map((n) => p.get(n)).find((v) => v !== undefined);
  const m: ServiceMetrics = {};
  const set = (k: keyof ServiceMetrics, v: number | undefined) => {
    if (v !== undefined) m[k] = v;
  };
  set('requests', pick('cortex_http_requests_total', 'http_requests_total'));
  set('errors', pick('cortex_http_request_errors_total', 'http_request_errors_total'));
  set('durationSecondsSum', pick('cortex_http_request_duration_seconds_sum', 'http_request_duration_seconds_sum'));
  set('durationCount', pick('cortex_http_request_duration_seconds_count', 'http_request_duration_seconds_count'));
  set('dbUp', pick('cortex_db_connection_up'));
  set('dbErrors', pick('cortex_db_connection_errors_total'));
  set('residentBytes', pick('process_resident_memory_bytes'));
  return m;
}

/** Docker's multiplexed log stream (a non-TTY container) → text; a TTY container's stream is already text. */
export function demuxDockerLog(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2) && buf[i + 1] === 0) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return i === 0 ? buf.toString('utf8') : Buffer.concat(parts).toString('utf8');
}

export function createVerificationActivities(deps: { docker: Dockerode; run?: CommandRunner }) {
  const run = deps.run ?? execaRunner;
  const container = async (name: string) => {
    try {
      const c = deps.docker.getContainer(name);
      await c.inspect();
      return c;
    } catch (err) {
      throw dockerFailure(err, `container '${name}'`);
    }
  };

  return {
    /** One watch sample: /health and, when given, /metrics, in one call (one marker event in the history). */
    async sampleService({ url, metricsUrl }: { url: string; metricsUrl?: string }): Promise<ServiceSample> {
      const [health, metrics] = await Promise.all([
        probe(url),
        metricsUrl
          ? fetch(metricsUrl, { signal: AbortSignal.timeout(5000) })
              .then(async (r) =>
                r.ok ? { metrics: serviceMetrics(await r.text()) } : { metricsError: `HTTP ${r.status}` },
              )
              .catch((err: { cause?: { code?: string }; message?: string }) => ({
                metricsError: err.cause?.code ?? err.message ?? 'unreachable',
              }))
          : Promise.resolve({}),
      ]);
      return { ...health, ...metrics };
    },

    /** Stores a uniquely worded memory and finds it again: POST /api/v1/memory/store then /find. */
    async checkMemoryApi({ baseUrl, marker }: { baseUrl: string; marker: string }): Promise<MemoryApiCheck> {
      const started = Date.now();
      const post = (path: string, body: unknown) =>
        fetch(new URL(path, baseUrl), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(5000),
        });
      try {
        const store = await post('/api/v1/memory/store', {
          content: `post-rollback verification ${marker}`,
          metadata: { source: 'cortex-rollback' },
        });
        if (!store.ok) {
          return { ok: false, storeStatus: store.status, found: 0, latencyMs: Date.now() - started };
        }
        const find = await post('/api/v1/memory/find', { query: marker, limit: 5 });
        const body = (await find.json().catch(() => ({}))) as { items?: Array<{ content?: string }> };
        const found = (body.items ?? []).filter((i) => i.content?.includes(marker)).length;
        return {
          ok: find.ok && found > 0,
          storeStatus: store.status,
          findStatus: find.status,
          found,
          latencyMs: Date.now() - started,
        };
      } catch (err) {
        const e = err as { cause?: { code?: string }; message?: string };
        return { ok: false, found: 0, latencyMs: Date.now() - started, error: e.cause?.code ?? e.message };
      }
    },

    /**
     * The container's memory use now (docker stats, page cache excluded), in MB. A sample without a memory figure
     * (none, or 0: a container just started or not running) is never read as 0 MB — that would pass any limit: it
     * is asked again, then reported as a retryable failure.
     */
    async containerMemory({ container: name }: { container: string }): Promise<{ usedMb: number }> {
      const c = await container(name);
      for (let attempt = 1; ; attempt++) {
        const s = (await c.stats({ stream: false })) as {
          memory_stats?: { usage?: number; stats?: { inactive_file?: number; cache?: number } };
        };
        const usage = s.memory_stats?.usage ?? 0;
        if (usage > 0) {
          const cache = s.memory_stats?.stats?.inactive_file ?? s.memory_stats?.stats?.cache ?? 0;
          const used = usage > cache ? usage - cache : usage;
          return { usedMb: Math.round((used / 1024 / 1024) * 10) / 10 };
        }
        if (attempt === 5) {
          throw retryable(FailureType.Unavailable, `docker stats gave no memory figure for '${name}' (is it running?)`);
        }
        await sleep(500);
      }
    },

    /** Error lines the container logged in the last `sinceSeconds` (docker logs --since). */
    async containerLogErrors({
      container: name,
      sinceSeconds,
    }: {
      container: string;
      sinceSeconds: number;
    }): Promise<{ lines: number; errors: string[] }> {
      const c = await container(name);
      const since = Math.floor(Date.now() / 1000) - sinceSeconds;
      let buf: Buffer;
      try {
        buf = await c.logs({ stdout: true, stderr: true, since, follow: false });
      } catch (err) {
        throw dockerFailure(err, `logs of '${name}'`);
      }
      const lines = demuxDockerLog(Buffer.from(buf))
        .split('\n')
        .filter((l) => l.trim() !== '');
      return { lines: lines.length, errors: lines.filter((l) => ERROR_LINE.test(l)).slice(0, 20) };
    },

    /** One of the service's own checks (e.g. `npm run prod:health`), killed after `timeoutSeconds`. */
    async runCheckCommand(a: {
      name: string;
      command: string[];
      cwd?: string;
      timeoutSeconds: number;
    }): Promise<CheckCommandResult> {
      const started = Date.now();
      // heartbeats while it runs: a worker lost mid-command is noticed in seconds, not at the start-to-close timeout
      const r = await withHeartbeat(() =>
        run(a.command[0]!, a.command.slice(1), {
          timeout: a.timeoutSeconds * 1000,
          ...(a.cwd ? { cwd: a.cwd } : {}),
        }),
      );
      const output = `${r.stdout}${r.stderr ? `\n${r.stderr}` : ''}${r.errorCode ? `\n(${r.errorCode})` : ''}`;
      return {
        name: a.name,
        ok: !r.failed && r.exitCode === 0,
        ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
        timedOut: r.timedOut === true,
        durationMs: Date.now() - started,
        output: output.length > OUTPUT_CAP ? `…${output.slice(-OUTPUT_CAP)}` : output,
      };
    },
  };
}
