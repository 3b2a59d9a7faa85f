// The approval policy tests run under: the committed one (config/approval-policy.json), the one operators run.
// Every integration test and every spawned worker uses it unless a test says otherwise in its name. Approvers are
// roster people with a role the roster gives them; the requester is never the approver (four eyes).
// `shortWindowPolicy` is the committed policy with only its window lengths changed (tests of a time-out that
// cannot wait the runbook's minutes; such tests say "short approval windows" in their name).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';

export const RUNBOOK_APPROVAL_POLICY = join(PROJECT_ROOT, 'config', 'approval-policy.json');

/** Who decides each rollback type under the committed policy (roster id and a role the roster gives them). */
export const APPROVER = {
  application: { approver: 'oncall-eng', role: 'on-call-engineer' },
  configuration: { approver: 'oncall-eng', role: 'on-call-engineer' },
  database: { approver: 'eng-manager', role: 'engineering-manager' },
  infrastructure: { approver: 'director-eng', role: 'director-of-engineering' },
  emergency: { approver: 'oncall-eng', role: 'engineer' },
  /** The automation of the committed roster: pre-approves the application rollbacks its pipeline starts. */
  ci: { approver: 'ci-deploy-gate', role: 'on-call-engineer' },
} as const;

/** A requester who is on the roster and is none of the approvers above (four eyes holds). */
export const REQUESTER = 'devops-lead';

/**
 * A copy of the committed policy in a temporary file where every approval window (and escalation window) is
 * `windowSeconds` long; roster, roles, four eyes and escalation rules unchanged. Returns its path.
 */
export function shortWindowPolicy(windowSeconds: number, escalationSeconds = windowSeconds): string {
  const p = JSON.parse(readFileSync(RUNBOOK_APPROVAL_POLICY, 'utf8')) as {
    description?: string;
    types: Record<string, { windowMinutes: number; escalation: { windowMinutes: number } | null }>;
  };
  for (const t of Object.values(p.types)) {
    t.windowMinutes = windowSeconds / 60;
    if (t.escalation) t.escalation.windowMinutes = escalationSeconds / 60;
  }
  p.description = `config/approval-policy.json with approval windows of ${windowSeconds}s (escalation ${escalationSeconds}s): tests only`;
  const dir = mkdtempSync(join(tmpdir(), 'cortex-policy-'));
  // removed when the test process ends (workers spawned with it end before)
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'approval-policy.short-windows.json');
  writeFileSync(file, JSON.stringify(p, null, 2));
  return file;
}
