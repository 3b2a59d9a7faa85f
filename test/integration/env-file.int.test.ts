// environmentConfigRollback end to end with real parts: the Temporal dev server, the real Docker engine running the
// demo image with the env of a file (its CORTEX_HEALTH makes a bad env observable at /health), a real Qdrant server
// with an API key (behind the fault proxy, which logs requests) for the runbook's connection test, real files with
// owner and mode. Secrets are random per run and must appear in no workflow history, status or report.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorkflow, waitResult, type RollbackClient } from '../../client/client.ts';
import { renderReport } from '../../client/report.ts';
import { createWorker } from '../../workers/worker.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import {
  envFileRollbackWorkflowId,
  envFileInput,
  type EnvFileRollbackInput,
  type EnvFileRollbackResult,
} from '../../workflows/configuration/env-file.ts';
import { parseInput } from '../../workflows/phases/schema.ts';
import { startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { containersNamed, docker, ensureImages, GOOD, health, removeByPrefix, startApp } from '../helpers/docker.ts';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { startDockerGate } from '../helpers/docker-gate.ts';
import { activityRuns, workflowTaskIdentities, hostActivityEvents } from '../helpers/history.ts';
import { APPROVER, localEnv, REQUESTER, testClient, uniqueQueue } from '../helpers/temporal.ts';
import { freePort } from '../helpers/docker.ts';
import { startSystemdMachine, unitProps, type MachineWorker, type SystemdMachine } from '../helpers/systemd-host.ts';
import { PROJECT_ROOT, temporalCliPath } from '../../common/tools.ts';
import { execa } from 'execa';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const RUN_ID_LABEL = 'cortex-rollback.run-id';
const MACHINE = `envfile-systemd-${process.pid}`;
const HOST = `envfile-host-${process.pid}`;
const secret = (tag: string) => `${tag}-${randomBytes(12).toString('hex')}`;

describe('environmentConfigRollback: env file restored, service restarted on it, verified, undone on failure', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let rc: RollbackClient;
  let qdrant: TestQdrant;
  let dir: string;
  const qdrantKey = secret('qdrant-key');
  /** Every secret value written into any env file of this test: none may reach Temporal. */
  const secrets: string[] = [qdrantKey];
  const names: string[] = [];
  const handles: WorkflowHandle[] = [];
  const workers: WorkerProcess[] = [];
  let m: SystemdMachine;
  let hostWorker: MachineWorker | undefined;

  before(async () => {
    await ensureImages();
    dir = await mkdtemp(join(tmpdir(), 'envfile-it-'));
    qdrant = await startTestQdrant({ apiKey: qdrantKey });
    [env, m] = await Promise.all([localEnv(), startSystemdMachine(MACHINE)]);
    hostWorker = m.startWorker({ address: env.address, host: HOST, identity: `${MACHINE}-worker` });
    rc = testClient(env, uniqueQueue('envfile'));
    ({ worker } = await createWorker({ settings: rc.settings, connection: env.nativeConnection }));
    running = worker.run();
    await hostWorker.ready;
  });
  after(async () => {
    for (const w of workers) w.proc.kill('SIGKILL');
    await hostWorker?.kill().catch(() => undefined);
    await m?.remove();
    for (const n of names) await removeByPrefix(n);
    worker?.shutdown();
    await running;
    await env?.teardown();
    await qdrant?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A service's env: the known-good one, or broken in the ways a bad deploy breaks it. */
  function envLines(o: { health?: string; qdrantKey?: string; extra?: string[] } = {}): string[] {
    const openai = secret('sk-openai');
    secrets.push(openai);
    if (o.qdrantKey) secrets.push(o.qdrantKey);
    return [
      '# cortex-mcp production env',
      `QDRANT_URL=${qdrant.url}`,
      `QDRANT_API_KEY=${o.qdrantKey ?? qdrantKey}`,
      `OPENAI_API_KEY=${openai}`,
      `CORTEX_HEALTH=${o.health ?? 'healthy'}`,
      '',
      ...(o.extra ?? []),
    ];
  }

  async function writeEnv(path: string, lines: string[], owner = { uid: 1234, gid: 1234, mode: 0o640 }) {
    await writeFile(path, `${lines.join('\n')}\n`, { mode: owner.mode });
    await chown(path, owner.uid, owner.gid);
  }

  /** A container started like `docker run --env-file <current>`: the app plus the file's KEY=VALUE lines. */
  async function service(tag: string, current: string[]) {
    const name = `envfile-${tag}-${Date.now().toString(36)}`;
    names.push(name);
    const d = join(dir, name);
    await mkdir(d);
    const envFile = join(d, '.env');
    const knownGoodFile = join(d, 'production.env.backup');
    await writeEnv(envFile, current);
    const app = await startApp(
      name,
      GOOD,
      current.filter((l) => /^[A-Z_]+=/.test(l)),
    );
    return { name, dir: d, envFile, knownGoodFile, app };
  }

  function input(
    s: Awaited<ReturnType<typeof service>>,
    extra: Partial<EnvFileRollbackInput> = {},
  ): EnvFileRollbackInput {
    return {
      envFile: s.envFile,
      knownGoodFile: s.knownGoodFile,
      target: { kind: 'docker', containerName: s.name, healthUrl: s.app.healthUrl },
      reason: 'bad env deployed',
      requestedBy: REQUESTER,
      approval: { preApproved: APPROVER.ci },
      monitor: { durationSeconds: 0 },
      verifyTimeoutSeconds: 5,
      ...extra,
    };
  }

  async function start(i: EnvFileRollbackInput, client = rc) {
    const workflowId = envFileRollbackWorkflowId(parseInput(envFileInput, i));
    await startWorkflow(client, 'environmentConfigRollback', i, workflowId);
    handles.push(env.client.workflow.getHandle(workflowId));
    return workflowId;
  }

  const backups = async (d: string) => (await readdir(d)).filter((f) => f.startsWith('.env.backup-'));
  const others = async (d: string) => (await readdir(d)).filter((f) => f.endsWith('.tmp'));

  it('applies the known-good file: backed up with owner and mode, replaced, container recreated with its env, healthy, Qdrant reached', async () => {
    const s = await service('good', envLines({ health: 'unhealthy', qdrantKey: secret('stale-key') }));
    const goodLines = envLines({ extra: ['CORTEX_FEATURE_FLAGS=memory-v2'] });
    await writeEnv(s.knownGoodFile, goodLines, { uid: 0, gid: 0, mode: 0o600 });
    const oldBytes = await readFile(s.envFile);
    const oldStat = await stat(s.envFile);
    assert.equal((await health(s.app.healthUrl)).status, 503, 'the bad env makes the service unhealthy');

    const t0 = Date.now();
    const workflowId = await start(input(s, { monitor: { durationSeconds: 2, intervalSeconds: 1 } }));
    const r = await waitResult<EnvFileRollbackResult>(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    console.log(`applied in ${Date.now() - t0} ms`);
    const res = r.result;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(res.changes, {
      added: ['CORTEX_FEATURE_FLAGS'],
      removed: [],
      changed: ['QDRANT_API_KEY', 'OPENAI_API_KEY', 'CORTEX_HEALTH'],
    });

    // the file: the known-good bytes, the service file's owner and mode kept, no temporary file left
    assert.deepEqual(await readFile(s.envFile), await readFile(s.knownGoodFile));
    const now = await stat(s.envFile);
    assert.deepEqual([now.uid, now.gid, now.mode & 0o777], [1234, 1234, 0o640]);
    assert.deepEqual(await others(s.dir), []);
    // the backup: the old bytes, owner, mode and mtime, under the recorded name
    const [backup] = await backups(s.dir);
    assert.equal(res.backup?.path, join(s.dir, backup!));
    assert.deepEqual(await readFile(res.backup.path), oldBytes);
    const b = await stat(res.backup.path);
    assert.deepEqual([b.uid, b.gid, b.mode & 0o777], [1234, 1234, 0o640]);
    assert.ok(Math.abs(b.mtimeMs - oldStat.mtimeMs) < 1, `backup mtime kept: ${b.mtimeMs} vs ${oldStat.mtimeMs}`);

    // the container: recreated (new id), the file's env set, the operator's other env and config kept, healthy
    const c = await docker.getContainer(s.name).inspect();
    assert.notEqual(c.Id, s.app.id);
    assert.equal(res.container?.newId, c.Id);
    const e = c.Config.Env ?? [];
    for (const l of goodLines.filter((x) => x.includes('=')))
      assert.ok(e.includes(l), `container env has ${l.split('=')[0]}`);
    assert.ok(e.includes('CORTEX_FEATURE_FLAGS=memory-v2'), 'the new key is set');
    assert.ok(!e.includes('CORTEX_HEALTH=unhealthy'));
    assert.ok(e.includes(`PORT=${s.app.port}`) && e.includes('HOST=127.0.0.1'), 'env not from the file is kept');
    assert.equal(c.Config.Labels.team, 'platform');
    assert.equal(c.HostConfig.RestartPolicy?.Name, 'unless-stopped');
    assert.equal(c.HostConfig.NetworkMode, 'host');
    assert.equal((await health(s.app.healthUrl)).status, 200);
    assert.deepEqual(
      (await containersNamed(s.name)).map((x) => x.Names[0]),
      [`/${s.name}`],
      'preserved one removed',
    );
    assert.equal(res.verification?.connection.ok, true);
    assert.equal(res.verification?.connection.httpStatus, 200);
    assert.equal(res.monitoring?.samples, 2);
    assert.ok(
      qdrant.requests.some((q) => q.path === '/collections' && q.status === 200),
      'the container asked Qdrant with the right key',
    );

    // no secret in the status or the report either
    const status = await env.client.workflow.getHandle(workflowId).query(statusQuery);
    const shown = JSON.stringify(status) + renderReport(status, r) + JSON.stringify(r);
    for (const v of secrets) assert.ok(!shown.includes(v), 'a secret reached the status, result or report');
  });

  it('refuses a bad known-good file by line number before anything changes (missing key, duplicate, malformed line, no file)', async () => {
    const current = envLines();
    const s = await service('badfile', current);
    const cases: Array<[string, string[], RegExp]> = [
      [
        'missing required key',
        envLines().filter((l) => !l.startsWith('OPENAI_API_KEY=')),
        /required key OPENAI_API_KEY is missing/,
      ],
      [
        'duplicate key',
        [...envLines(), `QDRANT_URL=${qdrant.url}`],
        /line 7: duplicate key QDRANT_URL \(first on line 2\)/,
      ],
      [
        'malformed line',
        [...envLines(), `export TOKEN=${secret('malformed')}`, 'just-a-secret-word'],
        /line 7: has an invalid key name.*line 8: is not KEY=VALUE/,
      ],
    ];
    secrets.push('just-a-secret-word');
    const bytes = await readFile(s.envFile);
    const mtime = (await stat(s.envFile)).mtimeMs;
    for (const [what, lines, expected] of cases) {
      await writeEnv(s.knownGoodFile, lines);
      const workflowId = await start(input(s));
      const r = await waitResult(rc, workflowId);
      assert.ok(!r.ok, what);
      assert.equal(r.type, 'InvalidInput', what);
      assert.match(r.message, expected, what);
      assert.match(r.message, /nothing was changed/);
      for (const v of secrets) assert.ok(!r.message.includes(v), `${what}: no value in the message`);
      const done = (await activityRuns(env.client.workflow.getHandle(workflowId), 'installEnvFile')).length;
      assert.equal(done, 0, `${what}: nothing installed`);
    }
    await rm(s.knownGoodFile);
    const missing = await waitResult(rc, await start(input(s)));
    assert.ok(!missing.ok && missing.type === 'NotFound', JSON.stringify(missing));
    assert.match(missing.message, /production\.env\.backup: does not exist \(nothing was changed\)/);
    assert.deepEqual(await readFile(s.envFile), bytes, 'file bytes unchanged');
    assert.equal((await stat(s.envFile)).mtimeMs, mtime, 'file mtime unchanged');
    assert.deepEqual(await backups(s.dir), [], 'no backup made');
    const c = await docker.getContainer(s.name).inspect();
    assert.deepEqual([c.Id, c.State.Running], [s.app.id, true], 'same container, running');
  });

  for (const [tag, what, good, because] of [
    ['unhealthy', 'unhealthy after the restart', { health: 'unhealthy' }, /did not answer healthy/],
    [
      'noqdrant',
      'Qdrant refuses the key of the file',
      { qdrantKey: secret('wrong-key') },
      /does not reach Qdrant.*401/,
    ],
  ] as const) {
    it(`undoes a rollback whose service is ${what}: old file back (bytes, owner, mode), old container running, healthy`, async () => {
      const current = envLines();
      const s = await service(tag, current);
      await writeEnv(s.knownGoodFile, envLines(good));
      const bytes = await readFile(s.envFile);
      const t0 = Date.now();
      const workflowId = await start(input(s));
      const r = await waitResult(rc, workflowId);
      console.log(`${tag}: undone in ${Date.now() - t0} ms`);
      assert.ok(!r.ok);
      assert.equal(r.type, 'VerificationFailed');
      assert.match(r.message, because);
      assert.match(
        r.message,
        new RegExp(
          `Restored: ${s.envFile} from ${s.envFile}\\.backup-.*'${s.name}' runs its previous container ${s.app.id.slice(0, 12)} again \\(healthy\\)`,
        ),
      );
      assert.deepEqual(await readFile(s.envFile), bytes, 'the old file is back');
      const st = await stat(s.envFile);
      assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [1234, 1234, 0o640]);
      const c = await docker.getContainer(s.name).inspect();
      assert.deepEqual([c.Id, c.State.Running], [s.app.id, true], 'the previous container runs again');
      assert.equal(c.HostConfig.RestartPolicy?.Name, 'unless-stopped', 'its restart policy restored');
      assert.deepEqual(
        (await containersNamed(s.name)).map((x) => x.Names[0]),
        [`/${s.name}`],
        'the recreated one removed',
      );
      assert.equal((await health(s.app.healthUrl)).status, 200);
      assert.equal((await backups(s.dir)).length, 1, 'the backup is kept');
    });
  }

  it('a worker SIGKILLed after the file was replaced and before the recreated container started: a new worker finishes, each side effect once', async () => {
    const gate = await startDockerGate();
    try {
      const s = await service('crash', envLines({ health: 'unhealthy' }));
      await writeEnv(s.knownGoodFile, envLines());
      const taskQueue = uniqueQueue('envfile-crash');
      const crc = testClient(env, taskQueue);
      const extra = { DOCKER_HOST: gate.host };
      const first = spawnWorker({ address: env.address, taskQueue, extra }, ['--identity', 'envfile-first']);
      workers.push(first);
      await first.ready;
      const since = Math.floor(Date.now() / 1000) - 1;
      const held = gate.arm({ method: 'POST', path: /^\/containers\/[^/]+\/start\b/, mode: 'hold' });
      const workflowId = await start(input(s), crc);
      const handle = env.client.workflow.getHandle(workflowId);
      await held;
      // proven from history and the world, not a sleep: the replace completed, the recreate is running
      const [replace] = await activityRuns(handle, 'installEnvFile');
      assert.ok(replace?.completed, 'the file replace completed before the kill');
      assert.deepEqual(await readFile(s.envFile), await readFile(s.knownGoodFile));
      assert.equal((await docker.getContainer(s.name).inspect()).State.Status, 'created');
      await first.kill();
      const second = spawnWorker({ address: env.address, taskQueue, extra }, ['--identity', 'envfile-second']);
      workers.push(second);
      await second.ready;
      const r = await waitResult<EnvFileRollbackResult>(crc, workflowId);
      await second.kill();
      assert.ok(r.ok, `${JSON.stringify(r)}\n${first.output()}\n${second.output()}`);

      const [recreate] = await activityRuns(handle, 'recreateContainerWithEnvFile');
      assert.ok(recreate!.attempt >= 2 && recreate!.identity === 'envfile-second', JSON.stringify(recreate));
      assert.equal((recreate!.result as { reused: boolean }).reused, true, 'the retry found its container');
      for (const type of ['backupEnvFile', 'installEnvFile', 'preserveContainer', 'stopContainer']) {
        const runs = await activityRuns(handle, type);
        assert.deepEqual(
          runs.map((x) => x.attempt),
          [1],
          `${type} ran once`,
        );
      }
      assert.equal((await backups(s.dir)).length, 1, 'one backup file');
      const ev = await containerEvents(since);
      const c = await docker.getContainer(s.name).inspect();
      const created = ev.filter((e) => e.Action === 'create' && e.Actor.Attributes[RUN_ID_LABEL] === r.result.runId);
      assert.deepEqual(
        created.map((e) => e.Actor.ID),
        [c.Id],
        'one container created',
      );
      const of = (id: string, action: string) => ev.filter((e) => e.Actor.ID === id && e.Action === action).length;
      assert.equal(of(c.Id, 'start'), 1, 'started once');
      assert.deepEqual([of(s.app.id, 'rename'), of(s.app.id, 'die'), of(s.app.id, 'destroy')], [1, 1, 1]);
      const wft = await workflowTaskIdentities(handle);
      assert.deepEqual([wft[0], wft.at(-1)], ['envfile-first', 'envfile-second']);
      assert.equal((await health(s.app.healthUrl)).status, 200);
    } finally {
      await gate.close();
    }
  });

  /** A unit on the systemd machine running the demo app with `EnvironmentFile=<dir>/.env` (root:cortex 0640). */
  async function unitService(tag: string, current: string[]) {
    const unit = `envfile-${tag}-${Date.now().toString(36)}`;
    const d = `/srv/${unit}`;
    const port = await freePort();
    const heredoc = (path: string, lines: string[]) => `cat > ${path} <<'ENV'\n${lines.join('\n')}\nENV\n`;
    await m.must(
      // the demo app as CommonJS (the checkout's package.json makes .js an ES module)
      `set -e; mkdir -p ${d}; cp ${PROJECT_ROOT}/images/cortex-mcp/server.js ${d}/server.cjs\n` +
        `${heredoc(`${d}/.env`, current)}chown 0:1234 ${d}/.env; chmod 640 ${d}/.env\n` +
        `cat > /etc/systemd/system/${unit}.service <<'UNIT'\n[Unit]\nDescription=${unit}\n\n[Service]\n` +
        `Environment=PORT=${port}\nEnvironmentFile=${d}/.env\n` +
        `ExecStart=/usr/bin/node ${d}/server.cjs\nRestart=no\nUNIT\n` +
        `systemctl daemon-reload; systemctl start ${unit}`,
    );
    const healthUrl = `http://127.0.0.1:${port}/health`;
    await waitForHttp(healthUrl).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${(await m.sh(`journalctl -u ${unit} --no-pager | tail -20`)).stdout}`);
    });
    const writeGood = (lines: string[]) => m.must(`${heredoc(`${d}/good.env`, lines)}`);
    const file = async (path: string) => (await m.must(`sha256sum ${path}; stat -c '%u %g %a' ${path}`)).trim();
    const backups = async () => (await m.must(`ls -1a ${d}`)).split('\n').filter((f) => f.startsWith('.env.backup-'));
    const procEnv = async () => {
      const pid = (await unitProps(m, unit)).MainPID;
      return (await m.must(`tr '\\0' '\\n' < /proc/${pid}/environ`)).split('\n');
    };
    const input = (): EnvFileRollbackInput => ({
      envFile: `${d}/.env`,
      knownGoodFile: `${d}/good.env`,
      target: { kind: 'systemd', unit, healthUrl },
      host: HOST,
      reason: 'bad env deployed',
      requestedBy: REQUESTER,
      approval: { preApproved: APPROVER.ci },
      monitor: { durationSeconds: 0 },
      verifyTimeoutSeconds: 5,
    });
    return { unit, dir: d, healthUrl, writeGood, file, backups, procEnv, input };
  }

  it('systemd (real, host worker inside the machine): the unit restarted on the known-good file, its process env has it, healthy, Qdrant reached', async () => {
    const u = await unitService('sd-good', envLines({ health: 'unhealthy' }));
    const good = envLines({ extra: ['CORTEX_FEATURE_FLAGS=memory-v2'] });
    await u.writeGood(good);
    const before = await unitProps(m, u.unit);
    const oldFile = await u.file(`${u.dir}/.env`);
    const t0 = Date.now();
    const workflowId = await start(u.input());
    const r = await waitResult<EnvFileRollbackResult>(rc, workflowId);
    console.log(`systemd applied in ${Date.now() - t0} ms`);
    assert.ok(r.ok, JSON.stringify(r));
    const after = await unitProps(m, u.unit);
    assert.notEqual(after.InvocationID, before.InvocationID, 'restarted: a new invocation');
    assert.equal(after.ActiveState, 'active');
    assert.deepEqual(r.result.unit, {
      name: `${u.unit}.service`,
      invocationBefore: before.InvocationID,
      invocationAfter: after.InvocationID,
      restarted: true,
    });
    const pe = await u.procEnv();
    for (const l of good.filter((x) => x.includes('=')))
      assert.ok(pe.includes(l), `process env has ${l.split('=')[0]}`);
    assert.equal((await health(u.healthUrl)).status, 200);
    const [goodSha] = (await u.file(`${u.dir}/good.env`)).split(' ');
    const now = await u.file(`${u.dir}/.env`);
    assert.ok(now.startsWith(goodSha!) && now.endsWith('0 1234 640'), `replaced, owner and mode kept: ${now}`);
    const [backup] = await u.backups();
    assert.equal(r.result.backup?.path, `${u.dir}/${backup}`);
    assert.equal(
      (await u.file(r.result.backup.path)).split('\n')[1],
      oldFile.split('\n')[1],
      'backup keeps owner and mode',
    );
    assert.equal(
      (await u.file(r.result.backup.path)).split(' ')[0],
      oldFile.split(' ')[0],
      'backup holds the old bytes',
    );
    assert.equal(r.result.verification?.connection.via, 'the service host');
    assert.equal(r.result.verification?.connection.httpStatus, 200);
    const h = env.client.workflow.getHandle(workflowId);
    const hist = hostActivityEvents((await h.fetchHistory()).events ?? []); // the approval policy runs centrally
    const ids = hist.map((e) => e.activityTaskStartedEventAttributes?.identity).filter(Boolean);
    assert.ok(ids.length > 0 && ids.every((i) => i === `${MACHINE}-worker`), 'every activity ran inside the machine');
  });

  it('systemd: unhealthy on the known-good file → old file restored and the unit restarted on it, healthy', async () => {
    const u = await unitService('sd-undo', envLines());
    await u.writeGood(envLines({ health: 'unhealthy' }));
    const oldFile = await u.file(`${u.dir}/.env`);
    const before = await unitProps(m, u.unit);
    const workflowId = await start(u.input());
    const r = await waitResult(rc, workflowId);
    assert.ok(!r.ok && r.type === 'VerificationFailed', JSON.stringify(r));
    assert.match(
      r.message,
      new RegExp(`Restored: ${u.dir}/\\.env from .*; ${u.unit}\\.service restarted on it \\(healthy\\)`),
    );
    assert.equal(await u.file(`${u.dir}/.env`), oldFile, 'old bytes, owner and mode');
    const after = await unitProps(m, u.unit);
    assert.equal(after.ActiveState, 'active');
    assert.notEqual(after.InvocationID, before.InvocationID);
    assert.ok((await u.procEnv()).includes('CORTEX_HEALTH=healthy'), 'runs on the old env again');
    assert.equal((await health(u.healthUrl)).status, 200);
  });

  it('runs from `cortex-rollback start env-file` flags and from `temporal workflow start --input` JSON (the README commands)', async () => {
    const s = await service('cli', envLines({ health: 'unhealthy' }));
    await writeEnv(s.knownGoodFile, envLines());
    const cli = await execa(
      'node',
      [
        join(PROJECT_ROOT, 'client', 'bin.js'),
        'start',
        'env-file',
        '--file',
        s.envFile,
        '--known-good-file',
        s.knownGoodFile,
        '--target',
        'docker',
        '--container',
        s.name,
        '--health-url',
        s.app.healthUrl,
        '--reason',
        'bad env deployed',
        '--requested-by',
        REQUESTER,
        '--pre-approve',
        `${APPROVER.ci.approver}:${APPROVER.ci.role}`,
        '--watch-seconds',
        '0',
        '--verify-timeout-seconds',
        '5',
        '--wait',
        '--json',
      ],
      { reject: false, env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: rc.settings.taskQueue } },
    );
    assert.equal(cli.exitCode, 0, `${cli.stdout}\n${cli.stderr}`);
    const out = JSON.parse(String(cli.stdout)) as { result?: EnvFileRollbackResult } & Partial<EnvFileRollbackResult>;
    const res = out.result ?? (out as EnvFileRollbackResult);
    assert.equal(res.outcome, 'succeeded');
    assert.equal(res.workflowId, `rollback-configuration-env-docker-${s.name}`);
    handles.push(env.client.workflow.getHandle(res.workflowId));
    assert.equal((await health(s.app.healthUrl)).status, 200);

    // the same service back to the other file, through the plain temporal CLI and a signal
    await writeEnv(s.knownGoodFile, envLines({ extra: ['CORTEX_FEATURE_FLAGS=off'] }));
    const workflowId = `rollback-configuration-env-docker-${s.name}-tctl`;
    const json = JSON.stringify({
      envFile: s.envFile,
      knownGoodFile: s.knownGoodFile,
      target: { kind: 'docker', containerName: s.name, healthUrl: s.app.healthUrl },
      reason: 'bad env deployed',
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 0 },
    });
    const t = (args: string[]) =>
      execa(temporalCliPath(), [...args, '--address', env.address, '--namespace', 'default'], { reject: false });
    const started = await t([
      'workflow',
      'start',
      '--type',
      'environmentConfigRollback',
      '--task-queue',
      rc.settings.taskQueue,
      '--workflow-id',
      workflowId,
      '--input',
      json,
    ]);
    assert.equal(started.exitCode, 0, String(started.stderr));
    const h = env.client.workflow.getHandle(workflowId);
    handles.push(h);
    await waitForPhase(h, 'awaiting-approval');
    const signal = await t([
      'workflow',
      'signal',
      '--workflow-id',
      workflowId,
      '--name',
      'approve',
      '--input',
      JSON.stringify(APPROVER.configuration),
    ]);
    assert.equal(signal.exitCode, 0, String(signal.stderr));
    const r = (await h.result()) as EnvFileRollbackResult;
    assert.equal(r.outcome, 'succeeded');
    assert.deepEqual(r.changes.added, ['CORTEX_FEATURE_FLAGS']);
    assert.ok((await docker.getContainer(s.name).inspect()).Config.Env?.includes('CORTEX_FEATURE_FLAGS=off'));

    // bad flags: exit 2 naming the field, nothing started
    for (const [args, field] of [
      [['--file', 'relative/.env'], 'envFile'],
      [['--unit', 'x'], 'target.unit'],
      [['--required-keys', 'QDRANT URL'], 'requiredKeys'],
    ] as const) {
      const base: Record<string, string> = {
        '--file': s.envFile,
        '--known-good-file': s.knownGoodFile,
        '--target': 'docker',
        '--container': `${s.name}-x`,
        '--health-url': s.app.healthUrl,
        '--reason': 'r',
        '--requested-by': REQUESTER,
      };
      base[args[0]] = args[1];
      const bad = await execa(
        'node',
        [join(PROJECT_ROOT, 'client', 'bin.js'), 'start', 'env-file', ...Object.entries(base).flat()],
        {
          reject: false,
          env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: rc.settings.taskQueue },
        },
      );
      assert.equal(bad.exitCode, 2, `${field}: ${bad.stderr}`);
      assert.match(String(bad.stderr), new RegExp(field.replace('.', '\\.')));
    }
    const listed = await env.client.workflow.count(`WorkflowId = "rollback-configuration-env-docker-${s.name}-x"`);
    assert.equal(listed.count, 0, 'nothing started');
  });

  it('a file edited by someone else while approval was pending is left as they made it (Conflict, nothing changed)', async () => {
    const s = await service('edited', envLines({ health: 'unhealthy' }));
    await writeEnv(s.knownGoodFile, envLines());
    const workflowId = await start(input(s, { approval: {} }));
    const h = env.client.workflow.getHandle(workflowId);
    await waitForPhase(h, 'awaiting-approval');
    const theirs = envLines({ extra: ['HOTFIX=1'] });
    await writeEnv(s.envFile, theirs);
    const bytes = await readFile(s.envFile);
    await h.signal('approve', APPROVER.configuration);
    const r = await waitResult(rc, workflowId);
    assert.ok(!r.ok && r.type === 'Conflict', JSON.stringify(r));
    assert.match(r.message, /changed since it was assessed/);
    assert.deepEqual(await readFile(s.envFile), bytes, 'their edit is kept');
    assert.deepEqual(await backups(s.dir), []);
    assert.equal((await docker.getContainer(s.name).inspect()).Id, s.app.id);
  });

  it('refuses bad input before any activity', async () => {
    const s = {
      envFile: '/srv/a/.env',
      knownGoodFile: '/srv/a/good.env',
      app: { healthUrl: 'http://127.0.0.1:1/health' },
      name: 'envfile-input',
    };
    const ok = input(s as Awaited<ReturnType<typeof service>>);
    const cases: Array<[unknown, string]> = [
      [{ ...ok, envFile: 'srv/.env' }, 'envFile'],
      [{ ...ok, knownGoodFile: '/srv/a/../a/good.env' }, 'knownGoodFile'],
      [{ ...ok, knownGoodFile: ok.envFile }, 'knownGoodFile'],
      [{ ...ok, requiredKeys: ['QDRANT URL'] }, 'requiredKeys'],
      [
        { ...ok, target: { kind: 'docker', unit: 'x.service', healthUrl: 'http://127.0.0.1:1/' } },
        'target.containerName',
      ],
      [{ ...ok, target: { kind: 'k8s', healthUrl: 'http://127.0.0.1:1/' } }, 'target.kind'],
      [{ ...ok, envFiel: '/x' }, 'envFiel'],
      // not a role id (whether a well-formed role may approve is the policy's call, in the gate)
      [
        { ...ok, approval: { preApproved: { approver: 'backup-eng', role: 'Engineer!' } } },
        'approval.preApproved.role',
      ],
    ];
    for (const [bad, field] of cases) {
      const h = await env.client.workflow.start('environmentConfigRollback', {
        taskQueue: rc.settings.taskQueue,
        workflowId: `envfile-bad-input-${field}-${Date.now().toString(36)}`,
        args: [bad],
      });
      handles.push(h);
      const r = await waitResult(rc, h.workflowId);
      assert.ok(!r.ok && r.type === 'InvalidInput', `${field}: ${JSON.stringify(r)}`);
      assert.deepEqual(r.details, { field }, r.message);
      const events = (await h.fetchHistory()).events ?? [];
      assert.ok(!events.some((e) => e.activityTaskScheduledEventAttributes), `${field}: no activity`);
    }
  });

  it('no secret value in any workflow history of this file', async () => {
    assert.ok(handles.length >= 10);
    let all = '';
    for (const h of handles) {
      const text = historyText(await h.fetchHistory());
      for (const v of secrets) assert.ok(!text.includes(v), `${h.workflowId}: a secret is in its history`);
      all += text;
    }
    assert.match(all, /"sha256":"[0-9a-f]{64}"/, 'the decoded histories hold the activities’ digests');
  });
});

interface DockerEvent {
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
}

async function waitForPhase(h: WorkflowHandle, phase: string): Promise<void> {
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    if ((await h.query(statusQuery).catch(() => undefined))?.phase === phase) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${h.workflowId} never reached ${phase}`);
}

async function waitForHttp(url: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (Date.now() < end) {
    if (
      await fetch(url).then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never answered`);
}

async function containerEvents(since: number): Promise<DockerEvent[]> {
  const until = Math.ceil(Date.now() / 1000) + 1;
  const stream = await docker.getEvents({ since, until, filters: { type: ['container'] } });
  let text = '';
  for await (const chunk of stream) text += (chunk as Buffer).toString();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as DockerEvent);
}

/** The history as the temporal CLI shows it, plus every payload decoded (payload data is base64 there). */
function historyText(history: Parameters<typeof historyToJSON>[0]): string {
  const json = historyToJSON(history);
  const decoded: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'data' && typeof x === 'string') decoded.push(Buffer.from(x, 'base64').toString('utf8'));
        else walk(x);
      }
    }
  };
  walk(JSON.parse(json));
  return `${json}\n${decoded.join('\n')}`;
}
