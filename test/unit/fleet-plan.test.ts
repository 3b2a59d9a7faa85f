// The fleet rollback's small languages and plan (workflows/application/fleet-plan.ts) and its input as the CLI and
// the workflow read it: waves, counts or percents with SSM's rounding, every target in exactly one wave, and the
// input refused before anything starts when it names no targets, both kinds, or a target twice.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFromArgs } from '../../client/cli.ts';
import { fleetRollbackInput } from '../../workflows/application/fleet.ts';
import { parseAmount, parseWaves, planWaves, resolveAmount } from '../../workflows/application/fleet-plan.ts';
import { parseInput } from '../../workflows/phases/schema.ts';
import { InputError } from '../../workflows/phases/validation.ts';

const WHO = { reason: 'bad deploy', requestedBy: 'ci:deploy' };
const T = (host: string, container: string) => ({ host, container, healthUrl: 'http://127.0.0.1:3000/health' });

describe('fleet plan', () => {
  it('reads waves as [name:]N, [name:]P% or rest, from a string or a list', () => {
    assert.deepEqual(parseWaves('canary:1,25%,rest', 'waves'), [
      { name: 'canary', size: { count: 1 } },
      { name: 'wave-2', size: { percent: 25 } },
      { name: 'rest', size: 'rest' },
    ]);
    assert.deepEqual(parseWaves(['2', 'big:50%'], 'waves'), [
      { name: 'wave-1', size: { count: 2 } },
      { name: 'big', size: { percent: 50 } },
    ]);
    assert.throws(() => parseWaves('rest,1', 'waves'), /'rest' must be the last wave/);
    assert.throws(() => parseWaves('a:1,a:2', 'waves'), /'a' is used twice/);
    assert.throws(() => parseWaves('0', 'waves'), /must be from 1/);
    assert.throws(() => parseWaves('150%', 'waves'), /from 1% to 100%/);
    assert.throws(() => parseWaves('canary 1', 'waves'), /is not \[name:\]N/);
  });

  it('rounds a percent of concurrency up (never 0) and of errors down', () => {
    assert.deepEqual(parseAmount('25%', 'f', 1), { percent: 25 });
    assert.deepEqual(parseAmount(3, 'f', 1), { count: 3 });
    assert.throws(() => parseAmount(0, 'f', 1), InputError);
    assert.deepEqual(parseAmount('0', 'f', 0), { count: 0 });
    assert.equal(resolveAmount({ percent: 10 }, 12, 'up'), 2);
    assert.equal(resolveAmount({ percent: 1 }, 12, 'up'), 1);
    assert.equal(resolveAmount({ percent: 10 }, 12, 'down'), 1);
    assert.equal(resolveAmount({ percent: 5 }, 12, 'down'), 0);
  });

  it('puts every target in exactly one wave; leftovers form a last wave, empty waves are dropped', () => {
    const plan = (w: string, n: number) => planWaves(parseWaves(w, 'waves'), n).map((x) => [x.name, x.end - x.first]);
    assert.deepEqual(plan('canary:1,25%,rest', 12), [
      ['canary', 1],
      ['wave-2', 3],
      ['rest', 8],
    ]);
    assert.deepEqual(plan('canary:1,25%', 12), [
      ['canary', 1],
      ['wave-2', 3],
      ['rest', 8],
    ]);
    assert.deepEqual(plan('canary:1,25%,rest', 1), [['canary', 1]]);
    assert.deepEqual(plan('5,5', 7), [
      ['wave-1', 5],
      ['wave-2', 2],
    ]);
  });
});

describe('fleet input', () => {
  it('takes the targets from the CLI as JSON, or a label selector with repeated hosts', () => {
    const r = startFromArgs([
      'fleet',
      '--name',
      'cortex-mcp',
      '--image',
      'cortex-memory-mcp:v2.0.0',
      '--label',
      'app=cortex-mcp',
      '--on-host',
      'h1',
      '--on-host',
      'h2',
      '--waves',
      'canary:1,50%,rest',
      '--max-concurrency',
      '25%',
      '--max-errors',
      '1',
      '--on-failure',
      'halt-and-revert',
      '--reason',
      'r',
      '--requested-by',
      'w',
    ]);
    assert.equal(r.workflowId, 'rollback-fleet-cortex-mcp');
    assert.deepEqual(r.input.selector, { label: 'app=cortex-mcp', hosts: ['h1', 'h2'] });
    const v = parseInput(fleetRollbackInput, r.input);
    assert.deepEqual(v.maxConcurrency, { percent: 25 });
    assert.deepEqual(v.maxErrors, { count: 1 });
    assert.equal(v.waves.length, 3);
    const d = parseInput(fleetRollbackInput, {
      name: 'f',
      targetImage: 'cortex-memory-mcp:v2.0.0',
      targets: [T('h1', 'a')],
      ...WHO,
    });
    assert.deepEqual(
      [d.waves.map((w) => w.name), d.maxConcurrency, d.maxErrors, d.onFailure, d.pauseBetweenWavesSeconds],
      [['canary', 'wave-2', 'rest'], { count: 10 }, { count: 0 }, 'halt', 60],
    );
  });

  it('refuses no targets, both kinds, a target twice, a bad host', () => {
    const base = { name: 'f', targetImage: 'cortex-memory-mcp:v2.0.0', ...WHO };
    const refused = (input: object, re: RegExp) =>
      assert.throws(
        () => parseInput(fleetRollbackInput, { ...base, ...input }),
        (e: unknown) => e instanceof InputError && re.test(e.message),
      );
    refused({}, /targets: give either targets or selector/);
    refused({ targets: [T('h1', 'a')], selector: { label: 'app', hosts: ['h1'] } }, /exactly one/);
    refused({ targets: [T('h1', 'a'), T('h1', 'a')] }, /targets\.1: h1\/a is listed twice/);
    refused({ targets: [T('bad host', 'a')] }, /targets\.0\.host: "bad host" is not a valid host name/);
    refused({ targets: [{ host: 'h1', container: 'a' }] }, /targets\.0\.healthUrl/);
    refused({ selector: { label: 'app', hosts: ['h1', 'h1'] } }, /host 'h1' is listed twice/);
    refused({ targets: [T('h1', 'a')], maxErrors: '-1' }, /maxErrors: must be a count/);
  });
});
