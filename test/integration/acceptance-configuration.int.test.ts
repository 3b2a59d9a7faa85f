// Acceptance: the runbook's Configuration Rollback section, each scenario started exactly as the README tells an
// operator — the project CLI (`cortex-rollback start <scenario> …`, run as `node --import tsx client/cli.ts`) and the
// plain `temporal workflow start --input '<json>'` with the real binary — against a worker started as `npm run worker`
// with nothing overridden but where Qdrant is (CORTEX_APPROVAL_POLICY unset: config/approval-policy.json is in force).
// The roster's on-call engineer approves, someone else requests, the requester's own approval is refused; afterwards
// the real system is read back: the env file's bytes, the recreated container's env and health; the collection's
// config in Qdrant (a real server, with an API key). Departures from the README's commands, each named in the test: the
// watch is shortened (the default is 30 min).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { QdrantClient } from '@qdrant/js-client-rest';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, ensureImages, GOOD, health, removeByPrefix, startApp } from '../helpers/docker.ts';
import { seed, startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { operator } from '../helpers/operator.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const ONCALL = APPROVER.configuration;
const secret = (tag: string) => `${tag}-${randomBytes(12).toString('hex')}`;

describe('acceptance: Configuration Rollback, started as the README says, under the committed approval policy', () => {
  let env: TestWorkflowEnvironment;
  let qdrant: TestQdrant;
  let client: QdrantClient;
  let worker: WorkerProcess;
  let taskQueue: string;
  let dir: string;
  const qdrantKey = secret('qdrant-key');
  const names: string[] = [];

  before(async () => {
    await ensureImages();
    dir = await mkdtemp(join(tmpdir(), 'acceptance-config-'));
    [env, qdrant] = await Promise.all([localEnv(), startTestQdrant({ apiKey: qdrantKey })]);
    client = new QdrantClient({ url: qdrant.url, apiKey: qdrantKey, checkCompatibility: false });
    taskQueue = uniqueQueue('acceptance-config');
    // `QDRANT_URL=… QDRANT_API_KEY=… npm run worker`: the committed policy by default
    worker = spawnWorker({
      address: env.address,
      taskQueue,
      extra: {
        CORTEX_APPROVAL_POLICY: '',
        QDRANT_URL: qdrant.url,
        QDRANT_API_KEY: qdrantKey,
        CORTEX_BACKUP_DIR: join(dir, 'backups'),
      },
    });
    await worker.ready;
  });
  after(async () => {
    await worker?.kill();
    for (const n of names) await removeByPrefix(n);
    await env?.teardown();
    await qdrant?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // the two doors of the README, from test/helpers/operator.ts (env and taskQueue are set in before())
  const op = () => operator(env, taskQueue);
  const cli = (...args: string[]) => op().cli(...args);
  const temporal = (...args: string[]) => op().temporal(...args);
  const untilAwaitingApproval = async (workflowId: string): Promise<void> => {
    await op().awaitingApproval(workflowId);
  };

  /** The README's `approve`: the requester is refused (exit 2, four eyes), the on-call engineer approves (exit 0). */
  async function approveWithCli(workflowId: string): Promise<void> {
    const self = await cli('approve', workflowId, '--approver', REQUESTER, '--role', 'engineer');
    assert.equal(self.exitCode, 2, self.stderr);
    assert.match(self.stderr, /requested this rollback and may not decide it \(four eyes\)/);
    const ok = await cli('approve', workflowId, '--approver', ONCALL.approver, '--role', ONCALL.role);
    assert.equal(ok.exitCode, 0, ok.stderr);
  }

  /** The README's `temporal workflow signal … approve`: the requester's signal is refused, the on-call engineer's counts. */
  async function approveWithSignal(workflowId: string): Promise<void> {
    for (const who of [{ approver: REQUESTER, role: 'engineer' }, ONCALL]) {
      const sig = await temporal(
        ...['workflow', 'signal', '--workflow-id', workflowId, '--name', 'approve'],
        ...['--input', JSON.stringify(who)],
      );
      assert.equal(sig.exitCode, 0, sig.stderr);
    }
  }

  async function temporalResult<T>(workflowId: string): Promise<T> {
    const res = await temporal('workflow', 'result', '--workflow-id', workflowId, '-o', 'json');
    assert.equal(res.exitCode, 0, `${res.stdout}\n${res.stderr}`);
    return (JSON.parse(res.stdout) as { result: T }).result;
  }

  /** A service as `docker run --env-file .env`, its .env broken (unhealthy), a known-good copy beside it. */
  async function envService(tag: string) {
    const name = `acc-env-${tag}-${Date.now().toString(36)}`;
    names.push(name);
    const d = join(dir, name);
    await mkdir(d);
    const lines = (healthState: string, openai: string) => [
      '# cortex-mcp production env',
      `QDRANT_URL=${qdrant.url}`,
      `QDRANT_API_KEY=${qdrantKey}`,
      `OPENAI_API_KEY=${openai}`,
      `CORTEX_HEALTH=${healthState}`,
    ];
    const bad = lines('unhealthy', secret('sk-bad'));
    const good = lines('healthy', secret('sk-good'));
    const envFile = join(d, '.env');
    const knownGoodFile = join(d, 'production.env.backup');
    await writeFile(envFile, `${bad.join('\n')}\n`, { mode: 0o640 });
    await writeFile(knownGoodFile, `${good.join('\n')}\n`, { mode: 0o640 });
    const app = await startApp(name, GOOD, bad.slice(1));
    assert.equal((await health(app.healthUrl)).status, 503, 'the bad env is observable');
    return { name, envFile, knownGoodFile, app, good };
  }

  async function assertEnvRolledBack(s: Awaited<ReturnType<typeof envService>>): Promise<void> {
    assert.equal(await readFile(s.envFile, 'utf8'), await readFile(s.knownGoodFile, 'utf8'), 'the known-good file');
    const c = await docker.getContainer(s.name).inspect();
    assert.equal(c.State.Running, true);
    for (const line of s.good.slice(1)) assert.ok(c.Config.Env.includes(line), `the container runs with ${line}`);
    const h = await health(s.app.healthUrl);
    assert.deepEqual([h.status, h.body.status], [200, 'healthy']);
  }

  it('env-file from the CLI with --wait (watch shortened to 2 s): the requester refused, the on-call engineer approves; the known-good file is back and the service healthy on it', async () => {
    const s = await envService('cli');
    const started = cli(
      ...['start', 'env-file', '--file', s.envFile, '--known-good-file', s.knownGoodFile],
      ...['--target', 'docker', '--container', s.name, '--health-url', s.app.healthUrl],
      ...['--reason', 'bad OPENAI key deployed', '--requested-by', REQUESTER, '--wait'],
      ...['--watch-seconds', '2', '--interval', '1'],
    );
    const workflowId = `rollback-configuration-env-docker-${s.name}`;
    await untilAwaitingApproval(workflowId);
    assert.equal((await docker.getContainer(s.name).inspect()).Id, s.app.id, 'nothing changed before the approval');
    await approveWithCli(workflowId);
    const r = await started;
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    await assertEnvRolledBack(s);
  });

  it('env-file from `temporal workflow start` (watch shortened to 2 s): the requester’s signal refused, the on-call engineer’s approves; the known-good file is back', async () => {
    const s = await envService('tctl');
    const workflowId = `rollback-configuration-env-docker-${s.name}`;
    const input = {
      envFile: s.envFile,
      knownGoodFile: s.knownGoodFile,
      target: { kind: 'docker', containerName: s.name, healthUrl: s.app.healthUrl },
      reason: 'bad env',
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 2, intervalSeconds: 1 },
    };
    const start = await temporal(
      ...['workflow', 'start', '--type', 'environmentConfigRollback', '--task-queue', taskQueue],
      ...['--workflow-id', workflowId, '--input', JSON.stringify(input)],
    );
    assert.equal(start.exitCode, 0, start.stderr);
    await untilAwaitingApproval(workflowId);
    await approveWithSignal(workflowId);
    const r = await temporalResult<{ outcome: string; approvals: { decision: string; approver: string }[] }>(
      workflowId,
    );
    assert.equal(r.outcome, 'succeeded');
    assert.deepEqual(
      r.approvals.map((a) => [a.decision, a.approver]),
      [
        ['refused', REQUESTER],
        ['approved', ONCALL.approver],
      ],
    );
    await assertEnvRolledBack(s);
  });

  /** A collection whose config was changed (the bad deploy): HNSW m 32, indexing threshold 20000. */
  async function changedCollection(name: string): Promise<void> {
    await seed(client, name, 50, 8);
    await client.updateCollection(name, {
      hnsw_config: { m: 32 },
      optimizers_config: { indexing_threshold: 20000 },
    });
    const info = await client.getCollection(name);
    assert.deepEqual([info.config.hnsw_config.m, info.config.optimizer_config.indexing_threshold], [32, 20000]);
  }
  const TARGET = { hnsw_config: { m: 16 }, optimizers_config: { indexing_threshold: 10000 } };
  async function assertConfigRolledBack(name: string): Promise<void> {
    const info = await client.getCollection(name);
    assert.deepEqual([info.config.hnsw_config.m, info.config.optimizer_config.indexing_threshold], [16, 10000]);
    assert.equal((await client.count(name, { exact: true })).count, 50, 'no point lost');
  }

  it('qdrant-config from the CLI: the requester refused, the on-call engineer approves; Qdrant holds the earlier settings', async () => {
    const collection = `acc-config-cli-${Date.now().toString(36)}`;
    await changedCollection(collection);
    const start = await cli(
      ...['start', 'qdrant-config', '--collection', collection, '--target-json', JSON.stringify(TARGET)],
      ...['--reason', 'v1.3 config broke indexing', '--requested-by', REQUESTER],
    );
    assert.equal(start.exitCode, 0, start.stderr);
    const workflowId = /started (\S+)/.exec(start.stdout)?.[1];
    assert.ok(workflowId, start.stdout);
    await untilAwaitingApproval(workflowId);
    assert.equal((await client.getCollection(collection)).config.hnsw_config.m, 32, 'nothing changed yet');
    await approveWithCli(workflowId);
    const r = await cli('result', workflowId, '--json');
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal((JSON.parse(r.stdout) as { result: { outcome: string } }).result.outcome, 'succeeded');
    await assertConfigRolledBack(collection);
  });

  it('qdrant-config from `temporal workflow start`: the on-call engineer’s signal approves; Qdrant holds the earlier settings', async () => {
    const collection = `acc-config-tctl-${Date.now().toString(36)}`;
    await changedCollection(collection);
    const workflowId = `rollback-configuration-qdrant-${collection}`;
    const input = { collection, target: TARGET, reason: 'v1.3 config broke indexing', requestedBy: REQUESTER };
    const start = await temporal(
      ...['workflow', 'start', '--type', 'qdrantConfigRollback', '--task-queue', taskQueue],
      ...['--workflow-id', workflowId, '--input', JSON.stringify(input)],
    );
    assert.equal(start.exitCode, 0, start.stderr);
    await untilAwaitingApproval(workflowId);
    await approveWithSignal(workflowId);
    const r = await temporalResult<{ outcome: string; approvals: { decision: string }[] }>(workflowId);
    assert.equal(r.outcome, 'succeeded');
    assert.deepEqual(
      r.approvals.map((a) => a.decision),
      ['refused', 'approved'],
    );
    await assertConfigRolledBack(collection);
  });
});
