// The fleet rollback on real Docker and the dev server: 12 demo containers (cortex-memory-mcp:v2.1.0 → v2.0.0, each
// on its own 127.0.0.1 port) spread over 3 "hosts" — 3 worker processes, each serving only its host's queue — while
// the workflows run on an in-process main worker whose Docker client points nowhere (every Docker step must go
// through a host worker). Waves are checked from the fleet's own history (child start/close events); a failing
// second wave halts the fleet and the canaries are reverted; a host worker SIGKILLed mid-stop is replaced and the
// fleet completes with every container created exactly once (dockerd's event log).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import Dockerode from 'dockerode';
import {
  decide,
  getStatus,
  startDockerRollback,
  startWorkflow,
  waitResult,
  type RollbackClient,
} from '../../client/client.ts';
import { buildReport, reportMarkdown } from '../../client/report.ts';
import { createWorker } from '../../workers/worker.ts';
import type { DockerRollbackResult } from '../../workflows/application/docker-container.ts';
import {
  fleetAbortSignal,
  fleetPauseSignal,
  fleetResumeSignal,
  fleetWorkflowId,
  type FleetRollbackInput,
  type FleetRollbackResult,
} from '../../workflows/application/fleet.ts';
import {
  BAD,
  docker,
  ensureImages,
  GOOD,
  health,
  imageId,
  removeByPrefix,
  startApp,
  waitFor,
  type App,
} from '../helpers/docker.ts';
import { activityRuns, hostActivityEvents, pendingActivity } from '../helpers/history.ts';
import { recordHistory } from '../helpers/record.ts';
import { localEnv, RUNBOOK_APPROVAL_POLICY, testClient, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const RUN = Date.now().toString(36);
const HOSTS = ['a', 'b', 'c'].map((h) => `fleet-${h}-${RUN}`);
const PREFIX = `fleet-${RUN}`;
const APPROVER = { approver: 'oncall-eng', role: 'on-call-engineer' };

interface Target extends App {
  host: string;
}

/** `count` (12) demo containers, target i on host i % 3. */
async function startFleet(
  tag: string,
  image: string,
  env: (i: number) => string[] = () => [],
  labels?: (i: number, host: string, healthUrl: string) => Record<string, string>,
  count = 12,
): Promise<Target[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const host = HOSTS[i % 3]!;
      const app = await startApp(`${PREFIX}-${tag}-${i}`, image, env(i), labels && ((u) => labels(i, host, u)));
      return { ...app, host };
    }),
  );
}

const asTargets = (ts: Target[]) => ts.map((t) => ({ host: t.host, container: t.name, healthUrl: t.healthUrl }));

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/** Each child's [initiated, closed] times from the fleet's history, by child workflow id (first run only). */
async function childSpans(
  env: TestWorkflowEnvironment,
  workflowId: string,
): Promise<Map<string, { start: number; end: number }>> {
  const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const byInitiated = new Map<string, string>();
  const spans = new Map<string, { start: number; end: number }>();
  for (const e of events) {
    const init = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (init?.workflowId && !spans.has(init.workflowId)) {
      byInitiated.set(String(e.eventId), init.workflowId);
      spans.set(init.workflowId, { start: ms(e.eventTime), end: Infinity });
    }
    const closed =
      e.childWorkflowExecutionCompletedEventAttributes ??
      e.childWorkflowExecutionFailedEventAttributes ??
      e.childWorkflowExecutionCanceledEventAttributes;
    const id = closed ? byInitiated.get(String(closed.initiatedEventId)) : undefined;
    if (id) spans.get(id)!.end = ms(e.eventTime);
  }
  return spans;
}

function maxOverlap(spans: Array<{ start: number; end: number }>): number {
  const points = spans.flatMap((s) => [
    { t: s.start, d: 1 },
    { t: s.end, d: -1 },
  ]);
  points.sort((x, y) => x.t - y.t || x.d - y.d); // a close at the same instant as a start frees the slot first
  let cur = 0;
  let max = 0;
  for (const p of points) max = Math.max(max, (cur += p.d));
  return max;
}

