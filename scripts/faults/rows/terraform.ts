// The fault matrix's terraformRollback row on the real OpenTofu binary with local state (terraform_data only, no
// provider): the state applied at commit B, rolled back to A; the director on the roster approves the saved plan
// the run shows (the row approves every plan the run asks about, a re-made one too). Completed: the state holds
// A's resources, applied once (serial + 1). Anything else: B's resources (serial as before, or + 2: the
// rollback's apply and the compensation's re-apply of B).
// Persistent faults: a resource whose postcondition fails at apply, after the other changes were made (refused);
// a resource that never converges, so verification (plan shows no changes) never passes (never-healthy).
import { join } from 'node:path';
import { applyCommit, inputs, readState, tfWorld, type TfWorld } from '../../../test/helpers/terraform.ts';
import { statusQuery, type RollbackStatus } from '../../../workflows/phases/progress.ts';
import { approveSignal } from '../../../workflows/phases/approval.ts';
import { APPROVER, common, expect, type Ctx, type Run, type Scenario } from '../row.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function terraformRow(): Scenario {
  let w: TfWorld | undefined;
  const run = async (ctx: Ctx, tag: string, commit: 'A' | 'F' | 'N'): Promise<Run> => {
    const stateFile = join(w!.root, `state-${tag}.tfstate`);
    await applyCommit(w!, w!.commits.B, stateFile);
    const before = readState(stateFile).serial;
    const sorted = (o: Record<string, unknown>) =>
      JSON.stringify(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
    const B = sorted({ x: 'b', extra: 'e' });
    return {
      workflowId: `faults-tofu-${tag}`,
      input: {
        repo: w!.repo,
        directory: 'infra',
        commit: w!.commits[commit],
        previousCommit: w!.commits.B,
        stateFile,
        reason: common.reason,
        requestedBy: common.requestedBy,
        approval: { timeoutSeconds: 600 },
      },
      during: async (ids, open) => {
        const handle = ctx.client.workflow.getHandle(ids.workflowId, ids.runId);
        const approved = new Set<string>();
        while (open()) {
          const status: RollbackStatus | undefined = await handle.query(statusQuery).catch(() => undefined);
          const plan = status?.pendingApproval?.plan?.id;
          if (plan && !approved.has(plan)) {
            await handle
              .signal(approveSignal, { ...APPROVER.infrastructure, planId: plan })
              .then(() => approved.add(plan))
              .catch(() => undefined);
          }
          await sleep(300);
        }
      },
      check: (ending) => {
        const problems: string[] = [];
        const s = readState(stateFile);
        const now = sorted(inputs(s));
        if (ending.kind === 'completed') {
          expect(problems, now === sorted({ x: 'a' }), `state holds ${now}, want A's { x: a }`);
          expect(problems, s.serial === before + 1, `state serial ${s.serial}, want ${before + 1} (one apply)`);
        } else {
          expect(problems, now === B, `state holds ${now}, want B's`);
          expect(problems, s.serial === before || s.serial === before + 2, `state serial ${s.serial} (from ${before})`);
        }
        return Promise.resolve(problems);
      },
      cleanup: () => Promise.resolve(),
    };
  };
  return {
    name: 'terraformRollback',
    workflowType: 'terraformRollback',
    system: 'OpenTofu, local state',
    uses: { docker: false, qdrant: false },
    prepare: async () => {
      w = await tfWorld('cortex-faults-tofu');
    },
    setup: (ctx, tag) => run(ctx, tag, 'A'),
    persistent: {
      refused: (ctx, tag) => run(ctx, tag, 'F'),
      'never-healthy': (ctx, tag) => run(ctx, tag, 'N'),
    },
    teardown: () => Promise.resolve(w?.close()),
  };
}
