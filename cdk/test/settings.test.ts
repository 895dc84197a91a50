// The deployment's settings, one source: contract.json `settings` (generated from
// shared/src/config/table.rs, whose own tests keep the functions' parser and the table in step). Each
// operator setting is a prop and a context key the app reads, is validated from its row (a value the
// functions would refuse stops the synth, naming the key, what it accepts, its default and the value),
// and reaches every function's environment; staleness, the bulk-deletion fuse, the orphan policy and
// the deletion pacing in detail.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { buildApp, CONTEXT_KEYS, FORMER_CONTEXT_KEYS, settingsFromContext } from '../bin/app';
import {
  type Adoption,
  type Backend,
  CLASSES,
  defaultText,
  type EbsGensSettings,
  OPERATOR_SETTINGS,
  type SettingKey,
  type StateMachineLogLevel,
  settingRow,
  validate,
} from '../lib/config';
import { CONTRACT, type ContractSetting } from '../lib/contract';
import { EbsGensStack, FUNCTION_NAMES } from '../lib/ebs-gens-stack';
import { contractEntry } from '../lib/functions';

/** The functions as the template names them (their descriptions): contract.json's names. */
const NAMES = FUNCTION_NAMES.map((n) => contractEntry(n).name);

/** The settings tested in detail here: the context keys and, from the table, the variables they set. */
const KEYS = [
  'staleFactor',
  'staleGraceMinutes',
  'fuseVolumePercent',
  'fuseVolumeMin',
  'fuseBatchPercent',
  'fuseBatchMin',
  'orphans',
  'adoptionWindowMinutes',
  'deleteBurst',
  'deletesPerSecond',
] as const;
type Key = (typeof KEYS)[number];
const envVar = (k: string): string => {
  const env = settingRow(k).env;
  assert.ok(env, `${k} has a variable`);
  return env;
};
const ENV = Object.fromEntries(KEYS.map((k) => [k, envVar(k)])) as Record<Key, string>;
/** The defaults (contract.json; Rust's Settings take theirs from the same table). */
const DEFAULTS = Object.fromEntries(KEYS.map((k) => [k, settingRow(k).default])) as Record<Key, string>;

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
  return Object.fromEntries(fns.map((p) => [/^ebs-gens (\S+) \(/.exec(p.Description)?.[1], p.Environment.Variables]));
};
/** Each function's environment without a full synth (resolved from the construct tree). */
const envOf = (context: Record<string, unknown>): Record<string, Record<string, unknown>> => {
  const { stack } = build(context);
  return Object.fromEntries(
    FUNCTION_NAMES.map((n) => [
      contractEntry(n).name,
      stack.resolve((stack.functions[n].node.defaultChild as CfnFunction).environment).variables,
    ]),
  );
};
/** The variables of KEYS in every function, asserting they are the same everywhere. */
const ours = (env: Record<string, Record<string, unknown>>): Record<Key, unknown> => {
  assert.deepEqual(Object.keys(env).sort(), [...NAMES].sort(), 'every function');
  const per = Object.values(env).map((v) => Object.fromEntries(KEYS.map((k) => [k, v[ENV[k]]])) as Record<Key, unknown>);
  for (const p of per) assert.deepEqual(p, per[0], 'the same settings in every function');
  return per[0];
};
/**
 * One step outside a numeric row's bounds: 1 for a whole number; for a decimal, one more decimal
 * place than its bounds have (1 → 0.9, 0.001 → 0.0009, 100 → 100.1).
 */
const step = (r: ContractSetting) => {
  if (r.type === 'integer') return 1;
  const places = Math.max(...[r.min, r.max].map((n) => (String(n).split('.')[1] ?? '').length));
  return 10 ** -(places + 1);
};
/** A regular expression matching `s` literally. */
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The props that set a key (`tagKeys.daily` → { tagKeys: { daily } }). */
/** Settings another setting needs to be valid at all (a key for a destination needs that destination). */
const COMPANIONS: Partial<Record<string, Record<string, string>>> = { copyKmsKeys: { copies: 'weekly:us-west-2=1' } };
const propsFor = (key: string, value: unknown): EbsGensSettings => {
  const [prop, cls] = key.split('.');
  return { deployment: 'prod', ...COMPANIONS[key], [prop]: cls === undefined ? value : { [cls]: value } } as EbsGensSettings;
};
/** A context with `key` set to `value`, the deployment and `key`'s companions. */
const contextWith = (key: string, value: unknown) => (k: string) =>
  k === key ? value : k === 'deployment' ? 'prod' : COMPANIONS[key]?.[k];
