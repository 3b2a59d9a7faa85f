// Owns the runbook's "Emergency Scenario: Data Corruption Detected" (`dataCorruptionEmergency`): the restore is
// the data recovery's own (database/data-recovery.ts `recover`, same steps, same integrity checks), run as an
// emergency.
// Invariants:
//  - the notification goes out first, then the application and every writer are stopped before anything else is
//    read or exported (the damage stops spreading); nothing waits for an approval: the requester (any engineer of
//    the roster, the policy's `mode: "acknowledge"`) is recorded as the acknowledgement; a requester outside the
//    roster waits for a roster engineer's acknowledgement, and none in time starts the stopped containers again
//    and fails the run (NotApproved, a 'failed' notification): an emergency that restored nothing never succeeds;
//  - the backup restored is the newest one at most `maxBackupAgeDays` (≤ 7) old that verifies; none → the stopped
//    containers are started again and nothing else changed;
//  - a failure after the restore puts the pre-rollback backup back and starts what was stopped (the error says
//    what), and the closing notification says how it ended.
import { workflowInfo } from '@temporalio/workflow';
import { defineScenario, runOf, who } from '../phases/scenario.ts';
import { Progress } from '../phases/progress.ts';
import { approvalInput, checked, int, parseInput, refused, scenarioInput, z } from '../phases/schema.ts';
import { validateContainerName } from '../phases/validation.ts';
import {
  recover,
  recoveryFields,
  recoveryWatch,
  type QdrantRecoveryResult,
  type ValidRecovery,
} from '../database/data-recovery.ts';
import { acknowledgement, lastKnownGood, notifyEmergency, notifyOutcome } from './common.ts';

export const dataCorruptionInput = scenarioInput({
  ...recoveryFields(true),
  approval: approvalInput('emergency'),
  writers: z
    .array(checked((v, f) => validateContainerName(v, f)))
    .max(20, { error: 'takes at most 20 writers' })
    .default([])
    .describe('other containers writing to the collection: stopped with the application, started after it')
    .meta({ flag: 'writer', value: 'NAME' }),
  maxBackupAgeDays: int(1, 7)
    .default(7)
    .describe('the last known-good backup is the newest verified one at most this many days old')
    .meta({ flag: 'max-backup-age-days', value: 'DAYS' }),
  backup: refused('dataCorruptionEmergency restores the last known-good backup: use qdrantDataRecovery to name one'),
  atOrBefore: refused('dataCorruptionEmergency restores the last known-good backup: use pointInTimeRecovery'),
}).transform(recoveryWatch);

export type DataCorruptionInput = z.input<typeof dataCorruptionInput>;

export const dataCorruptionScenario = defineScenario({
  name: 'emergency-data-corruption',
  workflowType: 'dataCorruptionEmergency',
  category: 'emergency',
  runbook: 'Emergency Rollback Procedures → Data Corruption Detected',
  summary:
    'at once: notify, stop the application and writers, emergency export, restore the newest verified backup ≤ 7 days old, integrity check, restart, 30-minute watch',
  input: dataCorruptionInput,
  summarize: (i) => `EMERGENCY: restore collection ${i.collection} from the newest verified backup (no approval wait)`,
  workflowId: (i) => `rollback-emergency-${i.collection}`,
  runAttributes: (i) => ({
    service: `qdrant:${i.collection}`,
    targetVersion: `newest verified backup (at most ${i.maxBackupAgeDays} days old)`,
    ...who(i),
  }),
});

export interface DataCorruptionResult extends QdrantRecoveryResult {
  writers: string[];
}

export async function dataCorruptionEmergency(raw: DataCorruptionInput): Promise<DataCorruptionResult> {
  const target = `qdrant:${String((raw as { collection?: unknown } | undefined)?.collection)}`;
  const progress = new Progress('emergency', target);
  let writers: string[] = [];
  let maxAgeSeconds = 7 * 86400;
  let opened = false;
  const parse = (r: unknown): ValidRecovery => {
    const i = parseInput(dataCorruptionInput, r);
    writers = i.writers;
    maxAgeSeconds = i.maxBackupAgeDays * 86400;
    return {
      ...i,
      run: runOf(dataCorruptionScenario, i),
      selector: { atOrBefore: new Date().toISOString() },
      approval: {
        timeoutSeconds: i.approval.timeoutSeconds,
        preApproved: acknowledgement(i.requestedBy, i.approval.preApproved),
      },
    };
  };
  const summary = `EMERGENCY ROLLBACK: data corruption in ${target}`;
  try {
    const result = await recover(
      raw,
      parse,
      (a, p, real, backups, at) => lastKnownGood(maxAgeSeconds)(a, p, real, backups, at),
      {
        rollbackType: 'emergency',
        progress,
        stopFirst: true,
        get writers() {
          return writers;
        },
        first: async (p, input) => {
          opened = true;
          await notifyEmergency(p, target, `${summary} — services stopped, restoring the last known-good backup`, {
            requestedBy: (raw as { requestedBy?: string }).requestedBy ?? '',
            workflowId: workflowInfo().workflowId,
            app: input.app?.containerName ?? 'none',
            writers: writers.length,
          });
        },
      },
    );
    await notifyOutcome(progress, target, undefined, summary);
    return { ...result, writers };
  } catch (err) {
    if (opened) await notifyOutcome(progress, target, err, summary);
    throw err;
  }
}
