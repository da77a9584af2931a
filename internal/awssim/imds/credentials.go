package imds

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Credentials mints the temporary credentials of an instance profile's
// role. The simulator implements it (or uses a Keyring) so that it can
// later accept what it minted. The handler asks for new credentials only
// when the ones it hands out near their expiry.
type Credentials interface {
	Issue(ctx context.Context, req CredentialRequest) (Keys, error)
}

// CredentialRequest says whose credentials to mint and until when.
type CredentialRequest struct {
	InstanceID string
	ProfileARN string
	Role       string
	// Delivery is "1.0" for credentials read without a token (IMDSv1) and
	// "2.0" with one, what IAM's ec2:RoleDelivery condition key compares
	// [instance-metadata-security-credentials].
	Delivery string
	Expires  time.Time
}

// Keys are temporary AWS credentials. Their String and LogValue show only
// the access key id: the secret and the session token are never printed.
type Keys struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

func (k Keys) String() string {
	return fmt.Sprintf("{AccessKeyID:%s Expiration:%s}", k.AccessKeyID, k.Expiration.UTC().Format(time.RFC3339))
}

// GoString keeps %#v from printing the secret either.
func (k Keys) GoString() string { return "imds.Keys" + k.String() }

// LogValue implements slog.LogValuer.
func (k Keys) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", k.AccessKeyID), slog.Time("expiration", k.Expiration))
}

// Grant is what a Keyring minted: the keys and whom they were for.
type Grant struct {
	Keys
	Request CredentialRequest
}

// Keyring mints temporary credentials from crypto/rand and finds them
// again by access key id until they expire: the simulator's way to accept,
// on its APIs, exactly the credentials its instances were given.
type Keyring struct {
	now func() time.Time

	mu    sync.Mutex
	byKey map[string]Grant
}

var _ Credentials = (*Keyring)(nil)

// NewKeyring returns an empty keyring; now is its clock (nil: time.Now).
func NewKeyring(now func() time.Time) *Keyring {
	if now == nil {
		now = time.Now
	}
	return &Keyring{now: now, byKey: map[string]Grant{}}
}

// Issue mints new keys valid until req.Expires. Access key ids start with
// ASIA, as AWS's temporary ones do.
func (k *Keyring) Issue(_ context.Context, req CredentialRequest) (Keys, error) {
	id, err := randomBytes(10)
	if err != nil {
		return Keys{}, err
	}
	secret, err := randomBytes(30)
	if err != nil {
		return Keys{}, err
	}
	token, err := randomBytes(96)
	if err != nil {
		return Keys{}, err
	}
	keys := Keys{
		AccessKeyID:     "ASIA" + base32.StdEncoding.EncodeToString(id)[:16],
		SecretAccessKey: base64.StdEncoding.EncodeToString(secret),
		SessionToken:    base64.StdEncoding.EncodeToString(token),
		Expiration:      req.Expires.UTC().Truncate(time.Second),
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, g := range k.byKey {
		if !now.Before(g.Expiration) {
			delete(k.byKey, id)
		}
	}
	k.byKey[keys.AccessKeyID] = Grant{Keys: keys, Request: req}
	return keys, nil
}

// Lookup returns the unexpired grant of an access key id. A caller
// checking a request signed with it compares the request's session token
// with Grant.SessionToken and verifies the signature with
// Grant.SecretAccessKey.
func (k *Keyring) Lookup(accessKeyID string) (Grant, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	g, ok := k.byKey[accessKeyID]
	if !ok || !k.now().Before(g.Expiration) {
		return Grant{}, false
	}
	return g, true
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("imds: reading random bytes: %w", err)
	}
	return b, nil
}
