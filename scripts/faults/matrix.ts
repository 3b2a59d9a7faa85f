// Owns the fault matrix: for each workflow (row) a fault-free run first — its history gives the activity boundaries
// the other columns aim at, so nothing here knows how many steps a workflow has — then every fault (column), each
// cell made of actual runs, each run followed by the scenario's consistency check. A run that ends in a state that
// is neither the target nor the state before, or repeats a side effect, makes its cell FAIL.
import Dockerode from 'dockerode';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDockerActivities } from '../../activities/docker.ts';
import { createHealthActivities } from '../../activities/health.ts';
import { dataConverter } from '../../common/codec.ts';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { BAD, freePort, GOOD } from '../../test/helpers/docker.ts';
import type { TestQdrant } from '../../test/helpers/qdrant.ts';
import { startQdrantDouble } from '../../test/qdrant-double/server.ts';
import { QdrantClient } from '@qdrant/js-client-rest';
import { DevServer, harnessDir, OwnDockerd, WorkerPool } from './infra.ts';
import { scenarios, type Ctx, type Ending, type Scenario } from './scenarios.ts';
import { startSlowProxy, type SlowProxy } from './slow-proxy.ts';
import { boundaries, completionOf, followHistory, pendingActivity, retriedActivities, type Boundary } from './watch.ts';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export const FAULTS = [
  'kill-boundary',
  'kill-mid',
  'temporal-restart',
  'dockerd-restart',
  'qdrant-503',
  'qdrant-drop',
  'qdrant-slow',
] as const;
export type FaultName = (typeof FAULTS)[number];

const TITLES: Record<FaultName | 'none', string> = {
  none: 'no fault',
  'kill-boundary': 'worker SIGKILL at each activity boundary',
  'kill-mid': 'worker SIGKILL mid long activity',
  'temporal-restart': 'Temporal dev server SIGKILL + restart',
  'dockerd-restart': 'dockerd restart',
  'qdrant-503': 'Qdrant 503s',
  'qdrant-drop': 'Qdrant dropped connections',
  'qdrant-slow': 'Qdrant slow answers',
};

const RUN_TIMEOUT_MS = 240_000;
// A worker killed while it holds a workflow task leaves that task to time out before the standby gets it. The
// default is 10 s; 3 s keeps the matrix inside its budget and changes nothing else (a task that times out is
// simply given to another worker, as after any crash).
const WORKFLOW_TASK_TIMEOUT = '3s';
const DOCKER_ACTIVITIES = new Set(Object.keys(createDockerActivities({ docker: new Dockerode() })));
const HEALTH_ACTIVITIES = new Set(Object.keys(createHealthActivities()));
type Dependency = 'docker' | 'health' | 'qdrant';
const dependencyOf = (type: string): Dependency =>
  DOCKER_ACTIVITIES.has(type) ? 'docker' : HEALTH_ACTIVITIES.has(type) ? 'health' : 'qdrant';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RunReport {
  workflowId: string;
  runId: string;
  label: string;
  fail?: string;
  ms: number;
  retried: string[];
  note?: string;
  /** The kill landed after the activity had already ended (state still consistent): not caught mid-flight. */
  missed?: string;
}

// A mid-activity kill that reached the worker only after the step ended proves nothing about that step, but is no
// half-done state either: it counts as "not caught mid-flight", not as a failure (the state check still runs).
const NOT_INTERRUPTED = 'not interrupted: ';

interface Cell {
  text: string;
  fails: string[];
  /** Activities a mid-activity kill could not catch (they finished before any heartbeat could be seen). */
  skipped?: string[];
  ms: number;
  runs: RunReport[];
}

