// Owns how activities run a program: without a shell, never throwing for a non-zero exit, injectable so tests
// can pass a runner that runs inside a machine or holds a command at a chosen point.
import { execa } from 'execa';

export interface CommandResult {
  exitCode?: number | undefined;
  stdout: string;
  stderr: string;
  failed: boolean;
  timedOut?: boolean;
  /** Set when the program could not be run at all, e.g. 'ENOENT' (not installed). */
  errorCode?: string;
}

export interface CommandOptions {
  cwd?: string;
  /** Milliseconds; the command is killed after it. */
  timeout?: number;
  env?: Record<string, string>;
}

/** Runs a program without a shell and never throws for a non-zero exit (execa with `reject: false`). */
export type CommandRunner = (file: string, args: readonly string[], options?: CommandOptions) => Promise<CommandResult>;

export const execaRunner: CommandRunner = async (file, args, options = {}) => {
  const r = await execa(file, args, {
    reject: false,
    stdin: 'ignore',
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.timeout ? { timeout: options.timeout } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  return {
    exitCode: r.exitCode,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    failed: r.failed,
    timedOut: r.timedOut,
    ...((r as { code?: string }).code ? { errorCode: (r as { code?: string }).code } : {}),
  };
};

/** The line of a program's output that says what went wrong (else its last line), for an error message. */
export function lastLine(r: CommandResult): string {
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').filter((l) => l.trim() !== '');
  return lines.find((l) => /error|invalid|unknown|not found|failed/i.test(l))?.trim() ?? lines.at(-1)?.trim() ?? '';
}
