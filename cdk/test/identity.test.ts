// Existing deployments update in place. CloudFormation replaces a resource whose logical ID changes
// (the old one deleted, a new one created) and one whose fixed name changes (created first: a fixed
// name then fails with "already exists" and the update rolls back). For this stack that would lose
// the log groups' history (deleted with their resource), re-create every schedule (a new scheduler
// role ARN changes every schedule's hash) and break the CLI's and scripts' view of the stack. So the
// synthesized logical IDs, resource types, fixed physical names and output names are compared with
// test/identity.json, generated once from the deployed shape: a refactor must keep it passing
// unchanged. EBS_GENS_UPDATE_IDENTITY=1 rewrites it — only for a change that says in the upgrade
// notes what it replaces and what that costs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../bin/app';
import { EbsGensStack } from '../lib/ebs-gens-stack';

const IDENTITY_PATH = join(__dirname, 'identity.json');
const UPDATE = process.env.EBS_GENS_UPDATE_IDENTITY === '1';

/** The configurations whose resources differ: the default, the alarm topic (alarmEmail), the rules backend. */
const VARIANTS: Record<string, Record<string, unknown>> = {
  'scheduler (default)': {},
  'scheduler, alarmEmail': { alarmEmail: 'ops@example.com' },
  rules: { backend: 'rules' },
};

/**
 * The properties that name a resource itself, per type (a change replaces it, or fails on a name
 * taken). Every type in the template must be listed, with [] when it has none set, so a new type
 * forces a decision. Those CloudFormation generates (a role's, a function's...) derive from the
 * logical ID and are covered by it.
 */
const NAME_PROPERTIES: Record<string, readonly string[]> = {
  'AWS::CloudWatch::Alarm': ['AlarmName'],
  'AWS::CloudWatch::Dashboard': ['DashboardName'],
  'AWS::Events::Rule': ['Name', 'EventBusName'],
  'AWS::IAM::Policy': ['PolicyName'],
  'AWS::IAM::Role': ['RoleName', 'Path'],
  'AWS::KMS::Key': [],
  'AWS::KMS::Alias': ['AliasName'],
  'AWS::Lambda::Function': ['FunctionName'],
  'AWS::Logs::LogGroup': ['LogGroupName'],
  'AWS::Scheduler::Schedule': ['Name', 'GroupName'],
  'AWS::Scheduler::ScheduleGroup': ['Name'],
  'AWS::SNS::Subscription': [],
  'AWS::SNS::Topic': ['TopicName'],
  'AWS::SNS::TopicPolicy': [],
  'AWS::SQS::Queue': ['QueueName'],
  'AWS::SQS::QueuePolicy': [],
  'AWS::SSM::Parameter': ['Name'],
  'AWS::StepFunctions::StateMachine': ['StateMachineName'],
};

interface Identity {
  readonly stack: string;
  /** Logical ID → type and fixed names (a name that is not a plain string as its JSON). */
  readonly resources: Record<string, { readonly type: string; readonly names?: Record<string, string> }>;
  readonly outputs: readonly string[];
}

function identityOf(context: Record<string, unknown>): Identity {
  const app = buildApp({ deployment: 'prod', ...context }, true);
  const stack = app.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack;
  app.synth(); // throws when cdk-nag reports an unacknowledged finding
  const t = Template.fromStack(stack).toJSON();
  const resources: Record<string, Identity['resources'][string]> = {};
  for (const id of Object.keys(t.Resources).sort()) {
    const r = t.Resources[id];
    const props = NAME_PROPERTIES[r.Type];
    assert.ok(props, `${id}: resource type ${r.Type} is not in identity.test.ts NAME_PROPERTIES (list the properties that name it, or [])`);
    const names = Object.fromEntries(
      props
        .filter((p) => r.Properties?.[p] !== undefined)
        .map((p) => [p, typeof r.Properties[p] === 'string' ? r.Properties[p] : JSON.stringify(r.Properties[p])]),
    );
    resources[id] = Object.keys(names).length ? { type: r.Type, names } : { type: r.Type };
  }
  return { stack: stack.stackName, resources, outputs: Object.keys(t.Outputs ?? {}).sort() };
}

/** What differs, as sentences: the resources an existing deployment would lose or see replaced first. */
function differences(want: Identity, got: Identity): { replaced: string[]; other: string[] } {
  const replaced: string[] = [];
  const other: string[] = [];
  if (want.stack !== got.stack)
    replaced.push(`the stack itself: ${want.stack} is now ${got.stack} (a new stack; the old one keeps running)`);
  for (const [id, w] of Object.entries(want.resources)) {
    const g = got.resources[id];
    if (!g) {
      const same = Object.entries(got.resources)
        .filter(([gid, x]) => !(gid in want.resources) && x.type === w.type)
        .map(([gid]) => gid);
      replaced.push(`${id} (${w.type}) is gone${same.length ? ` — moved to ${same.join(' or ')}? keep ${id} with overrideLogicalId` : ''}`);
    } else if (g.type !== w.type) {
      replaced.push(`${id}: type ${w.type} is now ${g.type}`);
    } else if (JSON.stringify(g.names ?? {}) !== JSON.stringify(w.names ?? {})) {
      replaced.push(`${id} (${w.type}): fixed name ${JSON.stringify(w.names ?? {})} is now ${JSON.stringify(g.names ?? {})}`);
    }
  }
  for (const id of Object.keys(got.resources).filter((id) => !(id in want.resources)))
    other.push(`new resource ${id} (${got.resources[id].type})`);
  for (const o of want.outputs.filter((o) => !got.outputs.includes(o)))
    other.push(`output ${o} is gone (the CLI, scripts or users may read it)`);
  for (const o of got.outputs.filter((o) => !want.outputs.includes(o))) other.push(`new output ${o}`);
  return { replaced, other };
}

const got = Object.fromEntries(Object.entries(VARIANTS).map(([name, context]) => [name, identityOf(context)])) as Record<string, Identity>;

if (UPDATE) writeFileSync(IDENTITY_PATH, `${JSON.stringify(got, null, 2)}\n`);
const want = JSON.parse(readFileSync(IDENTITY_PATH, 'utf8')) as Record<string, Identity>;

test('identity.json covers exactly the configurations tested', () => {
  assert.deepEqual(Object.keys(want).sort(), Object.keys(VARIANTS).sort(), 'regenerate with EBS_GENS_UPDATE_IDENTITY=1');
});

for (const name of Object.keys(VARIANTS)) {
  test(`${name}: the logical IDs, types, fixed names and outputs of an existing deployment are kept`, () => {
    const { replaced, other } = differences(want[name], got[name]);
    if (!replaced.length && !other.length) return;
    assert.fail(
      [
        `${name}: the template differs from test/identity.json.`,
        ...(replaced.length
          ? [
              'A changed logical ID or fixed name REPLACES a resource in an existing deployment (CloudFormation deletes the old one; a fixed',
              'name fails with "already exists" and the update rolls back). These would be replaced:',
              ...replaced.map((r) => `  - ${r}`),
              'Keep the old logical ID (overrideLogicalId, or the legacy ids EbsGensStack keeps) and the old name, or add an upgrade note',
              'saying what the replacement costs.',
            ]
          : []),
        ...(other.length ? ['Also:', ...other.map((r) => `  - ${r}`)] : []),
        'When the change is intended and the upgrade notes say so, regenerate: EBS_GENS_UPDATE_IDENTITY=1 npx tsx --test test/identity.test.ts',
      ].join('\n'),
    );
  });
}
