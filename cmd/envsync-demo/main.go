// Command demo runs one night of a few syncs of the example estate on this
// machine: it starts, per environment, a PostgreSQL server, a MariaDB
// server, a Pushgateway and a Prometheus loading the generated rules, plus
// one S3 server; seeds production with data holding personal details; runs
// the generated CronJobs of out/ with `envsync local`, production (which
// publishes sanitised dumps through local scratch servers), then staging,
// then integration; prints where to look, and which buckets hold personal
// data (only production's raw one); and stops everything.
//
//	make demo                       # or: go run ./cmd/envsync-demo
//	go run ./cmd/envsync-demo -wait # keep the servers up to browse Prometheus
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/envsync/envsync/runner/compress"
	"github.com/envsync/envsync/testenv"
	"github.com/envsync/envsync/testenv/stack"
)

var envs = []string{"production", "staging", "integration"}

func main() {
	wait := flag.Bool("wait", false, "keep the servers running until Enter (or Ctrl-C), to browse Prometheus and the Pushgateway")
	jobs := flag.String("jobs", "chat-postgres,release-mysql,shared-documentdb,asset-manager-documentdb", "CronJobs of the example estate to run (comma-separated; the seed data fits these four)")
	outDir := flag.String("out", filepath.Join(stack.RepoRoot(), "out"), "what make gen wrote")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var failedNights []string
	err := testenv.RunSession(ctx, func(s *testenv.Session) { failedNights = demo(s, *outDir, strings.Split(*jobs, ","), *wait) })
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "\ndemo: interrupted; stopped every server")
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "demo: %v; every server is stopped\n", err)
		os.Exit(1)
	case len(failedNights) > 0:
		fmt.Fprintf(os.Stderr, "demo: jobs failed in %s (their logs and alerts are above)\n", strings.Join(failedNights, ", "))
		os.Exit(1)
	}
}

