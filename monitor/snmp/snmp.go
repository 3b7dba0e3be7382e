package snmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// Source is the event source of SNMP events.
const Source = "snmp"

// Errors.
var (
	// ErrTimeout means the device did not answer within its deadline.
	ErrTimeout = errors.New("snmp: device deadline exceeded")
)

var (
	authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
		"MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA224": gosnmp.SHA224,
		"SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
	}
	privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
		"NONE": gosnmp.NoPriv, "DES": gosnmp.DES, "AES": gosnmp.AES,
		"AES192": gosnmp.AES192, "AES256": gosnmp.AES256,
	}
)

// OIDs the metric sets read (numeric, leading dot).
var (
	oidSysUpTime    = MustOID("SNMPv2-MIB::sysUpTime.0")
	oidLaLoad       = MustOID("UCD-SNMP-MIB::laLoad")
	oidMemTotalReal = MustOID("UCD-SNMP-MIB::memTotalReal.0")
	oidMemAvailReal = MustOID("UCD-SNMP-MIB::memAvailReal.0")
	oidMemBuffer    = MustOID("UCD-SNMP-MIB::memBuffer.0")
	oidMemCached    = MustOID("UCD-SNMP-MIB::memCached.0")
	oidMemTotalSwap = MustOID("UCD-SNMP-MIB::memTotalSwap.0")
	oidMemAvailSwap = MustOID("UCD-SNMP-MIB::memAvailSwap.0")

	colStorageDescr = MustOID("HOST-RESOURCES-MIB::hrStorageDescr")
	colStorageType  = MustOID("HOST-RESOURCES-MIB::hrStorageType")
	colStorageUnits = MustOID("HOST-RESOURCES-MIB::hrStorageAllocationUnits")
	colStorageSize  = MustOID("HOST-RESOURCES-MIB::hrStorageSize")
	colStorageUsed  = MustOID("HOST-RESOURCES-MIB::hrStorageUsed")
	colProcLoad     = MustOID("HOST-RESOURCES-MIB::hrProcessorLoad")
	colSWRunName    = MustOID("HOST-RESOURCES-MIB::hrSWRunName")

	colIfDescr     = MustOID("IF-MIB::ifDescr")
	colIfAdmin     = MustOID("IF-MIB::ifAdminStatus")
	colIfOper      = MustOID("IF-MIB::ifOperStatus")
	colIfInErrors  = MustOID("IF-MIB::ifInErrors")
	colIfOutErrors = MustOID("IF-MIB::ifOutErrors")
	colIfInOctets  = MustOID("IF-MIB::ifInOctets")
	colIfOutOctets = MustOID("IF-MIB::ifOutOctets")
	colIfName      = MustOID("IF-MIB::ifName")
	colIfHCIn      = MustOID("IF-MIB::ifHCInOctets")
	colIfHCOut     = MustOID("IF-MIB::ifHCOutOctets")
	colIfHighSpeed = MustOID("IF-MIB::ifHighSpeed")
)

// Sample is one value read from a device.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// ProcessCount is the outcome of one process check.
type ProcessCount struct {
	Process
	Count int
	OK    bool
}

// Device is what to poll: a target's address and SNMP settings.
type Device struct {
	Target    string // target name: events and per-device state are keyed by it
	Address   string // host name or IP
	Config    *Config
	Processes []Process
}

// Result of one poll. A poll that failed half-way keeps the samples it got.
type Result struct {
	Time      time.Time
	Duration  time.Duration // from getting a worker to the end of the poll
	Waited    time.Duration // waiting for a free worker
	Requests  int           // SNMP requests sent (GET and GETBULK)
	Samples   []Sample
	Events    []incident.Event // reboot, link down / up
	Processes []ProcessCount
	Err       error
}

type ifState struct {
	in, out       uint64
	inErr, outErr uint64
	hc            bool
	oper          int
	alerted       bool // a link-down event is open
	at            time.Time
	valid         bool
}