const given = (s: EbsGensSettings, key: string): unknown => {
  const [prop, cls] = key.split('.');
  const v = (s as unknown as Record<string, unknown>)[prop];
  return cls === undefined ? v : (v as Record<string, unknown> | undefined)?.[cls];
};

const defaults = synth({});
const givenTemplate = synth({
  staleFactor: '2.5',
  staleGraceMinutes: '120',
  fuseVolumePercent: '100',
  fuseVolumeMin: '0',
  fuseBatchPercent: '1',
  fuseBatchMin: '1000000',
  orphans: 'older-than=90,keep-last=3',
  adoptionWindowMinutes: '1440',
  deleteBurst: '1',
  deletesPerSecond: '0.5',
});

test("no context: every function gets the table's defaults (Rust's: staleness, the fuses, orphans kept, the deletion pacing)", () => {
  assert.deepEqual(ours(envOfTemplate(defaults)), DEFAULTS);
});

test("the CDK's ranges and defaults are contract.json's (the table shared/src/config reads its own from), and the CDK keeps no copy of them", () => {
  // Each a whole number, a decimal number or the orphan policy, with its range and default in the table.
  for (const k of KEYS) {
    const r = settingRow(k);
    assert.ok(['integer', 'number', 'orphans'].includes(r.type), k);
    assert.ok(r.type === 'orphans' ? r.keep_last && r.older_than_days : Number.isFinite(r.min) && Number.isFinite(r.max), k);
    assert.ok(r.default !== null && r.set_by === 'operator', k);
  }
  // The CDK enforces exactly these: the bounds accepted, one step outside refused (each key, through the app).
  for (const k of KEYS) {
    const r = settingRow(k);
    const [[kLo, kHi], [dLo, dHi]] = [r.keep_last ?? [1, 1], r.older_than_days ?? [1, 1]];
    const [lo, hi, below, above] =
      r.type === 'orphans'
        ? [
            `keep-last=${kLo},older-than=${dLo}`,
            `keep-last=${kHi},older-than=${dHi}`,
            `keep-last=${kLo - 1},older-than=${dLo}`,
            `keep-last=${kHi},older-than=${dHi + 1}`,
          ]
        : [r.min, r.max, (r.min as number) - step(r), (r.max as number) + step(r)];
    for (const ok of [lo, hi]) assert.doesNotThrow(() => settingsFromContext((key) => (key === k ? String(ok) : undefined)), `${k}=${ok}`);
    for (const bad of [below, above]) {
      assert.throws(
        () => settingsFromContext((key) => (key === k ? String(bad) : undefined)),
        new RegExp(`^Error: context setting ${k} must be`),
        `${k}=${bad}`,
      );
    }
  }
  // No hand-written copy in the CDK's code: no variable of an operator's setting, and none of the
  // table's distinctive bounds or defaults (comments aside: the props' docs may quote them).
  const dirs = ['lib', 'bin'].map((d) => resolve(__dirname, '..', d));
  const code = dirs
    .flatMap((d) =>
      readdirSync(d)
        .filter((f) => f.endsWith('.ts'))
        .map((f) => readFileSync(resolve(d, f), 'utf8')),
    )
    .map((text) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, ''))
    .join('\n');
  for (const row of OPERATOR_SETTINGS) {
    if (row.env) assert.doesNotMatch(code, new RegExp(`\\b${row.env}\\b`), `${row.env} is written in the CDK's code`);
  }
  for (const n of ['10080', '36500', '100000', '1000000', '1440', "'rate(1 hour)'", 'ONE_MONTH', "'Hourly_Gens'"]) {
    assert.ok(!code.includes(n), `${n} is written in the CDK's code`);
  }
});

