// A real systemd host for tests: a container of image cortex-systemd:bookworm (scripts/provision-systems.sh) running
// /lib/systemd/systemd as PID 1 on the host network, with the host's node and this checkout bind-mounted read-only,
// so a host worker (workers/host.ts) runs INSIDE it and reaches the Temporal dev server at 127.0.0.1.
// The worker is a process of the machine: kill() SIGKILLs it there (killing `docker exec` would not).
import { execa } from 'execa';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { waitFor } from './docker.ts';

export const SYSTEMD_IMAGE = 'cortex-systemd:bookworm';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface MachineWorker {
  /** The worker's Temporal identity (shows in ActivityTaskStarted events). */
  identity: string;
  ready: Promise<void>;
  output: () => string;
  /** SIGKILL inside the machine, as a crash would; resolves once the process is gone. */
  kill: () => Promise<void>;
  /** SIGTERM (graceful drain) and wait. */
  stop: () => Promise<void>;
}

export interface SystemdMachine {
  name: string;
  /** Runs a shell script inside the machine; never throws for a non-zero exit. */
  sh: (script: string) => Promise<ExecResult>;
  /** As sh, but throws with the output on a non-zero exit. */
  must: (script: string) => Promise<string>;
  /** Starts workers/host.ts inside the machine for `host`, talking to Temporal at `address`. */
  startWorker: (opts: { address: string; host: string; identity: string; script?: string }) => MachineWorker;
  remove: () => Promise<void>;
}

export async function systemdImagePresent(): Promise<boolean> {
  const r = await execa('docker', ['image', 'inspect', SYSTEMD_IMAGE], { reject: false });
  return r.exitCode === 0;
}

export async function startSystemdMachine(name: string): Promise<SystemdMachine> {
  await execa('docker', ['rm', '-f', name], { reject: false });
  const modules = realpathSync(join(PROJECT_ROOT, 'node_modules'));
  await execa('docker', [
    'run',
    '-d',
    '--name',
    name,
    '--label',
    'cortex-rollback.test=systemd-host',
    '--network',
    'host',
    '--stop-signal',
    'SIGRTMIN+3',
    '--cap-add',
    'ALL',
    '--cap-drop',
    'SYS_RESOURCE',
    '--security-opt',
    'seccomp=unconfined',
    '--security-opt',
    'apparmor=unconfined',
    '--cgroupns=host',
    '-v',
    '/sys/fs/cgroup:/sys/fs/cgroup:rw',
    '--tmpfs',
    '/run',
    '--tmpfs',
    '/run/lock',
    '-v',
    `${process.execPath}:/usr/bin/node:ro`,
    '-v',
    '/usr/lib/node_modules/npm:/usr/lib/node_modules/npm:ro',
    '-v',
    `${PROJECT_ROOT}:${PROJECT_ROOT}:ro`,
    ...(modules !== join(PROJECT_ROOT, 'node_modules') ? ['-v', `${modules}:${modules}:ro`] : []),
    SYSTEMD_IMAGE,
    '/lib/systemd/systemd',
  ]);
  const sh = async (script: string): Promise<ExecResult> => {
    const r = await execa('docker', ['exec', name, 'sh', '-c', script], { reject: false });
    return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
  };
  const must = async (script: string): Promise<string> => {
    const r = await sh(script);
    if (r.exitCode !== 0) throw new Error(`in ${name}: \`${script}\` exited ${r.exitCode}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  let last = '';
  await waitFor(
    async () => {
      last = (await sh('systemctl is-system-running')).stdout.trim();
      return last === 'running';
    },
    60_000,
    `systemd in ${name} to be running (last: ${last})`,
  );
  await must('ln -sf /usr/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm');

  let seq = 0;
  const startWorker: SystemdMachine['startWorker'] = ({ address, host, identity, script }) => {
    seq += 1;
    const pidFile = `/run/cortex-host-worker-${seq}.pid`;
    const entry = script ?? join(PROJECT_ROOT, 'workers', 'host.ts');
    let out = '';
    const proc = execa(
      'docker',
      [
        'exec',
        '-w',
        PROJECT_ROOT,
        '-e',
        `TEMPORAL_ADDRESS=${address}`,
        '-e',
        'TEMPORAL_NAMESPACE=default',
        name,
        'sh',
        '-c',
        `echo $$ > ${pidFile}; exec node --import tsx ${entry} --host ${host} --identity ${identity}`,
      ],
      { reject: false, all: true, buffer: false },
    );
    const ready = new Promise<void>((resolve, reject) => {
      proc.all?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('polling task queue')) resolve();
      });
      void proc.then((r) => reject(new Error(`host worker exited (${r.exitCode ?? r.signal}) before ready:\n${out}`)));
    });
    ready.catch(() => undefined);
    const signal = async (sig: 'KILL' | 'TERM'): Promise<void> => {
      await sh(`kill -${sig} $(cat ${pidFile}) 2>/dev/null || true`);
      await proc;
    };
    return { identity, ready, output: () => out, kill: () => signal('KILL'), stop: () => signal('TERM') };
  };

  return {
    name,
    sh,
    must,
    startWorker,
    remove: async () => {
      await execa('docker', ['rm', '-f', name], { reject: false });
    },
  };
}

export interface UnitSpec {
  unit: string;
  /** What ExecStart runs, e.g. `/usr/bin/node /srv/app/current/server.js`. */
  execStart: string;
  workingDirectory?: string;
  environment?: Record<string, string>;
}

/** Writes /etc/systemd/system/<unit>.service, reloads systemd and starts it. */
export async function installUnit(m: SystemdMachine, spec: UnitSpec): Promise<void> {
  const env = Object.entries(spec.environment ?? {})
    .map(([k, v]) => `Environment=${k}=${v}\n`)
    .join('');
  const text =
    `[Unit]\nDescription=${spec.unit} (cortex-rollback test)\n\n[Service]\nExecStart=${spec.execStart}\n` +
    (spec.workingDirectory ? `WorkingDirectory=${spec.workingDirectory}\n` : '') +
    env +
    `Restart=no\n\n[Install]\nWantedBy=multi-user.target\n`;
  await m.must(
    `cat > /etc/systemd/system/${spec.unit}.service <<'UNIT'\n${text}UNIT\n` +
      `systemctl daemon-reload && systemctl start ${spec.unit}`,
  );
}

/** `systemctl show` properties of a unit, read directly (not through the activities under test). */
export async function unitProps(m: SystemdMachine, unit: string): Promise<Record<string, string>> {
  const out = await m.must(`systemctl show ${unit} --property=InvocationID,ActiveState,SubState,MainPID,NRestarts`);
  return Object.fromEntries(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}
