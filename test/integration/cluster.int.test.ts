// The project on a real Temporal cluster (scripts/cluster.ts: server v1.29.1 as four processes on PostgreSQL 15),
// unchanged: the Docker rollback (real Docker) and a Qdrant rollback (a real Qdrant server) end to end, their
// histories in PostgreSQL; the history service SIGKILLed mid-watch and restarted, and PostgreSQL restarted mid-watch,
// the rollback completing each time; two worker processes on one task queue, the one running a heartbeating step
// SIGKILLed, the other taking over after the heartbeat timeout. Kill points come from the workflow's own state
// (status query, pending activity heartbeats), never from sleeps.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from '@temporalio/worker';
import { sendDecision, startDockerRollback, waitResult, type RollbackClient } from '../../client/client.ts';
import { createWorker } from '../../workers/worker.ts';
import { dockerOp } from '../../workflows/phases/profiles.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import { restartPostgres, servicePid, startService, stopService, psql, waitReady } from '../../scripts/cluster.ts';
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
} from '../helpers/docker.ts';
import { startDockerGate, type DockerGate } from '../helpers/docker-gate.ts';
import { activityRuns } from '../helpers/history.ts';
import { startTestCluster, type TestCluster } from '../helpers/cluster.ts';
import { collectionChecksum, seed, startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { APPROVER, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

// the committed approval policy: the roster's on-call engineer approves, someone else requested (four eyes)
const ON_CALL = APPROVER.application;
const ON_CALL_CONFIG = APPROVER.configuration;

describe('on a real Temporal cluster (PostgreSQL, services as separate processes)', () => {
  let cluster: TestCluster;
  let q: TestQdrant;
  let worker: Worker;
  let running: Promise<void>;
  let rc: RollbackClient;
  let gate: DockerGate | undefined;
  const names: string[] = [];
  const spawned: WorkerProcess[] = [];

  before(async () => {
    await ensureImages();
    cluster = await startTestCluster((m) => console.log(`[cluster] ${m}`));
    q = await startTestQdrant();
    rc = await cluster.client(uniqueQueue('cluster'));
    ({ worker } = await createWorker({
      settings: rc.settings,
      deps: { qdrant: { client: q.client, url: q.url, apiKey: q.apiKey, backupRoot: `${q.tmp}/backups` } },
    }));
    running = worker.run();
  });
  after(async () => {
    for (const w of spawned) w.proc.kill('SIGKILL');
    worker?.shutdown();
    await running;
    for (const n of names) await removeByPrefix(n);
    await gate?.close();
    await q?.stop();
    await cluster?.stop();
  });

  const appName = (tag: string) => {
    const n = `cluster-mcp-${tag}-${Date.now().toString(36)}`;
    names.push(n);
    return n;
  };

  /** Starts a Docker rollback of a fresh v2.1.0 container and approves it once it waits for approval. */
  async function approvedRollback(client: RollbackClient, tag: string, watchSeconds: number) {
    const name = appName(tag);
    const app = await startApp(name, BAD);
    const { workflowId } = await startDockerRollback(client, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: `cluster test: ${tag}`,
      requestedBy: REQUESTER,
      monitor: { durationSeconds: watchSeconds, intervalSeconds: 1 },
      searchAttributes: true,
    });
    const handle = client.client.workflow.getHandle(workflowId);
    await waitFor(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval', 60_000, 'approval');
    await sendDecision(client, workflowId, { approve: ON_CALL });
    return { name, app, workflowId, handle };
  }

  async function assertRolledBack(name: string, healthUrl: string): Promise<void> {
    const c = await docker.getContainer(name).inspect();
    assert.equal(c.Image, await imageId(GOOD));
    assert.equal(c.State.Running, true);
    const h = await health(healthUrl);
    assert.deepEqual([h.status, h.body.version], [200, 'v2.0.0']);
  }

  /** Waits until the watch has recorded `n` samples (the status query, answered from the workflow's history). */
  async function untilSamples(handle: ReturnType<RollbackClient['client']['workflow']['getHandle']>, n: number) {
    await waitFor(
      async () => ((await handle.query(statusQuery)).monitoring?.samples ?? 0) >= n,
      60_000,
      `${n} watch samples`,
    );
  }

  it('rolls a container back end to end; its history and visibility record are in PostgreSQL', async () => {
    const { name, app, workflowId, handle } = await approvedRollback(rc, 'e2e', 2);
    const r = await waitResult(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal(r.result.monitoring?.samples, 2);
    await assertRolledBack(name, app.healthUrl);

    const events = (await handle.fetchHistory()).events ?? [];
    const runId = (await handle.describe()).runId;
    const o = cluster.options;
    // history_node's tree id is the run id; its node ids are the first event id of each stored batch
    const stored = await psql(
      o,
      `SELECT count(*) || ' ' || max(h.node_id) FROM history_node h JOIN current_executions c
         ON h.shard_id = c.shard_id AND h.tree_id = c.run_id WHERE c.workflow_id = '${workflowId}'`,
    );
    const [batches, lastBatch] = stored.split(' ').map(Number) as [number, number];
    assert.ok(batches >= 5 && lastBatch <= events.length && lastBatch > events.length - 5, `history_node: ${stored}`);
    // visibility is written asynchronously, after the close
    let vis = '';
    await waitFor(
      async () => {
        vis = await psql(
          o,
          `SELECT status || ' ' || coalesce(history_length::text, 'null') || ' ' || trim(run_id) FROM executions_visibility
             WHERE workflow_id = '${workflowId}'`,
          'temporal_visibility',
        );
        return vis.startsWith('2 ');
      },
      30_000,
      'the closed execution in executions_visibility',
    ).catch((err: Error) => {
      err.message += ` (its row: '${vis}')`;
      throw err;
    });
    assert.equal(vis, `2 ${events.length} ${runId}`, 'visibility: COMPLETED, the whole history, this run');
    const found: string[] = [];
    for await (const w of rc.client.workflow.list({
      // RollbackTrigger is the reason, a Text with a ':' (config/postgres-visibility-text.sql)
      query: `RollbackTarget = "docker:${name}" AND RollbackPhase = "completed" AND RollbackTrigger = "e2e"`,
    })) {
      found.push(w.workflowId);
    }
    assert.deepEqual(found, [workflowId], 'search attributes registered and indexed in PostgreSQL');
  });

  it('runs a Qdrant config rollback end to end (a real Qdrant server)', async () => {
    await seed(q.client, 'cluster-config', 50, 8);
    const before = await collectionChecksum(q.client, 'cluster-config');
    const r = (await rc.client.workflow.execute('qdrantConfigRollback', {
      taskQueue: rc.settings.taskQueue,
      workflowId: uniqueQueue('cluster-qdrant-config'),
      args: [
        {
          collection: 'cluster-config',
          target: { optimizers_config: { indexing_threshold: 12345 }, hnsw_config: { m: 8 } },
          reason: 'v1.3 config broke indexing',
          requestedBy: REQUESTER,
          approval: { preApproved: ON_CALL_CONFIG },
        },
      ],
    })) as { outcome: string };
    assert.equal(r.outcome, 'succeeded');
    const info = await q.client.getCollection('cluster-config');
    assert.equal(info.config.optimizer_config.indexing_threshold, 12345);
    assert.equal(info.config.hnsw_config.m, 8);
    assert.deepEqual(await collectionChecksum(q.client, 'cluster-config'), before, 'the points are untouched');
    assert.deepEqual(q.violations, [], "every request valid per Qdrant's OpenAPI spec");
  });

  it('the history service SIGKILLed mid-watch and restarted: the rollback completes', async () => {
    const { name, app, workflowId, handle } = await approvedRollback(rc, 'history-kill', 8);
    await untilSamples(handle, 2);
    const o = cluster.options;
    const pid = servicePid(o, 'history');
    assert.ok(pid, 'history runs');
    await stopService(o, 'history', 'SIGKILL');
    assert.equal(servicePid(o, 'history'), undefined, 'history is gone');
    const t0 = Date.now();
    assert.notEqual(startService(o, 'history'), pid);
    await waitReady(o);
    console.log(`history back (serving the namespace) ${((Date.now() - t0) / 1000).toFixed(1)} s after the kill`);
    const r = await waitResult(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal(r.result.monitoring?.samples, 8, 'every watch sample taken, none lost to the crash');
    await assertRolledBack(name, app.healthUrl);
  });

  it('PostgreSQL restarted (fast) mid-watch: the rollback completes', async () => {
    const { name, app, workflowId, handle } = await approvedRollback(rc, 'pg-restart', 8);
    await untilSamples(handle, 2);
    const o = cluster.options;
    const pgPid = async () => psql(o, 'SELECT pg_postmaster_start_time()', 'postgres');
    const startedBefore = await pgPid();
    await restartPostgres(o);
    assert.notEqual(await pgPid(), startedBefore, 'a new postmaster');
    const r = await waitResult(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal(r.result.monitoring?.samples, 8);
    await assertRolledBack(name, app.healthUrl);
  });

  it('two workers on one queue: the one running a heartbeating step is SIGKILLed, the other takes it over', async () => {
    gate = await startDockerGate();
    const taskQueue = uniqueQueue('cluster-takeover');
    const client = await cluster.client(taskQueue);
    const extra = { DOCKER_HOST: gate.host };
    const workers = ['a', 'b'].map((id) =>
      spawnWorker({ address: cluster.address, taskQueue, extra }, ['--identity', `cluster-worker-${id}`]),
    );
    spawned.push(...workers);
    await Promise.all(workers.map((w) => w.ready));
    // the new container's start is held: runContainer (heartbeating, dockerOp) waits on it
    const held = gate.arm({ method: 'POST', path: /^\/containers\/[^/]+\/start\b/, mode: 'hold' });
    const { name, app, workflowId, handle } = await approvedRollback(client, 'takeover', 0);
    await held;
    let runner = '';
    await waitFor(
      async () => {
        const a = (await handle.describe()).raw.pendingActivities?.find((p) => p.activityType?.name === 'runContainer');
        runner = a?.lastWorkerIdentity ?? '';
        return Boolean(a?.lastHeartbeatTime && runner);
      },
      30_000,
      'runContainer heartbeating',
    );
    const victim = workers.find((_, i) => runner === `cluster-worker-${'ab'[i]}`);
    assert.ok(victim, `runContainer runs on one of ours: ${runner}`);
    const survivor = runner === 'cluster-worker-a' ? 'cluster-worker-b' : 'cluster-worker-a';
    const killedAt = Date.now();
    await victim.kill();

    const r = await waitResult(client, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'succeeded');
    await assertRolledBack(name, app.healthUrl);
    const runs = await activityRuns(handle, 'runContainer');
    assert.equal(runs.length, 1, 'runContainer scheduled once');
    assert.ok(runs[0]!.completed && runs[0]!.attempt === 2, `retried once: ${JSON.stringify(runs)}`);
    assert.equal(runs[0]!.identity, survivor, 'the retry ran on the surviving worker');
    const events = (await handle.fetchHistory()).events ?? [];
    const started = events.find((e) => e.activityTaskStartedEventAttributes?.attempt === 2);
    const takeoverMs = Number(started?.eventTime?.seconds) * 1000 + (started?.eventTime?.nanos ?? 0) / 1e6 - killedAt;
    const heartbeatMs = Number(String(dockerOp.heartbeatTimeout).replace('s', '')) * 1000;
    console.log(
      `takeover: the retry started ${takeoverMs.toFixed(0)} ms after the kill (heartbeat timeout ${heartbeatMs} ms)`,
    );
    // the heartbeat timeout, its first retry's 200 ms backoff, and slack for a loaded machine
    assert.ok(takeoverMs < heartbeatMs + 200 + 5000, `takeover in ${takeoverMs} ms`);
  });
});
