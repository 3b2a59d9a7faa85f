// terraformRollback on the real OpenTofu binary with local state (terraform_data only: no provider, no socket) and
// the real Temporal dev server: the director approves the saved plan whose summary the request carries; a plan
// made stale while waiting is re-made and re-approved; a rollback that does not verify is compensated by applying
// the previous commit; a worker SIGKILLed after apply and before verification is replaced and the apply happens
// once; unknown commits and bad input change nothing. Proof is read from the state files themselves.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { sendDecision, startWorkflow, waitResult, type RollbackClient } from '../../client/client.ts';
import { execa } from 'execa';
import { renderReport } from '../../client/report.ts';
import { temporalCliPath } from '../../common/tools.ts';
import { createWorker } from '../../workers/worker.ts';
import { createTerraformActivities } from '../../activities/terraform.ts';
import type { PlanSummary } from '../../activities/index.ts';
import {
  terraformRollbackWorkflowId,
  type TerraformRollbackInput,
  type TerraformRollbackResult,
} from '../../workflows/infrastructure/terraform.ts';
import { approveSignal } from '../../workflows/phases/approval.ts';
import { statusQuery, type RollbackStatus } from '../../workflows/phases/progress.ts';
import { waitFor } from '../helpers/docker.ts';
import { activityRuns, untilPending, workflowTaskIdentities } from '../helpers/history.ts';
import { APPROVER, localEnv, REQUESTER, testClient, uniqueQueue } from '../helpers/temporal.ts';
import {
  applyCommit,
  CONFIG,
  holdingTofu,
  inputs,
  readState,
  tfWorld,
  type StateFile,
  type TfWorld,
} from '../helpers/terraform.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

// the committed approval policy: the director of the roster approves, someone else requested (four eyes)
const DIRECTOR = APPROVER.infrastructure;

