package connectors_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
)

// testConnector is registered so the real store will link accounts of it;
// these tests only need its accounts and tokens, never the connector.
const testConnector = "test"

func init() {
	connectors.Register(connectors.Info{Name: testConnector, New: func(connectors.Credentials) (connectors.Connector, error) {
		return nil, errors.New("test connector: not buildable")
	}})
}

// mustAccount opens a real store (PostgreSQL when configured, else SQLite)
// and links a test account holding tok to it.
func mustAccount(t *testing.T, tok *oauth2.Token) (*store.DB, store.Account) {
	t.Helper()
	db := storetest.MustOpen(t)
	return db, storetest.MustAccount(t, db, testConnector, "", tok)
}

// countingStore is the real store, counting the tokens it saved: for tests
// whose point is that a refreshed token is persisted exactly once.
type countingStore struct {
	*store.DB
	mu    sync.Mutex
	saves int
}

func (s *countingStore) SaveToken(ctx context.Context, id int64, tok *oauth2.Token) error {
	err := s.DB.SaveToken(ctx, id, tok)
	if err == nil {
		s.mu.Lock()
		s.saves++
		s.mu.Unlock()
	}
	return err
}

func (s *countingStore) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}
