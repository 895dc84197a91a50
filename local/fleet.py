"""Seeds and inspects an emulated EC2 fleet (moto) for the state-machine tests and `make demo`.

    python local/fleet.py --endpoint URL seed-test   -> JSON with the ids it created
    python local/fleet.py --endpoint URL seed-demo [--with-copies] [--with-locks] -> JSON with the ids it created
    python local/fleet.py --endpoint URL seed-faults -> JSON with the ids it created
    python local/fleet.py --endpoint URL snapshot VOLUME_ID [--backdate ISO]
    python local/fleet.py --endpoint URL fire        -> our rules fire: one snapshot per target
    python local/fleet.py --endpoint URL state       -> JSON: volumes, snapshots, rules
    python local/fleet.py --endpoint URL copies --region R -> JSON: our copies in R, by volume
    python local/fleet.py --endpoint URL locks       -> JSON: every snapshot lock, by snapshot
    python local/fleet.py --endpoint URL create-group   -> the deployment's schedule group
    python local/fleet.py --endpoint URL schedules      -> JSON: our schedules (expression, zone, input)
    python local/fleet.py --endpoint URL fire-schedules -> each schedule fires: CreateSnapshot with its Input
    python local/fleet.py --endpoint URL seed-fleet --volumes N --tag Daily_Gens=7 [--tag ...]
                                 [--history K --every-hours H] -> JSON with the ids it created

Only ever talks to the endpoint it is given (an emulator on loopback).
"""

import argparse
import datetime
import json
import sys

import boto3

REGION = "us-east-1"
DEPLOYMENT = "demo"


def clients(endpoint, region=REGION):
    kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client("ec2", **kw), boto3.client("events", **kw)


def scheduler_client(endpoint):
    return boto3.client("scheduler", endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


GROUP = f"ebs-gens-{DEPLOYMENT}"


def create_group(sch):
    """The schedule group the stack creates in AWS."""
    sch.create_schedule_group(Name=GROUP)
    return {"group": GROUP}


def schedules(sch):
    out = {}
    try:
        pages = sch.get_paginator("list_schedules").paginate(GroupName=GROUP)
        for page in pages:
            for s in page["Schedules"]:
                full = sch.get_schedule(GroupName=GROUP, Name=s["Name"])
                out[s["Name"]] = {"expression": full["ScheduleExpression"],
                                  "time_zone": full.get("ScheduleExpressionTimezone"),
                                  "input": json.loads(full["Target"]["Input"])}
    except sch.exceptions.ResourceNotFoundException:
        pass
    return out


# A demo volume tagged with this never gets its snapshot: as if its schedule had been deleted by
# hand or its role denied CreateSnapshot. `ebs-gens status` must call it stale.
BROKEN = "demo:schedule-broken"


def broken(ec2):
    return {v["VolumeId"] for v in ec2.describe_volumes(Filters=[{"Name": "tag-key", "Values": [BROKEN]}])["Volumes"]}


SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


def fire_schedules(ec2, sch, now=None):
    """What Scheduler does when each schedule fires: CreateSnapshot (or, for an instance's set,
    CreateSnapshots) with the target's Input, tags included and the scheduled time substituted
    (moto stores schedules but never fires them). A set's members share its `set` tag."""
    made = []
    skip = broken(ec2)
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, s in schedules(sch).items():
        spec = json.loads(json.dumps(s["input"]).replace(SCHEDULED_TIME, stamp))
        if "InstanceSpecification" in spec:
            set_tag = next(t["Value"] for t in spec["TagSpecifications"][0]["Tags"] if t["Key"] == "ebs-gens:set")
            for snap in ec2.create_snapshots(**spec)["Snapshots"]:
                made.append({"schedule": name, "snapshot": snap["SnapshotId"], "volume": snap["VolumeId"], "set": set_tag})
            continue
        if spec["VolumeId"] in skip:
            continue
        snap = ec2.create_snapshot(**spec)
        made.append({"schedule": name, "snapshot": snap["SnapshotId"], "volume": spec["VolumeId"]})
    return made


def tag_spec(kind, tags):
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []


def instance(ec2, name=None):
    tags = {"CostCenter": "42"}
    if name:
        tags["Name"] = name
    r = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                          TagSpecifications=tag_spec("instance", tags))
    return r["Instances"][0]["InstanceId"]


def volume(ec2, tags, attach=None):
    v = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8, TagSpecifications=tag_spec("volume", tags))["VolumeId"]
    if attach:
        ec2.attach_volume(VolumeId=v, InstanceId=attach[0], Device=attach[1])
    return v


