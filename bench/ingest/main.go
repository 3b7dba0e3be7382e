// Command ingest measures the trap and syslog receivers end to end through
// the real binary, side by side with their usual peers, in one run:
//
//   - SNMP traps (v2c linkDown and v3 authPriv coldStart, pre-encoded from
//     monitor/trap/testdata/packets) sent by a load generator in this
//     process, paced at each of -rates traps/s (0: unpaced), -count traps
//     per step, to `unyo serve` (the embedded default: in-process NATS,
//     SQLite ledger) and then to net-snmp's snmptrapd. unyo's figure is the
//     events the ledger holds (read from its SQLite file), snmptrapd's the
//     traps it logged.
//   - syslog over UDP, the 50 rules of monitor/filter/testdata/rules50.yaml
//     (with default_action record, so every line but the ignored ones
//     becomes an event), -senders unpaced senders × -syslog-count lines,
//     then -syslog-rate lines/s for one second, to unyo and then to
//     rsyslog (an instance on an unprivileged port of 127.0.0.1 with a
//     private configuration holding the same 50 rules, each writing to a
//     file; apt-get install -y rsyslog). unyo's figure is the lines it took
//     (read from the socket, not dropped) with the events in the ledger
//     beside it, rsyslog's the lines it wrote.
//
// It prints a table with the ratio unyo/peer and the load average.
//
//	go run ./bench/ingest                              # everything
//	go run ./bench/ingest -syslog=false -rates 40000   # traps at 40k/s only
//
// Loopback only; bounded in count and time.
package main

import (
	"bytes"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"

	"github.com/unyo-ops/unyo/auth"
)

func main() { os.Exit(run()) }

type options struct {
	bin, dir                string
	count                   int
	rates                   []int
	versions                []string
	syslogCount, syslogRate int
	senders                 int
	syslogQueue, syslogBuf  int
	idle                    time.Duration
}

func run() int {
	var o options
	rates := flag.String("rates", "10000,20000,40000,0", "trap rates per second (0: unpaced)")
	versions := flag.String("versions", "v2c,v3", "trap packets: v2c, v3")
	flag.StringVar(&o.bin, "bin", "", "unyo binary (default: go build ./cmd/unyo of this module)")
	flag.IntVar(&o.count, "count", 40_000, "traps per step")
	traps := flag.Bool("traps", true, "measure traps")
	syslogOn := flag.Bool("syslog", true, "measure syslog")
	flag.IntVar(&o.syslogCount, "syslog-count", 300_000, "lines per unpaced syslog sender")
	flag.IntVar(&o.syslogRate, "syslog-rate", 100_000, "paced syslog step, lines/s for 1s (0: skip)")
	flag.IntVar(&o.senders, "senders", 2, "syslog senders")
	flag.IntVar(&o.syslogQueue, "syslog-queue", 0, "unyo's monitor.syslog.queue_size (0: its default)")
	flag.IntVar(&o.syslogBuf, "syslog-rcvbuf", 0, "unyo's monitor.syslog.udp_read_buffer in bytes (0: its default)")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "a count that has not grown for this long is final")
	flag.Parse()
	for _, s := range strings.Split(*rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || r < 0 {
			fmt.Fprintf(os.Stderr, "-rates: %q is not a rate\n", s)
			return 2
		}
		o.rates = append(o.rates, r)
	}
	o.versions = strings.Split(*versions, ",")
	dir, err := os.MkdirTemp("", "unyo-bench-ingest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	o.dir = dir
	if err := bench(&o, *traps, *syslogOn); err != nil {
		fmt.Fprintln(os.Stderr, "bench/ingest:", err)
		return 1
	}
	return 0
}

// row is one line of the table.
type row struct {
	what, rate    string
	sent          int
	unyo, ledger  int64
	peer          int64
	peerName      string
	unyoS, peerS  time.Duration
	load          string
	unyoNote      string
	peerAvailable bool
}

