// The fleet rollback under the runbook's approval policy (roster, four eyes), on the time-skipping server with
// stubbed host activities: the one fleet approval is carried to every child as a pre-approval the child's own gate
// accepts (the approver from the roster, not a made-up name), so no child waits; the bake between waves is a
// durable timer (skipped here); each child's Docker steps run on its host's queue.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../workers/bundle.ts';
import type { DockerRollbackResult } from '../../workflows/application/docker-container.ts';
import type { FleetRollbackInput, FleetRollbackResult } from '../../workflows/application/fleet.ts';
import { decideUpdate } from '../../workflows/phases/approval.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import { stubActivities } from '../helpers/stub-activities.ts';
import { RUNBOOK_APPROVAL_POLICY, timeSkippingEnv, uniqueQueue } from '../helpers/temporal.ts';

describe('fleetRollback under the runbook approval policy (time-skipping, stubbed hosts)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: { codePath: string };
  before(async () => {
    env = await timeSkippingEnv();
    bundle = await workflowBundle();
  });
  after(async () => {
    await env?.teardown();
  });

  /** A two-host fleet under the runbook policy, requested by oncall-eng; `decide` approves it once its gate is open. */
  async function fleetRun(
    decide: (h: WorkflowHandle) => Promise<void>,
    check: (res: FleetRollbackResult, h: WorkflowHandle, run: string) => Promise<void>,
  ): Promise<{ central: string[]; perHost: string[][] }> {
    const run = uniqueQueue('fleet-unit');
    const hosts = [`${run}-h1`, `${run}-h2`];
    const central = stubActivities({ approvalPolicy: RUNBOOK_APPROVAL_POLICY });
    const perHost = hosts.map(() => stubActivities({ approvalPolicy: RUNBOOK_APPROVAL_POLICY }));
    const taskQueue = `${run}-main`;
    const workers = await Promise.all([
      Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: bundle,
        activities: central.activities,
      }),
      ...hosts.map((h, i) =>
        Worker.create({
          connection: env.nativeConnection,
          taskQueue: `cortex-rollback-host-${h}`,
          activities: perHost[i]!.activities,
        }),
      ),
    ]);
    const input: FleetRollbackInput = {
      name: run,
      targetImage: 'cortex-memory-mcp:v2.0.0',
      targets: hosts.map((host) => ({ host, container: 'cortex-mcp', healthUrl: 'http://127.0.0.1:3000/health' })),
      waves: 'canary:1,rest',
      maxConcurrency: 1,
      pauseBetweenWavesSeconds: 3600,
      monitor: { durationSeconds: 0 },
      reason: 'v2.1.0 fails /health',
      requestedBy: 'oncall-eng',
    };
    const [main, ...hostWorkers] = workers;
    const runAll = (fn: () => Promise<void>) =>
      hostWorkers.reduce(
        (inner, w) => () => w.runUntil(inner),
        () => main.runUntil(fn),
      )();
    await runAll(async () => {
      const h = await env.client.workflow.start('fleetRollback', { taskQueue, workflowId: run, args: [input] });
      for (let i = 0; i < 200 && !(await h.query(statusQuery)).pendingApproval?.approverRoles; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await decide(h);
      const res = (await h.result()) as FleetRollbackResult;
      assert.equal(res.outcome, 'succeeded', JSON.stringify(res.targets));
      assert.deepEqual(
        res.targets.map((t) => [t.host, t.phase, t.childWorkflowId]),
        hosts.map((host) => [host, 'succeeded', `rollback-docker-${host}-cortex-mcp`]),
      );
      await check(res, h, run);
    });
    return { central: central.calls, perHost: perHost.map((p) => p.calls) };
  }

  const children = (res: FleetRollbackResult) =>
    Promise.all(
      res.targets.map(
        async (t) => (await env.client.workflow.getHandle(t.childWorkflowId).result()) as DockerRollbackResult,
      ),
    );

  it('one approval by a roster approver; every child runs pre-approved by them, its steps on its host', async () => {
    const calls = await fleetRun(
      async (h) => {
        await h.executeUpdate(decideUpdate, {
          args: [{ decision: 'approve', approver: 'eng-manager', role: 'engineering-manager', comment: 'fleet go' }],
        });
      },
      async (res, h, run) => {
        for (const child of await children(res)) {
          assert.deepEqual(
            child.approvals.map((a) => [a.decision, a.approver, a.role, a.via]),
            [['approved', 'eng-manager', 'engineering-manager', 'pre-approval']],
          );
          assert.match(child.approvals[0]!.comment ?? '', new RegExp(`fleet ${run}: approved via update`));
        }
        const status = await h.query(statusQuery);
        const pause = status.steps.find((s) => s.name === 'pause before rest');
        assert.equal(pause?.state, 'completed');
        assert.ok(Date.parse(pause.endedAt!) - Date.parse(pause.startedAt) >= 3600_000, 'a one-hour durable bake');
      },
    );
    // the Docker steps ran on the hosts' workers; only the policy and notifications centrally
    for (const c of calls.perHost) assert.ok(c.includes('runContainer') && c.includes('removePreserved'));
    assert.ok(!calls.central.includes('runContainer'));
  });

  it('approved by the VP of engineering (a role the policy allows, once outside the hard-coded list): every target rolls', async () => {
    await fleetRun(
      async (h) => {
        await h.executeUpdate(decideUpdate, {
          args: [{ decision: 'approve', approver: 'vp-eng', role: 'vp-engineering', comment: 'go' }],
        });
      },
      async (res) => {
        for (const child of await children(res)) {
          assert.deepEqual(
            child.approvals.map((a) => [a.decision, a.approver, a.role, a.via]),
            [['approved', 'vp-eng', 'vp-engineering', 'pre-approval']],
          );
        }
      },
    );
  });

  it("approved after escalation by the backup contact: every child takes the fleet's decision and rolls", async () => {
    await fleetRun(
      async (h) => {
        await env.sleep('16 minutes');
        assert.equal((await h.query(statusQuery)).pendingApproval?.escalated, true);
        await h.executeUpdate(decideUpdate, {
          args: [{ decision: 'approve', approver: 'backup-eng', role: 'engineer', comment: 'covering' }],
        });
      },
      async (res, _h, run) => {
        for (const child of await children(res)) {
          assert.deepEqual(
            child.approvals.map((a) => [a.decision, a.approver, a.role, a.via]),
            [['approved', 'backup-eng', 'engineer', 'pre-approval']],
          );
          const comment = child.approvals[0]!.comment ?? '';
          assert.match(comment, new RegExp(`^fleet ${run}: approved via update`));
          // the child's own gate alone would not have counted it: the fleet's escalation did
          assert.match(comment, /the fleet's decision as its gate judged it .*role 'engineer' may not decide/);
        }
      },
    );
  });
});
