// dockerNetworkRollback on the real Docker Compose v2 plugin and dockerd, with compose projects of the test's own
// (172.31.x.0/24 bridge subnets, published on 127.0.0.1 only): the rollback to the known-good file; bad input
// refused before anything changes; a service alias the engine dropped when Compose recreated the network (Docker
// 20.10, reproduced for real) caught by resolving names from inside and repaired by one more down/up; a
// verification that never passes restored from the saved file; and a worker SIGKILLed between `up` and the end of
// verification, its replacement finishing with every side effect once. Also: the repository's docker-compose.yml
// validates with `docker compose config`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { CommandRunner } from '../../activities/command.ts';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { createWorker } from '../../workers/worker.ts';
import {
  dockerNetworkRollbackWorkflowId,
  type DockerNetworkRollbackInput,
  type DockerNetworkRollbackResult,
} from '../../workflows/infrastructure/docker-network.ts';
import { createProject, ensureProbeImage, recreateNetworkAfterFirstUp, type Project } from '../helpers/compose.ts';
import { activityRuns, untilPending } from '../helpers/history.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker } from '../helpers/worker-process.ts';

// the committed approval policy: the roster's director approves, someone else requested (four eyes)
const DIRECTOR = APPROVER.infrastructure;

function failureOf(err: unknown): ApplicationFailure {
  assert.ok(err instanceof WorkflowFailedError, `expected a workflow failure, got ${String(err)}`);
  assert.ok(err.cause instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err.cause)}`);
  return err.cause;
}

describe('dockerNetworkRollback on Docker Compose v2 and the real engine', () => {
  let env: TestWorkflowEnvironment;
  const workers: Array<{ worker: Worker; running: Promise<void> }> = [];
  let taskQueue: string;
  const projects: Project[] = [];

  async function startWorker(queue: string, run?: CommandRunner): Promise<void> {
    const { worker } = await createWorker({
      settings: { address: env.address, namespace: 'default', taskQueue: queue },
      connection: env.nativeConnection,
      deps: { ...(run ? { run } : {}), networkBackupRoot: join(PROJECT_ROOT, '.data', 'test-backups', 'network') },
    });
    workers.push({ worker, running: worker.run() });
  }

  before(async () => {
    await ensureProbeImage();
    env = await localEnv();
    taskQueue = uniqueQueue('docker-network');
    await startWorker(taskQueue);
  });
  after(async () => {
    for (const p of projects) await p.close();
    for (const w of workers) w.worker.shutdown();
    for (const w of workers) await w.running;
    rmSync(join(PROJECT_ROOT, '.data', 'test-backups', 'network'), { recursive: true, force: true });
    await env?.teardown();
  });

  async function project(tag: string): Promise<Project> {
    const p = await createProject(tag);
    projects.push(p);
    return p;
  }

  function start(
    p: Project,
    input: Partial<DockerNetworkRollbackInput> = {},
    queue = taskQueue,
  ): Promise<WorkflowHandle> {
    return env.client.workflow.start('dockerNetworkRollback', {
      taskQueue: queue,
      workflowId: dockerNetworkRollbackWorkflowId({ project: p.name }),
      args: [
        {
          project: p.name,
          composeFile: p.current,
          knownGoodFile: p.good,
          healthUrls: [p.healthUrl],
          reason: 'bad network change',
          requestedBy: REQUESTER,
          approval: { preApproved: DIRECTOR },
          ...input,
        } satisfies DockerNetworkRollbackInput,
      ],
    });
  }

  it("the repository's docker-compose.yml validates with docker compose config", async () => {
    const r = await execa('docker', ['compose', '-f', join(PROJECT_ROOT, 'docker-compose.yml'), 'config', '-q'], {
      reject: false,
    });
    assert.equal(r.exitCode, 0, r.stderr);
  });

  it('rolls the project back to the known-good file: the network has the known-good subnet, names resolve inside, health answers', async () => {
    const p = await project('ok');
    const original = readFileSync(p.current, 'utf8');
    assert.deepEqual(await p.subnets(), [p.currentSubnet]);
    const h = await start(p);
    const r = (await h.result()) as DockerNetworkRollbackResult;
    assert.equal(r.outcome, 'succeeded');
    assert.deepEqual(await p.subnets(), [p.goodSubnet]);
    assert.equal(readFileSync(p.current, 'utf8'), readFileSync(p.good, 'utf8'), 'the known-good file is installed');
    assert.equal(readFileSync(r.backup!.filePath, 'utf8'), original, 'the previous file is saved');
    assert.match(readFileSync(r.backup!.configPath!, 'utf8'), new RegExp(p.currentSubnet.replace(/\./g, '\\.')));
    assert.ok(await p.resolves('api', 'db'));
    assert.ok(await p.resolves('db', 'api'));
    assert.equal((await fetch(p.healthUrl)).status, 200);
    assert.equal(r.recovered, undefined);
    assert.deepEqual(r.verification?.networks, [
      { name: p.network, expected: [p.goodSubnet], actual: [p.goodSubnet], ok: true },
    ]);
    assert.equal(r.verification?.resolution.filter((x) => x.ok).length, 4, '2 names × 2 containers');
  });

  it('cortex-rollback start docker-network --wait (repeated --health-url/--resolve flags, search attributes on) exits 0 with the result', async () => {
    const p = await project('cli');
    const r = await execa(
      'node',
      [
        join(PROJECT_ROOT, 'client', 'bin.js'),
        'start',
        'docker-network',
        '--project',
        p.name,
        '--compose-file',
        p.current,
        '--known-good-file',
        p.good,
        '--resolve',
        'api',
        '--resolve',
        'db',
        '--health-url',
        p.healthUrl,
        '--health-url',
        p.healthUrl,
        '--reason',
        'subnet change broke the backend',
        '--requested-by',
        REQUESTER,
        '--pre-approve',
        `${DIRECTOR.approver}:${DIRECTOR.role}`,
        '--wait',
        '--json',
      ],
      {
        reject: false,
        env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', TEMPORAL_TASK_QUEUE: taskQueue },
      },
    );
    assert.equal(r.exitCode, 0, `${r.stderr}\n${r.stdout}`);
    const out = JSON.parse(r.stdout) as { ok: boolean; result: DockerNetworkRollbackResult };
    assert.equal(out.result.workflowId, `rollback-network-compose-${p.name}`);
    assert.equal(out.result.outcome, 'succeeded');
    assert.deepEqual(await p.subnets(), [p.goodSubnet]);
  });

  it('refuses bad input before anything changes: a known-good file that does not validate, a missing file, a bad project name', async () => {
    const p = await project('bad');
    const before = await p.containers();
    const original = readFileSync(p.current, 'utf8');
    const invalid = join(p.dir, 'invalid.yml');
    writeFileSync(invalid, 'services:\n  api:\n    image: x\n    networks: [nope]\n');
    const cases: Array<[Partial<DockerNetworkRollbackInput>, string, RegExp]> = [
      [{ knownGoodFile: invalid }, 'InvalidInput', /does not validate: .*undefined network nope/],
      [{ knownGoodFile: join(p.dir, 'missing.yml') }, 'NotFound', /does not exist/],
      [{ project: 'Bad Name' }, 'InvalidInput', /project: .*not a compose project name/],
      [{ networks: [{ name: 'x', subnet: '300.1.1.0/24' }] }, 'InvalidInput', /networks\.0\.subnet/],
    ];
    for (const [input, type, message] of cases) {
      const h = await start(p, input);
      const f = await h.result().then(
        () => assert.fail(`accepted ${JSON.stringify(input)}`),
        (err: unknown) => failureOf(err),
      );
      assert.equal(f.type, type, f.message);
      assert.match(f.message, message);
      assert.equal((await activityRuns(h, 'composeDown')).length, 0, 'no down scheduled');
      assert.deepEqual(await p.containers(), before, 'the same containers run');
      assert.equal(readFileSync(p.current, 'utf8'), original, 'the compose file is unchanged');
    }
  });

  it('a service alias lost when Compose recreated the network (Docker 20.10) is caught from inside and repaired by one more down/up', async () => {
    const p = await project('alias');
    const queue = uniqueQueue('docker-network-alias');
    const fault = recreateNetworkAfterFirstUp(p);
    await startWorker(queue, fault.run);
    const h = await start(p, {}, queue);
    const r = (await h.result()) as DockerNetworkRollbackResult;
    assert.equal(fault.aliasLost(), true, "the engine dropped db's alias when Compose recreated the network");
    assert.equal(r.outcome, 'succeeded');
    assert.ok(
      r.recovered?.firstProblems.some((x) => /'db' does not resolve inside .*-api-1/.test(x)),
      JSON.stringify(r.recovered),
    );
    assert.deepEqual(r.timeline.map((s) => s.name).slice(-5, -1), [
      'verify-network',
      'recover: compose down',
      'recover: compose up',
      'verify-network-after-recovery',
    ]);
    assert.equal(r.timeline.at(-1)?.name, 'notify-succeeded');
    assert.ok(await p.resolves('api', 'db'));
    assert.deepEqual(await p.subnets(), [p.goodSubnet]);
  });

  it('a verification that never passes restores the saved file and brings the previous project back', async () => {
    const p = await project('undo');
    const original = readFileSync(p.current, 'utf8');
    const h = await start(p, { verifyTimeoutSeconds: 3, resolveServices: ['api', 'cache'] });
    const f = await h.result().then(
      () => assert.fail('a failing verification succeeded'),
      (err: unknown) => failureOf(err),
    );
    assert.equal(f.type, 'VerificationFailed');
    assert.match(f.message, /'cache' does not resolve.*Restored: .*docker-compose\.yml from .*up again/);
    assert.equal(readFileSync(p.current, 'utf8'), original, 'the previous file is back');
    assert.deepEqual(await p.subnets(), [p.currentSubnet], 'the previous network is back');
    assert.ok(await p.resolves('api', 'db'));
    assert.equal((await fetch(p.healthUrl)).status, 200);
    const result = (f.details?.[0] as { result: DockerNetworkRollbackResult }).result;
    assert.equal(result.outcome, 'reverted');
    assert.ok(result.restored?.containers.every((c) => c.state === 'running'));
  });

  it('crash: the worker SIGKILLed between up and the end of verification; the replacement finishes, each side effect once', async () => {
    const p = await project('crash');
    const queue = uniqueQueue('docker-network-crash');
    const w1 = spawnWorker({ address: env.address, taskQueue: queue });
    let w2: ReturnType<typeof spawnWorker> | undefined;
    try {
      await w1.ready;
      p.hold(); // /health waits: verification keeps polling after `up`
      const h = await start(p, {}, queue);
      await untilPending(h, 'composeVerify', (a) => a.attempt === 1 && a.heartbeat !== undefined, 90_000);
      const [up] = await activityRuns(h, 'composeUp');
      assert.ok(up?.completed, 'up completed before the kill');
      const atKill = await p.containers();
      await w1.kill();
      p.release();
      w2 = spawnWorker({ address: env.address, taskQueue: queue });
      await w2.ready;
      const r = (await h.result()) as DockerNetworkRollbackResult;
      assert.equal(r.outcome, 'succeeded');
      assert.deepEqual(await p.containers(), atKill, 'the same containers: nothing recreated after the kill');
      assert.deepEqual(await p.subnets(), [p.goodSubnet]);
      for (const type of ['composeBackup', 'composeDown', 'composeInstallFile', 'composeUp']) {
        const runs = await activityRuns(h, type);
        assert.equal(runs.length, 1, `${type} scheduled once`);
        assert.equal(runs[0]!.attempt, 1, `${type} ran once`);
        assert.ok(runs[0]!.identity?.startsWith(`${w1.proc.pid}@`), `${type} by the first worker`);
      }
      const [verify] = await activityRuns(h, 'composeVerify');
      assert.ok(
        verify!.attempt >= 2 && verify!.identity?.startsWith(`${w2.proc.pid}@`),
        'verification retried on the replacement',
      );
      rmSync(r.backup!.filePath, { force: true });
      if (r.backup!.configPath) rmSync(r.backup!.configPath, { force: true });
    } finally {
      p.release();
      for (const w of [w1, w2]) if (w) await w.kill().catch(() => undefined);
    }
  });
});