test("each key reaches every function's environment (strings from -c, numbers from cdk.json); nothing else changes", () => {
  const g = envOfTemplate(givenTemplate);
  assert.deepEqual(ours(g), {
    staleFactor: '2.5',
    staleGraceMinutes: '120',
    fuseVolumePercent: '100',
    fuseVolumeMin: '0',
    fuseBatchPercent: '1',
    fuseBatchMin: '1000000',
    orphans: 'keep-last=3,older-than=90', // either order in, the canonical order out
    adoptionWindowMinutes: '1440',
    deleteBurst: '1',
    deletesPerSecond: '0.5',
  });
  // Only these variables differ from the defaults' environment.
  const d = envOfTemplate(defaults);
  for (const fn of NAMES) {
    const changed = Object.keys({ ...d[fn], ...g[fn] })
      .filter((k) => JSON.stringify(d[fn][k]) !== JSON.stringify(g[fn][k]))
      .sort();
    assert.deepEqual(changed, Object.values(ENV).sort(), fn);
  }
  assert.deepEqual(
    ours(
      envOf({
        staleFactor: 100,
        staleGraceMinutes: 10080,
        fuseVolumePercent: 1,
        fuseVolumeMin: 100000,
        fuseBatchPercent: 100,
        fuseBatchMin: 0,
        orphans: 'keep-last=1000,older-than=36500',
        adoptionWindowMinutes: 1,
        deleteBurst: 100,
        deletesPerSecond: 0.001,
      }),
    ),
    {
      staleFactor: '100',
      staleGraceMinutes: '10080',
      fuseVolumePercent: '1',
      fuseVolumeMin: '100000',
      fuseBatchPercent: '100',
      fuseBatchMin: '0',
      orphans: 'keep-last=1000,older-than=36500',
      adoptionWindowMinutes: '1',
      deleteBurst: '100',
      deletesPerSecond: '0.001',
    },
  );
  // One key at a time: it sets its own variable, the others keep their defaults.
  const one: Record<Key, [unknown, string]> = {
    staleFactor: ['1', '1'],
    staleGraceMinutes: ['0', '0'],
    fuseVolumePercent: ['75', '75'],
    fuseVolumeMin: ['12', '12'],
    fuseBatchPercent: ['40', '40'],
    fuseBatchMin: ['250', '250'],
    orphans: ['keep-last=1,older-than=1', 'keep-last=1,older-than=1'],
    adoptionWindowMinutes: ['30', '30'],
    deleteBurst: ['50', '50'],
    deletesPerSecond: ['1000', '1000'],
  };
  for (const k of KEYS) {
    assert.deepEqual(ours(envOf({ [k]: one[k][0] })), { ...DEFAULTS, [k]: one[k][1] }, k);
  }
  // Accepted spellings, written out as Rust reads them.
  for (const [value, env] of [
    ['1.25', '1.25'],
    ['99.9', '99.9'],
    ['007', '7'],
    [2, '2'],
    [1.75, '1.75'],
    ['100.0', '100'],
  ] as const) {
    assert.equal(ours(envOf({ staleFactor: value })).staleFactor, env, `staleFactor=${JSON.stringify(value)}`);
  }
  assert.equal(ours(envOf({ staleGraceMinutes: '0015' })).staleGraceMinutes, '15');
  assert.equal(ours(envOf({ deletesPerSecond: '0.250' })).deletesPerSecond, '0.25');
  for (const [value, env] of [
    ['keep', 'keep'],
    ['keep-last=2,older-than=30', 'keep-last=2,older-than=30'],
    ['older-than=30,keep-last=2', 'keep-last=2,older-than=30'],
    ['keep-last=02,older-than=030', 'keep-last=2,older-than=30'],
  ] as const) {
    assert.equal(ours(envOf({ orphans: value })).orphans, env, `orphans=${value}`);
  }
});

