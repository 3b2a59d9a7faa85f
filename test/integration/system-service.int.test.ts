// System service rollback on real systemd: a Debian machine (container, systemd as PID 1, host network) runs the
// fixture app as a unit from `<root>/current`, and the host worker (workers/host.ts) runs INSIDE that machine on
// cortex-rollback-host-<host>; the workflow runs on a main worker in this process. The release root exists only in
// the machine, so every file and unit change seen here was made there. Asserted on the machine itself: where
// `current` points, the releases folder, the unit's InvocationID and its journal's "Started" lines.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import Dockerode from 'dockerode';
import { existsSync } from 'node:fs';
import { createWorker } from '../../workers/worker.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import type {
  SystemServiceInput,
  SystemServiceRestore,
  SystemServiceResult,
  SystemServiceStatus,
} from '../../workflows/application/system-service.ts';
import { freePort, waitFor } from '../helpers/docker.ts';
import { workflowFailure } from '../helpers/failures.ts';
import {
  activityRuns,
  untilPending,
  eventTypesWithoutPatches,
  REFUSAL_EVENTS,
  hostActivityEvents,
} from '../helpers/history.ts';
import {
  createAppRemote,
  deployApp,
  startCount,
  startSystemdMachine,
  unitProps,
  type AppTag,
  type DeployedApp,
  type MachineWorker,
  type SystemdMachine,
} from '../helpers/systemd-host.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';

const PREFIX = `sysd-${process.pid}`;
const MACHINE = `cortex-systemd-test-${process.pid}`;
const HOST = `sysd-host-${process.pid}`;
const BASE = `/srv/${PREFIX}`;
/** Started as the CI pipeline starts it: pre-approved by the roster's deploy gate, requested by someone else. */
const PRE = { preApproved: APPROVER.ci };
const OFFLINE_BUILD = ['npm ci --omit=dev --no-audit --no-fund --offline', 'npm run build'];
/** All a workflow that refuses its input may record: started, one workflow task, failed. */
interface Snapshot {
  current: string;
  releases: string;
  invocationId: string;
  activeState: string;
  starts: number;
}

