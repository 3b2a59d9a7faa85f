// Owns the runbook's "Database Rollback → Scenario 1: Data Corruption Recovery" on Qdrant (`qdrantDataRecovery`) and
// the restore procedure Scenario 3 (point-in-time, point-in-time.ts) shares with it.
// Invariants:
//  - nothing changes before the input is valid, the chosen backup verifies and the rollback is approved;
//  - the writers (the application container) are stopped and a pre-rollback backup is taken before the restore;
//    if a later step fails the workflow restores it, and the error reports what failed and what was restored;
//  - the runbook's non-existent Qdrant endpoints are replaced by real ones: points/export → paged scroll to NDJSON,
//    collections/X/backup → collection snapshots, lock → stopping the writers.
import { CancellationScope, patched, workflowInfo } from '@temporalio/workflow';
import type { BackupManifest, CollectionState, HealthSample } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import type { RollbackType } from '../../common/roles.ts';
import { ApprovalGate, awaitApproval, type ApprovalRecord } from '../phases/approval.ts';
import { compensate, runUndos, type Undo } from '../phases/saga.ts';
import { failedBeforeAnyChange, fail, invalidInput } from '../phases/failures.ts';
import { watchHealth, type MonitorSummary } from '../phases/monitor.ts';
import { Progress, type RunAttributes, type StepRecord } from '../phases/progress.ts';
import { defineScenario, runOf, who, type Scenario } from '../phases/scenario.ts';
import { withLifecycleNotifications, type RollbackNotifications } from '../phases/notify.ts';
import {
  approvalInput,
  bool,
  checked,
  checkWatch,
  hostInput,
  int,
  monitorInputLateDefault,
  parseInput,
  refused,
  scenarioInput,
  searchAttributesInput,
  whoFields,
  type z,
} from '../phases/schema.ts';
import {
  validateBackupName,
  validateContainerName,
  validateHttpUrl,
  type PreApproval,
  type WatchSettings,
} from '../phases/validation.ts';
import { acts, collectionInput, manualRestore, runPart, stamp, type Acts } from './qdrant-common.ts';
import { takeBackup } from './qdrant-backup.ts';

// ---------------------------------------------------------------- data recovery / point in time

/** How long the restarted application must keep answering healthy before the restore counts as done. */
const APP_STABLE_SECONDS = 3;

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

const appInput = scenarioInput({
  containerName: checked<string>((v, f) => validateContainerName(v, f))
    .describe('the application container, stopped during the restore and started after it')
    .meta({ flag: 'app-container', value: 'NAME' }),
  healthUrl: checked<string>((v, f) => validateHttpUrl(v, f))
    .describe("the application's http(s) health endpoint, checked after the restart and watched")
    .meta({ flag: 'app-health-url', value: 'URL' }),
  healthTimeoutSeconds: int(1, 3600)
    .default(60)
    .describe('how long the restarted application has to answer healthy (seconds)')
    .meta({ flag: 'app-health-timeout', value: 'S' }),
})
  .optional()
  .describe("the application whose writes stop during the restore (the runbook's systemctl stop cortex-mcp)");

export type AppRef = z.output<typeof appInput> & object;

/** The fields Scenarios 1 and 3 share; each adds how the backup is chosen. */
export function recoveryFields(emergencyExport: boolean) {
  return {
    collection: collectionInput('the collection (or alias) to restore'),
    searchAttributes: searchAttributesInput(),
    app: appInput,
    ...whoFields,
    host: hostInput(),
    emergencyExport: bool()
      .default(emergencyExport)
      .describe('export every point to NDJSON before anything changes (--no-export skips it)')
      .meta({ flag: 'export' }),
    monitor: monitorInputLateDefault({ intervalSeconds: 30, failureThreshold: 3 }, '1800 with app, else 0').describe(
      "watch of the application's health after the restore (default 1800 s with app, else none)",
    ),
    approval: approvalInput('database'),
    stopTimeoutSeconds: int(0, 240)
      .default(10)
      .describe('grace period when stopping the application (seconds)')
      .meta({ flag: 'stop-timeout', value: 'S' }),
  };
}

/** The watch's default length depends on the app (1800 s with one, none without), and a watch needs an app. */
export function recoveryWatch<T extends { app?: AppRef; monitor: { durationSeconds?: number } }>(
  i: T,
  ctx: z.RefinementCtx,
): T & { monitor: { durationSeconds: number } } {
  const durationSeconds = i.monitor.durationSeconds ?? (i.app ? 1800 : 0);
  const monitor = { ...i.monitor, durationSeconds };
  checkWatch(monitor as WatchSettings, ctx, ['monitor']);
  if (durationSeconds > 0 && !i.app)
    ctx.addIssue({ code: 'custom', path: ['monitor'], message: 'a watch needs app.healthUrl' });
  return { ...i, monitor };
}

export const qdrantRecoveryInput = scenarioInput({
  ...recoveryFields(true),
  backup: checked<string | undefined, string>((v, f) => validateBackupName(v, f))
    .optional()
    .describe("the backup to restore, by name; 'latest' (default): the newest that is not a pre-rollback backup")
    .meta({ value: 'NAME|latest' }),
  atOrBefore: refused('qdrantDataRecovery does not take a time: use pointInTimeRecovery'),
}).transform(recoveryWatch);

