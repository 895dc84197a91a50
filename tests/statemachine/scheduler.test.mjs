// The default backend end to end: EventBridge Scheduler on moto (which stores schedules but never
// fires them; local/fleet.py fires them as Scheduler would, CreateSnapshot with the target's
// Input), both state machines with the real functions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { runStateMachine } from '../../local/runner.mjs';
import { completionEvent } from '../../local/fixtures.mjs';
import { startStack, ROOT } from '../../local/stack.mjs';

const SWEEP = resolve(ROOT, 'statemachine/sweep.asl.json');
const COMPLETED = resolve(ROOT, 'statemachine/snapshot-completed.asl.json');
let stack;

before(async () => {
  stack = await startStack({ env: { EBS_GENS_BACKEND: 'scheduler', EBS_GENS_TIME_ZONE: 'Asia/Tokyo' } });
});

after(async () => {
  await stack?.stop();
});

const run = (file, input) => runStateMachine(file, input, { endpoint: stack.lambdaEndpoint, retryDelayMs: 0 });

test("scheduler: one schedule per volume in the user's zone; snapshots born tagged; pruned to N", async () => {
  await stack.reset();
  stack.fleet('create-group');
  const seeded = stack.fleet('seed-test');
  const first = await run(SWEEP, {});
  assert.ok(first.ok, `${first.error}: ${first.cause}`);
  const schedules = Object.values(stack.fleet('schedules'));
  // Three managed volumes; the misconfigured one had no schedule and gets none.
  assert.equal(schedules.length, 3);
  for (const s of schedules) {
    assert.equal(s.time_zone, 'Asia/Tokyo');
    assert.equal(s.expression, 'cron(30 9 * * ? *)');
    const tags = Object.fromEntries(s.input.TagSpecifications[0].Tags.map((t) => [t.Key, t.Value]));
    assert.equal(tags['ebs-gens:managed-by'], 'demo');
    assert.equal(tags['ebs-gens:volume'], s.input.VolumeId);
    assert.match(tags.Name, /^web01_Daily_vol-/);
  }
  assert.deepEqual(stack.fleet('state').rules, [], 'no EventBridge rules on the scheduler backend');

  // The schedules fire; each completion event finds a snapshot that is already ours.
  const fired = stack.fleet('fire-schedules');
  assert.equal(fired.length, 3);
  for (const f of fired) {
    const r = await run(COMPLETED, completionEvent(f.snapshot, f.volume));
    assert.ok(r.ok, `${r.error}: ${r.cause}`);
    const tagged = r.invocations.find((i) => i.state === 'TagSnapshot').output.results[0];
    assert.equal(tagged.action, 'already-ours', JSON.stringify(tagged));
  }
  const state = stack.fleet('state');
  for (const v of seeded.volumes) {
    assert.equal(state.snapshots[v].length, 2, `${v}: Daily_Gens=2 after the new snapshot`);
  }

  // A second sweep changes nothing.
  const again = await run(SWEEP, {});
  assert.ok(again.ok, `${again.error}: ${again.cause}`);
  assert.equal(again.output.rules.changes, 0);
});

