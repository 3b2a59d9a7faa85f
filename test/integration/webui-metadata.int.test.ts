// What the Web UI and `temporal workflow describe` / `metadata` show for a rollback on the real dev server: the
// start's summary and details, the current details (phase, what it waits for, until when) and the signal
// descriptions the Send a Signal dialog reads — the same server answers the UI. Activities are stubs: the display
// is under test, not Docker.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { execa } from 'execa';
import { startWorkflow } from '../../client/client.ts';
import { temporalCliPath } from '../../common/tools.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import { approveSignal } from '../../workflows/phases/approval.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import { stubActivities } from '../helpers/stub-activities.ts';
import { APPROVER, localEnv, REQUESTER, testClient, uniqueQueue } from '../helpers/temporal.ts';

describe('the Web UI metadata on the dev server (temporal workflow describe / metadata)', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await localEnv();
  });
  after(async () => {
    await env?.teardown();
  });

  const temporal = (...args: string[]) =>
    execa(temporalCliPath(), [...args, '--address', env.address, '--namespace', 'default'], { reject: false });

  it('describe shows the summary; metadata shows the current details and the signal descriptions', async () => {
    const taskQueue = uniqueQueue('webui-int');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: stubActivities({}).activities,
    });
    await worker.runUntil(async () => {
      const workflowId = uniqueQueue('rollback-docker-webui-int');
      await startWorkflow(
        testClient(env, taskQueue),
        'dockerContainerRollback',
        {
          containerName: 'cortex-mcp',
          targetImage: 'cortex-memory-mcp:v2.0.0',
          healthUrl: 'http://127.0.0.1:3000/health',
          reason: 'v2.1.0 fails /health',
          requestedBy: REQUESTER,
          monitor: { durationSeconds: 0 },
        },
        workflowId,
      );
      const h = env.client.workflow.getHandle(workflowId);
      let deadline = '';
      for (let i = 0; i < 200 && !deadline; i++) {
        deadline = (await h.query(statusQuery)).pendingApproval?.deadline ?? '';
        if (!deadline) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(deadline, 'the workflow reached the approval gate');

      const d = await temporal('workflow', 'describe', '--workflow-id', workflowId, '--output', 'json');
      assert.equal(d.exitCode, 0, d.stderr);
      assert.ok(
        d.stdout.includes('roll back docker:cortex-mcp → cortex-memory-mcp:v2.0.0, on-call approval'),
        d.stdout.slice(0, 3000),
      );

      const m = await temporal('workflow', 'metadata', '--workflow-id', workflowId);
      assert.equal(m.exitCode, 0, m.stderr);
      assert.match(m.stdout, /awaiting-approval/);
      assert.ok(m.stdout.includes(deadline), m.stdout);
      assert.match(m.stdout, /Approve the rollback\. Input: \{"approver":"oncall-eng","role":"on-call-engineer"/);
      assert.match(m.stdout, /Reject the rollback/);

      await h.signal(approveSignal, APPROVER.application);
      const r = (await h.result()) as { outcome: string; approvals: { approver: string }[] };
      assert.deepEqual([r.outcome, r.approvals.map((a) => a.approver)], ['succeeded', [APPROVER.application.approver]]);
    });
  });
});
