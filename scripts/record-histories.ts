// Records the workflow histories that test/unit/replay.test.ts replays, one per path through
// dockerContainerRollback (approved and watched, rejected, approval timeout, compensation, watch breach), the
// Qdrant workflows against a real Qdrant server (test/helpers/qdrant.ts), and crash-and-resume runs (a worker process
// SIGKILLed mid-activity, a replacement finishing the run) with real Docker and real Qdrant (`--crash-only` records just those; `--qdrant-only
// --only=<name>,<name>` records chosen Qdrant histories), systemServiceRollback on a real systemd machine with
// the host worker inside it (`--systemd-only`), kubernetesRollback on a real control plane (`--kube-only`),
// terraformRollback on real OpenTofu (`--terraform-only`), environmentConfigRollback on real Docker and a real
// systemd machine (`--envfile-only`), networkRollback on real iptables in a network namespace of its own and
// dockerNetworkRollback on Compose v2 with projects of its own (`--network-only`), the gate under the approval
// policy (`--approval-only`), rollbackGuard on the real dev server against the real demo service (`--guard-only`),
// and the emergency runbooks from their end-to-end tests (`--emergency-only`).
// Committed histories are never overwritten: only histories not yet in test/histories are written. Never re-record
// to make a failing replay pass: a failing replay means running workflows would break.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { Worker } from '@temporalio/worker';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../common/tools.ts';
import { workflowBundle } from '../workers/bundle.ts';
import { approveSignal, decideUpdate, rejectSignal } from '../workflows/phases/approval.ts';
import type { DockerRollbackInput } from '../workflows/application/docker-container.ts';
import { stubActivities, type StubOptions } from '../test/helpers/stub-activities.ts';
import { localEnv, timeSkippingEnv } from '../test/helpers/temporal.ts';
import { seed, startTestQdrant, vectorFor } from '../test/helpers/qdrant.ts';
import { createWorker } from '../workers/worker.ts';
import { startDockerRollback, waitResult } from '../client/client.ts';
import { BAD, ensureImages, GOOD, removeByPrefix, startApp } from '../test/helpers/docker.ts';
import { startDockerGate } from '../test/helpers/docker-gate.ts';
import { activityRuns, untilPending } from '../test/helpers/history.ts';
import { writeHistory } from '../test/helpers/record.ts';
import { testClient } from '../test/helpers/temporal.ts';
import { spawnWorker } from '../test/helpers/worker-process.ts';
import {
  createAppRemote,
  deployApp,
  startSystemdMachine,
  unitProps,
  type AppTag,
} from '../test/helpers/systemd-host.ts';
import { freePort, waitFor } from '../test/helpers/docker.ts';
import type { SystemServiceInput } from '../workflows/application/system-service.ts';
import Dockerode from 'dockerode';
import { startQdrantDouble } from '../test/qdrant-double/server.ts';
import { deployTwoRevisions, startKubeCluster } from '../test/helpers/kube-cluster.ts';
import type { KubernetesRollbackInput } from '../workflows/application/kubernetes.ts';
import { applyCommit, holdingTofu, tfWorld } from '../test/helpers/terraform.ts';
import { statusQuery } from '../workflows/phases/progress.ts';
import { guardStatusQuery, pauseSignal, resumeSignal, type GuardInput } from '../workflows/triggers/guard.ts';
import { BAD_RULES, BLOCKING_RULES, createNetns, HEALTH_URL, TARGET_RULES } from '../test/helpers/netns.ts';
import { confirmSignal } from '../workflows/infrastructure/network.ts';
import { createProject, ensureProbeImage, recreateNetworkAfterFirstUp } from '../test/helpers/compose.ts';

const base: DockerRollbackInput = {
  containerName: 'cortex-mcp',
  targetImage: 'cortex-memory-mcp:v2.0.0',
  healthUrl: 'http://127.0.0.1:3000/health',
  reason: 'v2.1.0 fails /health',
  requestedBy: 'recorder',
};
const pre = { preApproved: { approver: 'ci', role: 'on-call-engineer' } };

const scenarios: Array<{ name: string; stub: StubOptions; input: DockerRollbackInput; signal?: 'approve' | 'reject' }> =
  [
    {
      name: 'docker-approved-watched',
      stub: {},
      input: { ...base, monitor: { durationSeconds: 300, intervalSeconds: 30 } },
      signal: 'approve',
    },
    { name: 'docker-rejected', stub: {}, input: base, signal: 'reject' },
    { name: 'docker-approval-timeout', stub: {}, input: { ...base, approval: { timeoutSeconds: 60 } } },
    { name: 'docker-compensated', stub: { health: [false] }, input: { ...base, approval: pre } },
    {
      name: 'docker-watch-breach',
      stub: { health: [true, false] },
      input: { ...base, approval: pre, monitor: { durationSeconds: 600, intervalSeconds: 30 } },
    },
  ];

/** Qdrant workflows, recorded with the real activities against a real Qdrant server on the real dev server. */
async function recordQdrant(dir: string): Promise<void> {
  const env = await localEnv();
  const q = await startTestQdrant();
  const taskQueue = 'record-qdrant';
  const { worker } = await createWorker({
    settings: { address: env.address, namespace: 'default', taskQueue },
    connection: env.nativeConnection,
    deps: { qdrant: { client: q.client, url: q.url, backupRoot: join(q.tmp, 'backups') } },
  });
  const EM = { approver: 'erin', role: 'engineering-manager' };
  const who = { reason: 'record', requestedBy: 'recorder' };
  try {
    await worker.runUntil(async () => {
      await seed(q.client, 'rec', 300, 8);
      await q.client.updateCollectionAliases({
        actions: [{ create_alias: { alias_name: 'rec-alias', collection_name: 'rec' } }],
      });
      await seedSettings(q);
      const runs: Array<[string, string, unknown]> = [
        ['qdrant-backup', 'qdrantBackup', { collection: 'rec', backupName: 'rec-1' }],
        ['qdrant-verify', 'qdrantBackup', { collection: 'rec', mode: 'verify' }],
        [
          'qdrant-recovery',
          'qdrantDataRecovery',
          { collection: 'rec', backup: 'rec-1', ...who, approval: { preApproved: EM } },
        ],
        [
          'qdrant-pit',
          'pointInTimeRecovery',
          {
            collection: 'rec',
            atOrBefore: new Date(Date.now() + 60_000).toISOString(),
            ...who,
            approval: { preApproved: EM },
          },
        ],
        ['qdrant-schema-refused', 'qdrantSchemaRollback', { collection: 'rec-alias', target: { size: 4 }, ...who }],
        [
          'qdrant-schema-distance',
          'qdrantSchemaRollback',
          { collection: 'rec-alias', target: { size: 8, distance: 'Dot' }, ...who, approval: { preApproved: EM } },
        ],
        [
          'qdrant-schema-settings-recreate',
          'qdrantSchemaRollback',
          {
            collection: 'rec-settings',
            target: { size: 8, distance: 'Dot' },
            mode: 'recreate',
            ...who,
            approval: { preApproved: EM },
          },
        ],
        [
          'qdrant-schema-named-vector',
          'qdrantSchemaRollback',
          {
            collection: 'rec-named-alias',
            target: { size: 8, distance: 'Dot', vectorName: 'text' },
            ...who,
            approval: { preApproved: EM },
          },
        ],
        [
          'qdrant-config',
          'qdrantConfigRollback',
          {
            collection: 'rec',
            target: { hnsw_config: { m: 8 } },
            ...who,
            approval: { preApproved: { approver: 'al', role: 'on-call-engineer' } },
          },
        ],
      ];
      const only = process.argv
        .find((a) => a.startsWith('--only='))
        ?.slice('--only='.length)
        .split(',');
      for (const [name, type, input] of runs) {
        if (only && !only.includes(name)) continue;
        const h = await env.client.workflow.start(type, { taskQueue, workflowId: `rollback-${name}`, args: [input] });
        await h.result().catch(() => undefined);
        await save(dir, name, h.workflowId, env.address);
      }
    });
  } finally {
    await q.stop();
    await env.teardown();
  }
}

