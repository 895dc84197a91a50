// The synthesized template, offline (bundling skipped): resources, least privilege, the event
// pattern, the state machine definitions, alarms — and cdk-nag's AwsSolutions pack, which fails
// the synth on any finding not acknowledged with a reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../bin/app';
import { EbsGensStack, dashboardName } from '../lib/ebs-gens-stack';
import { contractEntry } from '../lib/functions';

function synth(context: Record<string, unknown> = {}) {
  const app = buildApp({ deployment: 'prod', ...context }, true);
  const stack = app.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack;
  const assembly = app.synth(); // throws when cdk-nag reports an unacknowledged finding
  return { template: Template.fromStack(stack), assembly };
}

const settings = { alarmEmail: 'ops@example.com', timeZone: 'Asia/Tokyo', 'cron.daily': 'cron(0 18 * * ? *)' };
// The default backend (EventBridge Scheduler); the tests of the rules backend's own resources and
// grants (the built-in create-snapshot target) use the second synth. scheduler.test.ts covers the
// Scheduler side.
const { template, assembly } = synth(settings);
const rules = synth({ ...settings, backend: 'rules' });
const statementsOf = (t: Template): any[] =>
  Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
const statements = (): any[] => statementsOf(template);
const rulesStatements = (): any[] => statementsOf(rules.template);
const actionsOf = (s: any): string[] => [].concat(s.Action);
const allows = (s: any) => s.Effect === 'Allow';
const alarms = (): any[] => Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a: any) => a.Properties);
const logicalIdOf = (type: string, pred: (props: any) => boolean): string => {
  const ids = Object.entries(template.findResources(type))
    .filter(([, r]: [string, any]) => pred(r.Properties))
    .map(([id]) => id);
  assert.equal(ids.length, 1, `${type}: ${ids.join(', ')}`);
  return ids[0];
};

test('five arm64 provided.al2023 functions with JSON logs and retention', () => {
  template.resourceCountIs('AWS::Lambda::Function', 5);
  template.allResourcesProperties('AWS::Lambda::Function', {
    Runtime: 'provided.al2023',
    Architectures: ['arm64'],
    LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
    Environment: {
      Variables: Match.objectLike({ EBS_GENS_DEPLOYMENT: 'prod', EBS_GENS_TIME_ZONE: 'Asia/Tokyo', EBS_GENS_DRY_RUN: 'false' }),
    },
  });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: {
      Variables: Match.objectLike({ EBS_GENS_CRON_DAILY: 'cron(0 18 * * ? *)', EBS_GENS_SCHEDULER_ROLE_ARN: Match.anyValue() }),
    },
  });
  rules.template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: {
      Variables: Match.objectLike({ EBS_GENS_CRON_DAILY: 'cron(0 18 * * ? *)', EBS_GENS_SNAPSHOT_ROLE_ARN: Match.anyValue() }),
    },
  });
  template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
});

test('DeleteSnapshot only on snapshots tagged managed-by = this deployment', () => {
  const del = statements().filter((s) => allows(s) && actionsOf(s).includes('ec2:DeleteSnapshot'));
  assert.equal(del.length, 1);
  assert.deepEqual(del[0].Condition, { StringEquals: { 'aws:ResourceTag/ebs-gens:managed-by': 'prod' } });
  assert.deepEqual(actionsOf(del[0]), ['ec2:DeleteSnapshot']);
  assert.match(JSON.stringify(del[0].Resource), /snapshot\/\*/);
});

