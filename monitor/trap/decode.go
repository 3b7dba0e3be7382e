package trap

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// Decoding errors.
var (
	ErrMalformed = errors.New("malformed SNMP packet")
	ErrNoV3Users = errors.New("SNMPv3 trap but no v3 users configured")
	ErrCommunity = errors.New("community not accepted")
	ErrNotATrap  = errors.New("not a trap or inform PDU")
	ErrV3Inform  = errors.New("SNMPv3 inform or engine discovery: not supported")
	// SNMPv3 refusals, checked by the receiver before gosnmp decodes.
	ErrSecurityModel = errors.New("SNMPv3 msgSecurityModel is not USM (3)")
	ErrUnknownUser   = errors.New("SNMPv3 user not configured")
	ErrLevel         = errors.New("SNMPv3 security level below the user's min_level")
	ErrAuth          = errors.New("SNMPv3 authentication failed")
	ErrDecrypt       = errors.New("SNMPv3 decryption failed")
	// ErrSource: the sender is outside allow_sources.
	ErrSource     = errors.New("source address not in allow_sources")
	errLibraryBug = errors.New("gosnmp panicked decoding the packet")
)

const (
	oidSnmpTrapOID = "1.3.6.1.6.3.1.1.4.1.0"
	oidSysUpTime   = "1.3.6.1.2.1.1.3.0"
	oidGenericBase = "1.3.6.1.6.3.1.1.5."
)

// Trap is a decoded trap or inform, version-independent.
type Trap struct {
	Version   string     // v1, v2c, v3
	Agent     netip.Addr // the packet's source address
	OID       string     // trap OID, numeric, no leading dot (v1: RFC 3584 translation)
	Name      string     // "IF-MIB::linkDown" when known, else ""
	Community string     // v1/v2c
	User      string     // v3
	Uptime    uint32     // sysUpTime.0 (v1: time-stamp), hundredths of a second
	Inform    bool
	Vars      []Var // the varbinds, without sysUpTime.0 and snmpTrapOID.0

	// v1 only.
	Enterprise     string
	Generic        int
	Specific       int
	V1AgentAddress string

	pkt *gosnmp.SnmpPacket // for the inform response
}

// Var is one varbind.
type Var struct {
	OID   string // numeric, no leading dot
	Name  string // "IF-MIB::ifIndex.3" when known
	Type  string // gosnmp's BER type name
	Value string // formatted: numbers in decimal, printable strings as is, other bytes in hex
}

// decoder turns datagrams into traps. It is not safe for concurrent use;
// each worker has one.
type decoder struct {
	v2          *gosnmp.GoSNMP // v1 and v2c
	v3          *gosnmp.GoSNMP // v3 with the USM users; nil without users
	users       map[string]*v3User
	communities map[string]bool
	scratch     []byte // verifyAuth's copy of the message
}

func newDecoder(cfg *Config) (*decoder, error) {
	quiet := gosnmp.NewLogger(log.New(io.Discard, "", 0))
	d := &decoder{
		v2: &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: quiet},
	}
	if len(cfg.Communities) > 0 {
		d.communities = map[string]bool{}
		for _, c := range cfg.Communities {
			d.communities[string(c)] = true
		}
	}
	if len(cfg.Users) > 0 {
		table := gosnmp.NewSnmpV3SecurityParametersTable(quiet)
		for i, u := range cfg.Users {
			ap, err := authProtocol(u.AuthProtocol)
			if err != nil {
				return nil, fmt.Errorf("users[%d].auth_protocol: %w", i, err)
			}
			pp, err := privProtocol(u.PrivProtocol)
			if err != nil {
				return nil, fmt.Errorf("users[%d].priv_protocol: %w", i, err)
			}
			sp := &gosnmp.UsmSecurityParameters{
				UserName:                 u.Name,
				AuthenticationProtocol:   ap,
				AuthenticationPassphrase: string(u.AuthPassphrase),
				PrivacyProtocol:          pp,
				PrivacyPassphrase:        string(u.PrivPassphrase),
				Logger:                   quiet,
			}
			if err := table.Add(u.Name, sp); err != nil {
				return nil, fmt.Errorf("users[%d]: %w", i, err)
			}
			lvl, err := u.minLevel()
			if err != nil {
				return nil, fmt.Errorf("users[%d].min_level: %w", i, err)
			}
			if d.users == nil {
				d.users = map[string]*v3User{}
			}
			d.users[u.Name] = &v3User{auth: ap, pass: string(u.AuthPassphrase), minLevel: lvl}
		}
		d.v3 = &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, Logger: quiet}
		d.v3.SetTrapSecurityParametersTable(table)
	}
	return d, nil
}