/** Collections with settings and payload indexes to carry, one of them with named vectors (schema rollbacks). */
async function seedSettings(q: Awaited<ReturnType<typeof startTestQdrant>>): Promise<void> {
  const settings = {
    sparse_vectors: { keywords: {} },
    hnsw_config: { m: 24 },
    optimizers_config: { indexing_threshold: 5000 },
    strict_mode_config: { enabled: true, unindexed_filtering_retrieve: false },
    metadata: { recorded: true },
  };
  await q.client.api().createCollection({
    collection_name: 'rec-settings',
    vectors: { size: 8, distance: 'Cosine' },
    ...settings,
  });
  await q.client.api().createCollection({
    collection_name: 'rec-named',
    vectors: { text: { size: 8, distance: 'Cosine' }, image: { size: 3, distance: 'Dot' } },
    ...settings,
  });
  const ids = Array.from({ length: 60 }, (_, i) => i + 1);
  for (const [name, vector] of [
    ['rec-settings', (id: number) => ({ '': vectorFor(id, 8), keywords: { indices: [id], values: [1] } })],
    ['rec-named', (id: number) => ({ text: vectorFor(id, 8), image: [id, 1, -id] })],
  ] as const) {
    await q.client.createPayloadIndex(name, { wait: true, field_name: 'kind', field_schema: 'keyword' });
    await q.client.upsert(name, {
      wait: true,
      points: ids.map((id) => ({ id, vector: vector(id), payload: { kind: id % 2 ? 'odd' : 'even' } })),
    });
  }
  await q.client.updateCollectionAliases({
    actions: [{ create_alias: { alias_name: 'rec-named-alias', collection_name: 'rec-named' } }],
  });
}

async function save(dir: string, name: string, workflowId: string, address: string): Promise<void> {
  if (kept(dir, name)) return;
  await writeHistory(join(dir, `${name}.json`), workflowId, address);
  console.log(`recorded ${name}`);
}

function kept(dir: string, name: string): boolean {
  if (!existsSync(join(dir, `${name}.json`))) return false;
  console.log(`kept ${name} (committed histories are never re-recorded)`);
  return true;
}

/**
 * Crash-and-resume runs on the real dev server, workers as child processes: the worker is SIGKILLed at a proven
 * point (Docker: the new container created, its start held by the gate; Qdrant: Temporal holds a checkpoint of
 * the copy's attempt 1) and a replacement worker finishes. Each run must have retried the interrupted activity.
 */
async function recordCrashes(dir: string): Promise<void> {
  const env = await localEnv();
  try {
    if (!kept(dir, 'docker-crash-resumed')) {
      await ensureImages();
      const gate = await startDockerGate();
      const name = 'crash-record-mcp';
      const taskQueue = 'record-crash-docker';
      const extra = { DOCKER_HOST: gate.host };
      try {
        const app = await startApp(name, BAD);
        const first = spawnWorker({ address: env.address, taskQueue, extra });
        await first.ready;
        const started = gate.arm({ method: 'POST', path: /^\/containers\/[^/]+\/start\b/, mode: 'hold' });
        const rc = testClient(env, taskQueue);
        const { workflowId } = await startDockerRollback(rc, {
          ...base,
          containerName: name,
          targetImage: GOOD,
          healthUrl: app.healthUrl,
          approval: pre,
          monitor: { durationSeconds: 3, intervalSeconds: 1 },
        });
        await started;
        await first.kill();
        const second = spawnWorker({ address: env.address, taskQueue, extra });
        await second.ready;
        const r = await waitResult(rc, workflowId);
        await second.kill();
        assert.ok(r.ok && r.result.outcome === 'succeeded', JSON.stringify(r));
        const [run] = await activityRuns(env.client.workflow.getHandle(workflowId), 'runContainer');
        assert.ok(run && run.attempt >= 2, 'runContainer was interrupted and retried');
        await save(dir, 'docker-crash-resumed', workflowId, env.address);
      } finally {
        await removeByPrefix(name);
        await gate.close();
      }
    }
    if (!kept(dir, 'qdrant-copy-crash-resumed')) {
      const q = await startTestQdrant();
      const taskQueue = 'record-crash-qdrant';
      const extra = { QDRANT_URL: q.url, CORTEX_BACKUP_DIR: join(q.tmp, 'backups') };
      try {
        await seed(q.client, 'crash-rec-v1', 2000, 8);
        await q.client.updateCollectionAliases({
          actions: [{ create_alias: { alias_name: 'crash-rec', collection_name: 'crash-rec-v1' } }],
        });
        const first = spawnWorker({ address: env.address, taskQueue, extra });
        await first.ready;
        q.faults.delay(40);
        const h = await env.client.workflow.start('qdrantSchemaRollback', {
          taskQueue,
          workflowId: 'rollback-qdrant-copy-crash-resumed',
          args: [
            {
              collection: 'crash-rec',
              target: { size: 8, distance: 'Dot' },
              batchSize: 50,
              reason: 'record',
              requestedBy: 'recorder',
              approval: { preApproved: { approver: 'erin', role: 'engineering-manager' } },
            },
          ],
        });
        await untilPending(
          h,
          'qdrantCopyPoints',
          (a) => a.attempt === 1 && (a.heartbeat as { nextOffset?: unknown } | undefined)?.nextOffset != null,
          60_000,
        );
        await first.kill();
        q.faults.delay(0);
        const second = spawnWorker({ address: env.address, taskQueue, extra });
        await second.ready;
        await h.result();
        await second.kill();
        const [run] = await activityRuns(h, 'qdrantCopyPoints');
        assert.ok(run && run.attempt >= 2, 'qdrantCopyPoints was interrupted and retried');
        await save(dir, 'qdrant-copy-crash-resumed', h.workflowId, env.address);
      } finally {
        await q.stop();
      }
    }
  } finally {
    await env.teardown();
  }
}

