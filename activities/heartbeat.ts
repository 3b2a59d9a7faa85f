// Owns keep-alive heartbeats for activities that wait on something outside (Docker stop, health polling):
// a killed worker is then noticed within the heartbeat timeout and the step is retried on another worker.
import { Context } from '@temporalio/activity';

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (unit use): nothing to heartbeat to
  }
}

export function heartbeat(details?: unknown): void {
  currentContext()?.heartbeat(details);
}

/** The namespace of the running activity's workflow ('default' outside an activity). */
export function activityNamespace(): string {
  return currentContext()?.info.workflowNamespace ?? 'default';
}

/** Last heartbeat details recorded by an earlier attempt of this activity, if any. */
export function previousHeartbeat<T>(): T | undefined {
  return currentContext()?.info.heartbeatDetails as T | undefined;
}

/** Runs `fn`, heartbeating every `everyMs` until it settles. */
export async function withHeartbeat<T>(fn: () => Promise<T>, everyMs = 1000, details?: () => unknown): Promise<T> {
  heartbeat(details?.());
  const timer = setInterval(() => heartbeat(details?.()), everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Aborted when Temporal cancels the running activity (seen through heartbeats); undefined outside an activity. */
export function cancellationSignal(): AbortSignal | undefined {
  return currentContext()?.cancellationSignal;
}
