// Owns the runbook's Appendix C "Rollback Metrics" computed from Temporal's visibility: every rollback started
// within the window that carries the Rollback* search attributes (runs without them are invisible here), its
// outcome (RollbackOutcome, else the execution status), MTTR and success rate against the runbook's targets.
// Decisions not to roll back (rejected, approval timed out) and runs still open count in totals, not in the rate.
import type { WorkflowExecutionInfo } from '@temporalio/client';
import type { RollbackClient } from './client.ts';

/** The runbook's Appendix C targets. */
export const METRIC_TARGETS = { mttrMinutes: 30, successRatePercent: 95 };

export interface RollbackRun {
  workflowId: string;
  type: string;
  service?: string;
  targetVersion?: string;
  trigger?: string;
  requestedBy?: string;
  outcome: string;
  startTime: string;
  closeTime?: string;
  minutes?: number;
}

export interface RollbackMetrics {
  since: string;
  total: number;
  byType: Record<string, Record<string, number>>;
  succeeded: number;
  failed: number;
  /** Mean minutes from start to close of the succeeded rollbacks. */
  mttrMinutes?: number;
  successRatePercent?: number;
  targets: typeof METRIC_TARGETS;
  mttrMet?: boolean;
  successRateMet?: boolean;
  runs: RollbackRun[];
}

const FAILED = new Set(['failed', 'breached', 'cancelled', 'terminated', 'timed-out']);
const NOT_A_ROLLBACK = new Set(['verification']);

/** '30d' | '12h' | '90m' → milliseconds. */
export function parseSince(s: string): number {
  const m = /^(\d+)([mhd])$/.exec(s.trim());
  if (!m) throw new Error(`--since must look like 30d, 12h or 90m, got '${s}'`);
  return Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
}

function first(info: WorkflowExecutionInfo, key: string): string | undefined {
  const v = info.searchAttributes?.[key];
  return Array.isArray(v) && v.length > 0 ? String(v[0]) : undefined;
}

export function runOf(info: WorkflowExecutionInfo): RollbackRun | undefined {
  const type = first(info, 'RollbackType');
  if (!type || NOT_A_ROLLBACK.has(type)) return undefined;
  const status = info.status.name;
  const outcome =
    first(info, 'RollbackOutcome') ??
    (status === 'RUNNING'
      ? 'running'
      : status === 'COMPLETED'
        ? 'succeeded'
        : status === 'CANCELLED'
          ? 'cancelled'
          : status === 'TERMINATED'
            ? 'terminated'
            : status === 'TIMED_OUT'
              ? 'timed-out'
              : 'failed');
  const service = first(info, 'RollbackService');
  const targetVersion = first(info, 'RollbackTargetVersion');
  const requestedBy = first(info, 'RollbackRequestedBy');
  const trigger = first(info, 'RollbackTrigger');
  const closeTime = info.closeTime?.toISOString();
  return {
    workflowId: info.workflowId,
    type,
    ...(service ? { service } : {}),
    ...(targetVersion ? { targetVersion } : {}),
    ...(trigger ? { trigger } : {}),
    ...(requestedBy ? { requestedBy } : {}),
    outcome,
    startTime: info.startTime.toISOString(),
    ...(closeTime
      ? { closeTime, minutes: Math.round(((info.closeTime!.getTime() - info.startTime.getTime()) / 60000) * 100) / 100 }
      : {}),
  };
}

export function summarize(runs: RollbackRun[], since: string): RollbackMetrics {
  const byType: Record<string, Record<string, number>> = {};
  for (const r of runs) {
    const t = (byType[r.type] ??= { total: 0 });
    t.total! += 1;
    t[r.outcome] = (t[r.outcome] ?? 0) + 1;
  }
  const ok = runs.filter((r) => r.outcome === 'succeeded');
  const failed = runs.filter((r) => FAILED.has(r.outcome)).length;
  const timed = ok.filter((r) => r.minutes !== undefined);
  const mttr = timed.length
    ? Math.round((timed.reduce((s, r) => s + r.minutes!, 0) / timed.length) * 100) / 100
    : undefined;
  const rate = ok.length + failed > 0 ? Math.round((ok.length / (ok.length + failed)) * 10000) / 100 : undefined;
  return {
    since,
    total: runs.length,
    byType,
    succeeded: ok.length,
    failed,
    ...(mttr !== undefined ? { mttrMinutes: mttr, mttrMet: mttr < METRIC_TARGETS.mttrMinutes } : {}),
    ...(rate !== undefined
      ? { successRatePercent: rate, successRateMet: rate > METRIC_TARGETS.successRatePercent }
      : {}),
    targets: METRIC_TARGETS,
    runs,
  };
}

export async function rollbackMetrics(rc: RollbackClient, sinceMs: number, now = Date.now()): Promise<RollbackMetrics> {
  const since = new Date(now - sinceMs).toISOString();
  const runs: RollbackRun[] = [];
  for await (const info of rc.client.workflow.list({ query: `StartTime > "${since}"` })) {
    const r = runOf(info);
    if (r) runs.push(r);
  }
  runs.sort((a, b) => a.startTime.localeCompare(b.startTime));
  return summarize(runs, since);
}

/** How many of the latest runs `renderMetrics` lists one per line (all are in the JSON). */
export const LISTED_RUNS = 20;

export function renderMetrics(m: RollbackMetrics): string {
  const mark = (met: boolean | undefined) => (met === undefined ? 'no data' : met ? 'MET' : 'MISSED');
  const latest = m.runs.slice(-LISTED_RUNS);
  return [
    `Rollback metrics since ${m.since} (${m.total} rollbacks)`,
    `  MTTR:         ${m.mttrMinutes !== undefined ? `${m.mttrMinutes} min` : '-'} (target < ${m.targets.mttrMinutes} min: ${mark(m.mttrMet)})`,
    `  success rate: ${m.successRatePercent !== undefined ? `${m.successRatePercent}%` : '-'} of ${m.succeeded + m.failed} finished (target > ${m.targets.successRatePercent}%: ${mark(m.successRateMet)})`,
    '  by type:',
    ...Object.entries(m.byType).map(
      ([t, c]) =>
        `    ${t}: ${Object.entries(c)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')}`,
    ),
    `  latest ${latest.length} of ${m.runs.length}:`,
    ...latest.map(
      (r) =>
        `    ${r.startTime}  ${r.type}  ${r.service ?? '?'} → ${r.targetVersion ?? '?'}  ${r.outcome}` +
        `${r.minutes !== undefined ? ` ${r.minutes} min` : ''}${r.requestedBy ? `  by ${r.requestedBy}` : ''}`,
    ),
  ].join('\n');
}