test('a bad value stops the synth, naming the key, the accepted form, the default and the value', () => {
  // What each accepts, from its row of the table.
  const form = Object.fromEntries(
    KEYS.map((k) => {
      const r = settingRow(k);
      const accepts =
        r.type === 'integer'
          ? `a whole number from ${r.min} to ${r.max}`
          : r.type === 'number'
            ? `a decimal number from ${r.min} to ${r.max}`
            : `keep or keep-last=K,older-than=DAYS with K from ${r.keep_last?.join(' to ')} and DAYS from ${r.older_than_days?.join(' to ')}, e.g. keep-last=3,older-than=90`;
      return [k, new RegExp(`^context setting ${k} must be ${literal(accepts)} \\(.*; default ${literal(r.default ?? '')}\\), got `)];
    }),
  ) as Record<Key, RegExp>;
  assert.match(
    'context setting fuseVolumePercent must be a whole number from 1 to 100 (the volume fuse … (100: off); default 50), got "0"',
    form.fuseVolumePercent,
  );
  const bad: Record<Key, unknown[]> = {
    staleFactor: [
      'abc',
      '0.5',
      '0',
      '0.99',
      '100.01',
      '101',
      'NaN',
      'inf',
      'Infinity',
      '1e1',
      '.5',
      '1.',
      '+2',
      '-2',
      ' 1.5',
      '1.5 ',
      '',
      0.5,
      101,
      NaN,
      Infinity,
      null,
      true,
    ],
    staleGraceMinutes: ['-1', '10081', '1.5', 'abc', '15m', '+15', ' 15', '', -1, 10081, 2.5, null, false],
    fuseVolumePercent: ['0', '101', '50%', '-1', '', 0, 101, 50.5, null],
    fuseVolumeMin: ['five', '-3', '100001', '1e3', '', 100001, -1, null],
    fuseBatchPercent: ['0', '50%', '101', '', 0, 101, null],
    fuseBatchMin: ['-3', '1000001', 'abc', '', 1000001, -1, 0.5, null],
    orphans: [
      'keep-last=0,older-than=30',
      'delete',
      'Keep',
      'KEEP',
      'keep ',
      '',
      'keep-last=3',
      'older-than=30',
      'keep-last=1001,older-than=30',
      'keep-last=3,older-than=0',
      'keep-last=3,older-than=36501',
      'keep-last=-1,older-than=30',
      'keep-last=3,older-than=30,keep-last=4',
      'keep-last=3,keep-last=30',
      'keep-last=3, older-than=30',
      'keep-last=3;older-than=30',
      'keep-last=3,older-than=30d',
      'keep,keep-last=3,older-than=30',
      'keep-last=99999999999,older-than=30',
      3,
      true,
      null,
      { keepLast: 3 },
    ],
    adoptionWindowMinutes: ['0', '1441', '-1', '1.5', '', '15m', 0, 1441, null],
    deleteBurst: ['0', '101', 'abc', '', ' 20', 0, 101, 2.5, null],
    deletesPerSecond: ['0', '0.0009', '1000.1', '1e3', '.5', '-1', '', 'inf', 0, 1001, NaN, null, true],
  };
  for (const k of KEYS) {
    for (const b of bad[k]) {
      assert.throws(
        () => build({ [k]: b }),
        (e: Error) => form[k].test(e.message) && e.message.includes(`got ${JSON.stringify(b)}`),
        `${k}=${JSON.stringify(b)}`,
      );
    }
  }
  // Out of range: the message also says which part.
  assert.throws(
    () => build({ orphans: 'keep-last=0,older-than=30' }),
    /keep-last=0 is outside 1\.\.1000: the newest snapshot of a former volume is always kept/,
  );
  assert.throws(() => build({ orphans: 'older-than=36501,keep-last=2' }), /older-than=36501 is outside 1\.\.36500/);
});

test('settings given to the stack directly (not through context) are validated the same way', () => {
  const stack = (s: Partial<EbsGensSettings>) => () => new EbsGensStack(new App(), 'S', { settings: { deployment: 'prod', ...s } });
  assert.throws(stack({ staleFactor: 0.5 }), /context setting staleFactor must be a decimal number from 1 to 100/);
  assert.throws(stack({ staleFactor: NaN }), /staleFactor/);
  assert.throws(stack({ staleGraceMinutes: 10081 }), /staleGraceMinutes/);
  assert.throws(stack({ fuseVolumePercent: 0 }), /fuseVolumePercent/);
  assert.throws(stack({ fuseVolumeMin: 1.5 }), /fuseVolumeMin/);
  assert.throws(stack({ fuseBatchPercent: 101 }), /fuseBatchPercent/);
  assert.throws(stack({ fuseBatchMin: -1 }), /fuseBatchMin/);
  assert.throws(stack({ orphans: 'delete' }), /orphans/);
  assert.throws(stack({ adoptionWindowMinutes: 0 }), /adoptionWindowMinutes/);
  assert.throws(stack({ deleteBurst: 101 }), /deleteBurst/);
  assert.throws(stack({ deletesPerSecond: 0 }), /deletesPerSecond/);
  assert.throws(stack({ timeZone: 'Mars/Olympus' }), /context setting timeZone must be/);
  assert.throws(stack({ crons: { daily: 'cron(0 18 * * *)' } }), /context setting crons\.daily must be/);
  assert.throws(stack({ logRetentionDays: 31 }), /context setting logRetentionDays must be 1, 3, 5, /);
});

test('deleting orphans needs no new permission: prune-volumes already lists, reads and deletes only our snapshots', () => {
  // The IAM policies are those of the default (orphans kept): the setting only changes what the sweep's
  // orphan scan (prune-volumes with {"orphans": true}) plans.
  assert.deepEqual(givenTemplate.findResources('AWS::IAM::Policy'), defaults.findResources('AWS::IAM::Policy'));
  assert.deepEqual(givenTemplate.findResources('AWS::IAM::Role'), defaults.findResources('AWS::IAM::Role'));
  const lambdas = Object.values(givenTemplate.findResources('AWS::Lambda::Function')).map((r: any) => r.Properties);
  const role = lambdas.find((p) => p.Description === 'ebs-gens prune-volumes (prod)').Role['Fn::GetAtt'][0];
  const st = Object.values(givenTemplate.findResources('AWS::IAM::Policy'))
    .map((p: any) => p.Properties)
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
    for (const mode of ['schedule-window', 'any-untagged', 'never'])
      assert.equal(adoption(envOf({ backend, adoption: mode })), mode, `${backend} ${mode}`);
  }
  // The table says the same of Rust's default (no value: it depends on the backend), so an unset
  // variable could not disagree.
  const row = settingRow('adoption');
  assert.equal(row.default, null);
  assert.match(row.default_doc ?? '', /`never` on the scheduler backend, `schedule-window` on rules/);
});

