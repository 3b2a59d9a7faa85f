// `npm run codec-server`: the Web UI's remote codec on 127.0.0.1:$CORTEX_CODEC_PORT (default 8888) for the keys in
// CORTEX_CODEC_KEYS, CORS for CORTEX_CODEC_CORS_ORIGINS (default the dev server's UI origins). Until Ctrl-C.
import { codecFromEnv } from '../common/codec.ts';
import { loadCodecServerSettings, startCodecServer } from '../common/codec-server.ts';

async function main(): Promise<void> {
  const codec = codecFromEnv();
  if (!codec) throw new Error('CORTEX_CODEC_KEYS is not set: there is nothing to decode (see docs/encryption.md)');
  const settings = loadCodecServerSettings();
  const server = await startCodecServer(codec, settings);
  console.log(
    `[codec-server] ${server.url} (encrypting with key '${codec.encryptingKeyId}'), ` +
      `CORS for ${settings.origins.join(', ')}; start the UI with --ui-codec-endpoint ${server.url}`,
  );
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error('[codec-server] fatal:', err instanceof Error ? err.message : err);
  process.exit(1);
});
