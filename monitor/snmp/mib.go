package snmp

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/unyo-ops/unyo/internal/oid"
)

// mibNames maps "MIB::object" to numeric OIDs for the standard MIBs unyo
// polls. Numeric OIDs ("1.3.6.1.2.1.1.3.0" or with a leading dot) always
// work; a name may carry an instance suffix ("SNMPv2-MIB::sysUpTime.0").
var mibNames = map[string]string{
	// SNMPv2-MIB system group
	"SNMPv2-MIB::sysDescr":    "1.3.6.1.2.1.1.1",
	"SNMPv2-MIB::sysObjectID": "1.3.6.1.2.1.1.2",
	"SNMPv2-MIB::sysUpTime":   "1.3.6.1.2.1.1.3",
	"SNMPv2-MIB::sysContact":  "1.3.6.1.2.1.1.4",
	"SNMPv2-MIB::sysName":     "1.3.6.1.2.1.1.5",
	"SNMPv2-MIB::sysLocation": "1.3.6.1.2.1.1.6",
	"SNMPv2-MIB::snmpInPkts":  "1.3.6.1.2.1.11.1",
	// IF-MIB
	"IF-MIB::ifNumber":            "1.3.6.1.2.1.2.1",
	"IF-MIB::ifIndex":             "1.3.6.1.2.1.2.2.1.1",
	"IF-MIB::ifDescr":             "1.3.6.1.2.1.2.2.1.2",
	"IF-MIB::ifType":              "1.3.6.1.2.1.2.2.1.3",
	"IF-MIB::ifMtu":               "1.3.6.1.2.1.2.2.1.4",
	"IF-MIB::ifSpeed":             "1.3.6.1.2.1.2.2.1.5",
	"IF-MIB::ifPhysAddress":       "1.3.6.1.2.1.2.2.1.6",
	"IF-MIB::ifAdminStatus":       "1.3.6.1.2.1.2.2.1.7",
	"IF-MIB::ifOperStatus":        "1.3.6.1.2.1.2.2.1.8",
	"IF-MIB::ifLastChange":        "1.3.6.1.2.1.2.2.1.9",
	"IF-MIB::ifInOctets":          "1.3.6.1.2.1.2.2.1.10",
	"IF-MIB::ifInUcastPkts":       "1.3.6.1.2.1.2.2.1.11",
	"IF-MIB::ifInDiscards":        "1.3.6.1.2.1.2.2.1.13",
	"IF-MIB::ifInErrors":          "1.3.6.1.2.1.2.2.1.14",
	"IF-MIB::ifOutOctets":         "1.3.6.1.2.1.2.2.1.16",
	"IF-MIB::ifOutUcastPkts":      "1.3.6.1.2.1.2.2.1.17",
	"IF-MIB::ifOutDiscards":       "1.3.6.1.2.1.2.2.1.19",
	"IF-MIB::ifOutErrors":         "1.3.6.1.2.1.2.2.1.20",
	"IF-MIB::ifName":              "1.3.6.1.2.1.31.1.1.1.1",
	"IF-MIB::ifHCInOctets":        "1.3.6.1.2.1.31.1.1.1.6",
	"IF-MIB::ifHCInUcastPkts":     "1.3.6.1.2.1.31.1.1.1.7",
	"IF-MIB::ifHCOutOctets":       "1.3.6.1.2.1.31.1.1.1.10",
	"IF-MIB::ifHCOutUcastPkts":    "1.3.6.1.2.1.31.1.1.1.11",
	"IF-MIB::ifHighSpeed":         "1.3.6.1.2.1.31.1.1.1.15",
	"IF-MIB::ifAlias":             "1.3.6.1.2.1.31.1.1.1.18",
	"IF-MIB::ifHCInMulticastPkts": "1.3.6.1.2.1.31.1.1.1.8",
	// HOST-RESOURCES-MIB
	"HOST-RESOURCES-MIB::hrSystemUptime":           "1.3.6.1.2.1.25.1.1",
	"HOST-RESOURCES-MIB::hrSystemNumUsers":         "1.3.6.1.2.1.25.1.5",
	"HOST-RESOURCES-MIB::hrSystemProcesses":        "1.3.6.1.2.1.25.1.6",
	"HOST-RESOURCES-MIB::hrMemorySize":             "1.3.6.1.2.1.25.2.2",
	"HOST-RESOURCES-MIB::hrStorageIndex":           "1.3.6.1.2.1.25.2.3.1.1",
	"HOST-RESOURCES-MIB::hrStorageType":            "1.3.6.1.2.1.25.2.3.1.2",
	"HOST-RESOURCES-MIB::hrStorageDescr":           "1.3.6.1.2.1.25.2.3.1.3",
	"HOST-RESOURCES-MIB::hrStorageAllocationUnits": "1.3.6.1.2.1.25.2.3.1.4",
	"HOST-RESOURCES-MIB::hrStorageSize":            "1.3.6.1.2.1.25.2.3.1.5",
	"HOST-RESOURCES-MIB::hrStorageUsed":            "1.3.6.1.2.1.25.2.3.1.6",
	"HOST-RESOURCES-MIB::hrProcessorLoad":          "1.3.6.1.2.1.25.3.3.1.2",
	"HOST-RESOURCES-MIB::hrSWRunIndex":             "1.3.6.1.2.1.25.4.2.1.1",
	"HOST-RESOURCES-MIB::hrSWRunName":              "1.3.6.1.2.1.25.4.2.1.2",
	"HOST-RESOURCES-MIB::hrSWRunPath":              "1.3.6.1.2.1.25.4.2.1.4",
	"HOST-RESOURCES-MIB::hrSWRunParameters":        "1.3.6.1.2.1.25.4.2.1.5",
	"HOST-RESOURCES-MIB::hrSWRunStatus":            "1.3.6.1.2.1.25.4.2.1.7",
	"HOST-RESOURCES-MIB::hrSWRunPerfCPU":           "1.3.6.1.2.1.25.5.1.1.1",
	"HOST-RESOURCES-MIB::hrSWRunPerfMem":           "1.3.6.1.2.1.25.5.1.1.2",
	// UCD-SNMP-MIB
	"UCD-SNMP-MIB::memTotalSwap": "1.3.6.1.4.1.2021.4.3",
	"UCD-SNMP-MIB::memAvailSwap": "1.3.6.1.4.1.2021.4.4",
	"UCD-SNMP-MIB::memTotalReal": "1.3.6.1.4.1.2021.4.5",
	"UCD-SNMP-MIB::memAvailReal": "1.3.6.1.4.1.2021.4.6",
	"UCD-SNMP-MIB::memTotalFree": "1.3.6.1.4.1.2021.4.11",
	"UCD-SNMP-MIB::memShared":    "1.3.6.1.4.1.2021.4.13",
	"UCD-SNMP-MIB::memBuffer":    "1.3.6.1.4.1.2021.4.14",
	"UCD-SNMP-MIB::memCached":    "1.3.6.1.4.1.2021.4.15",
	"UCD-SNMP-MIB::laNames":      "1.3.6.1.4.1.2021.10.1.2",
	"UCD-SNMP-MIB::laLoad":       "1.3.6.1.4.1.2021.10.1.3",
	"UCD-SNMP-MIB::laLoadInt":    "1.3.6.1.4.1.2021.10.1.5",
	"UCD-SNMP-MIB::ssCpuUser":    "1.3.6.1.4.1.2021.11.9",
	"UCD-SNMP-MIB::ssCpuSystem":  "1.3.6.1.4.1.2021.11.10",
	"UCD-SNMP-MIB::ssCpuIdle":    "1.3.6.1.4.1.2021.11.11",
	"UCD-SNMP-MIB::dskPath":      "1.3.6.1.4.1.2021.9.1.2",
	"UCD-SNMP-MIB::dskPercent":   "1.3.6.1.4.1.2021.9.1.9",
}

