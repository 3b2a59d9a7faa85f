// Acceptance tests of the runbook's Database Rollback section (and the backups its checklist needs): every scenario
// started exactly as the README tells an operator — `cortex-rollback start <scenario> …` (the project CLI, run as
// `node --import tsx client/cli.ts`) and the plain `temporal workflow start --input '<json>'` — under the committed
// approval policy (config/approval-policy.json): devops-lead requests, may not approve their own rollback (four
// eyes), a tech lead may not approve a database rollback before escalation, the roster's engineering manager
// approves through `cortex-rollback approve` (the decide update) or `temporal workflow signal --name approve`.
// Afterwards the real system is checked: Qdrant's exact point counts, whole-collection checksums (ids, payloads,
// vectors), aliases and collection settings, the backup files and the application container. The only departures
// from the README's commands: the task queue is the test's own, and a recovery with an application watches it for
// 2 s instead of the default 30 min (the test names say so).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { BackupManifest } from '../../activities/qdrant.ts';
import type { QdrantRecoveryResult } from '../../workflows/database/data-recovery.ts';
import type { QdrantSchemaRollbackResult } from '../../workflows/database/schema.ts';
import type { RollbackStatus } from '../../workflows/phases/progress.ts';
import { docker, ensureImages, GOOD, health, removeByPrefix, startApp } from '../helpers/docker.ts';
import { embedText } from '../helpers/embeddings.ts';
import { collectionChecksum, count, seed, type TestQdrant } from '../helpers/qdrant.ts';
import { startQdrantWorld, type QdrantWorld } from '../helpers/qdrant-world.ts';
import { assertExit0, decisions, operator, type Operator } from '../helpers/operator.ts';
import { APPROVER, REQUESTER, RUNBOOK_APPROVAL_POLICY } from '../helpers/temporal.ts';

const EM = APPROVER.database;

