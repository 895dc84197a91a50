// The deployment's configuration, published for the operator's command (`ebs-gens --deployment`):
// one SSM String parameter /ebs-gens/<deployment>/config whose JSON carries every EBS_GENS_* variable
// the functions run with, exactly as given, and both state machines' ARNs. The CLI builds its
// settings from it alone, so it must say exactly what the functions say; no function reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Aws } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../bin/app';
import { CONFIG_SCHEMA, configParameterName } from '../lib/config';
import { EbsGensStack, MAX_CONFIG_BYTES, checkConfigSize, deploymentConfig } from '../lib/ebs-gens-stack';

function synth(context: Record<string, unknown> = {}) {
  const app = buildApp({ deployment: 'prod', ...context }, true);
  const stack = app.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack;
  app.synth(); // throws when cdk-nag reports an unacknowledged finding
  return Template.fromStack(stack);
}

const scheduler = synth();
const rules = synth({
  backend: 'rules',
  timeZone: 'Asia/Tokyo',
  'tagKey.daily': 'Backup_Daily',
  'cron.daily': 'cron(0 18 * * ? *)',
  orphans: 'keep-last=3,older-than=90',
});

const resources = (t: Template, type: string): [string, any][] => Object.entries(t.findResources(type));
/** The one parameter: its logical id and properties. */
const parameter = (t: Template): [string, any] => {
  const found = resources(t, 'AWS::SSM::Parameter');
  assert.equal(found.length, 1);
  return [found[0][0], found[0][1].Properties];
};
/**
 * The parameter's value as JSON, its CloudFormation intrinsics (Ref, Fn::GetAtt) put back where they
 * stand: the template holds it as an Fn::Join of JSON text around them.
 */
const configOf = (t: Template): any => {
  const value = parameter(t)[1].Value;
  if (typeof value === 'string') return JSON.parse(value);
  const [sep, parts] = value['Fn::Join'];
  assert.equal(sep, '');
  const intrinsics: unknown[] = [];
  const text = parts.map((p: unknown) => (typeof p === 'string' ? p : `@@${intrinsics.push(p) - 1}@@`)).join('');
  return JSON.parse(text, (_k, v) => {
    if (typeof v !== 'string') return v;
    const m = /^@@(\d+)@@$/.exec(v);
    if (m) return intrinsics[Number(m[1])];
    assert.doesNotMatch(v, /@@\d+@@/, 'an intrinsic inside a longer string');
    return v;
  });
};
/** Every EBS_GENS_* variable some function is given, each with the one value every function that has it gets. */
const functionsEnvironment = (t: Template): Record<string, unknown> => {
  const all: Record<string, unknown> = {};
  for (const [, fn] of resources(t, 'AWS::Lambda::Function')) {
    for (const [k, v] of Object.entries(fn.Properties.Environment.Variables as Record<string, unknown>)) {
      if (k in all) assert.deepEqual(v, all[k], `${k} differs between functions`);
      all[k] = v;
    }
  }
  return all;
};
const logicalId = (t: Template, type: string, prefix: string): string => {
  const ids = resources(t, type)
    .map(([id]) => id)
    .filter((id) => id.startsWith(prefix));
  assert.equal(ids.length, 1, `${prefix}: ${ids.join(', ')}`);
  return ids[0];
};

test('one String parameter /ebs-gens/<deployment>/config, Standard tier, and its name as an output', () => {
  for (const t of [scheduler, rules]) {
    const [id, p] = parameter(t);
    assert.equal(p.Name, '/ebs-gens/prod/config');
    assert.equal(p.Name, configParameterName('prod'));
    assert.equal(p.Type, 'String');
    assert.equal(p.Tier, 'Standard');
    assert.deepEqual(t.findOutputs('ConfigParameterName').ConfigParameterName.Value, { Ref: id });
  }
});

test("its value: schema 1, the deployment, region and account, and the three state machines' ARNs", () => {
  for (const t of [scheduler, rules]) {
    const c = configOf(t);
    assert.deepEqual(Object.keys(c), ['schema', 'deployment', 'region', 'account_id', 'environment', 'state_machines']);
    assert.equal(c.schema, 1);
    assert.equal(CONFIG_SCHEMA, 1);
    assert.equal(c.deployment, 'prod');
    assert.deepEqual(c.region, { Ref: 'AWS::Region' });
    assert.deepEqual(c.account_id, { Ref: 'AWS::AccountId' });
    assert.deepEqual(c.state_machines, {
      sweep: { Ref: logicalId(t, 'AWS::StepFunctions::StateMachine', 'Sweep') },
      snapshot_completed: { Ref: logicalId(t, 'AWS::StepFunctions::StateMachine', 'SnapshotCompleted') },
      restore_drill: { Ref: logicalId(t, 'AWS::StepFunctions::StateMachine', 'RestoreDrill') },
    });
  }
});

