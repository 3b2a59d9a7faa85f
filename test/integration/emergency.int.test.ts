// The emergency runbooks end to end: the real dev server, workers as child processes (SIGKILLed at a point proven
// by the Docker gate and read back from history), the real Docker engine, a real Qdrant server, a local Slack and
// PagerDuty receiver, and (security breach) real iptables in a network namespace the test creates.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { canonicalRules } from '../../activities/iptables.ts';
import { join } from 'node:path';
import { execa } from 'execa';
import { PROJECT_ROOT } from '../../common/tools.ts';
import type { BackupManifest } from '../../activities/qdrant.ts';
import type { DataCorruptionResult } from '../../workflows/emergency/data-corruption.ts';
import type { EmergencyRollbackResult } from '../../workflows/emergency/emergency-rollback.ts';
import type { IsolationCheck, SecurityBreachResult } from '../../workflows/emergency/security-breach.ts';
import { decideUpdate } from '../../workflows/phases/approval.ts';
import { statusQuery, type RollbackStatus } from '../../workflows/phases/progress.ts';
import { createNetns, BASELINE_RULES, SERVICE_PORT, type Netns } from '../helpers/netns.ts';
import { startDockerGate, type DockerGate } from '../helpers/docker-gate.ts';
import { BAD, docker, ensureImages, GOOD, health, imageId, removeByPrefix, startApp } from '../helpers/docker.ts';
import { workflowFailure } from '../helpers/failures.ts';
import { activityRuns } from '../helpers/history.ts';
import { PAGERDUTY_PATH, SLACK_PATH, startNotifyReceiver, type NotifyReceiver } from '../helpers/notify-receiver.ts';
import { collectionChecksum, count, seed, startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { recordHistory } from '../helpers/record.ts';
import { localEnv, RUNBOOK_APPROVAL_POLICY, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const tag = Date.now().toString(36);

describe('emergency runbooks end to end', () => {
  let env: TestWorkflowEnvironment;
  let q: TestQdrant;
  let gate: DockerGate;
  let receiver: NotifyReceiver;
  let backupRoot: string;
  let ns: Netns;
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
    ns = await createNetns();
  });
  after(async () => {
    for (const w of workers) w.proc.kill('SIGKILL');
    for (const a of apps) await removeByPrefix(a);
    await env?.teardown();
    await gate?.close();
    await ns?.close();
    await receiver?.close();
    await q?.stop();
    if (q) assert.deepEqual(q.violations, [], "every request sent to Qdrant is valid per Qdrant's OpenAPI spec");
  });

  /** `policy`: the approval policy file the worker loads (default the committed one). */
  function worker(taskQueue: string, identity: string, policy?: string): WorkerProcess {
    const w = spawnWorker(
      {
        address: env.address,
        taskQueue,
        extra: {
          ...(policy ? { CORTEX_APPROVAL_POLICY: policy } : {}),
          QDRANT_URL: q.url,
          CORTEX_BACKUP_DIR: backupRoot,
          DOCKER_HOST: gate.host,
          CORTEX_SLACK_WEBHOOK_URL: receiver.slackUrl,
          CORTEX_PAGERDUTY_URL: receiver.pagerDutyUrl,
          CORTEX_PAGERDUTY_ROUTING_KEY: 'test-routing-key',
          CORTEX_DATA_DIR: join(q.tmp, 'data'),
          CORTEX_NETWORK_BACKUP_DIR: join(q.tmp, 'network-backups'),
        },
      },
      ['--identity', identity],
    );
    workers.push(w);
    return w;
  }

  /** Waits for the gate's catch; a workflow that ends first (e.g. failed) fails the test with its error instead of hanging. */
  async function heldOrEnded(caught: Promise<string>, handle: { result: () => Promise<unknown> }): Promise<void> {
    await Promise.race([
      caught,
      handle.result().then(
        (r) => {
          throw new Error(`the workflow ended before the gate caught its request: ${JSON.stringify(r)}`);
        },
        (err: Error & { cause?: Error }) => {
          throw new Error(
            `the workflow failed before the gate caught its request: ${err.cause?.message ?? err.message}`,
          );
        },
      ),
    ]);
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
          requestedBy: 'oncall-eng',
          monitor: { durationSeconds: 3, intervalSeconds: 1 },
        },
      ],
    });
    await heldOrEnded(caught, handle);
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
      [['approved', 'oncall-eng', 'engineer', 'acknowledgement']],
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
            requestedBy: 'oncall-eng',
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
    await w.kill();
  });

  const OLD = { JWT_SECRET: 'old-jwt-secret-4f1c9a', CORTEX_API_TOKEN: 'old-api-token-77e2b0' };
  const sha = (v: string) => createHash('sha256').update(v).digest('hex');
  const envText = `QDRANT_URL=http://127.0.0.1:6333\nJWT_SECRET=${OLD.JWT_SECRET}\nLOG_LEVEL=info\nCORTEX_API_TOKEN=${OLD.CORTEX_API_TOKEN}\n`;

  it('security breach: notify security, isolate (ports blocked in a namespace), rotate, restore ≤ 1 day, restart with new credentials, audit — a worker SIGKILLed while the recreate is held resumes; no secret in history, logs or result', async () => {
    const taskQueue = uniqueQueue('emergency-breach');
    const collection = `em-breach-${tag}`;
    const first = worker(taskQueue, 'breach-first');
    await first.ready;
    await seed(q.client, collection, 200, 8);
    await backup(taskQueue, collection, 'yesterday-minus-one');
    await rewriteManifest(collection, 'yesterday-minus-one', (m) => {
      m.createdAt = new Date(Date.now() - 2 * 86400_000).toISOString();
    });
    await seed(q.client, collection, 40, 8, 1000);
    await backup(taskQueue, collection, 'fresh');
    const good = await collectionChecksum(q.client, collection);
    await seed(q.client, collection, 25, 8, 5000); // what the intruder wrote
    const envFile = ns.file('cortex.env', envText);
    const appName = `em-breach-${tag}`;
    apps.push(appName);
    const app = await startApp(appName, GOOD, [
      `JWT_SECRET=${OLD.JWT_SECRET}`,
      `CORTEX_API_TOKEN=${OLD.CORTEX_API_TOKEN}`,
    ]);
    const oldId = (await docker.getContainer(appName).inspect()).Id;
    assert.ok(await ns.healthy(), 'the namespace service answers before');

    const caught = gate.arm({ method: 'POST', path: /^\/containers\/create\b/, mode: 'hold' });
    const workflowId = `rollback-emergency-security-${appName}`;
    const started = Date.now();
    const handle = await env.client.workflow.start('securityBreachEmergency', {
      taskQueue,
      workflowId,
      args: [
        {
          app: { containerName: appName, healthUrl: app.healthUrl, envFile },
          secretKeys: ['JWT_SECRET', 'CORTEX_API_TOKEN'],
          ports: [SERVICE_PORT, 6333],
          netns: ns.name,
          allowLoopback: false,
          reopenPorts: true,
          collection,
          reason: 'leaked API token',
          requestedBy: 'backup-eng',
        },
      ],
    });
    await heldOrEnded(caught, handle);
    // mid-run, the isolation is real: the port answers no more, the secrets are already rotated
    assert.equal(await ns.healthy(), false, 'the service port is blocked in the namespace');
    const mid = await readFile(envFile, 'utf8');
    assert.ok(!mid.includes(OLD.JWT_SECRET) && !mid.includes(OLD.CORTEX_API_TOKEN));
    await first.kill();
    const second = worker(taskQueue, 'breach-second');
    const r = (await handle.result()) as SecurityBreachResult;
    const seconds = (Date.now() - started) / 1000;

    assert.equal(r.outcome, 'succeeded');
    assert.deepEqual(
      r.audit.map((c) => [c.check, c.ok]),
      [
        ['service-healthy', true],
        ['new-credentials-in-container', true],
        ['old-credentials-gone', true],
        ['env-file-rotated', true],
        ['previous-secrets-private', true],
        ['ports-blocked', true],
        ['backup-verified', true],
        ['ports-reopened', true],
      ],
    );
    // the new values are in the file and in the running container; the old ones only in the 0600 backup
    const now = await readFile(envFile, 'utf8');
    const value = (k: string) =>
      /^(\w+)=(.*)$/m.exec(now.split('\n').find((l) => l.startsWith(`${k}=`)) ?? '')?.[2] ?? '';
    const fresh = { JWT_SECRET: value('JWT_SECRET'), CORTEX_API_TOKEN: value('CORTEX_API_TOKEN') };
    assert.match(fresh.JWT_SECRET, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(now.includes('LOG_LEVEL=info\n') && now.includes('QDRANT_URL=http://127.0.0.1:6333\n'));
    assert.deepEqual(
      r.rotation.keys,
      (['JWT_SECRET', 'CORTEX_API_TOKEN'] as const).map((key) => ({
        key,
        oldSha256: sha(OLD[key]),
        newSha256: sha(fresh[key]),
      })),
    );
    assert.equal(await readFile(r.rotation.backupPath, 'utf8'), envText);
    const c = await docker.getContainer(appName).inspect();
    assert.equal(c.Id, r.container.newId);
    assert.notEqual(c.Id, oldId);
    assert.equal(c.State.Running, true);
    assert.ok(c.Config.Env.includes(`JWT_SECRET=${fresh.JWT_SECRET}`));
    assert.ok(!c.Config.Env.some((e) => e.includes(OLD.JWT_SECRET) || e.includes(OLD.CORTEX_API_TOKEN)));
    // the compromised container is gone, one container has the name
    assert.equal(r.container.preservedRemoved, true);
    assert.deepEqual(
      (await docker.listContainers({ all: true }))
        .filter((x) => x.Names.some((n) => n.startsWith(`/${appName}`)))
        .map((x) => x.Id),
      [c.Id],
    );
    // restored from the backup of the last day
    assert.equal(r.restore.restoredFrom?.name, 'fresh');
    const data = await collectionChecksum(q.client, collection);
    assert.deepEqual([data.count, data.checksum], [good.count, good.checksum]);
    // ports reopened: the namespace holds its rules of before and answers again
    assert.equal(canonicalRules(await ns.save()).text, canonicalRules(BASELINE_RULES).text);
    assert.ok(await ns.healthy());
    // crash proof: the recreate completed on attempt 2 on the second worker; the rotation ran once
    const recreate = await activityRuns(handle, 'recreateContainerWithEnvFile');
    assert.equal(recreate.length, 1);
    assert.ok(recreate[0]!.attempt >= 2 && recreate[0]!.identity === 'breach-second', JSON.stringify(recreate[0]));
    const rotations = await activityRuns(handle, 'rotateEnvSecrets');
    assert.deepEqual(
      rotations.map((x) => [x.attempt, x.completed]),
      [[1, true]],
    );
    assert.equal((await readdir(ns.dir)).filter((f) => f.includes('.pre-breach-')).length, 1);
    // no secret value, old or new, in history, the result, the worker logs or the notifications
    const history = JSON.stringify(await handle.fetchHistory());
    const everywhere = [history, JSON.stringify(r), first.output(), second.output(), JSON.stringify(receiver.requests)];
    for (const v of [...Object.values(OLD), ...Object.values(fresh)]) {
      for (const text of everywhere) assert.ok(!text.includes(v), 'a secret value leaked');
    }
    // security was paged first, addressed to the security team
    const events = (await handle.fetchHistory()).events ?? [];
    const firstActivity = events.find(
      (e) => e.activityTaskScheduledEventAttributes,
    )?.activityTaskScheduledEventAttributes;
    assert.equal(firstActivity?.activityType?.name, 'notify');
    const pages = forWorkflow(PAGERDUTY_PATH, workflowId);
    assert.equal(pages.length, 1);
    assert.match(JSON.stringify(pages[0]!.body), /@security-team/);
    console.log(`security breach emergency with a worker kill: ${seconds.toFixed(1)} s`);
    await recordHistory('emergency-security-breach-crash-resumed', workflowId, env.address);
    await second.kill();
  });

  it('security breach: bad input is refused before any notification, stop, firewall or file change', async () => {
    const taskQueue = uniqueQueue('emergency-breach-bad');
    const w = worker(taskQueue, 'breach-bad');
    await w.ready;
    const envFile = ns.file('bad.env', envText);
    const appName = `em-breach-bad-${tag}`;
    apps.push(appName);
    const app = await startApp(appName, GOOD);
    const startedAt = (await docker.getContainer(appName).inspect()).State.StartedAt;
    const rulesBefore = await ns.canonical();
    const workflowId = `rollback-emergency-security-bad-${tag}`;
    const f = await workflowFailure(
      env.client.workflow.execute('securityBreachEmergency', {
        taskQueue,
        workflowId,
        args: [
          {
            app: { containerName: appName, healthUrl: app.healthUrl, envFile },
            secretKeys: ['JWT SECRET'],
            ports: [70000],
            netns: ns.name,
            collection: `em-breach-bad-${tag}`,
            reason: 'x',
            requestedBy: 'backup-eng',
          },
        ],
      }),
    );
    assert.equal(f.type, 'InvalidInput');
    assert.match(f.message, /secretKeys|ports/);
    assert.equal(await readFile(envFile, 'utf8'), envText);
    assert.equal(await ns.canonical(), rulesBefore);
    const c = await docker.getContainer(appName).inspect();
    assert.deepEqual([c.State.Running, c.State.StartedAt], [true, startedAt]);
    assert.equal(receiver.requests.filter((x) => JSON.stringify(x.body).includes(workflowId)).length, 0);
    await w.kill();
  });

  it('emergency-rollback.sh application: pre-checks, emergency backup, dockerContainerRollback as a child pre-approved as the acknowledgement, post-check — a worker SIGKILLed while the child holds its new container resumes', async () => {
    const taskQueue = uniqueQueue('emergency-dispatch');
    const collection = `em-dispatch-${tag}`;
    const first = worker(taskQueue, 'dispatch-first', RUNBOOK_APPROVAL_POLICY);
    await first.ready;
    await seed(q.client, collection, 120, 8);
    const appName = `em-dispatch-${tag}`;
    apps.push(appName);
    const app = await startApp(appName, BAD);
    assert.equal((await health(app.healthUrl)).status, 503);
    // the child's new container is created; its start never reaches dockerd
    const caught = gate.arm({ method: 'POST', path: /^\/containers\/[^/]+\/start\b/, mode: 'hold' });
    const workflowId = `rollback-emergency-application-${appName}`;
    const started = Date.now();
    const handle = await env.client.workflow.start('emergencyRollback', {
      taskQueue,
      workflowId,
      args: [
        {
          type: 'application',
          target: GOOD,
          containerName: appName,
          healthUrl: app.healthUrl,
          collection,
          watchSeconds: 2,
          reason: 'v2.1.0 fails /health',
          requestedBy: 'oncall-eng',
        },
      ],
    });
    await heldOrEnded(caught, handle);
    await first.kill();
    const second = worker(taskQueue, 'dispatch-second', RUNBOOK_APPROVAL_POLICY);
    const r = (await handle.result()) as EmergencyRollbackResult;
    const seconds = (Date.now() - started) / 1000;

    assert.equal(r.outcome, 'succeeded');
    assert.deepEqual(r.preChecks, { running: true, answered: true, status: 503, forced: false });
    assert.equal(r.postCheck.healthy, true);
    assert.equal((await health(app.healthUrl)).body.version, 'v2.0.0');
    const c = await docker.getContainer(appName).inspect();
    assert.equal(c.Image, await imageId(GOOD));
    // the emergency backup, once, verified by its manifest
    assert.deepEqual(
      (await readdir(join(backupRoot, collection))).filter((d) => d.startsWith('emergency-rollback-')),
      [r.emergencyBackup],
    );
    // the child ran once, pre-approved in the emergency's name with the role its category needs
    assert.equal(r.child.workflowId, `rollback-docker-${appName}`);
    const childHandle = env.client.workflow.getHandle(r.child.workflowId);
    const child = (await childHandle.result()) as { outcome: string; approvals: Array<Record<string, string>> };
    assert.equal(child.outcome, 'succeeded');
    assert.deepEqual(
      child.approvals.map((x) => [x.decision, x.approver, x.role, x.via]),
      [['approved', `oncall-eng (emergency ${workflowId})`, 'on-call-engineer', 'emergency']],
    );
    const events = (await handle.fetchHistory()).events ?? [];
    assert.equal(events.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes).length, 1);
    // crash proof, in the child's history: the held start finished on attempt 2 on the second worker, one container run
    const starts = await activityRuns(childHandle, 'startContainer');
    const runs = await activityRuns(childHandle, 'runContainer');
    assert.equal(runs.length, 1);
    assert.ok(
      runs[0]!.attempt >= 2 || starts.some((s) => s.attempt >= 2 && s.identity === 'dispatch-second'),
      JSON.stringify({ runs, starts }),
    );
    assert.equal(
      (await docker.listContainers({ all: true })).filter((x) => x.Names.some((n) => n === `/${appName}`)).length,
      1,
    );
    assert.equal(forWorkflow(PAGERDUTY_PATH, workflowId).length, 1);
    // the emergency owns the notifications: its child sends no started/succeeded of its own
    assert.deepEqual(await activityRuns(childHandle, 'notify'), []);
    console.log(`emergency-rollback (application) with a worker kill: ${seconds.toFixed(1)} s`);
    await recordHistory('emergency-rollback-application-crash-resumed', workflowId, env.address);
    await second.kill();
  });

  it('emergency-rollback.sh: a bad target is refused with the child schema before any check, backup or page; failed pre-checks refuse without force', async () => {
    const taskQueue = uniqueQueue('emergency-dispatch-bad');
    const w = worker(taskQueue, 'dispatch-bad');
    await w.ready;
    const appName = `em-dispatch-bad-${tag}`;
    apps.push(appName);
    const app = await startApp(appName, BAD);
    const startedAt = (await docker.getContainer(appName).inspect()).State.StartedAt;
    const base = {
      containerName: appName,
      healthUrl: app.healthUrl,
      collection: `em-none-${tag}`,
      reason: 'x',
      requestedBy: 'frank',
    };
    const badId = `rollback-emergency-bad-target-${tag}`;
    const f = await workflowFailure(
      env.client.workflow.execute('emergencyRollback', {
        taskQueue,
        workflowId: badId,
        args: [{ ...base, type: 'application', target: 'cortex-memory-mcp:latest' }],
      }),
    );
    assert.equal(f.type, 'InvalidInput');
    assert.match(f.message, /targetImage/);
    const scheduled = ((await env.client.workflow.getHandle(badId).fetchHistory()).events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes,
    );
    assert.equal(scheduled.length, 0);
    // the service stopped: the pre-checks refuse, nothing is backed up or rolled back
    await docker.getContainer(appName).stop({ t: 1 });
    const stoppedId = `rollback-emergency-prechecks-${tag}`;
    const g = await workflowFailure(
      env.client.workflow.execute('emergencyRollback', {
        taskQueue,
        workflowId: stoppedId,
        args: [{ ...base, type: 'application', target: GOOD }],
      }),
    );
    assert.equal(g.type, 'Conflict');
    assert.match(g.message, /pre-rollback checks failed.*not running.*nothing was changed/s);
    const c = await docker.getContainer(appName).inspect();
    assert.equal(c.Image, await imageId(BAD));
    assert.ok(c.State.StartedAt === startedAt);
    const events = (await env.client.workflow.getHandle(stoppedId).fetchHistory()).events ?? [];
    assert.equal(events.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes).length, 0);
    await w.kill();
  });

  it("emergency-rollback.sh database: 'latest' is the newest backup from before the emergency backup; qdrantDataRecovery restores it as a child pre-approved for an engineering manager", async () => {
    const taskQueue = uniqueQueue('emergency-dispatch-db');
    const collection = `em-db-${tag}`;
    const w = worker(taskQueue, 'dispatch-db', RUNBOOK_APPROVAL_POLICY);
    await w.ready;
    await seed(q.client, collection, 150, 8);
    await backup(taskQueue, collection, 'nightly');
    const good = await collectionChecksum(q.client, collection);
    await q.client.delete(collection, { wait: true, points: [1, 2, 3, 4, 5] });
    const appName = `em-db-${tag}`;
    apps.push(appName);
    const app = await startApp(appName, GOOD);
    const workflowId = `rollback-emergency-database-${appName}`;
    const r = (await env.client.workflow.execute('emergencyRollback', {
      taskQueue,
      workflowId,
      args: [
        {
          type: 'database',
          target: 'latest',
          containerName: appName,
          healthUrl: app.healthUrl,
          collection,
          watchSeconds: 0,
          reason: 'corrupted vectors',
          requestedBy: 'backup-eng',
        },
      ],
    })) as EmergencyRollbackResult;
    assert.equal(r.outcome, 'succeeded');
    const child = r.child.result as { restoredFrom?: { name: string }; approvals: Array<Record<string, string>> };
    assert.equal(r.child.workflowId, `rollback-database-${collection}`);
    assert.equal(child.restoredFrom?.name, 'nightly');
    assert.deepEqual(
      child.approvals.map((x) => [x.approver, x.role, x.via]),
      [[`backup-eng (emergency ${workflowId})`, 'engineering-manager', 'emergency']],
    );
    const now = await collectionChecksum(q.client, collection);
    assert.deepEqual([now.count, now.checksum], [good.count, good.checksum]);
    const emergency = JSON.parse(
      await readFile(join(backupRoot, collection, r.emergencyBackup, 'manifest.json'), 'utf8'),
    ) as BackupManifest;
    assert.equal(emergency.pointsCount, 145, 'the emergency backup holds what was there before the rollback');
    assert.equal(r.postCheck.healthy, true);
    await w.kill();
  });

  it('security breach: the restart with the new credentials fails — the service stays isolated (containers stopped, ports blocked in the namespace), the failure, the page and the report say so and what to do', async () => {
    const taskQueue = uniqueQueue('i9-breach-isolated');
    const collection = `i9-breach-iso-${tag}`;
    const w = worker(taskQueue, 'i9-breach-isolated');
    const own = await createNetns();
    try {
      await w.ready;
      await seed(q.client, collection, 60, 8);
      await backup(taskQueue, collection, 'fresh');
      // the env file also carries a broken setting: the container recreated from it answers 503
      const envFile = own.file('cortex.env', `${envText}CORTEX_HEALTH=unhealthy\n`);
      const appName = `i9-breach-iso-${tag}`;
      const writerName = `i9-breach-iso-writer-${tag}`;
      apps.push(appName, writerName);
      const [app] = await Promise.all([
        startApp(appName, GOOD, [`JWT_SECRET=${OLD.JWT_SECRET}`, `CORTEX_API_TOKEN=${OLD.CORTEX_API_TOKEN}`]),
        startApp(writerName, GOOD),
      ]);
      const oldId = (await docker.getContainer(appName).inspect()).Id;
      assert.ok(await own.healthy());
      const workflowId = `rollback-emergency-security-${appName}`;
      const f = await workflowFailure(
        env.client.workflow.execute('securityBreachEmergency', {
          taskQueue,
          workflowId,
          args: [
            {
              app: { containerName: appName, healthUrl: app.healthUrl, envFile, healthTimeoutSeconds: 5 },
              secretKeys: ['JWT_SECRET', 'CORTEX_API_TOKEN'],
              alsoStop: [writerName],
              ports: [SERVICE_PORT, 6333],
              netns: own.name,
              allowLoopback: false,
              reopenPorts: true,
              collection,
              reason: 'leaked API token',
              requestedBy: 'backup-eng',
            },
          ],
        }),
      );
      assert.equal(f.type, 'VerificationFailed');
      assert.match(f.message, /^audit failed: service-healthy .*not healthy\)\. Undone: remove the recreated/);
      assert.match(
        f.message,
        new RegExp(
          `The service is STILL ISOLATED \\(checked after the failure\\): ${appName}-pre-breach-\\w+, ${writerName} stopped, ports ${SERVICE_PORT}, 6333 blocked in ${own.name}\\. ` +
            `Secrets rotated and kept .*Qdrant restored\\. What to do: 1\\) keep it isolated .*never start '${appName}-pre-breach-\\w+'.*` +
            `recreate '${appName}'.*only then reopen the ports: ip netns exec ${own.name} iptables-restore \\S+\\.rules`,
        ),
      );
      const iso = (f.details?.[0] as { isolation: IsolationCheck }).isolation;
      assert.equal(iso.isolated, true);
      // and it is: every container of the run is stopped (the compromised one kept aside, the writer), the one
      // recreated with the new credentials is gone ...
      const left = (await docker.listContainers({ all: true })).filter((c) =>
        c.Names.some((n) => n.startsWith(`/${appName}`) || n === `/${writerName}`),
      );
      assert.deepEqual(
        left.map((c) => [c.Names[0]!.replace(/-pre-breach-\w+$/, '-pre-breach'), c.State, c.Id === oldId]).sort(),
        [
          [`/${appName}-pre-breach`, 'exited', true],
          [`/${writerName}`, 'exited', false],
        ],
      );
      assert.deepEqual(
        iso.containers.map((c) => [c.name.replace(/-pre-breach-\w+$/, '-pre-breach'), c.exists, c.running]),
        [
          [`${appName}-pre-breach`, true, false],
          [writerName, true, false],
          [appName, false, false],
        ],
      );
      // ... and in the namespace the service port answers no more: the isolation rules are still in INPUT
      assert.equal(await own.healthy(), false, 'the service port is still blocked in the namespace');
      const rules = await own.save();
      for (const port of [SERVICE_PORT, 6333])
        assert.match(
          rules,
          new RegExp(`-A INPUT -p tcp -m tcp --dport ${port} -m comment --comment cortex-emergency-isolation -j DROP`),
        );
      assert.notEqual(canonicalRules(rules).text, canonicalRules(BASELINE_RULES).text);
      // the old credentials are gone from the file; the audit never passed, so the ports were not reopened
      const now = await readFile(envFile, 'utf8');
      assert.ok(!now.includes(OLD.JWT_SECRET) && !now.includes(OLD.CORTEX_API_TOKEN));
      // the failure page says so, and so do the status and the report
      const slack = forWorkflow(SLACK_PATH, workflowId).map((r) => JSON.stringify(r.body));
      const failedPage = slack.filter((b) => b.includes('[failed]'));
      assert.equal(failedPage.length, 1, slack.join('\n'));
      assert.match(failedPage[0]!, /STILL ISOLATED.*What to do: 1\) keep it isolated/);
      const pd = forWorkflow(PAGERDUTY_PATH, workflowId).map((r) => JSON.stringify(r.body));
      assert.ok(
        pd.some((b) => /STILL ISOLATED/.test(b)),
        pd.join('\n'),
      );
      const cli = (...args: string[]) =>
        execa('node', [join(PROJECT_ROOT, 'client', 'bin.js'), ...args], {
          reject: false,
          env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: taskQueue },
        });
      const status = await cli('status', workflowId, '--json');
      assert.equal(status.exitCode, 0, status.stderr);
      const st = JSON.parse(status.stdout) as {
        phase: string;
        steps: { name: string; state: string; detail?: string }[];
      };
      assert.equal(st.phase, 'isolated');
      const check = st.steps.find((x) => x.name === 'verify-isolation');
      assert.equal(check?.state, 'completed');
      assert.match(
        check?.detail ?? '',
        new RegExp(`${writerName} stopped, ${appName} gone, ${SERVICE_PORT} blocked, 6333 blocked`),
      );
      const report = await cli('report', workflowId);
      assert.equal(report.exitCode, 0, report.stderr);
      assert.match(report.stdout, /\*\*Outcome\*\*: FAILED \(VerificationFailed\): .*STILL ISOLATED.*What to do:/);
      assert.match(report.stdout, /## Error\n.*STILL ISOLATED/);
      console.log(`security breach, failed restart, stays isolated; failure: ${f.message.length} chars`);
      await recordHistory('emergency-security-breach-failed-restart-isolated', workflowId, env.address);
    } finally {
      await w.kill();
      await own.close();
    }
  });

  it('security breach: no backup at most a day old — the restore fails after isolation and rotation; the service stays isolated, the failure says so and what is left to do', async () => {
    const taskQueue = uniqueQueue('i9-breach-nobackup');
    const collection = `i9-breach-old-${tag}`;
    const w = worker(taskQueue, 'i9-breach-nobackup');
    const own = await createNetns();
    try {
      await w.ready;
      await seed(q.client, collection, 30, 8);
      await backup(taskQueue, collection, 'last-week');
      await rewriteManifest(collection, 'last-week', (m) => {
        m.createdAt = new Date(Date.now() - 7 * 86400_000).toISOString();
      });
      const before = await collectionChecksum(q.client, collection);
      const envFile = own.file('cortex.env', envText);
      const appName = `i9-breach-old-${tag}`;
      apps.push(appName);
      const app = await startApp(appName, GOOD, [`JWT_SECRET=${OLD.JWT_SECRET}`]);
      const oldId = (await docker.getContainer(appName).inspect()).Id;
      const workflowId = `rollback-emergency-security-${appName}`;
      const f = await workflowFailure(
        env.client.workflow.execute('securityBreachEmergency', {
          taskQueue,
          workflowId,
          args: [
            {
              app: { containerName: appName, healthUrl: app.healthUrl, envFile },
              secretKeys: ['JWT_SECRET'],
              ports: [SERVICE_PORT],
              netns: own.name,
              allowLoopback: false,
              collection,
              reason: 'leaked API token',
              requestedBy: 'backup-eng',
            },
          ],
        }),
      );
      assert.equal(f.type, 'NotFound');
      assert.match(
        f.message,
        new RegExp(
          `^no backup of '${collection}' is at most 1 day\\(s\\) old \\(the newest, 'last-week', .*\\) \\(the restore changed nothing\\)\\. ` +
            `The service is STILL ISOLATED \\(checked after the failure\\): ${appName} stopped, ports ${SERVICE_PORT} blocked in ${own.name}\\. ` +
            `Secrets rotated and kept .*; Qdrant NOT restored\\. What to do: 1\\) keep it isolated .*never start '${appName}'.*` +
            `restore '${collection}' from a verified backup at most 24 h old; .*start the service with the credentials of ${envFile.replace(/[.]/g, '\\.')} \\(not from '${appName}'\\).*` +
            `only then reopen the ports: ip netns exec ${own.name} iptables-restore `,
        ),
      );
      const c = await docker.getContainer(appName).inspect();
      assert.deepEqual([c.Id, c.State.Running], [oldId, false]);
      assert.equal(await own.healthy(), false, 'the service port is still blocked in the namespace');
      assert.match(
        await own.save(),
        new RegExp(`--dport ${SERVICE_PORT} -m comment --comment cortex-emergency-isolation -j DROP`),
      );
      const after = await collectionChecksum(q.client, collection);
      assert.deepEqual([after.count, after.checksum], [before.count, before.checksum]);
      const failedPage = forWorkflow(SLACK_PATH, workflowId)
        .map((r) => JSON.stringify(r.body))
        .filter((b) => b.includes('[failed]'));
      assert.equal(failedPage.length, 1);
      assert.match(failedPage[0]!, /STILL ISOLATED/);
      await recordHistory('emergency-security-breach-no-backup-isolated', workflowId, env.address);
    } finally {
      await w.kill();
      await own.close();
    }
  });

  it('security breach: a container that cannot be stopped does not leave the ports open — the others stopped, the ports blocked, nothing rotated; the failure says what is isolated', async () => {
    const taskQueue = uniqueQueue('i9-breach-nostop');
    const w = worker(taskQueue, 'i9-breach-nostop');
    const own = await createNetns();
    try {
      await w.ready;
      const envFile = own.file('cortex.env', envText);
      const appName = `i9-breach-nostop-${tag}`;
      const missing = `i9-breach-nostop-gone-${tag}`;
      apps.push(appName);
      const app = await startApp(appName, GOOD);
      const workflowId = `rollback-emergency-security-${appName}`;
      const f = await workflowFailure(
        env.client.workflow.execute('securityBreachEmergency', {
          taskQueue,
          workflowId,
          args: [
            {
              app: { containerName: appName, healthUrl: app.healthUrl, envFile },
              secretKeys: ['JWT_SECRET'],
              alsoStop: [missing],
              ports: [SERVICE_PORT],
              netns: own.name,
              allowLoopback: false,
              collection: `i9-breach-nostop-${tag}`,
              reason: 'leaked API token',
              requestedBy: 'backup-eng',
            },
          ],
        }),
      );
      assert.equal(f.type, 'NotFound');
      assert.match(
        f.message,
        new RegExp(
          `^isolation incomplete, ports blocked but could not stop '${missing}' \\(container '${missing}' does not exist\\)\\. ` +
            `The service is STILL ISOLATED \\(checked after the failure\\): ${appName} stopped, ports ${SERVICE_PORT} blocked in ${own.name}\\. ` +
            `Secrets NOT rotated; Qdrant NOT restored\\. What to do: .*rotate JWT_SECRET in `,
        ),
      );
      assert.equal((await docker.getContainer(appName).inspect()).State.Running, false);
      assert.equal(await own.healthy(), false, 'the service port is blocked in the namespace');
      assert.equal(await readFile(envFile, 'utf8'), envText);
      await recordHistory('emergency-security-breach-stop-failed-ports-blocked', workflowId, env.address);
    } finally {
      await w.kill();
      await own.close();
    }
  });

  it('data corruption: no backup within 7 days — the stopped application and writer run again, nothing else changed', async () => {
    const taskQueue = uniqueQueue('emergency-nobackup');
    const collection = `em-old-${tag}`;
    const w = worker(taskQueue, 'emergency-nobackup');
    await w.ready;
    await seed(q.client, collection, 80, 8);
    await backup(taskQueue, collection, 'ancient');
    await rewriteManifest(collection, 'ancient', (m) => {
      m.createdAt = new Date(Date.now() - 10 * 86400_000).toISOString();
    });
    const before = await collectionChecksum(q.client, collection);
    const appName = `em-old-app-${tag}`;
    const writerName = `em-old-writer-${tag}`;
    apps.push(appName, writerName);
    const [app] = await Promise.all([startApp(appName, GOOD), startApp(writerName, GOOD)]);
    const startedAt = (await docker.getContainer(appName).inspect()).State.StartedAt;
    const f = await workflowFailure(
      env.client.workflow.execute('dataCorruptionEmergency', {
        taskQueue,
        workflowId: `rollback-emergency-${collection}`,
        args: [
          {
            collection,
            app: { containerName: appName, healthUrl: app.healthUrl },
            writers: [writerName],
            reason: 'corruption',
            requestedBy: 'oncall-eng',
          },
        ],
      }),
    );
    assert.equal(f.type, 'NotFound');
    assert.match(f.message, /at most 7 day.*'ancient'.*Restored: the stopped containers run again/s);
    for (const name of [appName, writerName]) {
      const c = await docker.getContainer(name).inspect();
      assert.equal(c.State.Running, true, `${name} runs again`);
    }
    assert.ok((await docker.getContainer(appName).inspect()).State.StartedAt > startedAt, 'it had been stopped');
    const after = await collectionChecksum(q.client, collection);
    assert.deepEqual([after.count, after.checksum], [before.count, before.checksum]);
    assert.deepEqual(await readdir(join(backupRoot, collection)), ['ancient']);
    await w.kill();
  });
  /** A collection with a known-good backup then corrupted, and a running application writing to it. */
  async function corrupted(taskQueue: string, name: string) {
    const collection = `em-${name}-${tag}`;
    await seed(q.client, collection, 120, 8);
    await backup(taskQueue, collection, 'good');
    const good = await collectionChecksum(q.client, collection);
    await q.client.delete(collection, { wait: true, points: Array.from({ length: 40 }, (_, i) => i + 1) });
    await seed(q.client, collection, 10, 8, 9000);
    const corrupt = await collectionChecksum(q.client, collection);
    const appName = `em-${name}-app-${tag}`;
    apps.push(appName);
    const app = await startApp(appName, GOOD);
    const startedAt = (await docker.getContainer(appName).inspect()).State.StartedAt;
    return { collection, good, corrupt, appName, app, startedAt };
  }

  /** The committed policy with only the emergency windows shortened (5 s, then 10 s escalated): for waits that time out. */
  async function shortEmergencyWindows(): Promise<string> {
    const p = JSON.parse(await readFile(RUNBOOK_APPROVAL_POLICY, 'utf8')) as {
      types: { emergency: { windowMinutes: number; escalation: { windowMinutes: number } } };
    };
    p.types.emergency.windowMinutes = 5 / 60;
    p.types.emergency.escalation.windowMinutes = 10 / 60;
    const path = join(q.tmp, 'approval-policy.short-emergency-windows.json');
    await writeFile(path, JSON.stringify(p, null, 2));
    return path;
  }

  it('data corruption under the committed policy: the requester, a roster engineer, acknowledges and the restore runs at once (no approval wait, no four eyes)', async () => {
    const taskQueue = uniqueQueue('emergency-policy-ack');
    const w = worker(taskQueue, 'emergency-policy-ack', RUNBOOK_APPROVAL_POLICY);
    await w.ready;
    const c = await corrupted(taskQueue, 'ack');
    const workflowId = `rollback-emergency-${c.collection}`;
    const started = Date.now();
    const r = (await env.client.workflow.execute('dataCorruptionEmergency', {
      taskQueue,
      workflowId,
      args: [
        {
          collection: c.collection,
          app: { containerName: c.appName, healthUrl: c.app.healthUrl },
          reason: 'corrupted memories reported',
          requestedBy: 'oncall-eng',
          monitor: { durationSeconds: 0 },
        },
      ],
    })) as DataCorruptionResult;
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.restoredFrom?.name, 'good');
    const now = await collectionChecksum(q.client, c.collection);
    assert.deepEqual([now.count, now.checksum], [c.good.count, c.good.checksum]);
    assert.deepEqual(
      r.approvals.map((a) => [a.decision, a.approver, a.role, a.via]),
      [['approved', 'oncall-eng', 'engineer', 'acknowledgement']],
    );
    const approval = r.timeline.find((t) => t.name === 'approval');
    assert.ok(approval?.endedAt, 'the approval step ended');
    const waitedMs = Date.parse(approval.endedAt) - Date.parse(approval.startedAt);
    assert.ok(waitedMs < 5000, `the approval step took ${waitedMs} ms: nothing waited`);
    const state = await docker.getContainer(c.appName).inspect();
    assert.equal(state.State.Running, true);
    assert.ok(state.State.StartedAt > c.startedAt, 'stopped for the restore, then started');
    // the history holds the run's policy and nothing asked anyone to approve
    const [loaded] = await activityRuns(env.client.workflow.getHandle(workflowId), 'loadApprovalPolicy');
    assert.equal((loaded?.result as { path: string }).path, RUNBOOK_APPROVAL_POLICY);
    const posts = forWorkflow(SLACK_PATH, workflowId).map((p) => String(p.body.text));
    assert.ok(!posts.some((p) => /needs approval|acknowledgement by an engineer/.test(p)), posts.join('\n'));
    assert.match(posts.at(-1) ?? '', /data corruption.*completed/);
    console.log(`data corruption under the committed policy, acknowledged at once: ${seconds.toFixed(1)} s`);
    await w.kill();
  });

  it('data corruption under the committed policy: a requester outside the roster waits for a roster engineer, who acknowledges through the update; then it restores', async () => {
    const taskQueue = uniqueQueue('emergency-policy-wait');
    const w = worker(taskQueue, 'emergency-policy-wait', RUNBOOK_APPROVAL_POLICY);
    await w.ready;
    const c = await corrupted(taskQueue, 'wait');
    const workflowId = `rollback-emergency-${c.collection}`;
    const h = await env.client.workflow.start('dataCorruptionEmergency', {
      taskQueue,
      workflowId,
      args: [
        {
          collection: c.collection,
          app: { containerName: c.appName, healthUrl: c.app.healthUrl },
          reason: 'corrupted memories reported',
          requestedBy: 'dave',
          monitor: { durationSeconds: 0 },
        },
      ],
    });
    let s = await h.query(statusQuery);
    for (let i = 0; i < 300 && !s.pendingApproval?.approverRoles; i++) {
      await new Promise((res) => setTimeout(res, 100));
      s = await h.query(statusQuery);
    }
    assert.equal(s.pendingApproval?.mode, 'acknowledge');
    assert.deepEqual(
      s.approvals.map((a) => [a.decision, a.approver, a.via]),
      [['refused', 'dave', 'acknowledgement']],
    );
    assert.match(s.approvals[0]!.refusal ?? '', /'dave' is not in the approval roster/);
    assert.equal((await docker.getContainer(c.appName).inspect()).State.Running, false, 'stopped first');
    const record = await h.executeUpdate(decideUpdate, {
      args: [{ decision: 'approve', approver: 'backup-eng', role: 'engineer', comment: 'ack' }],
    });
    assert.equal(record.via, 'update');
    const r = (await h.result()) as DataCorruptionResult;
    assert.equal(r.outcome, 'succeeded');
    const now = await collectionChecksum(q.client, c.collection);
    assert.deepEqual([now.count, now.checksum], [c.good.count, c.good.checksum]);
    assert.equal((await docker.getContainer(c.appName).inspect()).State.Running, true);
    await w.kill();
  });

  it('data corruption, committed policy with short emergency windows (5 s + 10 s): nobody of the roster acknowledges — the app runs again, nothing restored, the run FAILS NotApproved and says so', async () => {
    const taskQueue = uniqueQueue('emergency-policy-none');
    const policy = await shortEmergencyWindows();
    const w = worker(taskQueue, 'emergency-policy-none', policy);
    await w.ready;
    const c = await corrupted(taskQueue, 'none');
    const workflowId = `rollback-emergency-${c.collection}`;
    const started = Date.now();
    const f = await workflowFailure(
      env.client.workflow.execute('dataCorruptionEmergency', {
        taskQueue,
        workflowId,
        args: [
          {
            collection: c.collection,
            app: { containerName: c.appName, healthUrl: c.app.healthUrl },
            reason: 'corrupted memories reported',
            requestedBy: 'dave',
            monitor: { durationSeconds: 0 },
          },
        ],
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    assert.equal(f.type, 'NotApproved');
    assert.match(
      f.message,
      /no engineer of the approval roster acknowledged the emergency restore of '.*' within 15s \(the acknowledgement by 'dave' did not count: 'dave' is not in the approval roster.*\): nothing was restored\. Restored: the stopped containers run again/,
    );
    // nothing restored: the collection is as the corruption left it; the application was stopped and runs again
    const now = await collectionChecksum(q.client, c.collection);
    assert.deepEqual([now.count, now.checksum], [c.corrupt.count, c.corrupt.checksum]);
    const state = await docker.getContainer(c.appName).inspect();
    assert.equal(state.State.Running, true, 'the application runs again');
    assert.ok(state.State.StartedAt > c.startedAt, 'it had been stopped');
    assert.deepEqual(await activityRuns(env.client.workflow.getHandle(workflowId), 'qdrantRestoreBackup'), []);
    const posts = forWorkflow(SLACK_PATH, workflowId).map((p) => String(p.body.text));
    assert.ok(!posts.some((p) => /data corruption.*completed/.test(p)), `no success post:\n${posts.join('\n')}`);
    assert.match(posts.at(-1) ?? '', /data corruption.*FAILED: no engineer of the approval roster acknowledged/);
    const s = await env.client.workflow.getHandle(workflowId).query(statusQuery);
    assert.equal(s.phase, 'rolled-back-to-previous');
    console.log(`data corruption, unacknowledged (short windows): failed after ${seconds.toFixed(1)} s`);
    await w.kill();
  });
  it('security breach, committed policy with short emergency windows (5 s + 10 s): a requester outside the roster and nobody acknowledging — the restore does not run, the service stays isolated, the failure says Qdrant NOT restored', async () => {
    const taskQueue = uniqueQueue('breach-policy-none');
    const collection = `breach-none-${tag}`;
    const w = worker(taskQueue, 'breach-policy-none', await shortEmergencyWindows());
    const own = await createNetns();
    try {
      await w.ready;
      await seed(q.client, collection, 30, 8);
      await backup(taskQueue, collection, 'fresh');
      await q.client.delete(collection, { wait: true, points: [1, 2, 3] });
      const before = await collectionChecksum(q.client, collection);
      const envFile = own.file('cortex.env', envText);
      const appName = `breach-none-${tag}`;
      apps.push(appName);
      const app = await startApp(appName, GOOD, [`JWT_SECRET=${OLD.JWT_SECRET}`]);
      const oldId = (await docker.getContainer(appName).inspect()).Id;
      const workflowId = `rollback-emergency-security-${appName}`;
      const f = await workflowFailure(
        env.client.workflow.execute('securityBreachEmergency', {
          taskQueue,
          workflowId,
          args: [
            {
              app: { containerName: appName, healthUrl: app.healthUrl, envFile },
              secretKeys: ['JWT_SECRET'],
              ports: [SERVICE_PORT],
              netns: own.name,
              allowLoopback: false,
              collection,
              reason: 'leaked API token',
              requestedBy: 'eve',
            },
          ],
        }),
      );
      assert.equal(f.type, 'NotApproved');
      assert.match(
        f.message,
        new RegExp(
          `^no engineer of the approval roster acknowledged the emergency restore of '${collection}' within 15s \\(the acknowledgement by 'eve' did not count: .*\\): nothing was restored\\. ` +
            `The service is STILL ISOLATED \\(checked after the failure\\): ${appName} stopped, ports ${SERVICE_PORT} blocked in ${own.name}\\. ` +
            `Secrets rotated and kept .*; Qdrant NOT restored\\. What to do: `,
        ),
      );
      assert.doesNotMatch(f.message, /Qdrant restored/);
      // nothing restored, the compromised container kept as it was (stopped), the port still blocked
      const after = await collectionChecksum(q.client, collection);
      assert.deepEqual([after.count, after.checksum], [before.count, before.checksum]);
      assert.deepEqual(await activityRuns(env.client.workflow.getHandle(workflowId), 'qdrantRestoreBackup'), []);
      const c = await docker.getContainer(appName).inspect();
      assert.deepEqual([c.Id, c.State.Running], [oldId, false]);
      assert.equal(await own.healthy(), false, 'the service port is still blocked in the namespace');
      const posts = forWorkflow(SLACK_PATH, workflowId).map((r) => JSON.stringify(r.body));
      assert.ok(!posts.some((b) => b.includes('[succeeded]')), posts.join('\n'));
      assert.equal(posts.filter((b) => b.includes('[failed]')).length, 1);
    } finally {
      await w.kill();
      await own.close();
    }
  });
  it('emergency-rollback.sh under the committed policy, requested by someone outside the roster: the child does not run at once; it waits for its own approval, a roster on-call engineer approves it through the update, then the rollback and the post-check run', async () => {
    const taskQueue = uniqueQueue('emergency-dispatch-off-roster');
    const collection = `em-off-${tag}`;
    const w = worker(taskQueue, 'dispatch-off-roster', RUNBOOK_APPROVAL_POLICY);
    await w.ready;
    await seed(q.client, collection, 20, 8);
    const appName = `em-off-${tag}`;
    apps.push(appName);
    const app = await startApp(appName, BAD);
    const workflowId = `rollback-emergency-application-${appName}`;
    const handle = await env.client.workflow.start('emergencyRollback', {
      taskQueue,
      workflowId,
      args: [
        {
          type: 'application',
          target: GOOD,
          containerName: appName,
          healthUrl: app.healthUrl,
          collection,
          watchSeconds: 0,
          reason: 'v2.1.0 fails /health',
          requestedBy: 'frank',
        },
      ],
    });
    const child = env.client.workflow.getHandle(`rollback-docker-${appName}`);
    let s: RollbackStatus | undefined;
    for (let i = 0; i < 300; i++) {
      s = await child.query(statusQuery).catch(() => undefined);
      if (s?.pendingApproval?.approverRoles) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.deepEqual(
      s?.approvals.map((x) => [x.decision, x.approver, x.via]),
      [['refused', `frank (emergency ${workflowId})`, 'emergency']],
    );
    assert.match(s?.approvals[0]?.refusal ?? '', /'frank' is not in the approval roster/);
    assert.equal((await docker.getContainer(appName).inspect()).Image, await imageId(BAD), 'nothing changed yet');
    await child.executeUpdate(decideUpdate, {
      args: [{ decision: 'approve', approver: 'oncall-eng', role: 'on-call-engineer', comment: 'ack' }],
    });
    const r = (await handle.result()) as EmergencyRollbackResult;
    assert.equal(r.outcome, 'succeeded');
    assert.equal((await docker.getContainer(appName).inspect()).Image, await imageId(GOOD));
    await w.kill();
  });
});
