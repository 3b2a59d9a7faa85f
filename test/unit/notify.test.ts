// The notify activity against a local receiver: the exact Slack and PagerDuty payloads, routing per event, the
// idempotency key, no second Slack post once delivered (marker file), 'not-configured' without channels, and
// retryable versus permanent HTTP failures; plus the worker configuration read from the environment.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNotifyActivities, DEFAULT_PAGERDUTY_URL, type NotifyInput } from '../../activities/notify.ts';
import { ConfigError, loadNotifySettings } from '../../common/config.ts';
import { PAGERDUTY_PATH, SLACK_PATH, startNotifyReceiver, type NotifyReceiver } from '../helpers/notify-receiver.ts';

const input = (over: Partial<NotifyInput> = {}): NotifyInput => ({
  event: 'approval-needed',
  workflowId: 'rollback-docker-cortex-mcp',
  runId: 'run-1',
  rollbackType: 'application',
  target: 'docker:cortex-mcp',
  summary: 'needs on-call-engineer approval within 1800s',
  mention: ['@oncall-eng'],
  details: { requiredRole: 'on-call-engineer', deadline: '2026-11-29T08:30:00.000Z' },
  ...over,
});

describe('notify activity (local receiver)', () => {
  let rx: NotifyReceiver;
  const dirs: string[] = [];
  const stateDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'notify-test-'));
    dirs.push(d);
    return d;
  };
  before(async () => {
    rx = await startNotifyReceiver();
  });
  after(async () => {
    await rx.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const both = (dir = stateDir()) =>
    createNotifyActivities({
      slackWebhookUrl: rx.slackUrl,
      pagerDuty: { url: rx.pagerDutyUrl, routingKey: 'R0UT1NGKEY' },
      stateDir: dir,
    });

  it('posts the exact Slack webhook body and PagerDuty v2 trigger, keyed by workflow, run and event', async () => {
    const n0 = rx.requests.length;
    const r = await both().notify(input());
    assert.deepEqual(r, {
      key: 'cortex-rollback/rollback-docker-cortex-mcp/run-1/approval-needed',
      slack: 'delivered',
      pagerDuty: 'delivered',
    });
    const got = rx.requests.slice(n0);
    assert.deepEqual(
      got.map((g) => g.path),
      [SLACK_PATH, PAGERDUTY_PATH],
    );
    const headline =
      '[approval-needed] application rollback docker:cortex-mcp: needs on-call-engineer approval within 1800s';
    assert.deepEqual(got[0]!.body, {
      text: `:raising_hand: ${headline} @oncall-eng`,
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: `:raising_hand: *${headline}* @oncall-eng` } },
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: '*requiredRole*: on-call-engineer\n*deadline*: 2026-11-29T08:30:00.000Z',
          },
        },
        {
          type: 'context',
          elements: [{ type: 'mrkdwn', text: 'workflow `rollback-docker-cortex-mcp` run `run-1`' }],
        },
      ],
    });
    assert.deepEqual(got[1]!.body, {
      routing_key: 'R0UT1NGKEY',
      event_action: 'trigger',
      dedup_key: 'cortex-rollback/rollback-docker-cortex-mcp/run-1/approval-needed',
      payload: {
        summary: `${headline} @oncall-eng`,
        source: 'cortex-rollback',
        severity: 'warning',
        component: 'docker:cortex-mcp',
        group: 'application',
        class: 'approval-needed',
        custom_details: {
          workflowId: 'rollback-docker-cortex-mcp',
          runId: 'run-1',
          requiredRole: 'on-call-engineer',
          deadline: '2026-11-29T08:30:00.000Z',
        },
      },
      client: 'cortex-rollback',
    });
  });

  it('pages with the severity of the event; started and succeeded go to Slack only', async () => {
    const a = both();
    const expected = {
      started: undefined,
      succeeded: undefined,
      escalated: 'error',
      failed: 'error',
      emergency: 'critical',
      'trigger-fired': 'critical',
    } as const;
    for (const [event, severity] of Object.entries(expected)) {
      const n0 = rx.requests.length;
      const r = await a.notify(input({ event: event as NotifyInput['event'], runId: `sev-${event}` }));
      const got = rx.requests.slice(n0);
      assert.equal(r.slack, 'delivered', event);
      assert.equal(r.pagerDuty, severity ? 'delivered' : 'not-routed', event);
      assert.equal(got.length, severity ? 2 : 1, event);
      if (severity) {
        const payload = got[1]!.body.payload as { severity: string; class: string };
        assert.equal(payload.severity, severity);
        assert.equal(payload.class, event);
      }
    }
  });

  it('a second call with the same key does not post to Slack again; PagerDuty gets the same dedup_key', async () => {
    const dir = stateDir();
    const n0 = rx.requests.length;
    const first = await both(dir).notify(input({ runId: 'again' }));
    // a fresh activity instance (another worker process on this host) reads the marker file
    const second = await both(dir).notify(input({ runId: 'again' }));
    assert.equal(first.slack, 'delivered');
    assert.equal(second.slack, 'already-delivered');
    const got = rx.requests.slice(n0);
    assert.equal(got.filter((g) => g.path === SLACK_PATH).length, 1);
    const pd = got.filter((g) => g.path === PAGERDUTY_PATH).map((g) => g.body.dedup_key);
    assert.deepEqual(pd, [first.key, first.key]);
    assert.equal(readdirSync(dir).length, 1);
    // another event (or key) of the same run is another notification
    const third = await both(dir).notify(input({ runId: 'again', event: 'escalated', key: 'level-1' }));
    assert.equal(third.slack, 'delivered');
    assert.equal(third.key, 'cortex-rollback/rollback-docker-cortex-mcp/again/escalated/level-1');
  });

  it("resolve: the run's earlier pages are resolved at PagerDuty after the event (trigger first when it pages)", async () => {
    const a = both();
    const page = 'cortex-rollback/rollback-docker-cortex-mcp/res/approval-needed';
    const resolveBody = (dedupKey: string) => ({
      routing_key: 'R0UT1NGKEY',
      event_action: 'resolve',
      dedup_key: dedupKey,
      client: 'cortex-rollback',
    });
    let n0 = rx.requests.length;
    const ok = await a.notify(input({ event: 'succeeded', runId: 'res', mention: [], resolve: [page] }));
    assert.equal(ok.pagerDuty, 'resolved');
    let got = rx.requests.slice(n0);
    assert.deepEqual(
      got.map((g) => g.path),
      [SLACK_PATH, PAGERDUTY_PATH],
    );
    assert.deepEqual(got[1]!.body, resolveBody(page));

    n0 = rx.requests.length;
    const escalation = `${page.replace(/approval-needed$/, 'escalated')}/level-1`;
    const failed = await a.notify(input({ event: 'failed', runId: 'res', resolve: [page, escalation] }));
    assert.equal(failed.pagerDuty, 'delivered');
    got = rx.requests.slice(n0).filter((g) => g.path === PAGERDUTY_PATH);
    assert.deepEqual(
      got.map((g) => [g.body.event_action, g.body.dedup_key]),
      [
        ['trigger', 'cortex-rollback/rollback-docker-cortex-mcp/res/failed'],
        ['resolve', page],
        ['resolve', escalation],
      ],
    );
    // without PagerDuty configured the keys are ignored
    n0 = rx.requests.length;
    const slackOnly = createNotifyActivities({ slackWebhookUrl: rx.slackUrl, stateDir: stateDir() });
    const r = await slackOnly.notify(input({ event: 'succeeded', runId: 'res-2', resolve: [page] }));
    assert.equal(r.pagerDuty, 'not-configured');
    assert.deepEqual(
      rx.requests.slice(n0).map((g) => g.path),
      [SLACK_PATH],
    );
  });

  it('with the Web UI configured, both messages link to the run (namespace from the activity, ids encoded)', async () => {
    const a = createNotifyActivities({
      slackWebhookUrl: rx.slackUrl,
      pagerDuty: { url: rx.pagerDutyUrl, routingKey: 'R0UT1NGKEY' },
      stateDir: stateDir(),
      webUiUrl: 'https://temporal.example/',
    });
    const n0 = rx.requests.length;
    await a.notify(input({ event: 'failed', workflowId: 'rollback-docker-a b', runId: 'run-link' }));
    const [slack, pd] = rx.requests.slice(n0);
    const link = 'https://temporal.example/namespaces/default/workflows/rollback-docker-a%20b/run-link/history';
    const blocks = slack!.body.blocks as Array<{ type: string; elements?: Array<{ text: string }> }>;
    assert.equal(
      blocks.at(-1)!.elements![0]!.text,
      `workflow \`rollback-docker-a b\` run \`run-link\` — <${link}|open in Temporal>`,
    );
    assert.equal(pd!.body.client_url, link);
    assert.deepEqual(pd!.body.links, [{ href: link, text: 'the rollback in the Temporal Web UI' }]);
  });

  it('nothing configured: not-configured and success, nothing sent', async () => {
    const n0 = rx.requests.length;
    const r = await createNotifyActivities({ stateDir: stateDir() }).notify(input());
    assert.deepEqual(r, {
      key: 'cortex-rollback/rollback-docker-cortex-mcp/run-1/approval-needed',
      slack: 'not-configured',
      pagerDuty: 'not-configured',
    });
    assert.equal(rx.requests.length, n0);
  });

  it('429 and 5xx are retryable, other 4xx permanent, an unreachable receiver retryable', async () => {
    const failure = async (p: Promise<unknown>): Promise<ApplicationFailure> => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ApplicationFailure, String(err));
      return err;
    };
    rx.failNext(SLACK_PATH, 503);
    const f503 = await failure(both().notify(input({ runId: 'f503' })));
    assert.equal(f503.nonRetryable, false);
    assert.equal(f503.type, 'Unavailable');
    rx.failNext(SLACK_PATH, 429);
    assert.equal((await failure(both().notify(input({ runId: 'f429' })))).nonRetryable, false);
    rx.failNext(PAGERDUTY_PATH, 400);
    const f400 = await failure(both().notify(input({ runId: 'f400' })));
    assert.equal(f400.nonRetryable, true);
    assert.equal(f400.type, 'InvalidInput');
    assert.match(f400.message, /PagerDuty Events API: HTTP 400/);
    const down = createNotifyActivities({ slackWebhookUrl: 'http://127.0.0.1:9/hook', stateDir: stateDir() });
    const fDown = await failure(down.notify(input({ runId: 'down' })));
    assert.equal(fDown.nonRetryable, false);
    assert.doesNotMatch(`${f400.message} ${fDown.message}`, /R0UT1NGKEY/);
  });
});

