// The synthesized template, offline (bundling skipped): resources, least privilege, the event
// pattern, the state machine definitions, alarms — and cdk-nag's AwsSolutions pack, which fails
// the synth on any finding not acknowledged with a reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../bin/app';
import { EbsGensStack } from '../lib/ebs-gens-stack';

function synth(context: Record<string, unknown> = {}) {
  const app = buildApp({ deployment: 'prod', ...context }, true);
  const stack = app.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack;
  const assembly = app.synth(); // throws when cdk-nag reports an unacknowledged finding
  return { template: Template.fromStack(stack), assembly };
}

const { template, assembly } = synth({ alarmEmail: 'ops@example.com', timeZone: 'Asia/Tokyo', 'cron.daily': 'cron(0 18 * * ? *)' });
const statements = (): any[] =>
  Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
const actionsOf = (s: any): string[] => [].concat(s.Action);

test('four arm64 provided.al2023 functions with JSON logs and retention', () => {
  template.resourceCountIs('AWS::Lambda::Function', 4);
  template.allResourcesProperties('AWS::Lambda::Function', {
    Runtime: 'provided.al2023',
    Architectures: ['arm64'],
    LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
    Environment: { Variables: Match.objectLike({ EBS_GENS_DEPLOYMENT: 'prod', EBS_GENS_TIME_ZONE: 'Asia/Tokyo', EBS_GENS_DRY_RUN: 'false' }) },
  });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ EBS_GENS_CRON_DAILY: 'cron(0 18 * * ? *)', EBS_GENS_SNAPSHOT_ROLE_ARN: Match.anyValue() }) },
  });
  template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
});

test('DeleteSnapshot only on snapshots tagged managed-by = this deployment', () => {
  const del = statements().filter((s) => actionsOf(s).includes('ec2:DeleteSnapshot'));
  assert.equal(del.length, 1);
  assert.deepEqual(del[0].Condition, { StringEquals: { 'aws:ResourceTag/ebs-gens:managed-by': 'prod' } });
  assert.deepEqual(actionsOf(del[0]), ['ec2:DeleteSnapshot']);
  assert.match(JSON.stringify(del[0].Resource), /snapshot\/\*/);
});

test('CreateTags only on snapshots, only our keys, never relabelling another deployment', () => {
  const tags = statements().filter((s) => actionsOf(s).includes('ec2:CreateTags'));
  assert.equal(tags.length, 4, 'two statements each for tag-snapshot and prune-volumes');
  for (const s of tags) {
    assert.deepEqual(s.Condition['ForAllValues:StringEquals']['aws:TagKeys'].sort(), ['Name', 'ebs-gens:class', 'ebs-gens:managed-by', 'ebs-gens:volume']);
    assert.equal(s.Condition.Null['aws:TagKeys'], 'false');
    assert.deepEqual(s.Condition.StringEqualsIfExists, { 'aws:RequestTag/ebs-gens:managed-by': 'prod' });
    assert.match(JSON.stringify(s.Resource), /snapshot\/\*/);
    // Either the snapshot has no managed-by tag yet, or it is already ours.
    const unowned = s.Condition.Null['aws:ResourceTag/ebs-gens:managed-by'] === 'true';
    const ours = s.Condition.StringEquals?.['aws:ResourceTag/ebs-gens:managed-by'] === 'prod';
    assert.ok(unowned !== ours, JSON.stringify(s.Condition));
  }
});

test('no ec2:* and no destructive action on Resource "*"', () => {
  const destructive = /^(ec2:(Delete|Create|Modify)|events:(Put|Remove|Delete)|iam:)/;
  for (const s of statements()) {
    for (const a of actionsOf(s)) {
      assert.ok(!/\*/.test(a), `wildcard action ${a}`);
      if (destructive.test(a)) assert.notEqual(s.Resource, '*', `${a} on *`);
    }
  }
});

test('EventBridge permissions only on our rule prefix; PassRole only for the snapshot role, to EventBridge', () => {
  const ours = statements().filter((s) => actionsOf(s).some((a) => /^events:(Put|Remove|Delete)/.test(a)));
  assert.equal(ours.length, 1);
  assert.match(JSON.stringify(ours[0].Resource), /rule\/ebs-gens-prod-\*/);
  const pass = statements().filter((s) => actionsOf(s).includes('iam:PassRole'));
  assert.equal(pass.length, 1);
  assert.deepEqual(pass[0].Condition, { StringEquals: { 'iam:PassedToService': 'events.amazonaws.com' } });
  assert.match(JSON.stringify(pass[0].Resource), /SnapshotRole/);
});