interface Harness {
  dir: string;
  temporal: DevServer;
  dockerd: OwnDockerd;
  client: Client;
  connection: Connection;
  pool: WorkerPool;
  poolKind: 'direct' | 'proxied';
  dockerProxy?: SlowProxy;
  qdrantProxy?: SlowProxy;
  /** The slow-answer proxies in front of this run's application /health (kill-mid only). */
  healthProxies: SlowProxy[];
  q: TestQdrant;
  ctx: Ctx;
  taskQueue: string;
  backupRoot: string;
  runSeq: number;
  restartTemporal(): Promise<void>;
  /** Kills and unexpected exits in the pools replaced so far. */
  killsBefore: number;
  deathsBefore: number;
}

/** What a fault does during one run: sees each history event as it is written. */
interface Driver {
  started?(ids: { workflowId: string; runId: string }): void;
  onEvent(e: HistoryEvent, seen: Map<string, HistoryEvent>): void | Promise<void>;
  /** Work started by the driver that must finish before the check (a restart in progress). */
  pending?: Promise<unknown>[];
  /** Whether the fault was actually applied (else the run does not count as faulted). */
  applied(): boolean;
  note?(): string | undefined;
  cleanup?(): Promise<void>;
  /** After the run, from its whole history: why the fault is not proven to have hit the run, if it is not. */
  verify?(events: HistoryEvent[]): string | undefined;
}

function workerEnv(h: Harness, dockerHost: string): Record<string, string> {
  return {
    DOCKER_HOST: dockerHost,
    QDRANT_URL: h.q.url,
    CORTEX_BACKUP_DIR: h.backupRoot,
  };
}

async function usePool(h: Harness, kind: 'direct' | 'proxied'): Promise<void> {
  if (h.poolKind === kind) return;
  h.killsBefore += h.pool.kills;
  h.deathsBefore += h.pool.deaths;
  await h.pool.stop();
  if (kind === 'proxied' && !h.dockerProxy) {
    h.dockerProxy = await startSlowProxy(
      { socketPath: h.dockerd.socket },
      { socketPath: join(h.dir, 'docker-slow.sock') },
    );
    const u = new URL(h.q.url);
    h.qdrantProxy = await startSlowProxy({ host: u.hostname, port: Number(u.port) }, { port: 0 });
  }
  const host = kind === 'proxied' ? h.dockerProxy!.url : h.dockerd.host;
  h.ctx.healthProxy =
    kind === 'proxied'
      ? async (port) => {
          const p = await startSlowProxy({ host: '127.0.0.1', port }, { port: 0 });
          h.healthProxies.push(p);
          return p;
        }
      : undefined;
  const extra = workerEnv(h, host);
  if (kind === 'proxied') extra.QDRANT_URL = h.qdrantProxy!.url;
  h.pool = new WorkerPool({ address: h.temporal.address, taskQueue: h.taskQueue, extra });
  h.poolKind = kind;
  await h.pool.ready();
}

function classify(ending: Ending): string {
  if (ending.kind === 'completed') return 'completed';
  if (ending.type === 'CompensationFailed') return 'compensation failed';
  if (/Restored:/.test(ending.message)) return 'compensated';
  if (/nothing (had been|was) changed/i.test(ending.message)) return 'failed, nothing changed';
  return 'failed';
}

async function awaitEnding(h: Harness, workflowId: string, runId: string): Promise<Ending | undefined> {
  const end = Date.now() + RUN_TIMEOUT_MS;
  const handle = h.client.workflow.getHandle(workflowId, runId);
  while (Date.now() < end) {
    try {
      const result: unknown = await Promise.race([
        handle.result() as Promise<unknown>,
        sleep(end - Date.now()).then(() => TIMEOUT),
      ]);
      if (result === TIMEOUT) return undefined;
      return { kind: 'completed', result };
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        const cause = err.cause;
        return cause instanceof ApplicationFailure
          ? { kind: 'failed', type: cause.type ?? 'Error', message: cause.message }
          : { kind: 'failed', type: cause?.name ?? 'Error', message: cause?.message ?? err.message };
      }
      await sleep(300); // the server is restarting: ask again
    }
  }
  return undefined;
}
const TIMEOUT = Symbol('timeout');

