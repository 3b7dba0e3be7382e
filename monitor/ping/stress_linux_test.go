package ping

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The stress test runs its Pingers inside a private network namespace
// when it can make one: lo answers 127.0.0.0/16, and three more ranges
// stand for hosts that do not answer, each a different way:
//
//	127.1.0.0/16  routed out a veth whose peer is down (route_localnet):
//	              sendto succeeds, the request is dropped unanswered
//	127.2.0.0/16  unreachable route: sendto fails (EHOSTUNREACH)
//	127.3.0.0/16  blackhole route: sendto fails (EINVAL)
//
// The namespace has no link to anything outside the host, so nothing is
// sent anywhere but loopback. Without root or ip(8) the test runs in the
// current namespace against answering 127.0.x.y addresses only.
const (
	classAnswer = iota
	classSilent
	classUnreach
	classBlackhole
)

var classNames = [...]string{"answer", "silent", "unreachable", "blackhole"}

// stressNet is where the stress test's Pingers live.
type stressNet struct {
	ns string // "" in the current namespace
}

func newStressNet(t *testing.T) *stressNet {
	t.Helper()
	if os.Geteuid() != 0 || setnsNumber() == 0 {
		t.Logf("no private namespace (needs root and a known setns number): answering loopback targets only")
		return &stressNet{}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Logf("no ip command: answering loopback targets only")
		return &stressNet{}
	}
	ns := fmt.Sprintf("unyo-ps%08x", rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Logf("ip netns add: %v: %s: answering loopback targets only", err, out)
		return &stressNet{}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	for _, args := range [][]string{
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "link", "add", "sv0", "type", "veth", "peer", "name", "sv1"},
		{"ip", "-n", ns, "link", "set", "sv0", "up"}, // sv1 stays down: no carrier
		{"ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1", "net.ipv4.conf.sv0.route_localnet=1",
			"net.ipv4.ping_group_range=0 2147483647"},
		{"ip", "-n", ns, "route", "add", "127.1.0.0/16", "dev", "sv0", "table", "local"},
		{"ip", "-n", ns, "route", "add", "unreachable", "127.2.0.0/16", "table", "local"},
		{"ip", "-n", ns, "route", "add", "blackhole", "127.3.0.0/16", "table", "local"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return &stressNet{ns: ns}
}

// open makes a Pinger whose sockets belong to the namespace (a socket stays
// in the namespace it was created in, whichever thread uses it later).
func (n *stressNet) open(opts Options) (*Pinger, error) {
	if n.ns == "" {
		return New(opts, nil, nil)
	}
	type res struct {
		p   *Pinger
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		// Left locked if the namespace cannot be restored: the thread then
		// exits with this goroutine.
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer back.Close()
		target, err := os.Open("/run/netns/" + n.ns)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			ch <- res{nil, fmt.Errorf("setns: %w", err)}
			return
		}
		p, err := New(opts, nil, nil)
		if err := setns(back); err != nil {
			if p != nil {
				p.Close()
			}
			ch <- res{nil, fmt.Errorf("setns back: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- res{p, err}
	}()
	r := <-ch
	return r.p, r.err
}

func setnsNumber() uintptr {
	switch runtime.GOARCH {
	case "amd64":
		return 308
	case "arm64", "riscv64":
		return 268
	}
	return 0
}

func setns(f *os.File) error {
	const cloneNewnet = 0x40000000
	if _, _, errno := syscall.RawSyscall(setnsNumber(), f.Fd(), cloneNewnet, 0); errno != 0 {
		return errno
	}
	return nil
}

// stressCheck is one check of the stress test and what its done saw.
type stressCheck struct {
	class   int
	addr    netip.Addr
	cfg     Config
	start   time.Time
	started bool // Start returned nil (done must be called once)

	mu    sync.Mutex
	calls int
	end   time.Time // of the first call
	res   Result
	err   error
}

func (c *stressCheck) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// bound is how long a check may take: its packets, its timeout, the
// clock's grain, plus slack for a busy machine under -race.
func (c *stressCheck) bound() time.Duration {
	return time.Duration(max(c.cfg.Packets, 1)-1)*c.cfg.PacketInterval + c.cfg.Timeout + 2*time.Second
}

// TestEveryCheckCompletesOnce starts many thousands of checks of assorted
// packet counts and short timeouts at answering and non-answering loopback
// addresses, some cancelled, some while the sequence space is nearly full,
// the last ones racing Close, and asserts that every done is called exactly
// once, in time, with a plausible result.
func TestEveryCheckCompletesOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	net := newStressNet(t)
	for _, mode := range []string{ModePrivileged, ModeUnprivileged} {
		t.Run(mode, func(t *testing.T) {
			p, err := net.open(Options{Mode: mode})
			if errors.Is(err, ErrNoSocket) {
				t.Skipf("no %s ICMP socket: %v", mode, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			stressPinger(t, p, net.ns != "")
		})
	}
}

func stressPinger(t *testing.T, p *Pinger, silentTargets bool) {
	const (
		total    = 30000 // checks in the main phase
		inFlight = 1500  // checks at once
		workers  = 4
	)
	rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
	packets := []int{1, 1, 2, 3, 3, 3, 5, 8}
	newCheck := func() *stressCheck {
		c := &stressCheck{}
		c.class = classAnswer
		if silentTargets {
			// A third of the checks go to addresses that do not answer.
			switch r := rng.IntN(12); {
			case r < 2:
				c.class = classSilent
			case r == 2:
				c.class = classUnreach
			case r == 3:
				c.class = classBlackhole
			}
		}
		// Few addresses per class, so that many checks of one address are in
		// flight together.
		c.addr = netip.AddrFrom4([4]byte{127, byte(c.class), byte(rng.IntN(2)), byte(1 + rng.IntN(40))})
		c.cfg = Config{
			Packets:        packets[rng.IntN(len(packets))],
			PacketInterval: time.Duration(10+rng.IntN(20)) * time.Millisecond,
			Timeout:        time.Duration(10+rng.IntN(70)) * time.Millisecond,
		}
		return c
	}
	done := func(c *stressCheck, sem chan struct{}) func(Result, error) {
		return func(r Result, err error) {
			c.mu.Lock()
			c.calls++
			first := c.calls == 1
			if first {
				c.end, c.res, c.err = time.Now(), r, err
			}
			c.mu.Unlock()
			if first && sem != nil {
				<-sem
			}
		}
	}

	// Phase 1: many checks, at most inFlight at once, a few through Ping
	// with a context that ends early. The 16-bit sequence wraps early on.
	p.mu.Lock()
	p.v4.nextSeq = 0xffff - 300
	p.mu.Unlock()
	start := time.Now()
	checks := make([]*stressCheck, total)
	for i := range checks {
		checks[i] = newCheck()
	}
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	var next atomic.Int64
	var tooMany atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total || time.Since(start) > 8*time.Second {
					// Bounded even when checks end late (phase 1 takes
					// about 2 s).
					return
				}
				c := checks[i]
				sem <- struct{}{}
				if i%20 == 0 {
					// Ping, ended by its context after 0-40 ms.
					c.start, c.started = time.Now(), true
					go func() {
						ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%41)*time.Millisecond)
						defer cancel()
						r, err := p.Ping(ctx, c.addr, c.cfg)
						done(c, sem)(r, err)
					}()
					continue
				}
				c.start = time.Now()
				err := p.Start(c.addr, c.cfg, done(c, sem))
				if err != nil {
					<-sem
					if !errors.Is(err, ErrTooManyInFlight) {
						t.Errorf("Start: %v", err)
					}
					tooMany.Add(1)
					continue
				}
				c.started = true
			}
		}()
	}
	wg.Wait()
	waitChecks(t, checks, 10*time.Second)
	phase1 := time.Since(start)

	// Every probe and timed action must be gone once every check is done.
	p.mu.Lock()
	pend, queued := len(p.v4.pending), len(p.timers)
	p.mu.Unlock()
	if pend != 0 || queued != 0 {
		t.Errorf("after every check ended: %d probes pending, %d checks queued", pend, queued)
	}

	// Phase 2: the sequence space nearly full, so that Start fails and
	// multi-packet checks cannot register their later packets (done then
	// gets ErrTooManyInFlight).
	full := stressSeqSpace(t, p, newCheck, done)

	// Phase 3: checks started while the Pinger closes.
	closing := make([]*stressCheck, 3000)
	for i := range closing {
		closing[i] = newCheck()
	}
	var refused atomic.Int64
	var cwg sync.WaitGroup
	var begin sync.WaitGroup
	begin.Add(1)
	for w := range workers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			begin.Wait()
			for i := w; i < len(closing); i += workers {
				c := closing[i]
				c.start = time.Now()
				if err := p.Start(c.addr, c.cfg, done(c, nil)); err != nil {
					if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrTooManyInFlight) {
						t.Errorf("Start while closing: %v", err)
					}
					refused.Add(1)
					continue
				}
				c.started = true
			}
		}()
	}
	begin.Done()
	time.Sleep(5 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	cwg.Wait()
	// Close delivered every check that began before it; none begins after.
	waitChecks(t, closing, 5*time.Second)
	if err := p.Start(netip.AddrFrom4([4]byte{127, 0, 0, 1}), Config{Packets: 1, Timeout: time.Second}, func(Result, error) {
		t.Error("done called for a check started after Close")
	}); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}

	// Results.
	var sent, got [4]int
	var n [4]int
	for _, c := range checks {
		if !c.started {
			continue
		}
		n[c.class]++
		sent[c.class] += c.res.Sent
		got[c.class] += c.res.Received
		if c.res.Sent > max(c.cfg.Packets, 1) || c.res.Received > c.res.Sent || len(c.res.RTTs) != c.res.Received {
			t.Errorf("%s: %+v: implausible result %+v", c.addr, c.cfg, c.res)
		}
		if c.class != classAnswer && c.res.Received > 0 {
			t.Errorf("%s (%s) answered: %+v", c.addr, classNames[c.class], c.res)
		}
	}
	totalSent := sent[0] + sent[1] + sent[2] + sent[3]
	issued := min(int(next.Load()), total)
	if issued < total {
		t.Errorf("phase 1 gave up after %d of %d checks: checks end too slowly", issued, total)
	}
	t.Logf("phase 1: %d checks in %v (%d refused: too many in flight); requests sent per class %v, replies %v; phase 2: %d done with ErrTooManyInFlight; phase 3: %d of %d refused while closing",
		issued, phase1.Round(time.Millisecond), tooMany.Load(), sent, got, full, refused.Load(), len(closing))
	if totalSent <= 1000 {
		t.Errorf("only %d requests: the 16-bit sequence did not wrap", totalSent)
	}
	if got[classAnswer] < sent[classAnswer]/2 {
		t.Errorf("answering targets: %d replies to %d requests", got[classAnswer], sent[classAnswer])
	}
}

