// Owns the post-rollback watch: health samples on durable timers (a worker restart resumes the watch where the
// history left it), and the breach rule: more than `failureThreshold` consecutive failed samples (the runbook's
// "Health check failures (> 3 consecutive)") ends the watch as breached. When samples carry the service's /metrics,
// the runbook's Post-Rollback Alert Thresholds are applied between consecutive samples (counters as deltas); an
// alert is recorded each time a rule starts firing (not once per sample) and sent through `raise` only the first time
// per rule (at most four sends, one marker event each: a 30-minute watch at 30 s stays within 408 history events
// however the rules flap); an alert never ends the watch by itself. `watchAfterChange` is the scenarios' watch
// phase around it: the change stays on a cancel or a breach, and a breach fails the run with the result so far.
// Deterministic.
import { isCancellation, sleep } from '@temporalio/workflow';
import type { HealthSample, ServiceMetrics, ServiceSample } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { fail } from './failures.ts';
import type { Progress } from './progress.ts';

export interface MonitorSettings {
  durationSeconds: number;
  intervalSeconds: number;
  failureThreshold: number;
}

export interface MonitorSummary extends MonitorSettings {
  startedAt: string;
  endedAt: string;
  samples: number;
  failures: number;
  maxConsecutiveFailures: number;
  breached: boolean;
  breachAt?: string;
  /** The newest samples (at most 20) and every failed one (at most 50). */
  recent: HealthSample[];
  failed: HealthSample[];
  /** Alerts raised by the thresholds (at most 50), present when the watch read /metrics. */
  alerts?: WatchAlert[];
}

export type AlertRule = 'error-rate' | 'response-time' | 'memory' | 'database-connection';

export interface WatchAlert {
  at: string;
  rule: AlertRule;
  figure: string;
  limit: string;
}

/** The runbook's Post-Rollback Alert Thresholds. */
export interface AlertThresholds {
  errorRatePercent: number;
  responseTimeMs: number;
  memoryMb: number;
}
export const RUNBOOK_ALERT_THRESHOLDS: AlertThresholds = { errorRatePercent: 1, responseTimeMs: 500, memoryMb: 4096 };

/** The rules firing at `now`, given the previous sample's metrics (counters compared as deltas). */
export function breachedThresholds(
  t: AlertThresholds,
  now: ServiceSample,
  prev: ServiceMetrics | undefined,
): Array<Omit<WatchAlert, 'at'>> {
  const out: Array<Omit<WatchAlert, 'at'>> = [];
  const m = now.metrics;
  const delta = (k: keyof ServiceMetrics) =>
    m?.[k] !== undefined && prev?.[k] !== undefined ? m[k] - prev[k] : undefined;
  const requests = delta('requests');
  const errors = delta('errors');
  if (requests !== undefined && errors !== undefined && requests > 0) {
    const pct = (errors / requests) * 100;
    if (pct > t.errorRatePercent)
      out.push({
        rule: 'error-rate',
        figure: `${round(pct)}% (${errors}/${requests})`,
        limit: `> ${t.errorRatePercent}%`,
      });
  }
  const count = delta('durationCount');
  const sum = delta('durationSecondsSum');
  const ms =
    count !== undefined && sum !== undefined && count > 0 ? (sum / count) * 1000 : now.ok ? now.latencyMs : undefined;
  if (ms !== undefined && ms > t.responseTimeMs)
    out.push({ rule: 'response-time', figure: `${round(ms)} ms`, limit: `> ${t.responseTimeMs} ms` });
  if (m?.residentBytes !== undefined && m.residentBytes / 1048576 > t.memoryMb)
    out.push({ rule: 'memory', figure: `${round(m.residentBytes / 1048576)} MB`, limit: `> ${t.memoryMb} MB` });
  const dbErrors = delta('dbErrors');
  if (m?.dbUp === 0 || (dbErrors !== undefined && dbErrors > 0))
    out.push({
      rule: 'database-connection',
      figure: `${m?.dbUp === 0 ? 'database down' : 'database up'}${dbErrors ? `, ${dbErrors} connection error(s)` : ''}`,
      limit: '> 0 errors',
    });
  return out;
}

const round = (n: number) => Math.round(n * 100) / 100;

export interface WatchAlerting {
  thresholds: AlertThresholds;
  /** Called the first time each rule fires (e.g. a notification); its failure is the caller's to absorb. */
  raise?: (alert: WatchAlert) => Promise<void>;
}

export interface MonitorLive {
  samples: number;
  failures: number;
  consecutiveFailures: number;
  endsAt: string;
  alerts?: number;
}

