// The default backend end to end: EventBridge Scheduler on moto (which stores schedules but never
// fires them; scripts/fleet.py fires them as Scheduler would, CreateSnapshot with the target's
// Input), both state machines with the real functions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { runStateMachine } from '../../statemachine/runner/local.mjs';
import { completionEvent } from '../../statemachine/runner/fixtures.mjs';
import { startStack, ROOT } from '../../statemachine/runner/stack.mjs';

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

test('scheduler: one schedule per volume in the user\'s zone; snapshots born tagged; pruned to N', async () => {
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
