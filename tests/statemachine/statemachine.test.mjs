// Both state machines, end to end, through the local runner: aws-local-stepfunctions executes the
// ASL, cargo lambda watch serves the real Rust functions, moto holds EC2 and EventBridge.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { runStateMachine } from '../../local/runner.mjs';
import { completionEvent } from '../../local/fixtures.mjs';
import { startStack, ROOT, SNAPSHOT_ROLE } from '../../local/stack.mjs';

const SWEEP = resolve(ROOT, 'statemachine/sweep.asl.json');
const COMPLETED = resolve(ROOT, 'statemachine/snapshot-completed.asl.json');
let stack;

before(async () => {
  // moto stamps new snapshots "now": a schedule firing every minute makes them adoptable.
  stack = await startStack({ env: { EBS_GENS_BACKEND: 'rules', EBS_GENS_CRON_DAILY: 'cron(0/1 * * * ? *)' } });
});

after(async () => {
  await stack?.stop();
});

const run = (file, input) => runStateMachine(file, input, { endpoint: stack.lambdaEndpoint, retryDelayMs: 0 });

test('sweep: dry run reports the plan and changes nothing', async () => {
  await stack.reset();
  const seeded = stack.fleet('seed-test');
  const before = stack.fleet('state');
  const r = await run(SWEEP, { dry_run: true });
  assert.ok(r.ok, `${r.error}: ${r.cause}`);
  assert.equal(r.output.dry_run, true);
  assert.equal(r.output.summary.volumes, 3);
  assert.equal(r.output.summary.misconfigured, 1);
  assert.equal(r.output.summary.deleted, 6);
  assert.deepEqual(stack.fleet('state'), before);
  assert.equal(seeded.volumes.length, 3);
});

test('sweep: rules created enabled, surplus deleted, and a failed delete tried again and counted', async () => {
  await stack.reset();
  const seeded = stack.fleet('seed-test');
  stack.proxy.faults.push({ action: 'DeleteSnapshot', times: 1 });
  const r = await run(SWEEP, {});
  assert.ok(r.ok, `${r.error}: ${r.cause}`);
  assert.deepEqual(
    { volumes: r.output.summary.volumes, failed: r.output.summary.failed_batches, misconfigured: r.output.summary.misconfigured },
    { volumes: 3, failed: 0, misconfigured: 1 },
  );
  // The summary counts every deletion: the batch deleted five, one delete failed, and the same
  // invocation tried it again after the others and deleted it — six, in one invocation.
  assert.equal(r.output.summary.deleted, 6);
  const prunes = r.invocations.filter((i) => i.state === 'PruneBatch');
  assert.deepEqual(
    prunes.map((i) => i.error),
    [null],
  );
  assert.equal(prunes[0].output.totals.deleted, 6);
  // Then the orphan scan (prune-volumes with {orphans: true}): this fleet has none.
  const scans = r.invocations.filter((i) => i.state === 'ScanOrphans');
  assert.deepEqual(
    scans.map((i) => [i.input, i.error, i.output.totals.orphaned]),
    [[{ volumes: [], orphans: true, dry_run: false, allow_bulk_delete: false }, null, 0]],
  );
  assert.equal(r.output.summary.orphaned, 0);
  const state = stack.fleet('state');
  for (const v of seeded.volumes) assert.equal(state.snapshots[v].length, 2, `${v} keeps Daily_Gens=2`);
  assert.equal(state.snapshots[seeded.misconfigured].length, 1, 'misconfigured volume untouched');
  assert.equal(state.rules.length, 1);
  assert.equal(state.rules[0].state, 'ENABLED');
  assert.deepEqual(state.rules[0].targets.map((t) => t.id).sort(), [...seeded.volumes].sort());
  for (const t of state.rules[0].targets) {
    assert.equal(t.role, SNAPSHOT_ROLE);
    assert.equal(t.input, JSON.stringify(t.id));
    assert.match(t.arn, /^arn:aws:events:us-east-1:123456789012:target\/create-snapshot$/);
  }
  // A second sweep has nothing left to do.
  const again = await run(SWEEP, { dry_run: false });
  assert.ok(again.ok);
  assert.equal(again.output.summary.deleted, 0);
  assert.equal(again.output.rules.changes, 0);
});

