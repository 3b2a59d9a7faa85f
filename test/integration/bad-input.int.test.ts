// Bad input for every workflow, through both doors an operator uses: `cortex-rollback start …` (exit 2, the field
// named, no workflow started) and raw `temporal workflow start --input '<json>'` (the workflow fails at once with a
// non-retryable InvalidInput naming the field, and its history holds no activity, marker or timer). After each case
// the world is compared with how it was: our app container (id, state, start time), every Qdrant collection
// (count, vectors, aliases) and the backup directory tree. One dev server, one worker process, one real Qdrant
// server.
import { eventTypesWithoutPatches, REFUSAL_EVENTS } from '../helpers/history.ts';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa, type Result } from 'execa';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { validateStartInput } from '../../client/client.ts';
import { PROJECT_ROOT, temporalCliPath } from '../../common/tools.ts';
import { containersNamed, docker, ensureImages, GOOD, removeByPrefix, startApp, type App } from '../helpers/docker.ts';
import { workflowFailure } from '../helpers/failures.ts';
import { count, seed, startTestQdrant, type TestQdrant } from '../helpers/qdrant.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const MB = 'x'.repeat(1 << 20);
const COLLECTION = 'badin-mem';
const ALIAS = 'badin-live';
const BACKUP = 'badin-base';
const APP = `badin-app-${process.pid}`;
/** A valid point in time (in the past, with a zone). */
const PAST = '2026-01-01T00:00:00Z';
/** All a workflow that refuses its input may record: started, one workflow task, failed. */
type Json = Record<string, unknown>;
interface RawCase {
  type: string;
  /** The whole input, or a change to the type's valid base input (a key set to undefined is removed). */
  input?: unknown;
  over?: Json;
  field: string;
  name: string;
}

