// A fault-injecting HTTP proxy on 127.0.0.1 in front of a real Qdrant server, with exactly the fault switches and
// request log of the Qdrant double (test/qdrant-double/server.ts), so a test written against the double's faults runs
// unchanged against the real server. Invariants: a request no switch touches is passed through as it is — method,
// path, query, headers (the api-key too) and body streamed both ways, never buffered (snapshot uploads and downloads
// are large); failNext answers Qdrant's error envelope `{status:{error}, time}` WITHOUT forwarding (the operation never
// runs); dropNext forwards, lets the operation take effect and then loses the reply (half its body, then the socket
// is destroyed); failWhen matches method / path / operationId (the double's OpenAPI spec maps method + path to the
// operationId) and either refuses before forwarding or, with after: true, forwards, waits for the server's answer
// and replaces it with the error (the change happened, the caller is told it failed; a server that failed on its own
// keeps its own answer). Only a JSON request body (to check it), a dropped or a replaced answer is read into memory.
// delay holds each request that long before anything else happens to it. Every answered request is logged in
// `requests` (status 0: the server could not be reached and the client's connection was destroyed, as a dead
// server's would be). Like the double, every forwarded request is checked against Qdrant's OpenAPI spec (operation,
// path and query parameters, JSON body) and what breaks it is recorded in `violations` — forwarded all the same: the
// real server is the judge of what it accepts, the record says what the caller got wrong (a field Qdrant ignores
// silently, for one).
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FaultHandle, FaultRule, QdrantDouble } from '../qdrant-double/server.ts';
import { OpenApiSpec } from '../qdrant-double/openapi.ts';

export type { FaultHandle, FaultRule };
export type QdrantFaults = QdrantDouble['faults'];
export type QdrantRequestLog = QdrantDouble['requests'];

export interface QdrantFaultProxy {
  url: string;
  faults: QdrantFaults;
  /** Every answered request; `at` is when it arrived (Date.now()), so tests can tell who sent it. */
  requests: QdrantRequestLog;
  /** Forwarded requests that break Qdrant's OpenAPI spec, one line each (`METHOD /path?query: what`). */
  violations: string[];
  stop(): Promise<void>;
}

// Served in plain text by Qdrant (no JSON envelope), so their refusals are plain text too.
const TEXT_OPS = new Set(['healthz', 'livez', 'readyz']);
// Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business on each leg.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

let sharedSpec: OpenApiSpec | undefined;