export type QdrantRecoveryInput = z.input<typeof qdrantRecoveryInput>;

export const qdrantDataRecoveryScenario = defineScenario({
  name: 'qdrant-data-recovery',
  workflowType: 'qdrantDataRecovery',
  category: 'database',
  runbook: 'Database Rollback → Scenario 1: Data Corruption Recovery',
  summary:
    'restore a verified backup (by name, or the latest): emergency export, stop the writers, pre-rollback backup, restore, verify, restart, watch',
  input: qdrantRecoveryInput,
  summarize: (i) => `restore qdrant:${i.collection} from backup ${i.backup ?? 'latest'}`,
  workflowId: (i) => `rollback-database-${i.collection}`,
  runAttributes: (i) => ({
    service: `qdrant:${i.collection}`,
    targetVersion: `backup ${i.backup ?? 'latest'}`,
    ...who(i),
  }),
});

export interface ValidRecovery {
  collection: string;
  selector: { name: string } | { latest: true } | { atOrBefore: string };
  app?: AppRef;
  host?: string;
  emergencyExport: boolean;
  monitor: WatchSettings;
  approval: { timeoutSeconds: number; preApproved?: PreApproval; expectedImpactMinutes?: number };
  requestedBy?: string;
  stopTimeoutSeconds: number;
  searchAttributes?: boolean;
  /** What the run is for the metrics (the scenario's runAttributes), published when searchAttributes is set. */
  run?: RunAttributes;
}

/** Selection by name or 'latest' (a pre-rollback backup is never 'latest'): a corrupt one is refused. */
export async function selectOld(
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
  return withLifecycleNotifications((notifications) =>
    recover(
      raw,
      (r) => {
        const i = parseInput(qdrantRecoveryInput, r);
        return {
          ...i,
          selector: i.backup === undefined || i.backup === 'latest' ? { latest: true } : { name: i.backup },
          run: runOf(qdrantDataRecoveryScenario, i),
        };
      },
      undefined,
      undefined,
      { notifications, scenario: qdrantDataRecoveryScenario },
    ),
  );
}

export type PointInTimeSelector = (
  a: Acts,
  progress: Progress,
  real: string,
  backups: BackupManifest[],
  at: string,
) => Promise<{ chosen: BackupManifest; selection: BackupSelection }>;

/**
 * How an emergency runs the same restore (workflows/emergency/): without hooks, Scenarios 1 and 3 run exactly as
 * they always did (same commands: their histories replay).
 */
export interface RecoveryHooks {
  /** The runbook category of the status and the gate ('emergency': any engineer acknowledges). */
  rollbackType: RollbackType;
  /** The caller's status, when the restore is one part of a bigger workflow (one `status` query handler). */
  progress?: Progress;
  /** Runs right after the input is valid, before anything else (an emergency notifies first). */
  first?: (progress: Progress, input: ValidRecovery) => Promise<void>;
  /** Other containers writing to the collection: stopped with the application, started after it is healthy. */
  writers?: string[];
  /** Stop the application and the writers before assessing (stop the damage first), not after approval. */
  stopFirst?: boolean;
}

/**
 * The restore procedure of Scenarios 1 and 3: `parse` is the scenario's input validation, `selectAt` chooses the
 * backup for a point in time (Scenario 3) or by age (the emergencies).
 */
