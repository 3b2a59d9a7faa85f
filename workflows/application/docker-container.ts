// Owns the runbook's "Application Rollback → Scenario 1: Docker Container Rollback" as a durable workflow.
// Invariants:
//  - nothing on the host changes before the input is valid, the target image is found and the rollback is approved;
//  - the running container is preserved (renamed), never deleted, until the target is verified and watched;
//  - before each mutating step its undo is pushed; on failure or cancellation the undos run in reverse and the
//    error says both what failed and what was restored (an undo that fails is reported, never swallowed);
//  - host activities run on `cortex-rollback-host-<host>` when `host` is given, else on the workflow's queue.
import {
  ApplicationFailure,
  CancellationScope,
  executeChild,
  patched,
  proxyActivities,
  proxyLocalActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, HealthSample, HealthWait } from '../../activities/index.ts';
import { hostTaskQueue } from '../../common/config.ts';
import { runSuffix } from '../../common/names.ts';
import { FailureType } from '../../common/failures.ts';
import { ApprovalGate, approvalRefused, type ApprovalRecord } from '../phases/approval.ts';
import { beforeAnyChange, invalidInput } from '../phases/failures.ts';
import {
  compensateChange,
  restoredHealthText,
  restoreFailedSummary,
  verifyRestoredHealth,
  type Undo,
} from '../phases/saga.ts';
import { RUNBOOK_ALERT_THRESHOLDS, watchAfterChange, type MonitorSummary } from '../phases/monitor.ts';
import { dockerOp, localNotify, localProbe, localQuick, longWait, probe, quick } from '../phases/profiles.ts';
import { errorMessage, Progress, type StepRecord } from '../phases/progress.ts';
import { defineScenario, runOf, who } from '../phases/scenario.ts';
import { withLifecycleNotifications, type RollbackNotifications } from '../phases/notify.ts';
import { planDetails } from '../phases/plan.ts';
import { dockerPlan } from '../plans/docker-container.ts';
import {
  approvalInput,
  bool,
  checked,
  hostInput,
  int,
  monitorInput,
  parseInput,
  scenarioInput,
  whoFields,
  z,
} from '../phases/schema.ts';
import { validateContainerName, validateHttpUrl, validateImageRef } from '../phases/validation.ts';
import {
  postRollbackVerification,
  postRollbackVerificationInput,
  type PostRollbackVerificationInput,
  type VerificationResult,
} from '../verification/post-rollback.ts';

/** The input, declared once: type, validation (first act of the workflow), CLI flags and README table. */
export const dockerRollbackInput = scenarioInput({
  containerName: checked<string>((v, f) => validateContainerName(v, f))
    .describe('the running container to roll back')
    .meta({ flag: 'container', value: 'NAME' }),
  targetImage: checked<string>((v, f) => validateImageRef(v, f))
    .describe('the image to roll back to: name:tag or name@sha256:digest, not latest')
    .meta({ flag: 'image', value: 'IMAGE:TAG', example: 'cortex-memory-mcp:v2.0.0' }),
  healthUrl: checked<string>((v, f) => validateHttpUrl(v, f))
    .describe('http(s) health endpoint of the service (2xx and a healthy JSON status count as healthy)')
    .meta({ value: 'URL', example: 'http://127.0.0.1:3000/health' }),
  ...whoFields,
  host: hostInput(),
  stopTimeoutSeconds: int(0, 240)
    .default(10)
    .describe('grace period when stopping the current container (seconds)')
    .meta({ flag: 'stop-timeout', value: 'S' }),
  verifyTimeoutSeconds: int(1, 3600)
    .default(60)
    .describe('how long the target may take to answer healthy after it starts (seconds)')
    .meta({ flag: 'verify-timeout', value: 'S' }),
  pull: bool().default(false).describe('pull the target image when it is not on the host (needs a registry)'),
  monitor: monitorInput({ durationSeconds: 1800, intervalSeconds: 30, failureThreshold: 3 }),
  metricsUrl: checked<string | undefined, string>((v, f) => (v === undefined ? undefined : validateHttpUrl(v, f)))
    .optional()
    .describe(
      "the service's Prometheus /metrics: the watch applies the runbook's alert thresholds (error rate > 1%, " +
        'response time > 500 ms, memory > 4 GB, database connection errors) and notifies watch-alert',
    )
    .meta({ value: 'URL' }),
  approval: approvalInput('application'),
  trigger: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('the automatic trigger that started this rollback and its evidence (set by rollbackGuard)')
    .meta({ cli: false }),
  searchAttributes: bool()
    .default(false)
    .describe('upsert RollbackType/RollbackTarget/RollbackPhase (the CLI sets it from CORTEX_SEARCH_ATTRIBUTES)')
    .meta({ cli: false }),
  verification: z
    .record(z.string(), z.unknown())
    .optional()
    .describe(
      'run the post-rollback verification (workflow postRollbackVerification) after the health check, with these ' +
        "fields ({} for the defaults; the health URL and container are this rollback's); a failed check undoes",
    )
    .meta({ format: 'json', value: 'JSON' }),
});

