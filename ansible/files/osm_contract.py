#!/usr/bin/python3
"""The host contract (../vars/osm.yml) for the scripts in this folder: the host's layout and
the rules of the OSM_* values, read from the one file the playbooks load too.

Python scripts import it (with sys.dont_write_bytecode set: nothing may be written into this
folder, whose content hash decides what the program re-runs):
    import osm_contract as contract
    contract.layout["osm_state_dir"]; contract.check("OSM_CUSTOMER", label)
Shell scripts use the command line:
    osm_contract.py shell [NAME VALUE]...   checks each OSM_* value against its rule (the
        messages on stderr, exit 2 when one is malformed), then prints the layout as
        shell-quoted `osm_name=value` lines for eval (with OSM_CUSTOMER also osm_customer_lock)
    osm_contract.py check NAME VALUE        exit 0 when VALUE is good, else the message and exit 1
"""
import json
import os
import re
import shlex
import sys

try:
    import yaml
except ImportError:  # PyYAML comes with ansible-core
    sys.exit("osm_contract: Python's yaml module is missing: install ansible-core (apt-get install ansible-core)")

CONTRACT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vars", "osm.yml")
with open(CONTRACT_FILE) as _f:
    _contract = yaml.load(_f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))

#: The plain values (paths, bridge, ...): name -> str. Templated ones (osm_scripts) are the
#: playbooks' own and left out.
layout = {k: str(v) for k, v in _contract.items()
          if k.startswith("osm_") and isinstance(v, (str, int)) and "{{" not in str(v)}
#: The list values (the upstream host's files, the monitoring ports): name -> list.
lists = {k: v for k, v in _contract.items() if k.startswith("osm_") and isinstance(v, list)}
rules = _contract["osm_env_rules"]
playbook_env = _contract["osm_playbook_env"]
_DECIMAL = re.compile(r"(0|[1-9][0-9]*)")


def problem(name, value):
    """None when VALUE passes NAME's rule, else the message check-env.yml gives for it."""
    rule = rules.get(name)
    if rule is None:
        return f"{name} has no rule in osm_env_rules of {CONTRACT_FILE}"
    if "pattern" in rule:
        good = re.fullmatch(rule["pattern"], value) is not None
    else:
        low, high = rule["integer"]
        good = _DECIMAL.fullmatch(value) is not None and low <= int(value) <= high
    if good:
        return None
    if rule.get("secret"):
        return f"{name}=(secret, not shown) is malformed: it must be {rule['expect']}"
    shown = value if len(value) <= 80 else value[:77] + "..."
    return f"{name}={json.dumps(shown)} is malformed: it must be {rule['expect']}"


def check(name, value):
    """VALUE when it passes NAME's rule; exits with the rule's message otherwise."""
    message = problem(name, value)
    if message:
        sys.exit(f"{os.path.basename(sys.argv[0])}: {message}")
    return value


def customer_lock(customer):
    """The lock file one customer's playbooks and backups hold (osm_customer_lock_wait_seconds)."""
    return os.path.join(layout["osm_locks_dir"], f"customer-{customer}.lock")


def adoption(customer):
    """The record of an adopted customer (files/osm-adopt), or None for one of the project's own:
    {"container": "<name>-svr", "dir": its folder, "config": its LXC config, "upper": its data,
     "base": its OS base, "address", "mac", "adoptedAt"}."""
    path = os.path.join(layout["osm_containers_dir"], customer, "adopted.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _main(argv):
    if len(argv) >= 1 and argv[0] == "shell" and len(argv) % 2 == 1:
        pairs = list(zip(argv[1::2], argv[2::2]))
        messages = [m for m in (problem(n, v) for n, v in pairs) if m]
        if messages:
            sys.stderr.write("".join(f"{m}\n" for m in messages))
            return 2
        extra = {"osm_customer_lock": customer_lock(v) for n, v in pairs if n == "OSM_CUSTOMER"}
        sys.stdout.write("".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted({**layout, **extra}.items())))
        return 0
    if len(argv) == 3 and argv[0] == "check":
        message = problem(argv[1], argv[2])
        if message:
            sys.stderr.write(message + "\n")
            return 1
        return 0
    sys.stderr.write("usage: osm_contract.py shell [OSM_NAME VALUE]... | check OSM_NAME VALUE\n")
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
