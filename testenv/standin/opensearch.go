// Package standin holds what the tests use where no real server can be
// installed on these machines: today one, the search cluster (OpenSearch),
// whose stand-in implements the documented calls envsync makes. Everything
// else the tests talk to is a real server, started by package testenv.
package standin

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/envsync/envsync/testenv"
)

// No OpenSearch or Elasticsearch server can be installed on these machines
// (none in Debian; the npm packages download the server when they run).
// SearchCluster is the one stand-in the tests use instead: an in-process
// server implementing exactly the calls envsync makes, with the status
// codes and bodies OpenSearch 2.x documents. Snapshots go from IN_PROGRESS
// to their final state over time, _restore answers "accepted" before the
// shards have recovered, _recovery reports their progress, a proxy's 504
// can be injected, and alias actions apply atomically. A call it does not
// implement is answered 501 and recorded: tests fail on it
// (AssertOnlyImplementedCalls).

// SnapshotRepository is a snapshot repository (an S3 bucket in a real
// estate), shareable between clusters as the estate registers production's
// repository in staging's cluster, read-only.
type SnapshotRepository struct {
	Name      string
	mu        sync.Mutex
	snapshots []*searchSnapshot
}

// NewSnapshotRepository is an empty repository called name.
func NewSnapshotRepository(name string) *SnapshotRepository { return &SnapshotRepository{Name: name} }

type searchSnapshot struct {
	Name, UUID string
	Start, End time.Time
	Final      string // the state it reaches at End
	Indices    map[string]searchIndexCopy
	Size       int64
}

type searchIndexCopy struct {
	Docs    []json.RawMessage
	Aliases []string
}

func (s *searchSnapshot) state(now time.Time) string {
	if now.Before(s.End) {
		return "IN_PROGRESS"
	}
	return s.Final
}

type searchIndex struct {
	docs      []json.RawMessage
	aliases   []string
	recovered time.Time // zero: not restored; else when its shards are done
	restored  time.Time
}

// SearchCluster is a stand-in of an OpenSearch 2.x cluster on loopback.
type SearchCluster struct {
	URL string

	mu      sync.Mutex
	indices map[string]*searchIndex
	repos   map[string]*SnapshotRepository
	ro      map[string]bool
	now     func() time.Time

	// SnapshotTime is how long a snapshot stays IN_PROGRESS; RecoveryTime
	// how long a restored index's shards take to recover.
	SnapshotTime, RecoveryTime time.Duration
	// NextFinalState is the final state of the next snapshots ("" SUCCESS).
	NextFinalState string
	// Inject504 answers the next snapshot creations 504 Gateway Time-out,
	// as a proxy that gave up while the cluster went on taking them.
	Inject504 int

	sigv4                *sigV4Check
	calls, unimplemented []string
}

// sigV4Check is what Amazon OpenSearch Service with IAM authentication
// checks of every request: an AWS Signature Version 4 by credentials it
// knows, for service "es" in its region, over the request as received.
type sigV4Check struct {
	creds  aws.Credentials
	region string
}

// RequireSigV4 makes the cluster refuse, 403 as Amazon OpenSearch Service
// does, every request not signed by creds for service "es" in region.
func (c *SearchCluster) RequireSigV4(creds aws.Credentials, region string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sigv4 = &sigV4Check{creds, region}
}

// verify signs a copy of r, with the signed headers and the time r was
// signed with, and compares the signatures.
func (s *sigV4Check) verify(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		return errors.New("the request is not signed with AWS Signature Version 4")
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if r.Header.Get("X-Amz-Content-Sha256") != hash {
		return errors.New("the payload's hash does not match the body received")
	}
	_, signed, _ := strings.Cut(auth, "SignedHeaders=")
	signed, _, _ = strings.Cut(signed, ",")
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	again.Host = r.Host
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "content-length" {
			again.Header.Set(h, r.Header.Get(h))
		}
	}
	if err := v4.NewSigner().SignHTTP(r.Context(), s.creds, again, hash, "es", s.region, at); err != nil {
		return err
	}
	if again.Header.Get("Authorization") != auth {
		return errors.New("the request signature we calculated does not match the signature you provided")
	}
	return nil
}

// StartSearchCluster starts a stand-in cluster with the repositories given
// (read-only ones by name in readOnly), closed when the test ends.
func StartSearchCluster(t testenv.T, repos []*SnapshotRepository, readOnly ...string) *SearchCluster {
	t.Helper()
	c := &SearchCluster{indices: map[string]*searchIndex{}, repos: map[string]*SnapshotRepository{}, ro: map[string]bool{}, now: time.Now}
	for _, r := range repos {
		c.repos[r.Name] = r
	}
	for _, r := range readOnly {
		c.ro[r] = true
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: search stand-in: listen: %v", err)
	}
	srv := &http.Server{Handler: c}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c.URL = "http://" + l.Addr().String()
	return c
}

