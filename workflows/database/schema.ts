// Owns the runbook's "Database Rollback → Scenario 2: Schema Migration Rollback" on Qdrant (`qdrantSchemaRollback`):
// returning a collection to earlier vector params (size, distance), copying or re-embedding its points.
// Invariants: nothing is created, switched or deleted before the fit is checked, a pre-rollback backup verifies
// and the rollback is approved; 'alias' mode never deletes (it builds a new collection and switches the alias),
// 'recreate' deletes the original only once a staging copy holds its data; undos restore the backup on failure.
import { CancellationScope, patched, workflowInfo } from '@temporalio/workflow';
import type { CarriedSettings, CollectionState, VectorParams } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { ApprovalGate, awaitApproval, type ApprovalRecord } from '../phases/approval.ts';
import { compensate, type Undo } from '../phases/saga.ts';
import { failedBeforeAnyChange, fail, invalidInput } from '../phases/failures.ts';
import { Progress, type StepRecord } from '../phases/progress.ts';
import { defineScenario, runOf, who } from '../phases/scenario.ts';
import { withLifecycleNotifications, type RollbackNotifications } from '../phases/notify.ts';
import {
  approvalInput,
  checked,
  hostInput,
  int,
  line,
  oneOf,
  parseInput,
  scenarioInput,
  searchAttributesInput,
  whoFields,
  type z,
} from '../phases/schema.ts';
import { InputError, requireLine } from '../phases/validation.ts';
import { acts, aliasManual, collectionInput, manualRestore, runPart, stamp } from './qdrant-common.ts';
import { takeBackup } from './qdrant-backup.ts';

export interface QdrantSchemaRollbackResult {
  outcome: 'succeeded' | 'rejected' | 'approval-timed-out';
  collection: string;
  from: { collection: string; vectors?: VectorParams; pointsCount: number };
  to: { collection: string; vectors: VectorParams; pointsCount?: number };
  /** The named vector rolled back, when not the unnamed one. */
  vectorName?: string;
  keptCollection?: string;
  preRollbackBackup: string;
  reembedded: boolean;
  /** The source's settings and payload indexes the rolled-back collection took over, and those it could not. */
  settings?: CarriedSettings;
  approvals: ApprovalRecord[];
  timeline: StepRecord[];
}

export const qdrantSchemaRollbackInput = scenarioInput({
  searchAttributes: searchAttributesInput(),
  collection: collectionInput("the name the application uses; an alias in the default 'alias' mode"),
  target: scenarioInput({
    size: int(1, 65536).describe('the vector size to return to').meta({ flag: 'size' }),
    distance: oneOf(['Cosine', 'Dot', 'Euclid', 'Manhattan'], 'must be Cosine, Dot, Euclid or Manhattan')
      .optional()
      .describe('the distance to return to (default: the current one)')
      .meta({ flag: 'distance' }),
    vectorName: checked<string | undefined, string>((v, f) => {
      const n = requireLine({ v }, 'v', 255, f);
      if (n !== v) throw new InputError(f, 'must not start or end with spaces');
      return n;
    })
      .optional()
      .describe('the named vector to roll back (the other named vectors are carried); absent for an unnamed vector')
      .meta({ flag: 'vector-name', value: 'NAME' }),
  }).describe('the vector params to return to'),
  mode: oneOf(['alias', 'recreate'], "must be 'alias' or 'recreate'")
    .default('alias')
    .describe(
      "alias: build a new collection and switch the alias (nothing deleted); recreate: the runbook's delete and recreate",
    ),
  reembed: scenarioInput({
    contentField: line(200)
      .describe("re-embed from payload[FIELD] with the worker's embeddings provider when the sizes differ")
      .meta({ flag: 'reembed-field', value: 'FIELD' }),
  })
    .optional()
    .describe('re-embedding, needed when the vector size changes'),
  batchSize: int(1, 10000).default(256).describe('points per page when copying').meta({ flag: 'batch-size' }),
  ...whoFields,
  host: hostInput(),
  approval: approvalInput('database'),
});

export type QdrantSchemaRollbackInput = z.input<typeof qdrantSchemaRollbackInput>;
export type ValidQdrantSchemaRollbackInput = z.output<typeof qdrantSchemaRollbackInput>;

