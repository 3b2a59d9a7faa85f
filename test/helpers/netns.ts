// A network namespace of a test's own (`ip netns add cortex-net-<pid>-<n>`) with real iptables inside it and a tiny
// HTTP service on the namespace's loopback: the network rollback acts there, never on the machine's own rules,
// and all traffic stays on 127.0.0.1 inside the namespace.
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalRules } from '../../activities/iptables.ts';
import { waitFor } from './docker.ts';

export const SERVICE_PORT = 18080;
export const HEALTH_URL = `http://127.0.0.1:${SERVICE_PORT}/health`;

/** The known-good rules of the tests: the service port open, another port closed. */
export const BASELINE_RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -p tcp -m tcp --dport ${SERVICE_PORT} -j ACCEPT
-A INPUT -p tcp -m tcp --dport 9 -j DROP
COMMIT
`;

/** A change (the rules being rolled back to): a nat table and different filter rules, the service still open. */
export const TARGET_RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:cortex-allow - [0:0]
-A INPUT -j cortex-allow
-A INPUT -p tcp -m tcp --dport 19 -j DROP
-A cortex-allow -i lo -p tcp -m tcp --dport ${SERVICE_PORT} -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A OUTPUT -d 127.0.0.2/32 -p tcp -m tcp --dport 9 -j RETURN
COMMIT
`;

/** Rules that parse but shut the service out. */
export const BLOCKING_RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport ${SERVICE_PORT} -j REJECT --reject-with tcp-reset
COMMIT
`;

/** A rules file that does not parse. */
export const BAD_RULES = `*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp --dport not-a-port -j DROP
COMMIT
`;

let seq = 0;

export interface Netns {
  name: string;
  dir: string;
  /** Writes a rules file under the test's directory; returns its path. */
  file: (name: string, text: string) => string;
  exec: (args: string[]) => Promise<{ exitCode: number | undefined; stdout: string; stderr: string }>;
  save: () => Promise<string>;
  canonical: () => Promise<string>;
  setRules: (text: string) => Promise<void>;
  healthy: () => Promise<boolean>;
  /** SIGSTOP / SIGCONT the service: it then neither answers nor refuses (a slow verification). */
  pause: () => void;
  resume: () => void;
  close: () => Promise<void>;
}

export async function createNetns(): Promise<Netns> {
  seq += 1;
  const name = `cortex-net-${process.pid}-${seq}`;
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  await execa('ip', ['netns', 'add', name]);
  let service: ResultPromise | undefined;
  const exec = async (args: string[]) => {
    const r = await execa('ip', ['netns', 'exec', name, ...args], { reject: false });
    return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  const ns: Netns = {
    name,
    dir,
    file: (file, text) => {
      const path = join(dir, file);
      writeFileSync(path, text);
      return path;
    },
    exec,
    save: async () => {
      const r = await exec(['iptables-save']);
      if (r.exitCode !== 0) throw new Error(`iptables-save in ${name}: ${r.stderr}`);
      return r.stdout;
    },
    canonical: async () => canonicalRules(await ns.save()).text,
    setRules: async (text) => {
      const path = ns.file('set.rules', text);
      // tables not in `text` are emptied too, so the namespace holds exactly `text`
      const extra = ['nat', 'mangle', 'raw']
        .filter((t) => !text.includes(`*${t}`))
        .map((t) => `*${t}\nCOMMIT\n`)
        .join('');
      writeFileSync(path, text + extra);
      const r = await exec(['iptables-restore', path]);
      if (r.exitCode !== 0) throw new Error(`iptables-restore in ${name}: ${r.stderr}`);
    },
    healthy: async () => {
      const r = await exec(['curl', '-sf', '--max-time', '2', HEALTH_URL]);
      return r.exitCode === 0 && r.stdout.includes('"healthy"');
    },
    pause: () => service?.kill('SIGSTOP'),
    resume: () => service?.kill('SIGCONT'),
    close: async () => {
      if (service) {
        service.kill('SIGCONT');
        service.kill('SIGKILL');
        await service.catch(() => undefined);
      }
      await execa('ip', ['netns', 'del', name], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    const lo = await exec(['ip', 'link', 'set', 'lo', 'up']);
    if (lo.exitCode !== 0) throw new Error(`lo up in ${name}: ${lo.stderr}`);
    await ns.setRules(BASELINE_RULES);
    const server =
      `require('http').createServer((q,s)=>{s.setHeader('content-type','application/json');` +
      `s.end(JSON.stringify({status:'healthy',version:'netns'}))}).listen(${SERVICE_PORT},'127.0.0.1')`;
    service = execa('ip', ['netns', 'exec', name, process.execPath, '-e', server], { reject: false });
    await waitFor(() => ns.healthy(), 15_000, `service in ${name} healthy`);
  } catch (err) {
    await ns.close();
    throw err;
  }
  return ns;
}
