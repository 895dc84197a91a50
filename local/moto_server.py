"""moto_server, with corrections so the emulator answers as AWS does.

1. moto 5.2.5 matches a multi-value `tag-key` / `tag-value` filter with subset/superset semantics
(a volume tagged {Daily_Gens, Name} does not match tag-key=[Hourly_Gens, Daily_Gens, ...]).
EC2 ORs the values of one filter: the resource matches when any of its keys matches any value.

2. Emulator-only history: moto stamps every snapshot "now". A snapshot created with a description
starting `[backdate 2026-11-01T09:30:00Z]` gets that start time, so tests and the demo can build
weeks of history. Nothing in ebs-gens reads descriptions; AWS has no such thing.

3. moto 5.2.5 ignores DescribeVolumes' MaxResults and NextToken (one page, always). AWS pages:
with MaxResults (and no VolumeIds, which AWS does not combine with it) at most that many volumes
come back, with a NextToken while more remain. So a sweep over more volumes than its page size
runs its page loop on the emulator as it does in AWS (`make cost` measures it).

4. DescribeSnapshots and Scheduler's ListSchedules page as AWS does (moto 5.2.5 returns one page,
or pages ListSchedules by 50 whatever MaxResults says): at most MaxResults items, a NextToken while
more remain. With EBS_GENS_MOTO_SHORT_PAGES=1 in the emulator's environment, every paged listing
answers as AWS may: the first page empty but for its NextToken, later pages at most half of
MaxResults — so a client that stops at a short or empty page loses items, and a test sees it.

5. Snapshot locks, which moto 5.2.5 lacks (LockSnapshot and DescribeLockedSnapshots answer HTTP
500): LockSnapshot, DescribeLockedSnapshots and UnlockSnapshot with EC2's rules (modes governance
and compliance; a compliance lock's cooling-off period of 1-72 hours, during which it can still
change; after it, its duration only grows and it cannot be unlocked; an ExpirationDate or a
LockDuration in days, not both; states compliance-cooloff, governance, compliance, expired), and
DeleteSnapshot refuses a snapshot whose lock holds (the error code here, SnapshotLocked, is this
emulator's: AWS documents none, and ebs-gens never relies on one).

6. Recycle Bin (rbin), which moto 5.2.5 lacks: CreateRule, GetRule, ListRules and DeleteRule for
retention rules, kept per region, with the API's checks (a resource type, a retention of 1-365
days, ResourceTags and ExcludeResourceTags not both). Enough for ebs-gens to read the rules, and
for the tests and `make demo` to make some; nothing here moves a deleted snapshot anywhere.

Usage is the same as moto_server: python local/moto_server.py -H 127.0.0.1 -p PORT
"""

import datetime
import fnmatch
import json
import os
import re
import sys

from moto.core.responses import ActionResult
from moto.ec2 import utils as ec2_utils
from moto.ec2.exceptions import EC2ClientError, InvalidSnapshotIdError
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.scheduler.models import EventBridgeSchedulerBackend
from moto.scheduler.responses import EventBridgeSchedulerResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main

_original = ec2_utils.is_filter_matching


def _is_filter_matching(obj, _filter, filter_value):
    if _filter in ("tag-key", "tag-value") and isinstance(filter_value, list):
        values = obj.get_filter_value(_filter) or []
        return any(fnmatch.fnmatchcase(v, p) for v in values for p in filter_value)
    return _original(obj, _filter, filter_value)


ec2_utils.is_filter_matching = _is_filter_matching

_BACKDATE = re.compile(r"^\[backdate (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\]")
_create_snapshot = EBSBackend.create_snapshot


def _create_backdated_snapshot(self, volume_id, description, *args, **kwargs):
    snapshot = _create_snapshot(self, volume_id, description, *args, **kwargs)
    m = _BACKDATE.match(description or "")
    if m:
        when = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ")
        if snapshot.start_time.tzinfo is not None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        snapshot.start_time = when
    return snapshot


