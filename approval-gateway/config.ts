// Owns the approval gateway's configuration, read and validated once from its own environment (never from
// workflow input, never into history): the Slack app's signing secret and bot token (secrets), the Slack Web API
// base URL (a local receiver in tests), the channel the approval requests go to, where it listens, how often it
// looks for runs awaiting approval, its state directory and the approval policy file (the roster's Slack ids).
// Fails fast with a message naming the variable. The secrets are kept out of every log line and error message.
import { join } from 'node:path';
import { ConfigError, loadTemporalSettings, type TemporalSettings } from '../common/config.ts';
import { PROJECT_ROOT } from '../common/tools.ts';

export const DEFAULT_SLACK_API_URL = 'https://slack.com/api';
export const INTERACTIVITY_PATH = '/slack/interactivity';

export interface GatewaySettings {
  signingSecret: string;
  botToken: string;
  /** Slack's Web API base (chat.postMessage, chat.update, views.open are POSTed under it). */
  slackApiUrl: string;
  /** The channel id (C…) approval requests are posted to; the bot must be a member. */
  channel: string;
  host: string;
  port: number;
  pollMs: number;
  /** Posted messages and the replay cache, so a restarted gateway neither posts twice nor takes a callback twice. */
  stateDir: string;
  policyPath: string;
  /** The Temporal Web UI: messages link to the run. */
  webUiUrl?: string;
  temporal: TemporalSettings;
}

export function loadGatewaySettings(env: Record<string, string | undefined> = process.env): GatewaySettings {
  const required = (name: string): string => {
    const v = env[name]?.trim();
    if (!v) throw new ConfigError(`${name} is required (see docs/slack-approvals.md)`);
    return v;
  };
  const signingSecret = required('CORTEX_SLACK_SIGNING_SECRET');
  const botToken = required('CORTEX_SLACK_BOT_TOKEN');
  if (!/^xox[a-z]-/.test(botToken)) {
    throw new ConfigError('CORTEX_SLACK_BOT_TOKEN must be a Slack bot token (xoxb-…)');
  }
  const slackApiUrl = (env.CORTEX_SLACK_API_URL?.trim() || DEFAULT_SLACK_API_URL).replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]+/.test(slackApiUrl)) throw new ConfigError('CORTEX_SLACK_API_URL must be an http(s) URL');
  const channel = required('CORTEX_SLACK_CHANNEL');
  if (!/^[CGD][A-Z0-9]{2,20}$/.test(channel)) {
    throw new ConfigError(`CORTEX_SLACK_CHANNEL must be a Slack channel id (C…), got '${channel}'`);
  }
  const port = Number(env.CORTEX_GATEWAY_PORT?.trim() || '3100');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('CORTEX_GATEWAY_PORT must be a port number (0: any free port)');
  }
  const pollSeconds = Number(env.CORTEX_GATEWAY_POLL_SECONDS?.trim() || '5');
  if (!(pollSeconds >= 0.2 && pollSeconds <= 300)) {
    throw new ConfigError('CORTEX_GATEWAY_POLL_SECONDS must be between 0.2 and 300');
  }
  const webUiUrl = env.CORTEX_WEB_UI_URL?.trim();
  const dataDir = env.CORTEX_DATA_DIR?.trim() || join(PROJECT_ROOT, '.data');
  return {
    signingSecret,
    botToken,
    slackApiUrl,
    channel,
    host: env.CORTEX_GATEWAY_HOST?.trim() || '127.0.0.1',
    port,
    pollMs: Math.round(pollSeconds * 1000),
    stateDir: join(dataDir, 'approval-gateway'),
    policyPath: env.CORTEX_APPROVAL_POLICY?.trim() || join(PROJECT_ROOT, 'config', 'approval-policy.json'),
    ...(webUiUrl ? { webUiUrl } : {}),
    temporal: loadTemporalSettings(env),
  };
}
