// Owns the step timeline every rollback workflow exposes through the `status` query: one record per step with
// workflow-clock timestamps, plus the current phase (also upserted as the RollbackPhase search attribute so the
// Web UI can list rollbacks by phase). Deterministic: only @temporalio/workflow.
import { defineQuery, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
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
  monitoring?: { samples: number; failures: number; consecutiveFailures: number; endsAt: string };
  error?: string;
}

export const statusQuery = defineQuery<RollbackStatus>('status');

export const SEARCH_ATTRIBUTES = {
  RollbackType: 'Keyword',
  RollbackTarget: 'Keyword',
  RollbackPhase: 'Keyword',
} as const;

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
  publishSearchAttributes(): void {
    this.upsert({
      RollbackType: [this.status.rollbackType],
      RollbackTarget: [this.status.target],
      RollbackPhase: [this.status.phase],
    });
  }

  setPhase(phase: string): void {
    this.status.phase = phase;
    this.upsert({ RollbackPhase: [phase] });
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
