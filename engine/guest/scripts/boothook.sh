#!/bin/sh
# heat-cfntools installed from a package may not have made /opt/aws/bin yet.
if command -v cfn-create-aws-symlinks >/dev/null 2>&1; then
    cfn-create-aws-symlinks
fi
# A failing boothook would stop cloud-init; this one never fails.
exit 0
