// Owns the human approval gate, reusable by every rollback workflow: the `approve` / `reject` signals (sendable
// from the Web UI, the temporal CLI and our CLI), the role policy check, and the wait with a timeout.
// Invariants: a signal that arrives before the workflow reaches the gate still counts (handlers are set at
// construction); a signal from a role that may not approve is recorded as refused and does not decide;
// the first authorised decision wins.
import { condition, defineSignal, setHandler } from '@temporalio/workflow';
import { approvalRefusal, REQUIRED_ROLE, type Role, type RollbackType } from '../../common/roles.ts';
import type { Progress } from './progress.ts';

export interface ApproveSignal {
  approver: string;
  role: string;
  comment?: string;
}
export interface RejectSignal {
  approver: string;
  role: string;
  reason: string;
}

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
}

export interface ApprovalRequest {
  requiredRole: Role;
  rollbackType: RollbackType;
  deadline: string;
}

export type GateOutcome =
  | { decision: 'approved'; by: ApprovalRecord }
  | { decision: 'rejected'; by: ApprovalRecord }
  | { decision: 'timed-out'; waitedSeconds: number };

export class ApprovalGate {
  private decided?: ApprovalRecord;

  constructor(
    private readonly rollbackType: RollbackType,
    private readonly log: ApprovalRecord[],
  ) {
    setHandler(approveSignal, (s) => this.receive('approved', s?.approver, s?.role, s?.comment));
    setHandler(rejectSignal, (s) => this.receive('rejected', s?.approver, s?.role, s?.reason));
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
  async wait(timeoutSeconds: number, onPending: (req: ApprovalRequest | undefined) => void): Promise<GateOutcome> {
    if (!this.decided) {
      onPending({
        requiredRole: this.requiredRole,
        rollbackType: this.rollbackType,
        deadline: new Date(Date.now() + timeoutSeconds * 1000).toISOString(),
      });
      await condition(() => this.decided !== undefined, timeoutSeconds * 1000);
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

  private receive(decision: 'approved' | 'rejected', approver: unknown, role: unknown, text: unknown): void {
    const refusal = this.check(approver, role);
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
    this.decide({ ...base, ...comment, decision });
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
): Promise<GateOutcome> {
  progress.setPhase('awaiting-approval');
  if (preApproved) gate.preApprove(preApproved.approver, preApproved.role, preApproved.comment);
  return progress.step(
    'approval',
    () =>
      gate.wait(timeoutSeconds, (req) => {
        if (req) progress.status.pendingApproval = req;
        else delete progress.status.pendingApproval;
      }),
    (o) =>
      o.decision === 'timed-out'
        ? `no decision within ${o.waitedSeconds}s`
        : `${o.decision} by ${o.by.approver} (${o.by.role})`,
  );
}
