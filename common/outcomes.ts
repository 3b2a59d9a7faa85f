// Owns what a rollback's end counts as in the metrics: the phase a run ends in → its outcome (succeeded, failed,
// breached, cancelled, or a decision not to roll back), and the runbook's time-to-restore target per rollback type.
// Pure: the workflows upsert RollbackOutcome from it, the metrics read runs that carry only RollbackPhase through it.

/** Phases a rollback ends in, and the outcome each counts as in the metrics. */
export const OUTCOME_OF_PHASE: Readonly<Record<string, string>> = {
  completed: 'succeeded',
  rejected: 'rejected',
  'approval-timed-out': 'approval-timed-out',
  failed: 'failed',
  'verification-failed': 'failed',
  'rolled-back-to-previous': 'failed',
  'compensation-failed': 'failed',
  'monitoring-breached': 'breached',
  'watch-cancelled': 'cancelled',
  /** A fleet whose failed targets stayed within its error budget: finished, but not a success. */
  'completed-with-errors': 'completed-with-errors',
};

/**
 * The outcome of a run from the phase it ended in, for runs that carry no RollbackOutcome: those from before the
 * metrics attributes, and qdrantConfigRollback runs whose approval timed out before it ended in
 * 'approval-timed-out' (they ended in the phase 'timed-out', which upserted no outcome). Undefined: not an end.
 */
export function outcomeOfPhase(phase: string | undefined): string | undefined {
  if (phase === undefined) return undefined;
  return OUTCOME_OF_PHASE[phase] ?? (phase === 'timed-out' ? 'approval-timed-out' : undefined);
}

/** Outcomes that are decisions not to roll back: counted in the totals, never as a success or a failure. */
export const NOT_DECIDED = new Set(['rejected', 'approval-timed-out']);

/**
 * The runbook's time-to-restore targets: "Target Rollback Time: < 30 minutes for application rollbacks", "Target
 * Database Recovery: < 2 hours for major database rollbacks", and Appendix C's "MTTR: Target < 30 minutes" for
 * every other type.
 */
export const RESTORE_TARGET_MINUTES: Readonly<Record<string, number>> = { database: 120 };
export const DEFAULT_RESTORE_TARGET_MINUTES = 30;

export function restoreTargetMinutes(rollbackType: string): number {
  return RESTORE_TARGET_MINUTES[rollbackType] ?? DEFAULT_RESTORE_TARGET_MINUTES;
}