// stressSeqSpace fills all but a few sequence numbers with probes that are
// never answered, starts multi-packet checks, and returns how many ended
// with ErrTooManyInFlight.
func stressSeqSpace(t *testing.T, p *Pinger, newCheck func() *stressCheck, done func(*stressCheck, chan struct{}) func(Result, error)) int {
	const free = 16
	s := p.v4
	ghost := &check{s: s, addr: netip.AddrFrom4([4]byte{127, 255, 255, 254}), hidx: -1}
	p.mu.Lock()
	var fill []uint16
	for seq := range 1 << 16 {
		if seq%(1<<16/free) == 0 {
			continue
		}
		if _, busy := s.pending[uint16(seq)]; !busy {
			s.pending[uint16(seq)] = &probe{seq: uint16(seq), check: ghost}
			fill = append(fill, uint16(seq))
		}
	}
	p.mu.Unlock()
	checks := make([]*stressCheck, 64)
	for i := range checks {
		c := newCheck()
		c.cfg.Packets = 2 + i%3
		checks[i] = c
		c.start = time.Now()
		if err := p.Start(c.addr, c.cfg, done(c, nil)); err != nil {
			if !errors.Is(err, ErrTooManyInFlight) {
				t.Errorf("Start: %v", err)
			}
			continue
		}
		c.started = true
	}
	waitChecks(t, checks, 10*time.Second)
	p.mu.Lock()
	for _, seq := range fill {
		if pr := s.pending[seq]; pr != nil && pr.check == ghost {
			delete(s.pending, seq)
		}
	}
	left := len(s.pending)
	p.mu.Unlock()
	if left != 0 {
		t.Errorf("%d probes left pending", left)
	}
	n := 0
	for _, c := range checks {
		if c.started && errors.Is(c.err, ErrTooManyInFlight) {
			n++
		}
	}
	return n
}

