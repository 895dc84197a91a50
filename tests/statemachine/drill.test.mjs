// Restore drills through the drill state machine on the local stack: moto creates volumes from
// snapshots (available at once), the real restore-drill function samples, restores, proves and
// deletes; its Wait states are skipped here. Every drill volume is gone afterwards, the proof is
// on the snapshots, the next drill rotates to the volume not yet proven, a dry run creates
// nothing, and a bad input fails before anything runs.
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { runStateMachine } from '../../local/runner.mjs';
import { ROOT, startStack } from '../../local/stack.mjs';

const DRILL = resolve(ROOT, 'statemachine/restore-drill.asl.json');
let stack;

before(async () => {
  stack = await startStack({ env: { EBS_GENS_BACKEND: 'scheduler', EBS_GENS_DRILL_VOLUMES: '2' } });
});

after(async () => {
  await stack?.stop();
});

const run = (input) => runStateMachine(DRILL, input, { endpoint: stack.lambdaEndpoint, retryDelayMs: 0, waitMs: 0 });
const drillVolumes = () => Object.entries(stack.fleet('state').volumes).filter(([, tags]) => 'ebs-gens:drill' in tags);
const provenSnapshots = () =>
  Object.values(stack.fleet('state').snapshots)
    .flat()
    .filter((s) => 'ebs-gens:restore-proven' in s.tags);

function seed() {
  stack.fleet('create-group');
  return stack.fleet('seed-fleet', '--volumes', '3', '--tag', 'Daily_Gens=7', '--history', '2', '--name', 'drill');
}

test('a drill proves two volumes restorable, leaves no volume behind, and the next one rotates', async () => {
  await stack.reset();
  const fleet = seed();
  const r = await run({});
  assert.ok(r.ok, `${r.error}: ${r.cause}`);
  assert.equal(r.output.proven.length, 2, JSON.stringify(r.output));
  assert.equal(r.output.failures, 0);
  assert.deepEqual(drillVolumes(), [], 'every drill volume deleted');
  assert.equal(provenSnapshots().length, 2, 'the proof is on the two snapshots');
  const first = r.output.proven.map((p) => p.volume_id);
  const next = await run({});
  assert.ok(next.ok, `${next.error}: ${next.cause}`);
  const third = fleet.volumes.find((v) => !first.includes(v));
  assert.ok(
    next.output.proven.some((p) => p.volume_id === third),
    `the volume never proven comes next: ${JSON.stringify(next.output.proven)}`,
  );
});

test('a dry run restores nothing; a bad input fails before anything runs', async () => {
  await stack.reset();
  seed();
  const dry = await run({ dry_run: true });
  assert.ok(dry.ok, `${dry.error}: ${dry.cause}`);
  assert.equal(dry.output.notes.filter((n) => n.startsWith('would restore')).length, 2);
  assert.deepEqual(drillVolumes(), []);
  const bad = await run({ dry_run: 'yes' });
  assert.equal(bad.ok, false);
  assert.equal(bad.error, 'InvalidInput');
  assert.deepEqual(drillVolumes(), []);
});
