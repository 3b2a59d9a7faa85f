// Owns programmatic access for the CLI, CI jobs and tests: connecting with the shared settings, starting a
// rollback under its business-key workflow ID, sending approvals, reading status and results.
import {
  Client,
  Connection,
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { dataConverter } from '../common/codec.ts';
import { loadTemporalSettings, type TemporalSettings } from '../common/config.ts';
import { connectionOptions } from '../common/connection.ts';
import { legacyApprovalRefusal, REQUIRED_ROLE, roleIdRefusal, type RollbackType } from '../common/roles.ts';
import { InputError, validateCollectionName, validateHost } from '../workflows/phases/validation.ts';
import {
  approveSignal,
  decideUpdate,
  NOT_OPEN_YET,
  PRE_POLICY_REFUSAL,
  rejectSignal,
  type ApprovalRecord,
  type ApproveSignal,
  type DecideUpdate,
  type RejectSignal,
} from '../workflows/phases/approval.ts';
import {
  dockerRollbackInput,
  dockerRollbackWorkflowId,
  type DockerRollbackInput,
  type DockerRollbackResult,
} from '../workflows/application/docker-container.ts';
import { statusQuery, type RollbackStatus } from '../workflows/phases/progress.ts';
import { confirmSignal, type ConfirmSignal } from '../workflows/infrastructure/network.ts';
import { parseInput } from '../workflows/phases/schema.ts';
import { SCENARIOS } from '../workflows/scenarios.ts';
import { renderPlan, type Plan } from '../workflows/phases/plan.ts';
import { PLANNED_SCENARIOS, type PlanRequest } from '../workflows/plans/index.ts';

/** The workflows' own input validation (their schema), run before a start is sent (the workflow runs it again). */
export function validateStartInput(workflowType: string, input: unknown): void {
  const scenario = SCENARIOS.find((s) => s.workflowType === workflowType);
  if (scenario) parseInput(scenario.input, input);
}

/**
 * What the Web UI shows for a start (staticSummary in the list, staticDetails on the workflow's page), from the
 * scenario registry: what is rolled back to what, who must approve, and how to answer the workflow; with a dry-run
 * plan (planRollback), the plan too — `cortex-rollback plan` prints exactly this.
 */
export function startMetadata(
  workflowType: string,
  input: unknown,
  workflowId: string,
  plan?: Plan,
): { staticSummary: string; staticDetails: string } {
  const scenario = SCENARIOS.find((s) => s.workflowType === workflowType);
  if (!scenario) return { staticSummary: `${workflowType} ${workflowId}`, staticDetails: `workflow ${workflowType}` };
  const i = parseInput(scenario.input, input) as {
    reason?: string;
    requestedBy?: string;
    approval?: { timeoutSeconds: number; preApproved?: { approver: string; role: string } };
  };
  const role = REQUIRED_ROLE[scenario.category];
  const approval = !i.approval
    ? undefined
    : i.approval.preApproved
      ? `pre-approved by ${i.approval.preApproved.approver} (${i.approval.preApproved.role})`
      : `${role.replace(/-engineer$|^engineering-|-of-engineering$/, '')} approval`;
  const what = scenario.summarize?.(i) ?? `${scenario.name} ${workflowId}`;
  const staticSummary = oneLine(approval ? `${what}, ${approval}` : what);
  const lines = [
    `**${scenario.runbook}** — ${scenario.summary}`,
    '',
    ...(i.reason ? [`- reason: ${oneLine(i.reason)}`] : []),
    ...(i.requestedBy ? [`- requested by: ${i.requestedBy}`] : []),
    ...(i.approval
      ? [
          i.approval.preApproved
            ? `- approval: ${approval}`
            : `- approval: a ${role} or higher within ${plan?.approvals[0]?.windowSeconds ?? i.approval.timeoutSeconds}s — Send a Signal \`approve\` ` +
              `with \`{"approver":"<you>","role":"${role}","comment":"<optional>"}\`, or \`reject\` with ` +
              `\`{"approver":"<you>","role":"${role}","reason":"<why>"}\``,
        ]
      : []),
    `- progress: the \`status\` query (Queries tab), or \`cortex-rollback status ${workflowId}\``,
    ...(plan ? ['', renderPlan(plan)] : []),
  ];
  return { staticSummary, staticDetails: lines.join('\n') };
}

function oneLine(s: string): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 199)}…` : flat;
}

export class AlreadyRunningError extends Error {
  override name = 'AlreadyRunningError';
}

export interface RollbackClient {
  client: Client;
  settings: TemporalSettings;
  close(): Promise<void>;
}

/** No Temporal server answered at the configured address; the message says which and what to run. */
export class ServerUnreachableError extends Error {
  override name = 'ServerUnreachableError';
}

/** Payloads go through the codec of CORTEX_CODEC_KEYS (common/codec.ts) unless a data converter is given. */
export async function connect(
  settings: TemporalSettings = loadTemporalSettings(),
  opts: { connectTimeoutMs?: number; dataConverter?: DataConverter } = {},
): Promise<RollbackClient> {
  let connection: Connection;
  try {
    connection = await Connection.connect({
      ...connectionOptions(settings),
      ...(opts.connectTimeoutMs !== undefined ? { connectTimeout: opts.connectTimeoutMs } : {}),
    });
  } catch (err) {
    throw new ServerUnreachableError(
      `no Temporal server answers at ${settings.address} (TEMPORAL_ADDRESS${
        process.env.TEMPORAL_ADDRESS ? '' : ' unset, the default'
      }): ${err instanceof Error ? err.message : String(err)}.\n` +
        `Start one with 'npm run dev' (a dev server and a worker), or set TEMPORAL_ADDRESS to the server's host:port.`,
      { cause: err },
    );
  }
  const client = new Client({
    connection,
    namespace: settings.namespace,
    dataConverter: opts.dataConverter ?? dataConverter(),
  });
  return { client, settings, close: () => connection.close() };
}