export type DockerRollbackInput = z.input<typeof dockerRollbackInput>;
export type ValidDockerRollbackInput = z.output<typeof dockerRollbackInput>;

/** Business key: a second rollback of the same container cannot run while one does. */
export function dockerRollbackWorkflowId(containerName: string, host?: string): string {
  return host ? `rollback-docker-${host}-${containerName}` : `rollback-docker-${containerName}`;
}

export const dockerContainerScenario = defineScenario({
  name: 'docker-container',
  workflowType: 'dockerContainerRollback',
  category: 'application',
  runbook: 'Application Rollback → Scenario 1: Docker Container Rollback',
  summary: 'run the previous image under the same name and configuration, verify health, watch; undo on failure',
  input: dockerRollbackInput,
  summarize: (i) => `roll back docker:${i.containerName}${i.host ? `@${i.host}` : ''} → ${i.targetImage}`,
  workflowId: (i) => dockerRollbackWorkflowId(i.containerName, i.host),
  runAttributes: (i) => ({
    service: i.containerName,
    targetVersion: i.targetImage,
    ...who(i),
    // one the guard started is triggered by the rule that fired, not by a person's reason
    ...(typeof i.trigger?.rule === 'string' ? { trigger: `guard ${String(i.trigger.kind)}: ${i.trigger.rule}` } : {}),
  }),
});

export type DockerRollbackOutcome = 'succeeded' | 'rejected' | 'approval-timed-out' | 'already-on-target';

export interface DockerRollbackResult {
  outcome: DockerRollbackOutcome;
  workflowId: string;
  runId: string;
  container: string;
  host?: string;
  reason: string;
  requestedBy: string;
  from: { image: string; imageId: string; containerId: string };
  to: { image: string; imageId: string; version?: string; containerId?: string };
  preservedContainer?: string;
  preservedRemoved?: boolean;
  approvals: ApprovalRecord[];
  /** The automatic trigger that started it (rollbackGuard), with its evidence. */
  trigger?: Record<string, unknown>;
  verification?: HealthWait;
  postVerification?: VerificationResult;
  monitoring?: MonitorSummary;
  timeline: StepRecord[];
  startedAt: string;
  endedAt: string;
}

export function dockerContainerRollback(raw: DockerRollbackInput): Promise<DockerRollbackResult> {
  return withLifecycleNotifications((notifications) => runDockerContainerRollback(raw, notifications));
}

