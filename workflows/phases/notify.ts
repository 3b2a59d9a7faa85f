// Owns how a workflow notifies (Slack, PagerDuty) through the `notify` activity: the workflow's own id and run id
// make the idempotency key; channels and secrets stay in the worker's configuration.
// Also owns a rollback's lifecycle notifications (started, then succeeded or failed), sent the same way by every
// non-emergency rollback through withLifecycleNotifications.
// Invariants: a notification never fails the rollback (a channel down after the retries is recorded in the
// timeline and the rollback goes on); cancellation still propagates; each call is one timeline entry; the closing
// notification never replaces the rollback's own outcome or failure.
import {
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities, NotifyEvent, NotifyInput, NotifyResult } from '../../activities/index.ts';
import { PERMANENT_FAILURES } from '../../common/failures.ts';
import { innerFailure } from './failures.ts';
import { errorMessage, type Progress } from './progress.ts';
import type { Scenario } from './scenario.ts';

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
    if (progress && result.pagerDuty === 'delivered' && STAYS_OPEN.includes(event)) {
      openPages.set(progress, [...(openPages.get(progress) ?? []), result.key]);
    }
    return { ...base, result };
  } catch (err) {
    if (isCancellation(err)) throw err;
    return { ...base, error: errorMessage(err) };
  }
}

/** Pages that wait for someone while the run goes on; the closing notification resolves them. */
const STAYS_OPEN: readonly NotifyEvent[] = ['approval-needed', 'escalated'];

/** Per run (its Progress): the dedup keys of its open pages. A WeakMap: nothing enters the status or history. */
const openPages = new WeakMap<Progress, string[]>();

/**
 * Once a person has decided, the run's approval pages need no one any more: they are resolved at once (with a Slack
 * line saying who decided), not when the rollback ends — a 30-minute watch would keep them open. Only when pages
 * were opened; the closing notification then has none left to resolve.
 */
export async function resolveApprovalPages(
  progress: Progress,
  decision: { decision: string; approver: string; role: string },
): Promise<void> {
  const keys = openPages.get(progress) ?? [];
  if (keys.length === 0 || !patched('approval-pages-resolved-at-decision')) return;
  openPages.set(progress, []);
  await notifyEvent(progress, 'approval-decided', {
    rollbackType: progress.status.rollbackType,
    target: progress.status.target,
    summary: `${decision.decision} by ${decision.approver} (${decision.role})`,
    details: { decision: decision.decision, approver: decision.approver, role: decision.role },
    // a plan-bound gate may be decided again after a re-plan: each decision is its own notification
    key: String(progress.status.approvals.length),
    resolve: keys,
  });
}

/** Runs from before the lifecycle notifications send none, so their histories replay. */
export const LIFECYCLE_PATCH = 'rollback-lifecycle-notifications';

/** What a rollback's input says about who asked for it and why (whoFields), and the guard's trigger. */
export interface LifecycleInput {
  requestedBy?: string;
  reason?: string;
  trigger?: Record<string, unknown>;
}

/** What every rollback result has: its outcome, and where known what it went from and to. */
export interface LifecycleResult {
  outcome: string;
  from?: unknown;
  to?: unknown;
  /** A restore's backup: what it went to. */
  restoredFrom?: unknown;
}

const DONE = ['succeeded', 'already-on-target', 'already-applied'];

/** A version's label from a result's `from`/`to`: the first of these fields it has. */
function versionLabel(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  for (const k of ['image', 'tag', 'version', 'revision', 'commit', 'ref', 'file', 'name']) {
    if (typeof o[k] === 'string' || typeof o[k] === 'number') return String(o[k]);
  }
  return undefined;
}

/**
 * A rollback's started / succeeded / failed notifications. `started` is sent once the input is valid (an invalid
 * input notifies nothing); the closing one by withLifecycleNotifications when the run ends, whatever the way:
 * succeeded for a done (or nothing-to-do) rollback; failed for a failure, a compensation, a cancellation, a
 * rejection or an approval that never came — with the run's own message. A rollback run as the child of a
 * workflow that waits for it (an emergency) leaves them to that workflow; one the guard started notifies.
 */
