// Owns the runbook's "Infrastructure Rollback → Terraform Infrastructure Rollback" as a durable workflow: the
// director of engineering approves a plan, not a promise.
// Invariants:
//  - nothing changes before the input is valid, both commits resolve, the target checks out and inits, its plan is
//    saved and summarised (status + approval request), and the director approved that plan (plan-bound gate: an
//    approval naming another plan does not count);
//  - the plan applied is exactly the approved plan file; if the state moved while waiting, the plan is re-made
//    and approved again (at most `maxPlanRounds` plans), never applied stale;
//  - the state is backed up (`state pull`, serial recorded) before apply; the backup is never deleted;
//  - after apply, `plan -detailed-exitcode` must report no changes; otherwise, or if apply fails, the previous
//    commit's configuration is planned and applied the same way and the failure says what was restored (or, if
//    that fails too, the manual steps with the state backup's path);
//  - activities run on `cortex-rollback-host-<host>` when `host` is given (plan files stay on that host's disk).
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  Activities,
  ApplyResult,
  CommitInfo,
  PlanResult,
  StateBackup,
  StateRef,
  Verification,
} from '../../activities/index.ts';
import { hostTaskQueue } from '../../common/config.ts';
import { FailureType } from '../../common/failures.ts';
import { runSuffix } from '../../common/names.ts';
import { ApprovalGate, awaitApproval, type ApprovalRecord } from '../phases/approval.ts';
import { fail, failedBeforeAnyChange, innerFailure } from '../phases/failures.ts';
import { iacOp } from '../phases/profiles.ts';
import { errorMessage, Progress, type StepRecord } from '../phases/progress.ts';
import { withLifecycleNotifications, type RollbackNotifications } from '../phases/notify.ts';
import { runUndos, type Undo } from '../phases/saga.ts';
import { defineScenario, runOf, who } from '../phases/scenario.ts';
import { checked, int, parseInput, scenarioInput, text, z } from '../phases/schema.ts';
import { InputError, show, validateHost } from '../phases/validation.ts';

const REMOTE_URL = /^(https?|ssh|git|file):\/\/[^\s]+$|^[\w.-]+@[\w.-]+:[^\s]+$/;
const REV = /^[A-Za-z0-9][A-Za-z0-9._/@{}^~-]{0,199}$/;
// eslint-disable-next-line no-control-regex -- refusing control characters in a path is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const PATH_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

function validateRepo(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.trim() === '')
    throw new InputError(field, `is required (a path or git URL), got ${show(v)}`);
  if (v.length > 1000) throw new InputError(field, 'is longer than 1000 characters');
  if (REMOTE_URL.test(v)) {
    if (/^https?:\/\/[^/]*@/.test(v))
      throw new InputError(field, 'must not carry credentials (they would be stored in history)');
    return v;
  }
  if (!v.startsWith('/') || v.split('/').some((s) => s === '..') || CONTROL.test(v)) {
    throw new InputError(field, `${show(v)} is neither an absolute path nor a git URL`);
  }
  return v;
}

function validateDirectory(v: unknown, field: string): string {
  if (v === undefined || v === null || v === '' || v === '.') return '.';
  if (typeof v !== 'string' || v.startsWith('/') || !v.split('/').every((s) => PATH_SEGMENT.test(s))) {
    throw new InputError(field, `${show(v)} is not a relative directory inside the repository (no '..')`);
  }
  return v.replace(/\/+$/, '');
}

function validateRev(v: unknown, field: string): string {
  if (typeof v !== 'string' || !REV.test(v) || v.includes('..')) {
    throw new InputError(field, `${show(v)} is not a commit, tag or branch name`);
  }
  return v;
}

function validateStateFile(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !v.startsWith('/') || v.split('/').some((s) => s === '..') || v.length > 1000) {
    throw new InputError(field, `${show(v)} is not an absolute path`);
  }
  return v;
}

export const TERRAFORM_ROLLBACK_DEFAULTS = { approvalTimeoutSeconds: 3600, maxPlanRounds: 3 };

