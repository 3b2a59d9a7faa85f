// Owns the gateway's small durable state: the approval requests it has posted (run → channel and message ts,
// what they showed) and the replay cache of verified callbacks. One JSON file, written whole (temp file + rename)
// after each change, so a restarted gateway neither posts a request twice nor takes a callback a second time.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PostedRequest {
  channel: string;
  ts: string;
  /** What the message shows, to tell when it must be updated (escalated, a new plan, a new deadline). */
  shown: string;
}

export interface GatewayState {
  /** By `<workflowId>/<runId>`. */
  posted: Record<string, PostedRequest>;
  replay: Record<string, number>;
}

export class StateFile {
  readonly path: string;
  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'state.json');
  }

  load(): GatewayState {
    try {
      const s = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<GatewayState>;
      return { posted: s.posted ?? {}, replay: s.replay ?? {} };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { posted: {}, replay: {} };
      throw new Error(`approval gateway state ${this.path} is unreadable: ${(err as Error).message}`);
    }
  }

  save(state: GatewayState): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state));
    renameSync(tmp, this.path);
  }
}
