#!/bin/sh
# Renders the site configuration given as the input "site_config" and reports
# the file and its server_name line back to Heat. On a real server the file
# would go to /etc/nginx/conf.d; here it goes to conf.d under the hook's
# working directory, which belongs to this server alone.
set -eu
mkdir -p conf.d
printf '%s\n' "$site_config" > conf.d/site.conf
grep 'server_name' conf.d/site.conf | sed 's/^ *//' | tr -d '\n' > "$heat_outputs_path.listen_line"
printf '%s' "$(pwd)/conf.d/site.conf" > "$heat_outputs_path.config_path"
echo "wrote $(wc -l < conf.d/site.conf) lines to conf.d/site.conf"
