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
import type {
  Activities,
  BackupManifest,
  CarriedSettings,
  CollectionState,
  HealthSample,
  VectorParams,
} from '../activities/index.ts';
import { hostTaskQueue } from '../common/config.ts';
import { configContains } from '../common/config-contains.ts';
import { FailureType } from '../common/failures.ts';
import { runSuffix } from '../common/names.ts';
import type { RollbackType } from '../common/roles.ts';
import { ApprovalGate, awaitApproval, type ApprovalRecord } from './phases/approval.ts';
import { runUndos, type Undo } from './phases/saga.ts';
import { failedBeforeAnyChange, fail, innerFailure, surfaced } from './phases/failures.ts';
import { watchHealth, type MonitorSummary } from './phases/monitor.ts';
import { dockerOp, longWait, probe, quick, transfer } from './phases/profiles.ts';
import { errorMessage, Progress, type StepRecord } from './phases/progress.ts';
import {
  asObject,
  InputError,
  onlyKnownFields,
  optionalBool,
  optionalInt,
  optionalObject,
  requireLine,
  requireString,
  show,
  validateBackupName,
  validateCollectionName,
  validateContainerName,
  validateHost,
  validateHttpUrl,
  validatePreApproval,
  watchSettings,
  type PreApproval,
} from './phases/validation.ts';

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
  return validateCollectionName(o[field], field);
}

const APPROVAL_FIELDS = ['timeoutSeconds', 'preApproved'];

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

export function validateBackupInput(raw: unknown): {
  collection: string;
  mode: 'backup' | 'verify';
  backupName?: string;
  host?: string;
} {
  const o = asObject(raw, 'input');
  onlyKnownFields(o, ['collection', 'mode', 'backupName', 'host']);
  const collection = collectionName(o);
  const mode = o.mode ?? 'backup';
  if (mode !== 'backup' && mode !== 'verify')
    throw new InputError('mode', `must be 'backup' or 'verify', got ${show(mode)}`);
  const backupName = o.backupName == null ? undefined : validateBackupName(o.backupName, 'backupName');
  const host = validateHost(o.host);
  return { collection, mode, ...(backupName ? { backupName } : {}), ...(host ? { host } : {}) };
}

