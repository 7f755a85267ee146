// Package stack runs generated CronJobs against real servers on one machine:
// per environment a PostgreSQL server, a MariaDB server, a Pushgateway and a
// Prometheus loading that environment's generated rules, and one S3 server
// holding every environment's bucket. The end-to-end test (e2e) and the
// demo (cmd/envsync-demo) both stand on it.
//
// Every environment has its own Pushgateway and Prometheus because that is
// how an estate is monitored: each environment is its own cluster, and the
// runner's metrics carry no environment label (docs/contracts.md), so one
// Pushgateway for three environments would let staging's backup of a
// database hide production's. One database server per environment and
// engine keeps the live database names identical to production's, as the
// generated jobs expect.
package stack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/local"
	"github.com/envsync/envsync/testenv"
	"github.com/envsync/envsync/testenv/standin"
)

// Env is one environment's servers.
type Env struct {
	Name      string
	Manifests string // out/<env>/manifests
	Postgres  *testenv.Postgres
	MariaDB   *testenv.MariaDB
	Mongo     *testenv.FerretDB // the stand-in for DocumentDB
	// Search is the stand-in of the search cluster's snapshot API: no
	// OpenSearch server can be installed on these machines.
	Search *standin.SearchCluster
	// ScratchPostgres, ScratchMariaDB and ScratchMongo stand in for the
	// scratch sidecars of the environment's publishing jobs.
	ScratchPostgres *testenv.Postgres
	ScratchMariaDB  *testenv.MariaDB
	ScratchMongo    *testenv.FerretDB
	Pushgateway     *testenv.Pushgateway
	Prometheus      *testenv.Prometheus
	// Live are the live databases the environment's selected jobs read or
	// write, each once, in the order the manifests give them.
	Live    []LiveDatabase
	secrets string // path of the secrets file for envsync local
	dbArgs  []string
}

// LiveDatabase is one database a generated job works on.
type LiveDatabase struct {
	Sync, Engine, Database, Owner string
}

// SecretsFile is the secrets file envsync local reads for this environment.
func (e *Env) SecretsFile() string { return e.secrets }

// Stack is every server of a run.
type Stack struct {
	mongosh string // set when a job runs Mongo
	Binary  string // envsync
	Out     string // what envsync gen wrote
	S3      *testenv.S3Server
	Envs    []*Env
	// Repositories are the search clusters' snapshot repositories, shared
	// as the estate registers each upstream one read-only.
	Repositories map[string]*standin.SnapshotRepository
}

// Env returns the environment called name.
func (s *Stack) Env(name string) *Env {
	for _, e := range s.Envs {
		if e.Name == name {
			return e
		}
	}
	panic("e2e: no environment " + name)
}

// StackOptions say what to start.
type Options struct {
	Binary string   // envsync
	Out    string   // what envsync gen wrote
	Envs   []string // environments, in the order the night runs them
	// Only, when not empty, limits the stack to these CronJobs (by name or
	// by sync): servers, secrets and endpoints are set up for them alone.
	Only []string
}

