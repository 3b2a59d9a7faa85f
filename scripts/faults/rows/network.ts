// The fault matrix's networkRollback row on real iptables inside a network namespace of its own (never the
// machine's rules), a service on the namespace's loopback; the row confirms the new rules (the dead-man switch)
// once the run waits for it. Completed: the namespace holds exactly the target rules, the service answers.
// Anything else: exactly the rules before, the service answers.
// Persistent fault: rules that shut the service out (never-healthy: the health check through them never passes).
import { canonicalRules } from '../../../activities/iptables.ts';
import {
  BASELINE_RULES,
  BLOCKING_RULES,
  createNetns,
  HEALTH_URL,
  TARGET_RULES,
  type Netns,
} from '../../../test/helpers/netns.ts';
import { confirmSignal } from '../../../workflows/infrastructure/network.ts';
import { statusQuery, type RollbackStatus } from '../../../workflows/phases/progress.ts';
import { APPROVER, common, expect, REQUESTER, type Ctx, type Run, type Scenario } from '../row.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function networkRow(): Scenario {
  let ns: Netns | undefined;
  const run = async (ctx: Ctx, tag: string, rules: string): Promise<Run> => {
    await ns!.setRules(BASELINE_RULES);
    const before = await ns!.canonical();
    const rulesFile = ns!.file(`target-${tag}.rules`, rules);
    return {
      workflowId: `faults-net-${tag}`,
      input: {
        rulesFile,
        netns: ns!.name,
        healthUrls: [HEALTH_URL],
        confirmSeconds: 120,
        verifyTimeoutSeconds: 5,
        ...common,
        approval: { preApproved: APPROVER.infrastructure },
      },
      during: async (ids, open) => {
        const handle = ctx.client.workflow.getHandle(ids.workflowId, ids.runId);
        while (open()) {
          const status: RollbackStatus | undefined = await handle.query(statusQuery).catch(() => undefined);
          if (status?.phase === 'awaiting-confirmation') {
            await handle
              .signal(confirmSignal, { by: REQUESTER, comment: 'fault matrix: /health fine' })
              .catch(() => {});
          }
          await sleep(300);
        }
      },
      check: async (ending) => {
        const problems: string[] = [];
        const now = await ns!.canonical();
        const want = ending.kind === 'completed' ? canonicalRules(rules).text : before;
        expect(
          problems,
          now === want,
          `the namespace holds other rules than ${ending.kind === 'completed' ? 'the target' : 'before'}:\n${now}`,
        );
        expect(problems, await ns!.healthy(), 'the service does not answer through the rules');
        return problems;
      },
      cleanup: () => Promise.resolve(),
    };
  };
  return {
    name: 'networkRollback',
    workflowType: 'networkRollback',
    system: 'iptables in a network namespace',
    uses: { docker: false, qdrant: false },
    prepare: async () => {
      ns = await createNetns();
    },
    setup: (ctx, tag) => run(ctx, tag, TARGET_RULES),
    persistent: { 'never-healthy': (ctx, tag) => run(ctx, tag, BLOCKING_RULES) },
    teardown: async () => {
      await ns?.close();
    },
  };
}
