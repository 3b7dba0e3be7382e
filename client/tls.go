package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/unyo-ops/unyo/internal/tlsfiles"
)

// TLSFiles are the PEM files of a client's TLS: CAFile is the CA bundle
// that signed the node's certificate (empty: the system's roots); CertFile
// and KeyFile, both or neither, are a client certificate for a node that
// asks for one (http.tls.client_ca_file).
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// HTTPClient returns an HTTP client (HTTP/2 over TLS) using f.
func HTTPClient(f TLSFiles, timeout time.Duration) (*http.Client, error) {
	tc, err := tlsfiles.Client(f.CAFile, f.CertFile, f.KeyFile)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tc
	t.ForceAttemptHTTP2 = true
	return &http.Client{Timeout: timeout, Transport: &explain{t}}, nil
}

// NewTLS returns a client for the node at server using f for https://.
func NewTLS(server string, f TLSFiles, opts ...Option) (*Client, error) {
	hc, err := HTTPClient(f, 30*time.Second)
	if err != nil {
		return nil, err
	}
	return New(server, append([]Option{func(c *Client) { c.hc = hc }}, opts...)...)
}

// explain adds what to do to the errors of a TLS handshake.
type explain struct{ next http.RoundTripper }

func (e *explain) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := e.next.RoundTrip(r)
	if err != nil {
		err = ExplainTLS(err)
	}
	return resp, err
}

// ExplainTLS wraps a TLS verification error with what to do about it;
// other errors are returned as they are.
func ExplainTLS(err error) error {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("%w (the node's certificate is signed by a CA this client does not trust: give that CA with --ca-file or UNYO_CA_FILE)", err)
	case errors.As(err, &hn):
		return fmt.Errorf("%w (the node's certificate does not name the host of --server: use a name or IP address in its subject alternative names)", err)
	case errors.As(err, &ci):
		return fmt.Errorf("%w (the node's certificate is not valid now, or not for a server)", err)
	case errors.As(err, &rh):
		return fmt.Errorf("%w (the node does not speak TLS here: try http://)", err)
	}
	return err
}
