// The payload codec (common/codec.ts) and its HTTP server (common/codec-server.ts): AES-256-GCM round trip, key
// rotation by key id, tampering refused with a clear error, plain payloads passed through, the CORTEX_CODEC_KEYS
// parser, the Web UI's /encode and /decode with CORS, and committed plain histories replayed through the codec.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import {
  CodecError,
  EncryptionCodec,
  KEY_ID_METADATA,
  dataConverter,
  encodesFailures,
  isEncrypted,
  loadCodecKeys,
  type CodecKey,
} from '../../common/codec.ts';
import { loadCodecServerSettings, startCodecServer } from '../../common/codec-server.ts';
import { ConfigError } from '../../common/config.ts';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import '../helpers/temporal.ts';

const key = (id: string): CodecKey => ({ id, key: randomBytes(32) });
const envOf = (...keys: CodecKey[]) => ({
  CORTEX_CODEC_KEYS: keys.map((k) => `${k.id}:${k.key.toString('base64')}`).join(','),
});
const SECRET = { containerName: 'codec-secret-container', approver: 'bob' };
const toPayload = (v: unknown): Payload => defaultPayloadConverter.toPayload(v);
const fromPayload = (p: Payload): unknown => defaultPayloadConverter.fromPayload(p);

describe('payload codec', () => {
  it('encrypts: no plain text, key id in metadata, round trip restores the value', async () => {
    const k1 = key('k1');
    const codec = new EncryptionCodec([k1]);
    const [enc] = await codec.encode([toPayload(SECRET)]);
    assert.ok(enc && isEncrypted(enc));
    assert.equal(Buffer.from(enc.metadata![KEY_ID_METADATA]!).toString(), 'k1');
    assert.ok(!Buffer.from(enc.data!).toString('latin1').includes('codec-secret-container'));
    const [dec] = await codec.decode([enc]);
    assert.deepEqual(fromPayload(dec!), SECRET);
    const [again] = await codec.encode([toPayload(SECRET)]);
    assert.notDeepEqual(Buffer.from(again!.data!), Buffer.from(enc.data!), 'a fresh IV per payload');
  });

  it('rotation: the new first key encrypts, the old key still decodes its payloads', async () => {
    const old = key('2025-q4');
    const next = key('2026-q1');
    const [byOld] = await new EncryptionCodec([old]).encode([toPayload(SECRET)]);
    const rotated = new EncryptionCodec([next, old]);
    assert.deepEqual(fromPayload((await rotated.decode([byOld!]))[0]!), SECRET);
    const [byNext] = await rotated.encode([toPayload(SECRET)]);
    assert.equal(Buffer.from(byNext!.metadata![KEY_ID_METADATA]!).toString(), '2026-q1');
    await assert.rejects(
      new EncryptionCodec([old]).decode([byNext!]),
      /key id '2026-q1', which is not in CORTEX_CODEC_KEYS/,
    );
  });

  it('tampering is detected: altered data, relabelled key id, a wrong key under the same id', async () => {
    const k1 = key('k1');
    const k2 = key('k2');
    const codec = new EncryptionCodec([k1, k2]);
    const [enc] = await codec.encode([toPayload(SECRET)]);
    const flipped = Buffer.from(enc!.data!);
    flipped[20] = flipped[20]! ^ 1;
    await assert.rejects(codec.decode([{ ...enc!, data: flipped }]), (err: Error) => {
      assert.ok(err instanceof CodecError);
      assert.match(err.message, /key id 'k1'\) failed authentication: it was altered/);
      return true;
    });
    const relabelled = { ...enc!, metadata: { ...enc!.metadata, [KEY_ID_METADATA]: Buffer.from('k2') } };
    await assert.rejects(codec.decode([relabelled]), /key id 'k2'\) failed authentication/);
    await assert.rejects(
      new EncryptionCodec([{ id: 'k1', key: randomBytes(32) }]).decode([enc!]),
      /failed authentication/,
    );
    await assert.rejects(codec.decode([{ ...enc!, data: Buffer.alloc(10) }]), /truncated/);
  });

  it('plain payloads (old histories, other clients) pass through decode untouched', async () => {
    const codec = new EncryptionCodec([key('k1')]);
    const plain = [toPayload(SECRET), toPayload(null), toPayload(new Uint8Array([1, 2]))];
    assert.deepEqual(await codec.decode(plain), plain);
  });

  it('CORTEX_CODEC_KEYS: unset means no codec; bad entries fail naming the variable', () => {
    assert.deepEqual(loadCodecKeys({}), []);
    assert.deepEqual(dataConverter({}), {});
    const k = key('a.b_c-1');
    assert.deepEqual(loadCodecKeys(envOf(k)), [k]);
    assert.equal(dataConverter(envOf(k)).payloadCodecs?.length, 1);
    assert.equal(encodesFailures({}), false);
    for (const bad of [
      'nokey',
      ':' + randomBytes(32).toString('base64'),
      'k1:' + randomBytes(16).toString('base64'),
      'k1:not base64!',
      `k1:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`,
    ]) {
      assert.throws(
        () => loadCodecKeys({ CORTEX_CODEC_KEYS: bad }),
        (err: Error) => {
          assert.ok(err instanceof ConfigError, bad);
          assert.match(err.message, /CORTEX_CODEC_KEYS/);
          assert.ok(!err.message.includes(bad.split(':')[1] ?? '@@') || bad === 'nokey', 'the key is not echoed');
          return true;
        },
      );
    }
  });

  it('committed plain histories, failures included, replay on a worker whose data converter has the codec', async () => {
    const converter = dataConverter(envOf(key('k1')));
    assert.ok(encodesFailures(converter), 'with a codec, failures are encoded too');
    // the bundle such a worker runs: its workflows encode the failures they raise
    const bundle = await workflowBundle({ encodeFailures: true });
    for (const name of ['docker-approved-watched', 'docker-compensated', 'system-service-build-failed']) {
      const file = join(PROJECT_ROOT, 'test', 'histories', `${name}.json`);
      const history = historyFromJSON(JSON.parse(readFileSync(file, 'utf8')));
      await Worker.runReplayHistory({ workflowBundle: bundle, dataConverter: converter }, history, name);
    }
  });
});

