// Records the workflow histories that test/unit/replay.test.ts replays, one per path through
// dockerContainerRollback (approved and watched, rejected, approval timeout, compensation, watch breach).
// Run after a deliberate, patched() workflow change:  node --import tsx scripts/record-histories.ts
// Never re-record to make a failing replay pass: a failing replay means running workflows would break.
import { execa } from 'execa';
import { Worker } from '@temporalio/worker';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, temporalCliPath } from '../common/tools.ts';
import { workflowBundle } from '../workers/bundle.ts';
import { approveSignal, rejectSignal } from '../workflows/approval.ts';
import type { DockerRollbackInput } from '../workflows/docker-rollback.ts';
import { stubActivities, type StubOptions } from '../test/helpers/stub-activities.ts';
import { timeSkippingEnv } from '../test/helpers/temporal.ts';

const base: DockerRollbackInput = {
  containerName: 'cortex-mcp',
  targetImage: 'cortex-memory-mcp:v2.0.0',
  healthUrl: 'http://127.0.0.1:3000/health',
  reason: 'v2.1.0 fails /health',
  requestedBy: 'recorder',
};
const pre = { preApproved: { approver: 'ci', role: 'on-call-engineer' } };

const scenarios: Array<{ name: string; stub: StubOptions; input: DockerRollbackInput; signal?: 'approve' | 'reject' }> =
  [
    {
      name: 'docker-approved-watched',
      stub: {},
      input: { ...base, monitor: { durationSeconds: 300, intervalSeconds: 30 } },
      signal: 'approve',
    },
    { name: 'docker-rejected', stub: {}, input: base, signal: 'reject' },
    { name: 'docker-approval-timeout', stub: {}, input: { ...base, approval: { timeoutSeconds: 60 } } },
    { name: 'docker-compensated', stub: { health: [false] }, input: { ...base, approval: pre } },
    {
      name: 'docker-watch-breach',
      stub: { health: [true, false] },
      input: { ...base, approval: pre, monitor: { durationSeconds: 600, intervalSeconds: 30 } },
    },
  ];

async function main(): Promise<void> {
  const env = await timeSkippingEnv();
  const bundle = await workflowBundle();
  const dir = join(PROJECT_ROOT, 'test', 'histories');
  mkdirSync(dir, { recursive: true });
  try {
    for (const s of scenarios) {
      const { activities } = stubActivities(s.stub);
      const taskQueue = `record-${s.name}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: bundle,
        activities,
      });
      await worker.runUntil(async () => {
        const h = await env.client.workflow.start('dockerContainerRollback', {
          taskQueue,
          workflowId: `rollback-docker-${s.name}`,
          args: [s.input],
        });
        if (s.signal === 'approve') await h.signal(approveSignal, { approver: 'alice', role: 'on-call-engineer' });
        if (s.signal === 'reject')
          await h.signal(rejectSignal, { approver: 'erin', role: 'engineering-manager', reason: 'fix forward' });
        await h.result().catch(() => undefined);
        // The temporal CLI writes the canonical JSON form that historyFromJSON and the Web UI read.
        const shown = await execa(temporalCliPath(), [
          'workflow',
          'show',
          '--workflow-id',
          h.workflowId,
          '--address',
          env.address,
          '-o',
          'json',
        ]);
        writeFileSync(join(dir, `${s.name}.json`), shown.stdout);
        console.log(`recorded ${s.name}`);
      });
    }
  } finally {
    await env.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
