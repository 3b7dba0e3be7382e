package cdc

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Chunk sizes: no cut before MinSize, one forced at MaxSize, about
// AvgSize on average.
const (
	MinSize = 2 << 10
	AvgSize = 8 << 10
	MaxSize = 64 << 10
	// maskS (harder, before AvgSize) and maskL (easier, after) normalise
	// the chunk sizes around AvgSize (FastCDC's normalised chunking).
	maskS = (1 << 15) - 1
	maskL = (1 << 11) - 1
)

// MaxChunks bounds a manifest's chunk count (a 1 GiB file of minimum
// chunks).
const MaxChunks = (1 << 30) / MinSize

const magic = "UNYOCDC1"

// headerSize and entrySize are the manifest's fixed parts.
const (
	headerSize = len(magic) + 8 + sha256.Size + 4
	entrySize  = 4 + sha256.Size
)

// ErrManifest is returned for a manifest that does not decode.
var ErrManifest = errors.New("cdc: bad manifest")

// gear is the rolling hash's table: 256 fixed pseudo-random words
// (splitmix64 from a fixed seed, so every build cuts the same way).
var gear = func() (g [256]uint64) {
	x := uint64(0x756e796f2d636463) // "unyo-cdc"
	for i := range g {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		g[i] = z ^ (z >> 31)
	}
	return g
}()

// cut returns the length of the first chunk of b (len(b) when b is at
// most MinSize or no cut point comes before MaxSize).
func cut(b []byte) int {
	n := len(b)
	if n <= MinSize {
		return n
	}
	n = min(n, MaxSize)
	var h uint64
	i := MinSize
	for ; i < min(n, AvgSize); i++ {
		h = (h << 1) + gear[b[i]]
		if h&maskS == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		h = (h << 1) + gear[b[i]]
		if h&maskL == 0 {
			return i + 1
		}
	}
	return n
}

// Chunk is one chunk of a file.
type Chunk struct {
	Offset int64
	Length int
	Sum    [sha256.Size]byte
}

// Manifest is a file's chunks.
type Manifest struct {
	Size   int64
	SHA256 [sha256.Size]byte
	Chunks []Chunk
}

// Split cuts what r yields into chunks (at most limit bytes; more is an
// error) and returns the manifest.
func Split(r io.Reader, limit int64) (*Manifest, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, limit+1), 4*MaxSize)
	m := &Manifest{}
	whole := sha256.New()
	buf := make([]byte, 0, 2*MaxSize)
	eof := false
	for {
		// Keep at least MaxSize bytes buffered while the file lasts.
		for !eof && len(buf) < MaxSize {
			k, err := br.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+k]
			if errors.Is(err, io.EOF) {
				eof = true
			} else if err != nil {
				return nil, err
			}
		}
		if len(buf) == 0 {
			break
		}
		n := cut(buf)
		m.Chunks = append(m.Chunks, Chunk{Offset: m.Size, Length: n, Sum: sha256.Sum256(buf[:n])})
		whole.Write(buf[:n])
		m.Size += int64(n)
		if m.Size > limit {
			return nil, fmt.Errorf("cdc: larger than %d bytes", limit)
		}
		buf = buf[:copy(buf, buf[n:])]
	}
	copy(m.SHA256[:], whole.Sum(nil))
	return m, nil
}

// Encode writes the manifest in its binary form.
func (m *Manifest) Encode() []byte {
	b := make([]byte, 0, headerSize+entrySize*len(m.Chunks))
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	b = append(b, m.SHA256[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Chunks)))
	for _, c := range m.Chunks {
		b = binary.BigEndian.AppendUint32(b, uint32(c.Length))
		b = append(b, c.Sum[:]...)
	}
	return b
}

// Decode reads a manifest, checking its magic, its length, each chunk's
// length (1 to MaxSize) and that they add up to the size.
func Decode(b []byte) (*Manifest, error) {
	if len(b) < headerSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than its header", ErrManifest, len(b))
	}
	if !bytes.Equal(b[:len(magic)], []byte(magic)) {
		return nil, fmt.Errorf("%w: magic %q", ErrManifest, b[:len(magic)])
	}
	m := &Manifest{}
	p := len(magic)
	size := binary.BigEndian.Uint64(b[p:])
	p += 8
	copy(m.SHA256[:], b[p:])
	p += sha256.Size
	n := binary.BigEndian.Uint32(b[p:])
	p += 4
	if n > MaxChunks {
		return nil, fmt.Errorf("%w: %d chunks, at most %d", ErrManifest, n, MaxChunks)
	}
	if want := headerSize + entrySize*int(n); len(b) != want {
		return nil, fmt.Errorf("%w: %d bytes for %d chunks, want %d", ErrManifest, len(b), n, want)
	}
	if size > uint64(n)*MaxSize {
		return nil, fmt.Errorf("%w: size %d in %d chunks", ErrManifest, size, n)
	}
	m.Size = int64(size)
	m.Chunks = make([]Chunk, n)
	var off int64
	for i := range m.Chunks {
		l := binary.BigEndian.Uint32(b[p:])
		p += 4
		if l == 0 || l > MaxSize {
			return nil, fmt.Errorf("%w: chunk %d of %d bytes (1 to %d)", ErrManifest, i, l, MaxSize)
		}
		c := &m.Chunks[i]
		c.Offset, c.Length = off, int(l)
		copy(c.Sum[:], b[p:])
		p += sha256.Size
		off += int64(l)
	}
	if off != m.Size {
		return nil, fmt.Errorf("%w: chunks add up to %d bytes, size %d", ErrManifest, off, m.Size)
	}
	return m, nil
}

// Index maps the chunks of a local file by their SHA-256.
type Index map[[sha256.Size]byte]Chunk

// NewIndex is m's chunks by sum (the first of equal ones).
func NewIndex(m *Manifest) Index {
	x := make(Index, len(m.Chunks))
	for _, c := range m.Chunks {
		if _, ok := x[c.Sum]; !ok {
			x[c.Sum] = c
		}
	}
	return x
}

// Missing is the bytes of m not in x (what a differential update must
// fetch).
func (x Index) Missing(m *Manifest) int64 {
	var n int64
	for _, c := range m.Chunks {
		if _, ok := x[c.Sum]; !ok {
			n += int64(c.Length)
		}
	}
	return n
}
