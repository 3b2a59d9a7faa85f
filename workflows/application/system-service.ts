// Owns the runbook's "Application Rollback → Scenario 2: System Service Rollback": a service deployed from git as
// `<releaseRoot>/releases/<tag>` folders with a `current` symlink, run by a systemd unit. Invariants:
//  - nothing on the host changes before the input is valid, the unit and the current release are found, the
//    target tag exists in the git remote and the rollback is approved;
//  - the previous release folder is never touched (the target is cloned into its own folder) and is archived to
//    `<releaseRoot>/backups/` first; `current` changes only by an atomic rename;
//  - before the live service changes, its undo (point `current` back, restart) is pushed; on failure or
//    cancellation the undos run in reverse and the error says what failed and what was restored;
//  - every step runs on the host's worker (task queue `cortex-rollback-host-<host>`) when `host` is given.
import { ApplicationFailure, CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type {
  Activities,
  Checkout,
  CommandRun,
  HealthWait,
  ReleaseBackup,
  RestartResult,
  Swap,
  UnitState,
} from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import {
  fullUnitName,
  isValidGitRemote,
  isValidReleaseRoot,
  isValidReleaseTag,
  isValidUnitName,
} from '../../common/release-names.ts';
import { ApprovalGate, approvalRefused, type ApprovalRecord } from '../phases/approval.ts';
import { beforeAnyChange } from '../phases/failures.ts';
import { watchAfterChange, type MonitorSummary } from '../phases/monitor.ts';
import { hostActivities, longWait, probe, transfer } from '../phases/profiles.ts';
import { Progress, type RollbackStatus, type StepRecord } from '../phases/progress.ts';
import { withLifecycleNotifications, type RollbackNotifications } from '../phases/notify.ts';
import {
  compensateChange,
  restoredHealthText,
  restoreFailedSummary,
  verifyRestoredHealth,
  type Undo,
} from '../phases/saga.ts';
import { defineScenario, openRollback, who } from '../phases/scenario.ts';
import {
  approvalInput,
  checked,
  hostInput,
  hostWaitInput,
  int,
  line,
  monitorInput,
  scenarioInput,
  whoFields,
  z,
} from '../phases/schema.ts';
import { validateHttpUrl } from '../phases/validation.ts';

export const SYSTEM_SERVICE_DEFAULTS = {
  installCommands: ['npm ci --omit=dev', 'npm run build'],
  buildTimeoutSeconds: 900,
  verifyTimeoutSeconds: 60,
  journalLines: 20,
  monitor: { durationSeconds: 1800, intervalSeconds: 30, failureThreshold: 3 },
};

function valid(check: (v: unknown) => boolean, what: string) {
  return z
    .string({ error: `is required (${what})` })
    .refine(check, { error: (i) => `${JSON.stringify(i.input)} is not ${what}` });
}

export const systemServiceInput = scenarioInput({
  unit: valid(isValidUnitName, 'a systemd unit name')
    .describe('the systemd unit that runs the service (".service" implied)')
    .meta({ example: 'cortex-mcp' }),
  releaseRoot: valid(isValidReleaseRoot, 'an absolute path without ".."')
    .transform((p) =>
      p
        .replace(/\/(\.\/)+/g, '/')
        .replace(/\/+/g, '/')
        .replace(/(.)\/(\.)?$/, '$1'),
    )
    .describe('the release layout on the host: <releaseRoot>/releases/<tag>/ and the <releaseRoot>/current symlink')
    .meta({ example: '/app/cortex-mcp' }),
  gitRemote: valid(isValidGitRemote, 'a git remote URL or absolute path without credentials')
    .describe('where the tags live (cloned from, never changed); credentials stay in the host worker')
    .meta({ example: 'https://git.example.internal/cortex/cortex-mcp.git' }),
  targetTag: valid(isValidReleaseTag, 'a release tag (letters, digits, ".", "_", "+", "-")')
    .describe('the git tag to roll back to; an unknown tag fails before anything changes')
    .meta({ example: 'v2.0.0' }),
  healthUrl: checked((v, f) => validateHttpUrl(v, f))
    .describe('health endpoint, probed from the host: 2xx (and a JSON status of healthy/ok) means healthy')
    .meta({ example: 'http://127.0.0.1:3000/health' }),
  ...whoFields,
  host: hostInput(),
  hostWaitSeconds: hostWaitInput(),
  installCommands: z
    .array(line(1000))
    .min(1, { error: 'needs at least one command' })
    .max(20, { error: 'at most 20 commands' })
    .default(SYSTEM_SERVICE_DEFAULTS.installCommands)
    .describe('install/build commands run in the new release folder, in order (sh -c, as the host worker user)')
    .meta({ flag: 'install-command', example: 'npm ci --omit=dev' }),
  buildTimeoutSeconds: int(1, 4 * 3600)
    .default(SYSTEM_SERVICE_DEFAULTS.buildTimeoutSeconds)
    .describe('time limit of each install/build command (seconds)'),
  verifyTimeoutSeconds: int(1, 3600)
    .default(SYSTEM_SERVICE_DEFAULTS.verifyTimeoutSeconds)
    .describe('how long the restarted service may take to answer healthy (seconds)'),
  journalLines: int(1, 200)
    .default(SYSTEM_SERVICE_DEFAULTS.journalLines)
    .describe('how many `journalctl -u <unit>` lines the status and the result carry'),
  monitor: monitorInput(SYSTEM_SERVICE_DEFAULTS.monitor),
  approval: approvalInput('application'),
  searchAttributes: z
    .boolean()
    .default(false)
    .describe('upsert RollbackType/RollbackTarget/RollbackPhase (the CLI sets it from CORTEX_SEARCH_ATTRIBUTES)')
    .meta({ cli: false }),
});

export type SystemServiceInput = z.input<typeof systemServiceInput>;
export type ValidSystemServiceInput = z.output<typeof systemServiceInput>;

/** Business key: a second rollback of the same unit on the same host cannot run while one does. */
export function systemServiceWorkflowId(input: { unit: string; host?: string | undefined }): string {
  const unit = input.unit.replace(/\.service$/, '');
  return input.host ? `rollback-system-service-${input.host}-${unit}` : `rollback-system-service-${unit}`;
}

export const systemServiceScenario = defineScenario({
  name: 'system-service',
  workflowType: 'systemServiceRollback',
  category: 'application',
  runbook: 'Application Rollback → Scenario 2: System Service Rollback',
  summary: 'roll a systemd service back to a git tag: new release folder, build, atomic `current` swap, restart',
  input: systemServiceInput,
  summarize: (i) => `roll back systemd:${i.unit} → ${i.targetTag}`,
  workflowId: systemServiceWorkflowId,
  runAttributes: (i) => ({
    service: `${i.host ? `${i.host}:` : ''}${i.unit}`,
    targetVersion: i.targetTag,
    ...who(i),
  }),
});

export type SystemServiceOutcome = 'succeeded' | 'rejected' | 'approval-timed-out' | 'already-on-target';

export interface SystemServiceResult {
  outcome: SystemServiceOutcome;
  workflowId: string;
  runId: string;
  unit: string;
  host?: string;
  reason: string;
  requestedBy: string;
  from: { release: string; version?: string; invocationId: string };
  to: { tag: string; commit: string; release?: string; invocationId?: string };
  backup?: { archive: string; bytes: number };
  build?: CommandRun[];
  restart?: { restarted: boolean; skipped?: string; fromInvocationId: string; toInvocationId: string };
  /** The unit's last journal lines after the restart (`journalctl -u <unit> -n <journalLines>`). */
  journal?: string[];
  approvals: ApprovalRecord[];
  verification?: HealthWait;
  monitoring?: MonitorSummary;
  timeline: StepRecord[];
  startedAt: string;
  endedAt: string;
}

/** What the compensation restored, in the failure's details. */
export interface SystemServiceRestore {
  restored: string[];
  failedUndos: string[];
  /** `current` points here again (when the swap was undone). */
  currentRelease?: string;
  invocationId?: string;
  restoredHealth?: HealthWait;
  verification?: HealthWait;
  journal?: string[];
}

/** The status query's value: the common one plus the unit's last journal lines. */
export type SystemServiceStatus = RollbackStatus & { journal?: string[] };

export function systemServiceRollback(raw: SystemServiceInput): Promise<SystemServiceResult> {
  return withLifecycleNotifications((notifications) => runSystemServiceRollback(raw, notifications));
}

async function runSystemServiceRollback(
  raw: SystemServiceInput,
  notifications: RollbackNotifications,
): Promise<SystemServiceResult> {
  const info = workflowInfo();
  const rawUnit = typeof raw?.unit === 'string' ? raw.unit : '?';
  const rawHost = typeof raw?.host === 'string' ? `${raw.host}/` : '';
  const progress = new Progress('application', `systemd:${rawHost}${rawUnit}`);
  const status = progress.status as SystemServiceStatus;
  const approvals = progress.status.approvals;
  const gate = new ApprovalGate('application', approvals);

  const input: ValidSystemServiceInput = await openRollback(progress, systemServiceScenario, raw, notifications);

  const { on, q, op, wait } = hostActivities(input.host, input.verifyTimeoutSeconds, input.hostWaitSeconds);
  const copy = proxyActivities<Activities>({ ...transfer, ...on });
  const build = proxyActivities<Activities>({
    ...longWait(input.buildTimeoutSeconds * input.installCommands.length),
    ...on,
  });
  const sample = proxyActivities<Activities>({ ...probe, ...on }).probeHealth;

  const startedAt = new Date().toISOString();
  const unit = fullUnitName(input.unit);
  const root = input.releaseRoot;
  const currentLink = `${root}/current`;
  const targetDir = `${root}/releases/${input.targetTag}`;
  const base = {
    workflowId: info.workflowId,
    runId: info.runId,
    unit,
    ...(input.host ? { host: input.host } : {}),
    reason: input.reason,
    requestedBy: input.requestedBy,
    approvals,
    timeline: progress.status.steps,
    startedAt,
  };
  const finish = (r: Omit<SystemServiceResult, keyof typeof base | 'endedAt'>): SystemServiceResult => ({
    ...base,
    ...r,
    endedAt: new Date().toISOString(),
  });
  const invocation = (s: UnitState): string => (s.invocationId ? s.invocationId.slice(0, 12) : 'none');

  // 1–2. Current version and target version (read-only).
  progress.setPhase('assessing');
  const { unitBefore, release, before, tag } = await beforeAnyChange(progress, async () => {
    const unitBefore = await progress.step(
      'assess-current-unit',
      () => q.systemdUnitState({ unit }),
      (s) => `${s.unit} ${s.activeState} (${s.subState}), invocation ${invocation(s)}`,
    );
    const release = await progress.step(
      'assess-current-release',
      () => q.releaseState({ root }),
      (r) => `current → ${r.link}${r.version ? ` (${r.version})` : ''}`,
    );
    const before = await progress.step(
      'assess-current-health',
      () => sample({ url: input.healthUrl }),
      (s) => (s.ok ? 'healthy' : `unhealthy: ${s.httpStatus ?? s.error ?? '?'}`),
    );
    const tag = await progress.step(
      'verify-target-tag',
      () => q.releaseRemoteTag({ remote: input.gitRemote, tag: input.targetTag }),
      (t) => `${t.tag} = ${t.commit.slice(0, 12)} in ${t.remote}`,
    );
    return { unitBefore, release, before, tag };
  });
  const from = { release: release.link, ...opt('version', release.version), invocationId: unitBefore.invocationId };
  const to = { tag: input.targetTag, commit: tag.commit };
  if (release.path === targetDir && unitBefore.activeState === 'active') {
    progress.setPhase('completed');
    progress.note('rollback', 'skipped', `${unit} already runs ${input.targetTag} (${release.link}); nothing to do`);
    return finish({ outcome: 'already-on-target', from, to: { ...to, release: release.link } });
  }

  // Approval gate.
  const refused = await approvalRefused(progress, gate, input);
  if (refused) return finish({ outcome: refused, from, to });

  const undos: Undo[] = [];
  let backup: ReleaseBackup | undefined;
  let checkout: Checkout | undefined;
  let built: CommandRun[] | undefined;
  let restart: RestartResult | undefined;
  let verification: HealthWait | undefined;
  let liveUndo: { back?: Swap; again?: RestartResult } | undefined;
  try {
    progress.setPhase('rolling-back');
    // 3. Back up the current installation.
    backup = await progress.step(
      'backup-current-release',
      () => copy.releaseBackup({ root, runId: info.runId }),
      (b) => `${b.archive} (${b.bytes} bytes)${b.reused ? ', from an earlier attempt' : ''}`,
    );
    // 4. Deploy the target version into its own folder.
    checkout = await progress.step(
      'checkout-target-release',
      () =>
        copy.releaseCheckout({
          root,
          remote: input.gitRemote,
          tag: input.targetTag,
          commit: tag.commit,
          runId: info.runId,
        }),
      (c) => `${c.dir} at ${c.commit.slice(0, 12)}${c.reused ? ' (already there)' : ''}`,
    );
    if (checkout.createdByRun) {
      undos.push({
        name: `remove ${targetDir} (created by this rollback)`,
        run: () => op.releaseRemove({ root, tag: input.targetTag, runId: info.runId }),
        manual: `rm -rf ${targetDir} once current no longer points at it${input.host ? ` (on host ${input.host})` : ''}`,
      });
    }
    built = await progress.step(
      'install-and-build',
      () =>
        build.releaseBuild({
          root,
          tag: input.targetTag,
          commands: input.installCommands,
          timeoutSeconds: input.buildTimeoutSeconds,
        }),
      (runs) => runs.map((r) => `${r.command} (${r.ms} ms)`).join('; '),
    );

    // 5–6. Swap `current`, restart. One undo covers both: point current back (restoring the archive if the
    // previous folder vanished) and restart — the restart is skipped when the unit already started since.
    undos.push({
      name: `point current back at ${release.link} and restart ${unit}`,
      run: async () => {
        liveUndo!.back = await op.releaseSwitch({
          root,
          to: release.link,
          runId: info.runId,
          archive: backup!.archive,
        });
        liveUndo!.again = await op.systemdRestart({ unit, after: currentLink });
      },
      manual:
        `ln -sfn ${release.link} ${currentLink}.tmp && mv -T ${currentLink}.tmp ${currentLink} && ` +
        `systemctl restart ${unit}${input.host ? ` (on host ${input.host})` : ''}` +
        ` (the previous release is archived in ${backup.archive}), then check ${input.healthUrl}`,
    });
    liveUndo = {};
    await progress.step(
      'switch-current',
      () => op.releaseSwitch({ root, to: targetDir, runId: info.runId }),
      (s) => (s.changed ? `current: ${s.previous} → ${s.current}` : `current already → ${s.current}`),
    );
    restart = await progress.step(
      'restart-unit',
      () => op.systemdRestart({ unit, after: currentLink }),
      (r) =>
        r.restarted
          ? `invocation ${invocation(r.before)} → ${invocation(r.after)}, ${r.after.activeState}`
          : `not restarted again: ${r.skipped ?? ''}`,
    );

    // 7–8. Verify: the journal, then health.
    progress.setPhase('verifying');
    verification = await progress.step(
      'verify-health',
      () => wait.waitHealthy({ url: input.healthUrl, timeoutSeconds: input.verifyTimeoutSeconds }),
      (v) => (v.healthy ? `healthy after ${v.attempts} probe(s)` : `unhealthy after ${v.attempts} probe(s)`),
    );
    await readJournal();
    if (!verification.healthy) {
      const l = verification.last;
      throw ApplicationFailure.create({
        type: FailureType.VerificationFailed,
        nonRetryable: true,
        message:
          `${unit} on ${input.targetTag} did not answer healthy at ${input.healthUrl} within ` +
          `${input.verifyTimeoutSeconds}s (last: ${l.httpStatus ?? l.error ?? '?'}${l.status ? ` ${l.status}` : ''})`,
      });
    }
    progress.restored('verify-health');
  } catch (err) {
    await CancellationScope.nonCancellable(() => compensate(err));
    throw err; // unreachable: compensate always throws
  }
  const done = {
    from,
    to: { ...to, release: targetDir, invocationId: restart.after.invocationId },
    backup: { archive: backup.archive, bytes: backup.bytes },
    build: built,
    restart: {
      restarted: restart.restarted,
      ...opt('skipped', restart.skipped),
      fromInvocationId: restart.before.invocationId,
      toInvocationId: restart.after.invocationId,
    },
    ...(status.journal ? { journal: status.journal } : {}),
    verification,
  };

  // Watch on durable timers. Cancelling it ends the watch only: the target was verified and keeps running.
  const monitoring = await watchAfterChange(progress, input.monitor, {
    sampler: () => ({ sample: () => sample({ url: input.healthUrl }) }),
    cancelled: () =>
      `the watch was cancelled; ${unit} keeps running ${input.targetTag} (verified healthy); ` +
      `the previous release is ${release.link}, archived in ${backup.archive}`,
    breached: (m) =>
      `${unit} on ${input.targetTag} failed ${m.maxConsecutiveFailures} consecutive health checks during ` +
      `the watch; left running for a manual decision (previous release ${release.link}, archived in ${backup.archive})`,
    result: (m) => finish({ outcome: 'succeeded', ...done, monitoring: m }),
  });
  progress.setPhase('completed');
  return finish({ outcome: 'succeeded', ...done, ...(monitoring ? { monitoring } : {}) });

  async function readJournal(): Promise<void> {
    // Diagnostics only: a journal that cannot be read does not decide the rollback.
    status.journal = await progress
      .step(
        'read-journal',
        () => q.systemdJournal({ unit, lines: input.journalLines }),
        (lines) => `${lines.length} line(s) of journalctl -u ${unit}`,
      )
      .catch(() => status.journal);
  }

  function compensate(err: unknown): Promise<never> {
    let failedJournal: SystemServiceStatus['journal'];
    let restoredLive = false;
    let unitAfter: UnitState | undefined;
    return compensateChange(progress, undos, err, {
      first: async () => {
        if (liveUndo && !status.journal) await readJournal();
        failedJournal = status.journal;
      },
      check: async (u) => {
        restoredLive = liveUndo?.back !== undefined && u.failed.length === 0;
        if (!restoredLive) return undefined;
        const after = await verifyRestoredHealth(
          progress,
          wait.waitHealthy,
          input.healthUrl,
          before,
          input.verifyTimeoutSeconds,
        );
        unitAfter = await q.systemdUnitState({ unit }).catch(() => undefined);
        return after;
      },
      summary: (what, u, after) =>
        u.failed.length > 0
          ? restoreFailedSummary(
              what,
              u,
              `The previous release is ${release.link}${backup ? ` (archived in ${backup.archive})` : ''}. `,
            )
          : restoredLive
            ? `${what}. Restored: current → ${release.link} again` +
              `${liveUndo?.back?.restoredFrom ? ` (unpacked from ${liveUndo.back.restoredFrom})` : ''}, ${unit} ` +
              `${liveUndo?.again?.restarted ? 'restarted' : 'already restarted'} ` +
              `(invocation ${unitAfter ? invocation(unitAfter) : '?'}, ${restoredHealthText(after, before)})` +
              `${checkout?.createdByRun ? `; removed ${targetDir}` : ''}.`
            : undos.length > 0
              ? `${what}. The live service was not changed (current → ${release.link}); removed ${targetDir}.`
              : `${what}. The live service was not changed (current → ${release.link}).`,
      details: (u, after): SystemServiceRestore => ({
        restored: u.restored,
        failedUndos: u.failed,
        ...(restoredLive ? { currentRelease: release.link } : {}),
        ...(unitAfter ? { invocationId: unitAfter.invocationId } : {}),
        ...(after ? { restoredHealth: after } : {}),
        ...(verification ? { verification } : {}),
        ...(failedJournal ? { journal: failedJournal } : {}),
      }),
    });
  }
}

function opt<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: V };
}