async function runOnce(h: Harness, s: Scenario, tag: string, driver?: Driver, selfTest = false): Promise<RunReport> {
  const started = Date.now();
  await h.pool.ready();
  h.runSeq += 1;
  h.healthProxies.length = 0;
  const run = await s.setup(h.ctx, `${tag}-${h.runSeq}`);
  const handle = await h.client.workflow.start(s.workflowType, {
    taskQueue: h.taskQueue,
    workflowId: run.workflowId,
    args: [run.input],
    workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT,
  });
  const runId = handle.firstExecutionRunId;
  const ids = { workflowId: run.workflowId, runId };
  driver?.started?.(ids);
  const stop = { done: false };
  const following = followHistory(h.client, run.workflowId, runId, (e, seen) => driver?.onEvent(e, seen), stop);
  const ending = await awaitEnding(h, run.workflowId, runId);
  stop.done = true;
  await Promise.all(driver?.pending ?? []);
  await driver?.cleanup?.();
  if (!ending) {
    await h.client.workflow
      .getHandle(run.workflowId, runId)
      .terminate('fault matrix: run timed out')
      .catch(() => undefined);
    await following.catch(() => undefined);
    await run.cleanup();
    return {
      ...ids,
      label: 'timed out',
      fail: `did not finish within ${RUN_TIMEOUT_MS / 1000} s\n${h.pool.tail()}`,
      ms: Date.now() - started,
      retried: [],
    };
  }
  await following.catch(() => undefined);
  const problems = await run.check(ending, runId).catch((err: unknown) => [`check threw: ${String(err)}`]);
  if (selfTest) {
    // The check must tell the two consistent states apart: judged as if the run had ended the other way, the
    // same state must be reported inconsistent (else the check could not catch a half-done run either).
    const other: Ending =
      ending.kind === 'completed'
        ? { kind: 'failed', type: 'SelfTest', message: 'self-test' }
        : { kind: 'completed', result: null };
    const flipped = await run.check(other, runId).catch((err: unknown) => [String(err)]);
    if (flipped.length === 0) problems.push(`self-test: the check also accepts this state as '${other.kind}'`);
  }
  const events: HistoryEvent[] = [];
  await followHistory(h.client, run.workflowId, runId, (e) => void events.push(e));
  const retried = retriedActivities(events).map((r) => `${r.type}#${r.attempt}`);
  const unproven = driver?.applied() ? driver.verify?.(events) : undefined;
  const missed = unproven?.startsWith(NOT_INTERRUPTED) && problems.length === 0 ? unproven : undefined;
  if (unproven && !missed) problems.push(`fault not proven: ${unproven}`);
  await run.cleanup();
  const label = classify(ending);
  const message = ending.kind === 'failed' ? `${ending.type}: ${ending.message}` : undefined;
  const bad = label === 'compensation failed' || problems.length > 0;
  const note = driver?.note?.();
  return {
    ...ids,
    label,
    ms: Date.now() - started,
    retried,
    ...(note ? { note } : {}),
    ...(missed ? { missed } : {}),
    ...(bad
      ? {
          fail: `${run.workflowId} ended ${label}${message ? ` (${message})` : ''}: ${problems.join('; ') || 'see message'}`,
        }
      : message
        ? { note: `${note ? `${note}; ` : ''}${message}` }
        : {}),
  };
}

function summarize(runs: RunReport[], skipped: string[] = []): Cell {
  const counts = new Map<string, number>();
  for (const r of runs) if (!r.fail) counts.set(r.label, (counts.get(r.label) ?? 0) + 1);
  const fails = runs.filter((r) => r.fail).map((r) => r.fail!);
  const n = runs.length;
  const parts = [...counts.entries()].map(([label, c]) =>
    counts.size === 1 && !fails.length ? `${c}/${n} ${label}` : `${c} ${label}`,
  );
  if (fails.length) parts.unshift(`**FAIL** ${fails.length}/${n}`);
  if (skipped.length) parts.push(`${skipped.length} not caught mid-flight`);
  return { text: parts.join(', ') || 'no run', fails, skipped, ms: runs.reduce((a, r) => a + r.ms, 0), runs };
}

