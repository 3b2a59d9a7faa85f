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
import { localEnv, timeSkippingEnv } from '../test/helpers/temporal.ts';
import { seed, startTestQdrant } from '../test/helpers/qdrant.ts';
import { createWorker } from '../workers/worker.ts';

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

/** Qdrant workflows, recorded with the real activities against the Qdrant double on the real dev server. */
async function recordQdrant(dir: string): Promise<void> {
  const env = await localEnv();
  const q = await startTestQdrant();
  const taskQueue = 'record-qdrant';
  const { worker } = await createWorker({
    settings: { address: env.address, namespace: 'default', taskQueue },
    connection: env.nativeConnection,
    deps: { qdrant: { client: q.client, url: q.url, backupRoot: join(q.tmp, 'backups') } },
  });
  const EM = { approver: 'erin', role: 'engineering-manager' };
  const who = { reason: 'record', requestedBy: 'recorder' };
  try {
    await worker.runUntil(async () => {
      await seed(q.client, 'rec', 300, 8);
      await q.client.updateCollectionAliases({
        actions: [{ create_alias: { alias_name: 'rec-alias', collection_name: 'rec' } }],
      });
      const runs: Array<[string, string, unknown]> = [
        ['qdrant-backup', 'qdrantBackup', { collection: 'rec', backupName: 'rec-1' }],
        ['qdrant-verify', 'qdrantBackup', { collection: 'rec', mode: 'verify' }],
        [
          'qdrant-recovery',
          'qdrantDataRecovery',
          { collection: 'rec', backup: 'rec-1', ...who, approval: { preApproved: EM } },
        ],
        [
          'qdrant-pit',
          'pointInTimeRecovery',
          {
            collection: 'rec',
            atOrBefore: new Date(Date.now() + 60_000).toISOString(),
            ...who,
            approval: { preApproved: EM },
          },
        ],
        ['qdrant-schema-refused', 'qdrantSchemaRollback', { collection: 'rec-alias', target: { size: 4 }, ...who }],
        [
          'qdrant-schema-distance',
          'qdrantSchemaRollback',
          { collection: 'rec-alias', target: { size: 8, distance: 'Dot' }, ...who, approval: { preApproved: EM } },
        ],
        [
          'qdrant-config',
          'qdrantConfigRollback',
          {
            collection: 'rec',
            target: { hnsw_config: { m: 8 } },
            ...who,
            approval: { preApproved: { approver: 'al', role: 'on-call-engineer' } },
          },
        ],
      ];
      for (const [name, type, input] of runs) {
        const h = await env.client.workflow.start(type, { taskQueue, workflowId: `rollback-${name}`, args: [input] });
        await h.result().catch(() => undefined);
        await save(dir, name, h.workflowId, env.address);
      }
    });
  } finally {
    await q.stop();
    await env.teardown();
  }
}

async function save(dir: string, name: string, workflowId: string, address: string): Promise<void> {
  // The temporal CLI writes the canonical JSON form that historyFromJSON and the Web UI read.
  const shown = await execa(temporalCliPath(), [
    'workflow',
    'show',
    '--workflow-id',
    workflowId,
    '--address',
    address,
    '-o',
    'json',
  ]);
  writeFileSync(join(dir, `${name}.json`), shown.stdout);
  console.log(`recorded ${name}`);
}

async function main(): Promise<void> {
  if (process.argv.includes('--qdrant-only')) {
    await recordQdrant(join(PROJECT_ROOT, 'test', 'histories'));
    return;
  }
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
  await recordQdrant(dir);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
