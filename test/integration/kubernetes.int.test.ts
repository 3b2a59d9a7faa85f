// The Kubernetes rollback against a real control plane (etcd, kube-apiserver, kube-controller-manager; kwok as the
// kubelet: test/helpers/kube-cluster.ts) and the real Temporal dev server. Every outcome is read back from the
// cluster: the deployment's pod template and revision, its ReplicaSets' revisions, its Ready pods and their images.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createKubernetesActivities, execaKubectl } from '../../activities/kubernetes.ts';
import { renderReport } from '../../client/report.ts';
import { createWorker } from '../../workers/worker.ts';
import { approveSignal } from '../../workflows/phases/approval.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import {
  kubernetesRollbackWorkflowId,
  type KubernetesRollbackInput,
  type KubernetesRollbackResult,
} from '../../workflows/application/kubernetes.ts';
import { deployTwoRevisions, startKubeCluster, type KubeCluster } from '../helpers/kube-cluster.ts';
import { activityRuns, pendingActivity, workflowTaskIdentities } from '../helpers/history.ts';
import { waitFor } from '../helpers/docker.ts';
import { APPROVER, localEnv, REQUESTER, uniqueQueue } from '../helpers/temporal.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';

const NS = 'kube-it';
const V1 = 'cortex-memory-mcp:v2.0.0';
const V2 = 'cortex-memory-mcp:v2.1.0';
/** The roster's on-call engineer approves at the gate; the CI deploy gate pre-approves the runs a pipeline starts. */
const OC = APPROVER.application;

interface Observed {
  image: string;
  revision: number;
  generation: number;
  /** ReplicaSet name → [revision, image] */
  replicaSets: Record<string, [number, string]>;
  readyPods: string[];
  pods: number;
}

describe('Kubernetes rollback on a real API server (kubelets simulated by kwok)', () => {
  let cluster: KubeCluster;
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let taskQueue: string;
  const spawned: WorkerProcess[] = [];

  before(async () => {
    const t0 = Date.now();
    [cluster, env] = await Promise.all([startKubeCluster(), localEnv()]);
    console.log(`cluster and dev server up in ${Date.now() - t0} ms`);
    await cluster.k('create', 'namespace', NS);
    taskQueue = uniqueQueue('kube');
    ({ worker } = await createWorker({
      settings: { address: env.address, namespace: 'default', taskQueue },
      connection: env.nativeConnection,
      deps: { kubectl: cluster.kubectl },
    }));
    running = worker.run();
  });
  after(async () => {
    for (const w of spawned) w.proc.kill('SIGKILL');
    worker?.shutdown();
    await running;
    await env?.teardown();
    await cluster?.stop();
  });

  /** A deployment with revision 1 = `first`, revision 2 = `second` (via `kubectl set image`), rolled out. */
  async function twoRevisions(
    name: string,
    first: string,
    second: string,
    opts: { firstNeverReady?: boolean; minReadySeconds?: number } = {},
  ): Promise<Observed> {
    await deployTwoRevisions(cluster, { namespace: NS, name, first, second, ...opts });
    const o = await observe(name);
    assert.equal(o.revision, 2);
    assert.equal(o.image, second);
    return o;
  }

  async function observe(name: string): Promise<Observed> {
    const d = JSON.parse(await cluster.k('-n', NS, 'get', 'deployment', name, '-o', 'json')) as {
      metadata: { uid: string; generation: number; annotations: Record<string, string> };
      spec: { template: { spec: { containers: Array<{ image: string }> } } };
    };
    const rs = JSON.parse(await cluster.k('-n', NS, 'get', 'rs', '-o', 'json')) as {
      items: Array<{
        metadata: {
          name: string;
          uid: string;
          annotations: Record<string, string>;
          ownerReferences?: { uid: string }[];
        };
        spec: { template: { spec: { containers: Array<{ image: string }> } } };
      }>;
    };
    const mine = rs.items.filter((r) => r.metadata.ownerReferences?.some((o) => o.uid === d.metadata.uid));
    const pods = JSON.parse(await cluster.k('-n', NS, 'get', 'pods', '-l', `app=${name}`, '-o', 'json')) as {
      items: Array<{
        metadata: { deletionTimestamp?: string };
        spec: { containers: Array<{ image: string }> };
        status: { conditions?: Array<{ type: string; status: string }> };
      }>;
    };
    const live = pods.items.filter((p) => !p.metadata.deletionTimestamp);
    return {
      image: d.spec.template.spec.containers[0]!.image,
      revision: Number(d.metadata.annotations['deployment.kubernetes.io/revision']),
      generation: d.metadata.generation,
      replicaSets: Object.fromEntries(
        mine.map((r) => [
          r.metadata.name,
          [
            Number(r.metadata.annotations['deployment.kubernetes.io/revision']),
            r.spec.template.spec.containers[0]!.image,
          ],
        ]),
      ),
      readyPods: live
        .filter((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        .map((p) => p.spec.containers[0]!.image),
      pods: live.length,
    };
  }

  const rsOf = (o: Observed, image: string) => Object.entries(o.replicaSets).find(([, [, i]]) => i === image)!;

  function input(name: string, over: Partial<KubernetesRollbackInput> = {}): KubernetesRollbackInput {
    return {
      namespace: NS,
      deployment: name,
      targetImage: V1,
      reason: 'v2.1.0 fails its readiness checks',
      requestedBy: REQUESTER,
      rolloutTimeoutSeconds: 60,
      monitor: { durationSeconds: 0 },
      approval: { preApproved: APPROVER.ci },
      ...over,
    };
  }

  function start(i: KubernetesRollbackInput, queue = taskQueue): Promise<WorkflowHandle> {
    return env.client.workflow.start('kubernetesRollback', {
      taskQueue: queue,
      workflowId: `${kubernetesRollbackWorkflowId(i as { namespace: string; deployment: string })}-${Date.now().toString(36)}`,
      args: [i],
    });
  }

  async function failure(h: WorkflowHandle): Promise<ApplicationFailure> {
    const err = await h.result().then(
      () => assert.fail('the workflow should have failed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError, String(err));
    assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
    return err.cause;
  }

  it('rolls v2 back to v1 after approval: pod template, ReplicaSet revisions and Ready pods show v1; watched', async () => {
    const name = 'web-rollback';
    const before = await twoRevisions(name, V1, V2);
    const h = await start(input(name, { approval: {}, monitor: { durationSeconds: 2, intervalSeconds: 1 } }));
    await waitFor(async () => (await h.query(statusQuery)).phase === 'awaiting-approval', 30_000, 'approval');
    assert.equal((await observe(name)).revision, 2, 'nothing changed while waiting for approval');
    await h.signal(approveSignal, OC);
    const r = (await h.result()) as KubernetesRollbackResult;

    assert.equal(r.outcome, 'succeeded');
    assert.deepEqual([r.from.revision, r.from.image, r.from.replicaSet], [2, V2, rsOf(before, V2)[0]]);
    assert.equal((r.from.template as { spec: { containers: { image: string }[] } }).spec.containers[0]!.image, V2);
    assert.deepEqual([r.to?.revision, r.to?.image, r.to?.newRevision], [1, V1, 3]);
    assert.equal(r.verification?.ok, true);
    assert.deepEqual([r.monitoring?.samples, r.monitoring?.failures], [2, 0]);

    const after = await observe(name);
    assert.equal(after.image, V1, "the deployment's pod template runs v1");
    assert.equal(after.revision, 3, 'rollout undo made the v1 template the new revision 3');
    assert.deepEqual(after.replicaSets, {
      [rsOf(before, V1)[0]]: [3, V1], // revision 1's ReplicaSet, renumbered
      [rsOf(before, V2)[0]]: [2, V2], // the replaced revision, kept for going back
    });
    assert.deepEqual(after.readyPods, [V1, V1], 'two Ready pods, both v1');
    assert.equal(after.pods, 2, 'no v2 pod left');
    const status = await h.query(statusQuery);
    assert.equal(status.phase, 'completed');
    assert.deepEqual(
      status.steps.map((s) => s.name),
      [
        'validate-input',
        'notify-started',
        'assess-rollout-history',
        'backup-current-revision',
        'load-approval-policy',
        'approval',
        'notify-approval-needed',
        'rollout-undo',
        'rollout-status',
        'verify-ready-replicas',
        'monitor',
        'notify-succeeded',
      ],
    );

    const md = renderReport(status, { ok: true, result: r });
    const [fromRs, toRs] = [rsOf(before, V2)[0], rsOf(before, V1)[0]];
    assert.ok(md.includes(`- **Version**: ${V2} (revision 2, ReplicaSet ${fromRs})`), md);
    assert.ok(md.includes(`- **Version**: ${V1} (revision 1, now revision 3, ReplicaSet ${toRs})`), md);
    for (const line of ['Impact assessment completed', 'Backup created', 'Health checks passed']) {
      assert.ok(md.includes(`[x] ${line}`), `${line} ticked:\n${md}`);
    }
    assert.match(md, /approved by oncall-eng \(on-call-engineer\) via signal/);
    assert.ok(md.includes('[x] Monitoring stable — 2 samples, 0 failed, 0 alert(s)'), md);

    // Idempotency of the activity itself: a retried undo sees the target running and does nothing.
    const a = createKubernetesActivities({ kubectl: cluster.kubectl });
    const again = await a.rolloutUndo({
      namespace: NS,
      deployment: name,
      toReplicaSet: rsOf(before, V1)[0],
      fromImages: { app: V2 },
    });
    assert.deepEqual([again.applied, again.revision], [false, 3]);
    // An undo that finds neither what it replaces nor its target refuses (someone else changed the deployment).
    await assert.rejects(
      a.rolloutUndo({
        namespace: NS,
        deployment: name,
        toReplicaSet: rsOf(before, V2)[0],
        fromImages: { app: 'x:v9' },
      }),
      (e: ApplicationFailure) => e.type === 'Conflict' && e.nonRetryable,
    );
    assert.equal((await observe(name)).revision, 3, 'still revision 3');

    // A second run finds the deployment already on the target.
    const h2 = await start(input(name));
    const r2 = (await h2.result()) as KubernetesRollbackResult;
    assert.equal(r2.outcome, 'already-on-target');
    assert.equal((await observe(name)).revision, 3);
  });

  it('a target image never deployed fails before any change: NotFound, revision unchanged, no approval asked', async () => {
    const name = 'web-unknown';
    const before = await twoRevisions(name, V1, V2);
    const h = await start(input(name, { targetImage: 'cortex-memory-mcp:v1.9.9' }));
    const f = await failure(h);
    assert.equal(f.type, 'NotFound');
    assert.match(f.message, /no revision of deployment\/web-unknown runs cortex-memory-mcp:v1\.9\.9/);
    assert.match(f.message, /revisions: 2: cortex-memory-mcp:v2\.1\.0; 1: cortex-memory-mcp:v2\.0\.0/);
    assert.match(f.message, /nothing was changed/);
    assert.deepEqual(await observe(name), before, 'deployment, ReplicaSets and pods unchanged');
    const steps = (await h.query(statusQuery)).steps.map((s) => s.name);
    assert.ok(!steps.includes('approval') && !steps.includes('rollout-undo'), steps.join(','));
    assert.deepEqual(await activityRuns(h, 'rolloutUndo'), []);
  });

  it('someone deploys while the rollback awaits approval: the undo refuses (Conflict), nothing changed', async () => {
    const name = 'web-conflict';
    await twoRevisions(name, V1, V2);
    const h = await start(input(name, { approval: {} }));
    await waitFor(async () => (await h.query(statusQuery)).phase === 'awaiting-approval', 30_000, 'approval');
    await cluster.k('-n', NS, 'set', 'image', `deployment/${name}`, 'app=cortex-memory-mcp:v2.2.0');
    await cluster.k('-n', NS, 'rollout', 'status', `deployment/${name}`, '--timeout=60s');
    const before = await observe(name);
    await h.signal(approveSignal, OC);
    const f = await failure(h);
    assert.equal(f.type, 'Conflict');
    assert.match(f.message, /now runs app=cortex-memory-mcp:v2\.2\.0, neither what this rollback replaces/);
    assert.match(f.message, /Nothing had been changed\.$/);
    assert.deepEqual(await observe(name), before, 'revision 3 (v2.2.0) untouched: no undo, no compensation');
    const steps = (await h.query(statusQuery)).steps.map((s) => s.name);
    assert.ok(!steps.some((s) => s.startsWith('undo:')), steps.join(','));
  });

  it('a rollout that never completes is compensated: back on the replaced revision, proven on the cluster', async () => {
    const name = 'web-broken-v1';
    // revision 1 (v1) has pods that never become Ready: rolling back to it cannot complete
    const before = await twoRevisions(name, V1, V2, { firstNeverReady: true });
    const h = await start(input(name, { rolloutTimeoutSeconds: 3 }));
    const f = await failure(h);
    assert.equal(f.type, 'VerificationFailed');
    assert.match(f.message, /did not complete within 3s/);
    assert.match(f.message, /Restored: deployment\/web-broken-v1 in kube-it runs cortex-memory-mcp:v2\.1\.0 again/);
    assert.match(f.message, /now revision 4; 2\/2 ready/);
    const details = f.details?.[0] as { restored: string[]; failedUndos: string[]; undo: { revision: number } };
    assert.deepEqual(details.failedUndos, []);
    assert.equal(details.restored.length, 1);
    assert.equal(details.undo.revision, 3, 'the rollback itself was applied (revision 3) before it was undone');

    const after = await observe(name);
    assert.equal(after.image, V2, 'the pod template runs the replaced image again');
    assert.equal(after.revision, 4, 'one undo to v1 (3), one back to v2 (4)');
    assert.deepEqual(after.replicaSets, {
      [rsOf(before, V1)[0]]: [3, V1],
      [rsOf(before, V2)[0]]: [4, V2],
    });
    assert.deepEqual(after.readyPods, [V2, V2]);
    assert.equal(after.pods, 2, 'the never-ready v1 pod is gone');
    assert.equal((await h.query(statusQuery)).phase, 'rolled-back-to-previous');
  });

  it('cancelled while waiting for the rollout: the compensation puts the replaced revision back', async () => {
    const name = 'web-cancelled';
    const before = await twoRevisions(name, V1, V2, { firstNeverReady: true });
    const h = await start(input(name, { rolloutTimeoutSeconds: 120 }));
    await waitFor(
      async () => (await pendingActivity(h, 'waitRollout')) !== undefined,
      30_000,
      'rollout status running',
    );
    assert.equal((await observe(name)).revision, 3, 'the undo to v1 was applied');
    await h.cancel();
    const err = await h.result().then(
      () => assert.fail('the workflow should have been cancelled'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));
    const status = await h.query(statusQuery);
    assert.equal(status.phase, 'rolled-back-to-previous');
    assert.match(
      status.error ?? '',
      /^the rollback was cancelled\. Restored: .* runs cortex-memory-mcp:v2\.1\.0 again/,
    );
    const after = await observe(name);
    assert.deepEqual([after.image, after.revision, after.readyPods, after.pods], [V2, 4, [V2, V2], 2]);
    assert.deepEqual(after.replicaSets, { [rsOf(before, V1)[0]]: [3, V1], [rsOf(before, V2)[0]]: [4, V2] });
  });

  it('by revision number; a watch that sees the deployment changed under it ends breached, left for a human', async () => {
    const name = 'web-breach';
    await twoRevisions(name, V1, V2);
    const h = await start(
      input(name, {
        targetImage: undefined,
        targetRevision: 1,
        monitor: { durationSeconds: 30, intervalSeconds: 1, failureThreshold: 1 },
      }),
    );
    await waitFor(async () => (await h.query(statusQuery)).phase === 'monitoring', 30_000, 'the watch');
    assert.deepEqual([(await observe(name)).image, (await observe(name)).revision], [V1, 3]);
    // someone deploys over the rollback while it is watched
    await cluster.k('-n', NS, 'set', 'image', `deployment/${name}`, 'app=cortex-memory-mcp:v2.2.0');
    const f = await failure(h);
    assert.equal(f.type, 'MonitoringBreach');
    assert.match(
      f.message,
      /failed 2 consecutive ready checks during the watch on cortex-memory-mcp:v2\.0\.0; left as it is/,
    );
    const result = f.details?.[0] as KubernetesRollbackResult;
    assert.deepEqual([result.to?.revision, result.to?.newRevision], [1, 3]);
    assert.ok(
      result.monitoring!.failed.every((s) => /runs cortex-memory-mcp:v2\.2\.0, not/.test(s.error ?? '')),
      JSON.stringify(result.monitoring!.failed),
    );
    const after = await observe(name);
    assert.deepEqual([after.image, after.revision], ['cortex-memory-mcp:v2.2.0', 4], 'not undone by the workflow');
  });

  it('a worker SIGKILLed between the undo and its rollout status is replaced; the undo happened once', async () => {
    const name = 'web-crash';
    // minReadySeconds keeps `rollout status` waiting ~6 s after the undo: the window the kill lands in
    const before = await twoRevisions(name, V1, V2, { minReadySeconds: 6 });
    const queue = uniqueQueue('kube-crash');
    const extra = { KUBECONFIG: cluster.kubeconfig };
    const first = spawnWorker({ address: env.address, taskQueue: queue, extra }, ['--identity', 'kube-first']);
    spawned.push(first);
    await first.ready;
    const h = await start(input(name), queue);
    // The history says where the worker is: the undo completed, the rollout-status activity running.
    await waitFor(
      async () =>
        (await activityRuns(h, 'rolloutUndo'))[0]?.completed === true &&
        (await pendingActivity(h, 'waitRollout')) !== undefined,
      60_000,
      'rolloutUndo completed and waitRollout running',
    );
    const atKill = await observe(name);
    await first.kill();
    assert.equal(atKill.revision, 3, 'the undo was applied before the kill');
    assert.ok((await activityRuns(h, 'waitRollout'))[0]?.completed !== true, 'rollout status not yet answered');

    const second = spawnWorker({ address: env.address, taskQueue: queue, extra }, ['--identity', 'kube-second']);
    spawned.push(second);
    await second.ready;
    const r = (await h.result()) as KubernetesRollbackResult;
    await second.kill();
    assert.equal(r.outcome, 'succeeded');

    const after = await observe(name);
    assert.equal(after.revision, 3, 'the revision advanced exactly once (2 → 3)');
    assert.equal(after.image, V1);
    assert.deepEqual(after.replicaSets, { [rsOf(before, V1)[0]]: [3, V1], [rsOf(before, V2)[0]]: [2, V2] });
    assert.deepEqual(after.readyPods, [V1, V1]);
    const undos = await activityRuns(h, 'rolloutUndo');
    assert.equal(undos.length, 1, 'rolloutUndo scheduled once');
    assert.deepEqual([undos[0]!.attempt, undos[0]!.identity], [1, 'kube-first']);
    const waits = await activityRuns(h, 'waitRollout');
    assert.equal(waits.length, 1);
    assert.ok(waits[0]!.attempt >= 2 && waits[0]!.identity === 'kube-second', JSON.stringify(waits));
    const wft = await workflowTaskIdentities(h);
    assert.equal(wft[0], 'kube-first');
    assert.equal(wft.at(-1), 'kube-second');
  });

  it('bad input changes nothing: refused before any activity, naming the field', async () => {
    const name = 'web-bad-input';
    const before = await twoRevisions(name, V1, V2);
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['namespace', { namespace: 'Kube_IT' }, /namespace: "Kube_IT" is not a valid namespace/],
      ['deployment', { deployment: '../web' }, /deployment: "\.\.\/web" is not a valid deployment name/],
      ['both targets', { targetRevision: 1 }, /targetImage: name exactly one of targetImage and targetRevision/],
      ['no target', { targetImage: undefined }, /name exactly one of targetImage and targetRevision/],
      ['moving tag', { targetImage: 'cortex-memory-mcp:latest' }, /moving tag 'latest'/],
      ['flag as context', { context: '--kubeconfig=/etc/x' }, /context: .* is not a kubeconfig context name/],
      ['a kubeconfig in input', { kubeconfig: '/root/.kube/config' }, /kubeconfig: is not a known field/],
      [
        // not a role id (whether a well-formed role may approve is the approval policy's call, in the gate)
        'role',
        { approval: { preApproved: { approver: 'backup-eng', role: 'Engineer!' } } },
        /'Engineer!' is not a role id/,
      ],
      ['timeout', { rolloutTimeoutSeconds: 0 }, /rolloutTimeoutSeconds: must be an integer from 1 to 3600/],
    ];
    for (const [what, over, message] of cases) {
      const h = await start({ ...input(name), ...over });
      const f = await failure(h);
      assert.equal(f.type, 'InvalidInput', what);
      assert.match(f.message, message, what);
      const events = (await h.fetchHistory()).events ?? [];
      assert.ok(!events.some((e) => e.activityTaskScheduledEventAttributes), `${what}: no activity scheduled`);
    }
    assert.deepEqual(await observe(name), before);
  });

  it('failure categories: kubectl missing and no kubeconfig are permanent, an unreachable API server is retryable', async () => {
    const ref = { namespace: NS, deployment: 'web-rollback', targetImage: V1 };
    const missing = createKubernetesActivities({ kubectl: execaKubectl({ bin: '/nonexistent/kubectl' }) });
    await assert.rejects(missing.planKubernetesRollback(ref), (e: ApplicationFailure) => {
      assert.deepEqual([e.type, e.nonRetryable], ['Unavailable', true]);
      assert.match(e.message, /kubectl cannot be run on this worker \(ENOENT\)/);
      return true;
    });
    const none = createKubernetesActivities({
      kubectl: execaKubectl({ env: { KUBECONFIG: join(cluster.dir, 'no-such-kubeconfig') } }),
    });
    await assert.rejects(none.planKubernetesRollback(ref), (e: ApplicationFailure) => {
      assert.deepEqual([e.type, e.nonRetryable], ['Unavailable', true]);
      assert.match(e.message, /the worker has no kubeconfig/);
      return true;
    });
    const { port } = await import('node:net').then(
      (net) =>
        new Promise<{ port: number }>((resolve) => {
          const s = net.createServer().listen(0, '127.0.0.1', () => {
            const a = s.address() as { port: number };
            s.close(() => resolve(a));
          });
        }),
    );
    const down = join(cluster.dir, 'down.kubeconfig');
    writeFileSync(
      down,
      (await cluster.k('config', 'view', '--raw')).replace(
        /server: https:\/\/127\.0\.0\.1:\d+/,
        `server: https://127.0.0.1:${port}`,
      ),
    );
    const unreachable = createKubernetesActivities({ kubectl: execaKubectl({ env: { KUBECONFIG: down } }) });
    await assert.rejects(unreachable.planKubernetesRollback(ref), (e: ApplicationFailure) => {
      assert.deepEqual([e.type, e.nonRetryable], ['Unavailable', false]);
      assert.match(e.message, /Kubernetes API unreachable/);
      return true;
    });
    const real = createKubernetesActivities({ kubectl: cluster.kubectl });
    await assert.rejects(real.planKubernetesRollback({ ...ref, context: 'prod-eu' }), (e: ApplicationFailure) => {
      assert.deepEqual([e.type, e.nonRetryable], ['NotFound', true]);
      assert.match(e.message, /the worker's kubeconfig has no context 'prod-eu'/);
      return true;
    });
    await assert.rejects(
      real.planKubernetesRollback({ ...ref, deployment: 'no-such-deployment' }),
      (e: ApplicationFailure) => e.type === 'NotFound' && e.nonRetryable,
    );
  });
});
