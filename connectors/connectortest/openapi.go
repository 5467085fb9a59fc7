package connectortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The vendors' OpenAPI documents are theirs (not licensed for
// redistribution: API-NOTES §0), so fakes read them from the shared folder
// beside the checkout and never copy them into the repository.

// SpecsDirEnv names the environment variable that, when set, points at the
// folder of every vendor's OpenAPI documents (…/shared/crm/specs) or at one
// vendor's folder in it.
const SpecsDirEnv = "CRMSYNC_SPECS_DIR"

// SpecsDir returns the folder holding vendor's documents, recognised by the
// file marker in it: $CRMSYNC_SPECS_DIR/vendor or $CRMSYNC_SPECS_DIR itself,
// else the first shared/crm/specs/vendor found walking up from the working
// directory (also checking each parent's sibling ../shared, where a CI
// clone keeps it).
func SpecsDir(vendor, marker string) (string, error) {
	has := func(dir string) bool {
		st, err := os.Stat(filepath.Join(dir, marker))
		return err == nil && !st.IsDir()
	}
	if dir := os.Getenv(SpecsDirEnv); dir != "" {
		for _, cand := range []string{filepath.Join(dir, vendor), dir} {
			if has(cand) {
				return filepath.Clean(cand), nil
			}
		}
		return "", fmt.Errorf("connectortest: %s=%s holds neither %s nor %s/%s", SpecsDirEnv, dir, marker, vendor, marker)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("connectortest: locate %s specs: %w", vendor, err)
	}
	rel := filepath.Join("shared", "crm", "specs", vendor)
	for dir := wd; ; dir = filepath.Dir(dir) {
		for _, cand := range []string{filepath.Join(dir, rel), filepath.Join(dir, "..", rel)} {
			if has(cand) {
				return filepath.Clean(cand), nil
			}
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return "", fmt.Errorf("connectortest: no %s above %s; set %s", rel, wd, SpecsDirEnv)
}

// Spec is a vendor's OpenAPI documents, loaded to check a fake's traffic:
// every request the client sends and every answer the fake gives.
type Spec struct {
	// Name prefixes violations ("hubspottest").
	Name string
	// Options validate requests and responses (see ValidationOptions).
	Options *openapi3filter.Options
	// Aliases maps a path the vendor also serves onto the one its
	// documents describe.
	Aliases map[string]string

	routers []routers.Router
}

// LoadSpec loads files from dir and builds a router for each. The
// documents are validated, their own examples aside (vendors' examples are
// often malformed; requests and responses are what matters). prepare, when
// set, adjusts a document before it is routed (its servers: the fake
// listens on 127.0.0.1, so routing is on paths).
func LoadSpec(name, dir string, files []string, prepare func(file string, doc *openapi3.T)) (*Spec, error) {
	s := &Spec{Name: name}
	for _, file := range files {
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = false
		doc, err := loader.LoadFromFile(filepath.Join(dir, file))
		if err != nil {
			return nil, fmt.Errorf("%s: load %s: %w", name, file, err)
		}
		if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
			return nil, fmt.Errorf("%s: validate %s: %w", name, file, err)
		}
		if prepare != nil {
			prepare(file, doc)
		}
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: router for %s: %w", name, file, err)
		}
		s.routers = append(s.routers, r)
	}
	return s, nil
}

// ValidationOptions returns options for request and response validation
// with auth as the security check and one line per schema problem
// ("/properties/x: value must be a string") rather than kin-openapi's dump
// of the whole schema.
func ValidationOptions(auth openapi3filter.AuthenticationFunc, schema ...openapi3.SchemaValidationOption) *openapi3filter.Options {
	o := &openapi3filter.Options{AuthenticationFunc: auth, MultiError: true, SchemaValidationOptions: schema}
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		if err.Origin != nil || err.Reason == "" {
			return ""
		}
		return "/" + strings.Join(err.JSONPointer(), "/") + ": " + err.Reason
	})
	return o
}

// FindRoute returns the operation r addresses in any of the documents.
func (s *Spec) FindRoute(r *http.Request) (*routers.Route, map[string]string, error) {
	if alias, ok := s.Aliases[r.URL.Path]; ok {
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = alias, ""
		r = r2
	}
	var firstErr error
	for _, router := range s.routers {
		route, params, err := router.FindRoute(r)
		if err == nil {
			return route, params, nil
		}
		// Prefer "method not allowed" (the path exists) over "not found".
		if firstErr == nil || errors.Is(err, routers.ErrMethodNotAllowed) {
			firstErr = err
		}
	}
	return nil, nil, fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, firstErr)
}

// Checks are what Serve reports to, and answers with, for one fake.
type Checks struct {
	// Violation receives every request or answer the documents reject.
	Violation func(error)
	// Refuse an invalid request in the vendor's error format.
	Refuse func(w http.ResponseWriter, status int, msg string)
	// Before, when set, runs after the request validated and before it is
	// served; it reports whether it answered instead (a rate limit).
	Before func(w http.ResponseWriter) bool
}

type routeKey struct{}

// Route returns the operation Serve matched for r, or nil.
func Route(r *http.Request) *routers.Route {
	rt, _ := r.Context().Value(routeKey{}).(*routers.Route)
	return rt
}

// Serve validates r against the documents, serves it with next (Route
// names the operation), validates the answer and sends it. An invalid
// request is a violation and is refused (404 for a path the documents lack,
// 400 otherwise); an invalid answer is a violation and is still sent, so
// the client sees what the fake said.
func (s *Spec) Serve(w http.ResponseWriter, r *http.Request, next http.Handler, c Checks) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		c.Refuse(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	reset := func() { r.Body = io.NopCloser(bytes.NewReader(body)) }
	reset()
	route, params, err := s.FindRoute(r)
	if err != nil {
		c.Violation(fmt.Errorf("%s: request not in the vendor's documents: %w", s.Name, err))
		c.Refuse(w, http.StatusNotFound, err.Error())
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: s.Options}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		c.Violation(fmt.Errorf("%s: invalid request %s %s: %w", s.Name, r.Method, r.URL.Path, err))
		c.Refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	if c.Before != nil && c.Before(w) {
		return
	}
	reset()
	rec := &recorder{header: http.Header{}}
	next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), routeKey{}, route)))
	if !rec.wrote {
		return // the client went away during an injected delay
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	// A fault that answers 2xx sends malformed JSON on purpose, and a 204
	// has no body to check.
	if !(rec.fault && status < 300) && status != http.StatusNoContent {
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in,
			Status:                 status,
			Header:                 rec.header,
			Body:                   io.NopCloser(bytes.NewReader(rec.body.Bytes())),
			Options:                s.Options,
		}
		if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
			c.Violation(fmt.Errorf("%s: invalid response to %s %s (%d): %w", s.Name, r.Method, r.URL.Path, status, err))
		}
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(rec.body.Bytes())
}

// MarkFault marks the answer being written to w, inside Serve, as an
// injected fault: a 2xx fault is malformed on purpose and is not checked.
func MarkFault(w http.ResponseWriter) {
	if rec, ok := w.(*recorder); ok {
		rec.fault = true
	}
}

// recorder buffers an answer so it can be validated before it is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
	fault  bool // an injected fault answered
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.wrote = true
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