func bench(o *options, traps, syslogOn bool) error {
	if o.bin == "" {
		o.bin = filepath.Join(o.dir, "unyo")
		cmd := exec.Command("go", "build", "-o", o.bin, "./cmd/unyo")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build: %w", err)
		}
	}
	u, err := startUnyo(o)
	if err != nil {
		return err
	}
	defer u.stop()
	var rows []row
	if traps {
		for _, v := range o.versions {
			pkt, err := os.ReadFile(filepath.Join("monitor/trap/testdata/packets",
				map[string]string{"v2c": "v2c-linkdown.bin", "v3": "v3-authpriv-coldstart.bin"}[v]))
			if err != nil {
				return fmt.Errorf("-versions %s: %w", v, err)
			}
			td, tdErr := startTrapd(o.dir)
			if tdErr != nil {
				fmt.Fprintln(os.Stderr, "snmptrapd:", tdErr)
			}
			for _, rate := range o.rates {
				r := row{what: "trap " + v, rate: rateName(rate), peerName: "snmptrapd", load: loadavg()}
				base := u.ledger("snmp-trap")
				m0 := u.metrics(trapMetrics)
				start := time.Now()
				r.sent = send(u.trapAddr, [][]byte{pkt}, rate, o.count)
				r.ledger, r.unyoS = settle(func() int64 { return u.ledger("snmp-trap") - base }, int64(r.sent), start, o.idle)
				r.unyo = r.ledger
				m1 := u.metrics(trapMetrics)
				r.unyoNote = fmt.Sprintf("read %.0f, queue-dropped %.0f, published %.0f, spool-full %.0f, spool waiting %.0f",
					m1[0]-m0[0], m1[1]-m0[1], m1[2]-m0[2], m1[3]-m0[3], m1[4])
				if td != nil {
					r.peerAvailable = true
					base := td.lines()
					start := time.Now()
					sent := send(td.addr, [][]byte{pkt}, rate, o.count)
					r.peer, r.peerS = settle(func() int64 { return td.lines() - base }, int64(sent), start, o.idle)
				}
				rows = append(rows, r)
				printRow(r)
			}
			if td != nil {
				td.stop()
			}
		}
	}
	if syslogOn {
		lines, err := syslogLines()
		if err != nil {
			return err
		}
		rs, rsErr := startRsyslog(o.dir)
		if rsErr != nil {
			fmt.Fprintln(os.Stderr, "rsyslog:", rsErr)
		}
		steps := []struct {
			name  string
			rate  int
			count int
		}{{fmt.Sprintf("syslog %d×unpaced", o.senders), 0, o.syslogCount}}
		if o.syslogRate > 0 {
			steps = append(steps, struct {
				name  string
				rate  int
				count int
			}{"syslog paced", o.syslogRate, o.syslogRate})
		}
		for _, st := range steps {
			r := row{what: st.name, rate: rateName(st.rate), peerName: "rsyslog", load: loadavg()}
			senders := o.senders
			per := st.count
			rate := st.rate
			if st.rate > 0 {
				per, rate = st.count/senders, st.rate/senders
			}
			taken0 := u.syslogTaken()
			base := u.ledger("syslog")
			pub0 := u.metric("unyo_syslog_events_published_total")
			drop0 := u.metric(`unyo_syslog_dropped_total{proto="udp"}`)
			start := time.Now()
			r.sent = sendParallel(u.syslogAddr, lines, rate, per, senders)
			r.unyo, r.unyoS = settle(func() int64 { return u.syslogTaken() - taken0 }, int64(r.sent), start, o.idle)
			// The lines taken wait in unyo's queue for its workers: the
			// events in the ledger are counted once the queue is empty.
			for deadline := time.Now().Add(10 * time.Minute); u.metric("unyo_syslog_queue_length") > 0 && time.Now().Before(deadline); {
				time.Sleep(250 * time.Millisecond)
			}
			want := int64(u.metric("unyo_syslog_events_published_total") - pub0)
			r.ledger, _ = settle(func() int64 { return u.ledger("syslog") - base }, want, start, o.idle)
			r.unyoNote = fmt.Sprintf("events %d/%d in ledger, %d dropped at the queue", r.ledger, want,
				int64(u.metric(`unyo_syslog_dropped_total{proto="udp"}`)-drop0))
			if rs != nil {
				r.peerAvailable = true
				base := rs.lines()
				start := time.Now()
				sent := sendParallel(rs.addr, lines, rate, per, senders)
				r.peer, r.peerS = settle(func() int64 { return rs.lines() - base }, int64(sent), start, o.idle)
			}
			rows = append(rows, r)
			printRow(r)
		}
		if rs != nil {
			rs.stop()
		}
	}
	fmt.Println()
	fmt.Printf("%-18s %-8s %8s %10s %8s %10s %8s %6s  %-16s %s\n", "test", "rate/s", "sent", "unyo", "lost%", "peer", "lost%", "ratio", "load avg", "note")
	for _, r := range rows {
		peer, plost, ratio := "-", "-", "-"
		if r.peerAvailable {
			peer = fmt.Sprintf("%d", r.peer)
			plost = fmt.Sprintf("%.2f", 100*float64(int64(r.sent)-r.peer)/float64(r.sent))
			if r.peer > 0 {
				ratio = fmt.Sprintf("%.2f", float64(r.unyo)/float64(r.peer))
			}
		}
		fmt.Printf("%-18s %-8s %8d %10d %8.2f %10s %8s %6s  %-16s %s\n", r.what, r.rate, r.sent, r.unyo,
			100*float64(int64(r.sent)-r.unyo)/float64(r.sent), peer, plost, ratio, r.load, r.unyoNote)
	}
	fmt.Println("unyo: traps = events in the ledger; syslog = lines taken off the socket (received - dropped), events in the ledger in the note.")
	fmt.Println("peer: snmptrapd = traps logged; rsyslog = lines written by its 50 rules.")
	return nil
}

