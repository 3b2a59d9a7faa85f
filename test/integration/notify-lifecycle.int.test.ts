// The lifecycle notifications every non-emergency rollback sends (started, then succeeded or failed), end to end:
// the real dev server, workers as child processes configured with a local Slack and PagerDuty receiver, the real
// Docker engine (through the gate proxy, so a worker can be SIGKILLed at a proven point) and a real Qdrant server.
// The receiver's requests are compared with the exact bodies Slack's incoming webhook and PagerDuty's Events API v2
// get; the routing key and webhook URL stay out of the history.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { DockerRollbackInput, DockerRollbackResult } from '../../workflows/application/docker-container.ts';
import type { QdrantRecoveryResult } from '../../workflows/database/data-recovery.ts';
import { approveSignal } from '../../workflows/phases/approval.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import { startDockerGate, type DockerGate } from '../helpers/docker-gate.ts';
import { BAD, ensureImages, GOOD, health, removeByPrefix, startApp, waitFor } from '../helpers/docker.ts';
import { workflowFailure } from '../helpers/failures.ts';
import { activityRuns } from '../helpers/history.ts';
import { PAGERDUTY_PATH, SLACK_PATH, startNotifyReceiver, type NotifyReceiver } from '../helpers/notify-receiver.ts';
import { count, seed, startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { recordHistory } from '../helpers/record.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const tag = Date.now().toString(36);
const ROUTING_KEY = 'notify-lifecycle-routing-key';
const WEB_UI = 'http://127.0.0.1:8233';
// under the committed policy: the roster's on-call engineer approves, the CI deploy gate pre-approves what a
// pipeline starts, the engineering manager approves database rollbacks; someone else requests
const ONCALL = APPROVER.application.approver;
const CI = APPROVER.ci.approver;
const MANAGER = APPROVER.database.approver;
const runLink = (workflowId: string, runId: string) =>
  `${WEB_UI}/namespaces/default/workflows/${workflowId}/${runId}/history`;

/** Slack's incoming-webhook body as the runbook's messages have it: headline, facts, workflow and run. */
function slackBody(emoji: string, headline: string, facts: Array<[string, string]>, workflowId: string, runId: string) {
  return {
    text: `${emoji} ${headline}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${emoji} *${headline}*` } },
      { type: 'section', text: { type: 'mrkdwn', text: facts.map(([k, v]) => `*${k}*: ${v}`).join('\n') } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `workflow \`${workflowId}\` run \`${runId}\` — <${runLink(workflowId, runId)}|open in Temporal>`,
          },
        ],
      },
    ],
  };
}

