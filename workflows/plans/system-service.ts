// Owns the dry-run plan of the system service rollback (application/system-service.ts): the real run's read-only
// steps (unit state, where `current` points, health, `git ls-remote` of the tag), the release archives already in
// `<root>/backups/` for their age and size, then the steps, the backup and the restart's outage. An unknown tag is
// a warning (the real run stops at verify-target-tag, before changing anything).
import { proxyActivities } from '@temporalio/workflow';
import type { Activities, HealthSample, ReleaseState, UnitState } from '../../activities/index.ts';
import { hostTaskQueue } from '../../common/config.ts';
import { FailureType } from '../../common/failures.ts';
import { fullUnitName } from '../../common/release-names.ts';
import type { ValidSystemServiceInput } from '../application/system-service.ts';
import { innerFailure, surfaced } from '../phases/failures.ts';
import { existingBackups, sizeLikeNewest, type PlanBody, type PlanStep } from '../phases/plan.ts';
import { probe, quick } from '../phases/profiles.ts';

/** A unit restart, beyond the health window. */
const RESTART_SECONDS = 5;

export async function planSystemServiceRollback(input: ValidSystemServiceInput): Promise<PlanBody> {
  const on = input.host ? { taskQueue: hostTaskQueue(input.host) } : {};
  const q = proxyActivities<Activities>({ ...quick, ...on });
  const sample = proxyActivities<Activities>({ ...probe, ...on });
  const unit = fullUnitName(input.unit);
  const root = input.releaseRoot;
  let unitBefore: UnitState, release: ReleaseState, before: HealthSample;
  let archives: Array<{ path: string; sizeBytes: number; mtime: string }>;
  try {
    [unitBefore, release, before, archives] = await Promise.all([
      q.systemdUnitState({ unit }),
      q.releaseState({ root }),
      sample.probeHealth({ url: input.healthUrl }),
      q.listReleaseBackups({ root }),
    ]);
  } catch (err) {
    throw surfaced(err, ' (dry run: nothing was changed)');
  }
  const warnings: string[] = [];
  let commit: string | undefined;
  try {
    commit = (await q.releaseRemoteTag({ remote: input.gitRemote, tag: input.targetTag })).commit;
  } catch (err) {
    if (innerFailure(err)?.type !== FailureType.NotFound) throw surfaced(err, ' (dry run: nothing was changed)');
    warnings.push(
      `unknown tag: ${innerFailure(err)?.message ?? input.targetTag}; the real run stops at verify-target-tag before changing anything`,
    );
  }
  const targetDir = `${root}/releases/${input.targetTag}`;
  const onTarget = release.path === targetDir && unitBefore.activeState === 'active';
  const where = input.host ? ` on host ${input.host}` : '';
  const steps: PlanStep[] = [
    { name: 'assess-current-unit', what: `systemctl show ${unit}`, changes: false },
    { name: 'assess-current-release', what: `readlink ${root}/current`, changes: false },
    { name: 'assess-current-health', what: `GET ${input.healthUrl}`, changes: false },
    { name: 'verify-target-tag', what: `git ls-remote ${input.gitRemote} ${input.targetTag}`, changes: false },
  ];
  if (!onTarget) {
    steps.push(
      { name: 'approval', what: 'wait for the approval below (approval-needed notification)', changes: false },
      {
        name: 'backup-current-release',
        what: `tar ${release.path} into ${root}/backups/`,
        changes: true,
      },
      {
        name: 'checkout-target-release',
        what: `clone ${input.targetTag}${commit ? ` (${commit.slice(0, 12)})` : ''} into ${targetDir}`,
        changes: true,
        undo: 'remove the folder this run created',
      },
      {
        name: 'install-and-build',
        what: `${input.installCommands.join(' && ')} (each within ${input.buildTimeoutSeconds}s)`,
        changes: true,
      },
      {
        name: 'switch-current',
        what: `point ${root}/current at ${targetDir} (atomic rename)`,
        changes: true,
        undo: `point current back at ${release.link} and restart ${unit}`,
      },
      { name: 'restart-unit', what: `systemctl restart ${unit}`, changes: true },
      {
        name: 'verify-health',
        what: `${input.healthUrl} healthy within ${input.verifyTimeoutSeconds}s`,
        changes: false,
      },
    );
    if (input.monitor.durationSeconds > 0)
      steps.push({
        name: 'monitor',
        what: `watch ${input.healthUrl} every ${input.monitor.intervalSeconds}s for ${input.monitor.durationSeconds}s`,
        changes: false,
      });
  }
  const now = Date.now();
  return {
    current: [
      `${unit}${where}: ${unitBefore.activeState}/${unitBefore.subState}, pid ${unitBefore.mainPid}` +
        `${unitBefore.startedAt ? ` since ${unitBefore.startedAt}` : ''}`,
      `current → ${release.link}${release.version ? ` (${release.version})` : ''}; releases: ${release.releases.join(', ') || '-'}`,
      `${before.ok ? 'healthy' : `unhealthy (${before.httpStatus ?? before.error ?? '?'})`} at ${input.healthUrl}`,
      commit
        ? `target ${input.targetTag} = ${commit.slice(0, 12)} in ${input.gitRemote}`
        : `target ${input.targetTag}: not found`,
    ],
    steps,
    backups: onTarget
      ? []
      : [
          {
            what: `release archive of ${release.path} (tar.gz)`,
            where: `${root}/backups/${release.version ?? '<release>'}-<run>.tar.gz${where}`,
            ...sizeLikeNewest(archives, 'archive'),
            ...existingBackups(archives, now),
          },
        ],
    expectedDowntime: onTarget
      ? { what: 'none: nothing changes' }
      : {
          maxSeconds: RESTART_SECONDS + input.verifyTimeoutSeconds,
          what:
            `${unit} restarts on the new release after it is built (the build runs while the old release serves) ` +
            `and must answer healthy within ${input.verifyTimeoutSeconds}s`,
        },
    warnings,
    reads: ['systemdUnitState', 'releaseState', 'probeHealth', 'listReleaseBackups', 'releaseRemoteTag'],
    ...(onTarget
      ? { nothingToDo: `${unit} already runs ${input.targetTag}: the rollback would end as already-on-target` }
      : {}),
  };
}
