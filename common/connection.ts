// Owns how every process reaches the Temporal frontend: address, TLS (mTLS files, a private CA, a server name)
// and an API key, from the settings of common/config.ts. The certificate files are read here, once per connect,
// so a rotated certificate is picked up by the next connection. Same options for the client and the workers.
import { readFileSync } from 'node:fs';
import { ConfigError, type TemporalSettings } from './config.ts';

export interface TemporalConnectionOptions {
  address: string;
  tls?:
    | true
    | {
        serverNameOverride?: string;
        serverRootCACertificate?: Buffer;
        clientCertPair?: { crt: Buffer; key: Buffer };
      };
  apiKey?: string;
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`cannot read ${what} '${path}': ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Options for Connection.connect / NativeConnection.connect. */
export function connectionOptions(settings: TemporalSettings): TemporalConnectionOptions {
  const t = settings.tls;
  const tls: TemporalConnectionOptions['tls'] = !t
    ? undefined
    : !t.clientCertPath && !t.serverCaCertPath && !t.serverName
      ? true
      : {
          ...(t.serverName ? { serverNameOverride: t.serverName } : {}),
          ...(t.serverCaCertPath
            ? { serverRootCACertificate: read(t.serverCaCertPath, 'TEMPORAL_TLS_SERVER_CA_CERT_PATH') }
            : {}),
          ...(t.clientCertPath && t.clientKeyPath
            ? {
                clientCertPair: {
                  crt: read(t.clientCertPath, 'TEMPORAL_TLS_CLIENT_CERT_PATH'),
                  key: read(t.clientKeyPath, 'TEMPORAL_TLS_CLIENT_KEY_PATH'),
                },
              }
            : {}),
        };
  return {
    address: settings.address,
    ...(tls ? { tls } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  };
}