// StartStack starts the servers for the environments found in out (in the
// order given), creates every bucket the generated jobs name, the owner
// roles their restores hand databases to, and a secrets file mapping every
// Secret the jobs reference to the local servers' credentials.
func Start(t testenv.T, o Options) *Stack {
	t.Helper()
	s := &Stack{Binary: o.Binary, Out: o.Out, S3: testenv.StartS3(t), Repositories: map[string]*standin.SnapshotRepository{}}
	buckets := map[string]bool{}
	only := map[string]bool{}
	for _, j := range o.Only {
		only[j] = true
	}
	for _, name := range o.Envs {
		e := &Env{Name: name, Manifests: filepath.Join(o.Out, name, "manifests")}
		m, err := local.LoadManifests(e.Manifests)
		if err != nil {
			t.Fatalf("e2e: %v", err)
		}
		var jobs []*batchv1.CronJob
		for _, cj := range m.CronJobs {
			if len(only) == 0 || only[cj.Name] || only[cj.Labels["envsync.io/sync"]] {
				jobs = append(jobs, cj)
			}
		}
		m.CronJobs = jobs
		engines := map[string]bool{}
		secretEngine := map[string]string{} // Secret name -> engine of its users
		owners := map[string]bool{}
		instances := map[string]string{}
		repos := map[string]bool{}     // a search cluster's repositories: true when it writes them
		publishes := map[string]bool{} // engines of the publishing jobs
		for _, cj := range m.CronJobs {
			spec := cj.Spec.JobTemplate.Spec.Template.Spec
			for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
				env := PlainEnv(c)
				engines[env["DB_ENGINE"]] = true
				instances[env["DB_INSTANCE"]] = env["DB_ENGINE"]
				for _, v := range []string{"BUCKET", "RAW_BUCKET"} {
					if b, ok := strings.CutPrefix(env[v], "s3://"); ok {
						buckets[b] = true
					}
				}
				if len(c.Args) == 2 && c.Args[1] == "publish" {
					publishes[env["DB_ENGINE"]] = true
				}
				if r := env["SNAPSHOT_REPOSITORY"]; r != "" {
					repos[r] = repos[r] || c.Args[1] == "backup"
				}
				if env["DB_ENGINE"] == "postgres" && env["DB_OWNER"] != "" {
					owners[env["DB_OWNER"]] = true
				}
				if l := (LiveDatabase{cj.Labels["envsync.io/sync"], env["DB_ENGINE"], env["DB_DATABASE"], env["DB_OWNER"]}); l.Database != "" && !slices.Contains(e.Live, l) {
					e.Live = append(e.Live, l)
				}
				for _, ev := range c.Env {
					if ev.ValueFrom != nil && ev.ValueFrom.SecretKeyRef != nil {
						secretEngine[ev.ValueFrom.SecretKeyRef.Name] = env["DB_ENGINE"]
					}
				}
			}
		}
		// The estate declares TLS as RDS requires it: the servers require it too.
		ca := testenv.NewCA(t)
		if engines["postgres"] {
			e.Postgres = testenv.StartPostgresWith(t, testenv.PostgresOptions{TLS: ca.Server(t, "postgres", "127.0.0.1", "localhost"), RequireTLS: true})
			for o := range owners {
				e.Postgres.Exec(t, "postgres", fmt.Sprintf(`CREATE ROLE %q`, o))
			}
		}
		if engines["mysql"] {
			e.MariaDB = testenv.StartMariaDBWith(t, testenv.MariaDBOptions{TLS: ca.Server(t, "mariadb", "127.0.0.1", "localhost"), RequireTLS: true})
		}
		if engines["mongo"] {
			e.Mongo = testenv.StartFerretDBWith(t, testenv.FerretDBOptions{TLS: ca.Server(t, "ferretdb", "127.0.0.1", "localhost")})
			s.mongosh = testenv.Mongosh(t)
		}
		if engines["opensearch"] {
			var rs []*standin.SnapshotRepository
			var readOnly []string
			for r, writes := range repos {
				if s.Repositories[r] == nil {
					s.Repositories[r] = standin.NewSnapshotRepository(r)
				}
				rs = append(rs, s.Repositories[r])
				if !writes {
					readOnly = append(readOnly, r)
				}
			}
			e.Search = standin.StartSearchCluster(t, rs, readOnly...)
			e.Search.SnapshotTime, e.Search.RecoveryTime = 200*time.Millisecond, 200*time.Millisecond
		}
		// Every Secret holds the credentials of the server of its engine.
		final := local.Secrets{}
		for name, engine := range secretEngine {
			switch engine {
			case "postgres":
				final[name] = map[string]string{"username": e.Postgres.User, "password": e.Postgres.Password}
			case "mysql":
				final[name] = map[string]string{"username": e.MariaDB.User, "password": e.MariaDB.Password}
			case "mongo":
				final[name] = map[string]string{"username": e.Mongo.User, "password": e.Mongo.Password}
			default:
				t.Fatalf("e2e: Secret %s is used by an engine with no local server", name)
			}
		}
		// A scratch server per engine that publishes, with its own user.
		for engine := range publishes {
			var addr string
			switch engine {
			case "postgres":
				e.ScratchPostgres = testenv.StartPostgres(t)
				addr = e.ScratchPostgres.Addr()
				final[local.ScratchSecret(engine)] = map[string]string{"username": e.ScratchPostgres.User, "password": e.ScratchPostgres.Password}
			case "mysql":
				e.ScratchMariaDB = testenv.StartMariaDB(t)
				addr = fmt.Sprintf("%s:%d", e.ScratchMariaDB.Host, e.ScratchMariaDB.Port)
				final[local.ScratchSecret(engine)] = map[string]string{"username": e.ScratchMariaDB.User, "password": e.ScratchMariaDB.Password}
			case "mongo":
				e.ScratchMongo = testenv.StartFerretDB(t)
				addr = e.ScratchMongo.Addr()
				final[local.ScratchSecret(engine)] = map[string]string{"username": e.ScratchMongo.User, "password": e.ScratchMongo.Password}
			default:
				t.Fatalf("e2e: a publish on %s, which has no scratch server here", engine)
			}
			e.dbArgs = append(e.dbArgs, "--scratch", engine+"="+addr)
		}
		b, err := yaml.Marshal(final)
		if err != nil {
			t.Fatal(err)
		}
		e.secrets = filepath.Join(t.TempDir(), name+"-secrets.yaml")
		if err := os.WriteFile(e.secrets, b, 0o600); err != nil {
			t.Fatal(err)
		}
		names := make([]string, 0, len(instances))
		for i := range instances {
			names = append(names, i)
		}
		sort.Strings(names)
		for _, i := range names {
			switch instances[i] {
			case "postgres":
				e.dbArgs = append(e.dbArgs, "--db", i+"="+e.Postgres.Addr())
			case "mysql":
				e.dbArgs = append(e.dbArgs, "--db", fmt.Sprintf("%s=%s:%d", i, e.MariaDB.Host, e.MariaDB.Port))
			case "mongo":
				// FerretDB v1 authenticates with PLAIN only; DocumentDB with SCRAM.
				e.dbArgs = append(e.dbArgs, "--db", i+"="+e.Mongo.Addr(), "--set-env", "DB_AUTH_MECHANISM=PLAIN")
			case "opensearch":
				e.dbArgs = append(e.dbArgs, "--db", i+"="+strings.TrimPrefix(e.Search.URL, "http://"))
			}
		}
		e.Pushgateway = testenv.StartPushgateway(t)
		e.Prometheus = testenv.StartPrometheus(t, testenv.PrometheusOptions{
			Pushgateway: strings.TrimPrefix(e.Pushgateway.URL, "http://"),
			RuleFiles:   []string{filepath.Join(o.Out, name, "promtool", "rules.yaml")},
			Interval:    500 * time.Millisecond,
		})
		s.Envs = append(s.Envs, e)
	}
	bs := make([]string, 0, len(buckets))
	for b := range buckets {
		bs = append(bs, b)
	}
	sort.Strings(bs)
	for _, b := range bs {
		s.S3.CreateBucket(t, b)
	}
	return s
}

