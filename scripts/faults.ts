// `npm run faults`: every workflow against every fault, each cell an actual run checked for a consistent state
// afterwards; prints the matrix as markdown, writes it to bench/results/faults.md, exits 1 if any cell FAILs.
//   --only <scenario>[,…]   rows whose name contains it (e.g. docker, backup, recovery, pointInTime, alias, recreate, config)
//   --fault <name>[,…]      columns: kill-boundary, kill-mid, temporal-restart, dockerd-restart, qdrant-503, qdrant-drop, qdrant-slow
//   --k <n>                 kill-boundary: only the n-th boundary
// Runs against its own Temporal dev server, its own dockerd and the Qdrant double (see scripts/faults/infra.ts).
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { harnessDir } from './faults/infra.ts';
import type { FaultName } from './faults/matrix.ts';

// The harness's own Docker client (test/helpers/docker.ts) must talk to the harness dockerd: set before it loads.
process.env.DOCKER_HOST = `unix://${join(harnessDir(), 'docker.sock')}`;
const { FAULTS, runMatrix, writeResults } = await import('./faults/matrix.ts');

const { values } = parseArgs({
  options: {
    only: { type: 'string', multiple: true },
    fault: { type: 'string', multiple: true },
    k: { type: 'string' },
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
const { markdown, failed } = await runMatrix({
  only: split(values.only),
  faults: faults as FaultName[],
  ...(values.k ? { k: Number(values.k) } : {}),
});
console.log(`\n${markdown}`);
console.log(`written to ${writeResults(markdown)} (harness files: ${harnessDir()})`);
process.exit(failed ? 1 : 0);
