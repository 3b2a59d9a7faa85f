// Owns how every process connects to Temporal (worker, client, CLI): the address plus, from TemporalSettings, TLS
// (certificates read here, failing fast with the variable's name) and the API key. Plain text when neither is set,
// as against the dev server or the compose stack's frontend.
import type { TLSConfig } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import { ConfigError, type TemporalSettings } from './config.ts';

export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

function readVar(name: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${name}: cannot read '${path}': ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Options for Connection.connect (client) and NativeConnection.connect (worker) alike. */
export function temporalConnectionOptions(settings: TemporalSettings): TemporalConnectionOptions {
  const t = settings.tls;
  const tls: TLSConfig | undefined = t
    ? {
        ...(t.serverName ? { serverNameOverride: t.serverName } : {}),
        ...(t.caPath ? { serverRootCACertificate: readVar('TEMPORAL_TLS_CA', t.caPath) } : {}),
        ...(t.certPath && t.keyPath
          ? {
              clientCertPair: {
                crt: readVar('TEMPORAL_TLS_CERT', t.certPath),
                key: readVar('TEMPORAL_TLS_KEY', t.keyPath),
              },
            }
          : {}),
      }
    : undefined;
  return {
    address: settings.address,
    ...(tls ? { tls: Object.keys(tls).length > 0 ? tls : true } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  };
}
