// Qdrant transfer benchmark (figures printed, never asserted):
//  1. export + import of N points × 384 dims (default 100k) through the workflow — the schema rollback's
//     resumable scroll→upsert copy, run by a worker process — against a plain scroll/upsert loop with the same
//     batch size in this process, in one run: throughput ratio (target >= 0.9x);
//  2. the worker's peak RSS (VmHWM) for the same workflow at 50k and at 200k points (target: flat).
// Runs against the Qdrant double; with --real (or QDRANT_REAL=1) against a real Qdrant 1.18.3 server process of its
// own (test/helpers/qdrant-server.ts: the binary `npm run provision` caches, free ports, its own storage, removed
// after); or against your own server with QDRANT_URL.
// Usage: node --import tsx bench/qdrant-transfer.bench.ts [--real] [--points 100000] [--rss-small 50000]
//        [--rss-large 200000] [--only ab|rss]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { QdrantClient } from '@qdrant/js-client-rest';
import type { QdrantSchemaRollbackResult } from '../workflows/database/schema.ts';
import { startTestQdrant, vectorFor, type TestQdrant } from '../test/helpers/qdrant.ts';
import { startQdrantServer } from '../test/helpers/qdrant-server.ts';
import { localEnv, uniqueQueue } from '../test/helpers/temporal.ts';
import { spawnWorker } from '../test/helpers/worker-process.ts';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

const DIM = 384;
const BATCH = 256;
// a roster approver of the committed policy (config/approval-policy.json), not the requester ('bench')
const EM = { approver: 'eng-manager', role: 'engineering-manager' };

async function seedFast(client: QdrantClient, collection: string, n: number): Promise<void> {
  await client.createCollection(collection, { vectors: { size: DIM, distance: 'Cosine' } });
  for (let i = 0; i < n; i += BATCH) {
    const points = [];
    for (let id = i + 1; id <= Math.min(n, i + BATCH); id++)
      points.push({ id, vector: vectorFor(id, DIM), payload: { content: `m${id}` } });
    await client.upsert(collection, { wait: true, points });
  }
}

/** The double (or QDRANT_URL), or with `real` a Qdrant 1.18.3 server process started for this run (no proxy). */
type BenchQdrant = Pick<TestQdrant, 'url' | 'client' | 'tmp' | 'stop'>;

