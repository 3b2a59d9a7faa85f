// activities/http-stream.ts against a real HTTP server in this process (node:http): a download piped whole into its
// sink, a non-2xx answer read as text without making the sink, a body cut mid-way rejecting, a refused connection
// rejecting with its code, and an upload whose multipart body carries the file byte for byte with a Content-Length.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { httpGetInto, httpPostFile } from '../../activities/http-stream.ts';
import { freePort } from '../helpers/docker.ts';

const BODY = randomBytes(3 * 1024 * 1024 + 17);

function handler(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/file') {
    res.writeHead(200, { 'content-length': BODY.length }).end(BODY);
  } else if (req.url === '/missing') {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"status":{"error":"Not found: snapshot"}}');
  } else if (req.url === '/cut') {
    res.writeHead(200, { 'content-length': BODY.length });
    res.write(BODY.subarray(0, 1024 * 1024), () => res.socket?.destroy());
  } else if (req.url?.startsWith('/upload')) {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const boundary = /boundary=(.+)$/.exec(req.headers['content-type'] ?? '')?.[1] ?? '?';
      const start = raw.indexOf('\r\n\r\n') + 4;
      const end = raw.lastIndexOf(Buffer.from(`\r\n--${boundary}--\r\n`));
      const part = raw.subarray(start, end);
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          contentLength: req.headers['content-length'],
          apiKey: req.headers['api-key'],
          received: raw.length,
          opening: raw.subarray(0, start).toString(),
          endsWithClosingBoundary: end > 0 && end + boundary.length + 8 === raw.length,
          partSha256: createHash('sha256').update(part).digest('hex'),
        }),
      );
    });
  } else {
    res.writeHead(500).end('unexpected');
  }
}

describe('streamed HTTP transfers (activities/http-stream.ts)', () => {
  let server: Server;
  let base: string;
  let dir: string;
  before(async () => {
    server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), 'cortex-http-stream-'));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('a 2xx download is piped whole into the sink', async () => {
    const sink = new PassThrough();
    const got: Buffer[] = [];
    sink.on('data', (c: Buffer) => got.push(c));
    const a = await httpGetInto(`${base}/file`, {}, () => [sink]);
    assert.equal(a.status, 200);
    assert.ok(Buffer.concat(got).equals(BODY), 'every byte, in order');
  });

  it('a non-2xx answer comes back as text and the sink is never made', async () => {
    let made = false;
    const a = await httpGetInto(`${base}/missing`, {}, () => {
      made = true;
      return [new PassThrough()];
    });
    assert.equal(a.status, 404);
    assert.match(a.body, /Not found: snapshot/);
    assert.equal(made, false);
  });

  it('a body cut mid-way rejects (the caller retries), it does not resolve short', async () => {
    const sink = new PassThrough();
    sink.resume();
    await assert.rejects(httpGetInto(`${base}/cut`, {}, () => [sink]));
  });

  it('a refused connection rejects with its socket code', async () => {
    const port = await freePort();
    await assert.rejects(
      httpGetInto(`http://127.0.0.1:${port}/file`, {}, () => [new PassThrough()]),
      {
        code: 'ECONNREFUSED',
      },
    );
  });

  it('an upload sends the file as one multipart part, byte for byte, with a Content-Length and the headers given', async () => {
    const file = join(dir, 'snap.snapshot');
    await writeFile(file, BODY);
    const seen: number[] = [];
    const a = await httpPostFile(
      `${base}/upload?checksum=x`,
      { 'api-key': 'k1' },
      { field: 'snapshot', file, filename: 'snap.snapshot' },
      (c) => seen.push(c.length),
    );
    assert.equal(a.status, 200);
    const echo = JSON.parse(a.body) as Record<string, string | number | boolean>;
    assert.equal(echo.apiKey, 'k1');
    assert.equal(Number(echo.contentLength), echo.received);
    assert.match(String(echo.opening), /name="snapshot"; filename="snap.snapshot"/);
    assert.equal(echo.endsWithClosingBoundary, true);
    assert.equal(echo.partSha256, createHash('sha256').update(BODY).digest('hex'), 'the part is the file');
    assert.equal(
      seen.reduce((x, y) => x + y, 0),
      BODY.length,
    );
  });
});
