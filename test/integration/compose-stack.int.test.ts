// The production compose stack (docker-compose.yml) end to end, under a project and host ports of its own: the
// images (built by provisioning, scripts/build-prod-images.sh; here only re-checked, a no-op when current),
// `docker compose up --wait` (PostgreSQL, schema job, the four Temporal services, namespace job, rollback worker,
// codec server, Web UI), a Docker rollback started through the stack's frontend with the runbook's approval policy
// and run by the stack's worker container, payloads encrypted with the stack's key; the workflow's visibility row
// and history read from the stack's PostgreSQL; the Web UI's settings name the codec server, which decodes the
// workflow's input; the worker service alone against another cluster (a dev server) runs a rollback there;
// `--scale worker=2` gives two pollers named after their containers. `down -v` at the end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import proto from '@temporalio/proto';
import { connect, sendDecision, startDockerRollback, waitResult, type RollbackClient } from '../../client/client.ts';
import { dataConverter, ENCRYPTED_ENCODING, EncryptionCodec, loadCodecKeys } from '../../common/codec.ts';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import {
  BAD,
  docker,
  ensureImages,
  freePort,
  GOOD,
  health,
  imageId,
  removeByPrefix,
  startApp,
  waitFor,
  type App,
} from '../helpers/docker.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';

const PROJECT = `compose-stack-${process.pid}`;
const KEY = `compose-k1:${randomBytes(32).toString('base64')}`;