test('CreateTags only on snapshots, only our keys, never relabelling another deployment', () => {
  // The Scheduler role's CreateTags (only inside CreateSnapshot) is checked in scheduler.test.ts.
  // restore-drill's one key on our snapshots (RecordProofOnOurSnapshots) is checked in drills.test.ts.
  const tags = statements().filter(
    (s) =>
      actionsOf(s).includes('ec2:CreateTags') && !s.Condition?.StringEquals?.['ec2:CreateAction'] && s.Sid !== 'RecordProofOnOurSnapshots',
  );
  assert.equal(tags.length, 4, 'two statements each for tag-snapshot and prune-volumes');
  for (const s of tags) {
    // ebs-gens:policy too: every snapshot we create or adopt records the policy it was made under.
    assert.deepEqual([...s.Condition['ForAllValues:StringEquals']['aws:TagKeys']].sort(), [
      'Name',
      'ebs-gens:class',
      'ebs-gens:managed-by',
      'ebs-gens:policy',
      'ebs-gens:set',
      'ebs-gens:set-deleting',
      'ebs-gens:set-size',
      'ebs-gens:volume',
      'ebs-gens:volume-spec',
    ]);
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

test('rules backend: EventBridge permissions only on our rule prefix; PassRole only for the snapshot role, to EventBridge', () => {
  const ours = rulesStatements().filter((s) => actionsOf(s).some((a) => /^events:(Put|Remove|Delete)/.test(a)));
  assert.equal(ours.length, 2, 'rule management, and PutTargets with its target condition');
  for (const s of ours) assert.match(JSON.stringify(s.Resource), /rule\/ebs-gens-prod-(hourly|daily|weekly|monthly)-\*/);
  const pass = rulesStatements().filter(
    (s) => actionsOf(s).includes('iam:PassRole') && JSON.stringify(s.Resource).includes('SnapshotRole'),
  );
  assert.equal(pass.length, 1);
  assert.deepEqual(pass[0].Condition, { StringEquals: { 'iam:PassedToService': 'events.amazonaws.com' } });
  assert.match(JSON.stringify(pass[0].Resource), /SnapshotRole/);
});

test('rules backend: the snapshot role trusts EventBridge and may only CreateSnapshot', () => {
  const template = rules.template;
  const snapshotRole = template.findResources('AWS::IAM::Role', {
    Properties: {
      AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'events.amazonaws.com' } })] }),
    },
  });
  assert.ok(Object.keys(snapshotRole).some((id) => id.startsWith('SnapshotRole')));
  const snapshotPolicies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p: any) =>
    JSON.stringify(p.Properties.Roles).includes('SnapshotRole'),
  );
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
    DefinitionString: Match.serializedJson(
      Match.objectLike({
        StartAt: 'TagSnapshot',
        States: Match.objectLike({
          TagSnapshot: Match.objectLike({
            Resource: 'arn:aws:states:::lambda:invoke',
            Retry: Match.arrayWith([Match.objectLike({ ErrorEquals: Match.arrayWith(['Transient']) })]),
          }),
          SnapshotFailed: Match.objectLike({ Type: 'Fail', Error: 'SnapshotFailed' }),
        }),
      }),
    ),
    DefinitionSubstitutions: Match.objectLike({ TagSnapshotFunctionArn: Match.anyValue(), PruneVolumesFunctionArn: Match.anyValue() }),
    TracingConfiguration: { Enabled: false },
    LoggingConfiguration: Match.objectLike({ Level: 'ERROR', IncludeExecutionData: true }),
  });
  template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
    DefinitionString: Match.serializedJson(
      Match.objectLike({
        StartAt: 'Init',
        States: Match.objectLike({ PruneBatches: Match.objectLike({ Type: 'Map', MaxConcurrency: 2 }) }),
      }),
    ),
  });
});

test('alarms on what finally failed, not on failures a Step Functions retry can still make good', () => {
  // A delete that fails is tried again inside the prune: only what still fails counts, and it fails
  // the execution — the alarm is the failed execution, not the metric.
  assert.deepEqual(
    alarms().filter((a) => a.MetricName === 'DeleteFailed' || JSON.stringify(a.Metrics ?? '').includes('DeleteFailed')),
    [],
  );
  // What the retries could not fix: failed executions, per state machine, both state machines.
  const executions = alarms().filter((a) => a.Namespace === 'AWS/States' && a.MetricName === 'ExecutionsFailed');
  assert.deepEqual(
    executions.map((a) => a.Dimensions.find((d: any) => d.Name === 'StateMachineArn').Value.Ref.replace(/[0-9A-F]{8}$/, '')).sort(),
    ['SnapshotCompleted', 'Sweep'],
  );
  for (const a of alarms()) {
    assert.equal(a.TreatMissingData, 'notBreaching', a.AlarmDescription);
    assert.equal(a.AlarmActions.length, 1, a.AlarmDescription);
    assert.match(a.AlarmActions[0].Ref, /^AlarmTopic/);
  }
  template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
});

