// Benchmarks (figures printed, never asserted):
//  1. end-to-end Docker rollback through the workflow (pre-approved, no watch) vs the plain docker-CLI script
//     bench/raw-docker-rollback.sh polling /health every 0.1 s (B) and every 0.02 s like the workflow (C), in
//     rounds of one each: medians and ratios (target A/B <= 1.1x);
//  2. worker SIGKILL -> the interrupted step running again (a) on a standby worker already running, as in
//     production (target <= heartbeat timeout + 0.5 s), (b) on a replacement worker started then (target <= 5 s);
//  3. history events of a rollback with a 30-minute watch at 30-second samples (target <= 500).
// Usage: npm run bench [-- --rounds N]
import { execa } from 'execa';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { startDockerRollback, waitResult } from '../client/client.ts';
import { PROJECT_ROOT } from '../common/tools.ts';
import { workflowBundle } from '../workers/bundle.ts';
import { createWorker } from '../workers/worker.ts';
import { BAD, ensureImages, GOOD, removeByPrefix, startApp, type App } from '../test/helpers/docker.ts';
import { stubActivities } from '../test/helpers/stub-activities.ts';
import { localEnv, testClient, timeSkippingEnv, uniqueQueue } from '../test/helpers/temporal.ts';
import { spawnWorker } from '../test/helpers/worker-process.ts';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (xs: number[]) =>
  `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;

async function rollbackAB(rounds: number): Promise<void> {
  const env = await localEnv();
  const taskQueue = uniqueQueue('bench');
  const rc = testClient(env, taskQueue);
  const { worker } = await createWorker({ settings: rc.settings, connection: env.nativeConnection });
  const running = worker.run();
  const times = { A: [] as number[], B: [] as number[], C: [] as number[] };
  const ratios = { B: [] as number[], C: [] as number[] };
  const splits: Split[] = [];
  let lastSplit: Split | undefined;
  const variants = {
    // A: the workflow
    A: async (name: string, app: App) => {
      const { workflowId } = await startDockerRollback(rc, {
        containerName: name,
        targetImage: GOOD,
        healthUrl: app.healthUrl,
        reason: 'bench',
        requestedBy: 'bench',
        monitor: { durationSeconds: 0 },
        approval: { preApproved: { approver: 'bench', role: 'on-call-engineer' } },
      });
      const r = await waitResult(rc, workflowId);
      if (!r.ok || r.result.outcome !== 'succeeded') throw new Error(`workflow rollback failed: ${JSON.stringify(r)}`);
      lastSplit = split((await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? []);
    },
    // B: the raw docker CLI script, polling /health every 0.1 s; C: the same polling every 0.02 s
    B: (name: string, app: App) => raw(name, app, '0.1'),
    C: (name: string, app: App) => raw(name, app, '0.02'),
  };
  const raw = async (name: string, app: App, poll: string) => {
    await execa('bash', [join(PROJECT_ROOT, 'bench', 'raw-docker-rollback.sh'), name, GOOD, String(app.port), poll]);
  };
  try {
    for (let i = 0; i < rounds + 1; i++) {
      const t: Partial<Record<'A' | 'B' | 'C', number>> = {};
      // rotate the order so neither side always runs right after container churn of the other
      const order = (['A', 'B', 'C'] as const).map((_, k, all) => all[(k + i) % all.length]!);
      for (const v of order) {
        const name = `bench-${v.toLowerCase()}-${i}`;
        const app = await startApp(name, BAD);
        const started = performance.now();
        await variants[v](name, app);
        t[v] = performance.now() - started;
        await removeByPrefix(name);
      }
      if (i === 0) continue; // warm-up round
      for (const v of ['A', 'B', 'C'] as const) times[v].push(t[v]!);
      splits.push(lastSplit!);
      ratios.B.push(t.A! / t.B!);
      ratios.C.push(t.A! / t.C!);
    }
  } finally {
    worker.shutdown();
    await running;
    await env.teardown();
  }
  const r = (xs: number[]) =>
    `median ${median(xs).toFixed(2)}x (min ${Math.min(...xs).toFixed(2)}, max ${Math.max(...xs).toFixed(2)})`;
  console.log(`\n1. Docker rollback, ${rounds} rounds after one warm-up round (order rotated each round)`);
  console.log(`   A workflow (pre-approved, no watch):          ${fmt(times.A)}`);
  console.log(`   B raw docker CLI script, /health every 0.1 s:  ${fmt(times.B)}`);
  console.log(`   C raw docker CLI script, /health every 0.02 s: ${fmt(times.C)}`);
  console.log(`   ratio A/B: ${r(ratios.B)}  target <= 1.1x`);
  console.log(`   ratio A/C: ${r(ratios.C)}  (same poll cadence: orchestration only)`);
  const med = (k: keyof Split) => median(splits.map((x) => x[k])).toFixed(0);
  console.log(
    `   where A's time goes (medians, from its history): ${med('activities')} ms in ${splits[0]?.activityCount} activities ` +
      `(scheduled to completed), ${med('workflowTasks')} ms in ${splits[0]?.workflowTaskCount} workflow tasks ` +
      `(scheduled to completed, the local-activity reads included), start to close ${med('total')} ms`,
  );
}

