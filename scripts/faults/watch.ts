// Owns how the harness sees a run while it happens: its history followed event by event (long poll, re-read after
// a server restart), the activity boundaries of a finished run (which k-th completion is which activity, whether
// it heartbeats), and the pending state of one activity (attempt, heartbeat) from DescribeWorkflowExecution.
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface Boundary {
  /** 1-based position among the run's completions (activities and local activities), in history order. */
  k: number;
  type: string;
  local: boolean;
  activityId?: string;
  /** Scheduled with a heartbeat timeout: a long activity, killable in its middle. */
  heartbeats: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function decode(payloads: Payload[] | null | undefined): unknown {
  const p = payloads?.[0];
  try {
    return p ? defaultPayloadConverter.fromPayload(p) : undefined;
  } catch {
    return undefined;
  }
}

function seconds(d: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return d ? Number(d.seconds ?? 0) + (d.nanos ?? 0) / 1e9 : 0;
}

/** The type of a local activity from its marker (core writes it into the marker's `data` details). */
function localActivityType(e: HistoryEvent): string | undefined {
  const a = e.markerRecordedEventAttributes;
  if (!a?.markerName?.includes('local_activity')) return undefined;
  const data = decode(a.details?.data?.payloads) as { activityType?: string; activity_type?: string } | undefined;
  return `${data?.activityType ?? data?.activity_type ?? 'activity'} (local)`;
}

/** A completion in the sense of the boundaries: an activity completed, a child workflow completed, or a local activity's marker. */
export function completionOf(e: HistoryEvent, events: Map<string, HistoryEvent>): Boundary | undefined {
  const done = e.activityTaskCompletedEventAttributes;
  if (done) {
    const s = events.get(String(done.scheduledEventId))?.activityTaskScheduledEventAttributes;
    return {
      k: 0,
      type: s?.activityType?.name ?? '?',
      local: false,
      activityId: s?.activityId ?? undefined,
      heartbeats: seconds(s?.heartbeatTimeout) > 0,
    };
  }
  const child = e.childWorkflowExecutionCompletedEventAttributes;
  if (child) return { k: 0, type: `child ${child.workflowType?.name ?? '?'}`, local: true, heartbeats: false };
  const local = localActivityType(e);
  return local ? { k: 0, type: local, local: true, heartbeats: false } : undefined;
}

/**
 * Follows a run's history as it is written (long poll). `onEvent` sees each event once, in order; the loop ends
 * when the run closes. Errors (a Temporal restart) are retried: the history is re-read and seen events skipped.
 */
export async function followHistory(
  client: Client,
  workflowId: string,
  runId: string,
  onEvent: (e: HistoryEvent, seen: Map<string, HistoryEvent>) => void | Promise<void>,
  stop: { done: boolean } = { done: false },
): Promise<void> {
  const seen = new Map<string, HistoryEvent>();
  let last = 0;
  let token: Uint8Array | undefined;
  while (!stop.done) {
    let res: temporal.api.workflowservice.v1.IGetWorkflowExecutionHistoryResponse;
    try {
      res = await client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace,
        execution: { workflowId, runId },
        waitNewEvent: true,
        maximumPageSize: 1000,
        ...(token ? { nextPageToken: token } : {}),
      });
    } catch {
      token = undefined;
      await sleep(200);
      continue;
    }
    for (const e of res.history?.events ?? []) {
      const id = Number(e.eventId);
      if (id <= last) continue;
      last = id;
      seen.set(String(id), e);
      await onEvent(e, seen);
    }
    if (!res.nextPageToken?.length) {
      const closed = [...seen.values()].some((e) => isClosing(e));
      if (closed) return;
      token = undefined;
      continue;
    }
    token = res.nextPageToken;
  }
}

export function isClosing(e: HistoryEvent): boolean {
  return Boolean(
    e.workflowExecutionCompletedEventAttributes ||
    e.workflowExecutionFailedEventAttributes ||
    e.workflowExecutionTimedOutEventAttributes ||
    e.workflowExecutionCanceledEventAttributes ||
    e.workflowExecutionTerminatedEventAttributes ||
    e.workflowExecutionContinuedAsNewEventAttributes,
  );
}

/** The boundaries of a finished run, in completion order. */
export async function boundaries(client: Client, workflowId: string, runId: string): Promise<Boundary[]> {
  const out: Boundary[] = [];
  await followHistory(client, workflowId, runId, (e, seen) => {
    const b = completionOf(e, seen);
    if (b) out.push({ ...b, k: out.length + 1 });
  });
  return out;
}

export interface Pending {
  attempt: number;
  state: string;
  startedAt?: number;
  heartbeatAt?: number;
  details?: unknown;
  worker?: string;
}

export async function pendingActivity(
  client: Client,
  workflowId: string,
  runId: string,
  activityId: string,
): Promise<Pending | undefined> {
  const d = await client.workflowService.describeWorkflowExecution({
    namespace: client.options.namespace,
    execution: { workflowId, runId },
  });
  const a = (d.pendingActivities ?? []).find((p) => p.activityId === activityId);
  if (!a) return undefined;
  return {
    attempt: a.attempt ?? 0,
    state: String(a.state),
    ...(a.lastStartedTime ? { startedAt: seconds(a.lastStartedTime) * 1000 } : {}),
    ...(a.lastHeartbeatTime ? { heartbeatAt: seconds(a.lastHeartbeatTime) * 1000 } : {}),
    details: decode(a.heartbeatDetails?.payloads),
    ...(a.lastWorkerIdentity ? { worker: a.lastWorkerIdentity } : {}),
  };
}

/** Activities whose final attempt was not the first (interrupted or failed, and run again). */
export function retriedActivities(events: HistoryEvent[]): Array<{ type: string; attempt: number }> {
  const scheduled = new Map(events.map((e) => [String(e.eventId), e]));
  return events.flatMap((e) => {
    const st = e.activityTaskStartedEventAttributes;
    if (!st || (st.attempt ?? 1) < 2) return [];
    const s = scheduled.get(String(st.scheduledEventId))?.activityTaskScheduledEventAttributes;
    return [{ type: s?.activityType?.name ?? '?', attempt: st.attempt ?? 0 }];
  });
}