// ---------------------------------------------------------------- fault drivers

/** The killed worker ran workflow tasks of the run and another worker finished it. */
function tookOver(events: HistoryEvent[], victim: string | undefined): string | undefined {
  const ids = events.flatMap((e) => e.workflowTaskStartedEventAttributes?.identity ?? []);
  if (!victim || !ids.includes(victim)) return `the killed worker ${victim} never ran this run`;
  if (ids.at(-1) === victim) return `the killed worker ${victim} ran the run's last workflow task`;
  return undefined;
}

/** SIGKILL the polling worker when the k-th completion is written. */
function killAtBoundary(h: Harness, b: Boundary): Driver {
  let count = 0;
  let killed: string | undefined;
  return {
    onEvent: (e, seen) => {
      const c = completionOf(e, seen);
      if (!c || killed) return;
      count += 1;
      if (count === b.k) killed = h.pool.killActive() ?? 'none';
    },
    applied: () => killed !== undefined,
    note: () => (killed ? undefined : `k=${b.k} never reached`),
    verify: (events) => tookOver(events, killed),
  };
}

/** Slow the activity's dependency, then SIGKILL its worker once Temporal holds a heartbeat of its first attempt. */
/**
 * Slow the activity's dependency, then SIGKILL its worker mid-activity. `heartbeat`: once Temporal holds a
 * heartbeat of attempt 1 (for a transfer, a checkpoint that is not the last) and its dependency is still answering
 * it. `held`, for an activity that sends no heartbeat before it ends: once attempt 1 has started and its dependency
 * holds an answer to it.
 */
