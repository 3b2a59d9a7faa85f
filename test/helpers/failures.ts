// Assertions on how things fail: a workflow failing with a typed ApplicationFailure, or an activity throwing one.
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e,
  );
}

/** The typed failure a workflow ended with (asserts it failed, and with an ApplicationFailure). */
export async function workflowFailure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await rejection(p);
  assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${String(err)}`);
  assert.ok(err.cause instanceof ApplicationFailure, `expected an ApplicationFailure cause, got ${String(err.cause)}`);
  return err.cause;
}

/** The typed failure an activity threw. */
export async function activityFailure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await rejection(p);
  assert.ok(err instanceof ApplicationFailure, `expected ApplicationFailure, got ${String(err)}`);
  return err;
}
