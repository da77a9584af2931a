package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Verify modes, as in an environment's `verify` setting.
const (
	VerifyNone = "none" // deploy whatever the ref points at
	VerifyHead = "head" // the target commit must carry a trusted signature
	VerifyTag  = "tag"  // the ref must be an annotated tag with a trusted signature
)

// Signature formats a Verified reports.
const (
	FormatOpenPGP = "openpgp"
	FormatSSH     = "ssh"
)

// VerifyPolicy says what a target must carry to be deployed. The trusted
// key files are read on every call, so a rotated keyring or allowed_signers
// file applies at the next verification without a restart.
type VerifyPolicy struct {
	// Mode is VerifyNone, VerifyHead or VerifyTag.
	Mode string
	// OpenPGPKeyring is the path of an armored OpenPGP keyring; empty when
	// OpenPGP signatures are not trusted.
	OpenPGPKeyring string
	// SSHAllowedSigners is the path of an allowed_signers file
	// (ssh-keygen(1)); empty when SSH signatures are not trusted.
	SSHAllowedSigners string
}

// Verified says who signed a target.
type Verified struct {
	Mode string
	// Object is the commit (mode head) or tag object (mode tag) whose
	// signature was checked; zero for mode none.
	Object plumbing.Hash
	// Format is FormatOpenPGP or FormatSSH; empty for mode none.
	Format string
	// Signer is the OpenPGP key's primary user ID, or the principals of the
	// allowed_signers line that accepted the SSH key.
	Signer string
	// Fingerprint is the signing key's: 40 upper-case hex digits for
	// OpenPGP (the subkey's when a subkey signed), SHA256:… for SSH.
	Fingerprint string
}

// String is a one-line summary for logs and notes.
func (v Verified) String() string {
	if v.Format == "" {
		return "not verified (verify = " + v.Mode + ")"
	}
	kind := "commit"
	if v.Mode == VerifyTag {
		kind = "tag"
	}
	return fmt.Sprintf("%s %s signed by %s (%s key %s)", kind, v.Object, v.Signer, v.Format, v.Fingerprint)
}

// Refusal classifies why a target was refused. Reason carries the detail.
type Refusal string

const (
	RefusedUnsigned        Refusal = "unsigned"
	RefusedUnknownKey      Refusal = "unknown-key"       // signed by a key not in the trusted keys
	RefusedBadSignature    Refusal = "bad-signature"     // does not match the object: tampered, or corrupt
	RefusedExpiredKey      Refusal = "expired-key"       // OpenPGP key expired (at signing or now); SSH key past valid-before
	RefusedKeyNotYetValid  Refusal = "key-not-yet-valid" // SSH key before its valid-after
	RefusedRevokedKey      Refusal = "revoked-key"       // OpenPGP key or identity revoked
	RefusedUntrustedFormat Refusal = "untrusted-format"  // e.g. SSH-signed but only an OpenPGP keyring is configured
	RefusedNamespace       Refusal = "namespace"         // SSH signature or key not for namespace "git"
	RefusedLightweightTag  Refusal = "lightweight-tag"   // verify = tag needs an annotated, signed tag
	RefusedTagMismatch     Refusal = "tag-mismatch"      // the tag object does not match its ref or the target commit
)

// UnverifiedError is a target that must not be deployed because its
// signature is missing or not trusted. It is permanent for that object:
// nothing but a new, properly signed commit or tag changes the answer.
// Check with errors.As; errors.Is(err, ErrPermanent) is true.
type UnverifiedError struct {
	Env string
	Ref string
	// Object is the commit or tag object refused; for a lightweight tag,
	// the commit its ref points at.
	Object plumbing.Hash
	Kind   string // "commit" or "tag"
	Code   Refusal
	// Fingerprint is the signing key's, when the signature names one.
	Fingerprint string
	// Reason says why in one line, e.g. "commit is signed by OpenPGP key
	// 9A1C…E04B, which is not in the trusted keyring /etc/ferry/signers.asc".
	Reason string
}

func (e *UnverifiedError) Error() string {
	return fmt.Sprintf("%s: refusing %s %s (%s): %s", e.Env, e.Kind, e.Object, e.Ref, e.Reason)
}

// Is makes errors.Is(err, ErrPermanent) true.
func (e *UnverifiedError) Is(target error) bool { return target == ErrPermanent }

// refusal is an UnverifiedError before Verify fills in the target.
type refusal struct {
	code        Refusal
	fingerprint string
	reason      string
}

func (r *refusal) Error() string { return r.reason }

func refuse(code Refusal, fingerprint, format string, args ...any) *refusal {
	return &refusal{code: code, fingerprint: fingerprint, reason: fmt.Sprintf(format, args...)}
}