const base = (name: string): Omit<FleetRollbackInput, 'targets' | 'selector'> => ({
  name,
  targetImage: GOOD,
  reason: 'v2.1.0 fails its health check across the fleet',
  requestedBy: 'fleet-test',
  stopTimeoutSeconds: 10,
  verifyTimeoutSeconds: 30,
  pauseBetweenWavesSeconds: 0,
  monitor: { durationSeconds: 0 },
});

describe('fleetRollback: 12 containers on 3 host workers, in waves', () => {
  let env: TestWorkflowEnvironment;
  let rc: RollbackClient;
  let main: { worker: Worker; run: Promise<void> } | undefined;
  const hostWorkers = new Map<string, WorkerProcess>();
  const spawnHost = (host: string, n = 1): WorkerProcess => {
    const w = spawnWorker({ address: env.address, taskQueue: rc.settings.taskQueue }, [
      '--host',
      host,
      '--identity',
      `${host}-worker-${n}`,
    ]);
    hostWorkers.set(host, w);
    return w;
  };

  before(async () => {
    await ensureImages();
    env = await localEnv();
    rc = testClient(env, uniqueQueue('fleet-main'));
    // no Docker here: a Docker step on the main queue would fail, so every one must run on its host's worker
    const blind = new Dockerode({ socketPath: '/nonexistent/docker.sock' });
    const w = await createWorker({ settings: rc.settings, connection: env.nativeConnection, deps: { docker: blind } });
    main = { worker: w.worker, run: w.worker.run() };
    await Promise.all(HOSTS.map((h) => spawnHost(h).ready));
  });
  after(async () => {
    for (const w of hostWorkers.values()) await w.kill();
    main?.worker.shutdown();
    await main?.run;
    await removeByPrefix(PREFIX);
    await env?.teardown();
  });

  it('rolls back every container found by label, wave after wave, never more than maxConcurrency at once', async () => {
    const targets = await startFleet('w', BAD, undefined, (_i, host, url) => ({
      'fleet-test': `${RUN}-w-${host}`,
      'cortex.health-url': url,
    }));
    const name = `${PREFIX}-waves`;
    const workflowId = fleetWorkflowId(name);
    await startWorkflow(
      rc,
      'fleetRollback',
      {
        ...base(name),
        selector: { label: `fleet-test=${RUN}-w-{host}`, hosts: HOSTS },
        waves: 'canary:1,25%,rest',
        maxConcurrency: 3,
        maxErrors: 0,
        pauseBetweenWavesSeconds: 1,
      } satisfies FleetRollbackInput,
      workflowId,
    );
    // one approval for the whole fleet, through the same update as any rollback
    await waitFor(async () => (await getStatus(rc, workflowId)).pendingApproval !== undefined, 60_000, 'approval');
    const planned = await getStatus(rc, workflowId);
    assert.equal(planned.fleet?.targets.length, 12);
    assert.deepEqual(
      planned.fleet?.waves.map((w) => [w.name, w.targets]),
      [
        ['canary', 1],
        ['wave-2', 3],
        ['rest', 8],
      ],
    );
    assert.equal(
      planned.fleet?.targets.every((t) => t.phase === 'pending'),
      true,
    );
    await decide(rc, workflowId, { decision: 'approve', ...APPROVER, comment: 'fleet go' });

    const r = await waitResult<FleetRollbackResult>(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    const res = r.result;
    assert.equal(res.outcome, 'succeeded');
    assert.equal(res.errors, 0);
    assert.deepEqual(
      res.targets.map((t) => t.phase),
      Array<string>(12).fill('succeeded'),
    );
    // round-robin over the hosts: the 3 targets of wave 2 are on 3 different hosts
    assert.equal(new Set(res.targets.filter((t) => t.wave === 'wave-2').map((t) => t.host)).size, 3);

    const spans = await childSpans(env, workflowId);
    assert.equal(spans.size, 12);
    const waveOf = new Map(res.targets.map((t) => [t.childWorkflowId, t.wave]));
    const byWave = (w: string) => [...spans].filter(([id]) => waveOf.get(id) === w).map(([, s]) => s);
    for (const [prev, next] of [
      ['canary', 'wave-2'],
      ['wave-2', 'rest'],
    ] as const) {
      const lastEnd = Math.max(...byWave(prev).map((s) => s.end));
      const firstStart = Math.min(...byWave(next).map((s) => s.start));
      assert.ok(lastEnd <= firstStart, `${next} started before ${prev} ended`);
    }
    const overlap = maxOverlap([...spans.values()]);
    assert.ok(overlap <= 3, `${overlap} children ran at once (maxConcurrency 3)`);
    assert.equal(overlap, 3, 'the rest wave used its 3 slots');

    const good = await imageId(GOOD);
    for (const t of targets) {
      assert.equal((await docker.getContainer(t.name).inspect()).Image, good, t.name);
      assert.equal((await health(t.healthUrl)).body.version, 'v2.0.0');
    }
    // each child: approved by the fleet's approver (no second approval), Docker steps on its own host's queue
    for (const t of res.targets) {
      const child = env.client.workflow.getHandle(t.childWorkflowId);
      const cr = (await child.result()) as DockerRollbackResult;
      const approved = cr.approvals.filter((a) => a.decision === 'approved');
      assert.deepEqual(
        approved.map((a) => [a.approver, a.via]),
        [['oncall-eng', 'pre-approval']],
      );
      const queues = new Set(
        hostActivityEvents((await child.fetchHistory()).events ?? []).map(
          (e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name,
        ),
      );
      assert.deepEqual([...queues].filter(Boolean), [`cortex-rollback-host-${t.host}`]);
    }

    const status = await getStatus(rc, workflowId);
    assert.equal(status.fleet?.errorBudgetLeft, 0);
    assert.equal(status.approvals.filter((a) => a.decision === 'approved').length, 1);
    const report = reportMarkdown(buildReport(status, r));
    for (const t of targets) assert.match(report, new RegExp(`${t.host}/${t.name} .*succeeded`));
    await recordHistory('fleet-waves-succeeded', workflowId, env.address);
  });

  it('halts when the second wave fails health over maxErrors: later targets untouched, canaries reverted', async () => {
    // v2.1.0 passes its health check here (healthy for a day: a value neither image sets by default, so every
    // rollback carries it over as operator env), so the canaries' revert to it can be verified; wave 2's database
    // is down, so v2.0.0 fails health there
    const wave2 = new Set([2, 3, 4, 5]);
    const targets = await startFleet('h', BAD, (i) => [
      'CORTEX_HEALTH=fail-after:86400',
      ...(wave2.has(i) ? ['CORTEX_FAULTS={"db":"down"}'] : []),
    ]);
    const name = `${PREFIX}-halt`;
    const workflowId = fleetWorkflowId(name);
    await startWorkflow(
      rc,
      'fleetRollback',
      {
        ...base(name),
        targets: asTargets(targets),
        waves: 'canary:2,4,rest',
        // one at a time: the first failure is within the budget (the next target starts), the second is over it
        maxConcurrency: 1,
        maxErrors: 1,
        onFailure: 'halt-and-revert',
        verifyTimeoutSeconds: 3,
        approval: { preApproved: APPROVER },
      } satisfies FleetRollbackInput,
      workflowId,
    );
    const r = await waitResult<FleetRollbackResult>(rc, workflowId);
    assert.ok(!r.ok, 'the fleet halted');
    assert.equal(r.type, 'VerificationFailed');
    assert.match(r.message, /halted: 2 target\(s\) failed, more than maxErrors 1/);
    assert.match(r.message, /2 of 2 changed target\(s\) reverted/);
    const res = r.details as FleetRollbackResult;
    assert.equal(res.outcome, 'halted');
    assert.deepEqual(
      res.targets.map((t) => t.phase),
      ['reverted', 'reverted', 'failed', 'failed', ...Array<string>(8).fill('skipped')],
    );
    assert.deepEqual(
      res.waves.map((w) => w.state),
      ['completed', 'halted', 'skipped'],
    );

    const bad = await imageId(BAD);
    for (const [i, t] of targets.entries()) {
      const c = await docker.getContainer(t.name).inspect();
      assert.equal(c.Image, bad, `${t.name} runs its previous image`);
      if (i < 2) {
        // the canaries ran v2.0.0, then a second child put v2.1.0 back (a new container, answering as v2.1.0)
        assert.notEqual(c.Id, t.id);
        assert.equal((await health(t.healthUrl)).body.version, 'v2.1.0');
        assert.match(res.targets[i]!.revert?.detail ?? '', new RegExp(`runs ${BAD.replace('.', '\\.')} again`));
      } else {
        // the failed ones restored their own container; the rest were never touched, not even started as a child
        assert.equal(c.Id, t.id, `${t.name} is the original container`);
      }
      if (i >= 4) {
        await assert.rejects(
          env.client.workflow.getHandle(res.targets[i]!.childWorkflowId).describe(),
          WorkflowNotFoundError,
        );
      }
    }
    const status = await getStatus(rc, workflowId);
    assert.equal(status.fleet?.errors, 2);
    assert.equal(status.fleet?.errorBudgetLeft, 0);
    assert.match(status.fleet?.targets[2]?.detail ?? '', /did not answer healthy/);
    const report = reportMarkdown(buildReport(status, r));
    assert.match(report, new RegExp(`${targets[0]!.host}/${targets[0]!.name} .*reverted`));
    assert.match(report, new RegExp(`${targets[11]!.host}/${targets[11]!.name} .*skipped`));
    await recordHistory('fleet-halted-reverted', workflowId, env.address);
  });

  it('survives a host worker SIGKILLed mid-stop: the fleet completes, each container created exactly once', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    // a stop takes 3 s, so a child is caught with its stop running
    const targets = await startFleet('k', BAD, () => ['CORTEX_SHUTDOWN_DELAY_MS=3000']);
    const name = `${PREFIX}-kill`;
    const workflowId = fleetWorkflowId(name);
    await startWorkflow(
      rc,
      'fleetRollback',
      {
        ...base(name),
        targets: asTargets(targets),
        waves: 'canary:1,25%,rest',
        maxConcurrency: 3,
        approval: { preApproved: APPROVER },
      } satisfies FleetRollbackInput,
      workflowId,
    );
    const victim = HOSTS[1]!;
    // the moment: a child on the victim host, past the canary, whose stopContainer runs on the victim's worker
    let killedChild = '';
    await waitFor(
      async () => {
        const s = await getStatus(rc, workflowId);
        for (const t of s.fleet?.targets ?? []) {
          if (t.host !== victim || t.wave === 'canary' || t.phase !== 'running' || !t.childRunId) continue;
          const a = await pendingActivity(env.client.workflow.getHandle(t.childWorkflowId), 'stopContainer');
          if (a && (a.state === '2' || a.state.includes('STARTED'))) {
            killedChild = t.childWorkflowId;
            return true;
          }
        }
        return false;
      },
      120_000,
      'a stopContainer running on the victim host',
    );
    await hostWorkers.get(victim)!.kill();
    const mid = await env.client.workflow.getHandle(workflowId).describe();
    assert.equal(mid.status.name, 'RUNNING');
    await spawnHost(victim, 2).ready;

    const r = await waitResult<FleetRollbackResult>(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'succeeded');
    const stops = await activityRuns(env.client.workflow.getHandle(killedChild), 'stopContainer');
    assert.equal(stops.length, 1);
    assert.ok(stops[0]!.attempt >= 2, `the interrupted stop was retried (attempt ${stops[0]!.attempt})`);
    assert.equal(stops[0]!.identity, `${victim}-worker-2`);

    const good = await imageId(GOOD);
    const until = Math.ceil(Date.now() / 1000) + 1;
    const stream = await docker.getEvents({ since, until, filters: { type: ['container'], event: ['create'] } });
    let text = '';
    for await (const chunk of stream) text += (chunk as Buffer).toString();
    const creates = text
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { Actor: { Attributes: Record<string, string> } }).Actor.Attributes.name);
    for (const t of targets) {
      assert.equal((await docker.getContainer(t.name).inspect()).Image, good, t.name);
      // startApp's own create, then the rollback's: one each
      assert.equal(creates.filter((n) => n === t.name).length, 2, `${t.name} created once by the rollback`);
    }
    await recordHistory('fleet-host-worker-killed', workflowId, env.address);
  });

  it('pause holds new starts, resume goes on, a target held by another rollback conflicts, abort ends the bake', async () => {
    const [t0, t1, t2] = await startFleet('p', BAD, undefined, undefined, 3);
    // a single rollback of t1 waits for its approval: it holds t1's business key
    const single = await startDockerRollback(rc, {
      containerName: t1!.name,
      targetImage: GOOD,
      healthUrl: t1!.healthUrl,
      host: t1!.host,
      reason: 'a single rollback of the same container',
      requestedBy: 'someone-else',
      monitor: { durationSeconds: 0 },
    });
    await waitFor(async () => (await getStatus(rc, single.workflowId)).pendingApproval !== undefined, 60_000, 'single');
    const name = `${PREFIX}-pause`;
    const workflowId = fleetWorkflowId(name);
    await startWorkflow(
      rc,
      'fleetRollback',
      {
        ...base(name),
        targets: asTargets([t1!, t0!, t2!]),
        waves: 'canary:2,rest',
        maxConcurrency: 2,
        maxErrors: 1,
        pauseBetweenWavesSeconds: 3600,
      } satisfies FleetRollbackInput,
      workflowId,
    );
    const handle = env.client.workflow.getHandle(workflowId);
    await handle.signal(fleetPauseSignal, { by: 'oncall', reason: 'hold on' });
    await waitFor(async () => (await getStatus(rc, workflowId)).pendingApproval !== undefined, 60_000, 'approval');
    await decide(rc, workflowId, { decision: 'approve', ...APPROVER });
    // approved and paused: the canary wave is open, and nothing has started
    await waitFor(
      async () => {
        const s = await getStatus(rc, workflowId);
        return s.fleet?.waves[0]?.state === 'running' && s.fleet.paused?.by === 'oncall';
      },
      60_000,
      'the canary wave held by the pause',
    );
    const held = await getStatus(rc, workflowId);
    assert.deepEqual(
      held.fleet?.targets.map((t) => t.phase),
      ['pending', 'pending', 'pending'],
    );
    assert.equal((await childSpans(env, workflowId)).size, 0);
    // the Web UI's current details say the same
    const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(
      meta.currentDetails ?? '',
      /\*\*fleet .*:\*\* 3 targets → cortex-memory-mcp:v2\.0\.0; 0 done, 0 running/,
    );
    assert.match(meta.currentDetails ?? '', /\*\*paused\*\* by oncall/);
    assert.match(meta.currentDetails ?? '', /\*\*error budget:\*\* 0 error\(s\) of 1 allowed, 1 left/);

    await handle.signal(fleetResumeSignal, { by: 'oncall' });
    // the canaries done, the fleet bakes (a one-hour durable timer) before the rest: abort ends it at once
    await waitFor(async () => (await getStatus(rc, workflowId)).fleet?.nextWave !== undefined, 120_000, 'bake');
    const baking = await getStatus(rc, workflowId);
    assert.deepEqual(
      baking.fleet?.targets.map((t) => t.phase),
      ['conflict', 'succeeded', 'pending'],
    );
    assert.match(baking.fleet?.targets[0]?.detail ?? '', /another rollback of .* is running .*not touched/);
    assert.equal(baking.fleet?.errorBudgetLeft, 0);
    await handle.signal(fleetAbortSignal, { by: 'oncall', reason: 'enough for today' });
    const r = await waitResult<FleetRollbackResult>(rc, workflowId);
    assert.ok(!r.ok);
    assert.match(r.message, /halted: aborted by oncall: enough for today/);
    const res = r.details as FleetRollbackResult;
    assert.deepEqual(
      res.targets.map((t) => t.phase),
      ['conflict', 'succeeded', 'skipped'],
    );
    assert.equal((await docker.getContainer(t0!.name).inspect()).Image, await imageId(GOOD), 'halt keeps the done');
    assert.equal((await docker.getContainer(t1!.name).inspect()).Id, t1!.id);
    assert.equal((await docker.getContainer(t2!.name).inspect()).Id, t2!.id);
    // the single rollback was not disturbed: still waiting for its own approval
    assert.ok((await getStatus(rc, single.workflowId)).pendingApproval);
    await decide(rc, single.workflowId, { decision: 'reject', ...APPROVER, comment: 'test done' });
    await recordHistory('fleet-paused-conflict-aborted', workflowId, env.address);
  });
  /** A main worker loading the committed approval policy (the roster, four eyes, escalation), on its own queue. */
  async function policyWorker(): Promise<{ rc: RollbackClient; stop: () => Promise<void> }> {
    const prc = testClient(env, uniqueQueue('fleet-policy'));
    const blind = new Dockerode({ socketPath: '/nonexistent/docker.sock' });
    const w = await createWorker({
      settings: prc.settings,
      connection: env.nativeConnection,
      deps: { docker: blind, approvalPolicyPath: RUNBOOK_APPROVAL_POLICY },
    });
    const run = w.worker.run();
    return {
      rc: prc,
      stop: async () => {
        w.worker.shutdown();
        await run;
      },
    };
  }

  /** Three containers (one a host) rolled by a fleet requested by oncall-eng under the committed policy. */
  async function policyFleet(
    tag: string,
    approve: (prc: RollbackClient, workflowId: string) => Promise<void>,
    approval: FleetRollbackInput['approval'] = {},
  ): Promise<{ res: FleetRollbackResult; targets: Target[]; prc: RollbackClient }> {
    const p = await policyWorker();
    try {
      const targets = await startFleet(tag, BAD, undefined, undefined, 3);
      const name = `${PREFIX}-${tag}`;
      const workflowId = fleetWorkflowId(name);
      await startWorkflow(
        p.rc,
        'fleetRollback',
        {
          ...base(name),
          requestedBy: 'oncall-eng',
          targets: asTargets(targets),
          waves: 'canary:1,rest',
          maxConcurrency: 2,
          approval,
        } satisfies FleetRollbackInput,
        workflowId,
      );
      await waitFor(async () => (await getStatus(p.rc, workflowId)).pendingApproval !== undefined, 60_000, 'approval');
      assert.equal((await getStatus(p.rc, workflowId)).approvalPolicy?.path, RUNBOOK_APPROVAL_POLICY);
      await approve(p.rc, workflowId);
      const r = await waitResult<FleetRollbackResult>(p.rc, workflowId);
      assert.ok(r.ok, JSON.stringify(r));
      const good = await imageId(GOOD);
      for (const t of targets) {
        assert.equal((await docker.getContainer(t.name).inspect()).Image, good, t.name);
        assert.equal((await health(t.healthUrl)).body.version, 'v2.0.0');
      }
      return { res: r.result, targets, prc: p.rc };
    } finally {
      await p.stop();
    }
  }

  it('under the committed policy: a fleet approved by the VP of engineering rolls every target (its children take the vp-engineering pre-approval)', async () => {
    const { res } = await policyFleet('vp', async (prc, workflowId) => {
      // the requester may not approve their own fleet
      await assert.rejects(
        decide(prc, workflowId, { decision: 'approve', approver: 'oncall-eng', role: 'on-call-engineer' }),
        /four eyes/,
      );
      await decide(prc, workflowId, { decision: 'approve', approver: 'vp-eng', role: 'vp-engineering', comment: 'go' });
    });
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(
      res.targets.map((t) => t.phase),
      ['succeeded', 'succeeded', 'succeeded'],
    );
    for (const t of res.targets) {
      const cr = (await env.client.workflow.getHandle(t.childWorkflowId).result()) as DockerRollbackResult;
      assert.deepEqual(
        cr.approvals.map((a) => [a.decision, a.approver, a.role, a.via]),
        [['approved', 'vp-eng', 'vp-engineering', 'pre-approval']],
      );
    }
  });

  it('under the committed policy (first window cut to 3 s by approval.timeoutSeconds): escalated, the backup contact approves and every target rolls', async () => {
    const { res } = await policyFleet(
      'esc',
      async (prc, workflowId) => {
        await waitFor(
          async () => (await getStatus(prc, workflowId)).pendingApproval?.escalated === true,
          60_000,
          'escalation',
        );
        await decide(prc, workflowId, {
          decision: 'approve',
          approver: 'backup-eng',
          role: 'engineer',
          comment: 'covering',
        });
      },
      { timeoutSeconds: 3 },
    );
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(
      res.targets.map((t) => t.phase),
      ['succeeded', 'succeeded', 'succeeded'],
    );
    for (const t of res.targets) {
      const cr = (await env.client.workflow.getHandle(t.childWorkflowId).result()) as DockerRollbackResult;
      assert.deepEqual(
        cr.approvals.map((a) => [a.decision, a.approver, a.role, a.via]),
        [['approved', 'backup-eng', 'engineer', 'pre-approval']],
      );
      assert.match(cr.approvals[0]!.comment ?? '', /the fleet's decision as its gate judged it/);
    }
  });
});