EBSBackend.create_snapshot = _create_backdated_snapshot


SHORT_PAGES = os.environ.get("EBS_GENS_MOTO_SHORT_PAGES") == "1"


def _page(items, max_results, token):
    """One page of `items` and the next token, as AWS pages (see 4. above)."""
    if token is None and SHORT_PAGES and items:
        return [], "0"
    start = int(token) if token and token.isdigit() else 0
    size = max(1, max_results // 2) if SHORT_PAGES else max_results
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _describe_volumes_paged(self):
    filters = self._filters_from_querystring()
    volume_ids = self._get_param("VolumeIds", [])
    volumes = list(self.ec2_backend.describe_volumes(volume_ids=volume_ids, filters=filters))
    max_results = self._get_int_param("MaxResults")
    if not max_results or volume_ids:
        return ActionResult({"Volumes": volumes})
    page, token = _page(volumes, max_results, self._get_param("NextToken"))
    result = {"Volumes": page}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


ElasticBlockStore.describe_volumes = _describe_volumes_paged


def _describe_snapshots_paged(self):
    filters = self._filters_from_querystring()
    snapshot_ids = self._get_param("SnapshotIds", [])
    snapshots = list(self.ec2_backend.describe_snapshots(snapshot_ids=snapshot_ids, filters=filters))
    max_results = self._get_int_param("MaxResults")
    if not max_results or snapshot_ids:
        return ActionResult({"Snapshots": snapshots})
    page, token = _page(snapshots, max_results, self._get_param("NextToken"))
    result = {"Snapshots": page}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


ElasticBlockStore.describe_snapshots = _describe_snapshots_paged

# The backend's own listing, without moto's paginate decorator (it ignores MaxResults here).
_all_schedules = EventBridgeSchedulerBackend.list_schedules.__wrapped__


def _list_schedules_paged(self):
    q = self.querystring
    first = lambda k: (q.get(k) or [None])[0]  # noqa: E731
    schedules = _all_schedules(self.scheduler_backend, q.get("ScheduleGroup"), first("State"), first("NamePrefix"))
    # A stable order (moto sorts by creation time, which ties within a second).
    schedules.sort(key=lambda x: x.arn)
    max_results = int(first("MaxResults") or 100)
    page, token = _page(schedules, max_results, first("NextToken"))
    result = {"Schedules": [sch.to_dict(short=True) for sch in page]}
    if token:
        result["NextToken"] = token
    return json.dumps(result)


EventBridgeSchedulerResponse.list_schedules = _list_schedules_paged

# --- 5. snapshot locks ---------------------------------------------------------------------
# (account, region, snapshot id) -> {"mode", "expires", "cool_off_until", "created", "cool_off"}
_LOCKS = {}


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _lock_key(response, snapshot_id):
    backend = response.ec2_backend
    return (backend.account_id, backend.region_name, snapshot_id)


def _lock_state(lock, now):
    if lock["expires"] <= now:
        return "expired"
    if lock["mode"] == "compliance" and lock["cool_off_until"] and lock["cool_off_until"] > now:
        return "compliance-cooloff"
    return lock["mode"]


def _lock_info(snapshot, lock, now):
    info = {
        "OwnerId": snapshot.owner_id,
        "SnapshotId": snapshot.id,
        "LockState": _lock_state(lock, now),
        "LockCreatedOn": lock["created"],
        "LockDurationStartTime": lock["created"],
        "LockExpiresOn": lock["expires"],
    }
    if lock["cool_off"]:
        info["CoolOffPeriod"] = lock["cool_off"]
        info["CoolOffPeriodExpiresOn"] = lock["cool_off_until"]
    return info


def _invalid(message):
    return EC2ClientError("InvalidParameterCombination", message)


def _lock_snapshot(self):
    snapshot_id = self._get_param("SnapshotId")
    self.error_on_dryrun()
    snapshot = self.ec2_backend.get_snapshot(snapshot_id)  # InvalidSnapshot.NotFound
    mode = self._get_param("LockMode")
    if mode not in ("governance", "compliance"):
        raise EC2ClientError("InvalidParameterValue", f"LockMode {mode!r}: governance or compliance")
    now = _now()
    days = self._get_int_param("LockDuration")
    expiration = self._get_param("ExpirationDate")
    if (days is None) == (expiration is None):
        raise _invalid("give exactly one of LockDuration and ExpirationDate")
    if days is not None:
        if not 1 <= days <= 36500:
            raise EC2ClientError("InvalidParameterValue", f"LockDuration {days}: 1 to 36500 days")
        expires = now + datetime.timedelta(days=days)
    else:
        # moto parses the timestamp by the API's shape; older versions pass the text through.
        expires = expiration if isinstance(expiration, datetime.datetime) else \
            datetime.datetime.fromisoformat(str(expiration).replace("Z", "+00:00"))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.timezone.utc)
        if expires <= now:
            raise _invalid("ExpirationDate is in the past")
    cool_off = self._get_int_param("CoolOffPeriod")
    if cool_off is not None and (mode != "compliance" or not 1 <= cool_off <= 72):
        raise _invalid(f"CoolOffPeriod {cool_off}: 1 to 72 hours, compliance mode only")
    key = _lock_key(self, snapshot_id)
    current = _LOCKS.get(key)
    if current and _lock_state(current, now) == "compliance":
        if mode != "compliance":
            raise _invalid("a compliance lock cannot become governance")
        if expires < current["expires"]:
            raise _invalid("a compliance lock's duration can only be increased")
    keep_cool_off = current and _lock_state(current, now) == "compliance-cooloff"
    lock = {
        "mode": mode,
        "expires": expires,
        "created": current["created"] if current and _lock_state(current, now) != "expired" else now,
        "cool_off": cool_off if cool_off is not None else (current["cool_off"] if keep_cool_off else None),
        "cool_off_until": (now + datetime.timedelta(hours=cool_off)) if cool_off is not None
        else (current["cool_off_until"] if keep_cool_off else None),
    }
    _LOCKS[key] = lock
    return ActionResult(_lock_info(snapshot, lock, now))