type devState struct {
	uptime   uint32 // sysUpTime, hundredths of a second
	uptimeAt time.Time
	ifs      map[string]*ifState
}

// Poller polls devices with at most Options.Workers polls in flight. Each
// poll has its own deadline (Config.Timeout), so a dead device costs one
// worker for that long and nothing else. Safe for concurrent use.
type Poller struct {
	sem     chan struct{}
	log     *slog.Logger
	metrics *metrics
	newID   func() string

	mu    sync.Mutex
	state map[string]*devState
}

type metrics struct {
	polls    *prometheus.CounterVec
	duration prometheus.Histogram
	wait     prometheus.Histogram
	inFlight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_snmp_polls_total", Help: "SNMP polls by result (ok, error, timeout)."}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unyo_snmp_poll_duration_seconds", Help: "Time to poll one device.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unyo_snmp_worker_wait_seconds", Help: "Time a poll waited for a free worker.",
			Buckets: []float64{.001, .01, .1, .5, 1, 5, 10, 30, 60}}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "unyo_snmp_polls_in_flight", Help: "SNMP polls in progress."}),
	}
	if reg != nil {
		reg.MustRegister(m.polls, m.duration, m.wait, m.inFlight)
	}
	return m
}

// NewPoller returns a poller. reg and log may be nil.
func NewPoller(opts Options, reg prometheus.Registerer, log *slog.Logger) (*Poller, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Workers == 0 {
		opts.Workers = 64
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{
		sem: make(chan struct{}, opts.Workers), log: log, metrics: newMetrics(reg),
		newID: incident.NewID, state: map[string]*devState{},
	}, nil
}

// Forget drops what the poller remembers about a target (previous counters,
// uptime, link states), for targets no longer polled here.
func (p *Poller) Forget(target string) {
	p.mu.Lock()
	delete(p.state, target)
	p.mu.Unlock()
}

// Poll reads d's metric sets and process counts. It waits for a free
// worker (or ctx), then gives the device d.Config.Timeout in all.
func (p *Poller) Poll(ctx context.Context, d Device) Result {
	start := time.Now()
	res := Result{Time: start}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		res.Err = fmt.Errorf("snmp: waiting for a worker: %w", ctx.Err())
		return res
	}
	defer func() { <-p.sem }()
	p.metrics.inFlight.Inc()
	defer p.metrics.inFlight.Dec()
	res.Waited = time.Since(start)
	p.metrics.wait.Observe(res.Waited.Seconds())
	began := time.Now()
	res.Time = began

	cfg := d.Config
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.Timeout, fmt.Errorf("%w (%s)", ErrTimeout, cfg.Timeout))
	defer cancel()
	err := p.poll(ctx, d, &res)
	res.Duration = time.Since(began)
	p.metrics.duration.Observe(res.Duration.Seconds())
	switch {
	case err == nil:
		p.metrics.polls.WithLabelValues("ok").Inc()
	case ctx.Err() != nil:
		p.metrics.polls.WithLabelValues("timeout").Inc()
		if c := context.Cause(ctx); c != nil && !errors.Is(err, c) {
			err = fmt.Errorf("%w: %w", c, err)
		}
	default:
		p.metrics.polls.WithLabelValues("error").Inc()
	}
	res.Err = err
	return res
}