test('alarms on permanent refusals: the EMF metrics, per deployment and function', () => {
  for (const [metricName, fn] of [
    ['SnapshotsFailed', 'tag-snapshot'],
    ['SnapshotsBlocked', 'prune-volumes'],
    ['DeleteDenied', 'prune-volumes'],
    ['VolumesDoubtful', 'prune-volumes'],
    ['VolumesContested', 'prune-volumes'],
  ]) {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'ebs-gens',
      MetricName: metricName,
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      Dimensions: [
        { Name: 'Deployment', Value: 'prod' },
        { Name: 'Function', Value: fn },
      ],
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmTopic') }],
    });
  }
});

test('failed invocations of the schedule rules (created at runtime, not in the template) are alarmed', () => {
  const rulesAlarms = Object.values(rules.template.findResources('AWS::CloudWatch::Alarm')).map((a: any) => a.Properties);
  for (const [name, list] of [
    ['scheduler', alarms()],
    ['rules', rulesAlarms],
  ] as const) {
    const failed = list.filter((a) => JSON.stringify(a.Metrics ?? []).includes('FailedInvocations'));
    assert.equal(failed.length, 1, name);
    assert.equal(failed[0].Metrics[0].Expression, 'SELECT SUM(FailedInvocations) FROM SCHEMA("AWS/Events", RuleName)', name);
  }
  const failed = rulesAlarms.filter((a) => JSON.stringify(a.Metrics ?? []).includes('FailedInvocations'));
  const [q] = failed[0].Metrics;
  // One series over every default-bus rule: FailedInvocations exists only per RuleName, and an alarm
  // cannot use SEARCH.
  assert.equal(q.Expression, 'SELECT SUM(FailedInvocations) FROM SCHEMA("AWS/Events", RuleName)');
  assert.doesNotMatch(q.Expression, /SEARCH/);
  assert.equal(q.ReturnData, true);
  assert.equal(q.Period, 300);
  assert.equal(failed[0].Threshold, 1);
  assert.equal(failed[0].TreatMissingData, 'notBreaching');
  assert.match(failed[0].AlarmDescription, /ebs-gens-prod-/);
});

test('alarm e-mails can be delivered: a rotated customer managed key CloudWatch may use, a topic policy letting alarms publish', () => {
  const keyId = logicalIdOf('AWS::KMS::Key', () => true);
  template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
  assert.doesNotMatch(JSON.stringify(template.findResources('AWS::SNS::Topic')), /alias\/aws\/sns/);
  const key = template.findResources('AWS::KMS::Key')[keyId].Properties;
  assert.equal(key.EnableKeyRotation, true);
  const cw = key.KeyPolicy.Statement.filter((st: any) => st.Principal?.Service === 'cloudwatch.amazonaws.com');
  assert.equal(cw.length, 1);
  assert.equal(cw[0].Effect, 'Allow');
  assert.deepEqual([].concat(cw[0].Action).sort(), ['kms:Decrypt', 'kms:GenerateDataKey*']);
  assert.deepEqual(cw[0].Condition, { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } });
  // enforceSSL's topic policy replaces SNS's default one, so CloudWatch needs an explicit Allow.
  const topicPolicy = Object.values(template.findResources('AWS::SNS::TopicPolicy'))[0] as any;
  const publish = topicPolicy.Properties.PolicyDocument.Statement.filter(
    (st: any) => allows(st) && st.Principal?.Service === 'cloudwatch.amazonaws.com',
  );
  assert.equal(publish.length, 1);
  assert.deepEqual(actionsOf(publish[0]), ['sns:Publish']);
  assert.match(JSON.stringify(publish[0].Condition.ArnLike['aws:SourceArn']), /:cloudwatch:.*:alarm:\*/);
});

