// Connection settings from the environment: TLS (the `temporal` CLI's variables) and the API key for an existing
// cluster or Temporal Cloud, validated with a message that names the variable; the files read at connect.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadTemporalSettings } from '../../common/config.ts';
import { connectionOptions } from '../../common/connection.ts';

describe('Temporal connection from the environment', () => {
  it('plain by default: no TLS, no API key', () => {
    const s = loadTemporalSettings({ TEMPORAL_ADDRESS: '127.0.0.1:7600' });
    assert.deepEqual(connectionOptions(s), { address: '127.0.0.1:7600' });
  });

  it('an API key turns TLS on (Temporal Cloud), unless TEMPORAL_TLS=false', () => {
    const cloud = {
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ns.acct',
      TEMPORAL_API_KEY: 'k1',
    };
    assert.deepEqual(connectionOptions(loadTemporalSettings(cloud)), {
      address: 'ns.acct.tmprl.cloud:7233',
      tls: true,
      apiKey: 'k1',
    });
    assert.deepEqual(connectionOptions(loadTemporalSettings({ ...cloud, TEMPORAL_TLS: 'false' })), {
      address: 'ns.acct.tmprl.cloud:7233',
      apiKey: 'k1',
    });
  });

  it('mTLS: the certificate pair, the private CA and the server name are read from their files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cortex-tls-'));
    for (const f of ['client.pem', 'client.key', 'ca.pem']) writeFileSync(join(dir, f), `--- ${f} ---`);
    const s = loadTemporalSettings({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'client.pem'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'client.key'),
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'ca.pem'),
      TEMPORAL_TLS_SERVER_NAME: 'frontend.temporal.internal',
    });
    const o = connectionOptions(s);
    assert.ok(o.tls && o.tls !== true);
    assert.equal(o.tls.serverNameOverride, 'frontend.temporal.internal');
    assert.equal(o.tls.serverRootCACertificate?.toString(), '--- ca.pem ---');
    assert.equal(o.tls.clientCertPair?.crt.toString(), '--- client.pem ---');
    assert.equal(o.tls.clientCertPair?.key.toString(), '--- client.key ---');
    assert.equal(o.apiKey, undefined);
  });

  it('refuses half a certificate pair, TLS files with TLS off, a bad flag, and unreadable files, naming the variable', () => {
    const base = { TEMPORAL_ADDRESS: 'temporal.internal:7233' };
    assert.throws(
      () => loadTemporalSettings({ ...base, TEMPORAL_TLS_CLIENT_CERT_PATH: '/x.pem' }),
      (e: Error) => e instanceof ConfigError && /TEMPORAL_TLS_CLIENT_KEY_PATH/.test(e.message),
    );
    assert.throws(
      () => loadTemporalSettings({ ...base, TEMPORAL_TLS: 'false', TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/ca.pem' }),
      /TEMPORAL_TLS=false/,
    );
    assert.throws(() => loadTemporalSettings({ ...base, TEMPORAL_TLS: 'yes' }), /TEMPORAL_TLS must be true or false/);
    const s = loadTemporalSettings({ ...base, TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/nonexistent/ca.pem' });
    assert.throws(() => connectionOptions(s), /TEMPORAL_TLS_SERVER_CA_CERT_PATH '\/nonexistent\/ca.pem'/);
  });
});