export const terraformRollbackInput = scenarioInput({
  repo: checked(validateRepo)
    .describe("the Terraform configuration's git repository: an absolute path on the worker, or a git URL")
    .meta({ example: '/srv/infra' }),
  directory: checked(validateDirectory)
    .describe("the Terraform directory inside the repository (default: its root, '.')")
    .meta({ example: 'terraform' }),
  commit: checked(validateRev)
    .describe('the target commit, the "stable deployment": a sha, tag or branch')
    .meta({ example: 'a1b2c3d' }),
  previousCommit: checked((v, f) =>
    v === undefined || v === null || v === '' ? undefined : validateRev(v, f),
  ).describe('the commit deployed now, applied again if the rollback fails (default: the repository HEAD)'),
  stateFile: checked(validateStateFile).describe(
    "a local state file on the worker (default: the configuration's own backend, credentials from the worker's environment)",
  ),
  tool: z.enum(['tofu', 'terraform']).default('tofu').describe('the program: OpenTofu (default) or terraform'),
  reason: text(2000).describe('why the rollback is needed (kept in history and the report)'),
  requestedBy: text(200).describe('who asks for the rollback'),
  host: checked(validateHost).describe("run every step on this host's worker (task queue cortex-rollback-host-<host>)"),
  maxPlanRounds: int(1, 10)
    .default(TERRAFORM_ROLLBACK_DEFAULTS.maxPlanRounds)
    .describe('how many times a plan made stale (state changed while waiting) is re-made and re-approved'),
  approval: scenarioInput({
    timeoutSeconds: int(1, 7 * 86400)
      .default(TERRAFORM_ROLLBACK_DEFAULTS.approvalTimeoutSeconds)
      .describe("how long each plan waits for the director of engineering's approval (seconds)"),
  })
    .prefault({})
    .describe('approval settings'),
  searchAttributes: z
    .boolean()
    .default(false)
    .describe('upsert RollbackType/RollbackTarget/RollbackPhase (the namespace must have them registered)'),
});

/** The JSON input (the schema's fields checked by validation.ts-style functions are typed here by hand). */
export type TerraformRollbackInput = Omit<
  z.input<typeof terraformRollbackInput>,
  'repo' | 'directory' | 'commit' | 'previousCommit' | 'stateFile' | 'host'
> & {
  repo: string;
  directory?: string;
  commit: string;
  previousCommit?: string;
  stateFile?: string;
  host?: string;
};
export type ValidTerraformRollbackInput = z.output<typeof terraformRollbackInput>;

/** Business key: one rollback of a Terraform directory at a time. */
export function terraformRollbackWorkflowId(i: { repo: string; directory: string; host?: string | undefined }): string {
  const base =
    i.repo
      .replace(/\.git$/, '')
      .split(/[/:]/)
      .filter(Boolean)
      .at(-1) ?? 'repo';
  const slug = `${base}${i.directory === '.' ? '' : `-${i.directory}`}`.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 120);
  return `rollback-terraform-${i.host ? `${i.host}-` : ''}${slug}`;
}

export const terraformScenario = defineScenario({
  name: 'terraform',
  workflowType: 'terraformRollback',
  category: 'infrastructure',
  runbook: 'Infrastructure Rollback → Terraform Infrastructure Rollback',
  summary: 'plan the stable commit, approve the plan, apply exactly it, verify no changes remain',
  input: terraformRollbackInput,
  summarize: (i) => `roll back terraform ${i.repo} → ${i.commit}`,
  workflowId: terraformRollbackWorkflowId,
  runAttributes: (i) => ({ service: `${i.repo}:${i.directory}`, targetVersion: i.commit, ...who(i) }),
});

export type TerraformRollbackOutcome = 'succeeded' | 'rejected' | 'approval-timed-out' | 'already-on-target';

export interface TerraformRollbackResult {
  outcome: TerraformRollbackOutcome;
  workflowId: string;
  runId: string;
  repo: string;
  directory: string;
  tool: 'tofu' | 'terraform';
  host?: string;
  reason: string;
  requestedBy: string;
  /** The commit deployed before (restored if the rollback fails) and the target. */
  from: CommitInfo;
  to: CommitInfo;
  plan: PlanResult['summary'];
  planRounds: number;
  stateBackup?: StateBackup;
  apply?: ApplyResult;
  verification?: Verification;
  approvals: ApprovalRecord[];
  timeline: StepRecord[];
  startedAt: string;
  endedAt: string;
}

const short = (sha: string) => sha.slice(0, 12);
const sameState = (a: StateRef, b: StateRef) =>
  a.serial === b.serial && a.lineage === b.lineage && a.exists === b.exists;

function describePlan(p: PlanResult): string {
  const c = p.summary.counts;
  const counts = (['create', 'update', 'replace', 'delete'] as const)
    .filter((k) => c[k] > 0)
    .map((k) => `${c[k]} to ${k}`)
    .join(', ');
  return (
    `plan ${p.summary.id} of ${short(p.summary.commit)}: ${counts || 'no resource changes'}` +
    `${p.summary.outputChanges.length ? `, ${p.summary.outputChanges.length} output(s) change` : ''}` +
    ` (state serial ${p.summary.state.serial})`
  );
}

