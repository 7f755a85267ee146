// Package opensearch copies search indexes between clusters through their
// snapshot repositories: a backup is a snapshot, a restore loads the
// newest snapshot of the upstream repository beside the live indices and
// then moves every name that reads them in one atomic _aliases request.
// OpenSearch 1/2 and Elasticsearch 6/7 speak the same snapshot API; the
// client is opensearch-go.
//
// The restore's guarantee: every index name and alias the sync's indices
// are read by resolves at each instant to the complete old index or to the
// complete new one, whose every shard has recovered, never to nothing or
// to a half-recovered index. An application that reads an index by its
// name gets that too: the first restore replaces the index "x" by
// "x-envsync-<time>" and, in the same request, an alias "x" to it. Reads
// and writes through "x" work as before; what needs the concrete index
// (deleting or re-creating "x" by name, as some reindex jobs do) no longer
// does. The names moved are the target cluster's own: the index's logical
// name and the aliases its live indices carry. The snapshot's aliases are
// not restored: restoring them would point them at indices still
// recovering.
package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/opensearchtransport"
	"github.com/opensearch-project/opensearch-go/v4/signer"

	"github.com/envsync/envsync/runner/engine"
)

// Config is how to reach one cluster and what to copy.
type Config struct {
	Endpoint   string // DB_HOST: https://search.example:9200
	Indices    string // DB_DATABASE: a pattern, "*" every non-system index
	Repository string // SNAPSHOT_REPOSITORY: the backup's own, or the upstream one a restore reads
	Keep       int    // SNAPSHOTS_KEEP: successful snapshots of this sync kept after a backup
	Instance   string // DB_INSTANCE: the suffix of this sync's snapshot names
	User       string // DB_USER and DB_PASSWORD: basic auth, when set
	Password   string
	// Signer, when set, signs every request (AWS Signature Version 4 for
	// Amazon OpenSearch Service).
	Signer signer.Signer
	// Snapshot is how long a snapshot may stay IN_PROGRESS (15m).
	SnapshotDeadline time.Duration
	// Poll is the wait between two looks at a snapshot or a recovery.
	Poll time.Duration
	// Retries of a request answered 502, 503 or 504 or cut off, with
	// exponential backoff from RetryBackoff.
	Retries      int
	RetryBackoff time.Duration
	Log          *slog.Logger
	Now          func() time.Time
}

// Result is what an operation reports.
type Result = engine.SnapshotResult

// Cluster is a connection to one cluster.
type Cluster struct {
	cfg    Config
	client *opensearchapi.Client
}

