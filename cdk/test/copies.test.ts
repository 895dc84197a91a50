// Copies in other regions (`copies`): the setting is validated as the functions parse it, and
// prune-volumes' role may copy our snapshots only to the configured regions, born ours, and delete
// there only what is ours and not pinned. Without the setting it may copy nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { COPY_TAG_KEYS, type EbsGensSettings, MANAGED_BY } from '../lib/config';
import { EbsGens } from '../lib/ebs-gens';
import { template, statements } from './helpers';

/** The partition/region part of each resource ARN (`…:ec2:<region>::snapshot/*`). */
const regions = (st: any): string[] =>
  [st.Resource]
    .flat()
    .map((r: any) => JSON.stringify(r))
    .map((r) => (r.includes('AWS::Region') ? 'HERE' : (/:ec2:([a-z0-9-]+)::snapshot/.exec(r)?.[1] ?? r)));

test('copies: prune-volumes may copy only ours, only to the configured regions, born ours; and delete there only ours', () => {
  const all = statements(template({ copies: 'weekly:us-west-2=8 daily:eu-west-1=7' }));
  const sid = (s: string) => {
    const found = all.filter((st) => st.Sid === s);
    assert.equal(found.length, 1, s);
    return found[0];
  };
  const source = sid('CopyOnlyOurSnapshots');
  assert.deepEqual(regions(source), ['HERE']);
  assert.deepEqual(source.Condition.StringEquals, { [`aws:ResourceTag/${MANAGED_BY}`]: 'prod' });
  const born = sid('CopiesBornOursInOurDestinations');
  assert.deepEqual(regions(born).sort(), ['eu-west-1', 'us-west-2']);
  assert.equal(born.Condition.StringEquals[`aws:RequestTag/${MANAGED_BY}`], 'prod');
  const tags = sid('TagCopiesOnlyAsTheyAreMade');
  assert.equal(tags.Condition.StringEquals['ec2:CreateAction'], 'CopySnapshot');
  assert.deepEqual(regions(sid('DeleteOnlyOurSnapshots')), ['HERE']);
  const copiesDelete = sid('DeleteOnlyOurCopies');
  assert.deepEqual(regions(copiesDelete).sort(), ['eu-west-1', 'us-west-2']);
  assert.equal(copiesDelete.Condition.StringEquals[`aws:ResourceTag/${MANAGED_BY}`], 'prod');
  assert.deepEqual(copiesDelete.Condition.StringEquals['aws:ResourceTag/ebs-gens:source-region'], { Ref: 'AWS::Region' });
  assert.deepEqual(born.Condition['ForAllValues:StringEquals']['aws:TagKeys'].sort(), [...COPY_TAG_KEYS].sort());
  const pin = sid('NeverDeletePinnedSnapshots');
  assert.equal(pin.Effect, 'Deny');
  assert.deepEqual(regions(pin).sort(), ['HERE', 'eu-west-1', 'us-west-2']);
  // No destination the rules do not name, and no copying anywhere without the setting.
  assert.ok(!JSON.stringify(all).includes('ap-southeast-2'));
  const none = statements(template({}));
  assert.ok(!none.some((st) => [st.Action].flat().includes('ec2:CopySnapshot')));
  assert.deepEqual(regions(none.find((st) => st.Sid === 'DeleteOnlyOurSnapshots')), ['HERE']);
});

