// Notifications survive a worker SIGKILL without paging or posting twice: a worker process (real dev server)
// sends an emergency notification to the local receiver, which holds PagerDuty's answer; the test proves from
// Temporal (the notify activity pending with heartbeat details saying Slack was delivered) and from the receiver
// (Slack got its post, PagerDuty's is in flight) where the worker is, kills it, and a replacement finishes: Slack
// got exactly one post, PagerDuty got the same dedup_key twice (it opens one incident), and the history shows one
// notify call completed on attempt 2 by the second worker. A crash while Slack's own answer is in flight is the
// one window Slack webhooks leave: the message is posted again, never lost.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NotificationRecord } from '../../workflows/phases/notify.ts';
import { activityRuns, untilPending } from '../helpers/history.ts';
import { PAGERDUTY_PATH, SLACK_PATH, startNotifyReceiver, type NotifyReceiver } from '../helpers/notify-receiver.ts';
import { localEnv, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

describe('notify: a SIGKILLed worker mid-notification does not post or page twice', () => {
  let env: TestWorkflowEnvironment;
  let rx: NotifyReceiver;
  let dataDir: string;
  const workers: WorkerProcess[] = [];

  before(async () => {
    env = await localEnv();
    rx = await startNotifyReceiver();
    dataDir = mkdtempSync(join(tmpdir(), 'notify-crash-'));
  });
  after(async () => {
    for (const w of workers) w.proc.kill('SIGKILL');
    await rx?.close();
    await env?.teardown();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const worker = (taskQueue: string, identity: string): WorkerProcess => {
    const w = spawnWorker(
      {
        address: env.address,
        taskQueue,
        extra: {
          CORTEX_SLACK_WEBHOOK_URL: rx.slackUrl,
          CORTEX_PAGERDUTY_URL: rx.pagerDutyUrl,
          CORTEX_PAGERDUTY_ROUTING_KEY: 'notify-crash-key',
          CORTEX_DATA_DIR: dataDir,
        },
      },
      ['--identity', identity],
    );
    workers.push(w);
    return w;
  };

  it('killed while PagerDuty is in flight after Slack was delivered: one Slack post, one dedup_key', async () => {
    const taskQueue = uniqueQueue('notify-crash');
    const first = worker(taskQueue, 'notify-first');
    await first.ready;
    const held = rx.hold(PAGERDUTY_PATH);
    const slack0 = rx.onPath(SLACK_PATH).length;
    const pd0 = rx.onPath(PAGERDUTY_PATH).length;
    const handle = await env.client.workflow.start('notificationCheck', {
      taskQueue,
      workflowId: uniqueQueue('notify-crash-emergency'),
      args: [{ event: 'emergency', summary: 'data corruption detected' }],
    });
    const pending = await untilPending(
      handle,
      'notify',
      (a) => (a.heartbeat as { slack?: string } | undefined)?.slack === 'delivered',
      30_000,
    );
    assert.equal(pending.attempt, 1);
    await rx.until(PAGERDUTY_PATH, pd0 + 1);
    assert.equal(rx.onPath(SLACK_PATH).length, slack0 + 1);
    await first.kill();
    held.release();

    const second = worker(taskQueue, 'notify-second');
    await second.ready;
    const result = (await handle.result()) as NotificationRecord;
    assert.equal(result.result?.slack, 'already-delivered');
    assert.equal(result.result?.pagerDuty, 'delivered');

    const slack = rx.onPath(SLACK_PATH).slice(slack0);
    const pd = rx.onPath(PAGERDUTY_PATH).slice(pd0);
    assert.equal(slack.length, 1, 'Slack got one post');
    assert.equal(pd.length, 2, 'PagerDuty got the in-flight event and its retry');
    assert.deepEqual(
      pd.map((r) => r.body.dedup_key),
      [result.result?.key, result.result?.key],
    );
    assert.equal((pd[0]!.body.payload as { severity: string }).severity, 'critical');

    const runs = await activityRuns(handle, 'notify');
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.attempt, 2);
    assert.equal(runs[0]!.identity, 'notify-second');
    assert.ok(runs[0]!.completed);
    // the routing key and webhook URL stay in the worker: not in the history
    const history = JSON.stringify(await handle.fetchHistory());
    assert.doesNotMatch(history, /notify-crash-key|\/slack\/T000/);
    await second.kill();
  });

  it('killed while Slack answers: the message is posted again on the retry (at least once, never lost)', async () => {
    const taskQueue = uniqueQueue('notify-crash');
    const first = worker(taskQueue, 'notify-first-b');
    await first.ready;
    const held = rx.hold(SLACK_PATH);
    const slack0 = rx.onPath(SLACK_PATH).length;
    const handle = await env.client.workflow.start('notificationCheck', {
      taskQueue,
      workflowId: uniqueQueue('notify-crash-started'),
      args: [{ event: 'started' }],
    });
    await rx.until(SLACK_PATH, slack0 + 1);
    const pending = await untilPending(handle, 'notify', (a) => a.attempt === 1, 30_000);
    assert.notEqual((pending.heartbeat as { slack?: string } | undefined)?.slack, 'delivered');
    await first.kill();
    held.release();
    const second = worker(taskQueue, 'notify-second-b');
    await second.ready;
    const result = (await handle.result()) as NotificationRecord;
    assert.equal(result.result?.slack, 'delivered');
    assert.equal(rx.onPath(SLACK_PATH).length, slack0 + 2);
    await second.kill();
  });
});