func (p *Poller) client(ctx context.Context, d Device) (*gosnmp.GoSNMP, error) {
	cfg := d.Config
	per := cfg.Timeout / time.Duration(cfg.RetryCount()+1)
	g := &gosnmp.GoSNMP{
		Target:         d.Address,
		Port:           uint16(cfg.Port),
		Transport:      "udp",
		Community:      string(cfg.Community),
		Version:        gosnmp.Version2c,
		Timeout:        per,
		Retries:        cfg.RetryCount(),
		Context:        ctx,
		MaxOids:        gosnmp.MaxOids,
		MaxRepetitions: uint32(cfg.MaxRepetitions),
	}
	if cfg.Version == "v3" {
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		priv := privProtocols[strings.ToUpper(cfg.PrivProtocol)]
		g.MsgFlags = gosnmp.AuthPriv
		if priv == gosnmp.NoPriv {
			g.MsgFlags = gosnmp.AuthNoPriv
		}
		g.SecurityParameters = &gosnmp.UsmSecurityParameters{
			UserName:                 cfg.User,
			AuthenticationProtocol:   authProtocols[strings.ToUpper(cfg.AuthProtocol)],
			AuthenticationPassphrase: string(cfg.AuthPassword),
			PrivacyProtocol:          priv,
			PrivacyPassphrase:        string(cfg.PrivPassword),
		}
	}
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("snmp connect %s: %w", net.JoinHostPort(d.Address, strconv.Itoa(cfg.Port)), err)
	}
	return g, nil
}

func (p *Poller) poll(ctx context.Context, d Device, res *Result) error {
	cfg := d.Config
	g, err := p.client(ctx, d)
	if err != nil {
		return err
	}
	defer g.Conn.Close()
	has := func(set string) bool {
		for _, s := range cfg.MetricSets {
			if s == set {
				return true
			}
		}
		return false
	}

	// One GET for every scalar.
	var scalars []string
	if has(SetSystem) {
		scalars = append(scalars, oidSysUpTime)
	}
	if has(SetLoad) {
		scalars = append(scalars, oidLaLoad+".1", oidLaLoad+".2", oidLaLoad+".3")
	}
	if has(SetMemory) {
		scalars = append(scalars, oidMemTotalReal, oidMemAvailReal, oidMemBuffer, oidMemCached, oidMemTotalSwap, oidMemAvailSwap)
	}
	for _, o := range cfg.OIDs {
		if !o.Walk {
			scalars = append(scalars, o.resolved)
		}
	}
	got := map[string]gosnmp.SnmpPDU{}
	for i := 0; i < len(scalars); i += gosnmp.MaxOids {
		part := scalars[i:min(i+gosnmp.MaxOids, len(scalars))]
		pkt, err := g.Get(part)
		res.Requests++
		if err != nil {
			return fmt.Errorf("snmp get: %w", err)
		}
		if pkt.Error != gosnmp.NoError {
			return fmt.Errorf("snmp get: agent error %s at index %d", pkt.Error, pkt.ErrorIndex)
		}
		for _, v := range pkt.Variables {
			if v.Type != gosnmp.NoSuchObject && v.Type != gosnmp.NoSuchInstance && v.Type != gosnmp.EndOfMibView {
				got[v.Name] = v
			}
		}
	}

	// One multi-column GETBULK walk for every table.
	var cols []string
	if has(SetStorage) {
		cols = append(cols, colStorageDescr, colStorageType, colStorageUnits, colStorageSize, colStorageUsed)
	}
	if has(SetProcessor) {
		cols = append(cols, colProcLoad)
	}
	if has(SetInterfaces) {
		cols = append(cols, colIfDescr, colIfAdmin, colIfOper, colIfInErrors, colIfOutErrors, colIfInOctets, colIfOutOctets,
			colIfName, colIfHCIn, colIfHCOut, colIfHighSpeed)
	}
	if len(d.Processes) > 0 {
		cols = append(cols, colSWRunName)
	}
	for _, o := range cfg.OIDs {
		if o.Walk {
			cols = append(cols, o.resolved)
		}
	}
	var tables map[string]map[string]gosnmp.SnmpPDU
	if len(cols) > 0 {
		var n int
		tables, n, err = walkColumns(g, cols, cfg.MaxRepetitions)
		res.Requests += n
		if err != nil {
			// Keep what the scalars gave; the check still fails.
			p.derive(d, res, got, nil)
			return fmt.Errorf("snmp walk: %w", err)
		}
	}
	p.derive(d, res, got, tables)
	return nil
}

