// Owns the runbook's "Configuration Rollback → Scenario 1: Environment Variable Rollback" as a durable workflow:
// put the last known-good env file back in place of a service's env file and restart the service with it — a Docker
// container (recreated from the same image and configuration with the file's env) or a systemd unit (restarted; it
// reads the file through EnvironmentFile=).
// Invariants:
//  - secret values never enter this workflow: its input names files, its activities answer with key names, line
//    numbers and sha256 digests; so history, status, result and report hold no value;
//  - nothing changes before the input is valid, the known-good file validates (KEY=VALUE lines, required keys
//    present, no duplicate key) and the rollback is approved;
//  - the current file is backed up (mode, owner and times kept) before it is replaced, and replaced atomically;
//    a Docker container is preserved (renamed), never deleted, until the new one is verified and watched;
//  - before each mutating step its undo is pushed; on failure the undos run in reverse (the file restored from
//    the backup, the previous container or the unit restarted on it) and the error says what failed and what was
//    restored;
//  - host activities run on `cortex-rollback-host-<host>` when `host` is given, else on the workflow's queue.
import { CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type {
  Activities,
  ConnectionCheck,
  ContainerEnv,
  EnvFileInfo,
  EnvKeyDigest,
  HealthSample,
  HealthWait,
  RestartResult,
} from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { runSuffix } from '../../common/names.ts';
import { ApprovalGate, approvalRefused, type ApprovalRecord } from '../phases/approval.ts';
import { beforeAnyChange, fail } from '../phases/failures.ts';
import { watchAfterChange, type MonitorSummary } from '../phases/monitor.ts';
import { hostActivities, probe } from '../phases/profiles.ts';
import { Progress, type StepRecord } from '../phases/progress.ts';
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
  bool,
  checked,
  hostInput,
  hostWaitInput,
  int,
  monitorInput,
  oneOf,
  scenarioInput,
  whoFields,
  type z,
} from '../phases/schema.ts';
import { InputError, show, validateContainerName, validateHttpUrl } from '../phases/validation.ts';
import { fullUnitName, isValidUnitName } from '../../common/release-names.ts';

/** The keys the runbook's step 3 checks in the known-good file. */
export const RUNBOOK_REQUIRED_KEYS = ['QDRANT_URL', 'OPENAI_API_KEY'];

export const ENV_FILE_DEFAULTS = {
  stopTimeoutSeconds: 10,
  verifyTimeoutSeconds: 60,
  monitor: { durationSeconds: 1800, intervalSeconds: 30, failureThreshold: 3 },
  approvalTimeoutSeconds: 3600,
};

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
// eslint-disable-next-line no-control-regex -- a path with control characters is refused, not cleaned
const CONTROL = /[\u0000-\u001f\u007f]/;

function absolutePath(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw new InputError(field, `is required (an absolute path), got ${show(v)}`);
  if (v.length > 4096) throw new InputError(field, `is longer than 4096 characters (${v.length})`);
  if (CONTROL.test(v)) throw new InputError(field, 'contains control characters');
  if (!v.startsWith('/')) throw new InputError(field, `${show(v)} is not an absolute path`);
  if (v.endsWith('/') || v.split('/').some((p, i) => i > 0 && (p === '' || p === '.' || p === '..'))) {
    throw new InputError(field, `${show(v)} is not a normal file path (no '.', '..', '//' or trailing '/')`);
  }
  return v;
}

function requiredKeyList(v: unknown, field: string): string[] {
  const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v;
  if (!Array.isArray(list) || list.length > 200) {
    throw new InputError(field, `must be a list of env key names (or one comma-separated string), got ${show(v)}`);
  }
  for (const k of list) {
    if (typeof k !== 'string' || !KEY.test(k)) {
      throw new InputError(field, `${show(k)} is not an env key name ([A-Za-z_][A-Za-z0-9_]*)`);
    }
  }
  return [...new Set(list as string[])];
}