function endToEnd(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP.has(k.toLowerCase())));
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Starts the proxy in front of `upstream` (e.g. `http://127.0.0.1:6333`). */
export async function startQdrantFaultProxy(
  upstream: string,
  opts: { spec?: OpenApiSpec } = {},
): Promise<QdrantFaultProxy> {
  const spec = opts.spec ?? (sharedSpec ??= new OpenApiSpec());
  const target = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true });
  const requests: QdrantRequestLog = [];
  const violations: string[] = [];
  let failCount = 0;
  let failStatus = 503;
  let dropCount = 0;
  let delayMs = 0;
  const rules: Array<FaultRule & { left: number; hit: number; skipLeft: number }> = [];

  /** The first live rule matching this request, its budget spent by one (as the double's takeRule). */
  const takeRule = (method: string, path: string, opId: string | undefined) => {
    const r = rules.find(
      (x) =>
        x.left > 0 &&
        (x.method === undefined || x.method.toUpperCase() === method) &&
        (x.path === undefined || x.path.test(path)) &&
        (x.operationId === undefined || x.operationId === opId),
    );
    if (!r) return undefined;
    if (r.skipLeft > 0) {
      r.skipLeft--;
      return undefined;
    }
    r.left--;
    r.hit++;
    return r;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const at = Date.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://proxy');
    const path = url.pathname;
    const log = (status: number): void => void requests.push({ method, path, status, at });
    const answer = (status: number, body: Buffer, contentType: string): void => {
      log(status);
      res.writeHead(status, { 'content-type': contentType, 'content-length': body.length });
      res.end(body);
      req.resume(); // a body nobody forwards is read and discarded, so the connection stays usable
    };
    const answerError = (status: number, message: string, text: boolean): void => {
      const time = (performance.now() - started) / 1000;
      if (text) answer(status, Buffer.from(message), 'text/plain; charset=utf-8');
      else answer(status, Buffer.from(JSON.stringify({ status: { error: message }, time })), 'application/json');
    };

    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const drop = dropCount > 0 && dropCount-- > 0;
    if (failCount > 0) {
      failCount--;
      return answerError(
        failStatus,
        `Service unavailable: fault injected by the Qdrant fault proxy (HTTP ${failStatus})`,
        false,
      );
    }
    const match = spec.match(method, path);
    const opId = match?.op.operationId;
    const rule = takeRule(method, path, opId);
    const ruleStatus = rule?.status ?? 400;
    const ruleMessage =
      rule?.message ??
      (ruleStatus >= 500
        ? `Service internal error: ${opId ?? path} failed (fault injected by the Qdrant fault proxy)`
        : `Bad request: ${opId ?? path} refused (fault injected by the Qdrant fault proxy)`);
    const refuse = (): void => answerError(ruleStatus, ruleMessage, TEXT_OPS.has(opId ?? ''));
    if (rule && !rule.after) return refuse();

    // the spec check; a JSON body is read whole for it and forwarded as read
    const violation = (what: string) => void violations.push(`${method} ${path}${url.search}: ${what}`);
    let json: Buffer | undefined;
    if (!match) violation('no such operation in the Qdrant OpenAPI spec');
    else {
      for (const where of ['path', 'query'] as const) {
        const given = new Map(where === 'path' ? Object.entries(match.params) : url.searchParams);
        const bad = spec.validateParams(match, where, given);
        if ('status' in bad) violation(`${where} rejected by the spec: ${bad.message}`);
      }
      const mime = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (spec.requestContentTypes(match).includes('application/json')) {
        if (mime !== 'application/json' && !mime.endsWith('+json'))
          violation(`request without a JSON content type (${mime || 'none'})`);
        json = await readAll(req).catch(() => undefined);
        if (!json) return void res.destroy(); // the client went away mid-request
        let body: unknown;
        try {
          body = JSON.parse(json.toString('utf8')) as unknown;
        } catch (err) {
          violation(`request body is not JSON: ${(err as Error).message}`);
        }
        const rejected = body === undefined ? null : spec.validateBody(match, body);
        if (rejected) violation(`request body rejected by the spec: ${rejected.message}`);
      }
    }

    const up = http.request({
      host: target.hostname,
      port: target.port || 80,
      method,
      path: req.url,
      headers: { ...endToEnd(req.headers), host: target.host },
      agent,
    });
    const upRes = await new Promise<IncomingMessage | undefined>((resolve) => {
      up.once('response', resolve);
      up.once('error', () => resolve(undefined));
      if (json) return void up.end(json);
      req.once('error', () => up.destroy());
      req.pipe(up);
    });
    if (!upRes) {
      log(0);
      res.destroy(); // the server is unreachable: the client sees its connection die, as it would without us
      return;
    }
    const status = upRes.statusCode ?? 502;
    if (rule && status < 400) {
      await readAll(upRes).catch(() => Buffer.alloc(0)); // the operation has taken effect once its answer is in
      return refuse();
    }
    if (drop) {
      const body = await readAll(upRes).catch(() => Buffer.alloc(0));
      log(status);
      const headers = endToEnd(upRes.headers);
      delete headers['content-length'];
      res.writeHead(status, { ...headers, 'content-length': Math.max(body.length, 1) });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => req.socket.destroy());
      return;
    }
    log(status);
    res.writeHead(status, endToEnd(upRes.headers));
    upRes.pipe(res);
    upRes.once('error', () => res.destroy());
  }

  const server = http.createServer((req, res) => {
    res.once('close', () => {
      if (!res.writableFinished) req.destroy();
    });
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    violations,
    faults: {
      failNext(n, status = 503) {
        failCount = n;
        failStatus = status;
      },
      delay(ms) {
        delayMs = ms;
      },
      dropNext(n) {
        dropCount = n;
      },
      failWhen(rule) {
        if (rule.path === undefined && rule.operationId === undefined && rule.method === undefined)
          throw new Error('failWhen needs a method, path or operationId: use failNext to fail everything');
        const r = { ...rule, left: rule.times ?? 1, hit: 0, skipLeft: rule.skip ?? 0 };
        rules.push(r);
        return { hits: () => r.hit, clear: () => void (r.left = 0) };
      },
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      agent.destroy();
    },
  };
}