test('snapshot-completed: tags the new snapshot, then prunes its volume', async () => {
  await stack.reset();
  const seeded = stack.fleet('seed-test');
  const vol = seeded.volumes[0];
  const { snapshot } = stack.fleet('snapshot', vol);
  const r = await run(COMPLETED, completionEvent(snapshot, vol, 'succeeded'));
  assert.ok(r.ok, `${r.error}: ${r.cause}`);
  assert.equal(r.output.tag.results[0].action, 'adopted');
  assert.equal(r.output.prune.totals.deleted, 3, 'Daily_Gens=2: the new one and the newest old one stay');
  const state = stack.fleet('state');
  const snaps = state.snapshots[vol];
  assert.equal(snaps.length, 2);
  const adopted = snaps.find((s) => s.id === snapshot);
  assert.equal(adopted.tags.Name, `web01_Daily_${vol}`);
  assert.equal(adopted.tags['ebs-gens:managed-by'], 'demo');
  // A duplicate delivery changes nothing.
  const dup = await run(COMPLETED, completionEvent(snapshot, vol, 'succeeded'));
  assert.ok(dup.ok);
  assert.equal(dup.output.tag.results[0].action, 'already-ours');
  assert.equal(dup.output.prune.totals.deleted, 0);
});

test('snapshot-completed: the same completion event twice changes nothing the second time', async () => {
  // EventBridge delivers at least once and Express runs at least once: a duplicated execution
  // must adopt nothing, delete nothing and leave the fleet exactly as the first left it.
  await stack.reset();
  const seeded = stack.fleet('seed-test');
  const vol = seeded.volumes[2];
  const { snapshot } = stack.fleet('snapshot', vol);
  const event = completionEvent(snapshot, vol);
  const first = await run(COMPLETED, event);
  assert.ok(first.ok, `${first.error}: ${first.cause}`);
  assert.equal(first.output.tag.results[0].action, 'adopted');
  assert.ok(first.output.prune.totals.deleted > 0, 'the first execution pruned the surplus');
  const afterFirst = stack.fleet('state');

  const second = await run(COMPLETED, completionEvent(snapshot, vol));
  assert.ok(second.ok, `${second.error}: ${second.cause}`);
  assert.deepEqual(
    second.output.tag.results.map((x) => x.action),
    ['already-ours'],
  );
  assert.equal(second.output.prune.totals.adopted, 0);
  assert.equal(second.output.prune.totals.deleted, 0);
  for (const v of second.output.prune.volumes) {
    assert.deepEqual([v.adopted, v.deleted], [[], []], v.volume_id);
  }
  assert.deepEqual(
    second.invocations.map((i) => [i.function, i.error]),
    [
      ['tag-snapshot', null],
      ['prune-volumes', null],
    ],
  );
  assert.deepEqual(stack.fleet('state'), afterFirst);
});

test('snapshot-completed: a failed snapshot ends in SnapshotFailed, untagged', async () => {
  await stack.reset();
  const seeded = stack.fleet('seed-test');
  const vol = seeded.volumes[1];
  const { snapshot } = stack.fleet('snapshot', vol);
  const r = await run(COMPLETED, completionEvent(snapshot, vol, 'failed'));
  assert.equal(r.ok, false);
  assert.equal(r.error, 'SnapshotFailed');
  assert.deepEqual(
    r.invocations.map((i) => i.function),
    ['tag-snapshot'],
  );
  const s = stack.fleet('state').snapshots[vol].find((x) => x.id === snapshot);
  assert.deepEqual(s.tags, {});
});

test('snapshot-completed: a malformed event is caught and fails with InvalidInput', async () => {
  const r = await run(COMPLETED, { source: 'aws.ec2', 'detail-type': 'EBS Snapshot Notification', detail: { event: 'createSnapshot' } });
  assert.equal(r.ok, false);
  assert.equal(r.error, 'InvalidInput');
  assert.match(r.cause, /invalid EBS snapshot event/);
  // InvalidInput is not retried.
  assert.equal(r.invocations.length, 1);
});

