// Tests of the Qdrant double (test/qdrant-double) through the official JS client. With QDRANT_URL set (optionally
// QDRANT_API_KEY, and QDRANT_SNAPSHOTS_PATH = the server-side snapshots directory, default /qdrant/snapshots) the same
// API tests run against that real server instead, which is how the double is kept honest; double-only features are
// then skipped.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { startQdrantDouble, type QdrantDouble } from '../qdrant-double/server.ts';

const REAL_URL = process.env.QDRANT_URL;
const doubleOnly = (what: string): string | false => (REAL_URL ? `double-only feature: ${what}` : false);
const RUN = randomUUID().slice(0, 8);
const name = (suffix: string): string => `qdt-${RUN}-${suffix}`;

interface QdrantErrorLike {
  status?: number;
  data?: { status?: { error?: string } };
}

async function rejectsWith(p: Promise<unknown>, status: number, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    const e = err as QdrantErrorLike;
    assert.equal(e.status, status, `expected HTTP ${status}, got ${String(e.status)}: ${String(err)}`);
    if (pattern) assert.match(e.data?.status?.error ?? '', pattern);
    return true;
  });
}

const unit = (i: number, dim: number): number[] =>
  Array.from({ length: dim }, (_, j) => (j === i % dim ? 1 : 0.01 * j));

