package trap

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
)

// BenchmarkRefuseForgedEngineID is the cost of refusing an authPriv trap
// for a configured AES user whose digest is wrong, each with a new
// msgAuthoritativeEngineID (as a flood of forgeries would have): the
// receiver verifies the digest before gosnmp localizes any privacy key.
func BenchmarkRefuseForgedEngineID(b *testing.B) {
	cfg := Config{Users: testUsers}
	cfg.setDefaults()
	d, _ := newDecoder(&cfg)
	pkt, err := os.ReadFile("testdata/packets/v3-authpriv-coldstart.bin")
	if err != nil {
		b.Fatal(err)
	}
	h, err := parseV3Header(pkt)
	if err != nil {
		b.Fatal(err)
	}
	// The engine ID's content starts just before the user name's TLV;
	// find it by value.
	eid := -1
	for i := range pkt {
		if i+len(h.engineID) <= len(pkt) && string(pkt[i:i+len(h.engineID)]) == string(h.engineID) {
			eid = i
			break
		}
	}
	src := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	var n uint32
	for b.Loop() {
		n++
		binary.BigEndian.PutUint32(pkt[eid+len(h.engineID)-4:], n)
		if _, err := d.decode(pkt, src); err == nil {
			b.Fatal("forgery accepted")
		}
	}
}
