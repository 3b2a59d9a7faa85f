// Owns loading the approval policy file for workflows: read at each rollback's approval step from the path in the
// worker's configuration (CORTEX_APPROVAL_POLICY, default config/approval-policy.json), validated, and returned
// with its sha256 so the run's history records exactly the policy it decided under.
// A missing or invalid file is a permanent failure naming the path and each offending field.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseApprovalPolicy, PolicyError, type LoadedPolicy } from '../common/approval-policy.ts';
import { FailureType } from '../common/failures.ts';
import { permanent, retryable } from './failures.ts';

export async function readApprovalPolicy(path: string): Promise<LoadedPolicy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw permanent(FailureType.NotFound, `approval policy ${path}: no such file`);
    throw retryable(FailureType.Unavailable, `approval policy ${path}: ${(err as Error).message}`, err);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw permanent(FailureType.InvalidInput, `approval policy ${path} is not JSON: ${(err as Error).message}`);
  }
  try {
    const policy = parseApprovalPolicy(raw, `approval policy ${path}`);
    return { path, sha256: createHash('sha256').update(text).digest('hex'), policy };
  } catch (err) {
    if (err instanceof PolicyError) throw permanent(FailureType.InvalidInput, err.message);
    throw err;
  }
}

export function createApprovalPolicyActivities(deps: { path: string }) {
  return {
    /** The approval policy, validated; its path and sha256 go into the run's history with it. */
    async loadApprovalPolicy(): Promise<LoadedPolicy> {
      return readApprovalPolicy(deps.path);
    },
  };
}