async function startBenchQdrant(real: boolean): Promise<BenchQdrant> {
  if (!real) return startTestQdrant({ double: !process.env.QDRANT_URL });
  const server = await startQdrantServer();
  const tmp = await mkdtemp(join(tmpdir(), 'cortex-qbench-'));
  console.log(`real Qdrant 1.18.3 at ${server.url} (storage ${server.storagePath})`);
  return {
    url: server.url,
    client: server.client,
    tmp,
    stop: async () => {
      await server.stop();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

async function plainLoop(client: QdrantClient, source: string, target: string): Promise<number> {
  await client.createCollection(target, { vectors: { size: DIM, distance: 'Dot' } });
  const t = performance.now();
  let offset: string | number | null | undefined = undefined;
  do {
    const page = await client.scroll(source, {
      limit: BATCH,
      with_payload: true,
      with_vector: true,
      ...(offset != null ? { offset } : {}),
    });
    if (page.points.length) {
      await client.upsert(target, {
        wait: true,
        points: page.points.map((p) => ({ id: p.id, vector: p.vector as number[], payload: p.payload ?? {} })),
      });
    }
    offset = page.next_page_offset as string | number | null | undefined;
  } while (offset != null);
  return performance.now() - t;
}

async function viaWorkflow(
  env: TestWorkflowEnvironment,
  q: BenchQdrant,
  alias: string,
): Promise<{ copyMs: number; totalMs: number; peakRssMb: number }> {
  const taskQueue = uniqueQueue('qbench');
  const w = spawnWorker({
    address: env.address,
    taskQueue,
    extra: { QDRANT_URL: q.url, CORTEX_BACKUP_DIR: join(q.tmp, 'backups') },
  });
  await w.ready;
  const t = performance.now();
  const r = (await env.client.workflow.execute('qdrantSchemaRollback', {
    taskQueue,
    workflowId: uniqueQueue('rollback-database-bench'),
    args: [
      {
        collection: alias,
        target: { size: DIM, distance: 'Dot' },
        batchSize: BATCH,
        reason: 'bench',
        requestedBy: 'bench',
        approval: { preApproved: EM },
      },
    ],
  })) as QdrantSchemaRollbackResult;
  const totalMs = performance.now() - t;
  const status = await readFile(`/proc/${w.proc.pid}/status`, 'utf8');
  const peakRssMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  await w.kill();
  const copy = r.timeline.find((s) => s.name.startsWith('copy '));
  if (r.outcome !== 'succeeded' || !copy?.endedAt) throw new Error(`workflow did not succeed: ${r.outcome}`);
  return { copyMs: Date.parse(copy.endedAt) - Date.parse(copy.startedAt), totalMs, peakRssMb };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      points: { type: 'string', default: '100000' },
      'rss-small': { type: 'string', default: '50000' },
      'rss-large': { type: 'string', default: '200000' },
      only: { type: 'string' },
      real: { type: 'boolean', default: process.env.QDRANT_REAL === '1' },
    },
  });
  const n = Number(values.points);
  const env = await localEnv();
  const q = await startBenchQdrant(values.real === true);
  try {
    console.log(`seeding ${n} points × ${DIM} dims …`);
    await seedFast(q.client, 'bench-src', n);
    if (values.only !== 'rss') {
      const rate = (ms: number) => ((n / ms) * 1000).toFixed(0);
      console.log(`\n1. export + import of ${n} points × ${DIM} dims, batches of ${BATCH}, 2 pairs (A B A B)`);
      const ratios: number[] = [];
      for (const round of [1, 2]) {
        await q.client.updateCollectionAliases({
          actions: [{ create_alias: { alias_name: `bench-${round}`, collection_name: 'bench-src' } }],
        });
        const wf = await viaWorkflow(env, q, `bench-${round}`);
        const plain = await plainLoop(q.client, 'bench-src', `bench-plain-${round}`);
        ratios.push(plain / wf.copyMs);
        console.log(
          `   pair ${round}: A workflow copy step ${wf.copyMs.toFixed(0)} ms (${rate(wf.copyMs)} points/s; whole workflow incl. pre-rollback backup and verification ${wf.totalMs.toFixed(0)} ms)` +
            ` | B plain scroll/upsert loop ${plain.toFixed(0)} ms (${rate(plain)} points/s) | throughput A/B ${(plain / wf.copyMs).toFixed(2)}x`,
        );
      }
      console.log(`   throughput ratio A/B: ${ratios.map((r) => r.toFixed(2)).join(', ')}  target >= 0.9x`);
    }
    if (values.only === 'ab') return;

    const rss: Array<[number, number]> = [];
    for (const size of [Number(values['rss-small']), Number(values['rss-large'])]) {
      const src = `rss-${size}`;
      console.log(`seeding ${size} points for the RSS run …`);
      await seedFast(q.client, src, size);
      await q.client.updateCollectionAliases({
        actions: [{ create_alias: { alias_name: `rss-alias-${size}`, collection_name: src } }],
      });
      const r = await viaWorkflow(env, q, `rss-alias-${size}`);
      rss.push([size, r.peakRssMb]);
      await q.client.deleteCollection(src);
    }
    console.log(`\n2. worker peak RSS (VmHWM) for the same workflow`);
    for (const [size, mb] of rss) console.log(`   ${size} points: ${mb.toFixed(0)} MiB`);
    console.log(`   ratio large/small: ${(rss[1]![1] / rss[0]![1]).toFixed(2)}  target: flat (about 1.0)`);
  } finally {
    await q.stop();
    await env.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