// New connects to cfg.Endpoint; it sends nothing yet.
func New(cfg Config) (*Cluster, error) {
	if cfg.Keep <= 0 {
		cfg.Keep = 1
	}
	if cfg.SnapshotDeadline <= 0 {
		cfg.SnapshotDeadline = 15 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 5
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	endpoint, err := url.Parse(cfg.Endpoint)
	if err != nil || endpoint.Host == "" {
		return nil, fmt.Errorf("DB_HOST %q: want the cluster's URL, such as https://search.example:9200", cfg.Endpoint)
	}
	backoff := cfg.RetryBackoff
	// The transport is made here rather than by opensearch.NewClient to
	// turn off its node-stats poller: the runner talks to one endpoint,
	// usually a proxy, for one operation, and sheds no load.
	transport, err := opensearchtransport.New(opensearchtransport.Config{
		URLs:                 []*url.URL{endpoint},
		Username:             cfg.User,
		Password:             cfg.Password,
		RetryOnStatus:        []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		EnableRetryOnTimeout: true,
		MaxRetries:           cfg.Retries,
		RetryBackoff:         func(attempt int) time.Duration { return backoff << min(attempt-1, 6) },
		NodeStatsInterval:    -1,
		Signer:               cfg.Signer,
	})
	if err != nil {
		return nil, fmt.Errorf("opensearch client for %s: %w", cfg.Endpoint, err)
	}
	client := opensearchapi.NewFromClient(&opensearch.Client{Transport: transport})
	return &Cluster{cfg: cfg, client: client}, nil
}

// expression is the multi-target expression of the sync's indices: the
// pattern without the system indices.
func (c *Cluster) expression() string { return c.cfg.Indices + ",-.*" }

// names of this sync's snapshots: <time>-<instance>, lower case as
// snapshot names must be.
const stampLayout = "20060102t150405z"

func (c *Cluster) snapshotName(t time.Time) string {
	return t.UTC().Format(stampLayout) + "-" + c.cfg.Instance
}

// Backup takes a snapshot of the sync's indices into the repository,
// waits until it has ended, fails unless it ended in SUCCESS, then deletes
// the sync's successful snapshots but the newest Keep.
func (c *Cluster) Backup(ctx context.Context) (Result, error) {
	name := c.snapshotName(c.cfg.Now())
	res := Result{Snapshot: name}
	body, _ := json.Marshal(map[string]any{"indices": c.expression(), "include_global_state": false})
	_, err := c.client.Snapshot.Create(ctx, opensearchapi.SnapshotCreateReq{
		Repo: c.cfg.Repository, Snapshot: name, Body: bytes.NewReader(body),
		Params: opensearchapi.SnapshotCreateParams{WaitForCompletion: opensearch.ToPointer(true)},
	})
	// A proxy that gave up (504) may have let the cluster go on: the
	// retried request then finds the snapshot there, which is this one.
	if err != nil && !isType(err, "invalid_snapshot_name_exception") {
		return res, fmt.Errorf("snapshot %s in repository %s: %w", name, c.cfg.Repository, err)
	}
	snap, err := c.waitForSnapshot(ctx, name)
	if err != nil {
		return res, err
	}
	res.Taken = time.UnixMilli(snap.StartTimeInMillis)
	if res.Size, err = c.size(ctx, name); err != nil {
		return res, err
	}
	c.cfg.Log.Info("snapshot taken", "snapshot", name, "repository", c.cfg.Repository, "indices", len(snap.Indices), "bytes", res.Size)
	return res, c.prune(ctx)
}

// waitForSnapshot polls the snapshot until it leaves IN_PROGRESS, for at
// most the snapshot deadline, and fails on any final state but SUCCESS.
func (c *Cluster) waitForSnapshot(ctx context.Context, name string) (opensearchapi.SnapshotGet, error) {
	deadline := c.cfg.Now().Add(c.cfg.SnapshotDeadline)
	for {
		resp, err := c.client.Snapshot.Get(ctx, opensearchapi.SnapshotGetReq{Repo: c.cfg.Repository, Snapshots: []string{name}})
		if err != nil {
			return opensearchapi.SnapshotGet{}, fmt.Errorf("snapshot %s: %w", name, err)
		}
		if len(resp.Snapshots) != 1 {
			return opensearchapi.SnapshotGet{}, fmt.Errorf("snapshot %s: the repository lists %d snapshots of that name", name, len(resp.Snapshots))
		}
		s := resp.Snapshots[0]
		switch s.State {
		case "SUCCESS":
			return s, nil
		case "IN_PROGRESS", "STARTED":
		default: // FAILED, PARTIAL, INCOMPATIBLE
			return s, fmt.Errorf("snapshot %s in repository %s ended %s (%d of %d shards failed): %s",
				name, c.cfg.Repository, s.State, s.Shards.Failed, s.Shards.Total, failures(s.Failures))
		}
		if !c.cfg.Now().Before(deadline) {
			return s, fmt.Errorf("snapshot %s in repository %s still %s after %s", name, c.cfg.Repository, s.State, c.cfg.SnapshotDeadline)
		}
		if err := sleep(ctx, c.cfg.Poll); err != nil {
			return s, err
		}
	}
}

func failures(fs []json.RawMessage) string {
	var out []string
	for _, f := range fs {
		var x struct {
			Index  string `json:"index"`
			Shard  int    `json:"shard_id"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(f, &x) == nil {
			out = append(out, fmt.Sprintf("%s[%d]: %s", x.Index, x.Shard, x.Reason))
		}
	}
	if len(out) == 0 {
		return "no failure listed"
	}
	return strings.Join(out, "; ")
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// size is the snapshot's total size, from its status.
func (c *Cluster) size(ctx context.Context, name string) (int64, error) {
	st, err := c.client.Snapshot.Status(ctx, opensearchapi.SnapshotStatusReq{Repo: c.cfg.Repository, Snapshots: []string{name}})
	if err != nil {
		return 0, fmt.Errorf("status of snapshot %s: %w", name, err)
	}
	if len(st.Snapshots) != 1 {
		return 0, fmt.Errorf("status of snapshot %s: %d snapshots listed", name, len(st.Snapshots))
	}
	return int64(st.Snapshots[0].Stats.Total.SizeInBytes), nil
}

// prune deletes the sync's successful snapshots but the newest Keep.
func (c *Cluster) prune(ctx context.Context) error {
	all, err := c.snapshots(ctx)
	if err != nil {
		return err
	}
	var ours []opensearchapi.SnapshotGet
	for _, s := range all {
		if s.State == "SUCCESS" && strings.HasSuffix(s.Snapshot, "-"+c.cfg.Instance) {
			ours = append(ours, s)
		}
	}
	for i, s := range ours {
		if i < c.cfg.Keep {
			continue
		}
		if _, err := c.client.Snapshot.Delete(ctx, opensearchapi.SnapshotDeleteReq{Repo: c.cfg.Repository, Snapshots: []string{s.Snapshot}}); err != nil {
			return fmt.Errorf("deleting the old snapshot %s: %w", s.Snapshot, err)
		}
		c.cfg.Log.Info("old snapshot deleted", "snapshot", s.Snapshot, "repository", c.cfg.Repository)
	}
	return nil
}

// snapshots lists the repository's snapshots, newest first.
func (c *Cluster) snapshots(ctx context.Context) ([]opensearchapi.SnapshotGet, error) {
	resp, err := c.client.Snapshot.Get(ctx, opensearchapi.SnapshotGetReq{Repo: c.cfg.Repository, Snapshots: []string{"_all"}})
	if err != nil {
		return nil, fmt.Errorf("listing the snapshots of repository %s: %w", c.cfg.Repository, err)
	}
	s := resp.Snapshots
	sort.SliceStable(s, func(a, b int) bool { return s[a].StartTimeInMillis > s[b].StartTimeInMillis })
	return s, nil
}

// suffix marks the indices a restore makes: <name>-envsync-<time>.
var suffix = regexp.MustCompile(`-envsync-[0-9]{8}t[0-9]{6}z$`)

// logical is an index's name without a restore's suffix: the name
// applications read it by.
func logical(index string) string { return suffix.ReplaceAllString(index, "") }

// Restore loads the newest successful snapshot of the repository (or the
// one named, when name is not empty) beside the live indices, waits until
// every shard of every restored index has recovered, then in one _aliases
// request points every name the old indices were read by at the new ones
// and deletes the old ones; indices of the sync's pattern that the
// snapshot does not hold are deleted in that request too, as the upstream
// cluster has none. It first deletes what a killed restore left: restored
// indices that nothing reads.
func (c *Cluster) Restore(ctx context.Context, name string) (Result, error) {
	if err := c.removeLeftovers(ctx); err != nil {
		return Result{}, err
	}
	snap, err := c.pick(ctx, name)
	if err != nil {
		return Result{}, err
	}
	res := Result{Snapshot: snap.Snapshot, Taken: time.UnixMilli(snap.StartTimeInMillis)}
	if res.Size, err = c.size(ctx, snap.Snapshot); err != nil {
		return res, err
	}
	stamp := c.cfg.Now().UTC().Format(stampLayout)
	var restored []string // new index names
	for _, ix := range snap.Indices {
		if c.selects(ix) {
			restored = append(restored, logical(ix)+"-envsync-"+stamp)
		}
	}
	if len(restored) == 0 {
		return res, fmt.Errorf("snapshot %s in repository %s holds no index that %q selects", snap.Snapshot, c.cfg.Repository, c.cfg.Indices)
	}
	sort.Strings(restored)
	body, _ := json.Marshal(map[string]any{
		"indices":              c.expression(),
		"include_global_state": false,
		"include_aliases":      false,
		"rename_pattern":       `^(.+?)(-envsync-[0-9]{8}t[0-9]{6}z)?$`,
		"rename_replacement":   "$1-envsync-" + stamp,
	})
	c.cfg.Log.Info("restoring beside the live indices", "snapshot", snap.Snapshot, "repository", c.cfg.Repository, "indices", restored)
	if _, err := c.client.Snapshot.Restore(ctx, opensearchapi.SnapshotRestoreReq{Repo: c.cfg.Repository, Snapshot: snap.Snapshot, Body: bytes.NewReader(body)}); err != nil {
		return res, fmt.Errorf("restoring snapshot %s from repository %s: %w", snap.Snapshot, c.cfg.Repository, err)
	}
	if err := c.waitForRecovery(ctx, restored); err != nil {
		return res, err
	}
	return res, c.swap(ctx, restored)
}

// selects reports whether an index is one of the sync's.
func (c *Cluster) selects(index string) bool {
	if strings.HasPrefix(index, ".") {
		return false
	}
	for _, p := range strings.Split(c.cfg.Indices, ",") {
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$"
		if ok, _ := regexp.MatchString(re, index); ok {
			return true
		}
	}
	return false
}

// pick is the snapshot to restore: the one named, else the newest that
// succeeded.
func (c *Cluster) pick(ctx context.Context, name string) (opensearchapi.SnapshotGet, error) {
	all, err := c.snapshots(ctx)
	if err != nil {
		return opensearchapi.SnapshotGet{}, err
	}
	for _, s := range all {
		if name != "" && s.Snapshot != name {
			continue
		}
		if s.State == "SUCCESS" {
			return s, nil
		}
		if name != "" {
			return s, fmt.Errorf("snapshot %s in repository %s is %s, not SUCCESS", name, c.cfg.Repository, s.State)
		}
	}
	if name != "" {
		return opensearchapi.SnapshotGet{}, fmt.Errorf("no snapshot %s in repository %s", name, c.cfg.Repository)
	}
	return opensearchapi.SnapshotGet{}, fmt.Errorf("no successful snapshot in repository %s (%d listed)", c.cfg.Repository, len(all))
}

// live lists the sync's indices in the cluster with their aliases.
func (c *Cluster) live(ctx context.Context) (map[string][]string, error) {
	resp, err := c.client.Indices.Alias.Get(ctx, opensearchapi.AliasGetReq{Indices: []string{c.expression()}})
	if err != nil {
		return nil, fmt.Errorf("listing the indices %s and their aliases: %w", c.expression(), err)
	}
	out := map[string][]string{}
	for ix, a := range resp.GetIndices() {
		if !c.selects(ix) {
			continue
		}
		out[ix] = []string{}
		for alias := range a.Aliases {
			out[ix] = append(out[ix], alias)
		}
		sort.Strings(out[ix])
	}
	return out, nil
}

// removeLeftovers deletes restored indices that no name reads: what a
// restore killed before its swap left behind.
func (c *Cluster) removeLeftovers(ctx context.Context) error {
	live, err := c.live(ctx)
	if err != nil {
		return err
	}
	var left []string
	for ix, aliases := range live {
		if suffix.MatchString(ix) && len(aliases) == 0 {
			left = append(left, ix)
		}
	}
	if len(left) == 0 {
		return nil
	}
	sort.Strings(left)
	c.cfg.Log.Info("deleting what an earlier restore left", "indices", left)
	if _, err := c.client.Indices.Delete(ctx, opensearchapi.IndicesDeleteReq{Indices: left}); err != nil {
		return fmt.Errorf("deleting the indices an earlier restore left (%s): %w", strings.Join(left, ", "), err)
	}
	return nil
}

// waitForRecovery polls the restored indices' recovery until every shard
// of every one is DONE.
func (c *Cluster) waitForRecovery(ctx context.Context, indices []string) error {
	for {
		resp, err := c.client.Indices.Recovery(ctx, &opensearchapi.IndicesRecoveryReq{Indices: indices})
		if err != nil {
			return fmt.Errorf("recovery of %s: %w", strings.Join(indices, ", "), err)
		}
		waiting := []string{}
		got := resp.GetIndices()
		for _, ix := range indices {
			r, ok := got[ix]
			if !ok || len(r.Shards) == 0 {
				waiting = append(waiting, ix+" (no shard yet)")
				continue
			}
			for _, s := range r.Shards {
				if s.Stage != "DONE" {
					waiting = append(waiting, fmt.Sprintf("%s[%d] %s %s", ix, s.ID, s.Stage, s.Index.Size.Percent))
				}
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		c.cfg.Log.Info("waiting for the restored shards to recover", "recovering", waiting)
		if err := sleep(ctx, c.cfg.Poll); err != nil {
			return err
		}
	}
}

// swap moves, in one atomic _aliases request, every name the old indices
// are read by to the new ones, and deletes the old ones.
func (c *Cluster) swap(ctx context.Context, restored []string) error {
	live, err := c.live(ctx)
	if err != nil {
		return err
	}
	newOf := map[string]string{} // logical name -> new index
	for _, ix := range restored {
		newOf[logical(ix)] = ix
	}
	type action map[string]map[string]string
	var actions []action
	add := func(index, alias string) {
		actions = append(actions, action{"add": {"index": index, "alias": alias}})
	}
	for _, ix := range slices.Sorted(maps.Keys(live)) {
		if slices.Contains(restored, ix) {
			continue
		}
		if n, ok := newOf[logical(ix)]; ok {
			for _, a := range live[ix] {
				if a != logical(ix) {
					add(n, a)
				}
			}
		}
		actions = append(actions, action{"remove_index": {"index": ix}})
	}
	for _, ix := range restored {
		add(ix, logical(ix))
	}
	body, _ := json.Marshal(map[string]any{"actions": actions})
	if _, err := c.client.Aliases(ctx, opensearchapi.AliasesReq{Body: bytes.NewReader(body)}); err != nil {
		return fmt.Errorf("moving the aliases to the restored indices (%d actions): %w", len(actions), err)
	}
	c.cfg.Log.Info("restored indices live", "indices", restored, "actions", len(actions))
	return nil
}

// isType reports whether err is an OpenSearch error of that type.
func isType(err error, typ string) bool {
	var se *opensearch.StructError
	if errors.As(err, &se) {
		return se.Err.Type == typ
	}
	return strings.Contains(err.Error(), typ)
}
