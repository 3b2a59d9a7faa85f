// Owns what a verified Slack interaction does: the Slack user id of the payload (never a name from it) is mapped
// to a roster person through `people.<id>.slack` of the approval policy (read at each decision, as the worker
// reads it at each run), the role is the one the roster gives that person which the pending request allows, and
// the decision statement is sent as the `decide` update to the very run the button was posted for (workflow id
// and run id). The update's validator is the judge: its refusal (four eyes, a role that may not decide, the window
// closed, a stale plan, already decided) is what the person who clicked is shown, and nothing is recorded.
import { readApprovalPolicy } from '../activities/approval-policy.ts';
import { personOfSlackUser, type ApprovalPolicy } from '../common/approval-policy.ts';
import { decide, DecisionRefusedError, type RollbackClient } from '../client/client.ts';
import type { ApprovalRecord, ApprovalRequest } from '../workflows/phases/approval.ts';
import { statusQuery, type RollbackStatus } from '../workflows/phases/progress.ts';
import { outcomeOf, type ButtonValue } from './slack.ts';
import { decideUpdateOf, type DecisionStatement } from './statement.ts';

export type DecisionOutcome =
  | { ok: true; statement: DecisionStatement; record?: ApprovalRecord }
  | { ok: false; refusal: string; statement?: DecisionStatement };

/** The role a person decides with: the request's required role if the roster gives it, else one it allows. */
export function roleFor(policy: ApprovalPolicy, person: string, req: ApprovalRequest | undefined): string {
  const held = policy.people[person]!.roles;
  if (!req) return held[0]!;
  const allowed = req.approverRoles ?? [req.requiredRole];
  const pick = held.includes(req.requiredRole) ? req.requiredRole : held.find((r) => allowed.includes(r));
  if (pick) return pick;
  const widened = req.escalated ? (req.alsoMayDecide ?? []) : [];
  return held.find((r) => widened.includes(`role ${r}`)) ?? held[0]!;
}

/** The status of exactly this run, or why it cannot be read (ended and gone, not found, no worker answering). */
export async function runStatus(
  rc: RollbackClient,
  run: { workflowId: string; runId: string },
  timeoutMs = 5000,
): Promise<RollbackStatus> {
  return rc.client.withDeadline(Date.now() + timeoutMs, () =>
    rc.client.workflow.getHandle(run.workflowId, run.runId).query(statusQuery),
  );
}

export async function decideFromSlack(
  deps: { rc: RollbackClient; policyPath: string },
  target: ButtonValue,
  slackUserId: string,
  decision: 'approve' | 'reject',
  comment?: string,
): Promise<DecisionOutcome> {
  let policy: ApprovalPolicy;
  try {
    policy = (await readApprovalPolicy(deps.policyPath)).policy;
  } catch (err) {
    return { ok: false, refusal: `the gateway cannot read the approval policy: ${(err as Error).message}` };
  }
  const person = personOfSlackUser(policy, slackUserId);
  if (!person) {
    return {
      ok: false,
      refusal: `Slack user ${slackUserId} is not on the approval roster (no person of the approval policy has "slack": "${slackUserId}")`,
    };
  }
  let status: RollbackStatus;
  try {
    status = await runStatus(deps.rc, target);
  } catch (err) {
    return {
      ok: false,
      refusal: `run ${target.runId} of ${target.workflowId} cannot be read: ${(err as Error).message}`,
    };
  }
  const statement: DecisionStatement = {
    workflowId: target.workflowId,
    runId: target.runId,
    ...(target.planId ? { planId: target.planId } : {}),
    decision,
    approver: person,
    role: roleFor(policy, person, status.pendingApproval),
    at: new Date().toISOString(),
    ...(comment ? { comment } : {}),
    via: { channel: 'slack', slackUserId },
  };
  try {
    const r = await decide(deps.rc, target.workflowId, decideUpdateOf(statement), {
      runId: target.runId,
      waitOpenMs: 5000,
    });
    if (r.via === 'signal') {
      // a run from before the approval policy: the signal was sent and the run judges (and records) it
      return { ok: true, statement };
    }
    return { ok: true, statement, ...(r.record ? { record: r.record } : {}) };
  } catch (err) {
    if (err instanceof DecisionRefusedError) return { ok: false, refusal: err.message, statement };
    const handle = deps.rc.client.workflow.getHandle(target.workflowId, target.runId);
    const ended = await handle
      .describe()
      .then((d) => (d.status.name === 'RUNNING' ? undefined : d.status.name))
      .catch(() => undefined);
    const after = ended ? await runStatus(deps.rc, target).catch(() => undefined) : undefined;
    return {
      ok: false,
      refusal: ended
        ? `this run has ended (${ended.toLowerCase()}): the approval is closed, nothing more can be decided (${outcomeOf(after)})`
        : `run ${target.runId} of ${target.workflowId} did not take the decision: ${(err as Error).message}`,
      statement,
    };
  }
}

/** One line for Slack: the decision the run recorded. */
export function decidedLine(s: DecisionStatement, record?: ApprovalRecord): string {
  const what = record?.decision ?? (s.decision === 'approve' ? 'approved' : 'rejected');
  return (
    `${what} by ${s.approver} (${record?.role ?? s.role}) at ${record?.at ?? s.at} from Slack (<@${s.via.slackUserId}>)` +
    (s.decision === 'reject' && s.comment ? `: ${s.comment}` : '')
  );
}
