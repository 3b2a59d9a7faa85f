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
import { createComposeActivities } from '../../activities/compose.ts';
import { createEnvFileDockerActivities } from '../../activities/envfile.ts';
import { createQdrantActivities } from '../../activities/qdrant.ts';
import { dataConverter } from '../../common/codec.ts';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { BAD, freePort, GOOD } from '../../test/helpers/docker.ts';
import { startTestQdrant, type TestQdrant } from '../../test/helpers/qdrant.ts';
import { QdrantClient } from '@qdrant/js-client-rest';
import { DevServer, harnessDir, OwnDockerd, WorkerPool } from './infra.ts';
import { scenarios, type Ctx, type Ending, type FaultHook, type Run, type Scenario } from './scenarios.ts';
import { startSlowProxy, type SlowProxy } from './slow-proxy.ts';
import type { CellRecord, MatrixRecord, Mode } from './record.ts';
import { CI_SLICE, type SlicePlan } from './slice.ts';
import { kubeconfigPath } from './rows/kubernetes.ts';
import { execa } from 'execa';
import { statusQuery, type RollbackStatus } from '../../workflows/phases/progress.ts';
import { boundaries, completionOf, followHistory, pendingActivity, retriedActivities, type Boundary } from './watch.ts';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export const TRANSIENT_FAULTS = [
  'kill-boundary',
  'kill-mid',
  'temporal-restart',
  'dockerd-restart',
  'qdrant-503',
  'qdrant-drop',
  'qdrant-slow',
  'qdrant-restart',
] as const;
/** Faults that do not go away: the run cannot reach the target, so it must undo what it changed. */
export const PERSISTENT_FAULTS = ['refused', 'host-gone', 'never-healthy'] as const;
export const FAULTS = [...TRANSIENT_FAULTS, ...PERSISTENT_FAULTS] as const;
export type FaultName = (typeof FAULTS)[number];
export type PersistentFault = (typeof PERSISTENT_FAULTS)[number];
const isPersistent = (f: string): f is PersistentFault => (PERSISTENT_FAULTS as readonly string[]).includes(f);

const TITLES: Record<FaultName | 'none', string> = {
  none: 'no fault',
  'kill-boundary': 'worker SIGKILL at each activity boundary',
  'kill-mid': 'worker SIGKILL mid long activity',
  'temporal-restart': 'Temporal dev server SIGKILL + restart',
  'dockerd-restart': 'dockerd restart',
  'qdrant-503': 'Qdrant 503s',
  'qdrant-drop': 'Qdrant dropped connections',
  'qdrant-slow': 'Qdrant slow answers',
  'qdrant-restart': 'Qdrant server SIGKILL + restart mid-transfer',
  refused: 'target refuses the change after the destructive step',
  'host-gone': 'host worker gone longer than the step timeout',
  'never-healthy': 'health check never recovers',
};

const RUN_TIMEOUT_MS = 240_000;
// A worker killed while it holds a workflow task leaves that task to time out before the standby gets it. The
// default is 10 s; 3 s keeps the matrix inside its budget and changes nothing else (a task that times out is
// simply given to another worker, as after any crash).
const WORKFLOW_TASK_TIMEOUT = '3s';
// Activities that talk to dockerd: the Docker API ones, the env-file container ones and Compose (the docker CLI).
const DOCKER_ACTIVITIES = new Set([
  ...Object.keys(createDockerActivities({ docker: new Dockerode() })),
  ...Object.keys(createEnvFileDockerActivities({ docker: new Dockerode() })),
  ...Object.keys(createComposeActivities()),
]);
const HEALTH_ACTIVITIES = new Set(Object.keys(createHealthActivities()));
const QDRANT_ACTIVITIES = new Set(
  Object.keys(
    createQdrantActivities({ client: new QdrantClient({ url: 'http://127.0.0.1:1' }), url: '', backupRoot: '' }),
  ),
);
/** 'other': a system the harness has no slow proxy for (systemd, files, iptables, kubectl, terraform, …). */
type Dependency = 'docker' | 'health' | 'qdrant' | 'other';
const dependencyOf = (type: string): Dependency =>
  DOCKER_ACTIVITIES.has(type)
    ? 'docker'
    : HEALTH_ACTIVITIES.has(type)
      ? 'health'
      : QDRANT_ACTIVITIES.has(type)
        ? 'qdrant'
        : 'other';

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
  /** The fault point, as the run's history proves it. */
  proof?: string;
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
  /** SIGKILLs the Qdrant server process and starts it again on the same ports and storage. */
  restartQdrant(): Promise<void>;
  /** Kills and unexpected exits in the pools replaced so far. */
  killsBefore: number;
  deathsBefore: number;
}

