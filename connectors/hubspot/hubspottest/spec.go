package hubspottest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/crmsync/crmsync/connectors/connectortest"
)

// specFiles are the vendor documents the fake validates against.
var specFiles = []string{
	"calls.json", "contacts.json", "deals.json", "leads.json",
	"crmOwners.json", "oauth.json", "webhooks.json",
}

var (
	specsOnce sync.Once
	loaded    *connectortest.Spec
	loadErr   error
)

// loadSpecs loads and validates the documents once per process: parsing
// 500 KB of JSON schema for every test would dominate the run time.
func loadSpecs() (*connectortest.Spec, error) {
	specsOnce.Do(func() {
		dir, err := SpecsDir()
		if err != nil {
			loadErr = err
			return
		}
		// The documents name https://api.hubapi.com as their only server;
		// the fake listens on 127.0.0.1, so route on paths alone.
		loaded, loadErr = connectortest.LoadSpec("hubspottest", dir, specFiles, func(_ string, doc *openapi3.T) { doc.Servers = nil })
		if loadErr == nil {
			loaded.Aliases = tokenPathAlias
			loaded.Options = validationOptions
		}
	})
	return loaded, loadErr
}

// SpecsDir returns the directory holding HubSpot's OpenAPI documents
// (connectortest.SpecsDir).
func SpecsDir() (string, error) { return connectortest.SpecsDir("hubspot", "contacts.json") }

// tokenPathAlias maps the date-versioned token path HubSpot also serves
// (API-NOTES §3.1) onto the one its OpenAPI document describes.
var tokenPathAlias = map[string]string{"/oauth/2026-03/token": "/oauth/v3/token"}

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
var validationOptions = connectortest.ValidationOptions(authenticate)
