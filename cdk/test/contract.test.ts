// The synthesized template against contract.json (generated from the Rust code by `make contract`):
// the functions' timeouts and memory, the EMF alarms' and dashboard's namespace, metric and dimension names, the
// state machines' substitutions and Task timeouts, the tag keys in IAM conditions, the rule prefix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../bin/app';
import { CONTRACT, CONTRACT_PATH, loadContract, metricName } from '../lib/contract';
import { EbsGensStack } from '../lib/ebs-gens-stack';
import { constructId, contractEntry, contractFunctions } from '../lib/functions';

const contract = JSON.parse(readFileSync(resolve(__dirname, '../../contract.json'), 'utf8'));

function synth(context: Record<string, unknown> = {}) {
  const app = buildApp({ deployment: 'prod', ...context }, true);
  const stack = app.node.children.find((c) => c instanceof EbsGensStack) as EbsGensStack;
  app.synth();
  return Template.fromStack(stack);
}

const template = synth({ alarmEmail: 'ops@example.com' });
const resources = (type: string): [string, any][] =>
  Object.entries(template.findResources(type)).map(([id, r]) => [id, (r as any).Properties]);
const statements = (): any[] => resources('AWS::IAM::Policy').flatMap(([, p]) => p.PolicyDocument.Statement);
const machines = () => resources('AWS::StepFunctions::StateMachine');
const aslText = (file: string) => readFileSync(resolve(__dirname, '../../statemachine', file), 'utf8');
/** The state machine built from `file` (DefinitionBody.fromString keeps the file's text as is). */
const machineFor = (file: string): [string, any] => {
  const matching = machines().filter(([, p]) => p.DefinitionString === aslText(file));
  assert.equal(matching.length, 1, `one state machine from ${file}`);
  return matching[0];
};
/** The function a Lambda resource is (its description is `ebs-gens <name> (<deployment>)`). */
const functionNameOf = (props: any) => /^ebs-gens (\S+) \(/.exec(props.Description)?.[1];

test('the CDK app reads the contract at the top of the repository', () => {
  assert.equal(CONTRACT_PATH, resolve(__dirname, '../../contract.json'));
  assert.deepEqual(CONTRACT, contract);
});

test("one Lambda per contract function, with the contract's timeout and memory", () => {
  const lambdas = resources('AWS::Lambda::Function');
  assert.deepEqual(lambdas.map(([, p]) => functionNameOf(p)).sort(), contract.functions.map((f: any) => f.name).sort());
  for (const [id, p] of lambdas) {
    const fn = contract.functions.find((f: any) => f.name === functionNameOf(p));
    assert.equal(p.Timeout, fn.timeout_seconds, `${id} Timeout`);
    assert.equal(p.MemorySize, fn.memory_mb, `${id} MemorySize`);
  }
});

test(`every alarm in the ${contract.metrics.namespace} namespace is on a metric the functions emit, with their dimensions`, () => {
  const emf = resources('AWS::CloudWatch::Alarm').filter(([, a]) => a.Namespace === contract.metrics.namespace);
  assert.ok(emf.length > 0, 'no EMF alarm found');
  const functions = contract.functions.map((f: any) => f.name);
  for (const [id, a] of emf) {
    assert.ok(contract.metrics.names.includes(a.MetricName), `${id}: ${a.MetricName} is not in contract.metrics.names`);
    assert.deepEqual(
      a.Dimensions.map((d: any) => d.Name),
      contract.metrics.dimensions,
      `${id} dimensions`,
    );
    assert.ok(functions.includes(a.Dimensions.find((d: any) => d.Name === 'Function').Value), `${id}: unknown Function dimension`);
  }
  // No alarm reads a custom namespace other than the contract's (AWS/* are CloudWatch's own).
  for (const [id, a] of resources('AWS::CloudWatch::Alarm')) {
    if (a.Namespace)
      assert.ok(a.Namespace === contract.metrics.namespace || a.Namespace.startsWith('AWS/'), `${id}: namespace ${a.Namespace}`);
  }
});

test(`every ${contract.metrics.namespace} metric on the dashboard is one the functions emit, with their dimensions`, () => {
  const boards = resources('AWS::CloudWatch::Dashboard');
  assert.equal(boards.length, 1);
  const body = boards[0][1].DashboardBody;
  const text = typeof body === 'string' ? body : body['Fn::Join'][1].map((p: any) => (typeof p === 'string' ? p : '<token>')).join('');
  const series: any[][] = JSON.parse(text)
    .widgets.filter((w: any) => w.type === 'metric')
    .flatMap((w: any) => w.properties.metrics);
  const emf = series.filter((m) => m[0] === contract.metrics.namespace);
  assert.ok(emf.length > 0, 'no EMF metric on the dashboard');
  const functions = contract.functions.map((f: any) => f.name);
  for (const m of emf) {
    // [namespace, name, dim1, value1, dim2, value2, {options}]
    assert.ok(contract.metrics.names.includes(m[1]), `${m[1]} is not in contract.metrics.names`);
    assert.deepEqual([m[2], m[4]], contract.metrics.dimensions, `${m[1]} dimensions`);
    assert.equal(m[3], 'prod', `${m[1]} Deployment`);
    assert.ok(functions.includes(m[5]), `${m[1]}: unknown Function ${m[5]}`);
  }
  for (const m of series) assert.ok(m[0] === contract.metrics.namespace || m[0].startsWith('AWS/'), `namespace ${m[0]}`);
  // The health metrics the functions publish since the fleet-health change, all on the dashboard.
  const shown = new Set(emf.map((m) => m[1]));
  for (const name of [
    'VolumesStale',
    'DeletionsHeld',
    'SnapshotsOrphaned',
    'SnapshotsDeleted',
    'SnapshotsAdopted',
    'SnapshotsFailed',
    'VolumesMisconfigured',
    'VolumesDoubtful',
  ]) {
    assert.ok(contract.metrics.names.includes(name), `${name} is not in contract.metrics.names`);
    assert.ok(shown.has(name), `${name} is not on the dashboard`);
  }
});

test('what waits for an operator is alarmed: stale volumes and held deletions (orphans, kept by default, are not)', () => {
  const emf = resources('AWS::CloudWatch::Alarm')
    .filter(([, a]) => a.Namespace === contract.metrics.namespace)
    .map(([, a]) => a.MetricName);
  for (const name of ['VolumesStale', 'DeletionsHeld']) {
    assert.ok(contract.metrics.names.includes(name), `${name} is not in contract.metrics.names`);
    assert.equal(emf.filter((m) => m === name).length, 1, `${name} alarmed once`);
  }
  assert.ok(contract.metrics.names.includes('SnapshotsOrphaned'));
  assert.ok(!emf.includes('SnapshotsOrphaned'));
});

test('every alarm treats missing data as not breaching: outside metrics.always_emitted a metric is published only when non-zero', () => {
  // contract.json metrics.always_emitted (VolumesManaged when an older contract has no list): every
  // other metric is absent in an hour nothing happened, which must read as OK. None is alarmed on an
  // always-emitted one (a count of volumes is no problem). Twelve alarms, $1.20 a month of the ≤ $2
  // a deployment may cost before its first snapshot (`make cost`): a thirteenth is a cost decision.
  const always: string[] = contract.metrics.always_emitted ?? ['VolumesManaged'];
  for (const name of always) assert.ok(contract.metrics.names.includes(name), `${name} is not in contract.metrics.names`);
  const rules = synth({ backend: 'rules' });
  for (const [name, t] of [
    ['scheduler, alarmEmail', template],
    ['rules, no alarmEmail', rules],
  ] as const) {
    const all = Object.entries(t.findResources('AWS::CloudWatch::Alarm')).map(([id, r]) => [id, (r as any).Properties] as const);
    assert.equal(all.length, 12, name);
    for (const [id, a] of all) {
      assert.equal(a.TreatMissingData, 'notBreaching', `${name}: ${id}`);
      assert.ok(!always.includes(a.MetricName), `${name}: ${id} alarms on the always-emitted ${a.MetricName}`);
    }
  }
});

test('the configuration is published where the contract says, with its schema (the CLI reads it by that name)', () => {
  const params = resources('AWS::SSM::Parameter');
  assert.equal(params.length, 1);
  assert.equal(params[0][1].Name, contract.config_parameter.name.replaceAll('{deployment}', 'prod'));
  // An Fn::Join of JSON text around the ARNs and pseudo parameters; its text starts with the schema.
  const [first] = params[0][1].Value['Fn::Join'][1];
  assert.ok(first.startsWith(`{"schema":${contract.config_parameter.schema},"deployment":"prod",`), first);
});

test('an alarm on a metric the functions do not emit stops the synth', () => {
  for (const name of contract.metrics.names) assert.equal(metricName(name), name);
  assert.throws(() => metricName('SnapshotsDeletd'), /SnapshotsDeletd is not emitted/);
});

test("each state machine substitutes exactly its contract placeholders, each with its function's ARN", () => {
  const lambdaIdOf = (name: string) => {
    const found = resources('AWS::Lambda::Function').find(([, p]) => functionNameOf(p) === name);
    assert.ok(found, `no Lambda named ${name}`);
    return found[0];
  };
  assert.equal(machines().length, contract.state_machines.length);
  for (const entry of contract.state_machines) {
    const asl = aslText(entry.file);
    const subs = machineFor(entry.file)[1].DefinitionSubstitutions;
    assert.deepEqual(Object.keys(subs).sort(), [...entry.placeholders].sort(), entry.file);
    for (const placeholder of entry.placeholders) {
      const fn = contract.functions.find((f: any) => f.placeholder === placeholder);
      assert.deepEqual(subs[placeholder], { 'Fn::GetAtt': [lambdaIdOf(fn.name), 'Arn'] }, `${entry.file}: ${placeholder}`);
    }
    // ...and the ASL uses exactly those placeholders.
    const inAsl = [...new Set([...asl.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]))].sort();
    assert.deepEqual(inAsl, [...entry.placeholders].sort(), `${entry.file} placeholders`);
  }
});