test('cdk-nag: no unacknowledged finding, every acknowledgement has a reason', () => {
  const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'));
  const nag = report.pluginReports.find((p: any) => p.pluginName === 'AwsSolutions');
  assert.equal(nag.conclusion, 'success');
  assert.deepEqual(nag.violations, []);
  assert.ok(nag.suppressedViolations.length > 0);
  for (const v of nag.suppressedViolations) {
    assert.ok(v.reason && v.reason.length > 20, `${v.ruleName} acknowledged without a reason`);
    // Wildcards, SQS3 (no dead-letter queue) on the schedules' dead-letter queue itself, and SF1 / SF2
    // (log level ALL, X-Ray) on the two state machines, opt-in for cost (observability.test.ts).
    if (v.ruleName === 'AwsSolutions-SQS3') {
      assert.deepEqual(
        v.violatingConstructs.map((c: any) => c.constructPath),
        ['EbsGens-prod/Snapshots/Backend/ScheduleDeadLetterQueue/Resource'],
      );
      continue;
    }
    if (v.ruleName === 'AwsSolutions-SF1' || v.ruleName === 'AwsSolutions-SF2') {
      assert.match(
        v.violatingConstructs.map((c: any) => c.constructPath).join(),
        /^EbsGens-prod\/Snapshots\/Orchestration\/(SnapshotCompleted|Sweep|RestoreDrill)\/Resource$/,
      );
      assert.match(v.reason, /^cost: /);
      continue;
    }
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

test('the functions log JSON at application log level INFO, so EMF lines (JSON without a level) are kept', () => {
  template.allResourcesProperties('AWS::Lambda::Function', {
    LoggingConfig: Match.objectLike({ LogFormat: 'JSON', ApplicationLogLevel: 'INFO' }),
  });
});

test('dryRun is strictly true or false (boolean from cdk.json, string from -c); anything else stops the synth', () => {
  const dryRunOf = (t: Template) => {
    const vars = Object.values(t.findResources('AWS::Lambda::Function')).map(
      (f: any) => f.Properties.Environment.Variables.EBS_GENS_DRY_RUN,
    );
    assert.equal(new Set(vars).size, 1);
    return vars[0];
  };
  assert.equal(dryRunOf(template), 'false', 'absent means false');
  assert.equal(dryRunOf(synth({ dryRun: true }).template), 'true');
  assert.equal(dryRunOf(synth({ dryRun: false }).template), 'false');
  assert.equal(dryRunOf(synth({ dryRun: 'false' }).template), 'false');
  for (const bad of ['True', 'TRUE', '1', 'yes', '', ' true', 1, 0, null, 'False']) {
    assert.throws(
      () => synth({ dryRun: bad }),
      (e: Error) => e.message.includes('dryRun') && e.message.includes(JSON.stringify(bad)),
      `dryRun=${JSON.stringify(bad)}`,
    );
  }
});

test('a pinned snapshot cannot be deleted: explicit Deny while ebs-gens:keep is present and not "false"', () => {
  const deny = statements().filter((s) => s.Effect === 'Deny' && actionsOf(s).includes('ec2:DeleteSnapshot'));
  assert.equal(deny.length, 1);
  assert.deepEqual(deny[0].Condition, {
    StringNotEqualsIgnoreCase: { 'aws:ResourceTag/ebs-gens:keep': 'false' },
    Null: { 'aws:ResourceTag/ebs-gens:keep': 'false' },
  });
  assert.match(JSON.stringify(deny[0].Resource), /snapshot\/\*/);
  // In the same policy as the only Allow, so it binds the role that can delete.
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p: any) =>
    p.Properties.PolicyDocument.Statement.some((s: any) => actionsOf(s).includes('ec2:DeleteSnapshot')),
  );
  assert.equal(policies.length, 1);
});

test('rules backend: PutTargets only with the built-in create-snapshot target (events:TargetArn)', () => {
  const put = rulesStatements().filter((s) => actionsOf(s).includes('events:PutTargets'));
  assert.equal(put.length, 1);
  assert.deepEqual(actionsOf(put[0]), ['events:PutTargets']);
  assert.deepEqual(put[0].Condition['ForAllValues:ArnEquals'], {
    'events:TargetArn': {
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':events:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':target/create-snapshot'],
      ],
    },
  });
  assert.deepEqual(put[0].Condition.Null, { 'events:TargetArn': 'false' });
});

