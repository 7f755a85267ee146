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

# The MongoDB-wire test server (FerretDB, from the Go module proxy) and the
# MongoDB shell (mongosh, from npm), each built or installed once into a
# directory named after its version, which testenv and the runner's tests
# look in.
tools=$(go env GOPATH)/envsync-tools
ferretdb_version=$(awk '$1 == "require" && $2 ~ /FerretDB/ {print $3}' "$(dirname "$0")/ferretdb/go.mod")
if [ ! -x "$tools/ferretdb-$ferretdb_version/ferretdb" ]; then
	echo "building ferretdb $ferretdb_version (a few minutes, once)"
	(cd "$(dirname "$0")/ferretdb" && go build -o "$tools/ferretdb-$ferretdb_version/ferretdb" .)
fi
mongosh_version=2.12.0
if [ ! -x "$tools/mongosh-$mongosh_version/node_modules/.bin/mongosh" ]; then
	command -v npm >/dev/null || { apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
	echo "installing mongosh $mongosh_version"
	npm install --prefix "$tools/mongosh-$mongosh_version" --no-audit --no-fund --loglevel=error "mongosh@$mongosh_version" >/dev/null
fi