// Calls lists the requests served, "METHOD /path".
func (c *SearchCluster) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// AssertOnlyImplementedCalls fails the test if envsync made a call the
// stand-in does not implement, whose behaviour was therefore never tested.
func (c *SearchCluster) AssertOnlyImplementedCalls(t testenv.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.unimplemented) > 0 {
		t.Fatalf("search stand-in: envsync called what the stand-in does not implement: %v", c.unimplemented)
	}
}

// Seed creates index name with docs documents and the aliases given.
func (c *SearchCluster) Seed(name string, docs int, aliases ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ix := &searchIndex{aliases: aliases}
	for i := range docs {
		ix.docs = append(ix.docs, json.RawMessage(fmt.Sprintf(`{"n":%d,"index":%q}`, i, name)))
	}
	c.indices[name] = ix
}

// Indices lists the cluster's indices with their aliases and documents:
// "name docs=N aliases=a,b".
func (c *SearchCluster) Indices() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name, ix := range c.indices {
		out = append(out, fmt.Sprintf("%s docs=%d aliases=%s", name, len(ix.docs), strings.Join(ix.aliases, ",")))
	}
	sort.Strings(out)
	return out
}

// Snapshots lists a repository's snapshots as "name STATE".
func (r *SnapshotRepository) Snapshots(now time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.snapshots {
		out = append(out, s.Name+" "+s.state(now))
	}
	return out
}

