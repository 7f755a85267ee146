package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a test certificate authority: what a database's private CA (RDS's
// regional bundle) is to a real estate.
type CA struct {
	CertFile string // PEM, the DB_SSLROOTCERT of the tests
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	dir      string
}

// ServerCert is a server certificate signed by a CA, and its key.
type ServerCert struct {
	CertFile, KeyFile string
	CA                *CA
}

// NewCA makes a CA in a temporary directory.
func NewCA(t T) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustf(t, err, "generating the CA key")
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "envsync test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	mustf(t, err, "signing the CA")
	cert, err := x509.ParseCertificate(der)
	mustf(t, err, "parsing the CA")
	dir := t.TempDir()
	ca := &CA{CertFile: filepath.Join(dir, "ca.pem"), cert: cert, key: key, dir: dir}
	writePEM(t, ca.CertFile, "CERTIFICATE", der, 0o644)
	return ca
}

// Server issues a server certificate for the given host names and IP
// addresses; files readable by everyone (tests chown or copy them).
func (ca *CA) Server(t T, name string, hosts ...string) *ServerCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustf(t, err, "generating a server key")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	mustf(t, err, "signing a server certificate")
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	mustf(t, err, "encoding a server key")
	sc := &ServerCert{CertFile: filepath.Join(ca.dir, name+".crt"), KeyFile: filepath.Join(ca.dir, name+".key"), CA: ca}
	writePEM(t, sc.CertFile, "CERTIFICATE", der, 0o644)
	writePEM(t, sc.KeyFile, "PRIVATE KEY", kder, 0o600)
	return sc
}

func writePEM(t T, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	mustf(t, os.WriteFile(path, b, mode), "writing %s", path)
}
