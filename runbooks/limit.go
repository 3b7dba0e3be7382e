package runbooks

import "io"

// ioLimit reads at most one byte past MaxFileBytes, so an oversized file
// is refused without reading it whole.
func ioLimit(r io.Reader) io.Reader { return io.LimitReader(r, MaxFileBytes+1) }
