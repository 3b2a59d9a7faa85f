// Owns the dynamic config every dev server of this project runs with (`npm run dev`, tests, benchmarks).
// history.timerProcessorMaxTimeShift: the server fires a timer created less than this ahead of its timer queue's
// read level at that read level instead (stock: 1 s). A heartbeat timeout is re-armed from the last heartbeat and
// an activity retry waits its backoff on such short timers, so stock settings add up to 2 s to a takeover after
// a worker crash (measured: 4.0 s instead of 2.2 s with a 2 s heartbeat timeout; bench/docker-rollback.bench.ts).
export const DEV_SERVER_DYNAMIC_CONFIG: Record<string, unknown> = {
  'history.timerProcessorMaxTimeShift': '20ms',
};

/** `--dynamic-config-value k=v` arguments for `temporal server start-dev`. */
export function dynamicConfigArgs(config: Record<string, unknown> = DEV_SERVER_DYNAMIC_CONFIG): string[] {
  return Object.entries(config).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${JSON.stringify(v)}`]);
}

/**
 * The search attributes every rollback upserts (when its input enables them), registered on every dev server this
 * project starts: type, target and phase (the Web UI's list), and those `cortex-rollback metrics` reads (service,
 * target version, trigger, requester, outcome).
 */
export const SEARCH_ATTRIBUTES = {
  RollbackType: 'Keyword',
  RollbackTarget: 'Keyword',
  RollbackPhase: 'Keyword',
  RollbackService: 'Keyword',
  RollbackTargetVersion: 'Keyword',
  RollbackTrigger: 'Text',
  RollbackRequestedBy: 'Keyword',
  RollbackOutcome: 'Keyword',
} as const;
