// Acceptance tests of the runbook's Infrastructure Rollback section: Terraform (real OpenTofu, local state), network
// (real iptables in a network namespace of the test's own, never the machine's rules) and Docker network (Compose v2
// on the real engine), each started exactly as the README tells an operator — `cortex-rollback start <scenario> …`
// (the project CLI, run as `node --import tsx client/cli.ts`) and the plain `temporal workflow start --input
// '<json>'` — under the committed approval policy (config/approval-policy.json): devops-lead requests and may not
// approve (four eyes), an engineering manager may not approve infrastructure, the roster's director of engineering
// approves through `cortex-rollback approve` (the decide update; for Terraform with the plan id the status shows) or
// `temporal workflow signal --name approve`. Afterwards the real system is checked: the Terraform state file, the
// live iptables rules against the known-good file and the backup, the compose project's subnets, names and health.
// The only departures from the README's commands: the task queue is the test's own, a local state file, and the
// network namespace (`--netns`) so the machine's own rules are never touched.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { canonicalRules } from '../../activities/iptables.ts';
import { createWorker } from '../../workers/worker.ts';
import {
  dockerNetworkRollbackWorkflowId,
  type DockerNetworkRollbackResult,
} from '../../workflows/infrastructure/docker-network.ts';
import { networkRollbackWorkflowId, type NetworkRollbackResult } from '../../workflows/infrastructure/network.ts';
import { terraformRollbackWorkflowId, type TerraformRollbackResult } from '../../workflows/infrastructure/terraform.ts';
import type { RollbackStatus } from '../../workflows/phases/progress.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import { createProject, ensureProbeImage, type Project } from '../helpers/compose.ts';
import { waitFor } from '../helpers/docker.ts';
import { BASELINE_RULES, createNetns, HEALTH_URL, TARGET_RULES, type Netns } from '../helpers/netns.ts';
import { assertExit0 as ok, decisions, operator, type Operator } from '../helpers/operator.ts';
import { APPROVER, localEnv, REQUESTER, RUNBOOK_APPROVAL_POLICY, uniqueQueue } from '../helpers/temporal.ts';
import { applyCommit, inputs, readState, tfWorld, type TfWorld } from '../helpers/terraform.ts';

const DIRECTOR = APPROVER.infrastructure;
const EM = APPROVER.database;

