// The scenario registry and what is generated from it: every scenario's schema yields described, unique CLI flags;
// `cortex-rollback start` builds the same workflow inputs from the old flags and subcommand names as before; help
// and the input tables name every flag; and the tables in docs/scenarios.md are up to date.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { scenarioHelp, startFromArgs, usage } from '../../client/cli.ts';
import { InputError } from '../../workflows/phases/validation.ts';
import { inputFields, parseInput, shapeAt } from '../../workflows/phases/schema.ts';
import { runOf } from '../../workflows/phases/scenario.ts';
import { SCENARIOS } from '../../workflows/scenarios.ts';
import * as workflows from '../../workflows/index.ts';
import { BEGIN, END, inputTables, INPUTS_DOC, updatedInputsDoc } from '../../scripts/input-docs.ts';

const WHO = ['--reason', 'r', '--requested-by', 'w'];
/** The flags each old `start` kind read (client/cli.ts before the registry): all must still work. */
const OLD_FLAGS: Record<string, string[]> = {
  docker: [
    'container',
    'image',
    'health-url',
    'stop-timeout',
    'verify-timeout',
    'pull',
    'watch-seconds',
    'interval',
    'failure-threshold',
    'reason',
    'requested-by',
    'approval-timeout',
    'pre-approve',
    'host',
  ],
  'qdrant-backup': ['collection', 'backup-name', 'host'],
  'qdrant-verify': ['collection', 'backup-name', 'host'],
  'qdrant-recovery': ['collection', 'backup', 'app-container', 'app-health-url', 'no-export', 'stop-timeout'],
  'qdrant-schema': ['collection', 'size', 'distance', 'mode', 'vector-name', 'reembed-field', 'batch-size'],
  'qdrant-config': ['collection', 'target-json', 'reason', 'requested-by', 'approval-timeout', 'pre-approve'],
};

