// Owns the dry-run plan of the Docker container rollback (application/docker-container.ts): the same read-only
// steps the real run takes before its approval (inspect the container, sample its health, find the target image
// without pulling), then the steps, the backup (the current container kept stopped with its whole configuration)
// and the outage the real run would cause. A missing target image is a warning here (the real run stops there).
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities, HealthSample, ImageInfo } from '../../activities/index.ts';
import { hostTaskQueue } from '../../common/config.ts';
import { FailureType } from '../../common/failures.ts';
import type { ValidDockerRollbackInput } from '../application/docker-container.ts';
import { innerFailure, surfaced } from '../phases/failures.ts';
import type { PlanBody, PlanStep } from '../phases/plan.ts';
import { localProbe, localQuick, probe, quick } from '../phases/profiles.ts';

/** What the real run's container create and start take on a loaded host, beyond the stop and health windows. */
const CREATE_AND_START_SECONDS = 5;

export async function planDockerRollback(input: ValidDockerRollbackInput): Promise<PlanBody> {
  const taskQueue = input.host ? hostTaskQueue(input.host) : undefined;
  const read = taskQueue
    ? proxyActivities<Activities>({ ...quick, taskQueue })
    : proxyLocalActivities<Activities>(localQuick);
  const sampleHealth = taskQueue
    ? proxyActivities<Activities>({ ...probe, taskQueue }).probeHealth
    : proxyLocalActivities<Activities>(localProbe).probeHealth;
  const reads = ['inspectContainer', 'probeHealth', 'findImage'];
  let current, before: HealthSample;
  try {
    [current, before] = await Promise.all([
      read.inspectContainer({ name: input.containerName }),
      sampleHealth({ url: input.healthUrl }),
    ]);
  } catch (err) {
    throw surfaced(err, ' (dry run: nothing was changed)');
  }
  let target: ImageInfo | undefined;
  const warnings: string[] = [];
  try {
    target = await read.findImage({ ref: input.targetImage, pull: false });
  } catch (err) {
    if (innerFailure(err)?.type !== FailureType.NotFound) throw surfaced(err, ' (dry run: nothing was changed)');
    warnings.push(
      input.pull
        ? `${input.targetImage} is not on the host: the run would pull it first (its download is a change)`
        : `unknown tag: ${input.targetImage} is not on the host and --pull is off, so the real run would stop at ` +
            'verify-target-image (NotFound) before changing anything',
    );
  }
  return dockerPlan(input, { current, before, target, reads, warnings });
}

/** The plan from what the read-only steps found (pure). */
export function dockerPlan(
  input: ValidDockerRollbackInput,
  facts: {
    current: { id: string; image: string; imageId: string; running: boolean; state: string; startedAt: string };
    before: HealthSample;
    target: ImageInfo | undefined;
    reads: string[];
    warnings: string[];
  },
): PlanBody {
  const { current, before, target } = facts;
  const name = input.containerName;
  const where = input.host ? `on host ${input.host}` : "on the worker's Docker host";
  const preserved = `${name}-pre-rollback-<run id>`;
  const warnings = [...facts.warnings];
  const health = before.ok ? 'healthy' : `unhealthy (${before.httpStatus ?? before.error ?? '?'})`;
  const nowLines = [
    `container ${name} ${where}: ${current.image} (${current.imageId.slice(7, 19)}), ${current.state} since ` +
      `${current.startedAt}, ${health} at ${input.healthUrl}`,
    target
      ? `target ${target.ref} = ${target.id.slice(7, 19)}${target.version ? ` (version ${target.version})` : ''}, on the host`
      : `target ${input.targetImage}: not on the host`,
  ];
  const onTarget = target !== undefined && current.imageId === target.id && current.running;
  if (target && current.imageId === target.id && !current.running)
    warnings.push(`${name} already has ${target.ref} but is ${current.state}: the rollback recreates it`);
  if (before.ok && !onTarget) warnings.push(`${name} answers healthy now: make sure a rollback is what is needed`);
  const steps: PlanStep[] = [
    { name: 'assess-current-container', what: `inspect ${name}`, changes: false },
    { name: 'assess-current-health', what: `GET ${input.healthUrl}`, changes: false },
    {
      name: 'verify-target-image',
      what: input.pull ? `find ${input.targetImage}, pulling it if missing` : `find ${input.targetImage} on the host`,
      changes: input.pull && target === undefined,
    },
  ];
  if (!onTarget) {
    steps.push(
      { name: 'approval', what: 'wait for the approval below (approval-needed notification)', changes: false },
      {
        name: 'preserve-current-container',
        what: `rename ${name} to ${preserved}`,
        changes: true,
        undo: `rename it back, start it, restore its restart policy (${current.image})`,
      },
      {
        name: 'stop-current-container',
        what: `stop ${preserved} (grace ${input.stopTimeoutSeconds}s)`,
        changes: true,
        undo: `remove this run's new ${name}, then restore ${preserved}`,
      },
      {
        name: 'run-target-image',
        what: `create and start ${name} from ${input.targetImage} with the same configuration`,
        changes: true,
        undo: `remove it, restore ${preserved}`,
      },
      {
        name: 'verify-health',
        what: `wait up to ${input.verifyTimeoutSeconds}s for ${input.healthUrl} to answer healthy`,
        changes: false,
      },
    );
    if (input.verification)
      steps.push({
        name: 'post-rollback-verification',
        what: 'child workflow postRollbackVerification (the runbook checklist)',
        changes: false,
      });
    if (input.monitor.durationSeconds > 0)
      steps.push({
        name: 'monitor',
        what:
          `watch ${input.healthUrl} every ${input.monitor.intervalSeconds}s for ${input.monitor.durationSeconds}s ` +
          `(breach after ${input.monitor.failureThreshold} failures in a row)` +
          (input.metricsUrl ? `, alert thresholds on ${input.metricsUrl}` : ''),
        changes: false,
      });
    steps.push({
      name: 'remove-preserved-container',
      what: `remove ${preserved} once verified${input.monitor.durationSeconds > 0 ? ' and watched' : ''}`,
      changes: true,
    });
  }
  return {
    current: nowLines,
    steps,
    backups: onTarget
      ? []
      : [
          {
            what: `container config snapshot: ${name} (${current.id.slice(0, 12)}, ${current.image}) kept stopped with its whole configuration and writable layer`,
            where: `${preserved} ${where}, until the rollback is verified${input.monitor.durationSeconds > 0 ? ' and watched' : ''}`,
            estimatedBytes: 0,
            estimate: 'nothing copied (a rename)',
          },
        ],
    expectedDowntime: onTarget
      ? { what: 'none: nothing changes' }
      : {
          maxSeconds: input.stopTimeoutSeconds + CREATE_AND_START_SECONDS + input.verifyTimeoutSeconds,
          what:
            `${name} is down from stop-current-container until verify-health: the stop grace ` +
            `(${input.stopTimeoutSeconds}s) + create and start (seconds) + healthy within ${input.verifyTimeoutSeconds}s`,
        },
    warnings,
    reads: facts.reads,
    ...(onTarget
      ? { nothingToDo: `${name} already runs ${target.ref}: the rollback would end as already-on-target` }
      : {}),
  };
}
