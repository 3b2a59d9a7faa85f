// Owns the gateway's HTTP face: `POST /slack/interactivity` (the Slack app's interactivity request URL) and
// `GET /healthz`. A callback is verified first (verify.ts: signature, five minutes, used once) and refused with
// 401 and the reason otherwise — such a request is not from Slack, so nothing in it is believed or answered to;
// a verified one is acknowledged within Slack's three seconds and then acted on:
//  - Approve (block_actions): the decision goes to the run; the outcome replaces the request through the
//    interaction's response_url, a refusal goes to the person who clicked only (ephemeral), the request staying;
//  - Reject (block_actions): opens the reason modal (views.open with the interaction's trigger_id) for a person of
//    the roster (anyone else is told so at once);
//  - the modal's submission (view_submission): the rejection goes to the run within the acknowledgement, so a
//    refusal is shown in the modal itself (`response_action: errors`); done, the request shows the rejection.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { RollbackClient } from '../client/client.ts';
import { INTERACTIVITY_PATH } from './config.ts';
import { decidedLine, decideFromSlack, type DecisionOutcome } from './decisions.ts';
import {
  APPROVE_ACTION,
  closedMessage,
  REASON_BLOCK,
  REASON_INPUT,
  REJECT_ACTION,
  REJECT_VIEW,
  rejectModal,
  type ButtonValue,
  type RejectMetadata,
  type SlackApi,
} from './slack.ts';
import { verifySlackRequest, type ReplayCache } from './verify.ts';
import { readApprovalPolicy } from '../activities/approval-policy.ts';
import { personOfSlackUser } from '../common/approval-policy.ts';

const MAX_BODY = 256 * 1024;
/** Slack waits three seconds for the acknowledgement; the modal's answer must fit in it. */
const VIEW_ANSWER_MS = 2500;

export interface ServerDeps {
  rc: RollbackClient;
  slack: SlackApi;
  signingSecret: string;
  policyPath: string;
  replay: ReplayCache;
  saveReplay: () => void;
  log: (line: string) => void;
}

