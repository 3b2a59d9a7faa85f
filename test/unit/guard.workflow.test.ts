// rollbackGuard on the time-skipping server with the runbook's own windows (30 s samples, 5 and 10 minutes) and a
// scripted sample activity: each trigger fires exactly on the sample that completes its rule and not one before
// (samples are labelled s1, s2, ... and a trigger records the label of the sample that fired it), two triggers in
// a row start one rollback, alert-only starts none, pause/resume, and continue-as-new keeps the windows.
import { afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { NotifyInput, GuardSample } from '../../activities/index.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import {
  guardStatusQuery,
  pauseSignal,
  resumeSignal,
  type GuardInput,
  type GuardStatus,
} from '../../workflows/triggers/guard.ts';
import { stubActivities } from '../helpers/stub-activities.ts';
import { timeSkippingEnv, uniqueQueue } from '../helpers/temporal.ts';

/** What the service looks like at one sample; counters advance by 100 requests per sample. */
interface Shape {
  healthy?: boolean;
  errorPercent?: number;
  latencyMs?: number;
  dbUp?: boolean;
}

function scriptedService(script: (n: number) => Shape) {
  let n = 0;
  const c = { requests: 0, errors: 0, durationSum: 0, durationCount: 0 };
  const notified: NotifyInput[] = [];
  return {
    notified,
    samples: () => n,
    activities: {
      async sampleGuardedService(): Promise<GuardSample> {
        n += 1;
        const s = script(n);
        c.requests += 100;
        c.errors += s.errorPercent ?? 0;
        c.durationSum += (100 * (s.latencyMs ?? 20)) / 1000;
        c.durationCount += 100;
        const at = `s${n}`;
        return {
          at,
          health: { at, ok: s.healthy ?? true, latencyMs: 1, httpStatus: s.healthy === false ? 503 : 200 },
          metrics: { ...c, dbUp: s.dbUp === false ? 0 : 1, dbErrors: 0 },
        };
      },
      async notify(i: NotifyInput) {
        notified.push(i);
        return { key: `${i.workflowId}/${i.event}/${i.key}`, slack: 'not-configured', pagerDuty: 'not-configured' };
      },
    },
  };
}

const rollbackTemplate = (container: string) => ({
  scenario: 'docker-container',
  input: {
    containerName: container,
    targetImage: 'cortex-memory-mcp:v2.0.0',
    healthUrl: 'http://127.0.0.1:3000/health',
    reason: 'automatic trigger',
    requestedBy: 'guard',
    monitor: { durationSeconds: 0 },
  },
});

