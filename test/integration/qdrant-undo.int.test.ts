// The undo paths of every Qdrant workflow, end to end (real Temporal dev server, real Docker, a real Qdrant 1.18.3
// server and the fault proxy's targeted faults in front of it): a non-retryable failure right after each destructive
// step, then proof that the state is what it was before — the whole collection's checksum (ids, payloads, vectors),
// the aliases, the collections, the application container. Plus an undo that fails (CompensationFailed naming the
// manual steps, which the test then follows to prove they are right), and the point-in-time selection rule.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { createQdrantActivities, type BackupManifest } from '../../activities/qdrant.ts';
import { PROJECT_ROOT, temporalCliPath } from '../../common/tools.ts';
import type { BackupResult } from '../../workflows/database/qdrant-backup.ts';
import type { QdrantRecoveryResult } from '../../workflows/database/data-recovery.ts';
import { BAD, docker, ensureImages, GOOD, health, removeByPrefix, startApp, waitFor } from '../helpers/docker.ts';
import { workflowFailure } from '../helpers/failures.ts';
import { activityRuns, untilPending } from '../helpers/history.ts';
import { recordHistory } from '../helpers/record.ts';
import { aliasMap, collectionChecksum, collectionNames, seed, vectorFor, type TestQdrant } from '../helpers/qdrant.ts';
import { startQdrantWorld, type QdrantWorld } from '../helpers/qdrant-world.ts';
import { APPROVER, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';

// the committed approval policy: roster approvers, the requester someone else (four eyes)
const EM = APPROVER.database;
const ON_CALL = APPROVER.configuration;
const upload = (c: string) => new RegExp(`^/collections/${c}/snapshots/upload$`);
const points = (c: string) => new RegExp(`^/collections/${c}/points$`);

describe('Qdrant undo paths', () => {
  let env: TestWorkflowEnvironment;
  let q: TestQdrant;
  let world: QdrantWorld;
  let taskQueue: string;
  let backupRoot: string;
  const apps: string[] = [];

  before(async () => {
    await ensureImages();
    world = await startQdrantWorld({ queue: 'undo' });
    ({ env, q, taskQueue, backupRoot } = world);
  });
  after(async () => {
    for (const a of apps) await removeByPrefix(a);
    await world?.stop();
  });

  /**
   * With RECORD_NEW_HISTORIES=1, a run given a `history` name is saved to test/histories/<name>.json for the replay
   * test — only if that file does not exist yet (committed histories are never re-recorded).
   */
  const run = async <T>(type: string, input: unknown, history?: string): Promise<T> => {
    const workflowId = uniqueQueue(`undo-${type}`);
    try {
      return (await env.client.workflow.execute(type, { taskQueue, workflowId, args: [input] })) as T;
    } catch (err) {
      if (err instanceof WorkflowFailedError) err.message = `${type} failed: ${err.cause?.message ?? 'no cause'}`;
      throw err;
    } finally {
      if (history && process.env.RECORD_NEW_HISTORIES === '1') {
        const shown = await execa(temporalCliPath(), [
          ...['workflow', 'show', '--workflow-id', workflowId, '--address', env.address, '-o', 'json'],
        ]);
        await writeFile(join(PROJECT_ROOT, 'test', 'histories', `${history}.json`), shown.stdout, { flag: 'wx' });
      }
    }
  };
  const failureOf = (type: string, input: unknown, history?: string) => workflowFailure(run(type, input, history));
  const faults = () => q.faults;

  /** Everything a rollback may touch in Qdrant: the collection's content, every alias, every collection name. */
  const qdrantState = async (collection: string) => ({
    content: await collectionChecksum(q.client, collection),
    aliases: await aliasMap(q.client),
    collections: await collectionNames(q.client),
  });
  const appState = async (name: string) => {
    const c = await docker.getContainer(name).inspect();
    return { id: c.Id, running: c.State.Running, startedAt: c.State.StartedAt, finishedAt: c.State.FinishedAt };
  };
  const uploads = (c: string) =>
    q.requests.filter((r) => r.method === 'POST' && upload(c).test(r.path)).map((r) => r.status);

  /** A collection of `n` points with one good backup, then corrupted (some points lost, junk written). */
  async function corrupted(collection: string, n: number): Promise<void> {
    await seed(q.client, collection, n, 8);
    await run<BackupResult>('qdrantBackup', { collection, backupName: 'good' });
    await q.client.delete(collection, { wait: true, points: Array.from({ length: 40 }, (_, i) => i + 1) });
    await seed(q.client, collection, 15, 8, 50_000);
  }
  const recovery = (collection: string, appName: string, healthUrl: string, extra: object = {}) => ({
    collection,
    backup: 'good',
    app: { containerName: appName, healthUrl, healthTimeoutSeconds: 3 },
    reason: 'undo test',
    requestedBy: REQUESTER,
    monitor: { durationSeconds: 0 },
    approval: { preApproved: EM },
    ...extra,
  });
  const app = async (tag: string, image = GOOD) => {
    const name = `cortex-mcp-undo-${tag}-${Date.now().toString(36)}`;
    apps.push(name);
    return startApp(name, image);
  };

  it('data recovery: the restore takes effect but is reported failed → the pre-rollback backup is restored and the app restarted', async () => {
    const c = 'undo-rec';
    await corrupted(c, 300);
    const a = await app('rec');
    const before = await qdrantState(c);
    const appBefore = await appState(a.name);
    const rule = faults().failWhen({
      method: 'POST',
      path: upload(c),
      status: 400,
      after: true,
      message: 'Wrong input: snapshot recovery failed (injected)',
    });
    const f = await failureOf('qdrantDataRecovery', recovery(c, a.name, a.healthUrl));
    assert.equal(rule.hits(), 1);
    assert.equal(f.type, 'InvalidInput');
    assert.match(f.message, /restore 'undo-rec' from backup 'good'.*snapshot recovery failed \(injected\)/s);
    assert.match(f.message, /Restored: 'undo-rec' and the application are back .*from pre-rollback-/s);
    assert.deepEqual(uploads(c), [400, 200], "the chosen backup was uploaded (and applied), then the undo's upload");
    assert.deepEqual(await qdrantState(c), before);
    const appAfter = await appState(a.name);
    assert.equal(appAfter.id, appBefore.id);
    assert.equal(appAfter.running, true);
    assert.ok(appAfter.finishedAt > appBefore.startedAt, 'the app was stopped during the rollback');
    assert.ok(appAfter.startedAt > appAfter.finishedAt, 'and started again after it');
    await waitFor(async () => (await health(a.healthUrl)).status === 200, 10_000, 'the restarted app healthy');
  });

  it('data recovery: the app is not healthy after the restore → the previous data is back and the app runs as before', async () => {
    const c = 'undo-unhealthy';
    await corrupted(c, 200);
    const a = await app('unh', BAD); // answers 503 before and after: the restore cannot make it healthy
    const before = await qdrantState(c);
    const healthBefore = (await health(a.healthUrl)).status;
    const f = await failureOf('qdrantDataRecovery', recovery(c, a.name, a.healthUrl));
    assert.equal(f.type, 'VerificationFailed');
    assert.match(f.message, /did not answer healthy at .* after the restore/);
    assert.match(f.message, /Restored: 'undo-unhealthy' and the application are back/);
    assert.deepEqual(await qdrantState(c), before);
    assert.equal((await appState(a.name)).running, true);
    assert.equal((await health(a.healthUrl)).status, healthBefore);
  });

  it("data recovery: the application's start does not hold (stopped as its health is checked) → it is started once more and the restore completes", async () => {
    const c = 'undo-lost-start';
    await corrupted(c, 200);
    const a = await app('lost');
    const appBefore = await appState(a.name);
    const workflowId = uniqueQueue('undo-lost-start');
    const handle = await env.client.workflow.start('qdrantDataRecovery', {
      taskQueue,
      workflowId,
      args: [recovery(c, a.name, a.healthUrl)],
    });
    // The first health check after the start is running: the container goes away under it, as a start lost to a
    // restarting dockerd does (a manual stop: the restart policy does not bring it back).
    await untilPending(handle, 'waitHealthy', () => true, 60_000);
    await docker.getContainer(a.name).stop({ t: 2 });
    const stoppedAt = (await appState(a.name)).finishedAt;
    const result = (await handle.result()) as QdrantRecoveryResult;
    await recordHistory('qdrant-recovery-app-restarted', workflowId, env.address);
    assert.equal(result.outcome, 'succeeded');
    const starts = await activityRuns(handle, 'startContainer');
    assert.deepEqual(
      starts.map((r) => [r.completed, (r.result as { started: boolean }).started]),
      [
        [true, true],
        [true, true],
      ],
      'started after the restore, then once more after it did not hold',
    );
    const waits = (await activityRuns(handle, 'waitHealthy')).map((r) => (r.result as { healthy: boolean }).healthy);
    assert.deepEqual(waits, [false, true]);
    const appAfter = await appState(a.name);
    assert.equal(appAfter.id, appBefore.id, 'the same container');
    assert.equal(appAfter.running, true);
    assert.ok(appAfter.startedAt > stoppedAt, 'started again after the stop');
    assert.equal((await health(a.healthUrl)).status, 200);
    assert.equal((await collectionChecksum(q.client, c)).count, 200, 'the backup restored');
  });

  it('data recovery: when the undo fails too, CompensationFailed names the manual steps, and following them restores the state', async () => {
    const c = 'undo-cf';
    await corrupted(c, 150);
    const a = await app('cf');
    const before = await qdrantState(c);
    faults().failWhen({ method: 'POST', path: upload(c), status: 400, after: true, message: 'Wrong input: first' });
    faults().failWhen({ method: 'POST', path: upload(c), status: 400, message: 'Wrong input: the undo is refused' });
    const f = await failureOf('qdrantDataRecovery', recovery(c, a.name, a.healthUrl), 'qdrant-recovery-undo-failed');
    assert.equal(f.type, 'CompensationFailed');
    const pre = /--backup (pre-rollback-[\w-]+)/.exec(f.message)?.[1];
    assert.ok(pre, `the message names the backup to restore: ${f.message}`);
    assert.match(
      f.message,
      /RESTORE FAILED — manual action needed: restore 'undo-cf' from pre-rollback-.*the undo is refused/,
    );
    assert.match(f.message, /Do by hand, in this order: \(1\) restore collection 'undo-cf' from backup 'pre-rollback-/);
    assert.match(f.message, new RegExp(`file undo-cf/${pre}/\\S+\\.snapshot in the backup directory, 125 points`));
    assert.notDeepEqual((await qdrantState(c)).content, before.content, 'the collection holds the restored backup');
    assert.equal((await appState(a.name)).running, true, 'the undo that could run (start the app) did');
    // the manual step, as written
    await run<QdrantRecoveryResult>('qdrantDataRecovery', {
      collection: c,
      backup: pre,
      reason: 'manual step from CompensationFailed',
      requestedBy: REQUESTER,
      emergencyExport: false,
      approval: { preApproved: EM },
    });
    assert.deepEqual((await qdrantState(c)).content, before.content);
  });

  it('data recovery: a restored collection that does not give the answers the backup recorded is refused and undone', async () => {
    const c = 'undo-known';
    await corrupted(c, 120);
    const before = await qdrantState(c);
    // the backup's content no longer answers as recorded: two recorded answers swapped in its manifest
    const path = join(backupRoot, c, 'good', 'manifest.json');
    const m = JSON.parse(await readFile(path, 'utf8')) as BackupManifest;
    const [p0, p1] = m.knownAnswers!.probes;
    assert.notDeepEqual(p0!.top, p1!.top);
    [p0!.top, p1!.top] = [p1!.top, p0!.top];
    await writeFile(path, JSON.stringify(m));
    const f = await failureOf('qdrantDataRecovery', {
      collection: c,
      backup: 'good',
      reason: 'undo test',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.equal(f.type, 'VerificationFailed');
    assert.match(
      f.message,
      new RegExp(
        `the restored 'undo-known' does not answer as the backup 'good' did: nearest neighbours of point ${String(p0!.id)} were \\[${p0!.top.join(',')}\\] when it was taken, \\[${p1!.top.join(',')}\\] now.*Restored: 'undo-known'`,
        's',
      ),
    );
    assert.deepEqual(await qdrantState(c), before);
  });

  it('point in time: a restore reported failed is undone, the collection exactly as before', async () => {
    const c = 'undo-pitfail';
    await seed(q.client, c, 120, 8);
    await run<BackupResult>('qdrantBackup', { collection: c, backupName: 'pit-a' });
    await seed(q.client, c, 30, 8, 7000);
    const before = await qdrantState(c);
    faults().failWhen({ method: 'POST', path: upload(c), status: 400, after: true });
    const f = await failureOf('pointInTimeRecovery', {
      collection: c,
      atOrBefore: new Date().toISOString(),
      reason: 'undo test',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.equal(f.type, 'InvalidInput');
    assert.match(f.message, /recover_from_uploaded_snapshot refused.*Restored: 'undo-pitfail'/s);
    assert.deepEqual(uploads(c), [400, 200]);
    assert.deepEqual(await qdrantState(c), before);
  });

  it('point in time picks the newest VERIFIED backup at or before T, says which it skipped and how old the choice is', async () => {
    const c = 'undo-pit';
    const pause = () => new Promise((r) => setTimeout(r, 1100));
    await seed(q.client, c, 100, 8);
    await run<BackupResult>('qdrantBackup', { collection: c, backupName: 'p1' });
    const atP1 = await collectionChecksum(q.client, c);
    await pause();
    await seed(q.client, c, 50, 8, 2000);
    const p2 = await run<BackupResult>('qdrantBackup', { collection: c, backupName: 'p2' });
    await pause();
    const t = new Date().toISOString();
    await pause();
    await seed(q.client, c, 10, 8, 3000);
    await run<BackupResult>('qdrantBackup', { collection: c, backupName: 'p3' }); // after T: never a candidate
    const file = join(backupRoot, c, 'p2', p2.manifest.snapshotFile);
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(20) ^ 0xff, 20);
    await writeFile(file, bytes);

    const r = await run<QdrantRecoveryResult>(
      'pointInTimeRecovery',
      { collection: c, atOrBefore: t, reason: 'bad import', requestedBy: REQUESTER, approval: { preApproved: EM } },
      'qdrant-pit-skips-unverified',
    );
    assert.equal(r.restoredFrom?.name, 'p1');
    assert.equal(r.selection?.chosen, 'p1');
    assert.deepEqual(
      r.selection?.skipped.map((s) => s.name),
      ['p2'],
    );
    assert.match(r.selection?.skipped[0]?.reason ?? '', /checksum mismatch/);
    const ageAtT = (Date.parse(t) - Date.parse(r.selection.chosenAt)) / 1000;
    assert.equal(r.selection?.ageAtTSeconds, Math.round(ageAtT));
    assert.ok(ageAtT >= 2, `p1 is at least two pauses older than T (${ageAtT} s)`);
    assert.ok(r.selection.ageNowSeconds > r.selection.ageAtTSeconds);
    assert.deepEqual(r.readiness, { ready: true, status: 200, body: 'all shards are ready', attempts: 1 });
    assert.deepEqual(await collectionChecksum(q.client, c), atP1);
    assert.ok(r.timeline.some((s) => s.name === 'select-backup' && /skipped, not verifying: p2/.test(s.detail ?? '')));

    // The recovery above replaced the content (its pre-rollback backup is newer than p3): no backup holds the
    // state of any T after it until the next backup, so that is refused, naming what to restore by name.
    const now = await qdrantState(c);
    const refused = await failureOf('pointInTimeRecovery', {
      collection: c,
      atOrBefore: new Date().toISOString(),
      reason: 'x',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.equal(refused.type, 'Conflict');
    assert.match(
      refused.message,
      /a rollback replaced the content of 'undo-pit' at .*newest backup at or before .*\('p3'.*'pre-rollback-[\w-]+' holds what was there just before that rollback, 'p1' what that rollback restored.*nothing was changed/s,
    );
    const none = await failureOf('pointInTimeRecovery', {
      collection: c,
      atOrBefore: '2001-01-01T00:00:00Z',
      reason: 'x',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.equal(none.type, 'NotFound');
    assert.match(none.message, /no backup of 'undo-pit' at or before 2001-01-01T00:00:00.000Z/);
    assert.deepEqual(await qdrantState(c), now);
  });

  it('point in time refuses when no candidate verifies, naming each, and changes nothing', async () => {
    const c = 'undo-pitnone';
    await seed(q.client, c, 40, 8);
    const b = await run<BackupResult>('qdrantBackup', { collection: c, backupName: 'only' });
    const file = join(backupRoot, c, 'only', b.manifest.snapshotFile);
    await writeFile(file, Buffer.concat([await readFile(file), Buffer.from('x')]));
    await seed(q.client, c, 5, 8, 900);
    const before = await qdrantState(c);
    const f = await failureOf('pointInTimeRecovery', {
      collection: c,
      atOrBefore: new Date().toISOString(),
      reason: 'x',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.equal(f.type, 'NotFound');
    assert.match(
      f.message,
      /no backup of 'undo-pitnone' at or before .* verifies: only \(checksum mismatch.*nothing was changed/s,
    );
    assert.deepEqual(await qdrantState(c), before);
  });

  const schema = (collection: string, extra: object = {}) => ({
    collection,
    target: { size: 8, distance: 'Dot' },
    reason: 'undo test',
    requestedBy: REQUESTER,
    approval: { preApproved: EM },
    ...extra,
  });
  async function aliased(collection: string, alias: string, n: number): Promise<void> {
    await seed(q.client, collection, n, 8);
    await q.client.updateCollectionAliases({
      actions: [{ create_alias: { alias_name: alias, collection_name: collection } }],
    });
  }

  it('schema rollback (alias): the alias switch takes effect but is reported failed → the alias points back, the new collection is gone', async () => {
    await aliased('undo-sa-v1', 'undo-sa', 180);
    const before = await qdrantState('undo-sa');
    faults().failWhen({
      operationId: 'update_aliases',
      status: 400,
      after: true,
      message: 'Bad request: alias refused',
    });
    const f = await failureOf('qdrantSchemaRollback', schema('undo-sa'));
    assert.equal(f.type, 'InvalidInput');
    assert.match(
      f.message,
      /switch alias 'undo-sa' to 'undo-sa-v1-v8-.*alias refused.*Restored: 'undo-sa' serves the previous vectors again/s,
    );
    assert.deepEqual(await qdrantState('undo-sa'), before);
    const vectors = (await q.client.getCollection('undo-sa-v1')).config.params.vectors as { distance: string };
    assert.equal(vectors.distance, 'Cosine');
  });

  it('schema rollback (alias): when re-pointing the alias fails too, CompensationFailed gives the alias command, which works', async () => {
    await aliased('undo-sb-v1', 'undo-sb', 90);
    const before = await qdrantState('undo-sb');
    faults().failWhen({ operationId: 'update_aliases', status: 400, after: true });
    faults().failWhen({ operationId: 'update_aliases', status: 400, message: 'Bad request: re-point refused' });
    const f = await failureOf('qdrantSchemaRollback', schema('undo-sb'), 'qdrant-schema-alias-undo-failed');
    assert.equal(f.type, 'CompensationFailed');
    assert.match(
      f.message,
      /RESTORE FAILED — manual action needed: point 'undo-sb' back at 'undo-sb-v1': .*re-point refused/,
    );
    const cmd = /-d '(\{"actions".*?\]\})'/.exec(f.message)?.[1];
    assert.ok(cmd, `the message gives the alias actions: ${f.message}`);
    assert.match(
      f.message,
      /point alias 'undo-sb' at 'undo-sb-v1': curl -H "api-key: \$QDRANT_API_KEY" -X POST '<qdrant>\/collections\/aliases'/,
    );
    assert.notEqual((await aliasMap(q.client))['undo-sb'], 'undo-sb-v1');
    await q.client.updateCollectionAliases(JSON.parse(cmd) as Parameters<typeof q.client.updateCollectionAliases>[0]);
    assert.deepEqual(await qdrantState('undo-sb'), before, 'the new collection was deleted by the undo that ran');
  });

  it('schema rollback (recreate): the import into the recreated collection is rejected → it is restored from the pre-rollback backup', async () => {
    const c = 'undo-rc';
    await seed(q.client, c, 260, 8);
    const before = await qdrantState(c);
    const configBefore = (await q.client.getCollection(c)).config.params;
    const rule = faults().failWhen({
      method: 'PUT',
      path: points(c),
      status: 400,
      message: 'Wrong input: import rejected (injected)',
    });
    const f = await failureOf(
      'qdrantSchemaRollback',
      schema(c, { mode: 'recreate', batchSize: 64 }),
      'qdrant-schema-recreate-undone',
    );
    assert.equal(rule.hits(), 1);
    assert.equal(f.type, 'InvalidInput');
    assert.match(
      f.message,
      /upsert into 'undo-rc'.*import rejected \(injected\).*Restored: 'undo-rc' serves the previous vectors again/s,
    );
    assert.deepEqual(await qdrantState(c), before, 'same points, same vectors, no staging collection left');
    assert.deepEqual((await q.client.getCollection(c)).config.params, configBefore);
  });

  it('schema rollback (recreate): when the restore fails too, CompensationFailed names the backup, and restoring it by name works', async () => {
    const c = 'undo-rd';
    await seed(q.client, c, 70, 8);
    const before = await qdrantState(c);
    faults().failWhen({ method: 'PUT', path: points(c), status: 400 });
    faults().failWhen({ method: 'POST', path: upload(c), status: 400, message: 'Wrong input: restore refused' });
    const f = await failureOf('qdrantSchemaRollback', schema(c, { mode: 'recreate' }));
    assert.equal(f.type, 'CompensationFailed');
    assert.match(f.message, /manual action needed: restore 'undo-rd' from pre-rollback-.*restore refused/);
    const pre = /--backup (pre-rollback-[\w-]+)/.exec(f.message)?.[1];
    assert.ok(pre, f.message);
    assert.match(
      f.message,
      /Do by hand, in this order: \(1\) delete 'undo-rd' if it exists with the new vector params/,
    );
    assert.equal((await q.client.collectionExists(c)).exists, false, 'the undo deleted the recreated collection');
    await run<QdrantRecoveryResult>('qdrantDataRecovery', {
      collection: c,
      backup: pre,
      reason: 'manual step',
      requestedBy: REQUESTER,
      approval: { preApproved: EM },
    });
    assert.deepEqual(await qdrantState(c), before);
  });

  const configOf = async (c: string) => {
    const cfg = (await q.client.getCollection(c)).config;
    return { m: cfg.hnsw_config.m, threshold: cfg.optimizer_config.indexing_threshold };
  };
  const configRollback = (collection: string) => ({
    collection,
    target: { optimizers_config: { indexing_threshold: 777 }, hnsw_config: { m: 6 } },
    reason: 'undo test',
    requestedBy: REQUESTER,
    approval: { preApproved: ON_CALL },
  });

  it('config rollback runs a test search whose answer was recorded before the PATCH', async () => {
    const c = 'undo-cfg-ok';
    await seed(q.client, c, 60, 8);
    const r = await run<{
      outcome: string;
      testSearch?: { probes: number; same: boolean };
      timeline: Array<{ name: string; state: string }>;
    }>('qdrantConfigRollback', configRollback(c), 'qdrant-config-test-search');
    assert.equal(r.outcome, 'succeeded');
    assert.deepEqual(r.testSearch, { probes: 3, same: true });
    const names = r.timeline.map((s) => s.name);
    assert.ok(names.indexOf('record-test-search') < names.indexOf('patch-collection'));
    assert.ok(names.indexOf('test-search') > names.indexOf('verify-config'));
    assert.deepEqual(await configOf(c), { m: 6, threshold: 777 });
  });

  it('config rollback: a failing test search after the PATCH re-applies the recorded config', async () => {
    const c = 'undo-cfg-search';
    await seed(q.client, c, 60, 8);
    const before = await configOf(c);
    // the three recorded searches pass; the first search after the PATCH is refused
    faults().failWhen({ method: 'POST', path: new RegExp(`^/collections/${c}/points/query$`), skip: 3, status: 400 });
    const f = await failureOf('qdrantConfigRollback', configRollback(c), 'qdrant-config-undone');
    assert.equal(f.type, 'InvalidInput');
    assert.match(
      f.message,
      /test search on 'undo-cfg-search'.*Restored: the recorded config of 'undo-cfg-search' is re-applied/s,
    );
    assert.deepEqual(await configOf(c), before);
  });

  it('config rollback: a PATCH that takes effect but is reported failed is undone', async () => {
    const c = 'undo-cfg';
    await seed(q.client, c, 30, 8);
    const before = await configOf(c);
    const content = await collectionChecksum(q.client, c);
    faults().failWhen({ operationId: 'update_collection', status: 400, after: true });
    const f = await failureOf('qdrantConfigRollback', configRollback(c));
    assert.equal(f.type, 'InvalidInput');
    assert.match(f.message, /update collection 'undo-cfg'.*Restored: the recorded config of 'undo-cfg' is re-applied/s);
    assert.deepEqual(await configOf(c), before);
    assert.deepEqual(await collectionChecksum(q.client, c), content);
  });

  it('config rollback: when re-applying fails too, CompensationFailed gives the PATCH to run, which works', async () => {
    const c = 'undo-cfg-cf';
    await seed(q.client, c, 30, 8);
    const before = await configOf(c);
    faults().failWhen({ operationId: 'update_collection', status: 400, after: true });
    faults().failWhen({ operationId: 'update_collection', status: 400, message: 'Bad request: PATCH refused again' });
    const f = await failureOf('qdrantConfigRollback', configRollback(c));
    assert.equal(f.type, 'CompensationFailed');
    assert.match(f.message, /re-apply the recorded config of 'undo-cfg-cf'.*PATCH refused again/);
    const body =
      /curl -H "api-key: \$QDRANT_API_KEY" -X PATCH '<qdrant>\/collections\/undo-cfg-cf' -H 'content-type: application\/json' -d '(.*?)'/.exec(
        f.message,
      )?.[1];
    assert.ok(body, f.message);
    assert.deepEqual(await configOf(c), { m: 6, threshold: 777 }, 'the change is still in place');
    // the command as given, on this Qdrant, $QDRANT_API_KEY being its API key (none: the header is empty and ignored)
    const res = await fetch(`${q.url}/collections/${c}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'api-key': q.apiKey ?? '' },
      body,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await configOf(c), before);
  });

  it('a backup is never overwritten: the same name twice is refused and the first backup still restores', async () => {
    const c = 'undo-dup';
    await seed(q.client, c, 30, 8);
    const first = await run<BackupResult>('qdrantBackup', { collection: c, backupName: 'once' });
    const atFirst = await collectionChecksum(q.client, c);
    await seed(q.client, c, 10, 8, 500);
    const f = await failureOf('qdrantBackup', { collection: c, backupName: 'once' });
    assert.equal(f.type, 'Conflict');
    assert.match(f.message, /backup 'once' of 'undo-dup' already exists; refusing to overwrite it/);
    const m = JSON.parse(await readFile(join(backupRoot, c, 'once', 'manifest.json'), 'utf8')) as BackupManifest;
    assert.deepEqual(m, first.manifest);
    const r = await run<QdrantRecoveryResult>(
      'qdrantDataRecovery',
      { collection: c, backup: 'once', reason: 'x', requestedBy: REQUESTER, approval: { preApproved: EM } },
      'qdrant-recovery-known-answers',
    );
    assert.deepEqual(r.sampleQuery, { ok: true, knownAnswers: 3 });
    assert.equal(r.readiness?.ready, true);
    assert.deepEqual(await collectionChecksum(q.client, c), atFirst);
  });

  it('the copy check of a schema rollback finds a missing point, another payload and another vector', async () => {
    const acts = createQdrantActivities({ client: q.client, url: q.url, apiKey: q.apiKey, backupRoot });
    await seed(q.client, 'undo-cmp-a', 20, 8);
    await seed(q.client, 'undo-cmp-b', 20, 8);
    const same = { same: true as const };
    assert.deepEqual(await acts.qdrantCompareSample({ source: 'undo-cmp-a', target: 'undo-cmp-b', vectors: same }), {
      checked: 16,
      problems: [],
    });
    await q.client.delete('undo-cmp-b', { wait: true, points: [2] });
    await q.client.upsert('undo-cmp-b', {
      wait: true,
      points: [
        { id: 3, vector: vectorFor(3, 8), payload: { content: 'memory item 3', kind: 'edited' } },
        { id: 4, vector: vectorFor(99, 8), payload: { content: 'memory item 4', kind: 'observation' } },
      ],
    });
    const r = await acts.qdrantCompareSample({ source: 'undo-cmp-a', target: 'undo-cmp-b', vectors: same });
    assert.deepEqual(r.problems, ['point 2 is missing', 'point 3 has another payload', 'point 4 has another vector']);
    const sized = await acts.qdrantCompareSample({ source: 'undo-cmp-a', target: 'undo-cmp-a', vectors: { size: 4 } });
    assert.equal(sized.problems[0], 'point 1 has no 4-dimensional vector');
  });

  it("the readiness activity reads Qdrant's /readyz and reports not-ready without throwing", async () => {
    const acts = createQdrantActivities({ client: q.client, url: q.url, apiKey: q.apiKey, backupRoot });
    const rule = faults().failWhen({
      operationId: 'readyz',
      status: 503,
      times: Infinity,
      message: 'some shards are not ready',
    });
    const r = await acts.qdrantReady({ timeoutSeconds: 1 });
    assert.equal(r.ready, false);
    assert.equal(r.status, 503);
    assert.equal(r.body, 'some shards are not ready');
    assert.ok(r.attempts >= 2);
    rule.clear();
    assert.deepEqual(await acts.qdrantReady({ timeoutSeconds: 1 }), {
      ready: true,
      status: 200,
      body: 'all shards are ready',
      attempts: 1,
    });
  });
});
