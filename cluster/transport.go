package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is raft's TCP stream layer plus two things raft's own lacks:
// closing it closes every connection it accepted or dialled (raft's
// NetworkTransport leaves accepted connections open after Close, so a
// stopped node would keep half-answering its peers instead of looking
// dead, as a killed process does), and optional TLS in both directions.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	tls       *tls.Config
	// key, without TLS, returns the cluster secret key for the handshake
	// (handshake.go); nil: no handshake (a transport built outside a Node).
	key     func() []byte
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newStreamLayer(bind string, advertise net.Addr, tlsConf *tls.Config) (*streamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	s := &streamLayer{ln: ln, advertise: advertise, tls: tlsConf, conns: map[net.Conn]struct{}{}}
	addr, ok := s.Addr().(*net.TCPAddr)
	if !ok || addr.IP == nil || addr.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("%s is not an address other nodes can dial; set AdvertiseAddr", s.Addr())
	}
	return s, nil
}

func (s *streamLayer) track(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, s: s}
	s.conns[tc] = struct{}{}
	return tc, nil
}

// Accept implements net.Listener.
func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	if s.tls != nil {
		c = tls.Server(c, s.tls) // handshake on first read, under raft's deadline
	} else if s.key != nil {
		from := c.RemoteAddr()
		c = &keyConn{Conn: c, key: s.key, timeout: s.timeout, onFail: func(err error) {
			s.log.Warn("raft connection refused", "from", from, "err", err)
		}}
	}
	return s.track(c)
}

// Dial implements raft.StreamLayer.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	var c net.Conn
	var err error
	if s.tls != nil {
		c, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).Dial("tcp", string(address))
	} else {
		c, err = d.Dial("tcp", string(address))
		if err == nil && s.key != nil {
			if herr := handshake(c, s.key(), "dial", min(timeout, s.timeout)); herr != nil {
				_ = c.Close()
				return nil, fmt.Errorf("raft dial %s: %w", address, herr)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return s.track(c)
}

// Close implements net.Listener: it closes the listener and every
// connection.
func (s *streamLayer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	err := s.ln.Close()
	for c := range conns {
		_ = c.(*trackedConn).Conn.Close()
	}
	return err
}

// Addr implements net.Listener.
func (s *streamLayer) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.ln.Addr()
}

type trackedConn struct {
	net.Conn
	s    *streamLayer
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

func newTCPTransport(opts Options, log *slog.Logger, key func() []byte) (raft.Transport, error) {
	var adv net.Addr
	if opts.AdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", opts.AdvertiseAddr)
		if err != nil {
			return nil, fmt.Errorf("cluster: AdvertiseAddr %q: %w", opts.AdvertiseAddr, err)
		}
		adv = a
	}
	stream, err := newStreamLayer(opts.BindAddr, adv, opts.TLS)
	if err != nil {
		return nil, fmt.Errorf("cluster: raft transport on %s: %w", opts.BindAddr, err)
	}
	if opts.TLS == nil {
		stream.key, stream.timeout, stream.log = key, DefaultHandshakeTimeout, log.With("component", "raft-transport")
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: opts.TransportTimeout,
		Logger:  newHCLogger(log.With("component", "raft-transport"), "raft-transport"),
	}), nil
}

var errTLSConfig = errors.New("TLS needs Certificates (or GetCertificate) and RootCAs")
