#!/usr/bin/python3
"""What the scripts in this folder read of LXC: a config's keys and a container's state.
Imported as osm_contract is (sys.dont_write_bytecode set first)."""
import re
import subprocess

_KEY = re.compile(r"^\s*(lxc\.[a-z0-9_.]+)\s*=\s*(.*?)\s*$")


def config_keys(text):
    """The keys of an LXC config's text (the last one wins, as in LXC)."""
    conf = {}
    for line in text.splitlines():
        m = _KEY.match(line)
        if m:
            conf[m.group(1)] = m.group(2)
    return conf


def state(container):
    """RUNNING, FROZEN, ... as lxc-info says; STOPPED when LXC does not know the container."""
    r = subprocess.run(["lxc-info", "-n", container, "-sH"], capture_output=True, text=True, timeout=30)
    return r.stdout.strip() if r.returncode == 0 else "STOPPED"
