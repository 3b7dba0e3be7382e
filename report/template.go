package report

// pageHTML is the report page: one file, inline SVG, no script. Print:
// A4, each major section on a new page, charts kept whole.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans JP", sans-serif; color: #1b1f24; margin: 0 auto; max-width: 1100px; padding: 16px; }
h1 { font-size: 1.6em; margin: 0 0 .2em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #1b1f24; padding-bottom: 2px; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
.meta { color: #444; }
.meta code { font-size: .85em; word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; font-size: .9em; }
th, td { border: 1px solid #c8ccd0; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eef0f2; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.wrap { overflow-x: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 10px; }
.chart { break-inside: avoid; page-break-inside: avoid; }
.chart svg { display: block; }
figure.chart { margin: 0; }
figcaption { font-size: .85em; font-weight: 600; }
.note { background: #fff7d6; border-left: 4px solid #c9a200; padding: 4px 8px; margin: .5em 0; }
.flag { color: #a40000; font-weight: 600; }
.over { color: #a40000; font-weight: 600; }
.plot-bar.over, .over rect { fill: #c0392b; }
section.day { background: #eef6ff; border: 3px solid #0b5cad; border-radius: 6px; padding: 4px 14px 10px; margin-top: 1.8em; }
section.day h2 { border-bottom-color: #0b5cad; color: #0b5cad; }
.badge { display: inline-block; background: #0b5cad; color: #fff; border-radius: 3px; padding: 0 6px; font-size: .8em; vertical-align: middle; }
@media (max-width: 600px) { body { padding: 8px; font-size: 13px; } .charts { grid-template-columns: 1fr; } }
@media print {
  @page { size: A4; margin: 12mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-before: page; page-break-before: always; }
  h2.first { break-before: auto; page-break-before: auto; }
  section.day { break-before: page; page-break-before: always; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.day h2 { break-before: auto; page-break-before: auto; }
  .wrap { overflow: visible; }
  tr, .chart { break-inside: avoid; page-break-inside: avoid; }
  .charts { grid-template-columns: 1fr 1fr; }
  table { font-size: 7.5pt; }
  th, td { padding: 1px 3px; }
}
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<p class="meta">Data window: {{local .Window.From}} – {{local .Window.To}} ({{.Window.TimeZone}}) for availability, incidents and jobs;
performance statistics over the rollups' UTC days {{utc .Window.PerfFrom}} – {{utc .Window.PerfTo}}.
Picked day: <strong>{{.Day}}</strong> (UTC). p95 values come from monthly sketches (within 1%).<br>
SHA-256 of the CSV files: <code>{{.CSVSHA256}}</code><br>
{{if .PDF}}PDF: {{.PDF}}{{end}}</p>
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
</header>

<h2 class="first" id="groups">Groups (sites)</h2>
<p>Each cell is the month's mean / 95th percentile / maximum over every sample of the group's servers.</p>
<div class="wrap"><table>
<tr><th>group</th><th>servers</th>{{range .MetricTitles}}<th>{{.}}</th>{{end}}</tr>
{{range .GroupRows}}<tr>{{range $i, $c := .}}<td{{if gt $i 1}} class="n"{{end}}>{{$c}}</td>{{end}}</tr>{{end}}
</table></div>
<h3>Daily trend</h3>
<div class="charts">{{range .GroupCharts}}<figure class="chart"><figcaption>{{.Caption}}</figcaption>{{.SVG}}</figure>{{end}}</div>

<h2 id="servers">Servers</h2>
<p>Mean / p95 / max for the month. A server with several disks, interfaces or service checks is summarised over all of them (each is in series.csv).</p>
<div class="wrap"><table>
<tr><th>server</th><th>group</th>{{range .MetricTitles}}<th>{{.}}</th>{{end}}</tr>
{{range .ServerRows}}<tr>{{range $i, $c := .}}<td{{if gt $i 1}} class="n"{{end}}>{{$c}}</td>{{end}}</tr>{{end}}
</table></div>

<h2 id="top">Top servers and links, trends</h2>
<div class="chart">{{.TopChart}}</div>
<h3>Busiest servers ({{$.MetricTitle "cpu"}})</h3>
<table><tr><th>#</th><th>server</th><th>mean</th><th>peak</th></tr>
{{range .TopServers}}<tr><td class="n">{{.Rank}}</td><td>{{.Server}}</td><td class="n">{{$.Val "cpu" .Value}}</td><td class="n">{{$.Val "cpu" .Peak}}</td></tr>{{end}}
</table>
<h3>Busiest links (mean in + out)</h3>
<table><tr><th>#</th><th>server</th><th>link</th><th>mean</th><th>peaks in + out</th></tr>
{{range .TopLinks}}<tr><td class="n">{{.Rank}}</td><td>{{.Server}}</td><td>{{.Link}}</td><td class="n">{{bps .Value}}</td><td class="n">{{bps .Peak}}</td></tr>{{else}}<tr><td colspan="5">no interface traffic</td></tr>{{end}}
</table>
<h3>p95 rose most against the previous month</h3>
<table><tr><th>server</th><th>metric</th><th>previous p95</th><th>p95</th><th>rise</th></tr>
{{range .P95Risers}}<tr><td>{{.Server}}</td><td>{{$.MetricTitle .Metric}} {{.Labels}}</td><td class="n">{{$.Val .Metric .Prev}}</td><td class="n">{{$.Val .Metric .Now}}</td><td class="n">+{{$.Val .Metric .Rise}}</td></tr>{{else}}<tr><td colspan="5">none rose (or no previous month)</td></tr>{{end}}
</table>
<h3>Days until a disk is full (linear trend of the daily means)</h3>
<table><tr><th>server</th><th>disk</th><th>used</th><th>per day</th><th>days to full</th><th>full on</th></tr>
{{range .DiskForecast}}{{if ge .DaysToFull 0.0}}<tr><td>{{.Server}}</td><td>{{.Disk}}</td><td class="n">{{num .Used}}%</td><td class="n">{{num .PerDay}}%</td><td class="n">{{days .DaysToFull}}</td><td>{{.FullOnAfter}}</td></tr>{{end}}{{else}}<tr><td colspan="6">no disk data</td></tr>{{end}}
</table>
<h3>Threshold breaches</h3>
<table><tr><th>server</th><th>rule</th><th>severity</th><th>times</th><th>time above</th></tr>
{{range .Breaches}}<tr><td>{{.Server}}</td><td>{{.Check}}</td><td>{{.Severity}}</td><td class="n">{{.Count}}</td><td class="n">{{dur .Duration}}</td></tr>{{else}}<tr><td colspan="5">no threshold breaches</td></tr>{{end}}
</table>

<section class="day" id="day">
<h2>Picked day {{.PickedDay.Day}} <span class="badge">1-minute resolution</span></h2>
<p>This section is one day at 1-minute resolution (the month above is per day). Each chart shows the metric's busiest server that day with its per-minute range shaded, and the next two.</p>
{{with .PickedDay.Note}}<p class="note">{{.}}</p>{{end}}
<table><tr><th>metric</th><th>busiest</th><th>peak</th><th>at (UTC)</th><th>day mean</th></tr>
{{range .PickedDay.Peaks}}<tr><td>{{$.MetricTitle .Metric}}</td><td>{{.Server}} {{.Labels}}</td><td class="n">{{$.Val .Metric .Peak}}</td><td>{{if not .PeakAt.IsZero}}{{utc .PeakAt}}{{else}}–{{end}}</td><td class="n">{{$.Val .Metric .Avg}}</td></tr>{{end}}
</table>
<div class="charts">{{range .DayCharts}}<figure class="chart"><figcaption>{{.Caption}}</figcaption>{{.SVG}}</figure>{{end}}</div>
<h3>Groups on {{.PickedDay.Day}} (mean / max)</h3>
<div class="wrap"><table>
<tr><th>group</th>{{range .MetricTitles}}<th>{{.}}</th>{{end}}</tr>
{{range .DayGroupRows}}<tr>{{range $i, $c := .}}<td{{if gt $i 0}} class="n"{{end}}>{{$c}}</td>{{end}}</tr>{{end}}
</table></div>
</section>

<h2 id="availability">Availability</h2>
<p>Unplanned downtime against the budget of {{min .Availability.Budget}} per server for the month; time inside a maintenance window created before the outage began is planned and excluded. A window added after an outage began is <span class="flag">flagged</span> and not applied.</p>
<div class="chart">{{.BudgetChart}}</div>
<h3>Sites</h3>
<table><tr><th>site</th><th>servers</th><th>down</th><th>excluded (planned)</th><th>unplanned</th><th>any server down (wall clock)</th><th>over budget</th></tr>
{{range .Availability.Sites}}<tr><td>{{.Site}}</td><td class="n">{{.Servers}}</td><td class="n">{{min .Down}}</td><td class="n">{{min .Planned}}</td><td class="n">{{min .Unplanned}}</td><td class="n">{{min .AnyDown}}</td><td class="n{{if gt .OverBudget 0}} over{{end}}">{{.OverBudget}}</td></tr>{{end}}
</table>
<h3>Servers</h3>
<div class="wrap"><table><tr><th>server</th><th>site</th><th>down</th><th>excluded</th><th>unplanned</th><th>budget used</th><th>budget left</th><th>availability</th></tr>
{{range .Availability.Servers}}<tr><td>{{.Server}}</td><td>{{.Site}}</td><td class="n">{{min .Down}}</td><td class="n">{{min .Planned}}</td><td class="n">{{min .Unplanned}}</td><td class="n">{{min .BudgetUsed}}</td><td class="n{{if over .BudgetLeft}} over{{end}}">{{if over .BudgetLeft}}over by {{min (neg .BudgetLeft)}}{{else}}{{min .BudgetLeft}}{{end}}</td><td class="n">{{pct .Availability}}</td></tr>{{end}}
</table></div>
<h3>Every outage</h3>
<div class="wrap"><table><tr><th>server</th><th>incident</th><th>from – to (UTC)</th><th>down</th><th>excluded</th><th>unplanned</th><th>opened by</th><th>closed by</th><th>why</th></tr>
{{range .Availability.Outages}}<tr><td>{{.Server}}</td><td class="n">{{.Incident}} {{.Check}}</td><td>{{utc .From}} – {{utc .To}}</td><td class="n">{{min .Down}}</td><td class="n">{{min .Planned}}</td><td class="n">{{min .Unplanned}}</td><td>{{.OpenedBy}}</td><td>{{.ClosedBy}}</td><td{{if has .LateWindows}} class="flag"{{end}}>{{.Why}}</td></tr>{{else}}<tr><td colspan="9">no outages</td></tr>{{end}}
</table></div>

<h2 id="incidents">Incidents</h2>
<p>{{.Incidents.Opened}} opened in the month.</p>
<table><tr><th>by severity</th><th>count</th></tr>{{range .Severities}}<tr><td>{{index . 0}}</td><td class="n">{{index . 1}}</td></tr>{{end}}</table>
<table><tr><th>by source</th><th>count</th></tr>{{range .Sources}}<tr><td>{{index . 0}}</td><td class="n">{{index . 1}}</td></tr>{{end}}</table>
<table><tr><th></th><th>n</th><th>mean</th><th>median</th><th>p90</th><th>max</th></tr>
<tr><td>MTTA (to acknowledge)</td><td class="n">{{.Incidents.MTTA.N}}</td><td class="n">{{dur .Incidents.MTTA.Mean}}</td><td class="n">{{dur .Incidents.MTTA.Median}}</td><td class="n">{{dur .Incidents.MTTA.P90}}</td><td class="n">{{dur .Incidents.MTTA.Max}}</td></tr>
<tr><td>MTTR (to resolve)</td><td class="n">{{.Incidents.MTTR.N}}</td><td class="n">{{dur .Incidents.MTTR.Mean}}</td><td class="n">{{dur .Incidents.MTTR.Median}}</td><td class="n">{{dur .Incidents.MTTR.P90}}</td><td class="n">{{dur .Incidents.MTTR.Max}}</td></tr>
</table>
<table><tr><th>escalation reached role</th><th>incidents</th></tr>{{range .Roles}}<tr><td>{{index . 0}}</td><td class="n">{{index . 1}}</td></tr>{{else}}<tr><td colspan="2">no escalation notified a role</td></tr>{{end}}</table>
<h3>Longest open faults at the end of the window</h3>
<table><tr><th>incident</th><th>server</th><th>check</th><th>severity</th><th>state</th><th>open for</th></tr>
{{range .Incidents.LongestOpen}}<tr><td class="n">{{.ID}}</td><td>{{.Server}}</td><td>{{.Check}}</td><td>{{.Severity}}</td><td>{{.State}}</td><td class="n">{{dur .OpenFor}}</td></tr>{{else}}<tr><td colspan="6">none open</td></tr>{{end}}
</table>

<h2 id="jobs">Jobs</h2>
<p>{{.Jobs.Runs}} runs, {{.Jobs.Succeeded}} ended normally ({{num .Jobs.SuccessRate}}%).</p>
<table><tr><th>jobnet</th><th>runs</th><th>succeeded</th><th>abnormal</th></tr>
{{range .Jobs.ByJobnet}}<tr><td>{{.Jobnet}}</td><td class="n">{{.Runs}}</td><td class="n">{{.Succeeded}}</td><td class="n{{if gt .Abnormal 0}} over{{end}}">{{.Abnormal}}</td></tr>{{else}}<tr><td colspan="4">no runs</td></tr>{{end}}
</table>
<h3>Abnormal ends</h3>
<table><tr><th>run</th><th>jobnet</th><th>status</th><th>started (UTC)</th><th>took</th></tr>
{{range .Jobs.Abnormal}}<tr><td>{{.ID}}</td><td>{{.Jobnet}}</td><td>{{.Status}}</td><td>{{utc .Started}}</td><td class="n">{{dur .Duration}}</td></tr>{{else}}<tr><td colspan="5">none</td></tr>{{end}}
</table>
<h3>Longest runs</h3>
<table><tr><th>run</th><th>jobnet</th><th>status</th><th>started (UTC)</th><th>took</th></tr>
{{range .Jobs.Longest}}<tr><td>{{.ID}}</td><td>{{.Jobnet}}</td><td>{{.Status}}</td><td>{{utc .Started}}</td><td class="n">{{dur .Duration}}</td></tr>{{else}}<tr><td colspan="5">none</td></tr>{{end}}
</table>
<h3>Backups</h3>
{{with .Jobs.BackupNote}}<p class="note">{{.}}</p>{{end}}
<table><tr><th>run</th><th>jobnet</th><th>status</th><th>started (UTC)</th><th>took</th></tr>
{{range .Jobs.Backups}}<tr><td>{{.ID}}</td><td>{{.Jobnet}}</td><td>{{.Status}}</td><td>{{utc .Started}}</td><td class="n">{{dur .Duration}}</td></tr>{{end}}
</table>

<h2 id="drills">Drills</h2>
<table><tr><th>drill</th><th>kind</th><th>result</th><th>started (UTC)</th><th>RTO</th><th>target</th><th>RPO (writes)</th></tr>
{{range .Drills}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td{{if ne .Result "passed"}} class="over"{{end}}>{{.Result}}</td><td>{{utc .Started}}</td><td class="n">{{ms .RTO}}</td><td class="n">{{ms .TargetRTO}}</td><td class="n">{{.RPO}}</td></tr>{{else}}<tr><td colspan="7">no drills in the month</td></tr>{{end}}
</table>

<h2 id="files">Files</h2>
<table><tr><th>CSV file</th><th>SHA-256</th></tr>{{range .CSVNames}}<tr><td>{{index . 0}}</td><td><code>{{index . 1}}</code></td></tr>{{end}}</table>
</body>
</html>
`
