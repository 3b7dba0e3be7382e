package node

import "testing"

// TestWithoutUserInfo: the agents are told the external servers, never
// the nodes' user and password.
func TestWithoutUserInfo(t *testing.T) {
	for in, want := range map[string]string{
		"nats://unyo:s3cret@nats1:4222":                               "nats://nats1:4222",
		"nats://unyo:s3cret@nats1:4222, tls://unyo:s3cret@nats2:4222": "nats://nats1:4222,tls://nats2:4222",
		"nats://nats1:4222":                                           "nats://nats1:4222",
		"nats://tok@nats1:4222":                                       "nats://nats1:4222",
		"nats://unyo:p%zz@nats1:4222":                                 "nats://nats1:4222",
		"":                                                            "",
	} {
		if got := withoutUserInfo(in); got != want {
			t.Errorf("withoutUserInfo(%q) = %q, want %q", in, got, want)
		}
	}
}