def snapshot(ec2, vol, when=None, tags=None):
    desc = f"[backdate {when.strftime('%Y-%m-%dT%H:%M:%SZ')}] ebs-gens fixture" if when else "ebs-gens fixture"
    return ec2.create_snapshot(VolumeId=vol, Description=desc, TagSpecifications=tag_spec("snapshot", tags or {}))["SnapshotId"]


def ours(vol):
    return {"ebs-gens:managed-by": DEPLOYMENT, "ebs-gens:volume": vol}


def last_fire(now):
    """The most recent daily 09:30 UTC fire time (the default daily schedule) at or before now."""
    today = now.replace(hour=9, minute=30, second=0, microsecond=0)
    return today if today <= now else today - datetime.timedelta(days=1)


def fire(days_ago, now):
    """20 s after the daily fire `days_ago` days before the last one (how the built-in target's
    snapshots start)."""
    return last_fire(now) - datetime.timedelta(days=days_ago) + datetime.timedelta(seconds=20)


def seed_test(ec2, now):
    web = instance(ec2, "web01")
    vols = []
    for i in range(3):
        v = volume(ec2, {"Daily_Gens": "2"}, (web, f"/dev/sd{'fgh'[i]}"))
        for d in range(1, 5):
            snapshot(ec2, v, fire(d, now), ours(v))
        vols.append(v)
    bad = volume(ec2, {"Daily_Gens": "abc"})
    snapshot(ec2, bad, fire(3, now), ours(bad))
    return {"instance": web, "volumes": vols, "misconfigured": bad}


def seed_faults(ec2, now):
    """The fault test's fleet: 20 volumes, Daily_Gens=3, 8 snapshots each (two untagged whose
    events were missed), plus one pinned and one other-deployment snapshot per volume."""
    web = instance(ec2, "chaos01")
    vols = []
    for i in range(20):
        v = volume(ec2, {"Daily_Gens": "3", "Name": f"chaos-{i:02d}"})
        for d in range(1, 9):
            snapshot(ec2, v, fire(d, now), {} if d in (2, 6) else ours(v))
        snapshot(ec2, v, fire(9, now), dict(ours(v), **{"ebs-gens:keep": "true"}))
        snapshot(ec2, v, fire(1, now), {"ebs-gens:managed-by": "other", "ebs-gens:volume": v})
        vols.append(v)
    return {"instance": web, "volumes": vols}


