// Command kube-apiserver is the Kubernetes API server that envsync's tests
// ask whether it accepts out/: k8s.io/kubernetes's own command, built from
// a module of its own (k8s.io/kubernetes cannot be go-installed: it replaces
// its staging modules with folders) so that its dependencies stay out of
// envsync's go.mod. hack/install-tools.sh builds it once per version.
package main

import (
	"os"
	_ "time/tzdata" // CronJob timeZone needs the zone database

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