test('rule permissions pin the class after the prefix: "prod" cannot touch "prod-eu"\'s rules', () => {
  const ruleStatements = [...statements(), ...rulesStatements()].filter((s) =>
    actionsOf(s).some((a) => a.startsWith('events:') && a !== 'events:ListRules'),
  );
  assert.ok(ruleStatements.length > 0);
  for (const s of ruleStatements) {
    const resources = [].concat(s.Resource).map((r: any) => r['Fn::Join'][1].at(-1));
    assert.deepEqual(resources, [
      ':rule/ebs-gens-prod-hourly-*',
      ':rule/ebs-gens-prod-daily-*',
      ':rule/ebs-gens-prod-weekly-*',
      ':rule/ebs-gens-prod-monthly-*',
    ]);
  }
  // No resource pattern anywhere that a longer deployment name could fall into.
  for (const s of [...statements(), ...rulesStatements()]) assert.doesNotMatch(JSON.stringify(s.Resource), /ebs-gens-prod-\*/);
  // Names that would let one deployment's pattern match another's rules are refused at synth time.
  for (const bad of ['prod-daily', 'prod-daily-eu', 'x-HOURLY', 'a-weekly', 'b-monthly-2']) {
    assert.throws(() => synth({ deployment: bad }), /deployment .*-(hourly|daily|weekly|monthly)/i, bad);
  }
  for (const ok of ['daily', 'prod-eu', 'prod-dailyish', 'daily-prod']) assert.doesNotThrow(() => synth({ deployment: ok }), ok);
});

test("rules backend: the create-snapshot role's trust has no condition EventBridge is not documented to send", () => {
  const roles = Object.entries(rules.template.findResources('AWS::IAM::Role')).filter(([id]) => id.startsWith('SnapshotRole'));
  assert.equal(roles.length, 1);
  const trust = (roles[0][1] as any).Properties.AssumeRolePolicyDocument.Statement;
  assert.deepEqual(trust, [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' } }]);
});

test('Step Functions log to /aws/vendedlogs/states/ebs-gens-<deployment>-<machine>', () => {
  for (const [machine, name] of [
    ['SnapshotCompleted', 'snapshot-completed'],
    ['Sweep', 'sweep'],
  ]) {
    const logGroup = logicalIdOf('AWS::Logs::LogGroup', (p) => p.LogGroupName === `/aws/vendedlogs/states/ebs-gens-prod-${name}`);
    const sm = Object.entries(template.findResources('AWS::StepFunctions::StateMachine')).filter(
      ([id]) => id.startsWith(machine) && !id.startsWith(`${machine}Role`),
    );
    assert.equal(sm.length, 1, machine);
    assert.deepEqual((sm[0][1] as any).Properties.LoggingConfiguration.Destinations, [
      { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logGroup, 'Arn'] } } },
    ]);
  }
});

test('snapshot-completed is Express, the sweep Standard; both log ERROR with execution data, untraced (the defaults)', () => {
  const machineProps = (prefix: string) => {
    const sm = Object.entries(template.findResources('AWS::StepFunctions::StateMachine')).filter(
      ([id]) => id.startsWith(prefix) && !id.startsWith(`${prefix}Role`),
    );
    assert.equal(sm.length, 1, prefix);
    return (sm[0][1] as any).Properties;
  };
  assert.equal(machineProps('SnapshotCompleted').StateMachineType, 'EXPRESS');
  // The sweep can run past Express's 5 minutes (a prune batch may take up to its 900 s timeout).
  assert.equal(machineProps('Sweep').StateMachineType, 'STANDARD');
  for (const prefix of ['SnapshotCompleted', 'Sweep']) {
    const p = machineProps(prefix);
    assert.equal(p.LoggingConfiguration.Level, 'ERROR', prefix);
    assert.equal(p.LoggingConfiguration.IncludeExecutionData, true, prefix);
    assert.deepEqual(p.TracingConfiguration, { Enabled: false }, prefix);
  }
});

test('EventBridge may still start the Express snapshot-completed (StartExecution)', () => {
  const rule = Object.values(template.findResources('AWS::Events::Rule'))
    .map((r: any) => r.Properties)
    .find((p) => p.EventPattern?.['detail-type']?.[0] === 'EBS Snapshot Notification');
  assert.ok(rule, 'the EBS completion rule');
  const [target] = rule.Targets;
  assert.match(target.Arn.Ref, /^SnapshotCompleted/);
  const roleId = target.RoleArn['Fn::GetAtt'][0];
  const policies = Object.values(template.findResources('AWS::IAM::Policy'))
    .map((p: any) => p.Properties)
    .filter((p) => JSON.stringify(p.Roles).includes(roleId));
  const starts = policies.flatMap((p) => p.PolicyDocument.Statement).filter((s: any) => actionsOf(s).includes('states:StartExecution'));
  assert.equal(starts.length, 1);
  assert.equal(starts[0].Effect, 'Allow');
  assert.match(starts[0].Resource.Ref, /^SnapshotCompleted/);
});

