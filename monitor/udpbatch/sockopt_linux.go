package udpbatch

import "syscall"

const msgTrunc = syscall.MSG_TRUNC

func setForce(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
}

// getRcvbuf returns the buffer the kernel granted (twice what was asked:
// it counts its bookkeeping).
func getRcvbuf(fd uintptr) (int, error) {
	return syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
}
