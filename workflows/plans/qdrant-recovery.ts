// Owns the dry-run plan of the Qdrant restores (database/data-recovery.ts, Scenario 1; point-in-time.ts, Scenario
// 3): the real run's read-only steps (inspect the collection, list the backups, choose and verify the backup with
// the same selection code), plus Qdrant's snapshot list for the age and size of what exists. Nothing is exported,
// snapshotted or stopped; a backup that would be refused is a warning naming where the real run would stop.
import type { BackupManifest, CollectionState } from '../../activities/index.ts';
import type { QdrantRecoveryInput } from '../database/data-recovery.ts';
import { selectOld } from '../database/data-recovery.ts';
import { selectPointInTime } from '../database/point-in-time.ts';
import { acts } from '../database/qdrant-common.ts';
import { errorMessage, type Progress } from '../phases/progress.ts';
import { surfaced } from '../phases/failures.ts';
import { durationText, bytesText, type PlanBackup, type PlanBody, type PlanStep } from '../phases/plan.ts';
import type { AppRef } from '../database/data-recovery.ts';

/** The parsed input of either scenario (qdrantRecoveryInput or pointInTimeInput). */
type RecoveryPlanInput = Omit<QdrantRecoveryInput, 'app' | 'monitor' | 'atOrBefore'> & {
  collection: string;
  app?: AppRef;
  host?: string;
  emergencyExport: boolean;
  stopTimeoutSeconds: number;
  monitor: { durationSeconds: number; intervalSeconds: number };
  backup?: string;
  atOrBefore?: string;
};

export async function planQdrantRecovery(input: RecoveryPlanInput, progress: Progress): Promise<PlanBody> {
  const a = acts(input.host);
  const { collection } = input;
  const reads = ['qdrantInspect', 'listBackups', 'qdrantBackupInventory'];
  const warnings: string[] = [];
  let before: CollectionState;
  let backups: BackupManifest[];
  let snapshots: Array<{ name: string; createdAt?: string; sizeBytes: number }>;
  let backupRoot: string;
  try {
    before = await a.q.qdrantInspect({ collection });
    const real = before.aliasOf ?? collection;
    [backups, { snapshots, backupRoot }] = await Promise.all([
      a.q.listBackups({ collection: real }),
      before.exists
        ? a.q.qdrantBackupInventory({ collection: real })
        : Promise.resolve({ snapshots: [], backupRoot: '' }),
    ]);
  } catch (err) {
    throw surfaced(err, ' (dry run: nothing was changed)');
  }
  const real = before.aliasOf ?? collection;
  const now = Date.now();
  const age = (iso: string) => Math.round((now - Date.parse(iso)) / 1000);

  // The same selection (and verification) the real run makes before its approval.
  let chosen: BackupManifest | undefined;
  let skipped: string[] = [];
  try {
    reads.push('verifyBackup');
    if (input.atOrBefore !== undefined) {
      const r = await selectPointInTime(a, progress, real, backups, input.atOrBefore);
      chosen = r.chosen;
      skipped = r.selection.skipped.map((s) => `${s.name} (${s.reason})`);
    } else {
      const sel =
        input.backup === undefined || input.backup === 'latest' ? { latest: true as const } : { name: input.backup };
      chosen = await selectOld(a, progress, real, backups, sel);
    }
  } catch (err) {
    warnings.push(`the real run would stop before changing anything: ${errorMessage(err)}`);
  }
  if (skipped.length) warnings.push(`newer backups skipped, not verifying: ${skipped.join('; ')}`);

  const current = [
    before.exists
      ? `collection ${collection}${before.aliasOf ? ` (alias of ${before.aliasOf})` : ''}: ${before.pointsCount} points, ${before.status ?? '?'}`
      : `collection ${collection} does not exist (the restore creates it; no export or pre-rollback backup)`,
    `${backups.length} backup(s) of ${real}${backups.length ? `, newest ${backups.at(-1)!.name} (${durationText(age(backups.at(-1)!.createdAt))} old)` : ''}`,
    chosen
      ? `restores ${chosen.name}: created ${chosen.createdAt} (${durationText(age(chosen.createdAt))} old), ${chosen.pointsCount} points, ` +
        `${bytesText(chosen.sizeBytes)}, checksum verified` +
        (before.exists
          ? `; ${chosen.pointsCount - before.pointsCount >= 0 ? '+' : ''}${chosen.pointsCount - before.pointsCount} points vs now`
          : '')
      : 'no backup chosen (see warnings)',
  ];
  if (input.app) current.push(`application ${input.app.containerName}, health ${input.app.healthUrl}`);

  const { estimate, taken } = preRollbackBackups(real, before.pointsCount, backups, { snapshots, backupRoot }, now);
  const backupsTaken: PlanBackup[] = [];
  if (before.exists) {
    if (input.emergencyExport)
      backupsTaken.push({
        what: `emergency export of all ${before.pointsCount} points of ${real} (NDJSON), before the approval`,
        where: `${backupRoot}/${real}/_exports/emergency-<time>-<run>.ndjson`,
        ...estimate,
      });
    backupsTaken.push(...taken);
  }

  const app = input.app;
  const steps: PlanStep[] = [
    { name: 'assess-collection', what: `inspect ${collection} (exact count)`, changes: false },
    {
      name: 'verify-backup',
      what:
        input.atOrBefore !== undefined
          ? `the newest backup at or before ${input.atOrBefore} that verifies (sha256 against its manifest)`
          : `backup ${input.backup ?? 'latest'}: verify its sha256 against its manifest`,
      changes: false,
    },
  ];
  if (before.exists && input.emergencyExport)
    steps.push({ name: 'emergency-export', what: `export every point of ${real} to NDJSON`, changes: false });
  steps.push({ name: 'approval', what: 'wait for the approval below (approval-needed notification)', changes: false });
  if (app)
    steps.push({
      name: 'stop-application',
      what: `stop ${app.containerName} (grace ${input.stopTimeoutSeconds}s): no writes during the restore`,
      changes: true,
      undo: `start ${app.containerName}`,
    });
  if (before.exists)
    steps.push({
      name: 'backup pre-rollback-<time>-<run>',
      what: `snapshot ${real} and download it with a manifest`,
      changes: true,
      undo: 'none needed (a new backup is kept)',
    });
  steps.push(
    {
      name: 'restore-backup',
      what: `replace ${real} with ${chosen?.name ?? 'the chosen backup'}`,
      changes: true,
      ...(before.exists ? { undo: `restore ${real} from the pre-rollback backup` } : {}),
    },
    { name: 'verify-qdrant-ready', what: 'Qdrant /readyz', changes: false },
    { name: 'verify-count', what: `exact count = ${chosen?.pointsCount ?? "the backup's"} points`, changes: false },
    {
      name: chosen?.knownAnswers?.probes.length ? 'verify-known-answers' : 'verify-sample-query',
      what: chosen?.knownAnswers?.probes.length
        ? `${chosen.knownAnswers.probes.length} searches answer as when the backup was taken`
        : 'a stored vector finds its point',
      changes: false,
    },
  );
  if (app) {
    steps.push(
      { name: 'start-application', what: `start ${app.containerName}`, changes: true },
      {
        name: 'verify-application-health',
        what: `${app.healthUrl} healthy within ${app.healthTimeoutSeconds}s`,
        changes: false,
      },
    );
    if (input.monitor.durationSeconds > 0)
      steps.push({
        name: 'monitor',
        what: `watch ${app.healthUrl} every ${input.monitor.intervalSeconds}s for ${input.monitor.durationSeconds}s`,
        changes: false,
      });
  }
  return {
    current,
    steps,
    backups: backupsTaken,
    expectedDowntime: app
      ? {
          what:
            `${app.containerName} is stopped from stop-application until verify-application-health: the stop grace ` +
            `(${input.stopTimeoutSeconds}s), the pre-rollback snapshot and download (~${bytesText(estimate.estimatedBytes)}), ` +
            `the restore of ${chosen ? bytesText(chosen.sizeBytes) : 'the backup'} and up to ${app.healthTimeoutSeconds}s to answer healthy`,
        }
      : {
          what: `no application is stopped; ${collection} is replaced during restore-backup (${chosen ? bytesText(chosen.sizeBytes) : 'the backup'}), writers keep writing`,
        },
    warnings: app
      ? warnings
      : [...warnings, 'no application named (--app-container): writes during the restore are not stopped'],
    reads,
  };
}