func authProtocol(s string) (gosnmp.SnmpV3AuthProtocol, error) {
	switch upper(s) {
	case "MD5":
		return gosnmp.MD5, nil
	case "SHA", "SHA1":
		return gosnmp.SHA, nil
	case "SHA224":
		return gosnmp.SHA224, nil
	case "SHA256":
		return gosnmp.SHA256, nil
	case "SHA384":
		return gosnmp.SHA384, nil
	case "SHA512":
		return gosnmp.SHA512, nil
	}
	return 0, fmt.Errorf("%q: want MD5, SHA, SHA224, SHA256, SHA384 or SHA512", s)
}

func privProtocol(s string) (gosnmp.SnmpV3PrivProtocol, error) {
	switch upper(s) {
	case "":
		return gosnmp.NoPriv, nil
	case "DES":
		return gosnmp.DES, nil
	case "AES", "AES128":
		return gosnmp.AES, nil
	case "AES192":
		return gosnmp.AES192, nil
	case "AES256":
		return gosnmp.AES256, nil
	case "AES192C":
		return gosnmp.AES192C, nil
	case "AES256C":
		return gosnmp.AES256C, nil
	}
	return 0, fmt.Errorf("%q: want DES, AES, AES192, AES256, AES192C or AES256C (or empty for authNoPriv)", s)
}

// peekVersion reads the version from the message header (SEQUENCE,
// INTEGER version) without decoding the rest: "v1", "v2c", "v3", or
// "unknown".
func peekVersion(b []byte) string {
	if len(b) < 2 || b[0] != 0x30 {
		return "unknown"
	}
	i := 2
	if b[1]&0x80 != 0 {
		i += int(b[1] & 0x7f)
	}
	if i+3 > len(b) || b[i] != 0x02 || b[i+1] != 1 {
		return "unknown"
	}
	switch b[i+2] {
	case 0:
		return "v1"
	case 1:
		return "v2c"
	case 3:
		return "v3"
	}
	return "unknown"
}

