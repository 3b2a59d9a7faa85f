// Owns the named timeout/retry profiles every workflow proxies activities with. One place to tune how fast a
// replacement worker takes over (heartbeat timeouts) and how long a dependency may be down (retry budgets).
import {
  ActivityCancellationType,
  patched,
  proxyActivities,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../../activities/index.ts';
import { hostTaskQueue } from '../../common/config.ts';
import { PERMANENT_FAILURES } from '../../common/failures.ts';

// About a minute of retries (0.2 s, 0.4 s, … capped at 10 s) before a dependency counts as down for good.
const retry = {
  initialInterval: '200ms',
  backoffCoefficient: 2,
  maximumInterval: '10s',
  maximumAttempts: 12,
  nonRetryableErrorTypes: PERMANENT_FAILURES,
};

/** Inspect / look-ups: fast, many retries. */
export const quick: ActivityOptions = { startToCloseTimeout: '30s', retry };

/** The same reads as local activities: no workflow-task round trip, for a worker that can reach the dependency. */
export const localQuick: LocalActivityOptions = { startToCloseTimeout: '30s', retry };

/** Docker mutations: heartbeating, so a killed worker is noticed within the heartbeat timeout. */
// A 2 s heartbeat timeout: a false alarm on a loaded machine only causes a retry, which is safe (idempotent).
// A cancelled rollback waits for a running mutation to finish before its undos run (no race with a stop in flight).
export const dockerOp: ActivityOptions = {
  startToCloseTimeout: '5m',
  heartbeatTimeout: '2s',
  retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};

/** Long transfers (snapshots, exports, copies): heartbeating with a checkpoint; cancellation waits for them. */
export const transfer: ActivityOptions = {
  startToCloseTimeout: '2h',
  heartbeatTimeout: '10s',
  retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};

/** Long waits (health polling): heartbeating; the caller adds its own bound to the start-to-close timeout. */
export function longWait(boundSeconds: number): ActivityOptions {
  return { startToCloseTimeout: `${boundSeconds + 60}s`, heartbeatTimeout: '2s', retry };
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

/** kubectl mutations (rollout undo): heartbeating like dockerOp; a retry is safe (the activity checks first). */
export const kubectlOp: ActivityOptions = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: '2s',
  retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};

/**
 * Terraform/OpenTofu commands (init, plan, apply): heartbeating while the program runs, so a killed worker is
 * noticed within seconds; retries are safe (see activities/terraform.ts). Cancellation waits for the command.
 */
export const iacOp: ActivityOptions = {
  startToCloseTimeout: '1h',
  heartbeatTimeout: '5s',
  retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};

/** A watch alert's notification: a few quick tries; an undelivered alert is recorded, never fails the rollback. */
export const localNotify: LocalActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, initialInterval: '500ms', nonRetryableErrorTypes: PERMANENT_FAILURES },
};

/**
 * A host rollback's activities, on `cortex-rollback-host-<host>` when `host` is given (else the workflow's queue):
 * reads (`q`), changes (`op`) and the verification waits (`wait`); `on` for any other profile.
 */
export function hostActivities(host: string | undefined, verifyTimeoutSeconds: number, hostWaitSeconds?: number) {
  // A step waits at most hostWaitSeconds for the host's worker (per attempt), then fails: the run undoes its changes.
  const bounded = host !== undefined && hostWaitSeconds !== undefined && patched('host-steps-wait-bounded');
  const on: Pick<ActivityOptions, 'taskQueue' | 'scheduleToStartTimeout'> = host
    ? { taskQueue: hostTaskQueue(host), ...(bounded ? { scheduleToStartTimeout: `${hostWaitSeconds}s` } : {}) }
    : {};
  return {
    on,
    q: proxyActivities<Activities>({ ...quick, ...on }),
    op: proxyActivities<Activities>({ ...dockerOp, ...on }),
    wait: proxyActivities<Activities>({ ...longWait(verifyTimeoutSeconds), ...on }),
  };
}
