// The secret rotation activity on real files: values never in results or errors, the backup kept 0600, a retry
// recognising its own rotation, a file changed by someone else refused, a pluggable rotator, and a bad one refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecretActivities } from '../../activities/secrets.ts';
import { activityFailure } from '../helpers/failures.ts';

const sha = (v: string) => createHash('sha256').update(v).digest('hex');
const TEXT = '# app\nQDRANT_URL=http://q:6333\nJWT_SECRET=old-jwt\nLOG_LEVEL=info\nAPI_TOKEN=old-token\n';

function envFile(): { path: string; backupPath: string } {
  const dir = mkdtempSync(join(tmpdir(), 'secrets-test-'));
  const path = join(dir, 'app.env');
  writeFileSync(path, TEXT, { mode: 0o640 });
  return { path, backupPath: `${path}.pre-breach-t1` };
}

describe('rotateEnvSecrets', () => {
  const secrets = createSecretActivities();
  const rotateEnvSecrets = (a: Parameters<typeof secrets.rotateEnvSecrets>[0]) => secrets.rotateEnvSecrets(a);
  const keys = ['JWT_SECRET', 'API_TOKEN'];

  it('rotates only the listed keys, keeps the file mode, backs up 0600, returns digests only', async () => {
    const f = envFile();
    const r = await rotateEnvSecrets({ ...f, keys, rotator: 'random', tag: 't1' });
    const now = readFileSync(f.path, 'utf8');
    const jwt = /^JWT_SECRET=(.*)$/m.exec(now)![1]!;
    const token = /^API_TOKEN=(.*)$/m.exec(now)![1]!;
    assert.match(jwt, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(jwt, token);
    assert.equal(
      now,
      TEXT.replace('JWT_SECRET=old-jwt', `JWT_SECRET=${jwt}`).replace('API_TOKEN=old-token', `API_TOKEN=${token}`),
    );
    assert.equal(statSync(f.path).mode & 0o777, 0o640);
    assert.equal(readFileSync(f.backupPath, 'utf8'), TEXT);
    assert.equal(statSync(f.backupPath).mode & 0o777, 0o600);
    assert.deepEqual(r.keys, [
      { key: 'JWT_SECRET', oldSha256: sha('old-jwt'), newSha256: sha(jwt) },
      { key: 'API_TOKEN', oldSha256: sha('old-token'), newSha256: sha(token) },
    ]);
    assert.equal(r.rotated, true);
    const shown = JSON.stringify(r);
    for (const v of ['old-jwt', 'old-token', jwt, token]) assert.ok(!shown.includes(v));
    // a retry (the worker died after the write) finds its own rotation and changes nothing
    const again = await rotateEnvSecrets({ ...f, keys, rotator: 'random', tag: 't1' });
    assert.equal(again.rotated, false);
    assert.deepEqual(again.keys, r.keys);
    assert.equal(readFileSync(f.path, 'utf8'), now);
  });

  it('refuses a file someone else changed after the backup (Conflict), writing nothing', async () => {
    const f = envFile();
    writeFileSync(f.backupPath, TEXT);
    const edited = TEXT.replace('LOG_LEVEL=info', 'LOG_LEVEL=debug');
    writeFileSync(f.path, edited);
    const e = await activityFailure(rotateEnvSecrets({ ...f, keys, rotator: 'random', tag: 't1' }));
    assert.equal(e.type, 'Conflict');
    assert.equal(readFileSync(f.path, 'utf8'), edited);
  });

  it('uses a plugged-in rotator, and refuses an unknown one, a missing key and a value an env file cannot hold', async () => {
    const seen: string[] = [];
    const custom = createSecretActivities({
      rotators: {
        vault: { generate: (k) => (seen.push(k), `from-vault-${k.length}`) },
        broken: { generate: () => 'two\nlines' },
      },
    });
    const f = envFile();
    await custom.rotateEnvSecrets({ ...f, keys: ['JWT_SECRET'], rotator: 'vault', tag: 't1' });
    assert.deepEqual(seen, ['JWT_SECRET']);
    assert.match(readFileSync(f.path, 'utf8'), /^JWT_SECRET=from-vault-10$/m);
    for (const [rotator, k, pattern] of [
      ['random', ['JWT_SECRET'], /no secret rotator 'random'/],
      ['vault', ['NOPE'], /has no NOPE to rotate/],
      ['broken', ['API_TOKEN'], /cannot hold/],
    ] as const) {
      const g = envFile();
      const e = await activityFailure(custom.rotateEnvSecrets({ ...g, keys: [...k], rotator, tag: 't1' }));
      assert.equal(e.type, 'InvalidInput');
      assert.match(e.message, pattern);
      assert.equal(readFileSync(g.path, 'utf8'), TEXT);
      if (rotator !== 'broken') assert.throws(() => statSync(g.backupPath), /ENOENT/, 'refused before any backup');
    }
  });
});
