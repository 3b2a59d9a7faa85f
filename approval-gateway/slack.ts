// Owns what the gateway says to Slack: the Web API calls it makes (chat.postMessage, chat.update, views.open,
// each a JSON POST with the bot token as bearer; Slack answers 200 with `ok`), the answers through an
// interaction's response_url, and the Block Kit it sends: the approval request with Approve / Reject buttons
// whose `value` carries the run (workflow id, run id, plan id, deadline), the reject modal asking for a reason,
// and the message a decided or ended request becomes. The bot token never leaves the Authorization header.
import type { RollbackStatus } from '../workflows/phases/progress.ts';

export const APPROVE_ACTION = 'cortex_approve';
export const REJECT_ACTION = 'cortex_reject';
export const REJECT_VIEW = 'cortex_reject_reason';
export const REASON_BLOCK = 'reason';
export const REASON_INPUT = 'reason_input';

/** What a button carries (its `value`, at most 2000 characters): the run, the plan and the deadline it was for. */
export interface ButtonValue {
  workflowId: string;
  runId: string;
  planId?: string;
  deadline: string;
}

/** The reject modal's private_metadata: the button's value and the message to update. */
export interface RejectMetadata extends ButtonValue {
  channel: string;
  ts: string;
}

export class SlackApiError extends Error {
  override name = 'SlackApiError';
}

export interface SlackApi {
  call(method: string, body: Record<string, unknown>): Promise<Record<string, unknown>>;
  respond(responseUrl: string, body: Record<string, unknown>): Promise<void>;
}

export function slackApi(apiUrl: string, botToken: string, fetchTimeoutMs = 10_000): SlackApi {
  return {
    async call(method, body) {
      const res = await fetch(`${apiUrl}/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${botToken}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(fetchTimeoutMs),
      });
      const text = await res.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        /* answered below */
      }
      if (res.status !== 200 || parsed.ok !== true) {
        throw new SlackApiError(
          `${method}: HTTP ${res.status} ${typeof parsed.error === 'string' ? parsed.error : text.slice(0, 200)}`,
        );
      }
      return parsed;
    },
    async respond(responseUrl, body) {
      const res = await fetch(responseUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(fetchTimeoutMs),
      });
      if (res.status !== 200) throw new SlackApiError(`response_url: HTTP ${res.status}`);
      await res.text();
    },
  };
}

const mrkdwn = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });

function runLine(status: RollbackStatus, link?: string): Record<string, unknown> {
  return {
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: `workflow \`${status.workflowId}\` run \`${status.runId}\`${link ? ` — <${link}|open in Temporal>` : ''}`,
      },
    ],
  };
}

/** The approval request: what is rolled back, who may decide and until when, with Approve / Reject buttons. */
export function approvalMessage(status: RollbackStatus, link?: string): { text: string; blocks: unknown[] } {
  const req = status.pendingApproval!;
  const value: ButtonValue = {
    workflowId: status.workflowId,
    runId: status.runId,
    ...(req.plan ? { planId: req.plan.id } : {}),
    deadline: req.deadline,
  };
  const acknowledge = req.mode === 'acknowledge';
  const verb = acknowledge ? 'acknowledgement' : 'approval';
  const who = (req.approverRoles ?? [req.requiredRole]).join(' or ');
  const text =
    `:raising_hand: ${status.rollbackType} rollback ${status.target} needs ${verb} by ${who} until ${req.deadline}` +
    (req.contact ? ` ${req.contact}` : '');
  const facts = [
    `*Needs*: ${who}`,
    `*Deadline*: ${req.deadline}`,
    ...(req.escalated
      ? [`*Escalated*: may now also decide ${(req.alsoMayDecide ?? []).join(', ') || 'nobody more'}`]
      : []),
    ...(req.plan ? [`*Plan*: \`${req.plan.id}\``] : []),
  ];
  return {
    text,
    blocks: [
      mrkdwn(`*${text}*`),
      mrkdwn(facts.join('\n')),
      {
        type: 'actions',
        block_id: 'cortex_decision',
        elements: [
          {
            type: 'button',
            action_id: APPROVE_ACTION,
            style: 'primary',
            text: { type: 'plain_text', text: acknowledge ? 'Acknowledge' : 'Approve' },
            value: JSON.stringify(value),
          },
          {
            type: 'button',
            action_id: REJECT_ACTION,
            style: 'danger',
            text: { type: 'plain_text', text: 'Reject' },
            value: JSON.stringify(value),
          },
        ],
      },
      runLine(status, link),
    ],
  };
}

/** The request once it no longer waits: the outcome instead of the buttons. */
export function closedMessage(
  run: { workflowId: string; runId: string },
  outcome: string,
  status?: RollbackStatus,
  link?: string,
): { text: string; blocks: unknown[] } {
  const text = status
    ? `${status.rollbackType} rollback ${status.target}: ${outcome}`
    : `rollback ${run.workflowId}: ${outcome}`;
  return {
    text,
    blocks: [
      mrkdwn(`:ballot_box_with_check: *${text}*`),
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `workflow \`${run.workflowId}\` run \`${run.runId}\`${link ? ` — <${link}|open in Temporal>` : ''}`,
          },
        ],
      },
    ],
  };
}

/** The modal the Reject button opens: the reason is required (the gate refuses a rejection without one). */
export function rejectModal(meta: RejectMetadata): Record<string, unknown> {
  return {
    type: 'modal',
    callback_id: REJECT_VIEW,
    private_metadata: JSON.stringify(meta),
    title: { type: 'plain_text', text: 'Reject the rollback' },
    submit: { type: 'plain_text', text: 'Reject' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      mrkdwn(`Rejecting \`${meta.workflowId}\`: nothing (more) is changed and it ends as rejected.`),
      {
        type: 'input',
        block_id: REASON_BLOCK,
        label: { type: 'plain_text', text: 'Reason' },
        element: { type: 'plain_text_input', action_id: REASON_INPUT, multiline: true, max_length: 500 },
      },
    ],
  };
}

/** The outcome of a run that no longer waits, from its status (the last decision it counted, or its phase). */
export function outcomeOf(s: RollbackStatus | undefined, ended?: string): string {
  const d = s?.approvals.filter((a) => a.decision === 'approved' || a.decision === 'rejected').at(-1);
  if (d)
    return `${d.decision} by ${d.approver} (${d.role}) via ${d.via} at ${d.at}${d.via === 'update' && d.comment ? ` — ${d.comment}` : ''}`;
  if (s) return `no longer awaiting approval (phase ${s.phase})`;
  return `no longer awaiting approval${ended ? ` (${ended})` : ''}`;
}