export function terraformRollback(raw: TerraformRollbackInput): Promise<TerraformRollbackResult> {
  return withLifecycleNotifications((notifications) => runTerraformRollback(raw, notifications));
}

async function runTerraformRollback(
  raw: TerraformRollbackInput,
  notifications: RollbackNotifications,
): Promise<TerraformRollbackResult> {
  const info = workflowInfo();
  const label =
    typeof raw?.repo === 'string' ? `${raw.repo}:${typeof raw.directory === 'string' ? raw.directory : '.'}` : '?';
  const progress = new Progress('infrastructure', `terraform:${label}`);
  const approvals = progress.status.approvals;
  const gate = new ApprovalGate('infrastructure', approvals, { planBound: true });

  let input: ValidTerraformRollbackInput;
  try {
    input = parseInput(terraformRollbackInput, raw);
  } catch (err) {
    progress.note('validate-input', 'failed', errorMessage(err));
    progress.setPhase('failed');
    progress.status.error = errorMessage(err);
    throw fail(
      FailureType.InvalidInput,
      errorMessage(err),
      err instanceof InputError ? { field: err.field } : undefined,
    );
  }
  progress.searchAttributesEnabled = input.searchAttributes;
  progress.publishSearchAttributes(runOf(terraformScenario, input));
  progress.note('validate-input', 'completed');
  await notifications.started(progress, terraformScenario, input);

  const op = proxyActivities<Activities>({ ...iacOp, ...(input.host ? { taskQueue: hostTaskQueue(input.host) } : {}) });
  const startedAt = new Date().toISOString();
  const tool = input.tool;
  const runKey = `${info.workflowId}-${runSuffix(info.runId)}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(-180);
  const where = {
    repo: input.repo,
    directory: input.directory,
    tool,
    runKey,
    ...(input.stateFile ? { stateFile: input.stateFile } : {}),
  };

  // 1–3. Identify the target, check it out aside, init (read-only: the state is not written).
  progress.setPhase('planning');
  const { target, previous, workdir } = await beforeAnyChange(progress, async () => {
    const c = await progress.step(
      'resolve-commits',
      () =>
        op.tfResolveCommits({
          repo: input.repo,
          directory: input.directory,
          commit: input.commit,
          ...(input.previousCommit ? { previousCommit: input.previousCommit } : {}),
        }),
      (r) =>
        `target ${short(r.target.sha)} "${r.target.subject}", deployed ${short(r.previous.sha)} "${r.previous.subject}"`,
    );
    if (c.target.sha === c.previous.sha) {
      throw fail(
        FailureType.InvalidInput,
        `invalid input: previousCommit: resolves to the target ${short(c.target.sha)}; ` +
          'give the commit deployed now, which is restored if the rollback fails',
      );
    }
    const p = await progress.step(
      'checkout-and-init',
      () => op.tfPrepare({ ...where, commit: c.target.sha, purpose: 'target' }),
      (r) => r.workdir,
    );
    return { target: c.target, previous: c.previous, workdir: p.workdir };
  });

  const base = {
    workflowId: info.workflowId,
    runId: info.runId,
    repo: input.repo,
    directory: input.directory,
    tool,
    ...(input.host ? { host: input.host } : {}),
    reason: input.reason,
    requestedBy: input.requestedBy,
    from: previous,
    to: target,
    approvals,
    timeline: progress.status.steps,
    startedAt,
  };
  const finish = (r: Omit<TerraformRollbackResult, keyof typeof base | 'endedAt'>): TerraformRollbackResult => ({
    ...base,
    ...r,
    endedAt: new Date().toISOString(),
  });
  const cleanup = () => progress.step('remove-checkouts', () => op.tfCleanup({ runKey }));

  // 4–7. Plan, approve that plan, check it is still current, back up the state, apply it; re-plan when stale.
  const undos: Undo[] = [];
  let plan: PlanResult;
  let backup: StateBackup | undefined;
  let apply: ApplyResult | undefined;
  let verification: Verification | undefined;
  let round = 0;
  let restored: Verification | undefined; // what the compensation reached
  try {
    for (;;) {
      round += 1;
      progress.setPhase('planning');
      const name = `round-${round}`;
      plan = await beforeAnyChange(progress, () =>
        progress.step(
          `plan (round ${round})`,
          () => op.tfPlan({ workdir, tool, name, commit: target.sha }),
          describePlan,
        ),
      );
      progress.status.plan = plan.summary;
      if (!plan.hasChanges) {
        progress.note('rollback', 'skipped', `the state already matches ${short(target.sha)}; nothing to apply`);
        await cleanup();
        progress.setPhase('completed');
        return finish({ outcome: 'already-on-target', plan: plan.summary, planRounds: round });
      }

      progress.detailsExtra = approvalDetails(plan.summary, target, round, gate.requiredRole);
      progress.refreshDetails();
      const decision = await awaitApproval(progress, gate, {
        timeoutSeconds: input.approval.timeoutSeconds,
        requestedBy: input.requestedBy,
        plan: plan.summary,
      });
      progress.detailsExtra =
        decision.decision === 'timed-out'
          ? `Plan \`${plan.summary.id}\`: no decision in time.`
          : `Plan \`${plan.summary.id}\` ${decision.decision} by ${decision.by.approver}.`;
      progress.refreshDetails();
      if (decision.decision !== 'approved') {
        await cleanup();
        const outcome = decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out';
        progress.setPhase(outcome);
        return finish({ outcome, plan: plan.summary, planRounds: round });
      }

      progress.setPhase('applying');
      const now = await beforeAnyChange(progress, () =>
        progress.step(
          'check-plan-is-current',
          () => op.tfStateRef({ workdir, tool }),
          (s) => `state serial ${s.serial}${s.serial === plan.summary.state.serial ? ' (unchanged)' : ' (CHANGED)'}`,
        ),
      );
      if (!sameState(now, plan.summary.state)) {
        replan(
          `the state changed while the plan waited for approval (serial ${plan.summary.state.serial} → ${now.serial})`,
        );
        continue;
      }
      backup = await beforeAnyChange(progress, () =>
        progress.step(
          'backup-state',
          () => op.tfBackupState({ workdir, tool, name: `${runKey}-${name}` }),
          (b) => `${b.path} (serial ${b.serial}, ${b.bytes} bytes)`,
        ),
      );
      const stateBackup = backup;
      undos.push({
        name: `apply the previous configuration (${short(previous.sha)} "${previous.subject}")`,
        run: () => restorePrevious(),
        manual:
          `the state before the rollback is saved at ${stateBackup.path} (serial ${stateBackup.serial}, lineage ` +
          `${stateBackup.lineage})${input.host ? ` on host ${input.host}` : ''}. Check out ${previous.sha} of ` +
          `${input.repo}, in '${input.directory}' run: ${tool} init && ${tool} plan && ${tool} apply; if the state ` +
          `itself is damaged, first: ${tool} state push -force ${stateBackup.path}`,
      });
      try {
        apply = await progress.step(
          'apply-plan',
          () => op.tfApply({ workdir, tool, planFile: plan.planFile, expect: plan.summary.state }),
          (a) =>
            a.alreadyApplied
              ? `already applied (state serial ${a.after.serial}): found converged on retry`
              : `applied: state serial ${a.before.serial} → ${a.after.serial}`,
        );
      } catch (err) {
        if (isStale(err)) {
          undos.pop();
          replan(innerFailure(err)?.message ?? 'the plan is stale');
          continue;
        }
        throw err;
      }
      break;
    }

    // 8. Verify: nothing left to change.
    progress.setPhase('verifying');
    verification = await progress.step(
      'verify-no-changes',
      () => op.tfVerify({ workdir, tool }),
      (v) => (v.converged ? `no changes (state serial ${v.state.serial})` : `${v.changes.length} change(s) remain`),
    );
    if (!verification.converged) {
      throw fail(
        FailureType.VerificationFailed,
        `after applying ${short(target.sha)}, plan -detailed-exitcode still reports changes: ` +
          verification.changes.map((c) => `${c.address} (${c.action})`).join(', '),
      );
    }
    progress.restored('verify-no-changes');
  } catch (err) {
    if (undos.length === 0) {
      // nothing was applied (the failure already says so); plan files may hold secrets: remove them
      if (!isCancellation(err)) await cleanup().catch(() => undefined);
      throw err;
    }
    await CancellationScope.nonCancellable(() => compensate(err));
    throw err; // unreachable: compensate always throws
  }

  progress.setPhase('cleaning-up');
  await cleanup();
  progress.setPhase('completed');
  return finish({
    outcome: 'succeeded',
    plan: plan.summary,
    planRounds: round,
    ...(backup ? { stateBackup: backup } : {}),
    apply,
    verification,
  });

  function replan(why: string): void {
    if (round >= input.maxPlanRounds) {
      const message = `${why}; ${round} plan(s) went stale, the limit is ${input.maxPlanRounds}: nothing was applied`;
      progress.setPhase('failed');
      progress.status.error = message;
      throw fail(FailureType.Conflict, message);
    }
    progress.note('stale-plan', 'skipped', `${why}: planning again and asking for approval again`);
    gate.reopen();
  }

  async function restorePrevious(): Promise<void> {
    const prev = await progress.step('checkout-and-init previous', () =>
      op.tfPrepare({ ...where, commit: previous.sha, purpose: 'previous' }),
    );
    const p = await progress.step(
      'plan previous',
      () => op.tfPlan({ workdir: prev.workdir, tool, name: 'restore', commit: previous.sha }),
      describePlan,
    );
    if (p.hasChanges) {
      await progress.step('apply previous', () =>
        op.tfApply({ workdir: prev.workdir, tool, planFile: p.planFile, expect: p.summary.state }),
      );
    }
    restored = await progress.step('verify previous', () => op.tfVerify({ workdir: prev.workdir, tool }));
    if (!restored.converged) {
      throw fail(FailureType.VerificationFailed, `the previous configuration ${short(previous.sha)} does not converge`);
    }
  }

  async function compensate(err: unknown): Promise<never> {
    const cancelled = isCancellation(err);
    const what = cancelled ? 'the rollback was cancelled' : errorMessage((err as { cause?: unknown }).cause ?? err);
    progress.setPhase('compensating');
    const { restored: done, failed, manual } = await runUndos(progress, undos);
    const summary =
      failed.length > 0
        ? `${what}. RESTORE FAILED — manual action needed: ${failed.join('; ')}. ` +
          `Do by hand: ${manual.map((m, i) => `(${i + 1}) ${m}`).join(' ')}`
        : `${what}. Restored: the configuration of ${short(previous.sha)} ("${previous.subject}") is applied again ` +
          `(state serial ${restored?.state.serial ?? '?'}, outputs ${JSON.stringify(restored?.outputs ?? {})}); ` +
          `the state before the rollback is kept at ${backup?.path ?? '?'}`;
    progress.setPhase(failed.length > 0 ? 'compensation-failed' : 'rolled-back-to-previous');
    progress.status.error = summary;
    if (cancelled) throw err;
    throw ApplicationFailure.create({
      type:
        failed.length > 0
          ? FailureType.CompensationFailed
          : (innerFailure(err)?.type ?? FailureType.VerificationFailed),
      nonRetryable: true,
      message: summary,
      details: [{ restored: done, failedUndos: failed, stateBackup: backup, restoredState: restored }],
    });
  }
}