export async function watchHealth(
  settings: MonitorSettings,
  sample: () => Promise<HealthSample | ServiceSample>,
  live: (state: MonitorLive) => void,
  alerting?: WatchAlerting,
): Promise<MonitorSummary> {
  const startedAt = new Date().toISOString();
  const endsAt = new Date(Date.now() + settings.durationSeconds * 1000).toISOString();
  const summary: MonitorSummary = {
    ...settings,
    startedAt,
    endedAt: startedAt,
    samples: 0,
    failures: 0,
    maxConsecutiveFailures: 0,
    breached: false,
    recent: [],
    failed: [],
  };
  const rounds = Math.floor(settings.durationSeconds / settings.intervalSeconds);
  let consecutive = 0;
  let prevMetrics: ServiceMetrics | undefined;
  const firing = new Set<AlertRule>();
  const raised = new Set<AlertRule>();
  const alerts: WatchAlert[] = [];
  if (alerting) summary.alerts = alerts;
  const counts = () => (alerting ? { alerts: alerts.length } : {});
  live({ samples: 0, failures: 0, consecutiveFailures: 0, endsAt, ...counts() });
  for (let i = 0; i < rounds; i++) {
    await sleep(settings.intervalSeconds * 1000, { summary: `watch: sample ${i + 1} of ${rounds} (until ${endsAt})` });
    let s: HealthSample | ServiceSample;
    try {
      s = await sample();
    } catch (err) {
      s = {
        at: new Date().toISOString(),
        ok: false,
        latencyMs: 0,
        error: err instanceof Error ? err.message : String(err),
      };
    }
    summary.samples += 1;
    summary.recent.push(s);
    if (summary.recent.length > 20) summary.recent.shift();
    if (s.ok) {
      consecutive = 0;
    } else {
      consecutive += 1;
      summary.failures += 1;
      if (summary.failed.length < 50) summary.failed.push(s);
      summary.maxConsecutiveFailures = Math.max(summary.maxConsecutiveFailures, consecutive);
    }
    if (alerting) {
      const m = (s as ServiceSample).metrics;
      const now = breachedThresholds(alerting.thresholds, s, prevMetrics);
      if (m) prevMetrics = m;
      for (const rule of [...firing]) if (!now.some((a) => a.rule === rule)) firing.delete(rule);
      for (const a of now) {
        if (firing.has(a.rule)) continue;
        firing.add(a.rule);
        const alert = { at: s.at, ...a };
        if (alerts.length < 50) alerts.push(alert);
        if (alerting.raise && !raised.has(a.rule)) {
          raised.add(a.rule);
          await alerting.raise(alert);
        }
      }
    }
    live({
      samples: summary.samples,
      failures: summary.failures,
      consecutiveFailures: consecutive,
      endsAt,
      ...counts(),
    });
    if (consecutive > settings.failureThreshold) {
      summary.breached = true;
      summary.breachAt = s.at;
      break;
    }
  }
  summary.endedAt = new Date().toISOString();
  return summary;
}

export interface AfterChangeWatch {
  /** Made once the phase is 'monitoring', so a patched() call in it keeps its place among the commands. */
  sampler: () => { sample: () => Promise<HealthSample | ServiceSample>; alerting?: WatchAlerting | undefined };
  /** The status error when the watch is cancelled: what keeps running, what is kept for going back. */
  cancelled: () => string;
  /** The status error when the watch breached, and the MonitoringBreach failure's details (the result so far). */
  breached: (m: MonitorSummary) => string;
  result: (m: MonitorSummary) => unknown;
}

/** The 'monitor' step after a verified change; undefined when the watch is off (a duration of 0). */
export async function watchAfterChange(
  progress: Progress,
  settings: MonitorSettings,
  watch: AfterChangeWatch,
): Promise<MonitorSummary | undefined> {
  if (!(settings.durationSeconds > 0)) return undefined;
  progress.setPhase('monitoring');
  const { sample, alerting } = watch.sampler();
  let monitoring: MonitorSummary;
  try {
    monitoring = await progress.step(
      'monitor',
      () =>
        watchHealth(
          settings,
          sample,
          (live) => {
            progress.status.monitoring = live;
          },
          alerting,
        ),
      (m) =>
        `${m.samples} samples, ${m.failures} failed${m.alerts ? `, ${m.alerts.length} alert(s)` : ''}` +
        `${m.breached ? ', BREACHED' : ''}`,
    );
  } catch (err) {
    if (isCancellation(err)) {
      progress.setPhase('watch-cancelled');
      progress.status.error = watch.cancelled();
    }
    throw err;
  }
  if (monitoring.breached) {
    progress.setPhase('monitoring-breached');
    const message = watch.breached(monitoring);
    progress.status.error = message;
    throw fail(FailureType.MonitoringBreach, message, watch.result(monitoring));
  }
  return monitoring;
}
