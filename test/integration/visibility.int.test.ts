// Visibility that never wedges a rollback and leaks nothing, on the real dev server, a worker with the real
// activities and the real Docker engine running the demo images.
// 1. A namespace set up as the earlier README said (only RollbackType, RollbackTarget, RollbackPhase registered —
//    departs from the project's dev server, which registers all eight): a Docker rollback started with
//    `searchAttributes: true` completes, sets the three, and its status names the five it skipped; a worker started
//    with CORTEX_REGISTER_SEARCH_ATTRIBUTES=1 registers the five and its next run sets all eight.
// 2. Encrypted payloads (CORTEX_CODEC_KEYS): the reason and the approval's comment appear nowhere in clear — not in
//    `temporal workflow describe`, `list` or `show` (the raw history), base64-decoded fields included; the run's
//    identifying fields (type, target, phase, service, version, requester) are published, the reason only as the
//    codec's keyed digest.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import {
  connect,
  decide,
  getStatus,
  startDockerRollback,
  waitResult,
  type RollbackClient,
} from '../../client/client.ts';
import { dataConverter, EncryptionCodec, loadCodecKeys } from '../../common/codec.ts';
import { SEARCH_ATTRIBUTES } from '../../common/dev-server.ts';
import { temporalCliPath } from '../../common/tools.ts';
import { createWorker } from '../../workers/worker.ts';
import { BAD, ensureImages, GOOD, removeByPrefix, startApp, waitFor } from '../helpers/docker.ts';
import { recordHistory } from '../helpers/record.ts';
import { APPROVER, localEnv, REQUESTER, testClient, uniqueQueue } from '../helpers/temporal.ts';

const THREE = ['RollbackType', 'RollbackTarget', 'RollbackPhase'] as const;
const ALL = Object.keys(SEARCH_ATTRIBUTES);

/** `temporal <args> --address <env> -o json`, parsed. */
async function cli(env: TestWorkflowEnvironment, args: string[]): Promise<{ raw: string; json: unknown }> {
  const { stdout } = await execa(temporalCliPath(), [...args, '--address', env.address, '-o', 'json']);
  return { raw: stdout, json: JSON.parse(stdout) as unknown };
}

/** A JSON document as text, with every base64-looking string also decoded (payload data, metadata). */
function readable(raw: string): string {
  const out = [raw];
  const walk = (n: unknown): void => {
    if (typeof n === 'string') {
      if (n.length >= 4 && n.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(n))
        out.push(Buffer.from(n, 'base64').toString('utf8'));
    } else if (Array.isArray(n)) n.forEach(walk);
    else if (n && typeof n === 'object') Object.values(n).forEach(walk);
  };
  walk(JSON.parse(raw));
  return out.join('\n');
}

/** A search attribute's value as the CLI's JSON gives it (a payload: base64 JSON; a list of one: its value). */
function attribute(json: unknown, name: string): unknown {
  const find = (n: unknown): unknown => {
    if (!n || typeof n !== 'object') return undefined;
    const o = n as Record<string, unknown>;
    const fields = (o.searchAttributes as { indexedFields?: Record<string, { data?: string }> } | undefined)
      ?.indexedFields;
    if (fields) {
      if (!fields[name]) return undefined;
      const v = JSON.parse(Buffer.from(fields[name].data ?? '', 'base64').toString()) as unknown;
      return Array.isArray(v) && v.length === 1 ? (v[0] as unknown) : v;
    }
    for (const v of Object.values(o)) {
      const r = find(v);
      if (r !== undefined) return r;
    }
    return undefined;
  };
  return find(json);
}

