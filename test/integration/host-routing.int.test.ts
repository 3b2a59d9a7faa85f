// Host routing: with `host` set, every host activity runs on that host's worker (task queue
// cortex-rollback-host-<host>) while the workflow stays on the main queue. The main worker here is given a
// Docker client pointed at a socket that does not exist, so the rollback can only succeed through the host worker.
import { hostActivityEvents } from '../helpers/history.ts';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import Dockerode from 'dockerode';
import { startDockerRollback, waitResult } from '../../client/client.ts';
import { createWorker } from '../../workers/worker.ts';
import { BAD, docker, ensureImages, GOOD, health, imageId, removeByPrefix, startApp } from '../helpers/docker.ts';
import { localEnv, testClient, uniqueQueue } from '../helpers/temporal.ts';

describe('host activities on a per-host task queue', () => {
  let env: TestWorkflowEnvironment;
  const workers: Array<{ worker: Worker; run: Promise<void> }> = [];
  let name = '';

  before(async () => {
    await ensureImages();
    env = await localEnv();
  });
  after(async () => {
    for (const w of workers) w.worker.shutdown();
    await Promise.all(workers.map((w) => w.run));
    await removeByPrefix(name);
    await env?.teardown();
  });

  it('runs Docker steps on the host worker while the workflow runs on the main queue', async () => {
    const host = `node-${Date.now().toString(36)}`;
    const rc = testClient(env, uniqueQueue('main'));
    const settings = rc.settings;
    const blind = new Dockerode({ socketPath: '/nonexistent/docker.sock' });
    const main = await createWorker({ settings, connection: env.nativeConnection, deps: { docker: blind } });
    const hostWorker = await createWorker({ settings, connection: env.nativeConnection, host });
    assert.equal(hostWorker.taskQueue, `cortex-rollback-host-${host}`);
    for (const w of [main, hostWorker]) workers.push({ worker: w.worker, run: w.worker.run() });

    name = `cortex-mcp-host-${Date.now().toString(36)}`;
    const app = await startApp(name, BAD);
    const { workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: 'host routing',
      requestedBy: 'test',
      host,
      monitor: { durationSeconds: 2, intervalSeconds: 1 },
      approval: { preApproved: { approver: 'ci-deploy-gate', role: 'on-call-engineer' } },
    });
    assert.equal(workflowId, `rollback-docker-${host}-${name}`);
    const r = await waitResult(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.host, host);
    assert.equal((await docker.getContainer(name).inspect()).Image, await imageId(GOOD));
    assert.equal((await health(app.healthUrl)).body.version, 'v2.0.0');

    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const queues = new Set(
      hostActivityEvents(history.events ?? []) // the approval policy and notifications run centrally
        .map((e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name)
        .filter((q): q is string => typeof q === 'string'),
    );
    assert.deepEqual([...queues], [`cortex-rollback-host-${host}`]);
  });

  it("samples the watch's health and /metrics on the host's queue when metricsUrl is given", async () => {
    const host = `node-m-${Date.now().toString(36)}`;
    const rc = testClient(env, uniqueQueue('main-metrics'));
    const settings = rc.settings;
    const blind = new Dockerode({ socketPath: '/nonexistent/docker.sock' });
    const main = await createWorker({ settings, connection: env.nativeConnection, deps: { docker: blind } });
    const hostWorker = await createWorker({ settings, connection: env.nativeConnection, host });
    for (const w of [main, hostWorker]) workers.push({ worker: w.worker, run: w.worker.run() });

    const container = `${name || 'cortex-mcp-host'}-m`;
    name ||= container;
    const app = await startApp(container, BAD);
    const { workflowId } = await startDockerRollback(rc, {
      containerName: container,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      metricsUrl: app.healthUrl.replace(/\/health$/, '/metrics'),
      reason: 'host routing with metrics',
      requestedBy: 'alice',
      host,
      monitor: { durationSeconds: 3, intervalSeconds: 1 },
      approval: { preApproved: { approver: 'oncall-eng', role: 'on-call-engineer' } },
    });
    const r = await waitResult(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.monitoring?.samples, 3);
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const samples = (history.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sampleService',
    );
    // every watch sample is an activity on the host's queue (before: a local activity on the main worker)
    assert.equal(samples.length, 3);
    for (const e of samples)
      assert.equal(e.activityTaskScheduledEventAttributes?.taskQueue?.name, `cortex-rollback-host-${host}`);
    const queues = new Set(
      hostActivityEvents(history.events ?? [])
        .map((e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name)
        .filter((q): q is string => typeof q === 'string'),
    );
    assert.deepEqual([...queues], [`cortex-rollback-host-${host}`]);
  });
});