// walkColumns walks several table columns at once with GETBULK: each
// request asks for the next rows of every column not yet finished, so a
// device with a few tables costs a few round trips, not one walk per
// column. It returns rows by column and index (the OID suffix without the
// leading dot) and the number of requests sent.
func walkColumns(g *gosnmp.GoSNMP, cols []string, maxRep int) (map[string]map[string]gosnmp.SnmpPDU, int, error) {
	out := make(map[string]map[string]gosnmp.SnmpPDU, len(cols))
	cursor := make(map[string]string, len(cols))
	for _, c := range cols {
		out[c] = map[string]gosnmp.SnmpPDU{}
		cursor[c] = c
	}
	active := append([]string(nil), cols...)
	requests := 0
	for len(active) > 0 {
		if requests > 10000 {
			return out, requests, errors.New("walk did not end after 10000 requests")
		}
		batch := active[:min(len(active), gosnmp.MaxOids)]
		oids := make([]string, len(batch))
		for i, c := range batch {
			oids[i] = cursor[c]
		}
		rep := max(1, min(maxRep, 1400/(len(batch)*8))) // keep responses well under one datagram's worth of rows
		pkt, err := g.GetBulk(oids, 0, uint32(rep))
		requests++
		if err != nil {
			return out, requests, err
		}
		if pkt.Error != gosnmp.NoError {
			return out, requests, fmt.Errorf("agent error %s at index %d", pkt.Error, pkt.ErrorIndex)
		}
		done := map[string]bool{}
		progressed := map[string]bool{}
		for i, v := range pkt.Variables {
			c := batch[i%len(batch)]
			if done[c] {
				continue
			}
			if v.Type == gosnmp.EndOfMibView || !strings.HasPrefix(v.Name, c+".") || !oidAfter(v.Name, cursor[c]) {
				done[c] = true
				continue
			}
			out[c][v.Name[len(c)+1:]] = v
			cursor[c] = v.Name
			progressed[c] = true
		}
		next := active[:0]
		for _, c := range active {
			inBatch := false
			for _, b := range batch {
				if b == c {
					inBatch = true
				}
			}
			if !inBatch || (!done[c] && progressed[c]) {
				next = append(next, c)
			}
		}
		active = next
	}
	return out, requests, nil
}

// oidAfter reports whether a comes after b in OID order.
func oidAfter(a, b string) bool {
	as := strings.Split(strings.TrimPrefix(a, "."), ".")
	bs := strings.Split(strings.TrimPrefix(b, "."), ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.ParseUint(as[i], 10, 64)
		y, _ := strconv.ParseUint(bs[i], 10, 64)
		if x != y {
			return x > y
		}
	}
	return len(as) > len(bs)
}

func toFloat(v gosnmp.SnmpPDU) (float64, bool) {
	switch v.Type {
	case gosnmp.OctetString:
		b, _ := v.Value.([]byte)
		f, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		return f, err == nil
	case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Uinteger32:
		bi := gosnmp.ToBigInt(v.Value)
		f, _ := new(big.Float).SetInt(bi).Float64()
		return f, true
	case gosnmp.OpaqueFloat:
		f, ok := v.Value.(float32)
		return float64(f), ok
	case gosnmp.OpaqueDouble:
		f, ok := v.Value.(float64)
		return f, ok
	}
	return 0, false
}

func toUint(v gosnmp.SnmpPDU) (uint64, bool) {
	switch v.Type {
	case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Uinteger32:
		return gosnmp.ToBigInt(v.Value).Uint64(), true
	}
	return 0, false
}

func toString(v gosnmp.SnmpPDU) string {
	if b, ok := v.Value.([]byte); ok {
		return strings.TrimRight(string(b), "\x00")
	}
	if s, ok := v.Value.(string); ok {
		return s
	}
	return fmt.Sprint(v.Value)
}