describe('terraformRollback on OpenTofu with local state', () => {
  let env: TestWorkflowEnvironment;
  let w: TfWorld;
  let worker: Worker;
  let running: Promise<void>;
  let rc: RollbackClient;
  const taskQueue = uniqueQueue('tofu');
  const children: WorkerProcess[] = [];
  let seq = 0;

  before(async () => {
    w = await tfWorld('tofu-int');
    env = await localEnv();
    rc = testClient(env, taskQueue);
    ({ worker } = await createWorker({
      settings: { address: env.address, namespace: 'default', taskQueue },
      connection: env.nativeConnection,
      deps: { terraform: { workRoot: join(w.root, 'work'), env: w.env } },
    }));
    running = worker.run();
  });
  after(async () => {
    for (const c of children) c.proc.kill('SIGKILL');
    worker?.shutdown();
    await running;
    await env?.teardown();
    w?.close();
  });

  /** A fresh state file applied at B (the current deployment). */
  async function stateAtB(): Promise<string> {
    seq += 1;
    const path = join(w.root, `state-${seq}.tfstate`);
    await applyCommit(w, w.commits.B, path);
    assert.deepEqual(inputs(readState(path)), { x: 'b', extra: 'e' });
    return path;
  }

  function input(stateFile: string, extra: Partial<TerraformRollbackInput> = {}): TerraformRollbackInput {
    return {
      repo: w.repo,
      directory: 'infra',
      commit: w.commits.A,
      stateFile,
      reason: 'B broke the service',
      requestedBy: REQUESTER,
      approval: { timeoutSeconds: 120 },
      ...extra,
    };
  }

  async function start(i: TerraformRollbackInput, tag: string) {
    const workflowId = `${terraformRollbackWorkflowId({ repo: w.repo, directory: 'infra' })}-${tag}-${seq}`;
    await startWorkflow(rc, 'terraformRollback', i, workflowId);
    return env.client.workflow.getHandle(workflowId);
  }

  /** As `temporal workflow start --input` does: no client-side validation, the workflow itself must refuse. */
  async function startRaw(i: Record<string, unknown>, tag: string) {
    const workflowId = `${terraformRollbackWorkflowId({ repo: w.repo, directory: 'infra' })}-${tag}-${seq}`;
    return env.client.workflow.start('terraformRollback', { taskQueue, workflowId, args: [i] });
  }

  async function pendingPlan(handle: ReturnType<typeof env.client.workflow.getHandle>, notId?: string) {
    let status: RollbackStatus | undefined;
    await waitFor(
      async () => {
        status = await handle.query(statusQuery);
        const p = status.pendingApproval?.plan;
        return p !== undefined && p.id !== notId;
      },
      60_000,
      'a plan awaiting approval',
    );
    return status!.pendingApproval!.plan!;
  }

  const countsOf = (p: PlanSummary) => ({ ...p.counts });

  it('rolls back to the stable commit: the director approves the plan, exactly it is applied, no changes remain', async () => {
    const t0 = Date.now();
    const stateFile = await stateAtB();
    const bSerial = readState(stateFile).serial;
    const handle = await start(input(stateFile), 'ok');
    const plan = await pendingPlan(handle);
    assert.deepEqual(countsOf(plan), { create: 0, update: 1, delete: 1, replace: 0, read: 0 });
    assert.deepEqual(
      [...plan.changes].sort((a, b) => a.address.localeCompare(b.address)),
      [
        { address: 'terraform_data.extra', action: 'delete' },
        { address: 'terraform_data.x', action: 'update' },
      ],
    );
    assert.equal(plan.commit, w.commits.A);
    assert.equal(plan.state.serial, bSerial);
    const status = await handle.query(statusQuery);
    assert.equal(status.pendingApproval?.requiredRole, 'director-of-engineering');
    assert.deepEqual(status.plan, plan, 'the status shows the plan too');
    // the Web UI's "current details" of the workflow show the plan and the signal that approves it
    const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(meta.currentDetails ?? '', /Awaiting approval by director-of-engineering/);
    assert.match(meta.currentDetails ?? '', /\| `terraform_data\.extra` \| delete \|/);
    assert.ok(meta.currentDetails?.includes(`"planId": "${plan.id}"`), meta.currentDetails);

    // the roster's on-call engineer may not approve infrastructure, an approval of another plan does not count
    await handle.signal(approveSignal, APPROVER.configuration);
    await handle.signal(approveSignal, { ...DIRECTOR, planId: '0000000000000000' });
    await waitFor(async () => (await handle.query(statusQuery)).approvals.length === 2, 10_000, 'refusals');
    assert.equal(readState(stateFile).serial, bSerial, 'nothing applied yet');
    await sendDecision(rc, handle.workflowId, { approve: { ...DIRECTOR, planId: plan.id } });

    const r = await waitResult<TerraformRollbackResult>(rc, handle.workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    const res = r.result;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(
      res.approvals.map((a) => [a.decision, a.role, a.planId ?? '']),
      [
        ['refused', 'on-call-engineer', ''],
        ['refused', 'director-of-engineering', ''],
        ['approved', 'director-of-engineering', plan.id],
      ],
    );
    assert.match(res.approvals[0]!.refusal ?? '', /role 'on-call-engineer' may not decide an infrastructure rollback/);
    const s = readState(stateFile);
    assert.deepEqual(inputs(s), { x: 'a' }, "the state holds A's resources only");
    assert.equal(s.outputs.x?.value, 'a');
    assert.deepEqual(res.verification?.outputs, { x: 'a' });
    assert.equal(res.verification?.converged, true, 'plan -detailed-exitcode returned 0');
    assert.equal(res.verification?.exitCode, 0);
    assert.equal(s.serial, bSerial + 1, 'one apply');
    assert.equal(res.apply?.applied, true);
    assert.deepEqual([res.from.sha, res.to.sha], [w.commits.B, w.commits.A]);
    const backup = res.stateBackup!;
    assert.equal(backup.serial, bSerial);
    const saved = JSON.parse(readFileSync(backup.path, 'utf8')) as Parameters<typeof inputs>[0];
    assert.deepEqual(inputs(saved), { x: 'b', extra: 'e' }, "the backup is B's state");
    assert.deepEqual(
      readdirSync(join(w.root, 'work', 'runs')).filter((d) => d.startsWith(handle.workflowId)),
      [],
      'checkouts removed',
    );
    assert.equal(
      readFileSync(join(w.repo, 'infra', 'main.tf'), 'utf8').includes('"b"'),
      true,
      'shared checkout untouched',
    );
    const report = renderReport(await handle.query(statusQuery), r);
    assert.ok(report.includes(`- **Version**: commit ${w.commits.A} "stable deployment"`), report);
    assert.ok(report.includes('  - terraform_data.extra: delete'), report);
    console.log(`rollback to A: ${Date.now() - t0} ms`);
  });

  it('starts, shows its plan and is approved from the plain temporal CLI with JSON input', async () => {
    const stateFile = await stateAtB();
    const workflowId = `rollback-terraform-infra-temporal-cli-${seq}`;
    const temporal = (...args: string[]) =>
      execa(temporalCliPath(), [...args, '--address', env.address, '--namespace', 'default']);
    await temporal(
      'workflow',
      'start',
      '--type',
      'terraformRollback',
      '--task-queue',
      taskQueue,
      '--workflow-id',
      workflowId,
      '--input',
      JSON.stringify(input(stateFile)),
    );
    const handle = env.client.workflow.getHandle(workflowId);
    await pendingPlan(handle);
    const shown = await temporal('workflow', 'query', '--workflow-id', workflowId, '--type', 'status', '-o', 'json');
    const status = (JSON.parse(shown.stdout) as { queryResult: RollbackStatus[] }).queryResult[0]!;
    const plan = status.pendingApproval!.plan!;
    assert.deepEqual(countsOf(plan), { create: 0, update: 1, delete: 1, replace: 0, read: 0 });
    await temporal(
      'workflow',
      'signal',
      '--workflow-id',
      workflowId,
      '--name',
      'approve',
      '--input',
      JSON.stringify({ ...DIRECTOR, planId: plan.id }),
    );
    const r = await waitResult<TerraformRollbackResult>(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(inputs(readState(stateFile)), { x: 'a' });
  });

  it('reads a remote repository through a mirror of its own (a file:// URL here), never a checkout', async () => {
    const acts = createTerraformActivities({ workRoot: join(w.root, 'work-remote'), env: w.env });
    const repo = `file://${w.repo}`;
    const c = await acts.tfResolveCommits({ repo, directory: 'infra', commit: 'main~1' });
    assert.deepEqual([c.target.sha, c.previous.sha], [w.commits.A, w.commits.B]);
    const p = await acts.tfPrepare({
      repo,
      directory: 'infra',
      commit: c.target.sha,
      runKey: 'remote',
      purpose: 't',
      tool: 'tofu',
    });
    assert.equal(readFileSync(join(p.workdir, 'main.tf'), 'utf8'), CONFIG.A);
    const again = await acts.tfPrepare({
      repo,
      directory: 'infra',
      commit: c.target.sha,
      runKey: 'remote',
      purpose: 't',
      tool: 'tofu',
    });
    assert.equal(again.reused, true, 'a retry reuses the checkout');
  });

  it('asks nobody and applies nothing when the state already matches the stable commit', async () => {
    seq += 1;
    const stateFile = join(w.root, `state-${seq}-at-a.tfstate`);
    await applyCommit(w, w.commits.A, stateFile);
    const bytes = readFileSync(stateFile);
    const handle = await start(input(stateFile), 'noop');
    const r = await waitResult<TerraformRollbackResult>(rc, handle.workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'already-on-target');
    assert.deepEqual(r.result.approvals, []);
    assert.deepEqual(readFileSync(stateFile), bytes);
  });

  it('refuses an unknown commit, a missing directory and bad input before anything changes', async () => {
    const stateFile = await stateAtB();
    const bytes = readFileSync(stateFile);
    const cases: Array<[string, Partial<TerraformRollbackInput> | Record<string, unknown>, string, RegExp]> = [
      ['unknown', { commit: 'deadbeefdeadbeef' }, 'NotFound', /commit: 'deadbeefdeadbeef' is not a commit/],
      ['nodir', { directory: 'nope' }, 'NotFound', /has no directory 'nope'/],
      ['dotdot', { directory: '../etc' }, 'InvalidInput', /directory/],
      ['option', { commit: '--upload-pack=x' }, 'InvalidInput', /commit/],
      ['relative', { repo: 'repo' }, 'InvalidInput', /repo/],
      ['typo', { comit: 'x' }, 'InvalidInput', /comit/],
      ['same', { previousCommit: w.commits.A }, 'InvalidInput', /previousCommit: resolves to the target/],
      ['nostate', { stateFile: join(w.root, 'missing.tfstate') }, 'NotFound', /does not exist/],
    ];
    for (const [tag, extra, type, message] of cases) {
      const raw = { ...input(stateFile), ...extra };
      if (type === 'InvalidInput' && tag !== 'same') {
        // the CLI and client refuse it before starting anything, with the same message ('same' needs the repo)
        await assert.rejects(start(raw, `bad-${tag}-client`), message, tag);
      }
      const handle = await startRaw(raw, `bad-${tag}`);
      const r = await waitResult(rc, handle.workflowId);
      assert.ok(!r.ok, `${tag}: must fail`);
      assert.equal(r.type, type, `${tag}: ${r.message}`);
      assert.match(r.message, message, tag);
      const status = await handle.query(statusQuery);
      assert.equal(status.pendingApproval, undefined, `${tag}: no approval asked`);
      assert.ok(!status.steps.some((s) => s.name.startsWith('plan')), `${tag}: nothing planned`);
    }
    assert.deepEqual(readFileSync(stateFile), bytes, 'state file bytes unchanged');
  });

  it('re-plans and asks again when the state changed while the plan waited; the second approval applies', async () => {
    const stateFile = await stateAtB();
    const handle = await start(input(stateFile), 'stale');
    const first = await pendingPlan(handle);
    // someone applies while the director reads the plan
    await applyCommit(w, w.commits.B, stateFile, ['-replace=terraform_data.extra']);
    const moved = readState(stateFile).serial;
    assert.equal(moved, first.state.serial + 1);
    await sendDecision(rc, handle.workflowId, { approve: { ...DIRECTOR, planId: first.id } });
    const second = await pendingPlan(handle, first.id);
    assert.equal(second.state.serial, moved, 'the new plan is made from the changed state');
    assert.deepEqual(countsOf(second), countsOf(first));
    const st = await handle.query(statusQuery);
    assert.ok(
      st.steps.some((s) => s.name === 'stale-plan'),
      JSON.stringify(st.steps),
    );
    assert.equal(readState(stateFile).serial, moved, 'the stale plan was not applied');
    // the first plan's approval, sent again late, does not approve the second plan
    await handle.signal(approveSignal, { ...DIRECTOR, planId: first.id });
    await sendDecision(rc, handle.workflowId, { approve: { ...DIRECTOR, planId: second.id } });
    const r = await waitResult<TerraformRollbackResult>(rc, handle.workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.planRounds, 2);
    assert.equal(r.result.plan.id, second.id);
    assert.deepEqual(
      r.result.approvals.map((a) => [a.decision, a.planId]),
      [
        ['approved', first.id],
        ['refused', undefined],
        ['approved', second.id],
      ],
    );
    const s = readState(stateFile);
    assert.deepEqual(inputs(s), { x: 'a' });
    assert.equal(s.serial, moved + 1);
    assert.equal(r.result.stateBackup?.serial, moved);
  });

  it('stops with Conflict, nothing applied, when plans keep going stale (maxPlanRounds)', async () => {
    const stateFile = await stateAtB();
    const handle = await start(input(stateFile, { maxPlanRounds: 1 }), 'stale-limit');
    const plan = await pendingPlan(handle);
    await applyCommit(w, w.commits.B, stateFile, ['-replace=terraform_data.extra']);
    const bytes = readFileSync(stateFile);
    await sendDecision(rc, handle.workflowId, { approve: { ...DIRECTOR, planId: plan.id } });
    const r = await waitResult(rc, handle.workflowId);
    assert.ok(!r.ok);
    assert.equal(r.type, 'Conflict');
    assert.match(r.message, /1 plan\(s\) went stale, the limit is 1: nothing was applied/);
    assert.deepEqual(readFileSync(stateFile), bytes, 'the state is as the other change left it');
    assert.deepEqual(
      readdirSync(join(w.root, 'work', 'runs')).filter((d) => d.startsWith(handle.workflowId)),
      [],
      'plan files removed',
    );
  });

  it('does not verify (a resource that never converges): the previous commit is applied again', async () => {
    const stateFile = await stateAtB();
    const bSerial = readState(stateFile).serial;
    const handle = await start(input(stateFile, { commit: w.commits.N, previousCommit: w.commits.B }), 'undo');
    const plan = await pendingPlan(handle);
    assert.deepEqual(countsOf(plan), { create: 1, update: 1, delete: 1, replace: 0, read: 0 });
    await sendDecision(rc, handle.workflowId, { approve: { ...DIRECTOR, planId: plan.id } });
    const r = await waitResult(rc, handle.workflowId);
    assert.ok(!r.ok);
    assert.equal(r.type, 'VerificationFailed', r.message);
    assert.match(r.message, /still reports changes: terraform_data\.clock \(update\)/);
    assert.match(r.message, new RegExp(`Restored: the configuration of ${w.commits.B.slice(0, 12)}`));
    const s = readState(stateFile);
    assert.deepEqual(inputs(s), { x: 'b', extra: 'e' }, "B's configuration is back, the clock removed");
    assert.equal(s.serial, bSerial + 2, 'the rollback applied once, the compensation once');
    const status = await handle.query(statusQuery);
    assert.equal(status.phase, 'rolled-back-to-previous');
    assert.ok(status.steps.some((x) => x.name === 'apply previous' && x.state === 'completed'));
  });

  it('apply fails half-way: the previous commit is applied again; if that fails too, the manual steps name the state backup', async () => {
    const stateFile = await stateAtB();
    const bSerial = readState(stateFile).serial;
    const handle = await start(input(stateFile, { commit: w.commits.F, previousCommit: w.commits.B }), 'halfway');
    await sendDecision(rc, handle.workflowId, { approve: { ...DIRECTOR, planId: (await pendingPlan(handle)).id } });
    const r = await waitResult(rc, handle.workflowId);
    assert.ok(!r.ok);
    assert.equal(r.type, 'CommandFailed', r.message);
    assert.match(r.message, /apply failed .*bad is never right.*Restored: the configuration of/s);
    assert.deepEqual(inputs(readState(stateFile)), { x: 'b', extra: 'e' }, 'B is back, the half-applied resource gone');

    const stateFile2 = await stateAtB();
    const h2 = await start(input(stateFile2, { commit: w.commits.F, previousCommit: w.commits.F2 }), 'manual');
    await sendDecision(rc, h2.workflowId, { approve: { ...DIRECTOR, planId: (await pendingPlan(h2)).id } });
    const r2 = await waitResult<never>(rc, h2.workflowId);
    assert.ok(!r2.ok);
    assert.equal(r2.type, 'CompensationFailed', r2.message);
    const backup = (r2.details as { stateBackup: { path: string; serial: number } }).stateBackup;
    assert.equal(backup.serial, bSerial);
    assert.ok(r2.message.includes(`state push -force ${backup.path}`), r2.message);
    assert.deepEqual(inputs(JSON.parse(readFileSync(backup.path, 'utf8')) as StateFile), { x: 'b', extra: 'e' });
    assert.ok(readState(stateFile2).serial > bSerial, 'the state did change half-way');
    assert.equal((await h2.query(statusQuery)).phase, 'compensation-failed');
  });

  it('a worker SIGKILLed after apply, before verification, is replaced: the apply happened once', async () => {
    const stateFile = await stateAtB();
    const bSerial = readState(stateFile).serial;
    const holdDir = join(w.root, 'hold');
    const tofu = holdingTofu(w, holdDir);
    const q = uniqueQueue('tofu-crash');
    const extra = { ...w.env, TOFU_BIN: tofu, CORTEX_TERRAFORM_DIR: join(w.root, 'work-crash') };
    const first = spawnWorker({ address: env.address, taskQueue: q, extra }, ['--identity', 'tofu-first']);
    children.push(first);
    await first.ready;
    const crc = testClient(env, q);
    seq += 1;
    const workflowId = `${terraformRollbackWorkflowId({ repo: w.repo, directory: 'infra' })}-crash-${seq}`;
    await startWorkflow(crc, 'terraformRollback', input(stateFile), workflowId);
    const handle = env.client.workflow.getHandle(workflowId);
    const plan = await pendingPlan(handle);
    await sendDecision(crc, workflowId, { approve: { ...DIRECTOR, planId: plan.id } });
    // tofu apply has finished (state advanced) and attempt 1 of tfApply is still open in Temporal's history
    await waitFor(async () => existsSync(join(holdDir, 'applied')), 60_000, 'apply done');
    const [heldPid, rc0] = readFileSync(join(holdDir, 'applied'), 'utf8').trim().split(' ').map(Number);
    assert.equal(rc0, 0, 'the real apply succeeded');
    assert.equal(readState(stateFile).serial, bSerial + 1);
    await untilPending(handle, 'tfApply', (a) => a.attempt === 1, 10_000);
    assert.equal((await activityRuns(handle, 'tfVerify')).length, 0, 'verification not started');
    await first.kill();
    process.kill(heldPid!, 'SIGKILL');
    rmSync(join(holdDir, 'hold'));

    const second = spawnWorker({ address: env.address, taskQueue: q, extra }, ['--identity', 'tofu-second']);
    children.push(second);
    await second.ready;
    const r = await waitResult<TerraformRollbackResult>(crc, workflowId);
    await second.kill();
    assert.ok(r.ok, `${JSON.stringify(r)}\n${first.output()}\n${second.output()}`);
    assert.equal(r.result.outcome, 'succeeded');
    assert.equal(r.result.apply?.alreadyApplied, true, 'the retry found the plan applied');
    const s = readState(stateFile);
    assert.equal(s.serial, bSerial + 1, 'the state advanced exactly once');
    assert.deepEqual(inputs(s), { x: 'a' });
    const runs = await activityRuns(handle, 'tfApply');
    assert.equal(runs.length, 1);
    assert.ok(runs[0]!.completed && runs[0]!.attempt >= 2, JSON.stringify(runs));
    assert.equal(runs[0]!.identity, 'tofu-second');
    const wft = await workflowTaskIdentities(handle);
    assert.equal(wft[0], 'tofu-first');
    assert.equal(wft.at(-1), 'tofu-second');
  });
});
