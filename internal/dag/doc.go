// Package dag lays out a jobnet's jobs as a layered graph and draws it as
// inline SVG, computed on the server: the console's run page shows each
// job in its state's colour and replaces the drawing when a state changes.
//
// Layout (Sugiyama style, all deterministic — the same jobs in the same
// order give the same bytes):
//   - Layers by longest path: a job with no needs is in layer 0, any other
//     one layer below the deepest of its needs, so every edge points to a
//     later layer. An edge spanning several layers passes through a
//     virtual point in each layer between, so edges route around jobs.
//   - Order within a layer by barycentre sweeps (down, then up, repeated),
//     ties kept in the current order; the order with the fewest crossings
//     counted is kept.
//   - Horizontal places: each layer as close as it can be to the mean of
//     its neighbours' places without two jobs closer than the gap
//     (isotonic regression, pool adjacent violators), alternating down
//     and up passes.
//
// Drawing: layers go top to bottom; each job is ONE <g> element with
// id "job-<name>" (prefixed by Options.IDPrefix), class "dag-job
// dag-<state>", data-job and data-state attributes, holding its box, its
// name and its state in words (colour is never the only cue) and a
// <title> tooltip. Edges are <path class="dag-edge"> elements with
// data-from and data-to. The SVG has its natural size (a page puts it in
// a box that scrolls); text uses currentColor and state colours are
// tints, so it reads on light and dark pages.
//
// Layout refuses a cycle ([ErrCycle], naming it), a need on an unknown
// job, a duplicate or empty name, and graphs past MaxJobs jobs or
// MaxVertices jobs and virtual points.
package dag
