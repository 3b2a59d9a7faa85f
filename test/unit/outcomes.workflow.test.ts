// What a run ends as and when it was restored, under the runbook's approval policy (time-skipping, stubbed
// activities): a Qdrant config rollback whose approval times out ends 'approval-timed-out' (the metrics' decision
// not to roll back), not 'timed-out' (which they counted as a success); a run marks the step that verified the
// target healthy after the change, and only when it did; a fleet whose failures stayed within its error budget
// ends in the phase 'completed-with-errors', not 'completed'.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../activities/index.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import type { DockerRollbackInput } from '../../workflows/application/docker-container.ts';
import type { FleetRollbackInput, FleetRollbackResult } from '../../workflows/application/fleet.ts';
import type { QdrantConfigRollbackResult } from '../../workflows/configuration/qdrant-config.ts';
import { decideUpdate } from '../../workflows/phases/approval.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import { workflowFailure } from '../helpers/failures.ts';
import { stubActivities, type StubOptions } from '../helpers/stub-activities.ts';
import { RUNBOOK_APPROVAL_POLICY, timeSkippingEnv, uniqueQueue } from '../helpers/temporal.ts';

const preApproved = { preApproved: { approver: 'oncall-eng', role: 'on-call-engineer' } };

/** A collection whose config is `m`, for the config rollback. */
function qdrantStubs(config: { hnsw_config: { m: number } }): Partial<Activities> {
  return {
    async qdrantInspect({ collection }) {
      return { collection, exists: true, pointsCount: 40, config: structuredClone(config) };
    },
    async qdrantPatchCollection({ patch }) {
      Object.assign(config.hnsw_config, (patch as typeof config).hnsw_config);
      return { status: 'ok' };
    },
    async qdrantSearchProbe({ ids }) {
      const probes = (ids ?? [1, 2, 3]).map((id) => ({ id, top: [id, 9] }));
      return { probes };
    },
  };
}

