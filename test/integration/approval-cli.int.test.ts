// `cortex-rollback approve/reject` through the `decide` update on the real dev server, under the runbook's policy:
// each refusal (not in the roster, a role the roster does not give, the requester, a second decision) is exit 2
// with the validator's reason and leaves nothing in history; a signal from the temporal CLI failing the same check
// is recorded as refused; the approval-needed notification reaches the local receiver with the exact payloads;
// status and report show the policy and the decisions. Docker is stubbed: the gate is what is under test.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createNotifyActivities } from '../../activities/notify.ts';
import { PROJECT_ROOT, temporalCliPath } from '../../common/tools.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import type { DockerRollbackInput } from '../../workflows/application/docker-container.ts';
import { waitFor } from '../helpers/docker.ts';
import { PAGERDUTY_PATH, SLACK_PATH, startNotifyReceiver, type NotifyReceiver } from '../helpers/notify-receiver.ts';
import { stubActivities } from '../helpers/stub-activities.ts';
import { localEnv, RUNBOOK_APPROVAL_POLICY, uniqueQueue } from '../helpers/temporal.ts';

describe('cortex-rollback approve/reject under the approval policy (decide update)', () => {
  let env: TestWorkflowEnvironment;
  let rx: NotifyReceiver;
  let stateDir: string;
  before(async () => {
    env = await localEnv();
    rx = await startNotifyReceiver();
    stateDir = mkdtempSync(join(tmpdir(), 'approval-cli-'));
  });
  after(async () => {
    await rx?.close();
    await env?.teardown();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const cli = (taskQueue: string, ...args: string[]) =>
    execa('node', [join(PROJECT_ROOT, 'client', 'bin.js'), ...args], {
      reject: false,
      env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: taskQueue },
    });
  const temporal = (...args: string[]) =>
    execa(temporalCliPath(), [...args, '--address', env.address, '--namespace', 'default'], { reject: false });

  it('refusals are exit 2 with the reason and nothing in history; the approval counts once', async () => {
    const taskQueue = uniqueQueue('approval-cli');
    const stubs = stubActivities({ approvalPolicy: RUNBOOK_APPROVAL_POLICY, runContainerMs: 4000 });
    const notify = createNotifyActivities({
      slackWebhookUrl: rx.slackUrl,
      pagerDuty: { url: rx.pagerDutyUrl, routingKey: 'approval-cli-key' },
      stateDir,
    });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: { ...stubs.activities, ...notify },
    });
    await worker.runUntil(async () => {
      const workflowId = uniqueQueue('rollback-docker-approval-cli');
      const input: DockerRollbackInput = {
        containerName: 'cortex-mcp',
        targetImage: 'cortex-memory-mcp:v2.0.0',
        healthUrl: 'http://127.0.0.1:3000/health',
        reason: 'v2.1.0 fails /health',
        requestedBy: 'oncall-eng',
        monitor: { durationSeconds: 0 },
      };
      const h = await env.client.workflow.start('dockerContainerRollback', { taskQueue, workflowId, args: [input] });
      await waitFor(async () => (await h.query(statusQuery)).pendingApproval?.contact !== undefined, 30_000, 'gate');

      const refusals: Array<[string[], RegExp]> = [
        [
          ['--approver', 'mallory', '--role', 'on-call-engineer'],
          /approve refused: 'mallory' is not in the approval roster/,
        ],
        [['--approver', 'backup-eng', '--role', 'on-call-engineer'], /the roster does not give 'backup-eng' the role/],
        [['--approver', 'tech-lead', '--role', 'tech-lead'], /role 'tech-lead' may not decide an application rollback/],
        [['--approver', 'oncall-eng', '--role', 'on-call-engineer'], /requested this rollback .*four eyes/],
      ];
      for (const [args, why] of refusals) {
        const r = await cli(taskQueue, 'approve', workflowId, ...args);
        assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, why);
      }
      const noReason = await cli(
        taskQueue,
        'reject',
        workflowId,
        '--approver',
        'eng-manager',
        '--role',
        'engineering-manager',
      );
      assert.equal(noReason.exitCode, 2);
      assert.match(noReason.stderr, /reason/);

      // the same check on a signal (the Web UI / temporal CLI path): recorded as refused, decides nothing
      const sig = await temporal(
        'workflow',
        'signal',
        '--workflow-id',
        workflowId,
        '--name',
        'approve',
        '--input',
        JSON.stringify({ approver: 'mallory', role: 'vp-engineering' }),
      );
      assert.equal(sig.exitCode, 0, sig.stderr);
      await waitFor(async () => (await h.query(statusQuery)).approvals.length === 1, 10_000, 'refused signal');
      const events = (await h.fetchHistory()).events ?? [];
      assert.equal(events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length, 0);
      assert.equal(events.filter((e) => e.workflowExecutionSignaledEventAttributes).length, 1);

      const status = await cli(taskQueue, 'status', workflowId);
      assert.match(status.stdout, /waiting for: on-call-engineer or engineering-manager or .* \(asked: @oncall-eng\)/);
      assert.match(status.stdout, /approval policy: .*config\/approval-policy\.json \(sha256 [0-9a-f]{12}\)/);
      assert.match(
        status.stdout,
        /approval: refused by mallory \(vp-engineering\) via signal .*not in the approval roster/,
      );

      const ok = await cli(
        taskQueue,
        'approve',
        workflowId,
        '--approver',
        '@eng-manager',
        '--role',
        'engineering-manager',
        '--comment',
        'checked the dashboards',
      );
      assert.equal(ok.exitCode, 0, ok.stderr);
      assert.match(ok.stdout, /approved by @eng-manager \(engineering-manager\)/);
      const second = await cli(
        taskQueue,
        'reject',
        workflowId,
        '--approver',
        'director-eng',
        '--role',
        'director-of-engineering',
        '--reason',
        'wait',
      );
      assert.equal(second.exitCode, 2, second.stderr);
      assert.match(second.stderr, /reject refused: already approved by @eng-manager/);

      const result = await cli(taskQueue, 'result', workflowId, '--json');
      assert.equal(result.exitCode, 0, result.stderr);
      const after = (await h.fetchHistory()).events ?? [];
      assert.equal(after.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length, 1);

      const report = await cli(taskQueue, 'report', workflowId);
      assert.match(report.stdout, /- policy: .*approval-policy\.json \(sha256 [0-9a-f]{64}\)/);
      assert.match(report.stdout, /- escalation: @backup-eng for 900s more, also deciding: backup-eng/);
      assert.match(
        report.stdout,
        /- approved by @eng-manager \(engineering-manager\) via update .* "checked the dashboards"/,
      );

      // the approval-needed notification, exactly, to Slack and PagerDuty
      const runId = h.firstExecutionRunId;
      const headline =
        '[approval-needed] application rollback docker:cortex-mcp: needs approval by on-call-engineer or ' +
        'engineering-manager or director-of-engineering or vp-engineering within 900s';
      const all = rx.onPath(SLACK_PATH).filter((r) => JSON.stringify(r.body).includes(workflowId));
      // the rollback's own started and succeeded around it (test/integration/notify-lifecycle.int.test.ts), and
      // the decision, which resolves the page at once
      assert.deepEqual(
        all.map((r) => /^\S+ \[([a-z-]+)\]/.exec(String(r.body.text))?.[1]),
        ['started', 'approval-needed', 'approval-decided', 'succeeded'],
      );
      const slack = all.filter((r) => String(r.body.text).includes('[approval-needed]'));
      assert.deepEqual(slack[0]!.body, {
        text: `:raising_hand: ${headline} @oncall-eng`,
        blocks: [
          { type: 'section', text: { type: 'mrkdwn', text: `:raising_hand: *${headline}* @oncall-eng` } },
          {
            type: 'section',
            text: {
              type: 'mrkdwn',
              text: '*approverRoles*: on-call-engineer, engineering-manager, director-of-engineering, vp-engineering\n*windowSeconds*: 900',
            },
          },
          { type: 'context', elements: [{ type: 'mrkdwn', text: `workflow \`${workflowId}\` run \`${runId}\`` }] },
        ],
      });
      const pd = rx.onPath(PAGERDUTY_PATH).filter((r) => JSON.stringify(r.body).includes(workflowId));
      // the page, then its resolve once the manager decided
      assert.equal(pd.length, 2);
      assert.deepEqual(pd[1]!.body, {
        routing_key: 'approval-cli-key',
        event_action: 'resolve',
        dedup_key: `cortex-rollback/${workflowId}/${runId}/approval-needed`,
        client: 'cortex-rollback',
      });
      assert.deepEqual(pd[0]!.body, {
        routing_key: 'approval-cli-key',
        event_action: 'trigger',
        dedup_key: `cortex-rollback/${workflowId}/${runId}/approval-needed`,
        payload: {
          summary: `${headline} @oncall-eng`,
          source: 'cortex-rollback',
          severity: 'warning',
          component: 'docker:cortex-mcp',
          group: 'application',
          class: 'approval-needed',
          custom_details: {
            workflowId,
            runId,
            approverRoles: 'on-call-engineer, engineering-manager, director-of-engineering, vp-engineering',
            windowSeconds: 900,
          },
        },
        client: 'cortex-rollback',
      });
      assert.doesNotMatch(JSON.stringify(await h.fetchHistory()), /approval-cli-key|\/slack\/T000/);
    });
  });
});
