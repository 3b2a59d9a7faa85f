// Load benchmarks (figures printed, never asserted):
//  1. throughput of the real dockerContainerRollback workflow (pre-approved, no watch) on stub activities, in a
//     worker process (bench/load-worker.ts), against the same dev server's ceiling for an empty workflow and for
//     a no-op workflow of the rollback's shape (bench/workflows), same concurrency, in one run (halves in the
//     order E S R R S E): workflows/s of each and the ratios (target rollback/empty >= 0.8x);
//  2. concurrent real Docker rollbacks of small demo containers (bench-load-N, each on its own 127.0.0.1 port,
//     host network) through a worker process: how many succeeded, wall time, the worker's peak RSS (VmHWM).
// Usage: npm run bench:load [-- --only stub|docker] [--count 1000] [--concurrency 100] [--containers 50]
//        [--tuning '<JSON worker options>'] [--eager]  (to try other worker options / eager activity dispatch)
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDockerRollback, waitResult } from '../client/client.ts';
import { PROJECT_ROOT } from '../common/tools.ts';
import {
  BAD,
  containersNamed,
  ensureImages,
  GOOD,
  removeByPrefix,
  startApp,
  type App,
} from '../test/helpers/docker.ts';
import { localEnv, testClient, uniqueQueue } from '../test/helpers/temporal.ts';
import { spawnWorker } from '../test/helpers/worker-process.ts';

type Env = Awaited<ReturnType<typeof localEnv>>;

/** Runs `count` jobs with at most `concurrency` in flight; returns the wall time in ms. */
async function pool(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await job(next++);
    }),
  );
  return performance.now() - t;
}

async function stubThroughput(env: Env, count: number, concurrency: number, tuning?: string): Promise<void> {
  const taskQueue = uniqueQueue('bench-load');
  const w = spawnWorker({
    address: env.address,
    taskQueue,
    script: join(PROJECT_ROOT, 'bench', 'load-worker.ts'),
    ...(tuning ? { extra: { BENCH_TUNING: tuning } } : {}),
  });
  let seq = 0;
  const run =
    (type: string, args: unknown[] = []) =>
    async (): Promise<void> => {
      const r = (await env.client.workflow.execute(type, { taskQueue, workflowId: `bench-load-${seq++}`, args })) as
        string | { outcome: string };
      if (r !== 'done' && (r as { outcome?: string }).outcome !== 'succeeded')
        throw new Error(`${type}: ${JSON.stringify(r)}`);
    };
  const kinds = {
    empty: run('emptyWorkflow'),
    shaped: run('rollbackShapedWorkflow'),
    rollback: async () => {
      const id = seq;
      await run('dockerContainerRollback', [
        {
          containerName: `bench-load-stub-${id}`,
          targetImage: GOOD,
          healthUrl: 'http://127.0.0.1:9/health',
          reason: 'bench',
          requestedBy: 'bench',
          monitor: { durationSeconds: 0 },
          approval: { preApproved: { approver: 'bench', role: 'on-call-engineer' } },
        },
      ])();
    },
  };
  const half = Math.ceil(count / 2);
  const ms = { empty: 0, shaped: 0, rollback: 0 };
  try {
    await w.ready;
    for (const job of Object.values(kinds)) await pool(Math.min(100, count), concurrency, job); // warm-up
    for (const kind of ['empty', 'shaped', 'rollback', 'rollback', 'shaped', 'empty'] as const) {
      ms[kind] += await pool(half, concurrency, kinds[kind]);
    }
  } finally {
    await w.kill();
  }
  const rate = (ms: number) => ((2 * half) / ms) * 1000;
  console.log(
    `\n1. ${2 * half} workflows of each kind, ${concurrency} in flight, one worker process (order E S R R S E)`,
  );
  console.log(`   empty workflow (ceiling):                          ${rate(ms.empty).toFixed(0)} workflows/s`);
  console.log(`   no-op workflow with the rollback's shape (3 LA + 5): ${rate(ms.shaped).toFixed(0)} workflows/s`);
  console.log(`   docker rollback, stub activities:                  ${rate(ms.rollback).toFixed(0)} workflows/s`);
  console.log(
    `   ratio rollback/empty: ${(rate(ms.rollback) / rate(ms.empty)).toFixed(2)}x  target >= 0.8x;` +
      ` rollback/same-shape no-op: ${(rate(ms.rollback) / rate(ms.shaped)).toFixed(2)}x`,
  );
}

/** VmHWM: the process's peak resident set size so far, in MiB. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function concurrentDocker(env: Env, containers: number): Promise<void> {
  const taskQueue = uniqueQueue('bench-load-docker');
  const rc = testClient(env, taskQueue);
  const apps: App[] = [];
  const w = spawnWorker({ address: env.address, taskQueue });
  try {
    for (let i = 0; i < containers; i++) apps.push(await startApp(`bench-load-${i}`, BAD));
    await w.ready;
    const idleRssMb = await peakRss(w.proc.pid!);
    const t = performance.now();
    const results = await Promise.all(
      apps.map(async (app) => {
        const { workflowId } = await startDockerRollback(rc, {
          containerName: app.name,
          targetImage: GOOD,
          healthUrl: app.healthUrl,
          reason: 'bench',
          requestedBy: 'bench',
          monitor: { durationSeconds: 0 },
          approval: { preApproved: { approver: 'bench', role: 'on-call-engineer' } },
        });
        return waitResult(rc, workflowId);
      }),
    );
    const wallMs = performance.now() - t;
    const peakRssMb = await peakRss(w.proc.pid!);
    const ok = results.filter((r) => r.ok && r.result.outcome === 'succeeded').length;
    let onTarget = 0;
    for (const app of apps) {
      const [c] = await containersNamed(app.name);
      if (c?.Image === GOOD && c.State === 'running') onTarget += 1;
    }
    console.log(`\n2. ${containers} concurrent real Docker rollbacks (one worker process)`);
    console.log(`   succeeded: ${ok}/${containers} (running the target image afterwards: ${onTarget})`);
    for (const r of results) if (!r.ok) console.log(`   failed: ${r.type}: ${r.message}`);
    console.log(`   wall time: ${(wallMs / 1000).toFixed(2)} s`);
    console.log(
      `   worker peak RSS (VmHWM): ${peakRssMb.toFixed(0)} MiB (${idleRssMb.toFixed(0)} MiB once started, idle)`,
    );
  } finally {
    await w.kill();
    await removeByPrefix('bench-load');
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      count: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '100' },
      containers: { type: 'string', default: '50' },
      eager: { type: 'boolean', default: false },
      tuning: { type: 'string' },
    },
  });
  if (values.only !== 'stub') await ensureImages();
  const env = await localEnv(values.eager ? { 'system.enableActivityEagerExecution': true } : {});
  try {
    if (values.only !== 'docker')
      await stubThroughput(env, Number(values.count), Number(values.concurrency), values.tuning);
    if (values.only !== 'stub') await concurrentDocker(env, Number(values.containers));
  } finally {
    await env.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