describe('outcomes and the restore mark (time-skipping, runbook approval policy)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: { codePath: string };
  before(async () => {
    env = await timeSkippingEnv();
    bundle = await workflowBundle();
  });
  after(async () => {
    await env?.teardown();
  });

  async function run<T>(extra: Partial<Activities>, stub: StubOptions, fn: (tq: string) => Promise<T>): Promise<T> {
    const { activities } = stubActivities({ approvalPolicy: RUNBOOK_APPROVAL_POLICY, ...stub });
    const taskQueue = uniqueQueue('outcomes');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: { ...activities, ...extra },
    });
    return worker.runUntil(fn(taskQueue));
  }

  it("a Qdrant config rollback whose approval times out ends 'approval-timed-out', changing nothing", async () => {
    const config = { hnsw_config: { m: 16 } };
    await run(qdrantStubs(config), {}, async (taskQueue) => {
      const h = await env.client.workflow.start('qdrantConfigRollback', {
        taskQueue,
        workflowId: uniqueQueue('rollback-configuration-qdrant'),
        args: [{ collection: 'memories', target: { hnsw_config: { m: 6 } }, reason: 'r', requestedBy: 'alice' }],
      });
      const r = (await h.result()) as QdrantConfigRollbackResult;
      assert.equal(r.outcome, 'approval-timed-out');
      assert.equal((await h.query(statusQuery)).phase, 'approval-timed-out');
      assert.equal(config.hnsw_config.m, 16);
      assert.ok(!r.timeline.some((s) => s.restores));
    });
  });

  it('a Qdrant config rollback marks its test search as the restore, at its end', async () => {
    const config = { hnsw_config: { m: 16 } };
    await run(qdrantStubs(config), {}, async (taskQueue) => {
      const h = await env.client.workflow.start('qdrantConfigRollback', {
        taskQueue,
        workflowId: uniqueQueue('rollback-configuration-qdrant'),
        args: [
          {
            collection: 'memories',
            target: { hnsw_config: { m: 6 } },
            reason: 'r',
            requestedBy: 'alice',
            approval: preApproved,
          },
        ],
      });
      const r = (await h.result()) as QdrantConfigRollbackResult;
      assert.equal(r.outcome, 'succeeded');
      assert.equal(config.hnsw_config.m, 6);
      const marked = r.timeline.filter((s) => s.restores);
      assert.deepEqual(
        marked.map((s) => s.name),
        ['test-search'],
      );
      assert.equal((await h.query(statusQuery)).restoredAt, marked[0]!.endedAt);
    });
  });

  const docker = (over: Partial<DockerRollbackInput> = {}): DockerRollbackInput => ({
    containerName: 'cortex-mcp',
    targetImage: 'cortex-memory-mcp:v2.0.0',
    healthUrl: 'http://127.0.0.1:3000/health',
    reason: 'v2.1.0 fails /health',
    requestedBy: 'alice',
    monitor: { durationSeconds: 120, intervalSeconds: 30 },
    approval: preApproved,
    ...over,
  });

  it('a Docker rollback is restored when verify-health passes, before its watch', async () => {
    await run({}, {}, async (taskQueue) => {
      const h = await env.client.workflow.start('dockerContainerRollback', {
        taskQueue,
        workflowId: uniqueQueue('rollback-docker'),
        args: [docker()],
      });
      await h.result();
      const s = await h.query(statusQuery);
      const verify = s.steps.find((x) => x.name === 'verify-health')!;
      assert.equal(verify.restores, true);
      assert.equal(s.restoredAt, verify.endedAt);
      const watch = s.steps.find((x) => x.name === 'monitor')!;
      assert.ok(Date.parse(watch.endedAt!) - Date.parse(s.restoredAt!) >= 120_000, 'the watch comes after');
      assert.deepEqual(
        s.steps.filter((x) => x.restores).map((x) => x.name),
        ['verify-health'],
      );
    });
  });

  it('a Docker rollback whose target never answers healthy is not marked restored', async () => {
    await run({}, { health: [false] }, async (taskQueue) => {
      const h = await env.client.workflow.start('dockerContainerRollback', {
        taskQueue,
        workflowId: uniqueQueue('rollback-docker'),
        args: [docker()],
      });
      const f = await workflowFailure(h.result());
      assert.equal(f.type, 'VerificationFailed');
      const s = await h.query(statusQuery);
      assert.equal(s.restoredAt, undefined);
      assert.ok(!s.steps.some((x) => x.restores));
    });
  });

  it("a Docker rollback whose post-rollback memory check fails (the runbook's 2048 MB) is undone", async () => {
    const { activities, calls } = stubActivities({ approvalPolicy: RUNBOOK_APPROVAL_POLICY });
    const verification: Partial<Activities> = {
      async sampleService() {
        return { at: new Date().toISOString(), ok: true, httpStatus: 200, latencyMs: 3 };
      },
      async checkMemoryApi() {
        return { ok: true, storeStatus: 201, findStatus: 200, found: 1, latencyMs: 5 };
      },
      async containerMemory() {
        return { usedMb: 2300 };
      },
      async containerLogErrors() {
        return { lines: 10, errors: [] };
      },
    };
    const taskQueue = uniqueQueue('outcomes-memory');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: { ...activities, ...verification },
    });
    await worker.runUntil(async () => {
      const h = await env.client.workflow.start('dockerContainerRollback', {
        taskQueue,
        workflowId: uniqueQueue('rollback-docker'),
        args: [docker({ verification: {} })],
      });
      const f = await workflowFailure(h.result());
      assert.equal(f.type, 'VerificationFailed');
      assert.match(f.message, /memory \(2300 MB \(docker stats\)\)/);
      assert.ok(calls.includes('removeOwnContainer') && calls.includes('restorePreserved'), calls.join(' '));
      assert.equal((await h.query(statusQuery)).phase, 'rolled-back-to-previous');
    });
  });

  it("a fleet with a failed target within its error budget ends in the phase 'completed-with-errors'", async () => {
    const tag = uniqueQueue('fleet-outcome');
    const hosts = [`${tag}-ok`, `${tag}-bad`];
    const central = stubActivities({ approvalPolicy: RUNBOOK_APPROVAL_POLICY });
    const perHost = [
      stubActivities({ approvalPolicy: RUNBOOK_APPROVAL_POLICY }),
      stubActivities({ approvalPolicy: RUNBOOK_APPROVAL_POLICY, health: [false] }),
    ];
    const taskQueue = `${tag}-main`;
    const [main, ...hostWorkers] = await Promise.all([
      Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: bundle,
        activities: central.activities,
      }),
      ...hosts.map((h, i) =>
        Worker.create({
          connection: env.nativeConnection,
          taskQueue: `cortex-rollback-host-${h}`,
          activities: perHost[i]!.activities,
        }),
      ),
    ]);
    const input: FleetRollbackInput = {
      name: tag,
      targetImage: 'cortex-memory-mcp:v2.0.0',
      targets: hosts.map((host) => ({ host, container: 'cortex-mcp', healthUrl: 'http://127.0.0.1:3000/health' })),
      waves: 'rest',
      maxConcurrency: 2,
      maxErrors: 1,
      monitor: { durationSeconds: 0 },
      reason: 'v2.1.0 fails /health',
      requestedBy: 'alice',
    };
    const runAll = (fn: () => Promise<void>) =>
      hostWorkers.reduce(
        (inner, w) => () => w.runUntil(inner),
        () => main.runUntil(fn),
      )();
    await runAll(async () => {
      const h = await env.client.workflow.start('fleetRollback', { taskQueue, workflowId: tag, args: [input] });
      for (let i = 0; i < 200 && !(await h.query(statusQuery)).pendingApproval?.approverRoles; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await h.executeUpdate(decideUpdate, {
        args: [{ decision: 'approve', approver: 'oncall-eng', role: 'on-call-engineer' }],
      });
      const res = (await h.result()) as FleetRollbackResult;
      assert.equal(res.outcome, 'completed-with-errors');
      const s = await h.query(statusQuery);
      assert.equal(s.phase, 'completed-with-errors');
      assert.equal(s.restoredAt, undefined, 'a fleet with a failed target is not restored');
    });
  });
});