export async function qdrantBackup(raw: QdrantBackupInput): Promise<BackupResult> {
  const progress = new Progress('backup', `qdrant:${String(raw?.collection)}`);
  let collection: string;
  let mode: 'backup' | 'verify';
  let host: string | undefined;
  try {
    ({ collection, mode, host } = validateBackupInput(raw));
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

const RECOVERY_FIELDS = [
  'collection',
  'app',
  'reason',
  'requestedBy',
  'host',
  'emergencyExport',
  'monitor',
  'approval',
  'stopTimeoutSeconds',
];

// An ISO 8601 time with its zone: a zoneless time would be read in the worker's local zone.
const ISO_TIME = /^(\d{4})-(\d\d)-(\d\d)T\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:\d\d)$/;

function pointInTime(o: Record<string, unknown>): string {
  const t = requireString(o, 'atOrBefore', 64);
  const m = ISO_TIME.exec(t);
  const ms = Date.parse(t);
  const [y, mo, d] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  // Date.parse accepts 2026-02-30 (as 2 March): check the day exists
  if (!m || Number.isNaN(ms) || mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) {
    throw new InputError('atOrBefore', `${show(t)} is not an ISO 8601 time with a zone (e.g. 2026-11-28T17:45:00Z)`);
  }
  // a future time would silently mean "the latest backup": most likely a typo in the year
  if (ms > Date.now() + 60_000) throw new InputError('atOrBefore', `${show(t)} is in the future`);
  return new Date(ms).toISOString();
}

/** Input of qdrantDataRecovery (`pit` false) and pointInTimeRecovery (`pit` true). */
export function validateRecovery(raw: unknown, type: RollbackType, pit: boolean): ValidRecovery {
  const o = asObject(raw, 'input');
  if (pit && 'backup' in o) {
    throw new InputError(
      'backup',
      'pointInTimeRecovery chooses the backup by atOrBefore: use qdrantDataRecovery to name one',
    );
  }
  if (!pit && 'atOrBefore' in o) {
    throw new InputError('atOrBefore', 'qdrantDataRecovery does not take a time: use pointInTimeRecovery');
  }
  onlyKnownFields(o, [...RECOVERY_FIELDS, pit ? 'atOrBefore' : 'backup']);
  const collection = collectionName(o);
  let selector: ValidRecovery['selector'];
  if (pit) {
    selector = { atOrBefore: pointInTime(o) };
  } else if (o.backup === undefined || o.backup === null || o.backup === 'latest') {
    selector = { latest: true };
  } else {
    selector = { name: validateBackupName(o.backup, 'backup') };
  }
  let app: AppRef | undefined;
  const ao = optionalObject(o, 'app', ['containerName', 'healthUrl', 'healthTimeoutSeconds']);
  if (ao) {
    app = {
      containerName: validateContainerName(ao.containerName, 'app.containerName'),
      healthUrl: validateHttpUrl(ao.healthUrl, 'app.healthUrl'),
      healthTimeoutSeconds: optionalInt(ao, 'healthTimeoutSeconds', 60, 1, 3600, 'app.healthTimeoutSeconds'),
    };
  }
  const monitor = watchSettings(o, { durationSeconds: app ? 1800 : 0, intervalSeconds: 30, failureThreshold: 3 });
  if (monitor.durationSeconds > 0 && !app) throw new InputError('monitor', 'a watch needs app.healthUrl');
  const ap = optionalObject(o, 'approval', APPROVAL_FIELDS);
  const preApproved = validatePreApproval(type, ap?.preApproved, 'approval.preApproved');
  const host = validateHost(o.host);
  return {
    collection,
    selector,
    ...(app ? { app } : {}),
    reason: requireString(o, 'reason', 2000),
    requestedBy: requireLine(o, 'requestedBy', 200),
    ...(host ? { host } : {}),
    emergencyExport: optionalBool(o, 'emergencyExport', !pit),
    monitor,
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
  /** `vectorName`: the named vector to roll back (the other named vectors are carried); absent for an unnamed vector. */
  target: { size: number; distance?: 'Cosine' | 'Dot' | 'Euclid' | 'Manhattan'; vectorName?: string };
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
  /** The named vector rolled back, when not the unnamed one. */
  vectorName?: string;
  keptCollection?: string;
  preRollbackBackup: string;
  reembedded: boolean;
  /** The source's settings and payload indexes the rolled-back collection took over, and those it could not. */
  settings?: CarriedSettings;
  approvals: ApprovalRecord[];
  timeline: StepRecord[];
}

interface ValidSchemaRollback {
  collection: string;
  target: VectorParams & { distance?: string; vectorName?: string };
  mode: 'alias' | 'recreate';
  reembed?: { contentField: string };
  batchSize: number;
  host?: string;
  timeoutSeconds: number;
  preApproved?: PreApproval;
}

export function validateSchemaRollbackInput(raw: unknown): ValidSchemaRollback {
  const o = asObject(raw, 'input');
  onlyKnownFields(o, [
    'collection',
    'target',
    'mode',
    'reembed',
    'batchSize',
    'reason',
    'requestedBy',
    'host',
    'approval',
  ]);
  const collection = collectionName(o);
  const t = asObject(o.target, 'target');
  onlyKnownFields(t, ['size', 'distance', 'vectorName'], 'target.');
  const size = optionalInt(t, 'size', -1, 1, 65536, 'target.size');
  if (size < 0) throw new InputError('target.size', 'is required');
  const distance = t.distance ?? undefined;
  if (distance !== undefined && !['Cosine', 'Dot', 'Euclid', 'Manhattan'].includes(distance as string)) {
    throw new InputError('target.distance', `must be Cosine, Dot, Euclid or Manhattan, got ${show(distance)}`);
  }
  const vectorName = t.vectorName === undefined ? undefined : requireLine(t, 'vectorName', 255, 'target.vectorName');
  if (vectorName !== undefined && vectorName !== t.vectorName)
    throw new InputError('target.vectorName', 'must not start or end with spaces');
  const mode = o.mode ?? 'alias';
  if (mode !== 'alias' && mode !== 'recreate') {
    throw new InputError('mode', `must be 'alias' or 'recreate', got ${show(mode)}`);
  }
  const re = optionalObject(o, 'reembed', ['contentField']);
  const reembed = re ? { contentField: requireLine(re, 'contentField', 200, 'reembed.contentField') } : undefined;
  const ap = optionalObject(o, 'approval', APPROVAL_FIELDS);
  const preApproved = validatePreApproval('database', ap?.preApproved, 'approval.preApproved');
  const host = validateHost(o.host);
  requireString(o, 'reason', 2000);
  requireLine(o, 'requestedBy', 200);
  return {
    collection,
    target: { size, distance: (distance as string | undefined) ?? '', ...(vectorName ? { vectorName } : {}) },
    mode,
    ...(reembed ? { reembed } : {}),
    batchSize: optionalInt(o, 'batchSize', 256, 1, 10000),
    ...(host ? { host } : {}),
    timeoutSeconds: optionalInt(ap, 'timeoutSeconds', 3600, 1, 7 * 86400, 'approval.timeoutSeconds'),
    ...(preApproved ? { preApproved } : {}),
  };
}

export async function qdrantSchemaRollback(raw: QdrantSchemaRollbackInput): Promise<QdrantSchemaRollbackResult> {
  const info = workflowInfo();
  const progress = new Progress('database', `qdrant:${String(raw?.collection)}`);
  const gate = new ApprovalGate('database', progress.status.approvals);
  let v: ValidSchemaRollback;
  try {
    v = validateSchemaRollbackInput(raw);
  } catch (err) {
    throw invalid(progress, err);
  }
  const a = acts(v.host);
  const runTag = `${stamp()}-${runPart(info.runId)}`;

  // 1. Assess and check the fit — nothing is created, switched or deleted before this passes.
  progress.setPhase('assessing');
  let state: CollectionState;
  let current: VectorParams;
  let target: VectorParams;
  try {
    state = await progress.step(
      'assess-collection',
      () => a.q.qdrantInspect({ collection: v.collection }),
      (s) =>
        `${s.pointsCount} points, vectors ${JSON.stringify(vectorsConfig(s))}${s.aliasOf ? `, alias of ${s.aliasOf}` : ''}`,
    );
    if (!state.exists) throw fail(FailureType.NotFound, `collection '${v.collection}' does not exist`);
    current = rolledBackVector(v.collection, state, v.target.vectorName);
    if (v.mode === 'alias' && !state.aliasOf) {
      throw fail(
        FailureType.InvalidInput,
        `'${v.collection}' is a collection, not an alias: the non-destructive mode switches an alias; point the application at an alias first, or choose mode 'recreate'`,
      );
    }
    target = { size: v.target.size, distance: v.target.distance || current.distance };
    if (current.size === target.size && current.distance === target.distance) {
      throw fail(FailureType.InvalidInput, `'${v.collection}' already has vectors ${target.size}/${target.distance}`);
    }
    if (current.size !== target.size && !v.reembed) {
      throw fail(
        FailureType.InvalidInput,
        `the stored vectors have ${current.size} dimensions and do not fit a ${target.size}-dimensional collection; ` +
          `refusing. Configure a re-embedding provider and pass reembed.contentField to re-embed from stored content`,
      );
    }
  } catch (err) {
    throw failedBeforeAnyChange(progress, err);
  }
  const source = state.aliasOf ?? v.collection;
  const reembed = current.size !== target.size;
  const vectorName = v.target.vectorName;

  // 2. Pre-rollback backup, then approval.
  progress.setPhase('backing-up-current');
  const preBackup = `pre-rollback-${runTag}`;
  const decision = await awaitApproval(progress, gate, v.timeoutSeconds, v.preApproved);
  const base = {
    collection: v.collection,
    from: { collection: source, vectors: current, pointsCount: state.pointsCount },
    ...(vectorName ? { vectorName } : {}),
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
          ...(reembed && v.reembed
            ? {
                reembed: {
                  contentField: v.reembed.contentField,
                  size: target.size,
                  ...(vectorName ? { vectorName } : {}),
                },
              }
            : {}),
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
            ...(vectorName ? { vectorName } : {}),
          }),
        (r) => (r.problems.length ? r.problems.join('; ') : `${r.checked} points as in ${from}`),
      );
      if (c.problems.length > 0)
        throw fail(
          FailureType.VerificationFailed,
          `'${name}' is not a faithful copy of '${from}': ${c.problems.slice(0, 5).join('; ')}`,
        );
    } else {
      const q = await a.q.qdrantSampleQuery({ collection: name, ...(vectorName ? { using: vectorName } : {}) });
      if (!q.ok) throw fail(FailureType.VerificationFailed, `a sample query on '${name}' did not find its point`);
    }
    return s;
  };

  const createLike = (collection: string, like: string) =>
    a.q.qdrantEnsureCollection({
      collection,
      vectors: target,
      like,
      reembedded: reembed,
      ...(vectorName ? { vectorName } : {}),
    });

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
      const made = await progress.step(`create ${next} like ${source}`, () => createLike(next, source), describeCarry);
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
        ...(made.settings ? { settings: made.settings } : {}),
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
    const staged = await progress.step(
      `create ${staging} like ${source}`,
      () => createLike(staging, source),
      describeCarry,
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
    // the source is gone: the staging collection holds its settings now
    const remade = await progress.step(
      `recreate ${source} like ${staging}`,
      () => createLike(source, staging),
      describeCarry,
    );
    await progress.step(`copy ${staging} → ${source}`, () =>
      a.long.qdrantCopyPoints({ source: staging, target: source, batchSize: v.batchSize }),
    );
    await repointAlias();
    const s = await verifyCount(source, staging);
    await a.q.qdrantDeleteCollection({ collection: staging });
    progress.setPhase('completed');
    const settings = mergeCarried(staged.settings, remade.settings);
    return {
      ...base,
      outcome: 'succeeded',
      to: { collection: source, vectors: target, pointsCount: s.pointsCount },
      ...(settings ? { settings } : {}),
    };
  } catch (err) {
    await CancellationScope.nonCancellable(() =>
      compensate(progress, undos, err, `'${v.collection}' serves the previous vectors again`),
    );
    throw err;
  }
}

