package configs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func init() {
	// A fixed host name keeps the derived node.name deterministic.
	hostname = func() (string, error) { return "Test-Host.example", nil }
}

// TestLoadBadConfigs: each testdata/invalid-*.yaml gives exactly this error.
func TestLoadBadConfigs(t *testing.T) {
	tests := map[string]string{
		"invalid-unknown-field.yaml": `testdata/invalid-unknown-field.yaml:4: nats.urll: unknown field`,
		"invalid-backup.yaml": `testdata/invalid-backup.yaml:4: backup.destinations[0].dir: "relative/dir": want an absolute path
testdata/invalid-backup.yaml:8: backup.sources[0].paths[0]: "etc": want an absolute path other than /
testdata/invalid-backup.yaml:11: backup.sources[1].postgres.url: want a postgres:// URL of the database for a postgres source
testdata/invalid-backup.yaml:12: backup.sources[1].destination: "nas": no such destination in backup.destinations
testdata/invalid-backup.yaml:13: backup.sources[1].keep.last: -1: want 0..10000
testdata/invalid-backup.yaml:19: jobnets[0].jobs[0].backup.source: "nope": no such source in backup.sources`,
		"invalid-backup-s3.yaml": `testdata/invalid-backup-s3.yaml:5: backup.destinations[0].s3: set dir or s3, not both
testdata/invalid-backup-s3.yaml:6: backup.destinations[1].dir: want dir (an absolute path) or s3 (a bucket)
testdata/invalid-backup-s3.yaml:9: backup.destinations[2].s3.endpoint: "https://s3.example.net": want host:port without a scheme (tls says https or http)
testdata/invalid-backup-s3.yaml:10: backup.destinations[2].s3.bucket: "Bad_Bucket": want 3 to 63 of a-z, 0-9, '.', '-', starting and ending with a letter or digit
testdata/invalid-backup-s3.yaml:11: backup.destinations[2].s3.prefix: "/abs/../x": want a relative path of names separated by '/' (no '.', '..' or empty parts)
testdata/invalid-backup-s3.yaml:12: backup.destinations[2].s3.region: "us east": want 1 to 64 of A-Z, a-z, 0-9, '-', '_' (e.g. us-east-1)
testdata/invalid-backup-s3.yaml:13: backup.destinations[2].s3.secret_key: required with access_key (a secret: ${env:NAME} or file:PATH)
testdata/invalid-backup-s3.yaml:15: backup.destinations[2].s3.ca_file: "/nonexistent/ca.pem": only with tls: true
testdata/invalid-backup-s3.yaml:18: backup.destinations[3].s3.endpoint: "s3.example.net": missing port in address, want host:port
testdata/invalid-backup-s3.yaml:19: backup.destinations[3].s3.bucket: "192.168.1.1": a bucket name is not an IP address
testdata/invalid-backup-s3.yaml:21: backup.destinations[3].s3.access_key: required with secret_key
testdata/invalid-backup-s3.yaml:22: backup.destinations[3].s3.ca_file: "/nonexistent/ca.pem": no such file
testdata/invalid-backup-s3.yaml:24: backup.destinations[4].s3.endpoint: "127.0.0.1:0": want a host and a port 1..65535
testdata/invalid-backup-s3.yaml:24: backup.destinations[4].s3.bucket: required: the bucket's name`,
		"invalid-unknown-section.yaml":       `testdata/invalid-unknown-section.yaml:3: monitoring: unknown field`,
		"invalid-monitor-ping-interval.yaml": `testdata/invalid-monitor-ping-interval.yaml:12: monitor.targets[2].ping.interval: 500ms: must be at least 1s`,
		"invalid-monitor-parent.yaml":        `testdata/invalid-monitor-parent.yaml:8: monitor.targets[1].parent: "core-sw2": no such target`,
		"invalid-monitor-filter-regex.yaml": `testdata/invalid-monitor-filter-regex.yaml:9: monitor.syslog.filters[3].regex: error parsing regexp: missing closing ): ` + "`link (down`" + `
testdata/invalid-monitor-filter-regex.yaml:11: monitor.syslog.filters[4].severity: severity "loud": want one of critical, major, minor, warning, info`,
		"invalid-monitor-refs.yaml": `testdata/invalid-monitor-refs.yaml:12: monitor.thresholds[0].target: "web02": no such target in monitor.targets
testdata/invalid-monitor-refs.yaml:13: monitor.thresholds[1].tags: no target in monitor.targets has role=db`,
		"invalid-monitor-thresholds.yaml": `testdata/invalid-monitor-thresholds.yaml:8: monitor.thresholds[1].critical: 80 must be above warning 90
testdata/invalid-monitor-thresholds.yaml:9: monitor.traps.listen: required when traps.rules or traps.users are set (e.g. ":162")
testdata/invalid-monitor-thresholds.yaml:14: monitor.samples.retention.raw: 30m: want 0 (keep forever) or at least 1h`,
		// Issue 17 item 5: every problem of every target at once.
		"invalid-monitor-many-errors.yaml": `testdata/invalid-monitor-many-errors.yaml:4: monitor.targets[0].name: "bad name!": want 1-128 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit
testdata/invalid-monitor-many-errors.yaml:5: monitor.targets[0].address: required (IP address or host name)
testdata/invalid-monitor-many-errors.yaml:6: monitor.targets[0].ping.interval: 500ms: must be at least 1s
testdata/invalid-monitor-many-errors.yaml:6: monitor.targets[0].ping.packets: 200: want 1 to 100
testdata/invalid-monitor-many-errors.yaml:6: monitor.targets[0].ping.packet_interval: 1.25ms: must be at least 10ms
testdata/invalid-monitor-many-errors.yaml:7: monitor.targets[0].snmp.version: "v9": want v2c or v3
testdata/invalid-monitor-many-errors.yaml:7: monitor.targets[0].snmp.port: 70000: want 1 to 65535
testdata/invalid-monitor-many-errors.yaml:11: monitor.targets[1].services[0].type: "smtp": want tcp, http or postgres
testdata/invalid-monitor-many-errors.yaml:12: monitor.targets[1].services[1].down_after: 5000: want 1 to 1000 checks
testdata/invalid-monitor-many-errors.yaml:12: monitor.targets[1].services[1].port: required for tcp checks without address
testdata/invalid-monitor-many-errors.yaml:13: monitor.targets[1].processes: need an snmp block (processes are counted through HOST-RESOURCES-MIB)
testdata/invalid-monitor-many-errors.yaml:14: monitor.targets[1].processes[0].name: "/usr/sbin/sshd": the process name as in hrSWRunName, without path or spaces
testdata/invalid-monitor-many-errors.yaml:16: monitor.targets[1].thresholds[0].warning: set warning, critical or both
testdata/invalid-monitor-many-errors.yaml:16: monitor.targets[1].thresholds[0].for: 2000: want 1 to 1000 samples`,
		// Issue 17 item 6: a zero written in the file is not "default".
		"invalid-monitor-zeros.yaml": `testdata/invalid-monitor-zeros.yaml:3: monitor.snmp_poller.workers: 0: not a valid value here (leave the key out for the default, 64)
testdata/invalid-monitor-zeros.yaml:4: monitor.history.recent: 0: not a valid value here (leave the key out for the default, 20)
testdata/invalid-monitor-zeros.yaml:8: monitor.targets[0].ping.packets: 0: not a valid value here (leave the key out for the default, 3)
testdata/invalid-monitor-zeros.yaml:8: monitor.targets[0].ping.down_after: 0: not a valid value here (leave the key out for the default, 3)
testdata/invalid-monitor-zeros.yaml:8: monitor.targets[0].ping.max_loss: 0: not a valid value here (leave the key out for the default, 100)
testdata/invalid-monitor-zeros.yaml:8: monitor.targets[0].ping.interval: 0s: not a valid value here (leave the key out for the default, 10s)
testdata/invalid-monitor-zeros.yaml:10: monitor.targets[0].snmp.port: 0: not a valid value here (leave the key out for the default, 161)
testdata/invalid-monitor-zeros.yaml:11: monitor.targets[0].snmp.interval: 0s: not a valid value here (leave the key out for the default, 1m)
testdata/invalid-monitor-zeros.yaml:12: monitor.targets[0].snmp.timeout: 0s: not a valid value here (leave the key out for the default, 10s)
testdata/invalid-monitor-zeros.yaml:13: monitor.targets[0].snmp.max_repetitions: 0: not a valid value here (leave the key out for the default, 25)
testdata/invalid-monitor-zeros.yaml:16: monitor.targets[0].snmp.oids[0].oid: "99999999999999999999.1": arc 1: arc larger than 4294967295 (32 bits)
testdata/invalid-monitor-zeros.yaml:18: monitor.targets[0].services[0].timeout: 0s: not a valid value here (leave the key out for the default, 5s)
testdata/invalid-monitor-zeros.yaml:20: monitor.targets[0].processes[0].min: 0: not a valid value here (leave the key out for the default, 1)
testdata/invalid-monitor-zeros.yaml:22: monitor.thresholds[0].for: 0: not a valid value here (leave the key out for the default, 1)
testdata/invalid-monitor-zeros.yaml:23: monitor.syslog.queue_size: 0: not a valid value here (leave the key out for the default, 1048576)
testdata/invalid-monitor-zeros.yaml:23: monitor.syslog.workers: 0: not a valid value here (leave the key out for the default, 2)
testdata/invalid-monitor-zeros.yaml:24: monitor.traps.workers: 0: not a valid value here (leave the key out for the default, 2)
testdata/invalid-monitor-zeros.yaml:27: jobnets[0].misfire.grace: 0s: want more than 0
testdata/invalid-monitor-zeros.yaml:29: jobnets[0].triggers[0].file.poll: 0s: want more than 0`,
		"invalid-monitor-traps-security.yaml": `testdata/invalid-monitor-traps-security.yaml:4: monitor.traps.allow_sources[1]: "10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?
testdata/invalid-monitor-traps-security.yaml:9: monitor.traps.users[0].min_level: "authPriv" needs priv_protocol`,
		"invalid-duration-type.yaml":         `testdata/invalid-duration-type.yaml:3: http.read_timeout: "abc" is not a duration`,
		"invalid-duration-unitless.yaml":     `testdata/invalid-duration-unitless.yaml:2: pipeline.ack_wait: 30 is not a duration (write the unit, e.g. "30s")`,
		"invalid-driver.yaml":                `testdata/invalid-driver.yaml:5: ledger.driver: "mysql": want sqlite or postgres`,
		"invalid-postgres-no-url.yaml":       `testdata/invalid-postgres-no-url.yaml:2: ledger.postgres.url: required when ledger.driver is postgres`,
		"invalid-postgres-url.yaml":          `testdata/invalid-postgres-url.yaml:4: ledger.postgres.url: not a postgres:// or postgresql:// URL`,
		"invalid-postgres-max-conns.yaml":    `testdata/invalid-postgres-max-conns.yaml:3: ledger.postgres.max_conns: 0: want 1..256`,
		"invalid-listen-no-port.yaml":        `testdata/invalid-listen-no-port.yaml:2: http.listen: "localhost": missing port in address, want host:port`,
		"invalid-listen-port-range.yaml":     `testdata/invalid-listen-port-range.yaml:2: http.listen: "127.0.0.1:99999": port 99999 out of range 0..65535`,
		"invalid-listen-port-name.yaml":      `testdata/invalid-listen-port-name.yaml:2: http.listen: "127.0.0.1:http": port "http" is not a number`,
		"invalid-embedded-listen-clash.yaml": `testdata/invalid-embedded-listen-clash.yaml:6: nats.embedded.listen: "127.0.0.1:9780": already used by http.listen`,
		"invalid-max-age.yaml":               `testdata/invalid-max-age.yaml:3: nats.stream.max_age: 30s: want at least 1m`,
		"invalid-duplicate-window.yaml":      `testdata/invalid-duplicate-window.yaml:4: nats.stream.duplicate_window: 2h: want at most nats.stream.max_age (1h)`,
		"invalid-spool-max-bytes.yaml":       `testdata/invalid-spool-max-bytes.yaml:3: nats.spool.max_bytes: 1000: want at least 1048576 (1 MiB)`,
		"invalid-replicas.yaml":              `testdata/invalid-replicas.yaml:4: nats.stream.replicas: 7: want 1..5`,
		"invalid-replicas-embedded.yaml":     `testdata/invalid-replicas-embedded.yaml:3: nats.stream.replicas: 3: the embedded NATS server is a single server, want 1 (or set nats.embedded.cluster, or nats.url to a cluster)`,
		"invalid-nats-url.yaml":              `testdata/invalid-nats-url.yaml:2: nats.url: "http://u:xxxxx@10.0.0.2:4222": want nats://host:port[,nats://host:port...]`,
		"invalid-node-name.yaml":             `testdata/invalid-node-name.yaml:2: node.name: "Node_1!": want 1 to 63 of a-z, 0-9, '-', '_', '.', starting with a letter or digit`,
		"invalid-data-dir-empty.yaml":        `testdata/invalid-data-dir-empty.yaml:2: node.data_dir: must not be empty`,
		"invalid-syntax.yaml":                `testdata/invalid-syntax.yaml:3: mapping values are not allowed in this context`,
		"invalid-tab.yaml":                   `testdata/invalid-tab.yaml:2: found character that cannot start any token`,
		"invalid-duplicate-key.yaml":         `testdata/invalid-duplicate-key.yaml:4: log.level: duplicate key (first at line 2)`,
		"invalid-not-mapping.yaml":           `testdata/invalid-not-mapping.yaml:1: want a mapping of sections at the top level, got a list`,
		"invalid-section-scalar.yaml":        `testdata/invalid-section-scalar.yaml:1: http: want a mapping, got 9780`,
		"invalid-string-list.yaml":           `testdata/invalid-string-list.yaml:2: node.site: want a string, got a list`,
		"invalid-two-documents.yaml":         `testdata/invalid-two-documents.yaml:3: a second YAML document; want one`,
		"invalid-bool.yaml":                  `testdata/invalid-bool.yaml:3: nats.embedded.sync_always: "yes" is not a boolean (want true or false)`,
		"invalid-int-float.yaml":             `testdata/invalid-int-float.yaml:2: pipeline.batch_size: 1.5 is not an integer`,
		"invalid-int-string.yaml":            `testdata/invalid-int-string.yaml:2: pipeline.batch_size: "many" is not an integer`,
		"invalid-batch-size.yaml":            `testdata/invalid-batch-size.yaml:2: pipeline.batch_size: 0: want 1..10000`,
		"invalid-nats-auth-callout.yaml": `testdata/invalid-nats-auth-callout.yaml:4: nats.auth_callout.issuer_seed: not an account NKey seed (want SA...; ` + "`nsc generate nkey --account` or `unyo agent nkey --account FILE`" + ` makes one)
testdata/invalid-nats-auth-callout.yaml:5: nats.auth_callout.account: "UNYO.X": want the server account of the nodes' user (1 to 64 of A-Z, a-z, 0-9, '-', '_')
testdata/invalid-nats-auth-callout.yaml:6: nats.auth_callout.ttl: 10s: want at least 1m`,
		"invalid-agents-external-no-callout.yaml": `testdata/invalid-agents-external-no-callout.yaml:4: agents.enabled: with an external NATS (nats.url) enrolled agents connect only through its auth callout: set nats.auth_callout (docs/bus.md)`,
		"invalid-nats-auth-callout-embedded.yaml": `testdata/invalid-nats-auth-callout-embedded.yaml:2: nats.auth_callout.issuer_seed: the auth callout is for an external NATS: set nats.url (the embedded server asks the registry itself)
testdata/invalid-nats-auth-callout-embedded.yaml:2: nats.auth_callout.issuer_seed: required: the account NKey seed (SA...) whose public key is the server's auth_callout issuer, as file:PATH or ${env:NAME}`,
		"invalid-external-url.yaml": `testdata/invalid-external-url.yaml:2: http.external_url: "console.example.com": want an absolute http:// or https:// URL`,
		"invalid-max-backoff.yaml":  `testdata/invalid-max-backoff.yaml:3: pipeline.max_backoff: 2s: want at least pipeline.retry_backoff (5s)`,
		"invalid-zero-timeout.yaml": `testdata/invalid-zero-timeout.yaml:2: http.write_timeout: 0s: want more than 0`,
		"invalid-merge-self.yaml":   `testdata/invalid-merge-self.yaml:1: log: << merges a mapping into itself`,
		// jobnets (configs/jobnet.go)
		"invalid-jobnet-cycle.yaml":        `testdata/invalid-jobnet-cycle.yaml:3: jobnets[0].jobs: cycle a → b → c → a`,
		"invalid-jobnet-unknown-need.yaml": `testdata/invalid-jobnet-unknown-need.yaml:8: jobnets[0].jobs[1].needs[1]: "x": no such job in jobnet "nightly"`,
		"invalid-jobnet-cron.yaml": `testdata/invalid-jobnet-cron.yaml:4: jobnets[0].schedules[0].cron: "61 * * * *": end of range (61) above maximum (59): 61
testdata/invalid-jobnet-cron.yaml:6: jobnets[0].schedules[1].cron: "0 2 * *": expected exactly 5 fields, found 4: [0 2 * *]
testdata/invalid-jobnet-cron.yaml:7: jobnets[0].schedules[1].time_zone: "Mars/Olympus": unknown time zone`,
		"invalid-jobnet-fields.yaml": `testdata/invalid-jobnet-fields.yaml:3: jobnets[0].concurrency: "sometimes": want forbid, allow or replace
testdata/invalid-jobnet-fields.yaml:4: jobnets[0].misfire.max: 0: want at least 1 with policy catch_up
testdata/invalid-jobnet-fields.yaml:8: jobnets[0].jobs[0].end_codes.warning[0]: 2-5 overlaps 0-2
testdata/invalid-jobnet-fields.yaml:9: jobnets[0].jobs[0].retry.on[0]: "x": want an end code N, a range N-M or N-
testdata/invalid-jobnet-fields.yaml:10: jobnets[0].jobs[0].run_on: want at most one of node, agent and tag
testdata/invalid-jobnet-fields.yaml:11: jobnets[0].jobs[1].name: "a": already the name of jobs[0]
testdata/invalid-jobnet-fields.yaml:13: jobnets[0].jobs[1].jobnet: "nope": no such jobnet`,
		"invalid-alerting-missing-role.yaml": `testdata/invalid-alerting-missing-role.yaml:17: alerting.policies[0].steps[1].roles[0]: "operations-se": no such role in alerting.roles`,
		"invalid-alerting-mail-channel.yaml": `testdata/invalid-alerting-mail-channel.yaml:12: alerting.policies[0].steps[0].channels[0]: mail: set alerting.smtp.host to send mail`,
		"invalid-alerting-contacts.yaml": `testdata/invalid-alerting-contacts.yaml:4: alerting.calendars[0].time_zone: "Asia/Tokio": unknown time zone
testdata/invalid-alerting-contacts.yaml:5: alerting.calendars[0].days[1]: "fry": want mon, tue, wed, thu, fri, sat or sun
testdata/invalid-alerting-contacts.yaml:6: alerting.calendars[0].from: "9am": want HH:MM
testdata/invalid-alerting-contacts.yaml:9: alerting.contacts[0].mail[0]: "not-an-address": not a mail address
testdata/invalid-alerting-contacts.yaml:10: alerting.contacts[1].name: "desk": a second one with this name in alerting.contacts
testdata/invalid-alerting-contacts.yaml:13: alerting.roles[0].contacts[1]: "ghost": no such contact in alerting.contacts
testdata/invalid-alerting-contacts.yaml:14: alerting.roles[0].calendar: "office-hours": no such calendar in alerting.calendars`,
		"invalid-log-level.yaml": `testdata/invalid-log-level.yaml:2: log.level: "verbose": want debug, info, warn or error
testdata/invalid-log-level.yaml:3: log.format: "logfmt": want text or json`,
		// nats.embedded.cluster
		"invalid-nats-cluster.yaml": `testdata/invalid-nats-cluster.yaml:4: nats.embedded.cluster.name: "unyo prod": want 1 to 64 of A-Z, a-z, 0-9, '-', '_'
testdata/invalid-nats-cluster.yaml:5: nats.embedded.cluster.listen: "127.0.0.1:9781": already used by cluster.bind
testdata/invalid-nats-cluster.yaml:8: nats.embedded.cluster.routes[1]: "http://10.0.0.2:6222": want nats-route://host:port or host:port
testdata/invalid-nats-cluster.yaml:9: nats.embedded.cluster.routes[2]: "10.0.0.3": want a port 1..65535
testdata/invalid-nats-cluster.yaml:11: nats.stream.replicas: 5: want at most 4, the number of nats.embedded.cluster.routes + 1`,
		"invalid-nats-cluster-routes.yaml": `testdata/invalid-nats-cluster-routes.yaml:4: nats.embedded.cluster.listen: required when nats.embedded.cluster.routes is set (host:port for routes from the other nodes)
testdata/invalid-nats-cluster-routes.yaml:6: nats.stream.replicas: 3: the embedded NATS server is a single server, want 1 (or set nats.embedded.cluster, or nats.url to a cluster)`,
		"invalid-nats-cluster-tls.yaml": `testdata/invalid-nats-cluster-tls.yaml:7: nats.embedded.cluster.tls.cert_file: "testdata/tls/node1.pem": no such file
testdata/invalid-nats-cluster-tls.yaml:8: nats.embedded.cluster.tls.key_file: required with the other nats.embedded.cluster.tls files (cert_file, key_file, ca_file)
testdata/invalid-nats-cluster-tls.yaml:9: nats.embedded.cluster.tls.ca_file: "testdata": a directory, want a file`,
		"invalid-cluster-join-token.yaml": `testdata/invalid-cluster-join-token.yaml:3: cluster.join_token: not a join token: want unyoj_ and at least 22 more characters
testdata/invalid-cluster-join-token.yaml:4: cluster.bootstrap_join_token: not a join token: want unyoj_ and at least 22 more characters
testdata/invalid-cluster-join-token.yaml:4: cluster.bootstrap_join_token: only the node that bootstraps the cluster (cluster.bootstrap, or no cluster.join) records one
testdata/invalid-cluster-join-token.yaml:5: cluster.bootstrap_join_token_ttl: 1000h: at most 720h`,
		"invalid-cluster-raft.yaml": `testdata/invalid-cluster-raft.yaml:3: cluster.raft.heartbeat_timeout: 50ms: want 100ms to 10s
testdata/invalid-cluster-raft.yaml:4: cluster.raft.election_timeout: 40s: want 100ms to 10s
testdata/invalid-cluster-raft.yaml:5: cluster.raft.leader_lease_timeout: 1s: want at most heartbeat_timeout (50ms)`,
		"invalid-nats-cluster-no-routes.yaml": `testdata/invalid-nats-cluster-no-routes.yaml:4: nats.embedded.cluster.routes: required when nats.embedded.cluster.listen is set: the nodes' route addresses, e.g. [nats-route://10.0.0.1:6222]`,
		"invalid-runbook.yaml": "testdata/invalid-runbook.yaml:3: monitor.thresholds[0].runbook: unknown runbook \"RB-DISK-01\" (see `unyo runbook list`; site runbooks go in runbooks.dir)\n" +
			"testdata/invalid-runbook.yaml:9: jobnets[0].jobs[0].runbook: unknown runbook \"no-such-book\" (see `unyo runbook list`; site runbooks go in runbooks.dir)",
		"invalid-http-insecure.yaml":      `testdata/invalid-http-insecure.yaml:3: http.listen: "0.0.0.0:9780": plain HTTP on an address other than loopback: set http.tls (cert_file, key_file) to serve HTTPS, or http.insecure: true to accept plain HTTP on this network`,
		"invalid-http-insecure-host.yaml": `testdata/invalid-http-insecure-host.yaml:2: http.listen: "unyo1.example.net:9780": plain HTTP on an address other than loopback: set http.tls (cert_file, key_file) to serve HTTPS, or http.insecure: true to accept plain HTTP on this network`,
		"invalid-http-tls.yaml": `testdata/invalid-http-tls.yaml:4: http.tls.cert_file: required with http.tls.key_file
testdata/invalid-http-tls.yaml:4: http.tls.key_file: "testdata/tls/node1-key.pem": no such file
testdata/invalid-http-tls.yaml:5: http.tls.client_auth: "always": want require or verify_if_given
testdata/invalid-http-tls.yaml:6: http.tls.ca_file: "testdata": a directory, want a file`,
		"invalid-http-tls-client-ca.yaml": `testdata/invalid-http-tls-client-ca.yaml:3: http.tls.cert_file: required when http.tls.client_ca_file is set (client certificates need an HTTPS listener)
testdata/invalid-http-tls-client-ca.yaml:3: http.tls.client_ca_file: "testdata/valid-empty.yaml": no PEM certificate in it`,
		"invalid-jobnet-params.yaml": `testdata/invalid-jobnet-params.yaml:6: jobnets[0].params[0].default: "latest" does not match the pattern v[0-9]+
testdata/invalid-jobnet-params.yaml:7: jobnets[0].params[1].name: "version": already declared by params[0]
testdata/invalid-jobnet-params.yaml:8: jobnets[0].params[2].name: "trigger": reserved (a trigger sets it to what fired the run)
testdata/invalid-jobnet-params.yaml:9: jobnets[0].params[3].name: "bad name": want 1 to 64 of A-Z, a-z, 0-9, '_', '.', '-'
testdata/invalid-jobnet-params.yaml:11: jobnets[0].params[4].pattern: "[a-z": error parsing regexp: missing closing ]: ` + "`[a-z`" + `
testdata/invalid-jobnet-params.yaml:13: jobnets[0].params[5].default: "rm -rf /" does not match the pattern [A-Za-z0-9._-]{0,256} (the default pattern)
testdata/invalid-jobnet-params.yaml:16: jobnets[0].jobs[0].command: "/usr/local/bin/${tool}": may not refer to a parameter (${tool}): a parameter never becomes a command path; pass it in args or env
testdata/invalid-jobnet-params.yaml:17: jobnets[0].jobs[0].args[1]: "${nosuch}": no parameter "nosuch" in this jobnet's params
testdata/invalid-jobnet-params.yaml:18: jobnets[0].jobs[0].env.HOME: "${home}": no parameter "home" in this jobnet's params
testdata/invalid-jobnet-params.yaml:21: jobnets[0].jobs[1].dir: "/srv/${version}": may not refer to a parameter (${version}) with a relative command "./deploy.sh": the command would be looked up in it
testdata/invalid-jobnet-params.yaml:23: jobnets[0].jobs[2].command: "${tool}": may not refer to a parameter (${tool}): a parameter never becomes a command path; pass it in args or env
testdata/invalid-jobnet-params.yaml:26: jobnets[0].jobs[3].args[1]: "echo ${version}": a parameter (${version}) in the arguments of a shell (/bin/bash) would run as shell code: pass it in env (e.g. P: "${version}") and write "$P" in the script`,
		"invalid-jobnet-params-map.yaml": `testdata/invalid-jobnet-params-map.yaml:4: jobnets[0].params[1].default: want a string, got a list
testdata/invalid-jobnet-params-map.yaml:5: jobnets[0].params[2].default: "a b" does not match the pattern [A-Za-z0-9._-]{0,256} (the default pattern)`,
		// Every problem, decode and validation alike, one per line, by line.
		"invalid-jobnet-agent-unknown.yaml": `testdata/invalid-jobnet-agent-unknown.yaml:10: jobnets[0].jobs[1].run_on.agent: "web02": not in nats.embedded.agents, so no such agent can connect to this node's NATS
testdata/invalid-jobnet-agent-unknown.yaml:11: jobnets[0].jobs[2].run_on.tag: "windows": no agent of nats.embedded.agents has this tag, so no agent may take its tasks`,
		"invalid-nats-agents.yaml": `testdata/invalid-nats-agents.yaml:5: nats.embedded.agents[0].name: "web.01": want 1 to 63 of A-Z, a-z, 0-9, '-', '_', starting with a letter or digit
testdata/invalid-nats-agents.yaml:6: nats.embedded.agents[1].tags[1]: "a b": want 1 to 63 of A-Z, a-z, 0-9, '-', '_', starting with a letter or digit
testdata/invalid-nats-agents.yaml:6: nats.embedded.agents[1].password: shorter than 16 characters
testdata/invalid-nats-agents.yaml:7: nats.embedded.agents[2].name: "db01": also the name of nats.embedded.agents[1]
testdata/invalid-nats-agents.yaml:7: nats.embedded.agents[2].nkey: "UNOTAKEY": want a public user NKey (U and 55 characters of A-Z, 2-7, with a valid checksum)
testdata/invalid-nats-agents.yaml:8: nats.embedded.agents[3].password: want a password or an nkey
testdata/invalid-nats-agents.yaml:9: nats.embedded.agents[4].nkey: want a password or an nkey, not both`,
		"invalid-nats-client-tls.yaml": `testdata/invalid-nats-client-tls.yaml:3: nats.embedded.listen: required when nats.embedded.tls is set
testdata/invalid-nats-client-tls.yaml:3: nats.embedded.tls.key_file: required with nats.embedded.tls (cert_file and key_file; ca_file to verify clients)
testdata/invalid-nats-client-tls.yaml:4: nats.embedded.tls.cert_file: "testdata/tls/nats.pem": no such file
testdata/invalid-nats-client-tls.yaml:6: nats.task_signing.trusted_keys[0]: "testdata/keys/node2.pub": no such file
testdata/invalid-nats-client-tls.yaml:7: nats.task_signing.ttl: 1s: want at least 10s`,
		"invalid-many.yaml": `testdata/invalid-many.yaml:4: http.listen: "nowhere": missing port in address, want host:port
testdata/invalid-many.yaml:5: http.read_timeout: "soon" is not a duration
testdata/invalid-many.yaml:7: nats.urll: unknown field
testdata/invalid-many.yaml:9: ledger.postgres.url: required when ledger.driver is postgres
testdata/invalid-many.yaml:11: log.level: "loud": want debug, info, warn or error`,
	}

	files, err := filepath.Glob("testdata/invalid-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := tests[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expected error in the table", f)
		}
	}

	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			c, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = nil error, want\n%s\nconfig:\n%s", path, want, c)
			}
			if c != nil {
				t.Errorf("Load returned a config with an error")
			}
			if got := err.Error(); got != want {
				t.Fatalf("Load(%s) error\n got: %s\nwant: %s", path, got, want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("errors.As(*Error) failed for %T", err)
			}
			if ce.File != path || ce.Line <= 0 {
				t.Errorf("first *Error = %+v, want File %q and a line", ce, path)
			}
			if n := len(Errors(err)); n != strings.Count(want, "\n")+1 {
				t.Errorf("Errors() has %d errors, want one per line of the message", n)
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	_, err := Parse("dir/bad.yaml", []byte("node:\n  name: n1\nledger:\n  driver: mysql\n"))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *Error", err)
	}
	want := Error{File: "dir/bad.yaml", Line: 4, Field: "ledger.driver", Msg: `"mysql": want sqlite or postgres`}
	if *ce != want {
		t.Errorf("got %+v, want %+v", *ce, want)
	}
	if got, want := ce.Error(), `dir/bad.yaml:4: ledger.driver: "mysql": want sqlite or postgres`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&Error{Field: "x", Msg: "m"}).Error(), "<config>: x: m"; got != want {
		t.Errorf("Error() with no file or line = %q, want %q", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-file.yaml")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "testdata/no-such-file.yaml") {
		t.Fatalf("err = %v, want a not-exist error naming the file", err)
	}
}

