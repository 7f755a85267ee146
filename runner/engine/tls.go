package engine

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// TLSMode is how a run's database sessions use TLS (DB_SSLMODE), with
// libpq's names and meanings, for every engine and every connection of a
// run: the runner's own sessions and the client tools it starts.
type TLSMode string

const (
	// TLSDisable never encrypts.
	TLSDisable TLSMode = "disable"
	// TLSPrefer encrypts when the server offers TLS, else connects in
	// plaintext; the certificate is not checked. libpq's default.
	TLSPrefer TLSMode = "prefer"
	// TLSRequire always encrypts and fails against a server without TLS; the
	// certificate is checked against DB_SSLROOTCERT when one is given (as
	// libpq does), else not at all.
	TLSRequire TLSMode = "require"
	// TLSVerifyCA also checks that the server's certificate is signed by a CA
	// of DB_SSLROOTCERT.
	TLSVerifyCA TLSMode = "verify-ca"
	// TLSVerifyFull also checks that the certificate names the host.
	TLSVerifyFull TLSMode = "verify-full"
)

// TLSModes lists the modes, weakest first.
var TLSModes = []TLSMode{TLSDisable, TLSPrefer, TLSRequire, TLSVerifyCA, TLSVerifyFull}

// TLS is a run's TLS settings: DB_SSLMODE and DB_SSLROOTCERT.
type TLS struct {
	Mode     TLSMode // empty means prefer
	RootCert string  // path of a PEM CA bundle
}

// ParseTLSMode reads DB_SSLMODE; empty is prefer.
func ParseTLSMode(s string) (TLSMode, error) {
	if s == "" {
		return TLSPrefer, nil
	}
	for _, m := range TLSModes {
		if strings.EqualFold(s, string(m)) {
			return m, nil
		}
	}
	return "", fmt.Errorf("DB_SSLMODE %q: want one of disable, prefer, require, verify-ca, verify-full", s)
}

// Effective is the mode with the default filled in.
func (t TLS) Effective() TLSMode {
	if t.Mode == "" {
		return TLSPrefer
	}
	return t.Mode
}

// Validate refuses settings that cannot be honoured: a verifying mode needs
// the CA bundle to verify against (the system's trust store is not what a
// database's private CA, such as RDS's, is in).
func (t TLS) Validate() error {
	switch t.Effective() {
	case TLSVerifyCA, TLSVerifyFull:
		if t.RootCert == "" {
			return fmt.Errorf("DB_SSLMODE %s needs DB_SSLROOTCERT, the CA bundle to verify the server's certificate against", t.Effective())
		}
	}
	if t.RootCert != "" {
		if _, err := os.Stat(t.RootCert); err != nil {
			return fmt.Errorf("DB_SSLROOTCERT: %w", err)
		}
	}
	return nil
}

// Verifies says whether the mode checks the server's certificate chain.
func (t TLS) Verifies() bool {
	m := t.Effective()
	return m == TLSVerifyCA || m == TLSVerifyFull || (m == TLSRequire && t.RootCert != "")
}

// ClientConfig is the crypto/tls configuration of the Go drivers (MySQL,
// Mongo) for a server reached as host: nil for disable. For prefer the
// caller falls back to plaintext when the server offers no TLS.
func (t TLS) ClientConfig(host string) (*tls.Config, error) {
	m := t.Effective()
	if m == TLSDisable {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if !t.Verifies() {
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	pem, err := os.ReadFile(t.RootCert)
	if err != nil {
		return nil, fmt.Errorf("DB_SSLROOTCERT: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("DB_SSLROOTCERT %s holds no PEM certificate", t.RootCert)
	}
	cfg.RootCAs = roots
	if m == TLSVerifyFull {
		return cfg, nil
	}
	// verify-ca (and require with a CA bundle): the chain is checked, the
	// name is not. crypto/tls checks both or neither, so the chain is
	// checked here.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the server sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		return err
	}
	return cfg, nil
}

// Describe says how a session is protected, for the run's log line.
func Describe(cs *tls.ConnectionState) string {
	if cs == nil {
		return "plaintext"
	}
	return "TLS " + tls.VersionName(cs.Version)
}
