// Test environments on the project's own Temporal binaries (never a download): the time-skipping test server
// for workflow logic, and the real dev server for integration tests, with the project's search attributes.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { RollbackClient } from '../../client/client.ts';
import { DEV_SERVER_DYNAMIC_CONFIG, dynamicConfigArgs, SEARCH_ATTRIBUTES } from '../../common/dev-server.ts';
import { temporalCliPath, temporalTestServerPath } from '../../common/tools.ts';
import { RUNBOOK_APPROVAL_POLICY } from './approval-policy.ts';

export { APPROVER, REQUESTER, RUNBOOK_APPROVAL_POLICY, shortWindowPolicy } from './approval-policy.ts';

// Workers made in this process, and spawned ones (they inherit the environment), read the committed policy unless
// a test sets CORTEX_APPROVAL_POLICY (and then says so in its name).
process.env.CORTEX_APPROVAL_POLICY ??= RUNBOOK_APPROVAL_POLICY;

export function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: temporalTestServerPath() } },
  });
}

/**
 * The project's dev-server settings (common/dev-server.ts), `dynamicConfig` added or overriding. `server.uiPort`
 * serves the Web UI there; `server.extraArgs` go to `temporal server start-dev` (e.g. `--ui-codec-endpoint`);
 * `server.searchAttributes` registers only those of the project's search attributes (default: all of them).
 */
export function localEnv(
  dynamicConfig: Record<string, unknown> = {},
  server: { uiPort?: number; extraArgs?: string[]; searchAttributes?: (keyof typeof SEARCH_ATTRIBUTES)[] } = {},
): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      ip: '127.0.0.1',
      ...(server.uiPort ? { ui: true, uiPort: server.uiPort } : {}),
      searchAttributes: Object.entries(SEARCH_ATTRIBUTES)
        .filter(([n]) => !server.searchAttributes || (server.searchAttributes as string[]).includes(n))
        .map(([n, t]) =>
          defineSearchAttributeKey(n, t === 'Text' ? SearchAttributeType.TEXT : SearchAttributeType.KEYWORD),
        ),
      extraArgs: [
        '--log-level',
        'error',
        ...dynamicConfigArgs({ ...DEV_SERVER_DYNAMIC_CONFIG, ...dynamicConfig }),
        ...(server.extraArgs ?? []),
      ],
    },
  });
}

/** A RollbackClient on the test environment's connection (the environment owns and closes it). */
export function testClient(env: TestWorkflowEnvironment, taskQueue: string): RollbackClient {
  return {
    client: env.client,
    settings: { address: env.address, namespace: 'default', taskQueue },
    close: async () => undefined,
  };
}

let seq = 0;
export function uniqueQueue(prefix: string): string {
  seq += 1;
  return `${prefix}-${process.pid}-${seq}-${Date.now().toString(36)}`;
}

// Keep test output readable: SDK logs at ERROR only (expected workflow failures log at WARN).
import { DefaultLogger, Runtime } from '@temporalio/worker';
try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // already installed by another helper in this process
}
