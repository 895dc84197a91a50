// The EventBridge Scheduler backend (the default): the schedule group, the role Scheduler assumes,
// its dead-letter queue and alarm, ensure-schedules' scheduler grants and environment — and the rules
// backend (`-c backend=rules`), which keeps today's resources and grants. One synth per configuration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../bin/app';
import { EbsGensStack } from '../lib/ebs-gens-stack';
import { contractEntry } from '../lib/functions';

function synth(context: Record<string, unknown> = {}) {
  const app = buildApp({ deployment: 'prod', ...context }, true);
  const stack = app.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack;
  app.synth(); // throws when cdk-nag reports an unacknowledged finding
  return Template.fromStack(stack);
}

const scheduler = synth({ alarmEmail: 'ops@example.com' }); // no backend: the default
const rules = synth({ alarmEmail: 'ops@example.com', backend: 'rules' });

const resources = (t: Template, type: string): [string, any][] => Object.entries(t.findResources(type));
const statementsOf = (t: Template): any[] => resources(t, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
const actionsOf = (s: any): string[] => [].concat(s.Action);
/** The one role whose logical id starts with `prefix`. */
const roleId = (t: Template, prefix: string): string => {
  const ids = resources(t, 'AWS::IAM::Role')
    .map(([id]) => id)
    .filter((id) => id.startsWith(prefix));
  assert.equal(ids.length, 1, `${prefix}: ${ids.join(', ')}`);
  return ids[0];
};
/** The statements of the policies attached to a role. */
const roleStatements = (t: Template, role: string): any[] =>
  resources(t, 'AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: role }]))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
/** The Lambda function of a contract function (its description is `ebs-gens <name> (<deployment>)`). */
const lambdaOf = (t: Template, name: string): [string, any] => {
  const found = resources(t, 'AWS::Lambda::Function').filter(([, r]) => r.Properties.Description === `ebs-gens ${name} (prod)`);
  assert.equal(found.length, 1, name);
  return found[0];
};
/** ensure-schedules, under the name contract.json gives it (its binary's; ensure-rules until the rename). */
const ENSURE = contractEntry('ensure-schedules').name;
const ensureRole = (t: Template): string => lambdaOf(t, ENSURE)[1].Properties.Role['Fn::GetAtt'][0];
/** An Fn::Join of literals and pseudo parameters, as text (`${AWS::Region}`), or a plain string. */
const text = (v: any): string =>
  typeof v === 'string' ? v : v['Fn::Join'][1].map((p: any) => (typeof p === 'string' ? p : `\${${p.Ref}}`)).join('');
const GROUP_ARN = 'arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule-group/ebs-gens-prod';
const SCHEDULES = 'arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/ebs-gens-prod/*';
const SNAPSHOTS = 'arn:${AWS::Partition}:ec2:${AWS::Region}::snapshot/*';
const VOLUMES = 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:volume/*';
// ebs-gens:policy too: a snapshot is born with the policy it was made under (ensure-schedules' target input).
const OUR_KEYS = [
  'Name',
  'ebs-gens:class',
  'ebs-gens:managed-by',
  'ebs-gens:policy',
  'ebs-gens:set',
  'ebs-gens:set-deleting',
  'ebs-gens:set-size',
  'ebs-gens:volume',
  'ebs-gens:volume-spec',
];

test('the default backend is scheduler, on every function, with the group and the 60-minute window', () => {
  for (const [, fn] of resources(scheduler, 'AWS::Lambda::Function')) {
    assert.deepEqual(
      [
        fn.Properties.Environment.Variables.EBS_GENS_BACKEND,
        fn.Properties.Environment.Variables.EBS_GENS_SCHEDULE_GROUP,
        fn.Properties.Environment.Variables.EBS_GENS_FLEXIBLE_WINDOW_MINUTES,
      ],
      ['scheduler', 'ebs-gens-prod', '60'],
      fn.Properties.Description,
    );
  }
  for (const [, fn] of resources(rules, 'AWS::Lambda::Function'))
    assert.equal(fn.Properties.Environment.Variables.EBS_GENS_BACKEND, 'rules');
});

test('ensure-schedules gets the scheduler role, the dead-letter queue and (rules backend only) the snapshot role', () => {
  const vars = (t: Template) => lambdaOf(t, ENSURE)[1].Properties.Environment.Variables;
  const v = vars(scheduler);
  assert.deepEqual(v.EBS_GENS_SCHEDULER_ROLE_ARN, { 'Fn::GetAtt': [roleId(scheduler, 'SchedulerRole'), 'Arn'] });
  const queue = resources(scheduler, 'AWS::SQS::Queue');
  assert.equal(queue.length, 1);
  assert.deepEqual(v.EBS_GENS_SCHEDULE_DLQ_ARN, { 'Fn::GetAtt': [queue[0][0], 'Arn'] });
  assert.equal(v.EBS_GENS_SNAPSHOT_ROLE_ARN, undefined, 'no built-in-target role in the scheduler backend');
  const r = vars(rules);
  assert.deepEqual(r.EBS_GENS_SNAPSHOT_ROLE_ARN, { 'Fn::GetAtt': [roleId(rules, 'SnapshotRole'), 'Arn'] });
  assert.ok(r.EBS_GENS_SCHEDULER_ROLE_ARN && r.EBS_GENS_SCHEDULE_DLQ_ARN);
  // Only ensure-schedules knows the roles and the queue.
  for (const t of [scheduler, rules]) {
    for (const [, fn] of resources(t, 'AWS::Lambda::Function').filter(
      ([, f]) => f.Properties.Description !== `ebs-gens ${ENSURE} (prod)`,
    )) {
      const keys = Object.keys(fn.Properties.Environment.Variables);
      for (const k of ['EBS_GENS_SCHEDULER_ROLE_ARN', 'EBS_GENS_SCHEDULE_DLQ_ARN', 'EBS_GENS_SNAPSHOT_ROLE_ARN'])
        assert.ok(!keys.includes(k), `${fn.Properties.Description}: ${k}`);
    }
  }
});

test('the schedule group ebs-gens-<deployment> is deleted with the stack (and with it every schedule), in both backends', () => {
  for (const t of [scheduler, rules]) {
    const groups = resources(t, 'AWS::Scheduler::ScheduleGroup');
    assert.equal(groups.length, 1);
    const [, g] = groups[0];
    assert.equal(g.Properties.Name, 'ebs-gens-prod');
    assert.equal(g.DeletionPolicy, 'Delete');
    assert.equal(g.UpdateReplacePolicy, 'Delete');
  }
});

test('the scheduler role is assumable by scheduler.amazonaws.com only, for this account and this schedule group only', () => {
  const found = resources(scheduler, 'AWS::IAM::Role').find(([id]) => id === roleId(scheduler, 'SchedulerRole'));
  assert.ok(found, 'the scheduler role');
  const [, role] = found;
  const trust = role.Properties.AssumeRolePolicyDocument.Statement;
  assert.equal(trust.length, 1);
  assert.equal(trust[0].Effect, 'Allow');
  assert.equal(trust[0].Action, 'sts:AssumeRole');
  assert.deepEqual(trust[0].Principal, { Service: 'scheduler.amazonaws.com' });
  assert.deepEqual(Object.keys(trust[0].Condition).sort(), ['ArnEquals', 'StringEquals']);
  assert.deepEqual(trust[0].Condition.StringEquals, { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
  assert.deepEqual(Object.keys(trust[0].Condition.ArnEquals), ['aws:SourceArn']);
  assert.equal(text(trust[0].Condition.ArnEquals['aws:SourceArn']), GROUP_ARN);
  // No other role trusts Scheduler.
  const trusting = resources(scheduler, 'AWS::IAM::Role').filter(([, r]) =>
    JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('scheduler.amazonaws.com'),
  );
  assert.equal(trusting.length, 1);
});

test('the scheduler role: CreateSnapshot, CreateTags only inside CreateSnapshot with our keys and managed-by, SendMessage to its queue', () => {
  const st = roleStatements(scheduler, roleId(scheduler, 'SchedulerRole'));
  assert.deepEqual(st.flatMap(actionsOf).sort(), ['ec2:CreateSnapshot', 'ec2:CreateTags', 'sqs:SendMessage']);
  assert.ok(st.every((s) => s.Effect === 'Allow'));
  const create = st.find((s) => actionsOf(s).includes('ec2:CreateSnapshot'));
  assert.deepEqual([].concat(create.Resource).map(text).sort(), [VOLUMES, SNAPSHOTS].sort());
  const tags = st.find((s) => actionsOf(s).includes('ec2:CreateTags'));
  assert.equal(text(tags.Resource), SNAPSHOTS);
  assert.deepEqual(tags.Condition.StringEquals, { 'ec2:CreateAction': 'CreateSnapshot', 'aws:RequestTag/ebs-gens:managed-by': 'prod' });
  assert.deepEqual([...tags.Condition['ForAllValues:StringEquals']['aws:TagKeys']].sort(), OUR_KEYS);
  assert.deepEqual(tags.Condition.Null, { 'aws:TagKeys': 'false' });
  const send = st.find((s) => actionsOf(s).includes('sqs:SendMessage'));
  assert.deepEqual(send.Resource, { 'Fn::GetAtt': [resources(scheduler, 'AWS::SQS::Queue')[0][0], 'Arn'] });
});

test("ensure-schedules may touch only this group's schedules, and pass only the scheduler role, only to Scheduler", () => {
  const st = roleStatements(scheduler, ensureRole(scheduler));
  const sched = st.filter((s) => actionsOf(s).some((a) => a.startsWith('scheduler:')));
  // ListSchedules has no resource-level permissions: Resource "*", alone in its statement.
  const list = sched.filter((s) => actionsOf(s).includes('scheduler:ListSchedules'));
  assert.equal(list.length, 1);
  assert.deepEqual(actionsOf(list[0]), ['scheduler:ListSchedules']);
  assert.equal(list[0].Resource, '*');
  const write = sched.filter((s) => !actionsOf(s).includes('scheduler:ListSchedules'));
  assert.equal(write.length, 1);
  assert.deepEqual(actionsOf(write[0]).sort(), [
    'scheduler:CreateSchedule',
    'scheduler:DeleteSchedule',
    'scheduler:GetSchedule',
    'scheduler:UpdateSchedule',
  ]);
  assert.equal(text(write[0].Resource), SCHEDULES);
  // No scheduler permission anywhere else in the stack, none on groups, none wildcarded.
  const everywhere = statementsOf(scheduler).filter((s) => actionsOf(s).some((a) => a.startsWith('scheduler:')));
  assert.equal(everywhere.length, 2);
  for (const s of everywhere)
    for (const a of actionsOf(s)) assert.match(a, /^scheduler:(Create|Update|Delete|Get)Schedule$|^scheduler:ListSchedules$/);
  // PassRole: the scheduler role only, only to scheduler.amazonaws.com; nothing else can pass a role.
  const pass = statementsOf(scheduler).filter((s) => actionsOf(s).includes('iam:PassRole'));
  assert.equal(pass.length, 1);
  assert.deepEqual(actionsOf(pass[0]), ['iam:PassRole']);
  assert.deepEqual(pass[0].Resource, { 'Fn::GetAtt': [roleId(scheduler, 'SchedulerRole'), 'Arn'] });
  assert.deepEqual(pass[0].Condition, { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } });
  assert.ok(st.includes(pass[0]), 'granted to ensure-schedules');
});

test("ensure-schedules may re-enable (UpdateSchedule) only this group's schedules, passing only the scheduler role, only to Scheduler", () => {
  const st = roleStatements(scheduler, ensureRole(scheduler));
  const update = st.filter((s) => actionsOf(s).includes('scheduler:UpdateSchedule'));
  assert.equal(update.length, 1);
  assert.equal(update[0].Effect, 'Allow');
  assert.equal(update[0].Condition, undefined);
  // Exactly CreateSchedule's scope: the same statement, schedule/ebs-gens-prod/* only.
  assert.ok(actionsOf(update[0]).includes('scheduler:CreateSchedule'));
  assert.equal(text(update[0].Resource), SCHEDULES);
  // UpdateSchedule carries the whole target, the execution role with it: the one PassRole grant covers it.
  const pass = st.filter((s) => actionsOf(s).includes('iam:PassRole'));
  assert.equal(pass.length, 1);
  assert.deepEqual(pass[0].Resource, { 'Fn::GetAtt': [roleId(scheduler, 'SchedulerRole'), 'Arn'] });
  assert.deepEqual(pass[0].Condition, { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } });
  // Nobody else may update a schedule; the rules backend only ever empties the group.
  const updaters = (t: Template) => statementsOf(t).filter((s) => actionsOf(s).includes('scheduler:UpdateSchedule'));
  assert.deepEqual(updaters(scheduler), update);
  assert.deepEqual(updaters(rules), []);
});

test("scheduler backend: ensure-schedules can still remove this deployment's rules but not create any; no built-in-target role", () => {
  const events = statementsOf(scheduler).filter((s) =>
    actionsOf(s).some((a) => /^events:(Put|Remove|Delete|ListTargets|Describe)/.test(a)),
  );
  assert.equal(events.length, 1);
  assert.deepEqual(actionsOf(events[0]).sort(), [
    'events:DeleteRule',
    'events:DescribeRule',
    'events:ListTargetsByRule',
    'events:RemoveTargets',
  ]);
  assert.ok(!statementsOf(scheduler).some((s) => actionsOf(s).some((a) => a === 'events:PutRule' || a === 'events:PutTargets')));
  assert.equal(resources(scheduler, 'AWS::IAM::Role').filter(([id]) => id.startsWith('SnapshotRole')).length, 0);
  // Only the scheduler role can take a snapshot.
  const creators = resources(scheduler, 'AWS::IAM::Policy').filter(([, p]) =>
    JSON.stringify(p.Properties.PolicyDocument).includes('ec2:CreateSnapshot'),
  );
  assert.deepEqual(
    creators.map(([, p]) => p.Properties.Roles),
    [[{ Ref: roleId(scheduler, 'SchedulerRole') }]],
  );
  assert.deepEqual(Object.keys(scheduler.findOutputs('SnapshotRoleArn')), []);
});

test("rules backend keeps today's resources and grants, creates no schedule, and may still empty the group", () => {
  const st = roleStatements(rules, ensureRole(rules));
  const byActions = (pred: (a: string) => boolean) => st.filter((s) => actionsOf(s).some(pred));
  const manage = byActions((a) => a === 'events:PutRule');
  assert.equal(manage.length, 1);
  assert.deepEqual(actionsOf(manage[0]), [
    'events:ListTargetsByRule',
    'events:PutRule',
    'events:RemoveTargets',
    'events:DeleteRule',
    'events:DescribeRule',
  ]);
  assert.equal(byActions((a) => a === 'events:PutTargets').length, 1);
  const pass = statementsOf(rules).filter((s) => actionsOf(s).includes('iam:PassRole'));
  assert.equal(pass.length, 1, 'only the snapshot role can be passed');
  assert.deepEqual(pass[0].Resource, { 'Fn::GetAtt': [roleId(rules, 'SnapshotRole'), 'Arn'] });
  assert.deepEqual(pass[0].Condition, { StringEquals: { 'iam:PassedToService': 'events.amazonaws.com' } });
  assert.deepEqual(roleStatements(rules, roleId(rules, 'SnapshotRole')).flatMap(actionsOf), ['ec2:CreateSnapshot']);
  // Schedules: list and remove (the migration away from the scheduler backend), never create.
  const sched = byActions((a) => a.startsWith('scheduler:'));
  assert.deepEqual(sched.flatMap(actionsOf).sort(), ['scheduler:DeleteSchedule', 'scheduler:GetSchedule', 'scheduler:ListSchedules']);
  assert.ok(!statementsOf(rules).some((s) => actionsOf(s).includes('scheduler:CreateSchedule')));
  assert.deepEqual(Object.keys(rules.findOutputs('SnapshotRoleArn')), ['SnapshotRoleArn']);
});

test('the dead-letter queue is encrypted, TLS-only, keeps messages 14 days, and any message in it is alarmed', () => {
  for (const t of [scheduler, rules]) {
    const queues = resources(t, 'AWS::SQS::Queue');
    assert.equal(queues.length, 1);
    const [queueId, q] = queues[0];
    assert.ok(q.Properties.SqsManagedSseEnabled === true || q.Properties.KmsMasterKeyId, 'encrypted at rest');
    assert.equal(q.Properties.MessageRetentionPeriod, 14 * 24 * 3600);
    const policy = resources(t, 'AWS::SQS::QueuePolicy').find(
      ([, p]) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: queueId }]),
    );
    assert.ok(policy, 'queue policy');
    assert.ok(
      policy[1].Properties.PolicyDocument.Statement.some(
        (s: any) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false',
      ),
      'enforceSSL',
    );
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlarmTopic') }],
    });
  }
});

test('-c backend and -c flexibleWindowMinutes: validated, with a clear error naming the setting', () => {
  const windowOf = (t: Template) => lambdaOf(t, ENSURE)[1].Properties.Environment.Variables.EBS_GENS_FLEXIBLE_WINDOW_MINUTES;
  assert.equal(windowOf(synth({ flexibleWindowMinutes: '0' })), '0');
  assert.equal(windowOf(synth({ flexibleWindowMinutes: 1440 })), '1440');
  assert.equal(lambdaOf(synth({ backend: 'scheduler' }), ENSURE)[1].Properties.Environment.Variables.EBS_GENS_BACKEND, 'scheduler');
  for (const bad of ['foo', 'Scheduler', 'RULES', '', 1, true, null]) {
    assert.throws(
      () => synth({ backend: bad }),
      (e: Error) => /context setting backend must be scheduler or rules/.test(e.message) && e.message.includes(JSON.stringify(bad)),
      `backend=${JSON.stringify(bad)}`,
    );
  }
  for (const bad of ['abc', '1441', '-1', '1.5', '', ' 60', '60m', 1441, -5, 2.5, null]) {
    assert.throws(
      () => synth({ flexibleWindowMinutes: bad }),
      (e: Error) =>
        /context setting flexibleWindowMinutes must be a whole number from 0 to 1440 \(.*\(0: off\).*; default 60\)/.test(e.message) &&
        e.message.includes(JSON.stringify(bad)),
      `flexibleWindowMinutes=${JSON.stringify(bad)}`,
    );
  }
});

test('sets=on: the scheduler role may CreateSnapshots of instances, tagging only inside CreateSnapshot(s); the event rule takes createSnapshots; the functions describe instances', () => {
  const template = synth({ sets: 'on' });
  const statements = statementsOf(template);
  const create = statements.find((s) => s.Sid === 'CreateSnapshotsOfInstances');
  assert.ok(create, 'CreateSnapshotsOfInstances');
  assert.deepEqual(create.Action, 'ec2:CreateSnapshots');
  assert.match(JSON.stringify(create.Resource), /instance\/\*/);
  const tag = statements.find((s) => s.Sid === 'TagOnlyNewSnapshotsWithOurKeys');
  assert.deepEqual(tag?.Condition.StringEquals['ec2:CreateAction'], ['CreateSnapshot', 'CreateSnapshots']);
  const rule = Object.values(template.findResources('AWS::Events::Rule')).find((r) =>
    JSON.stringify(r.Properties.EventPattern ?? {}).includes('createSnapshot'),
  );
  assert.deepEqual(rule?.Properties.EventPattern['detail-type'], [
    'EBS Snapshot Notification',
    'EBS Multi-Volume Snapshots Completion Status',
  ]);
  // Discovery, ensure-schedules, prune and the drill read instances.
  const describing = statements.filter((s) => actionsOf(s).includes('ec2:DescribeInstances'));
  assert.equal(describing.length, 4);
  // Off (the default): none of it.
  const off = statementsOf(synth({}));
  assert.ok(!off.some((s) => s.Sid === 'CreateSnapshotsOfInstances'));
  assert.ok(!JSON.stringify(off).includes('ec2:DescribeInstances'));
  assert.throws(() => synth({ sets: 'on', backend: 'rules' }), /sets=on needs backend=scheduler/);
});
