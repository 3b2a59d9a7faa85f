// What Temporal recorded about an activity, for crash tests: its pending state (attempt, last heartbeat details,
// from DescribeWorkflowExecution) while it runs, and per scheduled call the attempt it ended on and its result.
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { waitFor } from './docker.ts';

export interface PendingActivity {
  attempt: number;
  state: string;
  heartbeat?: unknown;
}

function decode(payloads: Payload[] | null | undefined): unknown {
  const p = payloads?.[0];
  return p ? defaultPayloadConverter.fromPayload(p) : undefined;
}

export async function pendingActivity(handle: WorkflowHandle, type: string): Promise<PendingActivity | undefined> {
  const d = await handle.describe();
  const a = (d.raw.pendingActivities ?? []).find((p) => p.activityType?.name === type);
  if (!a) return undefined;
  return {
    attempt: a.attempt ?? 0,
    state: String(a.state),
    heartbeat: decode(a.heartbeatDetails?.payloads),
  };
}

/** Waits until the activity is running and `ready` accepts what Temporal has recorded for it; returns that. */
export async function untilPending(
  handle: WorkflowHandle,
  type: string,
  ready: (a: PendingActivity) => boolean,
  timeoutMs: number,
): Promise<PendingActivity> {
  let seen: PendingActivity | undefined;
  await waitFor(
    async () => {
      const a = await pendingActivity(handle, type);
      if (a && ready(a)) seen = a;
      return seen !== undefined;
    },
    timeoutMs,
    `${type} pending as expected`,
  );
  return seen!;
}

export interface ActivityRun {
  /** The attempt of the ActivityTaskStarted event (Temporal writes it once, for the attempt that ended the call). */
  attempt: number;
  /** The worker that ran that attempt. */
  identity?: string;
  completed: boolean;
  result?: unknown;
}

/** One entry per scheduled call of `type`, in history order. */
export async function activityRuns(handle: WorkflowHandle, type: string): Promise<ActivityRun[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const runs: ActivityRun[] = [];
  for (const s of events) {
    if (s.activityTaskScheduledEventAttributes?.activityType?.name !== type) continue;
    const id = String(s.eventId);
    const started = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === id);
    const completed = events.find((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id);
    runs.push({
      attempt: started?.activityTaskStartedEventAttributes?.attempt ?? 0,
      ...(started?.activityTaskStartedEventAttributes?.identity
        ? { identity: started.activityTaskStartedEventAttributes.identity }
        : {}),
      completed: completed !== undefined,
      result: decode(completed?.activityTaskCompletedEventAttributes?.result?.payloads),
    });
  }
  return runs;
}

/** The identity of the worker that started each workflow task, in history order. */
export async function workflowTaskIdentities(handle: WorkflowHandle): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await handle.fetchHistory()).events ?? []) {
    const identity = e.workflowTaskStartedEventAttributes?.identity;
    if (identity) out.push(identity);
  }
  return out;
}

/** What a workflow that refused its input records: its start, one workflow task, its failure — nothing else. */
export const REFUSAL_EVENTS = [
  'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
  'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED',
  'EVENT_TYPE_WORKFLOW_TASK_STARTED',
  'EVENT_TYPE_WORKFLOW_TASK_COMPLETED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED',
];

const EventType = proto.temporal.api.enums.v1.EventType;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

/**
 * The event types of a history without the SDK's patch bookkeeping: a `patched()` call (the approval gate makes one
 * when it is constructed, before the input is read) records a `core_patch` marker and upserts TemporalChangeVersion.
 * Neither is a side effect of the workflow; any other marker or search-attribute update still shows.
 */
export function eventTypesWithoutPatches(events: readonly HistoryEvent[]): string[] {
  return events
    .filter((e) => {
      if (e.markerRecordedEventAttributes?.markerName === 'core_patch') return false;
      const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
      if (fields && Object.keys(fields).every((k) => k === 'TemporalChangeVersion')) return false;
      return true;
    })
    .map((e) => EventType[e.eventType ?? 0] ?? String(e.eventType));
}

/** Activities that run on the central workers by design: the approval policy lives there, and so do the channels. */
export const CENTRAL_ACTIVITIES: readonly string[] = ['loadApprovalPolicy', 'notify'];

/** A history's activity events (scheduled and started) for the host's own steps: CENTRAL_ACTIVITIES left out. */
export function hostActivityEvents(events: readonly HistoryEvent[]): HistoryEvent[] {
  const central = new Set<string>();
  for (const e of events) {
    const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (type && CENTRAL_ACTIVITIES.includes(type)) central.add(String(e.eventId));
  }
  return events.filter((e) => {
    if (e.activityTaskScheduledEventAttributes) return !central.has(String(e.eventId));
    const started = e.activityTaskStartedEventAttributes;
    if (started) return !central.has(String(started.scheduledEventId));
    return false;
  });
}