export const qdrantSchemaScenario = defineScenario({
  name: 'qdrant-schema',
  workflowType: 'qdrantSchemaRollback',
  category: 'database',
  runbook: 'Database Rollback → Scenario 2: Schema Migration Rollback',
  summary: 'return a collection to earlier vector params: copy (or re-embed) into a new collection, verify, switch',
  input: qdrantSchemaRollbackInput,
  summarize: (i) => `roll back the schema of qdrant:${i.collection} → vectors of size ${i.target.size}`,
  workflowId: (i) => `rollback-database-${i.collection}`,
  runAttributes: (i) => ({
    service: `qdrant:${i.collection}`,
    targetVersion: `vectors ${i.target.vectorName ? `'${i.target.vectorName}' ` : ''}size ${i.target.size}${i.target.distance ? ` ${i.target.distance}` : ''}`,
    ...who(i),
  }),
});

export function qdrantSchemaRollback(raw: QdrantSchemaRollbackInput): Promise<QdrantSchemaRollbackResult> {
  return withLifecycleNotifications((notifications) => runQdrantSchemaRollback(raw, notifications));
}

async function runQdrantSchemaRollback(
  raw: QdrantSchemaRollbackInput,
  notifications: RollbackNotifications,
): Promise<QdrantSchemaRollbackResult> {
  const info = workflowInfo();
  const progress = new Progress('database', `qdrant:${String(raw?.collection)}`);
  const gate = new ApprovalGate('database', progress.status.approvals);
  let v: ValidQdrantSchemaRollbackInput;
  try {
    v = parseInput(qdrantSchemaRollbackInput, raw);
  } catch (err) {
    throw invalidInput(progress, err);
  }
  progress.searchAttributesEnabled = v.searchAttributes;
  progress.publishSearchAttributes(runOf(qdrantSchemaScenario, v));
  await notifications.started(progress, qdrantSchemaScenario, v);
  const a = acts(v.host);
  const runTag = `${stamp()}-${runPart(info.runId)}`;

  // 1. Assess and check the fit — nothing is created, switched or deleted before this passes.
  progress.setPhase('assessing');
  let state: CollectionState;
  let current: VectorParams;
  let target: VectorParams;
  try {
    state = await progress.step(
      'assess-collection',
      () => a.q.qdrantInspect({ collection: v.collection }),
      (s) =>
        `${s.pointsCount} points, vectors ${JSON.stringify(vectorsConfig(s))}${s.aliasOf ? `, alias of ${s.aliasOf}` : ''}`,
    );
    ({ current, target } = checkSchemaFit(v, state));
  } catch (err) {
    throw failedBeforeAnyChange(progress, err);
  }
  const source = state.aliasOf ?? v.collection;
  const reembed = current.size !== target.size;
  const vectorName = v.target.vectorName;

  // 2. Pre-rollback backup, then approval.
  progress.setPhase('backing-up-current');
  const preBackup = `pre-rollback-${runTag}`;
  const decision = await awaitApproval(progress, gate, { ...v.approval, requestedBy: v.requestedBy });
  const base = {
    collection: v.collection,
    from: { collection: source, vectors: current, pointsCount: state.pointsCount },
    ...(vectorName ? { vectorName } : {}),
    preRollbackBackup: preBackup,
    reembedded: reembed,
    approvals: progress.status.approvals,
    timeline: progress.status.steps,
  };
  if (decision.decision !== 'approved') {
    progress.setPhase(decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out');
    return {
      ...base,
      to: { collection: source, vectors: target },
      outcome: decision.decision === 'rejected' ? 'rejected' : 'approval-timed-out',
    };
  }

  const copy = (from: string, to: string) =>
    progress.step(
      `copy ${from} → ${to}`,
      () =>
        a.long.qdrantCopyPoints({
          source: from,
          target: to,
          batchSize: v.batchSize,
          ...(reembed && v.reembed
            ? {
                reembed: {
                  contentField: v.reembed.contentField,
                  size: target.size,
                  ...(vectorName ? { vectorName } : {}),
                },
              }
            : {}),
        }),
      (c) => `${c.copied} points`,
    );
  const verifyCount = async (name: string, from = source) => {
    const s = await progress.step(
      `verify ${name}`,
      () => a.q.qdrantInspect({ collection: name }),
      (x) => `${x.pointsCount} points`,
    );
    if (s.pointsCount !== state.pointsCount)
      throw fail(
        FailureType.VerificationFailed,
        `'${name}' has ${s.pointsCount} points, the source had ${state.pointsCount}`,
      );
    if (patched('qdrant-schema-compare-sample')) {
      // known before the change: the points of the collection copied from (payloads, and vectors unless re-embedded)
      const c = await progress.step(
        `compare ${name} with ${from}`,
        () =>
          a.q.qdrantCompareSample({
            source: from,
            target: name,
            samples: 16,
            vectors: reembed ? { size: target.size } : { same: true },
            ...(vectorName ? { vectorName } : {}),
          }),
        (r) => (r.problems.length ? r.problems.join('; ') : `${r.checked} points as in ${from}`),
      );
      if (c.problems.length > 0)
        throw fail(
          FailureType.VerificationFailed,
          `'${name}' is not a faithful copy of '${from}': ${c.problems.slice(0, 5).join('; ')}`,
        );
    } else {
      const q = await a.q.qdrantSampleQuery({ collection: name, ...(vectorName ? { using: vectorName } : {}) });
      if (!q.ok) throw fail(FailureType.VerificationFailed, `a sample query on '${name}' did not find its point`);
    }
    return s;
  };

  const createLike = (collection: string, like: string) =>
    a.q.qdrantEnsureCollection({
      collection,
      vectors: target,
      like,
      reembedded: reembed,
      ...(vectorName ? { vectorName } : {}),
    });

  const undos: Undo[] = [];
  try {
    progress.setPhase('backing-up-current');
    await takeBackup(a, progress, source, preBackup);
    progress.setPhase('migrating');
    if (v.mode === 'alias') {
      const next = `${source}-v${target.size}-${runPart(info.runId)}`;
      undos.push({
        name: `delete the new '${next}'`,
        run: () => a.q.qdrantDeleteCollection({ collection: next }),
        manual: `delete the unused collection '${next}': curl -H "api-key: $QDRANT_API_KEY" -X DELETE '<qdrant>/collections/${next}'`,
      });
      const made = await progress.step(`create ${next} like ${source}`, () => createLike(next, source), describeCarry);
      await copy(source, next);
      const s = await verifyCount(next);
      undos.push({
        name: `point '${v.collection}' back at '${source}'`,
        run: () => a.q.qdrantSwitchAlias({ alias: v.collection, collection: source }),
        manual: aliasManual(v.collection, source),
      });
      await progress.step(`switch alias ${v.collection} → ${next}`, () =>
        a.q.qdrantSwitchAlias({ alias: v.collection, collection: next }),
      );
      // restored once the application's name serves the verified copy
      progress.restored(`switch alias ${v.collection} → ${next}`);
      progress.setPhase('completed');
      return {
        ...base,
        outcome: 'succeeded',
        to: { collection: next, vectors: target, pointsCount: s.pointsCount },
        keptCollection: source,
        ...(made.settings ? { settings: made.settings } : {}),
      };
    }
    // recreate: staging copy first, so the original is deleted only once its data is safely elsewhere too.
    const staging = `${source}-staging-${runPart(info.runId)}`;
    const repointAlias = async () => {
      // deleting a collection drops the aliases pointing at it: put the application's name back
      if (state.aliasOf) await a.q.qdrantSwitchAlias({ alias: v.collection, collection: source });
    };
    undos.push({
      name: `delete the staging '${staging}'`,
      run: () => a.q.qdrantDeleteCollection({ collection: staging }),
      manual: `once '${source}' is restored, delete the staging copy '${staging}' (it holds the rolled-back vectors): curl -H "api-key: $QDRANT_API_KEY" -X DELETE '<qdrant>/collections/${staging}'`,
    });
    const staged = await progress.step(
      `create ${staging} like ${source}`,
      () => createLike(staging, source),
      describeCarry,
    );
    await copy(source, staging);
    await verifyCount(staging);
    undos.push({
      name: `restore '${source}' from ${preBackup}`,
      run: async () => {
        await a.q.qdrantDeleteCollection({ collection: source }); // a recreated one has the other vector params
        await a.long.qdrantRestoreBackup({ collection: source, backupName: preBackup });
        await repointAlias();
      },
      manual:
        `delete '${source}' if it exists with the new vector params (curl -H "api-key: $QDRANT_API_KEY" -X DELETE '<qdrant>/collections/${source}'), then ` +
        manualRestore(source, preBackup) +
        (state.aliasOf ? `; then ${aliasManual(v.collection, source)}` : ''),
    });
    await progress.step(`delete ${source}`, () => a.q.qdrantDeleteCollection({ collection: source }));
    // the source is gone: the staging collection holds its settings now
    const remade = await progress.step(
      `recreate ${source} like ${staging}`,
      () => createLike(source, staging),
      describeCarry,
    );
    await progress.step(`copy ${staging} → ${source}`, () =>
      a.long.qdrantCopyPoints({ source: staging, target: source, batchSize: v.batchSize }),
    );
    await repointAlias();
    const s = await verifyCount(source, staging);
    if (!progress.restored(`compare ${source} with ${staging}`)) progress.restored(`verify ${source}`);
    await a.q.qdrantDeleteCollection({ collection: staging });
    progress.setPhase('completed');
    const settings = mergeCarried(staged.settings, remade.settings);
    return {
      ...base,
      outcome: 'succeeded',
      to: { collection: source, vectors: target, pointsCount: s.pointsCount },
      ...(settings ? { settings } : {}),
    };
  } catch (err) {
    await CancellationScope.nonCancellable(() =>
      compensate(progress, undos, err, `'${v.collection}' serves the previous vectors again`),
    );
    throw err;
  }
}

/** Step 1's fit check (pure; the dry-run plan runs it too): the vector rolled back, and what it returns to. */
export function checkSchemaFit(
  v: ValidQdrantSchemaRollbackInput,
  state: CollectionState,
): { current: VectorParams; target: VectorParams } {
  if (!state.exists) throw fail(FailureType.NotFound, `collection '${v.collection}' does not exist`);
  const current = rolledBackVector(v.collection, state, v.target.vectorName);
  if (v.mode === 'alias' && !state.aliasOf) {
    throw fail(
      FailureType.InvalidInput,
      `'${v.collection}' is a collection, not an alias: the non-destructive mode switches an alias; point the application at an alias first, or choose mode 'recreate'`,
    );
  }
  const target = { size: v.target.size, distance: v.target.distance || current.distance };
  if (current.size === target.size && current.distance === target.distance) {
    throw fail(FailureType.InvalidInput, `'${v.collection}' already has vectors ${target.size}/${target.distance}`);
  }
  if (current.size !== target.size && !v.reembed) {
    throw fail(
      FailureType.InvalidInput,
      `the stored vectors have ${current.size} dimensions and do not fit a ${target.size}-dimensional collection; ` +
        `refusing. Configure a re-embedding provider and pass reembed.contentField to re-embed from stored content`,
    );
  }
  return { current, target };
}

/** The collection's `params.vectors`: one VectorParams, or VectorParams by name. */
function vectorsConfig(state: CollectionState): Record<string, unknown> | undefined {
  return (state.config as { params?: { vectors?: Record<string, unknown> } } | undefined)?.params?.vectors;
}

/** The params of the vector being rolled back: the unnamed one, or `vectorName` of a collection of named vectors. */
function rolledBackVector(collection: string, state: CollectionState, vectorName: string | undefined): VectorParams {
  const vectors = vectorsConfig(state);
  if (vectorName === undefined) {
    if (state.vectors) return state.vectors;
    throw fail(
      FailureType.InvalidInput,
      `'${collection}' uses named vectors (${Object.keys(vectors ?? {}).join(', ')}); say which one to roll back in target.vectorName`,
    );
  }
  const named = state.vectors ? undefined : (vectors?.[vectorName] as VectorParams | undefined);
  if (!named || typeof named.size !== 'number') {
    throw fail(
      FailureType.InvalidInput,
      state.vectors
        ? `'${collection}' has a single unnamed vector: leave target.vectorName out`
        : `'${collection}' has no vector named '${vectorName}' (it has ${Object.keys(vectors ?? {}).join(', ')})`,
    );
  }
  return { size: named.size, distance: named.distance };
}

function describeCarry(r: { settings?: CarriedSettings }): string {
  if (!r.settings) return 'vector params only';
  const { carried, notCarried, payloadIndexes } = r.settings;
  return (
    `carried ${carried.length} settings and ${payloadIndexes.length} payload indexes` +
    (notCarried.length ? `; not carried: ${notCarried.map((n) => `${n.setting} (${n.why})`).join('; ')}` : '')
  );
}

/** Recreate mode builds twice (source → staging → source): what the second build could not carry adds up. */
function mergeCarried(first?: CarriedSettings, second?: CarriedSettings): CarriedSettings | undefined {
  if (!first || !second) return second ?? first;
  const seen = new Set(second.notCarried.map((n) => n.setting));
  return { ...second, notCarried: [...first.notCarried.filter((n) => !seen.has(n.setting)), ...second.notCarried] };
}
