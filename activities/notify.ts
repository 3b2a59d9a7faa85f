// Owns the notifications of the runbook (Slack incoming webhook, PagerDuty Events API v2) as one `notify` activity.
// Invariants:
//  - webhook URLs and routing keys come from the worker's configuration (NotifySettings), never from the input,
//    so they never enter workflow history; results name the channel outcome only;
//  - idempotent per notification key (workflowId/runId/event[/key]): PagerDuty gets it as `dedup_key`; for Slack
//    (no idempotency key in webhooks) a delivered key is written to a small file store under the worker's data
//    dir and to the heartbeat, and a retried activity that finds it does not post again. The one window left is a
//    crash after Slack accepted the post and before the marker is written (milliseconds);
//  - nothing configured → 'not-configured' and success: a missing channel never fails a rollback;
//  - HTTP 429/5xx/network errors are retryable, other 4xx are permanent (bad URL or key).
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FailureType } from '../common/failures.ts';
import { permanent, retryable } from './failures.ts';
import { activityNamespace, heartbeat, previousHeartbeat, withHeartbeat } from './heartbeat.ts';

export const NOTIFY_EVENTS = [
  'started',
  'approval-needed',
  'escalated',
  'approval-decided',
  'succeeded',
  'failed',
  'emergency',
  'trigger-fired',
  'watch-alert',
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export const DEFAULT_PAGERDUTY_URL = 'https://events.pagerduty.com/v2/enqueue';

export interface NotifySettings {
  slackWebhookUrl?: string;
  pagerDuty?: { url: string; routingKey: string };
  /** Where delivered Slack keys are remembered (one small file per key). */
  stateDir: string;
  /** The Temporal Web UI's base URL: messages then link to the run's history. */
  webUiUrl?: string;
}

export interface NotifyInput {
  event: NotifyEvent;
  workflowId: string;
  runId: string;
  /** application | database | configuration | infrastructure | emergency, or 'guard' for triggers. */
  rollbackType: string;
  /** What the rollback acts on, e.g. `docker:cortex-mcp`. */
  target: string;
  summary: string;
  /** People or handles to address (e.g. the backup contact on escalation). */
  mention?: string[];
  /** Non-secret facts shown with the message. */
  details?: Record<string, string | number | boolean>;
  /** Distinguishes several notifications of one event in one run (e.g. the escalation level). */
  key?: string;
  /** PagerDuty dedup keys this notification closes (sent as `resolve` events): the run's pages that no longer
   * need anyone, e.g. its approval-needed page once the rollback has ended. */
  resolve?: string[];
}

/** 'resolved': the event itself does not page, but it resolved the pages named in `resolve`. */
export type ChannelOutcome = 'delivered' | 'already-delivered' | 'not-configured' | 'not-routed' | 'resolved';

export interface NotifyResult {
  key: string;
  slack: ChannelOutcome;
  pagerDuty: ChannelOutcome;
}

type Severity = 'critical' | 'error' | 'warning' | 'info';

/** Per event: the PagerDuty severity, or undefined when the event does not page (Slack only). */
export const PAGE_SEVERITY: Record<NotifyEvent, Severity | undefined> = {
  started: undefined,
  'approval-needed': 'warning',
  escalated: 'error',
  'approval-decided': undefined,
  succeeded: undefined,
  failed: 'error',
  emergency: 'critical',
  'trigger-fired': 'critical',
  'watch-alert': 'warning',
};

const EMOJI: Record<NotifyEvent, string> = {
  started: ':arrows_counterclockwise:',
  'approval-needed': ':raising_hand:',
  escalated: ':arrow_double_up:',
  'approval-decided': ':ballot_box_with_check:',
  succeeded: ':white_check_mark:',
  failed: ':x:',
  emergency: ':rotating_light:',
  'trigger-fired': ':rotating_light:',
  'watch-alert': ':warning:',
};

/** The idempotency key of one notification: the same on every retry of the activity. */
export function notificationKey(n: Pick<NotifyInput, 'workflowId' | 'runId' | 'event' | 'key'>): string {
  return `cortex-rollback/${n.workflowId}/${n.runId}/${n.event}${n.key ? `/${n.key}` : ''}`;
}

function mentions(n: NotifyInput): string {
  return n.mention?.length ? ` ${n.mention.join(' ')}` : '';
}

function headline(n: NotifyInput): string {
  return `[${n.event}] ${n.rollbackType} rollback ${n.target}: ${n.summary}`;
}

/** The run's page in the Temporal Web UI. */
export function runLink(webUiUrl: string, namespace: string, n: Pick<NotifyInput, 'workflowId' | 'runId'>): string {
  const base = webUiUrl.replace(/\/+$/, '');
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(n.workflowId)}/${encodeURIComponent(n.runId)}/history`;
}

/** The Slack incoming-webhook body; `link`: the run in the Web UI. */
export function slackMessage(n: NotifyInput, link?: string): Record<string, unknown> {
  const facts = Object.entries(n.details ?? {}).map(([k, v]) => `*${k}*: ${String(v)}`);
  return {
    text: `${EMOJI[n.event]} ${headline(n)}${mentions(n)}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${EMOJI[n.event]} *${headline(n)}*${mentions(n)}` } },
      ...(facts.length ? [{ type: 'section', text: { type: 'mrkdwn', text: facts.join('\n') } }] : []),
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `workflow \`${n.workflowId}\` run \`${n.runId}\`${link ? ` — <${link}|open in Temporal>` : ''}`,
          },
        ],
      },
    ],
  };
}

