// networkRollback on real iptables inside network namespaces this test creates (never the machine's own rules), a
// real dev server, and a service on the namespace's loopback: confirmed rollback; bad input refused before any
// change; rules that shut the service out reverted automatically; no confirmation → reverted; and a crash: the
// worker SIGKILLed between the change and its verification, its replacement SIGKILLed while the dead-man timer
// runs, and a third worker still restoring the backup exactly once when the timer fires.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { PROJECT_ROOT, temporalCliPath } from '../../common/tools.ts';
import { canonicalRules } from '../../activities/iptables.ts';
import { createWorker } from '../../workers/worker.ts';
import {
  confirmSignal,
  networkRollbackWorkflowId,
  type NetworkRollbackInput,
  type NetworkRollbackResult,
} from '../../workflows/infrastructure/network.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import { waitFor } from '../helpers/docker.ts';
import { activityRuns, untilPending } from '../helpers/history.ts';
import {
  BAD_RULES,
  BASELINE_RULES,
  BLOCKING_RULES,
  createNetns,
  HEALTH_URL,
  TARGET_RULES,
  type Netns,
} from '../helpers/netns.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker } from '../helpers/worker-process.ts';

// the committed approval policy: the roster's director approves, someone else requested and confirms (four eyes)
const DIRECTOR = APPROVER.infrastructure;
const baselineCanonical = canonicalRules(BASELINE_RULES).text;
const targetCanonical = canonicalRules(TARGET_RULES).text;

