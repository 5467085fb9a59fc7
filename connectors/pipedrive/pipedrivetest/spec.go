package pipedrivetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/crmsync/crmsync/connectors/connectortest"
)

// The documents, and the path prefix each one's operations are served
// under on a company's api_domain. Their servers name api.pipedrive.com;
// the fake routes on paths alone. The OAuth operations in v1.yaml carry
// their own server (oauth.pipedrive.com) and are served at the root.
var specFiles = []string{"v1.yaml", "v2.yaml"}

var specPrefix = map[string]string{"v1.yaml": "/v1", "v2.yaml": "/api/v2"}

var (
	specsOnce sync.Once
	loaded    *connectortest.Spec
	loadErr   error
)

// loadSpecs loads the documents once per process: parsing 2.8 MB of YAML
// takes a few hundred milliseconds. (v1.yaml's own examples fail
// validation, with date-times that are not RFC 3339.)
func loadSpecs() (*connectortest.Spec, error) {
	specsOnce.Do(func() {
		dir, err := SpecsDir()
		if err != nil {
			loadErr = err
			return
		}
		loaded, loadErr = connectortest.LoadSpec("pipedrivetest", dir, specFiles, routeOnPaths)
		if loadErr == nil {
			loaded.Options = validationOptions
		}
	})
	return loaded, loadErr
}

// routeOnPaths serves doc under its prefix, and its OAuth operations at the
// root: they name oauth.pipedrive.com as their server on the operation,
// where kin-openapi's router does not look (it reads document and path
// servers), so the server moves to the path.
func routeOnPaths(file string, doc *openapi3.T) {
	doc.Servers = openapi3.Servers{{URL: specPrefix[file]}}
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
}

// SpecsDir returns the directory holding Pipedrive's OpenAPI documents
// (connectortest.SpecsDir).
func SpecsDir() (string, error) { return connectortest.SpecsDir("pipedrive", "v1.yaml") }

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
var validationOptions = connectortest.ValidationOptions(authenticate,
	openapi3.WithStringFormatValidator("date-time", dateTime))