test('snapshot-completed (Express): failed and timed-out executions are both alarmed, per state machine', () => {
  for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
    const found = alarms().filter(
      (a) =>
        a.Namespace === 'AWS/States' &&
        a.MetricName === metric &&
        /^SnapshotCompleted/.test(a.Dimensions.find((d: any) => d.Name === 'StateMachineArn')?.Value?.Ref ?? ''),
    );
    assert.equal(found.length, 1, metric);
    assert.equal(found[0].Statistic, 'Sum', metric);
    assert.equal(found[0].Threshold, 1, metric);
    assert.equal(found[0].TreatMissingData, 'notBreaching', metric);
    assert.match(found[0].AlarmActions[0].Ref, /^AlarmTopic/, metric);
  }
});

test('each function may read exactly what it reads: prune-volumes re-reads its volumes (and the orphan scan asks which still exist)', () => {
  const lambdas = Object.entries(template.findResources('AWS::Lambda::Function')).map(([, r]: [string, any]) => r.Properties);
  const describes = (name: string): string[] => {
    const fn = lambdas.find((p) => p.Description === `ebs-gens ${name} (prod)`);
    const role = fn.Role['Fn::GetAtt'][0];
    return Object.values(template.findResources('AWS::IAM::Policy'))
      .map((p: any) => p.Properties)
      .filter((p) => JSON.stringify(p.Roles) === JSON.stringify([{ Ref: role }]))
      .flatMap((p) => p.PolicyDocument.Statement)
      .filter((st: any) => st.Resource === '*')
      .flatMap(actionsOf)
      .filter((a: string) => a.startsWith('ec2:Describe'))
      .sort();
  };
  // DescribeLockedSnapshots: a locked snapshot is never deleted nor attempted (docs/locks.md).
  assert.deepEqual(describes('prune-volumes'), [
    'ec2:DescribeLockedSnapshots',
    'ec2:DescribeSnapshots',
    'ec2:DescribeTags',
    'ec2:DescribeVolumes',
  ]);
  assert.deepEqual(describes('tag-snapshot'), ['ec2:DescribeSnapshots', 'ec2:DescribeTags', 'ec2:DescribeVolumes']);
  assert.deepEqual(describes('discover-volumes'), ['ec2:DescribeVolumes']);
  assert.deepEqual(describes(contractEntry('ensure-schedules').name), ['ec2:DescribeTags', 'ec2:DescribeVolumes']);
});

test("stale volumes and held deletions are alarmed: Maximum over an hour (the sweep's rhythm), > 0, to the alarm topic", () => {
  for (const metricName of ['VolumesStale', 'DeletionsHeld']) {
    const found = alarms().filter((a) => a.Namespace === 'ebs-gens' && a.MetricName === metricName);
    assert.equal(found.length, 1, metricName);
    assert.deepEqual(
      found[0],
      {
        ...found[0],
        Statistic: 'Maximum',
        Period: 3600,
        EvaluationPeriods: 1,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
        Dimensions: [
          { Name: 'Deployment', Value: 'prod' },
          { Name: 'Function', Value: 'prune-volumes' },
        ],
      },
      metricName,
    );
    assert.match(found[0].AlarmActions[0].Ref, /^AlarmTopic/, metricName);
  }
  // The held alarm says how to let the deletions go: the volume tag an operator sets.
  assert.match(alarms().find((a) => a.MetricName === 'DeletionsHeld').AlarmDescription, /ebs-gens:allow-bulk-delete=/);
  // Orphans are kept by default: a count to look at, not a page.
  assert.deepEqual(
    alarms().filter((a) => a.MetricName === 'SnapshotsOrphaned'),
    [],
  );
});

