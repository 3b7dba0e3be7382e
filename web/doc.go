// Package web is the operator's console: server-rendered pages
// (html/template, embedded with embed.FS) with htmx (vendored, one file,
// and its SSE extension) for partial updates and a live event stream. No
// build step and no Node at run time: everything is in the binary.
//
// Served by `unyo serve` on the node's own listener (node.New registers
// the pages on the node's auth.Mux next to the JSON API and wraps the
// whole handler with Server.Wrap). Every page route names its action in
// the permission table (auth/actions.go): the guard answers before a
// handler runs, and Wrap turns its refusals into pages (401: the login
// page, which brings the user back to the page asked for; 403: an error
// page). Buttons a role cannot use are not drawn (Page.Can), and the
// server refuses them anyway.
//
// # Sessions
//
// A login (POST /login) makes a session token with auth.Service.Login and
// sets it as the cookie unyo_session (HttpOnly, SameSite=Lax, Secure on
// HTTPS). The cookie is taken on page paths only (PagePath): the JSON API
// takes bearer tokens only. Wrap refuses every cross-origin
// state-changing request (http.CrossOriginProtection).
//
// # Adding a page
//
//  1. Write web/<page>.go with a handler `func (s *Server) x(w, r)` that
//     reads its data from s.d (the same stores and services as the API:
//     s.d.Store, s.d.Targets, s.d.Jobnets, s.d.Alerting, s.d.Auth) and
//     calls s.render(w, r, "<page>", data), or s.fail(w, r, status, msg)
//     (msg is shown: operator's words, never an error's text; use
//     s.storeFail for store errors).
//  2. Write web/templates/<page>.html defining "title" and "content"
//     (the layout, templates/_layout.html, draws the header, the nav and
//     the live stream around it). Templates get a Page: .Data is yours,
//     .User the viewer, .Can "action" whether to draw a button, and the
//     funcs time (TimeLayout, with the zone), ago, pathesc, ...
//  3. Add one line to routes() in routes.go with the route's action, and
//     an item to Nav if it belongs in the navigation bar.
//  4. Add the page to the role table test (web_test.go).
//
// # Live updates
//
// Server.Hub() returns the Hub. Hub.Publish(type, data) sends an event to
// every open page; it never blocks (a page whose bounded buffer is full
// is dropped; its browser reconnects). Each event has an id
// "<hub epoch>-<seq>"; a page connects to /events?since=<the id it was
// drawn at> (the browser's Last-Event-ID on a reconnect) and first gets
// what it missed, or a "refresh" event when the hub no longer holds that
// (or restarted). The node publishes "incident" for every incident
// transition on the bus ({"id","target","kind","state","severity"}); a
// job network may publish "run" and "job" the same way (WatchRuns), and
// WatchAgents publishes "agent" and "rollout" for the agents' pages.
// Hub.PublishFor(action, type, data) sends an event only to the streams
// of viewers allowed action (auth.Allowed), also when it is replayed.
//
// A page region that follows the stream is an element with an id "r-NAME"
// and class "region" that re-fetches its own page:
//
//	<div id="r-list" class="region" hx-get="{{.Self}}"
//	     hx-trigger="sse:incident, sse:refresh, unyo:retry"
//	     hx-sync="this:queue last" hx-swap="innerHTML">{{template "list" .}}</div>
//
// render answers such a request (HX-Target: r-list) with the template
// "list" alone. A region that is costly to draw (the overview's 2,000
// tiles, a large DAG) takes data-settle="1500" data-events="incident
// target" and hx-trigger="unyo:redraw, unyo:retry" instead: unyo.js
// redraws it at most once per 1.5 s and always after the last event,
// and the badge says "behind" until it has been. static/unyo.js shows live / behind / reconnecting, keeps
// ticked checkboxes across a redraw and retries a failed redraw; list a
// new event type in its TYPES.
//
// # Metrics
//
//	unyo_web_events_published_total  events published to live pages
//	unyo_web_streams                 live pages connected now
//	unyo_web_streams_dropped_total   live pages dropped for not keeping up
package web