describe('the production compose stack: docker compose up, a Docker rollback through it, its history in PostgreSQL', () => {
  let rc: RollbackClient;
  let env: Record<string, string>;
  let ports: { frontend: number; ui: number; codec: number };
  let app: App;
  let workflowId = '';
  let runId = '';
  const token = `compose-reason-${randomBytes(6).toString('hex')}`;
  const appName = `compose-mcp-${Date.now().toString(36)}`;

  const compose = (args: string[], timeoutMs = 300_000) =>
    execa('docker', ['compose', '-f', join(PROJECT_ROOT, 'docker-compose.yml'), '-p', PROJECT, ...args], {
      env,
      timeout: timeoutMs,
      reject: false,
    });
  const psql = async (db: string, sql: string): Promise<string> => {
    const r = await compose(['exec', '-T', 'postgres', 'psql', '-U', 'temporal', '-d', db, '-tAc', sql], 30_000);
    assert.equal(r.exitCode, 0, r.stderr);
    return r.stdout.trim();
  };

  /** The started event's input payload as the server stores it (not decoded). */
  const storedInput = async () => {
    const raw = await rc.client.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId, runId },
      maximumPageSize: 1,
    });
    const input = raw.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    assert.ok(input?.metadata && input.data);
    return { metadata: input.metadata, data: input.data };
  };

  before(async () => {
    await ensureImages();
    await execa('bash', [join(PROJECT_ROOT, 'scripts', 'build-prod-images.sh')], { stdio: 'inherit' });
    ports = { frontend: await freePort(), ui: await freePort(), codec: await freePort() };
    env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      CORTEX_STACK_FRONTEND_PORT: String(ports.frontend),
      CORTEX_STACK_UI_PORT: String(ports.ui),
      CORTEX_STACK_CODEC_PORT: String(ports.codec),
      CORTEX_STACK_CODEC_ENDPOINT: `http://127.0.0.1:${ports.codec}`,
      CORTEX_STACK_POSTGRES_PASSWORD: randomBytes(12).toString('hex'),
      CORTEX_CODEC_KEYS: KEY,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'cortex-rollback',
    };
    const t0 = Date.now();
    const up = await compose(['--profile', 'codec', 'up', '-d', '--wait', '--wait-timeout', '240']);
    if (up.exitCode !== 0) {
      const logs = await compose(['--profile', 'codec', 'logs', '--tail', '30']);
      assert.fail(`docker compose up failed: ${up.stderr}\n${logs.stdout}`);
    }
    console.log(`[compose-stack] up --wait in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    rc = await connect(
      { address: `127.0.0.1:${ports.frontend}`, namespace: 'default', taskQueue: 'cortex-rollback' },
      { dataConverter: dataConverter({ CORTEX_CODEC_KEYS: KEY }) },
    );
  });

  after(async () => {
    await rc?.close();
    await removeByPrefix(appName);
    if (env) await compose(['--profile', 'codec', 'down', '-v', '--timeout', '10']);
  });

  it("rolls a v2.1.0 container back to v2.0.0 on the stack's worker, with the runbook's approval policy", async () => {
    app = await startApp(appName, BAD);
    assert.equal((await health(app.healthUrl)).status, 503);
    ({ workflowId, runId } = await startDockerRollback(rc, {
      containerName: appName,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: token,
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 3, intervalSeconds: 1 },
      searchAttributes: true,
    }));
    const handle = rc.client.workflow.getHandle(workflowId);
    await waitFor(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval', 120_000, 'approval');
    await sendDecision(rc, workflowId, { approve: APPROVER.application });
    const r = await waitResult(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'succeeded');

    const c = await docker.getContainer(appName).inspect();
    assert.equal(c.Image, await imageId(GOOD));
    assert.equal(c.State.Running, true);
    const h = await health(app.healthUrl);
    assert.deepEqual([h.status, h.body.status, h.body.version], [200, 'healthy', 'v2.0.0']);

    // the stack's worker container ran it: the identities in the history name a container of the project
    const workers = (await compose(['ps', '-q', '--no-trunc', 'worker'])).stdout.split('\n').filter(Boolean);
    const identities = new Set<string>();
    for (const e of (await handle.fetchHistory()).events ?? []) {
      const id = e.activityTaskStartedEventAttributes?.identity;
      if (id) identities.add(id);
    }
    assert.ok(identities.size > 0, 'activities ran');
    for (const id of identities) {
      assert.ok(
        workers.some((w) => id.startsWith(`rollback-worker-${w.slice(0, 12)}@`)),
        `${id} is one of ${workers.join(', ')}`,
      );
    }
  });

  it("keeps the workflow's visibility row and history in the stack's PostgreSQL, payloads encrypted", async () => {
    assert.ok(workflowId, 'the rollback test ran');
    const status = await psql(
      'temporal_visibility',
      `SELECT status FROM executions_visibility WHERE workflow_id = '${workflowId}' AND run_id = '${runId}'`,
    );
    assert.equal(
      status,
      String(proto.temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED),
    );
    // The input is stored as its ciphertext; its JSON never appears in clear, nor does the reason anywhere: the
    // RollbackTrigger search attribute (searchAttributes: true), which the server indexes unencrypted, holds only
    // the codec's keyed digest of it.
    const input = await storedInput();
    assert.equal(Buffer.from(input.metadata.encoding ?? []).toString(), ENCRYPTED_ENCODING);
    const cipher = Buffer.from(input.data).subarray(0, 32).toString('hex');
    const tree = `decode('${runId.replaceAll('-', '')}', 'hex')`;
    const count = async (where: string) =>
      Number(await psql('temporal', `SELECT count(*) FROM history_node WHERE tree_id = ${tree} AND ${where}`));
    assert.ok((await count('true')) >= 5, 'history batches in PostgreSQL');
    assert.equal(await count(`position(decode('${cipher}', 'hex') IN data) > 0`), 1, 'the encrypted input is stored');
    assert.equal(
      await count(`position(convert_to('"reason":"${token}"', 'UTF8') IN data) > 0`),
      0,
      'the input is never stored in clear',
    );
    assert.equal(
      await count(`position(convert_to('${token}', 'UTF8') IN data) > 0`),
      0,
      'the reason is nowhere in clear',
    );
    const digest = new EncryptionCodec(loadCodecKeys({ CORTEX_CODEC_KEYS: KEY })).digest(token);
    assert.ok(
      (await count(`position(convert_to('"${digest}"', 'UTF8') IN data) > 0`)) >= 1,
      'the checks above can see clear text: the search attribute holding the digest of the reason is found',
    );
  });

  it("the Web UI names the codec server, and the codec server decodes the workflow's input for the UI's origin", async () => {
    assert.ok(workflowId, 'the rollback test ran');
    const ui = `http://127.0.0.1:${ports.ui}`;
    const settings = (await (await fetch(`${ui}/api/v1/settings`)).json()) as { Codec: { Endpoint: string } };
    assert.equal(settings.Codec.Endpoint, env.CORTEX_STACK_CODEC_ENDPOINT);
    const listed = await fetch(
      `${ui}/api/v1/namespaces/default/workflows?query=${encodeURIComponent(`WorkflowId="${workflowId}"`)}`,
    );
    assert.equal(listed.status, 200);
    assert.ok((await listed.text()).includes(runId), 'the UI lists the run from the stack');

    const input = await storedInput();
    assert.equal(Buffer.from(input.metadata.encoding ?? []).toString(), ENCRYPTED_ENCODING);
    const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
    const res = await fetch(`${env.CORTEX_STACK_CODEC_ENDPOINT}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: ui, 'x-namespace': 'default' },
      body: JSON.stringify({
        payloads: [
          {
            metadata: Object.fromEntries(Object.entries(input.metadata).map(([k, v]) => [k, b64(v)])),
            data: b64(input.data),
          },
        ],
      }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('access-control-allow-origin'), ui);
    const decoded = (await res.json()) as { payloads: { data: string }[] };
    assert.ok(Buffer.from(decoded.payloads[0]!.data, 'base64').toString().includes(token));
  });

  it("the stack's worker alone against an existing cluster (CORTEX_STACK_TEMPORAL_ADDRESS, up --no-deps worker) runs a rollback there", async () => {
    const cluster = await localEnv();
    const project = `compose-ext-${process.pid}`;
    const queue = uniqueQueue('compose-ext');
    const extEnv = { ...env, CORTEX_STACK_TEMPORAL_ADDRESS: cluster.address, TEMPORAL_TASK_QUEUE: queue };
    const ext = (args: string[]) =>
      execa('docker', ['compose', '-f', join(PROJECT_ROOT, 'docker-compose.yml'), '-p', project, ...args], {
        env: extEnv,
        timeout: 180_000,
        reject: false,
      });
    const name = `${appName}-ext`;
    try {
      const up = await ext(['up', '-d', '--no-deps', 'worker']);
      assert.equal(up.exitCode, 0, up.stderr);
      const services = (await ext(['ps', '--format', '{{.Service}}'])).stdout.split('\n').filter(Boolean);
      assert.deepEqual(services, ['worker'], 'no server, no database: the worker alone');
      const extRc = await connect(
        { address: cluster.address, namespace: 'default', taskQueue: queue },
        { dataConverter: dataConverter({ CORTEX_CODEC_KEYS: KEY }) },
      );
      try {
        const other = await startApp(name, BAD);
        const started = await startDockerRollback(extRc, {
          containerName: name,
          targetImage: GOOD,
          healthUrl: other.healthUrl,
          reason: 'compose worker on an existing cluster',
          requestedBy: REQUESTER,
          approval: { preApproved: APPROVER.application },
          monitor: { durationSeconds: 2, intervalSeconds: 1 },
        });
        const r = await waitResult(extRc, started.workflowId);
        assert.ok(r.ok, JSON.stringify(r));
        assert.equal(r.result.outcome, 'succeeded');
        assert.equal((await health(other.healthUrl)).body.version, 'v2.0.0');
        const [cid] = (await ext(['ps', '-q', '--no-trunc', 'worker'])).stdout.split('\n').filter(Boolean);
        const hist = await extRc.client.workflow.getHandle(started.workflowId).fetchHistory();
        const ids = new Set(
          (hist.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.identity).filter(Boolean),
        );
        assert.deepEqual([...ids], [`rollback-worker-${cid!.slice(0, 12)}@${hostname()}`]);
      } finally {
        await extRc.close();
      }
    } finally {
      await ext(['down', '-v', '--timeout', '10']);
      await removeByPrefix(name);
      await cluster.teardown();
    }
  });

  it('--scale worker=2 gives two workers polling the task queue, each named after its container', async () => {
    const up = await compose([
      '--profile',
      'codec',
      'up',
      '-d',
      '--wait',
      '--wait-timeout',
      '120',
      '--scale',
      'worker=2',
    ]);
    assert.equal(up.exitCode, 0, up.stderr);
    const workers = (await compose(['ps', '-q', '--no-trunc', 'worker'])).stdout.split('\n').filter(Boolean);
    assert.equal(workers.length, 2);
    const expected = workers.map((w) => `rollback-worker-${w.slice(0, 12)}@`).sort();
    let seen: string[] = [];
    await waitFor(
      async () => {
        const d = await rc.client.workflowService.describeTaskQueue({
          namespace: 'default',
          taskQueue: { name: 'cortex-rollback' },
          taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        });
        seen = (d.pollers ?? []).map((p) => p.identity ?? '');
        return expected.every((prefix) => seen.some((id) => id.startsWith(prefix)));
      },
      120_000,
      `pollers ${expected.join(', ')} (seen: ${seen.join(', ')})`,
    );
  });
});