describe('acceptance: Database Rollback, as the README starts and approves it, under the committed policy', () => {
  let env: TestWorkflowEnvironment;
  let q: TestQdrant;
  let world: QdrantWorld;
  let taskQueue: string;
  let backupRoot: string;
  const apps: string[] = [];

  before(async () => {
    await ensureImages();
    world = await startQdrantWorld({ queue: 'acceptance-db', embedderSize: 4 });
    ({ env, q, taskQueue, backupRoot } = world);
  });
  after(async () => {
    for (const a of apps) await removeByPrefix(a);
    await world?.stop();
  });

  let cli: Operator['cli'];
  let temporal: Operator['temporal'];
  let temporalStart: Operator['temporalStart'];
  let temporalSignal: Operator['temporalSignal'];
  let awaitingApproval: Operator['awaitingApproval'];
  before(() => {
    ({ cli, temporal, temporalStart, temporalSignal, awaitingApproval } = operator(env, taskQueue));
  });
  const ok = assertExit0;

  /** What the committed policy asks of a database rollback, as the status shows it while it waits. */
  function assertDatabaseGate(s: RollbackStatus): void {
    assert.equal(s.approvalPolicy?.path, RUNBOOK_APPROVAL_POLICY, 'the committed policy decides');
    assert.deepEqual(s.pendingApproval?.approverRoles, [
      'engineering-manager',
      'director-of-engineering',
      'vp-engineering',
    ]);
    assert.equal(s.pendingApproval?.contact, '@eng-manager');
    assert.equal(s.approvalPolicy?.rules.windowSeconds, 30 * 60, "the runbook's first window for a database rollback");
    assert.match(s.approvalPolicy?.rules.impactRuleApplied ?? '', /expected impact 120 min > 60 min/);
  }

  /**
   * The README's approval through our CLI: the requester's own approval and a tech lead's are refused (exit 2,
   * the reason printed, nothing recorded), the engineering manager's counts.
   */
  async function approveFromCli(workflowId: string): Promise<void> {
    // the refusals change nothing, so they run side by side (a CLI start-up takes seconds on a loaded machine)
    const [self, lead] = await Promise.all([
      cli('approve', workflowId, '--approver', REQUESTER, '--role', 'engineer'),
      cli('approve', workflowId, '--approver', 'tech-lead', '--role', 'tech-lead'),
    ]);
    assert.equal(self.exitCode, 2, String(self.stdout));
    assert.match(String(self.stderr), /requested this rollback and may not decide it \(four eyes\)/);
    assert.equal(lead.exitCode, 2, String(lead.stdout));
    assert.match(String(lead.stderr), /role 'tech-lead' may not decide a database rollback/);
    ok(await cli('approve', workflowId, '--approver', EM.approver, '--role', EM.role, '--comment', 'go'), 'approve');
  }

  /** Setup (the backup scenario itself is tested on its own): a backup taken through the client. */
  const backup = (collection: string, backupName: string) =>
    env.client.workflow.execute('qdrantBackup', {
      taskQueue,
      workflowId: `backup-qdrant-${collection}-${backupName}`,
      args: [{ collection, backupName }],
    });

  /** The README's approval through the temporal CLI: the requester's signal is recorded as refused. */
  async function approveFromTemporal(workflowId: string): Promise<void> {
    await temporalSignal(workflowId, 'approve', { approver: REQUESTER, role: 'engineer' });
    await temporalSignal(workflowId, 'approve', { approver: EM.approver, role: EM.role });
  }

  /** A collection of `n` points with a backup 'good' of it, then corrupted: 50 points lost, 20 junk written. */
  async function corrupted(collection: string, n: number) {
    await seed(q.client, collection, n, 8);
    await backup(collection, 'good');
    const good = await collectionChecksum(q.client, collection);
    await q.client.delete(collection, { wait: true, points: Array.from({ length: 50 }, (_, i) => i + 1) });
    await seed(q.client, collection, 20, 8, 90_000);
    assert.equal(await count(q.client, collection), n - 30);
    return good;
  }

  const app = async (tag: string) => {
    const name = `cortex-mcp-acc-${tag}-${Date.now().toString(36)}`;
    apps.push(name);
    const a = await startApp(name, GOOD);
    return { ...a, name, startedAt: (await docker.getContainer(name).inspect()).State.StartedAt };
  };
  async function assertRestarted(a: { name: string; healthUrl: string; startedAt: string }) {
    const c = await docker.getContainer(a.name).inspect();
    assert.equal(c.State.Running, true);
    assert.ok(c.State.FinishedAt > a.startedAt, 'the application was stopped for the restore');
    assert.ok(c.State.StartedAt > c.State.FinishedAt, 'and started again after it');
    assert.equal((await health(a.healthUrl)).status, 200);
  }

  it('qdrant-backup: `cortex-rollback start qdrant-backup` and `start qdrant-verify`, and `temporal workflow start --type qdrantBackup`: the manifest holds the exact count and the file its checksum', async () => {
    const c = 'acc-backup';
    await seed(q.client, c, 700, 8);
    const r = await cli('start', 'qdrant-backup', '--collection', c, '--backup-name', 'manual-1', '--wait', '--json');
    ok(r, 'backup');
    const out = JSON.parse(String(r.stdout)) as { ok: boolean; result: { manifest: BackupManifest } };
    assert.equal(out.result.manifest.pointsCount, 700);
    const dir = join(backupRoot, c, 'manual-1');
    const onDisk = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as BackupManifest;
    assert.equal(onDisk.pointsCount, 700);
    const bytes = await readFile(join(dir, onDisk.snapshotFile));
    assert.equal(createHash('sha256').update(bytes).digest('hex'), onDisk.checksum);
    ok(await cli('start', 'qdrant-verify', '--collection', c, '--wait'), 'verify');

    await seed(q.client, c, 50, 8, 10_000);
    const workflowId = `backup-qdrant-${c}`;
    await temporalStart('qdrantBackup', workflowId, { collection: c, backupName: 'manual-2' });
    const shown = await temporal('workflow', 'result', '--workflow-id', workflowId, '-o', 'json');
    ok(shown, 'temporal workflow result');
    const second = JSON.parse(
      await readFile(join(backupRoot, c, 'manual-2', 'manifest.json'), 'utf8'),
    ) as BackupManifest;
    assert.equal(second.pointsCount, 750);
  });

  it('qdrant-data-recovery from `cortex-rollback start qdrant-recovery … --wait` approved by `cortex-rollback approve` (a 2 s watch): the backup restored exactly, the application restarted', async () => {
    const c = 'acc-recover-cli';
    const good = await corrupted(c, 400);
    const a = await app('cli');
    const workflowId = `rollback-database-${c}`;
    const started = cli(
      'start',
      'qdrant-recovery', // docs/database.md's spelling (the old name of qdrant-data-recovery); backup: latest
      '--collection',
      c,
      '--app-container',
      a.name,
      '--app-health-url',
      a.healthUrl,
      '--watch-seconds',
      '2',
      '--interval',
      '1',
      '--reason',
      'corruption',
      '--requested-by',
      REQUESTER,
      '--wait',
      '--json',
    );
    const s = await awaitingApproval(workflowId);
    assertDatabaseGate(s);
    assert.equal(await count(q.client, c), 370, 'nothing restored before the approval');
    await approveFromCli(workflowId);
    const r = await started;
    ok(r, 'start --wait');
    const res = (JSON.parse(String(r.stdout)) as { result: QdrantRecoveryResult }).result;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(decisions(res), [['approved', EM.approver, 'update']]);
    assert.equal(res.restoredFrom?.name, 'good');
    assert.equal(await count(q.client, c), 400);
    assert.deepEqual(await collectionChecksum(q.client, c), good, "exactly the backup's points, payloads, vectors");
    const pre = JSON.parse(
      await readFile(join(backupRoot, c, res.preRollbackBackup!, 'manifest.json'), 'utf8'),
    ) as BackupManifest;
    assert.equal(pre.pointsCount, 370, 'what the restore replaced is kept');
    assert.equal((await readFile(res.emergencyExport!.path, 'utf8')).trim().split('\n').length, 370);
    await assertRestarted(a);
  });

  it('qdrant-data-recovery from `temporal workflow start --input` approved by `temporal workflow signal` (a 2 s watch): the requester’s own signal refused, the backup restored', async () => {
    const c = 'acc-recover-temporal';
    const good = await corrupted(c, 300);
    const a = await app('tmp');
    const workflowId = `rollback-database-${c}`;
    await temporalStart('qdrantDataRecovery', workflowId, {
      collection: c,
      backup: 'latest',
      app: { containerName: a.name, healthUrl: a.healthUrl },
      monitor: { durationSeconds: 2, intervalSeconds: 1 },
      reason: 'corruption',
      requestedBy: REQUESTER,
    });
    assertDatabaseGate(await awaitingApproval(workflowId));
    assert.equal(await count(q.client, c), 270);
    await approveFromTemporal(workflowId);
    const res = (await env.client.workflow.getHandle(workflowId).result()) as QdrantRecoveryResult;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(decisions(res), [
      ['refused', REQUESTER, 'signal'],
      ['approved', EM.approver, 'signal'],
    ]);
    assert.match(res.approvals[0]!.refusal ?? '', /four eyes/);
    assert.deepEqual(await collectionChecksum(q.client, c), good);
    await assertRestarted(a);
  });

  /** An alias 'alias' → collection '<alias>-v8' of n points, with settings and a payload index of its own. */
  async function aliasedCollection(alias: string, n: number): Promise<string> {
    const source = `${alias}-v8`;
    await q.client.createCollection(source, {
      vectors: { size: 8, distance: 'Cosine' },
      hnsw_config: { m: 20, ef_construct: 150 },
      optimizers_config: { indexing_threshold: 15000 },
      on_disk_payload: true,
    });
    await q.client.createPayloadIndex(source, { field_name: 'kind', field_schema: 'keyword', wait: true });
    await seed(q.client, source, n, 8);
    await q.client.updateCollectionAliases({
      actions: [{ create_alias: { alias_name: alias, collection_name: source } }],
    });
    return source;
  }
  async function assertSettingsCarried(collection: string, vectors: { size: number; distance: string }) {
    const info = await q.client.getCollection(collection);
    const v = info.config.params.vectors as { size: number; distance: string };
    assert.deepEqual({ size: v.size, distance: v.distance }, vectors);
    assert.equal(info.config.hnsw_config.m, 20);
    assert.equal(info.config.hnsw_config.ef_construct, 150);
    assert.equal(info.config.optimizer_config.indexing_threshold, 15000);
    assert.equal(info.config.params.on_disk_payload, true);
    assert.equal(info.payload_schema.kind?.data_type, 'keyword', 'the payload index is rebuilt');
  }
  const aliasTarget = async (alias: string) =>
    (await q.client.getAliases()).aliases.find((x) => x.alias_name === alias)?.collection_name;

  it('qdrant-schema from `cortex-rollback start qdrant-schema --size 4 --reembed-field content`, approved by `cortex-rollback approve`: the alias switched to a 4-dim re-embedded copy with the same settings', async () => {
    const alias = 'acc-schema-cli';
    const source = await aliasedCollection(alias, 250);
    const workflowId = `rollback-database-${alias}`;
    const started = cli(
      'start',
      'qdrant-schema',
      '--collection',
      alias,
      '--size',
      '4',
      '--reembed-field',
      'content',
      '--reason',
      'back to the small model',
      '--requested-by',
      REQUESTER,
      '--wait',
      '--json',
    );
    assertDatabaseGate(await awaitingApproval(workflowId));
    assert.equal(await aliasTarget(alias), source, 'nothing switched before the approval');
    await approveFromCli(workflowId);
    const r = await started;
    ok(r, 'start --wait');
    const res = (JSON.parse(String(r.stdout)) as { result: QdrantSchemaRollbackResult }).result;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(decisions(res), [['approved', EM.approver, 'update']]);
    const now = await aliasTarget(alias);
    assert.equal(now, res.to.collection);
    assert.notEqual(now, source);
    assert.equal(await count(q.client, alias), 250);
    assert.equal(await count(q.client, source), 250, 'the old collection is kept');
    await assertSettingsCarried(now, { size: 4, distance: 'Cosine' });
    const { points } = await q.client.scroll(now, { limit: 1000, with_payload: true, with_vector: true });
    assert.equal(points.length, 250);
    for (const p of points) {
      const want = embedText(String(p.payload?.content), 4);
      (p.vector as number[]).forEach((x, i) => assert.ok(Math.abs(x - want[i]!) < 1e-6, `point ${String(p.id)}`));
    }
  });

  it('qdrant-schema from `temporal workflow start --input` (distance back to Dot), approved by `temporal workflow signal`: every point copied unchanged, settings carried', async () => {
    const alias = 'acc-schema-temporal';
    const source = await aliasedCollection(alias, 180);
    const before = await collectionChecksum(q.client, alias);
    const workflowId = `rollback-database-${alias}`;
    await temporalStart('qdrantSchemaRollback', workflowId, {
      collection: alias,
      target: { size: 8, distance: 'Dot' },
      reason: 'distance change was a mistake',
      requestedBy: REQUESTER,
    });
    assertDatabaseGate(await awaitingApproval(workflowId));
    await approveFromTemporal(workflowId);
    const res = (await env.client.workflow.getHandle(workflowId).result()) as QdrantSchemaRollbackResult;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(decisions(res), [
      ['refused', REQUESTER, 'signal'],
      ['approved', EM.approver, 'signal'],
    ]);
    const now = await aliasTarget(alias);
    assert.notEqual(now, source);
    await assertSettingsCarried(now!, { size: 8, distance: 'Dot' });
    assert.deepEqual(await collectionChecksum(q.client, alias), before, 'the same points, payloads and vectors');
  });

  /** A collection with a backup pit-1, a time T after it, then more writes and a backup pit-2 after T. */
  async function twoBackupsAroundT(c: string) {
    await seed(q.client, c, 150, 8);
    await backup(c, 'pit-1');
    const atFirst = await collectionChecksum(q.client, c);
    await new Promise((r) => setTimeout(r, 1100));
    const t = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await seed(q.client, c, 100, 8, 1000);
    await backup(c, 'pit-2');
    await seed(q.client, c, 7, 8, 5000);
    return { atFirst, t };
  }

  it('qdrant-point-in-time from `cortex-rollback start qdrant-point-in-time --at T`, approved by `cortex-rollback approve`: the newest backup at or before T restored', async () => {
    const c = 'acc-pit-cli';
    const { atFirst, t } = await twoBackupsAroundT(c);
    const workflowId = `rollback-database-${c}`;
    const started = cli(
      'start',
      'qdrant-point-in-time',
      '--collection',
      c,
      '--at',
      t,
      '--reason',
      'bad import after the first backup',
      '--requested-by',
      REQUESTER,
      '--wait',
      '--json',
    );
    assertDatabaseGate(await awaitingApproval(workflowId));
    assert.equal(await count(q.client, c), 257);
    await approveFromCli(workflowId);
    const r = await started;
    ok(r, 'start --wait');
    const res = (JSON.parse(String(r.stdout)) as { result: QdrantRecoveryResult }).result;
    assert.equal(res.outcome, 'succeeded');
    assert.equal(res.restoredFrom?.name, 'pit-1');
    assert.equal(await count(q.client, c), 150);
    assert.deepEqual(await collectionChecksum(q.client, c), atFirst);
  });

  it('qdrant-point-in-time from `temporal workflow start --type pointInTimeRecovery --input`, approved by `temporal workflow signal`: the state at T is back', async () => {
    const c = 'acc-pit-temporal';
    const { atFirst, t } = await twoBackupsAroundT(c);
    const workflowId = `rollback-database-${c}`;
    await temporalStart('pointInTimeRecovery', workflowId, {
      collection: c,
      atOrBefore: t,
      reason: 'bad import after the first backup',
      requestedBy: REQUESTER,
    });
    assertDatabaseGate(await awaitingApproval(workflowId));
    await approveFromTemporal(workflowId);
    const res = (await env.client.workflow.getHandle(workflowId).result()) as QdrantRecoveryResult;
    assert.equal(res.outcome, 'succeeded');
    assert.deepEqual(decisions(res), [
      ['refused', REQUESTER, 'signal'],
      ['approved', EM.approver, 'signal'],
    ]);
    assert.equal(res.restoredFrom?.name, 'pit-1');
    assert.deepEqual(await collectionChecksum(q.client, c), atFirst);
  });
});
