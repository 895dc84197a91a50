// EbsGens in a CDK app of your own: `new EbsGens(stack, 'Snapshots', { deployment, …, code })` with
// prebuilt functions synthesizes cdk-nag clean, deploys what the app's stack deploys, and two
// deployments fit in one stack side by side (one deployment twice is refused, saying why).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RustFunction } from 'cargo-lambda-cdk';
import { buildApp } from '../bin/app';
import { EbsGens, type EbsGensProps, EbsGensStack, FUNCTION_NAMES, codeFromDirectory } from '../lib/ebs-gens-stack';
import { contractEntry } from '../lib/functions';

/** A directory as `cargo lambda build --release --arm64` leaves it: `<binary>/bootstrap`, one as `<binary>.zip`. */
const prebuilt = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'ebs-gens-lambda-'));
  for (const [i, name] of FUNCTION_NAMES.entries()) {
    const binary = contractEntry(name).name;
    if (i === 0) {
      writeFileSync(join(dir, `${binary}.zip`), `not really a zip: ${binary}`);
    } else {
      mkdirSync(join(dir, binary));
      writeFileSync(join(dir, binary, 'bootstrap'), `#!/bin/sh\n# ${binary}\n`, { mode: 0o755 });
    }
  }
  return dir;
})();

/** A user's app: cdk-nag's AwsSolutions pack, no bundling context (prebuilt code needs none). */
const userApp = (build: (stack: Stack) => void) => {
  const app = new App();
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'Mine');
  build(stack);
  const assembly = app.synth(); // throws when cdk-nag reports an unacknowledged finding
  const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'));
  return { stack, template: Template.fromStack(stack), nag: report.pluginReports.find((p: any) => p.pluginName === 'AwsSolutions') };
};
const props = (deployment: string): EbsGensProps => ({ deployment, alarmEmail: 'ops@example.com', code: codeFromDirectory(prebuilt) });
const typesOf = (t: Template) =>
  Object.values(t.toJSON().Resources as Record<string, any>)
    .map((r) => r.Type)
    .sort();
const ofType = (t: Template, type: string): [string, any][] => Object.entries(t.findResources(type));

let gens!: EbsGens;
const one = userApp((stack) => {
  gens = new EbsGens(stack, 'Snapshots', props('x'));
});

test('in a stack of your own, with prebuilt code: cdk-nag clean, the functions from the given assets', () => {
  assert.equal(one.nag.conclusion, 'success');
  assert.deepEqual(one.nag.violations, []);
  for (const name of FUNCTION_NAMES) {
    assert.ok(!(gens.functions[name] instanceof RustFunction), `${name} is not built from the workspace`);
  }
  const fns = ofType(one.template, 'AWS::Lambda::Function').map(([, r]) => r.Properties);
  assert.equal(fns.length, FUNCTION_NAMES.length);
  for (const p of fns) {
    assert.deepEqual([p.Handler, p.Runtime, p.Architectures], ['bootstrap', 'provided.al2023', ['arm64']], p.Description);
  }
  // Plain CDK logical IDs under the construct's path (only the app's stack keeps its historical ones),
  // and no stack outputs: those are the app's (EbsGensStack) or yours to add.
  assert.ok(ofType(one.template, 'AWS::Scheduler::ScheduleGroup')[0][0].startsWith('SnapshotsBackendScheduleGroup'));
  assert.deepEqual(one.template.findOutputs('*'), {});
  assert.equal(gens.scheduleGroupName, 'ebs-gens-x');
  assert.equal(gens.deployment, 'x');
});

test("it deploys what the app's stack deploys with the same settings: the same resources", () => {
  const app = buildApp({ deployment: 'x', alarmEmail: 'ops@example.com' }, true);
  const stack = app.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack;
  app.synth();
  const theApps = Template.fromStack(stack);
  assert.deepEqual(typesOf(one.template), typesOf(theApps));
  // The same fixed names, and the same policies (the statements do not depend on the construct's path).
  for (const [type, key] of [
    ['AWS::Scheduler::ScheduleGroup', 'Name'],
    ['AWS::Logs::LogGroup', 'LogGroupName'],
    ['AWS::CloudWatch::Dashboard', 'DashboardName'],
    ['AWS::SSM::Parameter', 'Name'],
  ]) {
    const names = (t: Template) =>
      ofType(t, type)
        .map(([, r]) => r.Properties[key])
        .filter(Boolean)
        .sort();
    assert.deepEqual(names(one.template), names(theApps), type);
  }
  const actions = (t: Template) =>
    ofType(t, 'AWS::IAM::Policy')
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
      .map((s: any) => `${s.Effect} ${([] as string[]).concat(s.Action).join(',')} ${s.Sid ?? ''}`)
      .sort();
  assert.deepEqual(actions(one.template), actions(theApps));
});

