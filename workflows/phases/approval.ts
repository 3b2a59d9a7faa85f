// Owns the human approval gate, reusable by every rollback workflow: the `approve` / `reject` signals (sendable
// from the Web UI, the temporal CLI and our CLI), the role policy check, and the wait with a timeout.
// Invariants: a signal that arrives before the workflow reaches the gate still counts (handlers are set at
// construction); a signal from a role that may not approve is recorded as refused and does not decide;
// the first authorised decision wins. A plan-bound gate (Terraform) counts an approval only while a plan awaits
// it and, when the signal names a plan (`planId`), only for that plan; `reopen()` asks again after a re-plan.
import { condition, defineSignal, setHandler } from '@temporalio/workflow';
import type { PlanSummary } from '../../activities/index.ts';
import { approvalRefusal, REQUIRED_ROLE, type Role, type RollbackType } from '../../common/roles.ts';
import type { Progress } from './progress.ts';

export interface ApproveSignal {
  approver: string;
  role: string;
  comment?: string;
  /** The plan approved (its id in the status' pending request); a plan-bound gate refuses another plan's. */
  planId?: string;
}
export interface RejectSignal {
  approver: string;
  role: string;
  reason: string;
}

// What the Web UI's Send a Signal dialog shows (the SDK answers its metadata query with these).
const APPROVE_DESCRIPTION =
  'Approve the rollback. Input: {"approver":"bob","role":"on-call-engineer","comment":"go"} — role: engineer, ' +
  'on-call-engineer, engineering-manager or director-of-engineering, at least the one the pending approval names ' +
  '(status query); comment optional; planId (a Terraform plan) optional. A role too junior is recorded as refused.';
const REJECT_DESCRIPTION =
  'Reject the rollback: nothing (more) is changed and it ends as rejected. Input: ' +
  '{"approver":"erin","role":"engineering-manager","reason":"fix forward instead"} — same roles as approve.';

export const approveSignal = defineSignal<[ApproveSignal]>('approve');
export const rejectSignal = defineSignal<[RejectSignal]>('reject');

export interface ApprovalRecord {
  decision: 'approved' | 'rejected' | 'refused';
  approver: string;
  role: string;
  at: string;
  comment?: string;
  /** How the decision arrived: a signal, or the pre-approval in the workflow input (automation). */
  via: 'signal' | 'pre-approval';
  /** Why a signal did not count. */
  refusal?: string;
  /** The plan that was awaiting this decision (plan-bound gates). */
  planId?: string;
}

export interface ApprovalRequest {
  requiredRole: Role;
  rollbackType: RollbackType;
  deadline: string;
  /** What the approver approves: the saved plan's changes (plan-bound gates). */
  plan?: PlanSummary;
}

export type GateOutcome =
  | { decision: 'approved'; by: ApprovalRecord }
  | { decision: 'rejected'; by: ApprovalRecord }
  | { decision: 'timed-out'; waitedSeconds: number };

export class ApprovalGate {
  private decided?: ApprovalRecord;
  private pendingPlan?: string;

  constructor(
    private readonly rollbackType: RollbackType,
    private readonly log: ApprovalRecord[],
    private readonly opts: { planBound?: boolean } = {},
  ) {
    setHandler(approveSignal, (s) => this.receive('approved', s?.approver, s?.role, s?.comment, s?.planId), {
      description: APPROVE_DESCRIPTION,
    });
    setHandler(rejectSignal, (s) => this.receive('rejected', s?.approver, s?.role, s?.reason), {
      description: REJECT_DESCRIPTION,
    });
  }

  /** Asks again (a new plan replaced the approved one): the earlier decision no longer counts. */
  reopen(): void {
    this.decided = undefined;
    this.pendingPlan = undefined;
  }

  get requiredRole(): Role {
    return REQUIRED_ROLE[this.rollbackType];
  }

  /** Records an approval given up front (automation); it must satisfy the same role policy. */
  preApprove(approver: string, role: string, comment?: string): string | undefined {
    const refusal = this.check(approver, role);
    if (refusal) return refusal;
    this.decide({ decision: 'approved', approver, role, at: nowIso(), via: 'pre-approval', ...opt(comment) });
    return undefined;
  }

