// Owns running a rollback's undo stack: undos run in reverse, each as a visible step; an undo that fails is
// collected and reported, never swallowed (the saga sample's flaw we do not copy). `compensateChange` is the
// compensation skeleton of the scenarios that word their own summary; `compensate` words it for them. Deterministic.
import { isCancellation } from '@temporalio/workflow';
import type { HealthWait } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { fail, failureTypeOf } from './failures.ts';
import { errorMessage, type Progress } from './progress.ts';

export interface Undo {
  name: string;
  run: () => Promise<unknown>;
  /** What an operator does by hand if this undo fails: concrete commands, names and files. */
  manual?: string;
}

export interface UndoReport {
  restored: string[];
  failed: string[];
  manual: string[];
}

export async function runUndos(progress: Progress, undos: Undo[]): Promise<UndoReport> {
  const restored: string[] = [];
  const failed: string[] = [];
  const manual: string[] = [];
  for (const undo of [...undos].reverse()) {
    try {
      await progress.step(`undo: ${undo.name}`, undo.run);
      restored.push(undo.name);
    } catch (err) {
      failed.push(`${undo.name}: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`);
      manual.push(undo.manual ?? undo.name);
    }
  }
  return { restored, failed, manual };
}

/**
 * Runs the undos after `err` and throws the failure to report: what failed and what was restored (`restoredText`),
 * or, when an undo failed, CompensationFailed with the manual steps in order. A cancellation is rethrown as is.
 * `restoredText` may be a function, run only when every undo succeeded (it may check the restored state, e.g.
 * health); `details` becomes the failure's details (e.g. the result so far, with what the undos restored).
 */
export async function compensate(
  progress: Progress,
  undos: Undo[],
  err: unknown,
  restoredText: string | (() => string | Promise<string>),
  details?: () => unknown,
): Promise<never> {
  const what = isCancellation(err)
    ? 'the rollback was cancelled'
    : errorMessage((err as { cause?: unknown }).cause ?? err);
  progress.setPhase('compensating');
  const { failed, manual } = await runUndos(progress, undos);
  const restored =
    failed.length === 0 && undos.length > 0
      ? typeof restoredText === 'string'
        ? restoredText
        : await restoredText()
      : '';
  const summary =
    failed.length > 0
      ? restoreFailedSummary(what, { restored: [], failed, manual })
      : undos.length === 0
        ? `${what}. Nothing had been changed.`
        : `${what}. Restored: ${restored}.`;
  progress.setPhase(failed.length > 0 ? 'compensation-failed' : 'rolled-back-to-previous');
  progress.status.error = summary;
  if (isCancellation(err)) throw err;
  throw fail(
    failed.length > 0 ? FailureType.CompensationFailed : failureTypeOf(err, FailureType.VerificationFailed),
    summary,
    details?.(),
  );
}

/** The summary when an undo failed: what failed, `context` (e.g. where the previous version is), the manual steps. */
export function restoreFailedSummary(what: string, u: UndoReport, context = ''): string {
  return (
    `${what}. RESTORE FAILED — manual action needed: ${u.failed.join('; ')}. ` +
    `${context}Do by hand, in this order: ${u.manual.map((m, i) => `(${i + 1}) ${m}`).join(' ')}`
  );
}

export interface ChangeCompensation<C> {
  /** Runs before the undos (diagnostics of the failed state). */
  first?: () => Promise<void>;
  /** Runs after the undos, before the summary: checks what they put back (and absorbs its own failure). */
  check?: (u: UndoReport) => Promise<C>;
  summary: (what: string, u: UndoReport, checked: C | undefined) => string;
  /** The phase when there was nothing to undo; by default 'rolled-back-to-previous'. */
  unchangedPhase?: string;
  /** The failure's details. */
  details: (u: UndoReport, checked: C | undefined) => unknown;
}

/**
 * Runs the undos after `err` and throws the failure to report: CompensationFailed when an undo failed, else the
 * failure's own type (VerificationFailed when untyped); the summary is the status error and the message. A
 * cancellation is rethrown as is, after the same steps.
 */
export async function compensateChange<C>(
  progress: Progress,
  undos: Undo[],
  err: unknown,
  c: ChangeCompensation<C>,
): Promise<never> {
  const cancelled = isCancellation(err);
  const what = cancelled ? 'the rollback was cancelled' : errorMessage(err);
  if (c.first) await c.first();
  progress.setPhase('compensating');
  const u = await runUndos(progress, undos);
  const checked = c.check ? await c.check(u) : undefined;
  const summary = c.summary(what, u, checked);
  progress.setPhase(
    u.failed.length > 0
      ? 'compensation-failed'
      : undos.length === 0
        ? (c.unchangedPhase ?? 'rolled-back-to-previous')
        : 'rolled-back-to-previous',
  );
  progress.status.error = summary;
  if (cancelled) throw err;
  const type =
    u.failed.length > 0 ? FailureType.CompensationFailed : failureTypeOf(err, FailureType.VerificationFailed);
  throw fail(type, summary, c.details(u, checked));
}

/** Previously healthy: it must be healthy again; previously unhealthy: running is what can be restored. */
export function verifyRestoredHealth(
  progress: Progress,
  waitHealthy: (a: { url: string; timeoutSeconds: number }) => Promise<HealthWait>,
  url: string,
  before: { ok: boolean },
  timeoutSeconds: number,
): Promise<HealthWait | undefined> {
  return progress
    .step('verify-restored-health', () => waitHealthy({ url, timeoutSeconds: before.ok ? timeoutSeconds : 5 }))
    .catch(() => undefined);
}

export function restoredHealthText(after: HealthWait | undefined, before: { ok: boolean }): string {
  return after?.healthy ? 'healthy' : before.ok ? 'NOT healthy' : 'unhealthy, as it was before';
}
