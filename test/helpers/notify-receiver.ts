// A local HTTP receiver on 127.0.0.1 standing in for Slack's incoming webhook and PagerDuty's Events API v2:
// records every request (path, body) in arrival order, answers as each service does (Slack 200 "ok", PagerDuty
// 202 with the dedup key), and can answer a path with an error status or hold its answer, so a test can kill a
// worker while a request is in flight and prove what was delivered.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from './docker.ts';

export interface ReceivedRequest {
  path: string;
  body: Record<string, unknown>;
  at: number;
}

export interface NotifyReceiver {
  slackUrl: string;
  pagerDutyUrl: string;
  requests: ReceivedRequest[];
  onPath: (path: string) => ReceivedRequest[];
  /** The next `count` requests to `path` answer `status`. */
  failNext: (path: string, status: number, count?: number) => void;
  /** Requests to `path` are recorded but not answered until the returned release() is called. */
  hold: (path: string) => { release: () => void };
  until: (path: string, count: number, timeoutMs?: number) => Promise<ReceivedRequest[]>;
  close: () => Promise<void>;
}

export const SLACK_PATH = '/slack/T000/B000/hook';
export const PAGERDUTY_PATH = '/v2/enqueue';

export async function startNotifyReceiver(): Promise<NotifyReceiver> {
  const requests: ReceivedRequest[] = [];
  const failures = new Map<string, { status: number; count: number }>();
  const held = new Map<string, ServerResponse[]>();
  const holding = new Set<string>();

  const answer = (path: string, res: ServerResponse, body: Record<string, unknown>): void => {
    const f = failures.get(path);
    if (f && f.count > 0) {
      f.count -= 1;
      res.writeHead(f.status, { 'content-type': 'text/plain' }).end('failure injected by the test');
      return;
    }
    if (path === PAGERDUTY_PATH) {
      res
        .writeHead(202, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: body.dedup_key }));
    } else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const path = req.url ?? '/';
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        res.writeHead(400).end('invalid JSON');
        return;
      }
      requests.push({ path, body, at: Date.now() });
      if (holding.has(path)) {
        held.set(path, [...(held.get(path) ?? []), res]);
        return;
      }
      answer(path, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const onPath = (path: string) => requests.filter((r) => r.path === path);

  return {
    slackUrl: `${base}${SLACK_PATH}`,
    pagerDutyUrl: `${base}${PAGERDUTY_PATH}`,
    requests,
    onPath,
    failNext: (path, status, count = 1) => failures.set(path, { status, count }),
    hold: (path) => {
      holding.add(path);
      return {
        release: () => {
          holding.delete(path);
          for (const res of held.get(path) ?? []) {
            if (!res.destroyed) res.writeHead(503).end('released');
          }
          held.delete(path);
        },
      };
    },
    until: async (path, count, timeoutMs = 30_000) => {
      await waitFor(async () => onPath(path).length >= count, timeoutMs, `${count} request(s) to ${path}`);
      return onPath(path);
    },
    close: async () => {
      for (const list of held.values()) for (const res of list) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