describe('system service rollback on real systemd, host worker inside the machine', () => {
  let env: TestWorkflowEnvironment;
  let m: SystemdMachine;
  let remote = '';
  let taskQueue = '';
  let mainWorker: { worker: Worker; run: Promise<void> } | undefined;
  let hostWorker: MachineWorker | undefined;
  let seq = 0;

  before(async () => {
    [m, env] = await Promise.all([startSystemdMachine(MACHINE), localEnv()]);
    remote = await createAppRemote(m, BASE);
    taskQueue = uniqueQueue('sysd-main');
    // The main worker cannot reach any Docker engine and has no systemd: host steps succeed only on the host worker.
    const blind = new Dockerode({ socketPath: '/nonexistent/docker.sock' });
    const w = await createWorker({
      settings: { address: env.address, namespace: 'default', taskQueue },
      connection: env.nativeConnection,
      deps: { docker: blind },
    });
    mainWorker = { worker: w.worker, run: w.worker.run() };
    hostWorker = m.startWorker({ address: env.address, host: HOST, identity: `${MACHINE}-worker-1` });
    await hostWorker.ready;
  });
  after(async () => {
    await hostWorker?.kill().catch(() => undefined);
    mainWorker?.worker.shutdown();
    await mainWorker?.run;
    await env?.teardown();
    await m?.remove();
  });

  async function app(tag: AppTag): Promise<DeployedApp> {
    seq += 1;
    const unit = `${PREFIX}-${seq}`;
    return deployApp(m, { unit, root: `${BASE}/${unit}`, remote, tag, port: await freePort() });
  }

  async function snapshot(a: DeployedApp): Promise<Snapshot> {
    const props = await unitProps(m, a.unit);
    return {
      current: (await m.must(`readlink ${a.root}/current`)).trim(),
      releases: (await m.must(`ls -1 ${a.root}/releases`)).trim(),
      invocationId: props.InvocationID ?? '',
      activeState: props.ActiveState ?? '',
      starts: await startCount(m, a.unit),
    };
  }

  async function health(a: DeployedApp): Promise<{ status: number; version?: string }> {
    const res = await fetch(a.healthUrl, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, version: ((await res.json()) as { version?: string }).version };
  }

  function start(a: DeployedApp, targetTag: string, extra: Partial<SystemServiceInput> = {}): Promise<WorkflowHandle> {
    const input: SystemServiceInput = {
      unit: a.unit,
      releaseRoot: a.root,
      gitRemote: remote,
      targetTag,
      healthUrl: a.healthUrl,
      reason: 'test',
      requestedBy: REQUESTER,
      host: HOST,
      installCommands: OFFLINE_BUILD,
      verifyTimeoutSeconds: 5,
      monitor: { durationSeconds: 0 },
      approval: PRE,
      ...extra,
    };
    return env.client.workflow.start('systemServiceRollback', {
      taskQueue,
      workflowId: `rollback-system-service-${HOST}-${a.unit}`,
      args: [input],
    });
  }

  /** Every host activity (all but the approval policy and notifications) ran on the host's queue, inside the machine. */
  async function ranInMachine(h: WorkflowHandle): Promise<number> {
    const events = hostActivityEvents((await h.fetchHistory()).events ?? []);
    const queues = new Set(events.flatMap((e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name ?? []));
    assert.deepEqual([...queues], [`cortex-rollback-host-${HOST}`]);
    const identities = events.flatMap((e) => e.activityTaskStartedEventAttributes?.identity ?? []);
    for (const id of identities) assert.match(id, new RegExp(`^${MACHINE}-worker-\\d$`));
    return identities.length;
  }

  it('rolls back to a tag: current → releases/<tag>, one restart, healthy, journal in the status', async () => {
    const a = await app('v1.2.0');
    const before = await snapshot(a);
    assert.equal((await health(a)).status, 503, 'the fixture starts on the unhealthy v1.2.0');
    assert.equal(existsSync(a.root), false, 'the release root exists only inside the machine');

    const h = await start(a, 'v1.0.0', { monitor: { durationSeconds: 2, intervalSeconds: 1 } });
    const r = (await h.result()) as SystemServiceResult;

    const now = await snapshot(a);
    assert.equal(r.outcome, 'succeeded');
    assert.equal(now.current, `${a.root}/releases/v1.0.0`);
    assert.equal(now.releases, 'v1.0.0\nv1.2.0');
    assert.notEqual(now.invocationId, before.invocationId);
    assert.equal(now.starts, before.starts + 1, 'exactly one restart');
    assert.equal(now.activeState, 'active');
    assert.deepEqual(await health(a), { status: 200, version: 'v1.0.0' });
    assert.equal(r.from.release, `${a.root}/releases/v1.2.0`);
    assert.equal(r.from.invocationId, before.invocationId);
    assert.equal(r.to.invocationId, now.invocationId, 'the result names the invocation systemd reports');
    assert.deepEqual(
      r.build?.map((b) => b.command),
      OFFLINE_BUILD,
    );
    assert.equal(r.monitoring?.breached, false);
    assert.ok((r.monitoring?.samples ?? 0) >= 2);
    assert.match((await m.must(`tar -tzf ${r.backup!.archive}`)).split('\n')[0]!, /^v1\.2\.0\//);

    const status = (await h.query(statusQuery)) as SystemServiceStatus;
    assert.equal(status.phase, 'completed');
    assert.ok(status.journal && status.journal.length > 0 && status.journal.length <= 20);
    assert.ok(
      status.journal.some((l) => l.includes('cortex-test-app v1.0.0 listening')),
      `journal: ${status.journal.join('\n')}`,
    );
    assert.deepEqual(r.journal, status.journal);
    assert.ok((await ranInMachine(h)) >= 9);
  });

  it('an unknown tag fails before any change: symlink, releases and the unit untouched', async () => {
    const a = await app('v1.1.0');
    const before = await snapshot(a);
    const h = await start(a, 'v7.7.7');
    const f = await workflowFailure(h.result());
    assert.equal(f.type, 'NotFound');
    assert.match(f.message, /tag v7\.7\.7 does not exist in .*app\.git \(nothing was changed\)/);
    assert.deepEqual(await snapshot(a), before);
    assert.equal((await m.must(`ls -1 ${a.root}`)).trim(), 'current\nreleases', 'no backup, no temporary folder');
    const status = await h.query(statusQuery);
    assert.equal(status.approvals.length, 0, 'failed before the approval gate');
    await ranInMachine(h);
  });

  it('a failing build is undone: its release folder removed, current and the unit untouched', async () => {
    const a = await app('v1.1.0');
    const before = await snapshot(a);
    const h = await start(a, 'v0.8.0');
    const f = await workflowFailure(h.result());
    assert.equal(f.type, 'CommandFailed');
    assert.match(f.message, /'npm run build' in .*releases\/v0\.8\.0 exited 1: .*cannot find module \.\/generated/s);
    assert.match(f.message, /The live service was not changed \(current → .*releases\/v1\.1\.0\); removed/);
    assert.deepEqual(await snapshot(a), before);
    assert.deepEqual(await health(a), { status: 200, version: 'v1.1.0' });
  });

  it('unhealthy after the restart: current swapped back and restarted, healthy on the old release', async () => {
    const a = await app('v1.1.0');
    const before = await snapshot(a);
    const h = await start(a, 'v0.9.0', { verifyTimeoutSeconds: 2 });
    const f = await workflowFailure(h.result());
    assert.equal(f.type, 'VerificationFailed');
    const d = f.details?.[0] as SystemServiceRestore;
    const now = await snapshot(a);
    assert.match(
      f.message,
      new RegExp(
        `did not answer healthy .* Restored: current → ${a.root}/releases/v1\\.1\\.0 again, ${a.unit}\\.service ` +
          `restarted \\(invocation ${now.invocationId.slice(0, 12)}, healthy\\); removed .*releases/v0\\.9\\.0`,
      ),
    );
    assert.equal(d.currentRelease, `${a.root}/releases/v1.1.0`);
    assert.equal(d.invocationId, now.invocationId);
    assert.equal(d.restoredHealth?.healthy, true);
    assert.ok(
      d.journal?.some((l) => l.includes('cortex-test-app v0.9.0 listening')),
      'journal of the failed start',
    );
    assert.equal(now.current, before.current);
    assert.equal(now.releases, 'v1.1.0');
    assert.equal(now.starts, before.starts + 2, 'restarted onto v0.9.0, then back');
    assert.deepEqual(await health(a), { status: 200, version: 'v1.1.0' });
    assert.equal((await h.query(statusQuery)).phase, 'rolled-back-to-previous');
  });

  it('a host worker SIGKILLed during the restart: a new worker finishes, one swap and one restart', async () => {
    const a = await app('v1.2.0');
    const before = await snapshot(a);
    await m.must(`rm -f ${a.gate}`); // the next start blocks in ExecStartPre until the gate is back
    const h = await start(a, 'v1.0.0');
    await untilPending(h, 'systemdRestart', (p) => p.attempt === 1, 60_000);
    // the restart is under way in the machine: current swapped, the unit stopped and held while starting
    let props: Record<string, string> = {};
    for (let i = 0; i < 100 && props.ActiveState !== 'activating'; i++) props = await unitProps(m, a.unit);
    assert.equal(props.ActiveState, 'activating');
    assert.equal((await m.must(`readlink ${a.root}/current`)).trim(), `${a.root}/releases/v1.0.0`);
    await hostWorker!.kill();
    const second = m.startWorker({ address: env.address, host: HOST, identity: `${MACHINE}-worker-2` });
    hostWorker = second;
    await second.ready;
    await m.must(`touch ${a.gate}`);
    const r = (await h.result()) as SystemServiceResult;

    const now = await snapshot(a);
    assert.equal(r.outcome, 'succeeded');
    assert.equal(now.current, `${a.root}/releases/v1.0.0`);
    assert.equal(now.starts, before.starts + 1, 'one restart, not two');
    assert.equal(r.to.invocationId, now.invocationId);
    assert.deepEqual(await health(a), { status: 200, version: 'v1.0.0' });
    const [restart, ...moreRestarts] = await activityRuns(h, 'systemdRestart');
    assert.equal(moreRestarts.length, 0);
    assert.ok(restart && restart.attempt >= 2, 'the restart was interrupted and retried');
    assert.equal(restart.identity, `${MACHINE}-worker-2`);
    assert.match(
      (restart.result as { skipped?: string }).skipped ?? '',
      /already started at .* after .*current changed/,
    );
    assert.equal(r.restart?.restarted, false);
    const swaps = await activityRuns(h, 'releaseSwitch');
    assert.equal(swaps.length, 1);
    assert.equal(swaps[0]!.identity, `${MACHINE}-worker-1`);
    await ranInMachine(h);
  });

  it('cancelled during the restart: the restart finishes, then current is swapped back and restarted', async () => {
    const a = await app('v1.1.0');
    const before = await snapshot(a);
    await m.must(`rm -f ${a.gate}`);
    const h = await start(a, 'v1.0.0');
    await untilPending(h, 'systemdRestart', (p) => p.attempt === 1, 60_000);
    await waitFor(async () => (await unitProps(m, a.unit)).ActiveState === 'activating', 10_000, 'restart held');
    await h.cancel();
    await m.must(`touch ${a.gate}`);
    const err = await h.result().then(
      () => assert.fail('expected the rollback to end cancelled'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));
    const now = await snapshot(a);
    assert.equal(now.current, before.current);
    assert.equal(now.releases, 'v1.1.0', 'the release folder this rollback created is removed');
    assert.equal(now.starts, before.starts + 2, 'restarted onto v1.0.0, then back');
    assert.deepEqual(await health(a), { status: 200, version: 'v1.1.0' });
    const status = await h.query(statusQuery);
    assert.equal(status.phase, 'rolled-back-to-previous');
    assert.match(status.error ?? '', /the rollback was cancelled\. Restored: current → .*releases\/v1\.1\.0 again/);
  });

  it('bad input is refused before anything runs: no activity recorded, the service untouched', async () => {
    const a = await app('v1.1.0');
    const before = await snapshot(a);
    // Not pre-approved: a refusal that were ever missed would stop at the approval gate, not change anything.
    const valid: Record<string, unknown> = {
      unit: a.unit,
      releaseRoot: a.root,
      gitRemote: remote,
      targetTag: 'v1.0.0',
      healthUrl: a.healthUrl,
      reason: 'bad input',
      requestedBy: REQUESTER,
      host: HOST,
    };
    const cases: Array<{ name: string; input?: unknown; over?: Record<string, unknown>; field: string }> = [
      { name: 'null input', input: null, field: 'input' },
      { name: 'unit with a shell command', over: { unit: `${a.unit}; rm -rf /` }, field: 'unit' },
      { name: 'unit that is an option', over: { unit: '--now' }, field: 'unit' },
      { name: 'relative releaseRoot', over: { releaseRoot: 'srv/app' }, field: 'releaseRoot' },
      { name: "releaseRoot with '..'", over: { releaseRoot: `${a.root}/../..` }, field: 'releaseRoot' },
      { name: 'gitRemote with credentials', over: { gitRemote: 'https://u:pw@git.example/r.git' }, field: 'gitRemote' },
      { name: 'gitRemote that is an option', over: { gitRemote: '--upload-pack=touch /tmp/x' }, field: 'gitRemote' },
      { name: 'targetTag escaping releases/', over: { targetTag: '../../etc' }, field: 'targetTag' },
      { name: 'targetTag that is an option', over: { targetTag: '--help' }, field: 'targetTag' },
      { name: 'targetTag with a space', over: { targetTag: 'v1.0.0 --force' }, field: 'targetTag' },
      { name: 'healthUrl file://', over: { healthUrl: 'file:///etc/passwd' }, field: 'healthUrl' },
      { name: 'no install command', over: { installCommands: [] }, field: 'installCommands' },
      {
        name: 'a two-line install command',
        over: { installCommands: ['npm ci\nrm -rf /'] },
        field: 'installCommands.0',
      },
      { name: 'a typo: targetTga', over: { targetTag: undefined, targetTga: 'v1.0.0' }, field: 'targetTga' },
      { name: 'host with a space', over: { host: 'a b' }, field: 'host' },
      {
        name: "pre-approved with a role that is not a role id (authority is the gate's call)",
        over: { approval: { preApproved: { approver: 'backup-eng', role: 'Engineer!' } } },
        field: 'approval.preApproved.role',
      },
      { name: 'monitor interval 0', over: { monitor: { intervalSeconds: 0 } }, field: 'monitor.intervalSeconds' },
      { name: 'verifyTimeoutSeconds a word', over: { verifyTimeoutSeconds: 'soon' }, field: 'verifyTimeoutSeconds' },
    ];
    for (const [i, c] of cases.entries()) {
      const input: unknown = 'input' in c ? c.input : JSON.parse(JSON.stringify({ ...valid, ...c.over })); // drops undefined
      const h = await env.client.workflow.start('systemServiceRollback', {
        taskQueue,
        workflowId: `bad-input-${a.unit}-${i}`,
        args: [input],
      });
      const f = await workflowFailure(h.result());
      assert.equal(f.type, 'InvalidInput', c.name);
      assert.ok(f.message.startsWith(`invalid input: ${c.field}:`), `${c.name}: ${f.message}`);
      const events = (await h.fetchHistory()).events ?? [];
      const types = eventTypesWithoutPatches(events);
      assert.deepEqual(types, REFUSAL_EVENTS, `${c.name}: nothing but the refusal was recorded`);
    }
    assert.deepEqual(await snapshot(a), before);
  });
});
