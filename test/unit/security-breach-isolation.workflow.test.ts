// securityBreachEmergency's failure path when the isolation itself does not hold (scripted activities on the
// time-skipping server: a writer that cannot be stopped and a firewall that refuses the block — what a real host
// cannot be made to do on demand): the isolation is read back, the run ends "not-isolated", and the failure says
// what is running and open and how to isolate it by hand; if the read-back fails too, nothing is claimed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { NotifyInput } from '../../activities/index.ts';
import { permanent } from '../../activities/failures.ts';
import { notificationKey } from '../../activities/notify.ts';
import { FailureType } from '../../common/failures.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import { statusQuery } from '../../workflows/phases/progress.ts';
import type { IsolationCheck, SecurityBreachInput } from '../../workflows/emergency/security-breach.ts';
import { workflowFailure } from '../helpers/failures.ts';
import { hostTaskQueue } from '../../common/config.ts';
import { timeSkippingEnv, uniqueQueue } from '../helpers/temporal.ts';

const APP = 'i9-cortex-mcp';
const WRITER = 'i9-writer';

/** A host where the writer ignores its stop and iptables refuses the block; `readBack` fails the port check too. */
function host(readBack: boolean) {
  const running = new Map([
    [APP, true],
    [WRITER, true],
  ]);
  const notified: NotifyInput[] = [];
  const activities = {
    async notify(n: NotifyInput) {
      notified.push(n);
      return { key: notificationKey(n), slack: 'not-configured', pagerDuty: 'not-configured' };
    },
    async inspectContainerEnv({ name }: { name: string }) {
      const r = running.get(name);
      if (r === undefined) throw permanent(FailureType.NotFound, `container '${name}' does not exist on this host`);
      return {
        id: `id-${name}`,
        name,
        image: 'cortex-memory-mcp:v2.0.0',
        imageId: 'sha256:x',
        running: r,
        state: r ? 'running' : 'exited',
        restartPolicy: { Name: name === WRITER ? 'always' : 'unless-stopped' },
        env: [],
      };
    },
    async iptablesBackup() {
      return { path: '/var/backups/rules-before.rules', sha256: 'f'.repeat(64), rules: 3, tables: ['filter'] };
    },
    async stopContainer({ name }: { name: string }) {
      if (name === WRITER) throw permanent(FailureType.Conflict, `stop '${name}': the daemon refused`);
      running.set(name, false);
      return { stopped: true };
    },
    async iptablesBlockPorts() {
      throw permanent(FailureType.Unavailable, 'iptables: Resource temporarily unavailable');
    },
    async iptablesPortsBlocked({ ports }: { ports: number[] }) {
      if (!readBack) throw permanent(FailureType.Unavailable, 'iptables -C INPUT: cannot read the rules');
      return ports.map((port) => ({ port, blocked: false }));
    },
  };
  return { activities, notified };
}

const input = (): SecurityBreachInput => ({
  app: { containerName: APP, healthUrl: 'http://127.0.0.1:3000/health', envFile: '/srv/cortex/cortex.env' },
  secretKeys: ['JWT_SECRET'],
  alsoStop: [WRITER],
  ports: [3000, 6333],
  collection: 'memories',
  reason: 'leaked API token',
  requestedBy: 'eve',
});

describe('securityBreachEmergency when the isolation does not hold (time-skipping, scripted host)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: { codePath: string };
  before(async () => {
    [env, bundle] = await Promise.all([timeSkippingEnv(), workflowBundle()]);
  });
  after(async () => {
    await env?.teardown();
  });

  /** With `onHost`, the host's steps run on that host's queue (a second worker), as through `--host`. */
  async function run(readBack: boolean, onHost?: string) {
    const h = host(readBack);
    const taskQueue = uniqueQueue('i9-breach-unit');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: h.activities,
    });
    const hostWorker = onHost
      ? await Worker.create({
          connection: env.nativeConnection,
          taskQueue: hostTaskQueue(onHost),
          activities: h.activities,
        })
      : undefined;
    const workflowId = `rollback-emergency-security-${taskQueue}`;
    const body = () =>
      worker.runUntil(async () => {
        const args = [{ ...input(), ...(onHost ? { host: onHost } : {}) }];
        const f = await workflowFailure(
          env.client.workflow.execute('securityBreachEmergency', { taskQueue, workflowId, args }),
        );
        const status = await env.client.workflow.getHandle(workflowId).query(statusQuery);
        return { f, status, notified: h.notified };
      });
    return hostWorker ? hostWorker.runUntil(body) : body();
  }

  it('a writer still running and the ports open: "NOT ISOLATED", what is running and open, and the commands to isolate by hand', async () => {
    const { f, status, notified } = await run(true);
    assert.equal(f.type, 'CompensationFailed');
    assert.match(
      f.message,
      /^isolation incomplete: the ports could not be blocked \(iptables: Resource temporarily unavailable\) and could not stop 'i9-writer' \(stop 'i9-writer': the daemon refused\)\. /,
    );
    assert.match(f.message, /The service is NOT ISOLATED: i9-writer running, port 3000 open, port 6333 open\. /);
    assert.match(
      f.message,
      /What to do: 1\) isolate it now by hand: docker stop i9-writer; iptables -I INPUT ! -i lo -p tcp --dport 3000 -j DROP; iptables -I INPUT ! -i lo -p tcp --dport 6333 -j DROP; 2\) docker update --restart=no i9-writer \(restart policy always: a Docker restart would start it\); 3\) keep it isolated/,
    );
    assert.doesNotMatch(f.message, /STILL ISOLATED/);
    const iso = (f.details?.[0] as { isolation: IsolationCheck }).isolation;
    assert.deepEqual(
      [iso.isolated, iso.containers.map((c) => [c.name, c.running]), iso.ports],
      [
        false,
        [
          [APP, false],
          [WRITER, true],
        ],
        [
          { port: 3000, blocked: false },
          { port: 6333, blocked: false },
        ],
      ],
    );
    assert.equal(status.phase, 'not-isolated');
    assert.equal(status.error, f.message);
    const failed = notified.filter((n) => n.event === 'failed');
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.summary, /NOT ISOLATED/);
  });

  it('through a host worker: the failure says on which host it is not isolated and where to run the commands', async () => {
    const onHost = uniqueQueue('i9-app').slice(0, 40);
    const { f, status } = await run(true, onHost);
    assert.match(f.message, new RegExp(`The service is NOT ISOLATED on host ${onHost}: i9-writer running, `));
    assert.match(f.message, new RegExp(`1\\) isolate it now by hand on host ${onHost}: docker stop i9-writer; `));
    assert.equal(status.phase, 'not-isolated');
  });

  it('the read-back fails too: nothing is claimed — "ISOLATION NOT VERIFIED" and every stop and block to do by hand', async () => {
    const { f, status } = await run(false);
    assert.equal(f.type, 'CompensationFailed');
    assert.match(
      f.message,
      /ISOLATION NOT VERIFIED \(iptables -C INPUT: cannot read the rules\): check that i9-cortex-mcp, i9-writer are stopped and ports 3000, 6333 blocked\. /,
    );
    assert.match(
      f.message,
      /isolate it now by hand: docker stop i9-cortex-mcp; docker stop i9-writer; iptables -I INPUT ! -i lo -p tcp --dport 3000 -j DROP; iptables -I INPUT ! -i lo -p tcp --dport 6333 -j DROP;/,
    );
    assert.doesNotMatch(f.message, /STILL ISOLATED|NOT ISOLATED:/);
    assert.equal(status.phase, 'isolation-unverified');
  });
});
