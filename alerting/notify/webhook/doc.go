// Package webhook posts notifications as JSON in the shape of
// Alertmanager's webhook payload (version "4": status, receiver, groupKey,
// groupLabels, commonLabels, commonAnnotations, externalURL, alerts[] with
// labels, annotations, startsAt, endsAt, generatorURL, fingerprint), so a
// receiver written for Alertmanager works unchanged.
//
// Labels of each alert: alertname (the check), instance (the target),
// severity, dedup_key, incident_id and the incident's own labels.
// Annotations: summary (the message), incident_url, runbook_url, kind,
// escalation_level, role. A notification's key is sent as the
// Idempotency-Key header.
//
// A network error, HTTP 429 or 5xx is worth retrying; another non-2xx is
// not.
//
// Metrics: none of its own; see package notify.
package webhook
