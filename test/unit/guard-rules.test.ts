// The guard's pure parts: Prometheus text parsing of the demo service's metric names, and the rules' edges
// (a counter reset or a missing scrape breaks a window; exactly at a threshold is not above it).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseMetrics, type GuardSample } from '../../activities/guard.ts';
import { emptyWindows, observe, RUNBOOK_RULES } from '../../workflows/triggers/rules.ts';

const demoText = `# TYPE cortex_http_requests_total counter
cortex_http_requests_total 102
# TYPE cortex_http_request_errors_total counter
cortex_http_request_errors_total{route="/a"} 4
cortex_http_request_errors_total{route="/b"} 6
cortex_http_request_duration_seconds_sum 250.5
cortex_http_request_duration_seconds_count 101
cortex_db_connection_up 0
cortex_db_connection_errors_total 1
cortex_build_info{version="v2.0.0"} 1
`;

const sample = (n: number, m: GuardSample['metrics'], ok = true): GuardSample => ({
  at: `s${n}`,
  health: { at: `s${n}`, ok, latencyMs: 1 },
  ...(m ? { metrics: m } : { metricsError: 'ECONNREFUSED' }),
});

describe('guard rules', () => {
  it('parses the demo service metrics, summing label sets and ignoring other metrics', () => {
    assert.deepEqual(parseMetrics(demoText), {
      requests: 102,
      errors: 10,
      durationSum: 250.5,
      durationCount: 101,
      dbUp: 0,
      dbErrors: 1,
    });
  });

  it('a counter reset or an unreadable scrape breaks the error-rate window; exactly 5% is not above', () => {
    const rules = { ...RUNBOOK_RULES, errorWindowSeconds: 90 }; // 3 samples at 30 s
    const w = emptyWindows();
    const c = (req: number, err: number) => ({ requests: req, errors: err });
    observe(w, sample(1, c(100, 0)), rules);
    assert.equal(observe(w, sample(2, c(200, 10)), rules).point.errorRatePercent, 10);
    assert.equal(w.errorAbove, 1);
    observe(w, sample(3, c(50, 40)), rules); // restarted service: counters went down
    assert.equal(w.errorAbove, 0);
    observe(w, sample(4, c(150, 50)), rules);
    observe(w, sample(5, undefined), rules);
    assert.equal(w.errorAbove, 0, 'no rate without metrics');
    observe(w, sample(6, c(250, 60)), rules);
    observe(w, sample(7, c(350, 65)), rules);
    assert.equal(w.errorAbove, 0, '5% is not above 5%');
    observe(w, sample(8, c(450, 71)), rules);
    observe(w, sample(9, c(550, 77)), rules);
    const { triggers } = observe(w, sample(10, c(650, 83)), rules);
    assert.deepEqual(
      triggers.map((t) => [t.kind, t.at, t.evidence.map((p) => p.at).join(',')]),
      [['error-rate', 's10', 's8,s9,s10']],
    );
    assert.equal(w.errorAbove, 0, 'windows restart after a trigger');
  });
});
