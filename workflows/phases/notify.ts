// Owns how a workflow notifies (Slack, PagerDuty) through the `notify` activity: the workflow's own id and run id
// make the idempotency key; channels and secrets stay in the worker's configuration.
// Invariants: a notification never fails the rollback (a channel down after the retries is recorded in the
// timeline and the rollback goes on); cancellation still propagates; each call is one timeline entry.
import { isCancellation, proxyActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities, NotifyEvent, NotifyInput, NotifyResult } from '../../activities/index.ts';
import { PERMANENT_FAILURES } from '../../common/failures.ts';
import { errorMessage, type Progress } from './progress.ts';

/** About a minute of retries; heartbeats carry what was delivered so a retry on another worker skips it. */
export const notifyOp: ActivityOptions = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: '5s',
  retry: {
    initialInterval: '200ms',
    backoffCoefficient: 2,
    maximumInterval: '10s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
};

export type NotifyRequest = Omit<NotifyInput, 'workflowId' | 'runId' | 'event'>;

export interface NotificationRecord {
  event: NotifyEvent;
  key?: string;
  result?: NotifyResult;
  error?: string;
}

/**
 * Sends `event` and records it as the timeline step `notify-<event>`; returns what each channel did, or the
 * error when the channels stayed unreachable.
 */
export async function notifyEvent(
  progress: Progress | undefined,
  event: NotifyEvent,
  req: NotifyRequest,
  options: ActivityOptions = notifyOp,
): Promise<NotificationRecord> {
  const { workflowId, runId } = workflowInfo();
  const { notify } = proxyActivities<Activities>(options);
  const send = () => notify({ ...req, event, workflowId, runId });
  const base = { event, ...(req.key ? { key: req.key } : {}) };
  try {
    const result = progress
      ? await progress.step(`notify-${event}`, send, (r) => `slack ${r.slack}, pagerduty ${r.pagerDuty}`)
      : await send();
    return { ...base, result };
  } catch (err) {
    if (isCancellation(err)) throw err;
    return { ...base, error: errorMessage(err) };
  }
}