/** The Web UI's "current details" (Markdown) while a plan waits: what changes, and the signal that approves it. */
function approvalDetails(plan: PlanResult['summary'], target: CommitInfo, round: number, role: string): string {
  const rows = plan.changes.map((c) => `| \`${c.address}\` | ${c.action} |`);
  const outputs = plan.outputChanges.map((o) => `| output \`${o.name}\` | ${o.action} |`);
  const signal = (extra: string) => `\`{"approver": "<you>", "role": "${role}"${extra}}\``;
  return [
    `**Awaiting approval by ${role}** of plan \`${plan.id}\`${round > 1 ? ` (round ${round}: the earlier plan went stale)` : ''}:`,
    `apply commit \`${short(target.sha)}\` "${target.subject}" to the state at serial ${plan.state.serial}.`,
    '',
    '| address | action |',
    '|---|---|',
    ...rows,
    ...outputs,
    '',
    `Approve: signal \`approve\` with ${signal(`, "planId": "${plan.id}"`)}. ` +
      `Reject: signal \`reject\` with ${signal(', "reason": "..."')}.`,
  ].join('\n');
}

function isStale(err: unknown): boolean {
  const f = innerFailure(err);
  const d = f?.details?.[0] as { stale?: boolean } | undefined;
  return f?.type === FailureType.Conflict && d?.stale === true;
}

/** Read-only steps: a failure there surfaces as the activity's own typed failure, saying nothing was changed. */
async function beforeAnyChange<T>(progress: Progress, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (innerFailure(err)?.type === FailureType.InvalidInput && !(err as { cause?: unknown }).cause) {
      progress.setPhase('failed');
      progress.status.error = errorMessage(err);
      throw err;
    }
    throw failedBeforeAnyChange(progress, err);
  }
}
