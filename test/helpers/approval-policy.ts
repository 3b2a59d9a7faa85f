// The approval policy files tests use: the runbook's (config/approval-policy.json), and the open one for tests
// that do not test the policy — the gate as it was before it (any approver name with a known role, the required
// role or higher, no four eyes, no escalation), so their arbitrary approver names keep working.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';

export const TEST_APPROVAL_POLICY = join(PROJECT_ROOT, 'test', 'helpers', 'approval-policy.open.json');
export const RUNBOOK_APPROVAL_POLICY = join(PROJECT_ROOT, 'config', 'approval-policy.json');