// signedObject is a commit or tag read out of the mirror: everything
// verification needs, detached from the mirror's storage so it can be
// checked without holding the mirror's lock.
type signedObject struct {
	kind      string // "commit" or "tag"
	hash      plumbing.Hash
	signature string    // armored; empty when unsigned
	when      time.Time // committer or tagger date: when the signer says it signed
	payload   []byte    // the bytes the signature covers
	// pgp verifies an OpenPGP signature with go-git (Commit.Verify or
	// Tag.Verify).
	pgp func(armoredKeyRing string) error
	// tag only
	tagName    string
	target     plumbing.Hash
	targetType plumbing.ObjectType
}

// Verify checks that t may be deployed under p. With mode "head" the target
// commit must be signed by a trusted key; with mode "tag" t.Ref must be an
// annotated tag, named as its ref, pointing at t.Commit and signed by a
// trusted key; with mode "none" nothing is checked.
//
// A target that fails the check gives an *UnverifiedError. Other errors mean
// the check could not be made: the object is missing from the mirror
// (transient: poll again) or a trusted key file is missing or unreadable
// (wraps ErrPermanent: fix the configuration). Neither is a reason to
// deploy.
func (m *Mirror) Verify(ctx context.Context, t Target, p VerifyPolicy) (Verified, error) {
	if err := ctx.Err(); err != nil {
		return Verified{}, err
	}
	switch p.Mode {
	case VerifyNone:
		return Verified{Mode: VerifyNone}, nil
	case VerifyHead, VerifyTag:
	default:
		return Verified{}, fmt.Errorf("%s: verify mode %q: want %q, %q or %q: %w", t.Env, p.Mode, VerifyNone, VerifyHead, VerifyTag, ErrPermanent)
	}
	if p.OpenPGPKeyring == "" && p.SSHAllowedSigners == "" {
		return Verified{}, fmt.Errorf("%s: verify = %q but no trusted keys are configured: %w", t.Env, p.Mode, ErrPermanent)
	}

	var obj *signedObject
	var ref *refusal
	err := m.WithRepository(func(r *git.Repository) error {
		var err error
		if p.Mode == VerifyHead {
			obj, err = readCommit(r, hashOf(t.Commit))
			return err
		}
		obj, ref, err = readTag(r, t)
		return err
	})
	if err != nil {
		return Verified{}, fmt.Errorf("%s: verify %s: %w", t.Env, t.Ref, err)
	}
	if ref == nil && obj.kind == "tag" {
		ref = checkTagTarget(obj, t)
	}
	var v Verified
	if ref == nil {
		v, err = verifySignature(obj, p)
		if !errors.As(err, &ref) && err != nil {
			return Verified{}, fmt.Errorf("%s: verify %s %s: %w", t.Env, obj.kind, obj.hash, err)
		}
	}
	if ref != nil {
		kind, hash := "tag", hashOf(t.Commit)
		if obj != nil {
			kind, hash = obj.kind, obj.hash
		}
		return Verified{}, &UnverifiedError{Env: t.Env, Ref: t.Ref, Object: hash, Kind: kind,
			Code: ref.code, Fingerprint: ref.fingerprint, Reason: ref.reason}
	}
	v.Mode = p.Mode
	v.Object = obj.hash
	return v, nil
}

