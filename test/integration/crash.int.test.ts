// Crash safety of the Docker rollback: the worker (a child process, talking to dockerd through a gate proxy) is
// SIGKILLed at a point the test proves — the old container renamed and its restart-policy update held; dockerd
// stopping the old container (SIGTERM delivered, still running); the new container created and its start held;
// the watch with recorded samples — and a replacement worker finishes the same rollback. Afterwards the history
// shows the interrupted activity retried (attempt >= 2) and dockerd's event log shows each side effect once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { sendDecision, startDockerRollback, waitResult } from '../../client/client.ts';
import type { DockerRollbackResult } from '../../workflows/application/docker-container.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
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
  type App,
} from '../helpers/docker.ts';
import { startDockerGate, type DockerGate } from '../helpers/docker-gate.ts';
import { activityRuns, workflowTaskIdentities, type ActivityRun } from '../helpers/history.ts';
import { APPROVER, localEnv, REQUESTER, testClient, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const RUN_ID_LABEL = 'cortex-rollback.run-id';

interface DockerEvent {
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
}

/** dockerd's container events since `since` (unix seconds), up to now. */
async function containerEvents(since: number): Promise<DockerEvent[]> {
  const until = Math.ceil(Date.now() / 1000) + 1;
  const stream = await docker.getEvents({ since, until, filters: { type: ['container'] } });
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as DockerEvent);
}

