// Package mailtest runs a real SMTP server in the test process (on
// 127.0.0.1:0, github.com/emersion/go-smtp) that keeps every message it
// accepts, and can be told to refuse mail.
package mailtest

import (
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Received is one accepted message.
type Received struct {
	From string
	To   []string
	Data string
	// At is when the server accepted the data.
	At time.Time
}

// Server is an in-process SMTP server.
type Server struct {
	srv *smtp.Server
	ln  net.Listener

	mu       sync.Mutex
	msgs     []Received
	failCode int // reply to DATA with this code while non-zero
	notify   chan struct{}
}

// New starts a server; it stops in t.Cleanup.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{notify: make(chan struct{}, 1)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	s.srv.Domain = "mailtest.local"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// Host and Port of the listener.
func (s *Server) Host() string { return "127.0.0.1" }

// Port of the listener.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.ln.Addr().String())
	n, _ := strconv.Atoi(p)
	return n
}

// Fail makes the server answer DATA with code (421 temporary, 554
// permanent); 0 accepts mail again.
func (s *Server) Fail(code int) {
	s.mu.Lock()
	s.failCode = code
	s.mu.Unlock()
}

// Messages returns the accepted messages.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Wait waits until at least n messages were accepted, or fails t after d.
func (s *Server) Wait(t testing.TB, n int, d time.Duration) []Received {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: %d messages after %s, want %d", len(s.Messages()), d, n)
		}
		select {
		case <-s.notify:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Accepted returns a channel that receives after each accepted message
// (coalesced).
func (s *Server) Accepted() <-chan struct{} { return s.notify }

type session struct {
	s    *Server
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	code := x.s.failCode
	if code == 0 {
		x.s.msgs = append(x.s.msgs, Received{From: x.from, To: append([]string(nil), x.to...), Data: string(b), At: time.Now()})
	}
	x.s.mu.Unlock()
	if code != 0 {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "mailtest: refused"}
	}
	select {
	case x.s.notify <- struct{}{}:
	default:
	}
	return nil
}

// Decode parses a received message into its subject, its plain-text body
// (quoted-printable decoded, CRLF as LF) and its header.
func Decode(data string) (subject, body string, h netmail.Header, err error) {
	msg, err := netmail.ReadMessage(strings.NewReader(data))
	if err != nil {
		return "", "", nil, err
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return "", "", nil, err
	}
	var r io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", "", nil, err
	}
	return subject, strings.ReplaceAll(string(b), "\r\n", "\n"), msg.Header, nil
}
