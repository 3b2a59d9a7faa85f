// Cluster vs dev server, same run (figures printed, never asserted): `--count` (default 200) concurrent
// dockerContainerRollback workflows (pre-approved, no watch) on stub activities, all started at once, through one
// worker process each (bench/load-worker.ts), against a real cluster (scripts/cluster.ts: four server processes on
// PostgreSQL) and against the dev server (SQLite in memory). Rounds in the order D C C D after a warm-up on each;
// per target: throughput (workflows/s over the rounds' wall time) and p50/p95 latency (start to result), then the
// cluster/dev ratios. Usage: node --import tsx bench/cluster-load.bench.ts [--count 200] [--rounds 2]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { PROJECT_ROOT } from '../common/tools.ts';
import { GOOD } from '../test/helpers/docker.ts';
import { startTestCluster, type TestCluster } from '../test/helpers/cluster.ts';
import { localEnv, uniqueQueue } from '../test/helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../test/helpers/worker-process.ts';

interface Target {
  name: string;
  client: Client;
  taskQueue: string;
  worker: WorkerProcess;
  wallMs: number;
  latencies: number[];
}

let seq = 0;

/** Starts `count` rollbacks at once and waits for all; returns each one's start-to-result latency. */
async function round(t: Target, count: number): Promise<{ wallMs: number; latencies: number[] }> {
  const t0 = performance.now();
  const latencies = await Promise.all(
    Array.from({ length: count }, async () => {
      const id = `bench-cluster-${process.pid}-${seq++}`;
      const start = performance.now();
      const r = (await t.client.workflow.execute('dockerContainerRollback', {
        taskQueue: t.taskQueue,
        workflowId: id,
        args: [
          {
            containerName: id,
            targetImage: GOOD,
            healthUrl: 'http://127.0.0.1:9/health',
            reason: 'bench',
            requestedBy: 'bench',
            monitor: { durationSeconds: 0 },
            approval: { preApproved: { approver: 'bench', role: 'on-call-engineer' } },
          },
        ],
      })) as { outcome: string };
      if (r.outcome !== 'succeeded') throw new Error(`${id}: ${JSON.stringify(r)}`);
      return performance.now() - start;
    }),
  );
  return { wallMs: performance.now() - t0, latencies };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.ceil((p / 100) * xs.length) - 1] ?? 0;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { count: { type: 'string', default: '200' }, rounds: { type: 'string', default: '2' } },
  });
  const count = Number(values.count);
  const rounds = Number(values.rounds);
  let cluster: TestCluster | undefined;
  const env = await localEnv();
  const targets: Target[] = [];
  try {
    cluster = await startTestCluster((m) => console.log(`[cluster] ${m}`));
    const clusterClient = (await cluster.client(uniqueQueue('bench-cluster'))).client;
    for (const [name, address, client] of [
      ['dev server', env.address, env.client],
      ['cluster', cluster.address, clusterClient],
    ] as const) {
      const taskQueue = uniqueQueue('bench-cluster');
      const worker = spawnWorker({ address, taskQueue, script: join(PROJECT_ROOT, 'bench', 'load-worker.ts') });
      await worker.ready;
      targets.push({ name, client, taskQueue, worker, wallMs: 0, latencies: [] });
    }
    const [dev, clu] = targets as [Target, Target];
    for (const t of targets) await round(t, Math.min(50, count)); // warm-up: bundles, caches, connections
    const order = Array.from({ length: rounds }, (_, i) => (i % 2 === 0 ? [dev, clu] : [clu, dev])).flat();
    for (const t of order) {
      const r = await round(t, count);
      t.wallMs += r.wallMs;
      t.latencies.push(...r.latencies);
      console.log(`   ${t.name}: ${count} in ${(r.wallMs / 1000).toFixed(2)} s`);
    }
    const rate = (t: Target) => (t.latencies.length / t.wallMs) * 1000;
    console.log(
      `\n${count} concurrent stub rollbacks per round, ${rounds} rounds per target (one worker process each)`,
    );
    for (const t of targets) {
      console.log(
        `   ${t.name.padEnd(10)} ${rate(t).toFixed(1).padStart(7)} workflows/s   p50 ${pct(t.latencies, 50).toFixed(0)} ms` +
          `   p95 ${pct(t.latencies, 95).toFixed(0)} ms`,
      );
    }
    console.log(
      `   cluster/dev: throughput ${(rate(clu) / rate(dev)).toFixed(2)}x, p95 latency ` +
        `${(pct(clu.latencies, 95) / pct(dev.latencies, 95)).toFixed(2)}x`,
    );
  } finally {
    for (const t of targets) await t.worker.kill();
    await cluster?.stop();
    await env.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