// The operator's command, as a new user runs it against the emulator: its settings come from the
// configuration the deployment publishes (/ebs-gens/demo/config in moto's SSM), never from the
// local environment; an in-process change only when every endpoint is loopback.
const CLI = `${process.env.CARGO_TARGET_DIR ?? `${ROOT}/target`}/debug/ebs-gens`;
// Asynchronous: the fault proxy runs in this process, so a synchronous spawn would leave it unable
// to answer the command's calls.
const cli = (args, env = {}) =>
  new Promise((done, fail) => {
    const child = spawn(CLI, [...args, '--region', 'us-east-1'], {
      // A clean environment: no operator profile, no EBS_GENS_* of the machine running the tests.
      env: {
        PATH: process.env.PATH,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_CONFIG_FILE: '/nonexistent/ebs-gens-test-config',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/ebs-gens-test-credentials',
        NO_COLOR: '1',
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', (e) => fail(new Error(`${CLI}: ${e.message} (build it with cargo build --workspace --bins)`)));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });

test('cli: settings come from the published configuration; a contradicting local setting or a missing configuration is refused', async () => {
  await stack.reset();
  stack.fleet('create-group');
  stack.fleet('seed-test');
  const at = ['--endpoint-url', stack.motoUrl, '--deployment', 'demo'];
  // No EBS_GENS_* here at all: the deployment's backend, zone and roles are used.
  const applied = await cli(['sweep', '--apply', '--output', 'json', ...at]);
  assert.ok([0, 2].includes(applied.status), `exit ${applied.status}: ${applied.stderr}`);
  const schedules = Object.values(stack.fleet('schedules'));
  assert.equal(schedules.length, 3, 'the in-process apply on the emulator reconciled the schedules');
  for (const s of schedules) assert.equal(s.time_zone, 'Asia/Tokyo', 'the published zone, not the local default (UTC)');

  const wrongZone = await cli(['status', ...at], { EBS_GENS_TIME_ZONE: 'UTC' });
  assert.equal(wrongZone.status, 3, wrongZone.stdout);
  assert.match(wrongZone.stderr, /EBS_GENS_TIME_ZONE="UTC" here, "Asia\/Tokyo" in the deployment/);
  const extraKey = await cli(['plan', ...at], { EBS_GENS_TAG_KEY_DAILY: 'Backup_Daily' });
  assert.equal(extraKey.status, 3);
  assert.match(extraKey.stderr, /EBS_GENS_TAG_KEY_DAILY/);

  const older = await cli(['status', '--endpoint-url', stack.motoUrl, '--deployment', 'legacy']);
  assert.equal(older.status, 3);
  assert.match(older.stderr, /\/ebs-gens\/legacy\/config.*redeploy/s);
  const otherAccount = await cli(['status', ...at, '--account-id', '999999999999']);
  assert.equal(otherAccount.status, 3);
  assert.match(otherAccount.stderr, /account/);

  // plan: a row with reasons for every snapshot the next prune touches.
  const plan = await cli(['plan', '--output', 'json', ...at]);
  assert.equal(plan.status, 0, plan.stderr);
  for (const v of JSON.parse(plan.stdout).volumes) {
    const touched = v.kept.length + v.deleted.length + v.deferred.length + (v.held_back ?? []).length;
    assert.equal(v.snapshots.length, touched, JSON.stringify(v));
    for (const row of v.snapshots) assert.ok(row.reasons.length > 0, JSON.stringify(row));
  }
});

test('cli: sweep --apply refuses before any call when one service resolves off loopback', async () => {
  await stack.reset();
  stack.fleet('create-group');
  stack.fleet('seed-test');
  const before = stack.fleet('state');
  stack.proxy.seen.length = 0;
  // A VPC endpoint for one service (documentation address, never contacted): the more specific
  // variable wins over --endpoint-url, so this is not the emulator.
  const r = await cli(['sweep', '--apply', '--endpoint-url', stack.proxy.url, '--deployment', 'demo'], {
    AWS_ENDPOINT_URL_SCHEDULER: 'https://192.0.2.1',
  });
  assert.equal(r.status, 3, r.stdout);
  assert.match(r.stderr, /sweep --remote --apply/);
  assert.match(r.stderr, /SCHEDULER \(https:\/\/192\.0\.2\.1\)/);
  assert.deepEqual(stack.proxy.seen, [], 'no call was made');
  assert.deepEqual(stack.fleet('state'), before);
  // The CLI's default (no --apply) is a dry run in this process, on a fleet with work to do
  // (three schedules to create, surplus to delete): it reports the work and writes nothing.
  const dry = await cli(['sweep', '--output', 'json', '--endpoint-url', stack.proxy.url, '--deployment', 'demo']);
  assert.notEqual(dry.status, 3, dry.stderr);
  const summary = JSON.parse(dry.stdout);
  assert.equal(summary.dry_run, true);
  assert.ok(summary.deleted > 0 && summary.schedule_changes > 0, dry.stdout);
  const writes = stack.proxy.seen.filter((a) => /^(Create|Delete|Put|Remove|Update|Modify)/.test(a));
  assert.deepEqual(writes, [], 'the dry run wrote');
  assert.deepEqual(stack.fleet('schedules'), {}, 'the dry run created schedules');
  assert.deepEqual(stack.fleet('state'), before);
});
