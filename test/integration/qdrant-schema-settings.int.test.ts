// Schema rollbacks keep the collection's settings: a collection with payload indexes of several types, custom
// hnsw/optimizer/wal/quantization/strict-mode config, metadata, a sparse vector, 2 shards × 2 replicas is rolled
// back in alias mode (re-embedded to 4 dimensions) and in recreate mode (distance only). Every setting and index is
// asserted on the new collection through the Qdrant client, a filtered search on indexed fields must work under
// strict mode (which refuses filters on unindexed keys), and the whole collection's checksum must match the source.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Schemas } from '@qdrant/js-client-rest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { QdrantSchemaRollbackResult } from '../../workflows/database/schema.ts';
import { embedText } from '../helpers/embeddings.ts';
import { vectorFor, type TestQdrant } from '../helpers/qdrant.ts';
import { startQdrantWorld, type QdrantWorld } from '../helpers/qdrant-world.ts';
import { APPROVER, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { workflowFailure } from '../helpers/failures.ts';

// the committed approval policy: roster approvers, the requester someone else (four eyes)
const EM = APPROVER.database;
const POINTS = 300;

const SETTINGS = {
  vectors: { size: 8, distance: 'Cosine' as const, on_disk: true, hnsw_config: { m: 12 } },
  sparse_vectors: { keywords: { modifier: 'idf' as const } },
  shard_number: 2,
  replication_factor: 2,
  write_consistency_factor: 2,
  on_disk_payload: false,
  hnsw_config: { m: 24, ef_construct: 150, full_scan_threshold: 5000, payload_m: 24 },
  optimizers_config: { indexing_threshold: 5000, default_segment_number: 3, deleted_threshold: 0.3 },
  wal_config: { wal_capacity_mb: 16, wal_segments_ahead: 1 },
  quantization_config: { scalar: { type: 'int8' as const, quantile: 0.99, always_ram: true } },
  strict_mode_config: { enabled: true, unindexed_filtering_retrieve: false, unindexed_filtering_update: false },
  metadata: { owner: 'cortex-memory', schema: 7 },
};
const INDEXES: Array<[string, Schemas['PayloadFieldSchema']]> = [
  ['kind', 'keyword'],
  ['n', { type: 'integer', lookup: true, range: true }],
  ['content', { type: 'text', tokenizer: 'word', min_token_len: 2, max_token_len: 20, lowercase: true }],
  ['score', 'float'],
  ['pinned', 'bool'],
  ['at', { type: 'datetime', is_principal: false }],
];
// What the result must list, in the create body's names, in the order Qdrant 1.18.3 lists the settings (the vector's
// params in their struct's field order: hnsw_config before on_disk).
const CARRIED = [
  'vectors.hnsw_config',
  'vectors.on_disk',
  'shard_number',
  'replication_factor',
  'write_consistency_factor',
  'on_disk_payload',
  'sparse_vectors.keywords',
  'read_fan_out_factor (applied by an update: CreateCollection does not take it)',
  'hnsw_config',
  'optimizers_config',
  'wal_config',
  'quantization_config',
  'strict_mode_config',
  'metadata',
];

const payloadOf = (id: number) => ({
  content: `memory item ${id}`,
  kind: id % 3 === 0 ? 'note' : 'memory',
  n: id,
  score: id / 10,
  pinned: id % 7 === 0,
  at: new Date(Date.UTC(2026, 0, 1) + id * 3_600_000).toISOString(),
});

const sparseFor = (id: number) => ({ indices: [id % 50, 100 + (id % 7)], values: [id / 8, 0.5] });

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
  );
}

