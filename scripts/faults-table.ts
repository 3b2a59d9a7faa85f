// `npm run faults:table`: writes docs/faults-table.md from docs/fault-matrix.json (the fault matrix's last result,
// written by `npm run faults`). `--check`: exit 1 if the committed table is not what the file generates.
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { PROJECT_ROOT } from '../common/tools.ts';
import { MATRIX_FILE, readRecord, renderTable, TABLE_FILE } from './faults/record.ts';

const record = readRecord();
if (!record) {
  console.error(`${relative(PROJECT_ROOT, MATRIX_FILE)} does not exist: run 'npm run faults' first`);
  process.exit(2);
}
const table = renderTable(record);
if (process.argv.includes('--check')) {
  const committed = (() => {
    try {
      return readFileSync(TABLE_FILE, 'utf8');
    } catch {
      return '';
    }
  })();
  if (committed !== table) {
    console.error(`${relative(PROJECT_ROOT, TABLE_FILE)} is stale: run 'npm run faults:table'`);
    process.exit(1);
  }
  console.log(`${relative(PROJECT_ROOT, TABLE_FILE)} is up to date`);
} else {
  writeFileSync(TABLE_FILE, table);
  console.log(`written ${relative(PROJECT_ROOT, TABLE_FILE)}`);
}
