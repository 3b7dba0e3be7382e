// Package console serves the node's HTTP interface: /healthz, /readyz,
// /metrics and the JSON API under /api/v1. Handlers only decode, validate and
// encode; the work is done by the ledger store and the bus.
//
// API (all bodies JSON; errors are {"error": "...", "field": "..."}):
//
//	GET  /api/v1/incidents?state=open,acknowledged&target=T&limit=N&before=ID
//	GET  /api/v1/incidents/{id}            incident and timeline
//	POST /api/v1/incidents/{id}/ack        {"by": "...", "comment": "..."}
//	POST /api/v1/incidents/{id}/resolve    same body
//	POST /api/v1/incidents/{id}/close      same body
//	POST /api/v1/incidents/{id}/comment    same body, comment required
//	POST /api/v1/events                    one event object, or an array
//	GET  /api/v1/maintenance               maintenance windows (see alerting.go)
//	POST /api/v1/maintenance               add one; POST .../{id}/end ends it
//	GET  /api/v1/oncall?at=T               who each role reaches
//	GET  /api/v1/incidents/{id}/report     fault report; POST writes it
//	GET  /api/v1/ledger/export?from=&to=   the fault ledger as CSV
//	GET  /api/v1/availability?month=YYYY-MM  downtime per target against the budget (or from=&to=)
//
// POST /api/v1/events returns 202 with {"ids": [...]} once the bus has
// stored every event; the ledger applies them asynchronously. An event may
// carry its own "id" so a client can retry without creating a duplicate.
package console