// PlainEnv is a container's literal environment.
func PlainEnv(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			m[e.Name] = e.Value
		}
	}
	return m
}

// Result is one `envsync local` run.
type Result struct {
	Output string // stdout and stderr
	Err    error
}

// Local runs `envsync local ENV [args...]` with this stack's overrides:
// the environment's servers, the S3 server, the environment's Pushgateway.
func (s *Stack) Local(env string, args ...string) Result {
	e := s.Env(env)
	return s.LocalFrom(env, e.Manifests, args...)
}

// LocalFrom is Local reading the manifests from dir instead.
func (s *Stack) LocalFrom(env, dir string, args ...string) Result {
	e := s.Env(env)
	argv := append([]string{"local", env, "--manifests", dir, "--secrets", e.secrets,
		"--s3-endpoint", s.S3.Endpoint, "--pushgateway", e.Pushgateway.URL}, e.dbArgs...)
	argv = append(argv, args...)
	cmd := exec.Command(s.Binary, argv...)
	cmd.Env = append(os.Environ(), s.S3.Env()...)
	if s.mongosh != "" {
		// The image has mongosh on PATH; here make tools put it aside.
		cmd.Env = append(cmd.Env, "PATH="+filepath.Dir(s.mongosh)+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return Result{Output: out.String(), Err: err}
}

// RepoRoot is the module root, one level up from this file's package.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BuildEnvsync builds the envsync binary into a temporary directory.
func BuildEnvsync(t testenv.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "envsync")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/envsync")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/envsync: %v\n%s", err, out)
	}
	return bin
}
