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
command -v chromium >/dev/null || need_apt+=(chromium)
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
# The fault tests: a loop filesystem to fill, the processes left after a signal.
command -v mkfs.ext4 >/dev/null || [ -x /usr/sbin/mkfs.ext4 ] || need_apt+=(e2fsprogs)
command -v pgrep >/dev/null || need_apt+=(procps)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || need_apt+=(fonts-dejavu-core)
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
# modver GO.MOD MODULE prints the version GO.MOD requires of MODULE.
modver() { awk -v m="$2" '$1 == m {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1"; }
ferretdb_version=$(modver "$(dirname "$0")/ferretdb/go.mod" github.com/FerretDB/FerretDB)
if [ ! -x "$tools/ferretdb-$ferretdb_version/ferretdb" ]; then
	echo "building ferretdb $ferretdb_version (a few minutes, once)"
	(cd "$(dirname "$0")/ferretdb" && go build -o "$tools/ferretdb-$ferretdb_version/ferretdb" .)
fi
mongosh_version=2.12.0
if [ ! -x "$tools/mongosh-$mongosh_version/node_modules/.bin/mongosh" ]; then
	# Go machines come with Node.js 20 and npm; a machine without them gets
	# Debian's.
	command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
	echo "installing mongosh $mongosh_version"
	npm install --prefix "$tools/mongosh-$mongosh_version" --no-audit --no-fund --loglevel=error "mongosh@$mongosh_version" >/dev/null
fi

# A real Kubernetes API server and its etcd, to ask whether they accept
# out/: each from a wrapper module of its own (neither can be go-installed),
# built once per version (kube-apiserver takes about 12 minutes on 2 cores).
etcd_version=$(modver "$(dirname "$0")/etcd/go.mod" go.etcd.io/etcd/server/v3)
if [ ! -x "$tools/etcd-$etcd_version/etcd" ]; then
	echo "building etcd $etcd_version (a few minutes, once)"
	(cd "$(dirname "$0")/etcd" && go build -o "$tools/etcd-$etcd_version/etcd" .)
fi
kube_version=$(modver "$(dirname "$0")/kube-apiserver/go.mod" k8s.io/kubernetes)
if [ ! -x "$tools/kube-apiserver-$kube_version/kube-apiserver" ]; then
	echo "building kube-apiserver $kube_version (about 12 minutes on 2 cores, once)"
	(cd "$(dirname "$0")/kube-apiserver" && go build -o "$tools/kube-apiserver-$kube_version/kube-apiserver" .)
fi
# Toxiproxy, the fault tests' TCP proxy, from its wrapper module.
toxiproxy_version=$(modver "$(dirname "$0")/toxiproxy/go.mod" github.com/Shopify/toxiproxy/v2)
if [ ! -x "$tools/toxiproxy-$toxiproxy_version/toxiproxy" ]; then
	echo "building toxiproxy $toxiproxy_version (under a minute, once)"
	(cd "$(dirname "$0")/toxiproxy" && go build -o "$tools/toxiproxy-$toxiproxy_version/toxiproxy" github.com/Shopify/toxiproxy/v2/cmd/server)
fi
# The PrometheusRule CRD the API server is given: a file of the
# prometheus-operator module (the newest version the module proxy serves).
crd_version=v0.85.0
if [ ! -d "$(go env GOMODCACHE)/github.com/prometheus-operator/prometheus-operator@$crd_version" ]; then
	(cd "$(mktemp -d)" && go mod download "github.com/prometheus-operator/prometheus-operator@$crd_version")
fi
# The ExternalSecret CRD, likewise from the external-secrets module.
es_version=v0.16.2
if [ ! -d "$(go env GOMODCACHE)/github.com/external-secrets/external-secrets@$es_version" ]; then
	(cd "$(mktemp -d)" && go mod download "github.com/external-secrets/external-secrets@$es_version")
fi