test("every Lambda Task state waits the contract's task timeout for its function", () => {
  for (const entry of contract.state_machines) {
    const definition = JSON.parse(aslText(entry.file));
    const tasks: [string, any][] = [];
    const walk = (m: any) => {
      for (const [name, st] of Object.entries<any>(m.States)) {
        if (st.Type === 'Task') tasks.push([name, st]);
        const inner = st.ItemProcessor ?? st.Iterator;
        if (inner) walk(inner);
        for (const b of st.Branches ?? []) walk(b);
      }
    };
    walk(definition);
    const lambdaTasks = tasks.filter(([, st]) => /\$\{[A-Za-z0-9_]+\}/.test(JSON.stringify(st.Parameters ?? st.Arguments ?? {})));
    assert.ok(lambdaTasks.length > 0, entry.file);
    for (const [name, st] of lambdaTasks) {
      const placeholder = /\$\{([A-Za-z0-9_]+)\}/.exec(JSON.stringify(st.Parameters ?? st.Arguments))?.[1];
      const fn = contract.functions.find((f: any) => f.placeholder === placeholder);
      // The event path (Express, 5 minutes) has its own budget: the prune's deadline comes from its
      // input, and tag-snapshot's own timeout bounds its Task (contract event_path).
      const margin = fn.task_timeout_seconds - fn.timeout_seconds;
      const expected =
        entry.file !== 'snapshot-completed.asl.json'
          ? fn.task_timeout_seconds
          : fn.name === 'prune-volumes'
            ? contract.event_path.prune_deadline_seconds + margin
            : fn.timeout_seconds + contract.event_path.task_margin_seconds;
      assert.equal(st.TimeoutSeconds, expected, `${entry.file} ${name} (${fn.name})`);
    }
  }
});

