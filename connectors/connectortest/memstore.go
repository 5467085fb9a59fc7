package connectortest

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
)

// MemStore is an in-memory connectors.AccountStore for tests: what the real
// store does, minus the database and the encryption.
type MemStore struct {
	mu       sync.Mutex
	accounts map[int64]connectors.Account
	tokens   map[int64]oauth2.Token
	reasons  map[int64]string
	saves    int
}

var _ connectors.AccountStore = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{
		accounts: map[int64]connectors.Account{},
		tokens:   map[int64]oauth2.Token{},
		reasons:  map[int64]string{},
	}
}

// AddAccount stores an account and its token (nil for none). An empty
// Status means connected.
func (s *MemStore) AddAccount(a connectors.Account, tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.Status == "" {
		a.Status = connectors.StatusConnected
	}
	s.accounts[a.ID] = a
	if tok != nil {
		s.tokens[a.ID] = *tok
	}
}

// FindAccount implements connectors.AccountStore.
func (s *MemStore) FindAccount(_ context.Context, id int64) (connectors.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return connectors.Account{}, fmt.Errorf("memstore: account %d: %w", id, connectors.ErrNotFound)
	}
	return a, nil
}

// LoadToken implements connectors.TokenStore.
func (s *MemStore) LoadToken(_ context.Context, id int64) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.tokens[id]
	if !ok {
		return nil, fmt.Errorf("memstore: token of account %d: %w", id, connectors.ErrNotFound)
	}
	return &tok, nil
}

// SaveToken implements connectors.TokenStore.
func (s *MemStore) SaveToken(_ context.Context, id int64, tok *oauth2.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[id] = *tok
	s.saves++
	return nil
}

// MarkNeedsRelink implements connectors.TokenStore.
func (s *MemStore) MarkNeedsRelink(_ context.Context, id int64, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[id]
	a.ID, a.Status = id, connectors.StatusNeedsRelink
	s.accounts[id] = a
	s.reasons[id] = reason
	return nil
}

// Saves returns how many tokens SaveToken stored.
func (s *MemStore) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

// RelinkReason returns the reason the account was marked needs_relink, or "".
func (s *MemStore) RelinkReason(id int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reasons[id]
}
