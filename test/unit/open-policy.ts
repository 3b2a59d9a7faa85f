// The open approval policy (any approver name with a known role, no four eyes, no escalation): only for unit
// tests of the gate itself and of workflow logic that does not involve who approves. Integration tests never use it.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/tools.ts';

export const OPEN_TEST_POLICY = join(PROJECT_ROOT, 'test', 'unit', 'approval-policy.open.json');
