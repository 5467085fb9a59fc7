package bitrix24

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
)

// authParam moves the access token from the Authorization header, where
// connectors.Transport (or oauth2.Transport) puts it, into Bitrix24's auth
// parameter: appended to a form body, else to the query. Bitrix24 never
// sees the header.
type authParam struct {
	next http.RoundTripper // nil: http.DefaultTransport
}

// authParamClient returns hc with authParam beneath its token-setting
// transport: the shared Transport keeps limiting, retrying and renewing the
// token on 401, and authParam rewrites each attempt it sends. Any other
// transport is wrapped whole (it may set the header on the request itself).
// hc is not modified. raw is the transport beneath the token-setting one
// (nil: http.DefaultTransport), for requests that carry their own auth.
func authParamClient(hc *http.Client) (api *http.Client, raw http.RoundTripper) {
	c := *hc
	switch t := hc.Transport.(type) {
	case *connectors.Transport:
		t2 := *t // the copy shares the token source and the limiter
		t2.Base = authParam{next: t.Base}
		c.Transport, raw = &t2, t.Base
	case *oauth2.Transport:
		t2 := *t
		t2.Base = authParam{next: t.Base}
		c.Transport, raw = &t2, t.Base
	case authParam:
		raw = t.next
	default:
		c.Transport, raw = authParam{next: hc.Transport}, hc.Transport
	}
	return &c, raw
}

// RoundTrip implements http.RoundTripper.
func (a authParam) RoundTrip(req *http.Request) (*http.Response, error) {
	next := a.next
	if next == nil {
		next = http.DefaultTransport
	}
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return next.RoundTrip(req)
	}
	r := req.Clone(req.Context()) // a RoundTripper must not change its request
	r.Header.Del("Authorization")
	if isForm(r) {
		var body []byte
		if r.Body != nil {
			b, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("bitrix24: read request body: %w", err)
			}
			body = b
		}
		if len(body) > 0 {
			body = append(body, '&')
		}
		body = append(body, "auth="+url.QueryEscape(tok)...)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	} else {
		q := r.URL.Query()
		q.Set("auth", tok)
		r.URL.RawQuery = q.Encode()
	}
	return next.RoundTrip(r)
}

func isForm(r *http.Request) bool {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}
