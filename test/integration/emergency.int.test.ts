// The emergency runbooks end to end: the real dev server, workers as child processes (SIGKILLed at a point proven
// by the Docker gate and read back from history), the real Docker engine, the Qdrant double, a local Slack and
// PagerDuty receiver, and (security breach) real iptables in a network namespace the test creates.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupManifest } from '../../activities/qdrant.ts';
import type { DataCorruptionResult } from '../../workflows/emergency/data-corruption.ts';
import { startDockerGate, type DockerGate } from '../helpers/docker-gate.ts';
import { docker, ensureImages, GOOD, removeByPrefix, startApp } from '../helpers/docker.ts';
import { workflowFailure } from '../helpers/failures.ts';
import { activityRuns } from '../helpers/history.ts';
import { PAGERDUTY_PATH, SLACK_PATH, startNotifyReceiver, type NotifyReceiver } from '../helpers/notify-receiver.ts';
import { collectionChecksum, count, seed, startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { recordHistory } from '../helpers/record.ts';
import { localEnv, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const tag = Date.now().toString(36);

describe('emergency runbooks end to end', () => {
  let env: TestWorkflowEnvironment;
  let q: TestQdrant;
  let gate: DockerGate;
  let receiver: NotifyReceiver;
  let backupRoot: string;
  const workers: WorkerProcess[] = [];
  const apps: string[] = [];

  before(async () => {
    await ensureImages();
    [env, q, gate, receiver] = await Promise.all([
      localEnv(),
      startTestQdrant(),
      startDockerGate(),
      startNotifyReceiver(),
    ]);
    backupRoot = join(q.tmp, 'backups');
  });
  after(async () => {
    for (const w of workers) w.proc.kill('SIGKILL');
    for (const a of apps) await removeByPrefix(a);
    await env?.teardown();
    await gate?.close();
    await receiver?.close();
    if (q?.double) assert.deepEqual(q.double.violations, []);
    await q?.stop();
  });

  function worker(taskQueue: string, identity: string): WorkerProcess {
    const w = spawnWorker(
      {
        address: env.address,
        taskQueue,
        extra: {
          QDRANT_URL: q.url,
          CORTEX_BACKUP_DIR: backupRoot,
          DOCKER_HOST: gate.host,
          CORTEX_SLACK_WEBHOOK_URL: receiver.slackUrl,
          CORTEX_PAGERDUTY_URL: receiver.pagerDutyUrl,
          CORTEX_PAGERDUTY_ROUTING_KEY: 'test-routing-key',
          CORTEX_DATA_DIR: join(q.tmp, 'data'),
        },
      },
      ['--identity', identity],
    );
    workers.push(w);
    return w;
  }

  const forWorkflow = (path: string, workflowId: string) =>
    receiver.onPath(path).filter((r) => JSON.stringify(r.body).includes(workflowId));

  async function backup(taskQueue: string, collection: string, backupName: string): Promise<BackupManifest> {
    const r = (await env.client.workflow.execute('qdrantBackup', {
      taskQueue,
      workflowId: `backup-${collection}-${backupName}`,
      args: [{ collection, backupName }],
    })) as { manifest: BackupManifest };
    return r.manifest;
  }

  async function rewriteManifest(collection: string, name: string, change: (m: BackupManifest) => void) {
    const path = join(backupRoot, collection, name, 'manifest.json');
    const m = JSON.parse(await readFile(path, 'utf8')) as BackupManifest;
    change(m);
    await writeFile(path, JSON.stringify(m, null, 2));
  }

  it('data corruption: notify first, stop app and writer, export, newest verified backup ≤ 7 days, restore, restart — a worker SIGKILLed while the restart is held resumes without redoing anything', async () => {
    const taskQueue = uniqueQueue('emergency-corrupt');
    const collection = `em-corrupt-${tag}`;
    const first = worker(taskQueue, 'emergency-first');
    await first.ready;
    // an 8-day-old backup (too old), the known-good one, and a newer one whose file is corrupt
    await seed(q.client, collection, 300, 8);
    await backup(taskQueue, collection, 'stale');
    await rewriteManifest(collection, 'stale', (m) => {
      m.createdAt = new Date(Date.now() - 8 * 86400_000).toISOString();
    });
    await seed(q.client, collection, 100, 8, 1000);
    await backup(taskQueue, collection, 'good');
    const good = await collectionChecksum(q.client, collection);
    await seed(q.client, collection, 50, 8, 2000);
    const rotten = await backup(taskQueue, collection, 'rotten');
    const file = join(backupRoot, collection, 'rotten', rotten.snapshotFile);
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(10) ^ 0x55, 10);
    await writeFile(file, bytes);
    // the corruption: 100 points lost, 30 junk ones written
    await q.client.delete(collection, { wait: true, points: Array.from({ length: 100 }, (_, i) => i + 1) });
    await seed(q.client, collection, 30, 8, 9000);
    assert.equal(await count(q.client, collection), 380);

    const appName = `em-app-${tag}`;
    const writerName = `em-writer-${tag}`;
    apps.push(appName, writerName);
    const [app] = await Promise.all([startApp(appName, GOOD), startApp(writerName, GOOD)]);
    const startedBefore = (await docker.getContainer(appName).inspect()).State.StartedAt;

    // the application's restart after the verified restore never reaches dockerd: the worker dies there
    const caught = gate.arm({ method: 'POST', path: /^\/containers\/[^/]+\/start\b/, mode: 'hold' });
    const workflowId = `rollback-emergency-${collection}`;
    const started = Date.now();
    const handle = await env.client.workflow.start('dataCorruptionEmergency', {
      taskQueue,
      workflowId,
      args: [
        {
          collection,
          app: { containerName: appName, healthUrl: app.healthUrl },
          writers: [writerName],
          reason: 'corrupted memories reported',
          requestedBy: 'dave',
          monitor: { durationSeconds: 3, intervalSeconds: 1 },
        },
      ],
    });
    await caught;
    await first.kill();
    const second = worker(taskQueue, 'emergency-second');
    const r = (await handle.result()) as DataCorruptionResult;
    const seconds = (Date.now() - started) / 1000;

    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.restoredFrom?.name, 'good');
    assert.deepEqual(
      r.selection?.skipped.map((s) => s.name),
      ['rotten'],
    );
    assert.match(r.selection?.rule ?? '', /at most 7 day/);
    const now = await collectionChecksum(q.client, collection);
    assert.deepEqual([now.count, now.checksum], [good.count, good.checksum]);
    assert.deepEqual(r.sampleQuery, { ok: true, knownAnswers: 3 });
    // the corrupt state kept once: one export of 380 points, one pre-rollback backup
    assert.equal(r.emergencyExport?.exported, 380);
    assert.equal((await readFile(r.emergencyExport.path, 'utf8')).trim().split('\n').length, 380);
    const dirs = (await readdir(join(backupRoot, collection))).filter((d) => d.startsWith('pre-rollback-'));
    assert.deepEqual(dirs, [r.preRollbackBackup]);
    // acknowledged by the requester, no wait
    assert.deepEqual(
      r.approvals.map((a) => [a.decision, a.approver, a.role, a.via]),
      [['approved', 'dave', 'engineer', 'pre-approval']],
    );
    // both were stopped and run again
    for (const name of [appName, writerName]) {
      const c = await docker.getContainer(name).inspect();
      assert.equal(c.State.Running, true, `${name} runs`);
      assert.ok(c.State.FinishedAt > startedBefore && c.State.StartedAt > c.State.FinishedAt, `${name} restarted`);
    }
    // history: notify first, before any stop; the held start finished on attempt 2 on the second worker; the
    // restore, export and pre-rollback backup each ran once
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter((n): n is string => n !== undefined);
    assert.equal(scheduled[0], 'notify');
    assert.ok(scheduled.indexOf('stopContainer') > 0);
    const starts = await activityRuns(handle, 'startContainer');
    assert.equal(starts.length, 2, 'the application, then the writer');
    assert.ok(starts[0]!.attempt >= 2 && starts[0]!.identity === 'emergency-second', JSON.stringify(starts[0]));
    for (const t of ['qdrantRestoreBackup', 'qdrantExportNdjson']) {
      const runs = await activityRuns(handle, t);
      assert.equal(runs.length, 1, t);
      assert.equal(runs[0]!.attempt, 1, `${t} ran once`);
    }
    // one emergency page and one Slack post for it, then the success post
    const pages = forWorkflow(PAGERDUTY_PATH, workflowId);
    assert.equal(pages.length, 1);
    assert.equal((pages[0]!.body.payload as { severity: string }).severity, 'critical');
    const posts = forWorkflow(SLACK_PATH, workflowId).map((p) => String(p.body.text));
    assert.equal(posts.length, 2, posts.join('\n'));
    assert.match(posts[0]!, /EMERGENCY ROLLBACK: data corruption/);
    assert.match(posts[1]!, /completed/);
    console.log(`data corruption emergency with a worker kill: ${seconds.toFixed(1)} s`);
    await recordHistory('emergency-data-corruption-crash-resumed', workflowId, env.address);
    await second.kill();
  });

  it('data corruption: bad input is refused before any notification, stop or export', async () => {
    const taskQueue = uniqueQueue('emergency-bad');
    const w = worker(taskQueue, 'emergency-bad');
    await w.ready;
    const appName = `em-bad-${tag}`;
    apps.push(appName);
    const app = await startApp(appName, GOOD);
    const startedAt = (await docker.getContainer(appName).inspect()).State.StartedAt;
    const workflowId = `rollback-emergency-bad-${tag}`;
    const f = await workflowFailure(
      env.client.workflow.execute('dataCorruptionEmergency', {
        taskQueue,
        workflowId,
        args: [
          {
            collection: `em-bad-${tag}`,
            app: { containerName: appName, healthUrl: app.healthUrl },
            writers: ['not a name!'],
            maxBackupAgeDays: 30,
            reason: 'x',
            requestedBy: 'dave',
          },
        ],
      }),
    );
    assert.equal(f.type, 'InvalidInput');
    assert.match(f.message, /writers/);
    const c = await docker.getContainer(appName).inspect();
    assert.deepEqual([c.State.Running, c.State.StartedAt], [true, startedAt]);
    assert.equal(receiver.requests.filter((r) => JSON.stringify(r.body).includes(workflowId)).length, 0);
    const scheduled = ((await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes,
    );
    assert.equal(scheduled.length, 0);
    await recordHistory('emergency-data-corruption-refused', workflowId, env.address);
    await w.kill();
  });
});
