// The fault harness's own dockerd (scripts/faults/infra.ts, OwnDockerd) leaves the network namespace it runs in as
// it found it: started, restarted and stopped — exactly as `npm run faults` does — inside a network namespace of
// this test's own that holds a `docker0` bridge like the machine's, the bridge is still there (the same link, not
// one created again), the harness's own bridge exists only while its daemon runs, and the namespace's iptables
// rules are unchanged. Issue 16: with `--bridge none` the harness dockerd deleted the machine's docker0 at each
// start. The daemon runs in the namespace through `nsenter --net` (not `ip netns exec`, whose fresh /sys has no
// cgroups for dockerd), so the machine's own network is never at risk here.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { harnessBridge } from '../../scripts/faults/infra.ts';
import { createNetns, type Netns } from '../helpers/netns.ts';

interface Link {
  ifindex: number;
  ifname: string;
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

/** Start, restart, stop; the namespace's links (`ip -j addr`) printed after each, one JSON line per phase. */
const CYCLE = `
import { execa } from 'execa';
import { OwnDockerd } from ${JSON.stringify(join(PROJECT_ROOT, 'scripts', 'faults', 'infra.ts'))};
const links = async (phase) => console.log(JSON.stringify({ phase, links: JSON.parse((await execa('ip', ['-j', 'addr'])).stdout) }));
const d = new OwnDockerd(process.argv[1]);
await d.start();
await links('started');
await d.restart();
await links('restarted');
await d.stop();
await links('stopped');
process.exit(0);
`;

describe("the fault harness's dockerd in a network namespace with a docker0", () => {
  let ns: Netns;
  let dir: string;
  let docker0: Link;
  let rulesBefore: string;

  before(async () => {
    ns = await createNetns();
    dir = mkdtempSync(join(tmpdir(), 'cortex-faults-dockerd-'));
    for (const args of [
      ['ip', 'link', 'add', 'docker0', 'type', 'bridge'],
      ['ip', 'addr', 'add', '172.17.0.1/16', 'dev', 'docker0'],
      ['ip', 'link', 'set', 'docker0', 'up'],
    ]) {
      const r = await ns.exec(args);
      assert.equal(r.exitCode, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    docker0 = (JSON.parse((await ns.exec(['ip', '-j', 'addr', 'show', 'docker0'])).stdout) as Link[])[0]!;
    rulesBefore = await ns.canonical();
  });
  after(async () => {
    await ns?.close();
    if (dir) {
      // a daemon that failed half-way can leave its data root mounted
      for (const m of readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1] ?? ''))
        if (m === join(dir, 'data') || m.startsWith(`${dir}/`)) await execa('umount', [m], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps docker0 through start, restart and stop; its own bridge lives only as long as the daemon; no rule changes', async () => {
    const r = await execa(
      'nsenter',
      [`--net=/run/netns/${ns.name}`, process.execPath, '--import', 'tsx', '--input-type=module', '-e', CYCLE, dir],
      { cwd: PROJECT_ROOT, reject: false, timeout: 240_000, all: true },
    );
    assert.equal(r.exitCode, 0, `the harness dockerd cycle failed:\n${r.all}\n${readLog(dir)}`);
    const phases = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"phase"'))
      .map((l) => JSON.parse(l) as { phase: string; links: Link[] });
    assert.deepEqual(
      phases.map((p) => p.phase),
      ['started', 'restarted', 'stopped'],
    );
    const own = harnessBridge(dir);
    for (const { phase, links } of phases) {
      const d0 = links.find((l) => l.ifname === 'docker0');
      assert.ok(d0, `docker0 is gone after the harness dockerd ${phase}`);
      assert.equal(d0.ifindex, docker0.ifindex, `docker0 was deleted and created again (${phase})`);
      assert.deepEqual(
        d0.addr_info?.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
        ['172.17.0.1/16'],
      );
      const bridge = links.find((l) => l.ifname === own.name);
      if (phase === 'stopped') assert.equal(bridge, undefined, `${own.name} is left after the daemon stopped`);
      else
        assert.deepEqual(
          bridge?.addr_info?.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
          [own.bip],
          `the harness dockerd runs on ${own.name} (${own.bip})`,
        );
    }
    assert.equal(await ns.canonical(), rulesBefore, 'iptables rules unchanged (counters aside)');
  });
});

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'dockerd.log'), 'utf8').slice(-3000);
  } catch {
    return '(no dockerd.log)';
  }
}
