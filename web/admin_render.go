package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/telephony"
)

// The pages are html/template files embedded in the binary, one per page,
// each defining "content" inside the shared layout; the stylesheet and the
// small script are embedded too. No build step.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageData is what every page template gets.
type pageData struct {
	Title  string
	Nav    string // the highlighted menu entry
	Viewer viewer // zero on the sign-in page
	Flash  *flash
	OpsURL string
	Loc    *time.Location // the tenant's time zone
	Page   any
}

var (
	pagesOnce sync.Once
	pages     map[string]*template.Template
	pagesErr  error
)

// parsePages parses the layout and every page once.
func parsePages() (map[string]*template.Template, error) {
	pagesOnce.Do(func() {
		base, err := template.New("").Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html")
		if err != nil {
			pagesErr = err
			return
		}
		names, err := fs.Glob(templateFS, "templates/*.html")
		if err != nil {
			pagesErr = err
			return
		}
		pages = map[string]*template.Template{}
		for _, n := range names {
			name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
			if name == "layout" {
				continue
			}
			t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
			if err != nil {
				pagesErr = fmt.Errorf("web: parse %s: %w", n, err)
				return
			}
			pages[name] = t
		}
	})
	return pages, pagesErr
}

// render writes page name with status. The page is rendered into a buffer
// first, so a template error becomes a clean error page, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	ps, err := parsePages()
	if err != nil {
		s.logger().Error("web: templates", "err", err)
		http.Error(w, "internal error; it has been logged", http.StatusInternalServerError)
		return
	}
	t, ok := ps[name]
	if !ok {
		s.logger().Error("web: no such page template", "page", name)
		http.Error(w, "internal error; it has been logged", http.StatusInternalServerError)
		return
	}
	if d.Viewer.Employee.ID == 0 {
		d.Viewer = viewerFrom(r)
	}
	if d.Viewer.Employee.ID != 0 {
		if d.Flash == nil {
			d.Flash = s.takeFlash(w, r)
		}
		if d.Viewer.Admin() {
			d.OpsURL = s.Admin.OpsURL
		}
		d.Loc = d.Viewer.Tenant.Location()
	}
	if d.Loc == nil {
		d.Loc = time.UTC
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		s.logger().Error("web: render page", "page", name, "err", err)
		http.Error(w, "internal error; it has been logged", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// errorView is the error page.
type errorView struct {
	Status  int
	Heading string
	Message string
	Back    string
}

// pageError renders err as an HTML page with the status its code maps to,
// as Error does for the API: internal errors are logged with their cause
// and shown as a generic message.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on our side; it has been logged."
	var es telephony.Errors
	var e *telephony.Error
	switch {
	case errors.As(err, &es) && len(es) > 0:
		status, msg = http.StatusBadRequest, es.Error()
	case errors.As(err, &e) && e.Code != telephony.EInternal:
		if st, ok := statusOf[e.Code]; ok {
			status = st
		}
		msg = e.Error()
	default:
		s.logger().Error("admin page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	v := errorView{Status: status, Message: msg, Back: "/admin/"}
	switch status {
	case http.StatusUnauthorized:
		v.Heading, v.Back = "Please sign in", "/login"
	case http.StatusForbidden:
		v.Heading = "Not allowed"
	case http.StatusNotFound:
		v.Heading = "Not found"
	case http.StatusBadRequest, http.StatusConflict:
		v.Heading = "That did not work"
	default:
		v.Heading = "Error"
	}
	s.render(w, r, status, "error", pageData{Title: v.Heading, Page: v})
}

// staticHandler serves the embedded stylesheet and script.
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

var templateFuncs = template.FuncMap{
	"tm":       formatTime,
	"ago":      ago,
	"pct":      func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"join":     strings.Join,
	"title":    titleWord,
	"upper":    strings.ToUpper,
	"contains": containsString,
	"add":      func(a, b int) int { return a + b },
	"ms":       func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) },
}

// formatTime shows a time (time.Time or *time.Time) in loc, "—" for none.
func formatTime(loc *time.Location, v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	}
	if t.IsZero() {
		return "—"
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02 15:04:05")
}

// ago says how long ago t was, roughly.
func ago(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	}
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

func titleWord(s string) string {
	s = strings.ReplaceAll(s, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
