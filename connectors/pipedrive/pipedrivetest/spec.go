package pipedrivetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// SpecsDirEnv names the environment variable that, when set, points at the
// directory holding Pipedrive's OpenAPI documents (v1.yaml, v2.yaml), or at
// the specs folder above it (…/shared/crm/specs). Without it the fake looks
// for shared/crm/specs/pipedrive beside or above the working directory.
const SpecsDirEnv = "CRMSYNC_SPECS_DIR"

// The documents, and the path prefix each one's operations are served
// under on a company's api_domain. Their servers name api.pipedrive.com;
// the fake routes on paths alone. The OAuth operations in v1.yaml carry
// their own server (oauth.pipedrive.com) and are served at the root.
var specFiles = []struct{ name, prefix string }{
	{"v1.yaml", "/v1"},
	{"v2.yaml", "/api/v2"},
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

// loadSpecs loads the documents once per process: parsing 2.8 MB of YAML
// takes a few hundred milliseconds.
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
	for _, f := range specFiles {
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = false
		doc, err := loader.LoadFromFile(filepath.Join(dir, f.name))
		if err != nil {
			return nil, fmt.Errorf("pipedrivetest: load %s: %w", f.name, err)
		}
		// v1.yaml's own examples fail validation (date-times that are not
		// RFC 3339, such as "2019-11-21 08:45:56"); v2.yaml's pass, but the
		// same settings serve both. Requests and responses are what we check.
		if err := doc.Validate(ctx, openapi3.DisableExamplesValidation()); err != nil {
			return nil, fmt.Errorf("pipedrivetest: validate %s: %w", f.name, err)
		}
		doc.Servers = openapi3.Servers{{URL: f.prefix}}
		// The OAuth operations name oauth.pipedrive.com as their server, on
		// the operation, where kin-openapi's router does not look (it reads
		// document and path servers): move it to the path, at the root.
		for _, item := range doc.Paths.Map() {
			own := len(item.Servers) > 0
			for _, op := range item.Operations() {
				if op.Servers != nil && len(*op.Servers) > 0 {
					own, op.Servers = true, nil
				}
			}
			if own {
				item.Servers = openapi3.Servers{{URL: "/"}}
			}
		}
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			return nil, fmt.Errorf("pipedrivetest: router for %s: %w", f.name, err)
		}
		s.routers = append(s.routers, r)
	}
	return s, nil
}

// SpecsDir returns the directory holding Pipedrive's OpenAPI documents: the
// one CRMSYNC_SPECS_DIR names (or its pipedrive subfolder), or the first
// shared/crm/specs/pipedrive found walking up from the working directory
// (also checking each parent's sibling ../shared, where a CI clone keeps it).
func SpecsDir() (string, error) {
	if dir := os.Getenv(SpecsDirEnv); dir != "" {
		for _, cand := range []string{dir, filepath.Join(dir, "pipedrive")} {
			if isSpecsDir(cand) {
				return filepath.Clean(cand), nil
			}
		}
		return "", fmt.Errorf("pipedrivetest: %s=%s holds no v1.yaml (nor pipedrive/v1.yaml)", SpecsDirEnv, dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("pipedrivetest: locate specs: %w", err)
	}
	rel := filepath.Join("shared", "crm", "specs", "pipedrive")
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
	return "", fmt.Errorf("pipedrivetest: no %s above %s; set %s", rel, wd, SpecsDirEnv)
}

func isSpecsDir(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "v1.yaml"))
	return err == nil && !st.IsDir()
}

// findRoute returns the operation r addresses in either document.
func (s *specs) findRoute(r *http.Request) (*routers.Route, map[string]string, error) {
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
// validator: oauth2 needs "Authorization: Bearer …", basic_authentication
// (the token endpoint) "Authorization: Basic …". The API-token scheme is
// not one a linked account uses. Whether credentials are valid, and the
// token's scopes, are the handlers' business (401/403 are answers, not
// spec violations).
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	auth := in.RequestValidationInput.Request.Header.Get("Authorization")
	var prefix string
	switch in.SecuritySchemeName {
	case "oauth2":
		prefix = "Bearer "
	case "basic_authentication":
		prefix = "Basic "
	default:
		return in.NewError(fmt.Errorf("scheme %q is not used by this client", in.SecuritySchemeName))
	}
	if v, ok := strings.CutPrefix(auth, prefix); !ok || strings.TrimSpace(v) == "" {
		return in.NewError(fmt.Errorf("missing Authorization: %sheader", prefix))
	}
	return nil
}

// dateTime is the "date-time" format as Pipedrive uses it: RFC 3339, or
// UTC "YYYY-MM-DD HH:MM:SS". The documents type call logs' start_time and
// end_time (and some v1 answers' times) as date-time while their
// descriptions and Pipedrive's API want "YYYY-MM-DD HH:MM:SS"; kin-openapi
// checks date-time as RFC 3339. This document-scoped validator works around
// the documents without editing them (or kin-openapi's global formats,
// which the HubSpot fake relies on).
var dateTime = openapi3.NewCallbackValidator(func(v string) error {
	if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return nil
	}
	if _, err := time.Parse(time.DateTime, v); err == nil {
		return nil
	}
	return fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD HH:MM:SS", v)
})

// validationOptions are shared by request and response validation. An
// undocumented status (429 everywhere, 401 on most operations) is not
// checked, as the documents describe none.
var validationOptions = func() *openapi3filter.Options {
	o := &openapi3filter.Options{
		AuthenticationFunc:      authenticate,
		MultiError:              true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidator("date-time", dateTime)},
	}
	// One line per problem ("/duration: value must be a string") rather
	// than kin-openapi's dump of the whole schema.
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		if err.Origin != nil || err.Reason == "" {
			return ""
		}
		return "/" + strings.Join(err.JSONPointer(), "/") + ": " + err.Reason
	})
	return o
}()
