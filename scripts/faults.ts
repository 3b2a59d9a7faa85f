// `npm run faults`: every workflow against every fault, each cell an actual run checked for a consistent state
// afterwards; prints the matrix as markdown, writes it to bench/results/faults.md, exits 1 if any cell FAILs.
//   --only <scenario>[,…]   rows whose name contains it (e.g. docker, backup, recovery, pointInTime, alias, recreate, config)
//   --fault <name>[,…]      columns: kill-boundary, kill-mid, temporal-restart, dockerd-restart, qdrant-503, qdrant-drop,
//                           qdrant-slow, qdrant-restart, refused, host-gone, never-healthy
//   --k <n>                 kill-boundary: only the n-th boundary
//   --ci                    the quick CI slice (scripts/faults/slice.ts): every workflow, every fault kind, one point
//   --no-record             do not merge the result into docs/fault-matrix.json (else: its cells replaced)
// The table for the docs: `npm run faults:table` (docs/faults-table.md, from docs/fault-matrix.json).
// Runs against its own Temporal dev server, its own dockerd and its own real Qdrant 1.18.3 server behind the fault
// proxy (test/helpers/qdrant.ts; see scripts/faults/infra.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { harnessDir } from './faults/infra.ts';
import type { FaultName } from './faults/matrix.ts';

// The harness's own Docker client (test/helpers/docker.ts) must talk to the harness dockerd: set before it loads.
process.env.DOCKER_HOST = `unix://${join(harnessDir(), 'docker.sock')}`;
const { FAULTS, runMatrix, writeResults } = await import('./faults/matrix.ts');
const { mergeRecords, readRecord, renderTable, TABLE_FILE, writeRecord } = await import('./faults/record.ts');

const { values } = parseArgs({
  options: {
    only: { type: 'string', multiple: true },
    fault: { type: 'string', multiple: true },
    k: { type: 'string' },
    ci: { type: 'boolean' },
    'no-record': { type: 'boolean' },
  },
});
const split = (v?: string[]) =>
  (v ?? [])
    .flatMap((x) => x.split(','))
    .map((x) => x.trim())
    .filter(Boolean);
const faults = split(values.fault);
for (const f of faults) {
  if (!(FAULTS as readonly string[]).includes(f)) {
    console.error(`unknown --fault ${f} (known: ${FAULTS.join(', ')})`);
    process.exit(2);
  }
}
const { markdown, failed, record } = await runMatrix({
  only: split(values.only),
  faults: faults as FaultName[],
  ...(values.k ? { k: Number(values.k) } : {}),
  ci: values.ci ?? false,
  args: process.argv.slice(2),
});
console.log(`\n${markdown}`);
console.log(`written to ${writeResults(markdown)} (harness files: ${harnessDir()})`);
if (!values['no-record']) {
  const merged = mergeRecords(readRecord(), record);
  console.log(`result merged into ${writeRecord(merged)}`);
  writeFileSync(TABLE_FILE, renderTable(merged));
  console.log(`table written to ${TABLE_FILE}`);
}
process.exit(failed ? 1 : 0);