describe('codec server (the Web UI remote codec)', () => {
  const origin = 'http://127.0.0.1:8233';

  it('settings: default port and UI origins; bad values named', () => {
    assert.deepEqual(loadCodecServerSettings({}), {
      port: 8888,
      origins: ['http://127.0.0.1:8233', 'http://localhost:8233'],
    });
    assert.deepEqual(
      loadCodecServerSettings({ CORTEX_CODEC_PORT: '0', CORTEX_CODEC_CORS_ORIGINS: 'https://ui.x:443/' }),
      {
        port: 0,
        origins: ['https://ui.x:443'],
      },
    );
    assert.throws(() => loadCodecServerSettings({ CORTEX_CODEC_PORT: '70000' }), /CORTEX_CODEC_PORT/);
    assert.throws(() => loadCodecServerSettings({ CORTEX_CODEC_CORS_ORIGINS: '*' }), /CORTEX_CODEC_CORS_ORIGINS/);
  });

  it('/encode then /decode in protobuf JSON form, CORS for the UI origin only, errors as 400', async () => {
    const codec = new EncryptionCodec([key('k1')]);
    const server = await startCodecServer(codec, { port: 0, origins: [origin] });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const plain = toPayload(SECRET);
      const json = {
        payloads: [
          {
            metadata: { encoding: Buffer.from(plain.metadata!.encoding!).toString('base64') },
            data: Buffer.from(plain.data!).toString('base64'),
          },
        ],
      };
      const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
        fetch(server.url + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin, 'x-namespace': 'default', ...headers },
          body: JSON.stringify(body),
        });
      const encRes = await post('/encode', json);
      assert.equal(encRes.status, 200);
      assert.equal(encRes.headers.get('access-control-allow-origin'), origin);
      const enc = (await encRes.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
      assert.equal(Buffer.from(enc.payloads[0]!.metadata.encoding!, 'base64').toString(), 'binary/encrypted');
      assert.ok(!Buffer.from(enc.payloads[0]!.data, 'base64').toString('latin1').includes('codec-secret'));

      const decRes = await post('/decode', enc);
      assert.equal(decRes.status, 200);
      assert.deepEqual(await decRes.json(), json);

      const pre = await fetch(server.url + '/decode', {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-headers'), 'content-type,x-namespace');
      const foreign = await fetch(server.url + '/decode', {
        method: 'OPTIONS',
        headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(foreign.status, 403);
      assert.equal(foreign.headers.get('access-control-allow-origin'), null);

      const tampered = structuredClone(enc);
      const data = Buffer.from(tampered.payloads[0]!.data, 'base64');
      data[15] = data[15]! ^ 1;
      tampered.payloads[0]!.data = data.toString('base64');
      const bad = await post('/decode', tampered);
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { error: string }).error, /failed authentication/);
      assert.equal((await post('/decode', { nope: 1 })).status, 400);
      assert.equal((await post('/other', json)).status, 404);
    } finally {
      await server.close();
    }
  });
});
