// The Slack approval gateway end to end, on the real protocol: the real Temporal dev server, a worker as
// `npm run worker` under the committed approval policy, the gateway as `npm run approval-gateway` (its secrets in
// its own environment), a local receiver for Slack's Web API and response_url, and callbacks sent exactly as Slack
// signs them with a test signing secret. The roster's Slack ids are the committed policy's placeholders (the
// test's "Slack users"). A forged signature, an old timestamp, a replayed callback, a Slack user not on the
// roster and the requester clicking are each refused with the reason and change nothing (still awaiting
// approval, no decision in the run); the on-call engineer's click rolls a real Docker container back. Reject goes
// through the reason modal: the requester's rejection is refused in the modal, the engineering manager's counts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { getStatus, startDockerRollback, waitResult, type RollbackClient } from '../../client/client.ts';
import { parseApprovalPolicy } from '../../common/approval-policy.ts';
import { APPROVE_ACTION, REJECT_ACTION, type ButtonValue } from '../../approval-gateway/slack.ts';
import {
  BAD,
  docker,
  ensureImages,
  freePort,
  GOOD,
  health,
  imageId,
  removeByPrefix,
  startApp,
} from '../helpers/docker.ts';
import {
  APPROVER,
  localEnv,
  REQUESTER,
  RUNBOOK_APPROVAL_POLICY,
  shortWindowPolicy,
  testClient,
  uniqueQueue,
} from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';
import { operator } from '../helpers/operator.ts';
import {
  blockActions,
  post,
  signCallback,
  spawnGateway,
  startSlackReceiver,
  TEST_BOT_TOKEN,
  TEST_CHANNEL,
  TEST_SIGNING_SECRET,
  viewSubmission,
  type GatewayProcess,
  type SlackCall,
  type SlackReceiver,
} from '../helpers/slack.ts';

const policy = parseApprovalPolicy(JSON.parse(readFileSync(RUNBOOK_APPROVAL_POLICY, 'utf8')));
const slackIdOf = (person: string) => policy.people[person]!.slack!;
const ONCALL = APPROVER.application;

