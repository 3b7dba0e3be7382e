package tlsfiles

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// maxPEM bounds a certificate, key or CA bundle file.
const maxPEM = 1 << 20

// recheck is how often, at most, the certificate files are looked at again.
const recheck = time.Second

// ErrNoCertificates: a CA file holds no PEM certificate.
var ErrNoCertificates = errors.New("no PEM certificate found")

// Certificate is a certificate and key pair loaded from two files and
// loaded again, at the next handshake, when either file's content changes
// (looked at at most once a second). A pair that fails to load keeps the
// previous one.
type Certificate struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	sum     [sha256.Size]byte // of the files the pair was loaded from
	checked time.Time
}

// LoadCertificate loads the pair; log (may be nil) hears of reloads.
func LoadCertificate(certFile, keyFile string, log *slog.Logger) (*Certificate, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Certificate{certFile: certFile, keyFile: keyFile, log: log}
	cert, sum, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cert, c.sum, c.checked = cert, sum, time.Now()
	return c, nil
}

// load reads both files and parses the pair.
func (c *Certificate) load() (*tls.Certificate, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	certPEM, err := readPEM(c.certFile)
	if err != nil {
		return nil, sum, err
	}
	keyPEM, err := readPEM(c.keyFile)
	if err != nil {
		return nil, sum, err
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	h.Sum(sum[:0])
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Never quote the files' content: one is a key.
		return nil, sum, fmt.Errorf("tls: %s, %s: %w", c.certFile, c.keyFile, err)
	}
	return &cert, sum, nil
}

// current returns the pair, loading it again if its files changed.
func (c *Certificate) current() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.checked) < recheck {
		return c.cert
	}
	c.checked = now
	cert, sum, err := c.load()
	switch {
	case sum == c.sum:
	case err != nil:
		// Maybe half written: try again at the next check.
		c.log.Warn("tls certificate changed but does not load: keeping the loaded one", "cert_file", c.certFile, "err", err)
	default:
		c.cert, c.sum = cert, sum
		c.log.Info("tls certificate reloaded", "cert_file", c.certFile)
	}
	return c.cert
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current(), nil
}

// GetClientCertificate is for tls.Config.GetClientCertificate.
func (c *Certificate) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return c.current(), nil
}

// Leaf returns the parsed leaf certificate now in use.
func (c *Certificate) Leaf() *x509.Certificate { return c.current().Leaf }

func readPEM(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEM+1))
	if err != nil {
		return nil, fmt.Errorf("tls: %s: %w", path, err)
	}
	if len(b) > maxPEM {
		return nil, fmt.Errorf("tls: %s: larger than %d bytes", path, maxPEM)
	}
	return b, nil
}

// Pool reads a PEM CA bundle.
func Pool(caFile string) (*x509.CertPool, error) {
	b, err := readPEM(caFile)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls: %s: %w", caFile, ErrNoCertificates)
	}
	return p, nil
}

// ServerOptions are the files of an HTTPS listener.
type ServerOptions struct {
	CertFile, KeyFile string
	// ClientCAFile, if set, asks clients for a certificate signed by it.
	ClientCAFile string
	// RequireClientCert refuses clients without one (else one is verified
	// only when presented).
	RequireClientCert bool
	Logger            *slog.Logger
}

// Server returns the listener's configuration (TLS 1.2 or later, HTTP/2
// and HTTP/1.1 offered by ALPN) and its certificate.
func Server(o ServerOptions) (*tls.Config, *Certificate, error) {
	cert, err := LoadCertificate(o.CertFile, o.KeyFile, o.Logger)
	if err != nil {
		return nil, nil, err
	}
	tc := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: cert.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if o.ClientCAFile != "" {
		pool, err := Pool(o.ClientCAFile)
		if err != nil {
			return nil, nil, err
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		if o.RequireClientCert {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return tc, cert, nil
}

// Client returns a client configuration trusting caFile (the system's
// roots when empty) and presenting the certFile/keyFile pair when both are
// set (and a server asks).
func Client(caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := Pool(caFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := LoadCertificate(certFile, keyFile, nil)
		if err != nil {
			return nil, err
		}
		tc.GetClientCertificate = cert.GetClientCertificate
	case certFile != "" || keyFile != "":
		return nil, errors.New("tls: a client certificate needs both its certificate and its key file")
	}
	return tc, nil
}