export class RollbackNotifications {
  private opened?: { progress: Progress; what: string; who: Record<string, string> };

  async started(progress: Progress, scenario: Scenario, input: LifecycleInput & object): Promise<void> {
    if (workflowInfo().parent && input.trigger === undefined) return;
    if (!patched(LIFECYCLE_PATCH)) return;
    const what = scenario.summarize?.(input) ?? `${scenario.name} of ${progress.status.target}`;
    const who: Record<string, string> = {
      ...(input.requestedBy ? { requestedBy: input.requestedBy } : {}),
      ...(input.reason ? { reason: input.reason } : {}),
    };
    this.opened = { progress, what, who };
    const rule = input.trigger?.rule;
    await notifyEvent(progress, 'started', {
      rollbackType: progress.status.rollbackType,
      target: progress.status.target,
      summary: what,
      details: {
        ...who,
        scenario: scenario.name,
        ...(input.trigger ? { trigger: typeof rule === 'string' ? rule : 'guard' } : {}),
      },
    });
  }

  /** The closing notification; never throws and cannot be cancelled (it may run after a cancellation). */
  async ended(end: { result: LifecycleResult } | { error: unknown }): Promise<void> {
    const o = this.opened;
    if (!o) return;
    const { progress, what, who } = o;
    const resolve = openPages.get(progress) ?? [];
    const approvedBy = progress.status.approvals
      .filter((a) => a.decision === 'approved')
      .map((a) => a.approver)
      .join(', ');
    let event: NotifyEvent;
    let summary: string;
    const details: Record<string, string> = {};
    if ('result' in end) {
      const r = end.result;
      const from = versionLabel(r.from);
      const to = versionLabel(r.to) ?? versionLabel(r.restoredFrom);
      if (from) details.from = from;
      if (to) details.to = to;
      details.outcome = r.outcome;
      event = DONE.includes(r.outcome) ? 'succeeded' : 'failed';
      const lastDecision = progress.status.approvals.filter((a) => a.decision === 'rejected').at(-1);
      summary =
        r.outcome === 'succeeded'
          ? `${what}: done${from && to ? ` (${from} → ${to})` : to ? ` (${to})` : ''}`
          : DONE.includes(r.outcome)
            ? `${what}: nothing to do (${r.outcome})`
            : r.outcome === 'rejected'
              ? `${what}: NOT DONE, rejected${lastDecision ? ` by ${lastDecision.approver}` : ''}` +
                (lastDecision?.comment ? `: ${lastDecision.comment}` : '')
              : `${what}: NOT DONE (${r.outcome})`;
    } else {
      const cancelled = isCancellation(end.error);
      event = 'failed';
      details.outcome = cancelled ? 'cancelled' : 'failed';
      const type = innerFailure(end.error)?.type;
      if (!cancelled && type) details.failure = type;
      summary = cancelled
        ? `${what}: CANCELLED while ${progress.status.phase}${progress.status.error ? ` — ${progress.status.error}` : ''}`
        : `${what}: FAILED — ${errorMessage(end.error)}`;
    }
    details.phase = progress.status.phase;
    if (approvedBy) details.approvedBy = approvedBy;
    Object.assign(details, who);
    await CancellationScope.nonCancellable(() =>
      notifyEvent(progress, event, {
        rollbackType: progress.status.rollbackType,
        target: progress.status.target,
        summary,
        details,
        ...(resolve.length ? { resolve } : {}),
      }),
    ).catch(() => undefined);
  }
}

/**
 * Runs a rollback workflow's body with its lifecycle notifications: the body calls `started` once its input is
 * valid; the closing notification follows whatever the body returns or throws, and the body's own result or
 * failure is what the workflow ends with.
 */
export async function withLifecycleNotifications<T extends LifecycleResult>(
  body: (notifications: RollbackNotifications) => Promise<T>,
): Promise<T> {
  const notifications = new RollbackNotifications();
  let result: T;
  try {
    result = await body(notifications);
  } catch (err) {
    await notifications.ended({ error: err });
    throw err;
  }
  await notifications.ended({ result });
  return result;
}
