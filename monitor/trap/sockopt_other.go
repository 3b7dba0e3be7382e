//go:build !linux

package trap

import "net"

// setReadBuffer asks for an n-byte receive buffer.
func setReadBuffer(c *net.UDPConn, n int) error {
	if n <= 0 {
		return nil
	}
	return c.SetReadBuffer(n)
}
