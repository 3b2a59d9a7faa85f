// End to end with real parts: the Temporal dev server (the `temporal` binary), a worker with the real
// activities, and the real Docker engine running the demo images.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import {
  AlreadyRunningError,
  sendDecision,
  startDockerRollback,
  waitResult,
  type RollbackClient,
} from '../../client/client.ts';
import { createWorker } from '../../workers/worker.ts';
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
} from '../helpers/docker.ts';
import { APPROVER, localEnv, REQUESTER, testClient, uniqueQueue } from '../helpers/temporal.ts';

describe('Docker container rollback against the real dev server and Docker engine', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let rc: RollbackClient;
  const names: string[] = [];

  before(async () => {
    await ensureImages();
    env = await localEnv();
    rc = testClient(env, uniqueQueue('it'));
    ({ worker } = await createWorker({ settings: rc.settings, connection: env.nativeConnection }));
    running = worker.run();
  });
  after(async () => {
    for (const n of names) await removeByPrefix(n);
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  const appName = (tag: string) => {
    const n = `cortex-mcp-${tag}-${Date.now().toString(36)}`;
    names.push(n);
    return n;
  };

  async function untilPhase(workflowId: string, phase: string): Promise<void> {
    await waitFor(
      async () => (await env.client.workflow.getHandle(workflowId).query(statusQuery)).phase === phase,
      30_000,
      phase,
    );
  }

  it('rolls cortex-mcp from v2.1.0 back to v2.0.0 after an on-call approval; the container runs v2.0.0 and answers healthy', async () => {
    const name = appName('happy');
    const app = await startApp(name, BAD, ['QDRANT_URL=http://127.0.0.1:6333', 'OPENAI_API_KEY=sk-test']);
    assert.equal((await health(app.healthUrl)).status, 503);
    const { workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: 'v2.1.0 fails /health',
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 3, intervalSeconds: 1 },
      searchAttributes: true,
    });
    assert.equal(workflowId, `rollback-docker-${name}`);
    await untilPhase(workflowId, 'awaiting-approval');
    // nothing changed while waiting
    assert.equal((await docker.getContainer(name).inspect()).Id, app.id);
    await assert.rejects(
      startDockerRollback(rc, {
        containerName: name,
        targetImage: GOOD,
        healthUrl: app.healthUrl,
        reason: 'again',
        requestedBy: REQUESTER,
      }),
      AlreadyRunningError,
    );
    await sendDecision(rc, workflowId, { approve: APPROVER.application });
    const r = await waitResult(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal(r.result.monitoring?.samples, 3);

    const c = await docker.getContainer(name).inspect();
    assert.equal(c.Image, await imageId(GOOD));
    assert.equal(c.State.Running, true);
    assert.equal(c.HostConfig.RestartPolicy?.Name, 'unless-stopped');
    assert.ok(c.Config.Env.includes('QDRANT_URL=http://127.0.0.1:6333'), 'operator env carried over');
    assert.ok(c.Config.Env.includes(`PORT=${app.port}`));
    assert.ok(c.Config.Env.includes('CORTEX_VERSION=v2.0.0'), "the new image's own ENV applies, not the old one's");
    assert.equal(c.Config.Labels.team, 'platform');
    assert.equal(c.Config.Labels['cortex-rollback.run-id'], r.result.runId);
    const h = await health(app.healthUrl);
    assert.equal(h.status, 200);
    assert.deepEqual([h.body.status, h.body.version], ['healthy', 'v2.0.0']);
    const left = await containersNamed(name);
    assert.deepEqual(
      left.map((x) => x.Names[0]),
      [`/${name}`],
      'the preserved container is cleaned up',
    );

    const list = env.client.workflow.list({
      query: `RollbackTarget = "docker:${name}" AND RollbackPhase = "completed"`,
    });
    const found: string[] = [];
    for await (const w of list) found.push(w.workflowId);
    assert.deepEqual(found, [workflowId]);
  });

  it('a missing target image fails with a clear message and the v2.1.0 container keeps running untouched', async () => {
    const name = appName('noimage');
    const app = await startApp(name, BAD);
    const startedAt = (await docker.getContainer(name).inspect()).State.StartedAt;
    const { workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: 'cortex-memory-mcp:v9.9.9',
      healthUrl: app.healthUrl,
      reason: 'typo in the version',
      requestedBy: REQUESTER,
      approval: { preApproved: APPROVER.ci },
    });
    const r = await waitResult(rc, workflowId);
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.equal(r.type, 'NotFound');
    assert.match(r.message, /target image 'cortex-memory-mcp:v9\.9\.9' does not exist on this host/);
    assert.match(r.message, /nothing was changed/);
    const c = await docker.getContainer(name).inspect();
    assert.equal(c.Id, app.id);
    assert.equal(c.State.Running, true);
    assert.equal(c.State.StartedAt, startedAt);
    assert.equal(c.Image, await imageId(BAD));
    assert.equal((await containersNamed(name)).length, 1);
  });

  it('when the target never answers healthy, the previous container is restored and the error says so', async () => {
    const name = appName('verifyfail');
    const app = await startApp(name, GOOD);
    const { workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: BAD, // "rolling back" onto a version that answers 503
      healthUrl: app.healthUrl,
      reason: 'exercise compensation',
      requestedBy: REQUESTER,
      verifyTimeoutSeconds: 3,
      monitor: { durationSeconds: 0 },
      approval: { preApproved: APPROVER.ci },
    });
    const r = await waitResult(rc, workflowId);
    assert.ok(!r.ok);
    assert.equal(r.type, 'VerificationFailed');
    assert.match(r.message, /did not answer healthy/);
    assert.match(r.message, /Restored: '.*' runs cortex-memory-mcp:v2\.0\.0 again \(healthy\)/);
    const c = await docker.getContainer(name).inspect();
    assert.equal(c.Id, app.id, 'the original container is back under its name');
    assert.equal(c.State.Running, true);
    assert.equal((await health(app.healthUrl)).body.version, 'v2.0.0');
    assert.equal((await containersNamed(name)).length, 1, 'the failed target container is removed');
  });

  it('when the undo fails too (another container took the name), CompensationFailed gives the manual steps, which work', async () => {
    const name = appName('undofail');
    const app = await startApp(name, GOOD);
    const { workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: BAD, // never healthy: compensation will run
      healthUrl: app.healthUrl,
      reason: 'exercise a failing undo',
      requestedBy: REQUESTER,
      verifyTimeoutSeconds: 10,
      monitor: { durationSeconds: 0 },
      approval: { preApproved: APPROVER.ci },
    });
    // while the target is being verified, someone else deploys a container under the same name
    await untilPhase(workflowId, 'verifying');
    await docker.getContainer(name).remove({ force: true });
    const foreign = await docker.createContainer({
      name,
      Image: GOOD,
      Env: ['PORT=9', 'HOST=127.0.0.1'],
      Labels: { 'cortex-test': 'true' },
      HostConfig: { NetworkMode: 'host' },
    });
    const r = await waitResult(rc, workflowId);
    assert.ok(!r.ok);
    assert.equal(r.type, 'CompensationFailed');
    assert.match(r.message, /RESTORE FAILED — manual action needed: remove the new .*not created by this rollback/);
    assert.match(r.message, /cannot restore: '.*' is taken by another container/);
    const preserved = new RegExp(`docker rename (${name}-pre-rollback-\\w+) ${name} && docker start ${name}`).exec(
      r.message,
    )?.[1];
    assert.ok(preserved, r.message);
    assert.match(
      r.message,
      new RegExp(
        `Do by hand, in this order: \\(1\\) see what now runs as '${name}'.*docker rm -f ${name} \\(2\\) put the previous container back`,
      ),
    );
    const kept = await docker.getContainer(preserved).inspect();
    assert.deepEqual([kept.Id, kept.State.Running], [app.id, false], 'the previous container is kept, stopped');
    assert.equal((await docker.getContainer(name).inspect()).Id, foreign.id, 'the foreign container is left alone');
    // the manual steps, as written
    await docker.getContainer(name).remove({ force: true });
    await docker.getContainer(preserved).rename({ name });
    await docker.getContainer(name).start();
    await waitFor(async () => (await health(app.healthUrl)).status === 200, 10_000, 'the previous container healthy');
    assert.equal((await health(app.healthUrl)).body.version, 'v2.0.0');
    assert.equal((await docker.getContainer(name).inspect()).Id, app.id);
  });

  it('a rollback of a container that does not exist fails and starts nothing', async () => {
    const name = appName('ghost');
    const { workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: 'http://127.0.0.1:9/health',
      reason: 'wrong name',
      requestedBy: REQUESTER,
    });
    const r = await waitResult(rc, workflowId);
    assert.ok(!r.ok);
    assert.equal(r.type, 'NotFound');
    assert.match(r.message, /container '.*' does not exist on this host/);
    assert.equal((await containersNamed(name)).length, 0);
  });
});