describe('notify: started / succeeded / failed of every rollback (receiver, real Docker, real Qdrant)', () => {
  let env: TestWorkflowEnvironment;
  let rx: NotifyReceiver;
  let gate: DockerGate;
  let q: TestQdrant;
  let dataDir: string;
  const workers: WorkerProcess[] = [];
  const apps: string[] = [];

  before(async () => {
    await ensureImages();
    [env, rx, gate, q] = await Promise.all([localEnv(), startNotifyReceiver(), startDockerGate(), startTestQdrant()]);
    dataDir = mkdtempSync(join(tmpdir(), 'notify-lifecycle-'));
  });
  after(async () => {
    for (const w of workers) w.proc.kill('SIGKILL');
    for (const a of apps) await removeByPrefix(a);
    await env?.teardown();
    await gate?.close();
    await rx?.close();
    await q?.stop();
    if (q) assert.deepEqual(q.violations, [], "every request sent to Qdrant is valid per Qdrant's OpenAPI spec");
    rmSync(dataDir, { recursive: true, force: true });
  });

  function worker(taskQueue: string, identity: string): WorkerProcess {
    const w = spawnWorker(
      {
        address: env.address,
        taskQueue,
        extra: {
          DOCKER_HOST: gate.host,
          QDRANT_URL: q.url,
          CORTEX_BACKUP_DIR: join(q.tmp, 'backups'),
          CORTEX_SLACK_WEBHOOK_URL: rx.slackUrl,
          CORTEX_PAGERDUTY_URL: rx.pagerDutyUrl,
          CORTEX_PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
          CORTEX_DATA_DIR: dataDir,
          CORTEX_WEB_UI_URL: WEB_UI,
        },
      },
      ['--identity', identity],
    );
    workers.push(w);
    return w;
  }

  const forWorkflow = (path: string, workflowId: string) =>
    rx.onPath(path).filter((r) => JSON.stringify(r.body).includes(workflowId));

  async function assertNoSecretInHistory(handle: WorkflowHandle): Promise<void> {
    const history = JSON.stringify(await handle.fetchHistory());
    assert.doesNotMatch(history, new RegExp(`${ROUTING_KEY}|/slack/T000`));
  }

  const dockerInput = (name: string, image: string, healthUrl: string, over: Partial<DockerRollbackInput> = {}) => ({
    containerName: name,
    targetImage: image,
    healthUrl,
    reason: 'v2.1.0 fails /health',
    requestedBy: REQUESTER,
    monitor: { durationSeconds: 0 },
    verifyTimeoutSeconds: 20,
    ...over,
  });

  it('docker rollback that succeeds: exactly started, approval-needed, approval-decided, succeeded; the approval page is resolved at the decision', async () => {
    const taskQueue = uniqueQueue('notify-lc-ok');
    const w = worker(taskQueue, 'notify-lc-ok');
    await w.ready;
    const name = `notify-lc-ok-${tag}`;
    apps.push(name);
    const app = await startApp(name, BAD);
    const workflowId = `rollback-docker-${name}`;
    const handle = await env.client.workflow.start('dockerContainerRollback', {
      taskQueue,
      workflowId,
      args: [dockerInput(name, GOOD, app.healthUrl, { approval: {} })],
    });
    const runId = handle.firstExecutionRunId;
    await waitFor(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval', 60_000, 'approval');
    await rx.until(PAGERDUTY_PATH, 1, 60_000);
    await handle.signal(approveSignal, APPROVER.application);
    const r = (await handle.result()) as DockerRollbackResult;
    assert.equal(r.outcome, 'succeeded');
    assert.equal((await health(app.healthUrl)).body.version, 'v2.0.0');

    const key = (event: string) => `cortex-rollback/${workflowId}/${runId}/${event}`;
    const target = `docker:${name}`;
    const what = `roll back docker:${name} → ${GOOD}`;
    const slack = forWorkflow(SLACK_PATH, workflowId).map((p) => p.body);
    assert.deepEqual(slack, [
      slackBody(
        ':arrows_counterclockwise:',
        `[started] application rollback ${target}: ${what}`,
        [
          ['requestedBy', REQUESTER],
          ['reason', 'v2.1.0 fails /health'],
          ['scenario', 'docker-container'],
        ],
        workflowId,
        runId,
      ),
      slack[1],
      slackBody(
        ':ballot_box_with_check:',
        `[approval-decided] application rollback ${target}: approved by ${ONCALL} (on-call-engineer)`,
        [
          ['decision', 'approved'],
          ['approver', ONCALL],
          ['role', 'on-call-engineer'],
        ],
        workflowId,
        runId,
      ),
      slackBody(
        ':white_check_mark:',
        `[succeeded] application rollback ${target}: ${what}: done (${BAD} → ${GOOD})`,
        [
          ['from', BAD],
          ['to', GOOD],
          ['outcome', 'succeeded'],
          ['phase', 'completed'],
          ['approvedBy', ONCALL],
          ['requestedBy', REQUESTER],
          ['reason', 'v2.1.0 fails /health'],
        ],
        workflowId,
        runId,
      ),
    ]);
    // the approval phase's own message (its format is tested with the approval policy), between the two
    assert.match(
      String(slack[1]!.text),
      /^:raising_hand: \[approval-needed\] application rollback docker:.* @oncall-eng$/,
    );

    // PagerDuty: the approval page (started and succeeded do not page), then its resolve as soon as the on-call engineer decided
    const pages = forWorkflow(PAGERDUTY_PATH, workflowId).map((p) => p.body);
    assert.equal(pages.length, 2, JSON.stringify(pages));
    assert.equal(pages[0]!.event_action, 'trigger');
    assert.equal(pages[0]!.dedup_key, key('approval-needed'));
    assert.equal(pages[0]!.routing_key, ROUTING_KEY);
    assert.equal((pages[0]!.payload as { severity: string }).severity, 'warning');
    assert.deepEqual(pages[1], {
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: key('approval-needed'),
      client: 'cortex-rollback',
    });
    // one notify call per event, each on its first attempt; each is a timeline step
    const runs = await activityRuns(handle, 'notify');
    assert.deepEqual(
      runs.map((x) => [(x.result as { key: string }).key, x.attempt]),
      [
        [key('started'), 1],
        [key('approval-needed'), 1],
        [`${key('approval-decided')}/1`, 1],
        [key('succeeded'), 1],
      ],
    );
    // resolved at the decision: before the new container was even created
    const decided = r.timeline.find((s) => s.name === 'notify-approval-decided')!;
    assert.equal(decided.detail, 'slack delivered, pagerduty resolved');
    assert.ok(r.timeline.findIndex((s) => s === decided) < r.timeline.findIndex((s) => s.name === 'run-target-image'));
    const steps = r.timeline.map((s) => s.name);
    assert.equal(steps[1], 'notify-started');
    assert.equal(steps.at(-1), 'notify-succeeded');
    assert.equal(r.timeline.at(-1)!.detail, 'slack delivered, pagerduty not-routed');
    await assertNoSecretInHistory(handle);
    await recordHistory('notify-lifecycle-docker-page-resolved-at-decision', workflowId, env.address);
    await w.kill();
  });

  it('docker rollback to an unhealthy image: started, then failed naming the original failure, which is the workflow failure', async () => {
    const taskQueue = uniqueQueue('notify-lc-bad');
    const w = worker(taskQueue, 'notify-lc-bad');
    await w.ready;
    const name = `notify-lc-bad-${tag}`;
    apps.push(name);
    const app = await startApp(name, GOOD);
    const workflowId = `rollback-docker-${name}`;
    const handle = await env.client.workflow.start('dockerContainerRollback', {
      taskQueue,
      workflowId,
      args: [
        dockerInput(name, BAD, app.healthUrl, {
          reason: 'try the previous build',
          verifyTimeoutSeconds: 5,
          approval: { preApproved: APPROVER.ci },
        }),
      ],
    });
    const runId = handle.firstExecutionRunId;
    const f = await workflowFailure(handle.result());
    assert.equal(f.type, 'VerificationFailed');
    assert.match(
      f.message,
      /did not answer healthy .* Restored: '.*' runs cortex-memory-mcp:v2\.0\.0 again \(healthy\)\.$/,
    );
    assert.equal((await health(app.healthUrl)).body.version, 'v2.0.0');

    const target = `docker:${name}`;
    const what = `roll back docker:${name} → ${BAD}`;
    const slack = forWorkflow(SLACK_PATH, workflowId).map((p) => p.body);
    const failedFacts: Array<[string, string]> = [
      ['outcome', 'failed'],
      ['failure', 'VerificationFailed'],
      ['phase', 'rolled-back-to-previous'],
      ['approvedBy', CI],
      ['requestedBy', REQUESTER],
      ['reason', 'try the previous build'],
    ];
    const failedHeadline = `[failed] application rollback ${target}: ${what}: FAILED — ${f.message}`;
    assert.deepEqual(slack, [
      slackBody(
        ':arrows_counterclockwise:',
        `[started] application rollback ${target}: ${what}`,
        [
          ['requestedBy', REQUESTER],
          ['reason', 'try the previous build'],
          ['scenario', 'docker-container'],
        ],
        workflowId,
        runId,
      ),
      slackBody(':x:', failedHeadline, failedFacts, workflowId, runId),
    ]);
    const pages = forWorkflow(PAGERDUTY_PATH, workflowId).map((p) => p.body);
    assert.deepEqual(pages, [
      {
        routing_key: ROUTING_KEY,
        event_action: 'trigger',
        dedup_key: `cortex-rollback/${workflowId}/${runId}/failed`,
        payload: {
          summary: failedHeadline.slice(0, 1024),
          source: 'cortex-rollback',
          severity: 'error',
          component: target,
          group: 'application',
          class: 'failed',
          custom_details: { workflowId, runId, ...Object.fromEntries(failedFacts) },
        },
        client: 'cortex-rollback',
        client_url: runLink(workflowId, runId),
        links: [{ href: runLink(workflowId, runId), text: 'the rollback in the Temporal Web UI' }],
      },
    ]);
    await assertNoSecretInHistory(handle);
    await recordHistory('notify-lifecycle-docker-failed', workflowId, env.address);
    await w.kill();
  });

  it('a rollback cancelled while it awaits approval: failed says so (sent despite the cancellation), the approval page is resolved, the workflow ends cancelled', async () => {
    const taskQueue = uniqueQueue('notify-lc-cancel');
    const w = worker(taskQueue, 'notify-lc-cancel');
    await w.ready;
    const name = `notify-lc-cancel-${tag}`;
    apps.push(name);
    const app = await startApp(name, BAD);
    const workflowId = `rollback-docker-${name}`;
    const handle = await env.client.workflow.start('dockerContainerRollback', {
      taskQueue,
      workflowId,
      args: [dockerInput(name, GOOD, app.healthUrl, { approval: {} })],
    });
    const runId = handle.firstExecutionRunId;
    await waitFor(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval', 60_000, 'approval');
    await waitFor(async () => forWorkflow(PAGERDUTY_PATH, workflowId).length === 1, 60_000, 'approval page');
    await handle.cancel();
    const err = await handle.result().then(
      () => assert.fail('expected the rollback to end cancelled'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));
    assert.equal((await health(app.healthUrl)).body.version, 'v2.1.0', 'nothing was changed');

    const target = `docker:${name}`;
    const what = `roll back docker:${name} → ${GOOD}`;
    const slack = forWorkflow(SLACK_PATH, workflowId).map((p) => p.body);
    assert.deepEqual(
      slack.map((b) => /^\S+ \[([a-z-]+)\]/.exec(String(b.text))?.[1]),
      ['started', 'approval-needed', 'failed'],
    );
    const facts: Array<[string, string]> = [
      ['outcome', 'cancelled'],
      ['phase', 'awaiting-approval'],
      ['requestedBy', REQUESTER],
      ['reason', 'v2.1.0 fails /health'],
    ];
    const headline = `[failed] application rollback ${target}: ${what}: CANCELLED while awaiting-approval`;
    assert.deepEqual(slack[2], slackBody(':x:', headline, facts, workflowId, runId));
    const key = (event: string) => `cortex-rollback/${workflowId}/${runId}/${event}`;
    assert.deepEqual(
      forWorkflow(PAGERDUTY_PATH, workflowId).map((p) => [p.body.event_action, p.body.dedup_key]),
      [
        ['trigger', key('approval-needed')],
        ['trigger', key('failed')],
        ['resolve', key('approval-needed')],
      ],
    );
    await recordHistory('notify-lifecycle-docker-cancelled', workflowId, env.address);
    await w.kill();
  });

  it('qdrant data recovery (database, the same shared phase): started, then succeeded naming the backup', async () => {
    const taskQueue = uniqueQueue('notify-lc-qdrant');
    const w = worker(taskQueue, 'notify-lc-qdrant');
    await w.ready;
    const collection = `notify-lc-${tag}`;
    await seed(q.client, collection, 120, 8);
    const backupName = `nightly-${tag}`;
    await env.client.workflow.execute('qdrantBackup', {
      taskQueue,
      workflowId: `backup-${collection}`,
      args: [{ collection, backupName }],
    });
    await seed(q.client, collection, 30, 8, 5000); // written after the backup: the restore drops them
    const workflowId = `rollback-database-${collection}`;
    const handle = await env.client.workflow.start('qdrantDataRecovery', {
      taskQueue,
      workflowId,
      args: [
        {
          collection,
          backup: backupName,
          emergencyExport: false,
          reason: 'bad import at 09:00',
          requestedBy: REQUESTER,
          approval: { preApproved: APPROVER.database },
        },
      ],
    });
    const runId = handle.firstExecutionRunId;
    const r = (await handle.result()) as QdrantRecoveryResult;
    assert.equal(r.outcome, 'succeeded');
    assert.equal(await count(q.client, collection), 120);
    // qdrantBackup is not a rollback: it notifies nothing
    assert.equal(forWorkflow(SLACK_PATH, `backup-${collection}`).length, 0);

    const target = `qdrant:${collection}`;
    const what = `restore qdrant:${collection} from backup ${backupName}`;
    assert.deepEqual(
      forWorkflow(SLACK_PATH, workflowId).map((p) => p.body),
      [
        slackBody(
          ':arrows_counterclockwise:',
          `[started] database rollback ${target}: ${what}`,
          [
            ['requestedBy', REQUESTER],
            ['reason', 'bad import at 09:00'],
            ['scenario', 'qdrant-data-recovery'],
          ],
          workflowId,
          runId,
        ),
        slackBody(
          ':white_check_mark:',
          `[succeeded] database rollback ${target}: ${what}: done (${backupName})`,
          [
            ['to', backupName],
            ['outcome', 'succeeded'],
            ['phase', 'completed'],
            ['approvedBy', MANAGER],
            ['requestedBy', REQUESTER],
            ['reason', 'bad import at 09:00'],
          ],
          workflowId,
          runId,
        ),
      ],
    );
    assert.equal(forWorkflow(PAGERDUTY_PATH, workflowId).length, 0, 'started and succeeded do not page');
    await recordHistory('notify-lifecycle-qdrant-recovery', workflowId, env.address);
    await w.kill();
  });

  it('a worker SIGKILLed right after started was delivered: the replacement finishes, started is not sent again', async () => {
    const taskQueue = uniqueQueue('notify-lc-crash');
    const first = worker(taskQueue, 'notify-lc-first');
    await first.ready;
    const name = `notify-lc-crash-${tag}`;
    apps.push(name);
    const app = await startApp(name, BAD);
    const workflowId = `rollback-docker-${name}`;
    // the first Docker request after the started notification is the assessment's inspect: held, never answered
    const caught = gate.arm({ method: 'GET', path: new RegExp(`^/containers/${name}/json`), mode: 'hold' });
    const handle = await env.client.workflow.start('dockerContainerRollback', {
      taskQueue,
      workflowId,
      args: [
        dockerInput(name, GOOD, app.healthUrl, {
          approval: { preApproved: APPROVER.ci },
        }),
      ],
    });
    await caught;
    // proven before the kill: Temporal recorded the started notification done, the receiver has its one post
    const before = await activityRuns(handle, 'notify');
    assert.equal(before.length, 1);
    assert.ok(before[0]!.completed && before[0]!.identity === 'notify-lc-first', JSON.stringify(before));
    assert.equal(forWorkflow(SLACK_PATH, workflowId).length, 1);
    await first.kill();

    const second = worker(taskQueue, 'notify-lc-second');
    await second.ready;
    const r = (await handle.result()) as DockerRollbackResult;
    assert.equal(r.outcome, 'succeeded');
    const texts = forWorkflow(SLACK_PATH, workflowId).map((p) => String(p.body.text));
    assert.equal(texts.length, 2, texts.join('\n'));
    assert.match(texts[0]!, /^:arrows_counterclockwise: \[started\] /);
    assert.match(
      texts[1]!,
      /^:white_check_mark: \[succeeded\] .*: done \(cortex-memory-mcp:v2\.1\.0 → cortex-memory-mcp:v2\.0\.0\)$/,
    );
    const runs = await activityRuns(handle, 'notify');
    assert.deepEqual(
      runs.map((x) => [(x.result as { key: string }).key.split('/').at(-1), x.attempt, x.identity]),
      [
        ['started', 1, 'notify-lc-first'],
        ['succeeded', 1, 'notify-lc-second'],
      ],
    );
    await recordHistory('notify-lifecycle-docker-crash-after-started', workflowId, env.address);
    await second.kill();
  });
});
