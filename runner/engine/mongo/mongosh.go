package mongo

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/envsync/envsync/runner/engine"
)

// runScript runs script with mongosh, db pointing at database. The
// connection string, with the password, reaches mongosh through its
// environment, never its arguments; the script is loaded from a file so
// that an error names the script's own line.
func (e *Engine) runScript(ctx context.Context, database, script string) error {
	if err := CheckScript(script); err != nil {
		return err
	}
	bin, err := exec.LookPath("mongosh")
	if err != nil {
		return fmt.Errorf("mongosh not found on PATH: the image installs it (npm install mongosh)")
	}
	dir, err := os.MkdirTemp("", "envsync-mongosh-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	scriptFile := filepath.Join(dir, "sanitise.js")
	if err := os.WriteFile(scriptFile, []byte(script), 0o600); err != nil {
		return err
	}
	prelude := filepath.Join(dir, "prelude.js")
	if err := os.WriteFile(prelude, []byte(preludeJS), 0o600); err != nil {
		return err
	}
	// The connection string, with its password, is in a file the prelude
	// reads and removes before the script runs: not in the environment,
	// where the script's process.env or /proc/self/environ would show it.
	uriFile := filepath.Join(dir, "uri")
	if err := os.WriteFile(uriFile, []byte(e.shellURI(database)), 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "--nodb", "--quiet", "--norc", prelude)
	cmd.Env = engine.ChildEnv(os.Getenv,
		"ENVSYNC_MONGOSH_URI_FILE="+uriFile,
		"ENVSYNC_MONGOSH_SCRIPT="+scriptFile,
		"HOME="+dir, // mongosh writes its history and logs under HOME
		"MONGOSH_DISABLE_TELEMETRY=1",
	)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	e.log.Info("running the script with mongosh", "database", database)
	err = cmd.Run()
	text := strings.TrimSpace(e.redact(strings.ReplaceAll(out.String(), scriptFile, "script")))
	if err != nil {
		return fmt.Errorf("script stopped: %w: %s", err, tail(text, 2000))
	}
	if text != "" {
		e.log.Info("script output", "output", tail(text, 4000))
	}
	return nil
}

// preludeJS connects and runs the script, stopping at its first error with
// the script's line. mongosh rewrites scripts before running them, so its
// own stack traces do not give the script's lines: each top-level statement
// is marked with its line first, with the parser mongosh ships (acorn).
const preludeJS = `const fs = require('fs'), path = require('path');
const file = process.env.ENVSYNC_MONGOSH_SCRIPT;
const src = fs.readFileSync(file, 'utf8');
let marked = src;
let acorn = null;
try {
  acorn = require(require.resolve('acorn', {paths: [path.dirname(fs.realpathSync(process.argv[1]))]}));
} catch (e) {}
if (acorn) {
  let ast;
  try {
    ast = acorn.parse(src, {ecmaVersion: 'latest', sourceType: 'script', allowAwaitOutsideFunction: true, locations: true});
  } catch (e) {
    print('script line ' + (e.loc ? e.loc.line : '?') + ': ' + e.message);
    quit(3);
  }
  let out = '', last = 0;
  for (const st of ast.body) {
    out += src.slice(last, st.start) + 'globalThis.__envsyncLine = ' + st.loc.start.line + '; ';
    last = st.start;
  }
  marked = out + src.slice(last);
}
fs.writeFileSync(file + '.run.js', marked);
db = (() => {
  const file = process.env.ENVSYNC_MONGOSH_URI_FILE, uri = fs.readFileSync(file, 'utf8');
  fs.unlinkSync(file);
  return connect(uri);
})();
try {
  load(file + '.run.js');
} catch (e) {
  print('script line ' + (globalThis.__envsyncLine === undefined ? '?' : globalThis.__envsyncLine) + ': ' + (e && e.message ? e.message : e));
  quit(2);
}
`

// shellURI is the connection string mongosh gets in its environment.
func (e *Engine) shellURI(database string) string {
	u := url.URL{Scheme: "mongodb", Host: hostPort(e.cfg.Host, e.cfg.Port), Path: "/" + database}
	if e.cfg.User != "" {
		u.User = url.UserPassword(e.cfg.User, e.cfg.Password)
	}
	// DocumentDB refuses retryable writes, which mongosh uses by default.
	q := url.Values{"directConnection": {"true"}, "appName": {"envsync"}, "retryWrites": {"false"}}
	if e.cfg.AuthMechanism != "" {
		q.Set("authMechanism", e.cfg.AuthMechanism)
	}
	if src := e.authSource(); src != "" {
		q.Set("authSource", src)
	}
	if e.useTLS {
		q.Set("tls", "true")
		t := e.cfg.TLS
		if t.RootCert != "" {
			q.Set("tlsCAFile", t.RootCert)
		}
		if !t.Verifies() {
			q.Set("tlsAllowInvalidCertificates", "true")
		} else if t.Effective() != engine.TLSVerifyFull {
			q.Set("tlsAllowInvalidHostnames", "true")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