/** The run's result, or a failure naming why it did not finish (a wedged first workflow task never does). */
async function resultWithin(rc: RollbackClient, env: TestWorkflowEnvironment, workflowId: string, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void cli(env, ['workflow', 'describe', '-w', workflowId]).then(
        (d) => reject(new Error(`${workflowId} did not finish within ${ms} ms: ${d.raw.slice(0, 3000)}`)),
        reject,
      );
    }, ms);
  });
  try {
    return await Promise.race([waitResult(rc, workflowId), late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a namespace with only RollbackType, RollbackTarget, RollbackPhase registered (not the project dev server)', () => {
  let env: TestWorkflowEnvironment;
  const workers: { worker: Worker; running: Promise<void> }[] = [];
  const names: string[] = [];

  before(async () => {
    await ensureImages();
    env = await localEnv({}, { searchAttributes: [...THREE] });
  });
  after(async () => {
    for (const n of names) await removeByPrefix(n);
    for (const w of workers) w.worker.shutdown();
    await Promise.all(workers.map((w) => w.running));
    await env?.teardown();
  });

  async function serve(extraEnv: Record<string, string> = {}): Promise<RollbackClient> {
    const rc = testClient(env, uniqueQueue('vis'));
    const saved = Object.fromEntries(Object.keys(extraEnv).map((k) => [k, process.env[k]]));
    Object.assign(process.env, extraEnv);
    try {
      const { worker } = await createWorker({ settings: rc.settings, connection: env.nativeConnection });
      workers.push({ worker, running: worker.run() });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    return rc;
  }

  async function rollback(rc: RollbackClient, tag: string) {
    const name = `cortex-vis-${tag}-${Date.now().toString(36)}`;
    names.push(name);
    const app = await startApp(name, BAD);
    const { workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: 'v2.1.0 fails /health',
      requestedBy: REQUESTER,
      approval: { preApproved: APPROVER.ci },
      monitor: { durationSeconds: 0 },
      searchAttributes: true,
    });
    const r = await resultWithin(rc, env, workflowId, 90_000);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'succeeded');
    return { name, workflowId };
  }

  it('a rollback with searchAttributes completes, sets the three registered ones and says which it skipped', async () => {
    const rc = await serve();
    const { name, workflowId } = await rollback(rc, 'three');
    await recordHistory('docker-search-attributes-skipped', workflowId, env.address);

    const d = await cli(env, ['workflow', 'describe', '-w', workflowId]);
    assert.equal(attribute(d.json, 'RollbackType'), 'application');
    assert.equal(attribute(d.json, 'RollbackTarget'), `docker:${name}`);
    assert.equal(attribute(d.json, 'RollbackPhase'), 'completed');
    const described = await env.client.workflow.getHandle(workflowId).describe();
    const ours = Object.keys(described.searchAttributes).filter((n) => ALL.includes(n));
    assert.deepEqual(ours.sort(), [...THREE].sort());

    const status = await getStatus(rc, workflowId);
    assert.deepEqual(status.searchAttributes?.published.sort(), [...THREE].sort());
    assert.deepEqual(
      status.searchAttributes?.skipped.map((s) => s.name).sort(),
      ALL.filter((n) => !(THREE as readonly string[]).includes(n)).sort(),
    );
    for (const s of status.searchAttributes?.skipped ?? []) assert.equal(s.why, 'not registered on the namespace');

    const listed = await cli(env, [
      'workflow',
      'list',
      '-q',
      `RollbackTarget = "docker:${name}" AND RollbackPhase = "completed"`,
    ]);
    assert.deepEqual(
      (listed.json as { execution: { workflowId: string } }[]).map((w) => w.execution.workflowId),
      [workflowId],
    );
  });

  it('a worker with CORTEX_REGISTER_SEARCH_ATTRIBUTES=1 registers the missing ones; its next run sets all eight', async () => {
    const rc = await serve({ CORTEX_REGISTER_SEARCH_ATTRIBUTES: '1' });
    const listed = await env.nativeConnection.operatorService.listSearchAttributes({ namespace: 'default' });
    assert.deepEqual(
      Object.keys(listed.customAttributes ?? {})
        .filter((n) => ALL.includes(n))
        .sort(),
      [...ALL].sort(),
    );
    const { name, workflowId } = await rollback(rc, 'registered');
    const status = await getStatus(rc, workflowId);
    assert.deepEqual(status.searchAttributes?.skipped, []);
    assert.deepEqual(status.searchAttributes?.published.sort(), [...ALL].sort());
    const described = await env.client.workflow.getHandle(workflowId).describe();
    assert.equal(described.searchAttributes.RollbackService?.[0], name);
    assert.equal(described.searchAttributes.RollbackOutcome?.[0], 'succeeded');
    assert.equal(described.searchAttributes.RollbackTrigger?.[0], 'v2.1.0 fails /health');
    assert.equal(described.searchAttributes.RollbackRequestedBy?.[0], REQUESTER);
  });
});

