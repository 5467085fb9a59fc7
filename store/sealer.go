package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Sealer encrypts secrets at rest with AES-256-GCM. The key is derived from
// CRMSYNC_SECRET_KEY; each sealed value carries its own random nonce.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives a 256-bit key from secret (SHA-256; the secret should
// be long and random, config enforces a minimum length).
func NewSealer(secret string) (*Sealer, error) {
	if secret == "" {
		return nil, errors.New("store: empty secret key")
	}
	key := sha256.Sum256([]byte("crmsync/v1:" + secret))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext; aad binds the ciphertext to where it is stored
// (e.g. "crm_accounts:42:token"), so a sealed value copied to another row
// does not open.
func (s *Sealer) Seal(plaintext []byte, aad string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("store: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return s.aead.Seal(nonce, nonce, plaintext, []byte(aad))
}

// Open decrypts what Seal made with the same aad.
func (s *Sealer) Open(sealed []byte, aad string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("store: sealed value too short")
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("store: cannot decrypt %s (wrong CRMSYNC_SECRET_KEY?)", aad)
	}
	return pt, nil
}
