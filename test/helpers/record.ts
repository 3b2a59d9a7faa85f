// Saves a finished workflow's history as a replay fixture when CORTEX_RECORD_HISTORIES=1 (scripts/record-histories.ts
// --emergency-only sets it): only a history not yet in test/histories is written — committed ones are never re-recorded.
import { execa } from 'execa';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, temporalCliPath } from '../../common/tools.ts';

export async function recordHistory(name: string, workflowId: string, address: string): Promise<void> {
  if (process.env.CORTEX_RECORD_HISTORIES !== '1') return;
  const path = join(PROJECT_ROOT, 'test', 'histories', `${name}.json`);
  if (existsSync(path)) return;
  await writeHistory(path, workflowId, address);
}

/** Writes the history in the canonical JSON form the temporal CLI prints (what historyFromJSON and the Web UI read). */
export async function writeHistory(path: string, workflowId: string, address: string): Promise<void> {
  const shown = await execa(temporalCliPath(), [
    'workflow',
    'show',
    '--workflow-id',
    workflowId,
    '--address',
    address,
    '-o',
    'json',
  ]);
  writeFileSync(path, shown.stdout);
}
