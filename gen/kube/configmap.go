package kube

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/model"
)

// scriptFile is one sanitise script used in an environment.
type scriptFile struct {
	key     string // ConfigMap key: the file name
	path    string // relative to the estate root
	content string
}

// scriptFiles reads the sanitise scripts used by the present jobs of env,
// sorted by key. Two different scripts with one file name are an error:
// they would share a ConfigMap key.
func scriptFiles(e *model.Estate, env string) ([]scriptFile, error) {
	byKey := map[string]scriptFile{}
	for _, d := range e.JobsIn(env) {
		s, j := d.Sync, d.Job
		for _, db := range slices.Sorted(maps.Keys(j.Sanitise)) {
			p := j.Sanitise[db]
			key := path.Base(p)
			if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
				return nil, fmt.Errorf("sync %q in environment %q: sanitise script %q: file name is not a valid ConfigMap key: %s", s.Name, env, p, strings.Join(errs, "; "))
			}
			if prev, ok := byKey[key]; ok {
				if prev.path != p {
					return nil, fmt.Errorf("sync %q in environment %q: sanitise scripts %q and %q share the file name %q; rename one", s.Name, env, prev.path, p, key)
				}
				continue
			}
			sc, ok := e.Scripts[p]
			if !ok || sc.Problem != "" {
				return nil, fmt.Errorf("sync %q in environment %q: sanitise script %s: not loaded (%s)", s.Name, env, p, cmp.Or(sc.Problem, "declare.LoadScripts reads every script"))
			}
			byKey[key] = scriptFile{key: key, path: p, content: sc.Content}
		}
		if gated(s, j) {
			key := contract.ClassificationFile(s.Name)
			if prev, ok := byKey[key]; ok && prev.path == "" {
				continue // written for the sync's other job here
			} else if ok {
				return nil, fmt.Errorf("sync %q in environment %q: script %q has the name of the sync's classification, %q; rename it", s.Name, env, prev.path, key)
			}
			b, err := json.MarshalIndent(contract.Classification{
				Sync: s.Name, Declared: fmt.Sprintf("%s:%d", s.Pos.File, s.Pos.Line),
				Tables: s.Classification, AllowedEmailDomains: s.AllowedEmailDomains,
			}, "", "  ")
			if err != nil {
				return nil, err
			}
			byKey[key] = scriptFile{key: key, content: string(b) + "\n"}
		}
	}
	out := make([]scriptFile, 0, len(byKey))
	for _, f := range byKey {
		out = append(out, f)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].key < out[b].key })
	return out, nil
}

// ScriptsConfigMap is the ConfigMap of the sanitise scripts used in env,
// one key per script file; nil when env uses none.
func ScriptsConfigMap(e *model.Estate, env string) (*corev1.ConfigMap, error) {
	v, err := Values(e, env)
	if err != nil {
		return nil, err
	}
	return renderConfigMap(v), nil
}

func renderConfigMap(v *HelmValues) *corev1.ConfigMap {
	if len(v.Scripts.Files) == 0 {
		return nil
	}
	data := make(map[string]string, len(v.Scripts.Files))
	for k, c := range v.Scripts.Files {
		data[k] = c
	}
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      v.Scripts.ConfigMap,
			Namespace: v.Namespace,
			Labels:    commonLabels(v),
		},
		Data: data,
	}
}

// gated says whether job j of sync s runs the personal-data gate: a
// restore that sanitises (on its shadow), or a publish (on its scratch),
// of a sync that declares a classification.
func gated(s *model.Sync, j *model.Job) bool {
	sanitisingRestore := j.Has(model.Restore) && !j.Has(model.Transform)
	if s.Classification == nil || !(sanitisingRestore || j.Has(model.Publish)) {
		return false
	}
	for _, p := range j.Sanitise {
		if p != "" {
			return true
		}
	}
	return false
}
