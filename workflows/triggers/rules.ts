// Owns the runbook's automatic triggers ("Rollback Triggers → Automatic Triggers") as pure, deterministic rules
// over a stream of service samples. Invariants:
//  - health: fires on the sample that makes MORE than `healthFailures` consecutive failed health checks;
//  - error rate / response time: a rate is taken between two consecutive scrapes (counter deltas, as Prometheus'
//    rate()); "above X sustained for W" fires on the ceil(W / interval)-th consecutive sample whose interval rate
//    is strictly above X, i.e. once the above-threshold samples cover W. A sample without a rate (first scrape,
//    metrics unreadable, a counter reset, no requests) breaks the window;
//  - database: fires at once, on the first sample whose db gauge is 0 or whose db error counter grew;
//  - after a trigger every window starts again from zero (the next trigger needs fresh evidence).
import type { GuardCounters, GuardSample } from '../../activities/index.ts';

export interface GuardRules {
  intervalSeconds: number;
  healthFailures: number;
  errorRatePercent: number;
  errorWindowSeconds: number;
  latencyMs: number;
  latencyWindowSeconds: number;
  dbFailures: boolean;
}

export const RUNBOOK_RULES: GuardRules = {
  intervalSeconds: 30,
  healthFailures: 3,
  errorRatePercent: 5,
  errorWindowSeconds: 300,
  latencyMs: 2000,
  latencyWindowSeconds: 600,
  dbFailures: true,
};

/** One sample as evidence: what the rules looked at. */
export interface Point {
  at: string;
  healthy: boolean;
  httpStatus?: number;
  healthError?: string;
  errorRatePercent?: number;
  latencyMs?: number;
  dbUp?: boolean;
  metricsError?: string;
}

export type TriggerKind = 'database-connection' | 'health-check-failures' | 'error-rate' | 'response-time';

export interface Trigger {
  kind: TriggerKind;
  /** The runbook's rule with this guard's numbers. */
  rule: string;
  at: string;
  /** The samples that satisfy the rule, oldest first. */
  evidence: Point[];
}

export interface Windows {
  consecutiveHealthFailures: number;
  errorAbove: number;
  latencyAbove: number;
  /** The previous scrape's counters (for deltas). */
  last?: GuardCounters;
  /** The newest samples, oldest first (as many as the longest rule needs). */
  recent: Point[];
}

export const emptyWindows = (last?: GuardCounters): Windows => ({
  consecutiveHealthFailures: 0,
  errorAbove: 0,
  latencyAbove: 0,
  ...(last ? { last } : {}),
  recent: [],
});

/** Samples needed to cover a window. */
export const samplesFor = (windowSeconds: number, intervalSeconds: number): number =>
  Math.max(1, Math.ceil(windowSeconds / intervalSeconds));

/** Folds one sample into the windows (mutated) and returns the triggers it fires, most urgent first. */
export function observe(w: Windows, s: GuardSample, r: GuardRules): { point: Point; triggers: Trigger[] } {
  const m = s.metrics;
  const prev = w.last;
  const delta = (k: keyof GuardCounters): number | undefined => {
    const a = prev?.[k];
    const b = m?.[k];
    return a === undefined || b === undefined || b < a ? undefined : b - a;
  };
  const dReq = delta('requests');
  const dErr = delta('errors');
  const dSum = delta('durationSum');
  const dCount = delta('durationCount');
  const errorRatePercent = dReq && dErr !== undefined ? round((dErr / dReq) * 100) : undefined;
  const latencyMs = dCount && dSum !== undefined ? round((dSum / dCount) * 1000) : undefined;
  const dbErrorsGrew = (delta('dbErrors') ?? 0) > 0;
  const dbUp = m?.dbUp === undefined ? (dbErrorsGrew ? false : undefined) : m.dbUp !== 0 && !dbErrorsGrew;
  const point: Point = {
    at: s.at,
    healthy: s.health.ok,
    ...(s.health.httpStatus !== undefined ? { httpStatus: s.health.httpStatus } : {}),
    ...(s.health.error ? { healthError: s.health.error } : {}),
    ...(errorRatePercent !== undefined ? { errorRatePercent } : {}),
    ...(latencyMs !== undefined ? { latencyMs } : {}),
    ...(dbUp !== undefined ? { dbUp } : {}),
    ...(s.metricsError ? { metricsError: s.metricsError } : {}),
  };
  if (m) w.last = m;
  w.recent.push(point);
  const keep = Math.max(
    r.healthFailures + 1,
    samplesFor(r.errorWindowSeconds, r.intervalSeconds),
    samplesFor(r.latencyWindowSeconds, r.intervalSeconds),
  );
  while (w.recent.length > keep) w.recent.shift();
  w.consecutiveHealthFailures = point.healthy ? 0 : w.consecutiveHealthFailures + 1;
  w.errorAbove = errorRatePercent !== undefined && errorRatePercent > r.errorRatePercent ? w.errorAbove + 1 : 0;
  w.latencyAbove = latencyMs !== undefined && latencyMs > r.latencyMs ? w.latencyAbove + 1 : 0;

  const last = (n: number) => w.recent.slice(-n);
  const triggers: Trigger[] = [];
  const fire = (kind: TriggerKind, rule: string, n: number) =>
    triggers.push({ kind, rule, at: s.at, evidence: last(n) });
  if (r.dbFailures && dbUp === false) fire('database-connection', 'database connection failure', 1);
  if (w.consecutiveHealthFailures > r.healthFailures)
    fire(
      'health-check-failures',
      `more than ${r.healthFailures} consecutive health check failures`,
      w.consecutiveHealthFailures,
    );
  const errNeeded = samplesFor(r.errorWindowSeconds, r.intervalSeconds);
  if (w.errorAbove >= errNeeded)
    fire('error-rate', `error rate above ${r.errorRatePercent}% sustained for ${r.errorWindowSeconds}s`, errNeeded);
  const latNeeded = samplesFor(r.latencyWindowSeconds, r.intervalSeconds);
  if (w.latencyAbove >= latNeeded)
    fire('response-time', `response time above ${r.latencyMs} ms sustained for ${r.latencyWindowSeconds}s`, latNeeded);
  if (triggers.length > 0) Object.assign(w, emptyWindows(w.last));
  return { point, triggers };
}

const round = (x: number) => Math.round(x * 100) / 100;
