// Owns the `planRollback` workflow: a dry run of a scenario (`cortex-rollback plan <scenario>`). It validates the
// input with the scenario's own schema, runs the scenario's planner (its read-only activities only), and resolves
// the approval from the approval policy exactly as the real run's gate would — without asking anyone, notifying
// anyone or changing anything. Its workflow id is `plan-…`, never the business key: a plan runs while a rollback
// of the same target does. A scenario without a planner is refused by name (PLANNED_SCENARIOS).
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import type { ValidDockerRollbackInput } from '../application/docker-container.ts';
import { fail, surfaced } from '../phases/failures.ts';
import { errorMessage, Progress } from '../phases/progress.ts';
import { InputError } from '../phases/validation.ts';
import { planApproval, type Plan, type PlanApprovalInput, type PlanBody } from '../phases/plan.ts';
import { quick } from '../phases/profiles.ts';
import { parseInput } from '../phases/schema.ts';
import { SCENARIOS } from '../scenarios.ts';
import { planDockerRollback } from './docker-container.ts';
import { planQdrantRecovery } from './qdrant-recovery.ts';
import { planEnvFileRollback } from './env-file.ts';
import { planQdrantSchemaRollback } from './qdrant-schema.ts';
import { planSystemServiceRollback } from './system-service.ts';
import { planKubernetesRollback } from './kubernetes.ts';
import { planTerraformRollback } from './terraform.ts';
import { planQdrantConfigRollback } from './qdrant-config.ts';
import { planNetworkRollback } from './network.ts';

type Planner = (input: never, progress: Progress) => Promise<PlanBody>;

const PLANNERS: Record<string, Planner> = {
  'docker-container': (i: ValidDockerRollbackInput) => planDockerRollback(i),
  'system-service': planSystemServiceRollback,
  kubernetes: planKubernetesRollback,
  'qdrant-data-recovery': planQdrantRecovery,
  'qdrant-point-in-time': planQdrantRecovery,
  'qdrant-schema': planQdrantSchemaRollback,
  'env-file': planEnvFileRollback,
  'qdrant-config': planQdrantConfigRollback,
  terraform: planTerraformRollback,
  network: planNetworkRollback,
};

/** The scenarios `cortex-rollback plan` can plan. */
export const PLANNED_SCENARIOS: readonly string[] = SCENARIOS.map((s) => s.name).filter((n) => n in PLANNERS);

export interface PlanRequest {
  /** The scenario's CLI name (`cortex-rollback scenarios`). */
  scenario: string;
  /** The same input `start <scenario>` takes. */
  input: unknown;
}

export async function planRollback(req: PlanRequest): Promise<Plan> {
  const scenario = SCENARIOS.find((s) => s.name === req?.scenario);
  const planner = scenario ? PLANNERS[scenario.name] : undefined;
  if (!scenario || !planner) {
    throw fail(
      FailureType.InvalidInput,
      `no dry-run plan for scenario '${String(req?.scenario)}' yet (plans exist for: ${PLANNED_SCENARIOS.join(', ')})`,
    );
  }
  let input: {
    approval?: PlanApprovalInput;
    requestedBy?: string;
  };
  try {
    input = parseInput(scenario.input, req.input) as typeof input;
  } catch (err) {
    throw fail(
      FailureType.InvalidInput,
      errorMessage(err),
      err instanceof InputError ? { field: err.field } : undefined,
    );
  }
  const progress = new Progress(scenario.category, `plan of ${scenario.name}`);
  progress.setPhase('planning');
  const plannedAt = new Date().toISOString();
  const body = await planner(input as never, progress);
  const plan: Plan = {
    scenario: scenario.name,
    workflowType: scenario.workflowType,
    rollbackType: scenario.category,
    plannedAt,
    ...body,
    approvals: [],
  };
  if (input.approval && !body.nothingToDo) {
    const { loadApprovalPolicy } = proxyActivities<Activities>(quick);
    const loaded = await loadApprovalPolicy().catch((err: unknown) => {
      throw surfaced(err, ' (dry run: nothing was changed)');
    });
    plan.reads.push('loadApprovalPolicy');
    const a = planApproval(loaded, scenario.category, input.approval, input.requestedBy);
    plan.approvals.push(a.approval);
    plan.warnings.push(...a.warnings);
    plan.expectedDowntime = { ...plan.expectedDowntime, runbook: a.runbook };
  }
  progress.setPhase('planned');
  return plan;
}
