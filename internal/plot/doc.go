// Package plot draws charts as inline SVG on the server: a time-series
// line chart ([TimeChart]), a bar chart ([BarChart]: daily values or a
// top-N list) and a [Sparkline]. The console's pages and the monthly
// report embed the result directly in HTML; no script runs at view time.
//
// Rules every chart keeps:
//   - Deterministic: the same input gives the same bytes (no maps, no
//     clock, no randomness; coordinates rounded to 0.1 of a viewBox unit).
//   - Bounded: a series of any length is reduced to at most two points
//     (its minimum and maximum, in time order) per horizontal viewBox
//     unit before anything is drawn, so a month of one-minute samples
//     becomes a path of about a thousand points. Counts of series, bars
//     and the lengths of labels are capped too (MaxSeries, MaxBars,
//     MaxLabel); what is left out is said in the description.
//   - Honest about missing data: a NaN or infinite value, or a step
//     between two points longer than the chart's MaxGap, breaks the line;
//     a lone point is drawn as a dot. No data at all draws an empty frame
//     saying so.
//   - Accessible: role="img" with a <title> and a <desc> (summary of the
//     range and each series' minimum, maximum and last value) referenced
//     by aria-labelledby; element ids are prefixed with the chart's ID.
//   - Sized by the page: a viewBox with width="100%" (sparklines keep a
//     fixed size), so a chart fills its container on a desk and on a
//     phone; strokes do not scale.
//   - Neutral colours: text, axes and grid use currentColor (light and
//     dark pages, print), series use the Okabe–Ito colour-blind safe
//     palette, each also carrying a class (plot-s0, plot-s1, ...) that a
//     page's CSS may restyle.
//   - Escaped: every text from outside (titles, names, labels, units)
//     is XML-escaped, control, bidi-override and invalid UTF-8 characters
//     are replaced by U+FFFD.
//
// Times are shown in the chart's Location (UTC when nil); the axis names
// its zone.
package plot
