// What an operator sees without our CLI: the start's static summary/details from the scenario registry, the
// current details the workflow keeps up to date, the handler descriptions the Web UI's Send a Signal dialog shows
// (the SDK's metadata query), timer and activity summaries; and what the CLI says when no server answers (exit 5) and when the
// approval was decided. On the time-skipping test server with stubbed activities.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { run } from '../../client/cli.ts';
import { startMetadata, startWorkflow } from '../../client/client.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import { approveSignal } from '../../workflows/phases/approval.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import { SCENARIOS } from '../../workflows/scenarios.ts';
import type { DockerRollbackInput } from '../../workflows/application/docker-container.ts';
import { stubActivities } from '../helpers/stub-activities.ts';
import { APPROVER, REQUESTER, testClient, timeSkippingEnv, uniqueQueue } from '../helpers/temporal.ts';

const input: DockerRollbackInput = {
  containerName: 'cortex-mcp',
  targetImage: 'cortex-memory-mcp:v2.0.0',
  healthUrl: 'http://127.0.0.1:3000/health',
  reason: 'v2.1.0 fails /health',
  requestedBy: REQUESTER,
  monitor: { durationSeconds: 0 },
};

interface WorkflowMetadata {
  definition?: {
    type?: string;
    queryDefinitions?: { name?: string; description?: string }[];
    signalDefinitions?: { name?: string; description?: string }[];
  };
  currentDetails?: string;
}

