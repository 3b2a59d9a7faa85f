// Records the workflow histories that test/unit/replay.test.ts replays, one per path through
// dockerContainerRollback (approved and watched, rejected, approval timeout, compensation, watch breach).
// Run after a deliberate, patched() workflow change:  node --import tsx scripts/record-histories.ts
// New histories only (committed ones are never re-recorded): ... --qdrant-only --only=<name>,<name>
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
import { seed, startTestQdrant, vectorFor } from '../test/helpers/qdrant.ts';
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
      await seedSettings(q);
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
          'qdrant-schema-settings-recreate',
          'qdrantSchemaRollback',
          {
            collection: 'rec-settings',
            target: { size: 8, distance: 'Dot' },
            mode: 'recreate',
            ...who,
            approval: { preApproved: EM },
          },
        ],
        [
          'qdrant-schema-named-vector',
          'qdrantSchemaRollback',
          {
            collection: 'rec-named-alias',
            target: { size: 8, distance: 'Dot', vectorName: 'text' },
            ...who,
            approval: { preApproved: EM },
          },
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
      const only = process.argv
        .find((a) => a.startsWith('--only='))
        ?.slice('--only='.length)
        .split(',');
      for (const [name, type, input] of runs) {
        if (only && !only.includes(name)) continue;
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

/** Collections with settings and payload indexes to carry, one of them with named vectors (schema rollbacks). */
async function seedSettings(q: Awaited<ReturnType<typeof startTestQdrant>>): Promise<void> {
  const settings = {
    sparse_vectors: { keywords: {} },
    hnsw_config: { m: 24 },
    optimizers_config: { indexing_threshold: 5000 },
    strict_mode_config: { enabled: true, unindexed_filtering_retrieve: false },
    metadata: { recorded: true },
  };
  await q.client.api().createCollection({
    collection_name: 'rec-settings',
    vectors: { size: 8, distance: 'Cosine' },
    ...settings,
  });
  await q.client.api().createCollection({
    collection_name: 'rec-named',
    vectors: { text: { size: 8, distance: 'Cosine' }, image: { size: 3, distance: 'Dot' } },
    ...settings,
  });
  const ids = Array.from({ length: 60 }, (_, i) => i + 1);
  for (const [name, vector] of [
    ['rec-settings', (id: number) => ({ '': vectorFor(id, 8), keywords: { indices: [id], values: [1] } })],
    ['rec-named', (id: number) => ({ text: vectorFor(id, 8), image: [id, 1, -id] })],
  ] as const) {
    await q.client.createPayloadIndex(name, { wait: true, field_name: 'kind', field_schema: 'keyword' });
    await q.client.upsert(name, {
      wait: true,
      points: ids.map((id) => ({ id, vector: vector(id), payload: { kind: id % 2 ? 'odd' : 'even' } })),
    });
  }
  await q.client.updateCollectionAliases({
    actions: [{ create_alias: { alias_name: 'rec-named-alias', collection_name: 'rec-named' } }],
  });
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