/** What a fault does during one run (see FaultHook: a row's own persistent faults are drivers too). */
type Driver = FaultHook;

function workerEnv(h: Harness, dockerHost: string): Record<string, string> {
  return {
    DOCKER_HOST: dockerHost,
    QDRANT_URL: h.q.url,
    CORTEX_BACKUP_DIR: h.backupRoot,
    CORTEX_NETWORK_BACKUP_DIR: join(h.dir, 'network-backups'),
    // OpenTofu with local state only: its own work dir, an empty CLI configuration
    CORTEX_TERRAFORM_DIR: join(h.dir, 'terraform-work'),
    TF_CLI_CONFIG_FILE: tofuRc(h.dir),
    TF_IN_AUTOMATION: '1',
    // kubectl reads it per call: the Kubernetes row writes its cluster's kubeconfig there once the cluster is up
    KUBECONFIG: kubeconfigPath(h.dir),
  };
}

function tofuRc(dir: string): string {
  const path = join(dir, 'tofurc');
  writeFileSync(path, '');
  return path;
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

interface RunOptions {
  driver?: Driver;
  /** Judge the check against the other ending too (the no-fault run). */
  selfTest?: boolean;
  /** A persistent fault: its own set-up (the run meets the fault) and the ending it must have. */
  persistent?: (ctx: Ctx, tag: string) => Promise<Run>;
  /** The persistent fault leaves the run no way to the target: it must end compensated (else any consistent end). */
  mustUndo?: boolean;
}

async function runOnce(h: Harness, s: Scenario, tag: string, o: RunOptions = {}): Promise<RunReport> {
  const started = Date.now();
  const selfTest = o.selfTest ?? false;
  await h.pool.ready();
  h.runSeq += 1;
  h.healthProxies.length = 0;
  const run = await (o.persistent ?? s.setup)(h.ctx, `${tag}-${h.runSeq}`);
  const driver = o.driver ?? run.hook;
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
  const during = run
    .during?.(ids, () => !stop.done)
    .catch((err: unknown) => {
      console.error(`[faults] ${run.workflowId}: the row's own step during the run failed: ${String(err)}`);
    });
  const following = followHistory(h.client, run.workflowId, runId, (e, seen) => driver?.onEvent(e, seen), stop);
  const own = await awaitEnding(h, run.workflowId, runId);
  const ending = own && run.judgedBy ? await run.judgedBy(own) : own;
  stop.done = true;
  await during;
  await Promise.all(driver?.pending ?? []);
  await driver?.cleanup?.();
  if (!ending) {
    // Where the run stood: its phase and what it waited for (an approval that never came, …).
    const status: RollbackStatus | undefined = await h.client.workflow
      .getHandle(run.workflowId, runId)
      .query(statusQuery)
      .catch(() => undefined);
    const stood = status
      ? `; it stood in phase '${status.phase}'${status.pendingApproval ? ` awaiting approval by ${status.pendingApproval.requiredRole}` : ''}${status.approvals.length ? `, decisions: ${status.approvals.map((a) => `${a.decision} ${a.approver}${a.refusal ? ` (${a.refusal})` : ''}`).join('; ')}` : ''}`
      : '';
    await h.client.workflow
      .getHandle(run.workflowId, runId)
      .terminate('fault matrix: run timed out')
      .catch(() => undefined);
    await following.catch(() => undefined);
    await run.cleanup();
    return {
      ...ids,
      label: 'timed out',
      fail: `did not finish within ${RUN_TIMEOUT_MS / 1000} s${stood}\n${h.pool.tail()}`,
      ms: Date.now() - started,
      retried: [],
    };
  }
  await following.catch(() => undefined);
  const problems = await run.check(ending, runId).catch((err: unknown) => [`check threw: ${String(err)}`]);
  if (selfTest) {
    // The check must tell the two consistent states apart: judged as if the run had ended the other way, the
    // same state must be reported inconsistent (else the check could not catch a half-done run either).
    // (A read-only row leaves the same world either way: its check must refuse a completion that did not pass.)
    const other: Ending = s.readOnly
      ? { kind: 'completed', result: { passed: false } }
      : ending.kind === 'completed'
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
  const proof =
    driver?.applied() && !unproven
      ? (driver.proof?.(events) ?? 'applied while the run was open')
      : o.persistent && ending.kind === 'failed'
        ? `met the fault, ended ${ending.type}: ${ending.message.slice(0, 400)}`
        : undefined;
  await run.cleanup();
  const label = classify(ending);
  if (o.persistent) {
    // The fault does not go away: the run must have changed the target, met the fault, and undone its change.
    if (run.hook && !run.hook.applied()) problems.push('the fault was never applied');
    if (s.readOnly && ending.kind === 'completed') problems.push('the fault did not make the read-only run fail');
    else if (o.mustUndo && !s.readOnly && label !== 'compensated') {
      const where = await run.undone?.();
      if (!where) problems.push(`the fault did not make the run undo its change: it ended ${label}`);
    }
  }
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
    ...(proof ? { proof } : {}),
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

const lastWorker = (events: HistoryEvent[]) =>
  events.flatMap((e) => e.workflowTaskStartedEventAttributes?.identity ?? []).at(-1) ?? '?';

/** Attempts of the activity scheduled as `scheduledId` and the worker of its last one. */
function attemptsOf(events: HistoryEvent[], scheduledId: string | undefined): { attempt: number; identity: string } {
  const st = events.find(
    (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === scheduledId,
  )?.activityTaskStartedEventAttributes;
  return { attempt: st?.attempt ?? 0, identity: st?.identity ?? '?' };
}

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
    proof: (events) =>
      `SIGKILL ${killed} as completion k=${b.k} (${b.type}) was written; ${lastWorker(events)} ran the last workflow task`,
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
  act: 'kill-worker' | 'restart-temporal' | 'restart-qdrant' = 'kill-worker',
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
  let heldAtFire = 0;
  let completions = 0;
  let done = false;
  const pending: Promise<unknown>[] = [];
  const slow = (on: boolean) => {
    if (dep === 'docker' && h.dockerProxy) h.dockerProxy.delayMs = on ? 1500 : 0;
    if (dep === 'health') for (const p of h.healthProxies) p.delayMs = on ? 1500 : 0;
    if (dep === 'qdrant' && h.qdrantProxy) {
      h.qdrantProxy.delayMs = on ? 600 : 0;
      h.qdrantProxy.trickle = on;
      // a server restart must meet a request the server is still in: uploads flow slowly to it as well
      h.qdrantProxy.trickleRequests = on && act === 'restart-qdrant';
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
      // A dependency without a slow proxy ('other') holds nothing: a heartbeat of attempt 1 is enough.
      const holding =
        act === 'restart-qdrant' ? (h.qdrantProxy?.awaitingAnswer ?? 0) > 0 : dep === 'other' || held() > 0;
      const ready =
        sync === 'heartbeat'
          ? p?.heartbeatAt !== undefined && midTransfer && holding
          : p?.startedAt !== undefined && holding;
      if (p && p.attempt === 1 && ready && !done) {
        firedAt = Date.now();
        heldAtFire = act === 'restart-qdrant' ? (h.qdrantProxy?.awaitingAnswer ?? 0) : held();
        if (act === 'kill-worker') victim = h.pool.killActive();
        else if (act === 'restart-qdrant') pending.push(h.restartQdrant());
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
      if (act === 'restart-qdrant') {
        if (heldAtFire === 0) return `no request of ${b.type} was awaiting the server's answer at the kill`;
        const last = events.find(
          (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === scheduledId,
        )?.activityTaskStartedEventAttributes;
        if (!last) return `${b.type} never completed`;
        if ((last.attempt ?? 1) < 2)
          return `${NOT_INTERRUPTED}${b.type} completed on attempt ${last.attempt}: the kill did not fail it`;
        return undefined;
      }
      const started = events.find(
        (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === scheduledId,
      )?.activityTaskStartedEventAttributes;
      if (!started) return `${b.type} never completed`;
      if ((started.attempt ?? 1) < 2)
        return `${NOT_INTERRUPTED}${b.type} completed on attempt ${started.attempt} before the kill reached it`;
      if (started.identity === victim) return `${b.type}'s last attempt ran on the killed worker`;
      return undefined;
    },
    proof: (events) => {
      const a = attemptsOf(events, scheduledId);
      const heldText = dep === 'other' ? '' : ` (its ${dep} answer held)`;
      if (act === 'restart-qdrant')
        return `Qdrant server SIGKILLed with ${heldAtFire} request(s) of attempt 1 of ${b.type} at it, not answered yet, restarted on its storage; ${b.type} ended on attempt ${a.attempt}`;
      return act === 'restart-temporal'
        ? `Temporal SIGKILLed while attempt 1 of ${b.type} was in flight${heldText}; ${b.type} ended on attempt ${a.attempt}, the run closed after the restart`
        : `SIGKILL ${victim} while attempt 1 of ${b.type} was in flight (${sync === 'heartbeat' ? 'heartbeat seen' : 'started'}${heldText ? `,${heldText.slice(2, -1)}` : ''}); attempt ${a.attempt} ran on ${a.identity}`;
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
  let scheduledId: string | undefined;
  const pending: Promise<unknown>[] = [];
  return {
    onEvent: (e) => {
      const s = e.activityTaskScheduledEventAttributes;
      if (!firedAt && s && s.activityId === b.activityId) {
        firedAt = Date.now();
        scheduledId = String(e.eventId);
        pending.push(restart());
      }
    },
    pending,
    applied: () => firedAt > 0,
    verify: (events) => openUntil(events, firedAt),
    proof: (events) =>
      `dockerd restarted as ${b.type} was scheduled; it ended on attempt ${attemptsOf(events, scheduledId).attempt}`,
  };
}

/** Arm a fault switch of the Qdrant fault proxy as each Qdrant activity is scheduled (delay: for the whole run). */
function qdrantFault(h: Harness, kind: 'qdrant-503' | 'qdrant-drop' | 'qdrant-slow'): Driver {
  const double = h.q; // its fault switches and request log
  const f = double.faults;
  let armed = 0;
  const from = double.requests.length;
  if (kind === 'qdrant-slow') f.delay(250);
  const qdrantRetries = (events: HistoryEvent[]) =>
    retriedActivities(events).filter((r) => dependencyOf(r.type) === 'qdrant');
  return {
    // In flight: for 503s the double answered requests of this run with 503; for dropped answers a Qdrant
    // activity of the run had to run again (its answer was lost); slow answers are applied to every request.
    verify: (events) => {
      if (kind === 'qdrant-503')
        return double.requests.slice(from).some((r) => r.status === 503)
          ? undefined
          : 'no request of the run was answered 503';
      if (kind === 'qdrant-drop')
        return qdrantRetries(events).length ? undefined : 'no Qdrant activity of the run ran again';
      return double.requests.length > from ? undefined : 'the run sent no request to Qdrant';
    },
    proof: (events) => {
      const reqs = double.requests.slice(from);
      if (kind === 'qdrant-503') {
        const hit = reqs.filter((r) => r.status === 503);
        return `${hit.length} requests answered 503 (first: ${hit[0]?.method} ${hit[0]?.path})`;
      }
      if (kind === 'qdrant-drop')
        return `answers lost; ran again: ${qdrantRetries(events)
          .map((r) => `${r.type}#${r.attempt}`)
          .join(', ')}`;
      return `${reqs.length} requests answered 250 ms late`;
    },
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
  /** The CI slice (scripts/faults/slice.ts): its rows and cells only. */
  ci?: boolean;
  /** The command line, for the record. */
  args?: string[];
}

function pick(all: Scenario[], only?: string[]): Scenario[] {
  if (!only?.length) return all;
  const want = only.map((o) => o.toLowerCase());
  const chosen = all.filter((s) => want.some((w) => s.name.toLowerCase().includes(w)));
  if (chosen.length === 0)
    throw new Error(`--only ${only.join(',')} names no scenario (${all.map((s) => s.name).join(', ')})`);
  return chosen;
}

export async function runMatrix(
  opts: MatrixOptions,
): Promise<{ markdown: string; failed: boolean; record: MatrixRecord }> {
  const t0 = Date.now();
  const dir = harnessDir();
  for (const d of ['temporal.db', 'qdrant', 'backups']) rmSync(join(dir, d), { recursive: true, force: true });
  const log = (m: string) => console.log(`[faults ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}`);

  const temporal = new DevServer(dir, await freePort());
  const dockerd = new OwnDockerd(dir);
  // A real Qdrant 1.18.3 server of its own behind the fault proxy (503s, dropped answers, slowness are the proxy's).
  const q: TestQdrant = await startTestQdrant();
  const backupRoot = join(dir, 'backups');
  const taskQueue = `faults-${Date.now().toString(36)}`;
  let h: Harness | undefined;
  const restarts = { temporal: 0, dockerd: 0, qdrant: 0 };
  const cleanup = async () => {
    await h?.pool.stop();
    await h?.dockerProxy?.close();
    await h?.qdrantProxy?.close();
    await h?.connection.close().catch(() => undefined);
    await temporal.stop();
    await dockerd.stop();
    await q.stop();
  };
  try {
    log(`Temporal dev server on ${temporal.address} (SQLite ${dir}/temporal.db); dockerd on ${dockerd.host}`);
    await Promise.all([temporal.start(), dockerd.start()]);
    await dockerd.loadImages([GOOD, BAD]);
    await dockerd.removeAllContainers();
    const connection = await Connection.connect({ address: temporal.address });
    // the same converter as the workers it spawns (they inherit CORTEX_CODEC_KEYS): encrypted payloads and failures
    const client = new Client({ connection, dataConverter: dataConverter() });
    const ctx: Ctx = {
      client,
      dir,
      address: temporal.address,
      loadImages: (refs) => dockerd.loadImages(refs),
      taskQueue,
      q,
      backupRoot,
      events: dockerd.events,
    };
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
      restartQdrant: async () => {
        await q.server!.kill();
        await q.server!.restart();
        restarts.qdrant += 1;
      },
    };
    h.pool = new WorkerPool({ address: temporal.address, taskQueue, extra: workerEnv(h, dockerd.host) });
    await h.pool.ready();

    const rows = pick(scenarios(), opts.only).filter((s) => !opts.ci || CI_SLICE[s.name]);
    const faults = opts.faults?.length ? opts.faults : [...FAULTS];
    const cells = new Map<string, Cell>();
    const key = (s: Scenario, f: string) => `${s.name}\u0000${f}`;
    const bounds = new Map<string, Boundary[]>();
    const planOf = (s: Scenario, f: FaultName): SlicePlan | undefined =>
      opts.ci ? CI_SLICE[s.name]?.[f] : { ...(opts.k ? { k: opts.k } : {}) };

    // Row by row: prepare, the fault-free run (its history gives the boundaries the other columns aim at), then
    // every fault; the row's own systems are torn down before the next row.
    for (const s of rows) {
      await s.prepare(ctx);
      try {
        const r = await runOnce(h, s, 'none', { selfTest: true });
        bounds.set(s.name, r.fail ? [] : await boundaries(client, r.workflowId, r.runId));
        cells.set(key(s, 'none'), summarize([r]));
        const b = bounds.get(s.name)!;
        log(
          `${s.name}: ${r.label}${r.fail ? ` FAIL ${r.fail}` : ''}; ${b.length} activity boundaries (${b.filter((x) => x.heartbeats).length} long): ${b.map((x) => x.type).join(' → ')}`,
        );
        // Faults that run on the pool in use first: at most one pool switch per row.
        const proxied = (f: FaultName) => f === 'kill-mid' || f === 'temporal-restart' || f === 'qdrant-restart';
        const order = [...faults].sort(
          (x, y) =>
            Number(proxied(x) !== (h!.poolKind === 'proxied')) - Number(proxied(y) !== (h!.poolKind === 'proxied')),
        );
        for (const f of order) {
          const plan = planOf(s, f);
          if (!plan) continue;
          if (cells.get(key(s, 'none'))?.fails.length) {
            cells.set(key(s, f), { text: 'not run (the no-fault run failed)', fails: [], ms: 0, runs: [] });
            continue;
          }
          await usePool(h, proxied(f) ? 'proxied' : 'direct');
          const started = Date.now();
          const cell = await runCell(h, s, f, b, plan, log, restarts);
          cell.ms = Date.now() - started;
          cells.set(key(s, f), cell);
        }
      } finally {
        await s.teardown?.(ctx);
      }
    }

    const columns: Array<FaultName | 'none'> = ['none', ...faults];
    const ran = (s: Scenario, c: string) => cells.has(key(s, c));
    const lines = [
      `| scenario | ${columns.map((c) => TITLES[c]).join(' | ')} |`,
      `| --- | ${columns.map(() => '---').join(' | ')} |`,
      ...rows.map(
        (s) =>
          `| ${s.name} | ${columns.map((c) => (ran(s, c) ? cells.get(key(s, c))!.text : 'not in this run')).join(' | ')} |`,
      ),
    ];
    const failures = rows.flatMap((s) =>
      columns.flatMap((c) => (cells.get(key(s, c))?.fails ?? []).map((f) => `- ${s.name} × ${TITLES[c]}: ${f}`)),
    );
    if (q.violations.length)
      failures.push(
        `- requests the fault proxy found invalid per Qdrant's OpenAPI spec: ${q.violations.slice(0, 20).join('; ')}`,
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
        `${s.name}: ${columns
          .filter((c) => ran(s, c))
          .map((c) => `${c} ${((cells.get(key(s, c))?.ms ?? 0) / 1000).toFixed(0)} s`)
          .join(', ')}`,
    );
    const totalSeconds = Math.round((Date.now() - t0) / 1000);
    const kills = h.killsBefore + h.pool.kills;
    const markdown = [
      `Fault matrix (${new Date().toISOString()}, ${totalSeconds} s; ${kills} worker SIGKILLs, ${restarts.temporal} Temporal, ${restarts.dockerd} dockerd and ${restarts.qdrant} Qdrant restarts):`,
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

    const at = new Date().toISOString();
    const commit = await gitCommit();
    const mode: Mode = opts.ci ? 'ci' : opts.only?.length || opts.faults?.length || opts.k ? 'partial' : 'full';
    const record: MatrixRecord = {
      version: 1,
      columns: (['none', ...FAULTS] as const).map((c) => ({
        id: c,
        title: TITLES[c],
        kind: c === 'none' ? 'baseline' : isPersistent(c) ? 'non-transient' : 'transient',
      })),
      rows: rows.map((s) => ({
        name: s.name,
        workflowType: s.workflowType,
        system: s.system,
        cells: Object.fromEntries(
          columns.filter((c) => ran(s, c)).map((c) => [c, cellRecord(cells.get(key(s, c))!, at, commit, mode)]),
        ),
      })),
      invocations: {
        [mode]: {
          at,
          commit,
          mode,
          args: opts.args ?? [],
          durationSeconds: totalSeconds,
          cells: [...cells.values()].length,
          runs: [...cells.values()].reduce((n, c) => n + c.runs.length, 0),
          workerKills: kills,
          temporalRestarts: restarts.temporal,
          dockerdRestarts: restarts.dockerd,
          qdrantRestarts: restarts.qdrant,
          failures,
        },
      },
    };
    return { markdown, failed: failures.length > 0, record };
  } finally {
    await cleanup();
  }
}

function cellRecord(c: Cell, at: string, commit: string, mode: Mode): CellRecord {
  const verdict =
    c.text === 'n/a' || c.text === 'no run'
      ? 'n/a'
      : c.fails.length
        ? 'fail'
        : c.runs.length
          ? 'pass'
          : c.skipped?.length
            ? 'not caught'
            : 'not run';
  return {
    verdict,
    text: c.text,
    ms: c.ms,
    runs: c.runs.map((r) => ({
      workflowId: r.workflowId,
      runId: r.runId,
      label: r.label,
      ms: r.ms,
      retried: r.retried,
      ...(r.note ? { note: r.note } : {}),
      ...(r.fail ? { fail: r.fail.slice(0, 2000) } : {}),
      ...(r.proof ? { proof: r.proof } : {}),
    })),
    ...(c.skipped?.length ? { skipped: c.skipped } : {}),
    at,
    commit,
    mode,
  };
}

async function gitCommit(): Promise<string> {
  const r = await execa('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_ROOT, reject: false });
  const dirty = await execa('git', ['status', '--porcelain', '--untracked-files=no'], {
    cwd: PROJECT_ROOT,
    reject: false,
  });
  return `${r.stdout.trim() || 'unknown'}${dirty.stdout.trim() ? '+dirty' : ''}`;
}

const NA: Cell = { text: 'n/a', fails: [], ms: 0, runs: [] };

/** One cell: the runs a fault makes of a row (each fault point once, or the slice's share of them). */
async function runCell(
  h: Harness,
  s: Scenario,
  f: FaultName,
  b: Boundary[],
  plan: SlicePlan,
  log: (m: string) => void,
  restarts: { temporal: number; dockerd: number },
): Promise<Cell> {
  const runs: RunReport[] = [];
  const skipped: string[] = [];
  const applies =
    (f === 'dockerd-restart' && s.uses.docker) ||
    (f.startsWith('qdrant-') && s.uses.qdrant) ||
    (isPersistent(f) && s.persistent?.[f] !== undefined) ||
    ['kill-boundary', 'kill-mid', 'temporal-restart'].includes(f);
  if (!applies) return NA;
  const line = (what: string, r: RunReport, caught = true) =>
    log(
      `${s.name} × ${f}${what ? ` ${what}` : ''}: ${caught ? r.label : 'not caught'}${r.fail ? ` FAIL ${r.fail}` : ''} [${r.retried.join(' ')}] ${r.ms} ms${r.proof ? ` — ${r.proof}` : ''}`,
    );
  const limit = <T>(xs: T[]): T[] => {
    if (!plan.points || xs.length <= plan.points) return xs;
    const mid = Math.floor((xs.length - plan.points) / 2);
    return xs.slice(mid, mid + plan.points);
  };
  if (isPersistent(f)) {
    // A host that comes back lets the run go on (it waits for its host): any consistent ending, the fault proven.
    const r = await runOnce(h, s, f, { persistent: s.persistent![f]!, mustUndo: true });
    runs.push(r);
    line('', r);
  } else if (f === 'kill-boundary') {
    const k = plan.k === 'mid' ? Math.ceil(b.length / 2) : plan.k;
    for (const x of b) {
      if (k && x.k !== k) continue;
      const r = await runOnce(h, s, `${f}-k${x.k}`, { driver: killAtBoundary(h, x) });
      runs.push({ ...r, note: [`k=${x.k} ${x.type}`, r.note].filter(Boolean).join(': ') });
      line(`k=${x.k} (${x.type})`, r);
    }
  } else if (f === 'kill-mid') {
    for (const x of limit(b.filter((y) => y.heartbeats && y.activityId))) {
      let d = killMid(h, x, 'heartbeat');
      let r = await runOnce(h, s, `${f}-k${x.k}`, { driver: d });
      if (!d.applied() && !r.fail) {
        d = killMid(h, x, 'held');
        r = await runOnce(h, s, `${f}-held-k${x.k}`, { driver: d });
      }
      if ((!d.applied() || r.missed) && !r.fail) skipped.push(x.type);
      else runs.push({ ...r, note: [`${x.type}`, r.note].filter(Boolean).join(': ') });
      line(x.type, r, d.applied() && !r.missed);
    }
  } else if (f === 'temporal-restart') {
    // Once, in a long activity (a mutation or transfer) as near the middle of the run as can be caught,
    // synchronised as a mid-activity kill is.
    const long = b.filter((x) => !x.local && x.heartbeats && x.activityId);
    const mid = (long.length - 1) / 2;
    const order = [...long].sort((x, y) => Math.abs(long.indexOf(x) - mid) - Math.abs(long.indexOf(y) - mid));
    if (order.length === 0) return NA;
    for (const at of order.slice(0, 3)) {
      let d = killMid(h, at, 'heartbeat', 'restart-temporal');
      let r = await runOnce(h, s, `${f}-k${at.k}`, { driver: d });
      if (!d.applied() && !r.fail) {
        d = killMid(h, at, 'held', 'restart-temporal');
        r = await runOnce(h, s, `${f}-held-k${at.k}`, { driver: d });
      }
      line(`during ${at.type}`, r, d.applied());
      if (!d.applied() && !r.fail) continue;
      runs.push({ ...r, note: [`during ${at.type}`, r.note].filter(Boolean).join(': ') });
      break;
    }
    if (runs.length === 0) skipped.push(...order.slice(0, 3).map((x) => x.type));
  } else if (f === 'qdrant-restart') {
    // In each long Qdrant activity (a transfer, a recovery), once a request of it is in flight.
    const points = limit(
      b.filter(
        (x) =>
          !x.local &&
          x.heartbeats &&
          x.activityId &&
          dependencyOf(x.type) === 'qdrant' &&
          (!plan.at || x.type === plan.at),
      ),
    );
    if (points.length === 0) return NA;
    for (const at of points) {
      let d = killMid(h, at, 'heartbeat', 'restart-qdrant');
      let r = await runOnce(h, s, `${f}-k${at.k}`, { driver: d });
      if (!d.applied() && !r.fail) {
        d = killMid(h, at, 'held', 'restart-qdrant');
        r = await runOnce(h, s, `${f}-held-k${at.k}`, { driver: d });
      }
      if ((!d.applied() || r.missed) && !r.fail) skipped.push(at.type);
      else runs.push({ ...r, note: [`during ${at.type}`, r.note].filter(Boolean).join(': ') });
      line(`during ${at.type}${r.missed ? ` (${r.missed})` : ''}`, r, d.applied() && !r.missed);
    }
  } else if (f === 'dockerd-restart') {
    // As each Docker activity is scheduled.
    const points = limit(b.filter((x) => !x.local && dependencyOf(x.type) === 'docker'));
    if (points.length === 0) return NA;
    for (const at of points) {
      const restart = async () => {
        await h.dockerd.restart();
        restarts.dockerd += 1;
      };
      const r = await runOnce(h, s, `${f}-k${at.k}`, { driver: restartAt(at, restart) });
      runs.push({ ...r, note: [`as ${at.type} was scheduled`, r.note].filter(Boolean).join(': ') });
      line(`at ${at.type}`, r);
    }
  } else {
    const r = await runOnce(h, s, f, { driver: qdrantFault(h, f) });
    runs.push(r);
    line('', r);
  }
  return summarize(runs, skipped);
}

export function writeResults(markdown: string): string {
  const dir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'faults.md');
  writeFileSync(path, markdown);
  return path;
}