test('the snapshot role trusts EventBridge and may only CreateSnapshot', () => {
  template.hasResourceProperties('AWS::IAM::Role', {
    AssumeRolePolicyDocument: Match.objectLike({
      Statement: [Match.objectLike({ Principal: { Service: 'events.amazonaws.com' }, Condition: Match.anyValue() })],
    }),
  });
  const snapshotPolicies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p: any) =>
    JSON.stringify(p.Properties.Roles).includes('SnapshotRole'));
  assert.equal(snapshotPolicies.length, 1);
  const acts = (snapshotPolicies[0] as any).Properties.PolicyDocument.Statement.flatMap(actionsOf);
  assert.deepEqual(acts, ['ec2:CreateSnapshot']);
});

test('EBS createSnapshot completions (succeeded and failed) start snapshot-completed', () => {
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: {
      source: ['aws.ec2'],
      'detail-type': ['EBS Snapshot Notification'],
      detail: { event: ['createSnapshot'], result: ['succeeded', 'failed'] },
    },
    State: 'ENABLED',
    Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('SnapshotCompleted') } })],
  });
  template.hasResourceProperties('AWS::Events::Rule', {
    ScheduleExpression: 'rate(1 hour)',
    Targets: [Match.objectLike({ Input: '{"dry_run":false}', Arn: { Ref: Match.stringLikeRegexp('Sweep') } })],
  });
});

test('state machine definitions come from statemachine/ with the functions substituted', () => {
  template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
    DefinitionString: Match.serializedJson(Match.objectLike({
      StartAt: 'TagSnapshot',
      States: Match.objectLike({
        TagSnapshot: Match.objectLike({ Resource: 'arn:aws:states:::lambda:invoke', Retry: Match.arrayWith([Match.objectLike({ ErrorEquals: ['Transient', 'DeleteFailed'] })]) }),
        SnapshotFailed: Match.objectLike({ Type: 'Fail', Error: 'SnapshotFailed' }),
      }),
    })),
    DefinitionSubstitutions: Match.objectLike({ TagSnapshotFunctionArn: Match.anyValue(), PruneVolumesFunctionArn: Match.anyValue() }),
    TracingConfiguration: { Enabled: true },
    LoggingConfiguration: Match.objectLike({ Level: 'ALL' }),
  });
  template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
    DefinitionString: Match.serializedJson(Match.objectLike({ StartAt: 'Init', States: Match.objectLike({ PruneBatches: Match.objectLike({ Type: 'Map', MaxConcurrency: 2 }) }) })),
  });
});

test('alarms on failed executions and on failed snapshots / deletes, sent to the topic', () => {
  template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: 'ebs-gens', MetricName: 'DeleteFailed',
    Dimensions: Match.arrayWith([{ Name: 'Deployment', Value: 'prod' }, { Name: 'Function', Value: 'prune-volumes' }]),
    AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmTopic') }],
  });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'ebs-gens', MetricName: 'SnapshotsFailed' });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ExecutionsFailed', Namespace: 'AWS/States' });
  template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
});

test('cdk-nag: no unacknowledged finding, every acknowledgement has a reason', () => {
  const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'));
  const nag = report.pluginReports.find((p: any) => p.pluginName === 'AwsSolutions');
  assert.equal(nag.conclusion, 'success');
  assert.deepEqual(nag.violations, []);
  assert.ok(nag.suppressedViolations.length > 0);
  for (const v of nag.suppressedViolations) {
    assert.ok(v.reason && v.reason.length > 20, `${v.ruleName} acknowledged without a reason`);
    assert.match(v.ruleName, /^AwsSolutions-IAM5\[/, `only wildcard findings are acknowledged, not ${v.ruleName}`);
  }
});

test('dry run and no alarm topic by default; bad deployment names are refused', () => {
  const { template: t } = synth({ dryRun: 'true' });
  t.resourceCountIs('AWS::SNS::Topic', 0);
  t.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ EBS_GENS_DRY_RUN: 'true' }) } });
  t.hasResourceProperties('AWS::Events::Rule', { Targets: [Match.objectLike({ Input: '{"dry_run":true}' })] });
  assert.throws(() => synth({ deployment: 'has space' }), /deployment/);
});
