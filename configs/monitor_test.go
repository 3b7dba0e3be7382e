package configs

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMonitorSecretsNeverPrint(t *testing.T) {
	const yml = `monitor:
  targets:
    - name: sw1
      address: 10.0.0.1
      snmp: {version: v3, user: unyo, auth_password: hunter2-auth, priv_password: hunter2-priv}
  traps:
    listen: 127.0.0.1:9162
    communities: [hunter2-community]
    users:
      - {name: u, auth_protocol: SHA, auth_passphrase: hunter2-trap-auth}
`
	c, err := Parse("m.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for how, out := range map[string]string{"String": c.String(), "json": string(j)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s prints a secret:\n%s", how, out)
		}
		if !strings.Contains(out, "<secret>") && !strings.Contains(out, `\u003csecret\u003e`) {
			t.Errorf("%s shows no <secret>:\n%s", how, out)
		}
	}
	if !strings.Contains(string(j), `"targets":[{"address":"10.0.0.1"`) {
		t.Errorf("json uses yaml key names: %s", j)
	}
}

func TestMonitorActive(t *testing.T) {
	c := Default()
	if c.Monitor.Active() {
		t.Error("an empty monitor section is active")
	}
	c, err := Parse("m.yaml", []byte("monitor:\n  syslog: {udp_listen: 127.0.0.1:0}\n"))
	if err != nil || !c.Monitor.Active() || c.Monitor.TrapsEnabled() {
		t.Errorf("syslog only: active %v, traps %v, %v", c.Monitor.Active(), c.Monitor.TrapsEnabled(), err)
	}
	c, err = Parse("m.yaml", []byte("monitor:\n  enabled: false\n  syslog: {udp_listen: 127.0.0.1:0}\n"))
	if err != nil || c.Monitor.Active() {
		t.Errorf("disabled monitor is active (%v)", err)
	}
}

// TestMonitorExplicitValues (issue 17 item 6): a value the file gives is
// kept, zero included where zero is valid (snmp.retries: 0); a key left
// out takes its default; the printed configuration shows the receivers'
// effective values, and loads back the same.
func TestMonitorExplicitValues(t *testing.T) {
	const yml = `monitor:
  targets:
    - name: sw1
      address: 10.0.0.1
      snmp: {retries: 0, interval: 30s}
      ping: {interval: 5s}
      processes:
        - {name: sshd, min: 0, max: 3}
  syslog: {udp_listen: "127.0.0.1:0"}
`
	c, err := Parse("m.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	tg := c.Monitor.Targets[0]
	if tg.SNMP.Retries == nil || *tg.SNMP.Retries != 0 {
		t.Errorf("snmp.retries: 0 became %v", tg.SNMP.Retries)
	}
	if tg.SNMP.Timeout != 10*time.Second || tg.SNMP.MaxRepetitions != 25 || tg.SNMP.Port != 161 {
		t.Errorf("snmp defaults: %+v", *tg.SNMP)
	}
	if tg.Ping.Timeout != 2*time.Second || tg.Ping.Packets != 3 || tg.Ping.MaxLoss != 100 {
		t.Errorf("ping defaults: %+v", *tg.Ping)
	}
	if p := tg.Processes[0]; p.Min != 0 || p.Max != 3 {
		t.Errorf("processes[0]: %+v", p)
	}
	out := c.String()
	for _, want := range []string{"queue_size: 65536", "workers: 2", "timezone: Local", "unmatched: info", "retries: 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("printed config lacks %q:\n%s", want, out)
		}
	}
	back, err := Parse("printed.yaml", []byte(out))
	if err != nil {
		t.Fatalf("the printed config does not load: %v\n%s", err, out)
	}
	// (Secrets print as <secret>, so only what holds none is compared.)
	bt := back.Monitor.Targets[0]
	if !reflect.DeepEqual(back.Monitor.Syslog, c.Monitor.Syslog) || !reflect.DeepEqual(back.Monitor.Traps, c.Monitor.Traps) ||
		!reflect.DeepEqual(bt.Ping, tg.Ping) || *bt.SNMP.Retries != 0 || bt.SNMP.Timeout != tg.SNMP.Timeout {
		t.Errorf("the printed config loads back different:\n%s", out)
	}
	// OIDs of trap rules are bounded the same way.
	_, err = Parse("m.yaml", []byte("monitor:\n  traps:\n    listen: 127.0.0.1:0\n    rules: [{name: r, oid: 1.3.6.1.4294967296}]\n"))
	if err == nil || !strings.Contains(err.Error(), "monitor.traps.rules[0].oid") || !strings.Contains(err.Error(), "32 bits") {
		t.Errorf("trap rule with an oversized arc: %v", err)
	}
}
