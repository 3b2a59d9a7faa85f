// The planRollback workflow for scenarios whose systems the integration plan test does not start (a systemd host,
// a Kubernetes cluster, iptables; Qdrant config): the worker registers ONLY the read-only activities a plan may call, so a planner that
// tried to change anything would fail on an unregistered activity. Plus the pure rendering and a scenario
// without a planner. On the dev server (ages need a real workflow clock; time skipping jumps it).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { readApprovalPolicy } from '../../activities/approval-policy.ts';
import { permanent } from '../../activities/failures.ts';
import type {
  CollectionState,
  HealthSample,
  KubePlan,
  ReleaseState,
  RulesState,
  TargetRules,
  UnitState,
} from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import { renderPlan, type Plan } from '../../workflows/phases/plan.ts';
import { localEnv, REQUESTER, RUNBOOK_APPROVAL_POLICY, uniqueQueue } from '../helpers/temporal.ts';

const DAY = 86400_000;

function readOnlyActivities(o: { tagExists: boolean; calls: string[] }) {
  const record =
    <A, R>(name: string, fn: (a: A) => R) =>
    async (a: A): Promise<Awaited<R>> => {
      o.calls.push(name);
      return await fn(a);
    };
  return {
    loadApprovalPolicy: record('loadApprovalPolicy', () => readApprovalPolicy(RUNBOOK_APPROVAL_POLICY)),
    probeHealth: record('probeHealth', (): HealthSample => ({
      at: new Date().toISOString(),
      ok: false,
      httpStatus: 503,
      latencyMs: 2,
    })),
    systemdUnitState: record('systemdUnitState', (): UnitState => ({
      unit: 'cortex-mcp.service',
      loadState: 'loaded',
      activeState: 'active',
      subState: 'running',
      invocationId: 'inv-1',
      mainPid: 4242,
      nRestarts: 0,
    })),
    releaseState: record('releaseState', (): ReleaseState => ({
      root: '/app/cortex-mcp',
      link: 'releases/v2.1.0',
      path: '/app/cortex-mcp/releases/v2.1.0',
      version: 'v2.1.0',
      releases: ['v2.0.0', 'v2.1.0'],
    })),
    listReleaseBackups: record('listReleaseBackups', () => [
      {
        path: '/app/cortex-mcp/backups/v2.0.0-aaaa.tar.gz',
        sizeBytes: 1000,
        mtime: new Date(Date.now() - 3 * DAY).toISOString(),
      },
      {
        path: '/app/cortex-mcp/backups/v2.1.0-bbbb.tar.gz',
        sizeBytes: 2_500_000,
        mtime: new Date(Date.now() - DAY).toISOString(),
      },
    ]),
    releaseRemoteTag: record('releaseRemoteTag', ({ tag }: { tag: string }) => {
      if (!o.tagExists) throw permanent(FailureType.NotFound, `tag ${tag} does not exist in /srv/git/cortex-mcp.git`);
      return { remote: '/srv/git/cortex-mcp.git', tag, commit: 'c0ffee1234567890' };
    }),
    iptablesCheckTarget: record('iptablesCheckTarget', ({ rulesFile }: { rulesFile: string }): TargetRules => ({
      rulesFile,
      sha256: 'feed'.repeat(16),
      canonicalSha256: 'good',
      tables: ['filter'],
      rules: 4,
    })),
    iptablesState: record('iptablesState', (): RulesState => ({
      canonicalSha256: 'bad',
      tables: ['filter'],
      rules: 9,
    })),
    iptablesListBackups: record('iptablesListBackups', () => [
      {
        path: '/var/backups/network/x.rules',
        sizeBytes: 812,
        mtime: new Date(Date.now() - 2 * 3600_000).toISOString(),
      },
    ]),
    qdrantInspect: record('qdrantInspect', (): CollectionState => ({
      collection: 'memories',
      exists: true,
      pointsCount: 10,
      status: 'green',
      config: { params: {}, hnsw_config: { m: 32, ef_construct: 100 }, optimizer_config: {} },
    })),
    planKubernetesRollback: record('planKubernetesRollback', (): KubePlan => ({
      container: 'app',
      current: {
        revision: 3,
        replicaSet: 'cortex-mcp-7d9',
        images: { app: 'cortex-memory-mcp:v2.1.0' },
        image: 'cortex-memory-mcp:v2.1.0',
        template: {},
        desired: 2,
        ready: 1,
        generation: 3,
      },
      target: {
        revision: 2,
        replicaSet: 'cortex-mcp-5c4',
        images: { app: 'cortex-memory-mcp:v2.0.0' },
        image: 'cortex-memory-mcp:v2.0.0',
        replicas: 0,
        readyReplicas: 0,
      },
      alreadyOnTarget: false,
      history: [
        {
          revision: 2,
          replicaSet: 'cortex-mcp-5c4',
          images: { app: 'cortex-memory-mcp:v2.0.0' },
          replicas: 0,
          readyReplicas: 0,
        },
        {
          revision: 3,
          replicaSet: 'cortex-mcp-7d9',
          images: { app: 'cortex-memory-mcp:v2.1.0' },
          replicas: 2,
          readyReplicas: 1,
        },
      ],
    })),
  };
}

const WHO = { reason: 'v2.1.0 fails /health', requestedBy: REQUESTER };

describe('planRollback (dev server, read-only activities only)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: { codePath: string };
  before(async () => {
    env = await localEnv(); // a real clock: the plan measures ages with the workflow clock
    bundle = await workflowBundle();
  });
  after(async () => {
    await env?.teardown();
  });

  async function plan(scenario: string, input: unknown, tagExists = true): Promise<{ plan: Plan; calls: string[] }> {
    const calls: string[] = [];
    const taskQueue = uniqueQueue('plan-unit');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: readOnlyActivities({ tagExists, calls }),
    });
    const p = await worker.runUntil(
      env.client.workflow.execute('planRollback', {
        taskQueue,
        workflowId: uniqueQueue('plan'),
        args: [{ scenario, input }],
      }) as Promise<Plan>,
    );
    return { plan: p, calls };
  }

  const service = {
    unit: 'cortex-mcp',
    releaseRoot: '/app/cortex-mcp',
    gitRemote: '/srv/git/cortex-mcp.git',
    targetTag: 'v2.0.0',
    healthUrl: 'http://127.0.0.1:3000/health',
    ...WHO,
  };

  it('system service: steps, on-call approval, the release archive with the newest existing one, restart downtime', async () => {
    const { plan: p, calls } = await plan('system-service', service);
    assert.deepEqual([...calls].sort(), [
      'listReleaseBackups',
      'loadApprovalPolicy',
      'probeHealth',
      'releaseRemoteTag',
      'releaseState',
      'systemdUnitState',
    ]);
    assert.deepEqual(
      p.steps.filter((s) => s.changes).map((s) => s.name),
      ['backup-current-release', 'checkout-target-release', 'install-and-build', 'switch-current', 'restart-unit'],
    );
    assert.equal(p.approvals[0]?.role, 'on-call-engineer');
    const b = p.backups[0]!;
    assert.equal(b.existing, 2);
    assert.equal(b.newest?.name, '/app/cortex-mcp/backups/v2.1.0-bbbb.tar.gz');
    assert.equal(b.newest?.sizeBytes, 2_500_000);
    assert.ok(Math.abs((b.newest?.ageSeconds ?? 0) - 86400) < 600, `age ${b.newest?.ageSeconds}`);
    assert.equal(p.expectedDowntime.maxSeconds, 5 + 60);
    assert.deepEqual(p.warnings, []);
    const text = renderPlan(p);
    assert.match(
      text,
      /newest existing: \/app\/cortex-mcp\/backups\/v2\.1\.0-bbbb\.tar\.gz, 1d 0h old .*, 2\.4 MiB, 2 in all/,
    );
    assert.match(text, /6\. backup-current-release — tar \/app\/cortex-mcp\/releases\/v2\.1\.0 .*\*\*\[changes\]\*\*/);
  });

  it('system service: an unknown tag is a warning saying where the real run stops', async () => {
    const { plan: p } = await plan('system-service', { ...service, targetTag: 'v9.9.9' }, false);
    assert.ok(
      p.warnings.some((w) => /unknown tag: tag v9\.9\.9 does not exist.*stops at verify-target-tag/.test(w)),
      p.warnings.join('\n'),
    );
  });

  it('kubernetes: the target revision, the replaced ReplicaSet as the backup, no downtime, a readiness warning', async () => {
    const { plan: p, calls } = await plan('kubernetes', {
      namespace: 'cortex',
      deployment: 'cortex-mcp',
      targetImage: 'cortex-memory-mcp:v2.0.0',
      ...WHO,
    });
    assert.deepEqual(calls, ['planKubernetesRollback', 'loadApprovalPolicy']);
    assert.deepEqual(
      p.steps.map((s) => s.name),
      ['assess-rollout-history', 'approval', 'rollout-undo', 'rollout-status', 'verify-ready-replicas', 'monitor'],
    );
    assert.match(p.steps[2]!.what, /--to-revision=2 \(ReplicaSet cortex-mcp-5c4, cortex-memory-mcp:v2\.0\.0\)/);
    assert.match(p.backups[0]!.what, /revision 3: ReplicaSet cortex-mcp-7d9 .*app=cortex-memory-mcp:v2\.1\.0/);
    assert.equal(p.expectedDowntime.maxSeconds, 0);
    assert.deepEqual(p.warnings, ['only 1/2 replicas are ready now']);
  });

  it('network: the dead-man window bounds the outage; the newest rules backup with its age and size', async () => {
    const { plan: p, calls } = await plan('network', {
      rulesFile: '/etc/iptables/rules.v4.known-good',
      healthUrls: ['http://127.0.0.1:3000/health'],
      ...WHO,
    });
    assert.deepEqual(calls.slice(0, 3).sort(), ['iptablesCheckTarget', 'iptablesListBackups', 'iptablesState']);
    assert.equal(p.approvals[0]?.role, 'director-of-engineering');
    assert.equal(p.expectedDowntime.maxSeconds, 60 + 300);
    assert.equal(p.backups[0]?.newest?.sizeBytes, 812);
    assert.ok(Math.abs((p.backups[0]?.newest?.ageSeconds ?? 0) - 7200) < 600, JSON.stringify(p.backups));
    assert.deepEqual(
      p.steps.filter((s) => s.changes).map((s) => s.name),
      ['backup-current-rules', 'apply-target-rules'],
    );
  });

  it('qdrant config: each setting as current → target, the recorded values as the backup, no downtime', async () => {
    const { plan: p, calls } = await plan('qdrant-config', {
      collection: 'memories',
      target: { hnsw_config: { m: 16 } },
      ...WHO,
    });
    assert.deepEqual(calls, ['qdrantInspect', 'loadApprovalPolicy']);
    assert.ok(p.current.includes('hnsw_config.m: 32 → 16'), p.current.join('\n'));
    assert.equal(p.backups[0]?.estimatedBytes, JSON.stringify({ hnsw_config: { m: 32 } }).length);
    assert.equal(p.expectedDowntime.maxSeconds, 0);
    assert.match(p.steps.find((s) => s.name === 'patch-collection')?.undo ?? '', /\{"hnsw_config":\{"m":32\}\}/);
  });

  it('a scenario without a planner, and bad input, fail clearly and call nothing', async () => {
    const none = await plan('docker-network', {}).then(
      () => assert.fail('planned'),
      (err: unknown) => err,
    );
    assert.ok(none instanceof WorkflowFailedError);
    assert.match(
      none.cause?.message ?? '',
      /no dry-run plan for scenario 'docker-network' yet \(plans exist for: .*docker-container/,
    );
    const bad = await plan('system-service', { ...service, targetTag: 'v 1' }).then(
      () => assert.fail('planned'),
      (err: unknown) => err,
    );
    assert.ok(bad instanceof WorkflowFailedError);
    assert.match(bad.cause?.message ?? '', /targetTag/);
  });
});
