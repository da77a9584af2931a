package watch

import (
	"bufio"
	"bytes"
	"crypto"
	_ "crypto/sha256" // SSHSIG hash algorithms
	_ "crypto/sha512"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshNamespace is the namespace git signs commits and tags in
// (ssh-keygen -Y sign -n git).
const sshNamespace = "git"

// verifySSH checks an SSH signature (PROTOCOL.sshsig) as `git verify-commit`
// does with gpg.format = ssh: the signature must be over obj's payload in
// namespace "git", by a key listed in the allowed_signers file at path, on a
// line whose namespaces (if any) allow "git" and whose valid-after /
// valid-before window holds both the object's date (as git checks it) and
// now (so a retired key cannot be used by backdating a commit).
func verifySSH(obj *signedObject, path string, now time.Time) (Verified, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Verified{}, fmt.Errorf("trusted SSH allowed_signers: %w: %w", err, ErrPermanent)
	}
	signers, err := parseAllowedSigners(data, path)
	if err != nil {
		return Verified{}, fmt.Errorf("%w: %w", err, ErrPermanent)
	}
	return checkSSHSignature(obj.kind, []byte(obj.signature), obj.payload, obj.when, signers, path, now)
}

// checkSSHSignature is verifySSH on parsed inputs.
func checkSSHSignature(kind string, armored, payload []byte, when time.Time, signers []allowedSigner, path string, now time.Time) (Verified, error) {
	sig, err := parseSSHSig(armored)
	if err != nil {
		return Verified{}, refuse(RefusedBadSignature, "", "%s's SSH signature cannot be read: %v", kind, err)
	}
	if cert, ok := sig.pub.(*ssh.Certificate); ok {
		fpr := ssh.FingerprintSHA256(cert.SignatureKey)
		return Verified{}, refuse(RefusedUntrustedFormat, fpr,
			"%s is signed with an SSH certificate issued by CA %s; Ferry does not support certificates (cert-authority); list the signing key itself in allowed_signers", kind, fpr)
	}
	fpr := ssh.FingerprintSHA256(sig.pub)
	if sig.namespace != sshNamespace {
		return Verified{}, refuse(RefusedNamespace, fpr, "%s's SSH signature by %s was made for namespace %q, not %q (ssh-keygen -Y sign -n git)", kind, fpr, sig.namespace, sshNamespace)
	}
	var lines []allowedSigner
	wantKey := sig.pub.Marshal()
	for _, s := range signers {
		if !s.certAuthority && bytes.Equal(s.key.Marshal(), wantKey) {
			lines = append(lines, s)
		}
	}
	if len(lines) == 0 {
		return Verified{}, refuse(RefusedUnknownKey, fpr, "%s is signed by SSH key %s, which is not in the allowed signers file %s", kind, fpr, path)
	}
	if err := sig.verify(payload); err != nil {
		return Verified{}, refuse(RefusedBadSignature, fpr, "%s's signature by SSH key %s does not match its content (changed after signing, or a corrupt signature): %v", kind, fpr, oneLine(err))
	}

	// The key is known and the signature good; now the line's options.
	var why *refusal
	for _, s := range lines {
		switch {
		case !s.allowsNamespace(sshNamespace):
			why = refuse(RefusedNamespace, fpr, "SSH key %s (principals %s, %s:%d) is not allowed for namespace %q (namespaces=%q)", fpr, s.principals, path, s.line, sshNamespace, s.namespaces)
		case !s.validAfter.IsZero() && (when.Before(s.validAfter) || now.Before(s.validAfter)):
			why = refuse(RefusedKeyNotYetValid, fpr, "SSH key %s (principals %s, %s:%d) is valid only from %s; the %s is dated %s",
				fpr, s.principals, path, s.line, s.validAfter.UTC().Format(time.RFC3339), kind, when.UTC().Format(time.RFC3339))
		case !s.validBefore.IsZero() && (when.After(s.validBefore) || now.After(s.validBefore)):
			why = refuse(RefusedExpiredKey, fpr, "SSH key %s (principals %s, %s:%d) expired on %s (valid-before)",
				fpr, s.principals, path, s.line, s.validBefore.UTC().Format(time.RFC3339))
		default:
			return Verified{Format: FormatSSH, Signer: s.principals, Fingerprint: fpr}, nil
		}
	}
	return Verified{}, why
}

// sshSig is a parsed SSHSIG signature.
type sshSig struct {
	pub       ssh.PublicKey
	namespace string
	hashAlg   string
	sig       *ssh.Signature
}

// sshsigBlob is the wire form after the "SSHSIG" magic (PROTOCOL.sshsig).
type sshsigBlob struct {
	Version       uint32
	PublicKey     []byte
	Namespace     string
	Reserved      string
	HashAlgorithm string
	Signature     []byte
}

// sshsigSignedData is what the key signs, after the "SSHSIG" magic.
type sshsigSignedData struct {
	Namespace     string
	Reserved      string
	HashAlgorithm string
	Hash          []byte
}

const sshsigMagic = "SSHSIG"

