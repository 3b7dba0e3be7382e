//go:build !linux

package ping

import (
	"errors"
	"net/netip"
)

// The shared sockets need Linux (ping sockets, recvmmsg, SO_TIMESTAMPNS);
// elsewhere New fails with ErrNoSocket.

var errUnsupported = errors.New("only Linux is supported")

type sockIO struct{}

type dest struct{}

func newDest(netip.Addr) *dest { return &dest{} }

type reply struct {
	from  netip.Addr
	icmp  []byte
	stamp int64
}

func openUnprivileged(string, bool) (*sock, error) { return nil, errUnsupported }
func openRaw(string, bool, uint16) (*sock, error)  { return nil, errUnsupported }
func (s *sock) close() error                       { return nil }
func (s *sock) writeTo([]byte, *dest) error        { return errUnsupported }
func (s *sock) recv(func(reply)) (bool, error)     { return false, nil }

func (s *sock) writeBatch(cs []*check, _ [][8 + payloadLen]byte, failed func(*check, error)) int {
	for _, c := range cs {
		failed(c, errUnsupported)
	}
	return 0
}