test('a bad adoption stops the synth, naming the accepted modes and the value; also when given to the stack directly', () => {
  for (const bad of ['Never', 'window', 'schedule_window', 'any', '', ' never', 1, true, null]) {
    assert.throws(
      () => build({ adoption: bad }),
      (e: Error) =>
        /^context setting adoption must be schedule-window, any-untagged or never \(.*; default never on the scheduler backend, schedule-window on rules\), got /.test(
          e.message,
        ) && e.message.endsWith(`got ${JSON.stringify(bad)}`),
      `adoption=${JSON.stringify(bad)}`,
    );
  }
  assert.throws(
    () => new EbsGensStack(new App(), 'S', { settings: { deployment: 'prod', adoption: 'sometimes' as EbsGensSettings['adoption'] } }),
    /context setting adoption must be/,
  );
});

/** A valid value other than the default for each operator setting, from its row (text rows: a sample that matches). */
const TEXT_SAMPLES: Partial<Record<SettingKey, string>> = {
  alarmEmail: 'ops@example.com',
  copyKmsKeys: 'us-west-2=arn:aws:kms:us-west-2:123456789012:key/1234abcd',
  drillVolumes: '10%',
  drillKmsKeys: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd',
};
function sample(row: ContractSetting & { context: SettingKey }): unknown {
  const other = (values: readonly string[]) => values.filter((v) => v !== row.default).at(-1);
  switch (row.type) {
    case 'integer':
    case 'number':
      return String(row.max) === row.default ? row.min : row.max;
    case 'boolean':
      return row.default !== 'true';
    case 'enum':
      return other(row.values ?? []);
    case 'time_zone':
      return 'Asia/Tokyo';
    case 'cron':
      return 'rate(7 days)';
    case 'orphans':
      return `keep-last=${row.keep_last?.[1]},older-than=${row.older_than_days?.[1]}`;
    case 'copies':
      // us-west-2: the destination copyKmsKeys' sample names a key for.
      return `weekly:${row.regions?.includes('us-west-2') ? 'us-west-2' : row.regions?.[0]}=${row.max_keep}`;
    case 'locks':
      return `daily=${row.modes?.[0]} weekly=${row.modes?.at(-1)}`;
    default: {
      const s = TEXT_SAMPLES[row.context] ?? row.context.replaceAll('.', '_');
      assert.match(s, new RegExp(row.pattern ?? '(?!)', 'u'), `${row.context}: add a sample that matches ${row.pattern} to TEXT_SAMPLES`);
      return s;
    }
  }
}

test('every operator setting of contract.json is a prop and a context key the app reads, and reaches the functions', () => {
  // The app's keys (the compiler holds them to EbsGensSettings) are the table's, both ways.
  const table = OPERATOR_SETTINGS.map((r) => r.context);
  assert.deepEqual([...Object.keys(CONTEXT_KEYS)].sort(), [...table].sort());
  assert.ok(table.includes('adoptionWindowMinutes') && table.includes('deleteBurst') && table.includes('deletesPerSecond'));
  // Each is read from context, as its prop's type.
  const samples = Object.fromEntries(OPERATOR_SETTINGS.map((r) => [r.context, sample(r)]));
  for (const row of OPERATOR_SETTINGS) {
    const value = samples[row.context];
    const s = settingsFromContext((key) => (key === row.context ? String(value) : COMPANIONS[row.context]?.[key]));
    const expected =
      row.type === 'integer' || row.type === 'number' || (row.type === 'enum' && row.context === 'logRetentionDays')
        ? Number(value)
        : value;
    assert.deepEqual(given(s, row.context), expected, row.context);
    assert.doesNotThrow(() => validate(s), row.context);
    assert.deepEqual(
      given(
        settingsFromContext((key) => (key === row.context ? value : undefined)),
        row.context,
      ),
      expected,
      `${row.context} from cdk.json`,
    );
  }
  // A class's tag key and cron also under their former names (`-c cron.daily=…`), which errors name as given.
  for (const [key, former] of Object.entries(FORMER_CONTEXT_KEYS)) {
    const value = samples[key];
    assert.deepEqual(
      given(
        settingsFromContext((k) => (k === former ? value : undefined)),
        key,
      ),
      value,
      former,
    );
    assert.throws(
      () => settingsFromContext((k) => (k === former ? '' : undefined)),
      new RegExp(`^Error: context setting ${literal(former)} must be`),
    );
    assert.throws(
      () => settingsFromContext((k) => (k === former ? value : k === key ? `${value}x` : undefined)),
      /both given, differently/,
    );
  }
  // All at once: each variable of the table in every function's environment, as the functions read it.
  // sets=on needs the scheduler backend, whose sample is `rules`: all at once, sets stay off.
  const together: Record<string, unknown> = { ...samples, sets: 'off' };
  const env = envOf(together);
  for (const fn of NAMES) {
    for (const row of OPERATOR_SETTINGS) {
      if (row.env) assert.equal(env[fn][row.env], String(together[row.context]), `${fn}: ${row.env}`);
    }
  }
});

