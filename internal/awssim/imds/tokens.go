package imds

import (
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// tokens are the IMDSv2 session tokens handed out and not yet expired.
// They are kept by their SHA-256, so the table holds nothing a reader
// could replay, and a lookup takes no time that depends on how much of a
// guessed token is right.
type tokens struct {
	mu    sync.Mutex
	bySum map[[sha256.Size]byte]session
}

// session is what a token is good for: one instance, until expires.
type session struct {
	instanceID string
	expires    time.Time
}

func newTokens() *tokens { return &tokens{bySum: map[[sha256.Size]byte]session{}} }

// issue returns a new token for instanceID, valid for ttl from now. It is
// 42 bytes from crypto/rand, 56 characters once encoded, the length of
// EC2's.
func (t *tokens) issue(instanceID string, now time.Time, ttl time.Duration) (string, error) {
	b, err := randomBytes(42)
	if err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	t.mu.Lock()
	defer t.mu.Unlock()
	for sum, s := range t.bySum {
		if !now.Before(s.expires) {
			delete(t.bySum, sum)
		}
	}
	t.bySum[sha256.Sum256([]byte(tok))] = session{instanceID: instanceID, expires: now.Add(ttl)}
	return tok, nil
}

// valid reports whether tok is an unexpired token of instanceID.
func (t *tokens) valid(tok, instanceID string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.bySum[sha256.Sum256([]byte(tok))]
	return ok && s.instanceID == instanceID && now.Before(s.expires)
}