/** The collection's `params.vectors`: one VectorParams, or VectorParams by name. */
function vectorsConfig(state: CollectionState): Record<string, unknown> | undefined {
  return (state.config as { params?: { vectors?: Record<string, unknown> } } | undefined)?.params?.vectors;
}

/** The params of the vector being rolled back: the unnamed one, or `vectorName` of a collection of named vectors. */
function rolledBackVector(collection: string, state: CollectionState, vectorName: string | undefined): VectorParams {
  const vectors = vectorsConfig(state);
  if (vectorName === undefined) {
    if (state.vectors) return state.vectors;
    throw fail(
      FailureType.InvalidInput,
      `'${collection}' uses named vectors (${Object.keys(vectors ?? {}).join(', ')}); say which one to roll back in target.vectorName`,
    );
  }
  const named = state.vectors ? undefined : (vectors?.[vectorName] as VectorParams | undefined);
  if (!named || typeof named.size !== 'number') {
    throw fail(
      FailureType.InvalidInput,
      state.vectors
        ? `'${collection}' has a single unnamed vector: leave target.vectorName out`
        : `'${collection}' has no vector named '${vectorName}' (it has ${Object.keys(vectors ?? {}).join(', ')})`,
    );
  }
  return { size: named.size, distance: named.distance };
}

