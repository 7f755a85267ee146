package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Versions of the Kubernetes API server, its etcd and the PrometheusRule
// CRD the tests check out/ against; hack/install-tools.sh builds or
// downloads these.
const (
	KubernetesVersion         = "v1.37.2"
	EtcdVersion               = "v3.7.3"
	PrometheusOperatorVersion = "v0.85.0" // the newest the Go module proxy serves whole
	ExternalSecretsVersion    = "v0.16.2" // the newest the Go module proxy serves whole; serves external-secrets.io/v1
)

// KubeAPIServer is a real Kubernetes API server on loopback, with its own
// etcd, and a token in system:masters.
type KubeAPIServer struct {
	URL    string // https://127.0.0.1:<port>
	Token  string
	client *http.Client
}

func toolBinary(t T, name, version string) string {
	t.Helper()
	p := filepath.Join(ToolsDir(), name+"-"+version, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: %s not found; install it with: make tools (builds hack/%s into %s)", p, name, filepath.Dir(p))
	}
	return p
}

// StartKubeAPIServer starts etcd and kube-apiserver in temporary
// directories; both stop when the test ends.
func StartKubeAPIServer(t T) *KubeAPIServer {
	t.Helper()
	etcd, apiserver := toolBinary(t, "etcd", EtcdVersion), toolBinary(t, "kube-apiserver", KubernetesVersion)
	dir := t.TempDir()

	client, peer := FreePort(t), FreePort(t)
	clientURL, peerURL := fmt.Sprintf("http://127.0.0.1:%d", client), fmt.Sprintf("http://127.0.0.1:%d", peer)
	ep := Start(t, "etcd", exec.Command(etcd, "--name=test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=test="+peerURL, "--log-level=warn"))
	WaitTCP(t, ep, fmt.Sprintf("127.0.0.1:%d", client), 30*time.Second)

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	mustf(t, err, "generating the service account key")
	keyFile := filepath.Join(dir, "sa.key")
	mustf(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600), "writing the key")
	token := make([]byte, 16)
	rand.Read(token)
	s := &KubeAPIServer{Token: hex.EncodeToString(token)}
	tokens := filepath.Join(dir, "tokens.csv")
	mustf(t, os.WriteFile(tokens, []byte(s.Token+",envsync-test,envsync-test,system:masters\n"), 0o600), "writing the token file")

	port := FreePort(t)
	s.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	ap := Start(t, "kube-apiserver", exec.Command(apiserver,
		"--etcd-servers="+clientURL,
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+keyFile,
		"--service-account-signing-key-file="+keyFile,
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
	))
	s.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, _, err := s.Do(context.Background(), http.MethodGet, "/readyz", "", nil)
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) || ap.Exited() {
			t.Fatalf("testenv: kube-apiserver not ready (%v, %d)\n%s", err, code, tail(ap.Log, 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return s
}

// Do sends a request with the admin token and returns the status and body.
func (s *KubeAPIServer) Do(ctx context.Context, method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// PrometheusRuleCRD is the path of the prometheus-operator's PrometheusRule
// CRD in the Go module cache (make tools downloads the module).
func PrometheusRuleCRD(t T) string {
	t.Helper()
	return moduleFile(t, "github.com/prometheus-operator/prometheus-operator", PrometheusOperatorVersion,
		"example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml")
}

// ExternalSecretCRD is the path of the external-secrets project's
// ExternalSecret CRD in the Go module cache (make tools downloads the
// module).
func ExternalSecretCRD(t T) string {
	t.Helper()
	return moduleFile(t, "github.com/external-secrets/external-secrets", ExternalSecretsVersion,
		"config/crds/bases/external-secrets.io_externalsecrets.yaml")
}

// moduleFile is the path of file in module@version in the Go module cache.
func moduleFile(t T, module, version, file string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	mustf(t, err, "go env GOMODCACHE")
	p := filepath.Join(strings.TrimSpace(string(out)), filepath.FromSlash(module)+"@"+version, filepath.FromSlash(file))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: %s not found; get it with: go mod download %s@%s (or make tools)", p, module, version)
	}
	return p
}