interface Split {
  total: number;
  activities: number;
  activityCount: number;
  workflowTasks: number;
  workflowTaskCount: number;
}

/** Splits a closed workflow's time into its activities and its workflow tasks (they alternate, never overlap). */
type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];
const WORKFLOW_TASK_COMPLETED = 7; // EventType values
const ACTIVITY_TASK_COMPLETED = 12;

function split(events: HistoryEvent[]): Split {
  const at = new Map(events.map((e) => [Number(e.eventId), ms(e.eventTime)]));
  const sum = (type: number, from: (e: HistoryEvent) => unknown) => {
    const spans = events
      .filter((e) => Number(e.eventType) === type)
      .map((e) => ms(e.eventTime) - at.get(Number(from(e)))!);
    return { total: spans.reduce((a, b) => a + b, 0), count: spans.length };
  };
  const acts = sum(ACTIVITY_TASK_COMPLETED, (e) => e.activityTaskCompletedEventAttributes?.scheduledEventId);
  const wfts = sum(WORKFLOW_TASK_COMPLETED, (e) => e.workflowTaskCompletedEventAttributes?.scheduledEventId);
  return {
    total: ms(events.at(-1)?.eventTime) - ms(events[0]?.eventTime),
    activities: acts.total,
    activityCount: acts.count,
    workflowTasks: wfts.total,
    workflowTaskCount: wfts.count,
  };
}

const ms = (t?: { seconds?: unknown; nanos?: number | null } | null): number =>
  t ? Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6 : NaN;

/** Polls `check` every 20 ms (a bench figure, not a test: the granularity is part of what is measured). */
async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * SIGKILL of the worker running the stop step, then the time until that step runs again (attempt 2 started):
 * `standby` — a second worker already polls the queue, as in production; otherwise a replacement is started.
 */