test('copies: what the functions would refuse stops the synth, naming the setting', () => {
  for (const bad of [
    'weekly:mars-east-1=3',
    'weekly:us-west-2=0',
    'weekly:us-west-2=1001',
    'yearly:us-west-2=3',
    'weekly:us-west-2=3 weekly:us-west-2=4',
    'weekly=us-west-2',
    'daily:us-west-1=1 daily:us-west-2=1 daily:eu-west-1=1 daily:eu-west-2=1 daily:eu-west-3=1 daily:eu-north-1=1',
  ]) {
    assert.throws(() => template({ copies: bad }), /context setting copies must be/, bad);
  }
  // Its own region, once the stack's region is known.
  const settings: EbsGensSettings = { deployment: 'prod', copies: 'daily:us-east-1=3' };
  const stack = new Stack(new App(), 'Mine', { env: { region: 'us-east-1', account: '123456789012' } });
  assert.throws(() => new EbsGens(stack, 'Snapshots', settings), /copies: us-east-1 is this stack's own region/);
  // Off and the canonical form.
  template({ copies: 'off' });
  template({ copies: 'weekly:us-west-2=8,daily:us-west-2=7' });
});

test('copies: a lagging destination is alarmed (CopiesStale, Maximum over an hour, > 0) only where copies are made', () => {
  const stale = (t: Template) =>
    Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter((a: any) => a.Properties.MetricName === 'CopiesStale');
  const found = stale(template({ copies: 'weekly:us-west-2=8' }));
  assert.equal(found.length, 1);
  const a: any = found[0];
  assert.equal(a.Properties.Statistic, 'Maximum');
  assert.equal(a.Properties.Period, 3600);
  assert.equal(a.Properties.Threshold, 0);
  assert.equal(a.Properties.TreatMissingData, 'notBreaching');
  assert.equal(stale(template({})).length, 0, 'no copies, no alarm (and no cost)');
});

test('copies: a destination key must be in that destination, for a destination; prune-volumes may use exactly those keys', () => {
  const key = 'arn:aws:kms:us-west-2:123456789012:key/1234abcd';
  const all = statements(template({ copies: 'weekly:us-west-2=8', copyKmsKeys: `us-west-2=${key}` }));
  const use = all.find((st) => st.Sid === 'EncryptCopiesWithTheirKeys');
  assert.deepEqual([use.Resource].flat(), [key]);
  const grant = all.find((st) => st.Sid === 'GrantOnlyToEbs');
  assert.deepEqual(grant.Condition, { Bool: { 'kms:GrantIsForAWSResource': 'true' } });
  assert.ok(!statements(template({ copies: 'weekly:us-west-2=8' })).some((st) => st.Sid === 'EncryptCopiesWithTheirKeys'));
  assert.throws(
    () => template({ copies: 'weekly:us-west-2=8', copyKmsKeys: 'us-west-2=arn:aws:kms:eu-west-1:123456789012:key/1' }),
    /copyKmsKeys: the key for us-west-2 .* is not in us-west-2/,
  );
  assert.throws(
    () => template({ copies: 'weekly:us-west-2=8', copyKmsKeys: 'eu-west-1=arn:aws:kms:eu-west-1:123456789012:key/1' }),
    /copyKmsKeys: eu-west-1 has a key but is not a destination/,
  );
  assert.throws(() => template({ copyKmsKeys: 'not a key' }), /context setting copyKmsKeys must be/);
});

test('copies: a late time-based copy is alarmed (CopiesLate) only with copyCompletionMinutes set; the functions get the setting', () => {
  const late = (t: Template) =>
    Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter((a: any) => a.Properties.MetricName === 'CopiesLate');
  const timed = template({ copies: 'weekly:us-west-2=8', copyCompletionMinutes: 60 });
  assert.equal(late(timed).length, 1);
  assert.equal(late(template({ copies: 'weekly:us-west-2=8' })).length, 0, 'best effort: no alarm');
  const prune = Object.values(timed.findResources('AWS::Lambda::Function')).find(
    (f: any) => f.Properties.Environment?.Variables?.EBS_GENS_COPY_COMPLETION_MINUTES === '60',
  );
  assert.ok(prune, 'EBS_GENS_COPY_COMPLETION_MINUTES=60 reaches the functions');
  assert.throws(() => template({ copies: 'weekly:us-west-2=8', copyCompletionMinutes: 50 }), /multiple of 15/);
});