// decode parses one datagram from src. The returned error wraps one of the
// Err values above. gosnmp's decoder is guarded: a panic inside it is
// reported as an error, not a crash.
func (d *decoder) decode(b []byte, src netip.Addr) (*Trap, error) {
	version := peekVersion(b)
	g := d.v2
	switch version {
	case "unknown":
		return nil, fmt.Errorf("%w: no SNMP message header", ErrMalformed)
	case "v3":
		if d.v3 == nil {
			return nil, ErrNoV3Users
		}
		return d.decodeV3(b, src)
	}
	pkt, err := unmarshalGuarded(g, b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if pkt == nil {
		return nil, fmt.Errorf("%w: nothing decoded", ErrMalformed)
	}
	return d.toTrap(pkt, src)
}

// decodeV3 checks an SNMPv3 message before gosnmp decodes it, in this
// order: the header parses (else ErrMalformed); msgSecurityModel is USM
// (ErrSecurityModel); an empty user at noAuthNoPriv is engine discovery
// (ErrV3Inform); the user is configured (ErrUnknownUser); msgFlags give at
// least the user's min_level (ErrLevel); the digest verifies (ErrAuth).
// Only then does gosnmp authenticate again, decrypt (a failure with
// privacy is ErrDecrypt) and decode, and what it decoded must be the
// header read here.
func (d *decoder) decodeV3(b []byte, src netip.Addr) (*Trap, error) {
	h, err := parseV3Header(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if h.model != int64(gosnmp.UserSecurityModel) {
		return nil, fmt.Errorf("%w: %d", ErrSecurityModel, h.model)
	}
	if len(h.user) == 0 && h.level() == levelNoAuthNoPriv {
		return nil, ErrV3Inform
	}
	u := d.users[string(h.user)]
	if u == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownUser, h.user)
	}
	if l := h.level(); l == 2 || l < u.minLevel {
		return nil, fmt.Errorf("%w: %s, user %q needs %s", ErrLevel, levelNames[l], h.user, levelNames[u.minLevel])
	}
	if err := verifyAuth(b, h, u, &d.scratch); err != nil {
		return nil, fmt.Errorf("%w (user %q)", err, h.user)
	}
	pkt, err := unmarshalGuarded(d.v3, b)
	if err != nil || pkt == nil {
		if h.level() == levelAuthPriv {
			return nil, fmt.Errorf("%w (user %q): %v", ErrDecrypt, h.user, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	usm, _ := pkt.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	if pkt.Version != gosnmp.Version3 || pkt.SecurityModel != gosnmp.UserSecurityModel || byte(pkt.MsgFlags)&3 != h.flags&3 ||
		usm == nil || usm.UserName != string(h.user) {
		return nil, fmt.Errorf("%w: gosnmp decoded another header than the one checked", ErrMalformed)
	}
	return d.toTrap(pkt, src)
}

// unmarshalGuarded calls gosnmp's UnmarshalTrap and turns a panic into an
// error: v1.47.0 dereferences a nil SecurityParameters in getTrapIdentifier
// for a v3 header it cannot parse (see TestGosnmpPanicContained), which
// would kill TrapListener's goroutine and with it the process.
func unmarshalGuarded(g *gosnmp.GoSNMP, b []byte) (pkt *gosnmp.SnmpPacket, err error) {
	defer func() {
		if r := recover(); r != nil {
			pkt, err = nil, fmt.Errorf("%w: %v", errLibraryBug, r)
		}
	}()
	return g.UnmarshalTrap(b, false)
}

func (d *decoder) toTrap(pkt *gosnmp.SnmpPacket, src netip.Addr) (*Trap, error) {
	t := &Trap{Agent: src, pkt: pkt}
	switch pkt.Version {
	case gosnmp.Version1:
		t.Version = "v1"
	case gosnmp.Version2c:
		t.Version = "v2c"
	case gosnmp.Version3:
		t.Version = "v3"
		if usm, ok := pkt.SecurityParameters.(*gosnmp.UsmSecurityParameters); ok {
			t.User = usm.UserName
		}
	default:
		return nil, fmt.Errorf("%w: version %v", ErrMalformed, pkt.Version)
	}
	if t.Version != "v3" {
		t.Community = pkt.Community
		if d.communities != nil && !d.communities[pkt.Community] {
			return nil, ErrCommunity
		}
	}
	switch pkt.PDUType {
	case gosnmp.Trap:
		if t.Version != "v1" {
			return nil, fmt.Errorf("%w: v1 trap PDU in a %s message", ErrMalformed, t.Version)
		}
		t.Enterprise = strings.TrimPrefix(pkt.Enterprise, ".")
		t.Generic, t.Specific = pkt.GenericTrap, pkt.SpecificTrap
		t.V1AgentAddress = pkt.AgentAddress
		t.Uptime = uint32(pkt.Timestamp)
		switch {
		case t.Generic >= 0 && t.Generic <= 5:
			t.OID = oidGenericBase + strconv.Itoa(t.Generic+1)
		case t.Generic == 6:
			t.OID = t.Enterprise + ".0." + strconv.Itoa(t.Specific)
		default:
			return nil, fmt.Errorf("%w: generic-trap %d", ErrMalformed, t.Generic)
		}
		for _, v := range pkt.Variables {
			t.Vars = append(t.Vars, formatVar(v))
		}
	case gosnmp.SNMPv2Trap, gosnmp.InformRequest:
		t.Inform = pkt.PDUType == gosnmp.InformRequest
		if t.Inform && t.Version == "v3" {
			return nil, ErrV3Inform
		}
		for _, v := range pkt.Variables {
			fv := formatVar(v)
			switch fv.OID {
			case oidSysUpTime:
				n, _ := strconv.ParseUint(fv.Value, 10, 32)
				t.Uptime = uint32(n)
			case oidSnmpTrapOID:
				t.OID = strings.TrimPrefix(fv.Value, ".")
			default:
				t.Vars = append(t.Vars, fv)
			}
		}
		if t.OID == "" || !numericOID(t.OID) {
			return nil, fmt.Errorf("%w: no snmpTrapOID.0 varbind", ErrMalformed)
		}
	case gosnmp.GetRequest:
		if t.Version == "v3" {
			return nil, ErrV3Inform // engine discovery
		}
		return nil, ErrNotATrap
	default:
		return nil, fmt.Errorf("%w: %v", ErrNotATrap, pkt.PDUType)
	}
	t.Name = NameOID(t.OID)
	return t, nil
}

func formatVar(v gosnmp.SnmpPDU) Var {
	fv := Var{OID: strings.TrimPrefix(v.Name, "."), Type: v.Type.String()}
	fv.Name = NameOID(fv.OID)
	switch val := v.Value.(type) {
	case nil:
	case []byte:
		if utf8.Valid(val) && printable(val) {
			fv.Value = string(val)
		} else {
			fv.Value = "0x" + hexString(val)
		}
	case string:
		fv.Value = strings.TrimPrefix(val, ".")
		if v.Type != gosnmp.ObjectIdentifier {
			fv.Value = val
		}
	default:
		fv.Value = fmt.Sprint(val)
	}
	return fv
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return true
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, len(b)*2)
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// informResponse marshals the response a v2c inform needs.
func informResponse(t *Trap) ([]byte, error) {
	p := *t.pkt
	p.PDUType = gosnmp.GetResponse
	p.Error = gosnmp.NoError
	p.ErrorIndex = 0
	return p.MarshalMsg()
}
