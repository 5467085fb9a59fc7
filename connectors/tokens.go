package connectors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// TokenStore is what a TokenSource needs from storage. The store seals
// tokens at rest (AES-GCM under CRMSYNC_SECRET_KEY); a TokenSource never
// logs them.
type TokenStore interface {
	// LoadToken returns the account's current token. It returns an error
	// wrapping ErrNotFound (or the store's own not-found error) when the
	// account has none.
	LoadToken(ctx context.Context, accountID int64) (*oauth2.Token, error)
	// SaveToken replaces the account's token with tok, atomically: a
	// refresh token is single-use at some CRMs, so a lost save is a lost
	// account.
	SaveToken(ctx context.Context, accountID int64, tok *oauth2.Token) error
	// MarkNeedsRelink sets the account's status to needs_relink with a
	// reason an admin can read; its events stay queued.
	MarkNeedsRelink(ctx context.Context, accountID int64, reason string) error
}

// RefreshFunc exchanges a refresh token for a new token; see Info.Refresh.
// It must return an *oauth2.RetrieveError for an error answer from the
// token endpoint, so that invalid_grant is recognised.
type RefreshFunc func(ctx context.Context, cfg *oauth2.Config, refreshToken string) (*oauth2.Token, error)

// Token source defaults.
const (
	DefaultExpiryMargin = time.Minute
	DefaultLockTTL      = 30 * time.Second
	DefaultLockWait     = 20 * time.Second
	refreshTimeout      = 15 * time.Second // < DefaultLockTTL: the lock outlives the refresh
)

// TokenSource hands out an account's access token and refreshes it when it
// expires, safely across processes: the refresh runs under a per-account
// Redis lock, after re-reading the stored token (another process may have
// refreshed it), and the new token is saved before the lock is released and
// before anyone uses it, so no one ever sends a spent refresh token. In one
// process, concurrent callers share one refresh (singleflight).
//
// An invalid_grant answer marks the account needs_relink and returns an
// error wrapping ErrUnauthorized. Set the exported fields before first use.
type TokenSource struct {
	AccountID int64
	Store     TokenStore
	// Redis holds the refresh lock. Nil serialises refreshes in this
	// process only (tests and single-process setups).
	Redis redis.UniversalClient
	// Config is the OAuth app with the account's endpoint.
	Config *oauth2.Config
	// Refresh replaces the standard x/oauth2 refresh when set (Info.Refresh).
	Refresh RefreshFunc
	// HTTPClient sends token requests; nil means http.DefaultClient. It
	// must not be the authenticating client itself.
	HTTPClient *http.Client
	// ExpiryMargin treats a token as expired this long before its expiry.
	ExpiryMargin time.Duration
	// LockTTL bounds how long a crashed refresher blocks others.
	LockTTL time.Duration
	// LockWait bounds how long a caller waits for another's refresh.
	LockWait time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	cached   *oauth2.Token
	rejected string // a refresh token the CRM refused: never sent again
	flight   singleflight.Group
}

// Token returns a valid access token, refreshing it if needed.
func (s *TokenSource) Token(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	tok := s.cached
	s.mu.Unlock()
	if s.valid(tok) {
		return tok, nil
	}
	return s.renew(ctx, "")
}

// Renew returns a token other than stale, the access token a CRM has just
// answered 401 to: the stored one if another process has replaced it,
// else a refreshed one.
func (s *TokenSource) Renew(ctx context.Context, stale string) (*oauth2.Token, error) {
	return s.renew(ctx, stale)
}

func (s *TokenSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *TokenSource) valid(tok *oauth2.Token) bool {
	if tok == nil || tok.AccessToken == "" {
		return false
	}
	if tok.Expiry.IsZero() {
		return true
	}
	margin := s.ExpiryMargin
	if margin == 0 {
		margin = DefaultExpiryMargin
	}
	return s.now().Add(margin).Before(tok.Expiry)
}

// usable reports whether tok can be handed out instead of stale.
func (s *TokenSource) usable(tok *oauth2.Token, stale string) bool {
	return s.valid(tok) && (stale == "" || tok.AccessToken != stale)
}

func (s *TokenSource) renew(ctx context.Context, stale string) (*oauth2.Token, error) {
	// The flight runs detached from any one caller: once a refresh request
	// is sent the old refresh token is spent, so the new one must be saved
	// even if the caller that started it gives up.
	ch := s.flight.DoChan("renew:"+stale, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.lockWait()+refreshTimeout)
		defer cancel()
		return s.renewLocked(fctx, stale)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		tok := res.Val.(*oauth2.Token)
		s.mu.Lock()
		s.cached = tok
		s.mu.Unlock()
		return tok, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("connectors: account %d: token: %w", s.AccountID, ctx.Err())
	}
}

func (s *TokenSource) lockWait() time.Duration {
	if s.LockWait > 0 {
		return s.LockWait
	}
	return DefaultLockWait
}