/** The PagerDuty Events API v2 `trigger` body (routing key added by the caller, from configuration). */
export function pagerDutyEvent(n: NotifyInput, severity: Severity, link?: string): Record<string, unknown> {
  return {
    event_action: 'trigger',
    dedup_key: notificationKey(n),
    payload: {
      summary: `${headline(n)}${mentions(n)}`.slice(0, 1024),
      source: 'cortex-rollback',
      severity,
      component: n.target,
      group: n.rollbackType,
      class: n.event,
      custom_details: { workflowId: n.workflowId, runId: n.runId, ...(n.details ?? {}) },
    },
    client: 'cortex-rollback',
    ...(link ? { client_url: link, links: [{ href: link, text: 'the rollback in the Temporal Web UI' }] } : {}),
  };
}

/** The PagerDuty Events API v2 `resolve` body for one of the run's earlier pages (routing key added by the caller). */
export function pagerDutyResolve(dedupKey: string): Record<string, unknown> {
  return { event_action: 'resolve', dedup_key: dedupKey, client: 'cortex-rollback' };
}

interface Progress {
  key: string;
  slack?: 'delivered';
}

async function post(url: string, body: unknown, what: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw retryable(FailureType.Unavailable, `${what}: unreachable (${(err as Error).message})`, err);
  }
  const text = await res.text().catch(() => '');
  if (res.ok) return;
  const reason = `${what}: HTTP ${res.status} ${text.slice(0, 200)}`;
  if (res.status === 429 || res.status >= 500) throw retryable(FailureType.Unavailable, reason);
  throw permanent(FailureType.InvalidInput, reason);
}

function markerPath(stateDir: string, key: string): string {
  return join(stateDir, `${createHash('sha256').update(key).digest('hex')}.json`);
}

async function slackDelivered(stateDir: string, key: string): Promise<boolean> {
  const text = await readFile(markerPath(stateDir, key), 'utf8').catch(() => undefined);
  return text !== undefined && (JSON.parse(text) as { key?: string }).key === key;
}

async function rememberSlack(stateDir: string, key: string): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const file = markerPath(stateDir, key);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ key, deliveredAt: new Date().toISOString() }));
  await rename(tmp, file);
}

export function createNotifyActivities(settings: NotifySettings) {
  return {
    /** Sends one notification to every configured channel, at most once per channel and key. */
    async notify(n: NotifyInput): Promise<NotifyResult> {
      const key = notificationKey(n);
      const link = settings.webUiUrl ? runLink(settings.webUiUrl, activityNamespace(), n) : undefined;
      const before = previousHeartbeat<Progress>();
      const progress: Progress = { key, ...(before?.key === key && before.slack ? { slack: before.slack } : {}) };
      const send = (url: string, body: unknown, what: string) =>
        withHeartbeat(
          () => post(url, body, what),
          1000,
          () => progress,
        );

      let slack: ChannelOutcome = 'not-configured';
      if (settings.slackWebhookUrl) {
        if (progress.slack === 'delivered' || (await slackDelivered(settings.stateDir, key))) {
          slack = 'already-delivered';
        } else {
          await send(settings.slackWebhookUrl, slackMessage(n, link), 'Slack webhook');
          await rememberSlack(settings.stateDir, key);
          slack = 'delivered';
        }
        progress.slack = 'delivered';
        heartbeat(progress);
      }

      let pagerDuty: ChannelOutcome = 'not-configured';
      const severity = PAGE_SEVERITY[n.event];
      const pd = settings.pagerDuty;
      if (pd && !severity) pagerDuty = 'not-routed';
      else if (pd && severity) {
        // PagerDuty deduplicates on dedup_key: a retry repeats the same key and opens no second incident.
        await send(
          pd.url,
          { routing_key: pd.routingKey, ...pagerDutyEvent(n, severity, link) },
          'PagerDuty Events API',
        );
        pagerDuty = 'delivered';
      }
      // resolving is idempotent at PagerDuty: a retry resolves the same keys again
      for (const dedupKey of n.resolve ?? []) {
        if (!pd) break;
        await send(pd.url, { routing_key: pd.routingKey, ...pagerDutyResolve(dedupKey) }, 'PagerDuty Events API');
        if (pagerDuty === 'not-routed') pagerDuty = 'resolved';
      }
      return { key, slack, pagerDuty };
    },
  };
}
