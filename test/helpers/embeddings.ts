// A deterministic, local OpenAI-compatible embeddings provider (POST /embeddings) for re-embedding tests:
// the same text always gives the same unit vector of `size` dimensions.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

export function embedText(text: string, size: number): number[] {
  const out: number[] = [];
  let block = 0;
  while (out.length < size) {
    const h = createHash('sha256').update(`${block}:${text}`).digest();
    for (let i = 0; i + 1 < h.length && out.length < size; i += 2) out.push(h.readUInt16BE(i) / 65535 - 0.5);
    block += 1;
  }
  const norm = Math.hypot(...out) || 1;
  return out.map((x) => x / norm);
}

export async function startEmbeddings(
  size: number,
): Promise<{ url: string; calls: () => number; stop: () => Promise<void> }> {
  let calls = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/embeddings') {
        res.writeHead(404).end();
        return;
      }
      calls += 1;
      const { input, model } = JSON.parse(body) as { input: string[]; model: string };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          model,
          data: input.map((t, index) => ({ object: 'embedding', index, embedding: embedText(t, size) })),
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    calls: () => calls,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
