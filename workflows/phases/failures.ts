// Owns how workflows report failures: typed, non-retryable ApplicationFailures whose message is the activity's
// own (not "Activity task failed"), and the rule that a failure before any change says nothing was changed.
// Deterministic.
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { FailureType } from '../../common/failures.ts';
import { errorMessage, notTakenInTime, type Progress } from './progress.ts';
import { InputError } from './validation.ts';

export function fail(type: FailureType, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: true,
    details: details === undefined ? [] : [details],
  });
}

/** The typed failure behind an error: itself, or the cause of an ActivityFailure. */
export function innerFailure(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ApplicationFailure) return err;
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

/** The failure type to report for `err`: its own, Unavailable for a step no worker took in time, else `fallback`. */
export function failureTypeOf(err: unknown, fallback: FailureType): FailureType {
  const own = innerFailure(err)?.type as FailureType | undefined;
  return own ?? (notTakenInTime(err) ? FailureType.Unavailable : fallback);
}

/** Surfaces an activity failure's own type and message. */
export function surfaced(err: unknown, suffix = ''): ApplicationFailure {
  const inner = innerFailure(err);
  return fail(
    (inner?.type as FailureType | undefined) ?? FailureType.Unavailable,
    `${inner?.message ?? errorMessage(err)}${suffix}`,
  );
}

/** A read-only phase failed: record it in the status and return the failure to throw, saying nothing changed. */
export function failedBeforeAnyChange(progress: Progress, err: unknown): unknown {
  if (isCancellation(err)) return err;
  const failure = surfaced(err, ' (nothing was changed)');
  progress.setPhase('failed');
  progress.status.error = failure.message;
  return failure;
}

/** Read-only steps: a failure there surfaces as the activity's own typed failure, saying nothing was changed. */
export async function beforeAnyChange<T>(progress: Progress, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw failedBeforeAnyChange(progress, err);
  }
}

/** Invalid input: recorded in the status, and the non-retryable InvalidInput failure naming the field to throw. */
export function invalidInput(progress: Progress, err: unknown): ApplicationFailure {
  progress.note('validate-input', 'failed', errorMessage(err));
  progress.setPhase('failed');
  progress.status.error = errorMessage(err);
  return fail(
    FailureType.InvalidInput,
    errorMessage(err),
    err instanceof InputError ? { field: err.field } : undefined,
  );
}
