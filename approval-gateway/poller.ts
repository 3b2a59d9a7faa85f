// Owns how the gateway learns of approvals: it asks Temporal, every poll interval, for the running workflows of
// its task queue (visibility: `TaskQueue = … AND ExecutionStatus = "Running"`) and reads each one's `status`
// query; a run whose status holds a policy `pendingApproval` gets one Block Kit request in the channel. The same
// look keeps that message true: it is updated when the request changes (escalated: new deadline and who may now
// also decide; a new plan) and loses its buttons once the run no longer waits (decided from Slack, the CLI or the
// Web UI, timed out, ended), showing the outcome.
// Why polling and not a call from the workflow's notify activity: nothing of the workflows, their histories or the
// worker changes (no patch, no new activity input), the bot token lives in this one process only, runs started
// before the gateway (or while it was down) are still asked, and the status query is the one source of truth the
// CLI and Web UI read too. The cost: a request appears up to one poll interval late, and one query per running
// workflow of the queue per poll.
import type { RollbackClient } from '../client/client.ts';
import { runLink } from '../activities/notify.ts';
import type { RollbackStatus } from '../workflows/phases/progress.ts';
import { runStatus } from './decisions.ts';
import { approvalMessage, closedMessage, outcomeOf, type SlackApi } from './slack.ts';
import type { GatewayState } from './state.ts';

export interface PollerDeps {
  rc: RollbackClient;
  slack: SlackApi;
  channel: string;
  webUiUrl?: string;
  state: GatewayState;
  save: () => void;
  log: (line: string) => void;
}

const QUERIES_AT_ONCE = 8;

const keyOf = (r: { workflowId: string; runId: string }) => `${r.workflowId}/${r.runId}`;

/** What a request shows that, when it changes, calls for an update of the message. */
function shownOf(s: RollbackStatus): string {
  const p = s.pendingApproval!;
  return JSON.stringify([p.deadline, p.escalated ?? false, p.plan?.id ?? null, p.alsoMayDecide ?? []]);
}

export class Poller {
  constructor(private readonly deps: PollerDeps) {}

  private link(r: { workflowId: string; runId: string }): string | undefined {
    return this.deps.webUiUrl ? runLink(this.deps.webUiUrl, this.deps.rc.settings.namespace, r) : undefined;
  }

  /** One look: post new requests, update changed ones, close those no longer waiting. */
  async pollOnce(): Promise<void> {
    const { rc, state } = this.deps;
    const query = `TaskQueue = "${rc.settings.taskQueue}" AND ExecutionStatus = "Running"`;
    const waiting = new Map<string, RollbackStatus>();
    const seen = new Set<string>();
    const running: { workflowId: string; runId: string }[] = [];
    for await (const wf of rc.client.workflow.list({ query })) {
      running.push({ workflowId: wf.workflowId, runId: wf.runId });
      seen.add(keyOf(wf));
    }
    // a few at a time: a run whose worker does not answer costs its query's deadline, not the whole poll's
    for (let i = 0; i < running.length; i += QUERIES_AT_ONCE) {
      const batch = running.slice(i, i + QUERIES_AT_ONCE);
      const statuses = await Promise.all(batch.map((wf) => runStatus(rc, wf).catch(() => undefined)));
      statuses.forEach((s, j) => {
        // only runs under the approval policy: their `decide` update is what the buttons send (not a rollback,
        // or no worker answering now: undefined)
        if (s?.pendingApproval && s.approvalPolicy) waiting.set(keyOf(batch[j]!), s);
      });
    }
    for (const [key, s] of waiting) {
      const posted = state.posted[key];
      const shown = shownOf(s);
      if (posted?.shown === shown) continue;
      const msg = approvalMessage(s, this.link(s));
      if (!posted) {
        const r = await this.deps.slack.call('chat.postMessage', { channel: this.deps.channel, ...msg });
        state.posted[key] = { channel: String(r.channel), ts: String(r.ts), shown };
        this.deps.log(`posted the approval request of ${key}`);
      } else {
        await this.deps.slack.call('chat.update', { channel: posted.channel, ts: posted.ts, ...msg });
        posted.shown = shown;
        this.deps.log(`updated the approval request of ${key}`);
      }
      this.deps.save();
    }
    for (const [key, posted] of Object.entries(state.posted)) {
      if (waiting.has(key)) continue;
      const [workflowId, runId] = [key.slice(0, key.lastIndexOf('/')), key.slice(key.lastIndexOf('/') + 1)];
      const run = { workflowId, runId };
      // a run still listed as running may just not answer this time: look again next poll
      const s = await runStatus(rc, run).catch(() => undefined);
      if (!s && seen.has(key)) continue;
      const msg = closedMessage(run, outcomeOf(s, seen.has(key) ? undefined : 'the run has ended'), s, this.link(run));
      await this.deps.slack.call('chat.update', { channel: posted.channel, ts: posted.ts, ...msg });
      delete state.posted[key];
      this.deps.save();
      this.deps.log(`closed the approval request of ${key}: ${msg.text}`);
    }
  }
}