test("every variable of the table reaches the functions: the operator's (defaults included) everywhere, the stack's where used; no other", () => {
  const t = envOfTemplate(defaults);
  const rules = envOf({ backend: 'rules' });
  const ensure = contractEntry('ensure-schedules').name;
  for (const fn of NAMES) {
    for (const row of OPERATOR_SETTINGS) {
      if (!row.env) continue;
      // A class's tag key and cron only when given (test above): the functions default them from the table.
      if (row.context.includes('.')) assert.equal(t[fn][row.env], undefined, `${fn}: ${row.env}`);
      else if (row.default !== null) assert.equal(t[fn][row.env], row.context === 'deployment' ? 'prod' : row.default, `${fn}: ${row.env}`);
      else assert.ok(typeof t[fn][row.env] === 'string', `${fn}: ${row.env} (${defaultText(row)})`);
    }
    // Besides the table's, only the account (read beside the settings, shared/src/app/runtime.rs).
    for (const v of Object.keys({ ...t[fn], ...rules[fn] })) {
      assert.ok(v === 'EBS_GENS_ACCOUNT_ID' || CONTRACT.settings.some((r) => r.env === v), `${fn}: ${v} is not in contract.json settings`);
    }
  }
  // The stack's: the names it derives in every function, the roles and queue in ensure-schedules (the
  // built-in target's role on the rules backend only).
  for (const row of CONTRACT.settings.filter((r) => r.set_by === 'stack' && r.env)) {
    const v = row.env as string;
    assert.ok(v in rules[ensure], `${ensure}: ${v}`);
    if (row.type !== 'arn') for (const fn of NAMES) assert.match(String(t[fn][v]), new RegExp(row.pattern ?? '(?!)', 'u'), `${fn}: ${v}`);
  }
});

