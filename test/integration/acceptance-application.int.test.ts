// Acceptance: the runbook's Application Rollback section, each scenario started exactly as the README tells an
// operator — the project CLI (`cortex-rollback start <scenario> …`, run as `node --import tsx client/cli.ts`) and the
// plain `temporal workflow start --input '<json>'` with the real binary — against a worker started as `npm run worker`
// with nothing overridden (CORTEX_APPROVAL_POLICY unset: config/approval-policy.json is in force). The roster's
// on-call engineer approves, someone else requests, the requester's own approval is refused; afterwards the real
// system is read back (the container's image and health, the unit's release and health, the deployment's pod template
// and Ready pods). Departures from the README's commands, each named in the test: the watch is shortened (the
// default is 30 min), the fleet's bake is 1 s, and the system service's install commands run offline.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { BAD, docker, ensureImages, GOOD, health, imageId, removeByPrefix, startApp } from '../helpers/docker.ts';
import { deployTwoRevisions, startKubeCluster, type KubeCluster } from '../helpers/kube-cluster.ts';
import {
  createAppRemote,
  deployApp,
  startSystemdMachine,
  type MachineWorker,
  type SystemdMachine,
} from '../helpers/systemd-host.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { freePort } from '../helpers/docker.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';
import { operator } from '../helpers/operator.ts';

const V1 = 'cortex-memory-mcp:v2.0.0';
const V2 = 'cortex-memory-mcp:v2.1.0';
const NS = 'cortex';
const ONCALL = APPROVER.application;

