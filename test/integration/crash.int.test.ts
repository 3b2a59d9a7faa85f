// Crash safety: the worker runs as a child process and is SIGKILLed mid-rollback (right after approval, during
// the stop, after the stop, during the watch); a replacement worker finishes the same rollback. Asserts the real
// outcome: exactly one container under the name, on the target image, healthy, and no leftovers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { sendDecision, startDockerRollback, waitResult } from '../../client/client.ts';
import { statusQuery, type RollbackStatus } from '../../workflows/progress.ts';
import {
  BAD,
  containersNamed,
  docker,
  ensureImages,
  GOOD,
  health,
  imageId,
  removeByPrefix,
  startApp,
  waitFor,
} from '../helpers/docker.ts';
import { localEnv, testClient, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

describe('a SIGKILLed worker mid-rollback is replaced and the rollback completes exactly once', () => {
  let env: TestWorkflowEnvironment;
  const names: string[] = [];
  const workers: WorkerProcess[] = [];

  before(async () => {
    await ensureImages();
    env = await localEnv();
  });
  after(async () => {
    for (const w of workers) w.proc.kill('SIGKILL');
    for (const n of names) await removeByPrefix(n);
    await env?.teardown();
  });

  async function scenario(
    tag: string,
    opts: { shutdownDelayMs?: number; watch?: number },
    killWhen: (ctx: {
      workflowId: string;
      name: string;
      status: () => Promise<RollbackStatus>;
      approve: () => Promise<void>;
    }) => Promise<void>,
  ): Promise<void> {
    const name = `cortex-mcp-crash-${tag}-${Date.now().toString(36)}`;
    names.push(name);
    const taskQueue = uniqueQueue('crash');
    const rc = testClient(env, taskQueue);
    const app = await startApp(
      name,
      BAD,
      opts.shutdownDelayMs ? [`CORTEX_SHUTDOWN_DELAY_MS=${opts.shutdownDelayMs}`] : [],
    );
    const first = spawnWorker({ address: env.address, taskQueue });
    workers.push(first);
    await first.ready;
    const { workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: `crash test: ${tag}`,
      requestedBy: 'crash-test',
      stopTimeoutSeconds: 10,
      monitor: { durationSeconds: opts.watch ?? 0, intervalSeconds: 1 },
    });
    const handle = env.client.workflow.getHandle(workflowId);
    await killWhen({
      workflowId,
      name,
      status: () => handle.query(statusQuery),
      approve: () => sendDecision(rc, workflowId, { approve: { approver: 'alice', role: 'on-call-engineer' } }),
    });
    await first.kill();
    const second = spawnWorker({ address: env.address, taskQueue });
    workers.push(second);
    await second.ready;

    const r = await waitResult(rc, workflowId);
    assert.ok(
      r.ok,
      `rollback failed: ${JSON.stringify(r)}\nworker 1:\n${first.output()}\nworker 2:\n${second.output()}`,
    );
    assert.equal(r.result.outcome, 'succeeded');
    const all = await containersNamed(name);
    assert.deepEqual(
      all.map((c) => c.Names[0]),
      [`/${name}`],
      'exactly one container, no preserved leftovers',
    );
    const c = await docker.getContainer(name).inspect();
    assert.equal(c.Image, await imageId(GOOD));
    assert.equal(c.State.Running, true);
    assert.equal(c.Config.Labels['cortex-rollback.run-id'], r.result.runId);
    const h = await health(app.healthUrl);
    assert.deepEqual([h.status, h.body.version], [200, 'v2.0.0']);
    await second.kill();
  }

  it('killed right after the approval', async () => {
    await scenario('approval', {}, async ({ status, approve }) => {
      await waitFor(async () => (await status()).phase === 'awaiting-approval', 30_000, 'approval gate');
      await approve();
    });
  });

  it('killed while the old container is stopping', async () => {
    await scenario('stopping', { shutdownDelayMs: 3000 }, async ({ status, approve }) => {
      await waitFor(async () => (await status()).phase === 'awaiting-approval', 30_000, 'approval gate');
      await approve();
      await waitFor(
        async () => (await status()).steps.some((s) => s.name === 'stop-current-container' && s.state === 'running'),
        30_000,
        'the stop step running',
      );
      await new Promise((r) => setTimeout(r, 500));
    });
  });

  it('killed after the stop, once the target runs', async () => {
    await scenario('stopped', {}, async ({ name, status, approve }) => {
      await waitFor(async () => (await status()).phase === 'awaiting-approval', 30_000, 'approval gate');
      await approve();
      await waitFor(
        async () => (await docker.getContainer(name).inspect()).Config.Labels['cortex-rollback.run-id'] !== undefined,
        30_000,
        'the target container',
      );
    });
  });

  it('killed during the watch', async () => {
    await scenario('watch', { watch: 8 }, async ({ status, approve }) => {
      await waitFor(async () => (await status()).phase === 'awaiting-approval', 30_000, 'approval gate');
      await approve();
      await waitFor(async () => ((await status()).monitoring?.samples ?? 0) >= 2, 30_000, 'two watch samples');
    });
  });

  it('a worker asked to stop with SIGTERM drains and exits 0', async () => {
    const w = spawnWorker({ address: env.address, taskQueue: uniqueQueue('sigterm') });
    workers.push(w);
    await w.ready;
    w.proc.kill('SIGTERM');
    const r = await w.proc;
    assert.equal(r.exitCode, 0, w.output());
    assert.match(w.output(), /\[worker\] stopped/);
  });
});
