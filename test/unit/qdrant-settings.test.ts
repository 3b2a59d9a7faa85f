// Creating a collection "like" another (schema rollbacks): the plan of what is carried and what cannot be
// (planCarry, pure), and the activity against a real Qdrant 1.18.3 server — idempotent after a crash at any point, and refusing
// a same-named collection with other settings.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { QdrantClient, Schemas } from '@qdrant/js-client-rest';
import { createQdrantActivities } from '../../activities/qdrant.ts';
import { startFromArgs } from '../../client/cli.ts';
import { planCarry } from '../../activities/qdrant-settings.ts';
import { startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { activityFailure } from '../helpers/failures.ts';

const info = (config: Record<string, unknown>, payload_schema = {}): Schemas['CollectionInfo'] =>
  ({
    status: 'green',
    optimizer_status: 'ok',
    segments_count: 1,
    config: {
      hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000 },
      optimizer_config: { default_segment_number: 0, flush_interval_sec: 5, max_optimization_threads: null },
      ...config,
    },
    payload_schema,
  }) as unknown as Schemas['CollectionInfo'];

describe('planCarry', () => {
  it('carries everything but the rolled-back size/distance, in create-body names, without nulls', () => {
    const plan = planCarry(
      info(
        {
          params: {
            vectors: { size: 8, distance: 'Cosine', on_disk: true },
            shard_number: 2,
            sharding_method: 'auto',
            read_fan_out_factor: 1,
          },
          quantization_config: null,
        },
        { kind: { data_type: 'keyword', points: 3 }, t: { data_type: 'text', params: { type: 'text' }, points: 1 } },
      ),
      { name: '', size: 4, distance: 'Dot', reembedded: true },
    );
    assert.deepEqual(plan.body, {
      vectors: { size: 4, distance: 'Dot', on_disk: true },
      shard_number: 2,
      sharding_method: 'auto',
      hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000 },
      optimizers_config: { default_segment_number: 0, flush_interval_sec: 5 },
    });
    assert.deepEqual(plan.patch, { params: { read_fan_out_factor: 1 } });
    assert.deepEqual(plan.indexes, [
      { field: 'kind', schema: 'keyword' },
      { field: 't', schema: { type: 'text' } },
    ]);
    assert.deepEqual(plan.notCarried, []);
  });

  it('says why custom sharding, multivectors and uint8 vectors are not carried into a re-embedded collection', () => {
    const source = info({
      params: {
        vectors: {
          dense: { size: 8, distance: 'Cosine', multivector_config: { comparator: 'max_sim' }, datatype: 'uint8' },
          image: { size: 3, distance: 'Dot' },
        },
        sharding_method: 'custom',
      },
    });
    const plan = planCarry(source, { name: 'dense', size: 4, distance: 'Cosine', reembedded: true });
    assert.deepEqual(
      plan.notCarried.map((n) => n.setting),
      ['vectors.dense.multivector_config', 'vectors.dense.datatype', 'sharding_method'],
    );
    assert.deepEqual(plan.body.vectors, {
      dense: { size: 4, distance: 'Cosine' },
      image: { size: 3, distance: 'Dot' },
    });
    assert.ok(plan.carried.includes('vectors.image'));
    const distanceOnly = planCarry(source, { name: 'dense', size: 8, distance: 'Dot', reembedded: false });
    assert.deepEqual(
      distanceOnly.notCarried.map((n) => n.setting),
      ['sharding_method'],
    );
  });
});

describe('qdrantEnsureCollection like another collection', () => {
  let q: TestQdrant;
  let client: QdrantClient;
  let acts: ReturnType<typeof createQdrantActivities>;

  before(async () => {
    q = await startTestQdrant();
    client = q.client;
    acts = createQdrantActivities({ client, url: q.url, apiKey: q.apiKey, backupRoot: join(q.tmp, 'backups') });
    await client.createCollection('schema-like-src', {
      vectors: { size: 8, distance: 'Cosine' },
      hnsw_config: { m: 20 },
      on_disk_payload: false,
    });
    await client.createPayloadIndex('schema-like-src', { wait: true, field_name: 'kind', field_schema: 'keyword' });
    await client.createPayloadIndex('schema-like-src', {
      wait: true,
      field_name: 'n',
      field_schema: { type: 'integer', lookup: false, range: true },
    });
  });
  after(async () => {
    await q?.stop();
  });

  const ensure = (collection: string) =>
    acts.qdrantEnsureCollection({ collection, vectors: { size: 4, distance: 'Cosine' }, like: 'schema-like-src' });

  it('creates it with the settings and indexes, and a repeat (a retry) finds it done', async () => {
    const first = await ensure('schema-like-a');
    assert.equal(first.created, true);
    const again = await ensure('schema-like-a');
    assert.equal(again.created, false);
    assert.deepEqual(again.settings, first.settings);
    const made = await client.getCollection('schema-like-a');
    assert.equal(made.config.hnsw_config.m, 20);
    assert.equal(made.config.params.on_disk_payload, false);
    assert.deepEqual(made.payload_schema, (await client.getCollection('schema-like-src')).payload_schema);
    assert.deepEqual(q.violations, []);
  });

  it('after a crash between the create and the indexes, the retry builds the missing indexes', async () => {
    const plan = planCarry(await client.getCollection('schema-like-src'), {
      name: '',
      size: 4,
      distance: 'Cosine',
      reembedded: false,
    });
    await client.api().createCollection({ collection_name: 'schema-like-b', ...plan.body });
    const r = await ensure('schema-like-b');
    assert.equal(r.created, false);
    assert.deepEqual(Object.keys((await client.getCollection('schema-like-b')).payload_schema).sort(), ['kind', 'n']);
  });

  it('refuses, without retry, a same-named collection with other settings', async () => {
    await client.createCollection('schema-like-c', { vectors: { size: 4, distance: 'Cosine' }, hnsw_config: { m: 4 } });
    const f = await activityFailure(ensure('schema-like-c'));
    assert.equal(f.type, 'Conflict');
    assert.equal(f.nonRetryable, true);
    assert.match(f.message, /exists with other settings than 'schema-like-src'/);
  });
});

describe('the CLI', () => {
  it('passes --vector-name as target.vectorName of a schema rollback', () => {
    const start = startFromArgs([
      'qdrant-schema',
      '--collection',
      'schema-cli',
      '--size',
      '4',
      '--vector-name',
      'text',
      '--reembed-field',
      'content',
      '--reason',
      'r',
      '--requested-by',
      'w',
    ]);
    assert.equal(start.scenario.workflowType, 'qdrantSchemaRollback');
    assert.deepEqual(start.input.target, { size: 4, vectorName: 'text' });
    assert.deepEqual(start.input.reembed, { contentField: 'content' });
    assert.equal(start.workflowId, 'rollback-database-schema-cli');
  });
});
