// Owns the dry-run plan of the Kubernetes rollback (application/kubernetes.ts): the real run's one read-only step
// (planKubernetesRollback: the deployment, its ReplicaSets as the rollout history, the target revision — the same
// activity and the same choice), then the steps, the "backup" (the replaced revision's ReplicaSet and pod template,
// kept in the rollout history) and the rollout's outage (none for a rolling update with ready replicas).
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.ts';
import type { ValidKubernetesRollbackInput } from '../application/kubernetes.ts';
import { surfaced } from '../phases/failures.ts';
import type { PlanBody, PlanStep } from '../phases/plan.ts';
import { quick } from '../phases/profiles.ts';

export async function planKubernetesRollback(input: ValidKubernetesRollbackInput): Promise<PlanBody> {
  const q = proxyActivities<Activities>(quick);
  const ref = {
    namespace: input.namespace,
    deployment: input.deployment,
    ...(input.context ? { context: input.context } : {}),
  };
  let plan;
  try {
    plan = await q.planKubernetesRollback({
      ...ref,
      ...(input.container ? { container: input.container } : {}),
      ...(input.targetImage ? { targetImage: input.targetImage } : {}),
      ...(input.targetRevision !== undefined ? { targetRevision: input.targetRevision } : {}),
    });
  } catch (err) {
    throw surfaced(err, ' (dry run: nothing was changed)');
  }
  const where = `deployment/${input.deployment} in ${input.namespace}${input.context ? ` (context ${input.context})` : ''}`;
  const { current, target } = plan;
  const steps: PlanStep[] = [
    { name: 'assess-rollout-history', what: `read ${where} and its ReplicaSets`, changes: false },
  ];
  if (target) {
    steps.push(
      { name: 'approval', what: 'wait for the approval below (approval-needed notification)', changes: false },
      {
        name: 'rollout-undo',
        what: `kubectl rollout undo --to-revision=${target.revision} (ReplicaSet ${target.replicaSet}, ${target.image})`,
        changes: true,
        undo: `roll back to ReplicaSet ${current.replicaSet} (${current.image}) and wait for that rollout`,
      },
      {
        name: 'rollout-status',
        what: `kubectl rollout status --timeout=${input.rolloutTimeoutSeconds}s`,
        changes: false,
      },
      {
        name: 'verify-ready-replicas',
        what: `${current.desired} ready replica(s) on ${target.image}`,
        changes: false,
      },
    );
    if (input.monitor.durationSeconds > 0)
      steps.push({
        name: 'monitor',
        what: `ready replicas on ${target.image} every ${input.monitor.intervalSeconds}s for ${input.monitor.durationSeconds}s`,
        changes: false,
      });
  }
  return {
    current: [
      `${where}: revision ${current.revision} (ReplicaSet ${current.replicaSet}) runs ${current.image}, ` +
        `${current.ready}/${current.desired} ready`,
      `rollout history: ${plan.history.map((h) => `${h.revision}=${h.images[plan.container] ?? '?'}`).join(', ')}`,
      target
        ? `target: revision ${target.revision} (ReplicaSet ${target.replicaSet}) runs ${target.image}`
        : 'target: already running',
    ],
    steps,
    backups: target
      ? [
          {
            what: `revision ${current.revision}: ReplicaSet ${current.replicaSet} and its pod template (${Object.entries(
              current.images,
            )
              .map(([c, i]) => `${c}=${i}`)
              .join(', ')})`,
            where: "the deployment's rollout history (kept by Kubernetes) and this rollback's result",
            estimatedBytes: 0,
            estimate: 'nothing copied',
          },
        ]
      : [],
    expectedDowntime: target
      ? {
          maxSeconds: 0,
          what:
            `none expected: a rolling update keeps ready replicas; the rollout may take up to ` +
            `${input.rolloutTimeoutSeconds}s (${current.desired} replica(s))`,
        }
      : { what: 'none: nothing changes' },
    warnings:
      current.ready < current.desired ? [`only ${current.ready}/${current.desired} replicas are ready now`] : [],
    reads: ['planKubernetesRollback'],
    ...(target
      ? {}
      : { nothingToDo: `${where} already runs ${current.image}: the rollback would end as already-on-target` }),
  };
}
