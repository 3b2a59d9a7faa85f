// Owns the dry-run plan of the Qdrant config rollback (configuration/qdrant-config.ts): the real run's read-only
// step (inspect the collection), the settings it would record and PATCH — each one as current → target —, the
// recorded values as the backup, and the outage (none: the PATCH applies in place).
import { configContains } from '../../common/config-contains.ts';
import type { CollectionState } from '../../activities/index.ts';
import { acts } from '../database/qdrant-common.ts';
import { patchView, pick } from '../configuration/qdrant-config.ts';
import { FailureType } from '../../common/failures.ts';
import { fail, surfaced } from '../phases/failures.ts';
import type { PlanBody } from '../phases/plan.ts';

/** `a.b.c: current → target` for every leaf of the target. */
function leaves(target: unknown, current: unknown, path: string[] = []): string[] {
  if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
    return Object.entries(target).flatMap(([k, v]) =>
      leaves(v, (current as Record<string, unknown> | undefined)?.[k], [...path, k]),
    );
  }
  const same = JSON.stringify(current) === JSON.stringify(target);
  return [
    `${path.join('.')}: ${JSON.stringify(current) ?? 'unset'} → ${JSON.stringify(target)}${same ? ' (same)' : ''}`,
  ];
}

export async function planQdrantConfigRollback(input: {
  collection: string;
  target: Record<string, unknown>;
  host?: string;
}): Promise<PlanBody> {
  const a = acts(input.host);
  let state: CollectionState;
  try {
    state = await a.q.qdrantInspect({ collection: input.collection });
  } catch (err) {
    throw surfaced(err, ' (dry run: nothing was changed)');
  }
  if (!state.exists)
    throw fail(FailureType.NotFound, `collection '${input.collection}' does not exist (dry run: nothing was changed)`);
  const real = state.aliasOf ?? input.collection;
  const current = patchView(state.config);
  const before = pick(current, input.target);
  const applied = configContains(current, input.target);
  return {
    current: [
      `${input.collection}${state.aliasOf ? ` (alias of ${real})` : ''}: ${state.pointsCount} points, ${state.status ?? '?'}`,
      ...leaves(input.target, current),
    ],
    steps: [
      {
        name: 'record-current-config',
        what: `inspect ${real}; record ${Object.keys(input.target).join(', ')}`,
        changes: false,
      },
      { name: 'approval', what: 'wait for the approval below (approval-needed notification)', changes: false },
      { name: 'record-test-search', what: 'nearest neighbours of 3 stored points (k 5)', changes: false },
      {
        name: 'patch-collection',
        what: `PATCH /collections/${real} with the target`,
        changes: true,
        undo: `PATCH the recorded values back: ${JSON.stringify(before)}`,
      },
      { name: 'verify-config', what: 'the collection reports the target values', changes: false },
      { name: 'test-search', what: 'the same nearest neighbours as recorded', changes: false },
    ],
    backups: [
      {
        what: `the current values of ${Object.keys(input.target).join(', ')} of ${real}`,
        where: "the rollback's history and result (re-applied if verification fails)",
        estimatedBytes: JSON.stringify(before).length,
      },
    ],
    expectedDowntime: {
      maxSeconds: 0,
      what: 'none: the PATCH applies in place (optimizer or index changes may slow searches while Qdrant rebuilds)',
    },
    warnings: applied ? [`${real} already has these values: the PATCH would change nothing`] : [],
    reads: ['qdrantInspect'],
  };
}