test("each type's bounds: accepted at the bounds, refused one step outside, with the key, the form and the default (generated from the table's rows)", () => {
  /** Values a row accepts and values it refuses, from its type and its range, values or pattern. */
  const cases = (row: ContractSetting): { ok: unknown[]; bad: unknown[]; says: string[] } => {
    const says = [`default ${defaultText(row).split(' ')[0]}`];
    switch (row.type) {
      case 'integer': {
        const [lo, hi, by] = [row.min as number, row.max as number, row.step ?? 1];
        // A stepped setting: a multiple of its step; one off it is refused, naming the step.
        const offStep = by > 1 ? [lo + 1, String(lo + by + 1)] : [];
        return {
          ok: [lo, hi, String(lo), String(hi), ...(by > 1 ? [lo + by, String(hi - by)] : [])],
          bad: [lo - by, hi + by, String(lo - by), String(hi + by), lo + 0.5, '', ...offStep],
          says: [`from ${lo} to ${hi}`, ...(by > 1 ? [`a multiple of ${by}`] : []), ...says],
        };
      }
      case 'number': {
        const [lo, hi] = [row.min as number, row.max as number];
        const [below, above] = [lo - step(row), hi + step(row)];
        return {
          ok: [lo, hi, String(lo), String(hi)],
          bad: [below, above, String(below), String(above), '', 'NaN'],
          says: [`from ${lo} to ${hi}`, ...says],
        };
      }
      case 'boolean':
        return { ok: [true, false, 'true', 'false'], bad: ['TRUE', 'False', '1', 'yes', 1, ''], says: ['true or false', ...says] };
      case 'enum': {
        const values = row.values ?? [];
        const numeric = values.every((v) => /^[0-9]+$/.test(v));
        const ok = [...values, ...(numeric ? values.map(Number) : [])];
        const near = values.flatMap((v) => [`${v}x`, ` ${v}`, v.toUpperCase(), v.toLowerCase()]).filter((v) => !values.includes(v));
        const outside = numeric ? [Math.min(...values.map(Number)) - 1, Math.max(...values.map(Number)) + 1] : [];
        return { ok, bad: [...near, ...outside, ''], says: [values.join(', ').replace(/, ([^,]*)$/, ' or $1'), ...says] };
      }
      case 'time_zone':
        return {
          ok: [...CONTRACT.time_zones],
          bad: ['Mars/Olympus', 'utc', 'Asia/tokyo', 'UTC ', '+09:00', ''],
          says: ['IANA time zone', ...says],
        };
      case 'cron':
        return {
          ok: [row.default ?? 'rate(1 hour)', 'rate(1 minute)', 'rate(7 days)', 'cron(0 18 * * ? *)', 'cron(0/15 * ? * MON-FRI *)'],
          bad: ['cron(0 18 * * *)', 'cron(0 18 * * ? * *)', 'rate(0 hours)', 'rate(1 week)', '0 18 * * ? *', 'cron(0 18 * * ? *) ', ''],
          says: [row.pattern ?? '', ...says],
        };
      case 'orphans': {
        const [[kLo, kHi], [dLo, dHi]] = [row.keep_last ?? [1, 1], row.older_than_days ?? [1, 1]];
        return {
          ok: ['keep', `keep-last=${kLo},older-than=${dLo}`, `keep-last=${kHi},older-than=${dHi}`, `older-than=${dHi},keep-last=${kLo}`],
          bad: [
            `keep-last=${kLo - 1},older-than=${dLo}`,
            `keep-last=${kHi + 1},older-than=${dLo}`,
            `keep-last=${kLo},older-than=${dLo - 1}`,
            `keep-last=${kLo},older-than=${dHi + 1}`,
            '',
          ],
          says: [`K from ${kLo} to ${kHi} and DAYS from ${dLo} to ${dHi}`, ...says],
        };
      }
      case 'copies': {
        const [r0, r1] = row.regions ?? [];
        const max = row.max_keep as number;
        const many = (row.regions ?? []).slice(0, (row.max_destinations as number) + 1).map((r) => `daily:${r}=1`);
        return {
          ok: ['off', `weekly:${r0}=1`, `daily:${r0}=${max} weekly:${r1}=1`, `daily:${r0}=1,weekly:${r0}=2`],
          bad: [
            `weekly:${r0}=0`,
            `weekly:${r0}=${max + 1}`,
            'weekly:mars-east-1=3',
            `yearly:${r0}=3`,
            `weekly:${r0}=1 weekly:${r0}=2`,
            'weekly',
            many.join(' '),
            7,
          ],
          says: ['CLASS:REGION=N', ...says],
        };
      }
      case 'locks': {
        const [m0, m1] = row.modes ?? [];
        return {
          ok: ['off', `daily=${m0}`, `daily=${m0} weekly=${m1}`, `monthly=${m1},hourly=${m0}`],
          bad: ['daily', 'daily=forever', `yearly=${m0}`, `daily=${m0} daily=${m1}`, 7],
          says: ['CLASS=MODE', ...says],
        };
      }
      default: {
        // Text: a length quantifier at the pattern's end gives the bounds (`{1,32}$`).
        const re = new RegExp(row.pattern ?? '(?!)', 'u');
        const m = /\{(\d+),(\d+)\}\$$/.exec(row.pattern ?? '');
        const ok: unknown[] = [row.default, TEXT_SAMPLES[row.context as SettingKey]].filter((v) => v != null);
        const bad: unknown[] = ['', 7];
        if (m && re.test('a'.repeat(Number(m[2])))) {
          ok.push('a'.repeat(Number(m[1])), 'a'.repeat(Number(m[2])));
          bad.push('a'.repeat(Number(m[2]) + 1));
        }
        assert.ok(ok.length > 0, `${row.context}: add a sample to TEXT_SAMPLES`);
        return { ok, bad: bad.filter((v) => !(typeof v === 'string' && re.test(v))), says: [row.pattern ?? '', ...says] };
      }
    }
  };
  const covered = new Set<string>();
  for (const row of OPERATOR_SETTINGS) {
    const key = row.context;
    const { ok, bad, says } = cases(row);
    assert.ok(bad.length > 0, key);
    covered.add(row.type);
    for (const v of ok) {
      // Through the app's context reading, and as a prop of the construct.
      assert.doesNotThrow(() => validate(settingsFromContext(contextWith(key, v))), `${key}=${JSON.stringify(v)}`);
      assert.doesNotThrow(() => validate(propsFor(key, v)), `${key}=${JSON.stringify(v)} (prop)`);
    }
    for (const v of bad) {
      const check = (e: Error) => {
        assert.ok(e.message.startsWith(`context setting ${key} must be `), e.message);
        for (const s of says) assert.ok(e.message.includes(s), `${key}=${JSON.stringify(v)}: ${e.message} says ${s}`);
        assert.ok(e.message.includes(`got ${JSON.stringify(v)}`), e.message);
        return true;
      };
      assert.throws(() => settingsFromContext((k) => (k === key ? v : undefined)), check, `${key}=${JSON.stringify(v)}`);
      assert.throws(() => validate(propsFor(key, v)), check, `${key}=${JSON.stringify(v)} (prop)`);
    }
  }
  // Every type the operator's settings use is covered (a new type needs its cases above).
  assert.deepEqual([...covered].sort(), [...new Set(OPERATOR_SETTINGS.map((r) => r.type))].sort());
});

