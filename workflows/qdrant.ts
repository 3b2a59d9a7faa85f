// Owns the runbook's "Database Rollback Procedures" (Scenarios 1–3), its backup commands (ops:backup:manual,
// ops:backup:verify) and "Configuration Rollback → Scenario 2" as durable workflows on Qdrant.
// Invariants:
//  - nothing changes before the input is valid, the chosen backup verifies and the rollback is approved;
//  - every destructive step is preceded by a pre-rollback backup (snapshot downloaded + checksummed) that the
//    workflow restores if a later step fails, and the error reports both what failed and what was restored;
//  - the runbook's non-existent Qdrant endpoints are replaced by real ones: points/export → paged scroll to NDJSON,
//    collections/X/backup → collection snapshots, lock → stopping the writers (the application container).
import type { ApplicationFailure } from '@temporalio/workflow';
import { CancellationScope, isCancellation, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, BackupManifest, CollectionState, HealthSample, VectorParams } from '../activities/index.ts';
import { hostTaskQueue } from '../common/config.ts';
import { FailureType } from '../common/failures.ts';
import { isValidBackupName, isValidCollectionName, runSuffix } from '../common/names.ts';
import type { RollbackType } from '../common/roles.ts';
import { ApprovalGate, awaitApproval, type ApprovalRecord } from './approval.ts';
import { runUndos, type Undo } from './saga.ts';
import { failedBeforeAnyChange, fail, innerFailure, surfaced } from './failures.ts';
import { watchHealth, type MonitorSummary } from './monitor.ts';
import { dockerOp, longWait, probe, quick, transfer } from './profiles.ts';
import { errorMessage, Progress, type StepRecord } from './progress.ts';
import {
  asObject,
  InputError,
  optionalInt,
  requireString,
  validateContainerName,
  validateHost,
  validateHttpUrl,
  validatePreApproval,
  type PreApproval,
} from './validation.ts';

function acts(host: string | undefined) {
  const on = host ? { taskQueue: hostTaskQueue(host) } : {};
  return {
    q: proxyActivities<Activities>({ ...quick, ...on }),
    op: proxyActivities<Activities>({ ...dockerOp, ...on }),
    long: proxyActivities<Activities>({ ...transfer, ...on }),
    wait: proxyActivities<Activities>({ ...longWait(120), ...on }),
    probe: proxyActivities<Activities>({ ...probe, ...on }),
  };
}
type Acts = ReturnType<typeof acts>;

function collectionName(o: Record<string, unknown>, field = 'collection'): string {
  const v = requireString(o, field, 255);
  if (!isValidCollectionName(v)) throw new InputError(field, `${JSON.stringify(v)} is not a valid collection name`);
  return v;
}

