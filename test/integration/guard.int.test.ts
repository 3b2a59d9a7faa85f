// rollbackGuard against the real demo service (Docker, host network) on the real dev server, sampling every
// second with windows shrunk through the input: an unhealthy v2.1.0 fires on the 4th sample and its triggered
// docker rollback really puts v2.0.0 back, with the trigger and its samples in the rollback's result; a database
// connection failure (set through the service's /admin/faults while the guard is paused) fires on the first sample
// after resume (alert-only: nothing started); an error rate above 5% fires exactly when its window is covered and
// a second trigger while that rollback waits for approval starts nothing new. Response time, on the time-skipping
// server with the runbook's own numbers (30 s samples, above 2 s for 10 minutes = 20 samples): latency set through
// /admin/faults fires on the 20th slow sample, not the 19th, and starts one rollback with those 20 samples.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { join } from 'node:path';
import { PROJECT_ROOT, temporalCliPath } from '../../common/tools.ts';
import type { Worker } from '@temporalio/worker';
import { getStatus, sendDecision, waitResult, type RollbackClient } from '../../client/client.ts';
import { createWorker } from '../../workers/worker.ts';
import type { DockerRollbackResult } from '../../workflows/application/docker-container.ts';
import {
  guardStatusQuery,
  guardWorkflowId,
  pauseSignal,
  resumeSignal,
  type GuardInput,
  type GuardStatus,
} from '../../workflows/triggers/guard.ts';
import { BAD, ensureImages, GOOD, health, removeByPrefix, startApp, waitFor } from '../helpers/docker.ts';
import { recordHistory } from '../helpers/record.ts';
import { APPROVER, localEnv, testClient, timeSkippingEnv, uniqueQueue } from '../helpers/temporal.ts';

