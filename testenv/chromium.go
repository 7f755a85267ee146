package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Chromium is headless Chromium (Debian's chromium, installed by make
// tools), for the tests that look at a page as a person would.
type Chromium struct {
	bin, profile string
}

// StartChromium finds Chromium; each run uses a profile in a temporary
// directory.
func StartChromium(t T) *Chromium {
	t.Helper()
	return &Chromium{
		bin:     LookPath(t, "chromium", "make tools (apt-get install chromium fonts-dejavu-core)"),
		profile: t.TempDir(),
	}
}

func (c *Chromium) run(t T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + c.profile}, args...)
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = []string{"HOME=" + c.profile, "PATH=/usr/bin:/bin"}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("testenv: chromium %s: %v\n%s", strings.Join(args, " "), err, lastBytes(stderr.String(), 2000))
	}
	return stdout.String()
}

// DOM loads the file at path, lets its scripts run, and returns the DOM.
func (c *Chromium) DOM(t T, path string) string {
	t.Helper()
	return c.run(t, "--virtual-time-budget=10000", "--dump-dom", "file://"+path)
}

// Screenshot renders the file at path into a PNG of width × height pixels.
func (c *Chromium) Screenshot(t T, path, png string, width, height int) {
	t.Helper()
	c.run(t, fmt.Sprintf("--window-size=%d,%d", width, height), "--screenshot="+png, "file://"+path)
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
