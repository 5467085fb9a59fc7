package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/crmsync/crmsync/telephony"
)

// Tenants is what the server needs to know about tenants.
type Tenants interface {
	// TenantByAPIKey returns the tenant owning key, or an EUnauthorized
	// error.
	TenantByAPIKey(ctx context.Context, key string) (telephony.Tenant, error)
	// Tenant returns the tenant with id.
	Tenant(ctx context.Context, id int64) (telephony.Tenant, error)
	// UpdateRouting validates and saves the tenant's routing settings.
	UpdateRouting(ctx context.Context, tenantID int64, r telephony.Routing) error
}

type tenantKey struct{}

// authenticate lets a request through only with a valid tenant API key in
// "Authorization: Bearer <key>", and puts the tenant in its context.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := bearer(r)
		if !ok {
			Error(w, r, telephony.Errorf(telephony.EUnauthorized, "", "missing API key: send Authorization: Bearer <api_key>"))
			return
		}
		t, err := s.Tenants.TenantByAPIKey(r.Context(), key)
		if err != nil {
			Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tenantKey{}, t)))
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
		return "", false
	}
	return strings.TrimSpace(key), true
}

// tenantFrom returns the authenticated tenant of r. Only handlers behind
// authenticate call it.
func tenantFrom(r *http.Request) telephony.Tenant {
	t, _ := r.Context().Value(tenantKey{}).(telephony.Tenant)
	return t
}
