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
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// FuzzOpenPGPSignature feeds arbitrary armored OpenPGP signatures (they
// come with the commits a remote serves) and commit messages to the
// verifier, with a trusted keyring of one key: it must never panic, it
// must answer a verification or a refusal (never another error: the
// keyring is fine), and a signature may verify only the commit it was
// made for, by the trusted key.
func FuzzOpenPGPSignature(f *testing.F) {
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	e, err := openpgp.NewEntity("Release Bot", "", "bot@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return at.Add(-time.Hour) }})
	if err != nil {
		f.Fatal(err)
	}
	keyring := filepath.Join(f.TempDir(), "keyring.asc")
	var kb bytes.Buffer
	w, err := armor.Encode(&kb, openpgp.PublicKeyType, nil)
	if err != nil {
		f.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		f.Fatal(err)
	}
	w.Close()
	if err := os.WriteFile(keyring, kb.Bytes(), 0o600); err != nil {
		f.Fatal(err)
	}
	who := object.Signature{Name: "Bot", Email: "bot@example.com", When: at}
	commitOf := func(msg, armored string) *object.Commit {
		return &object.Commit{Author: who, Committer: who, Message: msg, PGPSignature: armored,
			TreeHash: plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")}
	}
	const signedMsg = "release 1.2.3\n"
	payload, err := withoutSignature(commitOf(signedMsg, "").EncodeWithoutSignature)
	if err != nil {
		f.Fatal(err)
	}
	sig := &packet.Signature{SigType: packet.SigTypeBinary, PubKeyAlgo: e.PrivateKey.PubKeyAlgo, Hash: crypto.SHA256, CreationTime: at, IssuerKeyId: &e.PrivateKey.KeyId}
	hs, err := sig.PrepareSign(nil)
	if err != nil {
		f.Fatal(err)
	}
	hs.Write(payload)
	if err := sig.Sign(hs, e.PrivateKey, nil); err != nil {
		f.Fatal(err)
	}
	var sb bytes.Buffer
	w, err = armor.Encode(&sb, "PGP SIGNATURE", nil)
	if err != nil {
		f.Fatal(err)
	}
	if err := sig.Serialize(w); err != nil {
		f.Fatal(err)
	}
	w.Close()
	good := sb.String() + "\n"

	f.Add(good, signedMsg)
	f.Add(good, signedMsg+"changed\n")
	f.Add("-----BEGIN PGP SIGNATURE-----\n\nwsBcBAABCAAQ\n-----END PGP SIGNATURE-----\n", signedMsg)
	f.Add(good+good, signedMsg)
	f.Add("", signedMsg)
	f.Fuzz(func(t *testing.T, armored, msg string) {
		c := commitOf(msg, armored)
		payload, err := withoutSignature(c.EncodeWithoutSignature)
		if err != nil {
			return
		}
		obj := &signedObject{kind: "commit", signature: armored, when: at, payload: payload,
			pgp: func(kr string) error { _, err := c.Verify(kr); return err }}
		v, err := verifyOpenPGP(obj, keyring)
		if armored == good && msg == signedMsg && err != nil {
			t.Fatalf("the trusted key's signature of its commit is refused: %v", err)
		}
		if err != nil {
			var r *refusal
			if !errors.As(err, &r) || r.code == "" {
				t.Fatalf("neither a verification nor a refusal: %T %v", err, err)
			}
			return
		}
		if msg != signedMsg || v.Format != FormatOpenPGP || v.Signer != "Release Bot <bot@example.com>" {
			t.Fatalf("verified %+v for message %q", v, msg)
		}
	})
}
