// The env-file activities on real files in a temp dir: the line rules of the known-good file (problems by line,
// never the text), atomic install keeping owner and mode, idempotent backup and install, and refusals when a file
// changed under the rollback.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chown, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnvFileActivities, parseEnvText, systemdValue } from '../../activities/envfile.ts';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

describe('parseEnvText: the line rules of an env file', () => {
  it('reads KEY=VALUE lines, skips blanks and comments, keeps everything after the first =', () => {
    const r = parseEnvText('# c\n\nA=1\n  # indented comment\nB=x=y\nC=\n', ['A']);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(
      r.entries.map((e) => [e.key, e.value, e.line]),
      [
        ['A', '1', 3],
        ['B', 'x=y', 5],
        ['C', '', 6],
      ],
    );
  });

  it('names each problem by line and kind, never quoting the line', () => {
    const secret = 'sk-live-0123456789';
    const text = [
      `QDRANT_URL=http://q:6333`,
      `export OPENAI_API_KEY=${secret}`,
      secret,
      `QDRANT_URL=http://other`,
      `KEY WITH SPACE=${secret}`,
      `CRLF=${secret}\r`,
      `NUL=a\0b`,
      `EMPTY=`,
    ].join('\n');
    const r = parseEnvText(text, ['QDRANT_URL', 'OPENAI_API_KEY', 'EMPTY']);
    assert.deepEqual(
      r.problems.map((p) => [p.line, p.problem.split(' ').slice(0, 3).join(' ')]),
      [
        [2, 'has an invalid'],
        [3, 'is not KEY=VALUE'],
        [4, 'duplicate key QDRANT_URL'],
        [5, 'has an invalid'],
        [6, 'ends with a'],
        [7, 'contains a NUL'],
        [undefined, 'required key OPENAI_API_KEY'],
        [8, 'required key EMPTY'],
      ],
    );
    assert.ok(!JSON.stringify(r.problems).includes(secret));
  });

  it("reads values as systemd's EnvironmentFile= does where that is clear", () => {
    assert.equal(systemdValue('"a b"'), 'a b');
    assert.equal(systemdValue("'x'"), 'x');
    assert.equal(systemdValue(' plain '), 'plain');
    assert.equal(systemdValue('"a\\"b"'), undefined);
  });
});

describe('env-file activities on real files', () => {
  const acts = createEnvFileActivities();

  async function fixture() {
    const dir = await mkdtemp(join(tmpdir(), 'envfile-unit-'));
    const path = join(dir, '.env');
    const good = join(dir, 'good.env');
    await writeFile(path, 'QDRANT_URL=http://old\nOPENAI_API_KEY=sk-old\n', { mode: 0o640 });
    await chown(path, 4321, 4321);
    await writeFile(good, 'QDRANT_URL=http://new\nOPENAI_API_KEY=sk-new\n', { mode: 0o600 });
    return { dir, path, good, cleanup: () => rm(dir, { recursive: true, force: true }) };
  }

  it('inspects with digests only: the whole file and each value', async () => {
    const f = await fixture();
    try {
      const i = await acts.inspectEnvFile({ path: f.path, requiredKeys: ['QDRANT_URL'] });
      assert.equal(i.sha256, sha(await readFile(f.path)));
      assert.deepEqual(
        i.keys.map((k) => [k.key, k.sha256]),
        [
          ['QDRANT_URL', sha('http://old')],
          ['OPENAI_API_KEY', sha('sk-old')],
        ],
      );
      assert.deepEqual([i.mode, i.uid, i.gid], ['0640', 4321, 4321]);
      assert.ok(!JSON.stringify(i).includes('sk-old'));
    } finally {
      await f.cleanup();
    }
  });

  it('backs up and installs atomically, keeping owner and mode; repeats find their own effect', async () => {
    const f = await fixture();
    try {
      const cur = sha(await readFile(f.path));
      const goodSha = sha(await readFile(f.good));
      const backupPath = `${f.path}.backup-x`;
      const b1 = await acts.backupEnvFile({ path: f.path, backupPath, expectedSha256: cur });
      const b2 = await acts.backupEnvFile({ path: f.path, backupPath, expectedSha256: cur });
      assert.deepEqual([b1.created, b2.created], [true, false]);
      const i1 = await acts.installEnvFile({
        path: f.path,
        sourcePath: f.good,
        sourceSha256: goodSha,
        expectCurrentSha256: cur,
        tag: 't',
      });
      const i2 = await acts.installEnvFile({
        path: f.path,
        sourcePath: f.good,
        sourceSha256: goodSha,
        expectCurrentSha256: cur,
        tag: 't',
      });
      assert.deepEqual([i1.replaced, i2.replaced], [true, false]);
      const st = await stat(f.path);
      assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [4321, 4321, 0o640]);
      assert.equal(sha(await readFile(f.path)), goodSha);
      const bst = await stat(backupPath);
      assert.deepEqual([bst.uid, bst.gid, bst.mode & 0o777], [4321, 4321, 0o640]);
      assert.equal(sha(await readFile(backupPath)), cur);
      assert.deepEqual((await readdir(f.dir)).sort(), ['.env', '.env.backup-x', 'good.env'], 'no temporary file left');
    } finally {
      await f.cleanup();
    }
  });

  it('refuses when a file changed under the rollback (Conflict), without touching the target', async () => {
    const f = await fixture();
    try {
      const cur = sha(await readFile(f.path));
      const goodSha = sha(await readFile(f.good));
      await assert.rejects(
        acts.backupEnvFile({ path: f.path, backupPath: `${f.path}.b`, expectedSha256: sha('other') }),
        (e: Error & { type?: string }) => e.type === 'Conflict',
      );
      await assert.rejects(
        acts.installEnvFile({ path: f.path, sourcePath: f.good, sourceSha256: sha('other'), tag: 't' }),
        (e: Error & { type?: string }) => e.type === 'Conflict',
      );
      await assert.rejects(
        acts.installEnvFile({
          path: f.path,
          sourcePath: f.good,
          sourceSha256: goodSha,
          expectCurrentSha256: sha('someone else'),
          tag: 't',
        }),
        (e: Error & { type?: string }) => e.type === 'Conflict',
      );
      assert.equal(sha(await readFile(f.path)), cur);
      await assert.rejects(
        acts.inspectEnvFile({ path: join(f.dir, 'missing.env') }),
        (e: Error & { type?: string }) => e.type === 'NotFound',
      );
    } finally {
      await f.cleanup();
    }
  });
});
