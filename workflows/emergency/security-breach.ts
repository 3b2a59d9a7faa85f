// Owns the runbook's "Emergency Scenario: Security Breach Response" (`securityBreachEmergency`): notify security,
// isolate (stop the containers, block the service ports with iptables), rotate the env file's secrets, restore
// Qdrant from a backup at most a day old (the data recovery's own restore), restart the application with the new
// credentials, audit.
// Invariants:
//  - secret values never enter history, logs or the report: activities take paths and key names and return
//    sha256 digests; the previous file is kept beside the env file as a 0600 backup;
//  - fail safe is "isolated": a failure after isolation removes only the container this run created; the ports stay
//    blocked, the stopped containers stay stopped, the rotated secrets stay (the old ones are compromised and are
//    never put back), a restore already done stays (it is the known-good state). The isolation is then checked, not
//    assumed (containers and firewall read back), and the failure, its page and the report say whether the service
//    is still isolated (else what is running or open, and how to isolate it by hand) and what to do next;
//  - isolation is best effort: every stop is tried and the ports are blocked even when a stop failed (the run then
//    fails, isolated as far as it could be);
//  - the compromised container is kept (renamed, stopped) until the audit passes, then removed (its config holds
//    the old values);
//  - nothing changes before the input is valid; no approval wait: the requester (any engineer of the roster)
//    acknowledges; a requester outside the roster leaves the restore waiting for a roster engineer's
//    acknowledgement, and none in time fails the run (isolated, "Qdrant NOT restored"), never a success.
import { CancellationScope, isCancellation, patched, workflowInfo } from '@temporalio/workflow';
import type { ContainerEnv, RotatedKey, RulesBackup } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { runSuffix } from '../../common/names.ts';
import { fail, failedBeforeAnyChange, innerFailure, invalidInput } from '../phases/failures.ts';
import { errorMessage, Progress, type StepRecord } from '../phases/progress.ts';
import { runUndos, type Undo } from '../phases/saga.ts';
import { defineScenario, runOf, who } from '../phases/scenario.ts';
import {
  approvalInput,
  bool,
  checked,
  hostInput,
  int,
  line,
  parseInput,
  scenarioInput,
  searchAttributesInput,
  whoFields,
  z,
} from '../phases/schema.ts';
import {
  InputError,
  show,
  validateAbsolutePath,
  validateContainerName,
  validateHttpUrl,
} from '../phases/validation.ts';
import type { ApprovalRecord } from '../phases/approval.ts';
import { recover, type QdrantRecoveryResult } from '../database/data-recovery.ts';
import { acts, collectionInput } from '../database/qdrant-common.ts';
import { acknowledgement, lastKnownGood, notifyEmergency, notifyOutcome } from './common.ts';

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NETNS = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;
const ROTATOR = /^[a-z][a-z0-9-]{0,39}$/;

const matching = (re: RegExp, what: string) =>
  checked<string>((v, f) => {
    if (typeof v !== 'string' || !re.test(v)) throw new InputError(f, `${show(v)} is not ${what}`);
    return v;
  });

const container = () => checked<string>((v, f) => validateContainerName(v, f));