async function runDockerContainerRollback(
  raw: DockerRollbackInput,
  notifications: RollbackNotifications,
): Promise<DockerRollbackResult> {
  const info = workflowInfo();
  const container = typeof raw?.containerName === 'string' ? raw.containerName : '?';
  const progress = new Progress('application', `docker:${container}`);
  const approvals = progress.status.approvals;
  const gate = new ApprovalGate('application', approvals); // signals count from the very start

  let input: ValidDockerRollbackInput;
  try {
    input = parseInput(dockerRollbackInput, raw);
  } catch (err) {
    throw invalidInput(progress, err);
  }
  // The child's input is checked now, so a bad one is refused before anything changes.
  let postInput: PostRollbackVerificationInput | undefined;
  if (input.verification) {
    postInput = {
      service: input.containerName,
      healthUrl: input.healthUrl,
      ...(input.host ? {} : { container: input.containerName }),
      searchAttributes: input.searchAttributes,
      ...input.verification,
    };
    try {
      parseInput(postRollbackVerificationInput, postInput, 'verification');
    } catch (err) {
      throw invalidInput(progress, err);
    }
  }
  progress.searchAttributesEnabled = input.searchAttributes;
  progress.publishSearchAttributes(runOf(dockerContainerScenario, input), {
    service: input.containerName,
    targetVersion: input.targetImage,
    trigger: input.reason,
    requestedBy: input.requestedBy,
  });
  progress.note('validate-input', 'completed');
  await notifications.started(progress, dockerContainerScenario, input);

  const taskQueue = input.host ? hostTaskQueue(input.host) : undefined;
  const on = taskQueue ? { taskQueue } : {};
  const q = proxyActivities<Activities>({ ...quick, ...on });
  const op = proxyActivities<Activities>({ ...dockerOp, ...on });
  const wait = proxyActivities<Activities>({ ...longWait(input.verifyTimeoutSeconds), ...on });
  // Health samples: a local activity where the workflow's worker can reach the URL (one marker event per sample,
  // keeping a 30-minute watch well under 500 history events); the host's queue when the URL is host-local.
  const sampleHealth: (a: { url: string }) => Promise<HealthSample> = taskQueue
    ? proxyActivities<Activities>({ ...probe, taskQueue }).probeHealth
    : proxyLocalActivities<Activities>(localProbe).probeHealth;

  const startedAt = new Date().toISOString();
  const name = input.containerName;
  // in-flight runs keep the name they preserved under (the run id's head, shared by runs of the same minute)
  const preservedName = `${name}-pre-rollback-${
    patched('names-from-run-id-tail') ? runSuffix(info.runId) : info.runId.slice(0, 8)
  }`;
  const base = {
    workflowId: info.workflowId,
    runId: info.runId,
    container: name,
    ...(input.host ? { host: input.host } : {}),
    reason: input.reason,
    requestedBy: input.requestedBy,
    ...(input.trigger ? { trigger: input.trigger } : {}),
    approvals,
    timeline: progress.status.steps,
    startedAt,
  };
  const finish = (r: Omit<DockerRollbackResult, keyof typeof base | 'endedAt'>): DockerRollbackResult => ({
    ...base,
    ...r,
    endedAt: new Date().toISOString(),
  });

  // 1. Impact assessment (read-only).
  progress.setPhase('assessing');
  // Where the workflow's worker is the Docker host, the reads are local activities started together: no
  // workflow-task round trip each. Histories recorded with remote, one-after-another reads replay unchanged.
  const localReads = !taskQueue && patched('docker-reads-as-local-activities');
  const read = localReads ? proxyLocalActivities<Activities>(localQuick) : q;
  const { current, before, target } = await beforeAnyChange(progress, async () => {
    const inspect = () =>
      progress.step(
        'assess-current-container',
        () => read.inspectContainer({ name }),
        (c) => `${c.image} (${c.imageId.slice(7, 19)}), ${c.state}`,
      );
    const health = () =>
      progress.step(
        'assess-current-health',
        () => sampleHealth({ url: input.healthUrl }),
        (s) => (s.ok ? 'healthy' : `unhealthy: ${s.httpStatus ?? s.error ?? '?'}`),
      );
    // 2. The target must exist before anything is touched.
    const image = () =>
      progress.step(
        'verify-target-image',
        () => (input.pull ? wait : read).findImage({ ref: input.targetImage, pull: input.pull }),
        (i) => `${i.ref} = ${i.id.slice(7, 19)}${i.pulled ? ' (pulled)' : ''}`,
      );
    if (!localReads) {
      const current = await inspect();
      const before = await health();
      return { current, before, target: await image() };
    }
    // All settle before a failure is reported, so the reported one is the first in runbook order (a missing
    // container before a missing image), whatever finished first. A pull still waits for the others.
    const [c, b, t] = await Promise.allSettled([inspect(), health(), input.pull ? undefined : image()]);
    for (const r of [c, b, t]) if (r.status === 'rejected') throw r.reason;
    const value = <T>(r: PromiseSettledResult<T>): T => (r as PromiseFulfilledResult<T>).value;
    return { current: value(c), before: value(b), target: value(t) ?? (await image()) };
  });
  const from = { image: current.image, imageId: current.imageId, containerId: current.id };
  const to = { image: target.ref, imageId: target.id, ...(target.version ? { version: target.version } : {}) };
  if (current.imageId === target.id && current.running) {
    progress.setPhase('completed');
    progress.note('rollback', 'skipped', `'${name}' already runs ${target.ref}; nothing to do`);
    return finish({ outcome: 'already-on-target', from, to });
  }

  // The dry run's plan from the same facts (workflows/plans/): metadata only, no command.
  progress.detailsExtra = planDetails(dockerPlan(input, { current, before, target, reads: [], warnings: [] }));

  // 3. Approval gate.
  const refused = await approvalRefused(progress, gate, input);
  if (refused) return finish({ outcome: refused, from, to });

  // 4–6. Change, with an undo pushed before each mutating step.
  const undos: Undo[] = [];
  let verification: HealthWait | undefined;
  let postVerification: VerificationResult | undefined;
  let runId: string | undefined;
  try {
    progress.setPhase('rolling-back');
    // The undo is registered once the rename is done: a preserve refused (e.g. the container was replaced by
    // someone else while approval was pending) changed nothing and has nothing to restore.
    await progress.step(
      'preserve-current-container',
      () => op.preserveContainer({ name, preservedName, expectedId: current.id }),
      () => `renamed to ${preservedName}`,
    );
    undos.push({
      name: `restore '${name}' (${from.image})`,
      run: () =>
        op.restorePreserved({ name, preservedName, expectedId: current.id, restartPolicy: current.spec.restartPolicy }),
      manual:
        `put the previous container back: docker rename ${preservedName} ${name} && docker start ${name}` +
        (current.spec.restartPolicy.Name
          ? ` && docker update --restart ${current.spec.restartPolicy.Name} ${name}`
          : '') +
        `${input.host ? ` (on host ${input.host})` : ''}, then check ${input.healthUrl}`,
    });
    await progress.step('stop-current-container', () =>
      op.stopContainer({ name: preservedName, timeoutSeconds: input.stopTimeoutSeconds }),
    );
    undos.push({
      name: `remove the new '${name}' (${target.ref})`,
      run: () => op.removeOwnContainer({ name, runId: info.runId }),
      manual: `see what now runs as '${name}' (docker inspect ${name}; this rollback's own container has label ${'cortex-rollback.run-id'}=${info.runId}) and remove it if it must not run: docker rm -f ${name}`,
    });
    const run = await progress.step(
      'run-target-image',
      () =>
        op.runContainer({
          name,
          image: target.ref,
          spec: current.spec,
          runId: info.runId,
          workflowId: info.workflowId,
          rolledBackFrom: from.image,
        }),
      (r) => `container ${r.id.slice(0, 12)}${r.reused ? ' (found from an earlier attempt)' : ''}`,
    );
    runId = run.id;

    progress.setPhase('verifying');
    verification = await progress.step(
      'verify-health',
      () => wait.waitHealthy({ url: input.healthUrl, timeoutSeconds: input.verifyTimeoutSeconds }),
      (v) => (v.healthy ? `healthy after ${v.attempts} probe(s)` : `unhealthy after ${v.attempts} probe(s)`),
    );
    if (!verification.healthy) {
      const l = verification.last;
      throw ApplicationFailure.create({
        type: FailureType.VerificationFailed,
        nonRetryable: true,
        message:
          `${target.ref} did not answer healthy at ${input.healthUrl} within ${input.verifyTimeoutSeconds}s ` +
          `(last: ${l.httpStatus ?? l.error ?? '?'}${l.status ? ` ${l.status}` : ''})`,
      });
    }
    progress.restored('verify-health');
    // Only runs that ask for it reach the marker, so every earlier history replays unchanged.
    if (postInput && patched('post-rollback-verification')) {
      const child = postInput;
      postVerification = await progress.step(
        'post-rollback-verification',
        () =>
          executeChild(postRollbackVerification, {
            args: [child],
            // by run id only: a replay under another workflow id (test/unit/replay.test.ts) issues the same command
            workflowId: `post-rollback-verification-${info.runId}`,
          }),
        (v) => `${v.checks.filter((c) => c.status === 'pass').length}/${v.checks.length} checks passed`,
      );
    }
  } catch (err) {
    await CancellationScope.nonCancellable(() => compensate(err));
    throw err; // unreachable: compensate always throws
  }

  // 7. Watch on durable timers.
  const monitoring = await watchAfterChange(progress, input.monitor, {
    sampler: () => {
      // With a metrics URL, each sample is one local activity returning health and metrics (one marker event, as
      // before); runs without one issue the same commands as before, so their histories replay.
      const metricsUrl = input.metricsUrl;
      const withMetrics = metricsUrl !== undefined && patched('watch-metrics-thresholds');
      if (!withMetrics) return { sample: () => sampleHealth({ url: input.healthUrl }) };
      // With `host` the URLs are the host's (as the health samples are): sampled on its queue. Runs from before
      // sampled them from this worker, and replay so.
      const sampleService =
        taskQueue && patched('watch-metrics-on-host-queue')
          ? proxyActivities<Activities>({ ...probe, taskQueue }).sampleService
          : proxyLocalActivities<Activities>(localProbe).sampleService;
      return {
        sample: () => sampleService({ url: input.healthUrl, metricsUrl }),
        alerting: {
          thresholds: RUNBOOK_ALERT_THRESHOLDS,
          // A local activity: the alert's marker is recorded with the next timer, one event per alert.
          raise: async (a) => {
            const send = proxyLocalActivities<Activities>(localNotify).notify;
            const sent = await send({
              event: 'watch-alert',
              workflowId: info.workflowId,
              runId: info.runId,
              rollbackType: 'application',
              target: `docker:${name}`,
              summary: `${target.ref}: ${a.rule} ${a.figure} (alert ${a.limit})`,
              details: { rule: a.rule, figure: a.figure, limit: a.limit, at: a.at },
              key: `${a.rule}-${a.at}`,
            }).then(
              (r) => `slack ${r.slack}, pagerduty ${r.pagerDuty}`,
              (err: unknown) => `not delivered: ${errorMessage(err)}`,
            );
            progress.note(`alert-${a.rule}`, 'completed', `${a.figure} (${a.limit}); ${sent}`);
          },
        },
      };
    },
    // Cancelling the watch ends the watch only: the target was verified and keeps running; the previous
    // container is kept (stopped) so a human can still go back to it.
    cancelled: () =>
      `the watch was cancelled; ${target.ref} keeps running (verified healthy), ` +
      `previous container kept as '${preservedName}' (stopped)`,
    breached: (m) =>
      `${target.ref} failed ${m.maxConsecutiveFailures} consecutive health checks during the watch; ` +
      `left running, previous container kept as '${preservedName}' (stopped) for a manual decision`,
    result: (m) =>
      finish({
        outcome: 'succeeded',
        from,
        to: { ...to, containerId: runId },
        preservedContainer: preservedName,
        verification,
        ...(postVerification ? { postVerification } : {}),
        monitoring: m,
      }),
  });

  // 8. Clean up what the rollback kept for restoring.
  progress.setPhase('cleaning-up');
  const cleaned = await progress.step('remove-preserved-container', () =>
    op.removePreserved({ preservedName, expectedId: current.id }),
  );
  progress.setPhase('completed');
  return finish({
    outcome: 'succeeded',
    from,
    to: { ...to, containerId: runId },
    preservedContainer: preservedName,
    preservedRemoved: cleaned.removed,
    verification,
    ...(postVerification ? { postVerification } : {}),
    ...(monitoring ? { monitoring } : {}),
  });

  function compensate(err: unknown): Promise<never> {
    return compensateChange(progress, undos, err, {
      check: async (u) =>
        u.failed.length === 0 && undos.length > 0
          ? verifyRestoredHealth(progress, wait.waitHealthy, input.healthUrl, before, input.verifyTimeoutSeconds)
          : undefined,
      summary: (what, u, after) =>
        u.failed.length > 0
          ? restoreFailedSummary(
              what,
              u,
              `The previous container is '${preservedName}' (id ${current.id.slice(0, 12)}, image ${from.image}). `,
            )
          : undos.length === 0
            ? `${what}. Nothing had been changed.`
            : `${what}. Restored: '${name}' runs ${from.image} again (${restoredHealthText(after, before)}).`,
      details: (u, after) => ({ restored: u.restored, failedUndos: u.failed, verification, restoredHealth: after }),
    });
  }
}
