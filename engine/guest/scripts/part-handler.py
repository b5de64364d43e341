#part-handler
# Written by Hearth: stores each text/x-cfninitdata part where heat-cfntools and
# os-collect-config's heat_local collector look for it.
import errno
import os

TARGETS = ("/var/lib/heat-cfntools", "/var/lib/cloud/data")


def list_types():
    return ["text/x-cfninitdata"]


def _store(directory, filename, payload):
    path = os.path.join(directory, filename)
    temp = path + ".tmp"
    with open(temp, "w") as handle:
        handle.write(payload)
    os.rename(temp, path)


def handle_part(data, ctype, filename, payload):
    if ctype in ("__begin__", "__end__"):
        return
    try:
        os.makedirs(TARGETS[0], 0o700)
    except OSError as error:
        if error.errno != errno.EEXIST:
            raise
    for directory in TARGETS:
        _store(directory, filename, payload)