test('its environment is every EBS_GENS_* variable the functions are given, exactly as given', () => {
  for (const t of [scheduler, rules]) {
    const env = configOf(t).environment;
    assert.deepEqual(env, functionsEnvironment(t));
    for (const k of Object.keys(env)) assert.match(k, /^EBS_GENS_[A-Z_]+$/);
    // ensure-schedules' roles and queue are in it too: an in-process sweep on the emulator reconciles with them.
    assert.deepEqual(env.EBS_GENS_SCHEDULER_ROLE_ARN, { 'Fn::GetAtt': [logicalId(t, 'AWS::IAM::Role', 'SchedulerRole'), 'Arn'] });
    assert.deepEqual(env.EBS_GENS_SCHEDULE_DLQ_ARN, { 'Fn::GetAtt': [logicalId(t, 'AWS::SQS::Queue', 'ScheduleDeadLetterQueue'), 'Arn'] });
    assert.deepEqual(env.EBS_GENS_ACCOUNT_ID, { Ref: 'AWS::AccountId' });
  }
  const s = configOf(scheduler).environment;
  assert.equal(s.EBS_GENS_SNAPSHOT_ROLE_ARN, undefined, 'no built-in-target role on the scheduler backend');
  assert.deepEqual([s.EBS_GENS_BACKEND, s.EBS_GENS_ADOPTION, s.EBS_GENS_TIME_ZONE], ['scheduler', 'never', 'UTC']);
  const r = configOf(rules).environment;
  assert.deepEqual(r.EBS_GENS_SNAPSHOT_ROLE_ARN, { 'Fn::GetAtt': [logicalId(rules, 'AWS::IAM::Role', 'SnapshotRole'), 'Arn'] });
  assert.deepEqual(
    [r.EBS_GENS_BACKEND, r.EBS_GENS_ADOPTION, r.EBS_GENS_TIME_ZONE, r.EBS_GENS_TAG_KEY_DAILY, r.EBS_GENS_CRON_DAILY, r.EBS_GENS_ORPHANS],
    ['rules', 'schedule-window', 'Asia/Tokyo', 'Backup_Daily', 'cron(0 18 * * ? *)', 'keep-last=3,older-than=90'],
  );
});

test("no function may read it (or any parameter): the CLI alone reads it, with the operator's credentials", () => {
  for (const t of [scheduler, rules]) {
    const statements = resources(t, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    for (const s of statements) for (const a of [].concat(s.Action)) assert.doesNotMatch(a as string, /^ssm:/i);
  }
});

test('it fits a Standard parameter (4 KB) with every token at its longest; a configuration that could not stops the synth', () => {
  // The largest settings a deployment can give: a 32-character name, 128-character tag keys, long crons.
  const long = (c: string) => `${c}_${'G'.repeat(126)}`;
  const app = buildApp(
    {
      deployment: 'a'.repeat(32),
      backend: 'rules',
      timeZone: 'America/Argentina/ComodRivadavia',
      orphans: 'keep-last=1000,older-than=36500',
      'tagKey.hourly': long('H'),
      'tagKey.daily': long('D'),
      'tagKey.weekly': long('W'),
      'tagKey.monthly': long('M'),
      'cron.hourly': 'cron(0,5,10,15,20,25,30,35,40,45,50,55 * * * ? *)',
      'cron.daily': 'cron(0 0,2,4,6,8,10,12,14,16,18,20,22 ? * MON-FRI *)',
      'cron.weekly': 'cron(0 18 ? * SUN,MON,TUE,WED,THU,FRI,SAT *)',
      'cron.monthly': 'cron(0 18 1,8,15,22 JAN,FEB,MAR,APR,MAY,JUN,JUL,AUG,SEP,OCT,NOV,DEC ? *)',
    },
    true,
  );
  assert.doesNotThrow(() => app.synth());
  // Counted directly: each token at its longest (150 characters).
  const bytes = checkConfigSize(
    deploymentConfig('prod', { EBS_GENS_ACCOUNT_ID: Aws.ACCOUNT_ID }, { sweep: Aws.REGION, snapshot_completed: 'x', restore_drill: 'y' }),
  );
  const literal = JSON.stringify({
    schema: 1,
    deployment: 'prod',
    region: '',
    account_id: '',
    environment: { EBS_GENS_ACCOUNT_ID: '' },
    state_machines: { sweep: '', snapshot_completed: 'x', restore_drill: 'y' },
  });
  assert.equal(bytes, literal.length + 4 * 150);
  const huge = deploymentConfig(
    'prod',
    { EBS_GENS_TAG_KEY_DAILY: 'x'.repeat(MAX_CONFIG_BYTES) },
    { sweep: 'a', snapshot_completed: 'b', restore_drill: 'c' },
  );
  assert.throws(
    () => checkConfigSize(huge),
    /^Error: the published configuration \/ebs-gens\/prod\/config could be \d+ bytes, over the 4096 a Standard SSM parameter holds/,
  );
});

test('the local stack publishes the same shape under the same name (local/stack.mjs), for the CLI on the emulator', async () => {
  const path = resolve(__dirname, '../../local/stack.mjs');
  const local = await import(pathToFileURL(path).href);
  assert.equal(local.configParameterName('demo'), configParameterName('demo'));
  const vars = local.lambdaEnv('http://127.0.0.1:1', { EBS_GENS_BACKEND: 'rules' });
  const c = local.deploymentConfig(vars);
  const cdk = configOf(scheduler);
  assert.deepEqual(Object.keys(c), Object.keys(cdk));
  assert.deepEqual(Object.keys(c.state_machines), Object.keys(cdk.state_machines));
  assert.equal(c.schema, CONFIG_SCHEMA);
  assert.deepEqual([c.deployment, c.region, c.account_id], [vars.EBS_GENS_DEPLOYMENT, vars.AWS_REGION, vars.EBS_GENS_ACCOUNT_ID]);
  // Every EBS_GENS_* variable the local functions get, exactly as given, and nothing else (no AWS_*).
  assert.deepEqual(c.environment, Object.fromEntries(Object.entries(vars).filter(([k]) => k.startsWith('EBS_GENS_'))));
  assert.equal(c.environment.EBS_GENS_BACKEND, 'rules');
  assert.match(c.state_machines.sweep, /^arn:aws:states:us-east-1:\d{12}:stateMachine:ebs-gens-demo-sweep$/);
});
