package watch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// verifyOpenPGP checks an OpenPGP signature with go-git's Verify against
// the armored keyring at path. Like gpg, and so git, go-git refuses a key
// that is expired or revoked now, and a signature dated in the future. A key
// that had expired when the signature says it was made is therefore refused
// too: either it is still expired now, or the signature is dated in the
// future. On top of that, a signature dated before its key was created is
// refused, which go-git does not check.
func verifyOpenPGP(obj *signedObject, path string) (Verified, error) {
	armored, err := os.ReadFile(path)
	if err != nil {
		return Verified{}, fmt.Errorf("trusted OpenPGP keyring: %w: %w", err, ErrPermanent)
	}
	keyring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return Verified{}, fmt.Errorf("trusted OpenPGP keyring %s: %w: %w", path, err, ErrPermanent)
	}
	sig, err := parsePGPSignature(obj.signature)
	if err != nil {
		return Verified{}, refuse(RefusedBadSignature, "", "%s's OpenPGP signature cannot be read: %v", obj.kind, err)
	}
	fpr := pgpIssuer(sig)
	key, known := signingKey(keyring, sig)
	if known {
		fpr = fmt.Sprintf("%X", key.PublicKey.Fingerprint)
	}
	signed := sig.CreationTime.UTC().Format(time.RFC3339)

	err = obj.pgp(string(armored))
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer), err == nil && !known:
		return Verified{}, refuse(RefusedUnknownKey, fpr, "%s is signed by OpenPGP key %s, which is not in the trusted keyring %s", obj.kind, fpr, path)
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return Verified{}, refuse(RefusedExpiredKey, fpr, "%s is signed by OpenPGP key %s, which has expired", obj.kind, fpr)
	case errors.Is(err, pgperrors.ErrSignatureExpired) && known && expiredAt(key, sig.CreationTime):
		return Verified{}, refuse(RefusedExpiredKey, fpr, "%s's signature is dated %s, when its OpenPGP key %s had expired", obj.kind, signed, fpr)
	case errors.Is(err, pgperrors.ErrSignatureExpired) && sig.CreationTime.After(time.Now()):
		return Verified{}, refuse(RefusedBadSignature, fpr, "%s's signature by OpenPGP key %s is dated %s, in the future (the signer's clock is wrong?)", obj.kind, fpr, signed)
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		return Verified{}, refuse(RefusedExpiredKey, fpr, "%s's signature by OpenPGP key %s (or the key's binding signature) has expired", obj.kind, fpr)
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return Verified{}, refuse(RefusedRevokedKey, fpr, "%s is signed by OpenPGP key %s, which is revoked", obj.kind, fpr)
	case errors.Is(err, object.ErrMultipleSignatures):
		return Verified{}, refuse(RefusedBadSignature, fpr, "%s carries more than one signature; Ferry, like git, accepts exactly one", obj.kind)
	case err != nil:
		return Verified{}, refuse(RefusedBadSignature, fpr, "%s's signature by OpenPGP key %s does not match its content (changed after signing, or a corrupt signature): %v", obj.kind, fpr, oneLine(err))
	case sig.CreationTime.Before(key.PublicKey.CreationTime):
		return Verified{}, refuse(RefusedBadSignature, fpr, "%s's signature is dated %s, before its key %s was created (%s)",
			obj.kind, signed, fpr, key.PublicKey.CreationTime.UTC().Format(time.RFC3339))
	}
	signer := ""
	if id := key.Entity.PrimaryIdentity(); id != nil {
		signer = id.Name
	}
	return Verified{Format: FormatOpenPGP, Signer: signer, Fingerprint: fpr}, nil
}

// expiredAt reports whether the signing key (the primary key, and the
// subkey when a subkey signed) had expired at t.
func expiredAt(key openpgp.Key, t time.Time) bool {
	selfSig, _ := key.Entity.PrimarySelfSignature()
	if key.Entity.PrimaryKey.KeyExpired(selfSig, t) {
		return true
	}
	return key.PublicKey != key.Entity.PrimaryKey && key.PublicKey.KeyExpired(key.SelfSignature, t)
}

// parsePGPSignature reads the (first) signature packet of an armored
// detached signature, for its issuer and creation time.
func parsePGPSignature(armored string) (*packet.Signature, error) {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return nil, err
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return nil, err
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return nil, fmt.Errorf("first packet is %T, not a signature", p)
	}
	return sig, nil
}

// pgpIssuer names the key a signature says made it: the full fingerprint
// when the signature carries it (GnuPG 2.2 and later), else the key ID.
func pgpIssuer(sig *packet.Signature) string {
	switch {
	case len(sig.IssuerFingerprint) > 0:
		return fmt.Sprintf("%X", sig.IssuerFingerprint)
	case sig.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	return "(no issuer)"
}

func signingKey(keyring openpgp.EntityList, sig *packet.Signature) (openpgp.Key, bool) {
	if sig.IssuerKeyId == nil {
		return openpgp.Key{}, false
	}
	for _, k := range keyring.KeysByIdUsage(*sig.IssuerKeyId, packet.KeyFlagSign) {
		if len(sig.IssuerFingerprint) == 0 || bytes.Equal(sig.IssuerFingerprint, k.PublicKey.Fingerprint) {
			return k, true
		}
	}
	return openpgp.Key{}, false
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