test('the state machines may invoke exactly the functions whose placeholders they use', () => {
  for (const entry of contract.state_machines) {
    const [id, props] = machineFor(entry.file);
    const roleId = props.RoleArn['Fn::GetAtt'][0];
    const invoked = resources('AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Roles).includes(roleId))
      .flatMap(([, p]) => p.PolicyDocument.Statement)
      .filter((st: any) => ([] as any[]).concat(st.Action).includes('lambda:InvokeFunction'))
      .flatMap((st: any) => ([] as any[]).concat(st.Resource))
      .map((r: any) => r['Fn::GetAtt']?.[0])
      .filter(Boolean);
    const expected = entry.placeholders.map((p: string) => contract.functions.find((f: any) => f.placeholder === p).name);
    const names = [...new Set(invoked)].map((lid) =>
      functionNameOf((template.findResources('AWS::Lambda::Function')[lid as string] as any).Properties),
    );
    assert.deepEqual(names.sort(), [...expected].sort(), id);
  }
});

test("IAM conditions use the contract's tag keys", () => {
  const t = contract.tags;
  const tagKeys = statements().filter((s) => s.Condition?.['ForAllValues:StringEquals']?.['aws:TagKeys']);
  // The Lambda roles (tag-snapshot, prune-volumes: two each), the Scheduler role (TagSpecifications),
  // and restore-drill's proof on our snapshots (its one key).
  assert.equal(tagKeys.length, 6);
  const proof = tagKeys.filter((s) => s.Sid === 'RecordProofOnOurSnapshots');
  assert.deepEqual(
    proof.map((s) => s.Condition['ForAllValues:StringEquals']['aws:TagKeys']),
    [[t.restore_proven]],
  );
  // The keys the functions write (shared/src/snapshot.rs OUR_TAG_KEYS): the ownership tags, the policy included.
  const written = [t.volume, t.managed_by, t.class, t.policy, t.name, t.volume_spec, t.set, t.set_size, t.set_deleting];
  for (const s of tagKeys.filter((x) => x.Sid !== 'RecordProofOnOurSnapshots'))
    assert.deepEqual([...s.Condition['ForAllValues:StringEquals']['aws:TagKeys']].sort(), [...written].sort());
  // What only an operator sets can never be written by us: the pin, and the bulk-deletion acknowledgement.
  for (const s of tagKeys) {
    for (const key of [t.keep, t.allow_bulk_delete]) assert.ok(!s.Condition['ForAllValues:StringEquals']['aws:TagKeys'].includes(key), key);
  }
  const text = JSON.stringify(statements());
  assert.ok(text.includes(`aws:ResourceTag/${t.managed_by}`));
  assert.ok(text.includes(`aws:RequestTag/${t.managed_by}`));
  assert.ok(text.includes(`aws:ResourceTag/${t.keep}`));
  for (const key of [...text.matchAll(/aws:(?:Resource|Request)Tag\/([^"]+)"/g)].map((m) => m[1])) {
    assert.ok([t.managed_by, t.keep, t.volume, t.class, t.policy, t.name, t.drill].includes(key), `tag key ${key} not in the contract`);
  }
});

test("rule names, permissions and the functions' EBS_GENS_RULE_PREFIX follow the contract's rule_prefix", () => {
  const prefix = contract.rule_prefix.replace('{deployment}', 'prod');
  for (const [, p] of resources('AWS::Lambda::Function')) assert.equal(p.Environment.Variables.EBS_GENS_RULE_PREFIX, prefix);
  // The rule-management statement (DeleteRule in both backends; PutRule only in the rules backend).
  const rules = statements().filter((s) => ([] as any[]).concat(s.Action).includes('events:DeleteRule'));
  assert.equal(rules.length, 1);
  const patterns = ([] as any[]).concat(rules[0].Resource).map((r: any) => r['Fn::Join'][1].at(-1));
  assert.deepEqual(
    patterns,
    contract.classes.map((c: string) => `:rule/${prefix}${c}-*`),
  );
});

test('a contract that is missing or malformed stops the synth with a clear message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contract-'));
  assert.throws(() => loadContract(join(dir, 'absent.json')), /make contract/);
  const noPolicy = structuredClone(contract);
  delete noPolicy.tags.policy;
  writeFileSync(join(dir, 'no-policy.json'), JSON.stringify(noPolicy));
  assert.throws(() => loadContract(join(dir, 'no-policy.json')), /tags\.policy/);
  const bad = structuredClone(contract);
  delete bad.functions[0].timeout_seconds;
  writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad));
  assert.throws(() => loadContract(join(dir, 'bad.json')), /functions\[0\]\.timeout_seconds/);
  const noConfig = structuredClone(contract);
  delete noConfig.config_parameter;
  writeFileSync(join(dir, 'no-config.json'), JSON.stringify(noConfig));
  assert.throws(() => loadContract(join(dir, 'no-config.json')), /config_parameter\.name/);
  const unknownAlways = structuredClone(contract);
  unknownAlways.metrics.always_emitted = ['VolumesManagd'];
  writeFileSync(join(dir, 'always.json'), JSON.stringify(unknownAlways));
  assert.throws(() => loadContract(join(dir, 'always.json')), /metrics\.always_emitted: VolumesManagd is not in metrics\.names/);
  const orphan = structuredClone(contract);
  orphan.state_machines[0].placeholders.push('NoSuchFunctionArn');
  writeFileSync(join(dir, 'orphan.json'), JSON.stringify(orphan));
  assert.throws(() => loadContract(join(dir, 'orphan.json')), /NoSuchFunctionArn names no function/);
  // The settings table and the time zones: every field the CDK app validates settings with.
  const malformed: [string, (c: any) => void, RegExp][] = [
    ['no-settings', (c) => delete c.settings, /settings must be a non-empty list/],
    ['bad-type', (c) => (c.settings[0].type = 'colour'), /settings\[0\]\.type must be one of integer, number, /],
    ['no-range', (c) => delete c.settings.find((r: any) => r.type === 'integer').max, /settings\[\d+\]: min and max must be integers/],
    ['no-values', (c) => (c.settings.find((r: any) => r.type === 'enum').values = []), /settings\[\d+\]\.values must be a non-empty list/],
    [
      'bad-pattern',
      (c) => (c.settings.find((r: any) => r.type === 'text').pattern = '^[a-$'),
      /settings\[\d+\]\.pattern "\^\[a-\$" is not a regular expression/,
    ],
    ['twice', (c) => c.settings.push({ ...c.settings[1] }), /settings\[\d+\]: EBS_GENS_BACKEND is in the settings twice/],
    ['no-zones', (c) => delete c.time_zones, /time_zones must be a non-empty list of strings/],
  ];
  for (const [name, spoil, error] of malformed) {
    const c = structuredClone(contract);
    spoil(c);
    writeFileSync(join(dir, `${name}.json`), JSON.stringify(c));
    assert.throws(() => loadContract(join(dir, `${name}.json`)), error, name);
  }
});