describe('scenario registry', () => {
  it('names each scenario and workflow type once, and each workflow type is a registered workflow', () => {
    assert.equal(new Set(SCENARIOS.map((s) => s.name)).size, SCENARIOS.length);
    assert.equal(new Set(SCENARIOS.map((s) => s.workflowType)).size, SCENARIOS.length);
    for (const s of SCENARIOS) assert.equal(typeof (workflows as Record<string, unknown>)[s.workflowType], 'function');
  });

  it('gives every input field a description and a flag of its own', () => {
    for (const s of SCENARIOS) {
      const fields = inputFields(s.input);
      assert.ok(fields.length > 0, s.name);
      for (const f of fields) assert.ok(f.description.length > 10, `${s.name}: ${f.path.join('.')} has a description`);
      const flags = fields.flatMap((f) => (f.kind === 'boolean' ? [f.flag, `no-${f.flag}`] : [f.flag]));
      assert.equal(new Set(flags).size, flags.length, `${s.name}: flags are unique`);
    }
  });

  it('has every rollback declare its run attributes and take searchAttributes, so the metrics count it', () => {
    const notRollbacks = SCENARIOS.filter((s) => s.runAttributes === null).map((s) => s.name);
    assert.deepEqual(notRollbacks.sort(), ['guard', 'qdrant-backup', 'verify']);
    for (const s of SCENARIOS.filter((x) => x.runAttributes !== null)) {
      assert.ok('searchAttributes' in shapeAt(s.input, []), `${s.name} takes searchAttributes (the CLI sets it)`);
    }
  });

  it("derives each rollback's service and target version from its own input (every rollback has a case here)", () => {
    const who = { reason: 'why', requestedBy: 'ann' };
    const health = 'http://127.0.0.1:3000/health';
    const cases: Record<string, [input: Record<string, unknown>, service: string, targetVersion: string]> = {
      'docker-container': [
        { containerName: 'cortex-mcp', targetImage: 'cortex-memory-mcp:v2.0.0', healthUrl: health },
        'cortex-mcp',
        'cortex-memory-mcp:v2.0.0',
      ],
      'system-service': [
        {
          unit: 'cortex-mcp.service',
          releaseRoot: '/srv/cortex',
          gitRemote: '/srv/git/cortex.git',
          targetTag: 'v2.0.0',
          healthUrl: health,
          host: 'app1',
        },
        'app1:cortex-mcp.service',
        'v2.0.0',
      ],
      kubernetes: [{ namespace: 'prod', deployment: 'cortex-mcp', targetRevision: 3 }, 'prod/cortex-mcp', 'revision 3'],
      'qdrant-data-recovery': [{ collection: 'mem', backup: 'b1' }, 'qdrant:mem', 'backup b1'],
      'qdrant-schema': [{ collection: 'mem', target: { size: 4 } }, 'qdrant:mem', 'vectors size 4'],
      'qdrant-point-in-time': [
        { collection: 'mem', atOrBefore: '2026-01-01T00:00:00Z' },
        'qdrant:mem',
        'as of 2026-01-01T00:00:00.000Z',
      ],
      'env-file': [
        {
          envFile: '/srv/cortex/.env',
          knownGoodFile: '/srv/cortex/.env.good',
          target: { kind: 'systemd', unit: 'cortex-mcp.service', healthUrl: health },
        },
        'systemd:cortex-mcp.service',
        '/srv/cortex/.env from /srv/cortex/.env.good',
      ],
      'qdrant-config': [
        { collection: 'mem', target: { hnsw_config: { m: 8 } } },
        'qdrant:mem',
        '{"hnsw_config":{"m":8}}',
      ],
      terraform: [
        {
          repo: '/srv/git/infra.git',
          directory: 'prod',
          commit: 'abc1234',
          previousCommit: 'def5678',
          stateFile: '/srv/tf/prod.tfstate',
          host: 'ops1',
        },
        '/srv/git/infra.git:prod',
        'abc1234',
      ],
      network: [
        { rulesFile: '/etc/iptables/rules.v4', netns: 'edge', healthUrls: [health] },
        'network:local/edge',
        '/etc/iptables/rules.v4',
      ],
      'docker-network': [
        {
          project: 'cortex',
          composeFile: '/srv/cortex/compose.yml',
          knownGoodFile: '/srv/cortex/compose.good.yml',
          healthUrls: [health],
        },
        'compose:cortex',
        '/srv/cortex/compose.good.yml',
      ],
      'emergency-data-corruption': [{ collection: 'mem' }, 'qdrant:mem', 'newest verified backup (at most 7 days old)'],
      'emergency-security-breach': [
        {
          app: { containerName: 'cortex-mcp', healthUrl: health, envFile: '/srv/cortex/.env' },
          secretKeys: ['OPENAI_API_KEY'],
          collection: 'mem',
        },
        'cortex-mcp',
        'isolated, 1 secret(s) rotated',
      ],
      'emergency-rollback': [
        { type: 'application', target: 'cortex-memory-mcp:v2.0.0', containerName: 'cortex-mcp', healthUrl: health },
        'application:cortex-mcp',
        'cortex-memory-mcp:v2.0.0',
      ],
      fleet: [
        {
          name: 'cortex-mcp',
          targetImage: 'cortex-memory-mcp:v2.0.0',
          targets: [{ host: 'app-01', container: 'cortex-mcp', healthUrl: health }],
        },
        'fleet:cortex-mcp',
        'cortex-memory-mcp:v2.0.0',
      ],
    };
    const rollbacks = SCENARIOS.filter((s) => s.runAttributes !== null);
    assert.deepEqual(rollbacks.map((s) => s.name).sort(), Object.keys(cases).sort());
    for (const s of rollbacks) {
      const [input, service, targetVersion] = cases[s.name]!;
      assert.deepEqual(runOf(s, parseInput(s.input, { ...input, ...who })), {
        service,
        targetVersion,
        trigger: 'why',
        requestedBy: 'ann',
      });
    }
    const docker = SCENARIOS.find((s) => s.name === 'docker-container')!;
    const guarded = {
      ...cases['docker-container']![0],
      ...who,
      trigger: { kind: 'error-rate', rule: 'error rate > 5%' },
    };
    assert.equal(runOf(docker, parseInput(docker.input, guarded))?.trigger, 'guard error-rate: error rate > 5%');
  });

  it('keeps every flag the old start kinds read', () => {
    for (const [kind, flags] of Object.entries(OLD_FLAGS)) {
      const s = kind === 'docker' ? 'docker-container' : kind === 'qdrant-verify' ? 'qdrant-backup' : kind;
      const scenario = SCENARIOS.find((x) => x.name === (s === 'qdrant-recovery' ? 'qdrant-data-recovery' : s))!;
      const have = inputFields(scenario.input).flatMap((f) =>
        f.kind === 'boolean' ? [f.flag, `no-${f.flag}`] : [f.flag],
      );
      for (const f of flags) assert.ok(have.includes(f), `start ${kind} still takes --${f}`);
    }
  });
});

