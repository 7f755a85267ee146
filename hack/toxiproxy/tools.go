//go:build tools

// Package toxiproxy pins the version of Toxiproxy's server that make tools
// builds (go build github.com/Shopify/toxiproxy/v2/cmd/server) for the
// fault tests: a TCP proxy between the runner and each server, whose faults
// (connections cut, reset after some bytes, latency) the tests set through
// its API.
package toxiproxy

import _ "github.com/Shopify/toxiproxy/v2/cmd/server"
