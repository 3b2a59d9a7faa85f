// Owns the dry-run plan of the Qdrant schema rollback (database/schema.ts, Scenario 2): the real run's read-only
// step (inspect the collection) and its fit check (checkSchemaFit, the same code), the existing backups and
// snapshots for the pre-rollback backup's size and age, then the steps of the chosen mode and its outage. A fit
// the real run would refuse is a warning naming the reason (it stops there, before changing anything).
import type { BackupManifest, CollectionState, VectorParams } from '../../activities/index.ts';
import { acts } from '../database/qdrant-common.ts';
import { checkSchemaFit, type ValidQdrantSchemaRollbackInput } from '../database/schema.ts';
import { surfaced } from '../phases/failures.ts';
import { bytesText, type PlanBody, type PlanStep } from '../phases/plan.ts';
import { errorMessage } from '../phases/progress.ts';
import { preRollbackBackups } from './qdrant-recovery.ts';

export async function planQdrantSchemaRollback(v: ValidQdrantSchemaRollbackInput): Promise<PlanBody> {
  const a = acts(v.host);
  let state: CollectionState;
  let backups: BackupManifest[] = [];
  let inventory: { snapshots: Array<{ name: string; createdAt?: string; sizeBytes: number }>; backupRoot: string } = {
    snapshots: [],
    backupRoot: '',
  };
  try {
    state = await a.q.qdrantInspect({ collection: v.collection });
    if (state.exists) {
      const real = state.aliasOf ?? v.collection;
      [backups, inventory] = await Promise.all([
        a.q.listBackups({ collection: real }),
        a.q.qdrantBackupInventory({ collection: real }),
      ]);
    }
  } catch (err) {
    throw surfaced(err, ' (dry run: nothing was changed)');
  }
  const source = state.aliasOf ?? v.collection;
  const warnings: string[] = [];
  let fit: { current: VectorParams; target: VectorParams } | undefined;
  try {
    fit = checkSchemaFit(v, state);
  } catch (err) {
    warnings.push(`the real run would stop before changing anything: ${errorMessage(err)}`);
  }
  const reembed = fit ? fit.current.size !== fit.target.size : false;
  const { estimate, taken } = preRollbackBackups(source, state.pointsCount, backups, inventory, Date.now());
  const target = fit ? `${fit.target.size}/${fit.target.distance}` : `${v.target.size}`;
  const copyWhat = (from: string, to: string) =>
    `${reembed ? `re-embed payload.${v.reembed?.contentField ?? '?'} of` : 'copy'} ${state.pointsCount} points ` +
    `${from} → ${to} (pages of ${v.batchSize})`;
  const steps: PlanStep[] = [
    { name: 'assess-collection', what: `inspect ${v.collection} and check the fit`, changes: false },
    { name: 'approval', what: 'wait for the approval below (approval-needed notification)', changes: false },
    { name: 'backup pre-rollback-<time>-<run>', what: `snapshot ${source} and download it`, changes: true },
  ];
  let downtime: PlanBody['expectedDowntime'];
  if (v.mode === 'alias') {
    const next = `${source}-v${v.target.size}-<run>`;
    steps.push(
      {
        name: `create ${next} like ${source}`,
        what: `vectors ${target}, settings and payload indexes carried`,
        changes: true,
        undo: `delete ${next}`,
      },
      { name: `copy ${source} → ${next}`, what: copyWhat(source, next), changes: true },
      { name: `verify ${next}`, what: `exact count ${state.pointsCount}, 16 points compared`, changes: false },
      {
        name: `switch alias ${v.collection} → ${next}`,
        what: `${source} is kept, nothing deleted`,
        changes: true,
        undo: `point ${v.collection} back at ${source}`,
      },
    );
    downtime = {
      maxSeconds: 0,
      what: `none: the alias switch is atomic; writes to ${source} during the copy are not in the new collection`,
    };
  } else {
    const staging = `${source}-staging-<run>`;
    steps.push(
      { name: `create ${staging} like ${source}`, what: `vectors ${target}`, changes: true, undo: `delete ${staging}` },
      { name: `copy ${source} → ${staging}`, what: copyWhat(source, staging), changes: true },
      { name: `verify ${staging}`, what: `exact count ${state.pointsCount}`, changes: false },
      {
        name: `delete ${source}`,
        what: "the runbook's delete and recreate",
        changes: true,
        undo: `restore ${source} from the pre-rollback backup`,
      },
      { name: `recreate ${source} like ${staging}`, what: `vectors ${target}`, changes: true },
      { name: `copy ${staging} → ${source}`, what: `${state.pointsCount} points back`, changes: true },
      { name: `verify ${source}`, what: `exact count ${state.pointsCount}`, changes: false },
    );
    downtime = {
      what:
        `${v.collection} is missing or incomplete from delete ${source} until verify ${source}: a recreate and a copy ` +
        `of ${state.pointsCount} points (~${bytesText(estimate.estimatedBytes)})`,
    };
  }
  return {
    current: [
      state.exists
        ? `${v.collection}${state.aliasOf ? ` (alias of ${state.aliasOf})` : ''}: ${state.pointsCount} points, vectors ` +
          (fit ? `${fit.current.size}/${fit.current.distance}` : JSON.stringify(state.vectors ?? '?'))
        : `${v.collection} does not exist`,
      `returns to vectors ${target}${v.target.vectorName ? ` (vector '${v.target.vectorName}')` : ''}, mode ${v.mode}` +
        (reembed ? ', re-embedding (the size changes)' : ''),
    ],
    steps,
    backups: state.exists ? taken : [],
    expectedDowntime: downtime,
    warnings,
    reads: ['qdrantInspect', 'listBackups', 'qdrantBackupInventory'],
  };
}
