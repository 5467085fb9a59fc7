package hubspottest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// SpecsDirEnv names the environment variable that, when set, points at the
// directory holding HubSpot's OpenAPI documents (calls.json, contacts.json…).
// Without it the fake looks for shared/crm/specs/hubspot beside or above the
// working directory (the repository checkout keeps the shared folder next
// to it: <dir>/main and <dir>/shared).
const SpecsDirEnv = "CRMSYNC_SPECS_DIR"

// specFiles are the vendor documents the fake validates against. They are
// HubSpot's own (proprietary, not licensed for redistribution: API-NOTES §0),
// so they are read from the shared folder and never copied into the repo.
var specFiles = []string{
	"calls.json", "contacts.json", "deals.json", "leads.json",
	"crmOwners.json", "oauth.json", "webhooks.json",
}

// specs is every loaded document with a router for it.
type specs struct {
	dir     string
	routers []routers.Router
}

var (
	specsOnce sync.Once
	loaded    *specs
	loadErr   error
)

// loadSpecs loads and validates the documents once per process: parsing
// 500 KB of JSON schema for every test would dominate the run time.
func loadSpecs() (*specs, error) {
	specsOnce.Do(func() {
		loaded, loadErr = readSpecs()
	})
	return loaded, loadErr
}

func readSpecs() (*specs, error) {
	dir, err := SpecsDir()
	if err != nil {
		return nil, err
	}
	s := &specs{dir: dir}
	ctx := context.Background()
	for _, name := range specFiles {
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = false
		doc, err := loader.LoadFromFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("hubspottest: load %s: %w", name, err)
		}
		// The documents' own examples are malformed (an object written as a
		// string); requests and responses are what we check.
		if err := doc.Validate(ctx, openapi3.DisableExamplesValidation()); err != nil {
			return nil, fmt.Errorf("hubspottest: validate %s: %w", name, err)
		}
		// The documents name https://api.hubapi.com as their only server; the
		// fake listens on 127.0.0.1, so route on paths alone.
		doc.Servers = nil
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			return nil, fmt.Errorf("hubspottest: router for %s: %w", name, err)
		}
		s.routers = append(s.routers, r)
	}
	return s, nil
}

// SpecsDir returns the directory holding HubSpot's OpenAPI documents: the
// value of CRMSYNC_SPECS_DIR, or the first shared/crm/specs/hubspot found
// walking up from the working directory (also checking each parent's
// sibling ../shared, where a CI clone keeps it).
func SpecsDir() (string, error) {
	if dir := os.Getenv(SpecsDirEnv); dir != "" {
		if !isSpecsDir(dir) {
			return "", fmt.Errorf("hubspottest: %s=%s holds no contacts.json", SpecsDirEnv, dir)
		}
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("hubspottest: locate specs: %w", err)
	}
	rel := filepath.Join("shared", "crm", "specs", "hubspot")
	for dir := wd; ; dir = filepath.Dir(dir) {
		for _, cand := range []string{filepath.Join(dir, rel), filepath.Join(dir, "..", rel)} {
			if isSpecsDir(cand) {
				return filepath.Clean(cand), nil
			}
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return "", fmt.Errorf("hubspottest: no %s above %s; set %s", rel, wd, SpecsDirEnv)
}

func isSpecsDir(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "contacts.json"))
	return err == nil && !st.IsDir()
}

// tokenPathAlias maps the date-versioned token path HubSpot also serves
// (API-NOTES §3.1) onto the one its OpenAPI document describes.
var tokenPathAlias = map[string]string{"/oauth/2026-03/token": "/oauth/v3/token"}

// findRoute returns the operation r addresses in any of the documents.
func (s *specs) findRoute(r *http.Request) (*routers.Route, map[string]string, error) {
	if alias, ok := tokenPathAlias[r.URL.Path]; ok {
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

// authenticate satisfies the documents' security requirements for the
// validator: the oauth2 scheme needs an "Authorization: Bearer …" header.
// Whether the token is valid and holds the scopes is the handler's business
// (401/403 are answers, not spec violations).
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "oauth2" {
		return in.NewError(fmt.Errorf("scheme %q is not used by this client", in.SecuritySchemeName))
	}
	auth := in.RequestValidationInput.Request.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(auth, "Bearer "); !ok || strings.TrimSpace(tok) == "" {
		return in.NewError(errors.New("missing Authorization: Bearer header"))
	}
	return nil
}

// validationOptions are shared by request and response validation.
// HubSpot documents 200/201/207/default per operation; an undocumented
// status (429) falls back to default (the Error schema), as it does for
// the live API.
var validationOptions = func() *openapi3filter.Options {
	o := &openapi3filter.Options{AuthenticationFunc: authenticate, MultiError: true}
	// One line per problem ("/properties/x: value must be a string")
	// rather than kin-openapi's dump of the whole schema.
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		if err.Origin != nil || err.Reason == "" {
			return ""
		}
		return "/" + strings.Join(err.JSONPointer(), "/") + ": " + err.Reason
	})
	return o
}()
