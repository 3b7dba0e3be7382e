package trap

import (
	"fmt"
	"strings"

	"github.com/unyo-ops/unyo/internal/oid"
)

// Standard OIDs by name. Only what trap handling needs: the generic traps,
// the trap varbinds, and the IF-MIB columns linkDown/linkUp carry. Numeric
// OIDs work everywhere a name does.
var oidNames = map[string]string{
	"SNMPv2-MIB::coldStart":                 "1.3.6.1.6.3.1.1.5.1",
	"SNMPv2-MIB::warmStart":                 "1.3.6.1.6.3.1.1.5.2",
	"IF-MIB::linkDown":                      "1.3.6.1.6.3.1.1.5.3",
	"IF-MIB::linkUp":                        "1.3.6.1.6.3.1.1.5.4",
	"SNMPv2-MIB::authenticationFailure":     "1.3.6.1.6.3.1.1.5.5",
	"RFC1213-MIB::egpNeighborLoss":          "1.3.6.1.6.3.1.1.5.6",
	"SNMPv2-MIB::sysDescr":                  "1.3.6.1.2.1.1.1",
	"SNMPv2-MIB::sysObjectID":               "1.3.6.1.2.1.1.2",
	"SNMPv2-MIB::sysUpTime":                 "1.3.6.1.2.1.1.3",
	"SNMPv2-MIB::sysContact":                "1.3.6.1.2.1.1.4",
	"SNMPv2-MIB::sysName":                   "1.3.6.1.2.1.1.5",
	"SNMPv2-MIB::sysLocation":               "1.3.6.1.2.1.1.6",
	"SNMPv2-MIB::snmpTrapOID":               "1.3.6.1.6.3.1.1.4.1",
	"SNMPv2-MIB::snmpTrapEnterprise":        "1.3.6.1.6.3.1.1.4.3",
	"SNMP-COMMUNITY-MIB::snmpTrapAddress":   "1.3.6.1.6.3.18.1.3",
	"SNMP-COMMUNITY-MIB::snmpTrapCommunity": "1.3.6.1.6.3.18.1.4",
	"IF-MIB::ifIndex":                       "1.3.6.1.2.1.2.2.1.1",
	"IF-MIB::ifDescr":                       "1.3.6.1.2.1.2.2.1.2",
	"IF-MIB::ifType":                        "1.3.6.1.2.1.2.2.1.3",
	"IF-MIB::ifMtu":                         "1.3.6.1.2.1.2.2.1.4",
	"IF-MIB::ifSpeed":                       "1.3.6.1.2.1.2.2.1.5",
	"IF-MIB::ifPhysAddress":                 "1.3.6.1.2.1.2.2.1.6",
	"IF-MIB::ifAdminStatus":                 "1.3.6.1.2.1.2.2.1.7",
	"IF-MIB::ifOperStatus":                  "1.3.6.1.2.1.2.2.1.8",
	"IF-MIB::ifLastChange":                  "1.3.6.1.2.1.2.2.1.9",
	"IF-MIB::ifName":                        "1.3.6.1.2.1.31.1.1.1.1",
	"IF-MIB::ifAlias":                       "1.3.6.1.2.1.31.1.1.1.18",
	"SNMPv2-SMI::enterprises":               "1.3.6.1.4.1",
}

var (
	oidByNumber = map[string]string{} // numeric → "MIB::name"
	oidByShort  = map[string]string{} // "name" → numeric
)

func init() {
	for name, oid := range oidNames {
		oidByNumber[oid] = name
		_, short, _ := strings.Cut(name, "::")
		oidByShort[short] = oid
	}
}

// ResolveOID turns a name ("IF-MIB::linkDown", "linkDown",
// "IF-MIB::ifIndex.3") or a numeric OID (with or without the leading dot)
// into a numeric OID without the leading dot.
func ResolveOID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("empty OID")
	}
	if s[0] >= '0' && s[0] <= '9' || s[0] == '.' {
		s = strings.TrimPrefix(s, ".")
		if !numericOID(s) {
			return "", fmt.Errorf("%q: not a numeric OID", s)
		}
		if err := oid.Check(s); err != nil {
			return "", err
		}
		return s, nil
	}
	name, suffix := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		name, suffix = s[:i], s[i:]
		if !numericOID(suffix[1:]) {
			return "", fmt.Errorf("%q: instance suffix must be numeric", s)
		}
		if _, err := oid.Arcs(suffix[1:]); err != nil {
			return "", fmt.Errorf("instance suffix: %w", err)
		}
	}
	oid, ok := oidNames[name]
	if !ok {
		oid, ok = oidByShort[name]
	}
	if !ok {
		return "", fmt.Errorf("%q: unknown name; use the numeric OID (known names: SNMPv2-MIB::coldStart, IF-MIB::linkDown, IF-MIB::ifIndex, ...)", s)
	}
	return oid + suffix, nil
}

func numericOID(s string) bool {
	if s == "" {
		return false
	}
	prevDot := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
		case c >= '0' && c <= '9':
			prevDot = false
		default:
			return false
		}
	}
	return !prevDot
}

// NameOID returns "MIB::name" for a known OID, with any instance suffix
// ("IF-MIB::ifIndex.3"), or "" when no prefix of it is known.
func NameOID(oid string) string {
	for base := oid; base != ""; {
		if n, ok := oidByNumber[base]; ok {
			return n + oid[len(base):]
		}
		i := strings.LastIndexByte(base, '.')
		if i < 0 {
			break
		}
		base = base[:i]
	}
	return ""
}
