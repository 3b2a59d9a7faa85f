// The two command-line paths against the real dev server, a worker child process and real Docker:
// the plain `temporal` CLI (start / query status / signal approve / result) and our `cortex-rollback` CLI
// (exit codes, --wait, --json, input refused before anything starts). Under the committed approval policy: the
// on-call engineer of the roster approves, the requester is someone else.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { join } from 'node:path';
import { PROJECT_ROOT, temporalCliPath } from '../../common/tools.ts';
import {
  BAD,
  containersNamed,
  docker,
  ensureImages,
  GOOD,
  health,
  imageId,
  removeByPrefix,
  startApp,
  waitFor,
} from '../helpers/docker.ts';
import { APPROVER, localEnv, REQUESTER, shortWindowPolicy, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

describe('driving rollbacks from the command line', () => {
  let env: TestWorkflowEnvironment;
  let worker: WorkerProcess;
  let taskQueue: string;
  const names: string[] = [];

  before(async () => {
    await ensureImages();
    env = await localEnv();
    taskQueue = uniqueQueue('cli');
    worker = spawnWorker({ address: env.address, taskQueue });
    await worker.ready;
  });
  after(async () => {
    await worker?.kill();
    for (const n of names) await removeByPrefix(n);
    await env?.teardown();
  });

  const temporal = (...args: string[]) =>
    execa(temporalCliPath(), [...args, '--address', env.address, '--namespace', 'default'], { reject: false });
  const cli = (...args: string[]) =>
    execa('node', [join(PROJECT_ROOT, 'client', 'bin.js'), ...args], {
      reject: false,
      env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: taskQueue },
    });

  /** `cortex-rollback start docker` for a container/app, plus extra flags. */
  const startDocker = (name: string, healthUrl: string, reason: string, ...extra: string[]) =>
    cli(
      'start',
      'docker',
      '--container',
      name,
      '--image',
      GOOD,
      '--health-url',
      healthUrl,
      '--reason',
      reason,
      '--requested-by',
      REQUESTER,
      ...extra,
    );
  const untilGate = (workflowId: string) =>
    waitFor(
      async () => (await cli('status', workflowId, '--json')).stdout.includes('"awaiting-approval"'),
      30_000,
      'gate',
    );

  it('the plain temporal CLI: workflow start, query status, signal approve, result', async () => {
    const name = `cortex-mcp-tcli-${Date.now().toString(36)}`;
    names.push(name);
    const app = await startApp(name, BAD);
    const workflowId = `rollback-docker-${name}`;
    const input = {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: 'from the temporal CLI',
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 2, intervalSeconds: 1 },
    };
    const start = await temporal(
      'workflow',
      'start',
      '--type',
      'dockerContainerRollback',
      '--task-queue',
      taskQueue,
      '--workflow-id',
      workflowId,
      '--input',
      JSON.stringify(input),
    );
    assert.equal(start.exitCode, 0, start.stderr);

    await waitFor(
      async () => {
        const q = await temporal('workflow', 'query', '--workflow-id', workflowId, '--type', 'status', '-o', 'json');
        return (
          q.exitCode === 0 &&
          (JSON.parse(q.stdout) as { queryResult: [{ phase: string }] }).queryResult[0].phase === 'awaiting-approval'
        );
      },
      30_000,
      'awaiting-approval via temporal workflow query',
    );

    const sig = await temporal(
      'workflow',
      'signal',
      '--workflow-id',
      workflowId,
      '--name',
      'approve',
      '--input',
      JSON.stringify({ ...APPROVER.application, comment: 'from the CLI' }),
    );
    assert.equal(sig.exitCode, 0, sig.stderr);

    const res = await temporal('workflow', 'result', '--workflow-id', workflowId, '-o', 'json');
    assert.equal(res.exitCode, 0, res.stderr);
    assert.match(res.stdout, /"outcome": "succeeded"/);
    assert.equal((await docker.getContainer(name).inspect()).Image, await imageId(GOOD));
    assert.equal((await health(app.healthUrl)).status, 200);
  });

  it('cortex-rollback: refuses bad input before starting anything (exit 2)', async () => {
    const bad = await cli(
      'start',
      'docker',
      '--container',
      'no spaces allowed',
      '--image',
      GOOD,
      '--health-url',
      'http://127.0.0.1:1/health',
      '--reason',
      'x',
      '--requested-by',
      'y',
    );
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /containerName: "no spaces allowed" is not a valid container name/);
    const noTag = await cli(
      'start',
      'docker',
      '--container',
      'c1',
      '--image',
      'cortex-memory-mcp',
      '--health-url',
      'http://127.0.0.1:1/health',
      '--reason',
      'x',
      '--requested-by',
      'y',
    );
    assert.equal(noTag.exitCode, 2);
    assert.match(noTag.stderr, /has no tag or digest/);
    const wf = env.client.workflow.list({ query: `WorkflowId = "rollback-docker-c1"` });
    for await (const _ of wf) assert.fail('nothing may be started on bad input');
  });

  it('cortex-rollback: start --wait streams phases, approve refuses a junior role and the requester (exit 2), exit 0 on success', async () => {
    const name = `cortex-mcp-cli-${Date.now().toString(36)}`;
    names.push(name);
    const app = await startApp(name, BAD);
    const workflowId = `rollback-docker-${name}`;
    const started = startDocker(
      name,
      app.healthUrl,
      'v2.1.0 unhealthy',
      '--watch-seconds',
      '2',
      '--interval',
      '1',
      '--wait',
      '--json',
    );
    // the stream polls once a second: approve only once it has shown the wait (it is what this test reads)
    let streamed = '';
    started.stderr?.on('data', (d: Buffer) => (streamed += d.toString()));
    await waitFor(
      () => Promise.resolve(streamed.includes('phase: awaiting-approval')),
      60_000,
      'the stream shows the wait',
    );
    await untilGate(workflowId);

    const junior = await cli('approve', workflowId, '--approver', 'backup-eng', '--role', 'engineer');
    assert.equal(junior.exitCode, 2);
    assert.match(
      junior.stderr,
      /approve refused: role 'engineer' may not decide an application rollback: it needs 'on-call-engineer'/,
    );
    const self = await cli('approve', workflowId, '--approver', REQUESTER, '--role', 'engineer');
    assert.equal(self.exitCode, 2);
    assert.match(self.stderr, new RegExp(`approve refused: '${REQUESTER}' requested this rollback .*four eyes`));

    const again = await startDocker(name, app.healthUrl, 'dup');
    assert.equal(again.exitCode, 4);
    assert.match(again.stderr, /already running/);

    const { approver, role } = APPROVER.application;
    const ok = await cli('approve', workflowId, '--approver', approver, '--role', role);
    assert.equal(ok.exitCode, 0, ok.stderr);
    const r = await started;
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /phase: awaiting-approval/);
    assert.match(r.stderr, /phase: monitoring/);
    const out = JSON.parse(r.stdout) as { ok: boolean; result: { outcome: string; to: { image: string } } };
    assert.deepEqual([out.ok, out.result.outcome, out.result.to.image], [true, 'succeeded', GOOD]);
    assert.equal((await containersNamed(name)).length, 1);
    assert.equal((await health(app.healthUrl)).body.version, 'v2.0.0');

    const report = await cli('report', workflowId);
    assert.equal(report.exitCode, 0, report.stderr);
    assert.match(report.stdout, /^# Rollback Report/);
    assert.match(report.stdout, /\*\*Outcome\*\*: succeeded/);
    assert.match(report.stdout, /\*\*Version\*\*: cortex-memory-mcp:v2\.1\.0/);
    assert.match(report.stdout, /\*\*Version\*\*: cortex-memory-mcp:v2\.0\.0/);
    assert.match(report.stdout, /approved by oncall-eng \(on-call-engineer\) via update/);
    assert.match(report.stdout, /\[x\] monitor/);
  });

  it('cortex-rollback: a rejected rollback exits 3 and changes nothing', async () => {
    const name = `cortex-mcp-rej-${Date.now().toString(36)}`;
    names.push(name);
    const app = await startApp(name, BAD);
    const workflowId = `rollback-docker-${name}`;
    const s = await startDocker(name, app.healthUrl, 'x');
    assert.equal(s.exitCode, 0, s.stderr);
    await untilGate(workflowId);
    const rej = await cli(
      'reject',
      workflowId,
      '--approver',
      'eng-manager',
      '--role',
      'engineering-manager',
      '--reason',
      'fix forward',
    );
    assert.equal(rej.exitCode, 0, rej.stderr);
    const r = await cli('result', workflowId);
    assert.equal(r.exitCode, 3);
    assert.match(r.stdout, /rejected/);
    const c = await docker.getContainer(name).inspect();
    assert.deepEqual([c.Id, c.State.Running], [app.id, true]);
  });
  it("the README's CI path: --requested-by ci:<pipeline> --pre-approve ci-deploy-gate:on-call-engineer runs without waiting, exit 0", async () => {
    const name = `cortex-mcp-ci-${Date.now().toString(36)}`;
    names.push(name);
    const app = await startApp(name, BAD);
    const r = await cli(
      ...['start', 'docker', '--container', name, '--image', GOOD, '--health-url', app.healthUrl],
      ...['--reason', 'deploy gate failed: 4711', '--requested-by', 'ci:4711'],
      ...['--pre-approve', `${APPROVER.ci.approver}:${APPROVER.ci.role}`, '--watch-seconds', '0', '--wait', '--json'],
    );
    assert.equal(r.exitCode, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /phase: awaiting-approval/, 'no wait for a person');
    const out = JSON.parse(r.stdout) as { result: { outcome: string; approvals: { approver: string; via: string }[] } };
    assert.equal(out.result.outcome, 'succeeded');
    assert.deepEqual(
      out.result.approvals.map((a) => [a.approver, a.via]),
      [[APPROVER.ci.approver, 'pre-approval']],
    );
    assert.equal((await health(app.healthUrl)).body.version, 'v2.0.0');
  });

  describe('escalation and time-out under the committed policy (short approval windows: 15 s + 15 s)', () => {
    let shortWorker: WorkerProcess;
    let shortQueue: string;
    before(async () => {
      shortQueue = uniqueQueue('cli-short');
      shortWorker = spawnWorker({
        address: env.address,
        taskQueue: shortQueue,
        // long enough for a CLI call (a few seconds on a loaded machine) to land inside the first window
        extra: { CORTEX_APPROVAL_POLICY: shortWindowPolicy(15) },
      });
      await shortWorker.ready;
    });
    after(async () => {
      await shortWorker?.kill();
    });
    const shortCli = (...args: string[]) =>
      execa('node', [join(PROJECT_ROOT, 'client', 'bin.js'), ...args], {
        reject: false,
        env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: shortQueue },
      });
    const startShort = (name: string, healthUrl: string) =>
      shortCli(
        ...['start', 'docker', '--container', name, '--image', GOOD, '--health-url', healthUrl],
        ...['--reason', 'v2.1.0 unhealthy', '--requested-by', REQUESTER, '--watch-seconds', '0'],
      );
    const status = async (workflowId: string) =>
      JSON.parse((await shortCli('status', workflowId, '--json')).stdout) as {
        phase: string;
        pendingApproval?: { escalated?: boolean; alsoMayDecide?: string[] };
      };

    it('the backup contact may decide only once the wait escalated (short approval windows)', async () => {
      const name = `cortex-mcp-esc-${Date.now().toString(36)}`;
      names.push(name);
      const app = await startApp(name, BAD);
      const workflowId = `rollback-docker-${name}`;
      assert.equal((await startShort(name, app.healthUrl)).exitCode, 0);
      await waitFor(async () => (await status(workflowId)).pendingApproval !== undefined, 30_000, 'gate');
      const early = await shortCli('approve', workflowId, '--approver', 'backup-eng', '--role', 'engineer');
      assert.equal(early.exitCode, 2, 'before the escalation the backup engineer may not decide');
      assert.match(early.stderr, /after escalation also: backup-eng/);
      await waitFor(async () => (await status(workflowId)).pendingApproval?.escalated === true, 30_000, 'escalated');
      assert.deepEqual((await status(workflowId)).pendingApproval?.alsoMayDecide, ['backup-eng']);
      const ok = await shortCli('approve', workflowId, '--approver', 'backup-eng', '--role', 'engineer');
      assert.equal(ok.exitCode, 0, ok.stderr);
      const r = await shortCli('result', workflowId, '--json');
      assert.equal(r.exitCode, 0, r.stderr);
      const res = (JSON.parse(r.stdout) as { result: { outcome: string; approvals: { decision: string }[] } }).result;
      assert.deepEqual([res.outcome, res.approvals.map((a) => a.decision)], ['succeeded', ['escalated', 'approved']]);
      assert.equal((await health(app.healthUrl)).body.version, 'v2.0.0');
    });

    it('no decision in either window: approval-timed-out, exit 3, nothing changed (short approval windows)', async () => {
      const name = `cortex-mcp-tmo-${Date.now().toString(36)}`;
      names.push(name);
      const app = await startApp(name, BAD);
      const workflowId = `rollback-docker-${name}`;
      assert.equal((await startShort(name, app.healthUrl)).exitCode, 0);
      const r = await shortCli('result', workflowId);
      assert.equal(r.exitCode, 3, r.stdout);
      assert.match(r.stdout, /approval-timed-out/);
      const c = await docker.getContainer(name).inspect();
      assert.deepEqual([c.Id, c.State.Running], [app.id, true]);
      assert.equal((await health(app.healthUrl)).status, 503);
    });
  });
});
