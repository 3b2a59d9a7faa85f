// Owns streamed HTTP file transfers (Qdrant snapshot download and upload) over node:http/https.
// Why not fetch: Node 20's fetch reads a large response in 16 KiB chunks through web streams at a few MB/s here
// (a 265 MiB Qdrant snapshot took 60–90 s against 0.7 s for node:http and 0.4 s for curl), and its FormData upload
// of a file-backed Blob is chunked and slower than a plain body with a Content-Length.
// Invariants: nothing is held whole in memory (the body is piped chunk by chunk, with backpressure); a socket error
// rejects with the error itself (its `code`, e.g. ECONNRESET, for the caller's retryable/permanent split); an
// answer of any status resolves (the caller decides what a status means), with the body of a non-2xx answer read
// as text (at most 64 KiB).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface HttpAnswer {
  status: number;
  /** The body as text: of a non-2xx answer always, of a 2xx answer only when it was not piped elsewhere. */
  body: string;
}

function request(
  url: string,
  opts: { method: string; headers: Record<string, string | number> },
): { req: http.ClientRequest; answer: Promise<IncomingMessage> } {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  let req!: http.ClientRequest;
  const answer = new Promise<IncomingMessage>((resolve, reject) => {
    req = mod.request(u, { method: opts.method, headers: opts.headers }, resolve);
    req.on('error', reject);
  });
  return { req, answer };
}

async function readText(res: IncomingMessage, limit = 64 * 1024): Promise<string> {
  let text = '';
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (text.length < limit) text += chunk.toString('utf8');
  }
  return text.slice(0, limit);
}

/**
 * GET `url`; a 2xx body is piped into the streams `sink()` makes (made only then; the pipeline ends them); any other
 * answer's body comes back as text.
 */
export async function httpGetInto(
  url: string,
  headers: Record<string, string>,
  sink: () => Writable[],
): Promise<HttpAnswer> {
  const { req, answer } = request(url, { method: 'GET', headers });
  req.end();
  const res = await answer;
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) return { status, body: await readText(res) };
  await pipeline([res, ...sink()]);
  return { status, body: '' };
}

/**
 * POSTs `file` as the one part `field` of a multipart/form-data body with a Content-Length, streamed from disk;
 * `onBytes` sees the file's chunks as they are sent (for a checksum or progress).
 */
export async function httpPostFile(
  url: string,
  headers: Record<string, string>,
  part: { field: string; file: string; filename: string },
  onBytes?: (chunk: Buffer) => void,
): Promise<HttpAnswer> {
  const size = (await stat(part.file)).size;
  const boundary = `----cortex-rollback-${Date.now().toString(16)}${Math.random().toString(16).slice(2)}`;
  const quoted = (s: string) => s.replace(/["\r\n\\]/g, '_');
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(part.field)}"; filename="${quoted(part.filename)}"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const { req, answer } = request(url, {
    method: 'POST',
    headers: {
      ...headers,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': head.length + size + tail.length,
    },
  });
  // the server may answer (an error) before it has read the whole body: the answer wins over a broken upload
  const sent = pipeline(
    Readable.from(
      (async function* () {
        yield head;
        for await (const chunk of createReadStream(part.file, {
          highWaterMark: 1024 * 1024,
        }) as AsyncIterable<Buffer>) {
          onBytes?.(chunk);
          yield chunk;
        }
        yield tail;
      })(),
    ),
    req,
  );
  sent.catch(() => undefined);
  const res = await Promise.race([answer, sent.then(() => answer)]);
  const body = await readText(res);
  return { status: res.statusCode ?? 0, body };
}
