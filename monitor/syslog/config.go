package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// Config of the syslog receiver. Zero values take the defaults shown.
//
//	udp_listen: ":514"          # "" with tcp_listen set: no UDP
//	tcp_listen: ":514"          # "" with udp_listen set: no TCP
//	queue_size: 1048576
//	queue_bytes: 268435456     # 256 MiB
//	workers: 2
//	max_message_size: 8192
//	udp_read_buffer: 33554432   # SO_RCVBUF bytes
//	tcp_idle_timeout: 5m
//	max_tcp_connections: 1024
//	timezone: Local             # for RFC 3164 timestamps, which carry none
//	target_from: hostname       # or sender
//	sender_names: {10.0.0.1: core-sw-01}
//	publish_timeout: 10s
type Config struct {
	// UDPListen and TCPListen are host:port addresses; at least one is set.
	UDPListen string `yaml:"udp_listen"`
	TCPListen string `yaml:"tcp_listen"`
	// QueueSize bounds the frames waiting between the sockets and the
	// workers.
	QueueSize int `yaml:"queue_size"`
	// QueueBytes bounds the memory those frames hold (their bytes and
	// their bookkeeping): the queue is large so a burst waits in it for the
	// workers rather than being dropped, and this keeps it bounded whatever
	// the frames' size.
	QueueBytes int `yaml:"queue_bytes"`
	// Workers parse, filter and publish.
	Workers int `yaml:"workers"`
	// MaxMessageSize is the largest frame kept, in bytes (at least 480,
	// RFC 3164; at most 65535).
	MaxMessageSize int `yaml:"max_message_size"`
	// UDPReadBuffer is the socket receive buffer asked for (the kernel may
	// grant less unless the process may raise it).
	UDPReadBuffer int `yaml:"udp_read_buffer"`
	// TCPIdleTimeout closes a TCP connection that sends nothing for this
	// long.
	TCPIdleTimeout time.Duration `yaml:"tcp_idle_timeout"`
	// MaxTCPConnections caps concurrent TCP connections.
	MaxTCPConnections int `yaml:"max_tcp_connections"`
	// Timezone names the IANA zone RFC 3164 timestamps are read in.
	Timezone string `yaml:"timezone"`
	// TargetFrom picks the event target: "hostname" (the message's
	// HOSTNAME, falling back to the sender) or "sender" (the sender's
	// address, or its name in SenderNames).
	TargetFrom string `yaml:"target_from"`
	// SenderNames maps sender IP addresses to target names.
	SenderNames map[string]string `yaml:"sender_names"`
	// PublishTimeout bounds one Sink.Publish call.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
}

// Defaults.
const (
	DefaultQueueSize         = 1 << 20
	DefaultQueueBytes        = 256 << 20
	DefaultWorkers           = 2
	DefaultMaxMessageSize    = 8192
	DefaultUDPReadBuffer     = 32 << 20
	DefaultTCPIdleTimeout    = 5 * time.Minute
	DefaultMaxTCPConnections = 1024
	DefaultPublishTimeout    = 10 * time.Second
)

// DefaultConfig returns the defaults, listening on port 514 for UDP and TCP.
func DefaultConfig() Config {
	c := Config{UDPListen: ":514", TCPListen: ":514"}
	c.setDefaults()
	return c
}

// Defaults fills the fields left at zero (not the listen addresses,
// which turn the receiver on).
func (c *Config) Defaults() { c.setDefaults() }

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.QueueSize, DefaultQueueSize)
	def(&c.QueueBytes, DefaultQueueBytes)
	def(&c.Workers, DefaultWorkers)
	def(&c.MaxMessageSize, DefaultMaxMessageSize)
	def(&c.UDPReadBuffer, DefaultUDPReadBuffer)
	def(&c.MaxTCPConnections, DefaultMaxTCPConnections)
	if c.TCPIdleTimeout == 0 {
		c.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.Timezone == "" {
		c.Timezone = "Local"
	}
	if c.TargetFrom == "" {
		c.TargetFrom = "hostname"
	}
}

// LoadConfig decodes YAML strictly (unknown keys are errors) over
// DefaultConfig and validates it.
func LoadConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Validate checks the configuration; zero values count as their defaults.
// Errors name the field.
func (c *Config) Validate() error {
	cc := *c
	cc.setDefaults()
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if cc.UDPListen == "" && cc.TCPListen == "" {
		add("udp_listen", "set udp_listen, tcp_listen or both")
	}
	for _, f := range []struct{ name, v string }{{"udp_listen", cc.UDPListen}, {"tcp_listen", cc.TCPListen}} {
		if f.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(f.v); err != nil {
			add(f.name, "%q: %v", f.v, err)
		}
	}
	if cc.QueueSize < 1 {
		add("queue_size", "%d: must be at least 1", cc.QueueSize)
	}
	if cc.QueueBytes < cc.MaxMessageSize {
		add("queue_bytes", "%d: must be at least max_message_size (%d)", cc.QueueBytes, cc.MaxMessageSize)
	}
	if cc.Workers < 1 || cc.Workers > 256 {
		add("workers", "%d: want 1 to 256", cc.Workers)
	}
	if cc.MaxMessageSize < 480 || cc.MaxMessageSize > 65535 {
		add("max_message_size", "%d: want 480 to 65535", cc.MaxMessageSize)
	}
	if cc.UDPReadBuffer < 0 {
		add("udp_read_buffer", "%d: must not be negative", cc.UDPReadBuffer)
	}
	if cc.TCPIdleTimeout < 0 {
		add("tcp_idle_timeout", "%v: must not be negative", cc.TCPIdleTimeout)
	}
	if cc.MaxTCPConnections < 1 {
		add("max_tcp_connections", "%d: must be at least 1", cc.MaxTCPConnections)
	}
	if cc.PublishTimeout < 0 {
		add("publish_timeout", "%v: must not be negative", cc.PublishTimeout)
	}
	if _, err := time.LoadLocation(cc.Timezone); err != nil {
		add("timezone", "%q: %v", cc.Timezone, err)
	}
	switch cc.TargetFrom {
	case "hostname", "sender":
	default:
		add("target_from", "%q: want hostname or sender", cc.TargetFrom)
	}
	for _, k := range slices.Sorted(maps.Keys(cc.SenderNames)) {
		v := cc.SenderNames[k]
		if _, err := netip.ParseAddr(k); err != nil {
			add("sender_names."+k, "not an IP address")
		}
		if v == "" {
			add("sender_names."+k, "empty name")
		}
	}
	return errors.Join(errs...)
}