describe('acceptance: Infrastructure Rollback, as the README starts and approves it, under the committed policy', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let op: Operator;
  let w: TfWorld;
  let ns: Netns;
  let backups: string;
  const projects: Project[] = [];
  const taskQueue = uniqueQueue('acceptance-infra');

  before(async () => {
    await ensureProbeImage();
    w = await tfWorld('acc-infra');
    ns = await createNetns();
    backups = mkdtempSync(join(tmpdir(), 'acc-infra-backups-'));
    env = await localEnv();
    ({ worker } = await createWorker({
      settings: { address: env.address, namespace: 'default', taskQueue },
      connection: env.nativeConnection,
      deps: { terraform: { workRoot: join(w.root, 'work'), env: w.env }, networkBackupRoot: backups },
    }));
    running = worker.run();
    op = operator(env, taskQueue);
  });
  after(async () => {
    for (const p of projects) await p.close();
    worker?.shutdown();
    await running;
    await env?.teardown();
    await ns?.close();
    rmSync(backups, { recursive: true, force: true });
    w?.close();
  });

  /** What the committed policy asks of an infrastructure rollback, as the status shows it while it waits. */
  function assertInfrastructureGate(s: RollbackStatus): void {
    assert.equal(s.approvalPolicy?.path, RUNBOOK_APPROVAL_POLICY, 'the committed policy decides');
    assert.deepEqual(s.pendingApproval?.approverRoles, ['director-of-engineering', 'vp-engineering']);
    assert.equal(s.pendingApproval?.contact, '@director-eng');
    assert.equal(s.pendingApproval?.requiredRole, 'director-of-engineering');
  }

  /**
   * The README's approval through our CLI: the requester's own approval and an engineering manager's are refused
   * (exit 2, the reason printed, nothing recorded), the director's counts.
   */
  async function approveFromCli(workflowId: string, extra: string[] = []): Promise<void> {
    // the refusals change nothing, so they run side by side (a CLI start-up takes seconds on a loaded machine)
    const [self, em] = await Promise.all([
      op.cli('approve', workflowId, '--approver', REQUESTER, '--role', 'engineer', ...extra),
      op.cli('approve', workflowId, '--approver', EM.approver, '--role', EM.role, ...extra),
    ]);
    assert.equal(self.exitCode, 2, String(self.stdout));
    assert.match(String(self.stderr), /requested this rollback and may not decide it \(four eyes\)/);
    assert.equal(em.exitCode, 2, String(em.stdout));
    assert.match(String(em.stderr), /role 'engineering-manager' may not decide an infrastructure rollback/);
    ok(
      await op.cli('approve', workflowId, '--approver', DIRECTOR.approver, '--role', DIRECTOR.role, ...extra),
      'approve',
    );
  }

  /** The README's approval through the temporal CLI: the requester's signal is recorded as refused. */
  async function approveFromTemporal(workflowId: string, extra: object = {}): Promise<void> {
    await op.temporalSignal(workflowId, 'approve', { approver: REQUESTER, role: 'engineer', ...extra });
    await op.temporalSignal(workflowId, 'approve', { ...DIRECTOR, ...extra });
  }

  // ------------------------------------------------------------------ Terraform

  let seq = 0;
  /** A fresh state file applied at commit B (the current deployment). */
  async function stateAtB(): Promise<string> {
    seq += 1;
    const path = join(w.root, `state-${seq}.tfstate`);
    await applyCommit(w, w.commits.B, path);
    assert.deepEqual(inputs(readState(path)), { x: 'b', extra: 'e' });
    return path;
  }
  function assertStateAtA(stateFile: string, serialBefore: number, r: TerraformRollbackResult): void {
    const s = readState(stateFile);
    assert.deepEqual(inputs(s), { x: 'a' }, "the state holds the stable commit's resources only");
    assert.equal(s.outputs.x?.value, 'a');
    assert.equal(s.serial, serialBefore + 1, 'applied once');
    assert.equal(r.verification?.converged, true, 'no changes remain');
    assert.deepEqual(
      inputs(JSON.parse(readFileSync(r.stateBackup!.path, 'utf8')) as Parameters<typeof inputs>[0]),
      { x: 'b', extra: 'e' },
      "the state backup is the previous deployment's",
    );
  }

  it('terraform from `cortex-rollback start terraform … --wait`, `status` shows the plan, `approve --plan-id`: the state holds the stable commit', async () => {
    const stateFile = await stateAtB();
    const serial = readState(stateFile).serial;
    const workflowId = terraformRollbackWorkflowId({ repo: w.repo, directory: 'infra' });
    const started = op.cli(
      'start',
      'terraform',
      '--repo',
      w.repo,
      '--directory',
      'infra',
      '--commit',
      w.commits.A,
      '--state-file',
      stateFile,
      '--reason',
      'B broke the service',
      '--requested-by',
      REQUESTER,
      '--wait',
      '--json',
    );
    assertInfrastructureGate(await op.awaitingApproval(workflowId));
    const shown = await op.cli('status', workflowId, '--json');
    ok(shown, 'status');
    const plan = (JSON.parse(String(shown.stdout)) as RollbackStatus).pendingApproval?.plan;
    assert.ok(plan, String(shown.stdout));
    assert.deepEqual(
      [...plan.changes].sort((a, b) => a.address.localeCompare(b.address)),
      [
        { address: 'terraform_data.extra', action: 'delete' },
        { address: 'terraform_data.x', action: 'update' },
      ],
    );
    assert.equal(readState(stateFile).serial, serial, 'nothing applied before the approval');
    await approveFromCli(workflowId, ['--plan-id', plan.id]);
    const r = await started;
    ok(r, 'start --wait');
    const res = (JSON.parse(String(r.stdout)) as { result: TerraformRollbackResult }).result;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(decisions(res), [['approved', DIRECTOR.approver, 'update']]);
    assert.equal(res.approvals[0]?.planId, plan.id);
    assertStateAtA(stateFile, serial, res);
  });

  it('terraform from `temporal workflow start --input`, the plan read with `temporal workflow query`, approved by `temporal workflow signal` with its planId', async () => {
    const stateFile = await stateAtB();
    const serial = readState(stateFile).serial;
    const workflowId = terraformRollbackWorkflowId({ repo: w.repo, directory: 'infra' });
    await op.temporalStart('terraformRollback', workflowId, {
      repo: w.repo,
      directory: 'infra',
      commit: w.commits.A,
      stateFile,
      reason: 'B broke the service',
      requestedBy: REQUESTER,
    });
    assertInfrastructureGate(await op.awaitingApproval(workflowId));
    const plan = (await op.temporalStatus(workflowId)).pendingApproval!.plan!;
    await approveFromTemporal(workflowId, { planId: plan.id });
    const res = (await env.client.workflow.getHandle(workflowId).result()) as TerraformRollbackResult;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(decisions(res), [
      ['refused', REQUESTER, 'signal'],
      ['approved', DIRECTOR.approver, 'signal'],
    ]);
    assert.match(res.approvals[0]!.refusal ?? '', /four eyes/);
    assertStateAtA(stateFile, serial, res);
  });

  // ------------------------------------------------------------------ network (iptables)

  const baseline = canonicalRules(BASELINE_RULES).text;
  const target = canonicalRules(TARGET_RULES).text;
  async function untilPhase(workflowId: string, phase: string): Promise<void> {
    const h = env.client.workflow.getHandle(workflowId);
    await waitFor(async () => (await h.query(statusQuery)).phase === phase, 60_000, phase);
  }
  async function assertRulesRolledBack(r: NetworkRollbackResult): Promise<void> {
    assert.equal(await ns.canonical(), target, 'the known-good rules are live');
    assert.ok(await ns.healthy(), 'the service answers');
    assert.ok(r.backup && existsSync(r.backup.path));
    assert.equal(
      canonicalRules(readFileSync(r.backup.path, 'utf8')).text,
      baseline,
      'the backup holds the rules before',
    );
  }

  it('network from `cortex-rollback start network … --wait`, approved by `cortex-rollback approve`, kept by `cortex-rollback confirm`: the known-good rules are live', async () => {
    await ns.setRules(BASELINE_RULES);
    const rulesFile = ns.file('known-good-cli.rules', TARGET_RULES);
    const workflowId = networkRollbackWorkflowId({ netns: ns.name });
    const started = op.cli(
      'start',
      'network',
      '--rules-file',
      rulesFile,
      '--netns',
      ns.name,
      '--health-url',
      HEALTH_URL,
      '--confirm-seconds',
      '300',
      '--reason',
      'firewall change broke /health',
      '--requested-by',
      REQUESTER,
      '--wait',
      '--json',
    );
    assertInfrastructureGate(await op.awaitingApproval(workflowId));
    assert.equal(await ns.canonical(), baseline, 'nothing applied before the approval');
    await approveFromCli(workflowId);
    await untilPhase(workflowId, 'awaiting-confirmation');
    assert.equal(await ns.canonical(), target, 'the new rules are live while the dead-man switch waits');
    ok(await op.cli('confirm', workflowId, '--by', REQUESTER, '--comment', 'ssh and /health fine'), 'confirm');
    const r = await started;
    ok(r, 'start --wait');
    const res = (JSON.parse(String(r.stdout)) as { result: NetworkRollbackResult }).result;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(decisions(res), [['approved', DIRECTOR.approver, 'update']]);
    assert.equal(res.confirmation?.by, REQUESTER);
    await assertRulesRolledBack(res);
  });

  it('network from `temporal workflow start --input`, approved and confirmed by `temporal workflow signal`: the known-good rules are live', async () => {
    await ns.setRules(BASELINE_RULES);
    const rulesFile = ns.file('known-good-temporal.rules', TARGET_RULES);
    const workflowId = networkRollbackWorkflowId({ netns: ns.name });
    await op.temporalStart('networkRollback', workflowId, {
      rulesFile,
      netns: ns.name,
      healthUrls: [HEALTH_URL],
      confirmSeconds: 300,
      reason: 'firewall change',
      requestedBy: REQUESTER,
    });
    assertInfrastructureGate(await op.awaitingApproval(workflowId));
    await approveFromTemporal(workflowId);
    await untilPhase(workflowId, 'awaiting-confirmation');
    await op.temporalSignal(workflowId, 'confirm', { by: REQUESTER });
    const res = (await env.client.workflow.getHandle(workflowId).result()) as NetworkRollbackResult;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(decisions(res), [
      ['refused', REQUESTER, 'signal'],
      ['approved', DIRECTOR.approver, 'signal'],
    ]);
    await assertRulesRolledBack(res);
  });

  // ------------------------------------------------------------------ Docker network (Compose)

  async function project(tag: string): Promise<Project> {
    const p = await createProject(tag);
    projects.push(p);
    return p;
  }
  async function assertProjectRolledBack(p: Project, r: DockerNetworkRollbackResult, original: string) {
    assert.deepEqual(await p.subnets(), [p.goodSubnet], 'the network has the known-good subnet');
    assert.equal(readFileSync(p.current, 'utf8'), readFileSync(p.good, 'utf8'), 'the known-good file is installed');
    assert.equal(readFileSync(r.backup!.filePath, 'utf8'), original, 'the previous file is saved');
    assert.ok(await p.resolves('api', 'db'));
    assert.ok(await p.resolves('db', 'api'));
    assert.equal((await fetch(p.healthUrl)).status, 200);
    rmSync(r.backup!.filePath, { force: true });
    if (r.backup!.configPath) rmSync(r.backup!.configPath, { force: true });
  }

  it('docker-network from `cortex-rollback start docker-network … --wait`, approved by `cortex-rollback approve`: the known-good subnet, names resolve, health answers', async () => {
    const p = await project('acc-cli');
    const original = readFileSync(p.current, 'utf8');
    const workflowId = dockerNetworkRollbackWorkflowId({ project: p.name });
    const started = op.cli(
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
      '--reason',
      'subnet change',
      '--requested-by',
      REQUESTER,
      '--wait',
      '--json',
    );
    assertInfrastructureGate(await op.awaitingApproval(workflowId));
    assert.deepEqual(await p.subnets(), [p.currentSubnet], 'nothing changed before the approval');
    await approveFromCli(workflowId);
    const r = await started;
    ok(r, 'start --wait');
    const res = (JSON.parse(String(r.stdout)) as { result: DockerNetworkRollbackResult }).result;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(decisions(res), [['approved', DIRECTOR.approver, 'update']]);
    await assertProjectRolledBack(p, res, original);
  });

  it('docker-network from `temporal workflow start --input`, approved by `temporal workflow signal`: the known-good subnet, names resolve, health answers', async () => {
    const p = await project('acc-tmp');
    const original = readFileSync(p.current, 'utf8');
    const workflowId = dockerNetworkRollbackWorkflowId({ project: p.name });
    await op.temporalStart('dockerNetworkRollback', workflowId, {
      project: p.name,
      composeFile: p.current,
      knownGoodFile: p.good,
      healthUrls: [p.healthUrl],
      reason: 'subnet change',
      requestedBy: REQUESTER,
    });
    assertInfrastructureGate(await op.awaitingApproval(workflowId));
    await approveFromTemporal(workflowId);
    const res = (await env.client.workflow.getHandle(workflowId).result()) as DockerNetworkRollbackResult;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(decisions(res), [
      ['refused', REQUESTER, 'signal'],
      ['approved', DIRECTOR.approver, 'signal'],
    ]);
    await assertProjectRolledBack(p, res, original);
  });
});
