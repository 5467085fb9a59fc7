package siprouter

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/telephony"
)

func TestRouteQuery(t *testing.T) {
	tests := []struct {
		name     string
		req      request
		trusted  bool
		want     telephony.RouteQuery
		wantAnon bool
	}{
		{
			name: "FromAndRequestURI",
			req:  request{},
			want: telephony.RouteQuery{CallID: "call-1", Caller: "+380501112233", DID: "+380441234567"},
		},
		{
			name: "DIDFromToWhenRequestURIHasNoUser",
			req:  request{URI: "sip:router.example.com", To: "<sip:0441234567@pbx.example.com>"},
			want: telephony.RouteQuery{CallID: "call-1", Caller: "+380501112233", DID: "0441234567"},
		},
		{
			name: "TelURIs",
			req:  request{URI: "tel:+380441234567;phone-context=+380", From: "<tel:+380501112233>;tag=f1"},
			want: telephony.RouteQuery{CallID: "call-1", Caller: "+380501112233", DID: "+380441234567"},
		},
		{
			name: "UserParametersDropped",
			req:  request{From: "<sip:+380501112233;npdi@pbx.example.com;user=phone>;tag=f1"},
			want: telephony.RouteQuery{CallID: "call-1", Caller: "+380501112233", DID: "+380441234567"},
		},
		{
			name: "RawNationalNumberPassedOn",
			req:  request{From: `"Ivan" <sip:050-111-22-33@pbx.example.com>;tag=f1`},
			want: telephony.RouteQuery{CallID: "call-1", Caller: "050-111-22-33", DID: "+380441234567"},
		},
		{
			name:    "AssertedIdentityFromTrustedSource",
			req:     request{Headers: []string{`P-Asserted-Identity: "Ivan" <sip:+380509998877@pbx.example.com>, <tel:+380509998877>`}},
			trusted: true,
			want:    telephony.RouteQuery{CallID: "call-1", Caller: "+380509998877", DID: "+380441234567"},
		},
		{
			name:    "AssertedTelIdentity",
			req:     request{Headers: []string{"P-Asserted-Identity: <tel:+380509998877>"}},
			trusted: true,
			want:    telephony.RouteQuery{CallID: "call-1", Caller: "+380509998877", DID: "+380441234567"},
		},
		{
			name: "AssertedIdentityIgnoredFromUntrustedSource",
			req:  request{Headers: []string{"P-Asserted-Identity: <sip:+380509998877@pbx.example.com>"}},
			want: telephony.RouteQuery{CallID: "call-1", Caller: "+380501112233", DID: "+380441234567"},
		},
		{
			name:    "TenantHeader",
			req:     request{Headers: []string{"X-Crmsync-Tenant: 42"}},
			trusted: true,
			want:    telephony.RouteQuery{CallID: "call-1", Caller: "+380501112233", DID: "+380441234567", TenantID: 42},
		},
		{
			name: "TenantHeaderIgnoredFromUntrustedSource",
			req:  request{Headers: []string{"X-Crmsync-Tenant: 42"}},
			want: telephony.RouteQuery{CallID: "call-1", Caller: "+380501112233", DID: "+380441234567"},
		},
		{
			name:    "BadTenantHeaderIgnored",
			req:     request{Headers: []string{"x-crmsync-tenant: forty-two"}},
			trusted: true,
			want:    telephony.RouteQuery{CallID: "call-1", Caller: "+380501112233", DID: "+380441234567"},
		},
		{
			name:     "AnonymousFrom",
			req:      request{From: `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=f1`},
			want:     telephony.RouteQuery{CallID: "call-1", Caller: anonymousCaller, DID: "+380441234567"},
			wantAnon: true,
		},
		{
			name:     "RestrictedUser",
			req:      request{From: "<sip:Restricted@pbx.example.com>;tag=f1"},
			want:     telephony.RouteQuery{CallID: "call-1", Caller: anonymousCaller, DID: "+380441234567"},
			wantAnon: true,
		},
		{
			name:     "NoUserPart",
			req:      request{From: "<sip:pbx.example.com>;tag=f1"},
			want:     telephony.RouteQuery{CallID: "call-1", Caller: anonymousCaller, DID: "+380441234567"},
			wantAnon: true,
		},
		{
			name:     "PrivacyID",
			req:      request{Headers: []string{"P-Asserted-Identity: <sip:+380509998877@pbx.example.com>", "Privacy: header; id"}},
			trusted:  true,
			want:     telephony.RouteQuery{CallID: "call-1", Caller: anonymousCaller, DID: "+380441234567"},
			wantAnon: true,
		},
		{
			name: "PrivacyNone",
			req:  request{Headers: []string{"Privacy: none"}},
			want: telephony.RouteQuery{CallID: "call-1", Caller: "+380501112233", DID: "+380441234567"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, anon := routeQuery(tt.req.MustParse(t), tt.trusted)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
			if anon != tt.wantAnon {
				t.Errorf("anonymous = %v, want %v", anon, tt.wantAnon)
			}
		})
	}
}

func TestCutAddress(t *testing.T) {
	tests := []struct{ in, entry, rest string }{
		{`<sip:a@b>, <tel:+1>`, `<sip:a@b>`, ` <tel:+1>`},
		{`"Doe, John" <sip:a@b>`, `"Doe, John" <sip:a@b>`, ``},
		{`<sip:a@b;x=1,2>`, `<sip:a@b;x=1,2>`, ``},
	}
	for _, tt := range tests {
		entry, rest := cutAddress(tt.in)
		if entry != tt.entry || rest != tt.rest {
			t.Errorf("cutAddress(%q) = %q, %q; want %q, %q", tt.in, entry, rest, tt.entry, tt.rest)
		}
	}
}