// renewLocked is one in-process flight: it reuses a stored token if one is
// usable, else takes the cross-process lock and refreshes.
func (s *TokenSource) renewLocked(ctx context.Context, stale string) (*oauth2.Token, error) {
	tok, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if s.usable(tok, stale) {
		return tok, nil
	}
	release, tok, err := s.lock(ctx, stale)
	if err != nil || tok != nil {
		return tok, err // someone else refreshed while we waited, or we gave up
	}
	defer release()
	// Re-read under the lock: the holder before us may have saved a new token.
	if tok, err = s.load(ctx); err != nil {
		return nil, err
	}
	if s.usable(tok, stale) {
		return tok, nil
	}
	return s.refresh(ctx, tok)
}

func (s *TokenSource) load(ctx context.Context) (*oauth2.Token, error) {
	tok, err := s.Store.LoadToken(ctx, s.AccountID)
	if err != nil {
		return nil, fmt.Errorf("connectors: account %d: load token: %w", s.AccountID, err)
	}
	return tok, nil
}

// refresh exchanges old's refresh token and saves the result; the caller
// holds the lock.
func (s *TokenSource) refresh(ctx context.Context, old *oauth2.Token) (*oauth2.Token, error) {
	if old == nil || old.RefreshToken == "" {
		return nil, s.needsRelink(ctx, "no refresh token stored")
	}
	s.mu.Lock()
	rejected := s.rejected == old.RefreshToken
	s.mu.Unlock()
	if rejected { // already marked needs_relink; wait for a relink to store a new token
		return nil, fmt.Errorf("connectors: account %d: refresh token rejected earlier: %w", s.AccountID, ErrUnauthorized)
	}
	hc := s.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	rctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, hc), refreshTimeout)
	defer cancel()
	var tok *oauth2.Token
	var err error
	if s.Refresh != nil {
		tok, err = s.Refresh(rctx, s.Config, old.RefreshToken)
	} else {
		tok, err = s.Config.TokenSource(rctx, &oauth2.Token{RefreshToken: old.RefreshToken}).Token()
	}
	if err != nil {
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.ErrorCode == "invalid_grant" {
			s.mu.Lock()
			s.rejected = old.RefreshToken
			s.mu.Unlock()
			return nil, s.needsRelink(ctx, "refresh token rejected (invalid_grant)")
		}
		// Never %w the cause: an oauth2 error can quote the response body.
		return nil, fmt.Errorf("connectors: account %d: refresh token: %s", s.AccountID, refreshErrText(err))
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = old.RefreshToken // the vendor kept it
	}
	if err := s.Store.SaveToken(ctx, s.AccountID, tok); err != nil {
		return nil, fmt.Errorf("connectors: account %d: save refreshed token: %w", s.AccountID, err)
	}
	return tok, nil
}

// refreshErrText describes a failed refresh without any response body.
func refreshErrText(err error) string {
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		if re.ErrorCode != "" {
			return "token endpoint answered " + re.ErrorCode
		}
		if re.Response != nil {
			return "token endpoint answered " + re.Response.Status
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "token endpoint timed out"
	}
	return err.Error()
}

func (s *TokenSource) needsRelink(ctx context.Context, reason string) error {
	err := fmt.Errorf("connectors: account %d: %s: %w", s.AccountID, reason, ErrUnauthorized)
	if merr := s.Store.MarkNeedsRelink(ctx, s.AccountID, reason); merr != nil {
		return errors.Join(err, fmt.Errorf("connectors: account %d: mark needs_relink: %w", s.AccountID, merr))
	}
	return err
}

// unlockScript deletes the lock only if we still hold it.
var unlockScript = redis.NewScript(`
if redis.call("get", KEYS[1]) == ARGV[1] then
	return redis.call("del", KEYS[1])
end
return 0`)

// RefreshLockKey is the Redis key of an account's refresh lock.
func RefreshLockKey(accountID int64) string {
	return "crmsync:oauth:refresh:" + strconv.FormatInt(accountID, 10)
}

// lock takes the account's refresh lock. While another process holds it,
// it polls the store: if a usable token appears it returns that token (and
// no lock). It gives up after LockWait.
func (s *TokenSource) lock(ctx context.Context, stale string) (release func(), tok *oauth2.Token, err error) {
	if s.Redis == nil {
		return func() {}, nil, nil
	}
	ttl := s.LockTTL
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	val, key := hex.EncodeToString(b), RefreshLockKey(s.AccountID)
	deadline := time.Now().Add(s.lockWait())
	poll := 10 * time.Millisecond
	for {
		ok, err := s.Redis.SetNX(ctx, key, val, ttl).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("connectors: account %d: refresh lock: %w", s.AccountID, err)
		}
		if ok {
			return func() {
				// Detached: the lock must go even if ctx just ended.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_ = unlockScript.Run(rctx, s.Redis, []string{key}, val).Err()
			}, nil, nil
		}
		if t, err := s.load(ctx); err == nil && s.usable(t, stale) {
			return nil, t, nil
		}
		if time.Now().Add(poll).After(deadline) {
			return nil, nil, fmt.Errorf("connectors: account %d: refresh lock held by another process for over %s", s.AccountID, s.lockWait())
		}
		timer := time.NewTimer(poll)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, nil, fmt.Errorf("connectors: account %d: refresh lock: %w", s.AccountID, ctx.Err())
		}
		poll = min(poll*2, 200*time.Millisecond)
	}
}
