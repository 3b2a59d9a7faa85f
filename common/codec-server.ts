// Owns the remote codec endpoint the Temporal Web UI (and `temporal --codec-endpoint`) calls to show encrypted
// payloads decoded: POST /encode and POST /decode with {"payloads":[...]} in protobuf JSON form (metadata values
// and data in base64). Invariants: listens on 127.0.0.1 only (the decoded payloads are what the encryption
// protects); answers CORS only for the configured UI origins; a payload that fails authentication fails the whole
// request with 400 and the reason, never a partial answer.
import type { Payload, PayloadCodec } from '@temporalio/common';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from './config.ts';

export const DEFAULT_CODEC_PORT = 8888;
export const DEFAULT_UI_ORIGINS = ['http://127.0.0.1:8233', 'http://localhost:8233'];
const MAX_BODY = 8 * 1024 * 1024;

export interface CodecServerSettings {
  port: number;
  origins: string[];
}

/** CORTEX_CODEC_PORT (default 8888; 0: any free port) and CORTEX_CODEC_CORS_ORIGINS (comma-separated). */
export function loadCodecServerSettings(
  env: Record<string, string | undefined> = process.env,
  defaultOrigins: string[] = DEFAULT_UI_ORIGINS,
): CodecServerSettings {
  const rawPort = env.CORTEX_CODEC_PORT?.trim();
  const port = rawPort ? Number(rawPort) : DEFAULT_CODEC_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`CORTEX_CODEC_PORT must be a port number (0-65535), got '${rawPort}'`);
  }
  const rawOrigins = env.CORTEX_CODEC_CORS_ORIGINS?.trim();
  const origins = rawOrigins ? rawOrigins.split(',').map((o) => o.trim().replace(/\/+$/, '')) : defaultOrigins;
  for (const o of origins) {
    if (!/^https?:\/\/[^\s/]+$/.test(o)) {
      throw new ConfigError(`CORTEX_CODEC_CORS_ORIGINS: '${o}' is not an origin (scheme://host[:port])`);
    }
  }
  return { port, origins };
}

interface JSONPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

function fromJSON(p: JSONPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function toJSON(p: Payload): JSONPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parsePayloads(body: string): Payload[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
  const payloads = (parsed as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(payloads)) throw new HttpError(400, 'body must be {"payloads": [...]}');
  return payloads.map((p) => fromJSON(p as JSONPayload));
}

export interface RunningCodecServer {
  url: string;
  close(): Promise<void>;
}

export async function startCodecServer(
  codec: PayloadCodec,
  settings: CodecServerSettings,
): Promise<RunningCodecServer> {
  const allowed = new Set(settings.origins);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const origin = req.headers.origin;
    if (origin && allowed.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader(
        'Access-Control-Allow-Headers',
        req.headers['access-control-request-headers'] ?? 'content-type, x-namespace, authorization',
      );
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(origin && allowed.has(origin) ? 204 : 403).end();
      return;
    }
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || (path !== '/encode' && path !== '/decode')) {
      throw new HttpError(404, 'POST /encode or /decode');
    }
    const payloads = parsePayloads(await readBody(req));
    let out: Payload[];
    try {
      out = path === '/encode' ? await codec.encode(payloads) : await codec.decode(payloads);
    } catch (err) {
      throw new HttpError(400, err instanceof Error ? err.message : String(err));
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ payloads: out.map(toJSON) }));
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: message }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
