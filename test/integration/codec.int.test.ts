// Payload encryption end to end: the real dev server, a worker PROCESS started with CORTEX_CODEC_KEYS (the
// workers/main.ts path), the real Docker engine with the demo images. A client that only has the old key starts
// the rollback (rotation: the worker lists the new key first and the old one after it), a client with both keys
// approves, queries and reads the result; the raw history read by the real `temporal` binary without a codec holds
// none of the input's, approval's or result's values, and the same binary with --codec-endpoint (the codec server
// the Web UI uses) shows them decoded. A failed rollback's failures (the workflow's and its activities') keep
// message and stack trace only in encrypted encodedAttributes; the client, the codec server and the CLI's `status` and
// `report` read the message back exactly.
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
import { PROJECT_ROOT, temporalCliPath } from '../../common/tools.ts';
import { BAD, ensureImages, GOOD, removeByPrefix, startApp, waitFor } from '../helpers/docker.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const b64 = () => randomBytes(32).toString('base64');
const OLD = `codec-old:${b64()}`;
const NEW = `codec-new:${b64()}`;

/** Every failure object in a history's JSON (they carry a message and one *FailureInfo), nested causes included. */
function failuresIn(node: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(node)) for (const n of node) failuresIn(n, out);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if ('message' in o && Object.keys(o).some((k) => k.endsWith('FailureInfo'))) out.push(o);
    for (const v of Object.values(o)) failuresIn(v, out);
  }
  return out;
}

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
    // the roster's on-call engineer approves (committed policy); a name that must not be readable in history
    const { approver, role } = APPROVER.application;
    const app = await startApp(name, BAD);
    const { workflowId } = await startDockerRollback(oldClient, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason,
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 0 },
    });
    await waitFor(async () => (await getStatus(client, workflowId)).phase === 'awaiting-approval', 30_000, 'approval');
    await sendDecision(client, workflowId, {
      approve: { approver, role, comment: 'codec-secret-comment' },
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
    for (const secret of [name, reason, approver, 'codec-secret-comment', REQUESTER, app.healthUrl]) {
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

  it('failed rollbacks keep their failure messages and stack traces encrypted; holders read them exactly', async () => {
    const failing = await startApp(`${name}-fail`, GOOD);
    const reason = `codec-failure-${randomBytes(4).toString('hex')}`;
    const common = {
      reason,
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 0 },
      approval: { preApproved: APPROVER.ci },
    };
    // one fails in the workflow (verification), one in an activity (the container does not exist)
    const [verify, missing] = await Promise.all([
      startDockerRollback(client, {
        containerName: failing.name,
        targetImage: BAD,
        healthUrl: failing.healthUrl,
        verifyTimeoutSeconds: 2,
        ...common,
      }),
      startDockerRollback(client, {
        containerName: `${name}-missing`,
        targetImage: GOOD,
        healthUrl: failing.healthUrl,
        ...common,
      }),
    ]);
    const [r, rm] = await Promise.all([waitResult(client, verify.workflowId), waitResult(client, missing.workflowId)]);
    assert.ok(!r.ok && !rm.ok, JSON.stringify([r, rm]));
    assert.equal(r.type, 'VerificationFailed');
    assert.match(rm.message, new RegExp(`${name}-missing.*does not exist`));
    for (const m of [r.message, rm.message]) assert.ok(m.length > 20 && m !== 'Encoded failure', m);

    const show = (workflowId: string, extra: string[] = []) =>
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
    const histories: Record<string, { events: Record<string, unknown>[] }> = {};
    for (const [id, message, secrets] of [
      [verify.workflowId, r.message, [failing.name]],
      [missing.workflowId, rm.message, [`${name}-missing`]],
    ] as const) {
      const raw = (await show(id)).stdout;
      const history = (histories[id] = JSON.parse(raw) as { events: Record<string, unknown>[] });
      assert.ok(
        history.events.some((e) => e.workflowExecutionFailedEventAttributes),
        `${id} failed in history`,
      );
      const failures = failuresIn(history.events);
      for (const f of failures) {
        assert.equal(f.message, 'Encoded failure', JSON.stringify(f).slice(0, 300));
        assert.ok(!f.stackTrace, 'no plain stack trace');
        const attrs = f.encodedAttributes as { metadata: Record<string, string> } | undefined;
        assert.equal(Buffer.from(attrs?.metadata.encoding ?? '', 'base64').toString(), 'binary/encrypted');
      }
      // the workflow id is the business key (rollback-docker-<container>): an identifier, not a payload
      const rawPayloads = raw.replaceAll(id, '<workflow-id>');
      for (const secret of [message, message.slice(0, 30), ...secrets, reason, PROJECT_ROOT, '.ts:']) {
        assert.ok(!rawPayloads.includes(secret), `'${secret}' is in the raw history of ${id}`);
      }
    }
    // the missing container is an activity failure (inspectContainer, a local activity: its failure is in a marker),
    // encoded where the activity ran, by the worker's converter
    const activityFailed = histories[missing.workflowId]!.events.filter(
      (e) =>
        e.activityTaskFailedEventAttributes ||
        (e.markerRecordedEventAttributes as { failure?: unknown } | undefined)?.failure,
    );
    assert.ok(failuresIn(activityFailed).length > 0, 'an activity failed in history');
    // The codec server (the Web UI's decoder of failure encodedAttributes) gives the message and stack back.
    const decode = async (workflowId: string) => {
      const ev = histories[workflowId]!.events.find((e) => e.workflowExecutionFailedEventAttributes)!;
      const failure = (ev.workflowExecutionFailedEventAttributes as { failure: { encodedAttributes: unknown } })
        .failure;
      const res = await fetch(`${codecServer.url}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payloads: [failure.encodedAttributes] }),
      });
      assert.equal(res.status, 200);
      const decoded = ((await res.json()) as { payloads: { data: string }[] }).payloads[0]!;
      return JSON.parse(Buffer.from(decoded.data, 'base64').toString()) as { message: string; stack_trace: string };
    };
    const attrs = await decode(verify.workflowId);
    assert.equal(attrs.message, r.message);
    assert.match(attrs.stack_trace, /\.ts:\d+/);
    // …and so does the real CLI pointed at it: the failure's encoded attributes come back readable.
    const viaCodec = JSON.parse((await show(verify.workflowId, ['--codec-endpoint', codecServer.url])).stdout) as {
      events: Record<string, unknown>[];
    };
    const wfViaCodec = failuresIn(viaCodec.events.find((e) => e.workflowExecutionFailedEventAttributes))[0]!;
    const viaAttrs = wfViaCodec.encodedAttributes as { data: string };
    const viaMessage = (JSON.parse(Buffer.from(viaAttrs.data, 'base64').toString()) as { message: string }).message;
    assert.equal(viaMessage, r.message);

    // The operator's CLI with the keys: status and report show the decoded messages.
    const cli = (cmd: string, workflowId: string) =>
      execa('node', ['--import', 'tsx', 'client/cli.ts', cmd, workflowId], {
        cwd: PROJECT_ROOT,
        env: { TEMPORAL_ADDRESS: env.address, CORTEX_CODEC_KEYS: `${NEW},${OLD}` },
        reject: false,
      });
    for (const [id, message] of [
      [verify.workflowId, r.message],
      [missing.workflowId, rm.message],
    ] as const) {
      const [status, report] = await Promise.all([cli('status', id), cli('report', id)]);
      assert.equal(status.exitCode, 0, status.stderr);
      assert.equal(report.exitCode, 0, report.stderr);
      const head = message.slice(0, 60);
      assert.ok(report.stdout.includes(head), `report shows '${head}':\n${report.stdout}`);
      assert.ok(status.stdout.includes(`error: ${head}`), `status shows '${head}':\n${status.stdout}`);
      for (const out of [status.stdout, report.stdout]) assert.ok(!out.includes('Encoded failure'), out);
    }
  });
});
