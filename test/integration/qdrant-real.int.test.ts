// The Qdrant activities (activities/qdrant.ts) called directly against a real Qdrant 1.18.3 server (one process per
// suite, test/helpers/qdrant-server.ts), no Temporal: a backup as a real snapshot downloaded with its checksum, a
// restore through the server's own upload recovery (priority=snapshot, checksum) verified by count, a digest over
// every id, payload and vector, and the neighbour answers recorded at backup time; a corrupted backup refused, and
// one Qdrant cannot unpack failed as permanent; a
// schema-style copy and an alias switch that a reader querying through the alias never sees fail or come back
// empty; the emergency export; an API-keyed server; a SIGKILL and restart of the server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { QdrantClient } from '@qdrant/js-client-rest';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createQdrantActivities } from '../../activities/qdrant.ts';
import { FailureType } from '../../common/failures.ts';
import { aliasMap, collectionChecksum, seed, vectorFor } from '../helpers/qdrant.ts';
import { startQdrantServer, type QdrantServer } from '../helpers/qdrant-server.ts';

const DIM = 32;

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `an ApplicationFailure, not ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

describe('Qdrant activities against a real Qdrant 1.18.3 server', () => {
  let server: QdrantServer;
  let backupRoot: string;
  let acts: ReturnType<typeof createQdrantActivities>;
  const t0 = Date.now();

  before(async () => {
    server = await startQdrantServer();
    backupRoot = await mkdtemp(join(tmpdir(), 'cortex-real-backups-'));
    acts = createQdrantActivities({ client: server.client, url: server.url, backupRoot });
    console.log(`real qdrant up in ${Date.now() - t0} ms at ${server.url}`);
  });
  after(async () => {
    await server?.stop();
    await rm(backupRoot, { recursive: true, force: true });
  });

  /** Snapshot → download with checksum → manifest, as the backup workflow does; returns the backup's name. */
  async function backup(collection: string, name: string): Promise<string> {
    const snap = await acts.qdrantCreateSnapshot({ collection });
    assert.match(snap.checksum ?? '', /^[0-9a-f]{64}$/, 'Qdrant gives the snapshot its sha256');
    const file = await acts.qdrantDownloadSnapshot({
      collection,
      snapshotName: snap.name,
      checksum: snap.checksum ?? null,
      backupName: name,
    });
    assert.equal(file.checksum, snap.checksum);
    assert.equal(file.sizeBytes, snap.size);
    const state = await acts.qdrantInspect({ collection });
    const { probes } = await acts.qdrantSearchProbe({ collection, samples: 4, k: 5 });
    await acts.writeBackupManifest({
      name,
      collection,
      pointsCount: state.pointsCount,
      ...(state.vectors ? { vectors: state.vectors } : {}),
      snapshotFile: snap.name,
      checksum: file.checksum,
      sizeBytes: file.sizeBytes,
      createdAt: new Date().toISOString(),
      knownAnswers: { k: 5, probes },
    });
    return name;
  }

  it('backup (real snapshot, checksum) → points lost and junk written → restore by upload: count, digest and neighbour answers as at backup time', async () => {
    const c = 'memories-restore';
    await seed(server.client, c, 1500, DIM);
    const before = await collectionChecksum(server.client, c);
    let t = Date.now();
    await backup(c, 'b1');
    const backupMs = Date.now() - t;
    const verified = await acts.verifyBackup({ collection: c, backupName: 'b1' });
    assert.equal(verified.ok, true, verified.reason);
    const inventory = await acts.qdrantBackupInventory({ collection: c });
    assert.equal(inventory.snapshots.length, 1);
    assert.ok(
      Math.abs(Date.parse(inventory.snapshots[0]!.createdAt!) - Date.now()) < 120_000,
      `the snapshot's zoneless creation time read as UTC (${inventory.snapshots[0]!.createdAt})`,
    );

    // the damage: 200 points gone, 30 junk ones, 10 payloads changed
    await server.client.delete(c, { wait: true, points: Array.from({ length: 200 }, (_, i) => i + 1) });
    await seed(server.client, c, 30, DIM, 10_001);
    await server.client.setPayload(c, { wait: true, points: [500, 501, 502], payload: { kind: 'tampered' } });
    assert.notEqual((await collectionChecksum(server.client, c)).checksum, before.checksum);

    t = Date.now();
    const restored = await acts.qdrantRestoreBackup({ collection: c, backupName: 'b1' });
    const restoreMs = Date.now() - t;
    assert.equal(restored.pointsCount, 1500);
    const afterRestore = await collectionChecksum(server.client, c);
    assert.equal(afterRestore.count, before.count);
    assert.equal(afterRestore.checksum, before.checksum, 'every id, payload and vector as at backup time');
    const manifest = JSON.parse(await readFile(join(backupRoot, c, 'b1', 'manifest.json'), 'utf8')) as {
      knownAnswers: { probes: Array<{ id: number; top: number[] }> };
    };
    const now = await acts.qdrantSearchProbe({ collection: c, ids: manifest.knownAnswers.probes.map((p) => p.id) });
    assert.deepEqual(now.probes, manifest.knownAnswers.probes, 'the neighbours answer as at backup time');
    assert.equal((await acts.qdrantSampleQuery({ collection: c })).ok, true);
    console.log(`real qdrant: backup of 1500×${DIM} in ${backupMs} ms, restore by upload in ${restoreMs} ms`);
  });

  it('backup and restore through an alias: the snapshot is of the collection behind it and the restore recovers that collection; once that collection is deleted (its alias goes with it) the restore creates one by the alias name', async () => {
    const c = 'memories-aliased-v1';
    const alias = 'memories-aliased';
    await seed(server.client, c, 300, DIM);
    await acts.qdrantSwitchAlias({ alias, collection: c });
    const before = await collectionChecksum(server.client, c);
    await backup(alias, 'b1');
    const m = JSON.parse(await readFile(join(backupRoot, alias, 'b1', 'manifest.json'), 'utf8')) as {
      snapshotFile: string;
    };
    assert.ok(m.snapshotFile.startsWith(`${c}-`), `Qdrant names the snapshot after the collection: ${m.snapshotFile}`);
    await server.client.delete(c, { wait: true, points: [1, 2, 3] });
    const r = await acts.qdrantRestoreBackup({ collection: alias, backupName: 'b1' });
    assert.equal(r.pointsCount, 300);
    assert.equal((await collectionChecksum(server.client, c)).checksum, before.checksum);
    assert.equal((await aliasMap(server.client))[alias], c, 'the alias still points at the restored collection');

    await acts.qdrantDeleteCollection({ collection: c });
    assert.equal(
      (await aliasMap(server.client))[alias],
      undefined,
      'real Qdrant drops the alias of a deleted collection',
    );
    const again = await acts.qdrantRestoreBackup({ collection: alias, backupName: 'b1' });
    assert.equal(again.pointsCount, 300);
    assert.equal((await collectionChecksum(server.client, alias)).checksum, before.checksum);
    assert.equal(
      (await acts.qdrantInspect({ collection: alias })).aliasOf,
      undefined,
      'a collection now, not an alias',
    );
  });

  it('a backup whose file was corrupted after download is refused before anything changes', async () => {
    const c = 'memories-corrupt';
    await seed(server.client, c, 200, DIM);
    await backup(c, 'b1');
    const m = JSON.parse(await readFile(join(backupRoot, c, 'b1', 'manifest.json'), 'utf8')) as {
      snapshotFile: string;
    };
    const file = join(backupRoot, c, 'b1', m.snapshotFile);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
    await server.client.delete(c, { wait: true, points: [1] });
    const f = await failureOf(acts.qdrantRestoreBackup({ collection: c, backupName: 'b1' }));
    assert.equal(f.type, FailureType.VerificationFailed);
    assert.equal(f.nonRetryable, true);
    assert.equal((await server.client.count(c, { exact: true })).count, 199, 'nothing restored');
  });

  it('a backup consistent with its manifest but not a whole snapshot archive (truncated before it was recorded) fails as permanent, not as a retry', async () => {
    const c = 'memories-truncated';
    await seed(server.client, c, 200, DIM);
    await backup(c, 'b1');
    const dir = join(backupRoot, c, 'b1');
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    const file = join(dir, m.snapshotFile as string);
    const half = (await readFile(file)).subarray(0, 20_000);
    await writeFile(file, half);
    m.checksum = createHash('sha256').update(half).digest('hex');
    m.sizeBytes = half.length;
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
    const f = await failureOf(acts.qdrantRestoreBackup({ collection: c, backupName: 'b1' }));
    console.log(`real qdrant on a truncated snapshot: ${f.message}`);
    assert.equal(f.nonRetryable, true, `a snapshot Qdrant cannot read is not worth a retry: ${f.message}`);
    assert.equal(f.type, FailureType.VerificationFailed);
    assert.equal((await server.client.count(c, { exact: true })).count, 200, 'the collection is untouched');
  });

  it('schema-style copy: a collection created like another keeps settings and payload indexes; the alias switch is atomic for a reader querying through it', async () => {
    const v1 = 'memories-schema-v1';
    await server.client.createCollection(v1, {
      vectors: { size: DIM, distance: 'Cosine' },
      hnsw_config: { m: 24, ef_construct: 120 },
      optimizers_config: { indexing_threshold: 5000 },
    });
    await server.client.createPayloadIndex(v1, { wait: true, field_name: 'kind', field_schema: 'keyword' });
    await server.client.createPayloadIndex(v1, {
      wait: true,
      field_name: 'content',
      field_schema: { type: 'text', tokenizer: 'word', lowercase: true },
    });
    await seed(server.client, v1, 800, DIM);
    await acts.qdrantSwitchAlias({ alias: 'memories-schema', collection: v1 });

    const v2 = 'memories-schema-v2';
    const ensured = await acts.qdrantEnsureCollection({
      collection: v2,
      vectors: { size: DIM, distance: 'Cosine' },
      like: v1,
    });
    assert.equal(ensured.created, true);
    assert.deepEqual(ensured.settings?.payloadIndexes.map((i) => i.field).sort(), ['content', 'kind']);
    const copied = await acts.qdrantCopyPoints({ source: v1, target: v2, batchSize: 128 });
    assert.equal(copied.copied, 800);
    const info1 = await server.client.getCollection(v1);
    const info2 = await server.client.getCollection(v2);
    assert.deepEqual(info2.config.hnsw_config, info1.config.hnsw_config);
    assert.equal(info2.config.optimizer_config.indexing_threshold, 5000);
    assert.deepEqual(info2.payload_schema.content?.params, info1.payload_schema.content?.params);
    assert.equal(info2.payload_schema.kind?.data_type, 'keyword');
    const cmp = await acts.qdrantCompareSample({ source: v1, target: v2, samples: 32, vectors: { same: true } });
    assert.deepEqual(cmp.problems, []);
    assert.equal(
      (await collectionChecksum(server.client, v2)).checksum,
      (await collectionChecksum(server.client, v1)).checksum,
    );

    // a reader through the alias while it is switched back and forth
    const reader = new QdrantClient({ url: server.url, checkCompatibility: false });
    let stop = false;
    let reads = 0;
    const problems: string[] = [];
    const loop = (async () => {
      while (!stop) {
        try {
          const r = await reader.query('memories-schema', { query: vectorFor(5, DIM), limit: 3 });
          if (r.points.length === 0) problems.push('empty answer');
          reads++;
        } catch (err) {
          problems.push(String(err));
        }
      }
    })();
    for (let i = 0; i < 20; i++) {
      await acts.qdrantSwitchAlias({ alias: 'memories-schema', collection: i % 2 ? v1 : v2 });
    }
    stop = true;
    await loop;
    assert.deepEqual(problems, [], `a reader through the alias never failed or got nothing (${reads} reads)`);
    assert.ok(reads > 20, `the reader ran during the switches (${reads} reads)`);
    assert.equal((await aliasMap(server.client))['memories-schema'], v1);
  });

  it('emergency export: every point with payload and vector, one line each', async () => {
    const c = 'memories-export';
    await seed(server.client, c, 700, DIM);
    const e = await acts.qdrantExportNdjson({ collection: c, exportName: 'x1', batchSize: 200 });
    assert.equal(e.exported, 700);
    const lines = (await readFile(e.path, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 700);
    const first = JSON.parse(lines[0]!) as { id: number; payload: unknown; vector: number[] };
    assert.equal(first.vector.length, DIM);
    assert.deepEqual(new Set(lines.map((l) => (JSON.parse(l) as { id: number }).id)).size, 700);
  });

  it('config patch waits until the real collection is green again', async () => {
    const c = 'memories-patch';
    await seed(server.client, c, 300, DIM);
    const r = await acts.qdrantPatchCollection({ collection: c, patch: { hnsw_config: { m: 32 } } });
    assert.equal(r.status, 'green');
    assert.equal((await server.client.getCollection(c)).config.hnsw_config.m, 32);
  });

  it('SIGKILL of the server and a restart on the same storage: acknowledged writes survive, readiness answers again, a restore still works', async () => {
    const c = 'memories-crash';
    await seed(server.client, c, 400, DIM);
    const before = await collectionChecksum(server.client, c);
    await backup(c, 'b1');
    await server.kill();
    const down = await acts.qdrantReady({ timeoutSeconds: 1 });
    assert.equal(down.ready, false, 'not ready while the server is down');
    let t = Date.now();
    await server.restart();
    const restartMs = Date.now() - t;
    const up = await acts.qdrantReady({ timeoutSeconds: 30 });
    assert.equal(up.ready, true, up.body);
    assert.equal((await collectionChecksum(server.client, c)).checksum, before.checksum, 'nothing acknowledged lost');
    await server.client.delete(c, { wait: true, points: [10, 20, 30] });
    t = Date.now();
    assert.equal((await acts.qdrantRestoreBackup({ collection: c, backupName: 'b1' })).pointsCount, 400);
    assert.equal((await collectionChecksum(server.client, c)).checksum, before.checksum);
    console.log(`real qdrant: restart after SIGKILL ready in ${restartMs} ms; restore after it ${Date.now() - t} ms`);
  });
});

