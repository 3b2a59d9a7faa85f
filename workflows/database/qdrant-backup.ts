// Owns the runbook's backup procedures (Pre-Rollback Checklist: ops:backup:manual, ops:backup:verify) on Qdrant:
// the `qdrantBackup` workflow (backup or verify) and `takeBackup`, the verified backup every destructive Qdrant
// rollback takes first. Invariants: a backup is a server snapshot streamed to the backup directory with its
// checksum, a manifest, known answers when the collection answered the same before and after, and the server
// snapshot removed; it counts only once re-verified from disk.
import { patched } from '@temporalio/workflow';
import type { BackupManifest } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { fail, invalidInput, surfaced } from '../phases/failures.ts';
import { Progress } from '../phases/progress.ts';
import { validateBackupName } from '../phases/validation.ts';
import { defineScenario } from '../phases/scenario.ts';
import { checked, hostInput, oneOf, parseInput, scenarioInput, type z } from '../phases/schema.ts';
import { acts, collectionInput, stamp, type Acts } from './qdrant-common.ts';

export interface BackupResult {
  manifest: BackupManifest;
  verified: boolean;
}

/** Snapshot → streamed download with checksum → manifest → server snapshot removed → re-verified from disk. */
const KNOWN_ANSWERS = { samples: 3, k: 5 };

export async function takeBackup(
  a: Acts,
  progress: Progress,
  collection: string,
  name: string,
  replacedBy?: string,
): Promise<BackupResult> {
  const before = await progress.step(`backup ${name}: count`, () => a.q.qdrantInspect({ collection }));
  if (!before.exists) throw fail(FailureType.NotFound, `collection '${collection}' does not exist: nothing to back up`);
  const real = before.aliasOf ?? collection;
  // Known answers for verifying a restore: nearest neighbours of a few stored points, read before and after the
  // snapshot; equal twice means the snapshot holds a collection that answers them so.
  const probe = patched('qdrant-backup-known-answers')
    ? () => a.q.qdrantSearchProbe({ collection: real, samples: KNOWN_ANSWERS.samples, k: KNOWN_ANSWERS.k })
    : undefined;
  const probedBefore = probe ? await progress.step(`backup ${name}: known answers`, probe) : undefined;
  const snap = await progress.step(
    `backup ${name}: snapshot`,
    () => a.long.qdrantCreateSnapshot({ collection: real }),
    (s) => s.name,
  );
  const file = await progress.step(
    `backup ${name}: download`,
    () =>
      a.long.qdrantDownloadSnapshot({
        collection: real,
        snapshotName: snap.name,
        checksum: snap.checksum ?? null,
        backupName: name,
      }),
    (f) => `${f.sizeBytes} bytes, sha256 ${f.checksum.slice(0, 12)}`,
  );
  const after = await a.q.qdrantInspect({ collection });
  const exact = after.pointsCount === before.pointsCount;
  const probedAfter = probe ? await probe() : undefined;
  const knownAnswers =
    probedBefore && JSON.stringify(probedBefore) === JSON.stringify(probedAfter)
      ? { k: KNOWN_ANSWERS.k, probes: probedBefore.probes }
      : undefined;
  await a.q.writeBackupManifest({
    name,
    collection: real,
    pointsCount: after.pointsCount,
    ...(exact ? {} : { pointsCountBefore: before.pointsCount }),
    ...(before.vectors ? { vectors: before.vectors } : {}),
    snapshotFile: snap.name,
    checksum: file.checksum,
    sizeBytes: file.sizeBytes,
    createdAt: new Date().toISOString(),
    ...(replacedBy ? { replacedBy } : {}),
    ...(knownAnswers ? { knownAnswers } : {}),
  });
  await a.q.qdrantDeleteSnapshot({ collection: real, snapshotName: snap.name });
  const v = await progress.step(
    `backup ${name}: verify`,
    () => a.long.verifyBackup({ collection: real, backupName: name }),
    (r) => (r.ok ? 'checksum ok' : (r.reason ?? 'bad')),
  );
  if (!v.ok) throw fail(FailureType.VerificationFailed, `backup '${name}' did not verify: ${v.reason}`);
  return { manifest: v.manifest, verified: true };
}

export const qdrantBackupInput = scenarioInput({
  collection: collectionInput('the collection (or alias) to back up or whose backup to verify'),
  mode: oneOf(['backup', 'verify'], "must be 'backup' or 'verify'")
    .default('backup')
    .describe('backup: take a verified backup; verify: re-check a stored backup against its checksum'),
  backupName: checked<string | undefined, string>((v, f) => validateBackupName(v, f))
    .optional()
    .describe('backup: the name to give (default <collection>-<timestamp>); verify: the backup (default the newest)')
    .meta({ value: 'NAME' }),
  host: hostInput(),
});

export type QdrantBackupInput = z.input<typeof qdrantBackupInput>;

export const qdrantBackupScenario = defineScenario({
  name: 'qdrant-backup',
  workflowType: 'qdrantBackup',
  category: 'database',
  runbook: 'Pre-Rollback Checklist → backups (ops:backup:manual, ops:backup:verify)',
  summary: 'snapshot a collection to the backup directory with a checksum and known answers, or verify a backup',
  input: qdrantBackupInput,
  summarize: (i) =>
    i.mode === 'verify'
      ? `verify backup ${i.backupName ?? 'latest'} of qdrant:${i.collection}`
      : `back up qdrant:${i.collection}`,
  workflowId: (i) => `backup-qdrant-${i.collection}`,
  runAttributes: null, // a backup, not a rollback
});

export async function qdrantBackup(raw: QdrantBackupInput): Promise<BackupResult> {
  const progress = new Progress('backup', `qdrant:${String(raw?.collection)}`);
  let input: z.output<typeof qdrantBackupInput>;
  try {
    input = parseInput(qdrantBackupInput, raw);
  } catch (err) {
    throw invalidInput(progress, err);
  }
  const { collection, mode, host, backupName } = input;
  const a = acts(host);
  if (mode === 'backup') {
    progress.setPhase('backing-up');
    const name = backupName ?? `${collection}-${stamp()}`;
    try {
      const r = await takeBackup(a, progress, collection, name);
      progress.setPhase('completed');
      return r;
    } catch (err) {
      progress.setPhase('failed');
      throw surfaced(err);
    }
  }
  progress.setPhase('verifying');
  // backups are filed under the real collection: resolve an alias first
  const state = await a.q.qdrantInspect({ collection }).catch((e: unknown) => Promise.reject(surfaced(e)));
  const real = state.aliasOf ?? collection;
  const backups = await a.q.listBackups({ collection: real });
  const chosen = backupName ?? backups.at(-1)?.name;
  if (!chosen) throw fail(FailureType.NotFound, `no backups of '${collection}' found`);
  const v = await progress.step(`verify ${chosen}`, () =>
    a.long.verifyBackup({ collection: real, backupName: chosen }).catch((e: unknown) => Promise.reject(surfaced(e))),
  );
  if (!v.ok) {
    progress.setPhase('failed');
    throw fail(FailureType.VerificationFailed, `backup '${chosen}' of '${collection}' is corrupt: ${v.reason}`);
  }
  progress.setPhase('completed');
  return { manifest: v.manifest, verified: true };
}
