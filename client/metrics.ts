// Owns the runbook's Appendix C "Rollback Metrics" computed from Temporal's visibility: every rollback started
// within the window that carries the Rollback* search attributes (runs without them are invisible here), its
// outcome (RollbackOutcome, else the phase it ended in, else the execution status), the time to restore and the
// time to close, and the success rate against the runbook's targets. Time to restore runs from the start to the
// step that verified the target healthy after the change (read from the result's timeline, the step marked
// `restores`), held to the runbook's target for its type (< 2 h for database, < 30 min otherwise); time to close
// adds the cleanup and the post-rollback watch and has no runbook target. Decisions not to roll back (rejected,
// approval timed out) and runs still open count in totals, not in the rate.
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { outcomeOfPhase, restoreTargetMinutes } from '../common/outcomes.ts';
import type { StepRecord } from '../workflows/phases/progress.ts';
import type { RollbackClient } from './client.ts';

/** The runbook's Appendix C targets; time to restore is held to its type's target (restoreTargetMinutes). */
export const METRIC_TARGETS = { mttrMinutes: 30, databaseMttrMinutes: 120, successRatePercent: 95 };

export interface RollbackRun {
  workflowId: string;
  runId: string;
  type: string;
  service?: string;
  targetVersion?: string;
  trigger?: string;
  requestedBy?: string;
  outcome: string;
  startTime: string;
  closeTime?: string;
  /** Time to close: start → the run's end (approval wait, cleanup and the post-rollback watch included). */
  closeMinutes?: number;
  /** When the target was verified healthy after the change (a succeeded run whose result marks that step). */
  restoredTime?: string;
  /** Time to restore: start → verified healthy on the target. */
  restoreMinutes?: number;
  /** The runbook's time-to-restore target for this run's type. */
  restoreTargetMinutes: number;
}

export interface TimeToRestore {
  /** Succeeded runs with a time to restore, their mean and the runbook's target for the type. */
  runs: number;
  meanMinutes?: number;
  targetMinutes: number;
  met?: boolean;
  /** Succeeded runs whose result names no step that verified the target (runs from before it was recorded). */
  unmeasured: number;
}

export interface RollbackMetrics {
  since: string;
  total: number;
  byType: Record<string, Record<string, number>>;
  succeeded: number;
  failed: number;
  /** MTTR: the mean time to restore of the succeeded rollbacks, each type held to its own target. */
  mttrMinutes?: number;
  /** Every type's mean time to restore within its target. */
  mttrMet?: boolean;
  timeToRestore: Record<string, TimeToRestore>;
  /** Mean start → close of the succeeded rollbacks (no runbook target: it includes the watch). */
  timeToCloseMinutes?: number;
  successRatePercent?: number;
  targets: typeof METRIC_TARGETS;
  successRateMet?: boolean;
  runs: RollbackRun[];
}

const FAILED = new Set(['failed', 'breached', 'cancelled', 'terminated', 'timed-out', 'completed-with-errors']);
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
  // A completed run without an outcome: the phase it ended in says what it was (a decision not to roll back
  // completes too); only a run that ended in 'completed' counts as a success.
  const ended = outcomeOfPhase(first(info, 'RollbackPhase'));
  const outcome =
    first(info, 'RollbackOutcome') ??
    (status === 'RUNNING'
      ? 'running'
      : status === 'COMPLETED'
        ? (ended ?? (first(info, 'RollbackPhase') ? `ended-${first(info, 'RollbackPhase')}` : 'succeeded'))
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
    runId: info.runId,
    type,
    ...(service ? { service } : {}),
    ...(targetVersion ? { targetVersion } : {}),
    ...(trigger ? { trigger } : {}),
    ...(requestedBy ? { requestedBy } : {}),
    outcome,
    startTime: info.startTime.toISOString(),
    ...(closeTime ? { closeTime, closeMinutes: minutesBetween(info.startTime.toISOString(), closeTime) } : {}),
    restoreTargetMinutes: restoreTargetMinutes(type),
  };
}

const minutesBetween = (a: string, b: string) => Math.round(((Date.parse(b) - Date.parse(a)) / 60000) * 100) / 100;
const mean = (xs: number[]) =>
  xs.length ? Math.round((xs.reduce((s, x) => s + x, 0) / xs.length) * 100) / 100 : undefined;

