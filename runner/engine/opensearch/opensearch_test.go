package opensearch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envsync/envsync/runner/engine/opensearch"
	"github.com/envsync/envsync/testenv/standin"
)

// clock is real time plus an offset the test moves, so that each backup
// of a test gets its own snapshot name.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time       { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) skip(d time.Duration) { c.offset.Add(int64(d)) }

func cluster(t *testing.T, s *standin.SearchCluster, repo string, clk *clock) *opensearch.Cluster {
	t.Helper()
	c, err := opensearch.New(opensearch.Config{
		Endpoint: s.URL, Indices: "*", Repository: repo, Keep: 2, Instance: "search-opensearch",
		SnapshotDeadline: 2 * time.Second, Poll: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, Now: clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.AssertOnlyImplementedCalls(t) })
	return c
}

func TestABackupWaitsForItsSnapshotAndKeepsTheNewestN(t *testing.T) {
	repo := standin.NewSnapshotRepository("govuk-production")
	prod := standin.StartSearchCluster(t, []*standin.SnapshotRepository{repo})
	prod.Seed("govuk", 120, "govuk-read")
	prod.Seed(".kibana_1", 3)
	prod.SnapshotTime = 150 * time.Millisecond
	clk := &clock{}
	c := cluster(t, prod, "govuk-production", clk)

	var names []string
	for range 4 {
		res, err := c.Backup(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Size <= 0 || res.Taken.IsZero() {
			t.Errorf("backup %s: size %d taken %v", res.Snapshot, res.Size, res.Taken)
		}
		names = append(names, res.Snapshot+" SUCCESS")
		clk.skip(time.Hour)
	}
	if got := repo.Snapshots(time.Now()); !slices.Equal(got, names[2:]) {
		t.Errorf("repository holds %v, want the newest two %v", got, names[2:])
	}
	// The backup waited: no snapshot was listed before it ended.
	if !strings.HasSuffix(names[0], "-search-opensearch SUCCESS") {
		t.Errorf("snapshot name %s", names[0])
	}
}

func TestABackupFailsOnEveryStateButSuccessAndOnItsDeadline(t *testing.T) {
	for _, state := range []string{"FAILED", "PARTIAL", "INCOMPATIBLE"} {
		t.Run(state, func(t *testing.T) {
			repo := standin.NewSnapshotRepository("r")
			s := standin.StartSearchCluster(t, []*standin.SnapshotRepository{repo})
			s.Seed("govuk", 10)
			s.NextFinalState = state
			_, err := cluster(t, s, "r", &clock{}).Backup(context.Background())
			if err == nil || !strings.Contains(err.Error(), "ended "+state) {
				t.Fatalf("a %s snapshot: %v", state, err)
			}
		})
	}
	t.Run("still in progress", func(t *testing.T) {
		repo := standin.NewSnapshotRepository("r")
		s := standin.StartSearchCluster(t, []*standin.SnapshotRepository{repo})
		s.Seed("govuk", 10)
		s.SnapshotTime = time.Hour
		s.Inject504 = 1 // the proxy gives up; the snapshot goes on
		_, err := cluster(t, s, "r", &clock{}).Backup(context.Background())
		if err == nil || !strings.Contains(err.Error(), "still IN_PROGRESS after 2s") {
			t.Fatalf("a snapshot past its deadline: %v", err)
		}
	})
}

func TestABackupAnswered504ByTheProxyIsRetriedAndFindsItsSnapshot(t *testing.T) {
	repo := standin.NewSnapshotRepository("r")
	s := standin.StartSearchCluster(t, []*standin.SnapshotRepository{repo})
	s.Seed("govuk", 10)
	s.SnapshotTime = 100 * time.Millisecond
	s.Inject504 = 1
	res, err := cluster(t, s, "r", &clock{}).Backup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	creates := 0
	for _, c := range s.Calls() {
		if strings.HasPrefix(c, "PUT /_snapshot/r/") {
			creates++
		}
	}
	if creates != 2 || len(repo.Snapshots(time.Now())) != 1 || res.Size == 0 {
		t.Fatalf("%d creations, snapshots %v, size %d", creates, repo.Snapshots(time.Now()), res.Size)
	}
}

// reader polls names during a restore, as an application would: every
// count must be the complete old or the complete new one.
type reader struct {
	url   string
	names []string
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	seen  map[string]map[string]int // name -> "count" or "status" -> times
}

func startReader(t *testing.T, url string, names ...string) *reader {
	r := &reader{url: url, names: names, stop: make(chan struct{}), seen: map[string]map[string]int{}}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			for _, n := range r.names {
				resp, err := http.Get(r.url + "/" + n + "/_count")
				key := ""
				if err != nil {
					key = "error"
				} else {
					var b struct {
						Count int `json:"count"`
					}
					json.NewDecoder(resp.Body).Decode(&b)
					resp.Body.Close()
					key = fmt.Sprintf("%d", b.Count)
					if resp.StatusCode != 200 {
						key = fmt.Sprintf("HTTP %d", resp.StatusCode)
					}
				}
				r.mu.Lock()
				if r.seen[n] == nil {
					r.seen[n] = map[string]int{}
				}
				r.seen[n][key]++
				r.mu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return r
}

func (r *reader) finish() map[string]map[string]int {
	close(r.stop)
	r.wg.Wait()
	return r.seen
}

// flow is production, staging and integration, each cluster registering
// its own repository and the upstream one read-only.
type flow struct {
	prodRepo, stagingRepo *standin.SnapshotRepository
	prod, staging, integ  *standin.SearchCluster
	clk                   *clock
}

func newFlow(t *testing.T) *flow {
	f := &flow{prodRepo: standin.NewSnapshotRepository("govuk-production"), stagingRepo: standin.NewSnapshotRepository("govuk-staging"), clk: &clock{}}
	f.prod = standin.StartSearchCluster(t, []*standin.SnapshotRepository{f.prodRepo})
	f.staging = standin.StartSearchCluster(t, []*standin.SnapshotRepository{f.stagingRepo, f.prodRepo}, "govuk-production")
	f.integ = standin.StartSearchCluster(t, []*standin.SnapshotRepository{standin.NewSnapshotRepository("govuk-integration"), f.stagingRepo}, "govuk-staging")
	f.prod.Seed("govuk", 300, "govuk-read")
	f.prod.Seed("detailed", 40)
	f.prod.Seed(".opendistro-job-scheduler-lock", 2)
	return f
}

func TestARestoreNeverLeavesANameReadingNothingOrAHalfRecoveredIndex(t *testing.T) {
	f := newFlow(t)
	if _, err := cluster(t, f.prod, "govuk-production", f.clk).Backup(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Staging's live indices: govuk read by name, detailed through an
	// alias of the application's own, an index production no longer has,
	// and a system index.
	f.staging.Seed("govuk", 200)
	f.staging.Seed("detailed-2024", 30, "detailed")
	f.staging.Seed("retired", 5)
	f.staging.Seed(".kibana_1", 7)
	f.staging.RecoveryTime = 300 * time.Millisecond

	r := startReader(t, f.staging.URL, "govuk", "detailed")
	time.Sleep(20 * time.Millisecond)
	res, err := cluster(t, f.staging, "govuk-production", f.clk).Restore(context.Background(), "")
	time.Sleep(20 * time.Millisecond)
	seen := r.finish()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"govuk": {"200", "300"}, "detailed": {"30", "40"}}
	for name, counts := range seen {
		for c := range counts {
			if !slices.Contains(want[name], c) {
				t.Errorf("a reader of %s saw %s (%v): want only the old or the new complete count %v", name, c, counts, want[name])
			}
		}
		if counts[want[name][0]] == 0 || counts[want[name][1]] == 0 {
			t.Errorf("the reader of %s did not see both copies (%v): the test proves little", name, counts)
		}
	}
	got := f.staging.Indices()
	stamp := strings.TrimPrefix(strings.Fields(got[1])[0], "detailed-envsync-")
	wantIndices := []string{
		".kibana_1 docs=7 aliases=",
		"detailed-envsync-" + stamp + " docs=40 aliases=detailed",
		"govuk-envsync-" + stamp + " docs=300 aliases=govuk",
	}
	if !slices.Equal(got, wantIndices) {
		t.Errorf("staging after the restore:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantIndices, "\n"))
	}
	if res.Size <= 0 || res.Taken.IsZero() {
		t.Errorf("restore result %+v", res)
	}

	// Staging backs up what it restored; integration restores that, the
	// restored names renamed once more, not twice.
	f.clk.skip(time.Hour)
	if _, err := cluster(t, f.staging, "govuk-staging", f.clk).Backup(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.clk.skip(time.Hour)
	if _, err := cluster(t, f.integ, "govuk-staging", f.clk).Restore(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	for _, ix := range f.integ.Indices() {
		if strings.Count(ix, "-envsync-") != 1 || !strings.Contains(ix, "aliases=") || strings.HasSuffix(ix, "aliases=") {
			t.Errorf("integration index %s", ix)
		}
	}
}

func TestAKilledRestoreLeavesTheLiveIndicesServingAndTheNextRunClearsWhatItLeft(t *testing.T) {
	f := newFlow(t)
	if _, err := cluster(t, f.prod, "govuk-production", f.clk).Backup(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.staging.Seed("govuk", 200)
	f.staging.Seed("detailed", 30)
	f.staging.RecoveryTime = 10 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := cluster(t, f.staging, "govuk-production", f.clk).Restore(ctx, ""); done <- err }()
	for !slices.ContainsFunc(f.staging.Indices(), func(s string) bool { return strings.Contains(s, "-envsync-") }) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // the pod is killed while the shards recover
	if err := <-done; err == nil {
		t.Fatal("a cancelled restore succeeded")
	}
	r := startReader(t, f.staging.URL, "govuk", "detailed")
	time.Sleep(20 * time.Millisecond)
	if seen := r.finish(); len(seen["govuk"]) != 1 || seen["govuk"]["200"] == 0 || len(seen["detailed"]) != 1 || seen["detailed"]["30"] == 0 {
		t.Fatalf("after the kill, readers saw %v: want the old copies only", seen)
	}

	f.staging.RecoveryTime = 50 * time.Millisecond
	f.clk.skip(time.Hour)
	if _, err := cluster(t, f.staging, "govuk-production", f.clk).Restore(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	got := f.staging.Indices()
	if len(got) != 2 || !strings.Contains(got[0], "docs=40 aliases=detailed") || !strings.Contains(got[1], "docs=300 aliases=govuk") {
		t.Fatalf("after the next run, staging holds:\n%s", strings.Join(got, "\n"))
	}
}

func TestARestoreWithNoSuccessfulSnapshotTouchesNothing(t *testing.T) {
	f := newFlow(t)
	f.prod.NextFinalState = "PARTIAL"
	cluster(t, f.prod, "govuk-production", f.clk).Backup(context.Background())
	f.staging.Seed("govuk", 200)
	_, err := cluster(t, f.staging, "govuk-production", f.clk).Restore(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "no successful snapshot in repository govuk-production (1 listed)") {
		t.Fatalf("restore with only a PARTIAL snapshot: %v", err)
	}
	if got := f.staging.Indices(); !slices.Equal(got, []string{"govuk docs=200 aliases="}) {
		t.Fatalf("staging changed: %v", got)
	}
}
