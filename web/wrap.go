package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/unyo-ops/unyo/auth"
)

// Wrap is the outer handler of the node's listener: it refuses every
// cross-origin state-changing request (http.CrossOriginProtection: a
// browser's Sec-Fetch-Site or Origin must be this site; clients that send
// neither, such as the CLI, pass), turns the guard's JSON refusals of a
// page into pages (401 → the login page with a way back, 403 and 503 →
// an error page), and compresses pages with gzip.
func (s *Server) Wrap(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	for _, o := range s.d.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			s.log.Warn("trusted origin not taken", "origin", o, "err", err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Info("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "from", auth.RemoteIP(r),
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "cross-origin request refused\n")
	}))
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !PagePath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if r.URL.Path != "/events" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			gw := &gzipWriter{ResponseWriter: w}
			defer gw.close()
			w = gw
		}
		next.ServeHTTP(&denyWriter{ResponseWriter: w, s: s, r: r}, r)
	})
	return cop.Handler(pages)
}

// browser reports whether r comes from a browser page (a navigation, a
// form, htmx or the live stream) rather than a program, which keeps the
// guard's JSON answer.
func browser(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html") || r.Header.Get("HX-Request") == "true" ||
		strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// denyWriter replaces the guard's JSON refusal of a page request by a
// page (the guard marks its answers with auth.DeniedHeader).
type denyWriter struct {
	http.ResponseWriter
	s         *Server
	r         *http.Request
	swallowed bool
	decided   bool
}

func (d *denyWriter) WriteHeader(code int) {
	if d.decided {
		d.ResponseWriter.WriteHeader(code)
		return
	}
	d.decided = true
	h := d.ResponseWriter.Header()
	if h.Get(auth.DeniedHeader) == "" || code < 400 || !browser(d.r) {
		d.ResponseWriter.WriteHeader(code)
		return
	}
	d.swallowed = true
	h.Del("Content-Type")
	h.Del("WWW-Authenticate")
	r, w := d.r, d.ResponseWriter
	switch code {
	case http.StatusUnauthorized:
		back := r.URL.RequestURI()
		if cur := r.Header.Get("HX-Current-URL"); cur != "" {
			if u, err := url.Parse(cur); err == nil {
				back = u.RequestURI()
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			back = "/"
			if ref, err := url.Parse(r.Referer()); err == nil && ref.Path != "" {
				back = ref.RequestURI()
			}
		}
		loc := "/login?next=" + url.QueryEscape(safeNext(back))
		if r.Header.Get("HX-Request") == "true" || r.URL.Path == "/events" {
			h.Set("HX-Redirect", loc)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, loc, http.StatusSeeOther)
	case http.StatusForbidden:
		d.s.fail(w, r, http.StatusForbidden, "Your role may not do this ("+h.Get(auth.DeniedHeader)+").")
	default:
		d.s.fail(w, r, code, "Your identity cannot be checked now; try again in a moment.")
	}
}

func (d *denyWriter) Write(b []byte) (int, error) {
	if !d.decided {
		d.WriteHeader(http.StatusOK)
	}
	if d.swallowed {
		return len(b), nil
	}
	return d.ResponseWriter.Write(b)
}

func (d *denyWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// Flush passes a flush through (the live stream).
func (d *denyWriter) Flush() {
	if f, ok := d.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

var gzPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression); return w }}

// gzipWriter compresses text answers (pages, CSS, JavaScript, SVG).
type gzipWriter struct {
	http.ResponseWriter
	gz      *gzip.Writer
	decided bool
}

func (g *gzipWriter) WriteHeader(code int) {
	if !g.decided {
		g.decided = true
		h := g.Header()
		ct := h.Get("Content-Type")
		if code != http.StatusNoContent && code != http.StatusNotModified && h.Get("Content-Encoding") == "" &&
			(strings.HasPrefix(ct, "text/") || strings.Contains(ct, "javascript") || strings.Contains(ct, "svg") || strings.Contains(ct, "json")) {
			h.Del("Content-Length")
			h.Set("Content-Encoding", "gzip")
			h.Add("Vary", "Accept-Encoding")
			g.gz = gzPool.Get().(*gzip.Writer)
			g.gz.Reset(g.ResponseWriter)
		}
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.decided {
		if g.Header().Get("Content-Type") == "" {
			g.Header().Set("Content-Type", http.DetectContentType(b))
		}
		g.WriteHeader(http.StatusOK)
	}
	if g.gz != nil {
		return g.gz.Write(b)
	}
	return g.ResponseWriter.Write(b)
}

func (g *gzipWriter) close() {
	if g.gz != nil {
		_ = g.gz.Close()
		gzPool.Put(g.gz)
		g.gz = nil
	}
}

func (g *gzipWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }
