// Stubbed activities for workflow tests: an in-memory "host" with one container, recording every call, whose
// health answers are scripted. Lets the time-skipping server run the workflow's logic without Docker.
import { Context } from '@temporalio/activity';
import type { Activities, ContainerSnapshot, HealthSample } from '../../activities/index.ts';
import { readApprovalPolicy } from '../../activities/approval-policy.ts';
import { permanent } from '../../activities/failures.ts';
import { notificationKey } from '../../activities/notify.ts';
import { RUNBOOK_APPROVAL_POLICY } from './approval-policy.ts';
import { FailureType } from '../../common/failures.ts';

export interface StubOptions {
  /** Health of the new container per probe, in order; the last value repeats. */
  health?: boolean[];
  /** Whether the target image exists. */
  imageExists?: boolean;
  /** Whether the container to roll back exists. */
  containerExists?: boolean;
  /** Health of the container before the rollback. */
  healthyBefore?: boolean;
  /** runContainer takes this long (real milliseconds), heartbeating, so a test can cancel mid-step. */
  runContainerMs?: number;
  /** The approval policy file the gate loads (default: the test policy, see test/helpers/temporal.ts). */
  approvalPolicy?: string;
}

export function stubActivities(opts: StubOptions = {}) {
  const calls: string[] = [];
  const health = opts.health ?? [true];
  let probes = 0;
  const state = { running: 'v2.1.0' as string | null, preserved: false, newContainer: false };
  const snapshot: ContainerSnapshot = {
    id: 'c-old',
    name: 'cortex-mcp',
    image: 'cortex-memory-mcp:v2.1.0',
    imageId: 'sha256:old',
    running: true,
    state: 'running',
    startedAt: '2026-01-01T00:00:00Z',
    restartPolicy: 'unless-stopped',
    spec: {
      env: ['PORT=3000'],
      exposedPorts: {},
      portBindings: {},
      binds: [],
      mounts: [],
      networkMode: 'host',
      networks: {},
      labels: {},
      restartPolicy: { Name: 'unless-stopped' },
      extraHosts: [],
    },
  };
  const sample = (ok: boolean): HealthSample => ({
    at: new Date().toISOString(),
    ok,
    httpStatus: ok ? 200 : 503,
    latencyMs: 1,
  });
  const nextHealth = (): boolean => {
    if (!state.newContainer) return state.running === 'v2.1.0' ? (opts.healthyBefore ?? false) : false;
    const h = health[Math.min(probes, health.length - 1)] ?? true;
    probes += 1;
    return h;
  };
  const activities: Partial<Activities> = {
    async inspectContainer({ name }) {
      calls.push('inspectContainer');
      if (opts.containerExists === false) throw permanent(FailureType.NotFound, `container '${name}' does not exist`);
      return snapshot;
    },
    async findImage({ ref }) {
      calls.push('findImage');
      if (opts.imageExists === false) throw permanent(FailureType.NotFound, `target image '${ref}' does not exist`);
      return { ref, id: 'sha256:new', created: '', pulled: false, version: 'v2.0.0' };
    },
    async preserveContainer() {
      calls.push('preserveContainer');
      state.preserved = true;
      return { renamed: true };
    },
    async stopContainer() {
      calls.push('stopContainer');
      state.running = null;
      return { stopped: true };
    },
    async runContainer() {
      calls.push('runContainer');
      state.newContainer = true;
      if (opts.runContainerMs) {
        const end = Date.now() + opts.runContainerMs;
        while (Date.now() < end) {
          Context.current().heartbeat();
          await Context.current().sleep(50); // rejects when the activity is cancelled
        }
      }
      state.running = 'v2.0.0';
      return { id: 'c-new', imageId: 'sha256:new', reused: false };
    },
    async removeOwnContainer() {
      calls.push('removeOwnContainer');
      state.newContainer = false;
      state.running = null;
      return { removed: true };
    },
    async restorePreserved() {
      calls.push('restorePreserved');
      state.preserved = false;
      state.running = 'v2.1.0';
      return { restored: true };
    },
    async removePreserved() {
      calls.push('removePreserved');
      state.preserved = false;
      return { removed: true };
    },
    async probeHealth() {
      calls.push('probeHealth');
      return sample(nextHealth());
    },
    async waitHealthy() {
      calls.push('waitHealthy');
      const ok = nextHealth();
      return { healthy: ok, attempts: 1, elapsedMs: 1, last: sample(ok) };
    },
    async loadApprovalPolicy() {
      calls.push('loadApprovalPolicy');
      return readApprovalPolicy(opts.approvalPolicy ?? RUNBOOK_APPROVAL_POLICY);
    },
    async notify(n) {
      calls.push(`notify:${n.event}`);
      return { key: notificationKey(n), slack: 'not-configured', pagerDuty: 'not-configured' };
    },
  };
  return { activities, calls, state };
}
