// Snapshot locks (`locks`): validated as the functions parse them; prune-volumes may lock only our
// snapshots, and no function may ever unlock; LocksFailed is alarmed only where locks are set.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Template } from 'aws-cdk-lib/assertions';
import { MANAGED_BY } from '../lib/config';
import { template, statements, actions } from './helpers';

test('locks: prune-volumes may lock only our snapshots; nothing may unlock; the locks of what it deletes are read', () => {
  const all = statements(template({ locks: 'daily=governance weekly=compliance' }));
  const lock = all.filter((st) => actions(st).includes('ec2:LockSnapshot'));
  assert.equal(lock.length, 1);
  assert.equal(lock[0].Sid, 'LockOnlyOurSnapshots');
  assert.deepEqual(lock[0].Condition.StringEquals, { [`aws:ResourceTag/${MANAGED_BY}`]: 'prod' });
  assert.ok(!all.some((st) => actions(st).some((a) => /Unlock|ec2:\*/.test(a))), 'no function may unlock');
  assert.ok(all.some((st) => actions(st).includes('ec2:DescribeLockedSnapshots')));
  // Without locks: nothing may lock, yet the locks are still read (a lock set by hand holds too).
  const none = statements(template({}));
  assert.ok(!none.some((st) => actions(st).includes('ec2:LockSnapshot')));
  assert.ok(none.some((st) => actions(st).includes('ec2:DescribeLockedSnapshots')));
});

test('locks: LocksFailed is alarmed only with locks; the functions get the settings', () => {
  const alarmed = (t: Template) =>
    Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter((a: any) => a.Properties.MetricName === 'LocksFailed');
  const t = template({ locks: 'daily=compliance', lockCoolOffHours: 12, lockMaxDays: 90 });
  assert.equal(alarmed(t).length, 1);
  assert.equal(alarmed(template({})).length, 0);
  const env = Object.values(t.findResources('AWS::Lambda::Function')).map((f: any) => f.Properties.Environment?.Variables ?? {});
  assert.ok(
    env.some(
      (v) => v.EBS_GENS_LOCKS === 'daily=compliance' && v.EBS_GENS_LOCK_COOL_OFF_HOURS === '12' && v.EBS_GENS_LOCK_MAX_DAYS === '90',
    ),
  );
});

test('locks: bad rules stop the synth naming the setting', () => {
  for (const bad of ['daily', 'daily=forever', 'yearly=governance', 'daily=governance daily=compliance']) {
    assert.throws(() => template({ locks: bad }), /context setting locks must be/, bad);
  }
  assert.throws(() => template({ locks: 'daily=compliance', lockCoolOffHours: 0 }), /lockCoolOffHours/);
  assert.throws(() => template({ lockMaxDays: 36501 }), /lockMaxDays/);
});

test('locks: with copies, prune-volumes may lock only the copies this stack made in its destinations', () => {
  const all = statements(template({ locks: 'daily=governance', copies: 'daily:us-west-2=3' }));
  const lock = all.filter((st) => actions(st).includes('ec2:LockSnapshot'));
  assert.deepEqual(lock.map((st) => st.Sid).sort(), ['LockOnlyOurCopies', 'LockOnlyOurSnapshots']);
  const copies = lock.find((st) => st.Sid === 'LockOnlyOurCopies');
  assert.equal(copies.Condition.StringEquals[`aws:ResourceTag/${MANAGED_BY}`], 'prod');
  assert.ok(JSON.stringify(copies.Resource).includes('us-west-2'));
  assert.ok(JSON.stringify(copies.Condition).includes('ebs-gens:source-region'));
  // Copies without locks: nothing may lock there.
  const unlocked = statements(template({ copies: 'daily:us-west-2=3' }));
  assert.ok(!unlocked.some((st) => actions(st).includes('ec2:LockSnapshot')));
});

test('Recycle Bin: prune-volumes may read the retention rules, and change none', () => {
  const all = statements(template({}));
  const rbin = all.filter((st) => actions(st).some((a) => a.startsWith('rbin:')));
  assert.deepEqual(rbin.flatMap(actions).sort(), ['rbin:GetRule', 'rbin:ListRules']);
  const get = rbin.find((st) => actions(st).includes('rbin:GetRule'));
  assert.ok(JSON.stringify(get.Resource).includes(':rule/*'));
});