describe('acceptance: Application Rollback, started as the README says, under the committed approval policy', () => {
  let env: TestWorkflowEnvironment;
  let cluster: KubeCluster;
  let worker: WorkerProcess;
  const hostWorkers: WorkerProcess[] = [];
  let taskQueue: string;
  const names: string[] = [];
  const RUN = Date.now().toString(36);
  /** Two hosts for the fleet, each served by its own `npm run worker -- --host <host>`. */
  const HOSTS = [`acc-app-01-${RUN}`, `acc-app-02-${RUN}`];
  /** The systemd host: a machine with systemd as PID 1, its host worker (workers/host.ts) running inside it. */
  const MACHINE = `acc-systemd-${process.pid}`;
  const SYSTEMD_HOST = `acc-sysd-${RUN}`;
  let machine: SystemdMachine;
  let machineWorker: MachineWorker | undefined;
  let remote = '';

  before(async () => {
    await ensureImages();
    [env, cluster, machine] = await Promise.all([localEnv(), startKubeCluster(), startSystemdMachine(MACHINE)]);
    remote = await createAppRemote(machine, `/srv/${MACHINE}`);
    machineWorker = machine.startWorker({ address: env.address, host: SYSTEMD_HOST, identity: `${MACHINE}-worker` });
    await cluster.k('create', 'namespace', NS);
    taskQueue = uniqueQueue('acceptance-app');
    // `npm run worker`: the committed policy by default (an empty CORTEX_APPROVAL_POLICY is unset to the worker)
    worker = spawnWorker({
      address: env.address,
      taskQueue,
      extra: { CORTEX_APPROVAL_POLICY: '', KUBECONFIG: cluster.kubeconfig },
    });
    for (const host of HOSTS)
      hostWorkers.push(
        spawnWorker({ address: env.address, taskQueue, extra: { CORTEX_APPROVAL_POLICY: '' } }, ['--host', host]),
      );
    await Promise.all([worker.ready, machineWorker.ready, ...hostWorkers.map((w) => w.ready)]);
  });
  after(async () => {
    for (const w of hostWorkers) await w.kill();
    await machineWorker?.kill().catch(() => undefined);
    await machine?.remove();
    await worker?.kill();
    for (const n of names) await removeByPrefix(n);
    await env?.teardown();
    await cluster?.stop();
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
    for (const who of [
      { approver: REQUESTER, role: 'engineer' },
      { ...ONCALL, comment: 'go' },
    ]) {
      const sig = await temporal(
        'workflow',
        'signal',
        '--workflow-id',
        workflowId,
        '--name',
        'approve',
        '--input',
        JSON.stringify(who),
      );
      assert.equal(sig.exitCode, 0, sig.stderr);
    }
  }

  /** `temporal workflow result -o json`: the result, with its approvals. */
  async function temporalResult<T>(workflowId: string): Promise<T> {
    const res = await temporal('workflow', 'result', '--workflow-id', workflowId, '-o', 'json');
    assert.equal(res.exitCode, 0, `${res.stdout}\n${res.stderr}`);
    return (JSON.parse(res.stdout) as { result: T }).result;
  }

  async function assertDockerRolledBack(name: string, healthUrl: string): Promise<void> {
    const c = await docker.getContainer(name).inspect();
    assert.equal(c.Image, await imageId(GOOD), 'the container runs the target image');
    assert.equal(c.State.Running, true);
    const h = await health(healthUrl);
    assert.deepEqual([h.status, h.body.status, h.body.version], [200, 'healthy', 'v2.0.0']);
  }

  async function deployment(name: string): Promise<{ image: string; revision: number; readyImages: string[] }> {
    const d = JSON.parse(await cluster.k('-n', NS, 'get', 'deployment', name, '-o', 'json')) as {
      metadata: { annotations: Record<string, string> };
      spec: { template: { spec: { containers: { image: string }[] } } };
    };
    const pods = JSON.parse(await cluster.k('-n', NS, 'get', 'pods', '-l', `app=${name}`, '-o', 'json')) as {
      items: {
        metadata: { deletionTimestamp?: string };
        spec: { containers: { image: string }[] };
        status: { conditions?: { type: string; status: string }[] };
      }[];
    };
    return {
      image: d.spec.template.spec.containers[0]!.image,
      revision: Number(d.metadata.annotations['deployment.kubernetes.io/revision']),
      readyImages: pods.items
        .filter((p) => !p.metadata.deletionTimestamp)
        .filter((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        .map((p) => p.spec.containers[0]!.image),
    };
  }

  it('docker-container from the CLI with --wait (watch shortened to 3 s): start, the requester refused, the on-call engineer approves; v2.0.0 runs healthy', async () => {
    const name = `acc-docker-cli-${Date.now().toString(36)}`;
    names.push(name);
    const app = await startApp(name, BAD);
    assert.equal((await health(app.healthUrl)).status, 503);
    const started = cli(
      ...['start', 'docker-container', '--container', name, '--image', GOOD, '--health-url', app.healthUrl],
      ...['--reason', 'v2.1.0 fails /health', '--requested-by', REQUESTER, '--wait', '--json'],
      ...['--watch-seconds', '3', '--interval', '1'],
    );
    const workflowId = `rollback-docker-${name}`;
    await untilAwaitingApproval(workflowId);
    assert.equal((await docker.getContainer(name).inspect()).Id, app.id, 'nothing changed before the approval');
    await approveWithCli(workflowId);
    const r = await started;
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      result: { outcome: string; approvals: { decision: string; approver: string }[] };
    };
    assert.deepEqual([out.ok, out.result.outcome], [true, 'succeeded']);
    assert.deepEqual(
      out.result.approvals.map((a) => [a.decision, a.approver]),
      [['approved', ONCALL.approver]],
      'the refused update left nothing in the record; the approval counted once',
    );
    await assertDockerRolledBack(name, app.healthUrl);
  });

  it('docker-container from `temporal workflow start` (watch shortened to 3 s): the requester’s signal refused, the on-call engineer’s approves; v2.0.0 runs healthy', async () => {
    const name = `acc-docker-tctl-${Date.now().toString(36)}`;
    names.push(name);
    const app = await startApp(name, BAD);
    const workflowId = `rollback-docker-${name}`;
    const input = {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: 'v2.1.0 fails /health',
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 3, intervalSeconds: 1 },
    };
    const start = await temporal(
      ...['workflow', 'start', '--type', 'dockerContainerRollback', '--task-queue', taskQueue],
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
    await assertDockerRolledBack(name, app.healthUrl);
  });

  /** A unit on the machine running the unhealthy v1.2.0 release (the fixture app's tags: v1.0.0 is healthy). */
  async function systemdService(tag: string) {
    const unit = `acc-${tag}-${RUN}`;
    const a = await deployApp(machine, {
      unit,
      root: `/srv/${MACHINE}/${unit}`,
      remote,
      tag: 'v1.2.0',
      port: await freePort(),
    });
    assert.equal((await fetch(a.healthUrl)).status, 503);
    return a;
  }
  /** The install commands without the network (the fixture has no dependencies; the default `npm ci` would audit). */
  const OFFLINE_INSTALL = ['npm ci --omit=dev --no-audit --no-fund --offline', 'npm run build'];
  async function assertServiceRolledBack(a: { root: string; healthUrl: string }): Promise<void> {
    assert.equal((await machine.must(`readlink ${a.root}/current`)).trim(), `${a.root}/releases/v1.0.0`);
    const res = await fetch(a.healthUrl);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { version: string }).version, 'v1.0.0');
  }

  it('system-service from the CLI (offline install commands, watch 2 s): the host worker in the machine rolls the unit to v1.0.0 after the on-call engineer approves', async () => {
    const a = await systemdService('cli');
    const start = await cli(
      ...['start', 'system-service', '--unit', a.unit, '--release-root', a.root, '--git-remote', remote],
      ...['--target-tag', 'v1.0.0', '--health-url', a.healthUrl, '--host', SYSTEMD_HOST],
      ...['--reason', 'v1.2.0 fails /health', '--requested-by', REQUESTER, '--watch-seconds', '2', '--interval', '1'],
      ...OFFLINE_INSTALL.flatMap((c) => ['--install-command', c]),
    );
    assert.equal(start.exitCode, 0, start.stderr);
    const workflowId = `rollback-system-service-${SYSTEMD_HOST}-${a.unit}`;
    assert.match(start.stdout, new RegExp(workflowId));
    await untilAwaitingApproval(workflowId);
    await approveWithCli(workflowId);
    const r = await cli('result', workflowId, '--json');
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal((JSON.parse(r.stdout) as { result: { outcome: string } }).result.outcome, 'succeeded');
    await assertServiceRolledBack(a);
  });

  it('system-service from `temporal workflow start` (offline install commands, watch 2 s): the on-call engineer’s signal approves; the unit runs v1.0.0 healthy', async () => {
    const a = await systemdService('tctl');
    const workflowId = `rollback-system-service-${SYSTEMD_HOST}-${a.unit}`;
    const input = {
      unit: a.unit,
      releaseRoot: a.root,
      gitRemote: remote,
      targetTag: 'v1.0.0',
      healthUrl: a.healthUrl,
      host: SYSTEMD_HOST,
      installCommands: OFFLINE_INSTALL,
      monitor: { durationSeconds: 2, intervalSeconds: 1 },
      reason: 'v1.2.0 fails /health',
      requestedBy: REQUESTER,
    };
    const start = await temporal(
      ...['workflow', 'start', '--type', 'systemServiceRollback', '--task-queue', taskQueue],
      ...['--workflow-id', workflowId, '--input', JSON.stringify(input)],
    );
    assert.equal(start.exitCode, 0, start.stderr);
    await untilAwaitingApproval(workflowId);
    await approveWithSignal(workflowId);
    const r = await temporalResult<{ outcome: string; approvals: { decision: string }[] }>(workflowId);
    assert.equal(r.outcome, 'succeeded');
    assert.deepEqual(
      r.approvals.map((x) => x.decision),
      ['refused', 'approved'],
    );
    await assertServiceRolledBack(a);
  });

  it('kubernetes from the CLI (watch shortened to 2 s): the on-call engineer approves; the pod template and every Ready pod run v2.0.0', async () => {
    const name = 'cortex-mcp-cli';
    await deployTwoRevisions(cluster, { namespace: NS, name, first: V1, second: V2 });
    assert.deepEqual((await deployment(name)).image, V2);
    const start = await cli(
      ...['start', 'kubernetes', '--namespace', NS, '--deployment', name, '--target-image', V1],
      ...['--reason', 'v2.1.0 fails readiness', '--requested-by', REQUESTER, '--watch-seconds', '2', '--interval', '1'],
    );
    assert.equal(start.exitCode, 0, start.stderr);
    const workflowId = `rollback-kubernetes-${NS}-${name}`;
    assert.match(start.stdout, new RegExp(workflowId));
    await untilAwaitingApproval(workflowId);
    assert.equal((await deployment(name)).revision, 2, 'nothing changed before the approval');
    await approveWithCli(workflowId);
    const r = await cli('result', workflowId, '--json');
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal((JSON.parse(r.stdout) as { result: { outcome: string } }).result.outcome, 'succeeded');
    const d = await deployment(name);
    assert.deepEqual([d.image, d.revision, d.readyImages], [V1, 3, [V1, V1]]);
  });

  it('kubernetes from `temporal workflow start` (watch shortened to 2 s): the on-call engineer’s signal approves; the deployment runs v2.0.0', async () => {
    const name = 'cortex-mcp-tctl';
    await deployTwoRevisions(cluster, { namespace: NS, name, first: V1, second: V2 });
    const workflowId = `rollback-kubernetes-${NS}-${name}`;
    const input = {
      namespace: NS,
      deployment: name,
      targetImage: V1,
      reason: 'v2.1.0 fails readiness',
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 2, intervalSeconds: 1 },
    };
    const start = await temporal(
      ...['workflow', 'start', '--type', 'kubernetesRollback', '--task-queue', taskQueue],
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
      r.approvals.map((a) => a.decision),
      ['refused', 'approved'],
    );
    const d = await deployment(name);
    assert.deepEqual([d.image, d.revision, d.readyImages], [V1, 3, [V1, V1]]);
  });
  /** Two v2.1.0 containers per host, labelled as the README's `--label` finds them (health URL in a label). */
  async function fleetOf(tag: string): Promise<{ name: string; host: string; healthUrl: string }[]> {
    return Promise.all(
      HOSTS.flatMap((host, h) =>
        [0, 1].map(async (i) => {
          const name = `acc-fleet-${tag}-${RUN}-${h}${i}`;
          names.push(name);
          const app = await startApp(name, BAD, [], (url) => ({
            app: `acc-fleet-${tag}-${RUN}-${host}`,
            'cortex.health-url': url,
          }));
          return { name, host, healthUrl: app.healthUrl };
        }),
      ),
    );
  }

  it('fleet from the CLI (bake 1 s, watch 0 s instead of 300 s each): found by label on two hosts, one approval by the on-call engineer, every container runs v2.0.0 healthy', async () => {
    const targets = await fleetOf('cli');
    const name = `acc-fleet-cli-${RUN}`;
    const start = await cli(
      ...['start', 'fleet', '--name', name, '--image', GOOD, '--label', `app=acc-fleet-cli-${RUN}-{host}`],
      ...HOSTS.flatMap((h) => ['--on-host', h]),
      ...['--waves', 'canary:1,25%,rest', '--max-concurrency', '25%', '--max-errors', '1'],
      ...['--pause-between-waves', '1', '--watch-seconds', '0', '--on-failure', 'halt-and-revert'],
      ...['--reason', 'v2.1.0 fails /health', '--requested-by', REQUESTER],
    );
    assert.equal(start.exitCode, 0, start.stderr);
    const workflowId = `rollback-fleet-${name}`;
    assert.match(start.stdout, new RegExp(workflowId));
    await untilAwaitingApproval(workflowId);
    await approveWithCli(workflowId);
    const r = await cli('result', workflowId, '--json');
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    const out = JSON.parse(r.stdout) as { result: { outcome: string; targets: { phase: string }[] } };
    assert.equal(out.result.outcome, 'succeeded', r.stdout);
    for (const t of targets) await assertDockerRolledBack(t.name, t.healthUrl);
  });

  it('fleet from `temporal workflow start` (bake 1 s, watch 0 s): the on-call engineer’s signal approves the fleet; each child pre-approved with it; every target runs v2.0.0', async () => {
    const targets = await fleetOf('tctl');
    const name = `acc-fleet-tctl-${RUN}`;
    const workflowId = `rollback-fleet-${name}`;
    const input = {
      name,
      targetImage: GOOD,
      targets: targets.map((t) => ({ host: t.host, container: t.name, healthUrl: t.healthUrl })),
      waves: 'canary:1,rest',
      maxErrors: '0',
      pauseBetweenWavesSeconds: 1,
      monitor: { durationSeconds: 0 },
      reason: 'v2.1.0 fails /health',
      requestedBy: REQUESTER,
    };
    const start = await temporal(
      ...['workflow', 'start', '--type', 'fleetRollback', '--task-queue', taskQueue],
      ...['--workflow-id', workflowId, '--input', JSON.stringify(input)],
    );
    assert.equal(start.exitCode, 0, start.stderr);
    await untilAwaitingApproval(workflowId);
    await approveWithSignal(workflowId);
    const r = await temporalResult<{ outcome: string; approvals: { decision: string; approver: string }[] }>(
      workflowId,
    );
    assert.equal(r.outcome, 'succeeded', JSON.stringify(r));
    assert.deepEqual(
      r.approvals.map((a) => [a.decision, a.approver]),
      [
        ['refused', REQUESTER],
        ['approved', ONCALL.approver],
      ],
    );
    for (const t of targets) {
      await assertDockerRolledBack(t.name, t.healthUrl);
      const child = await temporalResult<{ approvals: { approver: string; via: string }[] }>(
        `rollback-docker-${t.host}-${t.name}`,
      );
      assert.deepEqual(
        child.approvals.map((a) => [a.approver, a.via]),
        [[ONCALL.approver, 'pre-approval']],
      );
    }
  });
});
