// Owns the step timeline every rollback workflow exposes through the `status` query: one record per step with
// workflow-clock timestamps, plus the current phase (also upserted as the RollbackPhase search attribute so the
// Web UI can list rollbacks by phase). Deterministic: only @temporalio/workflow.
import { defineQuery, patched, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { PlanSummary } from '../../activities/index.ts';
import type { ApprovalRecord, ApprovalRequest } from './approval.ts';

export type StepState = 'running' | 'completed' | 'failed' | 'skipped' | 'compensated';

export interface StepRecord {
  name: string;
  state: StepState;
  startedAt: string;
  endedAt?: string;
  detail?: string;
}

export interface RollbackStatus {
  workflowType: string;
  workflowId: string;
  runId: string;
  rollbackType: string;
  target: string;
  phase: string;
  steps: StepRecord[];
  approvals: ApprovalRecord[];
  pendingApproval?: ApprovalRequest;
  /** The latest plan of a plan-based rollback (Terraform): what would change, per address. */
  plan?: PlanSummary;
  /** A signal the workflow waits for besides approval (e.g. a dead-man switch's `confirm`) and until when. */
  waitingFor?: { signal: string; deadline: string; what: string };
  /** The watch so far; `alerts` when it reads /metrics (alert thresholds raised). */
  monitoring?: { samples: number; failures: number; consecutiveFailures: number; endsAt: string; alerts?: number };
  error?: string;
}

export const statusQuery = defineQuery<RollbackStatus>('status');

export { SEARCH_ATTRIBUTES } from '../../common/dev-server.ts';

/** What the run is, for `cortex-rollback metrics` (upserted once, with RollbackOutcome when the run ends). */
export interface RunAttributes {
  service?: string;
  targetVersion?: string;
  trigger?: string;
  requestedBy?: string;
}

/** Phases a rollback ends in, and the outcome each counts as in the metrics. */
const OUTCOME_OF_PHASE: Record<string, string> = {
  completed: 'succeeded',
  rejected: 'rejected',
  'approval-timed-out': 'approval-timed-out',
  failed: 'failed',
  'verification-failed': 'failed',
  'rolled-back-to-previous': 'failed',
  'compensation-failed': 'failed',
  'monitoring-breached': 'breached',
  'watch-cancelled': 'cancelled',
};

const now = (): string => new Date().toISOString();

export class Progress {
  readonly status: RollbackStatus;

  constructor(rollbackType: string, target: string) {
    const info = workflowInfo();
    this.status = {
      workflowType: info.workflowType,
      workflowId: info.workflowId,
      runId: info.runId,
      rollbackType,
      target,
      phase: 'starting',
      steps: [],
      approvals: [],
    };
    setHandler(statusQuery, () => this.status);
  }

  /** Registers the search attributes; a server without them registered is not a reason to fail a rollback. */
  publishSearchAttributes(run?: RunAttributes): void {
    this.upsert({
      RollbackType: [this.status.rollbackType],
      RollbackTarget: [this.status.target],
      RollbackPhase: [this.status.phase],
    });
    // Runs from before the metrics attributes upsert nothing more, so their histories replay.
    if (!this.searchAttributesEnabled || !patched('rollback-metrics-attributes')) return;
    this.metricsAttributes = true;
    const a: Record<string, string[]> = { RollbackService: [run?.service ?? this.status.target] };
    if (run?.targetVersion) a.RollbackTargetVersion = [run.targetVersion];
    if (run?.trigger) a.RollbackTrigger = [run.trigger];
    if (run?.requestedBy) a.RollbackRequestedBy = [run.requestedBy];
    this.upsert(a);
  }

  private metricsAttributes = false;

  setPhase(phase: string): void {
    this.status.phase = phase;
    const outcome = this.metricsAttributes ? OUTCOME_OF_PHASE[phase] : undefined;
    this.upsert(outcome ? { RollbackPhase: [phase], RollbackOutcome: [outcome] } : { RollbackPhase: [phase] });
  }

  private upsert(attrs: Record<string, string[]>): void {
    if (!this.searchAttributesEnabled) return;
    upsertSearchAttributes(attrs);
  }

  /** Off unless the workflow input asks for it: an unregistered attribute fails the workflow task. */
  searchAttributesEnabled = false;

  /** Runs `fn` as a named step, recording its timing and outcome. */
  async step<T>(name: string, fn: () => Promise<T>, describe?: (value: T) => string): Promise<T> {
    const record: StepRecord = { name, state: 'running', startedAt: now() };
    this.status.steps.push(record);
    try {
      const value = await fn();
      record.state = 'completed';
      record.endedAt = now();
      if (describe) record.detail = describe(value);
      return value;
    } catch (err) {
      record.state = 'failed';
      record.endedAt = now();
      record.detail = errorMessage(err);
      throw err;
    }
  }

  note(name: string, state: StepState, detail?: string): void {
    const t = now();
    this.status.steps.push({ name, state, startedAt: t, endedAt: t, ...(detail ? { detail } : {}) });
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message && cause.message !== err.message
      ? `${err.message}: ${cause.message}`
      : err.message;
  }
  return String(err);
}
