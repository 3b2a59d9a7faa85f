// Payload encryption end to end: the real dev server, a worker PROCESS started with CORTEX_CODEC_KEYS (the
// workers/main.ts path), the real Docker engine with the demo images. A client that only has the old key starts
// the rollback (rotation: the worker lists the new key first and the old one after it), a client with both keys
// approves, queries and reads the result; the raw history read by the real `temporal` binary without a codec holds
// none of the input's, approval's or result's values, and the same binary with --codec-endpoint (the codec server
// the Web UI uses) shows them decoded.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  connect,
  getStatus,
  sendDecision,
  startDockerRollback,
  waitResult,
  type RollbackClient,
} from '../../client/client.ts';
import { dataConverter, EncryptionCodec, loadCodecKeys } from '../../common/codec.ts';
import { startCodecServer, type RunningCodecServer } from '../../common/codec-server.ts';
import { temporalCliPath } from '../../common/tools.ts';
import { BAD, ensureImages, GOOD, removeByPrefix, startApp, waitFor } from '../helpers/docker.ts';
import { localEnv, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const b64 = () => randomBytes(32).toString('base64');
const OLD = `codec-old:${b64()}`;
const NEW = `codec-new:${b64()}`;

describe('encrypted payloads with the real dev server, worker process and Docker', () => {
  let env: TestWorkflowEnvironment;
  let worker: WorkerProcess;
  let oldClient: RollbackClient;
  let client: RollbackClient;
  let codecServer: RunningCodecServer;
  const name = `codec-it-${Date.now().toString(36)}`;

  before(async () => {
    await ensureImages();
    env = await localEnv();
    const taskQueue = uniqueQueue('codec-it');
    worker = spawnWorker({ address: env.address, taskQueue, extra: { CORTEX_CODEC_KEYS: `${NEW},${OLD}` } });
    const settings = { address: env.address, namespace: 'default', taskQueue };
    oldClient = await connect(settings, { dataConverter: dataConverter({ CORTEX_CODEC_KEYS: OLD }) });
    client = await connect(settings, { dataConverter: dataConverter({ CORTEX_CODEC_KEYS: `${NEW},${OLD}` }) });
    codecServer = await startCodecServer(new EncryptionCodec(loadCodecKeys({ CORTEX_CODEC_KEYS: `${NEW},${OLD}` })), {
      port: 0,
      origins: [],
    });
    await worker.ready;
  });
  after(async () => {
    await removeByPrefix(name);
    await worker?.kill();
    await oldClient?.close();
    await client?.close();
    await codecServer?.close();
    await env?.teardown();
  });

  it('input, approval, query and result are ciphertext in history; codec holders read them', async () => {
    const reason = `codec-secret-reason-${randomBytes(4).toString('hex')}`;
    const approver = `codec-approver-${randomBytes(4).toString('hex')}`;
    const app = await startApp(name, BAD);
    const { workflowId } = await startDockerRollback(oldClient, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason,
      requestedBy: 'codec-integration',
      monitor: { durationSeconds: 0 },
    });
    await waitFor(async () => (await getStatus(client, workflowId)).phase === 'awaiting-approval', 30_000, 'approval');
    await sendDecision(client, workflowId, {
      approve: { approver, role: 'on-call-engineer', comment: 'codec-secret-comment' },
    });
    const r = await waitResult(client, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal(r.result.reason, reason);
    assert.equal(r.result.approvals[0]?.approver, approver);

    const show = (extra: string[] = []) =>
      execa(temporalCliPath(), [
        'workflow',
        'show',
        '--address',
        env.address,
        '-w',
        workflowId,
        '-o',
        'json',
        ...extra,
      ]);
    const raw = (await show()).stdout;
    // The workflow ID is the business key (rollback-docker-<container>): an identifier, not a payload.
    const rawPayloads = raw.replaceAll(workflowId, '<workflow-id>');
    for (const secret of [name, reason, approver, 'codec-secret-comment', 'codec-integration', app.healthUrl]) {
      assert.ok(!rawPayloads.includes(secret), `'${secret}' is in the raw history`);
      assert.ok(
        !rawPayloads.includes(Buffer.from(secret).toString('base64').slice(0, 12)),
        `'${secret}' is base64 in history`,
      );
    }
    const history = JSON.parse(raw) as {
      events: {
        workflowExecutionStartedEventAttributes?: { input: { payloads: unknown[] } };
        workflowExecutionCompletedEventAttributes?: {
          result: { payloads: { metadata: Record<string, string>; data?: string }[] };
        };
        workflowExecutionSignaledEventAttributes?: {
          input: { payloads: { metadata: Record<string, string>; data?: string }[] };
        };
      }[];
    };
    const keyId = (p?: { metadata: Record<string, string> }) =>
      Buffer.from(p?.metadata['encryption-key-id'] ?? '', 'base64').toString();
    const started = history.events[0]!.workflowExecutionStartedEventAttributes!;
    assert.equal(keyId(started.input.payloads[0] as { metadata: Record<string, string> }), 'codec-old');
    const signaled = history.events.find((e) => e.workflowExecutionSignaledEventAttributes);
    assert.equal(keyId(signaled?.workflowExecutionSignaledEventAttributes?.input.payloads[0]), 'codec-new');
    const completed = history.events.find((e) => e.workflowExecutionCompletedEventAttributes);
    assert.equal(keyId(completed?.workflowExecutionCompletedEventAttributes?.result.payloads[0]), 'codec-new');

    // The codec server, as the Web UI calls it, decodes the history's own payloads.
    const res = await fetch(`${codecServer.url}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payloads: started.input.payloads }),
    });
    assert.equal(res.status, 200);
    const decoded = ((await res.json()) as { payloads: { data: string }[] }).payloads[0]!;
    assert.equal((JSON.parse(Buffer.from(decoded.data, 'base64').toString()) as { reason: string }).reason, reason);
    // …and so does the real CLI pointed at it (payload data stays base64 in its JSON output).
    const viaCodec = JSON.parse((await show(['--codec-endpoint', codecServer.url])).stdout) as typeof history;
    const text = (p?: { data?: string }) => Buffer.from(p?.data ?? '', 'base64').toString();
    const input = viaCodec.events[0]!.workflowExecutionStartedEventAttributes!.input.payloads[0] as { data: string };
    assert.match(text(input), new RegExp(reason));
    const signal = viaCodec.events.find((e) => e.workflowExecutionSignaledEventAttributes);
    assert.match(text(signal?.workflowExecutionSignaledEventAttributes?.input.payloads[0]), /codec-secret-comment/);
    const result = viaCodec.events.find((e) => e.workflowExecutionCompletedEventAttributes);
    assert.match(text(result?.workflowExecutionCompletedEventAttributes?.result.payloads[0]), new RegExp(approver));
  });
});
