// Owns the runbook's "Database Rollback → Scenario 3: Point-in-Time Recovery" on Qdrant (`pointInTimeRecovery`):
// choosing the backup that holds the state at a time T; the restore itself is Scenario 1's (data-recovery.ts).
import type { BackupManifest } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { fail } from '../phases/failures.ts';
import type { Progress } from '../phases/progress.ts';
import { withLifecycleNotifications } from '../phases/notify.ts';
import type { Acts } from './qdrant-common.ts';
import { defineScenario, runOf, who } from '../phases/scenario.ts';
import { checked, parseInput, refused, scenarioInput, type z } from '../phases/schema.ts';
import { InputError, requireString, show } from '../phases/validation.ts';
import {
  recover,
  recoveryFields,
  recoveryWatch,
  type BackupSelection,
  type QdrantRecoveryResult,
} from './data-recovery.ts';

const isPreRollback = (b: BackupManifest): boolean => b.name.startsWith('pre-rollback-');

/**
 * Point in time: the state at T is the newest backup created at or before T that VERIFIES. A candidate that fails
 * verification is skipped and recorded, and the next older one is tried (the approver sees the choice and the
 * skipped ones before anything changes); none verifying is a refusal.
 * Pre-rollback backups are not candidates: each holds what the collection held only until the rollback that took
 * it replaced that content seconds later, so for any T after it the collection held something else. For the same
 * reason a rollback between the chosen backup and T means no backup holds the state at T: that is refused, naming
 * the backups to restore by name instead, never answered with a state the collection did not have at T.
 */
export async function selectPointInTime(
  a: Acts,
  progress: Progress,
  real: string,
  backups: BackupManifest[],
  at: string,
): Promise<{ chosen: BackupManifest; selection: BackupSelection }> {
  const candidates = backups.filter((b) => b.createdAt <= at && !isPreRollback(b)).reverse();
  const skipped: BackupSelection['skipped'] = [];
  for (const b of candidates) {
    const v = await progress.step(
      candidates[0] === b ? 'verify-backup' : `verify-backup ${b.name}`,
      () => a.long.verifyBackup({ collection: real, backupName: b.name }),
      (r) => (r.ok ? `${b.name}: checksum ok` : `${b.name}: ${r.reason ?? 'bad'}`),
    );
    if (!v.ok) {
      skipped.push({ name: b.name, createdAt: b.createdAt, reason: v.reason ?? 'did not verify' });
      continue;
    }
    const replaced = backups.filter((p) => isPreRollback(p) && p.createdAt > b.createdAt && p.createdAt <= at);
    if (replaced.length > 0) {
      const p = replaced.at(-1)!;
      throw fail(
        FailureType.Conflict,
        `a rollback replaced the content of '${real}' at ${p.createdAt}, between the newest backup at or before ${at} ` +
          `('${b.name}', ${b.createdAt}) and that time, so no backup holds the state at ${at}. Restore by name instead: ` +
          `'${p.name}' holds what was there just before that rollback` +
          (p.replacedBy ? `, '${p.replacedBy}' what that rollback restored` : ''),
      );
    }
    const now = Date.now();
    const selection: BackupSelection = {
      rule: `newest verified backup created at or before ${at}`,
      chosen: b.name,
      chosenAt: b.createdAt,
      ageAtTSeconds: Math.round((Date.parse(at) - Date.parse(b.createdAt)) / 1000),
      ageNowSeconds: Math.round((now - Date.parse(b.createdAt)) / 1000),
      skipped,
    };
    progress.note(
      'select-backup',
      'completed',
      `${b.name} (${b.createdAt}, ${selection.ageAtTSeconds} s before T)` +
        (skipped.length ? `; skipped, not verifying: ${skipped.map((x) => x.name).join(', ')}` : ''),
    );
    return { chosen: b, selection };
  }
  throw fail(
    FailureType.NotFound,
    candidates.length === 0
      ? `no backup of '${real}' at or before ${at} (${backups.length} backups found)`
      : `no backup of '${real}' at or before ${at} verifies: ${skipped.map((x) => `${x.name} (${x.reason})`).join('; ')}`,
  );
}

// An ISO 8601 time with its zone: a zoneless time would be read in the worker's local zone.
const ISO_TIME = /^(\d{4})-(\d\d)-(\d\d)T\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:\d\d)$/;

/** An ISO 8601 time with a zone, of a day that exists, not in the future (workflow time in a workflow). */
export function validatePointInTime(v: unknown, field: string): string {
  const t = requireString({ v }, 'v', 64, field);
  const m = ISO_TIME.exec(t);
  const ms = Date.parse(t);
  const [y, mo, d] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  // Date.parse accepts 2026-02-30 (as 2 March): check the day exists
  if (!m || Number.isNaN(ms) || mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) {
    throw new InputError(field, `${show(t)} is not an ISO 8601 time with a zone (e.g. 2026-11-28T17:45:00Z)`);
  }
  // a future time would silently mean "the latest backup": most likely a typo in the year
  if (ms > Date.now() + 60_000) throw new InputError(field, `${show(t)} is in the future`);
  return new Date(ms).toISOString();
}

export const pointInTimeInput = scenarioInput({
  ...recoveryFields(false),
  atOrBefore: checked<string>(validatePointInTime)
    .describe('the time T to return to: the newest verified backup created at or before T is restored')
    .meta({ flag: 'at', value: 'ISO_TIME', example: '2026-11-28T17:45:00Z' }),
  backup: refused('pointInTimeRecovery chooses the backup by atOrBefore: use qdrantDataRecovery to name one'),
}).transform(recoveryWatch);

export type PointInTimeInput = z.input<typeof pointInTimeInput>;

export const pointInTimeScenario = defineScenario({
  name: 'qdrant-point-in-time',
  workflowType: 'pointInTimeRecovery',
  category: 'database',
  runbook: 'Database Rollback → Scenario 3: Point-in-Time Recovery',
  summary: 'restore the newest verified backup taken at or before a time, as the data recovery does',
  input: pointInTimeInput,
  summarize: (i) => `restore qdrant:${i.collection} as of ${i.atOrBefore}`,
  workflowId: (i) => `rollback-database-${i.collection}`,
  runAttributes: (i) => ({ service: `qdrant:${i.collection}`, targetVersion: `as of ${i.atOrBefore}`, ...who(i) }),
});

/** Runbook Database Scenario 3: the newest backup at or before `atOrBefore`. */
export function pointInTimeRecovery(raw: PointInTimeInput): Promise<QdrantRecoveryResult> {
  return withLifecycleNotifications((notifications) =>
    recover(
      raw,
      (r) => {
        const i = parseInput(pointInTimeInput, r);
        return { ...i, selector: { atOrBefore: i.atOrBefore }, run: runOf(pointInTimeScenario, i) };
      },
      selectPointInTime,
      undefined,
      { notifications, scenario: pointInTimeScenario },
    ),
  );
}
