# Writes the playbook's result (what it passed to ansible.builtin.set_stats) as one JSON
# object to the file named by OSM_RESULT_FILE; ./run prints it on stdout. set_stats runs on
# the controller (this host), so returning a result costs no module run, and with no_log the
# values never reach the log.
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: osm_result
    type: aggregate
    short_description: write the set_stats data of a successful run to $OSM_RESULT_FILE
    description: Used by /opt/osm/ansible/run to print a playbook's result on stdout.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "osm_result"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("OSM_RESULT_FILE")
        if not path:
            return
        if any(stats.failures.values()) or any(stats.dark.values()):
            return
        data = (stats.custom or {}).get("_run", {}).get("osm_result")
        if data is None:
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
