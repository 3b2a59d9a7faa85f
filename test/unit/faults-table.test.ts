// The fault matrix's table in the docs is generated from its committed result, never edited by hand; and the
// result's cells say what they claim (a passing cell has runs and no failed run, a failing one a failed run).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readRecord, renderTable, TABLE_FILE } from '../../scripts/faults/record.ts';

describe('docs/fault-matrix.json and docs/faults-table.md', () => {
  const record = readRecord();

  it('the committed table is what `npm run faults:table` generates from the committed result', () => {
    assert.ok(record, 'docs/fault-matrix.json exists');
    assert.equal(readFileSync(TABLE_FILE, 'utf8'), renderTable(record));
  });

  it("every cell's verdict agrees with its runs", () => {
    for (const r of record!.rows)
      for (const [col, c] of Object.entries(r.cells)) {
        const where = `${r.name} × ${col}`;
        const failed = c.runs.some((x) => x.fail !== undefined);
        if (c.verdict === 'pass') assert.ok(c.runs.length > 0 && !failed, `${where}: pass without a clean run`);
        if (c.verdict === 'fail') assert.ok(failed, `${where}: fail without a failed run`);
        if (c.verdict === 'n/a') assert.equal(c.runs.length, 0, `${where}: n/a with runs`);
        assert.ok(
          record!.columns.some((x) => x.id === col),
          `${where}: no such column`,
        );
      }
  });
});
