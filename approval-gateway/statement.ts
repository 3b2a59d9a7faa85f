// Owns the decision statement: the one object that says who decided what about which run — workflow id, run id,
// plan id, decision, approver (the roster person), role, time — and how the gateway learnt who it was (the
// verified Slack user). It is what the gateway sends (as the `decide` update) and, later, what a signature will
// cover: keep every fact of a decision in it, and derive the update from it, never the other way round.
import type { DecideUpdate } from '../workflows/phases/approval.ts';

export interface DecisionStatement {
  workflowId: string;
  runId: string;
  /** The plan awaiting approval when the request was posted (plan-bound gates); the gate refuses another plan. */
  planId?: string;
  decision: 'approve' | 'reject';
  /** The roster person (policy `people` id) the verified Slack user maps to. */
  approver: string;
  role: string;
  /** When the gateway took the decision (ISO 8601). */
  at: string;
  /** The approval's comment or the rejection's reason. */
  comment?: string;
  /** How the person was identified: the Slack user id of a callback whose signature was verified. */
  via: { channel: 'slack'; slackUserId: string };
}

/** The `decide` update a statement sends (the workflow records approver, role, comment and plan). */
export function decideUpdateOf(s: DecisionStatement): DecideUpdate {
  const how = `via Slack, user ${s.via.slackUserId}`;
  return {
    decision: s.decision,
    approver: s.approver,
    role: s.role,
    comment: s.comment ? `${s.comment} (${how})` : `approved ${how}`,
    ...(s.planId ? { planId: s.planId } : {}),
  };
}
