package testenv

import (
	"os/exec"
	"strconv"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// ToxiproxyVersion is the Toxiproxy make tools builds (hack/toxiproxy).
const ToxiproxyVersion = "v2.5.0"

// Toxiproxy is a Toxiproxy server on loopback: the fault tests put a proxy
// of it between the runner and a real server, and cut, reset or slow its
// connections through the API.
type Toxiproxy struct {
	Client *toxiproxy.Client
	Proc   *Process
}

// StartToxiproxy starts Toxiproxy's server; it stops when the test ends.
func StartToxiproxy(t T) *Toxiproxy {
	t.Helper()
	bin := toxicBinary(t)
	port := FreePort(t)
	cmd := exec.Command(bin, "-host", "127.0.0.1", "-port", strconv.Itoa(port))
	p := Start(t, "toxiproxy", cmd)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	WaitTCP(t, p, addr, 20*time.Second)
	return &Toxiproxy{Client: toxiproxy.NewClient(addr), Proc: p}
}

func toxicBinary(t T) string {
	t.Helper()
	return toolBinary(t, "toxiproxy", ToxiproxyVersion)
}

// Proxy puts a new proxy in front of upstream (host:port) and returns it
// and the host and port that reach upstream through it.
func (x *Toxiproxy) Proxy(t T, name, upstream string) (*toxiproxy.Proxy, string, int) {
	t.Helper()
	port := FreePort(t)
	listen := "127.0.0.1:" + strconv.Itoa(port)
	p, err := x.Client.CreateProxy(name, listen, upstream)
	mustf(t, err, "creating the proxy %s to %s", name, upstream)
	return p, "127.0.0.1", port
}
