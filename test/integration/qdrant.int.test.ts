// The Qdrant workflows end to end: the real Temporal dev server, a worker with the real activities, the real
// Docker engine for the application, and a real Qdrant 1.18.3 server (behind the fault proxy; or QDRANT_URL's).
// Asserts exact point counts, checksums, and that refusals leave everything untouched.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { scheduleQdrantBackups } from '../../client/client.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import { readdir } from 'node:fs/promises';
import type { BackupManifest } from '../../activities/qdrant.ts';
import type { BackupResult } from '../../workflows/database/qdrant-backup.ts';
import type { QdrantRecoveryResult } from '../../workflows/database/data-recovery.ts';
import type { QdrantSchemaRollbackResult } from '../../workflows/database/schema.ts';
import { docker, ensureImages, GOOD, removeByPrefix, startApp, health, waitFor } from '../helpers/docker.ts';
import { approveSignal } from '../../workflows/phases/approval.ts';
import { embedText } from '../helpers/embeddings.ts';
import { collectionChecksum, count, seed, type TestQdrant } from '../helpers/qdrant.ts';
import { startQdrantWorld, type QdrantWorld } from '../helpers/qdrant-world.ts';
import { APPROVER, REQUESTER, shortWindowPolicy, testClient, uniqueQueue } from '../helpers/temporal.ts';
import { createWorker } from '../../workers/worker.ts';
import { workflowFailure } from '../helpers/failures.ts';

// the committed approval policy: an engineering manager of the roster approves, someone else requested
const EM = APPROVER.database;

