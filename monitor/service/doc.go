// Package service checks that network services answer: a TCP connect, an
// HTTP(S) request (expected status, optional body regular expression, TLS
// verification on or off) and a PostgreSQL connection that runs a query.
//
// Each check kind is a Prober in the Probers map (no init-time
// registration): func(ctx, host, cfg) (response time, error). A nil error
// is a good check; the error says why a check failed and is what the
// console shows as "why did the last check fail".
//
// # Samples (recorded by the scheduler; labels: target, check)
//
//	service_up                      1 when the check passed, else 0
//	service_response_time_seconds   connect / request / connect+query time
//	service_http_status_code        HTTP status (http checks)
//
// The package exports no Prometheus metrics of its own; the scheduler
// counts checks (unyo_monitor_checks_total{kind="tcp|http|postgres"}).
package service
