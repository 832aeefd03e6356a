#!/usr/bin/python3
"""What the scripts in this folder read of LXC: a config's keys, a container's state, a base's
accounts. Imported as osm_contract is (sys.dont_write_bytecode set first)."""
import os
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


def attach(container, script, args=(), stdin="", timeout=None):
    """Runs a /bin/sh -eu SCRIPT in the running CONTAINER (a clean environment), ARGS as $1...;
    stdin text, or bytes for binary data. Returns the CompletedProcess (output as stdin's type)."""
    return subprocess.run(
        ["lxc-attach", "-n", container, "--clear-env", "--set-var", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
         "--", "/bin/sh", "-euc", script, "osm", *args],
        input=stdin, text=isinstance(stdin, str), capture_output=True, timeout=timeout)


# Restarts each unit named ($@) that the container has; says which it skipped.
RESTART_UNITS = r"""
for unit in "$@"; do
  if systemctl cat "$unit.service" >/dev/null 2>&1; then
    timeout 120 systemctl restart "$unit.service" || {
      echo "restarting $unit failed or did not finish within 120 s (exit $?): journalctl -u $unit in the container" >&2; exit 1; }
    echo "changed: $unit restarted"
  else
    echo "skipped: $unit (not installed in this container)"
  fi
done
"""


def restart_units(container, units):
    """Restarts UNITS in the running CONTAINER (those it has); the CompletedProcess, as text."""
    return attach(container, RESTART_UNITS, units)


def overlay_layers(config_text):
    """(lower, upper) of an LXC config's overlayfs rootfs; None when its rootfs is not an overlay."""
    parts = config_keys(config_text).get("lxc.rootfs.path", "").split(":")
    if len(parts) != 3 or parts[0] != "overlayfs":
        return None
    return parts[1], parts[2]


def account_ids(rootfs, db):
    """name -> its ids in the root tree's etc/DB: "passwd" (uid, gid), "group" (gid,); {} without the file."""
    width = 2 if db == "passwd" else 1
    out = {}
    try:
        with open(os.path.join(rootfs, "etc", db)) as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 2 + width and all(x.isdigit() for x in fields[2:2 + width]):
                    out[fields[0]] = tuple(int(x) for x in fields[2:2 + width])
    except FileNotFoundError:
        pass
    return out
