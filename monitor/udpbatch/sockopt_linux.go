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

// raiseThread raises the calling OS thread's scheduling priority to nice
// (negative: favoured over ordinary processes); it needs CAP_SYS_NICE.
func raiseThread(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}
