package cdc

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"testing"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestSplitAndManifest(t *testing.T) {
	data := randomBytes(3<<20, 1)
	m, err := Split(bytes.NewReader(data), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != int64(len(data)) {
		t.Fatalf("size %d, want %d", m.Size, len(data))
	}
	var off int64
	for i, c := range m.Chunks {
		if c.Offset != off || c.Length < 1 || c.Length > MaxSize || (c.Length < MinSize && i != len(m.Chunks)-1) {
			t.Fatalf("chunk %d: %+v at %d", i, c, off)
		}
		off += int64(c.Length)
	}
	avg := len(data) / len(m.Chunks)
	if avg < AvgSize/2 || avg > AvgSize*3 {
		t.Errorf("average chunk %d bytes, want about %d", avg, AvgSize)
	}
	got, err := Decode(m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != m.Size || got.SHA256 != m.SHA256 || len(got.Chunks) != len(m.Chunks) {
		t.Fatalf("decoded %d bytes in %d chunks, want %d in %d", got.Size, len(got.Chunks), m.Size, len(m.Chunks))
	}
	for i := range got.Chunks {
		if got.Chunks[i] != m.Chunks[i] {
			t.Fatalf("chunk %d: %+v, want %+v", i, got.Chunks[i], m.Chunks[i])
		}
	}

	// An insertion and an overwrite in the middle change a few chunks
	// only: the rest are found by content.
	changed := append(append(append([]byte{}, data[:1<<20]...), []byte("inserted bytes")...), data[1<<20:]...)
	copy(changed[2<<20:], "overwritten")
	m2, err := Split(bytes.NewReader(changed), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	miss := NewIndex(m).Missing(m2)
	if miss == 0 || miss > 6*MaxSize {
		t.Errorf("after two small changes %d of %d bytes are missing", miss, m2.Size)
	}
	t.Logf("%d chunks (avg %d bytes); two small changes: %d bytes to fetch", len(m.Chunks), avg, miss)

	if _, err := Split(bytes.NewReader(data), 1<<20); err == nil {
		t.Error("Split over the limit: no error")
	}
	empty, err := Split(bytes.NewReader(nil), 10)
	if err != nil || empty.Size != 0 || len(empty.Chunks) != 0 {
		t.Errorf("empty: %+v %v", empty, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	m, _ := Split(bytes.NewReader(randomBytes(100<<10, 2)), 1<<30)
	good := m.Encode()
	cases := map[string][]byte{
		"short":     good[:10],
		"magic":     append([]byte("XXXXXXXX"), good[8:]...),
		"truncated": good[:len(good)-1],
		"longer":    append(append([]byte{}, good...), 0),
	}
	zero := append([]byte{}, good...)
	copy(zero[headerSize:], []byte{0, 0, 0, 0})
	cases["zero-length chunk"] = zero
	size := append([]byte{}, good...)
	size[len(magic)+7]++
	cases["size mismatch"] = size
	for name, b := range cases {
		if _, err := Decode(b); !errors.Is(err, ErrManifest) {
			t.Errorf("%s: %v, want ErrManifest", name, err)
		}
	}
}

func FuzzManifestDecode(f *testing.F) {
	m, _ := Split(bytes.NewReader(randomBytes(40<<10, 3)), 1<<30)
	f.Add(m.Encode())
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		if !bytes.Equal(m.Encode(), b) {
			t.Fatalf("re-encoded manifest differs")
		}
	})
}

// TestDeltaOfFiles reports what a differential update from one file to
// another fetches (UNYO_CDC_OLD and UNYO_CDC_NEW; skipped without), e.g.
// two builds of unyo a patch version apart.
func TestDeltaOfFiles(t *testing.T) {
	oldPath, newPath := os.Getenv("UNYO_CDC_OLD"), os.Getenv("UNYO_CDC_NEW")
	if oldPath == "" || newPath == "" {
		t.Skip("set UNYO_CDC_OLD and UNYO_CDC_NEW to two files")
	}
	split := func(p string) *Manifest {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := Split(f, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	om, nm := split(oldPath), split(newPath)
	miss := NewIndex(om).Missing(nm)
	t.Logf("new %d bytes in %d chunks; manifest %d bytes; to fetch %d bytes (%.1f%%) plus the manifest",
		nm.Size, len(nm.Chunks), len(nm.Encode()), miss, 100*float64(miss)/float64(nm.Size))
}