describe('Qdrant rollbacks end to end', () => {
  let env: TestWorkflowEnvironment;
  let q: TestQdrant;
  let world: QdrantWorld;
  let taskQueue: string;
  let backupRoot: string;
  const apps: string[] = [];

  before(async () => {
    await ensureImages();
    world = await startQdrantWorld({ queue: 'qdrant', embedderSize: 4 });
    ({ env, q, taskQueue, backupRoot } = world);
  });
  after(async () => {
    for (const a of apps) await removeByPrefix(a);
    await world?.stop();
  });

  const run = async <T>(type: string, input: unknown): Promise<T> => {
    try {
      return (await env.client.workflow.execute(type, {
        taskQueue,
        workflowId: uniqueQueue(`rollback-${type}`),
        args: [input],
      })) as T;
    } catch (err) {
      // keep the cause (the typed ApplicationFailure) visible in the test output
      if (err instanceof WorkflowFailedError) err.message = `${type} failed: ${err.cause?.message ?? 'no cause'}`;
      throw err;
    }
  };

  const failureOf = (type: string, input: unknown) => workflowFailure(run(type, input));

  const sha = async (path: string) =>
    createHash('sha256')
      .update(await readFile(path))
      .digest('hex');

  it('backs up a collection: manifest with the exact count, a checksum that matches the file, and verify mode', async () => {
    await seed(q.client, 'mem-backup', 1000, 8);
    const r = await run<BackupResult>('qdrantBackup', { collection: 'mem-backup', backupName: 'b1' });
    assert.equal(r.manifest.pointsCount, 1000);
    assert.deepEqual(r.manifest.vectors, { size: 8, distance: 'Cosine' });
    const file = join(backupRoot, 'mem-backup', 'b1', r.manifest.snapshotFile);
    assert.equal(await sha(file), r.manifest.checksum);
    const onDisk = JSON.parse(
      await readFile(join(backupRoot, 'mem-backup', 'b1', 'manifest.json'), 'utf8'),
    ) as BackupManifest;
    assert.equal(onDisk.checksum, r.manifest.checksum);
    const ok = await run<BackupResult>('qdrantBackup', { collection: 'mem-backup', mode: 'verify' });
    assert.equal(ok.manifest.name, 'b1');

    const bytes = await readFile(file);
    const mid = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(mid) ^ 0xff, mid);
    await writeFile(file, bytes);
    const bad = await failureOf('qdrantBackup', { collection: 'mem-backup', mode: 'verify', backupName: 'b1' });
    assert.equal(bad.type, 'VerificationFailed');
    assert.match(bad.message, /checksum mismatch/);
  });

  it('a Temporal Schedule takes periodic backups (triggered here instead of waiting 6 hours)', async () => {
    await seed(q.client, 'mem-scheduled', 40, 8);
    const rc = testClient(env, taskQueue);
    const { scheduleId } = await scheduleQdrantBackups(rc, { collection: 'mem-scheduled', every: '6h' });
    await scheduleQdrantBackups(rc, { collection: 'mem-scheduled', every: '6h' }); // idempotent
    const handle = env.client.schedule.getHandle(scheduleId);
    const d = await handle.describe();
    assert.equal(d.action.type === 'startWorkflow' && d.action.workflowType, 'qdrantBackup');
    await handle.trigger();
    const dir = join(backupRoot, 'mem-scheduled');
    for (let i = 0; i < 200 && (await readdir(dir).catch(() => [])).length === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 200; i++) {
      const names = await readdir(dir).catch(() => [] as string[]);
      const m = names[0] ? await readFile(join(dir, names[0], 'manifest.json'), 'utf8').catch(() => '') : '';
      if (m) {
        assert.equal((JSON.parse(m) as BackupManifest).pointsCount, 40);
        await handle.delete();
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail('the triggered scheduled backup did not write a manifest');
  });

  it('recovers corrupted data: emergency export, pre-rollback backup, app stopped and restarted, exact count', async () => {
    await seed(q.client, 'mem-recover', 500, 8);
    await run<BackupResult>('qdrantBackup', { collection: 'mem-recover', backupName: 'good' });
    // corruption: 200 points lost, 50 junk points written
    await q.client.delete('mem-recover', { wait: true, points: Array.from({ length: 200 }, (_, i) => i + 1) });
    await seed(q.client, 'mem-recover', 50, 8, 10_000);
    assert.equal(await count(q.client, 'mem-recover'), 350);
    const appName = `cortex-mcp-qrec-${Date.now().toString(36)}`;
    apps.push(appName);
    const app = await startApp(appName, GOOD);
    const startedBefore = (await docker.getContainer(appName).inspect()).State.StartedAt;

    const r = await run<QdrantRecoveryResult>('qdrantDataRecovery', {
      collection: 'mem-recover',
      app: { containerName: appName, healthUrl: app.healthUrl },
      reason: 'data corruption detected',
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 2, intervalSeconds: 1 },
      approval: { preApproved: EM },
    });
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.restoredFrom?.name, 'good');
    assert.equal(await count(q.client, 'mem-recover'), 500);
    assert.equal(r.after?.pointsCount, 500);
    // verified against the answers the backup recorded when it was taken (3 points' 5 nearest neighbours)
    assert.deepEqual(r.sampleQuery, { ok: true, knownAnswers: 3 });
    assert.equal(r.restoredFrom?.knownAnswers?.probes.length, 3);
    assert.ok(r.restoredFrom?.knownAnswers?.probes.every((p) => p.top.length === 5));
    // what was there before the restore is kept twice: an NDJSON export and a restorable backup
    assert.equal(r.emergencyExport?.exported, 350);
    const lines = (await readFile(r.emergencyExport.path, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 350);
    assert.equal(new Set(lines.map((l) => (JSON.parse(l) as { id: number }).id)).size, 350);
    assert.match(r.preRollbackBackup ?? '', /^pre-rollback-/);
    const pre = JSON.parse(
      await readFile(join(backupRoot, 'mem-recover', r.preRollbackBackup!, 'manifest.json'), 'utf8'),
    ) as BackupManifest;
    assert.equal(pre.pointsCount, 350);
    // the application was stopped for the restore and runs again
    const c = await docker.getContainer(appName).inspect();
    assert.equal(c.State.Running, true);
    assert.ok(c.State.FinishedAt > startedBefore, 'it was stopped after it had started');
    assert.ok(c.State.StartedAt > c.State.FinishedAt, 'and started again after that stop');
    assert.equal((await health(app.healthUrl)).status, 200);
    assert.ok(r.timeline.some((s) => s.name === 'stop-application' && s.state === 'completed'));
  });

  it("refuses the requester's own pre-approval (four eyes): nothing changes until another roster approver decides", async () => {
    await seed(q.client, 'mem-four-eyes', 120, 8);
    await run<BackupResult>('qdrantBackup', { collection: 'mem-four-eyes', backupName: 'good' });
    await q.client.delete('mem-four-eyes', { wait: true, points: Array.from({ length: 20 }, (_, i) => i + 1) });
    const handle = await env.client.workflow.start('qdrantDataRecovery', {
      taskQueue,
      workflowId: uniqueQueue('rollback-four-eyes'),
      args: [
        {
          collection: 'mem-four-eyes',
          reason: 'the engineering manager asks and approves their own rollback',
          requestedBy: EM.approver,
          approval: { preApproved: EM },
        },
      ],
    });
    let status = await handle.query(statusQuery);
    // the phase is set before the policy is loaded (an activity); the pre-approval is judged after that
    await waitFor(
      async () =>
        (status = await handle.query(statusQuery)).phase === 'awaiting-approval' && status.approvals.length > 0,
      30_000,
      'the gate judging the pre-approval',
    );
    assert.deepEqual(
      status.approvals.map((a) => [a.decision, a.approver, a.via]),
      [['refused', EM.approver, 'pre-approval']],
    );
    assert.match(status.approvals[0]!.refusal ?? '', /requested this rollback and may not decide it \(four eyes\)/);
    assert.equal(await count(q.client, 'mem-four-eyes'), 100, 'nothing restored while it waits');
    // the same person through the signal is refused too; the director (a roster person allowed for database) decides
    await handle.signal(approveSignal, EM);
    await handle.signal(approveSignal, APPROVER.infrastructure);
    const r = (await handle.result()) as QdrantRecoveryResult;
    assert.equal(r.outcome, 'succeeded');
    assert.deepEqual(
      r.approvals.map((a) => [a.decision, a.approver, a.via]),
      [
        ['refused', EM.approver, 'pre-approval'],
        ['refused', EM.approver, 'signal'],
        ['approved', APPROVER.infrastructure.approver, 'signal'],
      ],
    );
    assert.equal(await count(q.client, 'mem-four-eyes'), 120);
  });

  it('a data recovery nobody approves (short approval windows): the backup contact (tech lead) is told after the first window, then it ends approval-timed-out with nothing changed', async () => {
    await seed(q.client, 'mem-unapproved', 90, 8);
    await run<BackupResult>('qdrantBackup', { collection: 'mem-unapproved', backupName: 'good' });
    await q.client.delete('mem-unapproved', { wait: true, points: [1, 2, 3, 4, 5] });
    const before = await collectionChecksum(q.client, 'mem-unapproved');
    // the committed policy with 2 s windows, on a worker of its own (the other tests keep the committed windows)
    const policy = shortWindowPolicy(2, 2);
    const queue = uniqueQueue('qdrant-short-windows');
    const { worker } = await createWorker({
      settings: { address: env.address, namespace: 'default', taskQueue: queue },
      connection: env.nativeConnection,
      deps: { qdrant: { client: q.client, url: q.url, apiKey: q.apiKey, backupRoot }, approvalPolicyPath: policy },
    });
    const r = await worker
      .runUntil(
        env.client.workflow.execute('qdrantDataRecovery', {
          taskQueue: queue,
          workflowId: uniqueQueue('rollback-unapproved'),
          args: [{ collection: 'mem-unapproved', reason: 'nobody answers', requestedBy: REQUESTER }],
        }) as Promise<QdrantRecoveryResult>,
      )
      .finally(() => rmSync(dirname(policy), { recursive: true, force: true }));
    assert.equal(r.outcome, 'approval-timed-out');
    assert.deepEqual(
      r.approvals.map((a) => [a.decision, a.approver, a.via]),
      [['escalated', 'tech-lead', 'policy']],
    );
    assert.deepEqual(r.approvals[0]!.escalation?.notified, ['@tech-lead']);
    assert.equal(r.restoredFrom, undefined);
    assert.equal(r.preRollbackBackup, undefined);
    assert.deepEqual(await collectionChecksum(q.client, 'mem-unapproved'), before, 'nothing restored');
  });

  it('refuses a corrupted backup before anything is deleted or stopped', async () => {
    await seed(q.client, 'mem-corrupt', 300, 8);
    const b = await run<BackupResult>('qdrantBackup', { collection: 'mem-corrupt', backupName: 'rotten' });
    const file = join(backupRoot, 'mem-corrupt', 'rotten', b.manifest.snapshotFile);
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(10) ^ 0x55, 10);
    await writeFile(file, bytes);
    await q.client.delete('mem-corrupt', { wait: true, points: [1, 2, 3] });
    const appName = `cortex-mcp-qbad-${Date.now().toString(36)}`;
    apps.push(appName);
    const app = await startApp(appName, GOOD);
    const startedAt = (await docker.getContainer(appName).inspect()).State.StartedAt;
    const f = await failureOf('qdrantDataRecovery', {
      collection: 'mem-corrupt',
      backup: 'rotten',
      app: { containerName: appName, healthUrl: app.healthUrl },
      reason: 'restore',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.equal(f.type, 'VerificationFailed');
    assert.match(f.message, /corrupt.*nothing was changed/s);
    assert.equal(await count(q.client, 'mem-corrupt'), 297);
    const c = await docker.getContainer(appName).inspect();
    assert.deepEqual([c.State.Running, c.State.StartedAt], [true, startedAt]);
  });

  it('point-in-time recovery restores the newest backup at or before the given time', async () => {
    await seed(q.client, 'mem-pit', 100, 8);
    const first = await run<BackupResult>('qdrantBackup', { collection: 'mem-pit', backupName: 'pit-1' });
    const atFirst = await collectionChecksum(q.client, 'mem-pit');
    await new Promise((r) => setTimeout(r, 1100));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await seed(q.client, 'mem-pit', 100, 8, 1000);
    await run<BackupResult>('qdrantBackup', { collection: 'mem-pit', backupName: 'pit-2' });
    await seed(q.client, 'mem-pit', 5, 8, 5000);
    const r = await run<QdrantRecoveryResult>('pointInTimeRecovery', {
      collection: 'mem-pit',
      atOrBefore: between,
      reason: 'bad import after the first backup',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.equal(r.restoredFrom?.name, first.manifest.name);
    assert.deepEqual(await collectionChecksum(q.client, 'mem-pit'), atFirst, 'the same points, payloads and vectors');
  });

  it('schema rollback refuses vectors that do not fit and leaves everything untouched', async () => {
    await seed(q.client, 'mem-v8', 200, 8);
    await q.client.updateCollectionAliases({
      actions: [{ create_alias: { alias_name: 'mem-schema', collection_name: 'mem-v8' } }],
    });
    const collectionsBefore = (await q.client.getCollections()).collections.map((c) => c.name).sort();
    const f = await failureOf('qdrantSchemaRollback', {
      collection: 'mem-schema',
      target: { size: 4 },
      reason: 'back to the small model',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.equal(f.type, 'InvalidInput');
    assert.match(f.message, /8 dimensions and do not fit a 4-dimensional collection/);
    assert.deepEqual((await q.client.getCollections()).collections.map((c) => c.name).sort(), collectionsBefore);
    const { aliases } = await q.client.getAliases();
    assert.equal(aliases.find((a) => a.alias_name === 'mem-schema')?.collection_name, 'mem-v8');
    assert.equal(await count(q.client, 'mem-v8'), 200);
  });

  it('schema rollback with a re-embedding provider builds a new collection and switches the alias atomically', async () => {
    const r = await run<QdrantSchemaRollbackResult>('qdrantSchemaRollback', {
      collection: 'mem-schema',
      target: { size: 4 },
      reembed: { contentField: 'content' },
      batchSize: 64,
      reason: 'back to the small model',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.reembedded, true);
    assert.equal(r.keptCollection, 'mem-v8');
    const { aliases } = await q.client.getAliases();
    const now = aliases.find((a) => a.alias_name === 'mem-schema')?.collection_name;
    assert.equal(now, r.to.collection);
    const info = await q.client.getCollection(now);
    assert.equal((info.config.params.vectors as { size: number }).size, 4);
    assert.equal(await count(q.client, 'mem-schema'), 200);
    assert.equal(await count(q.client, 'mem-v8'), 200, 'the old collection is kept');
    // every point re-embedded: its vector is the embedder's answer for its own content, and nothing else changed
    const { points } = await q.client.scroll(now, { limit: 1000, with_payload: true, with_vector: true });
    assert.equal(points.length, 200);
    for (const p of points) {
      const content = String(p.payload?.content);
      assert.equal(content, `memory item ${String(p.id)}`);
      const want = embedText(content, 4);
      const got = p.vector as number[];
      assert.equal(got.length, 4);
      got.forEach((x, i) =>
        assert.ok(Math.abs(x - want[i]!) < 1e-6, `point ${String(p.id)}: ${got.join()} vs ${want.join()}`),
      );
    }
  });

  it("schema rollback mode 'recreate' rebuilds the collection in place after a backup and a staging copy", async () => {
    await seed(q.client, 'mem-recreate', 300, 8);
    const content = await collectionChecksum(q.client, 'mem-recreate');
    const refused = await failureOf('qdrantSchemaRollback', {
      collection: 'mem-recreate',
      target: { size: 8, distance: 'Dot' },
      reason: 'x',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.match(refused.message, /is a collection, not an alias.*mode 'recreate'/s);
    const r = await run<QdrantSchemaRollbackResult>('qdrantSchemaRollback', {
      collection: 'mem-recreate',
      target: { size: 8, distance: 'Dot' },
      mode: 'recreate',
      reason: 'distance change was a mistake',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.equal(r.outcome, 'succeeded');
    const info = await q.client.getCollection('mem-recreate');
    assert.equal((info.config.params.vectors as { distance: string }).distance, 'Dot');
    assert.deepEqual(await collectionChecksum(q.client, 'mem-recreate'), content, 'every point copied unchanged');
    const names = (await q.client.getCollections()).collections.map((c) => c.name);
    assert.ok(!names.some((n) => n.startsWith('mem-recreate-staging-')), 'the staging copy is removed');
    const pre = JSON.parse(
      await readFile(join(backupRoot, 'mem-recreate', r.preRollbackBackup, 'manifest.json'), 'utf8'),
    ) as BackupManifest;
    assert.equal(pre.pointsCount, 300);
  });

  it('config rollback PATCHes only changeable settings, waits for green and verifies', async () => {
    await seed(q.client, 'mem-config', 50, 8);
    const r = await run<{ outcome: string; after: unknown }>('qdrantConfigRollback', {
      collection: 'mem-config',
      target: { optimizers_config: { indexing_threshold: 12345 }, hnsw_config: { m: 8 } },
      reason: 'v1.3 config broke indexing',
      requestedBy: REQUESTER,
      approval: { preApproved: APPROVER.configuration },
    });
    assert.equal(r.outcome, 'succeeded');
    const info = await q.client.getCollection('mem-config');
    assert.equal(info.config.optimizer_config.indexing_threshold, 12345);
    assert.equal(info.config.hnsw_config.m, 8);
    const f = await failureOf('qdrantConfigRollback', {
      collection: 'mem-config',
      target: { vectors: { size: 4 } },
      reason: 'x',
      requestedBy: REQUESTER,
    });
    assert.equal(f.type, 'InvalidInput');
    assert.match(f.message, /use the qdrantSchemaRollback workflow/);
  });

  it('503s and a dropped connection during a copy are retried and the count is exact', async () => {
    await seed(q.client, 'mem-faulty', 600, 8);
    await q.client.updateCollectionAliases({
      actions: [{ create_alias: { alias_name: 'mem-faulty-alias', collection_name: 'mem-faulty' } }],
    });
    const d = q;
    const handle = await env.client.workflow.start('qdrantSchemaRollback', {
      taskQueue,
      workflowId: uniqueQueue('rollback-faulty'),
      args: [
        {
          collection: 'mem-faulty-alias',
          target: { size: 4 },
          reembed: { contentField: 'content' },
          batchSize: 50,
          reason: 'faults',
          requestedBy: REQUESTER,
          approval: { preApproved: EM },
        },
      ],
    });
    d.faults.delay(15);
    for (let i = 0; i < 400; i++) {
      const s = await handle.query(statusQuery);
      if (s.steps.some((x) => x.name.startsWith('copy ') && x.state === 'running')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    d.faults.failNext(3, 503);
    await new Promise((r) => setTimeout(r, 200));
    d.faults.dropNext(1);
    await new Promise((r) => setTimeout(r, 200));
    d.faults.failNext(2, 502);
    d.faults.delay(0);
    const r = (await handle.result()) as QdrantSchemaRollbackResult;
    assert.equal(r.outcome, 'succeeded');
    assert.equal(await count(q.client, r.to.collection), 600);
    assert.ok(
      d.requests.some((x) => x.status === 503),
      'a 503 was served',
    );
  });
});
