// The fault matrix's systemServiceRollback row on real systemd: a Debian machine (container of cortex-systemd on
// the harness dockerd, systemd as PID 1, host network) runs the fixture app as a unit from `<root>/current`, and a
// host worker (workers/host.ts) runs INSIDE it on cortex-rollback-host-faults-sysd; the workflow runs on the
// harness's worker pool. Completed: current → releases/<target>, the releases folder holds the old and the target
// release, one archive of the old one, the unit restarted once and healthy on the target. Anything else: current
// → the old release, only the old release folder, the unit active and answering as before.
// Persistent faults: the target release answers unhealthy for ever (never-healthy); the host worker SIGKILLed
// during the restart and gone past the step's host wait, a new one started only after the step failed (host-gone):
// the run must end compensated.
import type { temporal } from '@temporalio/proto';
import { freePort } from '../../../test/helpers/docker.ts';
import {
  createAppRemote,
  deployApp,
  startCount,
  startSystemdMachine,
  SYSTEMD_IMAGE,
  unitProps,
  type AppTag,
  type MachineWorker,
  type SystemdMachine,
} from '../../../test/helpers/systemd-host.ts';
import { pendingActivity } from '../watch.ts';
import { common, expect, healthStatus, ONCALL, type Ctx, type FaultHook, type Run, type Scenario } from '../row.ts';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const MACHINE = 'cortex-faults-systemd';
const HOST = 'faults-sysd';
const BASE = '/srv/faults';
const OFFLINE_BUILD = ['npm ci --omit=dev --no-audit --no-fund --offline', 'npm run build'];
/** The host-gone run's host wait: the restart's attempt 2 waits this long for a host, then fails. */
const HOST_WAIT = 6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function systemServiceRow(): Scenario {
  let m: SystemdMachine | undefined;
  let remote = '';
  let worker: MachineWorker | undefined;
  let workers = 0;
  let seq = 0;
  const startHostWorker = async (ctx: Ctx) => {
    workers += 1;
    worker = m!.startWorker({ address: ctx.address, host: HOST, identity: `${MACHINE}-worker-${workers}` });
    await worker.ready;
  };

  /**
   * SIGKILL the host worker once attempt 1 of the restart is in flight and keep the host away until the step has
   * failed: attempt 2 waits in the host's queue past the step's host wait (hostWaitSeconds) and times out; only then
   * does a new host worker start, and the run's undo (on the same host queue) must put the old release back.
   */
  const hostGone = (ctx: Ctx, gate: string): FaultHook => {
    let ids = { workflowId: '', runId: '' };
    let activityId: string | undefined;
    let victim: string | undefined;
    let goneMs = 0;
    let successor: string | undefined;
    const pending: Promise<unknown>[] = [];
    const watch = async () => {
      for (;;) {
        const p = await pendingActivity(ctx.client, ids.workflowId, ids.runId, activityId!).catch(() => undefined);
        if (p?.startedAt !== undefined && p.attempt === 1) break;
        await sleep(20);
      }
      victim = worker!.identity;
      const t = Date.now();
      await worker!.kill();
      await m!.must(`touch ${gate}`); // systemd finishes the start it was asked for; nobody reports it
      // Gone past the step's host wait: attempt 2 is scheduled, nobody takes it, the step times out and closes.
      for (let seenRetry = false; ;) {
        const p = await pendingActivity(ctx.client, ids.workflowId, ids.runId, activityId!).catch(() => undefined);
        if (p && p.attempt >= 2) seenRetry = true;
        if (!p && seenRetry) break;
        if (Date.now() - t > 120_000) break; // the check then says what happened
        await sleep(100);
      }
      goneMs = Date.now() - t;
      await startHostWorker(ctx);
      successor = worker!.identity;
    };
    const restartEvents = (events: HistoryEvent[]) => {
      const scheduled = events.find(
        (e) =>
          e.activityTaskScheduledEventAttributes && e.activityTaskScheduledEventAttributes.activityId === activityId,
      );
      const id = scheduled?.eventId?.toString();
      return events.filter((e) => {
        const a =
          e.activityTaskStartedEventAttributes ??
          e.activityTaskCompletedEventAttributes ??
          e.activityTaskTimedOutEventAttributes ??
          e.activityTaskFailedEventAttributes;
        return a?.scheduledEventId?.toString() === id;
      });
    };
    return {
      started: (v) => void (ids = v),
      onEvent: (e) => {
        const s = e.activityTaskScheduledEventAttributes;
        if (!activityId && s?.activityType?.name === 'systemdRestart') {
          activityId = s.activityId ?? undefined;
          pending.push(watch());
        }
      },
      pending,
      applied: () => victim !== undefined,
      verify: (events) => {
        const mine = restartEvents(events);
        const timedOut = mine.find((e) => e.activityTaskTimedOutEventAttributes);
        if (mine.some((e) => e.activityTaskCompletedEventAttributes))
          return 'the restart completed: the host came back within its wait';
        if (!timedOut) return 'the restart did not time out waiting for its host';
        const kind = JSON.stringify(timedOut.activityTaskTimedOutEventAttributes?.failure ?? {});
        if (!/SCHEDULE_TO_START/.test(kind)) return `the restart timed out otherwise: ${kind.slice(0, 200)}`;
        return undefined;
      },
      proof: () =>
        `host worker ${victim} SIGKILLed during attempt 1 of systemdRestart; attempt 2 waited for a host past its ${HOST_WAIT} s host wait and timed out (schedule-to-start); ${successor} started ${Math.round(goneMs / 1000)} s after the kill and ran the undo`,
    };
  };

  const run = async (ctx: Ctx, tag: string, from: AppTag, to: AppTag, fault?: 'host-gone'): Promise<Run> => {
    seq += 1;
    const unit = `faults-sysd-${seq}`;
    const root = `${BASE}/${unit}`;
    const app = await deployApp(m!, { unit, root, remote, tag: from, port: await freePort() });
    const startsBefore = await startCount(m!, unit);
    if (fault === 'host-gone') await m!.must(`rm -f ${app.gate}`); // the restart blocks until the gate is back
    const healthyOf = (t: AppTag) => (t === 'v1.0.0' || t === 'v1.1.0' ? 200 : 503);
    return {
      workflowId: `faults-sysd-${tag}`,
      input: {
        unit,
        releaseRoot: root,
        gitRemote: remote,
        targetTag: to,
        healthUrl: app.healthUrl,
        ...common,
        host: HOST,
        installCommands: OFFLINE_BUILD,
        verifyTimeoutSeconds: healthyOf(to) === 200 ? 20 : 3,
        ...(fault === 'host-gone' ? { hostWaitSeconds: HOST_WAIT } : {}),
        monitor: { durationSeconds: 0 },
        approval: { preApproved: ONCALL },
      },
      ...(fault === 'host-gone' ? { hook: hostGone(ctx, app.gate) } : {}),
      check: async (ending) => {
        const problems: string[] = [];
        await m!.must(`touch ${app.gate}`);
        const current = (await m!.must(`readlink ${root}/current`)).trim();
        const releases = (await m!.must(`ls -1 ${root}/releases`)).trim().split('\n');
        // the flock file beside an archive (activities/release.ts) stays, by design: not an archive
        const archives = (await m!.sh(`ls -1 ${root}/backups 2>/dev/null`)).stdout
          .trim()
          .split('\n')
          .filter((f) => f && !f.endsWith('.lock'));
        const props = await unitProps(m!, unit);
        const starts = (await startCount(m!, unit)) - startsBefore;
        expect(problems, props.ActiveState === 'active', `${unit} is ${props.ActiveState}`);
        expect(problems, archives.length <= 1, `archives: ${archives.join(', ')}`);
        const want = ending.kind === 'completed' ? to : from;
        const status = await healthStatus(app.healthUrl, healthyOf(want));
        expect(problems, status === healthyOf(want), `/health answers ${status ?? 'nothing'} (want ${want})`);
        const version = await fetch(app.healthUrl)
          .then((r) => r.json() as Promise<{ version?: string }>)
          .then((b) => b.version)
          .catch(() => undefined);
        expect(problems, version === want, `the service answers as ${version}, want ${want}`);
        if (ending.kind === 'completed') {
          expect(problems, current === `${root}/releases/${to}`, `current → ${current}`);
          expect(
            problems,
            releases.sort().join(',') === [from, to].sort().join(','),
            `releases: ${releases.join(', ')}`,
          );
          expect(problems, archives.length === 1, 'no archive of the old release');
          expect(problems, starts === 1, `${starts} starts of the unit, want 1`);
        } else {
          expect(problems, current === `${root}/releases/${from}`, `current → ${current}`);
          expect(problems, releases.join(',') === from, `releases: ${releases.join(', ')}`);
          expect(problems, starts === 0 || starts === 2, `${starts} starts of the unit (0, or there and back)`);
        }
        return problems;
      },
      cleanup: async () => {
        await m!.sh(`systemctl stop ${unit}; rm -f /etc/systemd/system/${unit}.service; rm -rf ${root}`);
      },
    };
  };

  return {
    name: 'systemServiceRollback',
    workflowType: 'systemServiceRollback',
    system: 'systemd in a container, host worker inside it',
    uses: { docker: false, qdrant: false },
    prepare: async (ctx) => {
      await ctx.loadImages([SYSTEMD_IMAGE]);
      m = await startSystemdMachine(MACHINE);
      remote = await createAppRemote(m, BASE);
      await startHostWorker(ctx);
    },
    setup: (ctx, tag) => run(ctx, tag, 'v1.2.0', 'v1.0.0'),
    persistent: {
      'never-healthy': (ctx, tag) => run(ctx, tag, 'v1.1.0', 'v0.9.0'),
      'host-gone': (ctx, tag) => run(ctx, tag, 'v1.2.0', 'v1.0.0', 'host-gone'),
    },
    teardown: async () => {
      await worker?.kill().catch(() => undefined);
      await m?.remove();
    },
  };
}