export const envFileTarget = scenarioInput({
  kind: oneOf(['docker', 'systemd'], "must be 'docker' or 'systemd'")
    .describe("what runs the service: 'docker' (a container) or 'systemd' (a unit with EnvironmentFile=)")
    .meta({ flag: 'target' }),
  containerName: checked<string, string>((v, f) => validateContainerName(v, f))
    .optional()
    .describe('docker: the container to recreate with the env file (same image and configuration)')
    .meta({ flag: 'container', value: 'NAME', example: 'cortex-mcp' }),
  unit: checked<string, string>((v, f) => {
    if (!isValidUnitName(v)) throw new InputError(f, `${show(v)} is not a systemd unit name`);
    return fullUnitName(v as string);
  })
    .optional()
    .describe('systemd: the unit to restart (it reads the env file through EnvironmentFile=; ".service" implied)')
    .meta({ flag: 'unit', value: 'UNIT', example: 'cortex-mcp' }),
  healthUrl: checked<string, string>((v, f) => validateHttpUrl(v, f))
    .describe("the service's health endpoint, checked after the restart and during the watch")
    .meta({ flag: 'health-url', value: 'URL', example: 'http://127.0.0.1:3000/health' }),
}).superRefine((t, ctx) => {
  const need = t.kind === 'docker' ? 'containerName' : 'unit';
  const other = t.kind === 'docker' ? 'unit' : 'containerName';
  if (t[need] === undefined)
    ctx.addIssue({ code: 'custom', path: [need], message: `is required for kind '${t.kind}'` });
  if (t[other] !== undefined) {
    ctx.addIssue({ code: 'custom', path: [other], message: `does not apply to kind '${t.kind}'` });
  }
});

export const envFileInput = scenarioInput({
  envFile: checked<string, string>(absolutePath)
    .describe('the env file the service reads, on the host where it runs (replaced atomically, backed up first)')
    // not --env-file: Node 20 takes that flag from anywhere on its command line and exits when the path is missing
    .meta({ flag: 'file', value: 'PATH', example: '/app/.env' }),
  knownGoodFile: checked<string, string>(absolutePath)
    .describe('the last known-good env file on the same host (validated before anything changes)')
    .meta({ value: 'PATH', example: '/app/config/production.env.backup' }),
  requiredKeys: checked<string[], string[] | string>(requiredKeyList)
    .default([...RUNBOOK_REQUIRED_KEYS])
    .describe(
      `keys the known-good file must set, non-empty: a list, or one comma-separated string (default: the runbook's ${RUNBOOK_REQUIRED_KEYS.join(', ')})`,
    )
    .meta({ value: 'KEY,KEY', example: 'QDRANT_URL,OPENAI_API_KEY' }),
  target: envFileTarget.describe('the service that reads the env file'),
  host: hostInput(),
  hostWaitSeconds: hostWaitInput(),
  ...whoFields,
  stopTimeoutSeconds: int(0, 240)
    .default(ENV_FILE_DEFAULTS.stopTimeoutSeconds)
    .describe('docker: grace period when stopping the current container (seconds)'),
  verifyTimeoutSeconds: int(1, 3600)
    .default(ENV_FILE_DEFAULTS.verifyTimeoutSeconds)
    .describe('how long the restarted service may take to answer healthy and reach Qdrant (seconds)'),
  monitor: monitorInput(ENV_FILE_DEFAULTS.monitor),
  approval: approvalInput('configuration'),
  searchAttributes: bool()
    .default(false)
    .describe('upsert RollbackType/RollbackTarget/RollbackPhase (the namespace must have them)'),
}).superRefine((i, ctx) => {
  if (i.envFile === i.knownGoodFile) {
    ctx.addIssue({ code: 'custom', path: ['knownGoodFile'], message: 'must not be the env file itself' });
  }
});

