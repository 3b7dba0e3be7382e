package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/rollout/cdc"
)

// maxManifestBytes bounds a manifest a node sends (below NATS's 1 MiB
// payload limit); a larger one is refused and the agent downloads in full.
const maxManifestBytes = 900 << 10

// errManifestTooLarge: the release has too many chunks for one message.
var errManifestTooLarge = errors.New("manifest too large for one message; fetch in full")

// fetch asks a node for req (a chunk or a manifest), retrying a few
// times; a node's refusal comes back as the error it gave.
func (u *Updater) fetch(ctx context.Context, req ChunkRequest) ([]byte, error) {
	b, _ := json.Marshal(req)
	var m *nats.Msg
	var err error
	for try := 0; ; try++ {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		m, err = u.NC.RequestWithContext(rctx, ReleaseSubject+"."+u.Name, b)
		cancel()
		if err == nil && m.Header.Get("Unyo-Error") != "" {
			return nil, errors.New(m.Header.Get("Unyo-Error"))
		}
		if err == nil || try >= 5 || ctx.Err() != nil {
			break
		}
		u.mu.Lock()
		u.message = fmt.Sprintf("fetch at %d: %v; retrying", req.Offset, err)
		u.mu.Unlock()
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// deltaStats is what a differential download took.
type deltaStats struct {
	Fetched, Reused int64
}

// downloadDelta builds the release o at path from the chunks of the
// running binary (u.Exe) that the release's manifest names and fetches
// only the others. Any error leaves the caller to download in full.
func (u *Updater) downloadDelta(ctx context.Context, o UpdateOrder, path string) (deltaStats, error) {
	var st deltaStats
	mb, err := u.fetch(ctx, ChunkRequest{SHA256: o.SHA256, Manifest: true})
	if err != nil {
		return st, fmt.Errorf("manifest: %w", err)
	}
	m, err := cdc.Decode(mb)
	if err != nil {
		return st, err
	}
	if m.Size != o.Size || hex.EncodeToString(m.SHA256[:]) != o.SHA256 {
		return st, fmt.Errorf("manifest of %d bytes with SHA-256 %x, the order says %d bytes with %s", m.Size, m.SHA256, o.Size, o.SHA256)
	}
	old, err := os.Open(u.Exe)
	if err != nil {
		return st, err
	}
	defer old.Close()
	local, err := cdc.Split(old, DefaultMaxBytes)
	if err != nil {
		return st, fmt.Errorf("chunk the running binary: %w", err)
	}
	have := cdc.NewIndex(local)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return st, err
	}
	defer f.Close()
	whole := sha256.New()
	w := io.MultiWriter(f, whole)
	buf := make([]byte, cdc.MaxSize)
	last := 0
	// pending is a run of consecutive missing chunks, fetched together
	// (up to ChunkSize bytes) before the next reused one.
	var pending []cdc.Chunk
	flush := func() error {
		for len(pending) > 0 {
			n, size := 0, 0
			for n < len(pending) && size+pending[n].Length <= ChunkSize {
				size += pending[n].Length
				n++
			}
			data, err := u.fetch(ctx, ChunkRequest{SHA256: o.SHA256, Offset: pending[0].Offset, Length: size})
			if err != nil {
				return fmt.Errorf("chunk at %d: %w", pending[0].Offset, err)
			}
			if len(data) != size {
				return fmt.Errorf("chunk at %d: %d bytes, want %d", pending[0].Offset, len(data), size)
			}
			for _, c := range pending[:n] {
				if sha256.Sum256(data[:c.Length]) != c.Sum {
					return fmt.Errorf("chunk at %d: SHA-256 differs from the manifest", c.Offset)
				}
				if _, err := w.Write(data[:c.Length]); err != nil {
					return err
				}
				data = data[c.Length:]
			}
			st.Fetched += int64(size)
			pending = pending[n:]
		}
		return nil
	}
	var done int64
	for _, c := range m.Chunks {
		lc, ok := have[c.Sum]
		if !ok {
			pending = append(pending, c)
		} else {
			if err := flush(); err != nil {
				return st, err
			}
			b := buf[:c.Length]
			if _, err := old.ReadAt(b, lc.Offset); err != nil {
				return st, fmt.Errorf("read the running binary at %d: %w", lc.Offset, err)
			}
			// Not hashed again: the whole file's SHA-256 below catches a
			// binary that changed since it was chunked.
			if _, err := w.Write(b); err != nil {
				return st, err
			}
			st.Reused += int64(c.Length)
		}
		done += int64(c.Length)
		if p := int(done * 100 / max(o.Size, 1)); p/10 > last/10 && p < 100 {
			last = p
			u.set(StateDownloading, p, "")
			_, _ = u.report(ctx)
		}
	}
	if err := flush(); err != nil {
		return st, err
	}
	if got := hex.EncodeToString(whole.Sum(nil)); got != o.SHA256 {
		return st, fmt.Errorf("SHA-256 %s, want %s", got, o.SHA256)
	}
	return st, f.Sync()
}