def _describe_locked_snapshots(self):
    snapshot_ids = self._get_param("SnapshotIds", [])
    filters = self._filters_from_querystring() or {}
    states = filters.get("lock-state")
    backend = self.ec2_backend
    now = _now()
    out = []
    for (account, region, sid), lock in sorted(_LOCKS.items()):
        if (account, region) != (backend.account_id, backend.region_name):
            continue
        if snapshot_ids and sid not in snapshot_ids:
            continue
        try:
            snapshot = backend.get_snapshot(sid)
        except InvalidSnapshotIdError:
            continue  # deleted after its lock expired
        info = _lock_info(snapshot, lock, now)
        if states and info["LockState"] not in states:
            continue
        out.append(info)
    max_results = self._get_int_param("MaxResults") or 1000
    page, token = _page(out, max_results, self._get_param("NextToken"))
    result = {"Snapshots": page}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


def _unlock_snapshot(self):
    snapshot_id = self._get_param("SnapshotId")
    self.error_on_dryrun()
    self.ec2_backend.get_snapshot(snapshot_id)
    key = _lock_key(self, snapshot_id)
    lock = _LOCKS.get(key)
    if lock and _lock_state(lock, _now()) == "compliance":
        raise _invalid("a compliance lock past its cooling-off period cannot be unlocked")
    _LOCKS.pop(key, None)
    return ActionResult({"SnapshotId": snapshot_id})


_delete_snapshot = ElasticBlockStore.delete_snapshot


