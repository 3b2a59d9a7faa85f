// The fault matrix's dockerNetworkRollback row on the Docker Compose v2 plugin against the harness dockerd: a
// compose project of two probe services on a bridge network of its own subnet, running from a "bad" file, the
// known-good file (another subnet) beside it. Completed: the known-good file installed, the network on the
// known-good subnet, both services running, names resolving inside, /health answering. Anything else: the
// previous file back, the network on the previous subnet, both services running, names resolving, /health answering.
// Persistent fault: a service name that never resolves inside the project (never-healthy: verification never passes).
import { readFileSync } from 'node:fs';
import { createProject, PROBE_IMAGE, type Project } from '../../../test/helpers/compose.ts';
import { APPROVER, common, expect, healthStatus, type Ctx, type Run, type Scenario } from '../row.ts';

export function dockerNetworkRow(): Scenario {
  const run = async (_ctx: Ctx, tag: string, resolve?: string[]): Promise<Run> => {
    const p: Project = await createProject(tag.slice(0, 24));
    const original = readFileSync(p.current, 'utf8');
    const good = readFileSync(p.good, 'utf8');
    return {
      workflowId: `faults-compose-${tag}`,
      input: {
        project: p.name,
        composeFile: p.current,
        knownGoodFile: p.good,
        healthUrls: [p.healthUrl],
        ...(resolve ? { resolveServices: resolve } : {}),
        verifyTimeoutSeconds: resolve ? 3 : 30,
        ...common,
        approval: { preApproved: APPROVER.infrastructure },
      },
      check: async (ending) => {
        const problems: string[] = [];
        const done = ending.kind === 'completed';
        const file = readFileSync(p.current, 'utf8');
        expect(
          problems,
          file === (done ? good : original),
          `${p.current} is not the ${done ? 'known-good' : 'previous'} file`,
        );
        const subnets = await p.subnets();
        const want = done ? p.goodSubnet : p.currentSubnet;
        expect(
          problems,
          subnets.length === 1 && subnets[0] === want,
          `network subnets ${subnets.join(', ')}, want ${want}`,
        );
        const cs = await p.containers();
        expect(
          problems,
          cs.length === 2 && cs.every((c) => c.state === 'running'),
          `containers: ${cs.map((c) => `${c.service} ${c.state}`).join(', ')}`,
        );
        expect(problems, await p.resolves('api', 'db'), "'db' does not resolve inside 'api'");
        const h = await healthStatus(p.healthUrl, 200);
        expect(problems, h === 200, `/health answers ${h ?? 'nothing'}`);
        return problems;
      },
      cleanup: () => p.close(),
    };
  };
  return {
    name: 'dockerNetworkRollback',
    workflowType: 'dockerNetworkRollback',
    system: 'Docker Compose v2 on the harness dockerd',
    uses: { docker: true, qdrant: false },
    prepare: (ctx) => ctx.loadImages([PROBE_IMAGE]),
    setup: (ctx, tag) => run(ctx, tag),
    persistent: { 'never-healthy': (ctx, tag) => run(ctx, tag, ['api', 'cache']) },
  };
}
