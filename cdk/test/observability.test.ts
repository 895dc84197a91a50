// The state machines' observability as context settings: `stateMachineLogLevel` (ALL | ERROR | FATAL,
// default ERROR, always with execution data) and `tracing` (true | false, default false). Most of the
// deployment's cost was the ALL-with-data execution log and X-Ray (`make cost`), so both are opt-in;
// cdk-nag's AwsSolutions-SF1 (level ALL) and SF2 (X-Ray) are acknowledged, per state machine and with
// the reason, exactly when they are off — and a bad value stops the synth naming the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../bin/app';
import { DEFAULT_STATE_MACHINE_LOG_LEVEL, DEFAULT_TRACING, type EbsGensSettings, STATE_MACHINE_LOG_LEVELS } from '../lib/config';
import { EbsGensStack } from '../lib/ebs-gens-stack';

const MACHINES = ['SnapshotCompleted', 'Sweep', 'RestoreDrill'] as const;
const SF1_REASON = /^cost: level (ERROR|FATAL) with execution data by default .*-c stateMachineLogLevel=ALL for full history$/;
const SF2_REASON = /^cost: .*tracing opt-in with -c tracing=true$/;

const build = (context: Record<string, unknown>) => {
  const app = buildApp({ deployment: 'prod', ...context }, true);
  return { app, stack: app.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack };
};
/** Full synth, cdk-nag included (it throws on an unacknowledged finding): template and nag report. */
const synth = (context: Record<string, unknown> = {}) => {
  const { app, stack } = build(context);
  const assembly = app.synth();
  const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'));
  const nag = report.pluginReports.find((p: any) => p.pluginName === 'AwsSolutions');
  return { template: Template.fromStack(stack), nag };
};
/** Each state machine's properties, by construct id. */
const machines = (t: Template): Record<(typeof MACHINES)[number], any> => {
  const all = Object.entries(t.findResources('AWS::StepFunctions::StateMachine'));
  assert.equal(all.length, MACHINES.length);
  return Object.fromEntries(
    MACHINES.map((m) => {
      const found = all.filter(([id]) => id.startsWith(m));
      assert.equal(found.length, 1, m);
      return [m, (found[0][1] as any).Properties];
    }),
  ) as Record<(typeof MACHINES)[number], any>;
};
/** The SF1 / SF2 acknowledgements in a nag report: rule → the constructs it was acknowledged on. */
const sfAcks = (nag: any): Record<string, string[]> => {
  const out: Record<string, string[]> = {};
  for (const v of nag.suppressedViolations.filter((x: any) => /^AwsSolutions-SF[12]$/.test(x.ruleName))) {
    assert.match(v.reason, v.ruleName === 'AwsSolutions-SF1' ? SF1_REASON : SF2_REASON, v.ruleName);
    const constructs = out[v.ruleName] ?? [];
    out[v.ruleName] = constructs;
    for (const c of v.violatingConstructs) constructs.push(c.constructPath);
  }
  for (const k of Object.keys(out)) out[k].sort();
  return out;
};
const BOTH = [
  'EbsGens-prod/Snapshots/Orchestration/RestoreDrill/Resource',
  'EbsGens-prod/Snapshots/Orchestration/SnapshotCompleted/Resource',
  'EbsGens-prod/Snapshots/Orchestration/Sweep/Resource',
];
/** X-Ray actions anywhere in the template's IAM policies. */
const xrayActions = (t: Template): string[] =>
  Object.values(t.findResources('AWS::IAM::Policy'))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement)
    .flatMap((st: any) => [].concat(st.Action))
    .filter((a: string) => a.startsWith('xray:'));
const clean = (nag: any) => {
  assert.equal(nag.conclusion, 'success');
  assert.deepEqual(nag.violations, []);
};

const defaults = synth();

test('defaults: both state machines log ERROR with execution data to their log group, and are not traced', () => {
  assert.equal(DEFAULT_STATE_MACHINE_LOG_LEVEL, 'ERROR');
  assert.equal(DEFAULT_TRACING, false);
  for (const [m, p] of Object.entries(machines(defaults.template))) {
    assert.equal(p.LoggingConfiguration.Level, 'ERROR', m);
    assert.equal(p.LoggingConfiguration.IncludeExecutionData, true, m);
    assert.equal(p.LoggingConfiguration.Destinations.length, 1, `${m}: a log destination, always`);
    assert.deepEqual(p.TracingConfiguration, { Enabled: false }, m);
  }
  // Untraced: the state machines' roles get no X-Ray permission either, and no function is traced.
  assert.deepEqual(xrayActions(defaults.template), []);
  for (const f of Object.values(defaults.template.findResources('AWS::Lambda::Function'))) {
    assert.equal((f as any).Properties.TracingConfig, undefined);
  }
});

test('defaults: cdk-nag is clean; SF1 and SF2 are acknowledged on the two state machines only, with the cost reason', () => {
  clean(defaults.nag);
  assert.deepEqual(sfAcks(defaults.nag), { 'AwsSolutions-SF1': BOTH, 'AwsSolutions-SF2': BOTH });
  const sf = defaults.nag.suppressedViolations.filter((v: any) => /^AwsSolutions-SF[12]$/.test(v.ruleName));
  for (const v of sf)
    assert.match(
      v.acknowledgedAt,
      /^EbsGens-prod\/Snapshots\/Orchestration\/(SnapshotCompleted|Sweep|RestoreDrill)$/,
      'acknowledged on the state machine, not the stack',
    );
  const sf1 = sf.find((v: any) => v.ruleName === 'AwsSolutions-SF1');
  assert.match(sf1.reason, /^cost: level ERROR with execution data by default/);
});