describe('Qdrant double', () => {
  let double: QdrantDouble | undefined;
  let dataDir = '';
  let url = '';
  let apiKey: string | undefined;
  let client: QdrantClient;
  let serverSnapshotsDir = '';

  const headers = (): Record<string, string> => (apiKey ? { 'api-key': apiKey } : {});
  const raw = (path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${url}${path}`, { ...init, headers: { ...headers(), ...(init.headers as Record<string, string>) } });

  async function makeCollection(n: string, size = 4, distance: 'Cosine' | 'Dot' | 'Euclid' | 'Manhattan' = 'Cosine') {
    await client.createCollection(n, { vectors: { size, distance } });
  }
  async function fill(n: string, count: number, dim = 4): Promise<void> {
    for (let start = 0; start < count; start += 256) {
      const ids = Array.from({ length: Math.min(256, count - start) }, (_, i) => start + i);
      await client.upsert(n, {
        wait: true,
        points: ids.map((id) => ({ id, vector: unit(id, dim), payload: { n: id } })),
      });
    }
  }

  before(async () => {
    if (REAL_URL) {
      url = REAL_URL.replace(/\/$/, '');
      apiKey = process.env.QDRANT_API_KEY;
      serverSnapshotsDir = process.env.QDRANT_SNAPSHOTS_PATH ?? '/qdrant/snapshots';
    } else {
      dataDir = await mkdtemp(join(tmpdir(), 'qdrant-double-'));
      double = await startQdrantDouble({ dataDir });
      url = double.url;
      serverSnapshotsDir = double.snapshotsDir;
    }
    client = new QdrantClient({ url, apiKey, checkCompatibility: false });
  });

  after(async () => {
    if (REAL_URL) {
      const { collections } = await client.getCollections();
      for (const c of collections) if (c.name.startsWith(`qdt-${RUN}`)) await client.deleteCollection(c.name);
    }
    await double?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('serves the service endpoints', async () => {
    const root = (await (await raw('/')).json()) as { title: string; version: string };
    assert.equal(root.title, 'qdrant - vector search engine');
    assert.match(root.version, /^1\.\d+\.\d+/);
    assert.equal(await (await raw('/healthz')).text(), 'healthz check passed');
    assert.equal(await (await raw('/readyz')).text(), 'all shards are ready');
  });

  it('creates, reads, patches and deletes a collection', async () => {
    const n = name('crud');
    assert.equal(await client.createCollection(n, { vectors: { size: 4, distance: 'Dot' } }), true);
    await rejectsWith(client.createCollection(n, { vectors: { size: 4, distance: 'Dot' } }), 409, /already exists/);
    assert.deepEqual(await client.collectionExists(n), { exists: true });
    const info = await client.getCollection(n);
    assert.equal(info.status, 'green');
    assert.equal(info.points_count, 0);
    assert.deepEqual(info.config.params.vectors, { size: 4, distance: 'Dot' });
    assert.ok((await client.getCollections()).collections.some((c) => c.name === n));

    assert.equal(
      await client.updateCollection(n, {
        optimizers_config: { indexing_threshold: 20000 },
        hnsw_config: { m: 32 },
        vectors: { '': { on_disk: true } },
      }),
      true,
    );
    const patched = await client.getCollection(n);
    assert.equal(patched.config.optimizer_config.indexing_threshold, 20000);
    assert.equal(patched.config.hnsw_config.m, 32);
    assert.deepEqual(patched.config.params.vectors, { size: 4, distance: 'Dot', on_disk: true });

    assert.equal(await client.deleteCollection(n), true);
    assert.deepEqual(await client.collectionExists(n), { exists: false });
    assert.equal(await client.deleteCollection(n), false);
    await rejectsWith(client.getCollection(n), 404, /Collection `.*` doesn't exist!/);
  });

  it('switches aliases atomically and reads through them', async () => {
    const [a, b, alias] = [name('alias-a'), name('alias-b'), name('current')];
    await makeCollection(a);
    await makeCollection(b);
    await fill(a, 3);
    await fill(b, 5);
    await client.updateCollectionAliases({ actions: [{ create_alias: { collection_name: a, alias_name: alias } }] });
    assert.equal((await client.count(alias)).count, 3);
    await client.updateCollectionAliases({
      actions: [{ delete_alias: { alias_name: alias } }, { create_alias: { collection_name: b, alias_name: alias } }],
    });
    assert.equal((await client.count(alias)).count, 5);
    assert.equal((await client.scroll(alias, { limit: 10 })).points.length, 5);
    assert.deepEqual((await client.getCollectionAliases(b)).aliases, [{ alias_name: alias, collection_name: b }]);
    assert.deepEqual((await client.getCollectionAliases(a)).aliases, []);
    const renamed = name('renamed');
    await client.updateCollectionAliases({
      actions: [{ rename_alias: { old_alias_name: alias, new_alias_name: renamed } }],
    });
    const all = (await client.getAliases()).aliases.filter((x) => x.alias_name.startsWith(`qdt-${RUN}`));
    assert.deepEqual(all, [{ alias_name: renamed, collection_name: b }]);
    await rejectsWith(
      client.updateCollectionAliases({
        actions: [{ create_alias: { collection_name: name('missing'), alias_name: alias } }],
      }),
      404,
    );
  });

  it('upserts, counts exactly and scrolls every point exactly once', async () => {
    const n = name('scroll');
    await makeCollection(n);
    await fill(n, 1000);
    assert.equal((await client.count(n, { exact: true })).count, 1000);
    const seen = new Map<unknown, number>();
    let offset: number | string | null | undefined;
    let pages = 0;
    do {
      const page = await client.scroll(n, { limit: 100, offset: offset ?? undefined, with_payload: true });
      for (const p of page.points) seen.set(p.id, (seen.get(p.id) ?? 0) + 1);
      offset = page.next_page_offset as number | string | null | undefined;
      pages++;
    } while (offset != null);
    assert.equal(pages, 10);
    assert.equal(seen.size, 1000);
    assert.ok([...seen.values()].every((c) => c === 1));

    await client.upsert(n, {
      wait: true,
      batch: { ids: [5000, 5001], vectors: [unit(1, 4), unit(2, 4)], payloads: [{ b: 1 }, null] },
    });
    assert.equal((await client.count(n, { filter: { must: [{ key: 'b', match: { value: 1 } }] } })).count, 1);
    const uuid = randomUUID();
    await client.upsert(n, { wait: true, points: [{ id: uuid, vector: [0.5, 0.5, 0.5, 0.5], payload: { u: true } }] });
    const [got] = await client.retrieve(n, { ids: [uuid], with_vector: true });
    assert.deepEqual(got?.vector, [0.5, 0.5, 0.5, 0.5]);
    await client.delete(n, { wait: true, points: [uuid, 5000, 5001] });
    assert.equal((await client.count(n)).count, 1000);
  });

  for (const distance of ['Cosine', 'Dot', 'Euclid', 'Manhattan'] as const) {
    it(`queries the nearest point by ${distance}`, async () => {
      const n = name(`query-${distance.toLowerCase()}`);
      await makeCollection(n, 8, distance);
      await fill(n, 40, 8);
      const target = unit(13, 8);
      const res = await client.query(n, { query: target, limit: 3, with_payload: true });
      assert.equal(res.points.length, 3);
      const ids = res.points.map((p) => p.id as number);
      assert.deepEqual(ids, [5, 13, 21], 'identical vectors tie; ties are ordered by id');
      assert.deepEqual(res.points[0]?.payload, { n: ids[0] });
      const filtered = await client.query(n, {
        query: target,
        limit: 1,
        filter: { must: [{ key: 'n', match: { value: 21 } }] },
      });
      assert.deepEqual(
        filtered.points.map((p) => p.id),
        [21],
      );
    });
  }

  it('rejects vectors of the wrong size with 400', async () => {
    const n = name('dims');
    await makeCollection(n);
    await rejectsWith(
      client.upsert(n, { wait: true, points: [{ id: 1, vector: [1, 2, 3] }] }),
      400,
      /Vector dimension error: expected dim: 4, got 3/,
    );
    await rejectsWith(
      client.query(n, { query: [1, 2, 3, 4, 5] }),
      400,
      /Vector dimension error: expected dim: 4, got 5/,
    );
    assert.equal((await client.count(n)).count, 0);
  });

  describe('snapshots', () => {
    const src = name('snap');
    let snapshot = '';
    const location = (collection: string, file: string) => `file://${serverSnapshotsDir}/${collection}/${file}`;

    before(async () => {
      await makeCollection(src);
      await fill(src, 50);
      const desc = await client.createSnapshot(src);
      assert.ok(desc);
      snapshot = desc.name;
    });

    it('creates, lists, downloads and deletes snapshots', async () => {
      assert.match(snapshot, new RegExp(`^${src}-\\d+-\\d{4}(-\\d\\d){5}\\.snapshot$`));
      const listed = (await client.listSnapshots(src)).find((s) => s.name === snapshot);
      assert.ok(listed?.checksum && listed.size > 0);
      const res = await raw(`/collections/${src}/snapshots/${snapshot}`);
      assert.equal(res.status, 200);
      const bytes = Buffer.from(await res.arrayBuffer());
      assert.equal(bytes.length, listed.size);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), listed.checksum);

      const extra = await client.createSnapshot(src);
      assert.ok(extra);
      assert.equal(await client.deleteSnapshot(src, extra.name), true);
      assert.ok(!(await client.listSnapshots(src)).some((s) => s.name === extra.name));
      await rejectsWith(client.deleteSnapshot(src, extra.name), 404);
    });

    it('writes the checksum file next to the snapshot', { skip: doubleOnly('snapshot files on disk') }, async () => {
      const sum = await readFile(join(serverSnapshotsDir, src, `${snapshot}.checksum`), 'utf8');
      const file = await readFile(join(serverSnapshotsDir, src, snapshot));
      assert.equal(sum, createHash('sha256').update(file).digest('hex'));
    });

    it('recovers a collection from a file:// snapshot', async () => {
      await client.delete(src, { wait: true, points: [0, 1, 2] });
      assert.equal((await client.count(src)).count, 47);
      assert.equal(await client.recoverSnapshot(src, { location: location(src, snapshot) }), true);
      assert.equal((await client.count(src)).count, 50);
      const fresh = name('snap-new');
      const listed = (await client.listSnapshots(src)).find((s) => s.name === snapshot);
      assert.equal(
        await client.recoverSnapshot(fresh, { location: location(src, snapshot), checksum: listed?.checksum }),
        true,
      );
      assert.equal((await client.count(fresh)).count, 50);
      assert.deepEqual((await client.getCollection(fresh)).config.params.vectors, { size: 4, distance: 'Cosine' });
    });

    it('refuses file:// locations outside the snapshots directory with 403', async () => {
      await rejectsWith(client.recoverSnapshot(src, { location: 'file:///etc/passwd' }), 403, /^Forbidden: /);
    });

    it('refuses a checksum mismatch and leaves the collection untouched', async () => {
      await client.delete(src, { wait: true, points: [7] });
      await rejectsWith(
        client.recoverSnapshot(src, { location: location(src, snapshot), checksum: '0'.repeat(64) }),
        400,
        /checksum mismatch/i,
      );
      assert.equal((await client.count(src)).count, 49);
    });

    it('detects a corrupted snapshot file', { skip: doubleOnly('editing snapshot files on disk') }, async () => {
      const listed = (await client.listSnapshots(src)).find((s) => s.name === snapshot);
      const copy = `corrupt-${snapshot}`;
      const bytes = await readFile(join(serverSnapshotsDir, src, snapshot));
      bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
      await writeFile(join(serverSnapshotsDir, src, copy), bytes);
      await rejectsWith(
        client.recoverSnapshot(src, { location: location(src, copy), checksum: listed?.checksum }),
        400,
        /checksum mismatch/,
      );
      await writeFile(join(serverSnapshotsDir, src, copy), bytes.subarray(0, bytes.length - 100));
      // Qdrant 1.18.3 answers a snapshot that is not a whole archive with a 500 (test/integration/qdrant-conformance)
      await rejectsWith(
        client.recoverSnapshot(src, { location: location(src, copy) }),
        500,
        /^Service internal error: File IO error: Malformed/,
      );
      assert.equal((await client.count(src)).count, 49);
    });

    it('refuses a snapshot whose vector size differs from the existing collection', async () => {
      const other = name('snap-8d');
      await makeCollection(other, 8);
      await fill(other, 2, 8);
      await rejectsWith(
        client.recoverSnapshot(other, { location: location(src, snapshot) }),
        400,
        /snapshot is not compatible with existing collection/i,
      );
      assert.equal((await client.count(other)).count, 2);
    });

    it('recovers from an uploaded snapshot (multipart)', async () => {
      const bytes = Buffer.from(await (await raw(`/collections/${src}/snapshots/${snapshot}`)).arrayBuffer());
      const sum = createHash('sha256').update(bytes).digest('hex');
      const upload = (target: string, checksum: string) => {
        const form = new FormData();
        form.append('snapshot', new Blob([bytes]), snapshot);
        return raw(`/collections/${target}/snapshots/upload?priority=snapshot&checksum=${checksum}`, {
          method: 'POST',
          body: form,
        });
      };
      const target = name('uploaded');
      const bad = await upload(target, 'f'.repeat(64));
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { status: { error: string } }).status.error, /checksum mismatch/i);
      const res = await upload(target, sum);
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(((await res.json()) as { result: boolean }).result, true);
      assert.equal((await client.count(target)).count, 50);
    });
  });

  it('answers an invalid request with 400 and records a violation', { skip: doubleOnly('violations') }, async () => {
    const d = double as QdrantDouble;
    const n = name('invalid');
    await makeCollection(n);
    const res = await raw(`/collections/${n}/points/scroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ limit: 'ten' }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { status: { error: string } };
    assert.match(body.status.error, /^Format error in JSON body: /);
    assert.equal(d.violations.length, 1);
    assert.match(d.violations[0] ?? '', /points\/scroll.*limit/);
    const zero = await raw(`/collections/${n}/points/scroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ limit: 0 }),
    });
    assert.equal(zero.status, 422);
    assert.equal((await raw('/no/such/route')).status, 404);
    assert.equal(d.violations.length, 3);
    d.violations.splice(0);
  });

  it('fails the next N requests on demand', { skip: doubleOnly('fault injection') }, async () => {
    const d = double as QdrantDouble;
    d.faults.failNext(2);
    await rejectsWith(client.getCollections(), 503);
    await rejectsWith(client.getCollections(), 503);
    assert.ok(Array.isArray((await client.getCollections()).collections));
    d.faults.failNext(1, 500);
    await rejectsWith(client.getCollections(), 500);
    assert.deepEqual(
      d.requests.slice(-4).map((r) => r.status),
      [503, 503, 200, 500],
    );
  });

  it(
    'fails only the targeted kind of request, with Qdrant error envelopes, as many times as asked',
    { skip: doubleOnly('fault injection') },
    async () => {
      const d = double as QdrantDouble;
      const a = name('fw-a');
      const b = name('fw-b');
      await makeCollection(a);
      await makeCollection(b);
      const rule = d.faults.failWhen({
        method: 'PUT',
        path: new RegExp(`^/collections/${a}/points$`),
        status: 400,
        times: 2,
        message: 'Wrong input: upsert refused for the test',
      });
      const up = (n: string, id: number) => client.upsert(n, { wait: true, points: [{ id, vector: [1, 0, 0, 0] }] });
      await up(b, 1); // another collection's upsert is not targeted
      const res = await raw(`/collections/${a}/points?wait=true`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ points: [{ id: 1, vector: [1, 0, 0, 0] }] }),
      });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { status: { error: string }; time: number };
      assert.deepEqual(Object.keys(body).sort(), ['status', 'time']);
      assert.equal(body.status.error, 'Wrong input: upsert refused for the test');
      await rejectsWith(up(a, 2), 400, /upsert refused/);
      assert.equal((await client.count(a)).count, 0, 'a refusal happens before the operation runs');
      assert.equal((await client.getCollection(a)).status, 'green', 'other operations on it are not targeted');
      await up(a, 3); // the budget of 2 is spent
      assert.equal((await client.count(a)).count, 1);
      assert.equal(rule.hits(), 2);

      // by operationId, answered after the change took effect
      d.faults.failWhen({ operationId: 'update_aliases', status: 500, after: true });
      await rejectsWith(
        client.updateCollectionAliases({ actions: [{ create_alias: { alias_name: `${a}-al`, collection_name: a } }] }),
        500,
        /update_aliases failed/,
      );
      const { aliases } = await client.getAliases();
      assert.equal(aliases.find((x) => x.alias_name === `${a}-al`)?.collection_name, a);

      // text-only endpoints answer in text, as Qdrant's readyz does
      const ready = d.faults.failWhen({ operationId: 'readyz', status: 503, message: 'some shards are not ready' });
      const r = await raw('/readyz');
      assert.deepEqual([r.status, await r.text()], [503, 'some shards are not ready']);
      assert.equal((await raw('/readyz')).status, 200);
      assert.equal(ready.hits(), 1);

      const third = d.faults.failWhen({ operationId: 'count_points', skip: 2, status: 400 });
      await client.count(b);
      await client.count(b);
      await rejectsWith(client.count(b), 400, /count_points refused/);
      assert.equal(third.hits(), 1);

      const forever = d.faults.failWhen({ operationId: 'get_collection', times: Infinity, status: 404 });
      await rejectsWith(client.getCollection(b), 404);
      await rejectsWith(client.getCollection(b), 404);
      forever.clear();
      assert.equal((await client.getCollection(b)).status, 'green');
      assert.throws(() => d.faults.failWhen({ status: 500 }), /needs a method, path or operationId/);
    },
  );

  it('delays every request on demand', { skip: doubleOnly('fault injection') }, async () => {
    const d = double as QdrantDouble;
    d.faults.delay(150);
    const t0 = performance.now();
    await client.getCollections();
    assert.ok(performance.now() - t0 >= 140);
    d.faults.delay(0);
    const t1 = performance.now();
    await client.getCollections();
    assert.ok(performance.now() - t1 < 140);
  });

  it(
    'drops the connection mid-response on demand, after applying the operation',
    { skip: doubleOnly('fault injection') },
    async () => {
      const d = double as QdrantDouble;
      const n = name('drop');
      await makeCollection(n);
      d.faults.dropNext(1);
      await assert.rejects(client.upsert(n, { wait: true, points: [{ id: 1, vector: [1, 0, 0, 0] }] }));
      assert.equal((await client.count(n)).count, 1);
      d.faults.dropNext(1);
      await assert.rejects(client.getCollections());
      assert.ok((await client.getCollections()).collections.length > 0);
    },
  );

  it('requires the api key when configured', { skip: doubleOnly('api-key switch') }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qdrant-double-key-'));
    const keyed = await startQdrantDouble({ dataDir: dir, apiKey: 'sekret' });
    try {
      assert.equal((await fetch(`${keyed.url}/healthz`)).status, 200);
      const none = await fetch(`${keyed.url}/collections`);
      assert.equal(none.status, 401);
      assert.match(await none.text(), /Must provide an API key/);
      assert.equal((await fetch(`${keyed.url}/collections`, { headers: { 'api-key': 'nope' } })).status, 401);
      assert.equal(
        (await fetch(`${keyed.url}/collections`, { headers: { authorization: 'Bearer sekret' } })).status,
        200,
      );
      const c = new QdrantClient({ url: keyed.url, apiKey: 'sekret', checkCompatibility: false });
      assert.deepEqual(await c.getCollections(), { collections: [] });
      assert.deepEqual(keyed.violations, []);
    } finally {
      await keyed.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('persists collections, points and aliases across stop/start', { skip: doubleOnly('persistence') }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qdrant-double-persist-'));
    try {
      let d = await startQdrantDouble({ dataDir: dir });
      let c = new QdrantClient({ url: d.url, checkCompatibility: false });
      await c.createCollection('p', { vectors: { size: 4, distance: 'Euclid' }, hnsw_config: { m: 8 } });
      await c.upsert('p', {
        wait: true,
        points: [1, 2, 3].map((id) => ({ id, vector: unit(id, 4), payload: { id } })),
      });
      await c.upsert('p', { wait: true, points: [{ id: 2, vector: unit(0, 4), payload: { id: 22 } }] });
      await c.delete('p', { wait: true, points: [3] });
      await c.createPayloadIndex('p', { field_name: 'id', field_schema: 'integer', wait: true });
      await c.updateCollectionAliases({ actions: [{ create_alias: { collection_name: 'p', alias_name: 'pa' } }] });
      await d.stop();
      // A crash mid-append leaves a torn record at the end of the log; it must be ignored.
      await appendFile(join(dir, 'collections', 'p', 'points.log'), Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]));

      d = await startQdrantDouble({ dataDir: dir });
      c = new QdrantClient({ url: d.url, checkCompatibility: false });
      const info = await c.getCollection('pa');
      assert.equal(info.points_count, 2);
      assert.equal(info.config.hnsw_config.m, 8);
      assert.equal(info.payload_schema.id?.data_type, 'integer');
      const { points } = await c.scroll('pa', { with_vector: true });
      assert.deepEqual(
        points.map((p) => [p.id, p.payload]),
        [
          [1, { id: 1 }],
          [2, { id: 22 }],
        ],
      );
      assert.deepEqual(points[1]?.vector, unit(0, 4));
      await c.upsert('p', { wait: true, points: [{ id: 4, vector: unit(4, 4) }] });
      assert.equal((await c.upsert('p', { wait: true, points: [{ id: 5, vector: unit(5, 4) }] })).operation_id, 5);
      await d.stop();
      d = await startQdrantDouble({ dataDir: dir });
      assert.equal((await new QdrantClient({ url: d.url, checkCompatibility: false }).count('pa')).count, 4);
      assert.deepEqual(d.violations, []);
      await d.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('collection settings (schema rollbacks carry them)', () => {
    const n = name('settings');
    const settings = {
      vectors: { size: 4, distance: 'Cosine' as const, on_disk: true, hnsw_config: { m: 8 } },
      sparse_vectors: { keywords: { modifier: 'idf' as const } },
      shard_number: 2,
      replication_factor: 2,
      write_consistency_factor: 2,
      on_disk_payload: false,
      hnsw_config: { m: 24, ef_construct: 120, payload_m: 24 },
      optimizers_config: { indexing_threshold: 5000, default_segment_number: 3, max_optimization_threads: 2 },
      wal_config: { wal_capacity_mb: 16 },
      quantization_config: { scalar: { type: 'int8' as const, quantile: 0.99, always_ram: true } },
      strict_mode_config: { enabled: true, unindexed_filtering_retrieve: false, unindexed_filtering_update: false },
      metadata: { owner: 'cortex', tier: 2 },
    };

    before(async () => {
      // the raw API: the client's createCollection drops `metadata`
      assert.equal((await client.api().createCollection({ collection_name: n, ...settings })).data.result, true);
      await client.upsert(n, {
        wait: true,
        points: [1, 2, 3].map((id) => ({
          id,
          vector: unit(id, 4),
          payload: { kind: id === 2 ? 'note' : 'memory', n: id, ...(id < 3 ? { text: `memory item ${id}` } : {}) },
        })),
      });
    });

    it('answers collection info with every create setting in 1.19 shape', async () => {
      const { config } = await client.getCollection(n);
      assert.deepEqual(config.params, {
        vectors: { size: 4, distance: 'Cosine', on_disk: true, hnsw_config: { m: 8 } },
        sparse_vectors: { keywords: { modifier: 'idf' } },
        shard_number: 2,
        replication_factor: 2,
        write_consistency_factor: 2,
        on_disk_payload: false,
      });
      assert.deepEqual(
        { m: config.hnsw_config.m, ef: config.hnsw_config.ef_construct, payload_m: config.hnsw_config.payload_m },
        { m: 24, ef: 120, payload_m: 24 },
      );
      assert.equal(config.optimizer_config.indexing_threshold, 5000);
      assert.equal(config.optimizer_config.default_segment_number, 3);
      assert.equal(config.optimizer_config.max_optimization_threads, 2);
      assert.equal(config.wal_config?.wal_capacity_mb, 16);
      assert.deepEqual(config.quantization_config, settings.quantization_config);
      assert.deepEqual(config.strict_mode_config, settings.strict_mode_config);
      assert.deepEqual(config.metadata, settings.metadata);
    });

    it('creates payload indexes with params and reports them with their point counts', async () => {
      const text = { type: 'text' as const, tokenizer: 'word' as const, min_token_len: 2, lowercase: true };
      await client.createPayloadIndex(n, { wait: true, field_name: 'kind', field_schema: 'keyword' });
      await client.createPayloadIndex(n, { wait: true, field_name: 'text', field_schema: text });
      await client.createPayloadIndex(n, {
        wait: true,
        field_name: 'n',
        field_schema: { type: 'integer', lookup: true, range: true },
      });
      const { payload_schema } = await client.getCollection(n);
      assert.deepEqual(payload_schema, {
        kind: { data_type: 'keyword', points: 3 },
        text: { data_type: 'text', params: text, points: 2 },
        // Qdrant 1.18.3 fills in is_principal (test/integration/qdrant-conformance)
        n: {
          data_type: 'integer',
          params: { type: 'integer', lookup: true, range: true, is_principal: null },
          points: 3,
        },
      });
      await client.deletePayloadIndex(n, 'n', { wait: true });
      assert.deepEqual(Object.keys((await client.getCollection(n)).payload_schema).sort(), ['kind', 'text']);
    });

    it('refuses a filter on an unindexed key under strict mode, as Qdrant does', async () => {
      const byN = { must: [{ key: 'n', range: { gte: 2 } }] };
      await rejectsWith(
        client.count(n, { filter: byN, exact: true }),
        400,
        /^Bad request: Index required but not found for "n" of one of the following types: \[integer, float\]/,
      );
      await rejectsWith(client.scroll(n, { filter: byN }), 400, /Index required but not found for "n"/);
      await rejectsWith(client.delete(n, { wait: true, filter: byN }), 400, /Index required but not found for "n"/);
      const byKind = { must: [{ key: 'kind', match: { value: 'note' } }] };
      assert.equal((await client.count(n, { filter: byKind, exact: true })).count, 1);
      const hits = await client.query(n, { query: unit(2, 4), filter: byKind, limit: 3 });
      assert.deepEqual(
        hits.points.map((p) => p.id),
        [2],
      );
    });

    it('stores sparse vectors beside the dense one and answers every vector by name', async () => {
      const sparse = { indices: [7, 2, 40], values: [0.5, 1.25, 0.1] };
      await client.upsert(n, {
        wait: true,
        points: [{ id: 4, vector: { '': unit(4, 4), keywords: sparse }, payload: {} }],
      });
      const [withSparse] = await client.retrieve(n, { ids: [4], with_vector: true });
      const named = withSparse?.vector as { '': number[]; keywords: unknown };
      assert.deepEqual(Object.keys(named), ['', 'keywords']);
      assert.equal(named[''].length, 4);
      assert.deepEqual(named.keywords, sparse);
      const [denseOnly] = await client.retrieve(n, { ids: [1], with_vector: true });
      assert.ok(Array.isArray(denseOnly?.vector), 'a point with only the unnamed vector answers a plain list');
      const has = await client.scroll(n, { filter: { must: [{ has_vector: 'keywords' }] }, with_payload: false });
      assert.deepEqual(
        has.points.map((p) => p.id),
        [4],
      );
      await rejectsWith(
        client.upsert(n, {
          wait: true,
          points: [{ id: 5, vector: { '': unit(5, 4), keywords: { indices: [1, 1], values: [1, 2] } } }],
        }),
        422,
        /indices must be unique/,
      );
    });

    it('keeps settings and payload indexes through a snapshot and its recovery', async () => {
      const desc = await client.createSnapshot(n);
      assert.ok(desc);
      const fresh = name('settings-restored');
      const location = `file://${serverSnapshotsDir}/${n}/${desc.name}`;
      assert.equal(await client.recoverSnapshot(fresh, { location }), true);
      const [before, after] = [await client.getCollection(n), await client.getCollection(fresh)];
      assert.deepEqual(after.config, before.config);
      assert.deepEqual(after.payload_schema, before.payload_schema);
      const all = async (c: string) => (await client.scroll(c, { with_vector: true, with_payload: true })).points;
      assert.deepEqual(await all(fresh), await all(n));
    });
  });

  it('saw no spec violations in all of the above', { skip: doubleOnly('violations') }, () => {
    assert.deepEqual(double?.violations, []);
  });
});
