// Owns the post-rollback watch: health samples on durable timers (a worker restart resumes the watch where the
// history left it), and the breach rule: more than `failureThreshold` consecutive failed samples (the runbook's
// "Health check failures (> 3 consecutive)") ends the watch as breached. Deterministic.
import { sleep } from '@temporalio/workflow';
import type { HealthSample } from '../../activities/index.ts';

export interface MonitorSettings {
  durationSeconds: number;
  intervalSeconds: number;
  failureThreshold: number;
}

export interface MonitorSummary extends MonitorSettings {
  startedAt: string;
  endedAt: string;
  samples: number;
  failures: number;
  maxConsecutiveFailures: number;
  breached: boolean;
  breachAt?: string;
  /** The newest samples (at most 20) and every failed one (at most 50). */
  recent: HealthSample[];
  failed: HealthSample[];
}

export interface MonitorLive {
  samples: number;
  failures: number;
  consecutiveFailures: number;
  endsAt: string;
}

export async function watchHealth(
  settings: MonitorSettings,
  sample: () => Promise<HealthSample>,
  live: (state: MonitorLive) => void,
): Promise<MonitorSummary> {
  const startedAt = new Date().toISOString();
  const endsAt = new Date(Date.now() + settings.durationSeconds * 1000).toISOString();
  const summary: MonitorSummary = {
    ...settings,
    startedAt,
    endedAt: startedAt,
    samples: 0,
    failures: 0,
    maxConsecutiveFailures: 0,
    breached: false,
    recent: [],
    failed: [],
  };
  const rounds = Math.floor(settings.durationSeconds / settings.intervalSeconds);
  let consecutive = 0;
  live({ samples: 0, failures: 0, consecutiveFailures: 0, endsAt });
  for (let i = 0; i < rounds; i++) {
    await sleep(settings.intervalSeconds * 1000, { summary: `watch: sample ${i + 1} of ${rounds} (until ${endsAt})` });
    let s: HealthSample;
    try {
      s = await sample();
    } catch (err) {
      s = {
        at: new Date().toISOString(),
        ok: false,
        latencyMs: 0,
        error: err instanceof Error ? err.message : String(err),
      };
    }
    summary.samples += 1;
    summary.recent.push(s);
    if (summary.recent.length > 20) summary.recent.shift();
    if (s.ok) {
      consecutive = 0;
    } else {
      consecutive += 1;
      summary.failures += 1;
      if (summary.failed.length < 50) summary.failed.push(s);
      summary.maxConsecutiveFailures = Math.max(summary.maxConsecutiveFailures, consecutive);
    }
    live({ samples: summary.samples, failures: summary.failures, consecutiveFailures: consecutive, endsAt });
    if (consecutive > settings.failureThreshold) {
      summary.breached = true;
      summary.breachAt = s.at;
      break;
    }
  }
  summary.endedAt = new Date().toISOString();
  return summary;
}