export type EnvFileRollbackInput = z.input<typeof envFileInput>;
export type ValidEnvFileRollbackInput = z.output<typeof envFileInput>;

/** Business key: one configuration rollback per service at a time. */
export function envFileRollbackWorkflowId(input: ValidEnvFileRollbackInput): string {
  const t = input.target;
  const name = t.kind === 'docker' ? `docker-${t.containerName}` : `systemd-${t.unit}`;
  return `rollback-configuration-env-${input.host ? `${input.host}-` : ''}${name}`;
}

export const envFileScenario = defineScenario({
  name: 'env-file',
  workflowType: 'environmentConfigRollback',
  category: 'configuration',
  runbook: 'Configuration Rollback → Scenario 1: Environment Variable Rollback',
  summary:
    "restore a service's env file from its known-good copy (validated, backed up, replaced atomically), restart the container or unit, verify health and the Qdrant connection",
  input: envFileInput,
  summarize: (i) => `restore ${i.envFile} from ${i.knownGoodFile} (${i.target.kind})`,
  workflowId: envFileRollbackWorkflowId,
  runAttributes: (i) => ({
    service: i.target.kind === 'docker' ? `docker:${i.target.containerName}` : `systemd:${i.target.unit}`,
    targetVersion: `${i.envFile} from ${i.knownGoodFile}`,
    ...who(i),
  }),
});

export interface EnvFileFacts {
  path: string;
  sha256: string;
  mode: string;
  uid: number;
  gid: number;
  keys: string[];
}

export interface EnvFileRollbackResult {
  outcome: 'succeeded' | 'rejected' | 'approval-timed-out' | 'already-applied';
  workflowId: string;
  runId: string;
  target: { kind: 'docker' | 'systemd'; name: string; healthUrl: string };
  host?: string;
  reason: string;
  requestedBy: string;
  /** The env file as it was, and the known-good file put in its place (digests and key names only). */
  from: EnvFileFacts;
  to: EnvFileFacts;
  /** Key names whose value the rollback adds, removes or changes. */
  changes: { added: string[]; removed: string[]; changed: string[] };
  backup?: { path: string; sha256: string };
  container?: { previousId: string; newId?: string; preservedName: string; preservedRemoved?: boolean };
  /** systemd: the unit's invocation before and after the restart (a new InvocationID proves the restart). */
  unit?: { name: string; invocationBefore: string; invocationAfter?: string; restarted: boolean };
  verification?: { health: HealthWait; appliedKeys: number; connection: ConnectionCheck };
  monitoring?: MonitorSummary;
  approvals: ApprovalRecord[];
  timeline: StepRecord[];
  startedAt: string;
  endedAt: string;
}

const short = (sha: string) => sha.slice(0, 12);
const facts = (f: EnvFileInfo): EnvFileFacts => ({
  path: f.path,
  sha256: f.sha256,
  mode: f.mode,
  uid: f.uid,
  gid: f.gid,
  keys: f.keys.map((k) => k.key),
});

function changesBetween(from: EnvFileInfo, to: EnvFileInfo): EnvFileRollbackResult['changes'] {
  const a = new Map(from.keys.map((k) => [k.key, k.sha256]));
  const b = new Map(to.keys.map((k) => [k.key, k.sha256]));
  return {
    added: [...b.keys()].filter((k) => !a.has(k)),
    removed: [...a.keys()].filter((k) => !b.has(k)),
    changed: [...b.keys()].filter((k) => a.has(k) && a.get(k) !== b.get(k)),
  };
}

/** Keys of the file whose value the running service does not have (missing, or a different digest). */
function notApplied(file: EnvFileInfo, running: EnvKeyDigest[], unit: boolean): string[] {
  const have = new Map(running.map((k) => [k.key, k.sha256]));
  return file.keys
    .filter((k) => !(unit && k.unitUnclear))
    .filter((k) => have.get(k.key) !== (unit ? (k.unitSha256 ?? k.sha256) : k.sha256))
    .map((k) => k.key);
}

function backupStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export function environmentConfigRollback(raw: EnvFileRollbackInput): Promise<EnvFileRollbackResult> {
  return withLifecycleNotifications((notifications) => runEnvironmentConfigRollback(raw, notifications));
}

async function runEnvironmentConfigRollback(
  raw: EnvFileRollbackInput,
  notifications: RollbackNotifications,
): Promise<EnvFileRollbackResult> {
  const info = workflowInfo();
  const rawTarget = (raw as { target?: { containerName?: unknown; unit?: unknown } } | undefined)?.target;
  const label = [rawTarget?.containerName, rawTarget?.unit].find((x) => typeof x === 'string') ?? '?';
  const progress = new Progress('configuration', `env:${label}`);
  const approvals = progress.status.approvals;
  const gate = new ApprovalGate('configuration', approvals); // signals count from the very start

  const input: ValidEnvFileRollbackInput = await openRollback(progress, envFileScenario, raw, notifications);

  const t = input.target;
  const docker = t.kind === 'docker';
  const name = (docker ? t.containerName : t.unit)!;
  const { on, q, op, wait } = hostActivities(input.host, input.verifyTimeoutSeconds, input.hostWaitSeconds);
  const sample = proxyActivities<Activities>({ ...probe, ...on });
  const where = input.host ? ` on host ${input.host}` : '';
  const preservedName = `${name}-pre-rollback-${runSuffix(info.runId)}`;
  const startedAt = new Date().toISOString();

  // 1–3. Identify the current configuration and the known-good one, and validate the latter (read-only).
  progress.setPhase('assessing');
  const [current, good, container, before, unitBefore] = await beforeAnyChange(progress, async () => {
    const settled = await Promise.allSettled([
      progress.step(
        'assess-current-env-file',
        () => q.inspectEnvFile({ path: input.envFile }),
        (f) =>
          `${f.keys.length} keys, sha256 ${short(f.sha256)}, mode ${f.mode}` +
          (f.problems.length ? `, ${f.problems.length} problem(s)` : ''),
      ),
      progress.step(
        'validate-known-good-env-file',
        () => q.inspectEnvFile({ path: input.knownGoodFile, requiredKeys: input.requiredKeys }),
        (f) => `${f.keys.length} keys, sha256 ${short(f.sha256)}, ${f.problems.length} problem(s)`,
      ),
      docker
        ? progress.step(
            'assess-current-container',
            () => q.inspectContainerEnv({ name }),
            (c) => `${c.image} (${c.id.slice(0, 12)}), ${c.state}, ${c.env.length} env keys`,
          )
        : progress.step(
            'assess-current-unit',
            () => q.systemdUnitState({ unit: name }),
            (u) => `${u.unit} ${u.activeState}/${u.subState}, pid ${u.mainPid}, invocation ${u.invocationId}`,
          ),
      progress.step(
        'assess-current-health',
        () => sample.probeHealth({ url: t.healthUrl }),
        (s) => (s.ok ? 'healthy' : `unhealthy: ${s.httpStatus ?? s.error ?? '?'}`),
      ),
    ]);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    const v = <T>(r: PromiseSettledResult<T>) => (r as PromiseFulfilledResult<T>).value;
    const running = v(settled[2]);
    return [
      v(settled[0]),
      v(settled[1]),
      'env' in running ? running : undefined,
      v(settled[3]),
      'env' in running ? undefined : running,
    ] as const;
  });
  if (good.problems.length > 0) {
    const message =
      `the known-good env file ${input.knownGoodFile} is not valid: ` +
      `${good.problems.map((p) => (p.line ? `line ${p.line}: ${p.problem}` : p.problem)).join('; ')} (nothing was changed)`;
    progress.setPhase('failed');
    progress.status.error = message;
    throw fail(FailureType.InvalidInput, message, { problems: good.problems });
  }
  const changes = changesBetween(current, good);
  const from = facts(current);
  const to = facts(good);
  const base = {
    workflowId: info.workflowId,
    runId: info.runId,
    target: { kind: t.kind, name, healthUrl: t.healthUrl },
    ...(input.host ? { host: input.host } : {}),
    reason: input.reason,
    requestedBy: input.requestedBy,
    from,
    to,
    changes,
    approvals,
    timeline: progress.status.steps,
    startedAt,
  };
  const finish = (r: Omit<EnvFileRollbackResult, keyof typeof base | 'endedAt'>): EnvFileRollbackResult => ({
    ...base,
    ...r,
    endedAt: new Date().toISOString(),
  });
  const runningEnv = container
    ? container.env
    : unitBefore && unitBefore.mainPid > 0 && current.sha256 === good.sha256
      ? await beforeAnyChange(progress, () =>
          progress.step('assess-unit-env', () => q.processEnv({ pid: unitBefore.mainPid })),
        )
      : undefined;
  if (current.sha256 === good.sha256 && runningEnv && notApplied(good, runningEnv, !docker).length === 0) {
    progress.setPhase('completed');
    progress.note('rollback', 'skipped', `${input.envFile} already is the known-good file and '${name}' runs with it`);
    return finish({ outcome: 'already-applied' });
  }

  // Approval gate.
  const refused = await approvalRefused(progress, gate, input);
  if (refused) return finish({ outcome: refused });

  const undos: Undo[] = [];
  const backupPath = `${input.envFile}.backup-${backupStamp(new Date())}-${runSuffix(info.runId)}`;
  let newId: string | undefined;
  let restart: RestartResult | undefined;
  let verification: EnvFileRollbackResult['verification'];
  try {
    progress.setPhase('rolling-back');
    // 4. Back up the current configuration.
    await progress.step(
      'backup-current-env-file',
      () => op.backupEnvFile({ path: input.envFile, backupPath, expectedSha256: current.sha256 }),
      (b) => `${b.backupPath}${b.created ? '' : ' (found from an earlier attempt)'}`,
    );
    // 5. Restore the known-good configuration (atomically).
    undos.push({
      name: `restore ${input.envFile} from ${backupPath}${docker ? '' : ` and restart ${name}`}`,
      run: async () => {
        // Pushed before the replace (a cancelled replace may still have happened), so it acts only on our file.
        const r = await op.installEnvFile({
          path: input.envFile,
          sourcePath: backupPath,
          sourceSha256: current.sha256,
          onlyIfCurrentSha256: good.sha256,
          tag: `undo-${runSuffix(info.runId)}`,
        });
        // a unit reads its env file only when it starts: restart it on the restored file
        if (!docker && !r.notOurs) await op.systemdRestart({ unit: name, after: input.envFile });
      },
      manual:
        `cp -p ${backupPath} ${input.envFile}${where} (sha256 ${current.sha256})` +
        (docker ? '' : ` && systemctl restart ${name}`),
    });
    await progress.step(
      'replace-env-file',
      () =>
        op.installEnvFile({
          path: input.envFile,
          sourcePath: input.knownGoodFile,
          sourceSha256: good.sha256,
          expectCurrentSha256: current.sha256,
          tag: runSuffix(info.runId),
        }),
      (r) =>
        `${input.envFile} is now ${short(r.sha256)}${r.replaced ? '' : ' (already replaced by an earlier attempt)'}`,
    );

    // 6. Restart the service with the new configuration.
    if (docker) newId = await recreateContainer(container!);
    else {
      // Skipped on a retry when the unit already started after the file was replaced (systemdRestart's rule).
      restart = await progress.step(
        'restart-unit',
        () => op.systemdRestart({ unit: name, after: input.envFile }),
        (r) =>
          r.restarted
            ? `${r.after.unit} ${r.after.activeState}, invocation ${r.after.invocationId}, pid ${r.after.mainPid}`
            : (r.skipped ?? 'not restarted'),
      );
    }

    // 7–8. Verify: healthy, the file's env applied, and the connection test.
    progress.setPhase('verifying');
    const health = await progress.step(
      'verify-health',
      () => wait.waitHealthy({ url: t.healthUrl, timeoutSeconds: input.verifyTimeoutSeconds }),
      (v) => (v.healthy ? `healthy after ${v.attempts} probe(s)` : `unhealthy after ${v.attempts} probe(s)`),
    );
    if (!health.healthy) {
      const l = health.last;
      throw fail(
        FailureType.VerificationFailed,
        `'${name}' did not answer healthy at ${t.healthUrl} within ${input.verifyTimeoutSeconds}s with the ` +
          `known-good env file (last: ${l.httpStatus ?? l.error ?? '?'}${l.status ? ` ${l.status}` : ''})`,
      );
    }
    progress.restored('verify-health');
    // The runbook's "verify configuration applied": the env the running process really has (docker inspect, or
    // /proc/<MainPID>/environ of the unit) holds every key of the file with the same value digest.
    const running = await progress.step(
      'verify-env-applied',
      async () => {
        if (docker) return (await q.inspectContainerEnv({ name })).env;
        const u = await q.systemdUnitState({ unit: name });
        return u.mainPid > 0 ? q.processEnv({ pid: u.mainPid }) : [];
      },
      (env) => `${env.length} env keys in the running ${docker ? 'container' : 'main process'}`,
    );
    const missing = notApplied(good, running, !docker);
    if (missing.length > 0) {
      throw fail(FailureType.VerificationFailed, `'${name}' does not run with the file's ${missing.join(', ')}`);
    }
    const connection = await progress.step(
      'connection-test',
      () =>
        docker
          ? wait.containerConnectionTest({ name, timeoutSeconds: input.verifyTimeoutSeconds })
          : wait.hostConnectionTest({ envFile: input.envFile, timeoutSeconds: input.verifyTimeoutSeconds }),
      (c) => `${c.request} from ${c.via}: ${c.httpStatus ?? c.error}`,
    );
    if (!connection.ok) {
      throw fail(
        FailureType.VerificationFailed,
        `'${name}' does not reach Qdrant with the known-good env file: ${connection.request} from ` +
          `${connection.via} answered ${connection.httpStatus ?? connection.error}`,
      );
    }
    verification = { health, appliedKeys: good.keys.length, connection };
  } catch (err) {
    await CancellationScope.nonCancellable(() => compensate(err));
    throw err; // unreachable: compensate always throws
  }

  // Watch on durable timers.
  const monitoring = await watchAfterChange(progress, input.monitor, {
    sampler: () => ({ sample: (): Promise<HealthSample> => sample.probeHealth({ url: t.healthUrl }) }),
    // Cancelling the watch ends the watch only: the verified configuration stays; the backup (and the previous
    // container) are kept so a human can still go back.
    cancelled: () =>
      `the watch was cancelled; '${name}' keeps running with the known-good env file (verified), ` +
      `the previous file is ${backupPath}` +
      (docker ? `, the previous container is kept as '${preservedName}' (stopped)` : ''),
    breached: (m) =>
      `'${name}' failed ${m.maxConsecutiveFailures} consecutive health checks during the watch; left ` +
      `running with the known-good env file; the previous file is ${backupPath}` +
      (docker ? `, the previous container is kept as '${preservedName}' (stopped)` : '') +
      ' for a manual decision',
    result: (m) =>
      finish({
        outcome: 'succeeded',
        backup: { path: backupPath, sha256: current.sha256 },
        ...(container ? { container: { previousId: container.id, newId, preservedName } } : {}),
        ...unitResult(),
        verification,
        monitoring: m,
      }),
  });

  let preservedRemoved: boolean | undefined;
  if (docker) {
    progress.setPhase('cleaning-up');
    preservedRemoved = (
      await progress.step('remove-preserved-container', () =>
        op.removePreserved({ preservedName, expectedId: container!.id }),
      )
    ).removed;
  }
  progress.setPhase('completed');
  return finish({
    outcome: 'succeeded',
    backup: { path: backupPath, sha256: current.sha256 },
    ...(container ? { container: { previousId: container.id, newId, preservedName, preservedRemoved } } : {}),
    ...unitResult(),
    verification,
    ...(monitoring ? { monitoring } : {}),
  });

  function unitResult(): Pick<EnvFileRollbackResult, 'unit'> {
    if (!unitBefore) return {};
    return {
      unit: {
        name: unitBefore.unit,
        invocationBefore: unitBefore.invocationId,
        ...(restart ? { invocationAfter: restart.after.invocationId } : {}),
        restarted: restart?.restarted ?? false,
      },
    };
  }

  /** The Docker rollback's preserve → stop → run, with the env of the known-good file. */
  async function recreateContainer(c: ContainerEnv): Promise<string> {
    await progress.step(
      'preserve-current-container',
      () => op.preserveContainer({ name, preservedName, expectedId: c.id }),
      () => `renamed to ${preservedName}`,
    );
    undos.push({
      name: `restart the previous '${name}' (${c.id.slice(0, 12)})`,
      run: () => op.restorePreserved({ name, preservedName, expectedId: c.id, restartPolicy: c.restartPolicy }),
      manual: `docker rm -f ${name}; docker rename ${preservedName} ${name} && docker start ${name}${where}`,
    });
    await progress.step('stop-current-container', () =>
      op.stopContainer({ name: preservedName, timeoutSeconds: input.stopTimeoutSeconds }),
    );
    undos.push({
      name: `remove the recreated '${name}'`,
      run: () => op.removeOwnContainer({ name, runId: info.runId }),
      manual: `docker inspect ${name}: this rollback's container has label cortex-rollback.run-id=${info.runId}; remove it (docker rm -f ${name})${where}`,
    });
    const r = await progress.step(
      'recreate-container-with-env-file',
      () =>
        op.recreateContainerWithEnvFile({
          name,
          preservedName,
          expectedId: c.id,
          envFile: input.envFile,
          previousEnvFile: backupPath,
          requiredKeys: input.requiredKeys,
          restartPolicy: c.restartPolicy,
          runId: info.runId,
          workflowId: info.workflowId,
        }),
      (r) => `container ${r.id.slice(0, 12)} from ${r.image}${r.reused ? ' (found from an earlier attempt)' : ''}`,
    );
    return r.id;
  }

  function compensate(err: unknown): Promise<never> {
    return compensateChange(progress, undos, err, {
      check: async (u) =>
        u.failed.length === 0 && undos.length > 0
          ? verifyRestoredHealth(progress, wait.waitHealthy, t.healthUrl, before, input.verifyTimeoutSeconds)
          : undefined,
      summary: (what, u, after) =>
        u.failed.length > 0
          ? restoreFailedSummary(what, u)
          : undos.length === 0
            ? `${what}. Nothing had been changed.`
            : `${what}. Restored: ${input.envFile} from ${backupPath} (sha256 ${short(current.sha256)})` +
              (docker
                ? `; '${name}' runs its previous container ${container!.id.slice(0, 12)} again`
                : `; ${name} restarted on it`) +
              ` (${restoredHealthText(after, before)}).`,
      details: (u, after) => ({
        restored: u.restored,
        failedUndos: u.failed,
        restoredFile: { path: input.envFile, from: backupPath, sha256: current.sha256 },
        ...(docker && container ? { restoredContainer: container.id } : {}),
        verification,
        restoredHealth: after,
      }),
    });
  }
}