describe('schema rollbacks carry the collection settings', () => {
  let env: TestWorkflowEnvironment;
  let q: TestQdrant;
  let world: QdrantWorld;
  let taskQueue: string;

  before(async () => {
    world = await startQdrantWorld({ queue: 'schema-settings', embedderSize: 4 });
    ({ env, q, taskQueue } = world);
  });
  after(async () => {
    await world?.stop();
  });

  const rollback = (input: Record<string, unknown>) =>
    env.client.workflow.execute('qdrantSchemaRollback', {
      taskQueue,
      workflowId: uniqueQueue('schema-settings-rollback'),
      args: [{ reason: 'settings must survive', requestedBy: REQUESTER, approval: { preApproved: EM }, ...input }],
    }) as Promise<QdrantSchemaRollbackResult>;

  async function seedWithSettings(name: string): Promise<Schemas['CollectionInfo']> {
    // the raw API: the client's createCollection drops `metadata`
    await q.client.api().createCollection({ collection_name: name, ...SETTINGS });
    await q.client.updateCollection(name, { params: { read_fan_out_factor: 1 } });
    for (const [field, schema] of INDEXES)
      await q.client.createPayloadIndex(name, { wait: true, field_name: field, field_schema: schema });
    for (let start = 1; start <= POINTS; start += 100) {
      const ids = Array.from({ length: 100 }, (_, i) => start + i);
      await q.client.upsert(name, {
        wait: true,
        points: ids.map((id) => ({
          id,
          vector: { '': vectorFor(id, 8), keywords: sparseFor(id) },
          payload: payloadOf(id),
        })),
      });
    }
    return q.client.getCollection(name);
  }

  /** sha256 over every point (sorted by id): id, canonical payload and, unless left out, the vector. */
  async function checksum(name: string, withVectors: boolean): Promise<{ count: number; sha: string }> {
    const h = createHash('sha256');
    let offset: Schemas['ExtendedPointId'] | undefined;
    let count = 0;
    do {
      const page = await q.client.scroll(name, {
        limit: 128,
        with_payload: true,
        with_vector: withVectors,
        ...(offset !== undefined ? { offset } : {}),
      });
      for (const p of page.points) {
        // canonical vectors too: Qdrant lists a point's named vectors in no fixed order (a hash map)
        h.update(JSON.stringify([p.id, canonical(p.payload), withVectors ? canonical(p.vector) : null]));
        count++;
      }
      offset = (page.next_page_offset as Schemas['ExtendedPointId'] | null | undefined) ?? undefined;
    } while (offset !== undefined);
    return { count, sha: h.digest('hex') };
  }

  /** Everything but the rolled-back vector's size/distance equals the source's; payload indexes with their params. */
  function assertCarried(
    now: Schemas['CollectionInfo'],
    source: Schemas['CollectionInfo'],
    vectors: { size: number; distance: string },
  ) {
    const { vectors: nowVectors, ...nowParams } = now.config.params;
    const { vectors: srcVectors, ...srcParams } = source.config.params;
    assert.deepEqual(nowVectors, { ...(srcVectors as object), ...vectors });
    assert.deepEqual(nowParams, srcParams);
    assert.equal(nowParams.shard_number, 2);
    assert.equal(nowParams.replication_factor, 2);
    assert.deepEqual(nowParams.sparse_vectors, SETTINGS.sparse_vectors);
    assert.equal(nowParams.read_fan_out_factor, 1);
    for (const k of ['hnsw_config', 'optimizer_config', 'wal_config', 'quantization_config'] as const)
      assert.deepEqual(now.config[k], source.config[k], k);
    assert.deepEqual(now.config.strict_mode_config, SETTINGS.strict_mode_config);
    assert.deepEqual((now.config as { metadata?: unknown }).metadata, SETTINGS.metadata);
    assert.deepEqual(now.payload_schema, source.payload_schema);
    assert.equal(now.payload_schema.n?.points, POINTS, 'the index counts the copied points');
    assert.deepEqual(now.payload_schema.content?.params, INDEXES[2]?.[1]);
  }

  /** A filtered search on indexed fields (strict mode refuses it without the indexes) finds exactly the expected ids. */
  async function assertFilteredSearch(name: string, query: number[]) {
    const filter = {
      must: [
        { key: 'kind', match: { value: 'note' } },
        { key: 'n', range: { gte: 100, lt: 130 } },
        { key: 'pinned', match: { value: false } },
      ],
    };
    const res = await q.client.query(name, { query, filter, limit: 100, with_payload: false });
    const expected = Array.from({ length: 30 }, (_, i) => 100 + i).filter((id) => id % 3 === 0 && id % 7 !== 0);
    assert.deepEqual(
      res.points.map((p) => p.id).sort((a, b) => Number(a) - Number(b)),
      expected,
    );
    const text = { must: [{ key: 'content', match: { text: 'item 42' } }] };
    assert.equal((await q.client.count(name, { filter: text, exact: true })).count, 1);
  }

  it('alias mode (re-embedded 8 → 4): the new collection has every setting and index of the source', async () => {
    const source = await seedWithSettings('schema-src-a');
    await q.client.updateCollectionAliases({
      actions: [{ create_alias: { alias_name: 'schema-app-a', collection_name: 'schema-src-a' } }],
    });
    await assertFilteredSearch('schema-src-a', vectorFor(5, 8));
    const before = await checksum('schema-src-a', false);

    const r = await rollback({ collection: 'schema-app-a', target: { size: 4 }, reembed: { contentField: 'content' } });

    assert.equal(r.outcome, 'succeeded');
    const { aliases } = await q.client.getAliases();
    assert.equal(aliases.find((a) => a.alias_name === 'schema-app-a')?.collection_name, r.to.collection);
    const now = await q.client.getCollection(r.to.collection);
    assertCarried(now, source, { size: 4, distance: 'Cosine' });
    await assertFilteredSearch('schema-app-a', embedText('memory item 5', 4));
    assert.deepEqual(await checksum(r.to.collection, false), before);
    assert.equal(before.count, POINTS);
    const page = await q.client.scroll(r.to.collection, { limit: POINTS, with_payload: true, with_vector: true });
    assert.equal(page.points.length, POINTS);
    for (const p of page.points) {
      const v = p.vector as { '': number[]; keywords: unknown };
      const want = embedText(String(p.payload?.content), 4);
      v[''].forEach((x, i) => assert.ok(Math.abs(x - (want[i] ?? NaN)) < 1e-6, `point ${p.id}`));
      assert.deepEqual(v.keywords, sparseFor(Number(p.id)), 'the sparse vector is copied as it was');
    }
    assert.deepEqual(r.settings?.carried, CARRIED);
    assert.deepEqual(r.settings?.notCarried, []);
    // by field name (Qdrant lists payload_schema in no fixed order: a hash map)
    const byField = (a: { field: string }, b: { field: string }) => (a.field < b.field ? -1 : 1);
    assert.deepEqual(
      r.settings?.payloadIndexes,
      INDEXES.map(([field, schema]) => ({ field, type: typeof schema === 'string' ? schema : schema.type })).sort(
        byField,
      ),
    );
  });

  it('recreate mode (Cosine → Dot): the rebuilt collection has every setting, index, point and vector', async () => {
    const source = await seedWithSettings('schema-src-r');
    const before = await checksum('schema-src-r', true);

    const r = await rollback({ collection: 'schema-src-r', target: { size: 8, distance: 'Dot' }, mode: 'recreate' });

    assert.equal(r.outcome, 'succeeded');
    const now = await q.client.getCollection('schema-src-r');
    assertCarried(now, source, { size: 8, distance: 'Dot' });
    await assertFilteredSearch('schema-src-r', vectorFor(5, 8));
    assert.deepEqual(await checksum('schema-src-r', true), before, 'same ids, payloads and vectors');
    assert.deepEqual(r.settings?.carried, CARRIED);
    assert.deepEqual(r.settings?.notCarried, []);
    const names = (await q.client.getCollections()).collections.map((c) => c.name);
    assert.ok(!names.some((n) => n.startsWith('schema-src-r-staging-')), 'the staging copy is removed');
  });

  it('one named vector rolled back (alias mode, re-embedded 8 → 4): the other named vector and its values are carried', async () => {
    const { vectors: _unnamed, ...rest } = SETTINGS;
    await q.client.api().createCollection({
      collection_name: 'schema-src-n',
      ...rest,
      vectors: { text: { size: 8, distance: 'Cosine', on_disk: true }, image: { size: 3, distance: 'Dot' } },
    });
    await q.client.createPayloadIndex('schema-src-n', { wait: true, field_name: 'kind', field_schema: 'keyword' });
    const image = (id: number) => [id, id / 2, -id];
    await q.client.upsert('schema-src-n', {
      wait: true,
      points: Array.from({ length: 50 }, (_, i) => i + 1).map((id) => ({
        id,
        vector: { text: vectorFor(id, 8), image: image(id) },
        payload: payloadOf(id),
      })),
    });
    await q.client.updateCollectionAliases({
      actions: [{ create_alias: { alias_name: 'schema-app-n', collection_name: 'schema-src-n' } }],
    });
    const source = await q.client.getCollection('schema-src-n');
    const before = await checksum('schema-src-n', false);

    const unnamed = await workflowFailure(
      rollback({ collection: 'schema-app-n', target: { size: 4 }, reembed: { contentField: 'content' } }),
    );
    // Qdrant lists a collection's named vectors sorted by name (whatever order they were created in)
    assert.match(
      unnamed.message,
      /uses named vectors \(image, text\); say which one to roll back in target\.vectorName/,
    );
    const r = await rollback({
      collection: 'schema-app-n',
      target: { size: 4, vectorName: 'text' },
      reembed: { contentField: 'content' },
    });

    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.vectorName, 'text');
    assert.deepEqual(r.from.vectors, { size: 8, distance: 'Cosine' });
    const now = await q.client.getCollection(r.to.collection);
    assert.deepEqual(now.config.params.vectors, {
      text: { size: 4, distance: 'Cosine', on_disk: true },
      image: { size: 3, distance: 'Dot' },
    });
    assert.deepEqual(now.payload_schema, source.payload_schema);
    assert.deepEqual(now.config.hnsw_config, source.config.hnsw_config);
    assert.deepEqual(await checksum('schema-app-n', false), before);
    const page = await q.client.scroll('schema-app-n', { limit: 50, with_payload: true, with_vector: true });
    for (const p of page.points) {
      const v = p.vector as { text: number[]; image: number[] };
      assert.deepEqual(v.image, image(Number(p.id)), 'the other named vector is copied as it was');
      const want = embedText(String(p.payload?.content), 4);
      v.text.forEach((x, i) => assert.ok(Math.abs(x - (want[i] ?? NaN)) < 1e-6, `point ${p.id}`));
    }
    const hits = await q.client.query('schema-app-n', {
      query: embedText('memory item 9', 4),
      using: 'text',
      filter: { must: [{ key: 'kind', match: { value: 'note' } }] },
      limit: 1,
    });
    assert.deepEqual(
      hits.points.map((p) => p.id),
      [9],
    );
    assert.ok(r.settings?.carried.includes('vectors.image'));
    assert.deepEqual(r.settings?.notCarried, []);
  });
});