/**
 * The pre-rollback backup a Qdrant rollback takes (a Qdrant snapshot, downloaded with a manifest): its estimated
 * size (the newest backup scaled to the current point count, else the newest snapshot) and the newest of each kind
 * that exists now, with its age as of `now`.
 */
export function preRollbackBackups(
  real: string,
  pointsCount: number,
  backups: BackupManifest[],
  inventory: { snapshots: Array<{ name: string; createdAt?: string; sizeBytes: number }>; backupRoot: string },
  now: number,
): { estimate: Pick<PlanBackup, 'estimatedBytes' | 'estimate'>; taken: PlanBackup[] } {
  const age = (iso: string) => Math.round((now - Date.parse(iso)) / 1000);
  const newestSnap = inventory.snapshots.at(-1);
  const newestBackup = backups.at(-1);
  const estimate =
    newestBackup !== undefined
      ? {
          estimatedBytes:
            newestBackup.pointsCount > 0
              ? Math.round((newestBackup.sizeBytes * pointsCount) / newestBackup.pointsCount)
              : newestBackup.sizeBytes,
          estimate: `(${newestBackup.name} scaled to ${pointsCount} points)`,
        }
      : newestSnap
        ? { estimatedBytes: newestSnap.sizeBytes, estimate: '(as the newest Qdrant snapshot)' }
        : { estimate: 'unknown: no earlier backup or snapshot' };
  const preRollback = backups.filter((b) => b.name.startsWith('pre-rollback-'));
  const lastPre = preRollback.at(-1);
  return {
    estimate,
    taken: [
      {
        what: `pre-rollback backup of ${real} (Qdrant snapshot, downloaded and checksummed) after the approval`,
        where: `${inventory.backupRoot}/${real}/pre-rollback-<time>-<run>/`,
        ...estimate,
        existing: preRollback.length,
        ...(lastPre
          ? {
              newest: {
                name: lastPre.name,
                createdAt: lastPre.createdAt,
                ageSeconds: age(lastPre.createdAt),
                sizeBytes: lastPre.sizeBytes,
              },
            }
          : {}),
      },
      {
        what: `Qdrant's snapshot of ${real}, taken for the pre-rollback backup (deleted from Qdrant once downloaded)`,
        where: `Qdrant's snapshot storage of ${real}`,
        ...estimate,
        existing: inventory.snapshots.length,
        ...(newestSnap?.createdAt
          ? {
              newest: {
                name: newestSnap.name,
                createdAt: newestSnap.createdAt,
                ageSeconds: age(newestSnap.createdAt),
                sizeBytes: newestSnap.sizeBytes,
              },
            }
          : {}),
      },
    ],
  };
}
