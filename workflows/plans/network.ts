// Owns the dry-run plan of the iptables rollback (infrastructure/network.ts): the real run's read-only steps (the
// rules file parses where it would be applied — `iptables-restore --test` —, the live rules), the rules backups
// already made for their age and size, then the steps with the dead-man window and the outage it bounds.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities, RulesState, TargetRules } from '../../activities/index.ts';
import { hostTaskQueue } from '../../common/config.ts';
import type { ValidNetworkRollbackInput } from '../infrastructure/network.ts';
import { surfaced } from '../phases/failures.ts';
import { existingBackups, sizeLikeNewest, type PlanBody, type PlanStep } from '../phases/plan.ts';
import { quick } from '../phases/profiles.ts';

export async function planNetworkRollback(input: ValidNetworkRollbackInput): Promise<PlanBody> {
  const q = proxyActivities<Activities>({ ...quick, ...(input.host ? { taskQueue: hostTaskQueue(input.host) } : {}) });
  const ns = input.netns ? { netns: input.netns } : {};
  let target: TargetRules, before: RulesState;
  let backups: Array<{ path: string; sizeBytes: number; mtime: string }>;
  try {
    [target, before, backups] = await Promise.all([
      q.iptablesCheckTarget({ rulesFile: input.rulesFile, ...ns }),
      q.iptablesState(ns),
      q.iptablesListBackups(),
    ]);
  } catch (err) {
    throw surfaced(err, ' (dry run: nothing was changed)');
  }
  const same = before.canonicalSha256 === target.canonicalSha256;
  const where = `${input.netns ? `namespace ${input.netns}` : 'the host'}${input.host ? ` on ${input.host}` : ''}`;
  const steps: PlanStep[] = [
    { name: 'test-target-rules', what: `iptables-restore --test ${input.rulesFile} in ${where}`, changes: false },
    { name: 'assess-current-rules', what: 'iptables-save (live rules)', changes: false },
  ];
  if (!same)
    steps.push(
      { name: 'approval', what: 'wait for the approval below (approval-needed notification)', changes: false },
      { name: 'backup-current-rules', what: 'iptables-save into the rules backups folder', changes: true },
      {
        name: 'apply-target-rules',
        what: `iptables-restore ${input.rulesFile} (sha256 ${target.sha256.slice(0, 12)}, as tested)`,
        changes: true,
        undo: 'iptables-restore the backup',
      },
      {
        name: 'verify-health',
        what: `${input.healthUrls.join(', ')} answer within ${input.verifyTimeoutSeconds}s`,
        changes: false,
      },
      {
        name: 'await-confirmation',
        what: `someone sends \`confirm\` within ${input.confirmSeconds}s, else the backup is restored`,
        changes: false,
      },
    );
  const newest = backups.at(-1);
  return {
    current: [
      `live rules in ${where}: ${before.rules} rules in ${before.tables.join(', ') || 'no tables'}`,
      `${input.rulesFile}: ${target.rules} rules in ${target.tables.join(', ') || 'no tables'}, parses`,
    ],
    steps,
    backups: same
      ? []
      : [
          {
            what: `the live rules (${before.rules} rules, iptables-save)`,
            where: `the worker's rules backups folder${newest ? ` (${newest.path.replace(/\/[^/]*$/, '')})` : ''}`,
            ...sizeLikeNewest(backups, 'rules backup'),
            ...existingBackups(backups),
          },
        ],
    expectedDowntime: same
      ? { what: 'none: nothing changes' }
      : {
          maxSeconds: input.verifyTimeoutSeconds + input.confirmSeconds,
          what:
            'none if the rules are right (iptables-restore swaps them atomically); if they cut traffic, until the ' +
            `health check fails (${input.verifyTimeoutSeconds}s) or the confirmation window ends (${input.confirmSeconds}s) and the backup is restored`,
        },
    warnings: [],
    reads: ['iptablesCheckTarget', 'iptablesState', 'iptablesListBackups'],
    ...(same ? { nothingToDo: 'the live rules already equal the rules file' } : {}),
  };
}
