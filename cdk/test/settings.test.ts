// Staleness, the bulk-deletion fuse and the orphan policy as context settings (`-c key=value` or
// cdk.json): each reaches every function's environment, each is validated with Rust's own range and
// default (shared/src/config.rs Settings::from_lookup, shared/src/orphans.rs OrphanPolicy::from_str),
// and a bad value stops the synth naming the key and the accepted form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../bin/app';
import { EbsGensSettings, ORPHANS, STALE_FACTOR, WHOLE_NUMBER_SETTINGS, WHOLE_NUMBER_SETTING_NAMES, DEFAULT_FLEXIBLE_WINDOW_MINUTES, MAX_FLEXIBLE_WINDOW_MINUTES } from '../lib/config';
import { EbsGensStack, FUNCTION_NAMES } from '../lib/ebs-gens-stack';

/** The context keys and the variables they set. */
const ENV = {
  staleFactor: 'EBS_GENS_STALE_FACTOR',
  staleGraceMinutes: 'EBS_GENS_STALE_GRACE_MINUTES',
  fuseVolumePercent: 'EBS_GENS_FUSE_VOLUME_PERCENT',
  fuseVolumeMin: 'EBS_GENS_FUSE_VOLUME_MIN',
  fuseBatchPercent: 'EBS_GENS_FUSE_BATCH_PERCENT',
  fuseBatchMin: 'EBS_GENS_FUSE_BATCH_MIN',
  orphans: 'EBS_GENS_ORPHANS',
} as const;
type Key = keyof typeof ENV;
const KEYS = Object.keys(ENV) as Key[];
/** Rust's defaults (Settings::from_lookup with nothing set). */
const RUST_DEFAULTS: Record<Key, string> = {
  staleFactor: '1.5', staleGraceMinutes: '15', fuseVolumePercent: '50', fuseVolumeMin: '5', fuseBatchPercent: '25', fuseBatchMin: '100', orphans: 'keep',
};

