#!/usr/bin/env python3
# Written by Hearth: runs the cfn-userdata part, appending its output to
# /var/log/heat-provision.log, and exits with its status.
import os
import stat
import subprocess
import sys

SCRIPT = "/var/lib/heat-cfntools/cfn-userdata"
LOG = "/var/log/heat-provision.log"


def main():
    if not os.path.exists(SCRIPT):
        return 0
    os.chmod(SCRIPT, os.stat(SCRIPT).st_mode | stat.S_IXUSR)
    with open(LOG, "a") as log:
        try:
            return subprocess.call([SCRIPT], stdout=log, stderr=subprocess.STDOUT)
        except OSError as error:
            log.write("could not run %s: %s\n" % (SCRIPT, error))
            return 1


if __name__ == "__main__":
    sys.exit(main())
