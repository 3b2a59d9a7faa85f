// The approval gate under the runbook's policy (config/approval-policy.json), in dockerContainerRollback on the
// time-skipping server with stubbed activities: a decision through the `decide` update, the validator's refusals
// (nothing in history), signals failing the same checks recorded as refused, early signals judged once the policy
// is loaded, a refused pre-approval, escalation to the backup contact then an approval by them, and the final
// timeout ("not approved", nothing changed). The policy and every decision are in the status and the result.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../workers/bundle.ts';
import { approveSignal, decideUpdate, rejectSignal, type DecideUpdate } from '../../workflows/phases/approval.ts';
import type { DockerRollbackInput, DockerRollbackResult } from '../../workflows/application/docker-container.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import { activityRuns } from '../helpers/history.ts';
import { stubActivities, type StubOptions } from '../helpers/stub-activities.ts';
import { RUNBOOK_APPROVAL_POLICY, timeSkippingEnv, uniqueQueue } from '../helpers/temporal.ts';

const MUTATIONS = ['preserveContainer', 'stopContainer', 'runContainer', 'removeOwnContainer', 'restorePreserved'];

const input = (over: Partial<DockerRollbackInput> = {}): DockerRollbackInput => ({
  containerName: 'cortex-mcp',
  targetImage: 'cortex-memory-mcp:v2.0.0',
  healthUrl: 'http://127.0.0.1:3000/health',
  reason: 'v2.1.0 fails /health',
  requestedBy: 'oncall-eng',
  monitor: { durationSeconds: 0 },
  ...over,
});

const approve = (approver: string, role: string, comment?: string): DecideUpdate => ({
  decision: 'approve',
  approver,
  role,
  ...(comment ? { comment } : {}),
});

