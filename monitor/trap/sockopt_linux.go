package trap

import (
	"net"
	"syscall"
)

// setReadBuffer asks for an n-byte receive buffer: SO_RCVBUFFORCE first
// (allowed with CAP_NET_ADMIN, past net.core.rmem_max), SO_RCVBUF otherwise.
func setReadBuffer(c *net.UDPConn, n int) error {
	if n <= 0 {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
	}); err == nil && serr == nil {
		return nil
	}
	return c.SetReadBuffer(n)
}
