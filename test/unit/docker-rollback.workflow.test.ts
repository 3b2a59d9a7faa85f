// Workflow logic in the time-skipping test server with stubbed activities: the approval gate (wait, timeout,
// reject, refused roles, early signals, pre-approval), compensation, the 30-minute watch and its breach rule. Under
// the committed approval policy (the stubs' default): roster approvers, a requester who is not the approver.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../workers/bundle.ts';
import { approveSignal, rejectSignal } from '../../workflows/phases/approval.ts';
import type { DockerRollbackInput, DockerRollbackResult } from '../../workflows/application/docker-container.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import { stubActivities, type StubOptions } from '../helpers/stub-activities.ts';
import { APPROVER, REQUESTER, timeSkippingEnv, uniqueQueue } from '../helpers/temporal.ts';
import { workflowFailure } from '../helpers/failures.ts';

const MUTATIONS = [
  'preserveContainer',
  'stopContainer',
  'runContainer',
  'removeOwnContainer',
  'restorePreserved',
  'removePreserved',
];

const input = (over: Partial<DockerRollbackInput> = {}): DockerRollbackInput => ({
  containerName: 'cortex-mcp',
  targetImage: 'cortex-memory-mcp:v2.0.0',
  healthUrl: 'http://127.0.0.1:3000/health',
  reason: 'v2.1.0 fails /health',
  requestedBy: REQUESTER,
  monitor: { durationSeconds: 0 },
  ...over,
});

