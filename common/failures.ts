// Owns the typed failure categories every activity and workflow reports. Activities decide retryable vs
// permanent; the workflow's retry policies list the permanent ones as non-retryable. Pure: importable by workflows.

export const FailureType = {
  /** Input that can never succeed: bad name, version, role, URL. Nothing was changed. */
  InvalidInput: 'InvalidInput',
  /** Something the rollback needs does not exist (container, image, backup). */
  NotFound: 'NotFound',
  /** The world is not in the state the step expects and retrying will not fix it (e.g. a foreign container holds the name). */
  Conflict: 'Conflict',
  /** A dependency is unreachable or overloaded (Docker socket, HTTP 5xx): retryable. */
  Unavailable: 'Unavailable',
  /** A command run on a host (install, build) failed; running it again would fail the same way. */
  CommandFailed: 'CommandFailed',
  /** The target did not become healthy; compensation ran. */
  VerificationFailed: 'VerificationFailed',
  /** The post-rollback watch saw more consecutive failures than allowed. */
  MonitoringBreach: 'MonitoringBreach',
  /** An undo step failed: a human must look. */
  CompensationFailed: 'CompensationFailed',
  /**
   * No authorised decision: an emergency that nobody of the approval roster acknowledged in time (or that was
   * rejected) restored nothing and must not end as if it had; what it had stopped was started again.
   */
  NotApproved: 'NotApproved',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Failure types no retry can fix. */
export const PERMANENT_FAILURES: string[] = [
  FailureType.InvalidInput,
  FailureType.NotFound,
  FailureType.Conflict,
  FailureType.CommandFailed,
  FailureType.VerificationFailed,
  FailureType.MonitoringBreach,
  FailureType.CompensationFailed,
  FailureType.NotApproved,
];