export async function recover(
  raw: { collection?: unknown } | undefined,
  parse: (raw: unknown) => ValidRecovery,
  selectAt?: PointInTimeSelector,
  hooks?: RecoveryHooks,
  lifecycle?: { notifications: RollbackNotifications; scenario: Scenario },
): Promise<QdrantRecoveryResult> {
  const info = workflowInfo();
  const kind = hooks?.rollbackType ?? 'database';
  const progress = hooks?.progress ?? new Progress(kind, `qdrant:${String(raw?.collection)}`);
  const gate = new ApprovalGate(kind, progress.status.approvals);
  let input: ValidRecovery;
  try {
    input = parse(raw);
  } catch (err) {
    throw invalidInput(progress, err);
  }
  // only when asked: a caller's progress (an emergency) may already publish its own
  if (input.searchAttributes) {
    progress.searchAttributesEnabled = true;
    progress.publishSearchAttributes(input.run);
  }
  progress.note('validate-input', 'completed');
  // the parsed scenario input (`parse` spreads it): its summary, requester and reason
  await lifecycle?.notifications.started(progress, lifecycle.scenario, input);
  const a = acts(input.host);
  const { collection } = input;
  const runTag = `${stamp()}-${runPart(info.runId)}`;
  if (hooks?.first) await hooks.first(progress, input);
  const writers = hooks?.writers ?? [];
  const undos: Undo[] = [];

  /** Stops the application and the writers, each start pushed as an undo before its stop. */
  async function stopWriters(): Promise<void> {
    const names = [...(input.app ? [input.app.containerName] : []), ...writers];
    for (const name of names) {
      undos.push({
        name: `start '${name}'`,
        run: () => a.op.startContainer({ name }),
        manual: `start it: docker start ${name}${input.host ? ` (on host ${input.host})` : ''}`,
      });
      await progress.step(name === input.app?.containerName ? 'stop-application' : `stop-writer ${name}`, () =>
        a.op.stopContainer({ name, timeoutSeconds: input.stopTimeoutSeconds }),
      );
    }
  }
  const restoredText = (real: string, preBackup: string | undefined) =>
    `'${real}' and the application are back as they were before (from ${preBackup ?? 'nothing to restore'})`;
  if (hooks?.stopFirst) {
    progress.setPhase('stopping-writers');
    try {
      await stopWriters();
    } catch (err) {
      await CancellationScope.nonCancellable(() =>
        compensate(progress, undos, err, 'the stopped containers run again'),
      );
    }
  }

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
    if ('atOrBefore' in sel && selectAt && patched('qdrant-pit-newest-verified')) {
      ({ chosen, selection } = await selectAt(a, progress, real, backups, sel.atOrBefore));
    } else {
      chosen = await selectOld(a, progress, real, backups, sel);
    }
  } catch (err) {
    if (undos.length > 0)
      await CancellationScope.nonCancellable(() =>
        compensate(progress, undos, err, 'the stopped containers run again'),
      );
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
  const decision = await awaitApproval(progress, gate, { ...input.approval, requestedBy: input.requestedBy });
  const base = {
    workflowId: info.workflowId,
    collection,
    before,
    approvals: progress.status.approvals,
    timeline: progress.status.steps,
    ...(emergencyExport ? { emergencyExport } : {}),
  };
  if (decision.decision !== 'approved' && kind === 'emergency' && patched('emergency-fails-unless-acknowledged')) {
    // an emergency restores at once or fails: never a completed run that restored nothing
    const ack = progress.status.approvals.find(
      (x) => x.decision === 'refused' && (x.via === 'acknowledgement' || x.via === 'pre-approval'),
    );
    const notAcknowledged = fail(
      FailureType.NotApproved,
      decision.decision === 'rejected'
        ? `the emergency restore of '${real}' was rejected by ${decision.by.approver} (${decision.by.role}): nothing was restored`
        : `no engineer of the approval roster acknowledged the emergency restore of '${real}' within ${decision.waitedSeconds}s` +
            `${ack ? ` (the acknowledgement by '${ack.approver}' did not count: ${ack.refusal ?? '?'})` : ''}: nothing was restored`,
    );
    if (undos.length > 0) {
      await CancellationScope.nonCancellable(() =>
        compensate(progress, undos, notAcknowledged, 'the stopped containers run again'),
      );
    }
    progress.setPhase('not-acknowledged');
    progress.status.error = notAcknowledged.message;
    throw notAcknowledged;
  }
  if (decision.decision !== 'approved') {
    if (undos.length > 0) await CancellationScope.nonCancellable(() => runUndos(progress, undos));
    progress.setPhase(decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out');
    return { ...base, outcome: decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out' };
  }

  // 4. Stop the writers, restore, verify, restart — with undos pushed before each step.
  let after: CollectionState;
  let sample: QdrantRecoveryResult['sampleQuery'] & object;
  let readiness: QdrantRecoveryResult['readiness'];
  try {
    progress.setPhase('restoring');
    if (hooks && !hooks.stopFirst) {
      await stopWriters();
    } else if (input.app && !hooks) {
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
      // A start that a restarting dockerd loses answers healthy for an instant and then is gone for good (the
      // daemon does not bring back a container it had stopped): healthy must hold for a few seconds, and a start
      // that did not hold is made once more, as an operator would, before the restore counts as failed.
      const confirm = patched('recovery-app-start-confirmed');
      const verify = (step: string) =>
        progress.step(
          step,
          () =>
            a.wait.waitHealthy({
              url: app.healthUrl,
              timeoutSeconds: app.healthTimeoutSeconds ?? 60,
              ...(confirm ? { stableForSeconds: APP_STABLE_SECONDS } : {}),
            }),
          (w) => (w.healthy ? 'healthy' : 'unhealthy'),
        );
      let h = await verify('verify-application-health');
      let again: typeof h | undefined;
      if (!h.healthy && confirm) {
        await progress.step('start-application-again', () => a.op.startContainer({ name: app.containerName }));
        h = again = await verify('verify-application-health-again');
      }
      if (!h.healthy)
        throw fail(
          FailureType.VerificationFailed,
          `'${app.containerName}' did not answer healthy at ${app.healthUrl} after the restore`,
        );
      // restored: the application answers healthy on the restored collection
      progress.restored(h === again ? 'verify-application-health-again' : 'verify-application-health');
    } else {
      progress.restored(sample.knownAnswers !== undefined ? 'verify-known-answers' : 'verify-sample-query');
    }
    for (const name of writers) await progress.step(`start-writer ${name}`, () => a.op.startContainer({ name }));
  } catch (err) {
    await CancellationScope.nonCancellable(() => compensate(progress, undos, err, restoredText(real, preBackup)));
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
