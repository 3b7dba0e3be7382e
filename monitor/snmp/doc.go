// Package snmp polls SNMP agents (v2c, and v3 authNoPriv / authPriv with
// SHA-family or MD5 authentication and AES or DES privacy) with gosnmp.
//
// A Poller is shared by all targets of a node. It runs at most
// Options.Workers polls at once (a bounded worker pool); each poll gets
// its own deadline (Config.Timeout, covering every request and retry of
// that device), so a dead or slow device ties up one worker for at most
// that long and never delays the polls of other devices beyond the worker
// limit.
//
// A poll is one GET for every scalar of the selected metric sets and one
// multi-column GETBULK walk for every table column (storage, processors,
// interfaces, hrSWRunName, walked extra OIDs): each GETBULK asks for the
// next rows of all unfinished columns at once, so a typical host costs two
// to four round trips.
//
// Users name OIDs numerically or by MIB name for the standard MIBs
// (SNMPv2-MIB, IF-MIB, HOST-RESOURCES-MIB, UCD-SNMP-MIB; see ResolveOID).
//
// # Samples (metric sets; every sample also gets the label target)
//
//	system      snmp_sys_uptime_seconds                       sysUpTime; going backwards → reboot event
//	storage     snmp_storage_size_bytes{descr,type}           hrStorageSize × units
//	            snmp_storage_used_bytes{descr,type}           hrStorageUsed × units
//	            snmp_storage_used_percent{descr,type}         used / size × 100; type: fixed_disk, ram, virtual_memory, other, network_disk, … (hrStorageType)
//	processor   snmp_cpu_load_percent{cpu}                    hrProcessorLoad (net-snmp fills it after one minute)
//	            snmp_cpu_load_avg_percent                     mean over processors
//	interfaces  snmp_if_oper_up{if}                           1 when ifOperStatus is up; changes → link events
//	            snmp_if_in_bits_per_second{if}                ifHCInOctets (ifInOctets without HC) rate, wrap-aware
//	            snmp_if_out_bits_per_second{if}
//	            snmp_if_in_errors_total{if}, snmp_if_out_errors_total{if}
//	            snmp_if_in_errors_per_second{if}, snmp_if_out_errors_per_second{if}
//	load        snmp_load1, snmp_load5, snmp_load15           UCD-SNMP-MIB laLoad
//	memory      snmp_memory_total_bytes, snmp_memory_available_bytes (free + buffers + cached),
//	            snmp_memory_used_percent, snmp_swap_used_percent
//	processes   snmp_process_count{process}                   hrSWRunName entries with that name
//	oids        <name> or <name>{index}                       extra values from Config.OIDs
//
// The scheduler adds snmp_up and snmp_poll_duration_seconds per poll.
//
// # Events (source "snmp")
//
//	snmp:reboot        problem, warning: sysUpTime went backwards (not a 497-day wrap)
//	snmp:link:<if>     problem, major: ifOperStatus left up while ifAdminStatus is up;
//	                   ok when it is up again or taken administratively down
//
// Link events need two polls: the first poll only records the states.
//
// # Metrics (Prometheus, through the Registerer given to NewPoller)
//
//	unyo_snmp_polls_total{result="ok|error|timeout"}  counter
//	unyo_snmp_poll_duration_seconds                   histogram
//	unyo_snmp_worker_wait_seconds                     histogram  time waiting for a free worker
//	unyo_snmp_polls_in_flight                         gauge
package snmp