def _delete_unless_locked(self):
    snapshot_id = self._get_param("SnapshotId")
    lock = _LOCKS.get(_lock_key(self, snapshot_id))
    if lock and _lock_state(lock, _now()) != "expired":
        raise EC2ClientError("SnapshotLocked", f"The snapshot '{snapshot_id}' is locked and cannot be deleted.")
    return _delete_snapshot(self)


ElasticBlockStore.lock_snapshot = _lock_snapshot
ElasticBlockStore.describe_locked_snapshots = _describe_locked_snapshots
ElasticBlockStore.unlock_snapshot = _unlock_snapshot
ElasticBlockStore.delete_snapshot = _delete_unless_locked

_RULES = {}  # (region, rule id) -> rule as GetRule answers it


def _rbin_region(environ):
    m = re.search(r"Credential=[^/]+/\d+/([^/]+)/rbin/", environ.get("HTTP_AUTHORIZATION", ""))
    return m.group(1) if m else None


def _rbin_answer(start_response, status, body):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _rbin_error(start_response, code, message, status="400 Bad Request"):
    data = json.dumps({"message": message}).encode()
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code), ("Content-Length", str(len(data)))]
    start_response(status, headers)
    return [data]


def _rbin(environ, start_response, region):
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(size) or b"{}") if size else {}
    if method == "POST" and path == "/rules":
        if body.get("ResourceType") not in ("EBS_SNAPSHOT", "EC2_IMAGE", "EBS_VOLUME"):
            return _rbin_error(start_response, "ValidationException", "ResourceType: EBS_SNAPSHOT, EC2_IMAGE or EBS_VOLUME")
        period = body.get("RetentionPeriod") or {}
        if period.get("RetentionPeriodUnit") != "DAYS" or not 1 <= int(period.get("RetentionPeriodValue", 0)) <= 365:
            return _rbin_error(start_response, "ValidationException", "RetentionPeriod: 1 to 365 DAYS")
        if body.get("ResourceTags") and body.get("ExcludeResourceTags"):
            return _rbin_error(start_response, "ValidationException", "ResourceTags and ExcludeResourceTags are exclusive")
        rule_id = os.urandom(6).hex()[:11]
        account = "123456789012"
        rule = {
            "Identifier": rule_id,
            "Description": body.get("Description", ""),
            "ResourceType": body["ResourceType"],
            "RetentionPeriod": period,
            "ResourceTags": body.get("ResourceTags", []),
            "ExcludeResourceTags": body.get("ExcludeResourceTags", []),
            "Status": "available",
            "RuleArn": f"arn:aws:rbin:{region}:{account}:rule/{rule_id}",
        }
        _RULES[(region, rule_id)] = rule
        return _rbin_answer(start_response, "201 Created", rule)
    if method == "POST" and path == "/list-rules":
        kind = body.get("ResourceType")
        rules = [r for (reg, _), r in sorted(_RULES.items()) if reg == region and r["ResourceType"] == kind]
        summaries = [{k: r[k] for k in ("Identifier", "Description", "RetentionPeriod", "RuleArn")} for r in rules]
        return _rbin_answer(start_response, "200 OK", {"Rules": summaries})
    m = re.fullmatch(r"/rules/([0-9a-zA-Z]+)", path)
    if m and (region, m.group(1)) in _RULES:
        if method == "GET":
            return _rbin_answer(start_response, "200 OK", _RULES[(region, m.group(1))])
        if method == "DELETE":
            del _RULES[(region, m.group(1))]
            start_response("204 No Content", [("Content-Length", "0")])
            return [b""]
    if m:
        return _rbin_error(start_response, "ResourceNotFoundException", f"rule {m.group(1)} not found", "404 Not Found")
    return _rbin_error(start_response, "ValidationException", f"{method} {path}: not emulated")


_dispatch = DomainDispatcherApplication.__call__


def _call_with_rbin(self, environ, start_response):
    region = _rbin_region(environ)
    if region:
        return _rbin(environ, start_response, region)
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _call_with_rbin

if __name__ == "__main__":
    main(sys.argv[1:])
