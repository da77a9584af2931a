package watch

import (
	"bytes"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ferry-deploy/ferry/pkg/commit"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TestVerifyOpenPGPSigningTime covers signatures gpg will not make: dated
// after the key's expiry while the key is still valid now, dated in the
// future, and dated before the key existed. The key and signatures are made in-process; the commit
// goes through the mirror as any other.
func TestVerifyOpenPGPSigningTime(t *testing.T) {
	now := time.Now()
	created := now.Add(-time.Hour)
	cfg := &packet.Config{
		Algorithm:       packet.PubKeyAlgoEdDSA,
		Time:            func() time.Time { return created },
		KeyLifetimeSecs: 2 * 3600, // valid until now+1h
	}
	e, err := openpgp.NewEntity("Release Bot", "", "bot@example.com", cfg)
	if err != nil {
		t.Fatal(err)
	}
	keyring := filepath.Join(t.TempDir(), "keyring.asc")
	var kb bytes.Buffer
	w, err := armor.Encode(&kb, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.WriteFile(keyring, kb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	f := newFixture(t)
	tests := []struct {
		name   string
		signed time.Time
		code   Refusal
	}{
		{"signed now", now, ""},
		{"dated after the key expires", now.Add(2 * time.Hour), RefusedExpiredKey},
		{"dated in the future", now.Add(30 * time.Minute), RefusedBadSignature},
		{"dated before the key was created", now.Add(-2 * time.Hour), RefusedBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := writeSignedCommit(t, f.mirror, e, tt.name, tt.signed)
			v, err := f.mirror.Verify(t.Context(), Target{Env: "production", Ref: "refs/heads/main", Commit: commit.FromSHA1(h)},
				VerifyPolicy{Mode: VerifyHead, OpenPGPKeyring: keyring})
			if tt.code == "" {
				if err != nil || v.Signer != "Release Bot <bot@example.com>" {
					t.Fatalf("= %+v, %v", v, err)
				}
				return
			}
			var ue *UnverifiedError
			if !errors.As(err, &ue) || ue.Code != tt.code {
				t.Fatalf("= %+v, %v; want refusal %s", v, err, tt.code)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
}

// writeSignedCommit stores a commit signed by e with a signature dated at.
func writeSignedCommit(t *testing.T, m *Mirror, e *openpgp.Entity, msg string, at time.Time) plumbing.Hash {
	t.Helper()
	who := object.Signature{Name: "Bot", Email: "bot@example.com", When: at.Truncate(time.Second)}
	c := &object.Commit{Author: who, Committer: who, Message: msg + "\n",
		TreeHash: plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")}
	payload, err := withoutSignature(c.EncodeWithoutSignature)
	if err != nil {
		t.Fatal(err)
	}
	sig := &packet.Signature{SigType: packet.SigTypeBinary, PubKeyAlgo: e.PrivateKey.PubKeyAlgo, Hash: crypto.SHA256,
		CreationTime: at, IssuerKeyId: &e.PrivateKey.KeyId}
	hs, err := sig.PrepareSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	hs.Write(payload)
	if err := sig.Sign(hs, e.PrivateKey, nil); err != nil {
		t.Fatal(err)
	}
	var sb bytes.Buffer
	w, err := armor.Encode(&sb, "PGP SIGNATURE", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sig.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c.PGPSignature = sb.String() + "\n"

	var h plumbing.Hash
	err = m.WithRepository(func(r *git.Repository) error {
		o := r.Storer.NewEncodedObject()
		if err := c.Encode(o); err != nil {
			return err
		}
		h, err = r.Storer.SetEncodedObject(o)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
