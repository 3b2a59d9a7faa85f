// Dry-run plans end to end (`cortex-rollback plan`): the real dev server, an in-process worker with the real
// activities and the runbook's approval policy, real Docker, a real Qdrant server and a notification receiver.
// Asserts the plan's content and that NOTHING changed: the container (id, image, state, started-at), no extra
// container, no approval asked, no notification, no snapshot or backup or export made; that the plan's text is the
// started rollback's static summary and details; and that a plan runs while a rollback of the target does.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { execa } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { createWorker } from '../../workers/worker.ts';
import type { Plan } from '../../workflows/phases/plan.ts';
import type { BackupResult } from '../../workflows/database/qdrant-backup.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import {
  BAD,
  containersNamed,
  docker,
  ensureImages,
  GOOD,
  removeByPrefix,
  startApp,
  waitFor,
} from '../helpers/docker.ts';
import { recordHistory } from '../helpers/record.ts';
import { startNotifyReceiver, type NotifyReceiver } from '../helpers/notify-receiver.ts';
import { count, seed, startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { localEnv, REQUESTER, RUNBOOK_APPROVAL_POLICY, uniqueQueue } from '../helpers/temporal.ts';
import { applyCommit, inputs, readState, tfWorld, type TfWorld } from '../helpers/terraform.ts';

interface PlanJson {
  planWorkflowId: string;
  workflowId: string;
  staticSummary: string;
  staticDetails: string;
  plan: Plan;
}

describe('dry-run plans (cortex-rollback plan)', () => {
  let env: TestWorkflowEnvironment;
  let q: TestQdrant;
  let rx: NotifyReceiver;
  let worker: Worker;
  let running: Promise<void>;
  let taskQueue: string;
  let backupRoot: string;
  let stateDir: string;
  let tf: TfWorld;
  const names: string[] = [];

  before(async () => {
    await ensureImages();
    [env, q, rx] = await Promise.all([localEnv(), startTestQdrant(), startNotifyReceiver()]);
    stateDir = mkdtempSync(join(tmpdir(), 'plan-notify-'));
    tf = await tfWorld('plan-tofu');
    backupRoot = join(q.tmp, 'backups');
    taskQueue = uniqueQueue('plan');
    ({ worker } = await createWorker({
      settings: { address: env.address, namespace: 'default', taskQueue },
      connection: env.nativeConnection,
      deps: {
        qdrant: { client: q.client, url: q.url, apiKey: q.apiKey, backupRoot },
        notify: {
          slackWebhookUrl: rx.slackUrl,
          pagerDuty: { url: rx.pagerDutyUrl, routingKey: 'plan-key' },
          stateDir,
        },
        approvalPolicyPath: RUNBOOK_APPROVAL_POLICY,
        terraform: { workRoot: join(tf.root, 'work'), env: tf.env },
      },
    }));
    running = worker.run();
  });
  after(async () => {
    for (const n of names) await removeByPrefix(n);
    worker?.shutdown();
    await running;
    await env?.teardown();
    await rx?.close();
    await q?.stop();
    if (q) assert.deepEqual(q.violations, [], "every request sent to Qdrant is valid per Qdrant's OpenAPI spec");
    rmSync(stateDir, { recursive: true, force: true });
    tf?.close();
  });

  const cli = (...args: string[]) =>
    execa('node', [join(PROJECT_ROOT, 'client', 'bin.js'), ...args], {
      reject: false,
      env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: taskQueue, CORTEX_SEARCH_ATTRIBUTES: '0' },
    });

  const containerState = async (name: string) => {
    const c = await docker.getContainer(name).inspect();
    return { id: c.Id, image: c.Config.Image, imageId: c.Image, status: c.State.Status, startedAt: c.State.StartedAt };
  };

  /** Activity types the workflow scheduled (remote and local). */
  const activitiesOf = async (workflowId: string): Promise<string[]> => {
    const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const remote = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    const local = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
    return [...remote, ...Array<string>(local).fill('(local)')];
  };

  it('docker: steps, on-call approval, the container config snapshot and the downtime — and nothing changes', async (t) => {
    const name = `plan-docker-${Date.now().toString(36)}`;
    names.push(name);
    const app = await startApp(name, BAD);
    const flags = [
      'docker-container',
      '--container',
      name,
      '--image',
      GOOD,
      '--health-url',
      app.healthUrl,
      '--reason',
      'v2.1.0 fails /health',
      '--requested-by',
      REQUESTER,
    ];
    const before = await containerState(name);

    const t0 = performance.now();
    const text = await cli('plan', ...flags);
    t.diagnostic(
      `cortex-rollback plan docker-container: ${Math.round(performance.now() - t0)} ms (CLI process included)`,
    );
    assert.equal(text.exitCode, 0, text.stderr);
    const out = text.stdout;
    for (const step of [
      'assess-current-container',
      'verify-target-image',
      'preserve-current-container',
      'stop-current-container',
      'run-target-image',
      'verify-health',
      'monitor',
      'remove-preserved-container',
    ])
      assert.ok(out.includes(`. ${step} — `), `step ${step} in:\n${out}`);
    assert.ok(out.indexOf('preserve-current-container') < out.indexOf('run-target-image'), 'steps in order');
    assert.match(out, /- on-call-engineer: on-call-engineer or engineering-manager or director-of-engineering/);
    assert.match(out, /asked: @oncall-eng/);
    assert.match(out, /container config snapshot: .*kept stopped/);
    assert.match(out, new RegExp(`${name}-pre-rollback-<run id>`));
    assert.match(out, /Expected downtime: up to 1m 15s: /);
    assert.match(out, /runbook: an application rollback takes 15–30 min/);
    assert.match(out, new RegExp(`container ${name} .*: ${BAD.replace(/[.:]/g, '\\$&')} .*running.*unhealthy`));

    const json = await cli('plan', ...flags, '--json');
    assert.equal(json.exitCode, 0, json.stderr);
    const p = JSON.parse(json.stdout) as PlanJson;
    assert.equal(p.workflowId, `rollback-docker-${name}`);
    assert.notEqual(p.planWorkflowId, p.workflowId);
    assert.match(p.planWorkflowId, /^plan-rollback-docker-/);
    assert.deepEqual(
      p.plan.approvals.map((a) => [a.role, a.windowSeconds, a.mode]),
      [['on-call-engineer', 900, 'approve']],
    );
    assert.match(p.plan.approvals[0]!.why, /application rollback needs on-call-engineer/);
    assert.equal(p.plan.expectedDowntime.maxSeconds, 10 + 5 + 60);
    assert.equal(p.plan.backups.length, 1);
    assert.deepEqual(
      p.plan.steps.filter((s) => s.changes).map((s) => s.name),
      ['preserve-current-container', 'stop-current-container', 'run-target-image', 'remove-preserved-container'],
    );
    assert.deepEqual(p.plan.warnings, []);
    // the plan workflow ran read-only activities only, asked nobody, told nobody
    assert.deepEqual(await activitiesOf(p.planWorkflowId), ['loadApprovalPolicy', '(local)', '(local)', '(local)']);
    const planStatus = await env.client.workflow.getHandle(p.planWorkflowId).query(statusQuery);
    assert.equal(planStatus.phase, 'planned');
    assert.equal(planStatus.pendingApproval, undefined);
    assert.deepEqual(planStatus.approvals, []);
    assert.deepEqual(rx.requests, [], 'no notification');
    await recordHistory('plan-docker', p.planWorkflowId, env.address);
    assert.deepEqual(await containerState(name), before, 'the container is untouched');
    assert.deepEqual(
      (await containersNamed(name)).map((c) => c.Id),
      [before.id],
      'no other container',
    );
    await assert.rejects(env.client.workflow.getHandle(`rollback-docker-${name}`).describe(), /not found/i);

    // The started rollback carries the same plan as its Web UI summary and details.
    const started = await cli('start', ...flags, '--json');
    assert.equal(started.exitCode, 0, started.stderr);
    const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
    const h = env.client.workflow.getHandle(workflowId);
    try {
      const d = await h.describe();
      assert.equal(`${await d.staticSummary()}\n\n${await d.staticDetails()}`, text.stdout.trimEnd());

      // The running rollback's current details carry the plan computed from its own reads, by the same code.
      await waitFor(
        async () => (await h.query(statusQuery)).phase === 'awaiting-approval',
        60_000,
        'the rollback waits for approval',
      );
      const meta = await h.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      assert.ok(
        meta.currentDetails?.includes(
          '**plan:** changes preserve-current-container → stop-current-container → run-target-image → ' +
            'remove-preserved-container; backup: container config snapshot',
        ),
        meta.currentDetails,
      );
      assert.match(meta.currentDetails ?? '', /downtime: up to 1m 15s/);

      // A plan runs while the rollback of the same target does (its own workflow id).
      const during = await cli('plan', ...flags, '--json');
      assert.equal(during.exitCode, 0, during.stderr);
      const again = JSON.parse(during.stdout) as PlanJson;
      assert.notEqual(again.planWorkflowId, p.planWorkflowId);
      assert.equal(again.staticDetails, p.staticDetails);
    } finally {
      await h.terminate('plan test: the rollback was only started to read its details');
    }
    assert.deepEqual(await containerState(name), before, 'still untouched');
  });

  it('qdrant data recovery: backups with their real age and size; no snapshot, backup or export is made', async () => {
    const collection = `plan-mem-${Date.now().toString(36)}`;
    await seed(q.client, collection, 300, 8);
    const backup = (await env.client.workflow.execute('qdrantBackup', {
      taskQueue,
      workflowId: uniqueQueue('plan-backup'),
      args: [{ collection, backupName: 'b1' }],
    })) as BackupResult;
    assert.equal(backup.manifest.pointsCount, 300);
    await seed(q.client, collection, 350, 8); // 50 more points since the backup
    await q.client.createSnapshot(collection, { wait: true });
    const snapshotsBefore = await q.client.listSnapshots(collection);
    assert.equal(snapshotsBefore.length, 1);
    const dirBefore = await readdir(join(backupRoot, collection), { recursive: true });
    rx.requests.length = 0;

    const r = await cli(
      'plan',
      'qdrant-data-recovery',
      '--collection',
      collection,
      '--reason',
      'corrupt',
      '--requested-by',
      REQUESTER,
      '--json',
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const p = JSON.parse(r.stdout) as PlanJson;
    await recordHistory('plan-qdrant-data-recovery', p.planWorkflowId, env.address);
    const plan = p.plan;
    assert.equal(plan.approvals[0]?.role, 'engineering-manager');
    assert.match(plan.current.join('\n'), /restores b1: .*300 points, .*checksum verified; -50 points vs now/);
    const snap = plan.backups.find((b) => b.what.startsWith("Qdrant's snapshot"));
    const s0 = snapshotsBefore[0]!;
    assert.equal(snap?.newest?.name, s0.name);
    assert.equal(snap?.newest?.sizeBytes, s0.size);
    assert.equal(snap?.existing, 1);
    const age = (Date.parse(plan.plannedAt) - Date.parse(`${s0.creation_time!.replace(/Z$/, '')}Z`)) / 1000;
    assert.ok(Math.abs((snap?.newest?.ageSeconds ?? -99) - age) <= 2, `age ${snap?.newest?.ageSeconds} ≈ ${age}`);
    const pre = plan.backups.find((b) => b.what.startsWith('pre-rollback backup'));
    assert.ok((pre?.estimatedBytes ?? 0) > 0, 'the pre-rollback backup has an estimated size');
    assert.equal(pre?.existing, 0);
    assert.ok(plan.backups.some((b) => b.what.startsWith('emergency export of all 350 points')));
    assert.ok(plan.warnings.some((w) => /no application named/.test(w)));
    assert.match(p.staticDetails, /Backups taken:/);

    const pit = await cli(
      'plan',
      'qdrant-point-in-time',
      '--collection',
      collection,
      '--at',
      new Date().toISOString(),
      '--reason',
      'corrupt since this morning',
      '--requested-by',
      REQUESTER,
      '--json',
    );
    assert.equal(pit.exitCode, 0, pit.stderr);
    assert.match((JSON.parse(pit.stdout) as PlanJson).plan.current.join('\n'), /restores b1: /);
    const unknown = await cli(
      'plan',
      'qdrant-data-recovery',
      '--collection',
      collection,
      '--backup',
      'nope',
      '--reason',
      'r',
      '--requested-by',
      REQUESTER,
      '--json',
    );
    assert.equal(unknown.exitCode, 0, unknown.stderr);
    assert.ok(
      (JSON.parse(unknown.stdout) as PlanJson).plan.warnings.some((w) =>
        /real run would stop before changing anything: no backup of '.*' named 'nope'/.test(w),
      ),
      unknown.stdout,
    );

    assert.deepEqual(await q.client.listSnapshots(collection), snapshotsBefore, 'no snapshot created');
    assert.deepEqual(await readdir(join(backupRoot, collection), { recursive: true }), dirBefore, 'no backup/export');
    assert.equal(await count(q.client, collection), 350);
    assert.deepEqual(rx.requests, [], 'no notification');
  });

  it('qdrant schema: alias mode has no downtime and keeps the source; a fit the real run refuses is a warning; nothing changes', async () => {
    const src = `plan-schema-src-${Date.now().toString(36)}`;
    const alias = `plan-schema-${Date.now().toString(36)}`;
    await seed(q.client, src, 120, 8);
    await q.client.updateCollectionAliases({
      actions: [{ create_alias: { alias_name: alias, collection_name: src } }],
    });
    const collectionsBefore = (await q.client.getCollections()).collections.map((c) => c.name).sort();
    const aliasesBefore = await q.client.getAliases();
    const plan = async (...extra: string[]) => {
      const r = await cli(
        'plan',
        'qdrant-schema',
        '--collection',
        alias,
        '--reason',
        'migration broke search',
        '--requested-by',
        REQUESTER,
        '--json',
        ...extra,
      );
      assert.equal(r.exitCode, 0, r.stderr);
      return (JSON.parse(r.stdout) as PlanJson).plan;
    };
    const dot = await plan('--size', '8', '--distance', 'Dot');
    assert.deepEqual(dot.warnings, []);
    assert.match(dot.current.join('\n'), new RegExp(`alias of ${src}\\): 120 points, vectors 8/Cosine`));
    assert.equal(dot.expectedDowntime.maxSeconds, 0);
    assert.ok(dot.steps.some((st) => st.name === `switch alias ${alias} → ${src}-v8-<run>` && st.changes));
    assert.ok(dot.backups.some((b) => b.what.startsWith(`pre-rollback backup of ${src}`)));
    assert.equal(dot.approvals[0]?.role, 'engineering-manager');
    const refused = await plan('--size', '4');
    assert.ok(
      refused.warnings.some((w) => /real run would stop .*8 dimensions and do not fit a 4-dimensional/.test(w)),
      refused.warnings.join('\n'),
    );
    assert.deepEqual((await q.client.getCollections()).collections.map((c) => c.name).sort(), collectionsBefore);
    assert.deepEqual(await q.client.getAliases(), aliasesBefore);
    assert.deepEqual(await q.client.listSnapshots(src), [], 'no snapshot created');
    assert.equal(await count(q.client, src), 120);
  });

  it('env file: the earlier backup with its real age and size, key changes by name only; nothing changes', async () => {
    const name = `plan-env-${Date.now().toString(36)}`;
    names.push(name);
    const app = await startApp(name, GOOD, ['QDRANT_URL=http://127.0.0.1:1', 'OPENAI_API_KEY=sk-bad']);
    const dir = mkdtempSync(join(tmpdir(), 'plan-env-'));
    try {
      const envFile = join(dir, '.env');
      const good = join(dir, 'production.env.backup');
      writeFileSync(envFile, 'QDRANT_URL=http://127.0.0.1:1\nOPENAI_API_KEY=sk-bad\n');
      writeFileSync(good, 'QDRANT_URL=http://127.0.0.1:6333\nOPENAI_API_KEY=sk-secret-good\nLOG_LEVEL=info\n');
      const old = join(dir, '.env.backup-20261101-000000-abc123');
      writeFileSync(old, 'QDRANT_URL=old\n');
      const oldTime = new Date(Date.now() - 3 * 86400_000);
      utimesSync(old, oldTime, oldTime);
      const filesBefore = readdirSync(dir).sort();
      const envBefore = readFileSync(envFile, 'utf8');
      const containerBefore = await containerState(name);
      rx.requests.length = 0;

      const r = await cli(
        'plan',
        'env-file',
        '--file',
        envFile,
        '--known-good-file',
        good,
        '--target',
        'docker',
        '--container',
        name,
        '--health-url',
        app.healthUrl,
        '--reason',
        'bad env deployed',
        '--requested-by',
        REQUESTER,
        '--json',
      );
      assert.equal(r.exitCode, 0, r.stderr);
      const { plan, staticDetails } = JSON.parse(r.stdout) as PlanJson;
      assert.equal(plan.approvals[0]?.role, 'on-call-engineer');
      const b = plan.backups[0]!;
      assert.equal(b.existing, 1);
      assert.equal(b.newest?.name, old);
      assert.equal(b.newest?.sizeBytes, 'QDRANT_URL=old\n'.length);
      assert.ok(Math.abs((b.newest?.ageSeconds ?? 0) - 3 * 86400) < 120, `age ${b.newest?.ageSeconds}`);
      assert.equal(b.estimatedBytes, envBefore.length);
      assert.match(plan.current.join('\n'), /added LOG_LEVEL; removed -; changed QDRANT_URL, OPENAI_API_KEY/);
      assert.doesNotMatch(r.stdout, /sk-secret-good|sk-bad|6333/, 'no value in the plan');
      assert.match(staticDetails, /newest existing: .*\.env\.backup-20261101-000000-abc123, 3d 0h old/);
      assert.deepEqual(readdirSync(dir).sort(), filesBefore, 'no backup made');
      assert.equal(readFileSync(envFile, 'utf8'), envBefore, 'the env file is untouched');
      assert.deepEqual(await containerState(name), containerBefore, 'the container is untouched');
      assert.deepEqual(rx.requests, [], 'no notification');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('terraform: the plan per address and the director; the state is not written, no scratch left', async () => {
    const state = join(tf.root, 'plan-state.tfstate');
    await applyCommit(tf, tf.commits.B, state);
    const stateBefore = readFileSync(state, 'utf8');
    const r = await cli(
      'plan',
      'terraform',
      '--repo',
      tf.repo,
      '--directory',
      'infra',
      '--commit',
      tf.commits.A,
      '--previous-commit',
      tf.commits.B,
      '--state-file',
      state,
      '--reason',
      'B broke the network',
      '--requested-by',
      REQUESTER,
      '--json',
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const { plan } = JSON.parse(r.stdout) as PlanJson;
    assert.equal(plan.approvals[0]?.role, 'director-of-engineering');
    const now = plan.current.join('\n');
    assert.match(now, /update terraform_data\.x/);
    assert.match(now, /delete terraform_data\.extra/);
    assert.ok(
      plan.warnings.some((w) => /destroys or replaces .*terraform_data\.extra/.test(w)),
      plan.warnings.join('\n'),
    );
    assert.ok(plan.steps.some((st) => st.name === 'apply-plan' && st.changes));
    assert.equal(readFileSync(state, 'utf8'), stateBefore, 'the state file is untouched');
    assert.deepEqual(inputs(readState(state)), { x: 'b', extra: 'e' });
    assert.deepEqual(readdirSync(join(tf.root, 'work', 'runs')), [], "the plan's scratch folder is removed");
  });

  it('start: a plan that fails does not hold the rollback up (stderr says so); --no-plan starts without one', async () => {
    const detailsOf = async (stdout: string) => {
      const { workflowId } = JSON.parse(stdout) as { workflowId: string };
      const h = env.client.workflow.getHandle(workflowId);
      const details = (await (await h.describe()).staticDetails()) ?? '';
      await h.terminate('plan test: started only to read its details');
      return details;
    };
    const flags = (container: string, healthUrl: string) => [
      'docker-container',
      ...['--container', container, '--image', GOOD, '--health-url', healthUrl],
      ...['--reason', 'plan-less start', '--requested-by', REQUESTER, '--json'],
    ];
    const missing = `plan-missing-${Date.now().toString(36)}`;
    const failed = await cli('start', ...flags(missing, 'http://127.0.0.1:9/health'));
    assert.equal(failed.exitCode, 0, failed.stderr);
    assert.match(failed.stderr, new RegExp(`no plan in the Web UI's details: .*'${missing}' does not exist`));
    assert.doesNotMatch(await detailsOf(failed.stdout), /\*\*Plan\*\*/);

    const name = `plan-noplan-${Date.now().toString(36)}`;
    names.push(name);
    const app = await startApp(name, BAD);
    const skipped = await cli('start', ...flags(name, app.healthUrl), '--no-plan');
    assert.equal(skipped.exitCode, 0, skipped.stderr);
    assert.doesNotMatch(skipped.stderr, /no plan/);
    assert.doesNotMatch(await detailsOf(skipped.stdout), /\*\*Plan\*\*/);
  });

  it('refuses bad input (exit 2, names the field) and says which scenarios have no plan; a missing container fails (exit 1)', async () => {
    const bad = await cli(
      'plan',
      'docker-container',
      '--container',
      'bad name!',
      '--image',
      GOOD,
      '--health-url',
      'http://127.0.0.1:1/health',
      '--reason',
      'r',
      '--requested-by',
      REQUESTER,
    );
    assert.equal(bad.exitCode, 2, bad.stdout);
    assert.match(bad.stderr, /containerName/);

    const none = await cli('plan', 'docker-network', '--help');
    assert.equal(none.exitCode, 2);
    assert.match(none.stderr, /no dry-run plan for 'docker-network' yet: plans exist for docker-container/);

    const missing = await cli(
      'plan',
      'docker',
      '--container',
      `plan-missing-${Date.now().toString(36)}`,
      '--image',
      GOOD,
      '--health-url',
      'http://127.0.0.1:1/health',
      '--reason',
      'r',
      '--requested-by',
      REQUESTER,
    );
    assert.equal(missing.exitCode, 1, missing.stdout);
    assert.match(
      missing.stderr,
      /plan FAILED \(NotFound\): container 'plan-missing-.*' does not exist.*nothing was changed/,
    );
  });
});