/** Validates first (nothing is started on bad input), then starts under rollback-docker-<container>. */
export async function startDockerRollback(
  rc: RollbackClient,
  input: DockerRollbackInput,
  opts: { workflowId?: string } = {},
): Promise<{ workflowId: string; runId: string }> {
  const valid = parseInput(dockerRollbackInput, input);
  const workflowId = opts.workflowId ?? dockerRollbackWorkflowId(valid.containerName, valid.host);
  return startWorkflow(rc, 'dockerContainerRollback', input, workflowId);
}

/**
 * Starts any rollback workflow under its business-key ID once its input validates (an InputError naming the field
 * otherwise, and nothing is started); a second start while one runs is refused clearly.
 */
export async function startWorkflow(
  rc: RollbackClient,
  workflowType: string,
  input: unknown,
  workflowId: string,
  opts: { plan?: Plan } = {},
): Promise<{ workflowId: string; runId: string }> {
  validateStartInput(workflowType, input);
  try {
    const handle = await rc.client.workflow.start(workflowType, {
      taskQueue: rc.settings.taskQueue,
      workflowId,
      args: [input],
      ...startMetadata(workflowType, input, workflowId, opts.plan),
    });
    return { workflowId, runId: handle.firstExecutionRunId };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new AlreadyRunningError(
        `a rollback of this target is already running (workflow ${workflowId}); ` +
          `see 'cortex-rollback status ${workflowId}', or cancel it before starting another`,
      );
    }
    throw err;
  }
}

/** A scenario `cortex-rollback plan` cannot plan yet: nothing was started. */
export class NoPlanError extends Error {
  override name = 'NoPlanError';
}

/** The dry run failed (e.g. the container does not exist); nothing was changed. `type` is the failure category. */
export class PlanFailedError extends Error {
  override name = 'PlanFailedError';
  constructor(
    message: string,
    readonly type: string,
  ) {
    super(message);
  }
}

