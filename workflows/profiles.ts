// Owns the named timeout/retry profiles every workflow proxies activities with. One place to tune how fast a
// replacement worker takes over (heartbeat timeouts) and how long a dependency may be down (retry budgets).
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { PERMANENT_FAILURES } from '../common/failures.ts';

const retry = {
  initialInterval: '500ms',
  backoffCoefficient: 2,
  maximumInterval: '10s',
  maximumAttempts: 10,
  nonRetryableErrorTypes: PERMANENT_FAILURES,
};

/** Inspect / look-ups: fast, many retries. */
export const quick: ActivityOptions = { startToCloseTimeout: '30s', retry };

/** Docker mutations: heartbeating, so a killed worker is noticed within the heartbeat timeout. */
export const dockerOp: ActivityOptions = { startToCloseTimeout: '5m', heartbeatTimeout: '3s', retry };

/** Long waits (health polling): heartbeating; the caller adds its own bound to the start-to-close timeout. */
export function longWait(boundSeconds: number): ActivityOptions {
  return { startToCloseTimeout: `${boundSeconds + 60}s`, heartbeatTimeout: '3s', retry };
}

/** One health sample during the watch: a single short try; a failed sample is data, not an error. */
export const probe: ActivityOptions = {
  startToCloseTimeout: '15s',
  retry: { maximumAttempts: 3, initialInterval: '500ms', nonRetryableErrorTypes: PERMANENT_FAILURES },
};
export const localProbe: LocalActivityOptions = {
  startToCloseTimeout: '15s',
  retry: { maximumAttempts: 3, initialInterval: '500ms', nonRetryableErrorTypes: PERMANENT_FAILURES },
};
