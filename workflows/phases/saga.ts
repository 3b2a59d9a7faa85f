// Owns running a rollback's undo stack: undos run in reverse, each as a visible step; an undo that fails is
// collected and reported, never swallowed (the saga sample's flaw we do not copy). Deterministic.
import { isCancellation } from '@temporalio/workflow';
import { FailureType } from '../../common/failures.ts';
import { fail, innerFailure } from './failures.ts';
import { errorMessage, type Progress } from './progress.ts';

export interface Undo {
  name: string;
  run: () => Promise<unknown>;
  /** What an operator does by hand if this undo fails: concrete commands, names and files. */
  manual?: string;
}

export async function runUndos(
  progress: Progress,
  undos: Undo[],
): Promise<{ restored: string[]; failed: string[]; manual: string[] }> {
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
      ? `${what}. RESTORE FAILED — manual action needed: ${failed.join('; ')}. ` +
        `Do by hand, in this order: ${manual.map((m, i) => `(${i + 1}) ${m}`).join(' ')}`
      : undos.length === 0
        ? `${what}. Nothing had been changed.`
        : `${what}. Restored: ${restored}.`;
  progress.setPhase(failed.length > 0 ? 'compensation-failed' : 'rolled-back-to-previous');
  progress.status.error = summary;
  if (isCancellation(err)) throw err;
  const inner = innerFailure(err);
  throw fail(
    failed.length > 0
      ? FailureType.CompensationFailed
      : ((inner?.type as FailureType | undefined) ?? FailureType.VerificationFailed),
    summary,
    details?.(),
  );
}
