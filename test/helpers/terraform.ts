// A Terraform world for tests, on the real OpenTofu binary and local state only (the built-in terraform_data
// resource: no provider, no socket): a git repository of configurations, state files applied at a commit, and a
// `tofu` wrapper that can hold after a real apply (so a crash test can kill the worker between apply and verify).
import { execa } from 'execa';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iacBinaryPath } from '../../common/tools.ts';

export interface TfWorld {
  root: string;
  repo: string;
  /** An empty CLI configuration: this machine's TF_CLI_CONFIG_FILE points at a file that does not exist. */
  cliConfig: string;
  env: Record<string, string>;
  /**
   * Commits: A (stable), B (deployed: x changed, one resource more), N (A plus a resource that never converges),
   * F and F2 (A and B plus a resource whose postcondition fails at apply: apply fails half-way).
   */
  commits: { A: string; B: string; N: string; F: string; F2: string };
  tofu: string;
  close(): void;
}

export const CONFIG = {
  A: `resource "terraform_data" "x" {\n  input = "a"\n}\n\noutput "x" {\n  value = terraform_data.x.output\n}\n`,
  B:
    `resource "terraform_data" "x" {\n  input = "b"\n}\n\nresource "terraform_data" "extra" {\n  input = "e"\n}\n\n` +
    `output "x" {\n  value = terraform_data.x.output\n}\n`,
  // timestamp() is unknown until apply, so every plan updates `clock`: plan -detailed-exitcode never says 0
  N:
    `resource "terraform_data" "x" {\n  input = "a"\n}\n\nresource "terraform_data" "clock" {\n  input = timestamp()\n}\n\n` +
    `output "x" {\n  value = terraform_data.x.output\n}\n`,
  bad:
    `resource "terraform_data" "bad" {\n  input = "z"\n  lifecycle {\n    postcondition {\n` +
    `      condition     = self.output == "never"\n      error_message = "bad is never right"\n    }\n  }\n}\n`,
};

async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await execa('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=test', ...args], { cwd });
  return r.stdout.trim();
}

export async function tfWorld(prefix: string): Promise<TfWorld> {
  const root = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const repo = join(root, 'repo');
  const cliConfig = join(root, 'tofurc');
  writeFileSync(cliConfig, '');
  mkdirSync(join(repo, 'infra'), { recursive: true });
  await git(repo, 'init', '-q', '-b', 'main');
  const commit = async (config: string, message: string) => {
    writeFileSync(join(repo, 'infra', 'main.tf'), config);
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-q', '-m', message);
    return git(repo, 'rev-parse', 'HEAD');
  };
  writeFileSync(join(repo, 'README.md'), 'infrastructure\n');
  const A = await commit(CONFIG.A, 'stable deployment');
  const B = await commit(CONFIG.B, 'add extra, x = b');
  await git(repo, 'checkout', '-q', '-b', 'never-converges');
  const N = await commit(CONFIG.N, 'x = a plus a clock');
  await git(repo, 'checkout', '-q', '-b', 'fails', A);
  const F = await commit(CONFIG.A + CONFIG.bad, 'A plus a failing postcondition');
  const F2 = await commit(CONFIG.B + CONFIG.bad, 'B plus a failing postcondition');
  await git(repo, 'checkout', '-q', 'main');
  const env = { TF_CLI_CONFIG_FILE: cliConfig, TF_IN_AUTOMATION: '1' };
  return {
    root,
    repo,
    cliConfig,
    env,
    commits: { A, B, N, F, F2 },
    tofu: iacBinaryPath('tofu'),
    close: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Applies `commit`'s configuration to `stateFile` outside any workflow (the "current deployment"). */
export async function applyCommit(w: TfWorld, commit: string, stateFile: string, extra: string[] = []): Promise<void> {
  const dir = mkdtempSync(join(w.root, 'apply-'));
  await execa('git', ['-C', w.repo, 'archive', '--format=tar', `--output=${join(dir, 'c.tar')}`, commit]);
  await execa('tar', ['-xf', join(dir, 'c.tar'), '-C', dir]);
  const wd = join(dir, 'infra');
  writeFileSync(join(wd, 'override.tf'), `terraform {\n  backend "local" {\n    path = "${stateFile}"\n  }\n}\n`);
  const env = { ...process.env, ...w.env };
  await execa(w.tofu, ['init', '-input=false', '-no-color'], { cwd: wd, env });
  await execa(w.tofu, ['apply', '-input=false', '-no-color', '-auto-approve', ...extra], { cwd: wd, env });
  rmSync(dir, { recursive: true, force: true });
}

export interface StateFile {
  serial: number;
  lineage: string;
  outputs: Record<string, { value: unknown }>;
  resources: Array<{ type: string; name: string; instances: Array<{ attributes: { input?: { value: unknown } } }> }>;
}

export function readState(path: string): StateFile {
  return JSON.parse(readFileSync(path, 'utf8')) as StateFile;
}

/** `name → input value` of every terraform_data resource in a state. */
export function inputs(s: StateFile): Record<string, unknown> {
  return Object.fromEntries(s.resources.map((r) => [r.name, r.instances[0]?.attributes.input?.value]));
}

/**
 * A `tofu` that runs the real one and, for `apply` while `<holdDir>/hold` exists, afterwards writes its pid to
 * `<holdDir>/applied` and sleeps (exec: the pid stays) until killed: apply is done, its activity not yet over.
 */
export function holdingTofu(w: TfWorld, holdDir: string): string {
  mkdirSync(holdDir, { recursive: true });
  const path = join(w.root, 'tofu-holding');
  writeFileSync(
    path,
    [
      '#!/bin/bash',
      `if [ "$1" = apply ] && [ -e ${JSON.stringify(join(holdDir, 'hold'))} ]; then`,
      `  ${JSON.stringify(w.tofu)} "$@"; rc=$?`,
      `  echo "$$ $rc" > ${JSON.stringify(join(holdDir, 'applied'))}`,
      '  exec sleep 600',
      'fi',
      `exec ${JSON.stringify(w.tofu)} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  writeFileSync(join(holdDir, 'hold'), '');
  return path;
}