describe('Slack approvals through the approval gateway, under the committed approval policy', () => {
  let env: TestWorkflowEnvironment;
  let worker: WorkerProcess;
  let slack: SlackReceiver;
  let gateway: GatewayProcess;
  let rc: RollbackClient;
  let taskQueue: string;
  const names: string[] = [];

  before(async () => {
    await ensureImages();
    [env, slack] = await Promise.all([localEnv(), startSlackReceiver()]);
    taskQueue = uniqueQueue('slack-approval');
    rc = testClient(env, taskQueue);
    worker = spawnWorker({ address: env.address, taskQueue, extra: { CORTEX_APPROVAL_POLICY: '' } });
    await worker.ready;
    gateway = await spawnGateway({ address: env.address, taskQueue, apiUrl: slack.apiUrl, port: await freePort() });
  });
  after(async () => {
    await gateway?.stop();
    await worker?.kill();
    for (const n of names) await removeByPrefix(n);
    await slack?.close();
    await env?.teardown();
  });

  /** The request the gateway posted for this run: its message ts and the buttons' values. */
  async function postedRequest(workflowId: string): Promise<{ ts: string; approve: string; reject: string }> {
    const call = await slack.until(`the approval request of ${workflowId} posted`, (c) => {
      return c.method === 'chat.postMessage' && JSON.stringify(c.body).includes(workflowId);
    });
    assert.equal(call.authorization, `Bearer ${TEST_BOT_TOKEN}`);
    assert.equal(call.body.channel, TEST_CHANNEL);
    const actions = (call.body.blocks as { type: string; elements?: { action_id: string; value: string }[] }[]).find(
      (b) => b.type === 'actions',
    )!.elements!;
    const ts = `1700000000.${String(slack.of('chat.postMessage').indexOf(call) + 1).padStart(6, '0')}`;
    return {
      ts,
      approve: actions.find((e) => e.action_id === APPROVE_ACTION)!.value,
      reject: actions.find((e) => e.action_id === REJECT_ACTION)!.value,
    };
  }

  /** A response_url of its own per click, so each answer is the answer to that click. */
  function click(userId: string, actionId: string, value: string, ts: string, claimedName?: string) {
    const responseUrl = slack.responseUrl();
    const payload = blockActions({
      userId,
      actionId,
      value,
      responseUrl,
      channel: TEST_CHANNEL,
      ts,
      ...(claimedName ? { claimedName } : {}),
    });
    return { payload, responseUrl };
  }

  const answersTo = (responseUrl: string): SlackCall[] => slack.calls.filter((c) => c.url === responseUrl);

  async function stillAwaiting(workflowId: string): Promise<void> {
    const s = await getStatus(rc, workflowId);
    assert.equal(s.phase, 'awaiting-approval');
    assert.ok(s.pendingApproval, 'the request still pends');
    assert.deepEqual(s.approvals, [], 'no decision in the run');
  }

  async function startRollback(name: string) {
    names.push(name);
    const app = await startApp(name, BAD);
    const { workflowId, runId } = await startDockerRollback(rc, {
      containerName: name,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: 'v2.1.0 fails /health',
      requestedBy: REQUESTER,
      monitor: { durationSeconds: 3, intervalSeconds: 1 },
    });
    await operator(env, taskQueue).awaitingApproval(workflowId);
    return { app, workflowId, runId };
  }

  it('forged signature, old timestamp, a Slack user not on the roster, the requester: refused with the reason, nothing changes; the on-call engineer’s click rolls back (v2.0.0 healthy); its replay is refused', async () => {
    const { app, workflowId, runId } = await startRollback(`slack-approve-${Date.now().toString(36)}`);
    const req = await postedRequest(workflowId);
    const value = JSON.parse(req.approve) as ButtonValue;
    assert.deepEqual([value.workflowId, value.runId], [workflowId, runId], 'the button names the run');
    const status = await getStatus(rc, workflowId);
    assert.equal(value.deadline, status.pendingApproval!.deadline, 'and its deadline');

    // 1. a callback signed with another secret: not from Slack, refused before anything in it is read
    const forged = click(slackIdOf(ONCALL.approver), APPROVE_ACTION, req.approve, req.ts);
    const f = await post(gateway.url, signCallback(forged.payload, 'not-the-signing-secret'));
    assert.deepEqual(
      [f.status, f.text],
      [401, 'X-Slack-Signature does not match the request: not signed with the signing secret'],
    );
    // 2. correctly signed, but ten minutes old
    const old = click(slackIdOf(ONCALL.approver), APPROVE_ACTION, req.approve, req.ts);
    const o = await post(
      gateway.url,
      signCallback(old.payload, TEST_SIGNING_SECRET, Math.floor(Date.now() / 1000) - 600),
    );
    assert.equal(o.status, 401);
    assert.match(
      o.text,
      /^X-Slack-Request-Timestamp is 60\ds from now \(more than 300s\): refused as a possible replay$/,
    );

    // 3. a Slack user the roster does not know, whose payload claims the on-call engineer's name
    const stranger = click('U0STRANGER9', APPROVE_ACTION, req.approve, req.ts, 'oncall-eng');
    assert.equal((await post(gateway.url, signCallback(stranger.payload))).status, 200);
    const s3 = await slack.until(
      'the stranger told',
      (c) => c.method === 'response_url' && c.url === stranger.responseUrl,
    );
    assert.deepEqual([s3.body.response_type, s3.body.replace_original], ['ephemeral', false]);
    assert.match(
      String(s3.body.text),
      /did not count and nothing was recorded: Slack user U0STRANGER9 is not on the approval roster/,
    );

    // 4. the requester (on the roster) clicks Approve: the gate's four eyes, shown to them
    const self = click(slackIdOf(REQUESTER), APPROVE_ACTION, req.approve, req.ts);
    assert.equal((await post(gateway.url, signCallback(self.payload))).status, 200);
    const s4 = await slack.until(
      'the requester told',
      (c) => c.method === 'response_url' && c.url === self.responseUrl,
    );
    assert.equal(s4.body.response_type, 'ephemeral');
    assert.match(
      String(s4.body.text),
      /approve refused: 'devops-lead' requested this rollback and may not decide it \(four eyes\)/,
    );

    assert.deepEqual(
      [...answersTo(forged.responseUrl), ...answersTo(old.responseUrl)],
      [],
      'nothing answered to a request that is not from Slack',
    );
    assert.equal((await docker.getContainer(app.name).inspect()).Id, app.id, 'nothing changed');
    await stillAwaiting(workflowId);

    // 5. the on-call engineer clicks Approve
    const ok = click(slackIdOf(ONCALL.approver), APPROVE_ACTION, req.approve, req.ts);
    const signed = signCallback(ok.payload);
    assert.equal((await post(gateway.url, signed)).status, 200);
    const s5 = await slack.until(
      'the approval answered',
      (c) => c.method === 'response_url' && c.url === ok.responseUrl,
    );
    assert.equal(s5.body.replace_original, true, 'the request becomes its outcome');
    assert.match(String(s5.body.text), /approved by oncall-eng \(on-call-engineer\) at .* from Slack/);

    // 6. the same callback again: used once
    const again = await post(gateway.url, signed);
    assert.deepEqual([again.status, again.text], [401, 'this callback was already used: refused as a replay']);

    const r = await waitResult(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'succeeded');
    assert.deepEqual(
      r.result.approvals.map((a) => [a.decision, a.approver, a.role, a.via, a.comment]),
      [['approved', 'oncall-eng', 'on-call-engineer', 'update', `approved via Slack, user ${slackIdOf('oncall-eng')}`]],
      'one decision: the verified Slack user’s roster person; the refused clicks left nothing',
    );
    assert.equal(answersTo(ok.responseUrl).length, 1, 'the replay was not answered');
    const c = await docker.getContainer(app.name).inspect();
    assert.equal(c.Image, await imageId(GOOD), 'the container runs the target image');
    const h = await health(app.healthUrl);
    assert.deepEqual([h.status, h.body.status, h.body.version], [200, 'healthy', 'v2.0.0']);

    // the gateway's secrets are in its environment only: nowhere in the run's history
    const history = JSON.stringify(await rc.client.workflow.getHandle(workflowId).fetchHistory());
    assert.ok(!history.includes(TEST_SIGNING_SECRET) && !history.includes(TEST_BOT_TOKEN));
    // and the posted request loses its buttons once the run no longer waits
    const closed = await slack.until('the request closed', (c) => c.method === 'chat.update' && c.body.ts === req.ts);
    assert.doesNotMatch(JSON.stringify(closed.body), /cortex_approve/);
    assert.match(String(closed.body.text), /approved by oncall-eng \(on-call-engineer\) via update/);
  });

  it('Reject opens the reason modal; the requester’s rejection is refused in the modal (four eyes); the engineering manager’s rejects and nothing is changed', async () => {
    const { app, workflowId } = await startRollback(`slack-reject-${Date.now().toString(36)}`);
    const req = await postedRequest(workflowId);
    const openModal = async (person: string) => {
      const before = slack.of('views.open').length;
      const p = click(slackIdOf(person), REJECT_ACTION, req.reject, req.ts);
      assert.equal((await post(gateway.url, signCallback(p.payload))).status, 200);
      const opened = await slack.until(
        'the reason modal opened',
        (c) => c.method === 'views.open' && slack.of('views.open').indexOf(c) >= before,
      );
      assert.equal(opened.body.trigger_id, p.payload.trigger_id, 'opened with the click’s trigger_id');
      return opened.body.view as { callback_id: string; private_metadata: string };
    };
    const submit = async (person: string, view: { callback_id: string; private_metadata: string }, reason: string) => {
      const sub = viewSubmission({ userId: slackIdOf(person), view, values: { reason: { reason_input: reason } } });
      const r = await post(gateway.url, signCallback(sub));
      assert.equal(r.status, 200);
      return JSON.parse(r.text) as { response_action: string; errors?: Record<string, string> };
    };

    const selfView = await openModal(REQUESTER);
    const refused = await submit(REQUESTER, selfView, 'my own rollback, never mind');
    assert.equal(refused.response_action, 'errors');
    assert.match(
      refused.errors!.reason!,
      /reject refused: 'devops-lead' requested this rollback and may not decide it \(four eyes\)/,
    );
    await stillAwaiting(workflowId);

    const view = await openModal('eng-manager');
    assert.deepEqual(await submit('eng-manager', view, 'fix forward instead'), { response_action: 'clear' });
    const r = await waitResult(rc, workflowId);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.outcome, 'rejected');
    assert.deepEqual(
      r.result.approvals.map((a) => [a.decision, a.approver, a.role, a.via]),
      [['rejected', 'eng-manager', 'engineering-manager', 'update']],
    );
    assert.match(String(r.result.approvals[0]!.comment), /^fix forward instead \(via Slack, user U0PLACE0005\)$/);
    const updated = await slack.until(
      'the request shows the rejection',
      (c) => c.method === 'chat.update' && c.body.ts === req.ts,
    );
    assert.match(String(updated.body.text), /rejected by eng-manager/);
    assert.equal((await docker.getContainer(app.name).inspect()).Id, app.id, 'nothing changed');
  });

  it('short approval windows (the worker’s policy: 6 s, escalation 4 s): the request is updated when it escalates and loses its buttons when the window closes; a click after is refused as closed and changes nothing', async () => {
    const shortQueue = uniqueQueue('slack-approval-short');
    const shortWorker = spawnWorker({
      address: env.address,
      taskQueue: shortQueue,
      extra: { CORTEX_APPROVAL_POLICY: shortWindowPolicy(6, 4) },
    });
    let shortGateway: GatewayProcess | undefined;
    try {
      await shortWorker.ready;
      shortGateway = await spawnGateway({
        address: env.address,
        taskQueue: shortQueue,
        apiUrl: slack.apiUrl,
        port: await freePort(),
      });
      const src = testClient(env, shortQueue);
      const name = `slack-short-${Date.now().toString(36)}`;
      names.push(name);
      const app = await startApp(name, BAD);
      const { workflowId } = await startDockerRollback(src, {
        containerName: name,
        targetImage: GOOD,
        healthUrl: app.healthUrl,
        reason: 'v2.1.0 fails /health',
        requestedBy: REQUESTER,
      });
      const req = await postedRequest(workflowId);
      assert.doesNotMatch(
        JSON.stringify(
          await slack.until(
            'first post',
            (c) => c.method === 'chat.postMessage' && JSON.stringify(c.body).includes(workflowId),
          ),
        ),
        /Escalated/,
      );
      const escalated = await slack.until(
        'the request updated on escalation',
        (c) => c.method === 'chat.update' && c.body.ts === req.ts && JSON.stringify(c.body).includes('Escalated'),
      );
      assert.match(JSON.stringify(escalated.body), /may now also decide backup-eng/);
      assert.match(JSON.stringify(escalated.body), /cortex_approve/, 'still with its buttons');
      const r = await waitResult(src, workflowId);
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.result.outcome, 'approval-timed-out');
      const closed = await slack.until(
        'the request closed',
        (c) => c.method === 'chat.update' && c.body.ts === req.ts && !JSON.stringify(c.body).includes('cortex_approve'),
      );
      assert.match(String(closed.body.text), /no longer awaiting approval/);

      const late = click(slackIdOf(ONCALL.approver), APPROVE_ACTION, req.approve, req.ts);
      assert.equal((await post(shortGateway.url, signCallback(late.payload))).status, 200);
      const told = await slack.until('the late click told', (c) => c.url === late.responseUrl);
      assert.equal(told.body.response_type, 'ephemeral');
      assert.match(
        String(told.body.text),
        /did not count and nothing was recorded: this run has ended \(completed\): the approval is closed/,
      );
      const after = await getStatus(src, workflowId);
      assert.deepEqual(
        after.approvals.map((a) => a.decision),
        ['escalated'],
        'no decision recorded',
      );
      assert.equal((await docker.getContainer(name).inspect()).Id, app.id, 'nothing changed');
    } finally {
      await shortGateway?.stop();
      await shortWorker.kill();
    }
  });
});
