// Command etcd is the store of the test Kubernetes API server: etcd's own
// entry point, built from a module of its own so that its dependencies stay
// out of envsync's go.mod. hack/install-tools.sh builds it once per version.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