interface Payload {
  type?: string;
  user?: { id?: string };
  trigger_id?: string;
  response_url?: string;
  actions?: { action_id?: string; value?: string }[];
  container?: { channel_id?: string; message_ts?: string };
  channel?: { id?: string };
  message?: { ts?: string };
  view?: {
    callback_id?: string;
    private_metadata?: string;
    state?: { values?: Record<string, Record<string, { value?: string | null }>> };
  };
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(undefined);
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: string | Record<string, unknown> = ''): void {
  const json = typeof body !== 'string';
  res
    .writeHead(status, { 'content-type': json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8' })
    .end(json ? JSON.stringify(body) : body);
}

function parseButton(v: string | undefined): ButtonValue | undefined {
  try {
    const b = JSON.parse(v ?? '') as Partial<ButtonValue>;
    if (typeof b.workflowId === 'string' && typeof b.runId === 'string' && typeof b.deadline === 'string') {
      return {
        workflowId: b.workflowId,
        runId: b.runId,
        deadline: b.deadline,
        ...(typeof b.planId === 'string' ? { planId: b.planId } : {}),
      };
    }
  } catch {
    /* below */
  }
  return undefined;
}

const refusedText = (decision: 'approve' | 'reject', refusal: string) =>
  `:no_entry: Your ${decision === 'approve' ? 'approval' : 'rejection'} did not count and nothing was recorded: ${refusal}`;

export function createGatewayServer(deps: ServerDeps): Server {
  const { log } = deps;

  const answerClick = async (p: Payload, target: ButtonValue, outcome: DecisionOutcome): Promise<void> => {
    if (!p.response_url) return;
    if (outcome.ok) {
      await deps.slack.respond(p.response_url, {
        replace_original: true,
        ...closedMessage(target, decidedLine(outcome.statement, outcome.record)),
      });
    } else {
      await deps.slack.respond(p.response_url, {
        response_type: 'ephemeral',
        replace_original: false,
        text: refusedText('approve', outcome.refusal),
      });
    }
  };

  const onBlockAction = async (p: Payload, userId: string): Promise<void> => {
    const action = p.actions?.[0];
    const target = parseButton(action?.value);
    if (!action || !target) return;
    if (action.action_id === APPROVE_ACTION) {
      const outcome = await decideFromSlack(deps, target, userId, 'approve');
      log(
        `approve of ${target.workflowId}/${target.runId} by Slack user ${userId}: ${outcome.ok ? 'approved' : `refused: ${outcome.refusal}`}`,
      );
      await answerClick(p, target, outcome);
      return;
    }
    if (action.action_id === REJECT_ACTION) {
      const policy = (await readApprovalPolicy(deps.policyPath)).policy;
      if (!personOfSlackUser(policy, userId)) {
        const refusal = `Slack user ${userId} is not on the approval roster (no person of the approval policy has "slack": "${userId}")`;
        log(`reject of ${target.workflowId}/${target.runId} by Slack user ${userId}: refused: ${refusal}`);
        if (p.response_url) {
          await deps.slack.respond(p.response_url, {
            response_type: 'ephemeral',
            replace_original: false,
            text: refusedText('reject', refusal),
          });
        }
        return;
      }
      const meta: RejectMetadata = {
        ...target,
        channel: p.container?.channel_id ?? p.channel?.id ?? '',
        ts: p.container?.message_ts ?? p.message?.ts ?? '',
      };
      await deps.slack.call('views.open', { trigger_id: p.trigger_id, view: rejectModal(meta) });
    }
  };

  const onViewSubmission = async (p: Payload, userId: string, res: ServerResponse): Promise<void> => {
    let meta: RejectMetadata | undefined;
    try {
      const m = JSON.parse(p.view?.private_metadata ?? '') as RejectMetadata;
      meta = parseButton(JSON.stringify(m)) ? m : undefined;
    } catch {
      meta = undefined;
    }
    if (!meta) return send(res, 200, { response_action: 'clear' });
    const reason = p.view?.state?.values?.[REASON_BLOCK]?.[REASON_INPUT]?.value?.trim() ?? '';
    const target = parseButton(JSON.stringify(meta))!;
    const decided = decideFromSlack(deps, target, userId, 'reject', reason);
    const timedOut = new Promise<undefined>((r) => setTimeout(() => r(undefined), VIEW_ANSWER_MS).unref());
    const early = await Promise.race([decided, timedOut]);
    const finish = async (outcome: DecisionOutcome) => {
      log(
        `reject of ${target.workflowId}/${target.runId} by Slack user ${userId}: ${outcome.ok ? 'rejected' : `refused: ${outcome.refusal}`}`,
      );
      if (outcome.ok && meta.channel && meta.ts) {
        await deps.slack.call('chat.update', {
          channel: meta.channel,
          ts: meta.ts,
          ...closedMessage(target, decidedLine(outcome.statement, outcome.record)),
        });
      } else if (!outcome.ok && !early && meta.channel) {
        await deps.slack.call('chat.postEphemeral', {
          channel: meta.channel,
          user: userId,
          text: refusedText('reject', outcome.refusal),
        });
      }
    };
    if (early && !early.ok) {
      send(res, 200, { response_action: 'errors', errors: { [REASON_BLOCK]: early.refusal.slice(0, 2000) } });
      void finish(early).catch((err: unknown) => log(`answering Slack failed: ${(err as Error).message}`));
      return;
    }
    send(res, 200, { response_action: 'clear' });
    const outcome = early ?? (await decided);
    await finish(outcome);
  };

  return createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && path === '/healthz') return send(res, 200, 'ok');
      if (path !== INTERACTIVITY_PATH) return send(res, 404, 'not found');
      if (req.method !== 'POST') return send(res, 405, 'POST only');
      const raw = await readBody(req);
      if (!raw) return send(res, 413, 'request body too large');
      const header = (n: string) => {
        const v = req.headers[n];
        return Array.isArray(v) ? v[0] : v;
      };
      const timestamp = header('x-slack-request-timestamp');
      const signature = header('x-slack-signature');
      const verdict = verifySlackRequest(deps.signingSecret, { timestamp, signature }, raw);
      if (!verdict.ok) {
        log(`refused a callback: ${verdict.reason}`);
        return send(res, 401, verdict.reason);
      }
      let p: Payload;
      try {
        p = JSON.parse(new URLSearchParams(raw.toString('utf8')).get('payload') ?? '') as Payload;
      } catch {
        return send(res, 400, 'no payload: Slack sends application/x-www-form-urlencoded with a payload JSON field');
      }
      const keys = [`sig:${signature!}`, ...(p.trigger_id ? [`trigger:${p.trigger_id}`] : [])];
      if (!deps.replay.useOnce(keys, Number(timestamp))) {
        log('refused a callback: already used (a replay)');
        return send(res, 401, 'this callback was already used: refused as a replay');
      }
      deps.saveReplay();
      const userId = p.user?.id;
      if (typeof userId !== 'string' || userId === '') return send(res, 400, 'payload.user.id is missing');
      if (p.type === 'view_submission' && p.view?.callback_id === REJECT_VIEW) {
        return onViewSubmission(p, userId, res);
      }
      send(res, 200); // the acknowledgement, before the work (Slack's three seconds)
      if (p.type === 'block_actions') await onBlockAction(p, userId);
    })().catch((err: unknown) => {
      log(`callback failed: ${(err as Error).message}`);
      if (!res.headersSent) send(res, 500, 'the gateway failed on this callback');
    });
  });
}