/**
 * systemServiceRollback on a real systemd machine (test/helpers/systemd-host.ts), its steps on a host worker inside
 * it: each path once (approved by signal and watched, rejected, already on target, unknown tag, failing build,
 * unhealthy target undone, and the host worker SIGKILLed during the restart with a replacement finishing).
 */
async function recordSystemd(dir: string): Promise<void> {
  const names = [
    'system-service-approved-watched',
    'system-service-rejected',
    'system-service-already-on-target',
    'system-service-unknown-tag',
    'system-service-build-failed',
    'system-service-compensated',
    'system-service-crash-resumed',
  ];
  if (names.every((n) => kept(dir, n))) return;
  const host = 'record-host';
  const base = '/srv/record';
  const [m, env] = await Promise.all([startSystemdMachine(`cortex-systemd-record-${process.pid}`), localEnv()]);
  const taskQueue = 'record-systemd';
  const { worker } = await createWorker({
    settings: { address: env.address, namespace: 'default', taskQueue },
    connection: env.nativeConnection,
    deps: { docker: new Dockerode({ socketPath: '/nonexistent/docker.sock' }) },
  });
  let hostWorker = m.startWorker({ address: env.address, host, identity: 'record-host-worker-1' });
  try {
    await hostWorker.ready;
    const remote = await createAppRemote(m, base);
    await worker.runUntil(async () => {
      const run = async (
        name: string,
        from: AppTag,
        targetTag: string,
        over: Partial<SystemServiceInput> = {},
        during?: (h: Awaited<ReturnType<typeof env.client.workflow.start>>, gate: string) => Promise<void>,
      ): Promise<void> => {
        if (kept(dir, name)) return;
        const unit = name.replace('system-service-', 'rec-');
        const app = await deployApp(m, { unit, root: `${base}/${unit}`, remote, tag: from, port: await freePort() });
        if (during) await m.must(`rm -f ${app.gate}`);
        const input: SystemServiceInput = {
          unit,
          releaseRoot: app.root,
          gitRemote: remote,
          targetTag,
          healthUrl: app.healthUrl,
          reason: 'record',
          requestedBy: 'recorder',
          host,
          installCommands: ['npm ci --omit=dev --no-audit --no-fund --offline', 'npm run build'],
          verifyTimeoutSeconds: 3,
          monitor: { durationSeconds: 0 },
          approval: pre,
          ...over,
        };
        const h = await env.client.workflow.start('systemServiceRollback', {
          taskQueue,
          workflowId: `rollback-system-service-${host}-${unit}`,
          args: [input],
        });
        await during?.(h, app.gate);
        await h.result().catch(() => undefined);
        await save(dir, name, h.workflowId, env.address);
      };
      await run(
        'system-service-approved-watched',
        'v1.2.0',
        'v1.0.0',
        { approval: {}, monitor: { durationSeconds: 3, intervalSeconds: 1 } },
        async (h, gate) => {
          await m.must(`touch ${gate}`);
          await h.signal(approveSignal, { approver: 'alice', role: 'on-call-engineer' });
        },
      );
      await run('system-service-rejected', 'v1.2.0', 'v1.0.0', { approval: {} }, async (h, gate) => {
        await m.must(`touch ${gate}`);
        await h.signal(rejectSignal, { approver: 'erin', role: 'engineering-manager', reason: 'fix forward' });
      });
      await run('system-service-already-on-target', 'v1.0.0', 'v1.0.0');
      await run('system-service-unknown-tag', 'v1.1.0', 'v7.7.7');
      await run('system-service-build-failed', 'v1.1.0', 'v0.8.0');
      await run('system-service-compensated', 'v1.1.0', 'v0.9.0');
      await run('system-service-crash-resumed', 'v1.2.0', 'v1.0.0', {}, async (h, gate) => {
        await untilPending(h, 'systemdRestart', (a) => a.attempt === 1, 60_000);
        const unit = 'rec-crash-resumed';
        await waitFor(
          async () => (await unitProps(m, unit)).ActiveState === 'activating',
          20_000,
          `${unit} restarting (held in ExecStartPre)`,
        );
        await hostWorker.kill();
        hostWorker = m.startWorker({ address: env.address, host, identity: 'record-host-worker-2' });
        await hostWorker.ready;
        await m.must(`touch ${gate}`);
        await h.result();
        const [restart] = await activityRuns(h, 'systemdRestart');
        assert.ok(restart && restart.attempt >= 2, 'systemdRestart was interrupted and retried');
      });
    });
  } finally {
    await hostWorker.kill().catch(() => undefined);
    await env.teardown();
    await m.remove();
  }
}

/**
 * kubernetesRollback on a real control plane (test/helpers/kube-cluster.ts) and the real dev server: approved and
 * watched, rejected, target never deployed, already on target, a rollout that never completes (compensated), and
 * a worker SIGKILLed between the undo and its rollout status (crash-and-resume).
 */
