// The demo's checks (scripts/demo.mjs) on made-up results, without the stack: a result that agrees
// with its emulator passes every check, and each kind of disagreement is caught by the check named
// for it, with the sentence `make demo` prints.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDemo, DEMO_CHECKS, tally } from '../../scripts/demo.mjs';

const snaps = (...ids) => ids.map((id) => ({ id, tags: {} }));
const kept = (...ids) => ids.map((id) => ({ snapshot_id: id, reasons: ['daily 2026-11-01'] }));

/**
 * A demo run whose reports agree with the emulator: vol-a (on web01) loses a1 on its completion
 * event and a2 in the sweep; vol-h's bulk deletion is held; vol-s is stale; vol-m is
 * misconfigured; vol-g was deleted, leaving two orphans. vol-a's tag copies its 3 newest dailies to
 * us-west-2 (a4 on its completion event); the deployment's weekly rule has nothing to copy yet for the others. (The status checks find a volume's row by
 * its id, so these ids avoid the words they look for, as real ids do.)
 */
function agreeing(backend = 'scheduler') {
  const seeded = {
    instances: { 'i-1': 'web01' },
    volumes: { 'vol-a': { instance: 'i-1' }, 'vol-h': { instance: null }, 'vol-s': { instance: null } },
    misconfigured: ['vol-m'],
    pinned: ['pin'],
    foreign: ['foreign'],
    held: ['vol-h'],
    stale: ['vol-s'],
    orphaned: ['vol-g'],
    copies: { 'vol-a': 'daily:us-west-2=3' },
    // vol-a was locked all along (a3, last week's keeper, is extended); lk was locked by hand.
    locks: { daily_locked: 'vol-a', locked: ['a3'], held_volume: 'vol-a', held: 'lk' },
    // The scheduler backend's database instance: two data volumes kept as 1 whole set.
    ...(backend === 'scheduler' ? { sets: { instance: 'i-db', volumes: ['vol-d1', 'vol-d2'], gens: 1 } } : {}),
  };
  const member = (id, vol) => ({
    id,
    tags: { 'ebs-gens:set': 'i-db@2026-11-03T05:00:00Z', 'ebs-gens:volume': vol, 'ebs-gens:set-size': '2' },
  });
  const setSnapshots = backend === 'scheduler' ? { 'vol-d1': [member('d1', 'vol-d1')], 'vol-d2': [member('d2', 'vol-d2')] } : {};
  const copy = (id, copy_of) => ({ id, state: 'completed', copy_of, class: 'daily', source_start: '2026-11-01T05:00:00+00:00' });
  const west = (kept, more = {}) => [
    { region: 'us-west-2', kept: Array.from({ length: kept }, (_, i) => ({ snapshot_id: `c${i}`, reasons: ['daily'] })), ...more },
  ];
  const before = {
    snapshots: {
      'vol-a': snaps('a1', 'a2', 'a3', 'pin', 'foreign', 'lk'),
      'vol-h': snaps('h1', 'h2', 'h3'),
      'vol-s': snaps('s1'),
      'vol-m': snaps('m1'),
      'vol-g': snaps('g1', 'g2'),
    },
    rules: [],
  };
  // vol-a's generations a3 (two days ago) and a4 (today) of ours: a restore as of yesterday is a3.
  const ours = (id, start) => ({ id, start, tags: { 'ebs-gens:managed-by': 'demo' } });
  const after = {
    snapshots: {
      'vol-a': [ours('a3', '2026-11-01T05:00:00+00:00'), ours('a4', '2026-11-03T05:00:00+00:00'), ...snaps('pin', 'foreign', 'lk')],
      'vol-h': snaps('h1', 'h2', 'h3', 'h4'),
      'vol-s': snaps('s1'),
      'vol-m': snaps('m1'),
      'vol-g': snaps('g1', 'g2'),
      ...setSnapshots,
    },
    rules: backend === 'rules' ? [{ name: 'ebs-gens-demo-daily', schedule: 'cron(0 5 * * ? *)', state: 'ENABLED', targets: [] }] : [],
  };
  const reports = [
    { volume_id: 'vol-s', policy: 'daily=7', adopted: [], deleted: [], kept: kept('s1'), stale: 'no snapshot for 3 days', copies: west(0) },
    {
      volume_id: 'vol-a',
      policy: 'daily=7',
      adopted: [],
      deleted: [{ snapshot_id: 'a2' }],
      kept: [
        ...kept('a3', 'a4', 'pin', 'foreign'),
        { snapshot_id: 'lk', reasons: ['surplus held by its snapshot lock: locked until 2026-12-05 00:00 UTC'] },
      ],
      copies: west(3, { newest_source: '2026-11-03T05:00:00Z' }),
    },
    {
      volume_id: 'vol-h',
      policy: 'daily=3',
      adopted: [],
      deleted: [],
      kept: kept('h4'),
      held_back: kept('h1', 'h2', 'h3'),
      held: { why: '3 of 4' },
      copies: west(0),
    },
  ];
  const summary = {
    stale: 1,
    orphaned: 2,
    orphan_volumes: 1,
    attention: [
      { volume_id: 'vol-h', state: 'held' },
      { volume_id: 'vol-s', state: 'stale' },
    ],
  };
  const prune = (volume_id, deleted, copies = [], locked = []) => ({
    volume_id,
    adopted: [],
    deleted: deleted.map((snapshot_id) => ({ snapshot_id })),
    copies,
    locked,
  });
  const locked = [
    { snapshot_id: 'a4', reasons: ['governance until 2026-12-02 10:45 UTC'] },
    { snapshot_id: 'a3', reasons: ['compliance until 2026-12-22 01:15 UTC (extended)'] },
  ];
  return {
    backend,
    seeded,
    managed: Object.keys(seeded.volumes),
    before,
    fired: [
      { volume: 'vol-a', snapshot: 'a4' },
      { volume: 'vol-h', snapshot: 'h4' },
    ],
    firedSets:
      backend === 'scheduler'
        ? [
            { volume: 'vol-d1', snapshot: 'd1', set: 'i-db@2026-11-03T05:00:00Z' },
            { volume: 'vol-d2', snapshot: 'd2', set: 'i-db@2026-11-03T05:00:00Z' },
          ]
        : [],
    completions: [
      { snapshot: 'a4', ok: true, adopted: 0, prunes: [prune('vol-a', ['a1'], west(2, { copied: ['a4 → c4'] }), locked)] },
      { snapshot: 'h4', ok: true, adopted: 0, prunes: [prune('vol-h', [])] },
    ],
    sweep: { ok: true, output: { summary } },
    reports,
    after,
    schedules: backend === 'scheduler' ? { a: {}, held: {}, stale: {}, 'i-db.daily.0123456789ab': {} } : undefined,
    copies: { 'vol-a': [copy('c2', 'a2'), copy('c3', 'a3'), copy('c4', 'a4')] },
    locks: { a4: { state: 'governance' }, a3: { state: 'compliance-cooloff' }, lk: { state: 'governance' } },
    status: {
      status: 2,
      stdout:
        'vol-a  ok\nvol-h  held\nvol-s  stale\nvol-m  misconfigured\nvol-g  volume deleted\nInstance sets (kept and deleted whole):\n',
      stderr: '',
    },
    drill: {
      ok: true,
      output: { proven: [{ volume_id: 'vol-a', region: 'us-east-1', snapshot_id: 'a4', seconds: 0 }], failed: [], failures: 0 },
      left: [],
    },
    restore: {
      volume: 'vol-a',
      at: '2026-11-02T05:00:00Z',
      status: 0,
      stderr: '',
      result: { plan: { chosen: { snapshot_id: 'a3' } }, volume_id: 'vol-r', state: 'available', undo: [] },
      volumes: { 'vol-r': { 'ebs-gens:restored-from': 'a3', Name: 'web01 (restore as of 2026-11-01 05:00 UTC)' } },
    },
  };
}