function describeCarry(r: { settings?: CarriedSettings }): string {
  if (!r.settings) return 'vector params only';
  const { carried, notCarried, payloadIndexes } = r.settings;
  return (
    `carried ${carried.length} settings and ${payloadIndexes.length} payload indexes` +
    (notCarried.length ? `; not carried: ${notCarried.map((n) => `${n.setting} (${n.why})`).join('; ')}` : '')
  );
}

/** Recreate mode builds twice (source → staging → source): what the second build could not carry adds up. */
function mergeCarried(first?: CarriedSettings, second?: CarriedSettings): CarriedSettings | undefined {
  if (!first || !second) return second ?? first;
  const seen = new Set(second.notCarried.map((n) => n.setting));
  return { ...second, notCarried: [...first.notCarried.filter((n) => !seen.has(n.setting)), ...second.notCarried] };
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

// The scalar settings of Qdrant 1.19's HnswConfigDiff, OptimizersConfigDiff, CollectionParamsDiff and
// StrictModeConfig (openapi.json), each as [kind, minimum]; 'any' leaves a nested object for Qdrant to judge.
// Qdrant ignores unknown keys, so a misspelt setting would otherwise be "applied" and then fail verification.
type SettingKind = ['int', number] | ['fraction'] | ['number'] | ['bool'] | ['any'];
const SETTINGS: Record<string, Record<string, SettingKind> | 'any'> = {
  hnsw_config: {
    m: ['int', 0],
    ef_construct: ['int', 4],
    full_scan_threshold: ['int', 10],
    max_indexing_threads: ['int', 0],
    on_disk: ['bool'],
    memory: ['any'],
    payload_m: ['int', 0],
    inline_storage: ['bool'],
  },
  optimizers_config: {
    deleted_threshold: ['fraction'],
    vacuum_min_vector_number: ['int', 100],
    default_segment_number: ['int', 0],
    max_segment_size: ['int', 1],
    memmap_threshold: ['int', 0],
    indexing_threshold: ['int', 0],
    flush_interval_sec: ['int', 0],
    max_optimization_threads: ['any'],
    prevent_unoptimized: ['bool'],
  },
  params: {
    replication_factor: ['int', 1],
    write_consistency_factor: ['int', 1],
    read_fan_out_factor: ['int', 0],
    read_fan_out_delay_ms: ['int', 0],
    on_disk_payload: ['bool'],
    payload: ['any'],
  },
  quantization_config: 'any',
  strict_mode_config: {
    enabled: ['bool'],
    max_query_limit: ['int', 1],
    max_timeout: ['int', 1],
    unindexed_filtering_retrieve: ['bool'],
    unindexed_filtering_update: ['bool'],
    search_max_hnsw_ef: ['int', 0],
    search_allow_exact: ['bool'],
    search_max_oversampling: ['number'],
    upsert_max_batchsize: ['int', 0],
    search_max_batchsize: ['int', 0],
    max_collection_vector_size_bytes: ['int', 0],
    read_rate_limit: ['int', 1],
    write_rate_limit: ['int', 1],
    max_collection_payload_size_bytes: ['int', 0],
    max_points_count: ['int', 1],
    filter_max_conditions: ['int', 0],
    condition_max_size: ['int', 0],
    multivector_config: ['any'],
    sparse_config: ['any'],
    max_payload_index_count: ['int', 0],
    max_resident_memory_percent: ['int', 1],
  },
};

function checkSetting(path: string, kind: SettingKind, v: unknown): void {
  if (v === null) throw new InputError(path, 'must not be null: leave the setting out to keep it as it is');
  if (kind[0] === 'any') return;
  const ok =
    kind[0] === 'bool'
      ? typeof v === 'boolean'
      : typeof v === 'number' &&
        Number.isFinite(v) &&
        (kind[0] === 'number' || (kind[0] === 'fraction' ? v >= 0 && v <= 1 : Number.isSafeInteger(v) && v >= kind[1]));
  if (!ok) {
    const want =
      kind[0] === 'bool'
        ? 'true or false'
        : kind[0] === 'fraction'
          ? 'a number from 0 to 1'
          : kind[0] === 'number'
            ? 'a number'
            : `an integer >= ${kind[1]}`;
    throw new InputError(path, `must be ${want}, got ${show(v)}`);
  }
}

export function validateConfigRollbackInput(raw: unknown): {
  collection: string;
  target: Record<string, unknown>;
  host?: string;
  timeoutSeconds: number;
  preApproved?: PreApproval;
} {
  const o = asObject(raw, 'input');
  onlyKnownFields(o, ['collection', 'target', 'reason', 'requestedBy', 'host', 'approval']);
  const collection = collectionName(o);
  const target = asObject(o.target, 'target');
  for (const k of Object.keys(target)) {
    if (k === 'vectors' || (k === 'params' && configContainsKey(target.params, ['vectors', 'size', 'distance']))) {
      throw new InputError(
        `target.${k}`,
        'vector size and distance cannot be changed by a config rollback: use the qdrantSchemaRollback workflow',
      );
    }
  }
  onlyKnownFields(target, PATCHABLE, 'target.');
  if (Object.keys(target).length === 0) throw new InputError('target', 'names no setting to change');
  for (const [k, section] of Object.entries(target)) {
    const table = SETTINGS[k]!;
    if (table === 'any') {
      checkSetting(`target.${k}`, ['any'], section);
      continue;
    }
    const so = asObject(section, `target.${k}`);
    onlyKnownFields(so, Object.keys(table), `target.${k}.`);
    for (const [f, v] of Object.entries(so)) checkSetting(`target.${k}.${f}`, table[f]!, v);
  }
  requireString(o, 'reason', 2000);
  requireLine(o, 'requestedBy', 200);
  const host = validateHost(o.host);
  const ap = optionalObject(o, 'approval', APPROVAL_FIELDS);
  const timeoutSeconds = optionalInt(ap, 'timeoutSeconds', 3600, 1, 7 * 86400, 'approval.timeoutSeconds');
  const preApproved = validatePreApproval('configuration', ap?.preApproved, 'approval.preApproved');
  return { collection, target, ...(host ? { host } : {}), timeoutSeconds, ...(preApproved ? { preApproved } : {}) };
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
    ({ collection, target, host, timeoutSeconds, preApproved } = validateConfigRollbackInput(raw));
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