def seed_demo(ec2, now, with_copies=False, with_locks=False):
    """Several instances, ~20 volumes with Daily/Weekly tags, a misconfigured one, a pinned
    snapshot, someone else's snapshot, and five weeks of daily history (some events missed).
    Trimming five weeks to the policy deletes most of each volume's snapshots, which the
    bulk-deletion fuse holds: the history volumes carry today's acknowledgement
    (ebs-gens:allow-bulk-delete), except "reports", held on purpose. "stale-data" last got a
    snapshot three days ago and its schedule never fires; "retired" was deleted, leaving
    orphaned snapshots."""
    ack = {"ebs-gens:allow-bulk-delete": now.date().isoformat()}
    out = {"instances": {}, "volumes": {}, "misconfigured": [], "pinned": [], "foreign": [],
           "held": [], "stale": [], "orphaned": []}
    fleet = [("web01", 6, {"Daily_Gens": "7"}), ("web02", 6, {"Daily_Gens": "7", "Weekly_Gens": "4"}),
             ("db01", 4, {"Daily_Gens": "14", "Weekly_Gens": "8"}), (None, 2, {"Daily_Gens": "3"})]
    # With copies (make demo): db01's volumes also keep their 3 newest dailies in us-west-2 (their
    # tag replaces the deployment's rules, which make demo sets to the 4 newest weeklies there). A
    # deployment that copies nowhere reports such a tag as an error, so other fleets go without.
    copies = {"db01": DEMO_DB_COPIES} if with_copies else {}
    out["copies"] = {}
    devices = "fghijklmnop"
    for name, count, tags in fleet:
        inst = instance(ec2, name)
        out["instances"][inst] = name or "(no Name tag)"
        for i in range(count):
            extra = {"ebs-gens:copies": copies[name]} if name in copies else {}
            v = volume(ec2, dict(tags, Name=f"{name or 'batch'}-data{i}", **ack, **extra), (inst, f"/dev/sd{devices[i]}"))
            out["volumes"][v] = {"instance": inst, "tags": tags}
            if extra:
                out["copies"][v] = extra["ebs-gens:copies"]
            for d in range(1, 36):
                # Every ninth day the completion event was "missed": the snapshot is untagged.
                missed = (d + i) % 9 == 0
                snapshot(ec2, v, fire(d, now), None if missed else ours(v))
    loose = volume(ec2, {"Daily_Gens": "5", "Name": "scratch", **ack})
    out["volumes"][loose] = {"instance": None, "tags": {"Daily_Gens": "5"}}
    for d in range(1, 11):
        snapshot(ec2, loose, fire(d, now), ours(loose))
    out["pinned"].append(snapshot(ec2, loose, fire(60, now), dict(ours(loose), **{"ebs-gens:keep": "audit 2026"})))
    out["foreign"].append(snapshot(ec2, loose, fire(70, now), {"ebs-gens:managed-by": "staging"}))
    if with_locks:
        out["locks"] = demo_locks(ec2, out, now)
    bad = volume(ec2, {"Daily_Gens": "seven", "Name": "typo"})
    out["misconfigured"].append(bad)
    for d in range(1, 13):
        snapshot(ec2, bad, fire(d, now), ours(bad))
    # Daily_Gens was 30, someone typed 3: 32 of 35 would go at once. Held, not acknowledged.
    held = volume(ec2, {"Daily_Gens": "3", "Name": "reports"})
    out["volumes"][held] = {"instance": None, "tags": {"Daily_Gens": "3"}}
    out["held"].append(held)
    for d in range(1, 36):
        snapshot(ec2, held, fire(d, now), dict(ours(held), **{"ebs-gens:policy": "daily=30"}))
    stale = volume(ec2, {"Daily_Gens": "7", "Name": "stale-data", BROKEN: "true"})
    out["volumes"][stale] = {"instance": None, "tags": {"Daily_Gens": "7"}}
    out["stale"].append(stale)
    for d in range(3, 10):
        snapshot(ec2, stale, fire(d, now), ours(stale))
    retired = volume(ec2, {"Name": "retired"})
    for d in range(1, 9):
        snapshot(ec2, retired, fire(d, now), dict(ours(retired), **{"ebs-gens:policy": "daily=7"}))
    ec2.delete_volume(VolumeId=retired)
    out["orphaned"].append(retired)
    return out


DEMO_DB_COPIES = "daily:us-west-2=3 weekly:us-west-2=4"

# The demo's database instance (make demo, scheduler backend, sets=on): three data volumes kept as
# whole sets, Daily_Gens=3 on the instance, the boot volume left out.
DEMO_SET_GENS = 3


def seed_sets(ec2, now):
    """A database instance tagged for sets, its three data volumes, and four days of sets (one
    CreateSnapshots each, every member completed and tagged as its completion event tags it)."""
    ack = {"ebs-gens:allow-bulk-delete": now.date().isoformat()}
    tags = {"Name": "pg01", "Daily_Gens": str(DEMO_SET_GENS), "ebs-gens:exclude-boot": "true", **ack}
    r = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                          TagSpecifications=tag_spec("instance", tags))
    inst = r["Instances"][0]["InstanceId"]
    vols = [volume(ec2, {"Name": f"pg01-{role}"}, (inst, f"/dev/sd{dev}")) for role, dev in (("data", "f"), ("wal", "g"), ("log", "h"))]
    for d in range(1, 5):
        when = fire(d, now)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        born = {"ebs-gens:managed-by": DEPLOYMENT, "ebs-gens:class": "daily",
                "ebs-gens:policy": f"daily={DEMO_SET_GENS}", "ebs-gens:set": f"{inst}@{stamp}"}
        made = ec2.create_snapshots(InstanceSpecification={"InstanceId": inst, "ExcludeBootVolume": True},
                                    Description=f"[backdate {stamp}] ebs-gens fixture",
                                    TagSpecifications=tag_spec("snapshot", born))["Snapshots"]
        for s in made:
            ec2.create_tags(Resources=[s["SnapshotId"]], Tags=[
                {"Key": "ebs-gens:volume", "Value": s["VolumeId"]},
                {"Key": "Name", "Value": f"pg01_Daily_{s['VolumeId']}"},
                {"Key": "ebs-gens:set-size", "Value": str(len(made))}])
    return {"instance": inst, "volumes": vols, "gens": DEMO_SET_GENS}


