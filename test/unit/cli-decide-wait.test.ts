// `decide` (client/client.ts) against a stand-in workflow handle: an approval sent while the run still loads its
// policy ("no approval is open yet") is sent again until the approval opens, within waitOpenMs; past it, and for
// any other refusal, the validator's answer stands at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { decide, DecisionRefusedError, type RollbackClient } from '../../client/client.ts';
import { NOT_OPEN_YET } from '../../workflows/phases/approval.ts';
import { APPROVER } from '../helpers/approval-policy.ts';

/** A client whose update answers come from `answers`, one per call (an Error is thrown as the validator's refusal). */
function fakeClient(answers: Array<Error | object>): { rc: RollbackClient; calls: () => number } {
  let calls = 0;
  const handle = {
    executeUpdate: () => {
      const a = answers[Math.min(calls, answers.length - 1)]!;
      calls += 1;
      return a instanceof Error
        ? Promise.reject(new WorkflowUpdateFailedError('Workflow Update failed', a))
        : Promise.resolve(a);
    },
  };
  const client = { workflow: { getHandle: () => handle } } as unknown as Client;
  return {
    rc: { client, settings: {} as RollbackClient['settings'], close: () => Promise.resolve() },
    calls: () => calls,
  };
}

const notOpen = new Error(`${NOT_OPEN_YET}: the rollback has not reached its approval step; try again shortly`);
const decision = { decision: 'approve' as const, ...APPROVER.application };

describe('cortex-rollback decide: an approval sent before the approval opens', () => {
  it('is sent again until the approval is open, then the record the workflow kept is returned', async () => {
    const record = { decision: 'approve', approver: APPROVER.application.approver };
    const { rc, calls } = fakeClient([notOpen, notOpen, record]);
    const started = Date.now();
    const r = await decide(rc, 'rollback-docker-x', decision, { waitOpenMs: 5_000 });
    assert.deepEqual(r, { record, via: 'update' });
    assert.equal(calls(), 3);
    assert.ok(Date.now() - started >= 900, 'it waited between tries');
  });

  it('past waitOpenMs the refusal stands: DecisionRefusedError saying no approval is open', async () => {
    const { rc, calls } = fakeClient([notOpen]);
    await assert.rejects(
      decide(rc, 'rollback-docker-x', decision, { waitOpenMs: 1_200 }),
      (e: unknown) => e instanceof DecisionRefusedError && e.message.startsWith(`approve refused: ${NOT_OPEN_YET}`),
    );
    assert.ok(calls() >= 2 && calls() <= 5, `${calls()} tries`);
  });

  it('any other refusal (here: the requester approving) stands at once, without a second try', async () => {
    const { rc, calls } = fakeClient([new Error('the requester cannot approve their own rollback (four eyes)')]);
    await assert.rejects(
      decide(rc, 'rollback-docker-x', decision, { waitOpenMs: 5_000 }),
      /approve refused: the requester cannot approve/,
    );
    assert.equal(calls(), 1);
  });
});
