package udpbatch

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestReadBatch: datagrams sent while nobody reads come back from one
// Read in a batch, in order, with their sender; a longer one than size is
// cut and reported truncated.
func TestReadBatch(t *testing.T) {
	t.Parallel()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if granted, err := SetReadBuffer(c, 1<<20); err != nil || granted <= 0 {
		t.Fatalf("SetReadBuffer: %d, %v", granted, err)
	}
	s, err := net.DialUDP("udp", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 10
	for i := range n {
		fmt.Fprintf(s, "datagram %d", i)
	}
	s.Write([]byte("a datagram longer than sixteen bytes"))
	r := New(c, 64, 16)
	var got []string
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(got) < n+1 {
		k, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		for i := range k {
			data, src, truncated := r.Datagram(i)
			if src.String() != s.LocalAddr().String() {
				t.Errorf("sender %v, want %v", src, s.LocalAddr())
			}
			if truncated != (len(got) == n) {
				t.Errorf("datagram %d: truncated %v", len(got), truncated)
			}
			got = append(got, string(data))
		}
	}
	for i := range n {
		if want := fmt.Sprintf("datagram %d", i); got[i] != want {
			t.Errorf("datagram %d = %q, want %q", i, got[i], want)
		}
	}
	if got[n] != "a datagram longe" {
		t.Errorf("long datagram = %q", got[n])
	}
}
