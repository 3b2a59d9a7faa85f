// Owns the runbook's "Configuration Rollback → Scenario 2" on Qdrant (`qdrantConfigRollback`): re-applying a
// collection's earlier settings (optimizers, HNSW, params, quantization, strict mode) with a PATCH.
// Invariants: every setting is checked against Qdrant 1.19's own schema before anything changes (Qdrant ignores
// unknown keys); the current values are recorded first and re-applied if verification or the test search fails.
import { CancellationScope, patched } from '@temporalio/workflow';
import { configContains } from '../../common/config-contains.ts';
import { FailureType } from '../../common/failures.ts';
import { ApprovalGate, awaitApproval, type ApprovalRecord } from '../phases/approval.ts';
import { compensate, type Undo } from '../phases/saga.ts';
import { failedBeforeAnyChange, fail, invalidInput, surfaced } from '../phases/failures.ts';
import { Progress, type StepRecord } from '../phases/progress.ts';
import { defineScenario, runOf, who } from '../phases/scenario.ts';
import {
  approvalInput,
  checked,
  hostInput,
  parseInput,
  scenarioInput,
  searchAttributesInput,
  whoFields,
  type z,
} from '../phases/schema.ts';
import { withLifecycleNotifications, type RollbackNotifications } from '../phases/notify.ts';
import { asObject, InputError, onlyKnownFields, show } from '../phases/validation.ts';
import { acts, collectionInput } from '../database/qdrant-common.ts';

const PATCHABLE = ['optimizers_config', 'hnsw_config', 'params', 'quantization_config', 'strict_mode_config'];

/** Collection info names it `optimizer_config`; the PATCH body names it `optimizers_config`. Speak the PATCH's. */
export function patchView(config: unknown): Record<string, unknown> {
  const c = { ...((config ?? {}) as Record<string, unknown>) };
  if ('optimizer_config' in c) {
    c.optimizers_config = c.optimizer_config;
    delete c.optimizer_config;
  }
  return c;
}

export function pick(config: unknown, like: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, w] of Object.entries(like)) {
    const h = (config as Record<string, unknown> | undefined)?.[k];
    out[k] =
      w !== null && typeof w === 'object' && h !== null && typeof h === 'object'
        ? pick(h, w as Record<string, unknown>)
        : h;
  }
  return out;
}

// The scalar settings of Qdrant 1.19's HnswConfigDiff, OptimizersConfigDiff, CollectionParamsDiff and
// StrictModeConfig (openapi.json), each as [kind, minimum]; 'any' leaves a nested object for Qdrant to judge.
// Qdrant ignores unknown keys, so a misspelt setting would otherwise be "applied" and then fail verification.
type SettingKind = ['int', number] | ['fraction'] | ['number'] | ['bool'] | ['any'];
const SETTINGS: Record<string, Record<string, SettingKind> | 'any'> = {
  hnsw_config: {
    m: ['int', 0],
    ef_construct: ['int', 4],
    full_scan_threshold: ['int', 10],
    max_indexing_threads: ['int', 0],
    on_disk: ['bool'],
    memory: ['any'],
    payload_m: ['int', 0],
    inline_storage: ['bool'],
  },
  optimizers_config: {
    deleted_threshold: ['fraction'],
    vacuum_min_vector_number: ['int', 100],
    default_segment_number: ['int', 0],
    max_segment_size: ['int', 1],
    memmap_threshold: ['int', 0],
    indexing_threshold: ['int', 0],
    flush_interval_sec: ['int', 0],
    max_optimization_threads: ['any'],
    prevent_unoptimized: ['bool'],
  },
  params: {
    replication_factor: ['int', 1],
    write_consistency_factor: ['int', 1],
    read_fan_out_factor: ['int', 0],
    read_fan_out_delay_ms: ['int', 0],
    on_disk_payload: ['bool'],
    payload: ['any'],
  },
  quantization_config: 'any',
  strict_mode_config: {
    enabled: ['bool'],
    max_query_limit: ['int', 1],
    max_timeout: ['int', 1],
    unindexed_filtering_retrieve: ['bool'],
    unindexed_filtering_update: ['bool'],
    search_max_hnsw_ef: ['int', 0],
    search_allow_exact: ['bool'],
    search_max_oversampling: ['number'],
    upsert_max_batchsize: ['int', 0],
    search_max_batchsize: ['int', 0],
    max_collection_vector_size_bytes: ['int', 0],
    read_rate_limit: ['int', 1],
    write_rate_limit: ['int', 1],
    max_collection_payload_size_bytes: ['int', 0],
    max_points_count: ['int', 1],
    filter_max_conditions: ['int', 0],
    condition_max_size: ['int', 0],
    multivector_config: ['any'],
    sparse_config: ['any'],
    max_payload_index_count: ['int', 0],
    max_resident_memory_percent: ['int', 1],
  },
};