func parseSSHSig(armored []byte) (*sshSig, error) {
	var b64 strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(armored))
	state := 0 // 0 before BEGIN, 1 inside, 2 after END
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case state == 0 && line == armorSSH:
			state = 1
		case state == 1 && line == "-----END SSH SIGNATURE-----":
			state = 2
		case state == 1:
			b64.WriteString(line)
		case line != "":
			return nil, fmt.Errorf("unexpected line outside the armor")
		}
	}
	if state != 2 {
		return nil, fmt.Errorf("armor not terminated")
	}
	raw, err := base64.StdEncoding.DecodeString(b64.String())
	if err != nil {
		return nil, fmt.Errorf("armor: %w", err)
	}
	if !bytes.HasPrefix(raw, []byte(sshsigMagic)) {
		return nil, fmt.Errorf("no SSHSIG magic")
	}
	var blob sshsigBlob
	if err := ssh.Unmarshal(raw[len(sshsigMagic):], &blob); err != nil {
		return nil, fmt.Errorf("SSHSIG blob: %w", err)
	}
	if blob.Version != 1 {
		return nil, fmt.Errorf("SSHSIG version %d, want 1", blob.Version)
	}
	pub, err := ssh.ParsePublicKey(blob.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(blob.Signature, sig); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return &sshSig{pub: pub, namespace: blob.Namespace, hashAlg: blob.HashAlgorithm, sig: sig}, nil
}

// verify checks the signature over message, as ssh-keygen -Y verify does.
func (s *sshSig) verify(message []byte) error {
	var alg crypto.Hash
	switch s.hashAlg {
	case "sha256":
		alg = crypto.SHA256
	case "sha512":
		alg = crypto.SHA512
	default:
		return fmt.Errorf("hash algorithm %q: want sha256 or sha512", s.hashAlg)
	}
	if s.pub.Type() == ssh.KeyAlgoRSA && s.sig.Format == ssh.KeyAlgoRSA {
		// PROTOCOL.sshsig: RSA signatures must use SHA-2, never ssh-rsa's SHA-1.
		return fmt.Errorf("RSA signature with SHA-1 (ssh-rsa)")
	}
	h := alg.New()
	h.Write(message)
	signed := append([]byte(sshsigMagic), ssh.Marshal(sshsigSignedData{
		Namespace:     s.namespace,
		HashAlgorithm: s.hashAlg,
		Hash:          h.Sum(nil),
	})...)
	return s.pub.Verify(signed, s.sig)
}

// allowedSigner is one line of an allowed_signers file (ssh-keygen(1),
// "ALLOWED SIGNERS"):
//
//	principals [options] keytype base64-key [comment]
type allowedSigner struct {
	line          int
	principals    string // comma-separated patterns, e.g. "alice@example.com,*@ops.example.com"
	certAuthority bool
	namespaces    string // pattern list; empty allows every namespace
	validAfter    time.Time
	validBefore   time.Time
	key           ssh.PublicKey
}

func (s allowedSigner) allowsNamespace(ns string) bool {
	return s.namespaces == "" || matchPatternList(ns, s.namespaces)
}

// parseAllowedSigners reads an allowed_signers file. Any line it cannot
// read fails the whole file: a trust file is better refused loudly than
// half applied.
func parseAllowedSigners(data []byte, name string) ([]allowedSigner, error) {
	var out []allowedSigner
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseAllowedSignerLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		s.line = i + 1
		out = append(out, s)
	}
	return out, nil
}

func parseAllowedSignerLine(line string) (allowedSigner, error) {
	var s allowedSigner
	var rest string
	if strings.HasPrefix(line, `"`) {
		end := strings.IndexByte(line[1:], '"')
		if end < 0 {
			return s, fmt.Errorf("unterminated quote in principals")
		}
		s.principals, rest = line[1:1+end], line[2+end:]
	} else {
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			return s, fmt.Errorf("want principals, options and a key; found only %q", line)
		}
		s.principals, rest = line[:i], line[i:]
	}
	if s.principals == "" {
		return s, fmt.Errorf("empty principals")
	}
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(rest)))
	if err != nil {
		return s, fmt.Errorf("key: %w", err)
	}
	s.key = key
	for _, opt := range options {
		name, value, hasValue := strings.Cut(opt, "=")
		name = strings.ToLower(name)
		switch name {
		case "cert-authority":
			if hasValue {
				return s, fmt.Errorf("option cert-authority takes no value")
			}
			s.certAuthority = true
			continue
		case "namespaces", "valid-after", "valid-before":
		default:
			return s, fmt.Errorf("unsupported option %q (allowed: cert-authority, namespaces, valid-after, valid-before)", name)
		}
		if !hasValue {
			return s, fmt.Errorf("option %s needs a value", name)
		}
		if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
			return s, fmt.Errorf("option %s: value must be in double quotes", name)
		}
		value = value[1 : len(value)-1]
		switch name {
		case "namespaces":
			s.namespaces = value
		case "valid-after":
			if s.validAfter, err = parseSignerTime(value); err != nil {
				return s, fmt.Errorf("valid-after: %w", err)
			}
		case "valid-before":
			if s.validBefore, err = parseSignerTime(value); err != nil {
				return s, fmt.Errorf("valid-before: %w", err)
			}
		}
	}
	return s, nil
}

// parseSignerTime reads YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z], as ssh-keygen
// does: with Z in UTC, without it in the local time zone.
func parseSignerTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		loc, v = time.UTC, v[:len(v)-1]
	}
	layouts := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}
	layout, ok := layouts[len(v)]
	if !ok {
		return time.Time{}, fmt.Errorf("%q: want YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]", v)
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: %w", v, err)
	}
	return t, nil
}

// matchPatternList reports whether s matches the comma-separated pattern
// list as OpenSSH's match_pattern_list does: some pattern matches and no
// negated one (!pattern) does. Patterns use * and ?.
func matchPatternList(s, list string) bool {
	matched := false
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if matchPattern(s, p) {
			if neg {
				return false
			}
			matched = true
		}
	}
	return matched
}

// matchPattern matches s against a pattern of literal characters, * (any
// run) and ? (any one character).
func matchPattern(s, p string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if matchPattern(s[i:], p) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		s, p = s[1:], p[1:]
	}
	return s == ""
}