export const securityBreachInput = scenarioInput({
  searchAttributes: searchAttributesInput(),
  app: scenarioInput({
    containerName: container()
      .describe('the application container: stopped, then recreated with the new credentials')
      .meta({ flag: 'container', value: 'NAME' }),
    healthUrl: checked<string>((v, f) => validateHttpUrl(v, f))
      .describe("the application's health endpoint after the restart")
      .meta({ flag: 'health-url', value: 'URL' }),
    envFile: checked(validateAbsolutePath)
      .describe("the application's env file (absolute path on its host) whose secrets are rotated")
      .meta({ flag: 'file', value: 'PATH' }),
    healthTimeoutSeconds: int(1, 3600)
      .default(60)
      .describe('how long the restarted application has to answer healthy (seconds)')
      .meta({ flag: 'health-timeout', value: 'S' }),
  }).describe('the application'),
  secretKeys: z
    .array(matching(ENV_KEY, 'an env key name'))
    .min(1, { error: 'names at least one secret key' })
    .max(50)
    .refine((k) => new Set(k).size === k.length, { error: 'names a key twice' })
    .describe('the env file keys to regenerate (repeat the flag for several)')
    .meta({ flag: 'secret-key', value: 'KEY' }),
  rotator: matching(ROTATOR, 'a rotator name')
    .default('random')
    .describe("the worker's secret rotator (default `random`: 32 crypto-random bytes, base64url)")
    .meta({ value: 'NAME' }),
  alsoStop: z
    .array(container())
    .max(20)
    .default([])
    .describe('other containers stopped during isolation; they stay stopped until someone decides')
    .meta({ flag: 'also-stop', value: 'NAME' }),
  ports: z
    .array(
      checked<number>((v, f) => {
        const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v; // a repeated CLI flag gives text
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535)
          throw new InputError(f, `must be a TCP port from 1 to 65535, got ${show(v)}`);
        return n;
      }),
    )
    .min(1)
    .max(20)
    .default([3000, 6333])
    .describe('TCP ports blocked in INPUT (default the service and Qdrant: 3000, 6333)')
    .meta({ flag: 'port', value: 'PORT' }),
  netns: matching(NETNS, 'a network namespace name')
    .optional()
    .describe("network namespace whose rules are changed (`ip netns exec`); absent: the host's own")
    .meta({ value: 'NAME' }),
  allowLoopback: bool()
    .default(true)
    .describe('keep the ports reachable over loopback (local health checks); --no-allow-loopback blocks them too')
    .meta({ flag: 'allow-loopback' }),
  reopenPorts: bool()
    .default(false)
    .describe('after a passed audit, put the firewall rules back as they were (default: the ports stay blocked)')
    .meta({ flag: 'reopen-ports' }),
  collection: collectionInput('the Qdrant collection (or alias) restored from a backup at most a day old'),
  maxBackupAgeHours: int(1, 24)
    .default(24)
    .describe('the restored backup is the newest verified one at most this many hours old')
    .meta({ flag: 'max-backup-age-hours', value: 'H' }),
  securityContacts: z
    .array(line(100))
    .max(10)
    .default(['@security-team'])
    .describe('who the security notification addresses')
    .meta({ flag: 'security-contact', value: 'WHO' }),
  ...whoFields,
  host: hostInput(),
  approval: approvalInput('emergency'),
  stopTimeoutSeconds: int(0, 240)
    .default(10)
    .describe('grace period when stopping containers (seconds)')
    .meta({ flag: 'stop-timeout', value: 'S' }),
});

export type SecurityBreachInput = z.input<typeof securityBreachInput>;

export const securityBreachScenario = defineScenario({
  name: 'emergency-security-breach',
  workflowType: 'securityBreachEmergency',
  category: 'emergency',
  runbook: 'Emergency Rollback Procedures → Security Breach Response',
  summary:
    'at once: notify security, stop the containers and block the ports, rotate the env file secrets, restore a verified backup ≤ 1 day old, restart with the new credentials, audit',
  input: securityBreachInput,
  summarize: (i) => `EMERGENCY: isolate ${i.app.containerName}, rotate its secrets, restore (no approval wait)`,
  workflowId: (i) => `rollback-emergency-security-${i.app.containerName}`,
  runAttributes: (i) => ({
    service: i.app.containerName,
    targetVersion: `isolated, ${i.secretKeys.length} secret(s) rotated`,
    ...who(i),
  }),
});

/** One audit check: what was checked and whether it held (digests and names only). */
export interface AuditCheck {
  check: string;
  ok: boolean;
  detail: string;
}

export interface SecurityBreachResult {
  outcome: 'succeeded';
  workflowId: string;
  stopped: string[];
  firewall: { backup: string; blocked: number[]; reopened: boolean; netns?: string };
  rotation: { envFile: string; backupPath: string; keys: RotatedKey[] };
  container: { previousId: string; newId: string; preservedName: string; preservedRemoved: boolean };
  restore: Pick<QdrantRecoveryResult, 'restoredFrom' | 'selection' | 'after' | 'sampleQuery' | 'emergencyExport'> & {
    preRollbackBackup?: string;
  };
  audit: AuditCheck[];
  approvals: ApprovalRecord[];
  timeline: StepRecord[];
}