function checkSetting(path: string, kind: SettingKind, v: unknown): void {
  if (v === null) throw new InputError(path, 'must not be null: leave the setting out to keep it as it is');
  if (kind[0] === 'any') return;
  const ok =
    kind[0] === 'bool'
      ? typeof v === 'boolean'
      : typeof v === 'number' &&
        Number.isFinite(v) &&
        (kind[0] === 'number' || (kind[0] === 'fraction' ? v >= 0 && v <= 1 : Number.isSafeInteger(v) && v >= kind[1]));
  if (!ok) {
    const want =
      kind[0] === 'bool'
        ? 'true or false'
        : kind[0] === 'fraction'
          ? 'a number from 0 to 1'
          : kind[0] === 'number'
            ? 'a number'
            : `an integer >= ${kind[1]}`;
    throw new InputError(path, `must be ${want}, got ${show(v)}`);
  }
}

/** The settings to return to: sections of Qdrant's UpdateCollection, each setting checked against Qdrant 1.19. */
export function validateConfigTarget(raw: unknown, field: string): Record<string, unknown> {
  const target = asObject(raw, field);
  for (const k of Object.keys(target)) {
    if (k === 'vectors' || (k === 'params' && configContainsKey(target.params, ['vectors', 'size', 'distance']))) {
      throw new InputError(
        `${field}.${k}`,
        'vector size and distance cannot be changed by a config rollback: use the qdrantSchemaRollback workflow',
      );
    }
  }
  onlyKnownFields(target, PATCHABLE, `${field}.`);
  if (Object.keys(target).length === 0) throw new InputError(field, 'names no setting to change');
  for (const [k, section] of Object.entries(target)) {
    const table = SETTINGS[k]!;
    if (table === 'any') {
      checkSetting(`${field}.${k}`, ['any'], section);
      continue;
    }
    const so = asObject(section, `${field}.${k}`);
    onlyKnownFields(so, Object.keys(table), `${field}.${k}.`);
    for (const [f, v] of Object.entries(so)) checkSetting(`${field}.${k}.${f}`, table[f]!, v);
  }
  return target;
}

export const qdrantConfigRollbackInput = scenarioInput({
  searchAttributes: searchAttributesInput(),
  collection: collectionInput('the collection (or alias) whose config to roll back'),
  target: checked<Record<string, unknown>>(validateConfigTarget)
    .describe(
      `the settings to return to, as Qdrant's collection update body: ${PATCHABLE.join(', ')} (each setting checked against Qdrant 1.19)`,
    )
    .meta({ flag: 'target-json', format: 'json', example: '{"hnsw_config":{"m":16}}' }),
  ...whoFields,
  host: hostInput(),
  approval: approvalInput('configuration'),
});

export type QdrantConfigRollbackInput = z.input<typeof qdrantConfigRollbackInput>;

export const qdrantConfigScenario = defineScenario({
  name: 'qdrant-config',
  workflowType: 'qdrantConfigRollback',
  category: 'configuration',
  runbook: 'Configuration Rollback → Scenario 2: Qdrant configuration',
  summary: 'record the current settings, PATCH the earlier ones, verify them and a test search; re-apply on failure',
  input: qdrantConfigRollbackInput,
  summarize: (i) => `roll back the config of qdrant:${i.collection} → ${Object.keys(i.target).join(', ')}`,
  workflowId: (i) => `rollback-configuration-qdrant-${i.collection}`,
  runAttributes: (i) => ({ service: `qdrant:${i.collection}`, targetVersion: JSON.stringify(i.target), ...who(i) }),
});

export interface QdrantConfigRollbackResult {
  /** 'timed-out' only in runs from before 'approval-timed-out'. */
  outcome: 'succeeded' | 'rejected' | 'approval-timed-out' | 'timed-out';
  before: Record<string, unknown>;
  /** The runbook's test search: nearest neighbours of stored points, the same before and after the PATCH. */
  testSearch?: { probes: number; same: boolean };
  after: unknown;
  approvals: ApprovalRecord[];
  timeline: StepRecord[];
}

export function qdrantConfigRollback(raw: QdrantConfigRollbackInput): Promise<QdrantConfigRollbackResult> {
  return withLifecycleNotifications((notifications) => runQdrantConfigRollback(raw, notifications));
}

