// Rollback metrics from real runs: a worker process (workers/main.ts) with its Prometheus endpoint on, three real
// Docker rollbacks on the dev server (one succeeds, one times out waiting for approval, one fails verification and
// is undone), then MTTR, success rate and counts by type from visibility, against the runbook's targets. Then
// rollbacks other than Docker on a real Qdrant server (a config rollback that succeeds, a schema rollback whose
// approval times out, a data recovery of a backup that does not exist): each carries its own service, target
// version, trigger and requester, `cortex-rollback metrics` counts them by type and lists them, and the
// visibility list finds them by RollbackService. Both under the committed approval policy with its windows cut to
// seconds (a copy that differs in nothing else), approved by roster people, requested by someone else.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  parseSince,
  rollbackMetrics,
  renderMetrics,
  type RollbackMetrics,
  type RollbackRun,
} from '../../client/metrics.ts';
import { execa } from 'execa';
import { startDockerRollback, startWorkflow, waitResult, type RollbackClient } from '../../client/client.ts';
import { PROJECT_ROOT, temporalCliPath } from '../../common/tools.ts';
import { qdrantConfigScenario } from '../../workflows/configuration/qdrant-config.ts';
import { qdrantDataRecoveryScenario } from '../../workflows/database/data-recovery.ts';
import { qdrantSchemaScenario } from '../../workflows/database/schema.ts';
import { parseInput } from '../../workflows/phases/schema.ts';
import { statusQuery, type StepRecord } from '../../workflows/phases/progress.ts';
import type { Scenario } from '../../workflows/phases/scenario.ts';
import { seed } from '../helpers/qdrant.ts';
import { startQdrantWorld, type QdrantWorld } from '../helpers/qdrant-world.ts';
import { recordHistory } from '../helpers/record.ts';
import { BAD, ensureImages, freePort, GOOD, removeByPrefix, startApp, waitFor } from '../helpers/docker.ts';
import { localEnv, RUNBOOK_APPROVAL_POLICY, testClient, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

// The committed policy, every approval and escalation window 1 s: the time-outs below end in seconds, not hours.
const policyDir = mkdtempSync(join(tmpdir(), 'metrics-policy-'));
const shortPolicy = join(policyDir, 'approval-policy.json');
{
  const policy = JSON.parse(readFileSync(RUNBOOK_APPROVAL_POLICY, 'utf8')) as {
    types: Record<string, { windowMinutes: number; escalation?: { windowMinutes: number } }>;
  };
  for (const t of Object.values(policy.types)) {
    t.windowMinutes = 1 / 60;
    if (t.escalation) t.escalation.windowMinutes = 1 / 60;
  }
  writeFileSync(shortPolicy, JSON.stringify(policy, null, 2));
}
// read by the workers made below (in this process and spawned)
process.env.CORTEX_APPROVAL_POLICY = shortPolicy;
after(() => rmSync(policyDir, { recursive: true, force: true }));

describe('rollback metrics and the worker Prometheus endpoint (committed policy, windows of 1 s)', () => {
  let env: TestWorkflowEnvironment;
  let rc: RollbackClient;
  let worker: WorkerProcess;
  let metricsPort: number;
  const prefix = `metrics-it-${Date.now().toString(36)}`;

  before(async () => {
    await ensureImages();
    env = await localEnv();
    rc = testClient(env, uniqueQueue('metrics'));
    metricsPort = await freePort();
    worker = spawnWorker({
      address: env.address,
      taskQueue: rc.settings.taskQueue,
      extra: { CORTEX_WORKER_METRICS_PORT: String(metricsPort) },
    });
    await worker.ready;
  });
  after(async () => {
    await worker?.kill();
    await removeByPrefix(prefix);
    await env?.teardown();
  });

  it('the worker answers Prometheus metrics on CORTEX_WORKER_METRICS_PORT', async () => {
    assert.match(worker.output(), new RegExp(`Prometheus metrics at http://127\\.0\\.0\\.1:${metricsPort}/metrics`));
    let text = '';
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined);
        text = res?.ok ? await res.text() : '';
        return /^temporal_\w+/m.test(text);
      },
      20_000,
      'temporal_* metrics',
    );
    assert.match(text, /# TYPE temporal_\w+ /);
    assert.match(text, new RegExp(`task_queue="${rc.settings.taskQueue}"`));
  });

  it('computes MTTR, success rate and counts by type from three real rollbacks', async () => {
    const common = { reason: 'metrics test', requestedBy: 'metrics-test', monitor: { durationSeconds: 0 } };
    const preApproved = { preApproved: { approver: 'oncall-eng', role: 'on-call-engineer' } };
    const good = await startApp(`${prefix}-ok`, BAD);
    const timedOut = await startApp(`${prefix}-wait`, BAD);
    const failing = await startApp(`${prefix}-fail`, GOOD);
    const started = Date.now();
    const runs = await Promise.all([
      startDockerRollback(rc, {
        containerName: good.name,
        targetImage: GOOD,
        healthUrl: good.healthUrl,
        ...common,
        approval: preApproved,
        searchAttributes: true,
      }),
      startDockerRollback(rc, {
        containerName: timedOut.name,
        targetImage: GOOD,
        healthUrl: timedOut.healthUrl,
        ...common,
        approval: { timeoutSeconds: 1 },
        searchAttributes: true,
      }),
      startDockerRollback(rc, {
        containerName: failing.name,
        targetImage: BAD,
        healthUrl: failing.healthUrl,
        verifyTimeoutSeconds: 2,
        ...common,
        approval: preApproved,
        searchAttributes: true,
      }),
    ]);
    const results = await Promise.all(runs.map((r) => waitResult(rc, r.workflowId)));
    assert.deepEqual(
      results.map((r) => (r.ok ? r.result.outcome : r.type)),
      ['succeeded', 'approval-timed-out', 'VerificationFailed'],
    );
    // decided under the committed policy's copy: a roster approver, the time-out after its escalation
    const decided = await rc.client.workflow.getHandle(runs[1].workflowId).query(statusQuery);
    assert.equal(decided.approvalPolicy?.path, shortPolicy);
    assert.ok(
      decided.steps.some((s) => s.name.startsWith('notify-escalated')),
      JSON.stringify(decided.steps),
    );
    const elapsedMin = (Date.now() - started) / 60000;
    // visibility is eventually consistent: wait until all three show closed with their outcome
    let m = await rollbackMetrics(rc, 3_600_000);
    await waitFor(
      async () => {
        m = await rollbackMetrics(rc, 3_600_000);
        return m.runs.filter((r) => r.workflowId.includes(prefix) && r.closeTime).length === 3;
      },
      20_000,
      'three closed rollbacks in visibility',
    );
    const mine = m.runs.filter((r) => r.workflowId.includes(prefix));
    assert.deepEqual(mine.map((r) => r.outcome).sort(), ['approval-timed-out', 'failed', 'succeeded']);
    for (const r of mine) {
      assert.equal(r.type, 'application');
      assert.equal(r.requestedBy, 'metrics-test');
      assert.ok(r.service?.startsWith(prefix));
    }
    assert.equal(mine.find((r) => r.outcome === 'succeeded')?.targetVersion, GOOD);
    assert.equal(m.total, 3);
    assert.deepEqual(m.byType, { application: { total: 3, succeeded: 1, 'approval-timed-out': 1, failed: 1 } });
    assert.equal(m.successRatePercent, 50);
    assert.equal(m.successRateMet, false);
    const ok = mine.find((r) => r.outcome === 'succeeded')!;
    // time to restore: start → the verify-health step of its result; time to close adds the cleanup after it
    const result = results[0]!;
    assert.ok(result.ok);
    const verified = result.result.timeline.find((s) => s.name === 'verify-health')!;
    assert.equal(verified.restores, true);
    assert.equal(ok.restoredTime, verified.endedAt);
    assert.ok(
      ok.restoreMinutes! > 0 && ok.restoreMinutes! <= ok.closeMinutes!,
      `${ok.restoreMinutes} vs ${ok.closeMinutes}`,
    );
    assert.equal(m.mttrMinutes, ok.restoreMinutes);
    assert.ok(m.mttrMinutes! <= elapsedMin, `${m.mttrMinutes} vs ${elapsedMin}`);
    assert.deepEqual(m.timeToRestore.application, {
      runs: 1,
      meanMinutes: ok.restoreMinutes,
      met: true,
      targetMinutes: 30,
      unmeasured: 0,
    });
    assert.equal(m.timeToCloseMinutes, ok.closeMinutes);
    assert.equal(m.mttrMet, true);
    const text = renderMetrics(m);
    assert.match(
      text,
      /MTTR \(time to restore, start → verified healthy\): [\d.]+ min \(each type against its target: MET\)/,
    );
    assert.match(text, /application: [\d.]+ min over 1 \(target < 30 min: MET\)/);
    assert.match(text, /success rate: 50% of 2 finished \(target > 95%: MISSED\)/);
    assert.match(text, /application: total 3, /);
  });

  it('--since takes minutes, hours or days', () => {
    assert.equal(parseSince('30d'), 30 * 86_400_000);
    assert.equal(parseSince('12h'), 12 * 3_600_000);
    assert.equal(parseSince('90m'), 90 * 60_000);
    assert.throws(() => parseSince('30 days'), /--since must look like 30d/);
  });
});