describe('rollbackGuard on the real demo service', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let rc: RollbackClient;
  const names: string[] = [];
  const workflows: string[] = [];

  before(async () => {
    await ensureImages();
    env = await localEnv();
    rc = testClient(env, uniqueQueue('guard-it'));
    ({ worker } = await createWorker({ settings: rc.settings, connection: env.nativeConnection }));
    running = worker.run();
  });
  after(async () => {
    for (const id of workflows)
      await env.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    for (const n of names) await removeByPrefix(n);
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  const appName = (tag: string) => {
    const n = `guard-mcp-${tag}-${Date.now().toString(36)}`;
    names.push(n);
    return n;
  };

  async function startGuard(over: Partial<GuardInput> & Pick<GuardInput, 'service' | 'healthUrl'>) {
    const workflowId = guardWorkflowId(over.service);
    workflows.push(workflowId, `rollback-docker-${over.service}`);
    return env.client.workflow.start('rollbackGuard', {
      taskQueue: rc.settings.taskQueue,
      workflowId,
      args: [{ intervalSeconds: 1, ...over }],
    });
  }
  type Handle = Awaited<ReturnType<typeof startGuard>>;

  async function until(h: Handle, ok: (s: GuardStatus) => boolean, what: string, ms = 30_000): Promise<GuardStatus> {
    let last: GuardStatus | undefined;
    await waitFor(
      async () => {
        last = await h.query(guardStatusQuery);
        return ok(last);
      },
      ms,
      what,
    );
    return last!;
  }

  const rollbackTo = (name: string, healthUrl: string, approval: object) => ({
    scenario: 'docker-container',
    input: {
      containerName: name,
      targetImage: GOOD,
      healthUrl,
      reason: 'automatic trigger',
      requestedBy: 'guard',
      monitor: { durationSeconds: 0 },
      approval,
    },
  });

  /** Pauses, changes the service's faults, resumes; returns the sample count at resume. */
  async function withFaults(h: Handle, port: number, faults: object): Promise<number> {
    await h.signal(pauseSignal, { by: 'test' });
    const paused = await until(h, (s) => s.paused, 'paused');
    const res = await fetch(`http://127.0.0.1:${port}/admin/faults`, { method: 'POST', body: JSON.stringify(faults) });
    assert.equal(res.status, 200, await res.text());
    await h.signal(resumeSignal, { by: 'test' });
    await until(h, (s) => !s.paused, 'resumed');
    return paused.samplesTotal;
  }

  it('health: v2.1.0 answering 503 fires on the 4th sample; the triggered rollback, approved by the on-call engineer, puts v2.0.0 back', async () => {
    const name = appName('health');
    const app = await startApp(name, BAD);
    // as the README starts a guard: its rollback is requested by the guard and waits for a roster approver
    const h = await startGuard({
      service: name,
      healthUrl: app.healthUrl,
      rollback: rollbackTo(name, app.healthUrl, {}),
    });
    const s = await until(h, (x) => x.triggers.length > 0, 'a trigger');
    const t = s.triggers[0]!;
    assert.deepEqual([t.kind, t.sample, t.action], ['health-check-failures', 4, 'rollback-started']);
    await waitFor(
      async () => (await getStatus(rc, t.rollbackWorkflowId!)).phase === 'awaiting-approval',
      30_000,
      'the triggered rollback waits for approval',
    );
    await sendDecision(rc, t.rollbackWorkflowId!, { approve: APPROVER.application });
    const r = await waitResult<DockerRollbackResult>(rc, t.rollbackWorkflowId!);
    assert.ok(r.ok, JSON.stringify(r));
    const result = r.result;
    assert.equal(result.outcome, 'succeeded');
    assert.equal(result.to.image, GOOD);
    const trigger = result.trigger as { kind: string; evidence: { healthy: boolean; httpStatus: number }[] };
    assert.equal(trigger.kind, 'health-check-failures');
    assert.deepEqual(
      trigger.evidence.map((p) => [p.healthy, p.httpStatus]),
      [
        [false, 503],
        [false, 503],
        [false, 503],
        [false, 503],
      ],
    );
    assert.equal((await health(app.healthUrl)).status, 200);
    // the guard goes on watching the rolled-back service, now healthy
    const after = await until(h, (x) => x.windows.recent.at(-1)?.healthy === true, 'a healthy sample');
    assert.equal(after.triggers.length, 1);
  });

  it('database connection failure fires on the first sample after it (alert-only starts nothing)', async () => {
    const name = appName('db');
    const app = await startApp(name, GOOD, ['CORTEX_ADMIN=1']);
    const h = await startGuard({ service: name, healthUrl: app.healthUrl, mode: 'alert-only' });
    await until(h, (x) => x.samplesTotal >= 2, 'two samples');
    const k = await withFaults(h, app.port, { db: 'down' });
    const s = await until(h, (x) => x.triggers[0]?.notified !== undefined, 'a trigger, notified');
    const t = s.triggers[0]!;
    assert.deepEqual([t.kind, t.sample, t.action], ['database-connection', k + 1, 'alerted']);
    assert.match(t.notified ?? '', /slack not-configured/);
    await assert.rejects(env.client.workflow.getHandle(`rollback-docker-${name}`).describe());
  });

  it('error rate above 5% for 3 s at 1 s samples fires on the 3rd rate above it; a second trigger starts nothing new', async () => {
    const name = appName('errors');
    // v2.1.0 made healthy: the rollback to v2.0.0 has something to do, so it waits for approval meanwhile
    const app = await startApp(name, BAD, ['CORTEX_ADMIN=1', 'CORTEX_HEALTH=healthy']);
    const h = await startGuard({
      service: name,
      healthUrl: app.healthUrl,
      errorWindowSeconds: 3,
      rollback: rollbackTo(name, app.healthUrl, { timeoutSeconds: 600 }),
    });
    await until(h, (x) => x.samplesTotal >= 2, 'two samples');
    // resume restarts the windows: sample k+1 has no rate yet, k+2..k+4 are the three rates above 5%
    const k = await withFaults(h, app.port, { load: 100, errorRate: 0.5 });
    const s = await until(h, (x) => x.triggers.length >= 2, 'two triggers');
    assert.deepEqual(
      s.triggers.map((t) => [t.kind, t.sample, t.action]),
      [
        ['error-rate', k + 4, 'rollback-started'],
        ['error-rate', k + 7, 'rollback-already-running'],
      ],
    );
    const child = await env.client.workflow.getHandle(`rollback-docker-${name}`).describe();
    assert.equal(child.runId, s.triggers[0]!.rollbackRunId);
    assert.equal(child.status.name, 'RUNNING');
  });

  it('from the command line: cortex-rollback start guard, pause, guard-status, resume; temporal workflow signal pauses too', async () => {
    const name = appName('cli');
    const app = await startApp(name, GOOD);
    const cli = (...args: string[]) =>
      execa('node', [join(PROJECT_ROOT, 'client', 'bin.js'), ...args], {
        reject: false,
        env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: rc.settings.taskQueue },
      });
    const id = guardWorkflowId(name);
    workflows.push(id);
    const started = await cli(
      'start',
      'guard',
      '--service',
      name,
      '--health-url',
      app.healthUrl,
      '--interval',
      '1',
      '--mode',
      'alert-only',
    );
    assert.equal(started.exitCode, 0, started.stderr);
    assert.match(started.stdout, new RegExp(`started ${id}`));
    const h = env.client.workflow.getHandle(id);
    await waitFor(async () => (await h.query(guardStatusQuery)).samplesTotal >= 1, 30_000, 'a sample');
    const paused = await cli('pause', id, '--by', 'alice', '--reason', 'maintenance');
    assert.equal(paused.exitCode, 0, paused.stderr);
    await waitFor(async () => (await h.query(guardStatusQuery)).paused, 30_000, 'paused');
    const st = await cli('guard-status', id);
    assert.equal(st.exitCode, 0, st.stderr);
    assert.match(st.stdout, /PAUSED by alice \(alert-only\)/);
    assert.match(st.stdout, /health failures 0\/4/);
    assert.equal((await cli('resume', id, '--by', 'alice')).exitCode, 0);
    await waitFor(async () => !(await h.query(guardStatusQuery)).paused, 30_000, 'resumed');
    const viaTemporal = await execa(
      temporalCliPath(),
      [
        'workflow',
        'signal',
        '--workflow-id',
        id,
        '--name',
        'pause',
        '--input',
        '{"by":"bob"}',
        '--address',
        env.address,
      ],
      { reject: false },
    );
    assert.equal(viaTemporal.exitCode, 0, viaTemporal.stderr);
    await waitFor(async () => (await h.query(guardStatusQuery)).paused, 30_000, 'paused by temporal');
    const s = await h.query(guardStatusQuery);
    assert.equal(s.pausedBy, 'bob');
  });
});

