// The Qdrant fault proxy (test/helpers/qdrant-fault-proxy.ts) in front of a real Qdrant 1.18.3 server process: calls
// pass through unchanged (the api-key header too, a snapshot streamed both ways byte for byte), and each switch does
// what the double's does — failNext refuses without running the operation, dropNext runs it and loses the reply,
// failWhen refuses before or (after: true) answers the error after the change, by path or by operationId, with
// skip / times / hits / clear, and delay holds requests. Every assertion reads the real server's state directly.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { QdrantClient } from '@qdrant/js-client-rest';
import { createHash } from 'node:crypto';
import { startQdrantFaultProxy, type QdrantFaultProxy } from '../helpers/qdrant-fault-proxy.ts';
import { startQdrantServer, type QdrantServer } from '../helpers/qdrant-server.ts';
import { vectorFor } from '../helpers/qdrant.ts';

const DIM = 8;
const json = { 'content-type': 'application/json' };

describe('Qdrant fault proxy in front of a real Qdrant 1.18.3 server', () => {
  let server: QdrantServer;
  let proxy: QdrantFaultProxy;
  let viaProxy: QdrantClient;
  let n = 0;
  let c = '';

  before(async () => {
    server = await startQdrantServer();
  });
  after(async () => {
    await proxy?.stop();
    await server?.stop();
  });
  beforeEach(async () => {
    await proxy?.stop();
    proxy = await startQdrantFaultProxy(server.url);
    viaProxy = new QdrantClient({ url: proxy.url, checkCompatibility: false });
    c = `p${++n}`;
  });

  const exists = async (name: string) => (await server.client.collectionExists(name)).exists;
  const create = (name: string) => viaProxy.createCollection(name, { vectors: { size: DIM, distance: 'Cosine' } });
  const upsertBody = (ids: number[]) =>
    JSON.stringify({ points: ids.map((id) => ({ id, vector: vectorFor(id, DIM), payload: { id } })) });

  it('passes calls through unchanged and logs each with its status', async () => {
    await create(c);
    assert.ok(await exists(c));
    await viaProxy.upsert(c, { wait: true, points: [{ id: 1, vector: vectorFor(1, DIM), payload: { a: 1 } }] });
    const got = await viaProxy.retrieve(c, { ids: [1], with_payload: true });
    assert.deepEqual(got[0]?.payload, { a: 1 });
    const missing = await fetch(`${proxy.url}/collections/${c}-nope`);
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { status: { error: string } }).status.error, /doesn't exist/);
    assert.deepEqual(
      proxy.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
      [
        `PUT /collections/${c} 200`,
        `PUT /collections/${c}/points 200`,
        `POST /collections/${c}/points 200`,
        `GET /collections/${c}-nope 404`,
      ],
    );
    assert.ok(proxy.requests.every((r) => typeof r.at === 'number' && r.at <= Date.now()));
    assert.deepEqual(proxy.violations, [], 'the official client sent only requests the spec allows');
  });

  it('records a request that breaks the OpenAPI spec, and forwards it all the same', async () => {
    const r = await fetch(`${proxy.url}/collections/${c}?timeout=soon`, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ vectors: { size: 'eight', distance: 'Cosine' } }),
    });
    assert.ok(r.status === 400 || r.status === 422, `the server refused it itself (${r.status})`);
    const plain = await fetch(`${proxy.url}/collections/${c}/points/scroll`, { method: 'POST', body: '{}' });
    assert.ok(plain.status >= 400, `a JSON body without a JSON content type, of a collection that is not there`);
    assert.equal((await fetch(`${proxy.url}/no/such/route`)).status, 404);
    assert.equal(proxy.violations.length, 4, proxy.violations.join('\n'));
    assert.match(proxy.violations[0] ?? '', /^PUT \/collections\/\S+\?timeout=soon: query rejected by the spec/);
    assert.match(proxy.violations[1] ?? '', /^PUT \/collections\/\S+: request body rejected by the spec: .*size/);
    assert.match(proxy.violations[2] ?? '', /scroll: request without a JSON content type/);
    assert.match(proxy.violations[3] ?? '', /^GET \/no\/such\/route: no such operation/);
  });

  it('failNext answers Qdrant’s error envelope without forwarding: the operation never runs', async () => {
    proxy.faults.failNext(2);
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${proxy.url}/collections/${c}`, {
        method: 'PUT',
        headers: json,
        body: JSON.stringify({ vectors: { size: DIM, distance: 'Cosine' } }),
      });
      assert.equal(r.status, 503);
      const body = (await r.json()) as { status: { error: string }; time: number };
      assert.match(body.status.error, /Service unavailable/);
      assert.equal(typeof body.time, 'number');
    }
    assert.equal(await exists(c), false, 'refused before the server saw it');
    await create(c); // the third passes
    assert.ok(await exists(c));
    proxy.faults.failNext(1, 500);
    await assert.rejects(viaProxy.getCollection(c), (e: { status?: number }) => e.status === 500);
    assert.deepEqual(
      proxy.requests.map((r) => r.status),
      [503, 503, 200, 500],
    );
  });

  it('dropNext lets the operation take effect and loses the reply', async () => {
    await create(c);
    proxy.faults.dropNext(1);
    await assert.rejects(
      fetch(`${proxy.url}/collections/${c}/points?wait=true`, {
        method: 'PUT',
        headers: json,
        body: upsertBody([1, 2]),
      }).then((r) => r.text()),
    );
    assert.equal((await server.client.count(c, { exact: true })).count, 2, 'the upsert happened');
    assert.equal(proxy.requests.at(-1)?.status, 200, 'the server answered 200; the client never read it');
    await viaProxy.getCollection(c); // the next call is fine
  });

  it('failWhen refuses matching requests only, before forwarding, with skip / times / hits / clear', async () => {
    await create(c);
    const rule = proxy.faults.failWhen({
      method: 'PUT',
      path: new RegExp(`^/collections/${c}/points$`),
      skip: 1,
      times: 2,
      message: 'no upserts today',
    });
    const upsert = (id: number) =>
      fetch(`${proxy.url}/collections/${c}/points?wait=true`, { method: 'PUT', headers: json, body: upsertBody([id]) });
    assert.equal((await upsert(1)).status, 200, 'skipped');
    const refused = await upsert(2);
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { status: { error: string } }).status.error, 'no upserts today');
    assert.equal((await fetch(`${proxy.url}/collections/${c}`)).status, 200, 'another path passes');
    assert.equal((await upsert(3)).status, 400);
    assert.equal(rule.hits(), 2);
    assert.equal((await upsert(4)).status, 200, 'times spent');
    const ids = (await server.client.scroll(c, { limit: 10 })).points.map((p) => p.id);
    assert.deepEqual(ids, [1, 4], 'refused upserts never ran');
    const forever = proxy.faults.failWhen({ operationId: 'get_collection', times: Infinity, status: 500 });
    assert.equal((await fetch(`${proxy.url}/collections/${c}`)).status, 500);
    forever.clear();
    assert.equal((await fetch(`${proxy.url}/collections/${c}`)).status, 200);
    assert.throws(() => proxy.faults.failWhen({}), /needs a method, path or operationId/);
  });

  it('failWhen with after: true runs the operation and then answers the error', async () => {
    proxy.faults.failWhen({ operationId: 'create_collection', after: true, status: 500 });
    const r = await fetch(`${proxy.url}/collections/${c}`, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ vectors: { size: DIM, distance: 'Cosine' } }),
    });
    assert.equal(r.status, 500);
    assert.match(((await r.json()) as { status: { error: string } }).status.error, /create_collection failed/);
    assert.ok(await exists(c), 'the collection was created');
    // a request the server itself fails keeps the server's own answer
    proxy.faults.failWhen({ operationId: 'get_collection', after: true });
    const own = await fetch(`${proxy.url}/collections/${c}-nope`);
    assert.equal(own.status, 404);
  });

  it('delay holds every request that long', async () => {
    await create(c);
    proxy.faults.delay(300);
    const t = performance.now();
    await viaProxy.getCollection(c);
    assert.ok(performance.now() - t >= 290, `held ${performance.now() - t} ms`);
    proxy.faults.delay(0);
  });

  it('forwards the api-key header to a keyed server (401 without it)', async () => {
    const keyed = await startQdrantServer({ apiKey: 'proxy-key' });
    const p = await startQdrantFaultProxy(keyed.url);
    try {
      assert.equal((await fetch(`${p.url}/collections`)).status, 401);
      assert.equal((await fetch(`${p.url}/collections`, { headers: { 'api-key': 'proxy-key' } })).status, 200);
      const client = new QdrantClient({ url: p.url, apiKey: 'proxy-key', checkCompatibility: false });
      await client.createCollection('k', { vectors: { size: DIM, distance: 'Dot' } });
      assert.ok((await keyed.client.collectionExists('k')).exists);
      assert.deepEqual(
        p.requests.map((r) => r.status),
        [401, 200, 200],
      );
    } finally {
      await p.stop();
      await keyed.stop();
    }
  });

  it('streams a snapshot download and an upload recovery byte for byte', async () => {
    await create(c);
    const ids = Array.from({ length: 2000 }, (_, i) => i + 1);
    await server.client.upsert(c, {
      wait: true,
      points: ids.map((id) => ({ id, vector: vectorFor(id, DIM), payload: { text: 'x'.repeat(200) } })),
    });
    const snap = await viaProxy.createSnapshot(c, { wait: true });
    assert.ok(snap?.name);
    const down = await fetch(`${proxy.url}/collections/${c}/snapshots/${snap.name}`);
    assert.equal(down.status, 200);
    const bytes = Buffer.from(await down.arrayBuffer());
    assert.ok(bytes.length > 100_000, `a sizeable snapshot (${bytes.length} bytes)`);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), snap.checksum);

    const form = new FormData();
    form.append('snapshot', new Blob([bytes]), 'restored.snapshot');
    const up = await fetch(
      `${proxy.url}/collections/${c}-restored/snapshots/upload?wait=true&checksum=${snap.checksum}`,
      {
        method: 'POST',
        body: form,
      },
    );
    assert.equal(up.status, 200, await up.clone().text());
    assert.equal((await server.client.count(`${c}-restored`, { exact: true })).count, 2000);
  });

  it('destroys the client connection when the server is down, and logs status 0', async () => {
    await server.kill();
    try {
      await assert.rejects(fetch(`${proxy.url}/collections`));
      assert.equal(proxy.requests.at(-1)?.status, 0);
    } finally {
      await server.restart();
    }
    assert.equal((await fetch(`${proxy.url}/collections`)).status, 200, 'back once the server is');
  });
});
