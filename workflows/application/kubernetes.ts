// Owns the runbook's "Application Rollback → Scenario 3: Cloud Deployment Rollback" (Kubernetes) as a durable
// workflow: rollout history → the revision whose pod template runs the target → approval → `rollout undo
// --to-revision` → `rollout status --timeout` → ready replicas == desired on the target image → watch.
// Invariants:
//  - nothing on the cluster changes before the input is valid, the target revision is found in the rollout history
//    and the rollback is approved;
//  - the revision being replaced (its ReplicaSet, images and pod template) is recorded before the undo and kept in
//    the result: it is what the compensation goes back to;
//  - the compensation is pushed before the undo (a crash mid-undo may have applied it); on failure or cancellation
//    it rolls back to the replaced revision and waits for that rollout; the error says what failed and what was
//    restored, and an undo that fails is reported with the kubectl commands to run by hand;
//  - the cluster's credentials stay in the worker's environment (KUBECONFIG): the input names a context at most.
import { CancellationScope, proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type {
  Activities,
  DeploymentCheck,
  HealthSample,
  KubePlan,
  RolloutWait,
  UndoResult,
} from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { ApprovalGate, approvalRefused, type ApprovalRecord } from '../phases/approval.ts';
import { fail, failedBeforeAnyChange, innerFailure } from '../phases/failures.ts';
import { watchAfterChange, type MonitorSummary } from '../phases/monitor.ts';
import { kubectlOp, localProbe, longWait, quick } from '../phases/profiles.ts';
import { Progress, type StepRecord } from '../phases/progress.ts';
import { withLifecycleNotifications, type RollbackNotifications } from '../phases/notify.ts';
import { compensateChange, type Undo } from '../phases/saga.ts';
import { defineScenario, openRollback, who } from '../phases/scenario.ts';
import { approvalInput, checked, int, monitorInput, scenarioInput, whoFields, z } from '../phases/schema.ts';
import { InputError, show, validateImageRef } from '../phases/validation.ts';

const REFUSED_BEFORE_CHANGE: string[] = [FailureType.Conflict, FailureType.NotFound, FailureType.InvalidInput];

export const KUBERNETES_ROLLBACK_DEFAULTS = {
  rolloutTimeoutSeconds: 300,
  monitor: { durationSeconds: 1800, intervalSeconds: 30, failureThreshold: 3 },
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// A kubeconfig context name: free-form there; here no leading '-' (it becomes a kubectl argument) and no spaces.
const CONTEXT = /^[A-Za-z0-9_][A-Za-z0-9_.:@/+-]{0,252}$/;

function kubeName(kind: 'label' | 'subdomain', what: string) {
  const max = kind === 'label' ? 63 : 253;
  const re = kind === 'label' ? DNS_LABEL : DNS_SUBDOMAIN;
  return (v: unknown, field: string): string => {
    if (typeof v !== 'string' || v.length === 0 || v.length > max || !re.test(v)) {
      throw new InputError(
        field,
        `${show(v)} is not a valid ${what} (lower-case letters, digits and '-'${kind === 'subdomain' ? ", '.'" : ''}, at most ${max})`,
      );
    }
    return v;
  };
}

export const kubernetesRollbackInput = scenarioInput({
  namespace: checked(kubeName('label', 'namespace'))
    .describe('namespace of the deployment')
    .meta({ example: 'cortex' }),
  deployment: checked(kubeName('subdomain', 'deployment name'))
    .describe('the Deployment to roll back')
    .meta({ example: 'cortex-mcp' }),
  context: checked((v, f) => {
    if (typeof v !== 'string' || !CONTEXT.test(v))
      throw new InputError(f, `${show(v)} is not a kubeconfig context name`);
    return v;
  })
    .optional()
    .describe(
      "kubeconfig context on the worker (default: the worker's current context); the kubeconfig itself stays in the worker's KUBECONFIG",
    ),
  container: checked(kubeName('label', 'container name'))
    .optional()
    .describe('container whose image identifies the target (needed when the pod template has several)'),
  targetImage: checked((v, f) => validateImageRef(v, f))
    .optional()
    .describe('roll back to the newest revision whose pod template runs this image (name:tag or name@digest)')
    .meta({ example: 'cortex-memory-mcp:v2.0.0' }),
  targetRevision: int(1, 2_147_483_647)
    .optional()
    .describe('or: roll back to this revision of `kubectl rollout history`'),
  ...whoFields,
  rolloutTimeoutSeconds: int(1, 3600)
    .default(KUBERNETES_ROLLBACK_DEFAULTS.rolloutTimeoutSeconds)
    .describe('`kubectl rollout status --timeout` for the rollback (and for the compensation)'),
  monitor: monitorInput(KUBERNETES_ROLLBACK_DEFAULTS.monitor),
  approval: approvalInput('application'),
  searchAttributes: z
    .boolean()
    .default(false)
    .describe('upsert RollbackType/RollbackTarget/RollbackPhase (the CLI sets it from CORTEX_SEARCH_ATTRIBUTES)')
    .meta({ cli: false }),
}).superRefine((o, ctx) => {
  if ((o.targetImage === undefined) === (o.targetRevision === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['targetImage'],
      message: 'name exactly one of targetImage and targetRevision',
    });
  }
});

export type KubernetesRollbackInput = z.input<typeof kubernetesRollbackInput>;
export type ValidKubernetesRollbackInput = z.output<typeof kubernetesRollbackInput>;

/** Business key: a second rollback of the same deployment cannot run while one does. */
export function kubernetesRollbackWorkflowId(i: { namespace: string; deployment: string; context?: string }): string {
  return `rollback-kubernetes-${i.context ? `${i.context}-` : ''}${i.namespace}-${i.deployment}`;
}

export const kubernetesScenario = defineScenario({
  name: 'kubernetes',
  workflowType: 'kubernetesRollback',
  category: 'application',
  runbook: 'Application Rollback → Scenario 3: Cloud Deployment Rollback',
  summary: 'roll a Kubernetes Deployment back to the revision that ran an image (rollout undo, status, ready check)',
  input: kubernetesRollbackInput,
  summarize: (i) =>
    `roll back deployment ${i.namespace}/${i.deployment} → ${i.targetImage ?? (i.targetRevision !== undefined ? `revision ${i.targetRevision}` : 'the previous revision')}`,
  workflowId: kubernetesRollbackWorkflowId,
  runAttributes: (i) => ({
    service: `${i.namespace}/${i.deployment}`,
    targetVersion:
      i.targetImage ?? (i.targetRevision !== undefined ? `revision ${i.targetRevision}` : 'previous revision'),
    ...who(i),
  }),
});

export type KubernetesRollbackOutcome = 'succeeded' | 'rejected' | 'approval-timed-out' | 'already-on-target';

export interface KubernetesRollbackResult {
  outcome: KubernetesRollbackOutcome;
  workflowId: string;
  runId: string;
  namespace: string;
  deployment: string;
  context?: string;
  container: string;
  reason: string;
  requestedBy: string;
  /** The backup: the revision replaced, its ReplicaSet, images and pod template. */
  from: KubePlan['current'];
  /** The revision rolled back to (its number in the history when planned) and, once done, its new number. */
  to?: { revision: number; replicaSet: string; image: string; images: Record<string, string>; newRevision?: number };
  history: KubePlan['history'];
  undo?: UndoResult;
  rollout?: RolloutWait;
  verification?: DeploymentCheck;
  approvals: ApprovalRecord[];
  monitoring?: MonitorSummary;
  timeline: StepRecord[];
  startedAt: string;
  endedAt: string;
}

export function kubernetesRollback(raw: KubernetesRollbackInput): Promise<KubernetesRollbackResult> {
  return withLifecycleNotifications((notifications) => runKubernetesRollback(raw, notifications));
}

async function runKubernetesRollback(
  raw: KubernetesRollbackInput,
  notifications: RollbackNotifications,
): Promise<KubernetesRollbackResult> {
  const info = workflowInfo();
  const named = (v: unknown) => (typeof v === 'string' ? v : '?');
  const progress = new Progress('application', `kubernetes:${named(raw?.namespace)}/${named(raw?.deployment)}`);
  const approvals = progress.status.approvals;
  const gate = new ApprovalGate('application', approvals); // signals count from the very start

  const input: ValidKubernetesRollbackInput = await openRollback(progress, kubernetesScenario, raw, notifications);

  const q = proxyActivities<Activities>(quick);
  const op = proxyActivities<Activities>(kubectlOp);
  const wait = proxyActivities<Activities>(longWait(input.rolloutTimeoutSeconds));
  const local = proxyLocalActivities<Activities>(localProbe);
  const ref = {
    namespace: input.namespace,
    deployment: input.deployment,
    ...(input.context ? { context: input.context } : {}),
  };
  const where = `deployment/${input.deployment} in ${input.namespace}${input.context ? ` (context ${input.context})` : ''}`;
  const kubectl = `kubectl${input.context ? ` --context ${input.context}` : ''} -n ${input.namespace}`;
  const startedAt = new Date().toISOString();

  // 1–2. Current deployment and rollout history; the target revision must exist before anything is touched.
  progress.setPhase('assessing');
  let plan: KubePlan;
  try {
    plan = await progress.step(
      'assess-rollout-history',
      () =>
        q.planKubernetesRollback({
          ...ref,
          ...(input.container ? { container: input.container } : {}),
          ...(input.targetImage ? { targetImage: input.targetImage } : {}),
          ...(input.targetRevision !== undefined ? { targetRevision: input.targetRevision } : {}),
        }),
      (p) =>
        `revision ${p.current.revision} runs ${p.current.image}; ` +
        (p.target ? `target: revision ${p.target.revision} (${p.target.image})` : 'already on the target'),
    );
  } catch (err) {
    throw failedBeforeAnyChange(progress, err);
  }
  const from = plan.current;
  const target = plan.target;
  const base = {
    workflowId: info.workflowId,
    runId: info.runId,
    ...ref,
    container: plan.container,
    reason: input.reason,
    requestedBy: input.requestedBy,
    from,
    history: plan.history,
    approvals,
    timeline: progress.status.steps,
    startedAt,
  };
  const to = target && {
    revision: target.revision,
    replicaSet: target.replicaSet,
    image: target.image,
    images: target.images,
  };
  const finish = (r: Omit<KubernetesRollbackResult, keyof typeof base | 'endedAt'>): KubernetesRollbackResult => ({
    ...base,
    ...r,
    endedAt: new Date().toISOString(),
  });
  if (!target || !to) {
    progress.setPhase('completed');
    progress.note(
      'rollback',
      'skipped',
      `${where} already runs ${from.image} (revision ${from.revision}); nothing to do`,
    );
    return finish({ outcome: 'already-on-target' });
  }
  progress.note(
    'backup-current-revision',
    'completed',
    `backup: revision ${from.revision} = ReplicaSet ${from.replicaSet} (${Object.entries(from.images)
      .map(([c, i]) => `${c}=${i}`)
      .join(', ')})`,
  );

  // Approval gate.
  const refused = await approvalRefused(progress, gate, input);
  if (refused) return finish({ outcome: refused, to });

  // 3–5. Undo to the target revision, wait for the rollout, check ready replicas and images.
  const undos: Undo[] = [];
  let undo: UndoResult | undefined;
  let rollout: RolloutWait | undefined;
  let verification: DeploymentCheck | undefined;
  try {
    progress.setPhase('rolling-back');
    undos.push({
      name: `roll ${where} back to revision ${from.revision} (${from.image})`,
      run: async () => {
        const u = await op.rolloutUndo({ ...ref, toReplicaSet: from.replicaSet, fromImages: target.images });
        const w = await wait.waitRollout({ ...ref, timeoutSeconds: input.rolloutTimeoutSeconds });
        if (!w.complete) {
          throw fail(
            FailureType.VerificationFailed,
            `the deployment runs ${from.image} again (revision ${u.revision}) but its rollout did not complete: ${w.message}`,
          );
        }
        return u;
      },
      manual:
        `${kubectl} rollout history deployment/${input.deployment}; find the revision of ReplicaSet ${from.replicaSet} ` +
        `(${from.image}; it was revision ${from.revision}): ${kubectl} get rs ${from.replicaSet} ` +
        `-o jsonpath='{.metadata.annotations.deployment\\.kubernetes\\.io/revision}'; then ${kubectl} rollout undo ` +
        `deployment/${input.deployment} --to-revision=<that revision> && ${kubectl} rollout status deployment/${input.deployment}`,
    });
    undo = await progress.step(
      'rollout-undo',
      () =>
        op.rolloutUndo({ ...ref, toReplicaSet: target.replicaSet, fromImages: from.images }).catch((err: unknown) => {
          // refused before kubectl ran (someone else changed the deployment, the revision is gone, access
          // denied): nothing to undo, and undoing "back" would fight whoever changed it
          if (REFUSED_BEFORE_CHANGE.includes(innerFailure(err)?.type ?? '')) undos.pop();
          throw err;
        }),
      (u) =>
        u.applied
          ? `revision ${u.toRevision} is now revision ${u.revision} (${target.image})`
          : `already on ${target.image} (revision ${u.revision}; found from an earlier attempt)`,
    );

    progress.setPhase('verifying');
    rollout = await progress.step(
      'rollout-status',
      () => wait.waitRollout({ ...ref, timeoutSeconds: input.rolloutTimeoutSeconds }),
      (w) => (w.complete ? `${w.message} (${w.elapsedMs} ms)` : `not complete: ${w.message}`),
    );
    if (!rollout.complete) {
      throw fail(
        FailureType.VerificationFailed,
        `the rollout of ${target.image} did not complete within ${input.rolloutTimeoutSeconds}s: ${rollout.message}`,
      );
    }
    verification = await progress.step(
      'verify-ready-replicas',
      () => q.checkDeployment({ ...ref, container: plan.container, image: target.image }),
      (c) => (c.ok ? `${c.ready}/${c.desired} ready on ${target.image}` : c.problems.join('; ')),
    );
    if (!verification.ok) {
      throw fail(
        FailureType.VerificationFailed,
        `${where} is not healthy on ${target.image}: ${verification.problems.join('; ')}`,
      );
    }
    progress.restored('verify-ready-replicas');
  } catch (err) {
    await CancellationScope.nonCancellable(() => compensate(err));
    throw err; // unreachable: compensate always throws
  }
  const done = { ...to, newRevision: undo.revision };

  // 6. Watch ready replicas on durable timers.
  const monitoring = await watchAfterChange(progress, input.monitor, {
    sampler: () => ({
      sample: (): Promise<HealthSample> =>
        local.sampleDeployment({ ...ref, container: plan.container, image: target.image }),
    }),
    cancelled: () =>
      `the watch was cancelled; ${where} keeps running ${target.image} (verified ready); ` +
      `revision ${from.revision}'s ReplicaSet ${from.replicaSet} (${from.image}) stays in the rollout history`,
    breached: (m) =>
      `${where} failed ${m.maxConsecutiveFailures} consecutive ready checks during the watch on ` +
      `${target.image}; left as it is for a manual decision (previous: ReplicaSet ${from.replicaSet}, ${from.image})`,
    result: (m) => finish({ outcome: 'succeeded', to: done, undo, rollout, verification, monitoring: m }),
  });

  progress.setPhase('completed');
  return finish({ outcome: 'succeeded', to: done, undo, rollout, verification, ...(monitoring ? { monitoring } : {}) });

  function compensate(err: unknown): Promise<never> {
    return compensateChange(progress, undos, err, {
      check: async (u) =>
        u.failed.length === 0 && undos.length > 0
          ? progress
              .step('verify-restored', () =>
                q.checkDeployment({ ...ref, container: plan.container, image: from.image }),
              )
              .catch(() => undefined)
          : undefined,
      summary: (what, u, after) =>
        undos.length === 0
          ? `${what}. Nothing had been changed.`
          : u.failed.length > 0
            ? `${what}. RESTORE FAILED — manual action needed: ${u.failed.join('; ')}. ` +
              `The replaced revision was ${from.revision} (ReplicaSet ${from.replicaSet}, ${from.image}). ` +
              `Do by hand: ${u.manual.map((m, i) => `(${i + 1}) ${m}`).join(' ')}`
            : `${what}. Restored: ${where} runs ${from.image} again (ReplicaSet ${from.replicaSet}, now revision ` +
              `${after?.revision ?? '?'}; ${after ? `${after.ready}/${after.desired} ready` : 'readiness unknown'}).`,
      unchangedPhase: 'failed',
      details: (u, after) => ({
        restored: u.restored,
        failedUndos: u.failed,
        restoredTo: { revision: after?.revision, replicaSet: from.replicaSet, image: from.image, check: after },
        undo,
        rollout,
        verification,
      }),
    });
  }
}