const build = (context: Record<string, unknown>) => {
  const app = buildApp({ deployment: 'prod', ...context }, true);
  return { app, stack: app.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack };
};
/** Full synth (cdk-nag included): the template. */
const synth = (context: Record<string, unknown>) => {
  const { app, stack } = build(context);
  app.synth(); // throws when cdk-nag reports an unacknowledged finding
  return Template.fromStack(stack);
};
/** Each function's environment, from a template, by function name. */
const envOfTemplate = (t: Template): Record<string, Record<string, unknown>> => {
  const fns = Object.values(t.findResources('AWS::Lambda::Function')).map((r: any) => r.Properties);
  assert.equal(fns.length, FUNCTION_NAMES.length);
  return Object.fromEntries(fns.map((p) => [/^ebs-gens (\S+) \(/.exec(p.Description)![1], p.Environment.Variables]));
};
/** Each function's environment without a full synth (resolved from the construct tree). */
const envOf = (context: Record<string, unknown>): Record<string, Record<string, unknown>> => {
  const { stack } = build(context);
  return Object.fromEntries(FUNCTION_NAMES.map((n) => [n, stack.resolve((stack.functions[n].node.defaultChild as CfnFunction).environment).variables]));
};
/** The seven variables of every function, asserting they are the same everywhere. */
const ours = (env: Record<string, Record<string, unknown>>): Record<Key, unknown> => {
  assert.deepEqual(Object.keys(env).sort(), [...FUNCTION_NAMES].sort(), 'every function');
  const per = Object.values(env).map((v) => Object.fromEntries(KEYS.map((k) => [k, v[ENV[k]]])) as Record<Key, unknown>);
  for (const p of per) assert.deepEqual(p, per[0], 'the same settings in every function');
  return per[0];
};

const defaults = synth({});
const given = synth({
  staleFactor: '2.5', staleGraceMinutes: '120', fuseVolumePercent: '100', fuseVolumeMin: '0', fuseBatchPercent: '1', fuseBatchMin: '1000000',
  orphans: 'older-than=90,keep-last=3',
});

test('no context: every function gets Rust\'s defaults (1.5, 15, 50 % / 5, 25 % / 100, keep)', () => {
  assert.deepEqual(ours(envOfTemplate(defaults)), RUST_DEFAULTS);
});

test('the CDK\'s ranges and defaults are Rust\'s (shared/src/config.rs ranged(...), shared/src/orphans.rs OrphanPolicy)', () => {
  const config = readFileSync(resolve(__dirname, '../../shared/src/config.rs'), 'utf8');
  const num = (s: string) => Number(s.replaceAll('_', ''));
  const rust = new Map([...config.matchAll(/ranged\(\s*&get,\s*"(EBS_GENS_[A-Z_]+)",\s*([0-9._]+),\s*([0-9._]+)\.\.=([0-9._]+)\s*\)/g)]
    .map((m) => [m[1], { fallback: num(m[2]), min: num(m[3]), max: num(m[4]) }]));
  for (const n of WHOLE_NUMBER_SETTING_NAMES) {
    const { env, fallback, min, max } = WHOLE_NUMBER_SETTINGS[n];
    assert.deepEqual({ fallback, min, max }, rust.get(env), `${n} (${env})`);
    assert.equal(String(fallback), RUST_DEFAULTS[n as Key]);
  }
  const { env, fallback, min, max } = STALE_FACTOR;
  assert.deepEqual({ fallback, min, max }, rust.get(env), `staleFactor (${env})`);
  assert.deepEqual({ fallback: DEFAULT_FLEXIBLE_WINDOW_MINUTES, min: 0, max: MAX_FLEXIBLE_WINDOW_MINUTES }, rust.get('EBS_GENS_FLEXIBLE_WINDOW_MINUTES'));
  assert.match(config, /get\("EBS_GENS_ORPHANS"\)[\s\S]{0,40}None => OrphanPolicy::Keep/, 'orphans default keep');
  const orphans = readFileSync(resolve(__dirname, '../../shared/src/orphans.rs'), 'utf8');
  assert.match(orphans, new RegExp(`!\\(${ORPHANS.keepLast[0]}\\.\\.=${ORPHANS.keepLast[1]}\\)\\.contains\\(&keep\\)`), 'keep-last range');
  assert.match(orphans, new RegExp(`!\\(${ORPHANS.olderThan[0]}\\.\\.=${ORPHANS.olderThan[1]}\\)\\.contains\\(&older_than_days\\)`), 'older-than range');
});

test('each key reaches every function\'s environment (strings from -c, numbers from cdk.json); nothing else changes', () => {
  const g = envOfTemplate(given);
  assert.deepEqual(ours(g), {
    staleFactor: '2.5', staleGraceMinutes: '120', fuseVolumePercent: '100', fuseVolumeMin: '0', fuseBatchPercent: '1', fuseBatchMin: '1000000',
    orphans: 'keep-last=3,older-than=90', // either order in, the canonical order out
  });
  // Only these seven variables differ from the defaults' environment.
  const d = envOfTemplate(defaults);
  for (const fn of FUNCTION_NAMES) {
    const changed = Object.keys({ ...d[fn], ...g[fn] }).filter((k) => JSON.stringify(d[fn][k]) !== JSON.stringify(g[fn][k])).sort();
    assert.deepEqual(changed, Object.values(ENV).sort(), fn);
  }
  assert.deepEqual(ours(envOf({
    staleFactor: 100, staleGraceMinutes: 10080, fuseVolumePercent: 1, fuseVolumeMin: 100000, fuseBatchPercent: 100, fuseBatchMin: 0,
    orphans: 'keep-last=1000,older-than=36500',
  })), {
    staleFactor: '100', staleGraceMinutes: '10080', fuseVolumePercent: '1', fuseVolumeMin: '100000', fuseBatchPercent: '100', fuseBatchMin: '0',
    orphans: 'keep-last=1000,older-than=36500',
  });
  // One key at a time: it sets its own variable, the others keep Rust's defaults.
  const one: Record<Key, [unknown, string]> = {
    staleFactor: ['1', '1'], staleGraceMinutes: ['0', '0'], fuseVolumePercent: ['75', '75'], fuseVolumeMin: ['12', '12'],
    fuseBatchPercent: ['40', '40'], fuseBatchMin: ['250', '250'], orphans: ['keep-last=1,older-than=1', 'keep-last=1,older-than=1'],
  };
  for (const k of KEYS) {
    assert.deepEqual(ours(envOf({ [k]: one[k][0] })), { ...RUST_DEFAULTS, [k]: one[k][1] }, k);
  }
  // Accepted spellings, written out as Rust reads them.
  for (const [value, env] of [['1.25', '1.25'], ['99.9', '99.9'], ['007', '7'], [2, '2'], [1.75, '1.75'], ['100.0', '100']] as const) {
    assert.equal(ours(envOf({ staleFactor: value })).staleFactor, env, `staleFactor=${JSON.stringify(value)}`);
  }
  assert.equal(ours(envOf({ staleGraceMinutes: '0015' })).staleGraceMinutes, '15');
  for (const [value, env] of [
    ['keep', 'keep'], ['keep-last=2,older-than=30', 'keep-last=2,older-than=30'], ['older-than=30,keep-last=2', 'keep-last=2,older-than=30'],
    ['keep-last=02,older-than=030', 'keep-last=2,older-than=30'],
  ] as const) {
    assert.equal(ours(envOf({ orphans: value })).orphans, env, `orphans=${value}`);
  }
});

test('a bad value stops the synth, naming the key, the accepted form and the value', () => {
  const form: Record<Key, RegExp> = {
    staleFactor: /^context setting staleFactor must be a number from 1 to 100 such as 1\.5 or 2 \(.*default 1\.5\), got /,
    staleGraceMinutes: /^context setting staleGraceMinutes must be a whole number from 0 to 10080 \(minutes.*default 15\), got /,
    fuseVolumePercent: /^context setting fuseVolumePercent must be a whole number from 1 to 100 \(percent.*100 turns the volume fuse off; default 50\), got /,
    fuseVolumeMin: /^context setting fuseVolumeMin must be a whole number from 0 to 100000 \(.*default 5\), got /,
    fuseBatchPercent: /^context setting fuseBatchPercent must be a whole number from 1 to 100 \(percent.*100 turns the batch fuse off; default 25\), got /,
    fuseBatchMin: /^context setting fuseBatchMin must be a whole number from 0 to 1000000 \(.*default 100\), got /,
    orphans: /^context setting orphans must be keep \(the default\) or keep-last=K,older-than=DAYS with K from 1 to 1000 and DAYS from 1 to 36500 \(e\.g\. keep-last=3,older-than=90\), got /,
  };
  const bad: Record<Key, unknown[]> = {
    staleFactor: ['abc', '0.5', '0', '0.99', '100.01', '101', 'NaN', 'inf', 'Infinity', '1e1', '.5', '1.', '+2', '-2', ' 1.5', '1.5 ', '', 0.5, 101, NaN, Infinity, null, true],
    staleGraceMinutes: ['-1', '10081', '1.5', 'abc', '15m', '+15', ' 15', '', -1, 10081, 2.5, null, false],
    fuseVolumePercent: ['0', '101', '50%', '-1', '', 0, 101, 50.5, null],
    fuseVolumeMin: ['five', '-3', '100001', '1e3', '', 100001, -1, null],
    fuseBatchPercent: ['0', '50%', '101', '', 0, 101, null],
    fuseBatchMin: ['-3', '1000001', 'abc', '', 1000001, -1, 0.5, null],
    orphans: [
      'keep-last=0,older-than=30', 'delete', 'Keep', 'KEEP', 'keep ', '', 'keep-last=3', 'older-than=30', 'keep-last=1001,older-than=30',
      'keep-last=3,older-than=0', 'keep-last=3,older-than=36501', 'keep-last=-1,older-than=30', 'keep-last=3,older-than=30,keep-last=4',
      'keep-last=3,keep-last=30', 'keep-last=3, older-than=30', 'keep-last=3;older-than=30', 'keep-last=3,older-than=30d', 'keep,keep-last=3,older-than=30',
      'keep-last=99999999999,older-than=30', 3, true, null, { keepLast: 3 },
    ],
  };
  for (const k of KEYS) {
    for (const b of bad[k]) {
      assert.throws(() => build({ [k]: b }), (e: Error) => form[k].test(e.message) && e.message.includes(`got ${JSON.stringify(b)}`), `${k}=${JSON.stringify(b)}`);
    }
  }
  // Out of range: the message also says which part.
  assert.throws(() => build({ orphans: 'keep-last=0,older-than=30' }), /keep-last=0 is outside 1\.\.1000: the newest snapshot of a former volume is always kept/);
  assert.throws(() => build({ orphans: 'older-than=36501,keep-last=2' }), /older-than=36501 is outside 1\.\.36500/);
});

test('settings given to the stack directly (not through context) are validated the same way', () => {
  const stack = (s: Partial<EbsGensSettings>) => () => new EbsGensStack(new App(), 'S', { settings: { deployment: 'prod', ...s } });
  assert.throws(stack({ staleFactor: 0.5 }), /context setting staleFactor must be a number from 1 to 100/);
  assert.throws(stack({ staleFactor: NaN }), /staleFactor/);
  assert.throws(stack({ staleGraceMinutes: 10081 }), /staleGraceMinutes/);
  assert.throws(stack({ fuseVolumePercent: 0 }), /fuseVolumePercent/);
  assert.throws(stack({ fuseVolumeMin: 1.5 }), /fuseVolumeMin/);
  assert.throws(stack({ fuseBatchPercent: 101 }), /fuseBatchPercent/);
  assert.throws(stack({ fuseBatchMin: -1 }), /fuseBatchMin/);
  assert.throws(stack({ orphans: 'delete' }), /orphans/);
});

test('deleting orphans needs no new permission: prune-volumes already lists, reads and deletes only our snapshots', () => {
  // The IAM policies are those of the default (orphans kept): the setting only changes what the sweep's
  // orphan scan (prune-volumes with {"orphans": true}) plans.
  assert.deepEqual(given.findResources('AWS::IAM::Policy'), defaults.findResources('AWS::IAM::Policy'));
  assert.deepEqual(given.findResources('AWS::IAM::Role'), defaults.findResources('AWS::IAM::Role'));
  const lambdas = Object.values(given.findResources('AWS::Lambda::Function')).map((r: any) => r.Properties);
  const role = lambdas.find((p) => p.Description === 'ebs-gens prune-volumes (prod)').Role['Fn::GetAtt'][0];
  const st = Object.values(given.findResources('AWS::IAM::Policy')).map((p: any) => p.Properties)
    .filter((p) => JSON.stringify(p.Roles) === JSON.stringify([{ Ref: role }]))
    .flatMap((p) => p.PolicyDocument.Statement);
  const actions = (s: any): string[] => [].concat(s.Action);
  // The scan lists our snapshots (DescribeSnapshots, tag filter) and asks which volumes still exist.
  const reads = st.filter((s) => s.Effect === 'Allow' && s.Resource === '*').flatMap(actions);
  for (const a of ['ec2:DescribeSnapshots', 'ec2:DescribeVolumes']) assert.ok(reads.includes(a), a);
  // DeleteSnapshot: only managed-by = this deployment, and never a pinned snapshot.
  const del = st.filter((s) => actions(s).includes('ec2:DeleteSnapshot'));
  assert.deepEqual(del.map((s) => s.Effect).sort(), ['Allow', 'Deny']);
  assert.deepEqual(del.find((s) => s.Effect === 'Allow').Condition, { StringEquals: { 'aws:ResourceTag/ebs-gens:managed-by': 'prod' } });
  assert.deepEqual(Object.keys(del.find((s) => s.Effect === 'Deny').Condition).sort(), ['Null', 'StringNotEqualsIgnoreCase']);
});

test('adoption follows the backend unless given: never on scheduler (snapshots are born tagged), schedule-window on rules', () => {
  /** EBS_GENS_ADOPTION, asserting every function has the same. */
  const adoption = (env: Record<string, Record<string, unknown>>): unknown => {
    const values = [...new Set(Object.values(env).map((v) => v.EBS_GENS_ADOPTION))];
    assert.equal(values.length, 1, `the same in every function: ${values.join(', ')}`);
    return values[0];
  };
  // An untagged snapshot on the scheduler backend is someone else's (a user's manual one): adopting
  // it would make it ours, and the next prune would delete it.
  assert.equal(adoption(envOfTemplate(defaults)), 'never');
  assert.equal(adoption(envOf({ backend: 'scheduler' })), 'never');
  assert.equal(adoption(envOf({ backend: 'rules' })), 'schedule-window');
  // A given mode wins on either backend.
  for (const backend of ['scheduler', 'rules']) {
    for (const mode of ['schedule-window', 'any-untagged', 'never']) assert.equal(adoption(envOf({ backend, adoption: mode })), mode, `${backend} ${mode}`);
  }
  // Rust's own defaults are the same (shared/src/config.rs), so an unset variable could not disagree.
  const config = readFileSync(resolve(__dirname, '../../shared/src/config.rs'), 'utf8');
  assert.match(config, /Backend::Scheduler => AdoptionMode::Never/);
  assert.match(config, /Backend::Rules => AdoptionMode::ScheduleWindow/);
});

test('a bad adoption stops the synth, naming the accepted modes and the value; also when given to the stack directly', () => {
  for (const bad of ['Never', 'window', 'schedule_window', 'any', '', ' never', 1, true, null]) {
    assert.throws(() => build({ adoption: bad }), (e: Error) =>
      /^context setting adoption must be schedule-window, any-untagged, never \(default never on the scheduler backend, schedule-window on rules\), got /.test(e.message)
        && e.message.endsWith(`got ${JSON.stringify(bad)}`), `adoption=${JSON.stringify(bad)}`);
  }
  assert.throws(() => new EbsGensStack(new App(), 'S', { settings: { deployment: 'prod', adoption: 'sometimes' as EbsGensSettings['adoption'] } }), /context setting adoption must be/);
});
