package cluster

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestHandshake(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, SecretKeySize), bytes.Repeat([]byte{2}, SecretKeySize)
	run := func(dialKey, acceptKey []byte) (dialErr, acceptErr error) {
		a, b := tcpPair(t)
		defer a.Close()
		defer b.Close()
		done := make(chan error, 1)
		go func() { done <- handshake(b, acceptKey, "accept", time.Second) }()
		dialErr = handshake(a, dialKey, "dial", time.Second)
		if dialErr != nil {
			a.Close()
		}
		return dialErr, <-done
	}
	if d, a := run(k1, k1); d != nil || a != nil {
		t.Fatalf("same key: %v / %v", d, a)
	}
	if d, a := run(k1, k2); !errors.Is(d, ErrHandshake) || !errors.Is(a, ErrHandshake) {
		t.Fatalf("different keys: %v / %v, want ErrHandshake on both sides", d, a)
	}
	if d, _ := run(nil, k1); !errors.Is(d, ErrHandshake) {
		t.Fatalf("no key: %v", d)
	}
}

// tcpPair is a connected pair of loopback TCP connections (the handshake
// relies on socket buffers: both sides write first).
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// A process without the cluster key cannot speak Raft to a member, with
// or without trying the handshake.
func TestRaftNeedsTheKey(t *testing.T) {
	n, err := New(Options{NodeID: "n1", BindAddr: "127.0.0.1:0", DataDir: t.TempDir(), Bootstrap: true, WALSegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	waitUntil(t, "leader", n.IsLeader)
	term := n.Term()

	// The handshake with another key.
	c, err := net.DialTimeout("tcp", n.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(c, bytes.Repeat([]byte{9}, SecretKeySize), "dial", 2*time.Second); !errors.Is(err, ErrHandshake) {
		t.Errorf("handshake with a wrong key: %v", err)
	}
	c.Close()

	// Plain Raft RPCs, as any raft.NetworkTransport would send them.
	stream, err := newStreamLayer("127.0.0.1:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: stream, MaxPool: 1, Timeout: 2 * time.Second,
		Logger: newHCLogger(slog.New(slog.DiscardHandler), "t")})
	defer tr.Close()
	var resp raft.RequestVoteResponse
	err = tr.RequestVote("n9", raft.ServerAddress(n.Addr()), &raft.RequestVoteRequest{
		RPCHeader: raft.RPCHeader{ID: []byte("n9"), Addr: []byte(stream.Addr().String())}, Term: term + 100, LastLogIndex: 1 << 40, LastLogTerm: term + 100,
	}, &resp)
	if err == nil {
		t.Fatalf("a vote request without the key was answered: %+v", resp)
	}
	if !n.IsLeader() || n.Term() != term {
		t.Fatalf("the node's term moved from %d to %d (leader %v)", term, n.Term(), n.IsLeader())
	}
}