// readCommit copies a commit out of the mirror.
func readCommit(r *git.Repository, h plumbing.Hash) (*signedObject, error) {
	o, err := detach(r, plumbing.CommitObject, h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	c, err := object.DecodeCommit(nil, o)
	if err != nil {
		return nil, fmt.Errorf("decode commit %s: %w", h, err)
	}
	payload, err := withoutSignature(c.EncodeWithoutSignature)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	return &signedObject{
		kind: "commit", hash: h, signature: c.PGPSignature, when: c.Committer.When, payload: payload,
		pgp: func(kr string) error { _, err := c.Verify(kr); return err },
	}, nil
}

// readTag copies the tag object t.Ref points at out of the mirror. A ref
// that points straight at a commit is a lightweight tag: refused.
func readTag(r *git.Repository, t Target) (*signedObject, *refusal, error) {
	name := plumbing.ReferenceName(t.Ref)
	if !name.IsTag() {
		return nil, refuse(RefusedLightweightTag, "", "verify = tag needs a release tag, but the target ref %s is not a tag", t.Ref), nil
	}
	ref, err := r.Storer.Reference(name)
	if err != nil {
		return nil, nil, fmt.Errorf("ref %s: %w", name, err)
	}
	h := ref.Hash()
	o, err := detach(r, plumbing.AnyObject, h)
	if err != nil {
		return nil, nil, fmt.Errorf("tag %s (%s): %w", name.Short(), h, err)
	}
	if o.Type() != plumbing.TagObject {
		return &signedObject{kind: "tag", hash: h}, refuse(RefusedLightweightTag, "",
			"%s is a lightweight tag (it points straight at %s %s); verify = tag needs an annotated, signed tag (git tag -s)", name.Short(), o.Type(), h), nil
	}
	tag, err := object.DecodeTag(nil, o)
	if err != nil {
		return nil, nil, fmt.Errorf("decode tag %s: %w", h, err)
	}
	payload, err := withoutSignature(tag.EncodeWithoutSignature)
	if err != nil {
		return nil, nil, fmt.Errorf("tag %s: %w", h, err)
	}
	return &signedObject{
		kind: "tag", hash: h, signature: tag.PGPSignature, when: tag.Tagger.When, payload: payload,
		pgp:     func(kr string) error { _, err := tag.Verify(kr); return err },
		tagName: tag.Name, target: tag.Target, targetType: tag.TargetType,
	}, nil, nil
}

// checkTagTarget refuses a tag object that is not what its ref and target
// say: a signed tag copied under another name (an old release re-pushed as
// the newest version) or one whose commit is not the target's.
func checkTagTarget(obj *signedObject, t Target) *refusal {
	short := plumbing.ReferenceName(t.Ref).Short()
	switch {
	case obj.tagName != short:
		return refuse(RefusedTagMismatch, "", "tag object %s is named %q but was pushed as %s; a signed tag counts only under its own name", obj.hash, obj.tagName, t.Ref)
	case obj.targetType != plumbing.CommitObject:
		return refuse(RefusedTagMismatch, "", "tag %s points at a %s, not a commit", short, obj.targetType)
	case obj.target != hashOf(t.Commit):
		return refuse(RefusedTagMismatch, "", "tag %s points at commit %s, not the target commit %s (moved since the poll?)", short, obj.target, t.Commit)
	}
	return nil
}

// detach reads an object and copies it into memory, so that decoding and
// re-encoding it later does not touch the mirror's storage, which is only
// safe under the mirror's lock.
func detach(r *git.Repository, typ plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := r.Storer.EncodedObject(typ, h)
	if err != nil {
		return nil, err
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	mem := &plumbing.MemoryObject{}
	mem.SetType(o.Type())
	if _, err := io.Copy(mem, rd); err != nil {
		return nil, err
	}
	if mem.Hash() != h {
		return nil, fmt.Errorf("object %s reads back as %s: the mirror is corrupt", h, mem.Hash())
	}
	return mem, nil
}

func withoutSignature(encode func(plumbing.EncodedObject) error) ([]byte, error) {
	o := &plumbing.MemoryObject{}
	if err := encode(o); err != nil {
		return nil, err
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

const (
	armorPGP     = "-----BEGIN PGP SIGNATURE-----"
	armorSSH     = "-----BEGIN SSH SIGNATURE-----"
	armorX509    = "-----BEGIN SIGNED MESSAGE-----"
	armorPGPMsg  = "-----BEGIN PGP MESSAGE-----"
	armorX509Crt = "-----BEGIN CERTIFICATE-----"
)

// verifySignature checks obj's signature with the trusted keys for its
// format. Refusals come back as *refusal; other errors mean the trusted keys
// could not be read.
func verifySignature(obj *signedObject, p VerifyPolicy) (Verified, error) {
	sig := []byte(obj.signature)
	switch {
	case len(bytes.TrimSpace(sig)) == 0:
		how := "git commit -S"
		if obj.kind == "tag" {
			how = "git tag -s"
		}
		return Verified{}, refuse(RefusedUnsigned, "", "%s is not signed; sign it with a trusted key (%s)", obj.kind, how)
	case bytes.HasPrefix(sig, []byte(armorPGP)), bytes.HasPrefix(sig, []byte(armorPGPMsg)):
		if p.OpenPGPKeyring == "" {
			return Verified{}, refuse(RefusedUntrustedFormat, "", "%s is signed with OpenPGP, but this environment trusts only SSH keys (no trusted_keys.openpgp)", obj.kind)
		}
		return verifyOpenPGP(obj, p.OpenPGPKeyring)
	case bytes.HasPrefix(sig, []byte(armorSSH)):
		if p.SSHAllowedSigners == "" {
			return Verified{}, refuse(RefusedUntrustedFormat, "", "%s is signed with an SSH key, but this environment trusts only OpenPGP keys (no trusted_keys.ssh_allowed_signers)", obj.kind)
		}
		return verifySSH(obj, p.SSHAllowedSigners, time.Now())
	case bytes.HasPrefix(sig, []byte(armorX509)), bytes.HasPrefix(sig, []byte(armorX509Crt)):
		return Verified{}, refuse(RefusedUntrustedFormat, "", "%s is signed with X.509 (gpgsm), which Ferry does not verify; sign with OpenPGP or SSH", obj.kind)
	}
	return Verified{}, refuse(RefusedBadSignature, "", "%s carries a signature in an unknown format", obj.kind)
}
