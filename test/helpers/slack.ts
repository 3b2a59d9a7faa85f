// Slack for the approval gateway's tests, on the real protocol: a local receiver standing in for Slack's Web API
// (chat.postMessage, chat.update, views.open, chat.postEphemeral: JSON with the bot token as bearer, answered
// `{ok: true, …}` as Slack does) and for interactions' response_url; interaction payloads shaped as Slack sends
// them (block_actions for a button, view_submission for a modal), form-encoded as `payload=<json>` and signed as
// Slack signs (v0 HMAC-SHA256 of `v0:<timestamp>:<body>` with the signing secret); and the gateway itself as a
// child process (`npm run approval-gateway`'s command) on the test's server and task queue.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { PROJECT_ROOT } from '../../common/tools.ts';
import { slackSignature } from '../../approval-gateway/verify.ts';
import { waitFor } from './docker.ts';

export const TEST_SIGNING_SECRET = `test-signing-secret-${randomBytes(8).toString('hex')}`;
export const TEST_BOT_TOKEN = `xoxb-test-${randomBytes(8).toString('hex')}`;
export const TEST_CHANNEL = 'C0ROLLBACKS';

export interface SlackCall {
  /** `chat.postMessage`…, or `response_url` */
  method: string;
  /** The URL called (for response_url: which interaction's). */
  url: string;
  body: Record<string, unknown>;
  authorization?: string;
  at: number;
}

export interface SlackReceiver {
  apiUrl: string;
  /** A fresh response_url (Slack gives one per interaction). */
  responseUrl: () => string;
  calls: SlackCall[];
  of: (method: string) => SlackCall[];
  until: (what: string, match: (c: SlackCall) => boolean, timeoutMs?: number) => Promise<SlackCall>;
  close: () => Promise<void>;
}

export async function startSlackReceiver(): Promise<SlackReceiver> {
  const calls: SlackCall[] = [];
  let ts = 0;
  let responses = 0;
  let base = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const path = req.url ?? '/';
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        res.writeHead(400).end('invalid JSON');
        return;
      }
      const method = path.startsWith('/response/') ? 'response_url' : path.replace(/^\/api\//, '');
      const auth = req.headers.authorization;
      calls.push({ method, url: `${base}${path}`, body, ...(auth ? { authorization: auth } : {}), at: Date.now() });
      if (method === 'response_url') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        return;
      }
      if (auth !== `Bearer ${TEST_BOT_TOKEN}`) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":false,"error":"invalid_auth"}');
        return;
      }
      const answer: Record<string, unknown> = { ok: true };
      if (method === 'chat.postMessage') {
        ts += 1;
        Object.assign(answer, { channel: body.channel, ts: `1700000000.${String(ts).padStart(6, '0')}` });
      }
      if (method === 'chat.update') Object.assign(answer, { channel: body.channel, ts: body.ts });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const of = (method: string) => calls.filter((c) => c.method === method);
  return {
    apiUrl: `${base}/api`,
    responseUrl: () => `${base}/response/${++responses}`,
    calls,
    of,
    async until(what, match, timeoutMs = 30_000) {
      let found: SlackCall | undefined;
      await waitFor(async () => (found = calls.find(match)) !== undefined, timeoutMs, what);
      return found!;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A button click as Slack sends it (block_actions); `claimedName` is what a forger would put in the user. */
export function blockActions(opts: {
  userId: string;
  actionId: string;
  value: string;
  responseUrl: string;
  channel: string;
  ts: string;
  claimedName?: string;
}): Record<string, unknown> {
  return {
    type: 'block_actions',
    user: {
      id: opts.userId,
      username: opts.claimedName ?? 'someone',
      name: opts.claimedName ?? 'someone',
      team_id: 'T0TEST',
    },
    api_app_id: 'A0TEST',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: opts.ts, channel_id: opts.channel, is_ephemeral: false },
    trigger_id: `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(16).toString('hex')}`,
    team: { id: 'T0TEST', domain: 'test' },
    channel: { id: opts.channel, name: 'rollbacks' },
    message: { type: 'message', ts: opts.ts, text: 'approval request' },
    response_url: opts.responseUrl,
    actions: [
      {
        action_id: opts.actionId,
        block_id: 'cortex_decision',
        value: opts.value,
        type: 'button',
        action_ts: (Date.now() / 1000).toFixed(6),
      },
    ],
  };
}

/** A modal submitted (view_submission), its private_metadata and input values as the gateway's view set them. */
export function viewSubmission(opts: {
  userId: string;
  view: { callback_id: string; private_metadata: string };
  values: Record<string, Record<string, string>>;
}): Record<string, unknown> {
  return {
    type: 'view_submission',
    user: { id: opts.userId, username: 'someone', name: 'someone', team_id: 'T0TEST' },
    api_app_id: 'A0TEST',
    team: { id: 'T0TEST', domain: 'test' },
    trigger_id: `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(16).toString('hex')}`,
    view: {
      id: 'V0TEST',
      type: 'modal',
      callback_id: opts.view.callback_id,
      private_metadata: opts.view.private_metadata,
      state: {
        values: Object.fromEntries(
          Object.entries(opts.values).map(([block, inputs]) => [
            block,
            Object.fromEntries(Object.entries(inputs).map(([a, v]) => [a, { type: 'plain_text_input', value: v }])),
          ]),
        ),
      },
    },
  };
}

export interface SignedCallback {
  body: string;
  headers: Record<string, string>;
}

/** The form body and headers Slack sends: signed with `secret` at `timestamp` (default: now). */
export function signCallback(
  payload: Record<string, unknown>,
  secret = TEST_SIGNING_SECRET,
  timestamp = Math.floor(Date.now() / 1000),
): SignedCallback {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': slackSignature(secret, String(timestamp), body),
      'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
    },
  };
}