describe('bad input is refused before anything changes (CLI and raw temporal workflow start)', () => {
  let env: TestWorkflowEnvironment;
  let q: TestQdrant;
  let worker: WorkerProcess;
  let app: App;
  let taskQueue: string;
  let cliQueue: string;
  let backupRoot: string;
  let world: string;
  const run = `${process.pid}-${Date.now().toString(36)}`;

  /** Valid inputs, one per workflow type; each case spoils one field. Not pre-approved: if a refusal were ever
   *  missed, the workflow would stop at the approval gate instead of changing anything. A bad pre-approval here is
   *  malformed (no role id): whether a well-formed role may approve is the approval policy's call at the gate
   *  (the requester, a role too junior: see the acceptance tests and qdrant.int.test.ts). */
  const base = (): Record<string, Json> => ({
    dockerContainerRollback: {
      containerName: APP,
      targetImage: GOOD,
      healthUrl: app.healthUrl,
      reason: 'v2.1.0 fails /health',
      requestedBy: REQUESTER,
    },
    qdrantBackup: { collection: COLLECTION, backupName: 'badin-new' },
    qdrantVerify: { collection: COLLECTION, mode: 'verify', backupName: BACKUP },
    qdrantDataRecovery: { collection: COLLECTION, backup: BACKUP, reason: 'corruption', requestedBy: REQUESTER },
    pointInTimeRecovery: { collection: COLLECTION, atOrBefore: PAST, reason: 'bad import', requestedBy: REQUESTER },
    qdrantSchemaRollback: { collection: ALIAS, target: { size: 4 }, reason: 'model rollback', requestedBy: REQUESTER },
    qdrantConfigRollback: {
      collection: COLLECTION,
      target: { hnsw_config: { m: 8 } },
      reason: 'config broke indexing',
      requestedBy: REQUESTER,
    },
  });
  const workflowType = (t: string) => (t === 'qdrantVerify' ? 'qdrantBackup' : t);

  const D = 'dockerContainerRollback';
  const B = 'qdrantBackup';
  const V = 'qdrantVerify';
  const R = 'qdrantDataRecovery';
  const P = 'pointInTimeRecovery';
  const S = 'qdrantSchemaRollback';
  const C = 'qdrantConfigRollback';
  const RAW: RawCase[] = [
    { name: 'null input', type: D, input: null, field: 'input' },
    { name: 'an array as input', type: D, input: [{ containerName: APP }], field: 'input' },
    { name: 'a string as input', type: B, input: COLLECTION, field: 'input' },
    { name: 'no input at all', type: S, input: undefined, field: 'input' },
    { name: 'missing containerName', type: D, over: { containerName: undefined }, field: 'containerName' },
    {
      name: 'a typo: contianerName',
      type: D,
      over: { containerName: undefined, contianerName: APP },
      field: 'contianerName',
    },
    { name: 'containerName a number', type: D, over: { containerName: 42 }, field: 'containerName' },
    {
      name: 'containerName with ; and $()',
      type: D,
      over: { containerName: 'app; docker rm -f $(docker ps -aq)' },
      field: 'containerName',
    },
    { name: 'containerName with backticks', type: D, over: { containerName: 'app`reboot`' }, field: 'containerName' },
    { name: 'containerName with a pipe', type: D, over: { containerName: 'app|sh' }, field: 'containerName' },
    {
      name: 'containerName with a newline inside',
      type: D,
      over: { containerName: 'app\nrm -rf /' },
      field: 'containerName',
    },
    {
      name: 'containerName with a trailing newline',
      type: D,
      over: { containerName: `${APP}\n` },
      field: 'containerName',
    },
    { name: 'containerName in unicode', type: D, over: { containerName: 'cörtex-mcp-😀' }, field: 'containerName' },
    { name: 'containerName of 1 MB', type: D, over: { containerName: MB }, field: 'containerName' },
    { name: "image 'latest'", type: D, over: { targetImage: 'cortex-memory-mcp:latest' }, field: 'targetImage' },
    {
      name: 'image with spaces',
      type: D,
      over: { targetImage: 'cortex-memory-mcp:v2.0.0 --privileged' },
      field: 'targetImage',
    },
    { name: 'image without a tag', type: D, over: { targetImage: 'cortex-memory-mcp' }, field: 'targetImage' },
    { name: 'health URL file://', type: D, over: { healthUrl: 'file:///etc/passwd' }, field: 'healthUrl' },
    { name: 'health URL javascript:', type: D, over: { healthUrl: 'javascript:alert(1)' }, field: 'healthUrl' },
    {
      name: 'health URL with credentials',
      type: D,
      over: { healthUrl: 'http://admin:pw@127.0.0.1/health' },
      field: 'healthUrl',
    },
    { name: 'negative stop timeout', type: D, over: { stopTimeoutSeconds: -1 }, field: 'stopTimeoutSeconds' },
    { name: 'stop timeout as a string', type: D, over: { stopTimeoutSeconds: '10' }, field: 'stopTimeoutSeconds' },
    { name: 'verify timeout a float', type: D, over: { verifyTimeoutSeconds: 1.5 }, field: 'verifyTimeoutSeconds' },
    {
      name: 'absurd watch duration',
      type: D,
      over: { monitor: { durationSeconds: 1e12 } },
      field: 'monitor.durationSeconds',
    },
    {
      name: "interval 'NaN'",
      type: D,
      over: { monitor: { intervalSeconds: 'NaN' } },
      field: 'monitor.intervalSeconds',
    },
    {
      name: "duration 'Infinity'",
      type: D,
      over: { monitor: { durationSeconds: 'Infinity' } },
      field: 'monitor.durationSeconds',
    },
    {
      name: 'negative failure threshold',
      type: D,
      over: { monitor: { failureThreshold: -3 } },
      field: 'monitor.failureThreshold',
    },
    { name: 'monitor an array', type: D, over: { monitor: [] }, field: 'monitor' },
    {
      name: 'zero approval timeout',
      type: D,
      over: { approval: { timeoutSeconds: 0 } },
      field: 'approval.timeoutSeconds',
    },
    {
      name: "a role that is no role id ('Root Admin')",
      type: D,
      over: { approval: { preApproved: { approver: 'mallory', role: 'Root Admin' } } },
      field: 'approval.preApproved.role',
    },
    {
      name: 'a role with a newline',
      type: D,
      over: { approval: { preApproved: { approver: 'oncall-eng', role: 'on-call-engineer\nApproved-by: director' } } },
      field: 'approval.preApproved.role',
    },
    {
      name: 'a typo in pre-approval',
      type: D,
      over: { approval: { preApproved: { aprover: 'al', role: 'on-call-engineer' } } },
      field: 'approval.preApproved.aprover',
    },
    { name: 'reason of 1 MB', type: D, over: { reason: MB }, field: 'reason' },
    {
      name: 'requestedBy with a newline',
      type: D,
      over: { requestedBy: 'alice\nApproved-by: director' },
      field: 'requestedBy',
    },
    { name: "pull 'yes'", type: D, over: { pull: 'yes' }, field: 'pull' },
    { name: 'host with a path', type: D, over: { host: '../../etc' }, field: 'host' },
    { name: 'searchAttributes a string', type: D, over: { searchAttributes: 'true' }, field: 'searchAttributes' },
    { name: 'an unknown field with a 1 MB name', type: B, over: { [MB]: 1 }, field: `${'x'.repeat(77)}...` },
    { name: 'collection with /..', type: B, over: { collection: 'badin/../../etc' }, field: 'collection' },
    { name: "collection '..'", type: B, over: { collection: '..' }, field: 'collection' },
    { name: 'empty collection', type: B, over: { collection: '' }, field: 'collection' },
    { name: 'collection of 256 characters', type: B, over: { collection: 'c'.repeat(256) }, field: 'collection' },
    { name: 'collection with ;', type: B, over: { collection: 'mem;rm -rf /' }, field: 'collection' },
    { name: 'collection a number', type: B, over: { collection: 7 }, field: 'collection' },
    { name: "mode 'restore'", type: B, over: { mode: 'restore' }, field: 'mode' },
    { name: 'backupName escaping its directory', type: B, over: { backupName: '../escape' }, field: 'backupName' },
    { name: 'a typo: colection', type: B, over: { colection: COLLECTION }, field: 'colection' },
    { name: 'verify: backupName with a pipe', type: V, over: { backupName: 'x|y' }, field: 'backupName' },
    { name: 'verify: collection missing', type: V, over: { collection: undefined }, field: 'collection' },
    {
      name: 'recovery: backup escaping its directory',
      type: R,
      over: { backup: `${BACKUP}/../../x` },
      field: 'backup',
    },
    {
      name: 'recovery: a time given to the by-name recovery',
      type: R,
      over: { atOrBefore: PAST },
      field: 'atOrBefore',
    },
    {
      name: 'recovery: app container with $()',
      type: R,
      over: { app: { containerName: 'x$(id)', healthUrl: 'http://127.0.0.1:1/h' } },
      field: 'app.containerName',
    },
    {
      name: 'recovery: app health URL file://',
      type: R,
      over: { app: { containerName: APP, healthUrl: 'file:///' } },
      field: 'app.healthUrl',
    },
    { name: 'recovery: a watch without an app', type: R, over: { monitor: { durationSeconds: 60 } }, field: 'monitor' },
    {
      name: "recovery: a role by its display name ('Engineering Manager')",
      type: R,
      over: { approval: { preApproved: { approver: APPROVER.database.approver, role: 'Engineering Manager' } } },
      field: 'approval.preApproved.role',
    },
    { name: "recovery: emergencyExport 'no'", type: R, over: { emergencyExport: 'no' }, field: 'emergencyExport' },
    { name: 'recovery: absurd stop timeout', type: R, over: { stopTimeoutSeconds: 1e9 }, field: 'stopTimeoutSeconds' },
    { name: "pit: 'yesterday'", type: P, over: { atOrBefore: 'yesterday' }, field: 'atOrBefore' },
    { name: 'pit: 30 February', type: P, over: { atOrBefore: '2026-02-30T00:00:00Z' }, field: 'atOrBefore' },
    { name: 'pit: a time without a zone', type: P, over: { atOrBefore: '2026-01-01T00:00:00' }, field: 'atOrBefore' },
    { name: 'pit: a time in the future', type: P, over: { atOrBefore: '2999-01-01T00:00:00Z' }, field: 'atOrBefore' },
    { name: 'pit: no time', type: P, over: { atOrBefore: undefined }, field: 'atOrBefore' },
    { name: 'pit: a backup name too', type: P, over: { backup: BACKUP }, field: 'backup' },
    { name: "schema: size '384'", type: S, over: { target: { size: '384' } }, field: 'target.size' },
    { name: 'schema: negative size', type: S, over: { target: { size: -8 } }, field: 'target.size' },
    { name: 'schema: size a float', type: S, over: { target: { size: 1.5 } }, field: 'target.size' },
    { name: 'schema: no size', type: S, over: { target: {} }, field: 'target.size' },
    {
      name: "schema: distance 'cosine'",
      type: S,
      over: { target: { size: 4, distance: 'cosine' } },
      field: 'target.distance',
    },
    {
      name: 'schema: a typo in target',
      type: S,
      over: { target: { size: 4, Distance: 'Dot' } },
      field: 'target.Distance',
    },
    { name: "schema: mode 'drop'", type: S, over: { mode: 'drop' }, field: 'mode' },
    { name: 'schema: batch size 0', type: S, over: { batchSize: 0 }, field: 'batchSize' },
    {
      name: 'schema: empty reembed field',
      type: S,
      over: { reembed: { contentField: '' } },
      field: 'reembed.contentField',
    },
    { name: 'schema: target a string', type: S, over: { target: '4' }, field: 'target' },
    { name: 'schema: alias with /', type: S, over: { collection: `${ALIAS}/x` }, field: 'collection' },
    { name: 'config: vectors', type: C, over: { target: { vectors: { size: 4 } } }, field: 'target.vectors' },
    {
      name: 'config: a misspelt setting',
      type: C,
      over: { target: { hnsw_config: { ef_contruct: 100 } } },
      field: 'target.hnsw_config.ef_contruct',
    },
    {
      name: 'config: a negative m',
      type: C,
      over: { target: { hnsw_config: { m: -1 } } },
      field: 'target.hnsw_config.m',
    },
    {
      name: 'config: a fraction above 1',
      type: C,
      over: { target: { optimizers_config: { deleted_threshold: 2 } } },
      field: 'target.optimizers_config.deleted_threshold',
    },
    { name: 'config: nothing to change', type: C, over: { target: {} }, field: 'target' },
    {
      name: 'config: a setting Qdrant cannot change',
      type: C,
      over: { target: { wal_config: { wal_capacity_mb: 1 } } },
      field: 'target.wal_config',
    },
    {
      name: 'config: a role of 64 characters',
      type: C,
      over: { approval: { preApproved: { approver: APPROVER.configuration.approver, role: 'r'.repeat(64) } } },
      field: 'approval.preApproved.role',
    },
  ];

  // cortex-rollback flags: [args, what stderr must name]
  const dockerFlags = (over: Record<string, string> = {}, ...extra: string[]) => {
    const f: Record<string, string> = {
      container: APP,
      image: GOOD,
      'health-url': app.healthUrl,
      reason: 'v2.1.0 fails /health',
      'requested-by': REQUESTER,
      ...over,
    };
    return ['start', 'docker', ...Object.entries(f).flatMap(([k, v]) => [`--${k}`, v]), ...extra];
  };
  const qdrantFlags = (kind: string, over: Record<string, string> = {}) => {
    const f: Record<string, string> = {
      collection: kind === 'qdrant-schema' ? ALIAS : COLLECTION,
      ...(['qdrant-recovery', 'qdrant-schema', 'qdrant-config'].includes(kind)
        ? { reason: 'on-call', 'requested-by': REQUESTER }
        : {}),
      ...(kind === 'qdrant-schema' ? { size: '4' } : {}),
      ...(kind === 'qdrant-config' ? { 'target-json': '{"hnsw_config":{"m":8}}' } : {}),
      ...over,
    };
    return ['start', kind, ...Object.entries(f).flatMap(([k, v]) => [`--${k}`, v])];
  };
  const CLI: { name: string; args: () => string[]; names: string }[] = [
    {
      name: 'container with ; and $()',
      args: () => dockerFlags({ container: 'app;reboot $(id)' }),
      names: 'containerName',
    },
    {
      name: 'container with a newline',
      args: () => dockerFlags({ container: 'app\nrm -rf /' }),
      names: 'containerName',
    },
    {
      name: 'container with backticks and a pipe',
      args: () => dockerFlags({ container: 'a`id`|sh' }),
      names: 'containerName',
    },
    { name: "image 'latest'", args: () => dockerFlags({ image: 'cortex-memory-mcp:latest' }), names: 'targetImage' },
    { name: 'image with a space', args: () => dockerFlags({ image: 'cortex-memory-mcp v2' }), names: 'targetImage' },
    { name: 'health URL file://', args: () => dockerFlags({ 'health-url': 'file:///etc/passwd' }), names: 'healthUrl' },
    {
      name: 'health URL javascript:',
      args: () => dockerFlags({ 'health-url': 'javascript:alert(1)' }),
      names: 'healthUrl',
    },
    { name: 'negative stop timeout', args: () => dockerFlags({}, '--stop-timeout=-5'), names: '--stop-timeout' },
    { name: 'float watch', args: () => dockerFlags({ 'watch-seconds': '1.5' }), names: '--watch-seconds' },
    {
      name: 'absurd watch',
      args: () => dockerFlags({ 'watch-seconds': '99999999999' }),
      names: 'monitor.durationSeconds',
    },
    {
      name: 'a role that is no role id',
      args: () => dockerFlags({ 'pre-approve': 'mallory:Root' }),
      names: 'approval.preApproved.role',
    },
    {
      name: 'reason of 120 kB (argv holds at most 128 kB)',
      args: () => dockerFlags({ reason: 'r'.repeat(120_000) }),
      names: 'reason',
    },
    {
      name: 'requested-by with a newline',
      args: () => dockerFlags({ 'requested-by': 'bob\nApproved' }),
      names: 'requestedBy',
    },
    { name: 'a misspelt flag', args: () => [...dockerFlags(), '--contianer', 'x'], names: '--contianer' },
    {
      name: 'backup: collection with /..',
      args: () => qdrantFlags('qdrant-backup', { collection: 'a/../b' }),
      names: 'collection',
    },
    {
      name: 'backup: collection with $()',
      args: () => qdrantFlags('qdrant-backup', { collection: 'mem$(id)' }),
      names: 'collection',
    },
    {
      name: 'backup: unicode collection',
      args: () => qdrantFlags('qdrant-backup', { collection: 'mémoire' }),
      names: 'collection',
    },
    {
      name: 'backup: name escaping',
      args: () => qdrantFlags('qdrant-backup', { 'backup-name': '../x' }),
      names: 'backupName',
    },
    {
      name: 'verify: name with a pipe',
      args: () => qdrantFlags('qdrant-verify', { 'backup-name': 'x|y' }),
      names: 'backupName',
    },
    {
      name: 'recovery: backup escaping',
      args: () => qdrantFlags('qdrant-recovery', { backup: '../x' }),
      names: 'backup',
    },
    { name: "pit: 'yesterday'", args: () => qdrantFlags('qdrant-recovery', { at: 'yesterday' }), names: 'atOrBefore' },
    {
      name: 'pit: the future',
      args: () => qdrantFlags('qdrant-recovery', { at: '2999-01-01T00:00:00Z' }),
      names: 'atOrBefore',
    },
    {
      name: 'recovery: app with backticks',
      args: () =>
        qdrantFlags('qdrant-recovery', { 'app-container': 'x`id`', 'app-health-url': 'http://127.0.0.1:1/h' }),
      names: 'app.containerName',
    },
    {
      name: 'recovery: a pre-approval role by its display name',
      args: () =>
        qdrantFlags('qdrant-recovery', { 'pre-approve': `${APPROVER.database.approver}:Engineering Manager` }),
      names: 'approval.preApproved.role',
    },
    { name: 'schema: size 0', args: () => qdrantFlags('qdrant-schema', { size: '0' }), names: 'target.size' },
    {
      name: "schema: distance 'cosine'",
      args: () => qdrantFlags('qdrant-schema', { distance: 'cosine' }),
      names: 'target.distance',
    },
    { name: "schema: mode 'drop'", args: () => qdrantFlags('qdrant-schema', { mode: 'drop' }), names: 'mode' },
    {
      name: 'config: misspelt setting',
      args: () => qdrantFlags('qdrant-config', { 'target-json': '{"hnsw_config":{"ef_contruct":5}}' }),
      names: 'target.hnsw_config.ef_contruct',
    },
    {
      name: 'config: vectors',
      args: () => qdrantFlags('qdrant-config', { 'target-json': '{"vectors":{"size":4}}' }),
      names: 'target.vectors',
    },
    {
      name: 'a docker flag given to a backup',
      args: () => [...qdrantFlags('qdrant-backup'), '--image', GOOD],
      names: '--image',
    },
    {
      name: 'recovery: both --backup and --at',
      args: () => qdrantFlags('qdrant-recovery', { backup: BACKUP, at: PAST }),
      names: '--backup',
    },
    {
      name: 'config: not JSON',
      args: () => qdrantFlags('qdrant-config', { 'target-json': '{hnsw' }),
      names: '--target-json',
    },
  ];

  const temporalCli = (...args: string[]) =>
    execa(temporalCliPath(), [...args, '--address', env.address, '--namespace', 'default'], { reject: false });
  const cortexCli = (args: string[]) =>
    execa('node', [join(PROJECT_ROOT, 'client', 'bin.js'), ...args], {
      reject: false,
      env: { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: cliQueue },
    });

  async function tree(dir: string, prefix = ''): Promise<string[]> {
    const out: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      if (e.isDirectory()) out.push(`${prefix}${e.name}/`, ...(await tree(p, `${prefix}${e.name}/`)));
      else {
        const s = await stat(p);
        out.push(`${prefix}${e.name} ${s.size} ${s.mtimeMs}`);
      }
    }
    return out;
  }

  /** Everything a rollback could change, as one comparable string. Containers: ours only (dockerd is shared). */
  async function snapshot(): Promise<string> {
    const containers = await Promise.all(
      (await containersNamed('badin')).map(async (c) => {
        const i = await docker.getContainer(c.Id).inspect();
        return [i.Name, i.Id, i.Config.Image, i.State.Status, i.State.StartedAt, i.RestartCount];
      }),
    );
    const names = (await q.client.getCollections()).collections.map((c) => c.name).sort();
    const collections = await Promise.all(
      names.map(async (n) => [n, await count(q.client, n), (await q.client.getCollection(n)).config]),
    );
    const aliases = (await q.client.getAliases()).aliases.map((a) => `${a.alias_name}->${a.collection_name}`).sort();
    return JSON.stringify({ containers, collections, aliases, files: await tree(backupRoot) }, null, 1);
  }

  before(async () => {
    await ensureImages();
    env = await localEnv();
    q = await startTestQdrant();
    backupRoot = join(q.tmp, 'backups');
    await mkdir(backupRoot, { recursive: true });
    taskQueue = uniqueQueue('badin');
    cliQueue = uniqueQueue('badin-cli'); // no worker: nothing may ever be started there
    app = await startApp(APP, GOOD);
    await seed(q.client, COLLECTION, 40, 8);
    await q.client.updateCollectionAliases({
      actions: [{ create_alias: { alias_name: ALIAS, collection_name: COLLECTION } }],
    });
    worker = spawnWorker({
      address: env.address,
      taskQueue,
      extra: { QDRANT_URL: q.url, CORTEX_BACKUP_DIR: backupRoot },
    });
    await worker.ready;
    await env.client.workflow.execute('qdrantBackup', {
      taskQueue,
      workflowId: `badin-setup-${run}`,
      args: [{ collection: COLLECTION, backupName: BACKUP }],
    });
    world = await snapshot();
    assert.match(world, new RegExp(`${BACKUP}/`), 'the backup the cases refer to exists');
  });

  after(async () => {
    await worker?.kill();
    await removeByPrefix(APP);
    await env?.teardown();
    await q?.stop();
    if (q) assert.deepEqual(q.violations, [], "every request sent to Qdrant is valid per Qdrant's OpenAPI spec");
  });

  it('has at least 40 raw cases covering every workflow, and each base input is itself valid', () => {
    assert.ok(RAW.length >= 40, `${RAW.length} cases`);
    assert.deepEqual(new Set(RAW.map((c) => c.type)), new Set(Object.keys(base())));
    for (const [type, input] of Object.entries(base())) validateStartInput(workflowType(type), input);
  });

  RAW.forEach((c, i) => {
    it(`temporal workflow start ${workflowType(c.type)}: ${c.name} → InvalidInput on ${c.field}`, async () => {
      let input: unknown = c.input;
      if (c.over) {
        input = { ...base()[c.type], ...c.over };
        for (const [k, v] of Object.entries(c.over)) if (v === undefined) delete (input as Json)[k];
      }
      const workflowId = `badin-raw-${i}-${run}`;
      const args = ['workflow', 'start', '--type', workflowType(c.type), '--task-queue', taskQueue];
      args.push('--workflow-id', workflowId);
      if (!('input' in c) || c.input !== undefined) {
        const json = JSON.stringify(input);
        if (json.length < 100_000) args.push('--input', json);
        else {
          const file = join(q.tmp, `${workflowId}.json`); // argv holds at most 128 kB per argument
          await writeFile(file, json);
          args.push('--input-file', file);
        }
      }
      const started = await temporalCli(...args);
      assert.equal(started.exitCode, 0, started.stderr);

      const handle = env.client.workflow.getHandle(workflowId);
      const stuck = setTimeout(() => void handle.terminate('bad-input test: no refusal within 30 s'), 30_000);
      const f = await workflowFailure(handle.result()).finally(() => clearTimeout(stuck));
      assert.equal(f.type, 'InvalidInput', f.message);
      assert.equal(f.nonRetryable, true);
      assert.deepEqual(f.details, [{ field: c.field }], f.message);
      assert.ok(f.message.includes(`${c.field}:`), `'${f.message.slice(0, 300)}' names ${c.field}`);
      assert.ok(f.message.length < 1000, 'the message does not echo a huge value');

      const events = (await handle.fetchHistory()).events ?? [];
      const types = eventTypesWithoutPatches(events);
      assert.deepEqual(types, REFUSAL_EVENTS, 'no activity, marker, timer or search-attribute update was recorded');
      assert.equal(await snapshot(), world);
    });
  });

  // cortex-rollback cases run four at a time (each is a node process); each `it` awaits its own result.
  const cliResults = new Map<number, Promise<Result>>();
  const cliResult = (i: number): Promise<Result> => {
    if (!cliResults.has(i)) {
      for (let k = i; k < Math.min(i + 4, CLI.length); k++) {
        if (!cliResults.has(k))
          cliResults.set(k, cortexCli([...CLI[k]!.args(), '--workflow-id', `badin-cli-${k}-${run}`]));
      }
    }
    return cliResults.get(i)!;
  };

  CLI.forEach((c, i) => {
    it(`cortex-rollback start: ${c.name} → exit 2 naming ${c.names}, nothing started`, async () => {
      const r = await cliResult(i);
      assert.equal(r.exitCode, 2, `${String(r.stdout)}\n${String(r.stderr)}`);
      assert.ok(String(r.stderr).includes(c.names), `'${String(r.stderr).slice(0, 300)}' names ${c.names}`);
      await assert.rejects(
        env.client.workflow.getHandle(`badin-cli-${i}-${run}`).describe(),
        WorkflowNotFoundError,
        'no workflow was started',
      );
      assert.equal(await snapshot(), world);
    });
  });

  it('nothing at all was started on the CLI cases’ task queue', async () => {
    const started: string[] = [];
    for await (const w of env.client.workflow.list({ query: `TaskQueue = "${cliQueue}"` })) started.push(w.workflowId);
    assert.deepEqual(started, []);
    assert.equal(await snapshot(), world);
  });
});
