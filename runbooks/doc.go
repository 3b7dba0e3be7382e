// Package runbooks holds the operator runbooks (運用マニュアル): Markdown
// files embedded in the binary (builtin/*.md), one per fault, linked from
// incidents by id.
//
// A runbook starts with front matter between two "---" lines giving id,
// title and severity, then Markdown with the required sections
// (RequiredSections: Symptoms, First isolation steps, Escalation,
// Recovery, Verification) as "## " headings.
//
// Load reads the built-ins and, optionally, a site directory of *.md
// runbooks that override a built-in of the same id or add new ones; every
// file is validated at load (front matter, id, sections, size) and an error
// names the file and line. Configuration names runbooks by id (the
// `runbook:` keys of thresholds, filters, traps and jobs; configs checks
// them against the Set); an http(s) URL is accepted as an outside runbook.
//
// HTML renders a small Markdown subset (headings, paragraphs, lists,
// inline code, code blocks, bold) with every character of the source
// escaped: a runbook can never inject markup into the console.
package runbooks