  /** Waits for the first authorised decision, at most `timeoutSeconds`. */
  async wait(
    timeoutSeconds: number,
    onPending: (req: ApprovalRequest | undefined) => void,
    plan?: PlanSummary,
  ): Promise<GateOutcome> {
    if (plan) this.pendingPlan = plan.id;
    if (!this.decided) {
      onPending({
        requiredRole: this.requiredRole,
        rollbackType: this.rollbackType,
        deadline: new Date(Date.now() + timeoutSeconds * 1000).toISOString(),
        ...(plan ? { plan } : {}),
      });
      const deadline = new Date(Date.now() + timeoutSeconds * 1000).toISOString();
      // user metadata on the timer (the Web UI's label for it), not part of the command: replay is unaffected
      await condition(() => this.decided !== undefined, timeoutSeconds * 1000, {
        summary: `approval window: ${this.requiredRole} until ${deadline}`,
      });
      onPending(undefined);
    }
    const d = this.decided;
    if (!d) return { decision: 'timed-out', waitedSeconds: timeoutSeconds };
    return d.decision === 'approved' ? { decision: 'approved', by: d } : { decision: 'rejected', by: d };
  }

  private check(approver: unknown, role: unknown): string | undefined {
    if (typeof approver !== 'string' || approver.trim() === '') return 'approver is required';
    return approvalRefusal(this.rollbackType, role);
  }

  private receive(
    decision: 'approved' | 'rejected',
    approver: unknown,
    role: unknown,
    text: unknown,
    planId?: unknown,
  ): void {
    const refusal = this.check(approver, role) ?? this.planRefusal(decision, planId);
    const base = { approver: text_(approver), role: text_(role), at: nowIso(), via: 'signal' as const };
    const comment = typeof text === 'string' && text !== '' ? { comment: text } : {};
    if (refusal) {
      this.log.push({ ...base, ...comment, decision: 'refused', refusal });
      return;
    }
    if (this.decided) {
      this.log.push({ ...base, ...comment, decision: 'refused', refusal: `already ${this.decided.decision}` });
      return;
    }
    this.decide({ ...base, ...comment, decision, ...(this.pendingPlan ? { planId: this.pendingPlan } : {}) });
  }

  private planRefusal(decision: 'approved' | 'rejected', planId: unknown): string | undefined {
    if (!this.opts.planBound || decision !== 'approved' || this.decided) return undefined;
    if (!this.pendingPlan) return 'no plan is awaiting approval yet';
    if (planId !== undefined && planId !== this.pendingPlan) {
      return `approves plan ${text_(planId)}, but the plan awaiting approval is ${this.pendingPlan}`;
    }
    return undefined;
  }

  private decide(record: ApprovalRecord): void {
    this.decided = record;
    this.log.push(record);
  }
}

function text_(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v ?? '');
}

function nowIso(): string {
  return new Date().toISOString();
}
function opt(comment: string | undefined): { comment?: string } {
  return comment ? { comment } : {};
}

/**
 * The approval phase every rollback runs: records a pre-approval from the input (if any, same role policy), then
 * waits as the 'approval' step with the pending request (role, deadline) visible in the status query.
 */
export function awaitApproval(
  progress: Progress,
  gate: ApprovalGate,
  timeoutSeconds: number,
  preApproved?: { approver: string; role: string; comment?: string },
  plan?: PlanSummary,
): Promise<GateOutcome> {
  progress.setPhase('awaiting-approval');
  if (preApproved) gate.preApprove(preApproved.approver, preApproved.role, preApproved.comment);
  return progress.step(
    'approval',
    () =>
      gate.wait(
        timeoutSeconds,
        (req) => {
          if (req) progress.status.pendingApproval = req;
          else delete progress.status.pendingApproval;
        },
        plan,
      ),
    (o) =>
      o.decision === 'timed-out'
        ? `no decision within ${o.waitedSeconds}s`
        : `${o.decision} by ${o.by.approver} (${o.by.role})`,
    (o) => (o.decision === 'timed-out' ? undefined : o.by.at), // when the decision came
  );
}