test('a renamed function keeps its construct id: ensure-schedules and its former name ensure-rules both work, one place maps them', () => {
  // contract.json lists the function under its new name or (before the rename landed) its former
  // one; either way it is the same function, with the construct id it was first deployed under, so
  // the function, its role and its log group keep their logical IDs (test/identity.test.ts).
  const dir = mkdtempSync(join(tmpdir(), 'contract-'));
  const withEnsure = (name: string, placeholder: string) => {
    const c = structuredClone(contract);
    const entry = c.functions.find((f: any) => f.name === 'ensure-schedules' || f.name === 'ensure-rules');
    const old = entry.placeholder;
    Object.assign(entry, { name, placeholder });
    for (const sm of c.state_machines) sm.placeholders = sm.placeholders.map((p: string) => (p === old ? placeholder : p));
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify(c));
    return loadContract(path);
  };
  const renamed = contractFunctions(withEnsure('ensure-schedules', 'EnsureSchedulesFunctionArn'));
  const former = contractFunctions(withEnsure('ensure-rules', 'EnsureRulesFunctionArn'));
  assert.deepEqual(former.names, renamed.names);
  assert.deepEqual([...renamed.names].sort(), ['discover-volumes', 'ensure-schedules', 'prune-volumes', 'restore-drill', 'tag-snapshot']);
  // The binary (and Function dimension) is the contract's name; the construct id is the historical one.
  assert.equal(renamed.entries['ensure-schedules'].name, 'ensure-schedules');
  assert.equal(former.entries['ensure-schedules'].name, 'ensure-rules');
  assert.equal(constructId('ensure-schedules'), 'ensure-rules');
  for (const n of ['discover-volumes', 'tag-snapshot', 'prune-volumes', 'restore-drill'] as const) assert.equal(constructId(n), n);
  // The synthesized template follows whichever the contract in the repository says.
  const ensureLambda = resources('AWS::Lambda::Function').filter(([, p]) => functionNameOf(p) === contractEntry('ensure-schedules').name);
  assert.equal(ensureLambda.length, 1);
  assert.match(ensureLambda[0][0], /^Functionsensurerules[0-9A-F]{8}$/);
  // A name the construct does not know, or one function listed under both names, stops the synth.
  assert.throws(
    () => contractFunctions(withEnsure('ensure-everything', 'EnsureEverythingFunctionArn')),
    /contract\.json function ensure-everything is unknown to the CDK app \(it would get no permissions\)/,
  );
  const both = structuredClone(contract);
  const ensure = both.functions.find((f: any) => f.name === 'ensure-schedules' || f.name === 'ensure-rules');
  both.functions.push({ ...ensure, name: ensure.name === 'ensure-rules' ? 'ensure-schedules' : 'ensure-rules', placeholder: 'X' });
  writeFileSync(join(dir, 'both.json'), JSON.stringify(both));
  assert.throws(() => contractFunctions(loadContract(join(dir, 'both.json'))), /contract\.json lists ensure-schedules twice/);
});