def last_week_keeper(ec2, volume, now):
    """The newest snapshot of `volume` in the last closed week (Monday to Sunday, UTC: the demo's
    zone), or None."""
    monday = (now - datetime.timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    last = [s for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [volume]}])["Snapshots"]
            if monday - datetime.timedelta(days=7) <= s["StartTime"] < monday]
    return max(last, key=lambda s: s["StartTime"])["SnapshotId"] if last else None


def demo_locks(ec2, out, now):
    """make demo with locks (daily=governance weekly=compliance): web02's first volume has been
    locked all along, each snapshot for its daily keep time (7 days, as the prune after its
    completion locks it), so today's prune extends its closed weeks' keepers to their weekly keep
    time; and one old snapshot of web01's first volume is locked by hand for ten more days, which
    the planner must hold, not delete."""
    vols = list(out["volumes"])
    by_name = {}
    for v in ec2.describe_volumes(VolumeIds=vols)["Volumes"]:
        tags = {t["Key"]: t["Value"] for t in v.get("Tags", [])}
        by_name[tags.get("Name")] = v["VolumeId"]
    daily, held = by_name["web02-data0"], by_name["web01-data0"]
    locked = []
    # The newest of the last closed week is locked at least two more hours whatever the day: on a
    # Sunday its daily keep time (7 days) ends today, and a lock that has expired is set anew,
    # not extended — the demo would then show no extension on Sunday afternoons.
    keeper = last_week_keeper(ec2, daily, now)
    for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [daily]}])["Snapshots"]:
        until = s["StartTime"] + datetime.timedelta(days=7, hours=2)
        if s["SnapshotId"] == keeper:
            until = max(until, now + datetime.timedelta(hours=2))
        if until > now:
            ec2.lock_snapshot(SnapshotId=s["SnapshotId"], LockMode="governance", ExpirationDate=until)
            locked.append(s["SnapshotId"])
    old = sorted(ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [held]}])["Snapshots"],
                 key=lambda s: s["StartTime"])[0]
    ec2.lock_snapshot(SnapshotId=old["SnapshotId"], LockMode="governance", ExpirationDate=now + datetime.timedelta(days=10))
    return {"daily_locked": daily, "locked": locked, "held_volume": held, "held": old["SnapshotId"]}


def locks(ec2):
    """Every lock in ec2's region, by snapshot id: state and expiry."""
    out = {}
    for l in ec2.describe_locked_snapshots()["Snapshots"]:
        out[l["SnapshotId"]] = {"state": l["LockState"], "expires": l["LockExpiresOn"].isoformat()}
    return out


def copies(ec2):
    """Our copies in ec2's region, by the volume they are of (their ebs-gens:volume tag)."""
    out = {}
    pages = ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], Filters=[{"Name": "tag:ebs-gens:managed-by", "Values": [DEPLOYMENT]}])
    for page in pages:
        for s in page["Snapshots"]:
            tags = {t["Key"]: t["Value"] for t in s.get("Tags", [])}
            if "ebs-gens:copy-of" not in tags:
                continue
            out.setdefault(tags.get("ebs-gens:volume", "?"), []).append({
                "id": s["SnapshotId"], "state": s["State"], "copy_of": tags["ebs-gens:copy-of"],
                "class": tags.get("ebs-gens:class"), "source_start": tags.get("ebs-gens:source-start")})
    for v in out.values():
        v.sort(key=lambda c: c["source_start"] or "")
    return out


def seed_fleet(ec2, now, volumes, tags, history, every_hours, name):
    """`volumes` volumes with `tags` on one instance named `name` (the first 20 attached, the rest
    unattached), each with `history` snapshots of ours, `every_hours` apart before now, tagged as
    a schedule's snapshots are born (managed-by, volume, class, Name): a fleet in steady state, for
    `make cost`. The class is the finest one among `tags`."""
    classes = {"Hourly_Gens": "hourly", "Daily_Gens": "daily", "Weekly_Gens": "weekly", "Monthly_Gens": "monthly"}
    cls = next((c for k, c in classes.items() if k in tags), "daily")
    inst = instance(ec2, name)
    vols = []
    for i in range(volumes):
        attach = (inst, f"/dev/sd{chr(ord('f') + i)}") if i < 20 else None
        v = volume(ec2, dict(tags, Name=f"{name}-data{i:03d}"), attach)
        born = dict(ours(v), **{"ebs-gens:class": cls, "Name": f"{name}_{cls.capitalize()}_{v}"})
        for h in range(1, history + 1):
            snapshot(ec2, v, now - datetime.timedelta(hours=every_hours * h), born)
        vols.append(v)
    return {"instance": inst, "volumes": vols}


