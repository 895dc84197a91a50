// checkov (run by `make test-cdk` on the synthesized template, offline) must find nothing the template
// does not acknowledge: each finding that does not apply is skipped on its resource, with its reason,
// in the resource's Metadata (checkov.skip) — as cdk-nag's are acknowledged. Reserved concurrency, the
// one finding with a setting behind it, is opt-in (-c reservedConcurrency=N).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../bin/app';
import { settingRow } from '../lib/config';
import { EbsGensStack } from '../lib/ebs-gens-stack';

function synth(context: Record<string, unknown> = {}) {
  const app = buildApp({ deployment: 'prod', ...context }, true);
  const stack = app.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack;
  app.synth(); // throws when cdk-nag reports an unacknowledged finding
  return Template.fromStack(stack);
}

const defaults = synth();
const reserved = synth({ reservedConcurrency: '5', backend: 'rules', alarmEmail: 'ops@example.com' });

/** Every checkov skip in a template: logical id → resource type and the skipped check ids. */
const skips = (t: Template): Map<string, { type: string; ids: string[] }> => {
  const out = new Map<string, { type: string; ids: string[] }>();
  for (const [id, r] of Object.entries(t.toJSON().Resources as Record<string, any>)) {
    const list: { id: string; comment: string }[] = r.Metadata?.checkov?.skip ?? [];
    if (!list.length) continue;
    for (const s of list) assert.ok(s.comment.length > 40, `${id} ${s.id}: a reason, not a placeholder`);
    assert.equal(new Set(list.map((s) => s.id)).size, list.length, `${id}: a check skipped twice`);
    out.set(id, { type: r.Type, ids: list.map((s) => s.id).sort() });
  }
  return out;
};
const ofType = (t: Template, type: string) => Object.keys(t.findResources(type));

test('only what does not apply is skipped, on the resources it concerns, each with its reason', () => {
  for (const [name, t, lambdaSkips] of [
    ['defaults', defaults, ['CKV_AWS_115', 'CKV_AWS_116', 'CKV_AWS_117', 'CKV_AWS_173']],
    ['reservedConcurrency=5', reserved, ['CKV_AWS_116', 'CKV_AWS_117', 'CKV_AWS_173']],
  ] as const) {
    const found = skips(t);
    const expected = new Map<string, { type: string; ids: string[] }>();
    // Invoked synchronously only (no DLQ), no VPC, no secret in the environment; concurrency when not reserved.
    for (const id of ofType(t, 'AWS::Lambda::Function')) expected.set(id, { type: 'AWS::Lambda::Function', ids: [...lambdaSkips] });
    // CloudWatch Logs' own encryption at rest, not a $1-a-month key.
    for (const id of ofType(t, 'AWS::Logs::LogGroup')) expected.set(id, { type: 'AWS::Logs::LogGroup', ids: ['CKV_AWS_158'] });
    // SSE-SQS, which the check does not recognise.
    for (const id of ofType(t, 'AWS::SQS::Queue')) expected.set(id, { type: 'AWS::SQS::Queue', ids: ['CKV_AWS_27'] });
    assert.equal(ofType(t, 'AWS::Logs::LogGroup').length, 8, `${name}: five functions' and three state machines' log groups`);
    assert.deepEqual(found, expected, name);
  }
});

test('the queue skipped for CKV_AWS_27 is encrypted all the same (SQS-managed keys)', () => {
  for (const t of [defaults, reserved]) t.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
});

test('reserved concurrency is opt-in: none by default; -c reservedConcurrency=N reserves N for each function', () => {
  for (const [, fn] of Object.entries(defaults.findResources('AWS::Lambda::Function'))) {
    assert.equal((fn as any).Properties.ReservedConcurrentExecutions, undefined);
  }
  const fns = Object.values(reserved.findResources('AWS::Lambda::Function'));
  assert.equal(fns.length, 5);
  for (const fn of fns) assert.equal((fn as any).Properties.ReservedConcurrentExecutions, 5);
  const one = buildApp({ deployment: 'prod', reservedConcurrency: 1000 }, true);
  const stack = one.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack;
  for (const fn of Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'))) {
    assert.equal((fn as any).Properties.ReservedConcurrentExecutions, 1000);
  }
});

test('a bad reservedConcurrency stops the synth, naming the setting, the range and the value', () => {
  // The range from contract.json's settings table (the same Rust documents).
  const { min, max } = settingRow('reservedConcurrency');
  assert.deepEqual([min, max], [1, 1000]);
  const form = new RegExp(
    `^context setting reservedConcurrency must be a whole number from ${min} to ${max} \\(reserved concurrency for each function; ` +
      'default none; Lambda refuses a reservation that leaves the account fewer than 100 unreserved\\), got ',
  );
  for (const bad of ['0', '1001', 'abc', '1.5', '', ' 5', '+5', '-1', 0, 1001, 2.5, -1, null, true]) {
    assert.throws(
      () => buildApp({ deployment: 'prod', reservedConcurrency: bad }, true),
      (e: Error) => form.test(e.message) && e.message.endsWith(`got ${JSON.stringify(bad)}`),
      `reservedConcurrency=${JSON.stringify(bad)}`,
    );
  }
  assert.throws(
    () => new EbsGensStack(new App(), 'S', { settings: { deployment: 'prod', reservedConcurrency: 0 } }),
    /context setting reservedConcurrency must be/,
  );
});