describe('rollback metrics of the other rollback types (real Qdrant; committed policy, windows of 1 s)', () => {
  let world: QdrantWorld;
  let rc: RollbackClient;
  const tag = `uxm${Date.now().toString(36)}`;
  const who = { reason: `ux metrics ${tag}`, requestedBy: `ux-${tag}` };

  before(async () => {
    world = await startQdrantWorld({ queue: 'ux-metrics' });
    rc = testClient(world.env, world.taskQueue);
  });
  after(async () => {
    await world?.stop();
  });

  const start = (s: Scenario, input: Record<string, unknown>) =>
    startWorkflow(rc, s.workflowType, { ...input, searchAttributes: true }, s.workflowId(parseInput(s.input, input)));

  it('counts config, schema and data rollbacks by type with service, version, trigger and requester', async () => {
    const cfg = `${tag}-cfg`;
    const schema = `${tag}-schema`;
    const data = `${tag}-data`;
    const cfgWait = `${tag}-cfgwait`;
    await Promise.all([
      seed(world.q.client, cfgWait, 40, 8),
      seed(world.q.client, cfg, 40, 8),
      seed(world.q.client, schema, 40, 8),
      seed(world.q.client, data, 20, 8),
    ]);
    const runs = await Promise.all([
      start(qdrantConfigScenario, {
        collection: cfg,
        target: { hnsw_config: { m: 6 } },
        ...who,
        approval: { preApproved: { approver: 'oncall-eng', role: 'on-call-engineer' } },
      }),
      start(qdrantSchemaScenario, {
        collection: schema,
        target: { size: 8, distance: 'Dot' },
        mode: 'recreate',
        ...who,
        approval: { timeoutSeconds: 1 },
      }),
      start(qdrantDataRecoveryScenario, {
        collection: data,
        backup: `${tag}-no-such-backup`,
        ...who,
        approval: { preApproved: { approver: 'eng-manager', role: 'engineering-manager' } },
      }),
      // nobody decides: the metrics counted this as a success while it ended 'timed-out'
      start(qdrantConfigScenario, {
        collection: cfgWait,
        target: { hnsw_config: { m: 6 } },
        ...who,
        approval: { timeoutSeconds: 1 },
      }),
    ]);
    const results = await Promise.all(runs.map((r) => waitResult<{ outcome: string }>(rc, r.workflowId)));
    assert.deepEqual(
      results.map((r) => (r.ok ? r.result.outcome : r.type)),
      ['succeeded', 'approval-timed-out', 'NotFound', 'approval-timed-out'],
    );
    await recordHistory('qdrant-config-run-attributes', runs[0].workflowId, world.env.address);

    let m: RollbackMetrics = await rollbackMetrics(rc, 3_600_000);
    await waitFor(
      async () => {
        m = await rollbackMetrics(rc, 3_600_000);
        return m.runs.filter((r) => r.requestedBy === who.requestedBy && r.closeTime).length === 4;
      },
      30_000,
      'four closed rollbacks in visibility',
    );
    const mine = m.runs.filter((r) => r.requestedBy === who.requestedBy);
    assert.deepEqual(mine.map((r) => r.service).sort(), [
      `qdrant:${cfg}`,
      `qdrant:${cfgWait}`,
      `qdrant:${data}`,
      `qdrant:${schema}`,
    ]);
    const of = (collection: string): RollbackRun => mine.find((r) => r.service === `qdrant:${collection}`)!;
    assert.deepEqual(
      [of(cfg).type, of(cfg).targetVersion, of(cfg).outcome],
      ['configuration', '{"hnsw_config":{"m":6}}', 'succeeded'],
    );
    assert.deepEqual(
      [of(schema).type, of(schema).targetVersion, of(schema).outcome],
      ['database', 'vectors size 8 Dot', 'approval-timed-out'],
    );
    assert.deepEqual(
      [of(data).type, of(data).targetVersion, of(data).outcome],
      ['database', `backup ${tag}-no-such-backup`, 'failed'],
    );
    assert.equal(of(cfgWait).outcome, 'approval-timed-out');
    for (const r of mine) assert.equal(r.trigger, who.reason);
    assert.deepEqual(m.byType.configuration, { total: 2, succeeded: 1, 'approval-timed-out': 1 });
    // the config rollback is restored at its test search, held to the 30-minute target
    const cfgResult = results[0]!;
    assert.ok(cfgResult.ok);
    const searched = (cfgResult.result as unknown as { timeline: StepRecord[] }).timeline.find((s) => s.restores);
    assert.equal(searched?.name, 'test-search');
    assert.equal(of(cfg).restoredTime, searched.endedAt);
    assert.equal(of(cfg).restoreTargetMinutes, 30);
    assert.equal(m.timeToRestore.configuration?.runs, 1);
    assert.equal(of(schema).restoreTargetMinutes, 120);
    assert.deepEqual(m.byType.database, { total: 2, 'approval-timed-out': 1, failed: 1 });

    // The operator's view: `cortex-rollback metrics` counts by type and lists each run with service → version.
    const cli = await execa('node', ['--import', 'tsx', 'client/cli.ts', 'metrics', '--since', '1h'], {
      cwd: PROJECT_ROOT,
      env: { TEMPORAL_ADDRESS: world.env.address },
      reject: false,
    });
    assert.equal(cli.exitCode, 0, cli.stderr);
    const cfgLine = /configuration: total 2, .*/.exec(cli.stdout)?.[0] ?? '';
    assert.deepEqual(cfgLine.split(', ').slice(1).sort(), ['approval-timed-out 1', 'succeeded 1'], cli.stdout);
    assert.match(cli.stdout, /database: total 2, /);
    assert.ok(cli.stdout.includes(`qdrant:${cfg} → {"hnsw_config":{"m":6}}  succeeded`), cli.stdout);
    assert.ok(cli.stdout.includes(`qdrant:${schema} → vectors size 8 Dot  approval-timed-out`), cli.stdout);
    assert.ok(cli.stdout.includes(`by ${who.requestedBy}`), cli.stdout);

    // The visibility list finds each by its service, as the Web UI's and `temporal workflow list`'s query does.
    for (const [collection, i] of [
      [cfg, 0],
      [schema, 1],
      [data, 2],
    ] as const) {
      const listed = await execa(temporalCliPath(), [
        ...['workflow', 'list', '--address', world.env.address, '-o', 'json'],
        ...['--query', `RollbackService="qdrant:${collection}" AND RollbackRequestedBy="${who.requestedBy}"`],
      ]);
      const ids = (JSON.parse(listed.stdout || '[]') as Array<{ execution: { workflowId: string } }>).map(
        (e) => e.execution.workflowId,
      );
      assert.deepEqual(ids, [runs[i].workflowId]);
    }
  });
});