async function recordKubernetes(dir: string): Promise<void> {
  const [cluster, env] = await Promise.all([startKubeCluster(), localEnv()]);
  const ns = 'record';
  const V1 = 'cortex-memory-mcp:v2.0.0';
  const V2 = 'cortex-memory-mcp:v2.1.0';
  const OC = { approver: 'olivia', role: 'on-call-engineer' };
  const taskQueue = 'record-kubernetes';
  const input = (deployment: string, over: Partial<KubernetesRollbackInput> = {}): KubernetesRollbackInput => ({
    namespace: ns,
    deployment,
    targetImage: V1,
    reason: 'v2.1.0 fails its readiness checks',
    requestedBy: 'recorder',
    rolloutTimeoutSeconds: 60,
    monitor: { durationSeconds: 0 },
    approval: { preApproved: OC },
    ...over,
  });
  const start = (name: string, i: KubernetesRollbackInput, queue = taskQueue) =>
    env.client.workflow.start('kubernetesRollback', {
      taskQueue: queue,
      workflowId: `rollback-kubernetes-${name}`,
      args: [i],
    });
  try {
    await cluster.k('create', 'namespace', ns);
    const { worker } = await createWorker({
      settings: { address: env.address, namespace: 'default', taskQueue },
      connection: env.nativeConnection,
      deps: { kubectl: cluster.kubectl },
    });
    await worker.runUntil(async () => {
      const runs: Array<[string, KubernetesRollbackInput, 'approve' | 'reject' | undefined, boolean?]> = [
        [
          'kubernetes-approved-watched',
          input('watched', { approval: {}, monitor: { durationSeconds: 3, intervalSeconds: 1 } }),
          'approve',
        ],
        ['kubernetes-rejected', input('rejected', { approval: {} }), 'reject'],
        ['kubernetes-unknown-target', input('unknown', { targetImage: 'cortex-memory-mcp:v1.9.9' }), undefined],
        ['kubernetes-already-on-target', input('on-target', { targetImage: V2 }), undefined],
        ['kubernetes-compensated', input('broken', { rolloutTimeoutSeconds: 3 }), undefined, true],
      ];
      for (const [name, i, signal, firstNeverReady] of runs) {
        if (kept(dir, name)) continue;
        await deployTwoRevisions(cluster, {
          namespace: ns,
          name: i.deployment,
          first: V1,
          second: V2,
          firstNeverReady: firstNeverReady ?? false,
        });
        const h = await start(name, i);
        if (signal === 'approve') await h.signal(approveSignal, OC);
        if (signal === 'reject')
          await h.signal(rejectSignal, { approver: 'erin', role: 'engineering-manager', reason: 'fix forward' });
        await h.result().catch(() => undefined);
        await save(dir, name, h.workflowId, env.address);
      }
    });

    const name = 'kubernetes-crash-resumed';
    if (!kept(dir, name)) {
      // minReadySeconds keeps rollout status waiting after the undo: the worker is killed in that window
      await deployTwoRevisions(cluster, { namespace: ns, name: 'crash', first: V1, second: V2, minReadySeconds: 6 });
      const queue = 'record-kubernetes-crash';
      const extra = { KUBECONFIG: cluster.kubeconfig };
      const first = spawnWorker({ address: env.address, taskQueue: queue, extra });
      await first.ready;
      const h = await start(name, input('crash'), queue);
      await untilPending(h, 'waitRollout', () => true, 60_000);
      const [undo] = await activityRuns(h, 'rolloutUndo');
      assert.ok(undo?.completed, 'the undo completed before the kill');
      await first.kill();
      const second = spawnWorker({ address: env.address, taskQueue: queue, extra });
      await second.ready;
      await h.result();
      await second.kill();
      const [wait] = await activityRuns(h, 'waitRollout');
      assert.ok(wait && wait.attempt >= 2, 'waitRollout was interrupted and retried');
      await save(dir, name, h.workflowId, env.address);
    }
  } finally {
    await env.teardown();
    await cluster.stop();
  }
}

/**
 * environmentConfigRollback with the real activities: Docker targets (the demo app run with a file's env) and a unit
 * on a real systemd machine (host worker inside it), the Qdrant double with an API key for the connection test.
 * Every env file holds random secrets; a recorded history holding one is refused.
 */
