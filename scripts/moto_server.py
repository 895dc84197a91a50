"""moto_server, with one correction so the emulator answers as AWS does.

moto 5.2.5 matches a multi-value `tag-key` / `tag-value` filter with subset/superset semantics
(a volume tagged {Daily_Gens, Name} does not match tag-key=[Hourly_Gens, Daily_Gens, ...]).
EC2 ORs the values of one filter: the resource matches when any of its keys matches any value.
Usage is the same as moto_server: python scripts/moto_server.py -H 127.0.0.1 -p PORT
"""

import fnmatch
import sys

from moto.ec2 import utils as ec2_utils
from moto.server import main

_original = ec2_utils.is_filter_matching


def _is_filter_matching(obj, _filter, filter_value):
    if _filter in ("tag-key", "tag-value") and isinstance(filter_value, list):
        values = obj.get_filter_value(_filter) or []
        return any(fnmatch.fnmatchcase(v, p) for v in values for p in filter_value)
    return _original(obj, _filter, filter_value)


ec2_utils.is_filter_matching = _is_filter_matching

if __name__ == "__main__":
    main(sys.argv[1:])