/** Runs `fn` with console output captured; returns what it printed. */
async function captured<T>(fn: () => Promise<T>): Promise<{ value: T; out: string; err: string }> {
  const log = console.log;
  const error = console.error;
  let out = '';
  let err = '';
  console.log = (...a: unknown[]) => void (out += `${a.join(' ')}\n`);
  console.error = (...a: unknown[]) => void (err += `${a.join(' ')}\n`);
  try {
    return { value: await fn(), out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('the Web UI explains a rollback (time-skipping, stubbed activities)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: { codePath: string };
  before(async () => {
    env = await timeSkippingEnv();
    bundle = await workflowBundle();
  });
  after(async () => {
    await env?.teardown();
  });

  it('summarizes every scenario in one line, with the approval it needs', () => {
    const m = startMetadata('dockerContainerRollback', input, 'rollback-docker-cortex-mcp');
    assert.equal(m.staticSummary, 'roll back docker:cortex-mcp → cortex-memory-mcp:v2.0.0, on-call approval');
    assert.match(m.staticDetails, /reason: v2\.1\.0 fails \/health/);
    assert.match(m.staticDetails, /`approve` with `\{"approver":"<you>","role":"on-call-engineer"/);
    const pre = startMetadata(
      'dockerContainerRollback',
      { ...input, approval: { preApproved: { approver: 'ci:42', role: 'on-call-engineer' } } },
      'x',
    );
    assert.equal(
      pre.staticSummary,
      'roll back docker:cortex-mcp → cortex-memory-mcp:v2.0.0, pre-approved by ci:42 (on-call-engineer)',
    );
    const db = startMetadata(
      'qdrantDataRecovery',
      { collection: 'memories', reason: 'corrupt', requestedBy: 'bob' },
      'rollback-database-memories',
    );
    assert.equal(db.staticSummary, 'restore qdrant:memories from backup latest, manager approval');
    for (const s of SCENARIOS) assert.equal(typeof s.summarize, 'function', `${s.name} has no summarize`);
  });

  it('shows summary, details, current details, handler descriptions and timer summaries; the approval time is the decision', async () => {
    const { activities } = stubActivities({});
    const taskQueue = uniqueQueue('webui');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities,
    });
    await worker.runUntil(async () => {
      const rc = testClient(env, taskQueue);
      const workflowId = uniqueQueue('rollback-docker-webui');
      await startWorkflow(rc, 'dockerContainerRollback', input, workflowId);
      const h = env.client.workflow.getHandle(workflowId);
      let meta: WorkflowMetadata = {};
      for (let i = 0; i < 200; i++) {
        meta = await h.query<WorkflowMetadata>('__temporal_workflow_metadata');
        // the gate's approval-needed notification runs as a step inside the wait: read once it is done
        if (meta.currentDetails?.includes('waiting for') && meta.currentDetails.includes('**step:** approval,')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const d = await h.describe();
      assert.equal(await d.staticSummary(), 'roll back docker:cortex-mcp → cortex-memory-mcp:v2.0.0, on-call approval');
      assert.match((await d.staticDetails()) ?? '', /Application Rollback → Scenario 1/);

      const pending = (await h.query(statusQuery)).pendingApproval;
      assert.ok(pending);
      assert.match(meta.currentDetails ?? '', /\*\*phase:\*\* awaiting-approval/);
      assert.ok(
        meta.currentDetails?.includes(`approval by the role on-call-engineer (or higher) until ${pending.deadline}`),
      );
      assert.match(meta.currentDetails ?? '', /\*\*step:\*\* approval, running since/);
      const signals = new Map(meta.definition?.signalDefinitions?.map((s) => [s.name, s.description]));
      assert.match(signals.get('approve') ?? '', /Input: \{"approver":"oncall-eng","role":"on-call-engineer"/);
      assert.match(signals.get('reject') ?? '', /"reason":/);
      const queries = new Map(meta.definition?.queryDefinitions?.map((q) => [q.name, q.description]));
      assert.match(queries.get('status') ?? '', /phase, steps/);

      const timers = (await h.fetchHistory()).events?.filter((e) => e.timerStartedEventAttributes) ?? [];
      const summaries = timers.map((e) =>
        e.userMetadata?.summary ? defaultPayloadConverter.fromPayload<string>(e.userMetadata.summary) : undefined,
      );
      assert.deepEqual(summaries, [`approval window: on-call-engineer until ${pending.deadline}`]);

      await env.sleep('10m');
      await h.signal(approveSignal, APPROVER.application);
      await h.result();
      const s = await h.query(statusQuery);
      const step = s.steps.find((st) => st.name === 'approval')!;
      const waited = Date.parse(step.endedAt!) - Date.parse(step.startedAt);
      assert.ok(waited >= 600_000, `approval step ended ${waited} ms after it began`);
      assert.equal(step.endedAt, s.approvals[0]?.at);
      const cli = await withEnv({ TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: taskQueue }, () =>
        captured(() => run(['status', workflowId])),
      );
      assert.equal(cli.value, 0, cli.err);
      const line = cli.out.split('\n').find((l) => / approval: approved by oncall-eng/.test(l) && /completed/.test(l));
      assert.ok(line?.includes(step.endedAt!), `the status line shows the decision time:\n${cli.out}`);
      const scheduled = (await h.fetchHistory()).events?.filter((e) => e.activityTaskScheduledEventAttributes) ?? [];
      const labels = scheduled.map((e) =>
        e.userMetadata?.summary ? defaultPayloadConverter.fromPayload<string>(e.userMetadata.summary) : '',
      );
      assert.ok(labels.includes('stop-current-container: stopContainer'), labels.join(', '));
      assert.ok(labels.includes('run-target-image: runContainer'), labels.join(', '));
      const final = await h.query<WorkflowMetadata>('__temporal_workflow_metadata');
      assert.match(final.currentDetails ?? '', /\*\*phase:\*\* completed/);
      assert.doesNotMatch(final.currentDetails ?? '', /waiting for/);
    });
  });

  it('every command names the address it tried and what to run when no server answers (exit 5)', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const address = `127.0.0.1:${port}`;
    const r = await withEnv({ TEMPORAL_ADDRESS: address }, () =>
      captured(() => run(['status', 'rollback-docker-cortex-mcp'])),
    );
    assert.equal(r.value, 5);
    assert.ok(r.err.includes(`no Temporal server answers at ${address}`), r.err);
    assert.match(r.err, /npm run dev/);
    assert.match(r.err, /TEMPORAL_ADDRESS/);
  });
});