describe('cortex-rollback start, from the registry', () => {
  it('builds the Docker input from the old flags, nested fields and formats included', () => {
    const r = startFromArgs([
      'docker',
      '--container',
      'web',
      '--image',
      'app:v1',
      '--health-url',
      'http://127.0.0.1:1/h',
      ...WHO,
      '--watch-seconds',
      '20',
      '--interval',
      '2',
      '--pre-approve',
      'ci:42:on-call-engineer',
      '--pull',
      '--host',
      'h1',
    ]);
    assert.equal(r.scenario.workflowType, 'dockerContainerRollback');
    assert.equal(r.workflowId, 'rollback-docker-h1-web');
    const { searchAttributes: _, ...input } = r.input;
    assert.deepEqual(input, {
      containerName: 'web',
      targetImage: 'app:v1',
      healthUrl: 'http://127.0.0.1:1/h',
      reason: 'r',
      requestedBy: 'w',
      monitor: { durationSeconds: 20, intervalSeconds: 2 },
      approval: { preApproved: { approver: 'ci:42', role: 'on-call-engineer' } },
      pull: true,
      host: 'h1',
    });
  });

  it('keeps the old names: qdrant-verify is a backup in verify mode, qdrant-recovery --at a point-in-time recovery', () => {
    const v = startFromArgs(['qdrant-verify', '--collection', 'mem']);
    assert.equal(v.scenario.workflowType, 'qdrantBackup');
    assert.deepEqual(v.input, { mode: 'verify', collection: 'mem' });
    assert.equal(v.workflowId, 'backup-qdrant-mem');
    const r = startFromArgs(['qdrant-recovery', '--collection', 'mem', '--backup', 'b1', '--no-export', ...WHO]);
    assert.equal(r.scenario.workflowType, 'qdrantDataRecovery');
    assert.deepEqual(r.input, {
      collection: 'mem',
      backup: 'b1',
      emergencyExport: false,
      reason: 'r',
      requestedBy: 'w',
      // every rollback asks for the Rollback* search attributes (the metrics count it)
      searchAttributes: process.env.CORTEX_SEARCH_ATTRIBUTES !== '0',
    });
    const p = startFromArgs(['qdrant-recovery', '--collection', 'mem', '--at', '2026-01-01T00:00:00Z', ...WHO]);
    assert.equal(p.scenario.workflowType, 'pointInTimeRecovery');
    assert.equal(p.workflowId, 'rollback-database-mem');
    const c = startFromArgs([
      'qdrant-config',
      '--collection',
      'mem',
      '--target-json',
      '{"hnsw_config":{"m":8}}',
      ...WHO,
    ]);
    assert.deepEqual(c.input.target, { hnsw_config: { m: 8 } });
  });

  it('refuses a flag of another scenario, a typo, a bad number and a missing required flag, naming the flag', () => {
    const refused = (args: string[], re: RegExp) =>
      assert.throws(
        () => startFromArgs(args),
        (e: Error) => re.test(e.message),
        args.join(' '),
      );
    refused(
      ['qdrant-backup', '--collection', 'm', '--image', 'a:b'],
      /--image does not apply to 'start qdrant-backup'/,
    );
    refused(['docker', '--contianer', 'x'], /unknown flag --contianer .*did you mean --container/);
    refused(['qdrant-schema', '--collection', 'm', '--size', '1.5', ...WHO], /--size must be a whole number/);
    refused(['qdrant-schema', '--collection', 'm', ...WHO], /--size is required/);
    refused(['qdrant-config', '--collection', 'm', '--target-json', '{x', ...WHO], /--target-json is not JSON/);
    refused(['nope'], /unknown scenario 'nope'/);
    assert.throws(
      () => startFromArgs(['qdrant-schema', '--collection', 'm', '--size', '4', '--distance', 'cosine', ...WHO]),
      (e: unknown) => e instanceof InputError && e.field === 'target.distance',
    );
  });

  it('help names the runbook place and every flag with its default; usage names every scenario', () => {
    for (const s of SCENARIOS) {
      const help = scenarioHelp(s);
      assert.ok(help.includes(s.runbook), s.name);
      for (const f of inputFields(s.input)) assert.ok(help.includes(`--${f.flag}`), `${s.name} help: --${f.flag}`);
      assert.ok(usage().includes(`start ${s.name} `), s.name);
    }
    assert.match(scenarioHelp(SCENARIOS[0]!), /--stop-timeout S +default 10 /);
  });
});

describe('docs/scenarios.md input tables (scripts/input-docs.ts)', () => {
  it('has a table row for every flag of every scenario', () => {
    const md = inputTables();
    for (const s of SCENARIOS) {
      assert.ok(md.includes(`\`${s.name}\``), s.name);
      for (const f of inputFields(s.input)) assert.ok(md.includes(`\`--${f.flag}`), `${s.name}: --${f.flag}`);
    }
  });

  it('docs/scenarios.md holds the current tables between its inputs:begin/inputs:end markers', () => {
    const doc = readFileSync(INPUTS_DOC, 'utf8');
    assert.ok(doc.includes(BEGIN) && doc.includes(END), `docs/scenarios.md lost its ${BEGIN} ... ${END} markers`);
    assert.equal(
      updatedInputsDoc(doc),
      doc,
      'docs/scenarios.md input tables are stale: run node --import tsx scripts/input-docs.ts --write',
    );
  });
});