describe('approval gate under the runbook policy (time-skipping, stubbed activities)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: { codePath: string };
  before(async () => {
    env = await timeSkippingEnv();
    bundle = await workflowBundle();
  });
  after(async () => {
    await env?.teardown();
  });

  async function run<T>(
    fn: (h: WorkflowHandle, calls: string[]) => Promise<T>,
    over: Partial<DockerRollbackInput> = {},
    stub: StubOptions = {},
  ) {
    const { activities, calls } = stubActivities({ ...stub, approvalPolicy: RUNBOOK_APPROVAL_POLICY });
    const taskQueue = uniqueQueue('gate');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities,
    });
    return worker.runUntil(async () => {
      const h = await env.client.workflow.start('dockerContainerRollback', {
        taskQueue,
        workflowId: uniqueQueue('gate-docker'),
        args: [input(over)],
      });
      return fn(h, calls);
    });
  }

  async function untilGateOpen(h: WorkflowHandle): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const s = await h.query(statusQuery);
      if (s.pendingApproval?.approverRoles) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail('the gate did not open');
  }

  async function refused(h: WorkflowHandle, d: DecideUpdate): Promise<string> {
    const err = await h.executeUpdate(decideUpdate, { args: [d] }).then(
      () => assert.fail(`${d.approver} (${d.role}) was accepted`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
    return err.cause?.message ?? '';
  }

  async function updateEvents(h: WorkflowHandle): Promise<number> {
    const events = (await h.fetchHistory()).events ?? [];
    return events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
  }

  it('approves through the update: the record comes back, the policy and decision are in status and result', async () => {
    await run(async (h, calls) => {
      await untilGateOpen(h);
      const s = await h.query(statusQuery);
      assert.equal(s.approvalPolicy?.path, RUNBOOK_APPROVAL_POLICY);
      assert.match(s.approvalPolicy?.sha256 ?? '', /^[0-9a-f]{64}$/);
      assert.deepEqual(s.pendingApproval?.approverRoles, [
        'on-call-engineer',
        'engineering-manager',
        'director-of-engineering',
        'vp-engineering',
      ]);
      assert.equal(s.pendingApproval?.contact, '@oncall-eng');
      const record = await h.executeUpdate(decideUpdate, {
        args: [approve('eng-manager', 'engineering-manager', 'go')],
      });
      assert.equal(record.decision, 'approved');
      assert.equal(record.via, 'update');
      const r = (await h.result()) as DockerRollbackResult;
      assert.equal(r.outcome, 'succeeded');
      assert.deepEqual(
        r.approvals.map((a) => [a.decision, a.approver, a.via, a.comment]),
        [['approved', 'eng-manager', 'update', 'go']],
      );
      assert.ok(calls.includes('loadApprovalPolicy'));
      assert.ok(calls.includes('notify:approval-needed'));
      assert.equal(await updateEvents(h), 1);
      // the history holds the policy the run decided under
      const [loaded] = await activityRuns(h, 'loadApprovalPolicy');
      const recorded = loaded?.result as { sha256: string; policy: { people: Record<string, unknown> } };
      assert.equal(recorded.sha256, s.approvalPolicy?.sha256);
      assert.ok(recorded.policy.people['eng-manager']);
    });
  });

  it('the validator refuses before history: not in the roster, a role not theirs, the requester, a second decision', async () => {
    await run(
      async (h, calls) => {
        await untilGateOpen(h);
        assert.match(
          await refused(h, approve('mallory', 'on-call-engineer')),
          /'mallory' is not in the approval roster/,
        );
        assert.match(
          await refused(h, approve('backup-eng', 'on-call-engineer')),
          /the roster does not give 'backup-eng' the role 'on-call-engineer'/,
        );
        assert.match(await refused(h, approve('tech-lead', 'tech-lead')), /may not decide an application rollback/);
        assert.match(await refused(h, approve('oncall-eng', 'on-call-engineer')), /four eyes/);
        assert.match(
          await refused(h, { decision: 'reject', approver: 'eng-manager', role: 'engineering-manager' }),
          /a rejection needs a reason/,
        );
        assert.equal(await updateEvents(h), 0, 'refused updates leave nothing in history');
        assert.deepEqual((await h.query(statusQuery)).approvals, []);
        await h.executeUpdate(decideUpdate, { args: [approve('eng-manager', 'engineering-manager')] });
        // the rollback is under way (runContainer takes a while): a second decision is refused
        assert.match(
          await refused(h, {
            decision: 'reject',
            approver: 'director-eng',
            role: 'director-of-engineering',
            comment: 'no',
          }),
          /already approved by eng-manager \(engineering-manager\): a decision is final/,
        );
        const r = (await h.result()) as DockerRollbackResult;
        assert.equal(r.outcome, 'succeeded');
        assert.equal(await updateEvents(h), 1);
        assert.deepEqual(
          r.approvals.map((a) => [a.decision, a.approver, a.via]),
          [['approved', 'eng-manager', 'update']],
        );
        assert.deepEqual(calls.filter((c) => MUTATIONS.includes(c)).slice(0, 1), ['preserveContainer']);
      },
      {},
      { runContainerMs: 3000 },
    );
  });

  it('signals failing the same checks are recorded as refused and change nothing', async () => {
    await run(async (h) => {
      await untilGateOpen(h);
      await h.signal(approveSignal, { approver: 'mallory', role: 'director-of-engineering' });
      await h.signal(approveSignal, { approver: 'oncall-eng', role: 'on-call-engineer' });
      await h.signal(rejectSignal, { approver: 'oncall-eng', role: 'engineer', reason: 'no' });
      const s = await h.query(statusQuery);
      assert.equal(s.phase, 'awaiting-approval');
      assert.deepEqual(
        s.approvals.map((a) => [a.decision, a.approver, a.via]),
        [
          ['refused', 'mallory', 'signal'],
          ['refused', 'oncall-eng', 'signal'],
          ['refused', 'oncall-eng', 'signal'],
        ],
      );
      assert.match(s.approvals[1]!.refusal ?? '', /four eyes/);
      await h.signal(approveSignal, { approver: '@director-eng', role: 'director-of-engineering' });
      await h.signal(rejectSignal, { approver: 'eng-manager', role: 'engineering-manager', reason: 'late' });
      const r = (await h.result()) as DockerRollbackResult;
      assert.equal(r.outcome, 'succeeded');
      assert.deepEqual(
        r.approvals.slice(3).map((a) => [a.decision, a.approver, a.refusal?.startsWith('already approved')]),
        [
          ['approved', '@director-eng', undefined],
          ['refused', 'eng-manager', true],
        ],
      );
    });
  });

  it('signals sent before the policy is loaded are judged by it, in arrival order', async () => {
    const { activities } = stubActivities({ approvalPolicy: RUNBOOK_APPROVAL_POLICY });
    const taskQueue = uniqueQueue('gate-early');
    const h = await env.client.workflow.start('dockerContainerRollback', {
      taskQueue,
      workflowId: uniqueQueue('gate-early'),
      args: [input()],
    });
    await h.signal(approveSignal, { approver: 'mallory', role: 'on-call-engineer' });
    await h.signal(approveSignal, { approver: 'oncall-eng', role: 'on-call-engineer' });
    await h.signal(approveSignal, { approver: 'backup-eng', role: 'engineer' });
    await h.signal(approveSignal, { approver: 'eng-manager', role: 'engineering-manager' });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities,
    });
    await worker.runUntil(async () => {
      const r = (await h.result()) as DockerRollbackResult;
      assert.equal(r.outcome, 'succeeded');
      assert.deepEqual(
        r.approvals.map((a) => [a.decision, a.approver]),
        [
          ['refused', 'mallory'],
          ['refused', 'oncall-eng'],
          ['refused', 'backup-eng'],
          ['approved', 'eng-manager'],
        ],
      );
    });
  });

  it('a pre-approval outside the roster is recorded as refused and the gate waits', async () => {
    await run(
      async (h) => {
        await untilGateOpen(h);
        const s = await h.query(statusQuery);
        assert.deepEqual(
          s.approvals.map((a) => [a.decision, a.approver, a.via]),
          [['refused', 'ci', 'pre-approval']],
        );
        await h.executeUpdate(decideUpdate, { args: [approve('oncall-eng', 'on-call-engineer')] });
        assert.equal(((await h.result()) as DockerRollbackResult).outcome, 'succeeded');
      },
      { requestedBy: 'ci:deploy', approval: { preApproved: { approver: 'ci', role: 'on-call-engineer' } } },
    );
  });

  it('no decision in the window: the backup contact is told, approvers widen, the backup approves', async () => {
    await run(async (h, calls) => {
      await untilGateOpen(h);
      assert.match(await refused(h, approve('backup-eng', 'engineer')), /after escalation also: backup-eng/);
      await env.sleep('16 minutes');
      const s = await h.query(statusQuery);
      assert.equal(s.pendingApproval?.escalated, true);
      assert.deepEqual(s.pendingApproval?.alsoMayDecide, ['backup-eng']);
      const esc = s.approvals.find((a) => a.decision === 'escalated');
      assert.deepEqual(esc?.escalation, {
        afterSeconds: 900,
        notified: ['@backup-eng'],
        notification: 'slack not-configured, pagerduty not-configured',
        addPeople: ['backup-eng'],
        addRoles: [],
        windowSeconds: 900,
      });
      assert.ok(calls.includes('notify:escalated'));
      const record = await h.executeUpdate(decideUpdate, { args: [approve('backup-eng', 'engineer', 'covering')] });
      assert.equal(record.approver, 'backup-eng');
      const r = (await h.result()) as DockerRollbackResult;
      assert.equal(r.outcome, 'succeeded');
      assert.deepEqual(
        r.approvals.map((a) => a.decision),
        ['escalated', 'approved'],
      );
    });
  });

  it('over the one-hour impact rule the escalation adds nobody: the backup engineer is refused, a manager approves', async () => {
    await run(
      async (h, calls) => {
        await untilGateOpen(h);
        assert.deepEqual((await h.query(statusQuery)).pendingApproval?.approverRoles, [
          'engineering-manager',
          'director-of-engineering',
          'vp-engineering',
        ]);
        await env.sleep('16 minutes');
        const s = await h.query(statusQuery);
        assert.equal(s.pendingApproval?.escalated, true);
        assert.deepEqual(s.pendingApproval?.alsoMayDecide, []);
        const esc = s.approvals.find((a) => a.decision === 'escalated');
        assert.deepEqual([esc?.escalation?.notified, esc?.escalation?.addPeople], [['@backup-eng'], []]);
        assert.ok(calls.includes('notify:escalated'), 'the backup contact is still told');
        const why = await refused(h, approve('backup-eng', 'engineer', 'covering'));
        assert.match(why, /expected impact 90 min > 60 min/);
        assert.match(why, /escalation widens only within the impact rule/);
        await h.signal(approveSignal, { approver: 'backup-eng', role: 'engineer' });
        await h.executeUpdate(decideUpdate, { args: [approve('eng-manager', 'engineering-manager', 'go')] });
        const r = (await h.result()) as DockerRollbackResult;
        assert.equal(r.outcome, 'succeeded');
        assert.deepEqual(
          r.approvals.map((a) => [a.decision, a.approver]),
          [
            ['escalated', 'backup-eng'],
            ['refused', 'backup-eng'],
            ['approved', 'eng-manager'],
          ],
        );
      },
      { approval: { expectedImpactMinutes: 90 } },
    );
  });

  it('still no decision after the escalation: not approved, nothing changed, both notifications sent', async () => {
    await run(async (h, calls) => {
      const r = (await h.result()) as DockerRollbackResult;
      assert.equal(r.outcome, 'approval-timed-out');
      assert.deepEqual(
        r.approvals.map((a) => a.decision),
        ['escalated'],
      );
      const step = r.timeline.find((t) => t.name === 'approval');
      assert.equal(step?.detail, 'not approved: no decision within 1800s');
      assert.deepEqual(
        calls.filter((c) => MUTATIONS.includes(c)),
        [],
      );
      assert.deepEqual(
        calls.filter((c) => c.startsWith('notify:')),
        // the rollback's own started, then the approval's two, then failed: the rollback did not happen
        ['notify:started', 'notify:approval-needed', 'notify:escalated', 'notify:failed'],
      );
      const waited = Date.parse(r.endedAt) - Date.parse(step.startedAt);
      assert.ok(waited >= 1800_000, `waited ${waited} ms of workflow time`);
    });
  });
});