func TestLoadGoodConfigs(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, c *Config)
	}{
		{"testdata/valid-empty.yaml", func(t *testing.T, c *Config) {
			want := Default()
			want.Node.DataDir = "testdata/data"
			want.NATS.Embedded.StoreDir = "testdata/data/jetstream"
			want.NATS.Spool.Dir = "testdata/data/spool"
			want.Ledger.SQLite.Path = "testdata/data/ledger.db"
			want.NATS.TaskSigning.KeyFile = "testdata/data/task-signing.key"
			want.Auth.AdminTokenFile = "testdata/data/admin.token"
			want.Hash, want.Source = c.Hash, c.Source
			if !reflect.DeepEqual(c, want) {
				t.Errorf("empty file\n got: %s\nwant: %s", c, want)
			}
		}},
		{"testdata/valid-comments.yaml", nil},
		{"testdata/valid-trailing-separator.yaml", func(t *testing.T, c *Config) {
			if c.Log.Level != "debug" {
				t.Errorf("log.level = %q, want debug", c.Log.Level)
			}
		}},
		{"testdata/valid-null-sections.yaml", func(t *testing.T, c *Config) {
			if c.HTTP.Listen != "127.0.0.1:9780" || c.Log.Level != "info" {
				t.Errorf("null sections did not keep defaults: %s", c)
			}
		}},
		{"testdata/valid-merge.yaml", func(t *testing.T, c *Config) {
			if c.HTTP.ReadTimeout != 5*time.Second || c.Pipeline.AckWait != time.Minute || c.Pipeline.MaxBackoff != 2*time.Minute {
				t.Errorf("merge keys: %s", c)
			}
		}},
		{"testdata/valid-custom.yaml", func(t *testing.T, c *Config) {
			checks := []struct{ got, want any }{
				{c.Node.Name, "edge-01.tokyo"},
				{c.Node.DataDir, "/var/lib/unyo"},
				{c.Node.Site, "tokyo-1"},
				{c.HTTP.ExternalURL, "http://localhost:8080"},
				{c.NATS.URLs(), []string{"nats://10.0.0.1:4222", "tls://10.0.0.2:4222"}},
				{c.NATS.IsEmbedded(), false},
				{c.NATS.Stream.Replicas, 3},
				{c.NATS.Embedded.StoreDir, "/var/lib/unyo/jetstream"},
				{c.Ledger.SQLite.Path, "testdata/ledger/unyo.db"},
				{c.Log.Format, "json"},
				{c.Log.SlogLevel(), slog.LevelDebug},
			}
			for i, ck := range checks {
				if !reflect.DeepEqual(ck.got, ck.want) {
					t.Errorf("check %d: got %#v, want %#v", i, ck.got, ck.want)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			c, err := Load(tt.file)
			if err != nil {
				t.Fatalf("Load(%s): %v", tt.file, err)
			}
			if c.Source != tt.file || len(c.Hash) != 64 {
				t.Errorf("Source = %q, Hash = %q", c.Source, c.Hash)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestExamples(t *testing.T) {
	c, err := Load("single-node.yaml")
	if err != nil {
		t.Fatalf("single-node.yaml: %v", err)
	}
	if !c.NATS.IsEmbedded() || c.Ledger.Driver != DriverSQLite {
		t.Errorf("single-node.yaml is not on the embedded default: %s", c)
	}
	if c.Node.Name != "node1" || c.Node.DataDir != "data/node1" || c.Ledger.SQLite.Path != "data/node1/ledger.db" {
		t.Errorf("single-node.yaml: unexpected node or paths: %s", c)
	}

	p, err := Load("postgres.yaml")
	if err != nil {
		t.Fatalf("postgres.yaml: %v", err)
	}
	if p.Ledger.Driver != DriverPostgres ||
		string(p.Ledger.Postgres.URL) != "postgres://postgres@127.0.0.1:5432/unyo?sslmode=disable" {
		t.Errorf("postgres.yaml: ledger = %+v", p.Ledger)
	}
}

// TestExampleHasEveryKey keeps single-node.yaml a complete example: it must
// write out every key of Config.
func TestExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile("single-node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseYAML("single-node.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	d := &decoder{file: "single-node.yaml", lines: map[string]int{}}
	c := &Config{}
	d.decodeRoot(root, reflect.ValueOf(c).Elem())
	// List items are shown once each: alerting.roles[0].name counts for
	// alerting.roles[].name.
	shown := map[string]bool{}
	for p := range d.lines {
		shown[regexp.MustCompile(`\[\d+\]`).ReplaceAllString(p, "[]")] = true
	}
	for _, p := range keyPaths(reflect.TypeOf(Config{}), "") {
		if !shown[p] {
			t.Errorf("single-node.yaml does not show %s", p)
		}
	}
}

// TestReferenceHasEveryKey keeps docs/configuration.md in step with Config.
func TestReferenceHasEveryKey(t *testing.T) {
	data, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	paths := keyPaths(reflect.TypeOf(Config{}), "")
	if len(paths) < 20 {
		t.Fatalf("only %d key paths found; keyPaths is broken", len(paths))
	}
	for _, p := range paths {
		if !strings.Contains(doc, "`"+p+"`") {
			t.Errorf("docs/configuration.md does not document `%s`", p)
		}
	}
}

// keyPaths lists the key path of every field of t and its sections, nested
// structs included (leaf keys and the sections holding them). Slices and
// maps of structs add "[]" or ".<name>" to the path.
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			if strings.Contains(f.Tag.Get("yaml"), ",inline") && f.Type.Kind() == reflect.Struct {
				out = append(out, keyPaths(f.Type, prefix)...) // its keys are the parent's
			}
			continue
		}
		p := join(prefix, name)
		out = append(out, p)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}):
			out = append(out, keyPaths(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, keyPaths(ft.Elem(), p+"[]")...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			out = append(out, keyPaths(ft.Elem(), p+".<name>")...)
		}
	}
	return out
}

// TestEveryFieldIsASection: a top-level field that is not a section would be
// neither defaulted nor validated.
func TestEveryFieldIsASection(t *testing.T) {
	c := &Config{}
	var names []string
	for _, s := range c.sections() {
		names = append(names, s.name)
	}
	rt := reflect.TypeOf(*c)
	var want []string
	for i := 0; i < rt.NumField(); i++ {
		if n := yamlName(rt.Field(i)); n != "" {
			want = append(want, n)
		}
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("sections %v, yaml fields %v: every yaml field of Config must implement section", names, want)
	}
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if errs := c.validate(); len(errs) > 0 {
		t.Fatalf("Default() does not validate: %v", errs)
	}
	if c.Node.Name != "test-host.example" {
		t.Errorf("default node.name = %q, want the lower-cased host name", c.Node.Name)
	}
	if c.HTTP.ExternalURL != "http://127.0.0.1:9780" || c.Ledger.SQLite.Path != "data/ledger.db" {
		t.Errorf("derived defaults: %s", c)
	}
	for _, want := range []string{" max_age: 72h\n", " duplicate_window: 10m\n", " read_timeout: 10s\n"} {
		if !strings.Contains(c.String(), want) {
			t.Errorf("String() lacks %q:\n%s", want, c)
		}
	}
	// The printed default loads back to itself.
	back, err := Parse("default.yaml", []byte(c.String()))
	if err != nil {
		t.Fatalf("Default().String() does not load: %v\n%s", err, c)
	}
	back.Hash, back.Source = "", ""
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip\n got: %s\nwant: %s", back, c)
	}
}

func TestDefaultNodeName(t *testing.T) {
	defer func(h func() (string, error)) { hostname = h }(hostname)
	for host, want := range map[string]string{
		"web01":                  "web01",
		"WEB01.Example.COM":      "web01.example.com",
		"ホスト":                    "node",
		"_x y":                   "x-y",
		strings.Repeat("a", 100): strings.Repeat("a", 63),
		"":                       "node",
	} {
		hostname = func() (string, error) { return host, nil }
		if got := defaultNodeName(); got != want {
			t.Errorf("host %q: node name %q, want %q", host, got, want)
		}
	}
	hostname = func() (string, error) { return "", errors.New("no host name") }
	if got := defaultNodeName(); got != "node" {
		t.Errorf("no host name: %q, want node", got)
	}
}

func TestNATSPasswordNeverPrints(t *testing.T) {
	const pw = "hunter2"
	raw := "nats://unyo:" + pw + "@127.0.0.1:4222, nats://127.0.0.1:4223"
	c, err := Parse("s.yaml", []byte("nats:\n  url: "+strconv.Quote(raw)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(c.NATS.URL) != raw || !slices.Equal(c.NATS.URLs(), []string{"nats://unyo:" + pw + "@127.0.0.1:4222", "nats://127.0.0.1:4223"}) {
		t.Fatalf("the URL itself was changed: %q, %q", string(c.NATS.URL), c.NATS.URLs())
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for how, out := range map[string]string{"String": c.String(), "json": string(j),
		"%v": fmt.Sprintf("%v", c.NATS), "%+v": fmt.Sprintf("%+v", c.NATS), "%#v": fmt.Sprintf("%#v", c.NATS)} {
		if strings.Contains(out, pw) {
			t.Errorf("%s prints the password: %s", how, out)
		}
		if !strings.Contains(out, "unyo:xxxxx@127.0.0.1:4222") || !strings.Contains(out, "nats://127.0.0.1:4223") {
			t.Errorf("%s does not show the URLs, password redacted: %s", how, out)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const pw = "hunter2"
	c, err := Parse("s.yaml", []byte("ledger:\n  driver: postgres\n  postgres:\n    url: postgres://unyo:"+pw+"@db:5432/unyo\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(c.Ledger.Postgres.URL), pw) {
		t.Fatalf("the secret itself was lost: %q", string(c.Ledger.Postgres.URL))
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"String":    c.String(),
		"json":      string(j),
		"%v":        fmt.Sprintf("%v", c.Ledger),
		"%+v":       fmt.Sprintf("%+v", c.Ledger),
		"%#v":       fmt.Sprintf("%#v", c.Ledger),
		"%s":        fmt.Sprintf("%s", c.Ledger.Postgres.URL),
		"%q":        fmt.Sprintf("%q", c.Ledger.Postgres.URL),
		"%x":        fmt.Sprintf("%x", c.Ledger.Postgres.URL),
		"Secret.St": c.Ledger.Postgres.URL.String(),
	}
	for how, out := range outputs {
		if strings.Contains(out, pw) {
			t.Errorf("%s prints the secret: %s", how, out)
		}
	}
	if !strings.Contains(c.String(), "url: <secret>") {
		t.Errorf("String() does not show <secret>:\n%s", c)
	}
	if !strings.Contains(string(j), `"url":"\u003csecret\u003e"`) {
		t.Errorf("JSON does not show <secret>: %s", j)
	}
	if got := Secret("").String(); got != "" {
		t.Errorf("empty secret prints %q, want \"\"", got)
	}

	// Nor does a validation error quote it.
	_, err = Parse("s.yaml", []byte("ledger:\n  postgres:\n    url: mysql://unyo:"+pw+"@db/unyo\n"))
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("error %v quotes the secret", err)
	}
}

func TestHash(t *testing.T) {
	a, err := Parse("a.yaml", []byte("log:\n  level: info\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("a.yaml", []byte("log:\n  level: info # same\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte("log:\n  level: info\n")); a.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("Hash = %q, want the hex SHA-256 of the bytes", a.Hash)
	}
	if a.Hash == b.Hash {
		t.Errorf("different bytes, same hash %s", a.Hash)
	}
}

// nested is a list of lists of any depth, to expand aliases through.
type nested []nested

func TestAliasBomb(t *testing.T) {
	// The billion laughs: 10^9 nodes once aliases are expanded. The decoder
	// stops at its budget and says so.
	var b strings.Builder
	b.WriteString("a0: &a0 [[], [], [], [], [], [], [], [], [], []]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	defer func(n int) { maxNodes = n }(maxNodes)
	maxNodes = 1 << 14
	root, err := parseYAML("bomb.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		A9 nested `yaml:"a9"`
	}
	d := &decoder{file: "bomb.yaml", lines: map[string]int{}}
	d.decode(root.Content[len(root.Content)-1], reflect.ValueOf(&v.A9).Elem(), "a9")
	if len(d.errs) != 1 || !strings.Contains(d.errs[0].Error(), "document too large") {
		t.Fatalf("errors = %v, want one saying the document is too large", d.errs)
	}

	// Through Parse, aliases into the fixed schema are harmless.
	b.WriteString("node:\n  <<: *a9\n")
	if _, err := Parse("bomb.yaml", []byte(b.String())); err == nil {
		t.Fatal("no error")
	}
}

// FuzzParse: Parse never panics; an error is lines of "file[:line]: ...";
// a config it accepts prints back to YAML that loads to the same config.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("node: &n {name: a}\nhttp: *n\n"))
	f.Add([]byte("pipeline: {<<: [{ack_wait: 1s}, {batch_size: 3}]}\n"))
	f.Add([]byte("nats: {url: 'nats://a:1, nats://b'}\n"))
	f.Add([]byte("jobnets: [{name: n, params: {a: '1', 2: x}, jobs: [{name: j, command: /bin/true, args: ['${a}']}]}]\n"))
	f.Add([]byte("jobnets: [{name: n, params: [{name: a, pattern: '[0-9]+', default: '1'}], jobs: [{name: j, command: /bin/true, env: {A: '${a}'}}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatal("config and error both returned")
			}
			msg := err.Error()
			if msg == "" {
				t.Fatal("empty error")
			}
			lines := strings.Split(msg, "\n")
			if len(lines) != len(Errors(err)) {
				t.Fatalf("%d lines for %d errors: %q", len(lines), len(Errors(err)), msg)
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "fuzz.yaml") || len(l) <= len("fuzz.yaml: ") {
					t.Fatalf("bad error line %q in %q", l, msg)
				}
			}
			if !utf8.ValidString(msg) {
				t.Fatalf("error is not UTF-8: %q", msg)
			}
			return
		}
		if c == nil {
			t.Fatal("nil config and nil error")
		}
		if hasSecretValues(c) {
			return // printed as <secret>: does not load back
		}
		out := c.String()
		back, err := Parse("fuzz.yaml", []byte(out))
		if err != nil {
			t.Fatalf("printed config does not load: %v\n%s", err, out)
		}
		back.Hash, c.Hash = "", ""
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed the config\nbefore: %s\nafter: %s", c, back)
		}
	})
}