function failureOf(err: unknown): ApplicationFailure {
  assert.ok(err instanceof WorkflowFailedError, `expected a workflow failure, got ${String(err)}`);
  assert.ok(err.cause instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err.cause)}`);
  return err.cause;
}

describe('networkRollback on real iptables in a network namespace', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let taskQueue: string;
  let ns: Netns;
  let backups: string;

  before(async () => {
    env = await localEnv();
    taskQueue = uniqueQueue('network');
    backups = mkdtempSync(join(tmpdir(), 'cortex-net-backups-'));
    ns = await createNetns();
    ({ worker } = await createWorker({
      settings: { address: env.address, namespace: 'default', taskQueue },
      connection: env.nativeConnection,
      deps: { networkBackupRoot: backups },
    }));
    running = worker.run();
  });
  after(async () => {
    worker?.shutdown();
    await running;
    await ns?.close();
    rmSync(backups, { recursive: true, force: true });
    await env?.teardown();
  });

  let n = 0;
  async function start(input: Partial<NetworkRollbackInput>, queue = taskQueue): Promise<WorkflowHandle> {
    n += 1;
    const full = {
      netns: ns.name,
      healthUrls: [HEALTH_URL],
      reason: 'bad firewall change',
      requestedBy: REQUESTER,
      approval: { preApproved: DIRECTOR },
      ...input,
    } as NetworkRollbackInput;
    return env.client.workflow.start('networkRollback', {
      taskQueue: queue,
      workflowId: `${networkRollbackWorkflowId({ netns: ns.name })}-${n}`,
      args: [full],
    });
  }

  async function untilPhase(h: WorkflowHandle, phase: string): Promise<void> {
    await waitFor(async () => (await h.query(statusQuery)).phase === phase, 60_000, phase);
  }

  it('applies the known-good rules, verifies health, and keeps them once confirmed', async () => {
    await ns.setRules(BASELINE_RULES);
    const rulesFile = ns.file('target.rules', TARGET_RULES);
    const h = await start({ rulesFile, confirmSeconds: 120 });
    await untilPhase(h, 'awaiting-confirmation');
    const status = await h.query(statusQuery);
    assert.equal(status.waitingFor?.signal, 'confirm');
    assert.equal(await ns.canonical(), targetCanonical, 'the target rules are live while waiting');
    await h.signal(confirmSignal, { by: REQUESTER, comment: 'ssh and /health fine' });
    const r = (await h.result()) as NetworkRollbackResult;
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.confirmation?.by, REQUESTER);
    assert.equal(await ns.canonical(), targetCanonical);
    assert.ok(await ns.healthy());
    assert.ok(r.backup && existsSync(r.backup.path), 'the backup file exists');
    assert.equal(canonicalRules(readFileSync(r.backup.path, 'utf8')).text, baselineCanonical, 'backup = rules before');
    assert.deepEqual(
      r.timeline.map((s) => s.name),
      [
        'validate-input',
        'notify-started',
        'test-target-rules',
        'assess-current-rules',
        'load-approval-policy',
        'approval',
        'backup-current-rules',
        'apply-target-rules',
        'verify-health',
        'await-confirmation',
        'notify-succeeded',
      ],
    );
  });

  it('the README path: `temporal workflow start` with JSON input, `cortex-rollback confirm` (refused before the wait, sent during it)', async () => {
    await ns.setRules(BASELINE_RULES);
    const workflowId = `${networkRollbackWorkflowId({ netns: ns.name })}-cli`;
    const input = {
      rulesFile: ns.file('target-cli.rules', TARGET_RULES),
      netns: ns.name,
      healthUrls: [HEALTH_URL],
      confirmSeconds: 120,
      reason: 'bad firewall change',
      requestedBy: REQUESTER,
    };
    const temporal = (args: string[]) =>
      execa(temporalCliPath(), [...args, '--address', env.address, '--namespace', 'default'], { reject: false });
    const cli = (args: string[]) =>
      execa('node', [join(PROJECT_ROOT, 'client', 'bin.js'), ...args], {
        reject: false,
        env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', TEMPORAL_TASK_QUEUE: taskQueue },
      });
    const started = await temporal([
      'workflow',
      'start',
      '--type',
      'networkRollback',
      '--task-queue',
      taskQueue,
      '--workflow-id',
      workflowId,
      '--input',
      JSON.stringify(input),
    ]);
    assert.equal(started.exitCode, 0, started.stderr);
    const h = env.client.workflow.getHandle(workflowId);
    await untilPhase(h, 'awaiting-approval');
    const early = await cli(['confirm', workflowId, '--by', REQUESTER]);
    assert.equal(early.exitCode, 2, 'a confirm before the wait is refused by the CLI');
    assert.match(early.stderr, /not waiting for a confirmation \(phase awaiting-approval\)/);
    const approved = await temporal([
      'workflow',
      'signal',
      '--workflow-id',
      workflowId,
      '--name',
      'approve',
      '--input',
      JSON.stringify(DIRECTOR),
    ]);
    assert.equal(approved.exitCode, 0, approved.stderr);
    await untilPhase(h, 'awaiting-confirmation');
    const status = await cli(['status', workflowId]);
    assert.equal(status.exitCode, 0, status.stderr);
    assert.match(status.stdout, /waiting for: signal 'confirm' until .*: cortex-rollback confirm rollback-network-/);
    const confirmed = await cli(['confirm', workflowId, '--by', REQUESTER, '--comment', 'ssh fine']);
    assert.equal(confirmed.exitCode, 0, confirmed.stderr);
    const r = (await h.result()) as NetworkRollbackResult;
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.approvals[0]?.role, 'director-of-engineering');
    assert.equal(r.confirmation?.comment, 'ssh fine');
    assert.equal(await ns.canonical(), targetCanonical);
  });

  it('refuses bad input before anything changes: a rules file that does not parse, a missing file, a missing namespace, a relative path, a too-junior pre-approval', async () => {
    await ns.setRules(BASELINE_RULES);
    const saved = await ns.save();
    const strip = (s: string) => s.replace(/^#.*$/gm, '');
    const cases: Array<[Partial<NetworkRollbackInput>, string, RegExp]> = [
      [{ rulesFile: ns.file('bad.rules', BAD_RULES) }, 'InvalidInput', /does not parse.*not-a-port/],
      [{ rulesFile: ns.file('empty.rules', '# nothing\n') }, 'InvalidInput', /names no table/],
      [{ rulesFile: join(ns.dir, 'missing.rules') }, 'NotFound', /does not exist/],
      [
        { rulesFile: ns.file('t2.rules', TARGET_RULES), netns: `${ns.name}-nope` },
        'NotFound',
        /namespace .* does not exist/,
      ],
      [{ rulesFile: 'relative.rules' }, 'InvalidInput', /rulesFile: .*not an absolute path/],
      [{ rulesFile: ns.file('t3.rules', TARGET_RULES), healthUrls: [] }, 'InvalidInput', /healthUrls/],
    ];
    for (const [input, type, message] of cases) {
      const h = await start(input);
      const f = await h.result().then(
        () => assert.fail(`accepted ${JSON.stringify(input)}`),
        (err: unknown) => failureOf(err),
      );
      assert.equal(f.type, type, `${JSON.stringify(input)}: ${f.message}`);
      assert.match(f.message, message);
      assert.equal((await activityRuns(h, 'iptablesApply')).length, 0, 'no apply scheduled');
      assert.equal((await activityRuns(h, 'iptablesBackup')).length, 0, 'no backup taken');
      assert.equal(strip(await ns.save()), strip(saved), 'iptables-save output unchanged');
    }
    // A too-junior pre-approval (the roster's engineering manager, for infrastructure) never approves: refused
    // with the input, or recorded as refused by the gate, which then waits for the director (cancelled here).
    const h = await start({
      rulesFile: ns.file('t4.rules', TARGET_RULES),
      approval: { preApproved: APPROVER.database },
    });
    let status = await h.query(statusQuery);
    await waitFor(
      async () =>
        (await h.describe()).status.name !== 'RUNNING' ||
        (status = await h.query(statusQuery)).approvals.some((a) => a.via === 'pre-approval'),
      30_000,
      'the pre-approval judged',
    );
    if ((await h.describe()).status.name === 'RUNNING') {
      assert.deepEqual(
        status.approvals.map((a) => [a.decision, a.approver, a.via]),
        [['refused', APPROVER.database.approver, 'pre-approval']],
      );
      assert.match(status.approvals[0]!.refusal ?? '', /role 'engineering-manager' may not decide/);
      assert.equal(status.phase, 'awaiting-approval');
      await h.cancel();
      await h.result().catch(() => undefined);
    } else {
      const f = await h.result().then(
        () => assert.fail('a too-junior pre-approval was accepted'),
        (err: unknown) => failureOf(err),
      );
      assert.equal(f.type, 'InvalidInput');
      assert.match(f.message, /approval\.preApproved.*director-of-engineering/);
    }
    assert.equal((await activityRuns(h, 'iptablesApply')).length, 0, 'no apply scheduled');
    assert.equal((await activityRuns(h, 'iptablesBackup')).length, 0, 'no backup taken');
    assert.equal(strip(await ns.save()), strip(saved), 'iptables-save output unchanged');
  });

  it('reverts automatically when the new rules shut the service out: live rules equal the backup, health OK', async () => {
    await ns.setRules(BASELINE_RULES);
    const h = await start({ rulesFile: ns.file('block.rules', BLOCKING_RULES), verifyTimeoutSeconds: 3 });
    const f = await h.result().then(
      () => assert.fail('a rollback that blocks the service succeeded'),
      (err: unknown) => failureOf(err),
    );
    assert.equal(f.type, 'VerificationFailed');
    assert.match(
      f.message,
      /did not answer healthy.*Restored: the previous rules from .*live rules equal the backup.*health OK/,
    );
    const details = f.details?.[0] as { result: NetworkRollbackResult };
    assert.equal(details.result.outcome, 'reverted');
    assert.ok(details.result.restored);
    const backupPath = details.result.backup!.path;
    assert.equal(await ns.canonical(), canonicalRules(readFileSync(backupPath, 'utf8')).text, 'live = backup');
    assert.equal(await ns.canonical(), baselineCanonical);
    assert.ok(await ns.healthy(), 'the service answers again');
  });

  it('reverts automatically when nobody confirms within the window, also removing a table the change added', async () => {
    await ns.setRules(BASELINE_RULES);
    const h = await start({ rulesFile: ns.file('target-unconfirmed.rules', TARGET_RULES), confirmSeconds: 5 });
    await untilPhase(h, 'awaiting-confirmation');
    assert.equal(await ns.canonical(), targetCanonical);
    const f = await h.result().then(
      () => assert.fail('an unconfirmed rollback succeeded'),
      (err: unknown) => failureOf(err),
    );
    assert.match(f.message, /nobody confirmed the new rules within 5s.*Restored:.*removed tables nat/);
    assert.equal(await ns.canonical(), baselineCanonical);
    assert.ok(!(await ns.save()).includes('*nat'), 'the nat table the change added is gone');
    assert.ok(await ns.healthy());
    const status = await h.query(statusQuery);
    assert.equal(status.phase, 'rolled-back-to-previous');
  });

  it('a confirm sent before the change is verified does not count', async () => {
    await ns.setRules(BASELINE_RULES);
    const h = await start({
      rulesFile: ns.file('target-early.rules', TARGET_RULES),
      confirmSeconds: 5,
      approval: { timeoutSeconds: 60 },
    });
    await untilPhase(h, 'awaiting-approval');
    await h.signal(confirmSignal, { by: 'eager' });
    await h.signal('approve', DIRECTOR);
    const f = await h.result().then(
      () => assert.fail('an early confirm counted'),
      (err: unknown) => failureOf(err),
    );
    assert.match(f.message, /nobody confirmed/);
    const r = (f.details?.[0] as { result: NetworkRollbackResult }).result;
    assert.equal(r.confirmations[0]?.accepted, false);
    assert.match(r.confirmations[0]?.refusal ?? '', /not waiting/);
    assert.equal(await ns.canonical(), baselineCanonical);
  });

  it('crash: worker killed between the change and its verification, its replacement killed while the dead-man timer runs; a third worker restores the backup exactly once', async () => {
    await ns.setRules(BASELINE_RULES);
    const queue = uniqueQueue('network-crash');
    const extra = {};
    const w1 = spawnWorker({ address: env.address, taskQueue: queue, extra });
    let w2: ReturnType<typeof spawnWorker> | undefined;
    let w3: ReturnType<typeof spawnWorker> | undefined;
    try {
      await w1.ready;
      ns.pause(); // the service neither answers nor refuses: verification keeps polling
      const h = await start({ rulesFile: ns.file('target-crash.rules', TARGET_RULES), confirmSeconds: 15 }, queue);
      // Proven point: the change is done (iptablesApply completed) and verification's attempt 1 is running.
      await untilPending(h, 'networkHealth', (a) => a.attempt === 1 && a.heartbeat !== undefined, 60_000);
      const [applied] = await activityRuns(h, 'iptablesApply');
      assert.ok(applied?.completed, 'the change was applied before the kill');
      assert.equal(await ns.canonical(), targetCanonical);
      await w1.kill();
      ns.resume();
      w2 = spawnWorker({ address: env.address, taskQueue: queue, extra });
      await w2.ready;
      // Proven point: verification passed on the replacement and the dead-man timer is in the history.
      await waitFor(
        async () =>
          ((await h.fetchHistory()).events ?? []).some(
            (e) =>
              e.timerStartedEventAttributes &&
              String(e.timerStartedEventAttributes.startToFireTimeout?.seconds) === '15',
          ),
        60_000,
        'dead-man timer started',
      );
      await w2.kill();
      assert.equal(await ns.canonical(), targetCanonical, 'nobody restored anything while no worker ran');
      w3 = spawnWorker({ address: env.address, taskQueue: queue, extra });
      await w3.ready;
      const f = await h.result().then(
        () => assert.fail('an unconfirmed rollback succeeded'),
        (err: unknown) => failureOf(err),
      );
      assert.match(f.message, /nobody confirmed.*Restored: the previous rules/);
      assert.equal(await ns.canonical(), baselineCanonical, 'live rules = the backup');
      assert.ok(await ns.healthy());

      const pid = (w: { proc: { pid?: number | undefined } }) => `${w.proc.pid}@`;
      const applies = await activityRuns(h, 'iptablesApply');
      assert.equal(applies.length, 1, 'the change was scheduled once');
      assert.equal(applies[0]!.attempt, 1, 'and ran once');
      assert.ok(applies[0]!.identity?.startsWith(pid(w1)), `applied by the first worker (${applies[0]!.identity})`);
      const verifies = await activityRuns(h, 'networkHealth');
      assert.ok(verifies[0]!.attempt >= 2, 'verification was interrupted and retried');
      assert.ok(verifies[0]!.identity?.startsWith(pid(w2)), 'and finished on the replacement');
      const restores = await activityRuns(h, 'iptablesRestoreBackup');
      assert.equal(restores.length, 1, 'the dead-man restore was scheduled once');
      assert.ok(restores[0]!.completed && restores[0]!.attempt === 1, 'and ran once');
      assert.ok(restores[0]!.identity?.startsWith(pid(w3)), 'by the third worker');
      // the worker processes keep backups in the project's .data/backups/network: remove this run's
      const backup = (f.details?.[0] as { result: NetworkRollbackResult }).result.backup!.path;
      rmSync(backup, { force: true });
      rmSync(`${backup}.restore`, { force: true });
    } finally {
      ns.resume();
      for (const w of [w1, w2, w3]) if (w) await w.kill().catch(() => undefined);
    }
  });
});
