// The release-layout activities against real git and tar in a temporary folder (no systemd needed): each one run
// again after it succeeded — as a retry after a worker crash would — finds its own effect and does not repeat it;
// a crash's leftovers (a half-cloned temporary folder, a stale current.tmp symlink) do not get in the way; refusals
// are typed. And the systemd activities' decisions on an injected runner playing systemctl.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { lstat, lutimes, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createReleaseActivities } from '../../activities/release.ts';
import {
  createSystemdActivities,
  isoMicros,
  parseSystemdTimestamp,
  type CommandResult,
  type CommandRunner,
} from '../../activities/systemd.ts';
import { activityFailure } from '../helpers/failures.ts';

const RUN = '019ad0e4-0000-7000-8000-00000000abcd';
const git = (cwd: string, ...args: string[]) => execa('git', args, { cwd });

describe('release activities on a real git remote and folder', () => {
  let tmp = '';
  let remote = '';
  let root = '';
  let v1 = '';
  let archive = '';
  const a = createReleaseActivities();

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cortex-release-'));
    const src = join(tmp, 'src');
    await mkdir(src);
    await git(src, 'init', '-q', '-b', 'main');
    await git(src, 'config', 'user.email', 't@t');
    await git(src, 'config', 'user.name', 't');
    for (const v of ['v1.0.0', 'v1.1.0']) {
      await writeFile(join(src, 'VERSION'), `${v}\n`);
      await git(src, 'add', '-A');
      await git(src, 'commit', '-qm', v);
      await git(src, 'tag', '-a', v, '-m', v); // annotated: the activity must peel it to the commit
    }
    v1 = (await git(src, 'rev-parse', 'v1.0.0^{commit}')).stdout.trim();
    remote = join(tmp, 'app.git');
    await execa('git', ['clone', '-q', '--bare', src, remote]);
    root = join(tmp, 'app');
    await mkdir(join(root, 'releases'), { recursive: true });
    await execa('git', ['clone', '-q', '--branch', 'v1.1.0', remote, join(root, 'releases', 'v1.1.0')]);
    await symlink(join(root, 'releases', 'v1.1.0'), join(root, 'current'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('reads where current points', async () => {
    const s = await a.releaseState({ root });
    assert.equal(s.version, 'v1.1.0');
    assert.deepEqual(s.releases, ['v1.1.0']);
    assert.equal(s.link, join(root, 'releases', 'v1.1.0'));
  });

  it('finds a tag in the remote (peeled to its commit); an unknown tag or remote is a permanent NotFound', async () => {
    assert.equal((await a.releaseRemoteTag({ remote, tag: 'v1.0.0' })).commit, v1);
    const unknown = await activityFailure(a.releaseRemoteTag({ remote, tag: 'v9.9.9' }));
    assert.equal(unknown.type, 'NotFound');
    assert.equal(unknown.nonRetryable, true);
    const gone = await activityFailure(a.releaseRemoteTag({ remote: join(tmp, 'nope.git'), tag: 'v1.0.0' }));
    assert.equal(gone.type, 'NotFound');
    const option = await activityFailure(a.releaseRemoteTag({ remote: '--upload-pack=touch x', tag: 'v1.0.0' }));
    assert.equal(option.type, 'InvalidInput');
  });

  it('backs up the current release once per run', async () => {
    const first = await a.releaseBackup({ root, runId: RUN });
    archive = first.archive;
    assert.equal(first.reused, false);
    assert.match(first.archive, /backups\/v1\.1\.0-0000abcd\.tar\.gz$/);
    const again = await a.releaseBackup({ root, runId: RUN });
    assert.deepEqual({ ...again, reused: false }, first);
    assert.equal(again.reused, true);
    const listing = (await execa('tar', ['-tzf', first.archive])).stdout;
    assert.match(listing, /^v1\.1\.0\/VERSION$/m);
  });

  it('checks a tag out into its own folder once; a half-cloned leftover does not matter', async () => {
    const leftover = join(root, 'releases', 'v1.0.0.tmp-0000abcd');
    await mkdir(join(leftover, 'junk'), { recursive: true });
    const first = await a.releaseCheckout({ root, remote, tag: 'v1.0.0', commit: v1, runId: RUN });
    assert.deepEqual(first, { dir: join(root, 'releases', 'v1.0.0'), commit: v1, createdByRun: true, reused: false });
    assert.equal(existsSync(leftover), false);
    const again = await a.releaseCheckout({ root, remote, tag: 'v1.0.0', commit: v1, runId: RUN });
    assert.deepEqual(again, { ...first, reused: true });
    const other = await a.releaseCheckout({ root, remote, tag: 'v1.0.0', commit: v1, runId: 'another-run-ffff0000' });
    assert.equal(other.createdByRun, false, "another run's undo would not remove it");
    const moved = await activityFailure(
      a.releaseCheckout({ root, remote, tag: 'v1.0.0', commit: 'f'.repeat(40), runId: RUN }),
    );
    assert.equal(moved.type, 'Conflict');
    const escape = await activityFailure(a.releaseCheckout({ root, remote, tag: '../x', commit: v1, runId: RUN }));
    assert.equal(escape.type, 'InvalidInput');
  });

  it('runs build commands in the release folder; a failing one is a permanent CommandFailed with its output', async () => {
    const ok = await a.releaseBuild({ root, tag: 'v1.0.0', commands: ['cat VERSION > built.txt'], timeoutSeconds: 30 });
    assert.equal(ok.length, 1);
    assert.ok(existsSync(join(root, 'releases', 'v1.0.0', 'built.txt')));
    const f = await activityFailure(
      a.releaseBuild({ root, tag: 'v1.0.0', commands: ['true', 'echo broken >&2; exit 3'], timeoutSeconds: 30 }),
    );
    assert.equal(f.type, 'CommandFailed');
    assert.equal(f.nonRetryable, true);
    assert.match(f.message, /exited 3: broken/);
    // a build still running in the folder (a killed worker's orphan) holds the lock: this one waits for it
    const out = join(root, 'releases', 'v1.0.0', 'order.txt');
    const lock = join(root, 'releases', 'v1.0.0', '.git', 'cortex-rollback-build.lock');
    const orphan = execa('flock', [lock, 'sh', '-c', `touch ${out}.held; sleep 0.5; echo orphan >> ${out}`]);
    while (!existsSync(`${out}.held`)) await new Promise((r) => setTimeout(r, 20));
    await a.releaseBuild({ root, tag: 'v1.0.0', commands: [`echo retry >> ${out}`], timeoutSeconds: 30 });
    await orphan;
    assert.equal(await readFile(out, 'utf8'), 'orphan\nretry\n');
    const slow = await activityFailure(
      a.releaseBuild({ root, tag: 'v1.0.0', commands: ['sleep 5'], timeoutSeconds: 1 }),
    );
    assert.match(slow.message, /timed out after 1s/);
  });

  it('swaps current by rename, once; a stale temporary symlink from a crash does not matter', async () => {
    const to = join(root, 'releases', 'v1.0.0');
    await symlink('/nowhere', join(root, 'current.tmp-0000abcd'));
    const first = await a.releaseSwitch({ root, to, runId: RUN });
    assert.deepEqual(first, { previous: join(root, 'releases', 'v1.1.0'), current: to, changed: true });
    assert.equal(await readlink(join(root, 'current')), to);
    const again = await a.releaseSwitch({ root, to, runId: RUN });
    assert.equal(again.changed, false);
    const missing = await activityFailure(a.releaseSwitch({ root, to: join(root, 'releases', 'v0'), runId: RUN }));
    assert.equal(missing.type, 'NotFound');
  });

  it('never removes the live release nor one it did not create; restores a vanished release from its archive', async () => {
    assert.deepEqual(await a.releaseRemove({ root, tag: 'v1.0.0', runId: RUN }), {
      removed: false,
      why: 'it is the current release',
    });
    await rm(join(root, 'releases', 'v1.1.0'), { recursive: true });
    const back = await a.releaseSwitch({
      root,
      to: join(root, 'releases', 'v1.1.0'),
      runId: RUN,
      archive, // v1.1.0, archived earlier in this run
    });
    assert.equal(back.restoredFrom, archive);
    assert.ok(existsSync(join(root, 'releases', 'v1.1.0', 'VERSION')));
    assert.deepEqual(await a.releaseRemove({ root, tag: 'v1.1.0', runId: RUN }), {
      removed: false,
      why: 'it is the current release',
    });
    assert.deepEqual(await a.releaseRemove({ root, tag: 'v1.0.0', runId: 'another-run-ffff0000' }), {
      removed: false,
      why: 'not created by this run',
    });
    assert.deepEqual(await a.releaseRemove({ root, tag: 'v1.0.0', runId: RUN }), { removed: true });
    assert.deepEqual(await a.releaseRemove({ root, tag: 'v1.0.0', runId: RUN }), { removed: false, why: 'not there' });
  });
});

describe('systemd activities on an injected runner', () => {
  const show = (o: Record<string, string>): string =>
    Object.entries({
      Id: 'app.service',
      LoadState: 'loaded',
      ActiveState: 'active',
      SubState: 'running',
      InvocationID: 'aaaa',
      MainPID: '10',
      NRestarts: '0',
      InactiveExitTimestamp: 'Sun 2026-11-29 06:50:03.046249 UTC',
      ...o,
    })
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
  const ok = (stdout: string): CommandResult => ({ stdout, stderr: '', exitCode: 0, failed: false });

  function fake(states: string[]): { run: CommandRunner; calls: string[][] } {
    const calls: string[][] = [];
    let i = 0;
    const run: CommandRunner = async (file, args) => {
      calls.push([file, ...args]);
      if (args[0] === 'show') return ok(states[Math.min(i++, states.length - 1)]!);
      return ok('');
    };
    return { run, calls };
  }

  it('parses systemd timestamps to microseconds', () => {
    const iso = parseSystemdTimestamp('Sun 2026-11-29 06:50:03.046249 UTC');
    assert.equal(iso, '2026-11-29T06:50:03.046249Z');
    assert.equal(isoMicros(iso), BigInt(Date.parse('2026-11-29T06:50:03Z')) * 1000n + 46249n);
    assert.equal(parseSystemdTimestamp(''), undefined);
  });

  it('restarts when the unit started before the change, and not again once it started after it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cortex-systemd-'));
    try {
      const link = join(dir, 'current');
      await symlink('/x', link);
      const changed = new Date('2026-11-29T07:00:00Z');
      await lutimes(link, changed, changed); // the link itself, as rename(2) of a fresh one would leave it
      assert.equal((await lstat(link)).mtime.toISOString(), changed.toISOString());

      const older = show({ InactiveExitTimestamp: 'Sun 2026-11-29 06:59:59.999999 UTC' });
      const newer = show({ InvocationID: 'bbbb', InactiveExitTimestamp: 'Sun 2026-11-29 07:00:00.000001 UTC' });
      const first = fake([older, newer]);
      const r1 = await createSystemdActivities({ run: first.run }).systemdRestart({ unit: 'app', after: link });
      assert.equal(r1.restarted, true);
      assert.equal(r1.after.invocationId, 'bbbb');
      assert.deepEqual(first.calls[1]?.slice(0, 3), ['systemctl', 'restart', 'app.service']);

      const retry = fake([newer]);
      const r2 = await createSystemdActivities({ run: retry.run }).systemdRestart({ unit: 'app', after: link });
      assert.equal(r2.restarted, false);
      assert.equal(retry.calls.filter((c) => c[1] === 'restart').length, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a unit systemd does not know is a permanent NotFound; no systemctl here is permanent too', async () => {
    const missing = fake([show({ LoadState: 'not-found', InvocationID: '' })]);
    const f = await activityFailure(createSystemdActivities({ run: missing.run }).systemdUnitState({ unit: 'nope' }));
    assert.equal(f.type, 'NotFound');
    assert.equal(f.nonRetryable, true);
    const none: CommandRunner = async () => ({ stdout: '', stderr: '', failed: true, errorCode: 'ENOENT' });
    const g = await activityFailure(createSystemdActivities({ run: none }).systemdUnitState({ unit: 'app' }));
    assert.equal(g.nonRetryable, true);
    assert.match(g.message, /systemctl is not installed/);
    const bad = await activityFailure(createSystemdActivities({ run: none }).systemdUnitState({ unit: '-H evil' }));
    assert.equal(bad.type, 'InvalidInput');
  });
});
