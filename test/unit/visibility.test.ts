// The visibility plan activity (activities/visibility.ts) and the codec's digest (common/codec.ts): which of the
// project's search attributes a run may upsert, what an unreadable list or a wrong type gives, and that encrypted
// free text leaves the activity only as a keyed digest.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import proto from '@temporalio/proto';
import { createVisibilityActivities } from '../../activities/visibility.ts';
import { EncryptionCodec, loadCodecKeys } from '../../common/codec.ts';

const T = proto.temporal.api.enums.v1.IndexedValueType;
const codec = (id: string) =>
  new EncryptionCodec(loadCodecKeys({ CORTEX_CODEC_KEYS: `${id}:${randomBytes(32).toString('base64')}` }));

describe('visibilityPlan', () => {
  it("lists only the project's attributes the namespace registered for strings; a wrong type is named", async () => {
    const a = createVisibilityActivities({
      listSearchAttributes: () =>
        Promise.resolve({
          RollbackType: T.INDEXED_VALUE_TYPE_KEYWORD,
          RollbackTrigger: T.INDEXED_VALUE_TYPE_TEXT,
          RollbackOutcome: T.INDEXED_VALUE_TYPE_INT,
          SomeoneElses: T.INDEXED_VALUE_TYPE_KEYWORD,
        }),
    });
    const plan = await a.visibilityPlan({ freeText: { RollbackTrigger: 'v2.1.0 fails /health' } });
    assert.deepEqual(plan, {
      registered: ['RollbackType', 'RollbackTrigger'],
      wrongType: ['RollbackOutcome'],
      encrypted: false,
    });
  });

  it('an unreadable list is an answer, not a failure: nothing registered, and why', async () => {
    const a = createVisibilityActivities({
      namespace: 'prod',
      listSearchAttributes: () => Promise.reject(new Error('PermissionDenied: not allowed')),
    });
    const plan = await a.visibilityPlan();
    assert.deepEqual(plan.registered, []);
    assert.match(plan.error ?? '', /namespace prod: PermissionDenied: not allowed/);
    const none = await createVisibilityActivities({}).visibilityPlan();
    assert.match(none.error ?? '', /without a Temporal connection/);
  });

  it('reuses one list for cacheMs: a burst of starts costs one call to the server', async () => {
    let calls = 0;
    const a = createVisibilityActivities({
      cacheMs: 60_000,
      listSearchAttributes: () => {
        calls += 1;
        return Promise.resolve({ RollbackType: T.INDEXED_VALUE_TYPE_KEYWORD });
      },
    });
    for (let i = 0; i < 5; i++) await a.visibilityPlan();
    assert.equal(calls, 1);
  });

  it('encrypted: the free text comes back only as the codec digest, equal for equal texts, keyed', async () => {
    const c = codec('k1');
    const a = createVisibilityActivities({
      encrypted: true,
      digest: (t) => c.digest(t),
      listSearchAttributes: () => Promise.resolve({ RollbackTrigger: T.INDEXED_VALUE_TYPE_TEXT }),
    });
    const reason = 'customer data in the logs';
    const plan = await a.visibilityPlan({ freeText: { RollbackTrigger: reason } });
    assert.equal(plan.encrypted, true);
    const d = plan.digests?.RollbackTrigger ?? '';
    assert.match(d, /^hmac-k1-[0-9a-f]{16}$/);
    assert.ok(!JSON.stringify(plan).includes(reason));
    assert.equal(c.digest(reason), d, 'equal texts digest alike under one key');
    assert.notEqual(c.digest('another reason'), d);
    assert.notEqual(codec('k1').digest(reason), d, 'another key (same id) digests differently');
  });

  it('encrypted with a codec that has no digest: no digest, so the free text is not published at all', async () => {
    const a = createVisibilityActivities({
      encrypted: true,
      listSearchAttributes: () => Promise.resolve({ RollbackTrigger: T.INDEXED_VALUE_TYPE_TEXT }),
    });
    const plan = await a.visibilityPlan({ freeText: { RollbackTrigger: 'secret' } });
    assert.equal(plan.digests, undefined);
    assert.ok(!JSON.stringify(plan).includes('secret'));
  });
});