var (
	numericOID = regexp.MustCompile(`^\.?[0-9]+(\.[0-9]+)+$`)
	namedOID   = regexp.MustCompile(`^([A-Za-z0-9-]+::[A-Za-z][A-Za-z0-9]*)((\.[0-9]+)*)$`)
)

// ResolveOID turns "IF-MIB::ifHCInOctets", "IF-MIB::ifHCInOctets.2",
// "1.3.6.1.2.1.31.1.1.1.6" or ".1.3.6..." into a numeric OID with a leading
// dot (the form gosnmp returns). Unknown names are an error.
func ResolveOID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if numericOID.MatchString(s) {
		s = strings.TrimPrefix(s, ".")
		if err := oid.Check(s); err != nil {
			return "", err
		}
		return "." + s, nil
	}
	m := namedOID.FindStringSubmatch(s)
	if m == nil {
		return "", fmt.Errorf("%q: want a numeric OID (1.3.6.1...) or MIB::name", s)
	}
	if m[2] != "" {
		if _, err := oid.Arcs(m[2][1:]); err != nil {
			return "", fmt.Errorf("instance suffix: %w", err)
		}
	}
	base, ok := mibNames[m[1]]
	if !ok {
		return "", fmt.Errorf("%q: unknown MIB object (known MIBs: SNMPv2-MIB, IF-MIB, HOST-RESOURCES-MIB, UCD-SNMP-MIB; use the numeric OID for others)", m[1])
	}
	return "." + base + m[2], nil
}

// MustOID is ResolveOID for names known to be in the table.
func MustOID(s string) string {
	o, err := ResolveOID(s)
	if err != nil {
		panic(err)
	}
	return o
}
