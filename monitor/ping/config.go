package ping

import (
	"errors"
	"fmt"
	"time"
)

// Config is the ping check of one target.
//
//	ping:
//	  interval: 10s         # between checks, at least 1s
//	  packets: 3            # echo requests per check
//	  packet_interval: 1s   # between the packets of one check
//	  timeout: 2s           # wait after the last packet
//	  down_after: 3         # consecutive failed checks before "down"
//	  max_loss: 100         # a check fails when loss % is at or above this
type Config struct {
	Interval       time.Duration `yaml:"interval"`
	Packets        int           `yaml:"packets"`
	PacketInterval time.Duration `yaml:"packet_interval"`
	Timeout        time.Duration `yaml:"timeout"`
	DownAfter      int           `yaml:"down_after"`
	MaxLoss        float64       `yaml:"max_loss"`
}

// Defaults used by (*Config).Defaults.
const (
	DefaultInterval       = 10 * time.Second
	DefaultPackets        = 3
	DefaultPacketInterval = time.Second
	DefaultTimeout        = 2 * time.Second
	DefaultDownAfter      = 3
)

// Defaults fills unset fields. The packet interval shrinks so that a check
// fits in its interval.
func (c *Config) Defaults() {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Packets == 0 {
		c.Packets = DefaultPackets
	}
	if c.Timeout == 0 {
		c.Timeout = min(DefaultTimeout, c.Interval/2)
	}
	if c.PacketInterval == 0 {
		c.PacketInterval = DefaultPacketInterval
		if c.Packets > 1 {
			c.PacketInterval = min(c.PacketInterval, (c.Interval-c.Timeout)/time.Duration(c.Packets))
		}
	}
	if c.DownAfter == 0 {
		c.DownAfter = DefaultDownAfter
	}
	if c.MaxLoss == 0 {
		c.MaxLoss = 100
	}
}

// Validate checks the config after Defaults; errors name the field
// relative to the ping block ("interval: must be at least 1s"). Every
// problem is reported (errors.Join), not only the first.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Interval < time.Second {
		add("interval: %s: must be at least 1s", c.Interval)
	}
	if c.Packets < 1 || c.Packets > 100 {
		add("packets: %d: want 1 to 100", c.Packets)
	}
	if c.PacketInterval < 10*time.Millisecond {
		add("packet_interval: %s: must be at least 10ms", c.PacketInterval)
	}
	if c.Timeout < 10*time.Millisecond {
		add("timeout: %s: must be at least 10ms", c.Timeout)
	}
	if c.DownAfter < 1 || c.DownAfter > 1000 {
		add("down_after: %d: want 1 to 1000 checks", c.DownAfter)
	}
	if !(c.MaxLoss > 0 && c.MaxLoss <= 100) {
		add("max_loss: %g: want a percentage above 0, at most 100", c.MaxLoss)
	}
	if len(errs) == 0 {
		if d := time.Duration(c.Packets-1)*c.PacketInterval + c.Timeout; d > c.Interval {
			add("timeout: a check takes (packets-1) × packet_interval + timeout = %s, longer than interval %s", d, c.Interval)
		}
	}
	return errors.Join(errs...)
}

// Modes of the shared socket.
const (
	ModeAuto         = "auto"
	ModeUnprivileged = "unprivileged"
	ModePrivileged   = "privileged"
)

// Options configure the process-wide Pinger.
//
//	ping_engine:
//	  mode: auto        # auto, unprivileged (ping socket) or privileged (raw)
//	  source: ""        # local IPv4 address to send from
//	  ipv6: false       # also open an ICMPv6 socket
type Options struct {
	Mode   string `yaml:"mode"`
	Source string `yaml:"source"`
	IPv6   bool   `yaml:"ipv6"`
}

// Validate checks the options.
func (o *Options) Validate() error {
	switch o.Mode {
	case "", ModeAuto, ModeUnprivileged, ModePrivileged:
		return nil
	}
	return fmt.Errorf("mode: %q: want auto, unprivileged or privileged", o.Mode)
}

// Errors.
var (
	// ErrTooManyInFlight means every sequence number of the socket is
	// waiting for a reply.
	ErrTooManyInFlight = errors.New("ping: too many probes in flight")
	// ErrClosed is returned by Ping after Close.
	ErrClosed = errors.New("ping: pinger closed")
	// ErrNoSocket means neither a ping socket nor a raw socket could be
	// opened: set net.ipv4.ping_group_range or run with CAP_NET_RAW.
	ErrNoSocket = errors.New("ping: cannot open an ICMP socket (set sysctl net.ipv4.ping_group_range to include this process's group, or run with CAP_NET_RAW)")
	// ErrFamily means the address family has no socket (IPv6 not enabled).
	ErrFamily = errors.New("ping: address family not enabled")
)