describe("rollbackGuard's response-time trigger on the real demo service, the runbook's own rule (time-skipping)", () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let rc: RollbackClient;
  const name = `i9-guard-latency-${Date.now().toString(36)}`;
  const guardId = guardWorkflowId(name);
  const rollbackId = `rollback-docker-${name}`;

  before(async () => {
    await ensureImages();
    env = await timeSkippingEnv();
    rc = testClient(env, uniqueQueue('i9-guard-latency'));
    ({ worker } = await createWorker({ settings: rc.settings, connection: env.nativeConnection }));
    running = worker.run();
  });
  after(async () => {
    // an abandoned child left running would hold the time-skipping server's clock
    for (const id of [rollbackId, guardId])
      await env?.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    await removeByPrefix(name);
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  it('above 2 s sustained for 10 minutes at 30 s samples: fires on the 20th slow sample, not the 19th; one rollback child, the 20 samples in its input; the next trigger starts nothing new', async () => {
    // v2.1.0 made healthy: the rollback to v2.0.0 has something to do, so it waits for approval meanwhile
    const app = await startApp(name, BAD, ['CORTEX_ADMIN=1', 'CORTEX_HEALTH=healthy']);
    const faults = async (f: object) => {
      const res = await fetch(`http://127.0.0.1:${app.port}/admin/faults`, { method: 'POST', body: JSON.stringify(f) });
      assert.equal(res.status, 200, await res.text());
    };
    await faults({ load: 100, latencyMs: 20 });
    // the runbook's numbers: no interval, threshold or window in the input
    const h = await env.client.workflow.start('rollbackGuard', {
      taskQueue: rc.settings.taskQueue,
      workflowId: guardId,
      args: [
        {
          service: name,
          healthUrl: app.healthUrl,
          rollback: {
            scenario: 'docker-container',
            input: {
              containerName: name,
              targetImage: GOOD,
              healthUrl: app.healthUrl,
              reason: 'automatic trigger',
              requestedBy: 'guard',
              monitor: { durationSeconds: 0 },
              approval: { timeoutSeconds: 7200 },
            },
          },
        } satisfies GuardInput,
      ],
    });
    const seen = new Map<number, GuardStatus>();
    const status = () => h.query(guardStatusQuery);
    // The clock only moves in env.sleep: one interval of server time lets exactly one sample happen (its timer
    // starts after the previous sample), which is waited for on the status, not on a sleep.
    async function sample(): Promise<GuardStatus> {
      const n = (await status()).samplesTotal;
      await env.sleep(30_000);
      let s: GuardStatus | undefined;
      await waitFor(
        async () => {
          s = await status();
          return s.samplesTotal > n;
        },
        60_000,
        `sample ${n + 1}`,
      );
      seen.set(s!.samplesTotal, s!);
      return s!;
    }
    for (let i = 0; i < 3; i++) await sample();
    const k = (await status()).samplesTotal;
    assert.ok(seen.get(k)!.windows.responseTime.lastMs! < 2000, JSON.stringify(seen.get(k)!.windows.responseTime));
    // from here every interval's mean response time is (100 × 2.5 s) / 101 requests ≈ 2475 ms
    await faults({ latencyMs: 2500 });
    assert.equal((await status()).samplesTotal, k, 'no sample while the latency changed');
    /** The trigger's record is pushed once its child has started and notified: a query may come in between. */
    async function recorded(triggers: number): Promise<GuardStatus> {
      let last: GuardStatus | undefined;
      await waitFor(
        async () => {
          last = await status();
          return last.triggers.length >= triggers && last.triggers.every((x) => x.notified !== undefined);
        },
        60_000,
        `${triggers} trigger(s) recorded`,
      );
      return last!;
    }
    let s = await sample();
    while (s.samplesTotal < k + 20) s = await sample();
    s = await recorded(1);

    const at19 = seen.get(k + 19);
    assert.ok(at19, `sample ${k + 19} observed`);
    assert.deepEqual(at19.triggers, [], 'nothing on the 19th slow sample');
    assert.deepEqual([at19.windows.responseTime.samplesAbove, at19.windows.responseTime.samplesToTrigger], [19, 20]);
    assert.equal(s.samplesTotal, k + 20);
    assert.equal(s.triggers.length, 1, JSON.stringify(s.triggers));
    const t = s.triggers[0]!;
    assert.deepEqual(
      [t.kind, t.rule, t.sample, t.action, t.rollbackWorkflowId],
      ['response-time', 'response time above 2000 ms sustained for 600s', k + 20, 'rollback-started', rollbackId],
    );
    assert.equal(s.windows.responseTime.samplesAbove, 0, 'the window starts again after a trigger');

    const child = env.client.workflow.getHandle(rollbackId);
    const d = await child.describe();
    assert.deepEqual([d.type, d.runId, d.status.name], ['dockerContainerRollback', t.rollbackRunId, 'RUNNING']);
    const started = (await child.fetchHistory()).events![0]!.workflowExecutionStartedEventAttributes!;
    const childInput = JSON.parse(Buffer.from(started.input!.payloads![0]!.data!).toString()) as {
      containerName: string;
      trigger: { kind: string; sample: number; guardWorkflowId: string; evidence: { latencyMs?: number }[] };
    };
    assert.equal(childInput.containerName, name);
    assert.deepEqual(
      [childInput.trigger.kind, childInput.trigger.sample, childInput.trigger.guardWorkflowId],
      ['response-time', k + 20, guardId],
    );
    const evidence = childInput.trigger.evidence.map((p) => p.latencyMs);
    assert.equal(evidence.length, 20);
    for (const ms of evidence) assert.ok(ms !== undefined && ms > 2000 && ms < 2500, String(ms));

    // still slow: the next 20 samples fire again, and the rollback already running is not started twice
    while (s.samplesTotal < k + 40) s = await sample();
    s = await recorded(2);
    assert.deepEqual(
      s.triggers.map((x) => [x.kind, x.sample, x.action]),
      [
        ['response-time', k + 20, 'rollback-started'],
        ['response-time', k + 40, 'rollback-already-running'],
      ],
    );
    assert.equal((await child.describe()).runId, t.rollbackRunId);
    await recordHistory('guard-response-time-real-service', guardId, env.address);
  });
});
