// Owns what a row of the fault matrix is (the types every row module shares) and the checks and approvals all
// rows use: the committed approval policy's roster approvers and a requester who is none of them.
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { TestQdrant } from '../../test/helpers/qdrant.ts';
import { APPROVER, REQUESTER } from '../../test/helpers/approval-policy.ts';
import type { DockerEvent } from './infra.ts';
import type { SlowProxy } from './slow-proxy.ts';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface Ctx {
  client: Client;
  /** The harness's directory (rows keep their files under it). */
  dir: string;
  /** The Temporal dev server's address (for host workers a row starts). */
  address: string;
  /** Copies images from the machine's Docker engine into the harness dockerd (rows run on the latter). */
  loadImages(refs: string[]): Promise<void>;
  taskQueue: string;
  q: TestQdrant;
  backupRoot: string;
  events: DockerEvent[];
  /** Wraps an app's health URL when the cell wants to slow its answers. */
  healthProxy?: (port: number) => Promise<SlowProxy>;
}

export type Ending = { kind: 'completed'; result: unknown } | { kind: 'failed'; type: string; message: string };

export interface Run {
  workflowId: string;
  input: unknown;
  /** Problems with the state after the run ended this way; empty means consistent. */
  check(ending: Ending, runId: string): Promise<string[]>;
  cleanup(): Promise<void>;
  /** A fault the row applies itself during the run (a persistent fault: a host worker taken away, …). */
  hook?: FaultHook;
  /** Where the run's change was undone when not in its own failure (a fleet's children undo themselves). */
  undone?(): Promise<string | undefined>;
  /**
   * The ending the run is judged by, when it is not the workflow's own (a guard never ends: it is judged by the
   * rollback it triggered, and stopped once that rollback closed).
   */
  judgedBy?(own: Ending): Promise<Ending>;
  /** What the row does while the run is open (an approver approving the plan it shows); awaited before the check. */
  during?(ids: { workflowId: string; runId: string }, open: () => boolean): Promise<void>;
}

/** What a fault does during one run: sees each history event as it is written. */
export interface FaultHook {
  started?(ids: { workflowId: string; runId: string }): void;
  onEvent(e: HistoryEvent, seen: Map<string, HistoryEvent>): void | Promise<void>;
  /** Work started by the fault that must finish before the check (a restart in progress). */
  pending?: Promise<unknown>[];
  /** Whether the fault was actually applied (else the run does not count as faulted). */
  applied(): boolean;
  note?(): string | undefined;
  cleanup?(): Promise<void>;
  /** After the run, from its whole history: why the fault is not proven to have hit the run, if it is not. */
  verify?(events: HistoryEvent[]): string | undefined;
  /** After the run, from its whole history: where the fault hit (for the record). */
  proof?(events: HistoryEvent[]): string;
}

/** The faults that do not go away; a row that can meet one sets it up itself (see Scenario.persistent). */
export type PersistentFaultName = 'refused' | 'host-gone' | 'never-healthy';

export interface Scenario {
  name: string;
  workflowType: string;
  /** The real system the row runs against, for the table. */
  system: string;
  uses: { docker: boolean; qdrant: boolean };
  prepare(ctx: Ctx): Promise<void>;
  setup(ctx: Ctx, tag: string): Promise<Run>;
  /** Set-ups whose run meets a persistent fault after its first change: the run must end compensated. */
  persistent?: Partial<Record<PersistentFaultName, (ctx: Ctx, tag: string) => Promise<Run>>>;
  /** Read-only: a persistent fault must make the run fail and change nothing (there is nothing to undo). */
  readOnly?: boolean;
  /** After all of the row's cells (stop what prepare started). */
  teardown?(ctx: Ctx): Promise<void>;
}

// The committed approval policy (config/approval-policy.json): roster approvers, a requester who is not one.
export { APPROVER, REQUESTER };
export const EM = APPROVER.database;
export const ONCALL = APPROVER.application;
export const common = { reason: 'fault matrix', requestedBy: REQUESTER };

export function expect(problems: string[], ok: boolean, what: string): void {
  if (!ok) problems.push(what);
}

/**
 * The status /health answers, waiting up to 10 s for `want` (a container a dockerd restart stopped is started
 * again by the daemon and needs a moment to listen).
 */
export async function healthStatus(url: string, want: number): Promise<number | undefined> {
  let last: number | undefined;
  for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    last = (await fetch(url, { signal: AbortSignal.timeout(3000) }).catch(() => undefined))?.status;
    if (last === want) break;
  }
  return last;
}
