// Owns the runbook's `emergency-rollback.sh` (`emergencyRollback`): one entry point for an application, database or
// configuration rollback in an emergency — notify, pre-checks, an emergency backup, then the matching rollback
// workflow as a child (dockerContainerRollback / qdrantDataRecovery / environmentConfigRollback), then the
// post-rollback health check.
// Invariants:
//  - the child's input is built here and validated with the child's own schema before anything happens, so a bad
//    target is refused with nothing changed and nobody paged;
//  - the pre-checks (the container runs, its /health answers at all — the script's `curl -s`) refuse the rollback
//    with nothing changed unless `force`, and a forced override is recorded in the status and the result;
//  - the child runs at once: its approval is a pre-approval naming the acknowledging engineer and this workflow
//    (emergency policy: any engineer acknowledges), recorded with the role the child's category needs; the child
//    does its own undo on failure, and its business-key workflow id keeps a second rollback of the target out;
//  - the emergency backup is kept whatever happens (it is the way back for a human).
import { ApplicationFailure, ChildWorkflowFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import type { HealthSample, HealthWait } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { runSuffix } from '../../common/names.ts';
import { REQUIRED_ROLE } from '../../common/roles.ts';
import { dockerContainerScenario } from '../application/docker-container.ts';
import { envFileScenario } from '../configuration/env-file.ts';
import { qdrantDataRecoveryScenario } from '../database/data-recovery.ts';
import { acts, collectionInput, stamp } from '../database/qdrant-common.ts';
import { takeBackup } from '../database/qdrant-backup.ts';
import type { ApprovalRecord } from '../phases/approval.ts';
import { fail, failedBeforeAnyChange, invalidInput } from '../phases/failures.ts';
import { errorMessage, Progress, type StepRecord } from '../phases/progress.ts';
import { defineScenario, runOf, who, type Scenario } from '../phases/scenario.ts';
import {
  approvalInput,
  bool,
  checked,
  hostInput,
  int,
  oneOf,
  parseInput,
  scenarioInput,
  searchAttributesInput,
  text,
  whoFields,
  type z,
} from '../phases/schema.ts';
import { validateAbsolutePath, validateContainerName, validateHttpUrl } from '../phases/validation.ts';
import { acknowledgement, notifyEmergency, notifyOutcome } from './common.ts';

export const emergencyRollbackInput = scenarioInput({
  searchAttributes: searchAttributesInput(),
  type: oneOf(['application', 'database', 'configuration'], "must be 'application', 'database' or 'configuration'")
    .describe("what to roll back (the script's first argument)")
    .meta({ flag: 'type', value: 'TYPE' }),
  target: text(4096)
    .describe(
      "what to roll back to (the script's second argument): application — an image (name:tag); database — a backup name or 'latest'; configuration — the known-good env file (absolute path)",
    )
    .meta({ value: 'TARGET', example: 'cortex-memory-mcp:v2.0.0' }),
  force: bool()
    .default(false)
    .describe('go on when the pre-checks fail (the override is recorded)')
    .meta({ flag: 'force' }),
  containerName: checked<string>((v, f) => validateContainerName(v, f))
    .describe('the service container (checked before, rolled back or restarted, checked after)')
    .meta({ flag: 'container', value: 'NAME' }),
  healthUrl: checked<string>((v, f) => validateHttpUrl(v, f))
    .describe("the service's health endpoint (pre-check: it answers; post-check: healthy)")
    .meta({ flag: 'health-url', value: 'URL' }),
  collection: collectionInput('the Qdrant collection of the emergency backup (and of a database rollback)').default(
    'cortex-memory',
  ),
  envFile: checked<string | undefined, string>((v, f) => (v === undefined ? undefined : validateAbsolutePath(v, f)))
    .optional()
    .describe('configuration: the env file the service reads (replaced by the known-good target)')
    .meta({ flag: 'file', value: 'PATH' }),
  watchSeconds: int(0, 86400)
    .default(1800)
    .describe("the child rollback's watch after the change (seconds; 0: none)")
    .meta({ flag: 'watch-seconds', value: 'S' }),
  healthTimeoutSeconds: int(1, 3600)
    .default(60)
    .describe('how long the post-rollback health check waits (seconds)')
    .meta({ flag: 'health-timeout', value: 'S' }),
  ...whoFields,
  host: hostInput(),
  approval: approvalInput('emergency'),
}).superRefine((i, ctx) => {
  // the child's own schema judges the target, so the CLI refuses a bad one before it connects (exit 2)
  if (i.type === 'configuration' && !i.envFile) {
    ctx.addIssue({ code: 'custom', path: ['envFile'], message: 'is required for a configuration rollback' });
    return;
  }
  const r = CHILD[i.type].input.safeParse(childInput(i, 'emergency'));
  if (!r.success) {
    const first = r.error.issues[0];
    ctx.addIssue({
      code: 'custom',
      path: ['target'],
      message: `as ${CHILD[i.type].workflowType} input: ${first?.path.join('.') ?? ''}: ${first?.message ?? 'invalid'}`,
    });
  }
});

export type EmergencyRollbackInput = z.input<typeof emergencyRollbackInput>;
type Valid = z.output<typeof emergencyRollbackInput>;

export const emergencyRollbackScenario = defineScenario({
  name: 'emergency-rollback',
  workflowType: 'emergencyRollback',
  category: 'emergency',
  runbook: 'Automated Rollback Scripts → emergency-rollback.sh',
  summary:
    'at once: notify, pre-checks (force overrides), emergency backup, the application / database / configuration rollback as a child, post-rollback health check',
  input: emergencyRollbackInput,
  summarize: (i) => `EMERGENCY ${i.type} rollback of ${i.containerName} → ${i.target}${i.force ? ' (forced)' : ''}`,
  workflowId: (i) => `rollback-emergency-${i.type}-${i.containerName}`,
  runAttributes: (i) => ({ service: `${i.type}:${i.containerName}`, targetVersion: i.target, ...who(i) }),
});

export interface EmergencyRollbackResult {
  outcome: 'succeeded';
  workflowId: string;
  type: Valid['type'];
  preChecks: { running: boolean; answered: boolean; status?: number; forced: boolean };
  emergencyBackup: string;
  child: { workflowType: string; workflowId: string; result: unknown };
  postCheck: HealthWait;
  approvals: ApprovalRecord[];
  timeline: StepRecord[];
}

const CHILD: Record<Valid['type'], Scenario> = {
  application: dockerContainerScenario,
  database: qdrantDataRecoveryScenario,
  configuration: envFileScenario,
};

/** The child's input from ours, with the emergency acknowledgement as its pre-approval. */
function childInput(i: Valid, parentId: string): Record<string, unknown> {
  const ack = acknowledgement(i.requestedBy, i.approval.preApproved);
  const approval = {
    preApproved: {
      approver: `${ack.approver} (emergency ${parentId})`,
      role: REQUIRED_ROLE[i.type],
      comment: `emergency acknowledgement by ${ack.approver} (${ack.role}): runs at once`,
    },
  };
  const who = { reason: i.reason, requestedBy: i.requestedBy, ...(i.host ? { host: i.host } : {}), approval };
  // samples every 30 s (the runbook's), more often for a watch shorter than that
  const w = i.watchSeconds;
  const monitor = {
    durationSeconds: w,
    ...(w > 0 && w < 30 ? { intervalSeconds: Math.max(1, Math.floor(w / 2)) } : {}),
  };
  switch (i.type) {
    case 'application':
      return { containerName: i.containerName, targetImage: i.target, healthUrl: i.healthUrl, monitor, ...who };
    case 'database':
      return {
        collection: i.collection,
        backup: i.target,
        app: { containerName: i.containerName, healthUrl: i.healthUrl },
        monitor,
        ...who,
      };
    case 'configuration':
      return {
        envFile: i.envFile,
        knownGoodFile: i.target,
        target: { kind: 'docker', containerName: i.containerName, healthUrl: i.healthUrl },
        monitor,
        ...who,
      };
  }
}

export async function emergencyRollback(raw: EmergencyRollbackInput): Promise<EmergencyRollbackResult> {
  const info = workflowInfo();
  const r0 = raw as { type?: unknown; containerName?: unknown } | undefined;
  const progress = new Progress('emergency', `${String(r0?.type)}:${String(r0?.containerName)}`);
  let input: Valid;
  let child: { scenario: Scenario; input: Record<string, unknown>; workflowId: string };
  try {
    input = parseInput(emergencyRollbackInput, raw);
    const scenario = CHILD[input.type];
    const ci = childInput(input, info.workflowId);
    const parsed = parseInput(scenario.input, ci, `the ${scenario.workflowType} input built from target`);
    child = { scenario, input: ci, workflowId: scenario.workflowId(parsed) };
  } catch (err) {
    throw invalidInput(progress, err);
  }
  progress.searchAttributesEnabled = input.searchAttributes;
  progress.publishSearchAttributes(runOf(emergencyRollbackScenario, input));
  progress.note('validate-input', 'completed');
  const a = acts(input.host);
  const summary = `EMERGENCY ROLLBACK (${input.type}) of ${input.containerName} to ${input.target}`;
  const target = `${input.type}:${input.containerName}`;
  await notifyEmergency(progress, target, summary, {
    requestedBy: input.requestedBy,
    force: input.force,
    workflowId: info.workflowId,
  });

  // 1. Pre-rollback checks, read-only; a failure refuses unless forced.
  progress.setPhase('pre-checks');
  let preChecks: EmergencyRollbackResult['preChecks'];
  let backupName: string;
  try {
    const c = await progress.step(
      'pre-check: container running',
      () => a.q.inspectContainer({ name: input.containerName }).then((s) => s.running),
      (running) => (running ? 'running' : 'not running'),
    );
    const h: HealthSample = await progress.step(
      'pre-check: health answers',
      () => a.probe.probeHealth({ url: input.healthUrl }),
      (s) => (s.httpStatus !== undefined ? `HTTP ${s.httpStatus}` : (s.error ?? 'no answer')),
    );
    const answered = h.httpStatus !== undefined;
    preChecks = {
      running: c,
      answered,
      ...(h.httpStatus !== undefined ? { status: h.httpStatus } : {}),
      forced: false,
    };
    if (!c || !answered) {
      const why = [
        !c ? `'${input.containerName}' is not running` : '',
        !answered ? `${input.healthUrl} does not answer` : '',
      ]
        .filter(Boolean)
        .join(' and ');
      if (!input.force) throw fail(FailureType.Conflict, `pre-rollback checks failed: ${why}; force to go on anyway`);
      preChecks.forced = true;
      progress.note('pre-checks overridden', 'completed', `force: ${why}`);
    }
    if (input.type === 'database' && input.target === 'latest') {
      // 'latest' is the newest backup from before this emergency: fixed now, before the emergency backup exists
      const backups = await a.q.listBackups({ collection: input.collection });
      const latest = backups.filter((b) => !/^(pre-rollback|emergency-rollback)-/.test(b.name)).at(-1);
      if (!latest) throw fail(FailureType.NotFound, `no backup of '${input.collection}' to roll back to`);
      child.input = { ...child.input, backup: latest.name };
      progress.note('resolve-latest', 'completed', `latest = ${latest.name} (${latest.createdAt})`);
    }
    // 2. The emergency backup (ops:backup:manual --name=emergency-rollback-<time>): kept whatever happens.
    progress.setPhase('backing-up');
    backupName = `emergency-rollback-${stamp()}-${runSuffix(info.runId)}`;
    const name = backupName;
    await takeBackup(a, progress, input.collection, name);
  } catch (err) {
    const failure = failedBeforeAnyChange(progress, err);
    await notifyOutcome(progress, target, failure, summary);
    throw failure;
  }

  // 3. The rollback itself, as the matching workflow.
  progress.setPhase(`rolling-back (${child.scenario.workflowType})`);
  let childResult: unknown;
  try {
    childResult = await progress.step(
      `child ${child.scenario.workflowType}`,
      () =>
        executeChild(child.scenario.workflowType, {
          workflowId: child.workflowId,
          args: [child.input],
        }),
      () => child.workflowId,
    );
  } catch (err) {
    const cause = err instanceof ChildWorkflowFailure ? (err.cause ?? err) : err;
    const inner = cause instanceof ApplicationFailure ? cause : undefined;
    const failure = fail(
      (inner?.type as FailureType | undefined) ?? FailureType.Unavailable,
      `${child.scenario.workflowType} (${child.workflowId}) failed: ${errorMessage(cause)}; the emergency backup ${backupName} is kept`,
    );
    progress.setPhase('failed');
    progress.status.error = failure.message;
    await notifyOutcome(progress, target, failure, summary);
    throw failure;
  }
  const outcome = (childResult as { outcome?: string }).outcome;
  if (outcome !== 'succeeded' && outcome !== 'already-on-target') {
    const failure = fail(FailureType.Conflict, `${child.workflowId} ended '${String(outcome)}'; nothing more done`);
    progress.setPhase('failed');
    await notifyOutcome(progress, target, failure, summary);
    throw failure;
  }

  // 4. Post-rollback verification (prod:health).
  progress.setPhase('verifying');
  const post = await progress.step(
    'post-check: health',
    () => a.wait.waitHealthy({ url: input.healthUrl, timeoutSeconds: input.healthTimeoutSeconds }),
    (w) => (w.healthy ? 'healthy' : 'unhealthy'),
  );
  if (!post.healthy) {
    const failure = fail(
      FailureType.VerificationFailed,
      `post-rollback health check failed: ${input.healthUrl} is not healthy after ${child.workflowId}; the emergency backup ${backupName} is kept`,
    );
    progress.setPhase('failed');
    progress.status.error = failure.message;
    await notifyOutcome(progress, target, failure, summary);
    throw failure;
  }
  progress.restored('post-check: health');
  progress.setPhase('completed');
  await notifyOutcome(progress, target, undefined, summary);
  return {
    outcome: 'succeeded',
    workflowId: info.workflowId,
    type: input.type,
    preChecks,
    emergencyBackup: backupName,
    child: { workflowType: child.scenario.workflowType, workflowId: child.workflowId, result: childResult },
    postCheck: post,
    approvals: progress.status.approvals,
    timeline: progress.status.steps,
  };
}
