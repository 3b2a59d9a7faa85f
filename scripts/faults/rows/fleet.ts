// The fault matrix's fleetRollback row: four containers on the harness dockerd, served by two host workers of
// the row's own (workers/main.ts --host faults-fleet-h1|h2: every Docker step of a child runs on its target's
// host queue), rolled from BAD to GOOD in waves (canary:1, rest), approved once by the roster on-call engineer.
// The harness's pool runs the fleet and its children. Completed: every target one container of its name, running
// GOOD, healthy. Anything else: every target on BAD again (reverted targets are new containers), unhealthy as before.
// Persistent fault: GOOD fails its health check on every target (its database down): the canary's child undoes
// itself, the fleet halts over maxErrors 0 and leaves the rest untouched (never-healthy).
import { spawnWorker, type WorkerProcess } from '../../../test/helpers/worker-process.ts';
import { BAD, containersNamed, docker, GOOD, imageId, removeByPrefix, startApp } from '../../../test/helpers/docker.ts';
import { dockerRollbackWorkflowId } from '../../../workflows/application/docker-container.ts';
import { common, expect, healthStatus, ONCALL, type Ctx, type Run, type Scenario } from '../row.ts';

const HOSTS = ['faults-fleet-h1', 'faults-fleet-h2'];

export function fleetRow(): Scenario {
  const workers: WorkerProcess[] = [];
  const run = async (ctx: Ctx, tag: string, env: string[]): Promise<Run> => {
    const targets = await Promise.all(
      [0, 1, 2, 3].map(async (i) => ({
        ...(await startApp(`faults-fleet-${tag}-${i}`, BAD, env)),
        host: HOSTS[i % 2]!,
      })),
    );
    const [good, bad] = [await imageId(GOOD), await imageId(BAD)];
    return {
      workflowId: `faults-fleet-${tag}`,
      input: {
        name: `faults-fleet-${tag}`,
        targets: targets.map((t) => ({ host: t.host, container: t.name, healthUrl: t.healthUrl })),
        targetImage: GOOD,
        waves: 'canary:1,rest',
        maxConcurrency: 2,
        maxErrors: 0,
        onFailure: 'halt-and-revert',
        stopTimeoutSeconds: 5,
        verifyTimeoutSeconds: env.length ? 3 : 30,
        pauseBetweenWavesSeconds: 0,
        monitor: { durationSeconds: 0 },
        ...common,
        approval: { preApproved: ONCALL },
      },
      check: async (ending) => {
        const problems: string[] = [];
        const done = ending.kind === 'completed';
        for (const t of targets) {
          const named = (await containersNamed(t.name)).map((c) => c.Names[0]);
          expect(
            problems,
            named.length === 1 && named[0] === `/${t.name}`,
            `${t.name}: containers ${named.join(', ')}`,
          );
          const c = await docker
            .getContainer(t.name)
            .inspect()
            .catch(() => undefined);
          expect(problems, c?.State.Running === true, `${t.name} is not running`);
          expect(problems, c?.Image === (done ? good : bad), `${t.name} does not run ${done ? GOOD : BAD}`);
          const want = done && !env.length ? 200 : 503;
          const h = await healthStatus(t.healthUrl, want);
          expect(problems, h === want, `${t.name} answers /health ${h ?? 'nothing'}, want ${want}`);
        }
        return problems;
      },
      // the canary's own Docker rollback (a child) undid its change: its failure says what it restored
      undone: async () => {
        const t = targets[0]!;
        const err = await ctx.client.workflow
          .getHandle(dockerRollbackWorkflowId(t.name, t.host))
          .result()
          .then(
            () => undefined,
            (e: unknown) => e as Error & { cause?: Error },
          );
        const message = err?.cause?.message ?? '';
        return /Restored:/.test(message) ? `the canary's child: ${message}` : undefined;
      },
      cleanup: () => removeByPrefix(`faults-fleet-${tag}`),
    };
  };
  return {
    name: 'fleetRollback',
    workflowType: 'fleetRollback',
    system: 'the harness dockerd, two host workers',
    uses: { docker: true, qdrant: false },
    prepare: async (ctx: Ctx) => {
      for (const host of HOSTS) {
        const w = spawnWorker(
          { address: ctx.address, taskQueue: ctx.taskQueue, extra: { DOCKER_HOST: process.env.DOCKER_HOST ?? '' } },
          ['--host', host, '--identity', `${host}-worker`],
        );
        workers.push(w);
      }
      await Promise.all(workers.map((w) => w.ready));
    },
    setup: (ctx, tag) => run(ctx, tag, []),
    persistent: { 'never-healthy': (ctx, tag) => run(ctx, tag, ['CORTEX_FAULTS={"db":"down"}']) },
    teardown: async () => {
      for (const w of workers.splice(0)) await w.kill();
    },
  };
}
