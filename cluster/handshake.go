package cluster

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// The Raft transport's key handshake. Without cluster TLS, every Raft TCP
// connection starts with a mutual proof that both ends hold the cluster
// secret key: each side sends a magic and a random nonce, then answers
// the other's nonce with HMAC-SHA256(key, nonce || role) — role "dial"
// or "accept", so a side's answer cannot be reflected back to it — and
// checks the answer to its own. A process without the key cannot speak
// Raft to a member; a joiner receives the key (the first step of its
// join) before the leader adds it as a voter.
//
// The handshake authenticates, it does not encrypt: use cluster TLS for
// that.

const (
	handshakeMagic = "UNYOR1"
	nonceSize      = 32
	// DefaultHandshakeTimeout bounds a connection's handshake.
	DefaultHandshakeTimeout = 5 * time.Second
)

// ErrHandshake is a failed Raft transport handshake: the peer does not
// hold the cluster secret key (or is not a unyo member at all).
var ErrHandshake = errors.New("cluster: raft handshake failed (the peer does not hold the cluster secret key)")

func handshakeMAC(key, nonce []byte, role string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(nonce)
	m.Write([]byte(role))
	return m.Sum(nil)
}

// handshake runs the exchange on c as role ("dial" or "accept") within
// timeout, leaving c without a deadline afterwards.
func handshake(c net.Conn, key []byte, role string, timeout time.Duration) error {
	if len(key) != SecretKeySize {
		return fmt.Errorf("%w: this node has no cluster secret key yet", ErrHandshake)
	}
	peerRole := "accept"
	if role == "accept" {
		peerRole = "dial"
	}
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	mine := make([]byte, nonceSize)
	if _, err := rand.Read(mine); err != nil {
		return err
	}
	if _, err := c.Write(append([]byte(handshakeMagic), mine...)); err != nil {
		return fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	hello := make([]byte, len(handshakeMagic)+nonceSize)
	if _, err := io.ReadFull(c, hello); err != nil {
		return fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	if string(hello[:len(handshakeMagic)]) != handshakeMagic {
		return fmt.Errorf("%w: not a unyo raft peer", ErrHandshake)
	}
	theirs := hello[len(handshakeMagic):]
	if bytes.Equal(theirs, mine) {
		return fmt.Errorf("%w: reflected nonce", ErrHandshake)
	}
	if _, err := c.Write(handshakeMAC(key, theirs, role)); err != nil {
		return fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	if !hmac.Equal(got, handshakeMAC(key, mine, peerRole)) {
		return ErrHandshake
	}
	return c.SetDeadline(time.Time{})
}

// keyConn runs the accept side of the handshake on its first Read or
// Write, so a slow peer never holds up the transport's accept loop.
type keyConn struct {
	net.Conn
	key     func() []byte
	timeout time.Duration
	onFail  func(error)
	once    sync.Once
	err     error
}

func (c *keyConn) shake() error {
	c.once.Do(func() {
		c.err = handshake(c.Conn, c.key(), "accept", c.timeout)
		if c.err != nil {
			if c.onFail != nil {
				c.onFail(c.err)
			}
			_ = c.Conn.Close()
		}
	})
	return c.err
}

func (c *keyConn) Read(p []byte) (int, error) {
	if err := c.shake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *keyConn) Write(p []byte) (int, error) {
	if err := c.shake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