// waitChecks waits until every started check's done was called, then
// checks that none was called twice (or for a check that did not start),
// late, or not at all.
func waitChecks(t *testing.T, checks []*stressCheck, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		missing := 0
		for _, c := range checks {
			if c.started && c.count() == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d of %d checks never completed", missing, len(checks))
			for _, c := range checks {
				if c.started && c.count() == 0 {
					t.Logf("e.g. %s %+v started %v ago", c.addr, c.cfg, time.Since(c.start).Round(time.Millisecond))
					break
				}
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let a second call, if any, come in.
	time.Sleep(50 * time.Millisecond)
	bad := 0
	for _, c := range checks {
		calls := c.count()
		switch {
		case !c.started && calls != 0:
			t.Errorf("%s: done called %d times for a check that did not start", c.addr, calls)
		case calls > 1:
			t.Errorf("%s %+v: done called %d times", c.addr, c.cfg, calls)
		case calls == 1 && c.end.Sub(c.start) > c.bound():
			bad++
			if bad <= 5 {
				t.Errorf("%s (%s) %+v: done after %v, bound %v", c.addr, classNames[c.class], c.cfg, c.end.Sub(c.start), c.bound())
			}
		}
	}
	if bad > 5 {
		t.Errorf("%d checks late in all", bad)
	}
}
