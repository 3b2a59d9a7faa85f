// Pointing workers and clients at Temporal Cloud or a TLS cluster from the environment (common/config.ts,
// common/connection.ts): TEMPORAL_TLS_* and TEMPORAL_API_KEY reach both the client's Connection and the worker's
// NativeConnection. The frontend here is a TLS gRPC endpoint of the test's own (node:http2, certificates made with
// openssl for a private CA): it requires a client certificate, answers GetSystemInfo, and records what it was sent.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ConfigError, loadTemporalSettings } from '../../common/config.ts';
import { connectionOptions } from '../../common/connection.ts';

const SERVER_NAME = 'frontend.cortex-tls.test';

interface Seen {
  path: string;
  authorization?: string;
  clientCN?: string;
}

describe('TLS and API key from the environment reach the client and the worker connections', () => {
  let dir: string;
  let server: Http2SecureServer;
  let address: string;
  const seen: Seen[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cortex-tls-'));
    const ssl = (...args: string[]) => execa('openssl', args, { cwd: dir });
    writeFileSync(join(dir, 'server.ext'), `subjectAltName=DNS:${SERVER_NAME}\nextendedKeyUsage=serverAuth\n`);
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    const key = ['-newkey', 'rsa:2048', '-nodes', '-days', '2'];
    await ssl('req', '-x509', ...key, '-subj', '/CN=cortex-test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
    for (const [name, cn] of [
      ['server', SERVER_NAME],
      ['client', 'cortex-worker'],
    ] as const) {
      await ssl('req', ...key, '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
      await ssl(
        ...['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2'],
        ...['-out', `${name}.pem`, '-extfile', `${name}.ext`],
      );
    }
    server = createSecureServer({
      key: readFileSync(join(dir, 'server.key')),
      cert: readFileSync(join(dir, 'server.pem')),
      ca: readFileSync(join(dir, 'ca.pem')),
      requestCert: true,
      rejectUnauthorized: true,
    });
    server.on('stream', (stream, headers) => {
      const peer = (stream.session?.socket as TLSSocket | undefined)?.getPeerCertificate();
      seen.push({
        path: String(headers[':path']),
        ...(headers.authorization ? { authorization: String(headers.authorization) } : {}),
        ...(peer?.subject?.CN ? { clientCN: String(peer.subject.CN) } : {}),
      });
      stream.on('data', () => undefined);
      stream.on('end', () => {
        // an empty protobuf message is a valid (all-defaults) GetSystemInfoResponse
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.alloc(5));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const envFor = (extra: Record<string, string>) => ({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'ca.pem'),
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key'),
    ...extra,
  });

  it("the client's Connection: mTLS with the private CA and server name, the API key as a bearer token", async () => {
    seen.length = 0;
    const settings = loadTemporalSettings(envFor({ TEMPORAL_API_KEY: 'cortex-key-client' }));
    const conn = await Connection.connect({ ...connectionOptions(settings), connectTimeout: 10_000 });
    try {
      await conn.workflowService.getSystemInfo({});
    } finally {
      await conn.close();
    }
    const call = seen.find((s) => s.path.endsWith('/GetSystemInfo'));
    assert.ok(call, JSON.stringify(seen));
    assert.equal(call.authorization, 'Bearer cortex-key-client');
    assert.equal(call.clientCN, 'cortex-worker');
  });

  it("the worker's NativeConnection: the same settings, the same handshake and key", async () => {
    seen.length = 0;
    const settings = loadTemporalSettings(envFor({ TEMPORAL_API_KEY: 'cortex-key-worker' }));
    const conn = await NativeConnection.connect(connectionOptions(settings));
    await conn.close();
    const call = seen.find((s) => s.path.endsWith('/GetSystemInfo'));
    assert.ok(call, JSON.stringify(seen));
    assert.equal(call.authorization, 'Bearer cortex-key-worker');
    assert.equal(call.clientCN, 'cortex-worker');
  });

  it('without the private CA the server is not trusted: the connection fails and nothing is sent', async () => {
    seen.length = 0;
    const env = envFor({});
    delete (env as Partial<typeof env>).TEMPORAL_TLS_SERVER_CA_CERT_PATH;
    const settings = loadTemporalSettings(env);
    await assert.rejects(NativeConnection.connect(connectionOptions(settings)));
    assert.deepEqual(seen, []);
  });

  it('the settings: TLS on with an API key alone, off by default, and errors naming the variable', () => {
    assert.deepEqual(loadTemporalSettings({ TEMPORAL_API_KEY: 'k' }).tls, {});
    assert.equal(connectionOptions(loadTemporalSettings({ TEMPORAL_API_KEY: 'k' })).tls, true);
    assert.equal(loadTemporalSettings({}).tls, undefined);
    assert.equal(loadTemporalSettings({ TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' }).tls, undefined);
    assert.throws(
      () => loadTemporalSettings({ TEMPORAL_TLS_CLIENT_CERT_PATH: '/x.pem' }),
      /TEMPORAL_TLS_CLIENT_KEY_PATH/,
    );
    assert.throws(() => loadTemporalSettings({ TEMPORAL_TLS: 'yes' }), ConfigError);
    assert.throws(
      () => connectionOptions(loadTemporalSettings({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'missing.pem') })),
      /cannot read TEMPORAL_TLS_SERVER_CA_CERT_PATH/,
    );
  });
});