describe('an encrypted run (CORTEX_CODEC_KEYS) leaves its reason and comment nowhere in clear', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let rc: RollbackClient;
  const keys = `vis-key:${randomBytes(32).toString('base64')}`;
  const name = `cortex-vis-enc-${Date.now().toString(36)}`;

  before(async () => {
    await ensureImages();
    env = await localEnv();
    const settings = { address: env.address, namespace: 'default', taskQueue: uniqueQueue('vis-enc') };
    const dc = dataConverter({ CORTEX_CODEC_KEYS: keys });
    ({ worker } = await createWorker({ settings, connection: env.nativeConnection, dataConverter: dc }));
    running = worker.run();
    rc = await connect(settings, { dataConverter: dc });
  });
  after(async () => {
    await removeByPrefix(name);
    worker?.shutdown();
    await running;
    await rc?.close();
    await env?.teardown();
  });

  it('describe, list and the raw history hold no reason or comment; identifying fields and a digest are published', async () => {
    const reason = `vis-secret-reason ${randomBytes(4).toString('hex')}: customer data in the logs`;
    const comment = `vis-secret-comment ${randomBytes(4).toString('hex')}`;
    const app = await startApp(name, BAD);
    const { workflowId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason,
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 0 },
      searchAttributes: true,
    });
    await waitFor(async () => (await getStatus(rc, workflowId)).phase === 'awaiting-approval', 60_000, 'approval');
    await decide(rc, workflowId, { decision: 'approve', ...APPROVER.application, comment });
    const r = await resultWithin(rc, env, workflowId, 90_000);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal(r.result.reason, reason, 'a codec holder reads the reason back');

    const describeOut = await cli(env, ['workflow', 'describe', '-w', workflowId]);
    const listOut = await cli(env, ['workflow', 'list', '-q', `WorkflowId = "${workflowId}"`]);
    const showOut = await cli(env, ['workflow', 'show', '-w', workflowId]);
    assert.equal((listOut.json as unknown[]).length, 1, 'list finds the run');
    for (const [what, out] of [
      ['describe', describeOut],
      ['list', listOut],
      ['show (history)', showOut],
    ] as const) {
      const text = readable(out.raw);
      for (const secret of [reason, comment, 'vis-secret-reason', 'vis-secret-comment', 'customer data'])
        assert.ok(!text.includes(secret), `'${secret}' is in clear in ${what}`);
    }
    // the checks above can see clear text: the identifying fields are there, readable
    const digest = new EncryptionCodec(loadCodecKeys({ CORTEX_CODEC_KEYS: keys })).digest(reason);
    for (const out of [describeOut, listOut]) {
      assert.equal(attribute(out.json, 'RollbackTarget'), `docker:${name}`);
      assert.equal(attribute(out.json, 'RollbackService'), name);
      assert.equal(attribute(out.json, 'RollbackTargetVersion'), GOOD);
      assert.equal(attribute(out.json, 'RollbackRequestedBy'), REQUESTER);
      assert.equal(attribute(out.json, 'RollbackPhase'), 'completed');
      assert.equal(attribute(out.json, 'RollbackOutcome'), 'succeeded');
      assert.equal(attribute(out.json, 'RollbackTrigger'), digest, 'the reason only as its keyed digest');
    }
    assert.match(digest, /^hmac-vis-key-[0-9a-f]{16}$/);
    assert.ok(readable(showOut.raw).includes(REQUESTER), 'the history check sees clear text (the requester)');
    const status = await getStatus(rc, workflowId);
    assert.deepEqual(status.searchAttributes?.digested, ['RollbackTrigger']);
    assert.deepEqual(status.searchAttributes?.skipped, []);
    // the same digest lists every run of that reason, without the reason
    const same = env.client.workflow.list({ query: `RollbackTrigger = "${digest}"` });
    const found: string[] = [];
    for await (const w of same) found.push(w.workflowId);
    assert.deepEqual(found, [workflowId]);
  });
});