test('a demo whose reports agree with the emulator passes every check, on both backends', () => {
  assert.deepEqual(checkDemo(agreeing('scheduler')), []);
  assert.deepEqual(checkDemo(agreeing('rules')), []);
});

test('the tally adds both phases per volume (completion events, then the sweep), sorted by instance', () => {
  const t = tally(agreeing());
  assert.deepEqual(
    t.rows.map((row) => [row.report.volume_id, row.instance, row.adopted, row.deleted, row.kept]),
    [
      ['vol-h', 'unattached', 0, 0, 4],
      ['vol-s', 'unattached', 0, 0, 1],
      ['vol-a', 'web01', 0, 2, 5],
    ],
  );
  assert.deepEqual([t.deleted, t.kept, t.adopted, t.adoptedByEvent], [2, 10, 0, 0]);
  assert.equal(t.rows[0].note, 'HELD: 3 of 4');
  assert.equal(t.rows[2].note, 'daily ×4, surplus held by its snapshot lock: locked until 2026-12-05 00:00 UTC ×1');
});

/** The failures of one named check on `r`. */
const failuresOf = (name, r) => DEMO_CHECKS[name](r, tally(r));

test('each disagreement is caught by the check named for it', () => {
  const cases = [
    ['completionsSucceeded', (r) => Object.assign(r.completions[0], { ok: false, error: 'States.Timeout', cause: 'late' })],
    ['scheduledSnapshotsBornTagged', (r) => (r.completions[0].adopted = 1)],
    ['sweepSucceeded', (r) => Object.assign(r.sweep, { ok: false, error: 'States.TaskFailed', cause: 'boom' })],
    ['oneSchedulePerManagedVolume', (r) => r.after.rules.push({ name: 'stray', targets: [] })],
    ['reportMatchesEmulator', (r) => r.after.snapshots['vol-a'].push({ id: 'a2' })],
    ['misconfiguredKeepsItsSnapshots', (r) => (r.after.snapshots['vol-m'] = [])],
    ['pinnedAndForeignKept', (r) => (r.after.snapshots['vol-a'] = r.after.snapshots['vol-a'].filter((s) => s.id !== 'pin'))],
    ['heldDeletesNothing', (r) => r.sweep.output.summary.attention.shift()],
    ['staleReported', (r) => (r.sweep.output.summary.stale = 0)],
    ['orphansFoundAndKept', (r) => r.after.snapshots['vol-g'].pop()],
    ['snapshotsAddUp', (r) => r.reports.pop()],
    ['copiesKeptAsPlanned', (r) => r.copies['vol-a'].pop()],
    ['locksAsPlanned', (r) => (r.locks.a3.state = 'governance')],
    ['statusCritical', (r) => (r.status.status = 0)],
    ['statusRows', (r) => (r.status.stdout = r.status.stdout.replace('vol-h  held', 'vol-h  ok'))],
    ['restoredAsOfYesterday', (r) => (r.restore.result.plan.chosen.snapshot_id = 'a4')],
    ['drilledAndCleanedUp', (r) => r.drill.left.push('vol-d')],
    ['setsKeptWhole', (r) => r.after.snapshots['vol-d1'].pop()],
  ];
  assert.deepEqual(cases.map(([name]) => name).sort(), Object.keys(DEMO_CHECKS).sort(), 'one case per check');
  for (const [name, spoil] of cases) {
    const r = agreeing();
    assert.deepEqual(failuresOf(name, r), [], `${name} passes before`);
    spoil(r);
    assert.notDeepEqual(failuresOf(name, r), [], `${name} catches its disagreement`);
    assert.ok(checkDemo(r).length > 0);
  }
});

test('the failures read as make demo prints them', () => {
  const r = agreeing();
  r.after.snapshots['vol-a'] = r.after.snapshots['vol-a'].filter((s) => s.id !== 'pin');
  r.status.status = 0;
  assert.deepEqual(checkDemo(r), [
    'vol-a: moto holds 4 snapshots, the report kept 5',
    'pin (pinned / not ours) was deleted',
    'before 10 + fired 2 - deleted 2 != now 9',
    'moto holds 9 snapshots of managed volumes, report kept 10',
    'ebs-gens status exited 0, expected 2 (critical: one stale, one misconfigured volume)',
  ]);
});