/** Throws a NoPlanError naming the scenarios that have a plan when `scenarioName` has none. */
export function assertPlanned(scenarioName: string): void {
  if (PLANNED_SCENARIOS.includes(scenarioName)) return;
  throw new NoPlanError(
    `no dry-run plan for '${scenarioName}' yet: plans exist for ${PLANNED_SCENARIOS.join(', ')}. ` +
      `'cortex-rollback start ${scenarioName} --help' says what it does; nothing was started`,
  );
}

/** A plan's own workflow id: never the business key, so a plan runs while a rollback of the target does. */
export function planWorkflowId(businessKey: string): string {
  return `plan-${businessKey}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Runs the dry run of `scenario` (workflow planRollback: read-only activities only) and returns its plan. The
 * input is validated first (an InputError naming the field, nothing started); a scenario without a planner is a
 * NoPlanError; a failed read is a PlanFailedError with the activity's own message.
 */
export async function planRollback(
  rc: RollbackClient,
  scenarioName: string,
  input: unknown,
  opts: { timeoutSeconds?: number } = {},
): Promise<{ plan: Plan; planWorkflowId: string }> {
  const scenario = SCENARIOS.find((s) => s.name === scenarioName);
  if (!scenario) throw new InputError('scenario', `unknown scenario '${scenarioName}'`);
  assertPlanned(scenario.name);
  const valid = parseInput(scenario.input, input);
  const id = planWorkflowId(scenario.workflowId(valid));
  const req: PlanRequest = { scenario: scenario.name, input };
  try {
    const plan = (await rc.client.workflow.execute('planRollback', {
      taskQueue: rc.settings.taskQueue,
      workflowId: id,
      args: [req],
      workflowExecutionTimeout: `${opts.timeoutSeconds ?? 120}s`,
      staticSummary: `dry-run plan of ${scenario.name}`,
    })) as Plan;
    return { plan, planWorkflowId: id };
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause as { type?: string; message?: string } | undefined;
      const type = cause?.type ?? (cause?.message ? 'Failed' : 'TimedOut');
      const message =
        cause?.message ?? `the plan did not finish (${err.message}); is a worker polling ${rc.settings.taskQueue}?`;
      if (type === 'InvalidInput') throw new InputError('input', message);
      throw new PlanFailedError(message, type);
    }
    throw err;
  }
}

export async function getStatus(rc: RollbackClient, workflowId: string): Promise<RollbackStatus> {
  return rc.client.workflow.getHandle(workflowId).query(statusQuery);
}

/**
 * Sends a decision as the approve/reject signal. The role must be a role id; whether it counts is the workflow's
 * approval policy's call (a refused signal is recorded as refused). For a run started before the approval policy
 * (`prePolicy`, as `decide` falls back to it) the role is checked first by that gate's own rule, so its refusal is
 * immediate.
 */
export async function sendDecision(
  rc: RollbackClient,
  workflowId: string,
  decision: { approve: ApproveSignal } | { reject: RejectSignal },
  opts: { prePolicy?: boolean } = {},
): Promise<void> {
  const handle = rc.client.workflow.getHandle(workflowId);
  const signal = 'approve' in decision ? decision.approve : decision.reject;
  const refusal = opts.prePolicy
    ? legacyApprovalRefusal((await handle.query(statusQuery)).rollbackType as RollbackType, signal.role)
    : roleIdRefusal(signal.role);
  if (refusal) throw new InputError('role', refusal);
  if ('approve' in decision) await handle.signal(approveSignal, decision.approve);
  else await handle.signal(rejectSignal, decision.reject);
}

/** A decision the workflow's `decide` validator refused: nothing was written to the workflow's history. */
export class DecisionRefusedError extends Error {
  override name = 'DecisionRefusedError';
}

/**
 * Sends a decision as the `decide` update and returns the record the workflow kept. A refusal (not in the roster,
 * a role the roster does not give, the requester, a second decision, no approval open) is a DecisionRefusedError
 * and leaves no trace in history. A run started before the approval policy takes the signal instead.
 */
export async function decide(
  rc: RollbackClient,
  workflowId: string,
  decision: DecideUpdate,
  opts: { waitOpenMs?: number; runId?: string } = {},
): Promise<{ record?: ApprovalRecord; via: 'update' | 'signal' }> {
  // `runId`: only that run (the approval gateway's buttons name the run they were posted for), never a later one
  const handle = rc.client.workflow.getHandle(workflowId, opts.runId);
  // A run shows the phase awaiting-approval while it still loads its policy: an operator who approves at once is
  // not turned away for that moment; past `waitOpenMs` the validator's answer stands.
  const openBy = Date.now() + (opts.waitOpenMs ?? 30_000);
  for (;;) {
    try {
      return { record: await handle.executeUpdate(decideUpdate, { args: [decision] }), via: 'update' };
    } catch (err) {
      if (!(err instanceof WorkflowUpdateFailedError)) throw err;
      const why = err.cause?.message ?? err.message;
      if (why === PRE_POLICY_REFUSAL) break;
      if (why.startsWith(NOT_OPEN_YET) && Date.now() < openBy) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      throw new DecisionRefusedError(`${decision.decision} refused: ${why}`);
    }
  }
  const { approver, role, comment, planId } = decision;
  if (decision.decision === 'approve') {
    await sendDecision(
      rc,
      workflowId,
      { approve: { approver, role, ...(comment ? { comment } : {}), ...(planId ? { planId } : {}) } },
      { prePolicy: true },
    );
  } else await sendDecision(rc, workflowId, { reject: { approver, role, reason: comment ?? '' } }, { prePolicy: true });
  return { via: 'signal' };
}

/** The network rollback's dead-man switch: refused here (exit 2) unless the workflow is waiting for it. */
export async function sendConfirm(rc: RollbackClient, workflowId: string, confirm: ConfirmSignal): Promise<void> {
  const handle = rc.client.workflow.getHandle(workflowId);
  const status = await handle.query(statusQuery);
  if (status.waitingFor?.signal !== confirmSignal.name) {
    throw new InputError('WORKFLOW_ID', `${workflowId} is not waiting for a confirmation (phase ${status.phase})`);
  }
  await handle.signal(confirmSignal, confirm);
}

export type ResultOrFailure<R = DockerRollbackResult> =
  { ok: true; result: R } | { ok: false; type: string; message: string; details?: unknown };

export async function waitResult<R = DockerRollbackResult>(
  rc: RollbackClient,
  workflowId: string,
): Promise<ResultOrFailure<R>> {
  try {
    const result = (await rc.client.workflow.getHandle(workflowId).result()) as R;
    return { ok: true, result };
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause as { type?: string; message?: string; details?: unknown[]; name?: string } | undefined;
      return {
        ok: false,
        type: cause?.type ?? cause?.name ?? 'WorkflowFailed',
        message: cause?.message ?? err.message,
        ...(cause?.details?.[0] !== undefined ? { details: cause.details[0] } : {}),
      };
    }
    throw err;
  }
}

/**
 * A Temporal Schedule that runs qdrantBackup for `collection` every `every` (e.g. '6h') or on a cron expression.
 * Overlapping runs are skipped (a backup still running blocks the next). Idempotent per schedule id.
 */
export async function scheduleQdrantBackups(
  rc: RollbackClient,
  opts: { collection: string; every?: string; cron?: string; host?: string },
): Promise<{ scheduleId: string; created: boolean }> {
  validateCollectionName(opts.collection);
  validateHost(opts.host);
  if (!opts.every === !opts.cron) throw new InputError('every', 'give exactly one of every (e.g. 6h) or cron');
  const scheduleId = `backup-qdrant-${opts.collection}`;
  try {
    await rc.client.schedule.create({
      scheduleId,
      spec: opts.every ? { intervals: [{ every: opts.every as `${number}h` }] } : { cronExpressions: [opts.cron!] },
      action: {
        type: 'startWorkflow',
        workflowType: 'qdrantBackup',
        taskQueue: rc.settings.taskQueue,
        workflowId: `backup-qdrant-${opts.collection}`,
        args: [{ collection: opts.collection, ...(opts.host ? { host: opts.host } : {}) }],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    return { scheduleId, created: false }; // left as it is: change or delete it with `temporal schedule`
  }
  return { scheduleId, created: true };
}