function killMid(
  h: Harness,
  b: Boundary,
  sync: 'heartbeat' | 'held',
  act: 'kill-worker' | 'restart-temporal' = 'kill-worker',
): Driver {
  const dep = dependencyOf(b.type);
  const held = () =>
    dep === 'docker'
      ? (h.dockerProxy?.held ?? 0)
      : dep === 'qdrant'
        ? (h.qdrantProxy?.held ?? 0)
        : h.healthProxies.reduce((a, p) => a + p.held, 0);
  let scheduledId: string | undefined;
  let killed = false;
  let victim: string | undefined;
  let firedAt = 0;
  let completions = 0;
  let done = false;
  const pending: Promise<unknown>[] = [];
  const slow = (on: boolean) => {
    if (dep === 'docker' && h.dockerProxy) h.dockerProxy.delayMs = on ? 1500 : 0;
    if (dep === 'health') for (const p of h.healthProxies) p.delayMs = on ? 1500 : 0;
    if (dep === 'qdrant' && h.qdrantProxy) {
      h.qdrantProxy.delayMs = on ? 600 : 0;
      h.qdrantProxy.trickle = on;
    }
  };
  let ids = { workflowId: '', runId: '' };
  const watch = async () => {
    const { workflowId, runId } = ids;
    while (!killed && !done) {
      const p = await pendingActivity(h.client, workflowId, runId, b.activityId!).catch(() => undefined);
      const d = p?.details as { nextOffset?: unknown } | undefined;
      const midTransfer = d === undefined || typeof d !== 'object' || !('nextOffset' in d) || d.nextOffset !== null;
      // A heartbeat alone may be the activity's last one: its dependency must also still be answering it.
      const ready =
        sync === 'heartbeat'
          ? p?.heartbeatAt !== undefined && midTransfer && held() > 0
          : p?.startedAt !== undefined && held() > 0;
      if (p && p.attempt === 1 && ready && !done) {
        firedAt = Date.now();
        if (act === 'kill-worker') victim = h.pool.killActive();
        else pending.push(h.restartTemporal());
        killed = true;
        break;
      }
      await sleep(15);
    }
    slow(false);
  };
  return {
    started: (v) => {
      ids = v;
      if (b.k === 1) slow(true);
    },
    onEvent: (e, seen) => {
      // Slow the dependency from the previous boundary on: the history is read a little behind the worker, and a
      // short activity could be over before its scheduling is seen.
      if (completionOf(e, seen) && ++completions === b.k - 1) slow(true);
      const s = e.activityTaskScheduledEventAttributes;
      if (s && s.activityId === b.activityId && !scheduledId) {
        scheduledId = String(e.eventId);
        slow(true);
        pending.push(watch());
      }
      const c = e.activityTaskCompletedEventAttributes;
      if (c && String(c.scheduledEventId) === scheduledId) done = true;
    },
    pending,
    applied: () => killed,
    note: () =>
      killed
        ? sync === 'heartbeat'
          ? undefined
          : 'killed while its dependency held an answer (it sends no heartbeat before it ends)'
        : `${b.type} finished before it could be caught`,
    verify: (events) => {
      if (act === 'restart-temporal') return openUntil(events, firedAt);
      const started = events.find(
        (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === scheduledId,
      )?.activityTaskStartedEventAttributes;
      if (!started) return `${b.type} never completed`;
      if ((started.attempt ?? 1) < 2)
        return `${NOT_INTERRUPTED}${b.type} completed on attempt ${started.attempt} before the kill reached it`;
      if (started.identity === victim) return `${b.type}'s last attempt ran on the killed worker`;
      return undefined;
    },
    cleanup: () => Promise.resolve(slow(false)),
  };
}

/** The run was still open when the fault began (its last event, the close, is later). */
function openUntil(events: HistoryEvent[], at: number): string | undefined {
  const t = events.at(-1)?.eventTime;
  const closed = t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;
  return closed > at ? undefined : 'the run had already finished when the fault began';
}

/** Restart dockerd when the activity `b` is scheduled. */
function restartAt(b: Boundary, restart: () => Promise<void>): Driver {
  let firedAt = 0;
  const pending: Promise<unknown>[] = [];
  return {
    onEvent: (e) => {
      const s = e.activityTaskScheduledEventAttributes;
      if (!firedAt && s && s.activityId === b.activityId) {
        firedAt = Date.now();
        pending.push(restart());
      }
    },
    pending,
    applied: () => firedAt > 0,
    verify: (events) => openUntil(events, firedAt),
  };
}

/** Arm a Qdrant double switch as each Qdrant activity is scheduled (delay: for the whole run). */
function qdrantFault(h: Harness, kind: 'qdrant-503' | 'qdrant-drop' | 'qdrant-slow'): Driver {
  const f = h.q.double!.faults;
  let armed = 0;
  if (kind === 'qdrant-slow') f.delay(250);
  return {
    onEvent: (e) => {
      const s = e.activityTaskScheduledEventAttributes;
      if (!s || dependencyOf(s.activityType?.name ?? '') !== 'qdrant') return;
      armed += 1;
      if (kind === 'qdrant-503') f.failNext(2, 503);
      if (kind === 'qdrant-drop') f.dropNext(1);
    },
    applied: () => armed > 0 || kind === 'qdrant-slow',
    cleanup: () => {
      f.failNext(0);
      f.dropNext(0);
      f.delay(0);
      return Promise.resolve();
    },
  };
}

// ---------------------------------------------------------------- the matrix

export interface MatrixOptions {
  only?: string[];
  faults?: FaultName[];
  k?: number;
}

function pick(all: Scenario[], only?: string[]): Scenario[] {
  if (!only?.length) return all;
  const want = only.map((o) => o.toLowerCase());
  const chosen = all.filter((s) => want.some((w) => s.name.toLowerCase().includes(w)));
  if (chosen.length === 0)
    throw new Error(`--only ${only.join(',')} names no scenario (${all.map((s) => s.name).join(', ')})`);
  return chosen;
}

export async function runMatrix(opts: MatrixOptions): Promise<{ markdown: string; failed: boolean }> {
  const t0 = Date.now();
  const dir = harnessDir();
  for (const d of ['temporal.db', 'qdrant', 'backups']) rmSync(join(dir, d), { recursive: true, force: true });
  const log = (m: string) => console.log(`[faults ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}`);

  const temporal = new DevServer(dir, await freePort());
  const dockerd = new OwnDockerd(dir);
  const double = await startQdrantDouble({ dataDir: join(dir, 'qdrant') });
  const q: TestQdrant = {
    url: double.url,
    client: new QdrantClient({ url: double.url, checkCompatibility: false }),
    double,
    tmp: dir,
    stop: () => double.stop(),
  };
  const backupRoot = join(dir, 'backups');
  const taskQueue = `faults-${Date.now().toString(36)}`;
  let h: Harness | undefined;
  const restarts = { temporal: 0, dockerd: 0 };
  const cleanup = async () => {
    await h?.pool.stop();
    await h?.dockerProxy?.close();
    await h?.qdrantProxy?.close();
    await h?.connection.close().catch(() => undefined);
    await temporal.stop();
    await dockerd.stop();
    await double.stop();
  };
  try {
    log(`Temporal dev server on ${temporal.address} (SQLite ${dir}/temporal.db); dockerd on ${dockerd.host}`);
    await Promise.all([temporal.start(), dockerd.start()]);
    await dockerd.loadImages([GOOD, BAD]);
    await dockerd.removeAllContainers();
    const connection = await Connection.connect({ address: temporal.address });
    // the same converter as the workers it spawns (they inherit CORTEX_CODEC_KEYS): encrypted payloads and failures
    const client = new Client({ connection, dataConverter: dataConverter() });
    const ctx: Ctx = { client, taskQueue, q, backupRoot, events: dockerd.events };
    h = {
      dir,
      temporal,
      dockerd,
      client,
      connection,
      pool: new WorkerPool({ address: temporal.address, taskQueue, extra: {} }),
      poolKind: 'direct',
      healthProxies: [],
      q,
      ctx,
      taskQueue,
      backupRoot,
      runSeq: 0,
      killsBefore: 0,
      deathsBefore: 0,
      restartTemporal: async () => {
        await temporal.restart();
        restarts.temporal += 1;
      },
    };
    h.pool = new WorkerPool({ address: temporal.address, taskQueue, extra: workerEnv(h, dockerd.host) });
    await h.pool.ready();

    const rows = pick(scenarios(), opts.only);
    const faults = opts.faults?.length ? opts.faults : [...FAULTS];
    const cells = new Map<string, Cell>();
    const key = (s: Scenario, f: string) => `${s.name}\u0000${f}`;
    const bounds = new Map<string, Boundary[]>();

    // The fault-free run of each row: its outcome, and the boundaries every other column aims at.
    for (const s of rows) {
      await s.prepare(ctx);
      const r = await runOnce(h, s, 'none', undefined, true);
      bounds.set(s.name, r.fail ? [] : await boundaries(client, r.workflowId, r.runId));
      cells.set(key(s, 'none'), summarize([r]));
      const b = bounds.get(s.name)!;
      log(
        `${s.name}: ${r.label}${r.fail ? ` FAIL ${r.fail}` : ''}; ${b.length} activity boundaries (${b.filter((x) => x.heartbeats).length} long): ${b.map((x) => x.type).join(' → ')}`,
      );
    }

    for (const f of faults) {
      await usePool(h, f === 'kill-mid' || f === 'temporal-restart' ? 'proxied' : 'direct');
      for (const s of rows) {
        if (cells.get(key(s, 'none'))?.fails.length) {
          cells.set(key(s, f), { text: 'not run (the no-fault run failed)', fails: [], ms: 0, runs: [] });
          continue;
        }
        const b = bounds.get(s.name) ?? [];
        const runs: RunReport[] = [];
        const skipped: string[] = [];
        const started = Date.now();
        const applies =
          (f === 'dockerd-restart' && s.uses.docker) ||
          (f.startsWith('qdrant-') && s.uses.qdrant) ||
          ['kill-boundary', 'kill-mid', 'temporal-restart'].includes(f);
        if (!applies) {
          cells.set(key(s, f), { text: 'n/a', fails: [], ms: 0, runs: [] });
          continue;
        }
        const tag = `${f}`;
        if (f === 'kill-boundary') {
          for (const x of b) {
            if (opts.k && x.k !== opts.k) continue;
            const r = await runOnce(h, s, `${tag}-k${x.k}`, killAtBoundary(h, x));
            runs.push({ ...r, note: [`k=${x.k} ${x.type}`, r.note].filter(Boolean).join(': ') });
            log(
              `${s.name} × ${f} k=${x.k} (${x.type}): ${r.label}${r.fail ? ` FAIL ${r.fail}` : ''} [${r.retried.join(' ')}] ${r.ms} ms`,
            );
          }
        } else if (f === 'kill-mid') {
          for (const x of b.filter((y) => y.heartbeats && y.activityId)) {
            let d = killMid(h, x, 'heartbeat');
            let r = await runOnce(h, s, `${tag}-k${x.k}`, d);
            if (!d.applied() && !r.fail) {
              d = killMid(h, x, 'held');
              r = await runOnce(h, s, `${tag}-held-k${x.k}`, d);
            }
            if ((!d.applied() || r.missed) && !r.fail) skipped.push(x.type);
            else runs.push({ ...r, note: [`${x.type}`, r.note].filter(Boolean).join(': ') });
            log(
              `${s.name} × ${f} ${x.type}: ${d.applied() && !r.missed ? r.label : 'not caught'}${r.fail ? ` FAIL ${r.fail}` : ''} [${r.retried.join(' ')}] ${r.ms} ms`,
            );
          }
        } else if (f === 'temporal-restart') {
          // Once, in a long activity (a mutation or transfer) as near the middle of the run as can be caught,
          // synchronised as a mid-activity kill is.
          const long = b.filter((x) => !x.local && x.heartbeats && x.activityId);
          const mid = (long.length - 1) / 2;
          const order = [...long].sort((x, y) => Math.abs(long.indexOf(x) - mid) - Math.abs(long.indexOf(y) - mid));
          if (order.length === 0) {
            cells.set(key(s, f), { text: 'n/a', fails: [], ms: 0, runs: [] });
            continue;
          }
          for (const at of order.slice(0, 3)) {
            let d = killMid(h, at, 'heartbeat', 'restart-temporal');
            let r = await runOnce(h, s, `${tag}-k${at.k}`, d);
            if (!d.applied() && !r.fail) {
              d = killMid(h, at, 'held', 'restart-temporal');
              r = await runOnce(h, s, `${tag}-held-k${at.k}`, d);
            }
            log(
              `${s.name} × ${f} during ${at.type}: ${d.applied() ? r.label : 'not caught'}${r.fail ? ` FAIL ${r.fail}` : ''} [${r.retried.join(' ')}] ${r.ms} ms`,
            );
            if (!d.applied() && !r.fail) continue;
            runs.push({ ...r, note: [`during ${at.type}`, r.note].filter(Boolean).join(': ') });
            break;
          }
          if (runs.length === 0) skipped.push(...order.slice(0, 3).map((x) => x.type));
        } else if (f === 'dockerd-restart') {
          // As each Docker activity is scheduled.
          const points = b.filter((x) => !x.local && dependencyOf(x.type) === 'docker');
          if (points.length === 0) {
            cells.set(key(s, f), { text: 'n/a', fails: [], ms: 0, runs: [] });
            continue;
          }
          for (const at of points) {
            const restart = async () => {
              await dockerd.restart();
              restarts.dockerd += 1;
            };
            const r = await runOnce(h, s, `${tag}-k${at.k}`, restartAt(at, restart));
            runs.push({ ...r, note: [`as ${at.type} was scheduled`, r.note].filter(Boolean).join(': ') });
            log(
              `${s.name} × ${f} at ${at.type}: ${r.label}${r.fail ? ` FAIL ${r.fail}` : ''} [${r.retried.join(' ')}] ${r.ms} ms`,
            );
          }
        } else {
          const r = await runOnce(h, s, tag, qdrantFault(h, f));
          runs.push(r);
          log(`${s.name} × ${f}: ${r.label}${r.fail ? ` FAIL ${r.fail}` : ''} [${r.retried.join(' ')}] ${r.ms} ms`);
        }
        const cell = summarize(runs, skipped);
        cell.ms = Date.now() - started;
        cells.set(key(s, f), cell);
      }
    }

    const columns: Array<FaultName | 'none'> = ['none', ...faults];
    const lines = [
      `| scenario | ${columns.map((c) => TITLES[c]).join(' | ')} |`,
      `| --- | ${columns.map(() => '---').join(' | ')} |`,
      ...rows.map((s) => `| ${s.name} | ${columns.map((c) => cells.get(key(s, c))?.text ?? '').join(' | ')} |`),
    ];
    const failures = rows.flatMap((s) =>
      columns.flatMap((c) => (cells.get(key(s, c))?.fails ?? []).map((f) => `- ${s.name} × ${TITLES[c]}: ${f}`)),
    );
    if (double.violations.length)
      failures.push(
        `- requests the Qdrant double refused as invalid per Qdrant's OpenAPI spec: ${double.violations.join('; ')}`,
      );
    if (h.deathsBefore + h.pool.deaths)
      failures.push(`- ${h.deathsBefore + h.pool.deaths} polling workers exited without being killed by the harness`);
    const notes = rows.flatMap((s) =>
      columns.flatMap((c) => [
        ...(cells.get(key(s, c))?.skipped ?? []).map(
          (a) => `- ${s.name} × ${TITLES[c]}: ${a} not caught: it finished before a heartbeat could be seen`,
        ),
        ...(cells.get(key(s, c))?.runs ?? [])
          .filter((r) => !r.fail && (r.retried.length || r.note))
          .map(
            (r) =>
              `- ${s.name} × ${TITLES[c]}: ${r.note ?? ''}${r.retried.length ? ` (retried: ${r.retried.join(', ')})` : ''}`,
          ),
      ]),
    );
    const timing = rows.map(
      (s) =>
        `${s.name}: ${columns.map((c) => `${c} ${((cells.get(key(s, c))?.ms ?? 0) / 1000).toFixed(0)} s`).join(', ')}`,
    );
    const total = ((Date.now() - t0) / 1000).toFixed(0);
    const markdown = [
      `Fault matrix (${new Date().toISOString()}, ${total} s; ${h.killsBefore + h.pool.kills} worker SIGKILLs, ${restarts.temporal} Temporal and ${restarts.dockerd} dockerd restarts):`,
      '',
      ...lines,
      '',
      ...(failures.length ? ['Failures:', '', ...failures, ''] : []),
      '<details><summary>runs with retries or notes</summary>',
      '',
      ...notes,
      '',
      'Time per cell:',
      '',
      ...timing.map((t) => `- ${t}`),
      '',
      '</details>',
      '',
    ].join('\n');
    return { markdown, failed: failures.length > 0 };
  } finally {
    await cleanup();
  }
}

export function writeResults(markdown: string): string {
  const dir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'faults.md');
  writeFileSync(path, markdown);
  return path;
}