describe('dockerContainerRollback workflow (time-skipping, stubbed activities)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: { codePath: string };
  before(async () => {
    env = await timeSkippingEnv();
    bundle = await workflowBundle();
  });
  after(async () => {
    await env?.teardown();
  });

  async function withWorker<T>(stub: StubOptions, fn: (tq: string, calls: string[]) => Promise<T>): Promise<T> {
    const { activities, calls } = stubActivities(stub);
    const taskQueue = uniqueQueue('wf');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities,
    });
    return worker.runUntil(fn(taskQueue, calls));
  }

  const start = (tq: string, i: DockerRollbackInput) =>
    env.client.workflow.start('dockerContainerRollback', {
      taskQueue: tq,
      workflowId: uniqueQueue('rollback-docker'),
      args: [i],
    });

  const failureOf = workflowFailure;

  async function untilPhase(
    h: {
      query: typeof env.client.workflow.getHandle extends (...a: never[]) => infer H
        ? H extends { query: infer Q }
          ? Q
          : never
        : never;
    },
    phase: string,
  ): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const s = await h.query(statusQuery);
      if (s.phase === phase) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`workflow never reached phase ${phase}`);
  }

  it('waits for approval, escalates to the backup contact after 15 min, ends as not approved 15 min later, changing nothing', async () => {
    await withWorker({}, async (tq, calls) => {
      const h = await start(tq, input({ approval: { timeoutSeconds: 900 } }));
      const r = (await h.result()) as DockerRollbackResult;
      assert.equal(r.outcome, 'approval-timed-out');
      assert.deepEqual(
        calls.filter((c) => MUTATIONS.includes(c)),
        [],
      );
      assert.deepEqual(
        r.approvals.map((a) => a.decision),
        ['escalated'],
      );
      assert.ok(calls.includes('notify:escalated'), calls.join(','));
      const approval = r.timeline.find((s) => s.name === 'approval');
      assert.match(approval?.detail ?? '', /no decision within 1800s/);
    });
  });

  it('a rejection ends the rollback with nothing changed', async () => {
    await withWorker({}, async (tq, calls) => {
      const h = await start(tq, input());
      await untilPhase(h, 'awaiting-approval');
      await h.signal(rejectSignal, { ...APPROVER.database, reason: 'fix forward instead' });
      const r = (await h.result()) as DockerRollbackResult;
      assert.equal(r.outcome, 'rejected');
      assert.equal(r.approvals[0]?.decision, 'rejected');
      assert.deepEqual(
        calls.filter((c) => MUTATIONS.includes(c)),
        [],
      );
    });
  });

  it('refuses an approval from a role that may not approve, an unknown role and the requester, then accepts the on-call engineer', async () => {
    await withWorker({}, async (tq, calls) => {
      const h = await start(tq, input());
      await untilPhase(h, 'awaiting-approval');
      await h.signal(approveSignal, { approver: 'backup-eng', role: 'engineer' });
      await h.signal(approveSignal, { approver: 'mallory', role: 'ceo' });
      await h.signal(approveSignal, { approver: REQUESTER, role: 'engineer' });
      const s = await h.query(statusQuery);
      assert.equal(s.phase, 'awaiting-approval');
      assert.deepEqual(
        s.approvals.map((a) => a.decision),
        ['refused', 'refused', 'refused'],
      );
      assert.match(s.approvals[0]?.refusal ?? '', /needs 'on-call-engineer'/);
      assert.match(s.approvals[1]?.refusal ?? '', /unknown role 'ceo'/);
      assert.match(s.approvals[2]?.refusal ?? '', /requested this rollback and may not decide it \(four eyes\)/);
      assert.deepEqual(
        calls.filter((c) => MUTATIONS.includes(c)),
        [],
      );
      await h.signal(approveSignal, { ...APPROVER.application, comment: 'go' });
      const r = (await h.result()) as DockerRollbackResult;
      assert.equal(r.outcome, 'succeeded');
      assert.equal(r.approvals.at(-1)?.approver, APPROVER.application.approver);
      assert.deepEqual(
        calls.filter((c) => MUTATIONS.includes(c)),
        ['preserveContainer', 'stopContainer', 'runContainer', 'removePreserved'],
      );
    });
  });

  it('counts an approval signalled before the workflow reaches the gate', async () => {
    await withWorker({}, async (tq) => {
      const h = await env.client.workflow.signalWithStart('dockerContainerRollback', {
        taskQueue: tq,
        workflowId: uniqueQueue('rollback-docker'),
        args: [input()],
        signal: approveSignal,
        signalArgs: [APPROVER.infrastructure],
      });
      const r = (await h.result()) as DockerRollbackResult;
      assert.equal(r.outcome, 'succeeded');
      assert.equal(r.approvals[0]?.role, 'director-of-engineering');
    });
  });

  it('pre-approval by automation is recorded with who approved', async () => {
    await withWorker({}, async (tq) => {
      const h = await start(tq, input({ approval: { preApproved: APPROVER.ci } }));
      const r = (await h.result()) as DockerRollbackResult;
      assert.equal(r.outcome, 'succeeded');
      assert.deepEqual(
        r.approvals.map((a) => [a.approver, a.via]),
        [[APPROVER.ci.approver, 'pre-approval']],
      );
    });
  });

  it('compensates when verification fails: removes the new container, restores the old, and says both', async () => {
    await withWorker({ health: [false] }, async (tq, calls) => {
      const h = await start(tq, input({ approval: { preApproved: APPROVER.ci } }));
      const f = await failureOf(h.result());
      assert.equal(f.type, 'VerificationFailed');
      assert.match(f.message, /did not answer healthy/);
      assert.match(f.message, /Restored: 'cortex-mcp' runs cortex-memory-mcp:v2\.1\.0 again/);
      assert.deepEqual(
        calls.filter((c) => MUTATIONS.includes(c)),
        ['preserveContainer', 'stopContainer', 'runContainer', 'removeOwnContainer', 'restorePreserved'],
      );
      const s = await h.query(statusQuery);
      assert.equal(s.phase, 'rolled-back-to-previous');
    });
  });

  it('cancelling mid-rollback runs the undos: the new container is removed and the old one restored', async () => {
    await withWorker({ runContainerMs: 20_000 }, async (tq, calls) => {
      const h = await start(tq, input({ approval: { preApproved: APPROVER.ci } }));
      for (let i = 0; i < 200 && !calls.includes('runContainer'); i++) await new Promise((r) => setTimeout(r, 25));
      await h.cancel();
      const err = await h.result().then(
        () => assert.fail('expected the workflow to end cancelled'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));
      assert.deepEqual(
        calls.filter((c) => MUTATIONS.includes(c)),
        ['preserveContainer', 'stopContainer', 'runContainer', 'removeOwnContainer', 'restorePreserved'],
      );
      const s = await h.query(statusQuery);
      assert.equal(s.phase, 'rolled-back-to-previous');
      assert.match(s.error ?? '', /cancelled\. Restored: 'cortex-mcp' runs cortex-memory-mcp:v2\.1\.0 again/);
    });
  });

  it('cancelling during the watch ends the watch only: the verified target keeps running, the old one is kept', async () => {
    await withWorker({ health: [true] }, async (tq, calls) => {
      const h = await start(
        tq,
        input({
          monitor: { durationSeconds: 600, intervalSeconds: 30 },
          approval: { preApproved: APPROVER.ci },
        }),
      );
      await untilPhase(h, 'monitoring');
      await h.cancel();
      const err = await h.result().then(
        () => assert.fail('expected the workflow to end cancelled'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));
      assert.deepEqual(
        calls.filter((c) => MUTATIONS.includes(c)),
        ['preserveContainer', 'stopContainer', 'runContainer'],
      );
      const s = await h.query(statusQuery);
      assert.equal(s.phase, 'watch-cancelled');
      assert.match(s.error ?? '', /keeps running.*previous container kept as 'cortex-mcp-pre-rollback-/);
    });
  });

  it('a missing target image fails before anything is touched', async () => {
    await withWorker({ imageExists: false }, async (tq, calls) => {
      const h = await start(tq, input({ approval: { preApproved: APPROVER.ci } }));
      const f = await failureOf(h.result());
      assert.match(f.message, /does not exist/);
      assert.deepEqual(
        calls.filter((c) => MUTATIONS.includes(c)),
        [],
      );
    });
  });

  it('the read-only steps run together; with container and image both missing the container is reported', async () => {
    await withWorker({ imageExists: false, containerExists: false }, async (tq, calls) => {
      const h = await start(tq, input({ approval: { preApproved: APPROVER.ci } }));
      const f = await failureOf(h.result());
      assert.match(f.message, /container 'cortex-mcp' does not exist.*nothing was changed/);
      const reads = calls.filter((c) => !c.startsWith('notify:'));
      assert.deepEqual([...reads].sort(), ['findImage', 'inspectContainer', 'probeHealth']);
      // started once the input was valid; failed, naming the original failure, at the end
      assert.deepEqual(
        calls.filter((c) => c.startsWith('notify:')),
        ['notify:started', 'notify:failed'],
      );
    });
  });

  it('invalid input fails at once, naming the field, with no activity run', async () => {
    await withWorker({}, async (tq, calls) => {
      for (const [bad, field] of [
        [{ containerName: 'bad name!' }, 'containerName'],
        [{ targetImage: 'cortex-memory-mcp' }, 'targetImage'],
        [{ targetImage: 'cortex-memory-mcp:latest' }, 'targetImage'],
        [{ healthUrl: 'ftp://x' }, 'healthUrl'],
        [{ monitor: { durationSeconds: 10, intervalSeconds: 30 } }, 'monitor.intervalSeconds'],
        [{ monitor: { durationSeconds: 86_400, intervalSeconds: 5 } }, 'monitor.intervalSeconds'],
        // not a role id at all (whether a well-formed role may approve is the approval policy's call, in the gate)
        [{ approval: { preApproved: { approver: 'bot', role: 'Engineer!' } } }, 'approval.preApproved.role'],
      ] as const) {
        const f = await failureOf(start(tq, input(bad as Partial<DockerRollbackInput>)).then((h) => h.result()));
        assert.equal(f.type, 'InvalidInput', f.message);
        assert.equal(f.nonRetryable, true);
        assert.ok(f.message.includes(field), `${f.message} should name ${field}`);
      }
      assert.deepEqual(calls, []);
    });
  });

  it('watches 30 minutes on durable timers without waiting 30 minutes, within 500 history events', async () => {
    await withWorker({ health: [true] }, async (tq, calls) => {
      const h = await start(tq, input({ monitor: {}, approval: { preApproved: APPROVER.ci } }));
      const r = (await h.result()) as DockerRollbackResult;
      assert.equal(r.outcome, 'succeeded');
      assert.equal(r.monitoring?.durationSeconds, 1800);
      assert.equal(r.monitoring?.samples, 60);
      assert.equal(r.monitoring?.breached, false);
      assert.equal(calls.filter((c) => c === 'probeHealth').length, 61); // 1 before + 60 during the watch
      const watched = Date.parse(r.monitoring.endedAt) - Date.parse(r.monitoring.startedAt);
      assert.ok(watched >= 1800_000, `watch lasted ${watched} ms of workflow time`);
      const history = await h.fetchHistory();
      assert.ok((history.events?.length ?? 0) <= 500, `history has ${history.events?.length} events`);
    });
  });

  it('a breach (more than 3 consecutive failures) stops the watch and keeps the previous container', async () => {
    await withWorker({ health: [true, true, false, false, false, false] }, async (tq, calls) => {
      const h = await start(
        tq,
        input({
          monitor: { durationSeconds: 600, intervalSeconds: 30 },
          approval: { preApproved: APPROVER.ci },
        }),
      );
      const f = await failureOf(h.result());
      assert.equal(f.type, 'MonitoringBreach');
      assert.match(f.message, /4 consecutive health checks/);
      assert.match(f.message, /previous container kept as 'cortex-mcp-pre-rollback-/);
      assert.ok(!calls.includes('removePreserved'));
      const s = await h.query(statusQuery);
      assert.equal(s.monitoring?.samples, 5);
    });
  });
});