// counterDelta is new-old for a counter of the given width, allowing one
// wrap. A "wrap" that would be larger than limit is a counter reset
// (device or interface restarted): no delta.
func counterDelta(old, cur uint64, bits int, limit float64) (uint64, bool) {
	if cur >= old {
		return cur - old, true
	}
	var d uint64
	if bits == 32 {
		d = (1<<32 - old) + cur
	} else {
		d = (math.MaxUint64 - old) + cur + 1
	}
	if float64(d) > limit {
		return 0, false
	}
	return d, true
}

// derive turns raw values into samples and events and updates the
// per-device state.
func (p *Poller) derive(d Device, res *Result, got map[string]gosnmp.SnmpPDU, tables map[string]map[string]gosnmp.SnmpPDU) {
	now := res.Time
	add := func(name string, v float64, labels ...string) {
		var l map[string]string
		if len(labels) > 0 {
			l = make(map[string]string, len(labels)/2)
			for i := 0; i+1 < len(labels); i += 2 {
				l[labels[i]] = labels[i+1]
			}
		}
		res.Samples = append(res.Samples, Sample{Name: name, Labels: l, Value: v})
	}
	p.mu.Lock()
	st := p.state[d.Target]
	if st == nil {
		st = &devState{ifs: map[string]*ifState{}}
		p.state[d.Target] = st
	}
	p.mu.Unlock()
	// st is only touched by the one poll of this device in flight (the
	// scheduler never overlaps polls of a target).

	rebooted := false
	if v, ok := got[oidSysUpTime]; ok {
		if up, ok := toUint(v); ok {
			ticks := uint32(up)
			add("snmp_sys_uptime_seconds", float64(ticks)/100)
			if !st.uptimeAt.IsZero() && ticks < st.uptime {
				// sysUpTime wraps after 497 days; a value that fell from near
				// the top is a wrap, not a reboot.
				elapsed := now.Sub(st.uptimeAt).Seconds()*100 + 100
				if float64(st.uptime)+elapsed < float64(math.MaxUint32) {
					rebooted = true
					res.Events = append(res.Events, incident.Event{
						ID: p.newID(), Source: Source, Target: d.Target, Check: "snmp:reboot",
						Severity: incident.Warning, Status: incident.Problem, Time: now,
						DedupKey: d.Target + "/snmp:reboot",
						Message: fmt.Sprintf("%s rebooted: sysUpTime went back from %s to %s", d.Target,
							time.Duration(st.uptime)*10*time.Millisecond, time.Duration(ticks)*10*time.Millisecond),
						Labels: map[string]string{"uptime_before": strconv.FormatUint(uint64(st.uptime), 10), "uptime_after": strconv.FormatUint(uint64(ticks), 10)},
					})
				}
			}
			st.uptime, st.uptimeAt = ticks, now
		}
	}
	for i, name := range []string{"snmp_load1", "snmp_load5", "snmp_load15"} {
		if v, ok := got[oidLaLoad+"."+strconv.Itoa(i+1)]; ok {
			if f, ok := toFloat(v); ok {
				add(name, f)
			}
		}
	}
	kb := func(oid string) (float64, bool) {
		v, ok := got[oid]
		if !ok {
			return 0, false
		}
		f, ok := toFloat(v)
		return f * 1024, ok
	}
	if total, ok := kb(oidMemTotalReal); ok && total > 0 {
		avail, _ := kb(oidMemAvailReal)
		buf, _ := kb(oidMemBuffer)
		cached, _ := kb(oidMemCached)
		add("snmp_memory_total_bytes", total)
		add("snmp_memory_available_bytes", avail+buf+cached)
		add("snmp_memory_used_percent", 100*(total-avail-buf-cached)/total)
	}
	if total, ok := kb(oidMemTotalSwap); ok && total > 0 {
		avail, _ := kb(oidMemAvailSwap)
		add("snmp_swap_used_percent", 100*(total-avail)/total)
	}
	for _, o := range d.Config.OIDs {
		if !o.Walk {
			if v, ok := got[o.resolved]; ok {
				if f, ok := toFloat(v); ok {
					add(o.Name, f)
				}
			}
		}
	}
	if tables == nil {
		return
	}

	// HOST-RESOURCES-MIB storage.
	for idx, dv := range tables[colStorageDescr] {
		units, ok1 := toFloat(tables[colStorageUnits][idx])
		size, ok2 := toFloat(tables[colStorageSize][idx])
		used, ok3 := toFloat(tables[colStorageUsed][idx])
		if !ok1 || !ok2 || !ok3 || size <= 0 {
			continue
		}
		descr, typ := toString(dv), StorageType(toString(tables[colStorageType][idx]))
		add("snmp_storage_size_bytes", size*units, "descr", descr, "type", typ)
		add("snmp_storage_used_bytes", used*units, "descr", descr, "type", typ)
		add("snmp_storage_used_percent", 100*used/size, "descr", descr, "type", typ)
	}
	// Processor load.
	if rows := tables[colProcLoad]; len(rows) > 0 {
		var sum float64
		n := 0
		for idx, v := range rows {
			if f, ok := toFloat(v); ok {
				add("snmp_cpu_load_percent", f, "cpu", idx)
				sum += f
				n++
			}
		}
		if n > 0 {
			add("snmp_cpu_load_avg_percent", sum/float64(n))
		}
	}
	// Interfaces.
	seen := map[string]bool{}
	for idx, dv := range tables[colIfDescr] {
		seen[idx] = true
		name := toString(dv)
		if v, ok := tables[colIfName][idx]; ok && toString(v) != "" {
			name = toString(v)
		}
		admin, _ := toUint(tables[colIfAdmin][idx])
		oper, _ := toUint(tables[colIfOper][idx])
		add("snmp_if_oper_up", b2f(oper == 1), "if", name)
		cur := &ifState{oper: int(oper), at: now, valid: true}
		var ok1, ok2 bool
		if in, ok := tables[colIfHCIn][idx]; ok {
			cur.in, ok1 = toUint(in)
			cur.out, ok2 = toUint(tables[colIfHCOut][idx])
			cur.hc = ok1 && ok2
		}
		if !cur.hc {
			cur.in, ok1 = toUint(tables[colIfInOctets][idx])
			cur.out, ok2 = toUint(tables[colIfOutOctets][idx])
		}
		cur.inErr, _ = toUint(tables[colIfInErrors][idx])
		cur.outErr, _ = toUint(tables[colIfOutErrors][idx])
		add("snmp_if_in_errors_total", float64(cur.inErr), "if", name)
		add("snmp_if_out_errors_total", float64(cur.outErr), "if", name)

		prev := st.ifs[idx]
		if prev != nil && prev.valid && !rebooted && prev.hc == cur.hc && ok1 && ok2 {
			dt := now.Sub(prev.at).Seconds()
			bits := 32
			if cur.hc {
				bits = 64
			}
			speed, _ := toFloat(tables[colIfHighSpeed][idx]) // Mbit/s
			limit := math.Inf(1)
			if speed > 0 {
				limit = speed * 1e6 / 8 * dt * 1.5
			} else if bits == 64 {
				limit = 1 << 50
			}
			if dt > 0 {
				if dIn, ok := counterDelta(prev.in, cur.in, bits, limit); ok {
					add("snmp_if_in_bits_per_second", float64(dIn)*8/dt, "if", name)
				}
				if dOut, ok := counterDelta(prev.out, cur.out, bits, limit); ok {
					add("snmp_if_out_bits_per_second", float64(dOut)*8/dt, "if", name)
				}
				if dE, ok := counterDelta(prev.inErr, cur.inErr, 32, math.Inf(1)); ok {
					add("snmp_if_in_errors_per_second", float64(dE)/dt, "if", name)
				}
				if dE, ok := counterDelta(prev.outErr, cur.outErr, 32, math.Inf(1)); ok {
					add("snmp_if_out_errors_per_second", float64(dE)/dt, "if", name)
				}
			}
		}
		// Link events: down when ifOperStatus leaves up while the interface
		// is administratively up; ok when it is up again (or taken down on
		// purpose) after a down event.
		if prev != nil && prev.valid {
			cur.alerted = prev.alerted
			ev := incident.Event{
				ID: p.newID(), Source: Source, Target: d.Target, Check: "snmp:link:" + name,
				Time: now, DedupKey: d.Target + "/snmp:link:" + name,
				Labels: map[string]string{"if": name, "ifIndex": idx, "ifOperStatus": strconv.FormatUint(oper, 10), "ifAdminStatus": strconv.FormatUint(admin, 10)},
			}
			emit := false
			switch {
			case !prev.alerted && admin == 1 && prev.oper == 1 && oper != 1:
				ev.Status, ev.Severity = incident.Problem, incident.Major
				ev.Message = fmt.Sprintf("%s interface %s is down (ifOperStatus %d, admin up)", d.Target, name, oper)
				cur.alerted, emit = true, true
			case prev.alerted && (oper == 1 || admin != 1):
				ev.Status, ev.Severity = incident.OK, incident.Info
				ev.Message = fmt.Sprintf("%s interface %s is up", d.Target, name)
				if oper != 1 {
					ev.Message = fmt.Sprintf("%s interface %s is administratively down", d.Target, name)
				}
				cur.alerted, emit = false, true
			}
			if emit && len(ev.DedupKey) <= incident.MaxFieldLen {
				res.Events = append(res.Events, ev)
			}
		}
		st.ifs[idx] = cur
	}
	for idx := range st.ifs {
		if !seen[idx] && tables[colIfDescr] != nil {
			delete(st.ifs, idx)
		}
	}
	// Processes.
	if len(d.Processes) > 0 {
		counts := map[string]int{}
		for _, v := range tables[colSWRunName] {
			counts[toString(v)]++
		}
		for _, pr := range d.Processes {
			n := counts[pr.Name]
			ok := n >= pr.Min && (pr.Max == 0 || n <= pr.Max)
			res.Processes = append(res.Processes, ProcessCount{Process: pr, Count: n, OK: ok})
			add("snmp_process_count", float64(n), "process", pr.Name)
		}
	}
	// Extra walked OIDs.
	for _, o := range d.Config.OIDs {
		if o.Walk {
			for idx, v := range tables[o.resolved] {
				if f, ok := toFloat(v); ok {
					add(o.Name, f, "index", idx)
				}
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// storageTypes names the HOST-RESOURCES-TYPES storage types
// (hrStorageTypes, 1.3.6.1.2.1.25.2.1.N), for the "type" label of the
// storage samples: a threshold on disks selects type fixed_disk, and
// does not fire on memory rows that are always full (cached, shared).
var storageTypes = map[string]string{
	"1": "other", "2": "ram", "3": "virtual_memory", "4": "fixed_disk", "5": "removable_disk",
	"6": "floppy_disk", "7": "compact_disc", "8": "ram_disk", "9": "flash_memory", "10": "network_disk",
}

// StorageType names an hrStorageType value (an OID such as
// .1.3.6.1.2.1.25.2.1.4 → "fixed_disk"); an unknown type is its OID, a
// missing one "unknown".
func StorageType(oid string) string {
	if oid == "" {
		return "unknown"
	}
	if n, ok := strings.CutPrefix(strings.TrimPrefix(oid, "."), "1.3.6.1.2.1.25.2.1."); ok {
		if name, ok := storageTypes[n]; ok {
			return name
		}
	}
	return oid
}