// demo runs one night of the jobs named in only, on servers s stops when
// it ends, and returns the environments where a job failed.
func demo(s *testenv.Session, out string, only []string, wait bool) (failedNights []string) {
	if _, err := os.Stat(filepath.Join(out, "production", "manifests")); err != nil {
		s.Fatalf("demo: %s has no generated manifests: run 'make gen' first", out)
	}

	// The runner's logs outlive the demo, for reading afterwards.
	logs, err := os.MkdirTemp("", "envsync-demo-logs-")
	if err != nil {
		s.Fatal(err)
	}

	step("building envsync")
	bin := stack.BuildEnvsync(s)

	step("starting, per environment, PostgreSQL, MariaDB, FerretDB (for DocumentDB), a Pushgateway and Prometheus; and one S3 server")
	st := stack.Start(s, stack.Options{Binary: bin, Out: out, Envs: envs, Only: only})
	for _, e := range st.Envs {
		fmt.Printf("  %-12s pushgateway %s  prometheus %s", e.Name, e.Pushgateway.URL, e.Prometheus.URL)
		if e.Postgres != nil {
			fmt.Printf("  postgres %s", e.Postgres.Addr())
		}
		if e.MariaDB != nil {
			fmt.Printf("  mariadb %s:%d", e.MariaDB.Host, e.MariaDB.Port)
		}
		if e.Mongo != nil {
			fmt.Printf("  mongo (FerretDB) %s", e.Mongo.Addr())
		}
		if e.ScratchPostgres != nil || e.ScratchMongo != nil {
			fmt.Printf("  and scratch servers for its publishes (standing in for the pod's sidecar)")
		}
		fmt.Println()
	}
	fmt.Printf("  S3           %s\n", st.S3.Endpoint)

	step("seeding production with data that holds personal details")
	seed(s, st.Env("production"))

	for _, env := range envs {
		step(fmt.Sprintf("one night in %s: envsync local %s %s", env, env, strings.Join(only, " ")))
		start := time.Now()
		r := st.Local(env, only...)
		logFile := filepath.Join(logs, env+".log")
		if err := os.WriteFile(logFile, []byte(r.Output), 0o644); err != nil {
			s.Fatal(err)
		}
		if r.Err != nil {
			// Go on: the buckets and alerts below show what a failed job
			// leaves; the demo exits non-zero at the end.
			fmt.Println(indent(r.Output))
			fmt.Printf("  envsync local %s failed: %v\n", env, r.Err)
			failedNights = append(failedNights, env)
		}
		fmt.Println(indent(summary(r.Output)))
		fmt.Printf("  every log line: %s\n", logFile)
		fmt.Printf("  %s done in %s\n", env, time.Since(start).Round(100*time.Millisecond))
	}

	step("where to look: the buckets")
	for _, b := range buckets(s, st) {
		fmt.Println("  " + b)
	}

	step("where the personal data is: every object of every bucket, decompressed, searched for the seed's names and addresses")
	for _, line := range personalInBuckets(s, st) {
		fmt.Println("  " + line)
	}

	step("where to look: the metrics (Prometheus, scraped from each environment's Pushgateway)")
	now := time.Now()
	for _, e := range st.Envs {
		e.Prometheus.Settled(s, now)
		v, err := e.Prometheus.Query(context.Background(), `db_backup_job_state`)
		if err != nil {
			s.Fatal(err)
		}
		var lines []string
		for _, smp := range v {
			state := map[float64]string{0: "failed", 1: "running", 2: "succeeded"}[float64(smp.Value)]
			lines = append(lines, fmt.Sprintf("  %-12s db_backup_job_state{database_instance=%q, database_db_name=%q, operation=%q} = %v (%s)",
				e.Name, smp.Metric["database_instance"], smp.Metric["database_db_name"], smp.Metric["operation"], smp.Value, state))
		}
		sort.Strings(lines)
		fmt.Println(strings.Join(lines, "\n"))
	}

	step("where to look: the alerts (the generated rules of out/<environment>/promtool/rules.yaml)")
	for _, e := range st.Envs {
		alerts, err := e.Prometheus.Alerts(context.Background())
		if err != nil {
			s.Fatal(err)
		}
		counts := map[string]int{}
		for _, a := range alerts {
			inst := string(a.Labels["database_instance"])
			if a.State == "firing" || contains(only, inst) {
				fmt.Printf("  %-12s %s %s %s/%s %s\n", e.Name, a.State, a.Labels["alertname"], inst, a.Labels["database_db_name"], a.Labels["operation"])
				continue
			}
			counts[fmt.Sprintf("%s %s", a.State, a.Labels["alertname"])]++
		}
		for k, n := range counts {
			fmt.Printf("  %-12s %s for %d operations of syncs this demo did not run (it fires after a class window)\n", e.Name, k, n)
		}
		if len(alerts) == 0 {
			fmt.Printf("  %-12s no active alert\n", e.Name)
		}
	}

	step("where to look: production publishes sanitised data, so staging and integration hold no personal data")
	showChatUsers(s, st)
	showUploaders(s, st)

	if wait {
		step("the runbook's commands against these servers: paste this into another shell")
		for _, kv := range st.S3.Env() {
			fmt.Printf("  export %s\n", kv)
		}
		for _, e := range st.Envs {
			fmt.Printf("  # %s: envsync local %s <sync> --secrets %s --s3-endpoint %s --pushgateway %s\n", e.Name, e.Name, e.SecretsFile(), st.S3.Endpoint, e.Pushgateway.URL)
		}
		fmt.Printf("  envsync dumps staging chat-postgres\n  envsync status --prometheus %s --environment staging\n", st.Env("staging").Prometheus.URL)
		step("servers are up; press Enter to stop them")
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	if wait {
		step("stopping everything")
	} else {
		step("stopping everything: the server URLs printed above are gone now (make demo DEMO_FLAGS=-wait keeps them up to browse)")
	}
	return failedNights
}

func step(msg string) { fmt.Printf("\n==> %s\n", msg) }

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// summary keeps the lines a newcomer reads first: each container's start
// and end, and each operation's result.
func summary(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		for _, k := range []string{`"msg":"container `, `"msg":"operation succeeded"`, `"msg":"operation failed"`, `"msg":"backup stored"`} {
			if strings.Contains(l, k) {
				keep = append(keep, l)
				break
			}
		}
	}
	return strings.Join(keep, "\n")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// eachObject calls fn with every object of every bucket, bucket by bucket.
func eachObject(s *testenv.Session, st *stack.Stack, fn func(bucket string, o types.Object)) {
	c := st.S3.Client()
	lb, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err != nil {
		s.Fatal(err)
	}
	for _, b := range lb.Buckets {
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: b.Name})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				s.Fatal(err)
			}
			for _, o := range page.Contents {
				fn(aws.ToString(b.Name), o)
			}
		}
	}
}

