// Owns what the emergency runbooks share: the acknowledgement that replaces the approval wait (category
// 'emergency', the policy's `mode: "acknowledge"`: any engineer of the roster, no four eyes, recorded as the
// acknowledgement, not waited for unless the requester is outside the roster), the "last known-good backup" rule
// (the newest backup no older than N days that verifies; a corrupt one is skipped and named), and the
// notifications that open and close an emergency. Deterministic.
import type { BackupManifest } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { fail } from '../phases/failures.ts';
import { notifyEvent, type NotificationRecord } from '../phases/notify.ts';
import { errorMessage, type Progress } from '../phases/progress.ts';
import type { PreApproval } from '../phases/validation.ts';
import type { PointInTimeSelector } from '../database/data-recovery.ts';
import { selectPointInTime } from '../database/point-in-time.ts';

/** The emergency's acknowledgement: the input's pre-approval, else the requester as an engineer. */
export function acknowledgement(requestedBy: string, preApproved?: PreApproval): PreApproval {
  return (
    preApproved ?? { approver: requestedBy, role: 'engineer', comment: 'emergency: acknowledged by the requester' }
  );
}

/**
 * The last known-good backup: the newest created within `maxAgeSeconds` of now that verifies (older candidates
 * are tried when a newer one does not verify); pre-rollback backups never count (point-in-time's rule).
 */
export function lastKnownGood(maxAgeSeconds: number): PointInTimeSelector {
  return async (a, progress, real, backups: BackupManifest[], at) => {
    const oldest = new Date(Date.parse(at) - maxAgeSeconds * 1000).toISOString();
    const recent = backups.filter((b) => b.createdAt >= oldest);
    const age = maxAgeSeconds % 86400 === 0 ? `${maxAgeSeconds / 86400} day(s)` : `${maxAgeSeconds} s`;
    if (recent.length === 0 || recent.every((b) => b.name.startsWith('pre-rollback-'))) {
      const newest = backups.filter((b) => !b.name.startsWith('pre-rollback-')).at(-1);
      throw fail(
        FailureType.NotFound,
        `no backup of '${real}' is at most ${age} old` +
          (newest ? ` (the newest, '${newest.name}', is from ${newest.createdAt})` : ` (${backups.length} backups)`),
      );
    }
    const r = await selectPointInTime(a, progress, real, recent, at);
    return { chosen: r.chosen, selection: { ...r.selection, rule: `newest verified backup at most ${age} old` } };
  };
}

/** The notification that opens an emergency (paged as critical), addressed to `mention`. */
export function notifyEmergency(
  progress: Progress,
  target: string,
  summary: string,
  details: Record<string, string | number | boolean>,
  mention?: string[],
): Promise<NotificationRecord> {
  return notifyEvent(progress, 'emergency', {
    rollbackType: 'emergency',
    target,
    summary,
    details,
    ...(mention && mention.length > 0 ? { mention } : {}),
  });
}

/** The closing notification: succeeded, or failed with the failure's message. */
export function notifyOutcome(
  progress: Progress,
  target: string,
  err: unknown,
  summary: string,
): Promise<NotificationRecord> {
  const failed = err !== undefined;
  return notifyEvent(progress, failed ? 'failed' : 'succeeded', {
    rollbackType: 'emergency',
    target,
    summary: failed ? `${summary} FAILED: ${errorMessage(err)}` : `${summary} completed`,
  });
}
