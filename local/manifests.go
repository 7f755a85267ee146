// Package local runs generated CronJobs on one machine: each container of a
// job's pod, in order, becomes a process of the envsync binary with exactly
// the container's arguments and environment. What a cluster would resolve is
// resolved here: Secret and ConfigMap references, ConfigMap-mounted files,
// the pod's name. What differs on a laptop — where the databases, the S3
// server and the Pushgateway listen — is changed only through explicit
// Overrides, so that a run tests the job definitions that will be deployed.
package local

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Manifests are the generated objects of one environment that a run needs.
type Manifests struct {
	Dir        string
	CronJobs   []*batchv1.CronJob // sorted by name
	ConfigMaps map[string]*corev1.ConfigMap
	// Files maps a CronJob name to the file it was read from, for messages.
	Files map[string]string
}

// LoadManifests reads cronjob-*.yaml and configmap-*.yaml from dir
// (out/<environment>/manifests). A file may hold several YAML documents.
func LoadManifests(dir string) (*Manifests, error) {
	m := &Manifests{Dir: dir, ConfigMaps: map[string]*corev1.ConfigMap{}, Files: map[string]string{}}
	cronFiles, err := filepath.Glob(filepath.Join(dir, "cronjob-*.yaml"))
	if err != nil {
		return nil, err
	}
	cmFiles, err := filepath.Glob(filepath.Join(dir, "configmap-*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(cronFiles) == 0 {
		return nil, fmt.Errorf("%s: no cronjob-*.yaml (run 'make gen' first, or give the manifests directory of an environment)", dir)
	}
	for _, f := range cronFiles {
		docs, err := readDocs(f)
		if err != nil {
			return nil, err
		}
		for i, d := range docs {
			var cj batchv1.CronJob
			if err := yaml.UnmarshalStrict(d, &cj); err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", f, i+1, err)
			}
			if cj.Kind != "CronJob" || cj.Name == "" {
				return nil, fmt.Errorf("%s: document %d: kind %q name %q, want a named CronJob", f, i+1, cj.Kind, cj.Name)
			}
			if prev, dup := m.Files[cj.Name]; dup {
				return nil, fmt.Errorf("%s: CronJob %s is also in %s", f, cj.Name, prev)
			}
			m.Files[cj.Name] = f
			m.CronJobs = append(m.CronJobs, &cj)
		}
	}
	for _, f := range cmFiles {
		docs, err := readDocs(f)
		if err != nil {
			return nil, err
		}
		for i, d := range docs {
			var cm corev1.ConfigMap
			if err := yaml.UnmarshalStrict(d, &cm); err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", f, i+1, err)
			}
			if cm.Kind != "ConfigMap" || cm.Name == "" {
				return nil, fmt.Errorf("%s: document %d: kind %q name %q, want a named ConfigMap", f, i+1, cm.Kind, cm.Name)
			}
			m.ConfigMaps[cm.Name] = &cm
		}
	}
	sort.Slice(m.CronJobs, func(i, j int) bool { return m.CronJobs[i].Name < m.CronJobs[j].Name })
	return m, nil
}

// CronJob returns the CronJob called name, else the one of the sync called
// name.
func (m *Manifests) CronJob(name string) (*batchv1.CronJob, error) {
	for _, cj := range m.CronJobs {
		if cj.Name == name {
			return cj, nil
		}
	}
	// The sync's name works too, whatever the environment's jobNamePrefix.
	for _, cj := range m.CronJobs {
		if cj.Labels["envsync.io/sync"] == name {
			return cj, nil
		}
	}
	names := make([]string, len(m.CronJobs))
	for i, cj := range m.CronJobs {
		names[i] = cj.Name
	}
	return nil, fmt.Errorf("%s: no CronJob %q (there are: %s)", m.Dir, name, strings.Join(names, ", "))
}

// readDocs splits a YAML file into its non-empty documents.
func readDocs(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), b...), []byte("\n---")) {
		// A document of comments only (the generated header) is empty.
		empty := true
		for _, line := range bytes.Split(d, []byte("\n")) {
			l := bytes.TrimSpace(line)
			if len(l) > 0 && l[0] != '#' {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, d)
		}
	}
	return docs, nil
}