export async function post(url: string, cb: SignedCallback): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: cb.headers, body: cb.body });
  return { status: res.status, text: await res.text() };
}

export interface GatewayProcess {
  url: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** `npm run approval-gateway` (node --import tsx approval-gateway/main.ts), its secrets in its environment only. */
export async function spawnGateway(opts: {
  address: string;
  taskQueue: string;
  apiUrl: string;
  port: number;
  pollSeconds?: number;
}): Promise<GatewayProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cortex-gateway-'));
  let out = '';
  const proc: ResultPromise = execa('node', ['--import', 'tsx', join(PROJECT_ROOT, 'approval-gateway', 'main.ts')], {
    cwd: PROJECT_ROOT,
    env: {
      TEMPORAL_ADDRESS: opts.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: opts.taskQueue,
      CORTEX_SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
      CORTEX_SLACK_BOT_TOKEN: TEST_BOT_TOKEN,
      CORTEX_SLACK_API_URL: opts.apiUrl,
      CORTEX_SLACK_CHANNEL: TEST_CHANNEL,
      CORTEX_GATEWAY_PORT: String(opts.port),
      CORTEX_GATEWAY_POLL_SECONDS: String(opts.pollSeconds ?? 0.5),
      CORTEX_DATA_DIR: dataDir,
      // unset: the committed config/approval-policy.json, as an operator runs it
      CORTEX_APPROVAL_POLICY: '',
    },
    reject: false,
    all: true,
    buffer: false,
  });
  const ready = new Promise<void>((resolve, reject) => {
    proc.all?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('listening on')) resolve();
    });
    void proc.then((r) => reject(new Error(`gateway exited (${r.exitCode ?? r.signal}) before it was ready:\n${out}`)));
  });
  await ready;
  return {
    url: `http://127.0.0.1:${opts.port}/slack/interactivity`,
    output: () => out,
    async stop() {
      proc.kill('SIGTERM');
      const r = await proc;
      rmSync(dataDir, { recursive: true, force: true });
      if (r.exitCode !== 0) throw new Error(`gateway exited ${r.exitCode ?? r.signal} on SIGTERM:\n${out}`);
    },
  };
}
