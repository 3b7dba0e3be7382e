//go:build !linux

package udpbatch

import "errors"

const msgTrunc = 0

func setForce(uintptr, int) error { return errors.New("SO_RCVBUFFORCE: Linux only") }

func getRcvbuf(uintptr) (int, error) { return 0, nil }

func raiseThread(int) error { return errors.New("thread priority: Linux only") }
