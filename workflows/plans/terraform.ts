// Owns the dry-run plan of the Terraform rollback (infrastructure/terraform.ts): the real run's read-only steps
// — resolve both commits, check the target out aside and init it, `plan` it (the state is read, never written) —
// in this plan's own scratch folder, removed at the end; the state backups already made for their age and size.
// The plan shows the changes per address the director would approve (the real run plans again and binds its
// approval to its own plan file).
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, PlanResult } from '../../activities/index.ts';
import { hostTaskQueue } from '../../common/config.ts';
import { runSuffix } from '../../common/names.ts';
import type { ValidTerraformRollbackInput } from '../infrastructure/terraform.ts';
import { surfaced } from '../phases/failures.ts';
import { existingBackups, sizeLikeNewest, type PlanBody, type PlanStep } from '../phases/plan.ts';
import { iacOp } from '../phases/profiles.ts';

export async function planTerraformRollback(input: ValidTerraformRollbackInput): Promise<PlanBody> {
  const info = workflowInfo();
  const op = proxyActivities<Activities>({ ...iacOp, ...(input.host ? { taskQueue: hostTaskQueue(input.host) } : {}) });
  const tool = input.tool;
  const runKey = `${info.workflowId}-${runSuffix(info.runId)}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(-180);
  let commits, plan: PlanResult, backups: Array<{ path: string; sizeBytes: number; mtime: string }>;
  try {
    commits = await op.tfResolveCommits({
      repo: input.repo,
      directory: input.directory,
      commit: input.commit,
      ...(input.previousCommit ? { previousCommit: input.previousCommit } : {}),
    });
    const { workdir } = await op.tfPrepare({
      repo: input.repo,
      directory: input.directory,
      tool,
      runKey,
      ...(input.stateFile ? { stateFile: input.stateFile } : {}),
      commit: commits.target.sha,
      purpose: 'target',
    });
    [plan, backups] = await Promise.all([
      op.tfPlan({ workdir, tool, name: 'dry-run', commit: commits.target.sha }),
      op.tfListStateBackups(),
    ]);
  } catch (err) {
    throw surfaced(err, ' (dry run: nothing was changed)');
  } finally {
    await op.tfCleanup({ runKey }).catch(() => undefined); // only this plan's own scratch folder
  }
  const short = (sha: string) => sha.slice(0, 12);
  const { target, previous } = commits;
  const s = plan.summary;
  const warnings: string[] = [];
  if (target.sha === previous.sha)
    warnings.push(`previousCommit resolves to the target ${short(target.sha)}: the real run refuses this input`);
  const destroys = s.changes.filter((c) => c.action === 'delete' || c.action === 'replace');
  if (destroys.length)
    warnings.push(`destroys or replaces ${destroys.length} resource(s): ${destroys.map((c) => c.address).join(', ')}`);
  const steps: PlanStep[] = [
    { name: 'resolve-commits', what: `${input.commit} and the deployed commit in ${input.repo}`, changes: false },
    { name: 'checkout-and-init', what: `${tool} init of ${short(target.sha)} in a scratch folder`, changes: false },
    { name: 'plan (round 1)', what: `${tool} plan, saved; its id is what the director approves`, changes: false },
  ];
  if (plan.hasChanges)
    steps.push(
      { name: 'approval', what: 'the director approves that plan (plan-bound)', changes: false },
      { name: 'check-plan-is-current', what: 'state serial unchanged, else plan and approve again', changes: false },
      { name: 'backup-state', what: `${tool} state pull into the backups folder`, changes: true },
      {
        name: 'apply-plan',
        what: `${tool} apply of exactly the approved plan`,
        changes: true,
        undo: `plan and apply the deployed commit ${short(previous.sha)} the same way`,
      },
      { name: 'verify-no-changes', what: `${tool} plan -detailed-exitcode reports no changes`, changes: false },
      { name: 'remove-checkouts', what: 'the scratch folders', changes: false },
    );
  return {
    current: [
      `deployed ${short(previous.sha)} "${previous.subject}"; target ${short(target.sha)} "${target.subject}"`,
      `state serial ${s.state.serial}${s.state.exists ? '' : ' (no state yet)'}; plan ${s.id}: ` +
        Object.entries(s.counts)
          .filter(([, n]) => n > 0)
          .map(([a, n]) => `${n} to ${a}`)
          .join(', ') || 'no changes',
      ...s.changes.map((c) => `${c.action} ${c.address}`),
    ],
    steps,
    backups: plan.hasChanges
      ? [
          {
            what: `state backup (serial ${s.state.serial})`,
            where: `<work root>/backups/<run>-round-<n>-serial-${s.state.serial}.tfstate${input.host ? ` on host ${input.host}` : ''}, never deleted`,
            ...sizeLikeNewest(backups, 'state backup'),
            ...existingBackups(backups),
          },
        ]
      : [],
    expectedDowntime: plan.hasChanges
      ? {
          what:
            destroys.length > 0
              ? `the ${destroys.length} destroyed or replaced resource(s) are unavailable while apply runs`
              : 'none expected: the plan only creates or updates in place',
          ...(destroys.length > 0 ? {} : { maxSeconds: 0 }),
        }
      : { what: 'none: nothing changes' },
    warnings,
    reads: ['tfResolveCommits', 'tfPrepare', 'tfPlan', 'tfListStateBackups', 'tfCleanup'],
    ...(plan.hasChanges ? {} : { nothingToDo: `the state already matches ${short(target.sha)}: nothing to apply` }),
  };
}