/** What a failed run left, read back after its undos: the service is isolated only if all of it holds. */
export interface IsolationCheck {
  isolated: boolean;
  /** Every container the run stopped (the compromised one under its kept name) and a recreated one, if any. */
  containers: Array<{ name: string; exists: boolean; running: boolean; restartPolicy?: string }>;
  ports: Array<{ port: number; blocked: boolean }>;
  /** Set when the check itself could not be done: then nothing is claimed. */
  error?: string;
}

export async function securityBreachEmergency(raw: SecurityBreachInput): Promise<SecurityBreachResult> {
  const info = workflowInfo();
  const name0 = (raw as { app?: { containerName?: unknown } } | undefined)?.app?.containerName;
  const progress = new Progress('emergency', `security:${String(name0)}`);
  let input: z.output<typeof securityBreachInput>;
  try {
    input = parseInput(securityBreachInput, raw);
  } catch (err) {
    throw invalidInput(progress, err);
  }
  progress.searchAttributesEnabled = input.searchAttributes;
  progress.publishSearchAttributes(runOf(securityBreachScenario, input));
  progress.note('validate-input', 'completed');
  const a = acts(input.host);
  const { app, netns } = input;
  const ns = netns ? { netns } : {};
  const run = runSuffix(info.runId);
  const target = `docker:${app.containerName}`;
  const preservedName = `${app.containerName}-pre-breach-${run}`;
  const summary = `SECURITY BREACH on ${target}`;
  const ack = acknowledgement(input.requestedBy, input.approval.preApproved);

  // 1. Notify security first.
  await notifyEmergency(
    progress,
    target,
    `${summary}: isolating (containers stopped, ports ${input.ports.join(', ')} blocked), rotating ${input.secretKeys.length} secrets`,
    { requestedBy: input.requestedBy, reason: input.reason, workflowId: info.workflowId },
    input.securityContacts,
  );

  // Read-only assessment: a missing container or an unreadable firewall changes nothing.
  let before: ContainerEnv;
  let rules: RulesBackup;
  progress.setPhase('assessing');
  try {
    before = await progress.step(
      'assess-container',
      () => a.q.inspectContainerEnv({ name: app.containerName }),
      (c) => `${c.id.slice(0, 12)} ${c.state}`,
    );
    rules = await progress.step(
      'backup-firewall-rules',
      () => a.q.iptablesBackup({ ...ns, name: `emergency-${info.workflowId}-${run}` }),
      (b) => `${b.rules} rules → ${b.path}`,
    );
  } catch (err) {
    const failure = failedBeforeAnyChange(progress, err);
    await notifyOutcome(progress, target, failure, summary);
    throw failure;
  }

  const undos: Undo[] = [];
  const stopped: string[] = [];
  let rotation: { envFile: string; backupPath: string; keys: RotatedKey[] } | undefined;
  let portsBlocked = false;
  let preserved = false;
  let restoreDone = false;
  try {
    // 2. Isolate. Every stop is tried and the ports blocked even when a stop fails: one container that cannot be
    // stopped must not leave the service reachable (then the run fails, isolated as far as it could).
    progress.setPhase('isolating');
    const bestEffort = patched('security-breach-isolate-best-effort');
    const notStopped: Array<{ name: string; err: unknown }> = [];
    for (const name of [app.containerName, ...input.alsoStop]) {
      try {
        await progress.step(`stop ${name}`, () =>
          a.op.stopContainer({ name, timeoutSeconds: input.stopTimeoutSeconds }),
        );
        stopped.push(name);
      } catch (err) {
        if (!bestEffort || isCancellation(err)) throw err;
        notStopped.push({ name, err });
      }
    }
    const cannotStop = () =>
      notStopped.map((x) => `'${x.name}' (${errorMessage((x.err as { cause?: unknown }).cause ?? x.err)})`).join(', ');
    const typeOf = (err: unknown) => (innerFailure(err)?.type as FailureType | undefined) ?? FailureType.Unavailable;
    portsBlocked = true; // set before the step: a block that fails half-way may have blocked some
    const block = await progress
      .step(
        'block-ports',
        () => a.op.iptablesBlockPorts({ ports: input.ports, allowLoopback: input.allowLoopback, ...ns }),
        (b) =>
          `blocked ${b.blocked.join(', ') || 'none'}${b.alreadyBlocked.length ? `, already ${b.alreadyBlocked.join(', ')}` : ''}`,
      )
      .catch((err: unknown) => {
        if (notStopped.length === 0 || isCancellation(err)) throw err;
        throw fail(
          typeOf(err),
          `isolation incomplete: the ports could not be blocked (${errorMessage((err as { cause?: unknown }).cause ?? err)}) and could not stop ${cannotStop()}`,
        );
      });
    if (notStopped.length > 0) {
      throw fail(typeOf(notStopped[0]!.err), `isolation incomplete, ports blocked but could not stop ${cannotStop()}`);
    }

    // 3. Rotate the secrets (never undone: the old values are compromised).
    progress.setPhase('rotating-secrets');
    const r = await progress.step(
      'rotate-secrets',
      () =>
        a.op.rotateEnvSecrets({
          path: app.envFile,
          keys: input.secretKeys,
          backupPath: `${app.envFile}.pre-breach-${run}`,
          rotator: input.rotator,
          tag: run,
        }),
      (x) => `${x.keys.map((k) => k.key).join(', ')} regenerated; previous file kept as ${x.backupPath} (0600)`,
    );
    rotation = { envFile: r.path, backupPath: r.backupPath, keys: r.keys };

    // 4. Restore from a verified backup at most maxBackupAgeHours old: the data recovery's own steps.
    progress.setPhase('restoring');
    const restored = await recover(
      { collection: input.collection },
      () => ({
        collection: input.collection,
        selector: { atOrBefore: new Date().toISOString() },
        ...(input.host ? { host: input.host } : {}),
        emergencyExport: true,
        monitor: { durationSeconds: 0, intervalSeconds: 30, failureThreshold: 3 },
        approval: { timeoutSeconds: 60, preApproved: ack },
        stopTimeoutSeconds: input.stopTimeoutSeconds,
      }),
      lastKnownGood(input.maxBackupAgeHours * 3600),
      { rollbackType: 'emergency', progress },
    );
    // (an unacknowledged restore fails in recover: data-recovery.ts `emergency-fails-unless-acknowledged`)
    restoreDone = restored.outcome === 'succeeded';

    // 5. Restart with the new credentials: the compromised container kept aside, a new one from the rotated file.
    progress.setPhase('restarting');
    await progress.step(
      'preserve-compromised-container',
      () => a.op.preserveContainer({ name: app.containerName, preservedName, expectedId: before.id }),
      () => `renamed to ${preservedName} (stopped)`,
    );
    preserved = true;
    undos.push({
      name: `remove the recreated '${app.containerName}'`,
      run: () => a.op.removeOwnContainer({ name: app.containerName, runId: info.runId }),
      manual: `docker rm -f ${app.containerName} (label cortex-rollback.run-id=${info.runId})`,
    });
    const created = await progress.step(
      'recreate-with-new-credentials',
      () =>
        a.op.recreateContainerWithEnvFile({
          name: app.containerName,
          preservedName,
          expectedId: before.id,
          envFile: app.envFile,
          previousEnvFile: r.backupPath,
          requiredKeys: input.secretKeys,
          restartPolicy: before.restartPolicy,
          runId: info.runId,
          workflowId: info.workflowId,
        }),
      (c) => `container ${c.id.slice(0, 12)}`,
    );
    const health = await progress.step(
      'verify-health',
      () => a.wait.waitHealthy({ url: app.healthUrl, timeoutSeconds: app.healthTimeoutSeconds }),
      (h) => (h.healthy ? 'healthy' : 'unhealthy'),
    );
    if (health.healthy) progress.restored('verify-health');

    // 6. Audit.
    progress.setPhase('auditing');
    const audit: AuditCheck[] = [];
    const check = (c: string, ok: boolean, detail: string) => audit.push({ check: c, ok, detail });
    check('service-healthy', health.healthy, `${app.healthUrl} ${health.healthy ? 'healthy' : 'not healthy'}`);
    const env = await progress.step('audit-container-env', () => a.q.inspectContainerEnv({ name: app.containerName }));
    const has = (k: RotatedKey, sha: string) => env.env.some((e) => e.key === k.key && e.sha256 === sha);
    const newIn = r.keys.filter((k) => has(k, k.newSha256));
    check(
      'new-credentials-in-container',
      env.id === created.id && env.running && newIn.length === r.keys.length,
      `${newIn.length}/${r.keys.length} keys carry the new digest in the running container ${env.id.slice(0, 12)}`,
    );
    const olds = new Set(r.keys.map((k) => k.oldSha256));
    const oldLeft = env.env.filter((e) => olds.has(e.sha256)).map((e) => e.key);
    check(
      'old-credentials-gone',
      oldLeft.length === 0,
      oldLeft.length ? `old values still under ${oldLeft.join(', ')}` : 'no env entry has an old digest',
    );
    const file = await progress.step('audit-env-file', () => a.q.inspectEnvFile({ path: app.envFile }));
    const kept = await progress.step('audit-backup-file', () => a.q.inspectEnvFile({ path: r.backupPath }));
    const fileOk = r.keys.every((k) => file.keys.some((e) => e.key === k.key && e.sha256 === k.newSha256));
    check('env-file-rotated', fileOk, `${app.envFile}: ${fileOk ? 'new digests' : 'digests differ from the rotation'}`);
    check('previous-secrets-private', kept.mode === '0600', `${r.backupPath} mode ${kept.mode}`);
    const ports = await progress.step('audit-ports', () =>
      a.q.iptablesPortsBlocked({ ports: input.ports, allowLoopback: input.allowLoopback, ...ns }),
    );
    check(
      'ports-blocked',
      ports.every((p) => p.blocked),
      ports.map((p) => `${p.port} ${p.blocked ? 'blocked' : 'OPEN'}`).join(', '),
    );
    check(
      'backup-verified',
      restored.outcome === 'succeeded' && restored.sampleQuery?.ok === true,
      `${restored.restoredFrom?.name ?? '?'} (${restored.selection?.rule ?? ''}): checksum, ${restored.after?.pointsCount ?? '?'} points, ` +
        (restored.sampleQuery?.knownAnswers ? `${restored.sampleQuery.knownAnswers} known answers` : 'sample query'),
    );
    const failed = audit.filter((c) => !c.ok);
    progress.note(
      'audit',
      failed.length ? 'failed' : 'completed',
      failed.length ? failed.map((c) => `${c.check}: ${c.detail}`).join('; ') : `${audit.length} checks passed`,
    );
    if (failed.length > 0) {
      throw fail(
        FailureType.VerificationFailed,
        `audit failed: ${failed.map((c) => `${c.check} (${c.detail})`).join('; ')}`,
      );
    }

    // 7. Ports as decided, and the compromised container (old values in its config) removed.
    let reopened = false;
    if (input.reopenPorts) {
      await progress.step('reopen-ports', () =>
        a.op.iptablesRestoreBackup({ backupPath: rules.path, sha256: rules.sha256, ...ns }),
      );
      const open = await progress.step('audit-ports-reopened', () =>
        a.q.iptablesPortsBlocked({ ports: input.ports, allowLoopback: input.allowLoopback, ...ns }),
      );
      audit.push({
        check: 'ports-reopened',
        ok: open.every((p) => !p.blocked),
        detail: open.map((p) => `${p.port} ${p.blocked ? 'BLOCKED' : 'open'}`).join(', '),
      });
      reopened = true;
    }
    const removed = await progress.step('remove-compromised-container', () =>
      a.op.removePreserved({ preservedName, expectedId: before.id }),
    );
    progress.setPhase('completed');
    await notifyOutcome(progress, target, undefined, summary);
    return {
      outcome: 'succeeded',
      workflowId: info.workflowId,
      stopped,
      firewall: { backup: rules.path, blocked: block.blocked, reopened, ...ns },
      rotation,
      container: { previousId: before.id, newId: created.id, preservedName, preservedRemoved: removed.removed },
      restore: {
        ...(restored.restoredFrom ? { restoredFrom: restored.restoredFrom } : {}),
        ...(restored.selection ? { selection: restored.selection } : {}),
        ...(restored.after ? { after: restored.after } : {}),
        ...(restored.sampleQuery ? { sampleQuery: restored.sampleQuery } : {}),
        ...(restored.emergencyExport ? { emergencyExport: restored.emergencyExport } : {}),
        ...(restored.preRollbackBackup ? { preRollbackBackup: restored.preRollbackBackup } : {}),
      },
      audit,
      approvals: progress.status.approvals,
      timeline: progress.status.steps,
    };
  } catch (err) {
    if (isCancellation(err)) throw err;
    if (patched('security-breach-verified-isolation-on-failure')) throw await staysIsolated(err);
    const kept =
      `still isolated: ${stopped.length ? `${stopped.join(', ')} stopped` : 'no container stopped yet'}, ` +
      (portsBlocked ? `ports ${input.ports.join(', ')} blocked (rules before: ${rules.path})` : 'ports not blocked') +
      (rotation
        ? `; secrets rotated and kept (the old values are compromised and are not put back; previous file ${rotation.backupPath})`
        : '; secrets not rotated') +
      (preserved ? `; the compromised container is kept, stopped, as '${preservedName}'` : '');
    progress.setPhase('compensating');
    const undone = await CancellationScope.nonCancellable(() => runUndos(progress, undos));
    const inner = innerFailure(err);
    const failure = fail(
      undone.failed.length > 0
        ? FailureType.CompensationFailed
        : ((inner?.type as FailureType | undefined) ?? FailureType.VerificationFailed),
      `${errorMessage((err as { cause?: unknown }).cause ?? err)}. ` +
        (undone.failed.length > 0
          ? `RESTORE FAILED — manual action needed: ${undone.failed.join('; ')}; by hand: ${undone.manual.join(' ')}. `
          : undone.restored.length > 0
            ? `Undone: ${undone.restored.join(', ')}. `
            : '') +
        `Left ${kept}.`,
    );
    progress.setPhase(undone.failed.length > 0 ? 'compensation-failed' : 'isolated');
    progress.status.error = failure.message;
    await notifyOutcome(progress, target, failure, summary);
    throw failure;
  }

  /**
   * The failure path: undo what this run created, read the isolation back, and build the failure that says whether
   * the service is still isolated and what to do (also paged and in the status, hence the report).
   */
  async function staysIsolated(err: unknown): Promise<unknown> {
    progress.setPhase('compensating');
    const undone = await CancellationScope.nonCancellable(() => runUndos(progress, undos));
    const iso = await CancellationScope.nonCancellable(() => checkIsolation());
    const inner = innerFailure(err);
    const inNs = netns ? `ip netns exec ${netns} ` : '';
    // a breach handled through a host worker: say where, the commands run there
    const onHost = input.host ? ` on host ${input.host}` : '';
    const keptName = preserved ? preservedName : app.containerName;
    const running = iso.containers.filter((c) => c.running).map((c) => c.name);
    const open = iso.ports.filter((p) => !p.blocked).map((p) => p.port);
    const state = iso.error
      ? `ISOLATION NOT VERIFIED${onHost} (${iso.error}): check that ${isolatedNames().join(', ')} are stopped and ports ${input.ports.join(', ')} blocked`
      : iso.isolated
        ? `The service is STILL ISOLATED${onHost} (checked after the failure): ${iso.containers
            .filter((c) => c.exists)
            .map((c) => c.name)
            .join(', ')} stopped, ports ${input.ports.join(', ')} blocked${netns ? ` in ${netns}` : ''}`
        : `The service is NOT ISOLATED${onHost}: ${[
            ...running.map((n) => `${n} running`),
            ...open.map((p) => `port ${p} open`),
          ].join(', ')}`;
    const always = iso.containers.filter((c) => c.exists && c.restartPolicy === 'always').map((c) => c.name);
    const steps = [
      ...(!iso.isolated
        ? [
            `isolate it now by hand${onHost}: ${[
              ...(iso.error ? isolatedNames() : running).map((n) => `docker stop ${n}`),
              ...(iso.error ? input.ports : open).map(
                (p) => `${inNs}iptables -I INPUT ${blockRuleText(p, input.allowLoopback)}`,
              ),
            ].join('; ')}`,
          ]
        : []),
      ...(always.length
        ? [`docker update --restart=no ${always.join(' ')} (restart policy always: a Docker restart would start it)`]
        : []),
      `keep it isolated while you fix the cause above; never start '${keptName}': its configuration holds the compromised credentials`,
      rotation
        ? `the new credentials are in ${rotation.envFile} (the previous file, compromised, is ${rotation.backupPath})`
        : `rotate ${input.secretKeys.join(', ')} in ${app.envFile}`,
      ...(restoreDone
        ? []
        : [`restore '${input.collection}' from a verified backup at most ${input.maxBackupAgeHours} h old`]),
      preserved
        ? `recreate '${app.containerName}' from the image of '${preservedName}' with ${app.envFile}, check ${app.healthUrl} and that no old credential is in it, then remove '${preservedName}'`
        : `start the service with the credentials of ${app.envFile} (not from '${app.containerName}') and check ${app.healthUrl}`,
      portsBlocked
        ? `only then reopen the ports${onHost}: ${inNs}iptables-restore ${rules.path} (the rules from before the isolation)`
        : `only then let traffic in`,
    ];
    const cause = errorMessage((err as { cause?: unknown }).cause ?? err).replace(
      / \(nothing was changed\)$/,
      ' (the restore changed nothing)',
    );
    const failure = fail(
      !iso.isolated
        ? FailureType.CompensationFailed
        : undone.failed.length > 0
          ? FailureType.CompensationFailed
          : ((inner?.type as FailureType | undefined) ?? FailureType.VerificationFailed),
      `${cause}. ` +
        (undone.failed.length > 0
          ? `Undo FAILED: ${undone.failed.join('; ')}; by hand: ${undone.manual.join(' ')}. `
          : undone.restored.length > 0
            ? `Undone: ${undone.restored.join(', ')}. `
            : '') +
        `${state}. Secrets ${rotation ? 'rotated and kept (the old values are not put back)' : 'NOT rotated'}; ` +
        `Qdrant ${restoreDone ? 'restored' : 'NOT restored'}. ` +
        `What to do: ${steps.map((x, i) => `${i + 1}) ${x}`).join('; ')}.`,
      { isolation: iso, nextSteps: steps },
    );
    progress.setPhase(
      iso.error
        ? 'isolation-unverified'
        : !iso.isolated
          ? 'not-isolated'
          : undone.failed.length > 0
            ? 'compensation-failed'
            : 'isolated',
    );
    progress.status.error = failure.message;
    await notifyOutcome(progress, target, failure, summary);
    return failure;
  }

  /** The containers isolation stops, the compromised one under its kept name once it is kept aside. */
  function isolatedNames(): string[] {
    return [app.containerName, ...input.alsoStop].map((n) =>
      preserved && n === app.containerName ? preservedName : n,
    );
  }

  /** Reads back the containers the run stopped (and a recreated one) and the blocked ports. */
  async function checkIsolation(): Promise<IsolationCheck> {
    const names = [...isolatedNames(), ...(preserved ? [app.containerName] : [])];
    const result: IsolationCheck = { isolated: false, containers: [], ports: [] };
    try {
      await progress.step(
        'verify-isolation',
        async () => {
          for (const name of names) {
            try {
              const c = await a.q.inspectContainerEnv({ name });
              result.containers.push({ name, exists: true, running: c.running, restartPolicy: c.restartPolicy.Name });
            } catch (e) {
              if (innerFailure(e)?.type !== FailureType.NotFound) throw e;
              result.containers.push({ name, exists: false, running: false });
            }
          }
          result.ports = portsBlocked
            ? await a.q.iptablesPortsBlocked({ ports: input.ports, allowLoopback: input.allowLoopback, ...ns })
            : input.ports.map((port) => ({ port, blocked: false }));
          result.isolated = result.containers.every((c) => !c.running) && result.ports.every((p) => p.blocked);
        },
        () =>
          [
            ...result.containers.map((c) => `${c.name} ${c.exists ? (c.running ? 'RUNNING' : 'stopped') : 'gone'}`),
            ...result.ports.map((p) => `${p.port} ${p.blocked ? 'blocked' : 'OPEN'}`),
          ].join(', '),
      );
    } catch (e) {
      result.error = errorMessage((e as { cause?: unknown }).cause ?? e);
      result.isolated = false;
    }
    return result;
  }
}

/** The isolation rule as an operator types it (activities/iptables.ts blockRule). */
function blockRuleText(port: number, allowLoopback: boolean): string {
  return `${allowLoopback ? '! -i lo ' : ''}-p tcp --dport ${port} -j DROP`;
}