describe('notification settings from the worker environment', () => {
  it('reads the channels, defaults the PagerDuty URL, and keeps the Slack store under the data dir', () => {
    assert.deepEqual(
      loadNotifySettings('/d', DEFAULT_PAGERDUTY_URL, {
        CORTEX_SLACK_WEBHOOK_URL: 'https://hooks.example/T/B/x',
        CORTEX_PAGERDUTY_ROUTING_KEY: 'k',
        CORTEX_DATA_DIR: '/var/lib/cortex/',
        CORTEX_WEB_UI_URL: 'http://temporal:8080',
      }),
      {
        slackWebhookUrl: 'https://hooks.example/T/B/x',
        pagerDuty: { url: 'https://events.pagerduty.com/v2/enqueue', routingKey: 'k' },
        stateDir: '/var/lib/cortex/notify',
        webUiUrl: 'http://temporal:8080',
      },
    );
    assert.deepEqual(loadNotifySettings('/d', DEFAULT_PAGERDUTY_URL, {}), { stateDir: '/d/notify' });
  });
  it('fails fast naming the variable', () => {
    assert.throws(
      () => loadNotifySettings('/d', DEFAULT_PAGERDUTY_URL, { CORTEX_SLACK_WEBHOOK_URL: 'hooks' }),
      (e: unknown) => e instanceof ConfigError && /CORTEX_SLACK_WEBHOOK_URL/.test(e.message),
    );
    assert.throws(
      () => loadNotifySettings('/d', DEFAULT_PAGERDUTY_URL, { CORTEX_PAGERDUTY_URL: 'http://127.0.0.1:1/v2' }),
      /CORTEX_PAGERDUTY_ROUTING_KEY/,
    );
  });
});
