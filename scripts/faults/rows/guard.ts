// The fault matrix's rollbackGuard row: the guard samples a container's /health every second (BAD answers 503),
// fires on its 4th failed sample and starts dockerContainerRollback as a child (pre-approved by the roster's CI
// gate in the template); the row stops the guard (terminate: it never ends by itself) once that child closed, and
// the run is judged by the child. Completed: exactly one rollback started, the container runs GOOD, healthy.
// Anything else: the original container, unhealthy as before. No persistent fault of its own: a triggered
// rollback that never becomes healthy is dockerContainerRollback's never-healthy cell.
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { guardStatusQuery, type GuardStatus } from '../../../workflows/triggers/guard.ts';
import { BAD, containersNamed, docker, GOOD, imageId, removeByPrefix, startApp } from '../../../test/helpers/docker.ts';
import { APPROVER, common, expect, healthStatus, type Ctx, type Ending, type Run, type Scenario } from '../row.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function guardRow(): Scenario {
  const run = async (ctx: Ctx, tag: string, target: string): Promise<Run> => {
    const name = `faults-guard-${tag}`;
    const app = await startApp(name, BAD);
    const [targetId, badId] = [await imageId(target), await imageId(BAD)];
    let child: string | undefined;
    let triggers = 0;
    return {
      workflowId: `faults-guard-${tag}`,
      input: {
        service: name,
        healthUrl: app.healthUrl,
        intervalSeconds: 1,
        rollback: {
          scenario: 'docker-container',
          input: {
            containerName: name,
            targetImage: target,
            healthUrl: app.healthUrl,
            ...common,
            stopTimeoutSeconds: 5,
            verifyTimeoutSeconds: 30,
            monitor: { durationSeconds: 0 },
            approval: { preApproved: APPROVER.ci },
          },
        },
      },
      during: async (ids, open) => {
        const guard = ctx.client.workflow.getHandle(ids.workflowId);
        while (open()) {
          const s: GuardStatus | undefined = await guard.query(guardStatusQuery).catch(() => undefined);
          const t = s?.triggers.find((x) => x.rollbackWorkflowId);
          if (s) triggers = s.triggers.filter((x) => x.action === 'rollback-started').length;
          if (t?.rollbackWorkflowId) {
            child = t.rollbackWorkflowId;
            const closed = await ctx.client.workflow
              .getHandle(child)
              .describe()
              .then((d) => d.status.name !== 'RUNNING')
              .catch(() => false);
            if (closed) {
              await guard.terminate('fault matrix: the guard fired and its rollback closed').catch(() => undefined);
              return;
            }
          }
          await sleep(300);
        }
      },
      judgedBy: async (): Promise<Ending> => {
        if (!child) return { kind: 'failed', type: 'NoTrigger', message: 'the guard never started a rollback' };
        try {
          return { kind: 'completed', result: await ctx.client.workflow.getHandle(child).result() };
        } catch (err) {
          const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
          return cause instanceof ApplicationFailure
            ? { kind: 'failed', type: cause.type ?? 'Error', message: cause.message }
            : { kind: 'failed', type: 'Error', message: String(err) };
        }
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
        expect(problems, triggers <= 1, `${triggers} rollbacks started by the guard`);
        if (ending.kind === 'completed') {
          expect(problems, triggers === 1, 'no rollback started by the guard');
          expect(problems, c?.Image === targetId, `'${name}' does not run ${target}`);
          const h = await healthStatus(app.healthUrl, 200);
          expect(problems, h === 200, `/health answers ${h ?? 'nothing'}`);
        } else {
          expect(problems, c?.Id === app.id && c.Image === badId, `'${name}' is not the original container`);
          const h = await healthStatus(app.healthUrl, 503);
          expect(problems, h === 503, `/health answers ${h ?? 'nothing'}`);
        }
        return problems;
      },
      cleanup: () => removeByPrefix(name),
    };
  };
  return {
    name: 'rollbackGuard',
    workflowType: 'rollbackGuard',
    system: 'the harness dockerd (sampled /health)',
    uses: { docker: true, qdrant: false },
    prepare: () => Promise.resolve(),
    setup: (ctx, tag) => run(ctx, tag, GOOD),
  };
}