func printRow(r row) {
	fmt.Fprintf(os.Stderr, "%s at %s: sent %d, unyo %d (%.2fs) %s, %s %d (%.2fs), load %s\n", r.what, r.rate, r.sent, r.unyo,
		r.unyoS.Seconds(), r.unyoNote, r.peerName, r.peer, r.peerS.Seconds(), r.load)
}

func rateName(r int) string {
	if r == 0 {
		return "unpaced"
	}
	return strconv.Itoa(r)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// settle waits until count() reaches want or has not grown for idle; it
// returns the count and the time from start to its last growth.
func settle(count func() int64, want int64, start time.Time, idle time.Duration) (int64, time.Duration) {
	last, lastChange := count(), time.Now()
	for last < want && time.Since(lastChange) < idle {
		// Not faster: each poll scrapes unyo's /metrics or counts its
		// ledger, CPU taken from the node being measured.
		time.Sleep(250 * time.Millisecond)
		if n := count(); n != last {
			last, lastChange = n, time.Now()
		}
	}
	return last, lastChange.Sub(start)
}

// send writes count datagrams (cycling through pkts) to addr, rate per
// second (0: as fast as sendmmsg goes), in batches of up to 64 per system
// call; it returns how many the kernel took.
func send(addr string, pkts [][]byte, rate, count int) int {
	c, err := net.Dial("udp", addr)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	pc := ipv4.NewPacketConn(c.(*net.UDPConn))
	ms := make([]ipv4.Message, 64)
	start := time.Now()
	sent, next := 0, 0
	for sent < count {
		n := min(len(ms), count-sent)
		if rate > 0 {
			due := int(float64(rate)*time.Since(start).Seconds()) - sent
			if due <= 0 {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			n = min(n, due)
		}
		for i := range n {
			ms[i].Buffers = [][]byte{pkts[next%len(pkts)]}
			next++
		}
		k, err := pc.WriteBatch(ms[:n], 0)
		if err != nil {
			// ENOBUFS / ECONNREFUSED: back off a little and go on.
			time.Sleep(100 * time.Microsecond)
		}
		next -= n - max(k, 0)
		sent += max(k, 0)
	}
	return sent
}

func sendParallel(addr string, pkts [][]byte, rate, count, senders int) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rot := append(append([][]byte(nil), pkts[i*7%len(pkts):]...), pkts[:i*7%len(pkts)]...)
			n := send(addr, rot, rate, count)
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}

// syslogLines builds RFC 3164 lines from the corpus (app|level|text),
// over 50 hosts.
func syslogLines() ([][]byte, error) {
	b, err := os.ReadFile("monitor/filter/testdata/corpus.txt")
	if err != nil {
		return nil, err
	}
	sev := map[string]int{"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}
	var out [][]byte
	i := 0
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.SplitN(l, "|", 3)
		if len(f) != 3 {
			continue
		}
		fac := 3 // daemon
		if f[0] == "kernel" {
			fac = 0
		}
		for h := range 4 {
			i++
			out = append(out, fmt.Appendf(nil, "<%d>Dec  2 10:%02d:%02d web%02d %s[%d]: %s", fac*8+sev[f[1]], i%60, (i/60)%60, (i+h*13)%50, f[0], 1000+i, f[2]))
		}
	}
	return out, nil
}

// unyo is the running `unyo serve`.
type unyo struct {
	cmd                  *exec.Cmd
	base, token          string
	trapAddr, syslogAddr string
	db                   *sql.DB
	hc                   *http.Client
}

func freePort(network string) string {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startUnyo(o *options) (*unyo, error) {
	rules, err := os.ReadFile("monitor/filter/testdata/rules50.yaml")
	if err != nil {
		return nil, err
	}
	var filters struct {
		Filters []map[string]any `yaml:"filters"`
	}
	if err := yaml.Unmarshal(rules, &filters); err != nil {
		return nil, fmt.Errorf("rules50.yaml: %w", err)
	}
	u := &unyo{base: "http://" + freePort("tcp"), token: auth.NewSecret(auth.TokenPrefix),
		trapAddr: freePort("udp"), syslogAddr: freePort("udp"), hc: &http.Client{Timeout: 10 * time.Second}}
	data := filepath.Join(o.dir, "data")
	cfg := map[string]any{
		"node":    map[string]any{"name": "bench", "data_dir": data},
		"http":    map[string]any{"listen": strings.TrimPrefix(u.base, "http://")},
		"cluster": map[string]any{"bind": "127.0.0.1:0"},
		"log":     map[string]any{"level": "warn"},
		"monitor": map[string]any{
			"syslog": map[string]any{"udp_listen": u.syslogAddr, "tcp_listen": "", "default_action": "record",
				"timezone": "UTC", "filters": filters.Filters},
			"traps": map[string]any{"listen": u.trapAddr, "users": []map[string]any{{"name": "unyo", "auth_protocol": "SHA",
				"auth_passphrase": "authpass123", "priv_protocol": "AES", "priv_passphrase": "privpass123"}}},
		},
	}
	sl := cfg["monitor"].(map[string]any)["syslog"].(map[string]any)
	if o.syslogQueue > 0 {
		sl["queue_size"] = o.syslogQueue
	}
	if o.syslogBuf > 0 {
		sl["udp_read_buffer"] = o.syslogBuf
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(o.dir, "unyo.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	u.cmd = exec.Command(o.bin, "serve", "--config", path)
	u.cmd.Env = append(os.Environ(), "UNYO_BOOTSTRAP_TOKEN="+u.token)
	logf, err := os.Create(filepath.Join(o.dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	u.cmd.Stdout, u.cmd.Stderr = logf, logf
	if err := u.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := u.hc.Get(u.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			u.stop()
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("unyo serve not ready within 90s:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	u.db, err = sql.Open("sqlite", "file:"+filepath.Join(data, "ledger.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		u.stop()
		return nil, err
	}
	return u, nil
}

func (u *unyo) stop() {
	if u.db != nil {
		u.db.Close()
	}
	_ = u.cmd.Process.Signal(syscall.SIGTERM)
	_ = u.cmd.Wait()
}

// ledger counts the events of source in the ledger.
func (u *unyo) ledger(source string) int64 {
	var n int64
	if err := u.db.QueryRow(`SELECT count(*) FROM events WHERE source = ?`, source).Scan(&n); err != nil {
		fmt.Fprintln(os.Stderr, "ledger:", err)
	}
	return n
}

// metric sums the samples of a metric family on /metrics.
func (u *unyo) metric(name string) float64 {
	req, _ := http.NewRequest(http.MethodGet, u.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set("Accept-Encoding", "identity") // no gzip work in the node measured
	resp, err := u.hc.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

var trapMetrics = []string{"unyo_trap_packets_received_total", "unyo_trap_dropped_total",
	"unyo_trap_events_published_total", "unyo_trap_spool_full_dropped_total", "unyo_spool_entries"}

func (u *unyo) metrics(names []string) []float64 {
	out := make([]float64, len(names))
	for i, n := range names {
		out[i] = u.metric(n)
	}
	return out
}

// syslogTaken is the UDP lines read off the socket and not dropped.
func (u *unyo) syslogTaken() int64 {
	return int64(u.metric(`unyo_syslog_messages_received_total{proto="udp"}`) - u.metric(`unyo_syslog_dropped_total{proto="udp"}`))
}

// peer is a running snmptrapd or rsyslogd counting lines in its files.
type peer struct {
	cmd   *exec.Cmd
	addr  string
	files []string
	mu    sync.Mutex
	offs  map[string]int64
	n     int64
}

func (p *peer) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// lines counts the lines appended to the peer's files, reading only what
// is new.
func (p *peer) lines() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	buf := make([]byte, 1<<20)
	for _, name := range p.files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		for {
			k, err := f.ReadAt(buf, p.offs[name])
			p.n += int64(bytes.Count(buf[:k], []byte("\n")))
			p.offs[name] += int64(k)
			if err != nil || k == 0 {
				break
			}
		}
		f.Close()
	}
	return p.n
}

// waitFirst sends probe until the peer logs something, then lets it settle.
func (p *peer) waitFirst(probe []byte, stderr *bytes.Buffer) error {
	c, err := net.Dial("udp", p.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for p.lines() == 0 {
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("nothing logged within 15s: %s", stderr.String())
		}
		_, _ = c.Write(probe)
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	p.lines()
	return nil
}

func startTrapd(dir string) (*peer, error) {
	bin, err := exec.LookPath("snmptrapd")
	if err != nil {
		return nil, fmt.Errorf("not found: apt-get install -y snmptrapd")
	}
	d, err := os.MkdirTemp(dir, "trapd-")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(d, "snmptrapd.conf")
	// The v3 user matches the captured v3 packet (engine 0x8000000001020304).
	if err := os.WriteFile(conf, []byte("disableAuthorization yes\ncreateUser -e 0x8000000001020304 unyo SHA authpass123 AES privpass123\n"), 0o600); err != nil {
		return nil, err
	}
	p := &peer{addr: freePort("udp"), files: []string{filepath.Join(d, "traps.log")}, offs: map[string]int64{}}
	// -f foreground, -C only our config, -n no DNS, -On numeric OIDs, -F one line per trap.
	p.cmd = exec.Command(bin, "-f", "-C", "-c", conf, "-n", "-On", "-Lf", p.files[0], "-F", "T %a %N\n", "udp:"+p.addr)
	p.cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+d)
	var stderr bytes.Buffer
	p.cmd.Stderr = &stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	probe, _ := os.ReadFile("monitor/trap/testdata/packets/v2c-linkdown.bin")
	if err := p.waitFirst(probe, &stderr); err != nil {
		return nil, err
	}
	return p, nil
}

// startRsyslog runs rsyslogd in the foreground on an unprivileged port of
// 127.0.0.1 with a private configuration: imudp, and the 50 rules of
// rules50.yaml translated to RainerScript, each writing the lines it
// takes to a file (ignore rules too, so every line handled is counted),
// the rest to a last file, as default_action: record does.
func startRsyslog(dir string) (*peer, error) {
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		return nil, fmt.Errorf("not found: apt-get install -y rsyslog")
	}
	d, err := os.MkdirTemp(dir, "rsyslog-")
	if err != nil {
		return nil, err
	}
	rules, err := os.ReadFile("monitor/filter/testdata/rules50.yaml")
	if err != nil {
		return nil, err
	}
	var rs struct {
		Filters []struct {
			Name       string   `yaml:"name"`
			Apps       []string `yaml:"apps"`
			Hosts      []string `yaml:"hosts"`
			Levels     []string `yaml:"levels"`
			Contains   []string `yaml:"contains"`
			Regex      string   `yaml:"regex"`
			IgnoreCase bool     `yaml:"ignore_case"`
		} `yaml:"filters"`
	}
	if err := yaml.Unmarshal(rules, &rs); err != nil {
		return nil, err
	}
	p := &peer{addr: freePort("udp"), offs: map[string]int64{}}
	host, port, _ := net.SplitHostPort(p.addr)
	var conf strings.Builder
	fmt.Fprintf(&conf, "global(workDirectory=%q)\n", d)
	fmt.Fprintf(&conf, "module(load=\"imudp\" threads=\"2\" batchSize=\"128\")\n")
	fmt.Fprintf(&conf, "template(name=\"line\" type=\"string\" string=\"%%HOSTNAME%% %%programname%% %%msg%%\\n\")\n")
	fmt.Fprintf(&conf, "ruleset(name=\"rules\" queue.type=\"LinkedList\" queue.size=\"200000\" queue.workerThreads=\"2\") {\n")
	q := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) }
	for i, f := range rs.Filters {
		var conds []string
		if len(f.Apps) > 0 {
			var a []string
			for _, app := range f.Apps {
				a = append(a, fmt.Sprintf(`$programname == "%s"`, q(app)))
			}
			conds = append(conds, "("+strings.Join(a, " or ")+")")
		}
		if len(f.Hosts) > 0 {
			var a []string
			for _, h := range f.Hosts {
				a = append(a, fmt.Sprintf(`$hostname == "%s"`, q(h)))
			}
			conds = append(conds, "("+strings.Join(a, " or ")+")")
		}
		if len(f.Levels) > 0 {
			var a []string
			for _, l := range f.Levels {
				a = append(a, fmt.Sprintf(`$syslogseverity-text == "%s"`, q(l)))
			}
			conds = append(conds, "("+strings.Join(a, " or ")+")")
		}
		for _, c := range f.Contains {
			conds = append(conds, fmt.Sprintf(`$msg contains "%s"`, q(c)))
		}
		if f.Regex != "" {
			conds = append(conds, fmt.Sprintf(`re_match($msg, "%s")`, q(ere(f.Regex))))
		}
		if len(conds) == 0 {
			conds = []string{"1 == 1"}
		}
		file := filepath.Join(d, fmt.Sprintf("rule%02d.log", i))
		p.files = append(p.files, file)
		fmt.Fprintf(&conf, "  if %s then {\n    action(type=\"omfile\" file=%q template=\"line\" asyncWriting=\"on\" ioBufferSize=\"256k\" flushInterval=\"1\")\n    stop\n  }\n",
			strings.Join(conds, " and "), file)
	}
	rest := filepath.Join(d, "record.log")
	p.files = append(p.files, rest)
	fmt.Fprintf(&conf, "  action(type=\"omfile\" file=%q template=\"line\" asyncWriting=\"on\" ioBufferSize=\"256k\" flushInterval=\"1\")\n}\n", rest)
	fmt.Fprintf(&conf, "input(type=\"imudp\" address=%q port=%q ruleset=\"rules\" rcvbufSize=\"8m\")\n", host, port)
	path := filepath.Join(d, "rsyslog.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	check := exec.Command(bin, "-N1", "-f", path)
	if out, err := check.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rsyslogd -N1: %v: %s", err, out)
	}
	p.cmd = exec.Command(bin, "-n", "-f", path, "-i", filepath.Join(d, "rsyslogd.pid"))
	p.cmd.Stdout, p.cmd.Stderr = &stderr, &stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	if err := p.waitFirst([]byte("<14>Dec  2 10:00:00 probe bench: hello"), &stderr); err != nil {
		return nil, err
	}
	return p, nil
}

// ere turns the Go regular expressions of rules50.yaml into POSIX ERE for
// rsyslog's re_match: named groups become plain ones, \d \w \s \S classes,
// (?i) is dropped (matching cost is what is compared).
func ere(re string) string {
	r := strings.NewReplacer(`\d`, `[0-9]`, `\w`, `[A-Za-z0-9_]`, `\s`, `[[:space:]]`, `\S`, `[^[:space:]]`, `(?i)`, ``)
	return r.Replace(regexp.MustCompile(`\(\?P<[A-Za-z0-9_]+>`).ReplaceAllString(re, "("))
}
