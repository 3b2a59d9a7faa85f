// Owns the matrix's rows: each workflow set up from scratch for one run (pre-approved, so it runs unattended), and
// the consistency check after it. The check is exact: a completed run must have reached the target state, any
// other ending must have left the state as it was before (compensated, or failed before changing anything), and
// every side effect happened once — one new container, no duplicated points, one backup dir per backup, no
// server-side snapshot left behind.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_ID_LABEL } from '../../activities/docker.ts';
import type { BackupManifest } from '../../activities/qdrant.ts';
import { BAD, containersNamed, docker, GOOD, imageId, removeByPrefix, startApp } from '../../test/helpers/docker.ts';
import { BASELINE_RULES, createNetns, SERVICE_PORT, type Netns } from '../../test/helpers/netns.ts';
import { aliasMap, collectionChecksum, collectionNames, seed } from '../../test/helpers/qdrant.ts';
import { common, EM, expect, healthStatus, ONCALL, type Ctx, type FaultHook, type Run, type Scenario } from './row.ts';
import type { FaultHandle, FaultRule } from '../../test/helpers/qdrant-fault-proxy.ts';

import { envFileRow } from './rows/env-file.ts';
import { systemServiceRow } from './rows/system-service.ts';
import { terraformRow } from './rows/terraform.ts';
import { networkRow } from './rows/network.ts';
import { dockerNetworkRow } from './rows/docker-network.ts';
import { kubernetesRow } from './rows/kubernetes.ts';
import { fleetRow } from './rows/fleet.ts';
import { guardRow } from './rows/guard.ts';

export type { Ctx, Ending, FaultHook, Run, Scenario } from './row.ts';

const DIM = 8;
const POINTS = 400;

// ---------------------------------------------------------------- shared checks

async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