async function takeover(rounds: number, standby: boolean, stockTimers = false): Promise<void> {
  const env = await localEnv(stockTimers ? { 'history.timerProcessorMaxTimeShift': '1s' } : {});
  const gaps: number[] = [];
  const sinceHeartbeat: number[] = [];
  const readies: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const taskQueue = uniqueQueue('takeover');
      const rc = testClient(env, taskQueue);
      const name = `bench-kill-${i}`;
      const app = await startApp(name, BAD, ['CORTEX_SHUTDOWN_DELAY_MS=8000']);
      const workers = new Map(
        (standby ? ['bench-a', 'bench-b'] : ['bench-a']).map((id) => [
          id,
          spawnWorker({ address: env.address, taskQueue }, ['--identity', id]),
        ]),
      );
      await Promise.all([...workers.values()].map((w) => w.ready));
      const { workflowId } = await startDockerRollback(rc, {
        containerName: name,
        targetImage: GOOD,
        healthUrl: app.healthUrl,
        reason: 'bench',
        requestedBy: 'bench',
        stopTimeoutSeconds: 20,
        monitor: { durationSeconds: 0 },
        approval: { preApproved: { approver: 'bench', role: 'on-call-engineer' } },
      });
      const h = env.client.workflow.getHandle(workflowId);
      const stopPending = async () =>
        (await h.describe()).raw.pendingActivities?.find((p) => p.activityType?.name === 'stopContainer');
      // the stop is under way and its first heartbeat reached the server
      const running = await until(
        async () => {
          const p = await stopPending();
          return p?.lastHeartbeatTime && p.lastWorkerIdentity ? p : undefined;
        },
        30_000,
        'stop heartbeating',
      );
      const victim = workers.get(running.lastWorkerIdentity!)!;
      const killedAt = Date.now();
      await victim.kill();
      workers.delete(running.lastWorkerIdentity!);
      if (!standby) {
        const replacement = spawnWorker({ address: env.address, taskQueue }, ['--identity', 'bench-c']);
        workers.set('bench-c', replacement);
        await replacement.ready;
        readies.push(Date.now() - killedAt);
      }
      // the interrupted step runs again: attempt >= 2, started
      const retried = await until(
        async () => {
          const p = await stopPending();
          return (p?.attempt ?? 1) >= 2 && Number(p?.state) === 2 /* PENDING_ACTIVITY_STATE_STARTED */ ? p : undefined;
        },
        60_000,
        'retry started',
      );
      gaps.push(Date.now() - killedAt);
      sinceHeartbeat.push(Date.now() - ms(running.lastHeartbeatTime));
      if (retried.lastWorkerIdentity === running.lastWorkerIdentity) throw new Error('retried on the killed worker?');
      const r = await waitResult(rc, workflowId);
      if (!r.ok) throw new Error(`rollback after takeover failed: ${JSON.stringify(r)}`);
      for (const w of workers.values()) await w.kill();
      await removeByPrefix(name);
    }
  } finally {
    await env.teardown();
  }
  console.log(
    (standby
      ? `\n2a. Worker SIGKILL during the stop step, a standby worker already running (${rounds} runs)`
      : `\n2b. Worker SIGKILL during the stop step, a replacement worker started at once (${rounds} runs)`) +
      (stockTimers ? ', dev server with the stock timer shift (1 s)' : ''),
  );
  if (!standby) console.log(`   replacement worker ready:        ${fmt(readies)}`);
  console.log(
    `   interrupted step started again:  ${fmt(gaps)}  target <= ${standby ? 'heartbeat timeout (2 s) + 0.5 s = 2500' : '5000'} ms`,
  );
  console.log(`   (since its last recorded heartbeat: ${fmt(sinceHeartbeat)})`);
}

async function historySize(): Promise<void> {
  const env = await timeSkippingEnv();
  const bundle = await workflowBundle();
  try {
    const { activities } = stubActivities({});
    const taskQueue = uniqueQueue('hist');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities,
    });
    const h = await env.client.workflow.start('dockerContainerRollback', {
      taskQueue,
      workflowId: uniqueQueue('hist'),
      args: [
        {
          containerName: 'cortex-mcp',
          targetImage: GOOD,
          healthUrl: 'http://127.0.0.1:3000/health',
          reason: 'bench',
          requestedBy: 'bench',
          approval: { preApproved: { approver: 'bench', role: 'on-call-engineer' } },
        },
      ],
    });
    await worker.runUntil(h.result());
    const events = (await h.fetchHistory()).events?.length ?? 0;
    console.log(`\n3. History of a rollback with a 30-minute watch at 30 s samples: ${events} events  target <= 500`);
  } finally {
    await env.teardown();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, only: { type: 'string' } } });
  const rounds = Number(values.rounds);
  await ensureImages();
  if (!values.only || values.only === 'ab') await rollbackAB(rounds);
  if (!values.only || values.only === 'takeover') {
    await takeover(Math.max(3, rounds), true);
    await takeover(Math.max(3, Math.ceil(rounds / 2)), false);
    await takeover(3, true, true);
  }
  if (!values.only || values.only === 'history') await historySize();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