test('two deployments in one stack: no collision in logical IDs or fixed names, each scoped to its own', () => {
  const two = userApp((stack) => {
    new EbsGens(stack, 'Prod', props('prod'));
    new EbsGens(stack, 'Test', props('test'));
  });
  assert.equal(two.nag.conclusion, 'success');
  assert.deepEqual(two.nag.violations, []);
  // Twice the resources of one.
  assert.deepEqual(typesOf(two.template), [...typesOf(one.template), ...typesOf(one.template)].sort());
  for (const [type, key] of [
    ['AWS::Scheduler::ScheduleGroup', 'Name'],
    ['AWS::Logs::LogGroup', 'LogGroupName'],
    ['AWS::CloudWatch::Dashboard', 'DashboardName'],
    ['AWS::SSM::Parameter', 'Name'],
  ]) {
    const names = ofType(two.template, type)
      .map(([, r]) => r.Properties[key])
      .filter(Boolean);
    assert.equal(new Set(names).size, names.length, `${type}: ${names.join(', ')}`);
  }
  assert.deepEqual(
    ofType(two.template, 'AWS::Scheduler::ScheduleGroup')
      .map(([, r]) => r.Properties.Name)
      .sort(),
    ['ebs-gens-prod', 'ebs-gens-test'],
  );
  // Each deployment's prune-volumes may delete only its own deployment's snapshots.
  const deleters = ofType(two.template, 'AWS::IAM::Policy')
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
    .filter((s: any) => s.Effect === 'Allow' && ([] as string[]).concat(s.Action).includes('ec2:DeleteSnapshot'))
    .map((s: any) => s.Condition.StringEquals['aws:ResourceTag/ebs-gens:managed-by'])
    .sort();
  assert.deepEqual(deleters, ['prod', 'test']);
});

test('one deployment twice in one stack is refused, saying why; a missing prebuilt function too', () => {
  const app = new App();
  const stack = new Stack(app, 'Mine');
  new EbsGens(stack, 'A', props('prod'));
  assert.throws(
    () => new EbsGens(stack, 'B', props('prod')),
    /^Error: deployment "prod" is already in this stack \(Mine\/A\): two EbsGens in one stack need different deployments, which name their schedule group, log groups, dashboard and configuration parameter/,
  );
  // Settings are validated as the app's are.
  assert.throws(
    () => new EbsGens(stack, 'C', { ...props('has space') }),
    /^Error: context setting deployment must be text matching \^\[A-Za-z0-9\._-\]\{1,32\}\$ \(.*\), got "has space"$/,
  );
  assert.throws(
    () => new EbsGens(stack, 'D', { ...props('d'), backend: 'Rules' as never }),
    /context setting backend must be scheduler or rules/,
  );
  const empty = mkdtempSync(join(tmpdir(), 'ebs-gens-empty-'));
  const first = contractEntry(FUNCTION_NAMES[0]).name;
  assert.throws(() => codeFromDirectory(empty), new RegExp(`no prebuilt ${first} in .*: expected ${first}\\.zip or ${first}/bootstrap`));
});

test('code for some functions only: the others are built from the workspace (cargo-lambda)', () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Mine');
  const [given, ...built] = FUNCTION_NAMES;
  const g = new EbsGens(stack, 'Snapshots', { deployment: 'x', code: { [given]: codeFromDirectory(prebuilt)[given] } });
  assert.ok(!(g.functions[given] instanceof RustFunction), given);
  for (const name of built) assert.ok(g.functions[name] instanceof RustFunction, name);
});

test('in a stack of your own, the logical IDs are kept across releases too (test/identity-construct.json)', () => {
  // The construct ids of EbsGens and its parts make these logical IDs: renaming one would replace
  // resources in every stack that holds an EbsGens. EBS_GENS_UPDATE_IDENTITY=1 rewrites the file, for
  // a change whose upgrade notes say what it replaces (as test/identity.json for the app's stack).
  const path = join(__dirname, 'identity-construct.json');
  const got = Object.fromEntries(
    Object.entries(one.template.toJSON().Resources as Record<string, any>)
      .map(([id, r]) => [id, r.Type])
      .sort(),
  );
  if (process.env.EBS_GENS_UPDATE_IDENTITY === '1') writeFileSync(path, `${JSON.stringify(got, null, 2)}\n`);
  const want = JSON.parse(readFileSync(path, 'utf8'));
  const gone = Object.keys(want).filter((id) => got[id] !== want[id]);
  assert.deepEqual(
    gone,
    [],
    `these resources of EbsGens(stack, 'Snapshots', …) would be REPLACED in a stack of your own: ${gone.join(', ')}; ` +
      'keep their construct ids (or overrideLogicalId), or add an upgrade note; then EBS_GENS_UPDATE_IDENTITY=1',
  );
  assert.deepEqual(
    Object.keys(got).filter((id) => !(id in want)),
    [],
    'new resources: regenerate with EBS_GENS_UPDATE_IDENTITY=1',
  );
});