def fire_rules(ec2, events, now):
    """What EventBridge's built-in create-snapshot target does when our rules fire: one untagged
    snapshot per target volume, started at the last fire time."""
    made = []
    skip = broken(ec2)
    for r in events.list_rules(NamePrefix="ebs-gens-")["Rules"]:
        for t in events.list_targets_by_rule(Rule=r["Name"])["Targets"]:
            if t["Arn"].endswith(":target/create-snapshot") and json.loads(t["Input"]) not in skip:
                vol = json.loads(t["Input"])
                made.append({"volume": vol, "snapshot": snapshot(ec2, vol, fire(0, now))})
    return made


def state(ec2, events):
    vols = {v["VolumeId"]: {t["Key"]: t["Value"] for t in v.get("Tags", [])} for v in ec2.describe_volumes()["Volumes"]}
    snaps = {}
    for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
        snaps.setdefault(s["VolumeId"], []).append({
            "id": s["SnapshotId"], "start": s["StartTime"].isoformat(),
            "tags": {t["Key"]: t["Value"] for t in s.get("Tags", [])}})
    rules = []
    for r in events.list_rules(NamePrefix="ebs-gens-")["Rules"]:
        targets = events.list_targets_by_rule(Rule=r["Name"])["Targets"]
        rules.append({"name": r["Name"], "schedule": r.get("ScheduleExpression"), "state": r.get("State"),
                      "targets": [{"id": t["Id"], "arn": t["Arn"], "input": t.get("Input"), "role": t.get("RoleArn")} for t in targets]})
    return {"volumes": vols, "snapshots": snaps, "rules": rules}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("seed-test")
    d = sub.add_parser("seed-demo")
    d.add_argument("--with-copies", action="store_true", help="db01's volumes tag their own copy rules")
    d.add_argument("--with-locks", action="store_true", help="web02's first volume locked all along, one of web01's by hand")
    d.add_argument("--with-sets", action="store_true", help="a database instance kept as whole sets (sets=on)")
    sub.add_parser("locks")
    sub.add_parser("seed-faults")
    sub.add_parser("state")
    sub.add_parser("fire")
    sub.add_parser("create-group")
    sub.add_parser("fire-schedules")
    sub.add_parser("schedules")
    f = sub.add_parser("seed-fleet")
    f.add_argument("--volumes", type=int, required=True)
    f.add_argument("--tag", action="append", default=[], help="KEY=VALUE, repeatable")
    f.add_argument("--history", type=int, default=0, help="snapshots of ours per volume")
    f.add_argument("--every-hours", type=float, default=24.0, help="hours between them")
    f.add_argument("--name", default="cost01", help="the instance's Name")
    c = sub.add_parser("copies")
    c.add_argument("--region", required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("volume")
    a = p.parse_args()
    if not a.endpoint.startswith(("http://127.", "http://localhost")):
        sys.exit("refusing a non-loopback endpoint: this script only seeds emulators")
    ec2, events = clients(a.endpoint)
    now = datetime.datetime.now(datetime.timezone.utc)
    if a.cmd == "seed-test":
        out = seed_test(ec2, now)
    elif a.cmd == "seed-faults":
        out = seed_faults(ec2, now)
    elif a.cmd == "seed-demo":
        out = seed_demo(ec2, now, a.with_copies, a.with_locks)
        if a.with_sets:
            out["sets"] = seed_sets(ec2, now)
    elif a.cmd == "seed-fleet":
        if a.volumes < 1 or a.history < 0 or a.every_hours <= 0 or not all("=" in t for t in a.tag):
            sys.exit("seed-fleet: --volumes >= 1, --history >= 0, --every-hours > 0, --tag KEY=VALUE")
        out = seed_fleet(ec2, now, a.volumes, dict(t.split("=", 1) for t in a.tag), a.history, a.every_hours, a.name)
    elif a.cmd == "create-group":
        out = create_group(scheduler_client(a.endpoint))
    elif a.cmd == "fire-schedules":
        out = fire_schedules(ec2, scheduler_client(a.endpoint))
    elif a.cmd == "schedules":
        out = schedules(scheduler_client(a.endpoint))
    elif a.cmd == "fire":
        out = fire_rules(ec2, events, now)
    elif a.cmd == "locks":
        out = locks(ec2)
    elif a.cmd == "copies":
        out = copies(clients(a.endpoint, a.region)[0])
    elif a.cmd == "snapshot":
        out = {"snapshot": snapshot(ec2, a.volume)}
    else:
        out = state(ec2, events)
    json.dump(out, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main()