test('timeZone: a zone the functions do not know stops the synth naming the setting; a known one reaches every function', () => {
  // Before the table, `-c timeZone=Mars/Olympus` synthesized, and every function then refused to start.
  for (const bad of ['Mars/Olympus', 'Asia/Tokio', 'CET ', 'utc']) {
    assert.throws(
      () => build({ timeZone: bad }),
      (e: Error) =>
        /^context setting timeZone must be one of the \d+ IANA time zone names the functions know .*; default UTC\), got /.test(
          e.message,
        ) && e.message.endsWith(`got ${JSON.stringify(bad)}`),
      bad,
    );
  }
  assert.ok(CONTRACT.time_zones.length > 400 && CONTRACT.time_zones.includes('UTC'));
  for (const env of Object.values(envOf({ timeZone: 'Asia/Tokyo' }))) assert.equal(env.EBS_GENS_TIME_ZONE, 'Asia/Tokyo');
});

test("a cron of the wrong shape stops the synth (five fields, as in crontab); EventBridge's six fields and rate(…) pass", () => {
  for (const [key, bad] of [
    ['crons.daily', 'cron(0 18 * * *)'],
    ['cron.daily', 'cron(0 18 * * *)'],
    ['sweepSchedule', 'cron(0 * * * *)'],
    ['crons.hourly', 'rate(1 fortnight)'],
  ]) {
    assert.throws(
      () => build({ [key]: bad }),
      (e: Error) =>
        e.message.startsWith(`context setting ${key} must be an EventBridge cron(…) of six fields or rate(…) expression`) &&
        e.message.endsWith(`got ${JSON.stringify(bad)}`),
      `${key}=${bad}`,
    );
  }
  const env = envOf({ 'crons.daily': 'cron(0 18 * * ? *)', 'cron.weekly': 'rate(7 days)', sweepSchedule: 'rate(2 hours)' });
  for (const v of Object.values(env)) {
    assert.deepEqual(
      [v.EBS_GENS_CRON_DAILY, v.EBS_GENS_CRON_WEEKLY, v.EBS_GENS_CRON_HOURLY],
      ['cron(0 18 * * ? *)', 'rate(7 days)', undefined],
    );
  }
  assert.ok(settingRow('crons.daily').pattern?.includes('{5}'));
});

test("the props' types name exactly the table's values, and its per-class rows exactly the classes", () => {
  // Each a literal of its union: the compiler holds it to the prop's type, this test to the table.
  const backends: Record<Backend, true> = { scheduler: true, rules: true };
  const adoptions: Record<Adoption, true> = { 'schedule-window': true, 'any-untagged': true, never: true };
  const levels: Record<StateMachineLogLevel, true> = { ALL: true, ERROR: true, FATAL: true };
  for (const [key, union] of [
    ['backend', backends],
    ['adoption', adoptions],
    ['stateMachineLogLevel', levels],
  ] as const) {
    assert.deepEqual([...(settingRow(key).values ?? [])].sort(), Object.keys(union).sort(), key);
  }
  const perClass = OPERATOR_SETTINGS.map((r) => r.context).filter((k) => k.includes('.'));
  assert.deepEqual(perClass.sort(), CLASSES.flatMap((c) => [`tagKeys.${c}`, `crons.${c}`]).sort());
  // A class's default tag key is the contract's generation key (what the functions count as a request).
  for (const c of CLASSES) assert.equal(settingRow(`tagKeys.${c}`).default, CONTRACT.tags.generation_keys[c], c);
});
