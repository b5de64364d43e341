#!/bin/sh
# Configures this node for its role and reports what it became.
set -eu
echo "configuring $role ($tier) with release $version"
printf '%s %s on %s' "$role" "$version" "$tier" > "$heat_outputs_path.result"