/** Resolves on dockerd's first `action` event for the container. */
async function nextEvent(containerId: string, action: string): Promise<() => Promise<void>> {
  const stream = (await docker.getEvents({
    filters: { container: [containerId], event: [action] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  const seen = new Promise<void>((resolve) => stream.once('data', () => resolve()));
  return async () => {
    await seen;
    stream.destroy();
  };
}

describe('a SIGKILLed worker mid-step is replaced; the step is retried and its side effect happens once', () => {
  let env: TestWorkflowEnvironment;
  let gate: DockerGate;
  const names: string[] = [];
  const workers: WorkerProcess[] = [];

  before(async () => {
    await ensureImages();
    env = await localEnv();
    gate = await startDockerGate();
  });
  after(async () => {
    for (const w of workers) w.proc.kill('SIGKILL');
    for (const n of names) await removeByPrefix(n);
    await gate?.close();
    await env?.teardown();
  });

  interface Ctx {
    app: App;
    handle: WorkflowHandle;
    approve: () => Promise<void>;
  }

  async function scenario(
    tag: string,
    opts: { shutdownDelayMs?: number; watch?: number; interrupted?: string },
    killWhen: (ctx: Ctx) => Promise<void>,
  ): Promise<{ runs: ActivityRun[]; result: DockerRollbackResult }> {
    const name = `crash-mcp-${tag}-${Date.now().toString(36)}`;
    names.push(name);
    const taskQueue = uniqueQueue('crash');
    const rc = testClient(env, taskQueue);
    const app = await startApp(
      name,
      BAD,
      opts.shutdownDelayMs ? [`CORTEX_SHUTDOWN_DELAY_MS=${opts.shutdownDelayMs}`] : [],
    );
    const since = Math.floor(Date.now() / 1000) - 1;
    const extra = { DOCKER_HOST: gate.host };
    const first = spawnWorker({ address: env.address, taskQueue, extra }, ['--identity', `${tag}-first`]);
    workers.push(first);
    await first.ready;
    const { workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: `crash test: ${tag}`,
      requestedBy: REQUESTER,
      stopTimeoutSeconds: 10,
      monitor: { durationSeconds: opts.watch ?? 0, intervalSeconds: 1 },
    });
    const handle = env.client.workflow.getHandle(workflowId);
    await waitFor(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval', 30_000, 'approval');
    await killWhen({
      app,
      handle,
      approve: () => sendDecision(rc, workflowId, { approve: APPROVER.application }),
    });
    await first.kill();
    const second = spawnWorker({ address: env.address, taskQueue, extra }, ['--identity', `${tag}-second`]);
    workers.push(second);
    await second.ready;

    const r = await waitResult(rc, workflowId);
    assert.ok(
      r.ok,
      `rollback failed: ${JSON.stringify(r)}\nworker 1:\n${first.output()}\nworker 2:\n${second.output()}`,
    );
    await second.kill();
    assert.equal(r.result.outcome, 'succeeded');
    assert.deepEqual(
      (await containersNamed(name)).map((c) => c.Names[0]),
      [`/${name}`],
      'exactly one container, no preserved leftovers',
    );
    const c = await docker.getContainer(name).inspect();
    assert.equal(c.Image, await imageId(GOOD));
    assert.equal(c.State.Running, true);
    assert.equal(c.Config.Labels[RUN_ID_LABEL], r.result.runId);
    const h = await health(app.healthUrl);
    assert.deepEqual([h.status, h.body.version], [200, 'v2.0.0']);

    // Each side effect once, from dockerd's own log: one container created for this run, started once; the old
    // container renamed once, died once (stopped, never restarted), removed once.
    const events = await containerEvents(since);
    const of = (id: string, action: string) => events.filter((e) => e.Actor.ID === id && e.Action === action).length;
    const created = events.filter((e) => e.Action === 'create' && e.Actor.Attributes[RUN_ID_LABEL] === r.result.runId);
    assert.equal(created.length, 1, 'one container created by the rollback');
    assert.equal(created[0]!.Actor.ID, c.Id);
    assert.equal(of(c.Id, 'start'), 1, 'the new container started once');
    assert.equal(of(app.id, 'rename'), 1, 'the old container renamed once');
    assert.equal(of(app.id, 'die'), 1, 'the old container stopped once');
    assert.equal(of(app.id, 'destroy'), 1, 'the old container removed once, at the end');

    // The replacement took over: the killed worker ran workflow tasks before the kill, the replacement after it.
    const wft = await workflowTaskIdentities(handle);
    assert.equal(wft[0], `${tag}-first`);
    assert.equal(wft.at(-1), `${tag}-second`);
    const runs = opts.interrupted ? await activityRuns(handle, opts.interrupted) : [];
    if (opts.interrupted) {
      assert.equal(runs.length, 1, `${opts.interrupted} scheduled once`);
      assert.ok(runs[0]!.completed && runs[0]!.attempt >= 2, `${opts.interrupted} retried: ${JSON.stringify(runs)}`);
      assert.equal(runs[0]!.identity, `${tag}-second`, 'the retry ran on the replacement');
      console.log(`${opts.interrupted} completed on attempt ${runs[0]!.attempt}`);
    }
    return { runs, result: r.result };
  }

  it('killed while preserving: renamed, its restart policy not yet changed; the retry finds it renamed', async () => {
    const { runs } = await scenario('preserve', { interrupted: 'preserveContainer' }, async ({ app, approve }) => {
      // the rename is answered; the restart-policy update that follows it in the same activity is held
      const caught = gate.arm({ method: 'POST', path: /^\/containers\/[^/]+\/update\b/, mode: 'hold' });
      await approve();
      await caught;
      const old = await docker.getContainer(app.id).inspect();
      assert.ok(old.Name.startsWith(`/${app.name}-pre-rollback-`), `renamed before the kill: ${old.Name}`);
      assert.equal(old.HostConfig.RestartPolicy?.Name, 'unless-stopped', 'its restart policy not yet changed');
    });
    assert.deepEqual(runs[0]!.result, { renamed: false }, 'the retry found the rename already done');
  });

  it('killed while the old container is stopping: SIGTERM delivered, container still running', async () => {
    await scenario('stopping', { shutdownDelayMs: 3000, interrupted: 'stopContainer' }, async ({ app, approve }) => {
      const sigterm = await nextEvent(app.id, 'kill');
      const caught = gate.arm({ method: 'POST', path: /^\/containers\/[^/]+\/stop\b/, mode: 'forward' });
      await approve();
      await caught;
      await sigterm();
      const old = await docker.getContainer(app.id).inspect();
      assert.equal(old.State.Running, true, 'the kill lands while the old container is still shutting down');
    });
  });

  it('killed while running the target: the container exists, its start never sent; the retry reuses it', async () => {
    const { runs } = await scenario('run', { interrupted: 'runContainer' }, async ({ approve, app }) => {
      const caught = gate.arm({ method: 'POST', path: /^\/containers\/[^/]+\/start\b/, mode: 'hold' });
      await approve();
      await caught;
      const created = await docker.getContainer(app.name).inspect();
      assert.equal(created.State.Status, 'created');
      assert.ok(created.Config.Labels[RUN_ID_LABEL], 'the held start belongs to the rollback’s own container');
    });
    assert.equal((runs[0]!.result as { reused: boolean }).reused, true, 'the retry reused, not re-created');
  });

  it('killed during the watch, after two recorded samples', async () => {
    const { result } = await scenario('watch', { watch: 8 }, async ({ handle, approve }) => {
      await approve();
      await waitFor(async () => ((await handle.query(statusQuery)).monitoring?.samples ?? 0) >= 2, 30_000, 'samples');
    });
    assert.deepEqual(
      [result.monitoring?.samples, result.monitoring?.failures],
      [8, 0],
      'the watch resumed where the history left it: every sample once',
    );
  });

  it('a worker asked to stop with SIGTERM drains and exits 0', async () => {
    const w = spawnWorker({ address: env.address, taskQueue: uniqueQueue('crash-sigterm') });
    workers.push(w);
    await w.ready;
    w.proc.kill('SIGTERM');
    const r = await w.proc;
    assert.equal(r.exitCode, 0, w.output());
    assert.match(w.output(), /\[worker\] stopped/);
  });
});