test("stateMachineLogLevel sets both machines' level, execution data kept; SF1 is acknowledged only below ALL", () => {
  for (const level of STATE_MACHINE_LOG_LEVELS) {
    const { template, nag } = synth({ stateMachineLogLevel: level });
    for (const [m, p] of Object.entries(machines(template))) {
      assert.equal(p.LoggingConfiguration.Level, level, `${level}: ${m}`);
      assert.equal(p.LoggingConfiguration.IncludeExecutionData, true, `${level}: ${m}`);
      assert.deepEqual(p.TracingConfiguration, { Enabled: false }, `${level}: ${m} (tracing is its own setting)`);
    }
    clean(nag);
    const acks = sfAcks(nag);
    assert.deepEqual(acks['AwsSolutions-SF1'], level === 'ALL' ? undefined : BOTH, level);
    assert.deepEqual(acks['AwsSolutions-SF2'], BOTH, level);
    if (level === 'FATAL') {
      assert.ok(nag.suppressedViolations.some((v: any) => v.ruleName === 'AwsSolutions-SF1' && /level FATAL/.test(v.reason)));
    }
  }
});

test('tracing=true traces both machines (and grants their roles X-Ray); SF2 is no longer acknowledged', () => {
  for (const on of [true, 'true']) {
    const { template, nag } = synth({ tracing: on });
    for (const [m, p] of Object.entries(machines(template))) {
      assert.deepEqual(p.TracingConfiguration, { Enabled: true }, `${JSON.stringify(on)}: ${m}`);
      assert.equal(p.LoggingConfiguration.Level, 'ERROR', `${JSON.stringify(on)}: ${m} (the level is its own setting)`);
    }
    assert.ok(xrayActions(template).includes('xray:PutTraceSegments'));
    clean(nag);
    assert.deepEqual(sfAcks(nag), { 'AwsSolutions-SF1': BOTH });
  }
  for (const off of [false, 'false']) {
    const { template } = synth({ tracing: off });
    assert.deepEqual(template.toJSON(), defaults.template.toJSON(), `tracing=${JSON.stringify(off)} is the default`);
  }
});

test('ALL and tracing together: what was deployed before, and cdk-nag needs no SF acknowledgement at all', () => {
  const { template, nag } = synth({ stateMachineLogLevel: 'ALL', tracing: 'true' });
  for (const [m, p] of Object.entries(machines(template))) {
    assert.equal(p.LoggingConfiguration.Level, 'ALL', m);
    assert.equal(p.LoggingConfiguration.IncludeExecutionData, true, m);
    assert.deepEqual(p.TracingConfiguration, { Enabled: true }, m);
  }
  clean(nag);
  assert.deepEqual(sfAcks(nag), {});
});

test("only the state machines change: the functions, their environment and every other resource are the defaults'", () => {
  const { template } = synth({ stateMachineLogLevel: 'ALL', tracing: 'true' });
  const a = template.toJSON().Resources;
  const d = defaults.template.toJSON().Resources;
  assert.deepEqual(Object.keys(a).sort(), Object.keys(d).sort());
  const changed = Object.keys(a)
    .filter((id) => JSON.stringify(a[id]) !== JSON.stringify(d[id]))
    .map((id) => a[id].Type)
    .sort();
  // The three state machines, and their roles' default policies (X-Ray's actions).
  assert.deepEqual(changed, [
    'AWS::IAM::Policy',
    'AWS::IAM::Policy',
    'AWS::IAM::Policy',
    'AWS::StepFunctions::StateMachine',
    'AWS::StepFunctions::StateMachine',
    'AWS::StepFunctions::StateMachine',
  ]);
});

test('a bad value stops the synth, naming the key and the value', () => {
  const bad: Record<string, unknown[]> = {
    stateMachineLogLevel: [
      'OFF',
      'off',
      'all',
      'All',
      'error',
      'Error',
      'fatal',
      'INFO',
      'DEBUG',
      'NONE',
      '',
      ' ALL',
      'ALL ',
      'ERROR,FATAL',
      null,
      true,
      0,
      ['ALL'],
    ],
    tracing: ['True', 'TRUE', 'False', '1', '0', 'yes', 'no', 'on', 'off', '', ' true', null, 1, 0],
  };
  const form: Record<string, RegExp> = {
    stateMachineLogLevel:
      /^context setting stateMachineLogLevel must be ALL, ERROR or FATAL \(.*always with execution data.*; default ERROR; OFF is not offered: .*\), got /,
    tracing: /^context setting tracing must be true or false \(.*; default false\), got /,
  };
  for (const [key, values] of Object.entries(bad)) {
    for (const b of values) {
      assert.throws(
        () => build({ [key]: b }),
        (e: Error) => form[key].test(e.message) && e.message.endsWith(`got ${JSON.stringify(b)}`),
        `${key}=${JSON.stringify(b)}`,
      );
    }
  }
});

test('settings given to the stack directly (not through context) are validated the same way', () => {
  // No bundling (the Rust functions are not built in these tests).
  const stack = (s: Partial<EbsGensSettings>) => () =>
    new EbsGensStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S', { settings: { deployment: 'prod', ...s } });
  assert.throws(stack({ stateMachineLogLevel: 'OFF' as never }), /context setting stateMachineLogLevel must be ALL, ERROR or FATAL/);
  assert.throws(stack({ stateMachineLogLevel: 'all' as never }), /stateMachineLogLevel/);
  assert.throws(stack({ tracing: 'yes' as never }), /context setting tracing must be true or false/);
  for (const level of STATE_MACHINE_LOG_LEVELS) assert.doesNotThrow(stack({ stateMachineLogLevel: level, tracing: true }), level);
});