// personalInBuckets says, per bucket, how many of its objects hold one of
// the seed's personal strings: only production's raw bucket may.
func personalInBuckets(s *testenv.Session, st *stack.Stack) []string {
	objects, holding := map[string]int{}, map[string]int{}
	eachObject(s, st, func(bucket string, o types.Object) {
		objects[bucket]++
		get, err := st.S3.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			s.Fatal(err)
		}
		text := decompressed(s, get.Body)
		if slices.ContainsFunc(personalStrings(), func(p string) bool { return strings.Contains(text, p) }) {
			holding[bucket]++
		}
	})
	var out []string
	for bucket, n := range objects {
		verdict := "none"
		if holding[bucket] > 0 {
			verdict = fmt.Sprintf("%d of %d objects", holding[bucket], n)
		}
		out = append(out, fmt.Sprintf("s3://%-45s personal data: %s", bucket, verdict))
	}
	sort.Strings(out)
	return out
}

// decompressed is an object's content, decompressed when it is a dump.
func decompressed(s *testenv.Session, body io.ReadCloser) string {
	defer body.Close()
	r, _, err := compress.NewReader(body)
	if err != nil {
		s.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		s.Fatal(err)
	}
	return string(b)
}

// buckets lists every key of every bucket with its size.
func buckets(s *testenv.Session, st *stack.Stack) []string {
	var out []string
	eachObject(s, st, func(bucket string, o types.Object) {
		out = append(out, fmt.Sprintf("s3://%s/%s  (%d bytes)", bucket, aws.ToString(o.Key), aws.ToInt64(o.Size)))
	})
	sort.Strings(out)
	return out
}

// showUploaders prints the same assets' uploaders in each environment:
// pseudonymised by syncs/sanitise/asset-manager.js before production
// publishes them.
func showUploaders(s *testenv.Session, st *stack.Stack) {
	for _, e := range st.Envs {
		if e.Mongo == nil {
			continue
		}
		cur, err := e.Mongo.Client().Database("govuk_assets_production").Collection("assets").Find(context.Background(), bson.D{},
			options.Find().SetSort(bson.D{{Key: "file", Value: 1}}).SetLimit(2))
		if err != nil {
			s.Fatal(err)
		}
		for cur.Next(context.Background()) {
			file, _ := cur.Current.Lookup("file").StringValueOK()
			who, _ := cur.Current.Lookup("uploaded_by").StringValueOK()
			fmt.Printf("  %-12s govuk_assets_production.assets file=%s uploaded_by=%s\n", e.Name, file, who)
		}
		cur.Close(context.Background())
	}
}

// showChatUsers prints the same users in each environment.
func showChatUsers(s *testenv.Session, st *stack.Stack) {
	for _, e := range st.Envs {
		if e.Postgres == nil || !contains(e.Postgres.Databases(s), "govuk_chat_production") {
			continue
		}
		c := e.Postgres.Connect(s, "govuk_chat_production")
		rows, err := c.Query(context.Background(), "SELECT id, email FROM users ORDER BY id LIMIT 3")
		if err != nil {
			s.Fatal(err)
		}
		for rows.Next() {
			var id int
			var email string
			if err := rows.Scan(&id, &email); err != nil {
				s.Fatal(err)
			}
			fmt.Printf("  %-12s govuk_chat_production.users id=%d email=%s\n", e.Name, id, email)
		}
		rows.Close()
	}
}
