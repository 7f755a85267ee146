package testenv

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ArgumentsSeen is what WatchArguments saw.
type ArgumentsSeen struct {
	Tools []string // base names of the watched tools, one per process seen
	Leaks []string // command lines that held the secret
	// Environs are the environments of the watched tools' processes, as
	// /proc/<pid>/environ showed them when first seen: "tool: NAME=value".
	Environs []string
}

// EnvHolding lists the variables ("tool: NAME") of the watched tools'
// environments whose value holds secret, but for the names in allowed.
func (s ArgumentsSeen) EnvHolding(secret string, allowed ...string) []string {
	var out []string
	for _, kv := range s.Environs {
		tool, pair, _ := strings.Cut(kv, ": ")
		name, value, _ := strings.Cut(pair, "=")
		if strings.Contains(value, secret) && !slices.Contains(allowed, name) {
			out = append(out, tool+": "+name)
		}
	}
	return out
}

// EnvNamed lists the variables ("tool: NAME") of the watched tools'
// environments whose name starts with one of prefixes.
func (s ArgumentsSeen) EnvNamed(prefixes ...string) []string {
	var out []string
	for _, kv := range s.Environs {
		tool, pair, _ := strings.Cut(kv, ": ")
		name, _, _ := strings.Cut(pair, "=")
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				out = append(out, tool+": "+name)
			}
		}
	}
	return out
}

// WatchArguments polls every process's /proc/<pid>/cmdline until stop is
// called, recording the processes named tools (and their environments) and
// every command line that holds secret: a secret must travel through the environment or a file,
// never through arguments, which any user on the machine can read.
func WatchArguments(secret string, tools ...string) (stop func() ArgumentsSeen) {
	var (
		mu   sync.Mutex
		seen ArgumentsSeen
		pids = map[int]bool{}
		self = os.Getpid()
	)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			default:
			}
			entries, _ := os.ReadDir("/proc")
			for _, de := range entries {
				pid, err := strconv.Atoi(de.Name())
				if err != nil || pid == self || pids[pid] {
					continue
				}
				b, err := os.ReadFile(filepath.Join("/proc", de.Name(), "cmdline"))
				if err != nil || len(b) == 0 {
					continue
				}
				argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
				mu.Lock()
				if tool := filepath.Base(argv[0]); slices.Contains(tools, tool) {
					pids[pid] = true
					seen.Tools = append(seen.Tools, tool)
					env, _ := os.ReadFile(filepath.Join("/proc", de.Name(), "environ"))
					for _, kv := range strings.Split(strings.TrimRight(string(env), "\x00"), "\x00") {
						if kv != "" {
							seen.Environs = append(seen.Environs, tool+": "+kv)
						}
					}
				}
				if strings.Contains(string(b), secret) {
					seen.Leaks = append(seen.Leaks, strings.Join(argv, " "))
				}
				mu.Unlock()
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return func() ArgumentsSeen {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}
