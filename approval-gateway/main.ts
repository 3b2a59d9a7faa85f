// `npm run approval-gateway`: the Slack approval gateway (docs/slack-approvals.md). Posts each run awaiting
// approval on its task queue to a Slack channel with Approve / Reject buttons, takes the clicks back on its
// interactivity URL after checking them as Slack signs them, and sends the clicking person's decision as the
// `decide` update. Its secrets (CORTEX_SLACK_SIGNING_SECRET, CORTEX_SLACK_BOT_TOKEN) live in its environment only.
// Graceful on SIGTERM/SIGINT: stops polling, closes the listener and the Temporal connection.
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { connect } from '../client/client.ts';
import { INTERACTIVITY_PATH, loadGatewaySettings, type GatewaySettings } from './config.ts';
import { Poller } from './poller.ts';
import { createGatewayServer } from './server.ts';
import { slackApi } from './slack.ts';
import { StateFile } from './state.ts';
import { ReplayCache } from './verify.ts';

const log = (line: string) => console.log(`[approval-gateway] ${new Date().toISOString()} ${line}`);

export async function startGateway(settings: GatewaySettings): Promise<{ url: string; stop: () => Promise<void> }> {
  const rc = await connect(settings.temporal);
  const file = new StateFile(settings.stateDir);
  const state = file.load();
  const replay = new ReplayCache(state.replay);
  const save = () => file.save({ ...state, replay: replay.entries() });
  const slack = slackApi(settings.slackApiUrl, settings.botToken);
  const server = createGatewayServer({
    rc,
    slack,
    signingSecret: settings.signingSecret,
    policyPath: settings.policyPath,
    replay,
    saveReplay: save,
    log,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const poller = new Poller({
    rc,
    slack,
    channel: settings.channel,
    ...(settings.webUiUrl ? { webUiUrl: settings.webUiUrl } : {}),
    state,
    save,
    log,
  });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();
  const loop = () => {
    polling = poller
      .pollOnce()
      .catch((err: unknown) => log(`poll failed (next in ${settings.pollMs} ms): ${(err as Error).message}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, settings.pollMs);
      });
  };
  loop();
  const url = `http://${settings.host}:${port}${INTERACTIVITY_PATH}`;
  log(
    `listening on ${url}; task queue ${settings.temporal.taskQueue} on ${settings.temporal.address}; channel ${settings.channel}; policy ${settings.policyPath}`,
  );
  return {
    url,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await polling;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rc.close();
    },
  };
}

async function main(): Promise<void> {
  const gateway = await startGateway(loadGatewaySettings());
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log('stopping');
  await gateway.stop();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