/** Names created by this run end with this part of its run id (older runs used the timestamp-like head). */
function runPart(runId: string): string {
  return patched('names-from-run-id-tail') ? runSuffix(runId) : runId.slice(0, 8);
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

function invalid(progress: Progress, err: unknown): ApplicationFailure {
  progress.note('validate-input', 'failed', errorMessage(err));
  progress.setPhase('failed');
  progress.status.error = errorMessage(err);
  return fail(
    FailureType.InvalidInput,
    errorMessage(err),
    err instanceof InputError ? { field: err.field } : undefined,
  );
}

// ---------------------------------------------------------------- backups

export interface BackupResult {
  manifest: BackupManifest;
  verified: boolean;
}

/** Snapshot → streamed download with checksum → manifest → server snapshot removed → re-verified from disk. */
const KNOWN_ANSWERS = { samples: 3, k: 5 };

async function takeBackup(
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

export interface QdrantBackupInput {
  collection: string;
  mode?: 'backup' | 'verify';
  /** backup: the name to give (default <collection>-<timestamp>); verify: the backup to check (default the newest). */
  backupName?: string;
  host?: string;
}

export async function qdrantBackup(raw: QdrantBackupInput): Promise<BackupResult> {
  const progress = new Progress('backup', `qdrant:${String(raw?.collection)}`);
  let collection: string;
  let mode: 'backup' | 'verify';
  let host: string | undefined;
  try {
    const o = asObject(raw, 'input');
    collection = collectionName(o);
    mode = o.mode === undefined ? 'backup' : (o.mode as 'backup' | 'verify');
    if (mode !== 'backup' && mode !== 'verify') throw new InputError('mode', "must be 'backup' or 'verify'");
    if (o.backupName !== undefined && !isValidBackupName(o.backupName)) {
      throw new InputError('backupName', `${JSON.stringify(o.backupName)} is not a valid backup name`);
    }
    host = validateHost(o.host);
  } catch (err) {
    throw invalid(progress, err);
  }
  const a = acts(host);
  if (mode === 'backup') {
    progress.setPhase('backing-up');
    const name = raw.backupName ?? `${collection}-${stamp()}`;
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
  const chosen = raw.backupName ?? backups.at(-1)?.name;
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

// ---------------------------------------------------------------- data recovery / point in time

export interface AppRef {
  containerName: string;
  healthUrl: string;
  /** How long the restarted application has to answer healthy (default 60 s). */
  healthTimeoutSeconds?: number;
}

export interface QdrantRecoveryInput {
  collection: string;
  /** Which backup: a name, 'latest' (default), or the newest at or before an ISO time. */
  backup?: string;
  atOrBefore?: string;
  /** The application whose writes must stop during the restore (the runbook's `systemctl stop cortex-mcp`). */
  app?: AppRef;
  reason: string;
  requestedBy: string;
  host?: string;
  emergencyExport?: boolean;
  monitor?: { durationSeconds?: number; intervalSeconds?: number; failureThreshold?: number };
  approval?: { timeoutSeconds?: number; preApproved?: PreApproval };
  stopTimeoutSeconds?: number;
}

export interface QdrantRecoveryResult {
  outcome: 'succeeded' | 'rejected' | 'approval-timed-out';
  workflowId: string;
  collection: string;
  restoredFrom?: BackupManifest;
  preRollbackBackup?: string;
  emergencyExport?: { path: string; exported: number; checksum: string };
  before: CollectionState;
  after?: CollectionState;
  /** Restore verification: the backup's known answers (`knownAnswers` of them) or, for older backups, a sample query. */
  sampleQuery?: { ok: boolean; knownAnswers?: number };
  /** How the backup was chosen: for point in time, the rule, the candidates skipped and the chosen one's age. */
  selection?: BackupSelection;
  /** Qdrant's /readyz after the restore. */
  readiness?: { ready: boolean; status?: number; body: string };
  approvals: ApprovalRecord[];
  monitoring?: MonitorSummary;
  timeline: StepRecord[];
}

export interface BackupSelection {
  rule: string;
  chosen: string;
  chosenAt: string;
  /** Seconds between the chosen backup and the requested time T (point in time only). */
  ageAtTSeconds?: number;
  /** Seconds between the chosen backup and the moment it was chosen. */
  ageNowSeconds: number;
  /** Newer candidates at or before T that failed verification, newest first. */
  skipped: Array<{ name: string; createdAt: string; reason: string }>;
}

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
async function selectPointInTime(
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

interface ValidRecovery {
  collection: string;
  selector: { name: string } | { latest: true } | { atOrBefore: string };
  app?: AppRef;
  reason: string;
  requestedBy: string;
  host?: string;
  emergencyExport: boolean;
  monitor: { durationSeconds: number; intervalSeconds: number; failureThreshold: number };
  approval: { timeoutSeconds: number; preApproved?: PreApproval };
  stopTimeoutSeconds: number;
}

function validateRecovery(raw: unknown, type: RollbackType, pit: boolean): ValidRecovery {
  const o = asObject(raw, 'input');
  const collection = collectionName(o);
  let selector: ValidRecovery['selector'];
  if (pit) {
    const t = requireString(o, 'atOrBefore', 64);
    if (Number.isNaN(Date.parse(t)) || !/^\d{4}-\d\d-\d\dT/.test(t))
      throw new InputError('atOrBefore', `'${t}' is not an ISO 8601 time`);
    selector = { atOrBefore: new Date(Date.parse(t)).toISOString() };
  } else if (o.backup === undefined || o.backup === 'latest') {
    selector = { latest: true };
  } else {
    if (!isValidBackupName(o.backup))
      throw new InputError('backup', `${JSON.stringify(o.backup)} is not a valid backup name`);
    selector = { name: o.backup };
  }
  let app: AppRef | undefined;
  if (o.app !== undefined) {
    const ao = asObject(o.app, 'app');
    app = {
      containerName: validateContainerName(requireString(ao, 'containerName', 100), 'app.containerName'),
      healthUrl: validateHttpUrl(requireString(ao, 'healthUrl', 2000), 'app.healthUrl'),
      healthTimeoutSeconds: optionalInt(ao, 'healthTimeoutSeconds', 60, 1, 3600, 'app.healthTimeoutSeconds'),
    };
  }
  const m = o.monitor === undefined ? undefined : asObject(o.monitor, 'monitor');
  const durationSeconds = optionalInt(m, 'durationSeconds', app ? 1800 : 0, 0, 7 * 86400, 'monitor.durationSeconds');
  const intervalSeconds = optionalInt(m, 'intervalSeconds', 30, 1, 3600, 'monitor.intervalSeconds');
  const failureThreshold = optionalInt(m, 'failureThreshold', 3, 0, 1000, 'monitor.failureThreshold');
  if (durationSeconds > 0 && !app) throw new InputError('monitor', 'a watch needs app.healthUrl');
  const ap = o.approval === undefined ? undefined : asObject(o.approval, 'approval');
  const preApproved = validatePreApproval(type, ap?.preApproved, 'approval.preApproved');
  const host = validateHost(o.host);
  return {
    collection,
    selector,
    ...(app ? { app } : {}),
    reason: requireString(o, 'reason', 2000),
    requestedBy: requireString(o, 'requestedBy', 200),
    ...(host ? { host } : {}),
    emergencyExport: o.emergencyExport === undefined ? !pit : o.emergencyExport === true,
    monitor: { durationSeconds, intervalSeconds, failureThreshold },
    approval: {
      timeoutSeconds: optionalInt(ap, 'timeoutSeconds', 3600, 1, 7 * 86400, 'approval.timeoutSeconds'),
      ...(preApproved ? { preApproved } : {}),
    },
    stopTimeoutSeconds: optionalInt(o, 'stopTimeoutSeconds', 10, 0, 240),
  };
}

/** Selection by name or 'latest' (a pre-rollback backup is never 'latest'): a corrupt one is refused. */
async function selectOld(
  a: Acts,
  progress: Progress,
  real: string,
  backups: BackupManifest[],
  sel: ValidRecovery['selector'],
): Promise<BackupManifest> {
  const pick =
    'name' in sel
      ? backups.find((b) => b.name === sel.name)
      : 'atOrBefore' in sel
        ? backups.filter((b) => b.createdAt <= sel.atOrBefore).at(-1)
        : backups.filter((b) => !b.name.startsWith('pre-rollback-')).at(-1);
  if (!pick) {
    const what =
      'name' in sel ? `named '${sel.name}'` : 'atOrBefore' in sel ? `at or before ${sel.atOrBefore}` : 'at all';
    throw fail(FailureType.NotFound, `no backup of '${real}' ${what} (${backups.length} backups found)`);
  }
  const v = await progress.step(
    'verify-backup',
    () => a.long.verifyBackup({ collection: real, backupName: pick.name }),
    (r) => (r.ok ? `${pick.name}: checksum ok` : (r.reason ?? '')),
  );
  if (!v.ok)
    throw fail(
      FailureType.VerificationFailed,
      `backup '${pick.name}' is corrupt (${v.reason}); refusing to restore it`,
    );
  return pick;
}

export function qdrantDataRecovery(raw: QdrantRecoveryInput): Promise<QdrantRecoveryResult> {
  return recover(raw, false);
}

/** Runbook Database Scenario 3: the newest backup at or before `atOrBefore`. */
export function pointInTimeRecovery(raw: QdrantRecoveryInput): Promise<QdrantRecoveryResult> {
  return recover(raw, true);
}

async function recover(raw: QdrantRecoveryInput, pit: boolean): Promise<QdrantRecoveryResult> {
  const info = workflowInfo();
  const progress = new Progress('database', `qdrant:${String(raw?.collection)}`);
  const gate = new ApprovalGate('database', progress.status.approvals);
  let input: ValidRecovery;
  try {
    input = validateRecovery(raw, 'database', pit);
  } catch (err) {
    throw invalid(progress, err);
  }
  progress.note('validate-input', 'completed');
  const a = acts(input.host);
  const { collection } = input;
  const runTag = `${stamp()}-${runPart(info.runId)}`;

  // 1. Assess, choose and verify the backup — read-only; a corrupt backup is refused here.
  progress.setPhase('assessing');
  let before: CollectionState;
  let chosen: BackupManifest;
  let selection: BackupSelection | undefined;
  try {
    before = await progress.step(
      'assess-collection',
      () => a.q.qdrantInspect({ collection }),
      (s) => (s.exists ? `${s.pointsCount} points` : 'does not exist'),
    );
    const real = before.aliasOf ?? collection;
    const backups = await a.q.listBackups({ collection: real });
    const sel = input.selector;
    if ('atOrBefore' in sel && patched('qdrant-pit-newest-verified')) {
      ({ chosen, selection } = await selectPointInTime(a, progress, real, backups, sel.atOrBefore));
    } else {
      chosen = await selectOld(a, progress, real, backups, sel);
    }
  } catch (err) {
    throw failedBeforeAnyChange(progress, err);
  }
  const real = before.aliasOf ?? collection;

  // 2. Emergency export and pre-rollback backup of what is there now (still nothing destructive).
  let emergencyExport: QdrantRecoveryResult['emergencyExport'];
  if (before.exists) {
    progress.setPhase('backing-up-current');
    if (input.emergencyExport) {
      const ex = await progress.step(
        'emergency-export',
        () => a.long.qdrantExportNdjson({ collection: real, exportName: `emergency-${runTag}` }),
        (e) => `${e.exported} points → ${e.path}`,
      );
      emergencyExport = { path: ex.path, exported: ex.exported, checksum: ex.checksum };
    }
  }
  // The restorable pre-rollback backup is taken after approval, once the writers are stopped, so that it holds
  // exactly what the restore replaces (approval may take hours).
  const preBackup = before.exists ? `pre-rollback-${runTag}` : undefined;

  // 3. Approval by an engineering manager or higher.
  const decision = await awaitApproval(progress, gate, input.approval.timeoutSeconds, input.approval.preApproved);
  const base = {
    workflowId: info.workflowId,
    collection,
    before,
    approvals: progress.status.approvals,
    timeline: progress.status.steps,
    ...(emergencyExport ? { emergencyExport } : {}),
  };
  if (decision.decision !== 'approved') {
    progress.setPhase(decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out');
    return { ...base, outcome: decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out' };
  }

  // 4. Stop the writers, restore, verify, restart — with undos pushed before each step.
  const undos: Undo[] = [];
  let after: CollectionState;
  let sample: QdrantRecoveryResult['sampleQuery'] & object;
  let readiness: QdrantRecoveryResult['readiness'];
  try {
    progress.setPhase('restoring');
    if (input.app) {
      const app = input.app;
      undos.push({
        name: `start '${app.containerName}'`,
        run: () => a.op.startContainer({ name: app.containerName }),
        manual: `start the application: docker start ${app.containerName}${input.host ? ` (on host ${input.host})` : ''}, then check ${app.healthUrl}`,
      });
      await progress.step('stop-application', () =>
        a.op.stopContainer({ name: app.containerName, timeoutSeconds: input.stopTimeoutSeconds }),
      );
    }
    if (preBackup) {
      const name = preBackup;
      progress.setPhase('backing-up-current');
      const pre = await takeBackup(a, progress, real, name, chosen.name);
      progress.setPhase('restoring');
      undos.push({
        name: `restore '${real}' from ${name}`,
        run: () => a.long.qdrantRestoreBackup({ collection: real, backupName: name }),
        manual: manualRestore(real, name, pre.manifest),
      });
    }
    await progress.step(
      'restore-backup',
      () => a.long.qdrantRestoreBackup({ collection: real, backupName: chosen.name }),
      (r) => `${r.pointsCount} points`,
    );
    progress.setPhase('verifying');
    if (patched('qdrant-readyz-after-restore')) {
      readiness = await progress.step(
        'verify-qdrant-ready',
        () => a.wait.qdrantReady({ timeoutSeconds: 60 }),
        (r) => `/readyz ${r.status ?? 'unreachable'}: ${r.body}`,
      );
      if (!readiness.ready)
        throw fail(
          FailureType.VerificationFailed,
          `Qdrant is not ready after restoring '${real}' (/readyz ${readiness.status ?? 'unreachable'}: ${readiness.body})`,
        );
    }
    after = await progress.step(
      'verify-count',
      () => a.q.qdrantInspect({ collection: real }),
      (s) => `${s.pointsCount} points (backup: ${chosen.pointsCount})`,
    );
    const lo = Math.min(chosen.pointsCount, chosen.pointsCountBefore ?? chosen.pointsCount);
    const hi = Math.max(chosen.pointsCount, chosen.pointsCountBefore ?? chosen.pointsCount);
    if (after.pointsCount < lo || after.pointsCount > hi) {
      const expected = lo === hi ? `${lo}` : `between ${lo} and ${hi}`;
      throw fail(
        FailureType.VerificationFailed,
        `restored '${real}' has ${after.pointsCount} points, the backup's manifest says ${expected}`,
      );
    }
    const known = chosen.knownAnswers;
    if (known && known.probes.length > 0 && patched('qdrant-restore-known-answers')) {
      const now = await progress.step(
        'verify-known-answers',
        () => a.q.qdrantSearchProbe({ collection: real, ids: known.probes.map((p) => p.id), k: known.k }),
        (r) => `${r.probes.length} searches`,
      );
      const differ = known.probes.filter((p, i) => JSON.stringify(now.probes[i]?.top) !== JSON.stringify(p.top));
      sample = { ok: differ.length === 0, knownAnswers: known.probes.length };
      if (differ.length > 0) {
        const d = differ[0]!;
        throw fail(
          FailureType.VerificationFailed,
          `the restored '${real}' does not answer as the backup '${chosen.name}' did: nearest neighbours of point ` +
            `${String(d.id)} were ${JSON.stringify(d.top)} when it was taken, ` +
            `${JSON.stringify(now.probes.find((p) => p.id === d.id)?.top ?? null)} now`,
        );
      }
    } else {
      sample = await progress.step(
        'verify-sample-query',
        () => a.q.qdrantSampleQuery({ collection: real }),
        (s) => (s.ok ? 'a stored vector finds its point' : 'sample query did not find its point'),
      );
      if (!sample.ok)
        throw fail(
          FailureType.VerificationFailed,
          `a sample query on the restored '${real}' did not find the point whose vector it used`,
        );
    }
    if (input.app) {
      const app = input.app;
      await progress.step('start-application', () => a.op.startContainer({ name: app.containerName }));
      const h = await progress.step(
        'verify-application-health',
        () => a.wait.waitHealthy({ url: app.healthUrl, timeoutSeconds: app.healthTimeoutSeconds ?? 60 }),
        (w) => (w.healthy ? 'healthy' : 'unhealthy'),
      );
      if (!h.healthy)
        throw fail(
          FailureType.VerificationFailed,
          `'${app.containerName}' did not answer healthy at ${app.healthUrl} after the restore`,
        );
    }
  } catch (err) {
    await CancellationScope.nonCancellable(() =>
      compensate(
        progress,
        undos,
        err,
        `'${real}' and the application are back as they were before (from ${preBackup ?? 'nothing to restore'})`,
      ),
    );
    throw err;
  }

  // 5. Watch the application.
  let monitoring: MonitorSummary | undefined;
  if (input.app && input.monitor.durationSeconds > 0) {
    const app = input.app;
    progress.setPhase('monitoring');
    monitoring = await progress.step('monitor', () =>
      watchHealth(
        input.monitor,
        (): Promise<HealthSample> => a.probe.probeHealth({ url: app.healthUrl }),
        (live) => (progress.status.monitoring = live),
      ),
    );
    if (monitoring.breached) {
      throw fail(
        FailureType.MonitoringBreach,
        `'${app.containerName}' failed ${monitoring.maxConsecutiveFailures} consecutive health checks after the restore; the pre-rollback backup ${preBackup ?? '(none)'} is kept`,
      );
    }
  }
  progress.setPhase('completed');
  return {
    ...base,
    outcome: 'succeeded',
    restoredFrom: chosen,
    ...(preBackup ? { preRollbackBackup: preBackup } : {}),
    after,
    sampleQuery: sample,
    ...(selection ? { selection } : {}),
    ...(readiness ? { readiness } : {}),
    ...(monitoring ? { monitoring } : {}),
  };
}

function aliasManual(alias: string, collection: string): string {
  return (
    `point alias '${alias}' at '${collection}': curl -X POST '<qdrant>/collections/aliases' -H 'content-type: application/json' ` +
    `-d '{"actions":[{"delete_alias":{"alias_name":"${alias}"}},{"create_alias":{"alias_name":"${alias}","collection_name":"${collection}"}}]}'`
  );
}

/** The manual steps to restore `collection` from a backup, for a compensation that could not do it. */
function manualRestore(collection: string, backupName: string, m?: BackupManifest): string {
  const file = m
    ? `${m.collection}/${m.name}/${m.snapshotFile}`
    : `${collection}/${backupName}/<snapshot named in its manifest.json>`;
  return (
    `restore collection '${collection}' from backup '${backupName}' (file ${file} in the backup directory` +
    `${m ? `, ${m.pointsCount} points, sha256 ${m.checksum}` : ''}): ` +
    `run \`cortex-rollback start qdrant-recovery --collection ${collection} --backup ${backupName}\`, or upload the file ` +
    `with curl -X POST '<qdrant>/collections/${collection}/snapshots/upload?priority=snapshot' -F snapshot=@<file>`
  );
}

async function compensate(progress: Progress, undos: Undo[], err: unknown, restoredText: string): Promise<never> {
  const what = isCancellation(err)
    ? 'the rollback was cancelled'
    : errorMessage((err as { cause?: unknown }).cause ?? err);
  progress.setPhase('compensating');
  const { failed, manual } = await runUndos(progress, undos);
  const summary =
    failed.length > 0
      ? `${what}. RESTORE FAILED — manual action needed: ${failed.join('; ')}. ` +
        `Do by hand, in this order: ${manual.map((m, i) => `(${i + 1}) ${m}`).join(' ')}`
      : undos.length === 0
        ? `${what}. Nothing had been changed.`
        : `${what}. Restored: ${restoredText}.`;
  progress.setPhase(failed.length > 0 ? 'compensation-failed' : 'rolled-back-to-previous');
  progress.status.error = summary;
  if (isCancellation(err)) throw err;
  const inner = innerFailure(err);
  throw fail(
    failed.length > 0
      ? FailureType.CompensationFailed
      : ((inner?.type as FailureType | undefined) ?? FailureType.VerificationFailed),
    summary,
  );
}

// ---------------------------------------------------------------- schema rollback

export interface QdrantSchemaRollbackInput {
  /** The name the application uses; an alias in the default (non-destructive) mode. */
  collection: string;
  target: { size: number; distance?: 'Cosine' | 'Dot' | 'Euclid' | 'Manhattan' };
  /** 'alias' (default): build a new collection and switch the alias; 'recreate': the runbook's delete and recreate. */
  mode?: 'alias' | 'recreate';
  /** Re-embed from payload[contentField] with the worker's configured provider when the sizes differ. */
  reembed?: { contentField: string };
  batchSize?: number;
  reason: string;
  requestedBy: string;
  host?: string;
  approval?: { timeoutSeconds?: number; preApproved?: PreApproval };
}

export interface QdrantSchemaRollbackResult {
  outcome: 'succeeded' | 'rejected' | 'approval-timed-out';
  collection: string;
  from: { collection: string; vectors?: VectorParams; pointsCount: number };
  to: { collection: string; vectors: VectorParams; pointsCount?: number };
  keptCollection?: string;
  preRollbackBackup: string;
  reembedded: boolean;
  approvals: ApprovalRecord[];
  timeline: StepRecord[];
}

export async function qdrantSchemaRollback(raw: QdrantSchemaRollbackInput): Promise<QdrantSchemaRollbackResult> {
  const info = workflowInfo();
  const progress = new Progress('database', `qdrant:${String(raw?.collection)}`);
  const gate = new ApprovalGate('database', progress.status.approvals);
  let v: {
    collection: string;
    target: VectorParams & { distance?: string };
    mode: 'alias' | 'recreate';
    reembed?: { contentField: string };
    batchSize: number;
    host?: string;
    timeoutSeconds: number;
    preApproved?: PreApproval;
  };
  try {
    const o = asObject(raw, 'input');
    const t = asObject(o.target, 'target');
    const size = optionalInt(t, 'size', -1, 1, 65536, 'target.size');
    if (size < 0) throw new InputError('target.size', 'is required');
    const distance = t.distance;
    if (distance !== undefined && !['Cosine', 'Dot', 'Euclid', 'Manhattan'].includes(distance as string)) {
      throw new InputError('target.distance', 'must be Cosine, Dot, Euclid or Manhattan');
    }
    const mode = o.mode ?? 'alias';
    if (mode !== 'alias' && mode !== 'recreate') throw new InputError('mode', "must be 'alias' or 'recreate'");
    let reembed: { contentField: string } | undefined;
    if (o.reembed !== undefined)
      reembed = { contentField: requireString(asObject(o.reembed, 'reembed'), 'contentField', 200) };
    const ap = o.approval === undefined ? undefined : asObject(o.approval, 'approval');
    const preApproved = validatePreApproval('database', ap?.preApproved, 'approval.preApproved');
    const host = validateHost(o.host);
    requireString(o, 'reason', 2000);
    requireString(o, 'requestedBy', 200);
    v = {
      collection: collectionName(o),
      target: { size, distance: (distance as string | undefined) ?? '' },
      mode,
      ...(reembed ? { reembed } : {}),
      batchSize: optionalInt(o, 'batchSize', 256, 1, 10000),
      ...(host ? { host } : {}),
      timeoutSeconds: optionalInt(ap, 'timeoutSeconds', 3600, 1, 7 * 86400, 'approval.timeoutSeconds'),
      ...(preApproved ? { preApproved } : {}),
    };
  } catch (err) {
    throw invalid(progress, err);
  }
  const a = acts(v.host);
  const runTag = `${stamp()}-${runPart(info.runId)}`;

  // 1. Assess and check the fit — nothing is created, switched or deleted before this passes.
  progress.setPhase('assessing');
  let state: CollectionState;
  let target: VectorParams;
  try {
    state = await progress.step(
      'assess-collection',
      () => a.q.qdrantInspect({ collection: v.collection }),
      (s) =>
        `${s.pointsCount} points, vectors ${JSON.stringify(s.vectors)}${s.aliasOf ? `, alias of ${s.aliasOf}` : ''}`,
    );
    if (!state.exists) throw fail(FailureType.NotFound, `collection '${v.collection}' does not exist`);
    if (!state.vectors)
      throw fail(
        FailureType.InvalidInput,
        `'${v.collection}' uses named vectors; only a single unnamed vector config is supported`,
      );
    if (v.mode === 'alias' && !state.aliasOf) {
      throw fail(
        FailureType.InvalidInput,
        `'${v.collection}' is a collection, not an alias: the non-destructive mode switches an alias; point the application at an alias first, or choose mode 'recreate'`,
      );
    }
    target = { size: v.target.size, distance: v.target.distance || state.vectors.distance };
    if (state.vectors.size === target.size && state.vectors.distance === target.distance) {
      throw fail(FailureType.InvalidInput, `'${v.collection}' already has vectors ${target.size}/${target.distance}`);
    }
    if (state.vectors.size !== target.size && !v.reembed) {
      throw fail(
        FailureType.InvalidInput,
        `the stored vectors have ${state.vectors.size} dimensions and do not fit a ${target.size}-dimensional collection; ` +
          `refusing. Configure a re-embedding provider and pass reembed.contentField to re-embed from stored content`,
      );
    }
  } catch (err) {
    throw failedBeforeAnyChange(progress, err);
  }
  const source = state.aliasOf ?? v.collection;
  const reembed = state.vectors.size !== target.size;

  // 2. Pre-rollback backup, then approval.
  progress.setPhase('backing-up-current');
  const preBackup = `pre-rollback-${runTag}`;
  const decision = await awaitApproval(progress, gate, v.timeoutSeconds, v.preApproved);
  const base = {
    collection: v.collection,
    from: { collection: source, vectors: state.vectors, pointsCount: state.pointsCount },
    preRollbackBackup: preBackup,
    reembedded: reembed,
    approvals: progress.status.approvals,
    timeline: progress.status.steps,
  };
  if (decision.decision !== 'approved') {
    progress.setPhase(decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out');
    return {
      ...base,
      to: { collection: source, vectors: target },
      outcome: decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out',
    };
  }

  const copy = (from: string, to: string) =>
    progress.step(
      `copy ${from} → ${to}`,
      () =>
        a.long.qdrantCopyPoints({
          source: from,
          target: to,
          batchSize: v.batchSize,
          ...(reembed && v.reembed ? { reembed: { contentField: v.reembed.contentField, size: target.size } } : {}),
        }),
      (c) => `${c.copied} points`,
    );
  const verifyCount = async (name: string, from = source) => {
    const s = await progress.step(
      `verify ${name}`,
      () => a.q.qdrantInspect({ collection: name }),
      (x) => `${x.pointsCount} points`,
    );
    if (s.pointsCount !== state.pointsCount)
      throw fail(
        FailureType.VerificationFailed,
        `'${name}' has ${s.pointsCount} points, the source had ${state.pointsCount}`,
      );
    if (patched('qdrant-schema-compare-sample')) {
      // known before the change: the points of the collection copied from (payloads, and vectors unless re-embedded)
      const c = await progress.step(
        `compare ${name} with ${from}`,
        () =>
          a.q.qdrantCompareSample({
            source: from,
            target: name,
            samples: 16,
            vectors: reembed ? { size: target.size } : { same: true },
          }),
        (r) => (r.problems.length ? r.problems.join('; ') : `${r.checked} points as in ${from}`),
      );
      if (c.problems.length > 0)
        throw fail(
          FailureType.VerificationFailed,
          `'${name}' is not a faithful copy of '${from}': ${c.problems.slice(0, 5).join('; ')}`,
        );
    } else {
      const q = await a.q.qdrantSampleQuery({ collection: name });
      if (!q.ok) throw fail(FailureType.VerificationFailed, `a sample query on '${name}' did not find its point`);
    }
    return s;
  };

  const undos: Undo[] = [];
  try {
    progress.setPhase('backing-up-current');
    await takeBackup(a, progress, source, preBackup);
    progress.setPhase('migrating');
    if (v.mode === 'alias') {
      const next = `${source}-v${target.size}-${runPart(info.runId)}`;
      undos.push({
        name: `delete the new '${next}'`,
        run: () => a.q.qdrantDeleteCollection({ collection: next }),
        manual: `delete the unused collection '${next}': curl -X DELETE '<qdrant>/collections/${next}'`,
      });
      await progress.step(`create ${next}`, () => a.q.qdrantEnsureCollection({ collection: next, vectors: target }));
      await copy(source, next);
      const s = await verifyCount(next);
      undos.push({
        name: `point '${v.collection}' back at '${source}'`,
        run: () => a.q.qdrantSwitchAlias({ alias: v.collection, collection: source }),
        manual: aliasManual(v.collection, source),
      });
      await progress.step(`switch alias ${v.collection} → ${next}`, () =>
        a.q.qdrantSwitchAlias({ alias: v.collection, collection: next }),
      );
      progress.setPhase('completed');
      return {
        ...base,
        outcome: 'succeeded',
        to: { collection: next, vectors: target, pointsCount: s.pointsCount },
        keptCollection: source,
      };
    }
    // recreate: staging copy first, so the original is deleted only once its data is safely elsewhere too.
    const staging = `${source}-staging-${runPart(info.runId)}`;
    const repointAlias = async () => {
      // deleting a collection drops the aliases pointing at it: put the application's name back
      if (state.aliasOf) await a.q.qdrantSwitchAlias({ alias: v.collection, collection: source });
    };
    undos.push({
      name: `delete the staging '${staging}'`,
      run: () => a.q.qdrantDeleteCollection({ collection: staging }),
      manual: `once '${source}' is restored, delete the staging copy '${staging}' (it holds the rolled-back vectors): curl -X DELETE '<qdrant>/collections/${staging}'`,
    });
    await progress.step(`create ${staging}`, () =>
      a.q.qdrantEnsureCollection({ collection: staging, vectors: target }),
    );
    await copy(source, staging);
    await verifyCount(staging);
    undos.push({
      name: `restore '${source}' from ${preBackup}`,
      run: async () => {
        await a.q.qdrantDeleteCollection({ collection: source }); // a recreated one has the other vector params
        await a.long.qdrantRestoreBackup({ collection: source, backupName: preBackup });
        await repointAlias();
      },
      manual:
        `delete '${source}' if it exists with the new vector params (curl -X DELETE '<qdrant>/collections/${source}'), then ` +
        manualRestore(source, preBackup) +
        (state.aliasOf ? `; then ${aliasManual(v.collection, source)}` : ''),
    });
    await progress.step(`delete ${source}`, () => a.q.qdrantDeleteCollection({ collection: source }));
    await progress.step(`recreate ${source}`, () =>
      a.q.qdrantEnsureCollection({ collection: source, vectors: target }),
    );
    await progress.step(`copy ${staging} → ${source}`, () =>
      a.long.qdrantCopyPoints({ source: staging, target: source, batchSize: v.batchSize }),
    );
    await repointAlias();
    const s = await verifyCount(source, staging);
    await a.q.qdrantDeleteCollection({ collection: staging });
    progress.setPhase('completed');
    return { ...base, outcome: 'succeeded', to: { collection: source, vectors: target, pointsCount: s.pointsCount } };
  } catch (err) {
    await CancellationScope.nonCancellable(() =>
      compensate(progress, undos, err, `'${v.collection}' serves the previous vectors again`),
    );
    throw err;
  }
}

// ---------------------------------------------------------------- config rollback

export interface QdrantConfigRollbackInput {
  collection: string;
  /** The collection config to return to: fields of Qdrant's UpdateCollection (optimizers_config, hnsw_config, params, quantization_config). */
  target: Record<string, unknown>;
  reason: string;
  requestedBy: string;
  host?: string;
  approval?: { timeoutSeconds?: number; preApproved?: PreApproval };
}

const PATCHABLE = ['optimizers_config', 'hnsw_config', 'params', 'quantization_config', 'strict_mode_config'];

/** `want` is contained in `have`: every leaf of want equals the same leaf of have. */
export function configContains(have: unknown, want: unknown): boolean {
  if (want === null || typeof want !== 'object') return JSON.stringify(have) === JSON.stringify(want);
  if (have === null || typeof have !== 'object') return false;
  return Object.entries(want as Record<string, unknown>).every(([k, w]) =>
    configContains((have as Record<string, unknown>)[k], w),
  );
}

/** Collection info names it `optimizer_config`; the PATCH body names it `optimizers_config`. Speak the PATCH's. */
function patchView(config: unknown): Record<string, unknown> {
  const c = { ...((config ?? {}) as Record<string, unknown>) };
  if ('optimizer_config' in c) {
    c.optimizers_config = c.optimizer_config;
    delete c.optimizer_config;
  }
  return c;
}

function pick(config: unknown, like: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, w] of Object.entries(like)) {
    const h = (config as Record<string, unknown> | undefined)?.[k];
    out[k] =
      w !== null && typeof w === 'object' && h !== null && typeof h === 'object'
        ? pick(h, w as Record<string, unknown>)
        : h;
  }
  return out;
}

export async function qdrantConfigRollback(raw: QdrantConfigRollbackInput): Promise<{
  outcome: string;
  before: Record<string, unknown>;
  /** The runbook's test search: nearest neighbours of stored points, the same before and after the PATCH. */
  testSearch?: { probes: number; same: boolean };
  after: unknown;
  approvals: ApprovalRecord[];
  timeline: StepRecord[];
}> {
  const progress = new Progress('configuration', `qdrant:${String(raw?.collection)}`);
  const gate = new ApprovalGate('configuration', progress.status.approvals);
  let collection: string;
  let target: Record<string, unknown>;
  let host: string | undefined;
  let timeoutSeconds: number;
  let preApproved: PreApproval | undefined;
  try {
    const o = asObject(raw, 'input');
    collection = collectionName(o);
    target = asObject(o.target, 'target');
    for (const k of Object.keys(target)) {
      if (k === 'vectors' || (k === 'params' && configContainsKey(target.params, ['vectors', 'size', 'distance']))) {
        throw new InputError(
          `target.${k}`,
          'vector size and distance cannot be changed by a config rollback: use the qdrantSchemaRollback workflow',
        );
      }
      if (!PATCHABLE.includes(k))
        throw new InputError(
          `target.${k}`,
          `is not a collection setting Qdrant can change (allowed: ${PATCHABLE.join(', ')})`,
        );
    }
    if (Object.keys(target).length === 0) throw new InputError('target', 'names no setting to change');
    requireString(o, 'reason', 2000);
    requireString(o, 'requestedBy', 200);
    host = validateHost(o.host);
    const ap = o.approval === undefined ? undefined : asObject(o.approval, 'approval');
    timeoutSeconds = optionalInt(ap, 'timeoutSeconds', 3600, 1, 7 * 86400, 'approval.timeoutSeconds');
    preApproved = validatePreApproval('configuration', ap?.preApproved, 'approval.preApproved');
  } catch (err) {
    throw invalid(progress, err);
  }
  const a = acts(host);
  progress.setPhase('assessing');
  const state = await progress
    .step('record-current-config', () => a.q.qdrantInspect({ collection }))
    .catch((e: unknown) => Promise.reject(surfaced(e, ' (nothing was changed)')));
  if (!state.exists)
    throw fail(FailureType.NotFound, `collection '${collection}' does not exist (nothing was changed)`);
  const real = state.aliasOf ?? collection;
  const before = pick(patchView(state.config), target);
  const decision = await awaitApproval(progress, gate, timeoutSeconds, preApproved);
  if (decision.decision !== 'approved') {
    progress.setPhase(decision.decision);
    return {
      outcome: decision.decision,
      before,
      after: state.config,
      approvals: progress.status.approvals,
      timeline: progress.status.steps,
    };
  }
  const undos: Undo[] = [
    {
      name: `re-apply the recorded config of '${real}'`,
      run: () => a.long.qdrantPatchCollection({ collection: real, patch: before }),
      manual: `re-apply the recorded config: curl -X PATCH '<qdrant>/collections/${real}' -H 'content-type: application/json' -d '${JSON.stringify(before)}'`,
    },
  ];
  // Runbook step 7's test search, with an answer known before the change: the nearest neighbours of a few stored
  // points, recorded now and required to be the same after the PATCH.
  const testSearch = patched('qdrant-config-test-search');
  let known: Array<{ id: string | number; top: Array<string | number> }> = [];
  let testSearchResult: { probes: number; same: boolean } | undefined;
  if (testSearch) {
    try {
      known = (
        await progress.step(
          'record-test-search',
          () => a.q.qdrantSearchProbe({ collection: real, samples: 3, k: 5 }),
          (r) => `${r.probes.length} known answers`,
        )
      ).probes;
    } catch (err) {
      throw failedBeforeAnyChange(progress, err);
    }
  }
  try {
    progress.setPhase('applying');
    await progress.step(
      'patch-collection',
      () => a.long.qdrantPatchCollection({ collection: real, patch: target }),
      (r) => `status ${r.status}`,
    );
    const after = await progress.step('verify-config', () => a.q.qdrantInspect({ collection: real }));
    if (!configContains(patchView(after.config), target)) {
      throw fail(
        FailureType.VerificationFailed,
        `'${real}' config after the PATCH does not equal the target: ${JSON.stringify(pick(patchView(after.config), target))}`,
      );
    }
    if (testSearch) {
      const now = await progress.step(
        'test-search',
        () => a.q.qdrantSearchProbe({ collection: real, ids: known.map((k) => k.id), k: 5 }),
        (r) => `${r.probes.length} searches`,
      );
      const differ = known.filter((k, i) => JSON.stringify(now.probes[i]?.top) !== JSON.stringify(k.top));
      testSearchResult = { probes: known.length, same: differ.length === 0 };
      if (differ.length > 0) {
        const d = differ[0]!;
        throw fail(
          FailureType.VerificationFailed,
          `the test search on '${real}' answers differently after the PATCH: neighbours of point ${String(d.id)} were ` +
            `${JSON.stringify(d.top)} before, ${JSON.stringify(now.probes.find((p) => p.id === d.id)?.top ?? null)} after`,
        );
      }
    }
    progress.setPhase('completed');
    return {
      outcome: 'succeeded',
      before,
      ...(testSearchResult ? { testSearch: testSearchResult } : {}),
      after: pick(patchView(after.config), target),
      approvals: progress.status.approvals,
      timeline: progress.status.steps,
    };
  } catch (err) {
    await CancellationScope.nonCancellable(() =>
      compensate(progress, undos, err, `the recorded config of '${real}' is re-applied`),
    );
    throw err;
  }
}

function configContainsKey(v: unknown, keys: string[]): boolean {
  if (v === null || typeof v !== 'object') return false;
  return Object.entries(v as Record<string, unknown>).some(([k, x]) => keys.includes(k) || configContainsKey(x, keys));
}
