#!/bin/sh
# Installs the application release named by the input "version" and reports it.
set -eu
mkdir -p releases/"$version"
echo "release $version unpacked" > releases/"$version"/INSTALLED
printf 'installed release %s' "$version" > "$heat_outputs_path.report"