async function entries(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

/** Backup dirs of a collection (not the emergency-export folder). */
async function backupDirs(ctx: Ctx, collection: string): Promise<string[]> {
  return (await entries(join(ctx.backupRoot, collection))).filter((n) => n !== '_exports');
}

/** A backup dir holds its manifest and its snapshot file, nothing half-written, and the file matches. */
async function checkBackupDir(ctx: Ctx, collection: string, name: string, points?: number): Promise<string[]> {
  const problems: string[] = [];
  const dir = join(ctx.backupRoot, collection, name);
  const files = await entries(dir);
  const manifest = JSON.parse(
    await readFile(join(dir, 'manifest.json'), 'utf8').catch(() => 'null'),
  ) as BackupManifest | null;
  if (!manifest) return [`backup ${name}: no manifest (files: ${files.join(', ')})`];
  expect(
    problems,
    files.length === 2 && files.includes(manifest.snapshotFile),
    `backup ${name}: expected manifest + snapshot, found ${files.join(', ')}`,
  );
  const file = join(dir, manifest.snapshotFile);
  const sum = await sha256File(file).catch(() => 'missing');
  expect(problems, sum === manifest.checksum, `backup ${name}: snapshot sha256 ${sum.slice(0, 12)} ≠ manifest`);
  if (points !== undefined)
    expect(problems, manifest.pointsCount === points, `backup ${name}: ${manifest.pointsCount} points, want ${points}`);
  return problems;
}

/**
 * Server-side snapshots a run may leave: Qdrant keeps an uploaded snapshot (a restore) in the collection's
 * snapshots folder, so after a restore the backup's own file is there; any other snapshot was created by a backup
 * step and not deleted.
 */
async function strayServerSnapshots(ctx: Ctx, collection: string): Promise<string[]> {
  const restorable = new Set<string>();
  for (const d of await backupDirs(ctx, collection)) {
    const m = JSON.parse(
      await readFile(join(ctx.backupRoot, collection, d, 'manifest.json'), 'utf8').catch(() => 'null'),
    ) as BackupManifest | null;
    if (m) restorable.add(m.snapshotFile);
  }
  return (await serverSnapshots(ctx, collection)).filter((s) => !restorable.has(s));
}

async function serverSnapshots(ctx: Ctx, collection: string): Promise<string[]> {
  const list = await ctx.q.client.listSnapshots(collection).catch(() => []);
  return list.map((s) => s.name);
}

async function dropCollection(ctx: Ctx, name: string): Promise<void> {
  for (const s of await serverSnapshots(ctx, name)) await ctx.q.client.deleteSnapshot(name, s).catch(() => undefined);
  await ctx.q.client.deleteCollection(name).catch(() => undefined);
  if (ctx.q.snapshotsDir) await rm(join(ctx.q.snapshotsDir, name), { recursive: true, force: true });
}

/** A collection of its own for a row: no collection, backups or snapshots of the name left, seeded; its checksum. */
async function freshCollection(ctx: Ctx, collection: string): Promise<string> {
  await dropCollection(ctx, collection);
  await rm(join(ctx.backupRoot, collection), { recursive: true, force: true });
  await seed(ctx.q.client, collection, POINTS, DIM);
  return checksum(ctx, collection);
}

/** The row's known-good backup, taken by the qdrantBackup workflow itself (a real snapshot, its manifest). */
async function backupAs(ctx: Ctx, collection: string, name: string): Promise<unknown> {
  return ctx.client.workflow.execute('qdrantBackup', {
    taskQueue: ctx.taskQueue,
    workflowId: `faults-prepare-${collection}-${name}-${Date.now()}`,
    args: [{ collection, backupName: name }],
  });
}

async function dropCollections(ctx: Ctx, prefix: string): Promise<void> {
  const { aliases } = await ctx.q.client.getAliases();
  for (const a of aliases.filter((x) => x.alias_name.startsWith(prefix)))
    await ctx.q.client
      .updateCollectionAliases({ actions: [{ delete_alias: { alias_name: a.alias_name } }] })
      .catch(() => undefined);
  for (const n of await collectionNames(ctx.q.client)) if (n.startsWith(prefix)) await dropCollection(ctx, n);
}

async function alias(ctx: Ctx, name: string, collection: string): Promise<void> {
  await ctx.q.client.updateCollectionAliases({
    actions: [{ create_alias: { alias_name: name, collection_name: collection } }],
  });
}

async function checksum(ctx: Ctx, collection: string): Promise<string> {
  return (await collectionChecksum(ctx.q.client, collection)).checksum;
}

async function vectorsOf(ctx: Ctx, collection: string): Promise<{ size?: number; distance?: string }> {
  const info = await ctx.q.client.getCollection(collection);
  return info.config.params.vectors as { size?: number; distance?: string };
}

/** The application container after a Qdrant recovery: the same container as before, running and healthy. */
async function checkApp(name: string, id: string, healthUrl: string): Promise<string[]> {
  const problems: string[] = [];
  const named = (await containersNamed(name)).map((c) => c.Names[0]);
  expect(problems, named.length === 1 && named[0] === `/${name}`, `app containers: ${named.join(', ')}`);
  const c = await docker
    .getContainer(name)
    .inspect()
    .catch(() => undefined);
  expect(problems, c?.Id === id, 'the application container is not the original one');
  expect(problems, c?.State.Running === true, 'the application is not running');
  const h = await healthStatus(healthUrl, 200);
  expect(problems, h === 200, `the application answers /health with ${h ?? 'nothing'}`);
  return problems;
}

// ---------------------------------------------------------------- the target refuses (Qdrant)

/**
 * The persistent fault `refused` on Qdrant: the fault proxy lets the run's first matching request take effect on the
 * real server and then answers it with a 400 (Qdrant's own envelope), a refusal no retry fixes — after the
 * destructive step, so the run must undo it (its own undo's request passes: the rule fires once).
 */
function refusedAfter(ctx: Ctx, rule: FaultRule, what: string): FaultHook {
  let handle: FaultHandle | undefined;
  return {
    started: () => {
      handle = ctx.q.faults.failWhen({ ...rule, status: 400, after: true, times: 1, message: `Bad request: ${what}` });
    },
    onEvent: () => undefined,
    applied: () => (handle?.hits() ?? 0) > 0,
    proof: () => `the real server took ${what}; the fault proxy answered it 400 after it had taken effect`,
    cleanup: () => Promise.resolve(handle?.clear()),
  };
}

async function withHook(run: Promise<Run>, hook: FaultHook): Promise<Run> {
  return { ...(await run), hook };
}

// ---------------------------------------------------------------- Docker container rollback

/** A container on `from` rolled to `to`; the no-fault row goes BAD → GOOD, never-healthy GOOD → BAD. */
async function dockerRun(ctx: Ctx, tag: string, from: string, to: string): Promise<Run> {
  const name = `faults-mcp-${tag}`;
  const app = await startApp(name, from);
  const proxy = ctx.healthProxy ? await ctx.healthProxy(app.port) : undefined;
  const healthUrl = proxy ? `${proxy.url}/health` : app.healthUrl;
  const since = Date.now();
  const [toId, fromId] = [await imageId(to), await imageId(from)];
  const statusOf = (image: string) => (image === GOOD ? 200 : 503);
  return {
    workflowId: `faults-docker-${tag}`,
    input: {
      containerName: name,
      targetImage: to,
      healthUrl,
      ...common,
      stopTimeoutSeconds: 5,
      verifyTimeoutSeconds: to === BAD ? 5 : 30,
      monitor: { durationSeconds: 0 },
      approval: { preApproved: ONCALL },
    },
    check: async (ending, runId) => {
      const problems: string[] = [];
      const all = await containersNamed(name);
      const names = all.map((c) => c.Names[0]).sort();
      const mine = await docker.listContainers({ all: true, filters: { label: [`${RUN_ID_LABEL}=${runId}`] } });
      const created = ctx.events.filter(
        (e) => e.at >= since && e.action === 'create' && e.attributes[RUN_ID_LABEL] === runId,
      );
      expect(problems, created.length <= 1, `${created.length} containers created by the run`);
      expect(problems, names.length === 1 && names[0] === `/${name}`, `containers: ${names.join(', ')}`);
      const c = await docker
        .getContainer(name)
        .inspect()
        .catch(() => undefined);
      expect(problems, c?.State.Running === true, `'${name}' is not running`);
      const want = statusOf(ending.kind === 'completed' ? to : from);
      const h = await healthStatus(app.healthUrl, want);
      if (ending.kind === 'completed') {
        expect(problems, c?.Image === toId, `'${name}' does not run ${to}`);
        expect(problems, c?.Config.Labels[RUN_ID_LABEL] === runId, `'${name}' is not the run's container`);
        expect(problems, created.length === 1, `${created.length} containers created by the run, want 1`);
      } else {
        expect(problems, c?.Id === app.id && c.Image === fromId, `'${name}' is not the original container`);
        expect(problems, mine.length === 0, `the run's container was left behind (${mine.length})`);
      }
      expect(problems, h === want, `/health answers ${h ?? 'nothing'}, want ${want}`);
      return problems;
    },
    cleanup: async () => {
      await proxy?.close();
      await removeByPrefix(name);
    },
  };
}

function dockerRollback(): Scenario {
  return {
    name: 'dockerContainerRollback',
    workflowType: 'dockerContainerRollback',
    system: 'the harness dockerd',
    uses: { docker: true, qdrant: false },
    prepare: () => Promise.resolve(),
    setup: (ctx, tag) => dockerRun(ctx, tag, BAD, GOOD),
    // the target image answers /health 503 for ever: the new container is removed, the original started again
    persistent: { 'never-healthy': (ctx, tag) => dockerRun(ctx, tag, GOOD, BAD) },
  };
}

// ---------------------------------------------------------------- Qdrant backup

function qdrantBackup(): Scenario {
  const collection = 'faults-backup';
  let s0 = '';
  return {
    name: 'qdrantBackup',
    workflowType: 'qdrantBackup',
    system: 'a real Qdrant 1.18.3 server',
    uses: { docker: false, qdrant: true },
    prepare: async (ctx) => {
      await dropCollection(ctx, collection);
      await seed(ctx.q.client, collection, POINTS, DIM);
      s0 = await checksum(ctx, collection);
    },
    setup: async (ctx, tag) => {
      await rm(join(ctx.backupRoot, collection), { recursive: true, force: true });
      for (const s of await serverSnapshots(ctx, collection)) await ctx.q.client.deleteSnapshot(collection, s);
      const backupName = `b-${tag}`;
      return {
        workflowId: `faults-backup-${tag}`,
        input: { collection, backupName },
        check: async (ending) => {
          const problems: string[] = [];
          expect(problems, (await checksum(ctx, collection)) === s0, 'the collection changed');
          const snaps = await serverSnapshots(ctx, collection);
          expect(problems, snaps.length === 0, `server-side snapshots left: ${snaps.join(', ')}`);
          const dirs = await backupDirs(ctx, collection);
          if (ending.kind === 'completed') {
            expect(problems, dirs.length === 1 && dirs[0] === backupName, `backup dirs: ${dirs.join(', ')}`);
            if (dirs.includes(backupName))
              problems.push(...(await checkBackupDir(ctx, collection, backupName, POINTS)));
          } else {
            expect(problems, dirs.length === 0, `a failed backup left ${dirs.join(', ')}`);
          }
          return problems;
        },
        cleanup: () => Promise.resolve(),
      };
    },
  };
}

// ---------------------------------------------------------------- data recovery and point in time

/** Shared by qdrantDataRecovery and pointInTimeRecovery: state S0 backed up, the collection now S1, app running. */
function recovery(kind: 'qdrantDataRecovery' | 'pointInTimeRecovery'): Scenario {
  const pit = kind === 'pointInTimeRecovery';
  const collection = pit ? 'faults-pit' : 'faults-recovery';
  const appName = `${collection}-app`;
  let s0 = '';
  let s1 = '';
  let s1Count = 0;
  let at = '';
  const toS1 = async (ctx: Ctx) => {
    await dropCollection(ctx, collection);
    await seed(ctx.q.client, collection, POINTS, DIM);
    if (pit) {
      await seed(ctx.q.client, collection, 100, DIM, 1001);
      await seed(ctx.q.client, collection, 5, DIM, 5001);
    } else {
      await ctx.q.client.delete(collection, { wait: true, points: Array.from({ length: 100 }, (_, i) => i + 1) });
      await seed(ctx.q.client, collection, 30, DIM, 10_001);
    }
  };
  return {
    name: kind,
    workflowType: kind,
    system: 'a real Qdrant 1.18.3 server + the harness dockerd',
    uses: { docker: true, qdrant: true },
    prepare: async (ctx) => {
      s0 = await freshCollection(ctx, collection);
      const backup = (name: string) => backupAs(ctx, collection, name);
      await backup('good');
      if (pit) {
        await new Promise((r) => setTimeout(r, 1100));
        at = new Date().toISOString();
        await new Promise((r) => setTimeout(r, 1100));
        await seed(ctx.q.client, collection, 100, DIM, 1001);
        await backup('later');
      }
      await toS1(ctx);
      s1 = await checksum(ctx, collection);
      s1Count = (await collectionChecksum(ctx.q.client, collection)).count;
    },
    persistent: {
      refused: (ctx, tag) =>
        withHook(
          setupRun(ctx, tag),
          refusedAfter(ctx, { method: 'POST', path: /\/snapshots\/upload$/ }, 'the restore upload of the backup'),
        ),
    },
    setup: (ctx, tag) => setupRun(ctx, tag),
  };
  async function setupRun(ctx: Ctx, tag: string): Promise<Run> {
    {
      await toS1(ctx);
      const keep = new Set(pit ? ['good', 'later'] : ['good']);
      for (const d of await backupDirs(ctx, collection))
        if (!keep.has(d)) await rm(join(ctx.backupRoot, collection, d), { recursive: true, force: true });
      await rm(join(ctx.backupRoot, collection, '_exports'), { recursive: true, force: true });
      const app = await startApp(appName, GOOD);
      const proxy = ctx.healthProxy ? await ctx.healthProxy(app.port) : undefined;
      return {
        workflowId: `faults-${pit ? 'pit' : 'recovery'}-${tag}`,
        input: {
          collection,
          ...(pit ? { atOrBefore: at } : { backup: 'good' }),
          app: { containerName: appName, healthUrl: proxy ? `${proxy.url}/health` : app.healthUrl },
          ...common,
          stopTimeoutSeconds: 5,
          monitor: { durationSeconds: 0 },
          approval: { preApproved: EM },
        },
        check: async (ending) => {
          const problems: string[] = [];
          const now = await checksum(ctx, collection);
          const snaps = await strayServerSnapshots(ctx, collection);
          expect(problems, snaps.length === 0, `server-side snapshots left: ${snaps.join(', ')}`);
          problems.push(...(await checkApp(appName, app.id, app.healthUrl)));
          const pre = (await backupDirs(ctx, collection)).filter((d) => !keep.has(d));
          expect(problems, pre.length <= 1, `pre-rollback backups: ${pre.join(', ')}`);
          for (const d of pre) problems.push(...(await checkBackupDir(ctx, collection, d, s1Count)));
          const exports = await entries(join(ctx.backupRoot, collection, '_exports'));
          expect(problems, exports.length <= 1, `emergency exports: ${exports.join(', ')}`);
          for (const f of exports) {
            const lines = (await readFile(join(ctx.backupRoot, collection, '_exports', f), 'utf8')).trim().split('\n');
            const ids = new Set(lines.map((l) => (JSON.parse(l) as { id: number }).id));
            expect(problems, lines.length === s1Count && ids.size === s1Count, `export has ${lines.length} lines`);
          }
          if (ending.kind === 'completed') {
            expect(problems, now === s0, 'the collection is not the backup’s state');
            expect(problems, pre.length === 1, 'no pre-rollback backup');
            expect(problems, pit || exports.length === 1, 'no emergency export');
          } else {
            expect(problems, now === s1, 'the collection is not what it was before the run');
          }
          return problems;
        },
        cleanup: async () => {
          await proxy?.close();
          await removeByPrefix(appName);
        },
      };
    }
  }
}

// ---------------------------------------------------------------- data corruption emergency

/**
 * dataCorruptionEmergency: the collection backed up at S0 ('good'), corrupted to S1 (points lost, junk written),
 * the application and a writer running. No approval wait: the requester's acknowledgement is recorded. Completed:
 * S0 restored, one export of S1, one pre-rollback backup, both containers running again (the same ones). Anything
 * else: S1 as before (the pre-rollback backup put back), both running.
 */
function dataCorruption(): Scenario {
  const collection = 'faults-corrupt';
  const appName = `${collection}-app`;
  const writerName = `${collection}-writer`;
  let s0 = '';
  let s1 = '';
  let s1Count = 0;
  const toS1 = async (ctx: Ctx) => {
    await dropCollection(ctx, collection);
    await seed(ctx.q.client, collection, POINTS, DIM);
    await ctx.q.client.delete(collection, { wait: true, points: Array.from({ length: 100 }, (_, i) => i + 1) });
    await seed(ctx.q.client, collection, 30, DIM, 9000);
  };
  return {
    name: 'dataCorruptionEmergency',
    workflowType: 'dataCorruptionEmergency',
    system: 'a real Qdrant 1.18.3 server + the harness dockerd',
    uses: { docker: true, qdrant: true },
    prepare: async (ctx) => {
      s0 = await freshCollection(ctx, collection);
      await backupAs(ctx, collection, 'good');
      await toS1(ctx);
      s1 = await checksum(ctx, collection);
      s1Count = (await collectionChecksum(ctx.q.client, collection)).count;
    },
    setup: async (ctx, tag) => {
      await toS1(ctx);
      for (const d of await backupDirs(ctx, collection))
        if (d !== 'good') await rm(join(ctx.backupRoot, collection, d), { recursive: true, force: true });
      await rm(join(ctx.backupRoot, collection, '_exports'), { recursive: true, force: true });
      const [app, writer] = await Promise.all([startApp(appName, GOOD), startApp(writerName, GOOD)]);
      const proxy = ctx.healthProxy ? await ctx.healthProxy(app.port) : undefined;
      return {
        workflowId: `faults-corrupt-${tag}`,
        input: {
          collection,
          app: { containerName: appName, healthUrl: proxy ? `${proxy.url}/health` : app.healthUrl },
          writers: [writerName],
          ...common,
          monitor: { durationSeconds: 0 },
        },
        check: async (ending) => {
          const problems: string[] = [];
          const now = await checksum(ctx, collection);
          const snaps = await strayServerSnapshots(ctx, collection);
          expect(problems, snaps.length === 0, `server-side snapshots left: ${snaps.join(', ')}`);
          problems.push(...(await checkApp(appName, app.id, app.healthUrl)));
          problems.push(...(await checkApp(writerName, writer.id, writer.healthUrl)));
          const pre = (await backupDirs(ctx, collection)).filter((d) => d !== 'good');
          expect(problems, pre.length <= 1, `pre-rollback backups: ${pre.join(', ')}`);
          for (const d of pre) problems.push(...(await checkBackupDir(ctx, collection, d, s1Count)));
          const exports = await entries(join(ctx.backupRoot, collection, '_exports'));
          expect(problems, exports.length <= 1, `emergency exports: ${exports.join(', ')}`);
          if (ending.kind === 'completed') {
            expect(problems, now === s0, 'the collection is not the backup’s state');
            expect(problems, pre.length === 1 && exports.length === 1, 'no pre-rollback backup or no export');
          } else {
            expect(problems, now === s1, 'the collection is not what it was before the run');
          }
          return problems;
        },
        cleanup: async () => {
          await proxy?.close();
          await removeByPrefix(appName);
          await removeByPrefix(writerName);
        },
      };
    },
  };
}

// ---------------------------------------------------------------- security breach (emergency)

/**
 * securityBreachEmergency: notify security, stop the app and a writer, block the service port in a network
 * namespace of the row's own, rotate the env file's secrets, restore the collection from the day's backup, recreate
 * the app with the new credentials, audit, reopen the ports. Its fail-safe is NOT the state before: a failed run
 * leaves the service isolated (workflows/emergency/security-breach.ts), so that is what a failed run is judged by.
 * Completed: the app recreated once (a new container with the new secrets, the old one removed), the writer
 * stopped, the file rotated with its one 0600 backup, the collection exactly the backup's, the namespace's rules
 * as before and the service answering. Anything else: isolated — the port blocked, no container of the run
 * running, the original kept (stopped), the file either untouched or rotated with one backup, the collection
 * either as before or the backup's. Persistent fault: the recreated app never answers healthy (never-healthy).
 */
function securityBreach(): Scenario {
  const collection = 'faults-breach';
  const OLD = { JWT_SECRET: 'old-jwt-secret-4f1c9a', CORTEX_API_TOKEN: 'old-api-token-77e2b0' };
  const envText = `QDRANT_URL=http://127.0.0.1:6333\nJWT_SECRET=${OLD.JWT_SECRET}\nLOG_LEVEL=info\nCORTEX_API_TOKEN=${OLD.CORTEX_API_TOKEN}\n`;
  let ns: Netns | undefined;
  let s0 = '';
  let s1 = '';
  const toS1 = async (ctx: Ctx) => {
    await dropCollection(ctx, collection);
    await seed(ctx.q.client, collection, POINTS, DIM);
    await seed(ctx.q.client, collection, 25, DIM, 5000); // what the intruder wrote
  };
  const run = async (ctx: Ctx, tag: string, extraEnv: string): Promise<Run> => {
    await ns!.setRules(BASELINE_RULES);
    const before = await ns!.canonical();
    await toS1(ctx);
    for (const d of await backupDirs(ctx, collection))
      if (d !== 'fresh') await rm(join(ctx.backupRoot, collection, d), { recursive: true, force: true });
    await rm(join(ctx.backupRoot, collection, '_exports'), { recursive: true, force: true });
    const dir = join(ns!.dir, tag);
    await mkdir(dir, { recursive: true });
    const envFile = join(dir, 'cortex.env');
    await writeFile(envFile, envText + extraEnv);
    const appName = `faults-breach-${tag}`;
    const writerName = `faults-breach-writer-${tag}`;
    const [app, writer] = await Promise.all([
      startApp(appName, GOOD, [`JWT_SECRET=${OLD.JWT_SECRET}`, `CORTEX_API_TOKEN=${OLD.CORTEX_API_TOKEN}`]),
      startApp(writerName, GOOD),
    ]);
    const proxy = ctx.healthProxy ? await ctx.healthProxy(app.port) : undefined;
    const secretIn = (text: string) => Object.values(OLD).some((v) => text.includes(v));
    let isolated = false;
    return {
      workflowId: `faults-breach-${tag}`,
      input: {
        app: {
          containerName: appName,
          healthUrl: proxy ? `${proxy.url}/health` : app.healthUrl,
          envFile,
          healthTimeoutSeconds: extraEnv ? 5 : 30,
        },
        secretKeys: Object.keys(OLD),
        alsoStop: [writerName],
        ports: [SERVICE_PORT],
        netns: ns!.name,
        allowLoopback: false,
        reopenPorts: true,
        collection,
        stopTimeoutSeconds: 2,
        ...common,
      },
      check: async (ending) => {
        const problems: string[] = [];
        const rules = await ns!.canonical();
        const healthy = await ns!.healthy();
        isolated = !healthy && rules !== before;
        const now = await checksum(ctx, collection);
        const file = await readFile(envFile, 'utf8');
        const kept = (await entries(dir)).filter((f) => f.includes('.pre-breach-'));
        expect(problems, kept.length <= 1, `env file backups: ${kept.join(', ')}`);
        for (const k of kept)
          expect(problems, (await readFile(join(dir, k), 'utf8')) === envText + extraEnv, `${k} is not the old file`);
        const pre = (await backupDirs(ctx, collection)).filter((d) => d !== 'fresh');
        expect(problems, pre.length <= 1, `pre-rollback backups: ${pre.join(', ')}`);
        const snaps = await strayServerSnapshots(ctx, collection);
        expect(problems, snaps.length === 0, `server-side snapshots left: ${snaps.join(', ')}`);
        const mine = (await containersNamed(appName)).concat(await containersNamed(writerName));
        const w = await docker
          .getContainer(writerName)
          .inspect()
          .catch(() => undefined);
        expect(problems, w?.Id === writer.id && !w.State.Running, `the writer is not the original, stopped`);
        if (ending.kind === 'completed') {
          expect(problems, rules === before && healthy, 'the namespace is not as before (ports not reopened)');
          expect(problems, now === s0, 'the collection is not the backup’s state');
          expect(problems, !secretIn(file) && kept.length === 1, 'the env file is not rotated, with one backup');
          const c = await docker
            .getContainer(appName)
            .inspect()
            .catch(() => undefined);
          expect(problems, !!c && c.Id !== app.id && c.State.Running, `'${appName}' is not a new, running container`);
          expect(
            problems,
            !!c && !c.Config.Env.some(secretIn) && c.Config.Env.some((e) => e.startsWith('JWT_SECRET=')),
            `'${appName}' does not carry the new secrets`,
          );
          expect(problems, mine.length === 2, `containers: ${mine.map((c) => c.Names[0]).join(', ')}`);
          const h = await healthStatus(app.healthUrl, 200);
          expect(problems, h === 200, `/health answers ${h ?? 'nothing'}`);
        } else {
          expect(problems, isolated, 'the service is not isolated: the port answers');
          expect(
            problems,
            mine.every((c) => c.State !== 'running'),
            `running: ${mine.map((c) => c.Names[0]).join(', ')}`,
          );
          const original = mine.filter((c) => c.Id === app.id);
          expect(
            problems,
            original.length === 1 && mine.length === 2,
            `containers: ${mine.map((c) => c.Names[0]).join(', ')}`,
          );
          expect(problems, secretIn(file) ? kept.length === 0 : kept.length === 1, 'the env file is half rotated');
          expect(problems, now === s1 || now === s0, 'the collection is neither as before nor the backup’s');
        }
        return problems;
      },
      // its undo is the isolation kept (read back by the check, before cleanup opens the namespace again)
      undone: () => Promise.resolve(isolated ? 'the recreated app removed; the service stays isolated' : undefined),
      cleanup: async () => {
        await proxy?.close();
        await removeByPrefix(appName);
        await removeByPrefix(writerName);
        await ns!.setRules(BASELINE_RULES);
      },
    };
  };
  return {
    name: 'securityBreachEmergency',
    workflowType: 'securityBreachEmergency',
    system: 'a real Qdrant 1.18.3 server + the harness dockerd + iptables in a network namespace',
    uses: { docker: true, qdrant: true },
    prepare: async (ctx) => {
      ns = await createNetns();
      s0 = await freshCollection(ctx, collection);
      await backupAs(ctx, collection, 'fresh');
      await toS1(ctx);
      s1 = await checksum(ctx, collection);
    },
    setup: (ctx, tag) => run(ctx, tag, ''),
    // the env file carries a broken setting: the app recreated from it answers 503, the audit fails
    persistent: { 'never-healthy': (ctx, tag) => run(ctx, tag, 'CORTEX_HEALTH=unhealthy\n') },
    teardown: async () => {
      await ns?.close();
    },
  };
}

// ---------------------------------------------------------------- emergency rollback (application)

/**
 * emergencyRollback of type application (emergency-rollback.sh): pre-checks, an emergency backup of the
 * collection, dockerContainerRollback as a child pre-approved in the emergency's name, a post-check. Completed:
 * one container of the name, running the target, healthy, one emergency backup. Anything else: the original
 * container (same id, same image, same answer), at most one emergency backup.
 */
function emergencyRollback(): Scenario {
  const collection = 'faults-emergency';
  const run = async (ctx: Ctx, tag: string, from: string, to: string): Promise<Run> => {
    const name = `faults-em-${tag}`;
    const app = await startApp(name, from);
    await rm(join(ctx.backupRoot, collection), { recursive: true, force: true });
    const [toId, fromId] = [await imageId(to), await imageId(from)];
    const statusOf = (image: string) => (image === GOOD ? 200 : 503);
    return {
      workflowId: `faults-em-${tag}`,
      input: {
        type: 'application',
        target: to,
        containerName: name,
        healthUrl: app.healthUrl,
        collection,
        watchSeconds: 0,
        ...common,
      },
      check: async (ending) => {
        const problems: string[] = [];
        const named = (await containersNamed(name)).map((c) => c.Names[0]);
        expect(problems, named.length === 1 && named[0] === `/${name}`, `containers: ${named.join(', ')}`);
        const c = await docker
          .getContainer(name)
          .inspect()
          .catch(() => undefined);
        expect(problems, c?.State.Running === true, `'${name}' is not running`);
        const backups = (await backupDirs(ctx, collection)).filter((d) => d.startsWith('emergency-rollback-'));
        expect(problems, backups.length <= 1, `emergency backups: ${backups.join(', ')}`);
        const want = ending.kind === 'completed' ? to : from;
        const h = await healthStatus(app.healthUrl, statusOf(want));
        expect(problems, h === statusOf(want), `/health answers ${h ?? 'nothing'}`);
        if (ending.kind === 'completed') {
          expect(problems, c?.Image === toId, `'${name}' does not run ${to}`);
          expect(problems, backups.length === 1, 'no emergency backup');
        } else {
          expect(problems, c?.Id === app.id && c.Image === fromId, `'${name}' is not the original container`);
        }
        return problems;
      },
      cleanup: () => removeByPrefix(name),
    };
  };
  return {
    name: 'emergencyRollback',
    workflowType: 'emergencyRollback',
    system: 'the harness dockerd + a real Qdrant 1.18.3 server',
    uses: { docker: true, qdrant: true },
    prepare: async (ctx) => {
      await dropCollection(ctx, collection);
      await seed(ctx.q.client, collection, 120, DIM);
    },
    setup: (ctx, tag) => run(ctx, tag, BAD, GOOD),
    persistent: { 'never-healthy': (ctx, tag) => run(ctx, tag, GOOD, BAD) },
  };
}

// ---------------------------------------------------------------- post-rollback verification

/**
 * postRollbackVerification: read-only checks of a running application and its collection. Completed: every
 * check passed, and the world is as before (the same container running, the collection's points unchanged).
 * Anything else: the world as before. Persistent fault: the application answers unhealthy (never-healthy): the
 * run must fail its verification and change nothing.
 */
function verification(): Scenario {
  const collection = 'faults-verify';
  let s0 = '';
  const run = async (ctx: Ctx, tag: string, image: string): Promise<Run> => {
    const name = `faults-verify-${tag}`;
    const app = await startApp(name, image);
    return {
      workflowId: `faults-verify-${tag}`,
      input: {
        service: 'cortex-mcp',
        healthUrl: app.healthUrl,
        container: name,
        collections: { [collection]: POINTS },
        commands: [{ name: 'prod:health', command: ['node', '-e', 'console.log("health ok")'], timeoutSeconds: 20 }],
      },
      check: async (ending) => {
        const problems: string[] = [];
        expect(problems, (await checksum(ctx, collection)) === s0, 'the collection changed');
        const c = await docker
          .getContainer(name)
          .inspect()
          .catch(() => undefined);
        expect(problems, c?.Id === app.id && c.State.Running, `'${name}' is not the original container, running`);
        if (ending.kind === 'completed') {
          const r = ending.result as { passed?: boolean; checks?: Array<{ name: string; status: string }> };
          expect(problems, r.passed === true, `completed without passing: ${JSON.stringify(r.checks)}`);
        }
        return problems;
      },
      cleanup: () => removeByPrefix(name),
    };
  };
  return {
    name: 'postRollbackVerification',
    workflowType: 'postRollbackVerification',
    system: 'the harness dockerd + a real Qdrant 1.18.3 server (read-only)',
    uses: { docker: true, qdrant: true },
    readOnly: true,
    prepare: async (ctx) => {
      await dropCollection(ctx, collection);
      await seed(ctx.q.client, collection, POINTS, DIM);
      s0 = await checksum(ctx, collection);
    },
    setup: (ctx, tag) => run(ctx, tag, GOOD),
    persistent: { 'never-healthy': (ctx, tag) => run(ctx, tag, BAD) },
  };
}

// ---------------------------------------------------------------- schema rollback

function schema(mode: 'alias' | 'recreate'): Scenario {
  const name = mode === 'alias' ? 'faults-schema' : 'faults-recreate';
  const source = `${name}-v1`;
  let s0 = '';
  const row: Scenario = {
    name: `qdrantSchemaRollback (${mode})`,
    workflowType: 'qdrantSchemaRollback',
    system: 'a real Qdrant 1.18.3 server',
    uses: { docker: false, qdrant: true },
    prepare: async (ctx) => {
      await dropCollections(ctx, name);
      await seed(ctx.q.client, source, POINTS, DIM);
      s0 = await checksum(ctx, source);
    },
    setup: async (ctx, tag) => {
      await dropCollections(ctx, name);
      await rm(join(ctx.backupRoot, source), { recursive: true, force: true });
      await seed(ctx.q.client, source, POINTS, DIM);
      await alias(ctx, name, source);
      return {
        workflowId: `faults-schema-${mode}-${tag}`,
        input: {
          collection: name,
          target: { size: DIM, distance: 'Dot' },
          mode,
          batchSize: 50,
          ...common,
          approval: { preApproved: EM },
        },
        check: async (ending) => {
          const problems: string[] = [];
          const aliases = await aliasMap(ctx.q.client);
          const names = (await collectionNames(ctx.q.client)).filter((n) => n.startsWith(name));
          const snaps = await strayServerSnapshots(ctx, source);
          expect(problems, snaps.length === 0, `server-side snapshots left: ${snaps.join(', ')}`);
          const dirs = await backupDirs(ctx, source);
          expect(problems, dirs.length <= 1, `pre-rollback backups: ${dirs.join(', ')}`);
          for (const d of dirs) problems.push(...(await checkBackupDir(ctx, source, d, POINTS)));
          const target = aliases[name];
          if (ending.kind === 'completed') {
            expect(problems, dirs.length === 1, 'no pre-rollback backup');
            const want = mode === 'alias' ? 2 : 1;
            expect(problems, names.length === want, `collections: ${names.join(', ')}`);
            expect(problems, mode === 'alias' ? target !== source : target === source, `alias → ${target}`);
            if (target && names.includes(target)) {
              expect(problems, (await vectorsOf(ctx, target)).distance === 'Dot', `'${target}' is not Dot`);
              expect(problems, (await checksum(ctx, target)) === s0, `'${target}' does not hold the source's points`);
            }
            if (mode === 'alias')
              expect(problems, (await checksum(ctx, source)) === s0, 'the kept source collection changed');
          } else {
            expect(problems, names.length === 1 && names[0] === source, `collections: ${names.join(', ')}`);
            expect(problems, target === source, `alias → ${target}, want ${source}`);
            if (names.includes(source)) {
              expect(problems, (await vectorsOf(ctx, source)).distance === 'Cosine', 'the source is not Cosine');
              expect(problems, (await checksum(ctx, source)) === s0, 'the source collection changed');
            }
          }
          return problems;
        },
        cleanup: () => Promise.resolve(),
      };
    },
  };
  // alias mode: the switch of the alias took effect, then answered 400; the undo points it back
  if (mode === 'alias')
    row.persistent = {
      refused: (ctx, tag) =>
        withHook(row.setup(ctx, tag), refusedAfter(ctx, { operationId: 'update_aliases' }, 'the alias switch')),
    };
  return row;
}

// ---------------------------------------------------------------- config rollback

function config(): Scenario {
  const collection = 'faults-config';
  const target = { optimizers_config: { indexing_threshold: 12345 }, hnsw_config: { m: 8 } };
  let s0 = '';
  const settings = async (ctx: Ctx) => {
    const c = (await ctx.q.client.getCollection(collection)).config;
    return { threshold: c.optimizer_config.indexing_threshold, m: c.hnsw_config.m };
  };
  const row: Scenario = {
    name: 'qdrantConfigRollback',
    workflowType: 'qdrantConfigRollback',
    system: 'a real Qdrant 1.18.3 server',
    uses: { docker: false, qdrant: true },
    prepare: async (ctx) => {
      await dropCollection(ctx, collection);
      await seed(ctx.q.client, collection, POINTS, DIM);
      s0 = await checksum(ctx, collection);
    },
    setup: async (ctx, tag) => {
      await dropCollection(ctx, collection);
      await seed(ctx.q.client, collection, POINTS, DIM);
      const before = await settings(ctx);
      return {
        workflowId: `faults-config-${tag}`,
        input: { collection, target, ...common, approval: { preApproved: ONCALL } },
        check: async (ending) => {
          const problems: string[] = [];
          expect(problems, (await checksum(ctx, collection)) === s0, 'the points changed');
          const now = await settings(ctx);
          const want =
            ending.kind === 'completed'
              ? { threshold: target.optimizers_config.indexing_threshold, m: target.hnsw_config.m }
              : before;
          expect(problems, now.threshold === want.threshold && now.m === want.m, `config ${JSON.stringify(now)}`);
          return problems;
        },
        cleanup: () => Promise.resolve(),
      };
    },
  };
  // the target refuses after the change took effect: the PATCH applied, then answered 400; the undo re-applies
  row.persistent = {
    refused: (ctx, tag) =>
      withHook(row.setup(ctx, tag), refusedAfter(ctx, { operationId: 'update_collection' }, 'the config PATCH')),
  };
  return row;
}

export function scenarios(): Scenario[] {
  return [
    dockerRollback(),
    fleetRow(),
    qdrantBackup(),
    recovery('qdrantDataRecovery'),
    recovery('pointInTimeRecovery'),
    schema('alias'),
    schema('recreate'),
    config(),
    dataCorruption(),
    securityBreach(),
    emergencyRollback(),
    verification(),
    guardRow(),
    envFileRow(),
    systemServiceRow(),
    terraformRow(),
    networkRow(),
    dockerNetworkRow(),
    kubernetesRow(),
  ];
}

export const SCENARIO_NAMES = scenarios().map((s) => s.name);