describe('rollbackGuard (time-skipping, runbook windows, scripted samples)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: { codePath: string };
  before(async () => {
    bundle = await workflowBundle();
  });
  // A server per guard: a workflow left behind (an abandoned rollback) must not hold a later test's clock.
  beforeEach(async () => {
    env = await timeSkippingEnv();
  });
  afterEach(async () => {
    await env?.teardown();
  });

  /** Runs a guard until `until(status)` holds (time advanced one sample interval at a time), then returns it. */
  async function guard(
    script: (n: number) => Shape,
    over: Partial<GuardInput>,
    drive: (h: Handle, svc: ReturnType<typeof scriptedService>) => Promise<void>,
  ) {
    const svc = scriptedService(script);
    const taskQueue = uniqueQueue('guard');
    const service = uniqueQueue('svc');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: { ...stubActivities().activities, ...svc.activities },
    });
    await worker.runUntil(async () => {
      const h = await env.client.workflow.start('rollbackGuard', {
        taskQueue,
        workflowId: `guard-${service}`,
        args: [{ service, healthUrl: 'http://127.0.0.1:1/health', rollback: rollbackTemplate(service), ...over }],
      });
      try {
        await drive(h, svc);
      } finally {
        // an abandoned child left with no worker would hold the time-skipping server's clock for later tests
        await env.client.workflow
          .getHandle(`rollback-docker-${service}`)
          .terminate('test over')
          .catch(() => undefined);
        await h.terminate('test over');
      }
    });
    return svc;
  }
  type Handle = Awaited<ReturnType<typeof env.client.workflow.start>>;

  async function until(h: Handle, ok: (s: GuardStatus) => boolean, what: string): Promise<GuardStatus> {
    for (let i = 0; i < 400; i++) {
      const s = await h.query(guardStatusQuery);
      if (process.env.GUARD_DEBUG) console.error(what, s.samplesTotal, JSON.stringify(s.triggers));
      if (ok(s)) return s;
      await env.sleep(15_000);
    }
    throw new Error(`timed out waiting for ${what}`);
  }
  const sampled = (h: Handle, n: number) => until(h, (s) => s.samplesTotal >= n, `${n} samples`);

  it('error rate above 5% for 5 minutes: fires on the 10th above-threshold sample, not the 9th; 5% itself never', async () => {
    // s1 has no rate (first scrape); s2 is normal; s3.. are at 6% → 10 samples (300 s at 30 s) complete at s12
    await guard(
      (n) => ({ errorPercent: n >= 3 ? 6 : 0 }),
      {},
      async (h) => {
        const s = await sampled(h, 14);
        assert.equal(s.triggers.length, 1, JSON.stringify(s.triggers));
        const t = s.triggers[0]!;
        assert.equal(t.kind, 'error-rate');
        assert.equal(t.at, 's12');
        assert.equal(t.action, 'rollback-started');
        assert.equal(t.rollbackWorkflowId, `rollback-docker-${s.service}`);
        const child = await env.client.workflow.getHandle(t.rollbackWorkflowId).describe();
        assert.equal(child.type, 'dockerContainerRollback');
        const trigger = (await env.client.workflow.getHandle(t.rollbackWorkflowId).fetchHistory()).events![0]!
          .workflowExecutionStartedEventAttributes!.input!.payloads![0]!.data!;
        const childInput = JSON.parse(Buffer.from(trigger).toString()) as { trigger: { evidence: { at: string }[] } };
        assert.deepEqual(
          childInput.trigger.evidence.map((p) => p.at),
          ['s3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 's12'],
        );
      },
    );
    await guard(
      () => ({ errorPercent: 5 }),
      {},
      async (h) => {
        const s = await sampled(h, 25);
        assert.deepEqual(s.triggers, []);
        assert.equal(s.windows.errorRate.samplesAbove, 0);
      },
    );
  });

  it('response time above 2 s for 10 minutes: fires on the 20th slow sample; a normal sample restarts the window', async () => {
    // s3..s12 slow, s13 normal (window restarts), s14.. slow → 20 samples complete at s33
    const svc = await guard(
      (n) => ({ latencyMs: n >= 3 && n !== 13 ? 2100 : 2000 }),
      {},
      async (h) => {
        const mid = await sampled(h, 32);
        assert.deepEqual(mid.triggers, [], 'nothing at s32 (19 slow samples)');
        assert.equal(mid.windows.responseTime.samplesToTrigger, 20);
        const s = await until(h, (x) => x.triggers.length > 0, 'a trigger');
        assert.equal(s.triggers[0]!.kind, 'response-time');
        assert.equal(s.triggers[0]!.at, 's33');
      },
    );
    // the guard's own notification (the started rollback may notify too: its approval gate asks for approval)
    const fired = svc.notified.filter((n) => n.workflowId.startsWith('guard-'));
    assert.equal(fired.length, 1);
    assert.equal(fired[0]!.event, 'trigger-fired');
    assert.match(fired[0]!.summary, /response time above 2000 ms sustained for 600s — rollback .* started/);
  });

  it('health: fires on the 4th consecutive failure (> 3), a success in between resets', async () => {
    // failures s2-s4, s5 ok, s6-s9 fail → fires at s9
    await guard(
      (n) => ({ healthy: !((n >= 2 && n <= 4) || n >= 6) }),
      {},
      async (h) => {
        const s = await until(h, (x) => x.triggers.length > 0, 'a trigger');
        assert.equal(s.triggers[0]!.kind, 'health-check-failures');
        assert.equal(s.triggers[0]!.at, 's9');
      },
    );
  });

  it('database connection failure fires at once; two triggers in a row start one rollback', async () => {
    await guard(
      (n) => ({ dbUp: n < 5 }),
      {},
      async (h) => {
        const s = await until(h, (x) => x.triggers.length >= 2, 'two triggers');
        assert.deepEqual(
          s.triggers.map((t) => [t.kind, t.at, t.action]),
          [
            ['database-connection', 's5', 'rollback-started'],
            ['database-connection', 's6', 'rollback-already-running'],
          ],
        );
        const child = await env.client.workflow.getHandle(s.triggers[0]!.rollbackWorkflowId!).describe();
        assert.equal(child.runId, s.triggers[0]!.rollbackRunId, 'the running rollback is the first one');
      },
    );
  });

  it('alert-only: notifies and starts nothing', async () => {
    const svc = await guard(
      (n) => ({ dbUp: n < 3 }),
      { mode: 'alert-only' },
      async (h) => {
        const s = await until(h, (x) => x.triggers.length > 0, 'a trigger');
        assert.equal(s.triggers[0]!.action, 'alerted');
        assert.equal(s.triggers[0]!.rollbackWorkflowId, undefined);
        await assert.rejects(env.client.workflow.getHandle(`rollback-docker-${s.service}`).describe());
      },
    );
    assert.match(svc.notified[0]!.summary, /alert only, no rollback/);
  });

  it('pause takes no samples; resume restarts every window from zero', async () => {
    await guard(
      (n) => ({ healthy: n < 2 }),
      {},
      async (h, svc) => {
        const s = await until(h, (x) => x.windows.consecutiveHealthFailures === 2, 'two failures');
        assert.equal(s.triggers.length, 0);
        await h.signal(pauseSignal, { by: 'oncall' });
        const paused = await until(h, (x) => x.paused, 'paused');
        const taken = svc.samples();
        await env.sleep(30 * 60_000);
        assert.equal(svc.samples(), taken, 'no sample while paused');
        assert.equal((await h.query(guardStatusQuery)).pausedBy, 'oncall');
        assert.equal(paused.samplesTotal, (await h.query(guardStatusQuery)).samplesTotal);
        await h.signal(resumeSignal);
        const resumed = await until(h, (x) => !x.paused, 'resumed');
        assert.equal(resumed.windows.consecutiveHealthFailures, 0);
        const t = await until(h, (x) => x.triggers.length > 0, 'a trigger after resume');
        assert.equal(t.triggers[0]!.at, `s${taken + 4}`, 'four fresh failures after resume');
      },
    );
  });

  it('continue-as-new carries the windows: a trigger whose window spans two runs fires on time', async () => {
    await guard(
      (n) => ({ errorPercent: n >= 3 ? 50 : 0 }),
      { samplesPerRun: 10 },
      async (h) => {
        const s = await until(h, (x) => x.triggers.length > 0, 'a trigger');
        assert.equal(s.runs, 2);
        assert.equal(s.triggers[0]!.at, 's12');
        assert.equal(s.triggers[0]!.kind, 'error-rate');
      },
    );
  });
});
