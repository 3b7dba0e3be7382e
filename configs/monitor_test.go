package configs

import (
	"encoding/json"
	"strings"
	"testing"
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
