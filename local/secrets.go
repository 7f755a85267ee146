package local

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// Secrets stand in for the cluster's Secrets: secret name, then key, then
// value. They are read from a file or an environment variable, never from
// command-line arguments, and their values are never logged.
type Secrets map[string]map[string]string

// LoadSecrets reads secrets from source: a path to a YAML file, or
// "env:NAME" for YAML held in the environment variable NAME. The YAML maps
// secret names to their keys and values:
//
//	envsync-chat-postgres:
//	  username: envsync
//	  password: s3cret
func LoadSecrets(source string) (Secrets, error) {
	var b []byte
	if name, ok := strings.CutPrefix(source, "env:"); ok {
		v, set := os.LookupEnv(name)
		if !set {
			return nil, fmt.Errorf("secrets: environment variable %s is not set", name)
		}
		b = []byte(v)
	} else {
		var err error
		if b, err = os.ReadFile(source); err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
	}
	var s Secrets
	// The parser's messages quote a line, never a value.
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		return nil, fmt.Errorf("secrets %s: want a map of secret name to a map of key to string value: %s", source, redactYAMLError(err))
	}
	return s, nil
}

// redactYAMLError keeps the position of a YAML error and drops any quoted
// input, which could be a password.
func redactYAMLError(err error) string {
	msg := err.Error()
	if i := strings.IndexAny(msg, "`'\""); i >= 0 {
		return strings.TrimSpace(msg[:i]) + " …"
	}
	return msg
}

// lookup returns the value of key in secret.
func (s Secrets) lookup(secret, key string) (string, bool) {
	v, ok := s[secret][key]
	return v, ok
}