func (c *SearchCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	call := r.Method + " " + r.URL.Path
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	reply := func(code int, v any) {
		if m, ok := v.(map[string]any); ok && m["error"] != nil {
			m["status"] = code
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	c.mu.Lock()
	check := c.sigv4
	c.mu.Unlock()
	if check != nil {
		if err := check.verify(r, body); err != nil {
			// Amazon OpenSearch Service's answer to a bad signature.
			reply(http.StatusForbidden, map[string]any{"message": err.Error()})
			return
		}
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		reply(200, map[string]any{"name": "standin", "cluster_name": "envsync-test",
			"version": map[string]any{"distribution": "opensearch", "number": "2.19.0"}, "tagline": "The OpenSearch Project: https://opensearch.org/"})
	case len(parts) == 3 && parts[0] == "_snapshot" && r.Method == http.MethodPut:
		c.createSnapshot(w, r, parts[1], parts[2], body, reply)
	case len(parts) == 3 && parts[0] == "_snapshot" && r.Method == http.MethodGet:
		c.getSnapshots(parts[1], parts[2], reply)
	case len(parts) == 4 && parts[0] == "_snapshot" && parts[3] == "_status" && r.Method == http.MethodGet:
		c.snapshotStatus(parts[1], parts[2], reply)
	case len(parts) == 3 && parts[0] == "_snapshot" && r.Method == http.MethodDelete:
		c.deleteSnapshot(parts[1], parts[2], reply)
	case len(parts) == 4 && parts[0] == "_snapshot" && parts[3] == "_restore" && r.Method == http.MethodPost:
		c.restore(parts[1], parts[2], body, reply)
	case len(parts) == 2 && parts[1] == "_recovery" && r.Method == http.MethodGet:
		c.recovery(parts[0], reply)
	case len(parts) == 2 && parts[1] == "_alias" && r.Method == http.MethodGet:
		c.getAliases(parts[0], reply)
	case len(parts) == 1 && parts[0] == "_aliases" && r.Method == http.MethodPost:
		c.aliases(body, reply)
	case len(parts) == 2 && parts[1] == "_count" && r.Method == http.MethodGet:
		c.count(parts[0], reply)
	case len(parts) == 1 && !strings.HasPrefix(parts[0], "_") && r.Method == http.MethodDelete:
		c.deleteIndex(parts[0], reply)
	default:
		c.mu.Lock()
		c.unimplemented = append(c.unimplemented, call)
		c.mu.Unlock()
		reply(http.StatusNotImplemented, searchError("illegal_argument_exception", "the envsync stand-in does not implement "+call))
	}
}

func searchError(typ, reason string) map[string]any {
	cause := map[string]any{"type": typ, "reason": reason}
	return map[string]any{"error": map[string]any{"root_cause": []any{cause}, "type": typ, "reason": reason}, "status": 0}
}

func (c *SearchCluster) repo(name string, reply func(int, any)) *SnapshotRepository {
	r := c.repos[name]
	if r == nil {
		reply(404, searchError("repository_missing_exception", "["+name+"] missing"))
	}
	return r
}

// matches reports whether name is selected by a multi-target expression:
// comma-separated names and wildcards, "-pattern" excluding.
func matches(expr, name string) bool {
	in := false
	for _, p := range strings.Split(expr, ",") {
		exclude := strings.HasPrefix(p, "-")
		p = strings.TrimPrefix(p, "-")
		if p == "_all" {
			p = "*"
		}
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$"
		if ok, _ := regexp.MatchString(re, name); ok {
			in = !exclude
		}
	}
	// Wildcards do not expand to hidden (dot) indices unless named.
	if strings.HasPrefix(name, ".") && !strings.Contains(expr, name) {
		return false
	}
	return in
}

func (c *SearchCluster) createSnapshot(w http.ResponseWriter, r *http.Request, repo, name string, body []byte, reply func(int, any)) {
	c.mu.Lock()
	rp := c.repo(repo, reply)
	if rp == nil {
		c.mu.Unlock()
		return
	}
	if c.ro[repo] {
		c.mu.Unlock()
		reply(400, searchError("repository_exception", "["+repo+"] cannot create snapshot in a readonly repository"))
		return
	}
	var req struct {
		Indices string `json:"indices"`
	}
	_ = json.Unmarshal(body, &req)
	if req.Indices == "" {
		req.Indices = "*"
	}
	rp.mu.Lock()
	for _, s := range rp.snapshots {
		if s.Name == name {
			rp.mu.Unlock()
			c.mu.Unlock()
			reply(400, searchError("invalid_snapshot_name_exception", "["+repo+":"+name+"] Invalid snapshot name ["+name+"], snapshot with the same name already exists"))
			return
		}
	}
	now := c.now()
	final := cmp.Or(c.NextFinalState, "SUCCESS")
	s := &searchSnapshot{Name: name, UUID: fmt.Sprintf("uuid-%d", now.UnixNano()), Start: now, End: now.Add(c.SnapshotTime), Final: final, Indices: map[string]searchIndexCopy{}}
	for n, ix := range c.indices {
		if matches(req.Indices, n) {
			s.Indices[n] = searchIndexCopy{Docs: slices.Clone(ix.docs), Aliases: slices.Clone(ix.aliases)}
			for _, d := range ix.docs {
				s.Size += int64(len(d))
			}
		}
	}
	rp.snapshots = append(rp.snapshots, s)
	rp.mu.Unlock()
	inject := c.Inject504 > 0
	if inject {
		c.Inject504--
	}
	c.mu.Unlock()
	if inject {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusGatewayTimeout)
		io.WriteString(w, "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n")
		return
	}
	if r.URL.Query().Get("wait_for_completion") == "true" {
		time.Sleep(time.Until(s.End))
		reply(200, map[string]any{"snapshot": snapshotInfo(s, repo, c.now())})
		return
	}
	reply(200, map[string]any{"accepted": true})
}

func snapshotInfo(s *searchSnapshot, repo string, now time.Time) map[string]any {
	names := make([]string, 0, len(s.Indices))
	for n := range s.Indices {
		names = append(names, n)
	}
	sort.Strings(names)
	info := map[string]any{
		"snapshot": s.Name, "uuid": s.UUID, "version_id": 136387827, "version": "2.19.0",
		"indices": names, "data_streams": []any{}, "include_global_state": false, "state": s.state(now),
		"start_time": s.Start.UTC().Format("2006-01-02T15:04:05.000Z"), "start_time_in_millis": s.Start.UnixMilli(),
		"failures": []any{}, "shards": map[string]int{"total": len(names), "failed": 0, "successful": len(names)},
	}
	if !now.Before(s.End) {
		info["end_time"] = s.End.UTC().Format("2006-01-02T15:04:05.000Z")
		info["end_time_in_millis"] = s.End.UnixMilli()
		info["duration_in_millis"] = s.End.Sub(s.Start).Milliseconds()
	}
	if s.state(now) == "PARTIAL" || s.state(now) == "FAILED" {
		info["shards"] = map[string]int{"total": len(names), "failed": 1, "successful": max(len(names)-1, 0)}
		info["failures"] = []any{map[string]any{"index": "x", "shard_id": 0, "reason": "IndexShardSnapshotFailedException[failed]", "status": "INTERNAL_SERVER_ERROR"}}
	}
	return info
}

func (c *SearchCluster) getSnapshots(repo, name string, reply func(int, any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rp := c.repo(repo, reply)
	if rp == nil {
		return
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	var out []any
	for _, s := range rp.snapshots {
		if name == "_all" || matches(name, s.Name) {
			out = append(out, snapshotInfo(s, repo, c.now()))
		}
	}
	if out == nil && name != "_all" && !strings.Contains(name, "*") {
		reply(404, searchError("snapshot_missing_exception", "["+repo+":"+name+"] is missing"))
		return
	}
	if out == nil {
		out = []any{}
	}
	reply(200, map[string]any{"snapshots": out})
}

func (c *SearchCluster) find(repo, name string, reply func(int, any)) (*SnapshotRepository, *searchSnapshot, int) {
	rp := c.repo(repo, reply)
	if rp == nil {
		return nil, nil, -1
	}
	for i, s := range rp.snapshots {
		if s.Name == name {
			return rp, s, i
		}
	}
	reply(404, searchError("snapshot_missing_exception", "["+repo+":"+name+"] is missing"))
	return nil, nil, -1
}

func (c *SearchCluster) snapshotStatus(repo, name string, reply func(int, any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, s, _ := c.find(repo, name, reply)
	if s == nil {
		return
	}
	reply(200, map[string]any{"snapshots": []any{map[string]any{
		"snapshot": s.Name, "repository": repo, "uuid": s.UUID, "state": s.state(c.now()), "include_global_state": false,
		"shards_stats": map[string]int{"initializing": 0, "started": 0, "finalizing": 0, "done": len(s.Indices), "failed": 0, "total": len(s.Indices)},
		"stats": map[string]any{
			"incremental": map[string]any{"file_count": len(s.Indices), "size_in_bytes": s.Size},
			"total":       map[string]any{"file_count": len(s.Indices), "size_in_bytes": s.Size},
		},
	}}})
}

func (c *SearchCluster) deleteSnapshot(repo, name string, reply func(int, any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ro[repo] {
		reply(400, searchError("repository_exception", "["+repo+"] cannot delete snapshot from a readonly repository"))
		return
	}
	rp, s, i := c.find(repo, name, reply)
	if s == nil {
		return
	}
	rp.snapshots = slices.Delete(rp.snapshots, i, i+1)
	reply(200, map[string]any{"acknowledged": true})
}

func (c *SearchCluster) restore(repo, name string, body []byte, reply func(int, any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, s, _ := c.find(repo, name, reply)
	if s == nil {
		return
	}
	var req struct {
		Indices            string `json:"indices"`
		RenamePattern      string `json:"rename_pattern"`
		RenameReplacement  string `json:"rename_replacement"`
		IncludeAliases     *bool  `json:"include_aliases"`
		IncludeGlobalState bool   `json:"include_global_state"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		reply(400, searchError("parse_exception", err.Error()))
		return
	}
	if s.state(c.now()) != "SUCCESS" {
		reply(400, searchError("snapshot_restore_exception", "["+repo+":"+name+"] unsupported snapshot state ["+s.state(c.now())+"]"))
		return
	}
	var re *regexp.Regexp
	if req.RenamePattern != "" {
		var err error
		if re, err = regexp.Compile(req.RenamePattern); err != nil {
			reply(400, searchError("illegal_argument_exception", err.Error()))
			return
		}
	}
	targets := map[string]searchIndexCopy{}
	for n, copy := range s.Indices {
		if req.Indices != "" && !matches(req.Indices, n) {
			continue
		}
		target := n
		if re != nil {
			target = re.ReplaceAllString(n, req.RenameReplacement)
		}
		if _, exists := c.indices[target]; exists {
			reply(500, searchError("snapshot_restore_exception", "["+repo+":"+name+"] cannot restore index ["+target+"] because an open index with same name already exists in the cluster. Either close or delete the existing index or restore the index under a different name by providing a rename pattern and replacement name"))
			return
		}
		targets[target] = copy
	}
	now := c.now()
	for target, copy := range targets {
		ix := &searchIndex{docs: slices.Clone(copy.Docs), restored: now, recovered: now.Add(c.RecoveryTime)}
		if req.IncludeAliases == nil || *req.IncludeAliases {
			ix.aliases = slices.Clone(copy.Aliases)
		}
		c.indices[target] = ix
	}
	reply(200, map[string]any{"accepted": true})
}

// visibleDocs is how many documents a search sees: while a restored
// index's shards recover, a growing part of them.
func (c *SearchCluster) visibleDocs(ix *searchIndex) int {
	now := c.now()
	if ix.recovered.IsZero() || !now.Before(ix.recovered) {
		return len(ix.docs)
	}
	done := float64(now.Sub(ix.restored)) / float64(ix.recovered.Sub(ix.restored))
	return int(done * float64(len(ix.docs)))
}

func (c *SearchCluster) recovery(expr string, reply func(int, any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]any{}
	for n, ix := range c.indices {
		if !matches(expr, n) {
			continue
		}
		stage, percent := "DONE", 100.0
		if visible := c.visibleDocs(ix); visible < len(ix.docs) {
			stage, percent = "INDEX", 100*float64(visible)/float64(len(ix.docs))
		}
		typ := "EMPTY_STORE"
		if !ix.restored.IsZero() {
			typ = "SNAPSHOT"
		}
		out[n] = map[string]any{"shards": []any{map[string]any{
			"id": 0, "type": typ, "stage": stage, "primary": true,
			"index": map[string]any{"size": map[string]any{"percent": strconv.FormatFloat(percent, 'f', 1, 64) + "%"}},
		}}}
	}
	reply(200, out)
}

func (c *SearchCluster) getAliases(expr string, reply func(int, any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]any{}
	for n, ix := range c.indices {
		if matches(expr, n) {
			aliases := map[string]any{}
			for _, a := range ix.aliases {
				aliases[a] = map[string]any{}
			}
			out[n] = map[string]any{"aliases": aliases}
		}
	}
	reply(200, out)
}

// aliases applies alias actions all or none: add, remove, remove_index.
func (c *SearchCluster) aliases(body []byte, reply func(int, any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var req struct {
		Actions []map[string]struct {
			Index string `json:"index"`
			Alias string `json:"alias"`
		} `json:"actions"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Actions) == 0 {
		reply(400, searchError("action_request_validation_exception", "Validation Failed: 1: no action specified;"))
		return
	}
	// Work on a copy; keep it only if every action applies.
	next := map[string]*searchIndex{}
	for n, ix := range c.indices {
		cp := *ix
		cp.aliases = slices.Clone(ix.aliases)
		next[n] = &cp
	}
	for _, a := range req.Actions {
		for verb, arg := range a {
			ix := next[arg.Index]
			if ix == nil {
				reply(404, searchError("index_not_found_exception", "no such index ["+arg.Index+"]"))
				return
			}
			switch verb {
			case "add":
				if !slices.Contains(ix.aliases, arg.Alias) {
					ix.aliases = append(ix.aliases, arg.Alias)
				}
			case "remove":
				if !slices.Contains(ix.aliases, arg.Alias) {
					reply(404, searchError("aliases_not_found_exception", "aliases ["+arg.Alias+"] missing"))
					return
				}
				ix.aliases = slices.DeleteFunc(ix.aliases, func(s string) bool { return s == arg.Alias })
			case "remove_index":
				delete(next, arg.Index)
			default:
				reply(400, searchError("parsing_exception", "Unknown action ["+verb+"]"))
				return
			}
		}
	}
	for _, ix := range next {
		for _, a := range ix.aliases {
			if _, clash := next[a]; clash {
				reply(400, searchError("invalid_alias_name_exception", "Invalid alias name ["+a+"], an index exists with the same name as the alias"))
				return
			}
		}
	}
	c.indices = next
	reply(200, map[string]any{"acknowledged": true})
}

// resolve is the indices a name (an index or an alias) reads.
func (c *SearchCluster) resolve(name string) []*searchIndex {
	if ix, ok := c.indices[name]; ok {
		return []*searchIndex{ix}
	}
	var out []*searchIndex
	for _, ix := range c.indices {
		if slices.Contains(ix.aliases, name) {
			out = append(out, ix)
		}
	}
	return out
}

func (c *SearchCluster) count(name string, reply func(int, any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ixs := c.resolve(name)
	if len(ixs) == 0 {
		reply(404, searchError("index_not_found_exception", "no such index ["+name+"]"))
		return
	}
	n := 0
	for _, ix := range ixs {
		n += c.visibleDocs(ix)
	}
	reply(200, map[string]any{"count": n, "_shards": map[string]int{"total": len(ixs), "successful": len(ixs), "skipped": 0, "failed": 0}})
}

func (c *SearchCluster) deleteIndex(expr string, reply func(int, any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	found := false
	for n := range c.indices {
		if matches(expr, n) {
			delete(c.indices, n)
			found = true
		}
	}
	if !found && !strings.Contains(expr, "*") {
		reply(404, searchError("index_not_found_exception", "no such index ["+expr+"]"))
		return
	}
	reply(200, map[string]any{"acknowledged": true})
}