/** The run with its time to restore, from the timeline of its result (the step marked `restores`). */
export function withRestore(run: RollbackRun, result: unknown): RollbackRun {
  const timeline = (result as { timeline?: StepRecord[] } | undefined)?.timeline;
  const step = Array.isArray(timeline) ? timeline.find((s) => s.restores === true && s.endedAt) : undefined;
  if (!step?.endedAt) return run;
  return { ...run, restoredTime: step.endedAt, restoreMinutes: minutesBetween(run.startTime, step.endedAt) };
}

export function summarize(runs: RollbackRun[], since: string): RollbackMetrics {
  const byType: Record<string, Record<string, number>> = {};
  for (const r of runs) {
    const t = (byType[r.type] ??= { total: 0 });
    t.total! += 1;
    t[r.outcome] = (t[r.outcome] ?? 0) + 1;
  }
  const ok = runs.filter((r) => r.outcome === 'succeeded');
  // anything that ended and is neither a success nor a decision not to roll back is a failure
  const failed = runs.filter((r) => FAILED.has(r.outcome) || r.outcome.startsWith('ended-')).length;
  const timeToRestore: Record<string, TimeToRestore> = {};
  for (const type of new Set(ok.map((r) => r.type))) {
    const of = ok.filter((r) => r.type === type);
    const measured = of.flatMap((r) => (r.restoreMinutes !== undefined ? [r.restoreMinutes] : []));
    const m = mean(measured);
    const targetMinutes = restoreTargetMinutes(type);
    timeToRestore[type] = {
      runs: measured.length,
      ...(m !== undefined ? { meanMinutes: m, met: m < targetMinutes } : {}),
      targetMinutes,
      unmeasured: of.length - measured.length,
    };
  }
  const mttr = mean(ok.flatMap((r) => (r.restoreMinutes !== undefined ? [r.restoreMinutes] : [])));
  const judged = Object.values(timeToRestore).filter((t) => t.met !== undefined);
  const close = mean(ok.flatMap((r) => (r.closeMinutes !== undefined ? [r.closeMinutes] : [])));
  const rate = ok.length + failed > 0 ? Math.round((ok.length / (ok.length + failed)) * 10000) / 100 : undefined;
  return {
    since,
    total: runs.length,
    byType,
    succeeded: ok.length,
    failed,
    ...(mttr !== undefined ? { mttrMinutes: mttr, mttrMet: judged.every((t) => t.met) } : {}),
    timeToRestore,
    ...(close !== undefined ? { timeToCloseMinutes: close } : {}),
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
  // Time to restore is in each succeeded run's result (its timeline), not in visibility: read them, a few at once.
  const ok = runs.map((r, i) => [r, i] as const).filter(([r]) => r.outcome === 'succeeded');
  for (let k = 0; k < ok.length; k += 8) {
    await Promise.all(
      ok.slice(k, k + 8).map(async ([r, i]) => {
        const result: unknown = await rc.client.workflow
          .getHandle(r.workflowId, r.runId)
          .result()
          .catch(() => undefined);
        runs[i] = withRestore(r, result);
      }),
    );
  }
  return summarize(runs, since);
}

/** How many of the latest runs `renderMetrics` lists one per line (all are in the JSON). */
export const LISTED_RUNS = 20;

export function renderMetrics(m: RollbackMetrics): string {
  const mark = (met: boolean | undefined) => (met === undefined ? 'no data' : met ? 'MET' : 'MISSED');
  const latest = m.runs.slice(-LISTED_RUNS);
  const restore = Object.entries(m.timeToRestore);
  return [
    `Rollback metrics since ${m.since} (${m.total} rollbacks)`,
    `  MTTR (time to restore, start → verified healthy): ${m.mttrMinutes !== undefined ? `${m.mttrMinutes} min` : '-'} (each type against its target: ${mark(m.mttrMet)})`,
    ...restore.map(
      ([t, r]) =>
        `    ${t}: ${r.meanMinutes !== undefined ? `${r.meanMinutes} min over ${r.runs}` : '-'} (target < ${r.targetMinutes} min: ${mark(r.met)})` +
        `${r.unmeasured ? `; ${r.unmeasured} succeeded without a recorded restore` : ''}`,
    ),
    `  time to close (start → end, approval wait and watch included): ${m.timeToCloseMinutes !== undefined ? `${m.timeToCloseMinutes} min` : '-'} (no runbook target)`,
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
        `${r.restoreMinutes !== undefined ? ` restored in ${r.restoreMinutes} min` : ''}` +
        `${r.closeMinutes !== undefined ? ` closed in ${r.closeMinutes} min` : ''}${r.requestedBy ? `  by ${r.requestedBy}` : ''}`,
    ),
  ].join('\n');
}