async function recordEnvFile(dir: string): Promise<void> {
  const names = [
    'envfile-docker-approved-watched',
    'envfile-docker-rejected',
    'envfile-docker-invalid-known-good',
    'envfile-docker-already-applied',
    'envfile-docker-compensated',
    'envfile-docker-crash-resumed',
    'envfile-systemd-applied',
  ];
  if (names.every((n) => kept(dir, n))) return;
  await ensureImages();
  const tmp = mkdtempSync(join(tmpdir(), 'record-envfile-'));
  const qdrantKey = `qk-${randomBytes(12).toString('hex')}`;
  const secrets = [qdrantKey];
  const q = await startQdrantDouble({ dataDir: join(tmp, 'qdrant'), apiKey: qdrantKey });
  const host = 'record-envfile-host';
  const [env, m] = await Promise.all([localEnv(), startSystemdMachine(`cortex-envfile-record-${process.pid}`)]);
  const taskQueue = 'record-envfile';
  const { worker } = await createWorker({
    settings: { address: env.address, namespace: 'default', taskQueue },
    connection: env.nativeConnection,
  });
  const hostWorker = m.startWorker({ address: env.address, host, identity: 'record-envfile-host-worker' });
  const envText = (health = 'healthy', extra: string[] = []) => {
    const openai = `sk-${randomBytes(12).toString('hex')}`;
    secrets.push(openai);
    return [
      `QDRANT_URL=${q.url}`,
      `QDRANT_API_KEY=${qdrantKey}`,
      `OPENAI_API_KEY=${openai}`,
      `CORTEX_HEALTH=${health}`,
      ...extra,
    ];
  };
  const saveChecked = async (name: string, workflowId: string) => {
    await save(dir, name, workflowId, env.address);
    const text = readFileSync(join(dir, `${name}.json`), 'utf8');
    const decoded = [...text.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)]
      .map((x) => Buffer.from(x[1]!, 'base64').toString('utf8'))
      .join('\n');
    for (const v of secrets)
      assert.ok(!text.includes(v) && !decoded.includes(v), `${name}: a secret is in its history`);
  };
  const docker = async (name: string, current: string[], good: string[]) => {
    const container = name.replace('envfile-docker-', 'rec-env-');
    const d = join(tmp, container);
    mkdirSync(d);
    writeFileSync(join(d, '.env'), `${current.join('\n')}\n`, { mode: 0o640 });
    writeFileSync(join(d, 'good.env'), `${good.join('\n')}\n`, { mode: 0o600 });
    const app = await startApp(container, GOOD, current);
    return {
      container,
      input: (over: Record<string, unknown> = {}) => ({
        envFile: join(d, '.env'),
        knownGoodFile: join(d, 'good.env'),
        target: { kind: 'docker', containerName: container, healthUrl: app.healthUrl },
        reason: 'record',
        requestedBy: 'recorder',
        approval: pre,
        monitor: { durationSeconds: 0 },
        verifyTimeoutSeconds: 3,
        ...over,
      }),
    };
  };
  const workflowId = (container: string) => `rollback-configuration-env-docker-${container}`;
  const made: string[] = [];
  try {
    await hostWorker.ready;
    await worker.runUntil(async () => {
      const run = async (
        name: string,
        current: string[],
        good: string[],
        over: Record<string, unknown> = {},
        during?: (h: Awaited<ReturnType<typeof env.client.workflow.start>>) => Promise<void>,
      ) => {
        if (kept(dir, name)) return;
        const s = await docker(name, current, good);
        made.push(s.container);
        const h = await env.client.workflow.start('environmentConfigRollback', {
          taskQueue,
          workflowId: workflowId(s.container),
          args: [s.input(over)],
        });
        await during?.(h);
        await h.result().catch(() => undefined);
        await saveChecked(name, h.workflowId);
      };
      const same = envText();
      await run(
        'envfile-docker-approved-watched',
        envText('unhealthy'),
        envText('healthy', ['CORTEX_FEATURE_FLAGS=memory-v2']),
        { approval: {}, monitor: { durationSeconds: 3, intervalSeconds: 1 } },
        (h) => h.signal(approveSignal, { approver: 'alice', role: 'on-call-engineer' }),
      );
      await run('envfile-docker-rejected', envText('unhealthy'), envText(), { approval: {} }, (h) =>
        h.signal(rejectSignal, { approver: 'erin', role: 'engineering-manager', reason: 'fix forward' }),
      );
      await run('envfile-docker-invalid-known-good', envText('unhealthy'), [...envText(), 'QDRANT_URL=x', 'junk']);
      await run('envfile-docker-already-applied', same, same);
      await run('envfile-docker-compensated', envText(), envText('unhealthy'));

      if (!kept(dir, 'envfile-systemd-applied')) {
        const unit = 'rec-env-unit';
        const d = `/srv/${unit}`;
        const port = await freePort();
        const heredoc = (path: string, lines: string[]) => `cat > ${path} <<'ENV'\n${lines.join('\n')}\nENV\n`;
        await m.must(
          `set -e; mkdir -p ${d}; cp ${PROJECT_ROOT}/images/cortex-mcp/server.js ${d}/server.cjs\n` +
            `${heredoc(`${d}/.env`, envText('unhealthy'))}${heredoc(`${d}/good.env`, envText())}chmod 640 ${d}/.env\n` +
            `cat > /etc/systemd/system/${unit}.service <<'UNIT'\n[Unit]\nDescription=${unit}\n\n[Service]\n` +
            `Environment=PORT=${port}\nEnvironmentFile=${d}/.env\nExecStart=/usr/bin/node ${d}/server.cjs\n` +
            `Restart=no\nUNIT\nsystemctl daemon-reload; systemctl start ${unit}`,
        );
        const healthUrl = `http://127.0.0.1:${port}/health`;
        await waitFor(async () => (await fetch(healthUrl)).status > 0, 20_000, `${unit} listening`);
        const h = await env.client.workflow.start('environmentConfigRollback', {
          taskQueue,
          workflowId: `rollback-configuration-env-${host}-systemd-${unit}.service`,
          args: [
            {
              envFile: `${d}/.env`,
              knownGoodFile: `${d}/good.env`,
              target: { kind: 'systemd', unit, healthUrl },
              host,
              reason: 'record',
              requestedBy: 'recorder',
              approval: pre,
              monitor: { durationSeconds: 2, intervalSeconds: 1 },
              verifyTimeoutSeconds: 3,
            },
          ],
        });
        await h.result();
        await saveChecked('envfile-systemd-applied', h.workflowId);
      }
    });

    if (!kept(dir, 'envfile-docker-crash-resumed')) {
      // Worker processes through the Docker gate: SIGKILLed while the recreated container's start is held (the
      // file already replaced), a replacement finishes; the recreate completes on attempt 2.
      const gate = await startDockerGate();
      const s = await docker('envfile-docker-crash-resumed', envText('unhealthy'), envText());
      made.push(s.container);
      const crashQueue = 'record-envfile-crash';
      const extra = { DOCKER_HOST: gate.host };
      try {
        const first = spawnWorker({ address: env.address, taskQueue: crashQueue, extra });
        await first.ready;
        const held = gate.arm({ method: 'POST', path: /^\/containers\/[^/]+\/start\b/, mode: 'hold' });
        const h = await env.client.workflow.start('environmentConfigRollback', {
          taskQueue: crashQueue,
          workflowId: workflowId(s.container),
          args: [s.input()],
        });
        await held;
        await first.kill();
        const second = spawnWorker({ address: env.address, taskQueue: crashQueue, extra });
        await second.ready;
        await h.result();
        await second.kill();
        const [run] = await activityRuns(h, 'recreateContainerWithEnvFile');
        assert.ok(run && run.attempt >= 2, 'recreateContainerWithEnvFile was interrupted and retried');
        await saveChecked('envfile-docker-crash-resumed', h.workflowId);
      } finally {
        await gate.close();
      }
    }
  } finally {
    await hostWorker.kill().catch(() => undefined);
    for (const c of made) await removeByPrefix(c);
    await m.remove();
    await env.teardown();
    await q.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * terraformRollback on the real OpenTofu binary with local state: approved, rejected, a stale plan re-made and
 * re-approved, compensated (a target that never converges), and a worker SIGKILLed after apply (the `tofu`
 * wrapper holds once apply is done) with a replacement finishing.
 */
async function recordTerraform(dir: string): Promise<void> {
  const names = ['terraform-approved', 'terraform-rejected', 'terraform-stale-replanned', 'terraform-compensated'];
  const crashName = 'terraform-crash-resumed';
  if ([...names, crashName].every((n) => kept(dir, n))) return;
  const env = await localEnv();
  const w = await tfWorld('record-tofu');
  const taskQueue = 'record-terraform';
  const { worker } = await createWorker({
    settings: { address: env.address, namespace: 'default', taskQueue },
    connection: env.nativeConnection,
    deps: { terraform: { workRoot: join(w.root, 'work'), env: w.env } },
  });
  const director = { approver: 'dora', role: 'director-of-engineering' };
  let n = 0;
  const start = async (name: string, extra: Record<string, unknown>, queue = taskQueue) => {
    n += 1;
    const stateFile = join(w.root, `state-${n}.tfstate`);
    await applyCommit(w, w.commits.B, stateFile);
    const input = {
      repo: w.repo,
      directory: 'infra',
      commit: w.commits.A,
      stateFile,
      reason: 'record',
      requestedBy: 'recorder',
      ...extra,
    };
    const h = await env.client.workflow.start('terraformRollback', {
      taskQueue: queue,
      workflowId: `rollback-${name}`,
      args: [input],
    });
    return { h, stateFile };
  };
  const plan = async (h: Awaited<ReturnType<typeof start>>['h'], notId?: string) => {
    let id = '';
    await waitFor(
      async () => {
        id = (await h.query(statusQuery)).pendingApproval?.plan?.id ?? '';
        return id !== '' && id !== notId;
      },
      60_000,
      'a plan awaiting approval',
    );
    return id;
  };
  try {
    await worker.runUntil(async () => {
      for (const name of names) {
        if (kept(dir, name)) continue;
        const { h, stateFile } = await start(
          name,
          name === 'terraform-compensated' ? { commit: w.commits.N, previousCommit: w.commits.B } : {},
        );
        const first = await plan(h);
        if (name === 'terraform-rejected') {
          await h.signal(rejectSignal, { ...director, reason: 'fix forward' });
        } else if (name === 'terraform-stale-replanned') {
          await applyCommit(w, w.commits.B, stateFile, ['-replace=terraform_data.extra']);
          await h.signal(approveSignal, { ...director, planId: first });
          await h.signal(approveSignal, { ...director, planId: await plan(h, first) });
        } else {
          await h.signal(approveSignal, { ...director, planId: first });
        }
        await h.result().catch(() => undefined);
        await save(dir, name, h.workflowId, env.address);
      }
    });
    if (!kept(dir, crashName)) {
      const holdDir = join(w.root, 'hold');
      const extra = { ...w.env, TOFU_BIN: holdingTofu(w, holdDir), CORTEX_TERRAFORM_DIR: join(w.root, 'work-crash') };
      const queue = 'record-terraform-crash';
      const first = spawnWorker({ address: env.address, taskQueue: queue, extra });
      await first.ready;
      const { h } = await start(crashName, {}, queue);
      await h.signal(approveSignal, { ...director, planId: await plan(h) });
      await waitFor(() => Promise.resolve(existsSync(join(holdDir, 'applied'))), 60_000, 'apply done');
      await untilPending(h, 'tfApply', (a) => a.attempt === 1, 10_000);
      await first.kill();
      process.kill(Number(readFileSync(join(holdDir, 'applied'), 'utf8').split(' ')[0]), 'SIGKILL');
      rmSync(join(holdDir, 'hold'));
      const second = spawnWorker({ address: env.address, taskQueue: queue, extra });
      await second.ready;
      await h.result();
      await second.kill();
      const [run] = await activityRuns(h, 'tfApply');
      assert.ok(run && run.attempt >= 2, 'tfApply was interrupted and retried');
      await save(dir, crashName, h.workflowId, env.address);
    }
  } finally {
    await env.teardown();
    w.close();
  }
}

/**
 * The gate under the runbook's approval policy (config/approval-policy.json), in dockerContainerRollback with
 * stubbed activities on the time-skipping server: approved through the `decide` update; refused updates (nothing
 * in history) and a refused signal, then rejected through the update; escalated, then approved by the backup
 * contact; and no decision at all (not approved after the escalation window).
 */
async function recordApprovalPolicy(dir: string): Promise<void> {
  const env = await timeSkippingEnv();
  const bundle = await workflowBundle();
  const input: DockerRollbackInput = { ...base, requestedBy: 'oncall-eng', monitor: { durationSeconds: 0 } };
  type Handle = Awaited<ReturnType<typeof env.client.workflow.start>>;
  const gateOpen = async (h: Handle) => {
    await waitFor(async () => (await h.query(statusQuery)).pendingApproval?.contact !== undefined, 30_000, 'gate');
  };
  const runs: Array<{ name: string; drive: (h: Handle) => Promise<void> }> = [
    {
      name: 'docker-policy-approved-update',
      drive: async (h) => {
        await gateOpen(h);
        await h.executeUpdate(decideUpdate, {
          args: [{ decision: 'approve', approver: 'eng-manager', role: 'engineering-manager', comment: 'go' }],
        });
      },
    },
    {
      name: 'docker-policy-refused-then-rejected',
      drive: async (h) => {
        await gateOpen(h);
        for (const d of [
          { decision: 'approve' as const, approver: 'mallory', role: 'on-call-engineer' },
          { decision: 'approve' as const, approver: 'oncall-eng', role: 'on-call-engineer' },
        ]) {
          await h.executeUpdate(decideUpdate, { args: [d] }).then(
            () => assert.fail(`${d.approver} was accepted`),
            () => undefined,
          );
        }
        await h.signal(approveSignal, { approver: 'tech-lead', role: 'tech-lead' });
        await h.executeUpdate(decideUpdate, {
          args: [{ decision: 'reject', approver: 'eng-manager', role: 'engineering-manager', comment: 'fix forward' }],
        });
      },
    },
    {
      name: 'docker-policy-escalated-approved',
      drive: async (h) => {
        await gateOpen(h);
        await env.sleep('16 minutes');
        await waitFor(
          async () => (await h.query(statusQuery)).pendingApproval?.escalated === true,
          30_000,
          'escalated',
        );
        await h.executeUpdate(decideUpdate, {
          args: [{ decision: 'approve', approver: 'backup-eng', role: 'engineer', comment: 'covering' }],
        });
      },
    },
    { name: 'docker-policy-not-approved', drive: () => Promise.resolve() },
  ];
  try {
    for (const r of runs) {
      if (kept(dir, r.name)) continue;
      const { activities } = stubActivities({ approvalPolicy: join(PROJECT_ROOT, 'config', 'approval-policy.json') });
      const taskQueue = `record-${r.name}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: bundle,
        activities,
      });
      await worker.runUntil(async () => {
        const h = await env.client.workflow.start('dockerContainerRollback', {
          taskQueue,
          workflowId: `rollback-docker-${r.name}`,
          args: [input],
        });
        await r.drive(h);
        await h.result().catch(() => undefined);
        await save(dir, r.name, h.workflowId, env.address);
      });
    }
  } finally {
    await env.teardown();
  }
}

/** networkRollback on real iptables in a namespace of its own: confirmed, refused, reverted twice, crash-resumed. */
async function recordNetwork(dir: string): Promise<void> {
  const env = await localEnv();
  const ns = await createNetns();
  const backups = mkdtempSync(join(tmpdir(), 'record-network-'));
  const taskQueue = 'record-network';
  const base = {
    netns: ns.name,
    healthUrls: [HEALTH_URL],
    reason: 'record',
    requestedBy: 'recorder',
    approval: { preApproved: { approver: 'dora', role: 'director-of-engineering' } },
  };
  try {
    const { worker } = await createWorker({
      settings: { address: env.address, namespace: 'default', taskQueue },
      connection: env.nativeConnection,
      deps: { networkBackupRoot: backups },
    });
    await worker.runUntil(async () => {
      const runs: Array<[string, Record<string, unknown>, boolean]> = [
        ['network-confirmed', { rulesFile: ns.file('t.rules', TARGET_RULES), confirmSeconds: 60 }, true],
        ['network-bad-rules-refused', { rulesFile: ns.file('bad.rules', BAD_RULES) }, false],
        [
          'network-unhealthy-reverted',
          { rulesFile: ns.file('b.rules', BLOCKING_RULES), verifyTimeoutSeconds: 2 },
          false,
        ],
        ['network-unconfirmed-reverted', { rulesFile: ns.file('u.rules', TARGET_RULES), confirmSeconds: 5 }, false],
      ];
      for (const [name, input, confirm] of runs) {
        if (kept(dir, name)) continue;
        const h = await env.client.workflow.start('networkRollback', {
          taskQueue,
          workflowId: `rollback-${name}`,
          args: [{ ...base, ...input }],
        });
        if (confirm) {
          await waitFor(async () => (await h.query(statusQuery)).phase === 'awaiting-confirmation', 60_000, 'waiting');
          await h.signal(confirmSignal, { by: 'recorder' });
        }
        await h.result().catch(() => undefined);
        await save(dir, name, h.workflowId, env.address);
      }
    });
    if (!kept(dir, 'network-crash-reverted')) {
      const crashQueue = 'record-network-crash';
      const first = spawnWorker({ address: env.address, taskQueue: crashQueue });
      await first.ready;
      ns.pause();
      const h = await env.client.workflow.start('networkRollback', {
        taskQueue: crashQueue,
        workflowId: 'rollback-network-crash-reverted',
        args: [{ ...base, rulesFile: ns.file('c.rules', TARGET_RULES), confirmSeconds: 5 }],
      });
      await untilPending(h, 'networkHealth', (a) => a.attempt === 1 && a.heartbeat !== undefined, 60_000).catch(
        async (err: unknown) => {
          const events = (await h.fetchHistory()).events ?? [];
          console.error(first.output(), JSON.stringify(events.slice(-3), null, 1).slice(0, 3000));
          throw err;
        },
      );
      await first.kill();
      ns.resume();
      const second = spawnWorker({ address: env.address, taskQueue: crashQueue });
      await second.ready;
      const r = await h.result().then(
        () => 'succeeded',
        (err: unknown) => String(err),
      );
      await second.kill();
      const [run] = await activityRuns(h, 'networkHealth');
      assert.ok(run && run.attempt >= 2, `networkHealth was interrupted and retried (${r})`);
      await save(dir, 'network-crash-reverted', h.workflowId, env.address);
    }
  } finally {
    await ns.close();
    rmSync(backups, { recursive: true, force: true });
    await env.teardown();
  }
}

/** dockerNetworkRollback on Compose v2: succeeded, refused, lost alias repaired, reverted, crash-resumed. */
async function recordDockerNetwork(dir: string): Promise<void> {
  await ensureProbeImage();
  const env = await localEnv();
  const backups = mkdtempSync(join(tmpdir(), 'record-docker-network-'));
  const projects: Array<Awaited<ReturnType<typeof createProject>>> = [];
  const who = {
    reason: 'record',
    requestedBy: 'recorder',
    approval: { preApproved: { approver: 'dora', role: 'director-of-engineering' } },
  };
  const input = (p: (typeof projects)[number], extra: Record<string, unknown> = {}) => ({
    project: p.name,
    composeFile: p.current,
    knownGoodFile: p.good,
    healthUrls: [p.healthUrl],
    ...who,
    ...extra,
  });
  try {
    const runs: Array<[string, (p: (typeof projects)[number]) => Record<string, unknown>, boolean]> = [
      ['docker-network-succeeded', (p) => input(p), false],
      ['docker-network-refused', (p) => input(p, { knownGoodFile: join(p.dir, 'missing.yml') }), false],
      ['docker-network-alias-recovered', (p) => input(p), true],
      [
        'docker-network-reverted',
        (p) => input(p, { verifyTimeoutSeconds: 2, resolveServices: ['api', 'cache'] }),
        false,
      ],
    ];
    for (const [name, make, fault] of runs) {
      if (kept(dir, name)) continue;
      const p = await createProject('rec');
      projects.push(p);
      const taskQueue = `record-${name}`;
      const { worker } = await createWorker({
        settings: { address: env.address, namespace: 'default', taskQueue },
        connection: env.nativeConnection,
        deps: { networkBackupRoot: backups, ...(fault ? { run: recreateNetworkAfterFirstUp(p).run } : {}) },
      });
      await worker.runUntil(async () => {
        const h = await env.client.workflow.start('dockerNetworkRollback', {
          taskQueue,
          workflowId: `rollback-${name}`,
          args: [make(p)],
        });
        await h.result().catch(() => undefined);
        await save(dir, name, h.workflowId, env.address);
      });
    }
    if (!kept(dir, 'docker-network-crash-resumed')) {
      const p = await createProject('rec-crash');
      projects.push(p);
      const taskQueue = 'record-docker-network-crash';
      const first = spawnWorker({ address: env.address, taskQueue });
      await first.ready;
      p.hold();
      const h = await env.client.workflow.start('dockerNetworkRollback', {
        taskQueue,
        workflowId: 'rollback-docker-network-crash-resumed',
        args: [input(p)],
      });
      await untilPending(h, 'composeVerify', (a) => a.attempt === 1 && a.heartbeat !== undefined, 90_000);
      await first.kill();
      p.release();
      const second = spawnWorker({ address: env.address, taskQueue });
      await second.ready;
      const r = (await h.result()) as { backup?: { filePath: string; configPath?: string } };
      await second.kill();
      // worker processes keep backups in the project's .data: remove this run's
      for (const f of [r.backup?.filePath, r.backup?.configPath]) if (f) rmSync(f, { force: true });
      const [run] = await activityRuns(h, 'composeVerify');
      assert.ok(run && run.attempt >= 2, 'composeVerify was interrupted and retried');
      await save(dir, 'docker-network-crash-resumed', h.workflowId, env.address);
    }
  } finally {
    for (const p of projects) await p.close();
    rmSync(backups, { recursive: true, force: true });
    await env.teardown();
  }
}

/**
 * rollbackGuard on the real dev server against the real demo service (1 s samples): an unhealthy v2.1.0 firing
 * the health trigger and starting its rollback; a guard paused, given a db failure, resumed (alert-only); and the
 * second run of a guard that continued as new with an error-rate window spanning both runs.
 */
async function recordGuard(dir: string): Promise<void> {
  await ensureImages();
  const env = await localEnv();
  const taskQueue = 'record-guard';
  const { worker } = await createWorker({
    settings: { address: env.address, namespace: 'default', taskQueue },
    connection: env.nativeConnection,
  });
  const names: string[] = [];
  const query = (id: string) => env.client.workflow.getHandle(id).query(guardStatusQuery);
  const run = async (
    name: string,
    image: string,
    appEnv: string[],
    input: (healthUrl: string) => Partial<GuardInput>,
    drive: (id: string, port: number) => Promise<void>,
  ) => {
    if (kept(dir, name)) return;
    const app = `rec-${name}`;
    names.push(app);
    const started = await startApp(app, image, appEnv);
    const id = `guard-${app}`;
    await env.client.workflow.start('rollbackGuard', {
      taskQueue,
      workflowId: id,
      args: [{ service: app, healthUrl: started.healthUrl, intervalSeconds: 1, ...input(started.healthUrl) }],
    });
    await drive(id, started.port);
    await env.client.workflow.getHandle(id).terminate('recorded');
    await env.client.workflow
      .getHandle(`rollback-docker-${app}`)
      .terminate('recorded')
      .catch(() => undefined);
    await save(dir, name, id, env.address);
  };
  const rollbackTo = (app: string, healthUrl: string) => ({
    scenario: 'docker-container',
    input: {
      containerName: app,
      targetImage: GOOD,
      healthUrl,
      reason: 'automatic trigger',
      requestedBy: 'guard',
      monitor: { durationSeconds: 0 },
      approval: { timeoutSeconds: 600 },
    },
  });
  try {
    await worker.runUntil(async () => {
      await run(
        'guard-health-triggered',
        BAD,
        [],
        (u) => ({ rollback: rollbackTo('rec-guard-health-triggered', u) }),
        async (id) => {
          await waitFor(async () => (await query(id)).samplesTotal >= 6, 30_000, 'a trigger and two more samples');
          assert.equal((await query(id)).triggers[0]?.action, 'rollback-started');
        },
      );
      await run(
        'guard-paused-db-alert',
        GOOD,
        ['CORTEX_ADMIN=1'],
        () => ({ mode: 'alert-only' }),
        async (id, port) => {
          const h = env.client.workflow.getHandle(id);
          await waitFor(async () => (await query(id)).samplesTotal >= 2, 30_000, 'two samples');
          await h.signal(pauseSignal, { by: 'recorder' });
          await waitFor(async () => (await query(id)).paused, 30_000, 'paused');
          await fetch(`http://127.0.0.1:${port}/admin/faults`, { method: 'POST', body: '{"db":"down"}' });
          await h.signal(resumeSignal, { by: 'recorder' });
          await waitFor(async () => (await query(id)).triggers.length > 0, 30_000, 'a trigger');
        },
      );
      await run(
        'guard-continued-error-rate',
        BAD,
        ['CORTEX_ADMIN=1', 'CORTEX_HEALTH=healthy', 'CORTEX_FAULTS={"load":100,"errorRate":0.5}'],
        (u) => ({
          samplesPerRun: 10,
          errorWindowSeconds: 12,
          rollback: rollbackTo('rec-guard-continued-error-rate', u),
        }),
        async (id) => {
          await waitFor(async () => (await query(id)).triggers.length > 0, 60_000, 'a trigger in the second run');
          assert.equal((await query(id)).runs, 2);
        },
      );
    });
  } finally {
    for (const n of names) await removeByPrefix(n);
    await env.teardown();
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--approval-only')) {
    await recordApprovalPolicy(join(PROJECT_ROOT, 'test', 'histories'));
    return;
  }
  if (process.argv.includes('--guard-only')) {
    await recordGuard(join(PROJECT_ROOT, 'test', 'histories'));
    return;
  }
  if (process.argv.includes('--envfile-only')) {
    await recordEnvFile(join(PROJECT_ROOT, 'test', 'histories'));
    return;
  }
  if (process.argv.includes('--emergency-only')) {
    // The emergency tests record their own runs (test/helpers/record.ts): same rule, nothing committed is rewritten.
    await execa('node', ['--import', 'tsx', '--test', 'test/integration/emergency.int.test.ts'], {
      cwd: PROJECT_ROOT,
      env: { CORTEX_RECORD_HISTORIES: '1' },
      stdio: 'inherit',
    });
    return;
  }
  if (process.argv.includes('--network-only')) {
    await recordNetwork(join(PROJECT_ROOT, 'test', 'histories'));
    await recordDockerNetwork(join(PROJECT_ROOT, 'test', 'histories'));
    return;
  }
  if (process.argv.includes('--systemd-only')) {
    await recordSystemd(join(PROJECT_ROOT, 'test', 'histories'));
    return;
  }
  if (process.argv.includes('--terraform-only')) {
    await recordTerraform(join(PROJECT_ROOT, 'test', 'histories'));
    return;
  }
  if (process.argv.includes('--kube-only')) {
    await recordKubernetes(join(PROJECT_ROOT, 'test', 'histories'));
    return;
  }
  if (process.argv.includes('--qdrant-only')) {
    await recordQdrant(join(PROJECT_ROOT, 'test', 'histories'));
    return;
  }
  if (process.argv.includes('--crash-only')) {
    await recordCrashes(join(PROJECT_ROOT, 'test', 'histories'));
    return;
  }
  const env = await timeSkippingEnv();
  const bundle = await workflowBundle();
  const dir = join(PROJECT_ROOT, 'test', 'histories');
  mkdirSync(dir, { recursive: true });
  try {
    for (const s of scenarios) {
      const { activities } = stubActivities(s.stub);
      const taskQueue = `record-${s.name}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: bundle,
        activities,
      });
      await worker.runUntil(async () => {
        const h = await env.client.workflow.start('dockerContainerRollback', {
          taskQueue,
          workflowId: `rollback-docker-${s.name}`,
          args: [s.input],
        });
        if (s.signal === 'approve') await h.signal(approveSignal, { approver: 'alice', role: 'on-call-engineer' });
        if (s.signal === 'reject')
          await h.signal(rejectSignal, { approver: 'erin', role: 'engineering-manager', reason: 'fix forward' });
        await h.result().catch(() => undefined);
        await save(dir, s.name, h.workflowId, env.address);
      });
    }
  } finally {
    await env.teardown();
  }
  await recordQdrant(dir);
  await recordCrashes(dir);
  await recordSystemd(dir);
  await recordKubernetes(dir);
  await recordEnvFile(dir);
  await recordTerraform(dir);
  await recordNetwork(dir);
  await recordDockerNetwork(dir);
  await recordApprovalPolicy(dir);
  await recordGuard(dir);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
