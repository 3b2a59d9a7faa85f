// Owns what the Qdrant workflows share: activity stubs per timeout profile (on the host's queue when one is named),
// names derived from the run (timestamp + run-id part) and the manual steps a failed undo tells an operator.
// Deterministic.
import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities, BackupManifest } from '../../activities/index.ts';
import { hostTaskQueue } from '../../common/config.ts';
import { runSuffix } from '../../common/names.ts';
import { dockerOp, longWait, probe, quick, transfer } from '../phases/profiles.ts';
import { checked } from '../phases/schema.ts';
import { validateCollectionName } from '../phases/validation.ts';

export function acts(host: string | undefined) {
  const on = host ? { taskQueue: hostTaskQueue(host) } : {};
  return {
    q: proxyActivities<Activities>({ ...quick, ...on }),
    op: proxyActivities<Activities>({ ...dockerOp, ...on }),
    long: proxyActivities<Activities>({ ...transfer, ...on }),
    wait: proxyActivities<Activities>({ ...longWait(120), ...on }),
    probe: proxyActivities<Activities>({ ...probe, ...on }),
  };
}
export type Acts = ReturnType<typeof acts>;

/** A Qdrant collection (or alias) name field. */
export function collectionInput(description = 'the collection (or alias) to act on') {
  return checked<string>((v, f) => validateCollectionName(v, f))
    .describe(description)
    .meta({ value: 'NAME' });
}

/** Names created by this run end with this part of its run id (older runs used the timestamp-like head). */
export function runPart(runId: string): string {
  return patched('names-from-run-id-tail') ? runSuffix(runId) : runId.slice(0, 8);
}

export function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

export function aliasManual(alias: string, collection: string): string {
  return (
    `point alias '${alias}' at '${collection}': curl -H "api-key: $QDRANT_API_KEY" -X POST '<qdrant>/collections/aliases' -H 'content-type: application/json' ` +
    `-d '{"actions":[{"delete_alias":{"alias_name":"${alias}"}},{"create_alias":{"alias_name":"${alias}","collection_name":"${collection}"}}]}'`
  );
}

/** The manual steps to restore `collection` from a backup, for a compensation that could not do it. */
export function manualRestore(collection: string, backupName: string, m?: BackupManifest): string {
  const file = m
    ? `${m.collection}/${m.name}/${m.snapshotFile}`
    : `${collection}/${backupName}/<snapshot named in its manifest.json>`;
  return (
    `restore collection '${collection}' from backup '${backupName}' (file ${file} in the backup directory` +
    `${m ? `, ${m.pointsCount} points, sha256 ${m.checksum}` : ''}): ` +
    `run \`cortex-rollback start qdrant-recovery --collection ${collection} --backup ${backupName}\`, or upload the file ` +
    `with curl -H "api-key: $QDRANT_API_KEY" -X POST '<qdrant>/collections/${collection}/snapshots/upload?priority=snapshot' -F snapshot=@<file>`
  );
}
