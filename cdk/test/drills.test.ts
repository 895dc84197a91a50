// Restore drills: the drill function may create volumes only from our snapshots, each born with the
// drill tag, delete only volumes born with it, never attach; the drill's schedule and its alarm
// exist only with drillVolumes set; bad settings stop the synth naming them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Template } from 'aws-cdk-lib/assertions';
import { CONTRACT } from '../lib/contract';
import { template, statements, actions } from './helpers';

const DRILL = CONTRACT.tags.drill;

test('drills: volumes only from our snapshots, born with the drill tag; deletes only drill volumes; never an attach', () => {
  const all = statements(template({ drillVolumes: '10%', copies: 'daily:us-west-2=3' }));
  const bySid = (sid: string) => all.find((st) => st.Sid === sid);
  assert.deepEqual(bySid('DrillVolumesBornTagged').Condition.StringEquals, { [`aws:RequestTag/${DRILL}`]: 'prod' });
  assert.deepEqual(bySid('DrillOnlyFromOurSnapshots').Condition.StringEquals, { 'aws:ResourceTag/ebs-gens:managed-by': 'prod' });
  assert.ok(JSON.stringify(bySid('DrillOnlyFromOurSnapshots').Resource).includes('us-west-2'), 'copies there too');
  assert.equal(bySid('TagDrillVolumesOnlyAsCreated').Condition.StringEquals['ec2:CreateAction'], 'CreateVolume');
  const del = bySid('DeleteOnlyDrillVolumes');
  assert.deepEqual(del.Condition.StringEquals, { [`aws:ResourceTag/${DRILL}`]: 'prod' });
  assert.deepEqual(del.Condition.Null, { 'ec2:ParentSnapshot': 'false' });
  assert.ok(!all.some((st) => actions(st).includes('ec2:AttachVolume')), 'no function attaches');
  const deletes = all.filter((st) => actions(st).includes('ec2:DeleteVolume'));
  assert.deepEqual(
    deletes.map((st) => st.Sid),
    ['DeleteOnlyDrillVolumes'],
  );
  assert.deepEqual(bySid('RecordProofOnOurSnapshots').Condition['ForAllValues:StringEquals']['aws:TagKeys'], [
    CONTRACT.tags.restore_proven,
  ]);
  // Keys only when asked for, and grants only for AWS resources.
  assert.equal(bySid('DrillGrantsOnlyToEbs'), undefined);
  const keyed = statements(template({ drillVolumes: '3', drillKmsKeys: 'arn:aws:kms:us-east-1:123456789012:key/abcd' }));
  assert.deepEqual(keyed.find((st) => st.Sid === 'DrillGrantsOnlyToEbs').Condition, { Bool: { 'kms:GrantIsForAWSResource': 'true' } });
});

test('drills: the schedule and the RestoreDrillsFailed alarm only with drillVolumes; the state machine always', () => {
  const rules = (t: Template) =>
    Object.values(t.findResources('AWS::Events::Rule')).filter((r: any) => /restore drills/.test(r.Properties.Description ?? ''));
  const alarms = (t: Template) =>
    Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter((a: any) => a.Properties.MetricName === 'RestoreDrillsFailed');
  const off = template({});
  assert.equal(rules(off).length, 0);
  assert.equal(alarms(off).length, 0);
  const on = template({ drillVolumes: '2', drillSchedule: 'cron(0 3 ? * MON *)' });
  assert.equal(rules(on).length, 1);
  assert.equal((rules(on)[0] as any).Properties.ScheduleExpression, 'cron(0 3 ? * MON *)');
  assert.equal(alarms(on).length, 1);
  const env = Object.values(on.findResources('AWS::Lambda::Function')).map((f: any) => f.Properties.Environment?.Variables ?? {});
  assert.ok(env.every((v) => v.EBS_GENS_DRILL_VOLUMES === '2'));
  for (const bad of ['abc', '0%', '101%', '1001', '-1']) {
    assert.throws(() => template({ drillVolumes: bad }), /drillVolumes/, bad);
  }
  assert.throws(() => template({ drillKmsKeys: 'not-an-arn' }), /drillKmsKeys/);
});
