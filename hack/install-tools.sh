#!/usr/bin/env bash
# Installs what the tests need when it is missing. Idempotent and quiet when
# everything is already there.
set -euo pipefail

need_apt=()
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server mariadb-client)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v prometheus-pushgateway >/dev/null || need_apt+=(prometheus-pushgateway)
command -v rclone >/dev/null || need_apt+=(rclone)
command -v aws >/dev/null || need_apt+=(awscli)
if [ ${#need_apt[@]} -gt 0 ]; then
	echo "installing Debian packages: ${need_apt[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Installing a server package must not start it: the tests start their own.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi

gobin=$(go env GOPATH)/bin
[ -x "$gobin/helm" ] || { echo "installing helm"; go install helm.sh/helm/v3/cmd/helm@v3.22.0; }
[ -x "$gobin/versitygw" ] || { echo "installing versitygw"; go install github.com/versity/versitygw/cmd/versitygw@v1.8.0; }