/** The dashboard's body as JSON: the Fn::Join's tokens (region, ARNs) become placeholder text. */
const dashboardBody = (t: Template): any => {
  const boards = Object.values(t.findResources('AWS::CloudWatch::Dashboard')).map((d: any) => d.Properties);
  assert.equal(boards.length, 1);
  const body = boards[0].DashboardBody;
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1].map((p: any) => (typeof p === 'string' ? p : `<${JSON.stringify(p).replace(/"/g, '')}>`)).join('');
  return { name: boards[0].DashboardName, body: JSON.parse(text) };
};

test('a dashboard ebs-gens-<deployment> graphs what was done, what waits for someone and what failed', () => {
  const { name, body } = dashboardBody(template);
  assert.equal(name, 'ebs-gens-prod');
  const graphs = body.widgets.filter((w: any) => w.type === 'metric');
  const series: any[][] = graphs.flatMap((w: any) => w.properties.metrics);
  const emf = (metric: string) => series.filter((m) => m[0] === 'ebs-gens' && m[1] === metric);
  for (const [metric, fn] of [
    ['SnapshotsDeleted', 'prune-volumes'],
    ['SnapshotsAdopted', 'tag-snapshot'],
    ['SnapshotsAdopted', 'prune-volumes'],
    ['DeletionsHeld', 'prune-volumes'],
    ['VolumesStale', 'prune-volumes'],
    ['SnapshotsOrphaned', 'prune-volumes'],
    ['SnapshotsFailed', 'tag-snapshot'],
    ['VolumesMisconfigured', 'discover-volumes'],
    ['VolumesDoubtful', 'prune-volumes'],
  ]) {
    const m = emf(metric).filter((x) => x.slice(2, 6).join(' ') === `Deployment prod Function ${fn}`);
    assert.equal(m.length, 1, `${metric} (${fn})`);
  }
  // Failed executions of both state machines, and the Express one's timeouts.
  const states = series.filter((m) => m[0] === 'AWS/States');
  const of = (metric: string) =>
    states
      .filter((m) => m[1] === metric)
      .map((m) => String(m[3]).replace(/^<\{Ref:(\w+?)[0-9A-F]{8}\}>$/, '$1'))
      .sort();
  assert.deepEqual(of('ExecutionsFailed'), ['SnapshotCompleted', 'Sweep']);
  assert.deepEqual(of('ExecutionsTimedOut'), ['SnapshotCompleted']);
  // Every alarm is on the dashboard too.
  const listed = body.widgets.filter((w: any) => w.type === 'alarm').flatMap((w: any) => w.properties.alarms);
  assert.equal(listed.length, alarms().length);
});

test('the dashboard name is a valid dashboard name for every deployment name, and distinct per deployment', () => {
  assert.equal(dashboardName('prod'), 'ebs-gens-prod');
  assert.equal(dashboardName('prod_eu-1'), 'ebs-gens-prod_eu-1');
  const dotted = dashboardName('prod.eu');
  assert.match(dotted, /^ebs-gens-prod_eu-[0-9a-f]{8}$/);
  assert.notEqual(dotted, dashboardName('prod_eu'));
  assert.notEqual(dotted, dashboardName('prod-eu'));
  assert.match(dashboardName('a.b.c'), /^[A-Za-z0-9_-]+$/);
  // The app's stack name (EbsGens-<deployment>) admits no dot; a stack built directly may have one.
  const app = new App();
  app.node.setContext('aws:cdk:bundling-stacks', []);
  const stack = new EbsGensStack(app, 'EbsGensDotted', { settings: { deployment: 'prod.eu' } });
  assert.equal(dashboardBody(Template.fromStack(stack)).name, dotted);
});

test("outputs: the sweep state machine's ARN (ebs-gens sweep --remote --state-machine-arn) and the dashboard", () => {
  const outputs = template.findOutputs('*');
  const sweep = logicalIdOf(
    'AWS::StepFunctions::StateMachine',
    (p) => p.DefinitionString === readFileSync(join(__dirname, '../../statemachine/sweep.asl.json'), 'utf8'),
  );
  assert.deepEqual(outputs.SweepStateMachineArn.Value, { Ref: sweep });
  assert.deepEqual(outputs.DashboardName.Value, { Ref: logicalIdOf('AWS::CloudWatch::Dashboard', () => true) });
});