test('sweep: a non-boolean dry_run or allow_bulk_delete, or an unknown key, fails fast with InvalidInput and runs nothing', async () => {
  await stack.reset();
  stack.fleet('seed-test');
  const before = stack.fleet('state');
  const bad = [
    { dry_run: 'true' },
    { dryRun: true },
    { dry_run: 1 },
    { dry_run: null },
    { dry_run: false, extra: 1 },
    [],
    { allow_bulk_delete: 'true' },
    { dry_run: false, allow_bulk_delete: 1 },
    { allow_bulk_delete: null, dry_run: false },
    { dry_run: false, allow_bulk_delete: true, extra: 1 },
  ];
  for (const input of bad) {
    const r = await run(SWEEP, input);
    assert.equal(r.ok, false, JSON.stringify(input));
    assert.equal(r.error, 'InvalidInput', JSON.stringify(input));
    assert.match(r.cause, /each a JSON boolean/);
    assert.deepEqual(r.invocations, [], `${JSON.stringify(input)}: no function may run`);
  }
  assert.deepEqual(stack.fleet('state'), before);
});

test('sweep: allow_bulk_delete reaches every prune batch and releases the deletions the fuse holds', async () => {
  await stack.reset();
  const seeded = stack.fleet('seed-demo');
  const before = stack.fleet('state');
  const held = await run(SWEEP, { dry_run: true });
  assert.ok(held.ok, `${held.error}: ${held.cause}`);
  assert.ok(held.output.summary.held >= seeded.held.length, JSON.stringify(held.output.summary));
  const allowed = await run(SWEEP, { dry_run: true, allow_bulk_delete: true });
  assert.ok(allowed.ok, `${allowed.error}: ${allowed.cause}`);
  assert.equal(allowed.output.summary.held, 0, JSON.stringify(allowed.output.summary));
  assert.ok(allowed.output.summary.deleted > held.output.summary.deleted);
  const prunes = allowed.invocations.filter((i) => i.state === 'PruneBatch');
  assert.ok(prunes.length > 0);
  for (const p of prunes) assert.equal(p.input.allow_bulk_delete, true, JSON.stringify(p.input));
  // The orphan scan too: a deleted volume's held snapshots can be released only this way.
  const scan = allowed.invocations.find((i) => i.state === 'ScanOrphans');
  assert.equal(scan.input.allow_bulk_delete, true, JSON.stringify(scan.input));
  // Either key order is accepted; both were dry runs: nothing changed.
  const reordered = await run(SWEEP, { allow_bulk_delete: false, dry_run: true });
  assert.ok(reordered.ok, `${reordered.error}: ${reordered.cause}`);
  assert.deepEqual(stack.fleet('state'), before);
});

test('deletes that keep failing fail both state machines visibly, and nothing else is lost', async () => {
  // The sweep: every DeleteSnapshot refused, through the prune's own retries.
  await stack.reset();
  const seeded = stack.fleet('seed-test');
  const before = stack.fleet('state');
  stack.proxy.faults.push({ action: 'DeleteSnapshot', times: 1000 });
  try {
    const r = await run(SWEEP, {});
    assert.equal(r.ok, false, 'the sweep must fail when deletes still fail');
    assert.equal(r.error, 'DeleteFailed', `${r.error}: ${r.cause}`);
    const prunes = r.invocations.filter((i) => i.state === 'PruneBatch');
    assert.ok(prunes.length > 0 && prunes.every((i) => i.error === null), 'reported by the prune, not thrown');
    assert.ok(
      prunes.every((i) => i.output.totals.failed > 0 && i.output.totals.deleted === 0),
      JSON.stringify(prunes.map((i) => i.output.totals)),
    );
    assert.deepEqual(stack.fleet('state').snapshots, before.snapshots, 'nothing deleted, nothing lost');

    // snapshot-completed: PruneOk sends it to DeletesFailed.
    const vol = seeded.volumes[0];
    const { snapshot } = stack.fleet('snapshot', vol);
    const c = await run(COMPLETED, completionEvent(snapshot, vol, 'succeeded'));
    assert.equal(c.ok, false);
    assert.equal(c.error, 'DeleteFailed', `${c.error}: ${c.cause}`);
  } finally {
    stack.proxy.faults.length = 0;
  }
});