async function runQdrantConfigRollback(
  raw: QdrantConfigRollbackInput,
  notifications: RollbackNotifications,
): Promise<QdrantConfigRollbackResult> {
  const progress = new Progress('configuration', `qdrant:${String(raw?.collection)}`);
  const gate = new ApprovalGate('configuration', progress.status.approvals);
  let input: z.output<typeof qdrantConfigRollbackInput>;
  try {
    input = parseInput(qdrantConfigRollbackInput, raw);
  } catch (err) {
    throw invalidInput(progress, err);
  }
  progress.searchAttributesEnabled = input.searchAttributes;
  progress.publishSearchAttributes(runOf(qdrantConfigScenario, input));
  await notifications.started(progress, qdrantConfigScenario, input);
  const { collection, target, host } = input;
  const a = acts(host);
  progress.setPhase('assessing');
  const state = await progress
    .step('record-current-config', () => a.q.qdrantInspect({ collection }))
    .catch((e: unknown) => Promise.reject(surfaced(e, ' (nothing was changed)')));
  if (!state.exists)
    throw fail(FailureType.NotFound, `collection '${collection}' does not exist (nothing was changed)`);
  const real = state.aliasOf ?? collection;
  const before = pick(patchView(state.config), target);
  const decision = await awaitApproval(progress, gate, { ...input.approval, requestedBy: input.requestedBy });
  if (decision.decision !== 'approved') {
    // A time-out ended as 'timed-out' before, a phase the metrics did not count as a decision not to roll back
    // (the run completed, so it counted as a success); those runs keep it on replay.
    const outcome =
      decision.decision === 'timed-out' && patched('qdrant-config-approval-timed-out')
        ? 'approval-timed-out'
        : decision.decision;
    progress.setPhase(outcome);
    return {
      outcome,
      before,
      after: state.config,
      approvals: progress.status.approvals,
      timeline: progress.status.steps,
    };
  }
  const undos: Undo[] = [
    {
      name: `re-apply the recorded config of '${real}'`,
      run: () => a.long.qdrantPatchCollection({ collection: real, patch: before }),
      manual: `re-apply the recorded config: curl -H "api-key: $QDRANT_API_KEY" -X PATCH '<qdrant>/collections/${real}' -H 'content-type: application/json' -d '${JSON.stringify(before)}'`,
    },
  ];
  // Runbook step 7's test search, with an answer known before the change: the nearest neighbours of a few stored
  // points, recorded now and required to be the same after the PATCH.
  const testSearch = patched('qdrant-config-test-search');
  let known: Array<{ id: string | number; top: Array<string | number> }> = [];
  let testSearchResult: { probes: number; same: boolean } | undefined;
  if (testSearch) {
    try {
      known = (
        await progress.step(
          'record-test-search',
          () => a.q.qdrantSearchProbe({ collection: real, samples: 3, k: 5 }),
          (r) => `${r.probes.length} known answers`,
        )
      ).probes;
    } catch (err) {
      throw failedBeforeAnyChange(progress, err);
    }
  }
  try {
    progress.setPhase('applying');
    await progress.step(
      'patch-collection',
      () => a.long.qdrantPatchCollection({ collection: real, patch: target }),
      (r) => `status ${r.status}`,
    );
    const after = await progress.step('verify-config', () => a.q.qdrantInspect({ collection: real }));
    if (!configContains(patchView(after.config), target)) {
      throw fail(
        FailureType.VerificationFailed,
        `'${real}' config after the PATCH does not equal the target: ${JSON.stringify(pick(patchView(after.config), target))}`,
      );
    }
    if (testSearch) {
      const now = await progress.step(
        'test-search',
        () => a.q.qdrantSearchProbe({ collection: real, ids: known.map((k) => k.id), k: 5 }),
        (r) => `${r.probes.length} searches`,
      );
      const differ = known.filter((k, i) => JSON.stringify(now.probes[i]?.top) !== JSON.stringify(k.top));
      testSearchResult = { probes: known.length, same: differ.length === 0 };
      if (differ.length > 0) {
        const d = differ[0]!;
        throw fail(
          FailureType.VerificationFailed,
          `the test search on '${real}' answers differently after the PATCH: neighbours of point ${String(d.id)} were ` +
            `${JSON.stringify(d.top)} before, ${JSON.stringify(now.probes.find((p) => p.id === d.id)?.top ?? null)} after`,
        );
      }
    }
    progress.restored(testSearch ? 'test-search' : 'verify-config');
    progress.setPhase('completed');
    return {
      outcome: 'succeeded',
      before,
      ...(testSearchResult ? { testSearch: testSearchResult } : {}),
      after: pick(patchView(after.config), target),
      approvals: progress.status.approvals,
      timeline: progress.status.steps,
    };
  } catch (err) {
    await CancellationScope.nonCancellable(() =>
      compensate(progress, undos, err, `the recorded config of '${real}' is re-applied`),
    );
    throw err;
  }
}

function configContainsKey(v: unknown, keys: string[]): boolean {
  if (v === null || typeof v !== 'object') return false;
  return Object.entries(v as Record<string, unknown>).some(([k, x]) => keys.includes(k) || configContainsKey(x, keys));
}