describe('Qdrant activities against a real Qdrant 1.18.3 server that requires an API key', () => {
  let server: QdrantServer;
  let backupRoot: string;
  before(async () => {
    server = await startQdrantServer({ apiKey: 'real-key-1' });
    backupRoot = await mkdtemp(join(tmpdir(), 'cortex-real-backups-'));
  });
  after(async () => {
    await server?.stop();
    await rm(backupRoot, { recursive: true, force: true });
  });

  it('with the key: snapshot, download and restore by upload work; with a wrong key every step is refused as permanent', async () => {
    const acts = createQdrantActivities({
      client: server.client,
      url: server.url,
      apiKey: 'real-key-1',
      backupRoot,
    });
    const c = 'memories-keyed';
    await seed(server.client, c, 250, DIM);
    const before = await collectionChecksum(server.client, c);
    const snap = await acts.qdrantCreateSnapshot({ collection: c });
    const file = await acts.qdrantDownloadSnapshot({
      collection: c,
      snapshotName: snap.name,
      checksum: snap.checksum ?? null,
      backupName: 'k1',
    });
    await acts.writeBackupManifest({
      name: 'k1',
      collection: c,
      pointsCount: 250,
      snapshotFile: snap.name,
      checksum: file.checksum,
      sizeBytes: file.sizeBytes,
      createdAt: new Date().toISOString(),
    });
    await server.client.delete(c, { wait: true, points: [1, 2] });
    assert.equal((await acts.qdrantRestoreBackup({ collection: c, backupName: 'k1' })).pointsCount, 250);
    assert.equal((await collectionChecksum(server.client, c)).checksum, before.checksum);

    const wrong = createQdrantActivities({
      client: new QdrantClient({ url: server.url, apiKey: 'wrong', checkCompatibility: false }),
      url: server.url,
      apiKey: 'wrong',
      backupRoot,
    });
    for (const [what, p] of [
      ['inspect', wrong.qdrantInspect({ collection: c })],
      ['snapshot', wrong.qdrantCreateSnapshot({ collection: c })],
      ['download', wrong.qdrantDownloadSnapshot({ collection: c, snapshotName: snap.name, backupName: 'k2' })],
      ['restore', wrong.qdrantRestoreBackup({ collection: c, backupName: 'k1' })],
    ] as const) {
      const f = await failureOf(p);
      assert.equal(f.nonRetryable, true, `${what}: a wrong key is not worth a retry (${f.message})`);
      assert.match(f.message, /401/, `${what}: ${f.message}`);
    }
  });
});
