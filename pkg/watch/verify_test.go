package watch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/gittest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/go-git/go-git/v5/plumbing"
)

// keys are throwaway signing keys made with the real gpg and ssh-keygen,
// all under t.TempDir(): OpenPGP keys in their own GNUPGHOME, SSH keys as
// files.
type keys struct {
	t   *testing.T
	dir string
	env []string // GNUPGHOME for git and gpg

	// OpenPGP fingerprints. trusted and expired are in keyring; untrusted
	// is not.
	pgpTrusted, pgpUntrusted, pgpExpired, pgpRevoked string
	// pgpSubkey's primary key only certifies; its signing subkey signs.
	pgpSubkey, pgpSigningSubkey string
	keyring                     string // armored keyring file
	// verifierHome is a GNUPGHOME holding only the keyring, for asking
	// git itself what it makes of a signature.
	verifierHome string
	// gpgFaked is a gpg.program that signs at a faked time in 2020, when
	// the expired key was still valid.
	gpgFaked string

	// SSH private key files (the public key is file + ".pub").
	sshTrusted, sshUnknown, sshFileOnly, sshRetired, sshFuture string
	allowedSigners                                             string
}

func newKeys(t *testing.T) *keys {
	t.Helper()
	testutil.RequireTool(t, "gpg")
	testutil.RequireTool(t, "gpgconf")
	testutil.RequireTool(t, "ssh-keygen")
	dir := t.TempDir()
	home := filepath.Join(dir, "gnupg")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	k := &keys{t: t, dir: dir, env: []string{"GNUPGHOME=" + home}}
	t.Cleanup(func() { // the gpg-agent that signing started
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
	})

	k.pgpTrusted = k.genPGP("Trusted Releaser", "trusted@example.com", "0", "")
	k.pgpUntrusted = k.genPGP("Stranger", "stranger@example.com", "0", "")
	// Valid through 2020 only; the faked clock lets gpg make and sign with it.
	k.pgpExpired = k.genPGP("Expired Releaser", "expired@example.com", "2021-01-01", "20200101T000000")
	k.pgpRevoked = k.genPGP("Revoked Releaser", "revoked@example.com", "0", "")
	k.pgpSubkey = k.genPGP("Subkey Releaser", "subkey@example.com", "0", "")
	k.keyring = filepath.Join(dir, "trusted.asc")
	k.exportKeyring()
	k.verifierHome = filepath.Join(dir, "verifier")
	if err := os.Mkdir(k.verifierHome, 0o700); err != nil {
		t.Fatal(err)
	}
	k.gpg("", "--homedir", k.verifierHome, "--import", k.keyring)
	k.gpgFaked = filepath.Join(dir, "gpg-2020")
	k.write(k.gpgFaked, "#!/bin/sh\nexec gpg --faked-system-time 20200601T000000 \"$@\"\n")
	if err := os.Chmod(k.gpgFaked, 0o755); err != nil {
		t.Fatal(err)
	}

	k.sshTrusted = k.genSSH("trusted")
	k.sshUnknown = k.genSSH("unknown")
	k.sshFileOnly = k.genSSH("fileonly")
	k.sshRetired = k.genSSH("retired")
	k.sshFuture = k.genSSH("future")
	k.allowedSigners = filepath.Join(dir, "allowed_signers")
	k.write(k.allowedSigners, strings.Join([]string{
		"# Ferry test signers",
		"alice@example.com,bob@example.com namespaces=\"git\" " + k.pub(k.sshTrusted),
		"files@example.com namespaces=\"file\" " + k.pub(k.sshFileOnly),
		"retired@example.com valid-before=\"20200101Z\" " + k.pub(k.sshRetired),
		"future@example.com valid-after=\"20990101\" " + k.pub(k.sshFuture),
		"",
	}, "\n"))
	return k
}

func (k *keys) write(path, content string) {
	k.t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		k.t.Fatal(err)
	}
}

func (k *keys) gpg(faked string, args ...string) string {
	k.t.Helper()
	if faked != "" {
		args = append([]string{"--faked-system-time", faked}, args...)
	}
	cmd := exec.Command("gpg", append([]string{"--batch", "--no-tty"}, args...)...)
	cmd.Env = append(os.Environ(), k.env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		k.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// genPGP makes an unprotected ed25519 signing key and returns its
// fingerprint.
func (k *keys) genPGP(name, email, expire, faked string) string {
	k.t.Helper()
	params := filepath.Join(k.dir, email+".params")
	usage := "Key-Usage: sign\n"
	if strings.HasPrefix(email, "subkey@") {
		usage = "Key-Usage: cert\nSubkey-Type: eddsa\nSubkey-Curve: ed25519\nSubkey-Usage: sign\n"
	}
	k.write(params, fmt.Sprintf("%%no-protection\nKey-Type: eddsa\nKey-Curve: ed25519\n%s"+
		"Name-Real: %s\nName-Email: %s\nExpire-Date: %s\n%%commit\n", usage, name, email, expire))
	k.gpg(faked, "--gen-key", params)
	var fprs []string
	for _, line := range strings.Split(k.gpg("", "--with-colons", "--list-keys", "<"+email+">"), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			fprs = append(fprs, f[9])
		}
	}
	if len(fprs) > 1 {
		k.pgpSigningSubkey = fprs[1]
	}
	if len(fprs) > 0 {
		return fprs[0]
	}
	k.t.Fatalf("no fingerprint for %s", email)
	return ""
}

func (k *keys) genSSH(name string) string {
	k.t.Helper()
	path := filepath.Join(k.dir, "id_"+name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path).CombinedOutput()
	if err != nil {
		k.t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return path
}

// pub is the "type base64" of an SSH key, as allowed_signers wants it.
func (k *keys) pub(private string) string {
	k.t.Helper()
	b, err := os.ReadFile(private + ".pub")
	if err != nil {
		k.t.Fatal(err)
	}
	f := strings.Fields(string(b))
	return f[0] + " " + f[1]
}

func (k *keys) sshFingerprint(private string) string {
	k.t.Helper()
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", private+".pub").Output()
	if err != nil {
		k.t.Fatal(err)
	}
	return strings.Fields(string(out))[1]
}

// revoke imports the revocation certificate gpg made with the key (what
// its owner publishes when the key is lost), and exports the keyring again.
func (k *keys) revoke(fpr string) {
	k.t.Helper()
	home := strings.TrimPrefix(k.env[0], "GNUPGHOME=")
	rev, err := os.ReadFile(filepath.Join(home, "openpgp-revocs.d", fpr+".rev"))
	if err != nil {
		k.t.Fatal(err)
	}
	// gpg guards the certificate against accidental import with a colon.
	cert := filepath.Join(k.dir, fpr+".rev")
	k.write(cert, strings.Replace(string(rev), ":-----BEGIN", "-----BEGIN", 1))
	k.gpg("", "--import", cert)
	k.gpg("", "--homedir", k.verifierHome, "--import", cert)
	k.exportKeyring()
}

func (k *keys) exportKeyring() {
	k.t.Helper()
	k.write(k.keyring, k.gpg("", "--armor", "--export", k.pgpTrusted, k.pgpExpired, k.pgpRevoked, k.pgpSubkey))
}

// signing returns git -c options that sign with the key: an OpenPGP
// fingerprint or an SSH private key file.
func (k *keys) signing(key string) []string {
	if strings.HasPrefix(key, k.dir) {
		return []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key}
	}
	prog := "gpg"
	if key == k.pgpExpired {
		prog = k.gpgFaked
	}
	return []string{"-c", "gpg.program=" + prog, "-c", "user.signingkey=" + key}
}

// signedRepo is a remote whose refs are the test cases, pushed with the git
// CLI, and a mirror that fetched them all.
type signedRepo struct {
	t    *testing.T
	f    *fixture
	work *gittest.Work
	refs map[plumbing.ReferenceName]RemoteRef
}

// commit makes a commit (signed with key unless key is empty) and points
// branch at it.
func (r *signedRepo) commit(k *keys, branch, msg, key string) string {
	args := []string{"commit", "-q", "--allow-empty", "-m", msg}
	if key != "" {
		args = append(append(k.signing(key), args...), "-S")
	}
	r.work.Git(args...)
	if branch != "main" {
		r.work.Git("branch", "-f", branch)
	}
	return r.work.Git("rev-parse", "HEAD")
}

// tag tags HEAD: signed with key, annotated when key is "annotated", and
// lightweight when it is empty.
func (r *signedRepo) tag(k *keys, name, key string) {
	switch key {
	case "":
		r.work.Git("tag", name)
	case "annotated":
		r.work.Git("tag", "-a", "-m", "release "+name, name)
	default:
		r.work.Git(append(k.signing(key), "tag", "-s", "-m", "release "+name, name)...)
	}
}

// tamper rewrites a signed object with a changed message and its old
// signature, and points ref at the forgery.
func (r *signedRepo) tamper(typ, ref, from, to string) {
	r.t.Helper()
	raw := r.work.Git("cat-file", typ, ref) + "\n"
	if !strings.Contains(raw, from) {
		r.t.Fatalf("%s %s does not contain %q", typ, ref, from)
	}
	forged := strings.Replace(raw, from, to, 1)
	file := filepath.Join(r.work.Dir, ".git", "forged")
	if err := os.WriteFile(file, []byte(forged), 0o600); err != nil {
		r.t.Fatal(err)
	}
	h := r.work.Git("hash-object", "-t", typ, "-w", file)
	r.work.Git("update-ref", ref, h)
}

func (r *signedRepo) target(t *testing.T, ref string) Target {
	t.Helper()
	rr, ok := r.refs[plumbing.ReferenceName(ref)]
	if !ok {
		t.Fatalf("remote has no %s", ref)
	}
	return Target{Env: "production", Ref: ref, Commit: commit.FromSHA1(rr.Commit)}
}

// gitVerifies asks git verify-commit or verify-tag, trusting the same keys.
func (r *signedRepo) gitVerifies(k *keys, mode, ref string) bool {
	r.t.Helper()
	verb, obj := "verify-commit", ref+"^{commit}"
	if mode == VerifyTag {
		verb, obj = "verify-tag", ref
	}
	_, err := gittest.RunGit(r.t.Context(), r.work.Dir, []string{"GNUPGHOME=" + k.verifierHome},
		"-c", "gpg.ssh.allowedSignersFile="+k.allowedSigners, verb, obj)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		r.t.Fatalf("git %s: %v", verb, err)
	}
	return err == nil
}

func newSignedRepo(t *testing.T, k *keys) *signedRepo {
	t.Helper()
	f := newFixture(t)
	r := &signedRepo{t: t, f: f, work: gittest.NewWork(t, f.daemon.URL("app.git"), k.env...)}
	r.commit(k, "main", "unsigned base", "")

	r.commit(k, "pgp-good", "pgp good", k.pgpTrusted)
	r.tag(k, "v1.0.0", k.pgpTrusted)
	// A signed tag of a signed tag.
	r.work.Git(append(k.signing(k.pgpTrusted), "tag", "-s", "-m", "nested", "v1.6.0", "v1.0.0")...)
	r.commit(k, "pgp-subkey", "pgp signed by a subkey", k.pgpSubkey)
	r.commit(k, "pgp-untrusted", "pgp untrusted", k.pgpUntrusted)
	r.tag(k, "v1.4.0", k.pgpUntrusted)
	r.commit(k, "pgp-expired", "pgp expired", k.pgpExpired)
	r.commit(k, "pgp-revoked", "pgp revoked later", k.pgpRevoked)
	k.revoke(k.pgpRevoked)
	r.commit(k, "pgp-tampered", "pgp honest", k.pgpTrusted)
	r.tamper("commit", "refs/heads/pgp-tampered", "pgp honest", "pgp evil!")

	r.commit(k, "ssh-good", "ssh good", k.sshTrusted)
	r.tag(k, "v1.1.0", k.sshTrusted)
	r.tag(k, "v1.5.0", k.sshTrusted)
	r.tamper("tag", "refs/tags/v1.5.0", "release v1.5.0", "release v1.5.0, trust me")
	r.commit(k, "ssh-unknown", "ssh unknown", k.sshUnknown)
	r.commit(k, "ssh-fileonly", "ssh file namespace only", k.sshFileOnly)
	r.commit(k, "ssh-retired", "ssh retired key", k.sshRetired)
	r.commit(k, "ssh-future", "ssh key not valid yet", k.sshFuture)
	r.commit(k, "ssh-tampered", "ssh honest", k.sshTrusted)
	r.tamper("commit", "refs/heads/ssh-tampered", "ssh honest", "ssh evil!")

	r.commit(k, "unsigned", "nobody signed this", "")
	r.tag(k, "v1.2.0", "annotated")
	r.tag(k, "v1.3.0", "")

	r.work.Push("--all")
	r.work.Push("--tags")
	// An old signed release re-pushed under a newer name.
	r.work.Push("refs/tags/v1.0.0:refs/tags/v9.0.0")

	refs, err := f.mirror.ListRemote(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []plumbing.ReferenceName
	for n := range refs {
		names = append(names, n)
	}
	if err := f.mirror.Fetch(t.Context(), names...); err != nil {
		t.Fatal(err)
	}
	r.refs = refs
	return r
}

// TestVerify signs commits and tags with the real git, gpg and ssh-keygen,
// fetches them into a mirror, and checks what Verify accepts and refuses,
// and why.
func TestVerify(t *testing.T) {
	k := newKeys(t)
	repo := newSignedRepo(t, k)
	both := VerifyPolicy{OpenPGPKeyring: k.keyring, SSHAllowedSigners: k.allowedSigners}
	pgpOnly := VerifyPolicy{OpenPGPKeyring: k.keyring}
	sshOnly := VerifyPolicy{SSHAllowedSigners: k.allowedSigners}
	sshTrusted := k.sshFingerprint(k.sshTrusted)

	tests := []struct {
		name   string
		ref    string
		mode   string
		policy VerifyPolicy
		// either a refusal...
		code     Refusal
		reason   string // a substring of the reason
		refusedF string // the fingerprint the refusal names
		// ...or who signed
		format, signer, fingerprint string
		// notGit marks cases where git verify-commit / verify-tag, given
		// the same keys, rightly answers otherwise (it checks neither tag
		// names nor which formats an environment trusts).
		notGit bool
	}{
		{name: "openpgp commit", ref: "refs/heads/pgp-good", mode: VerifyHead, policy: both,
			format: FormatOpenPGP, signer: "Trusted Releaser <trusted@example.com>", fingerprint: k.pgpTrusted},
		{name: "openpgp signing subkey", ref: "refs/heads/pgp-subkey", mode: VerifyHead, policy: both,
			format: FormatOpenPGP, signer: "Subkey Releaser <subkey@example.com>", fingerprint: k.pgpSigningSubkey},
		{name: "openpgp tag", ref: "refs/tags/v1.0.0", mode: VerifyTag, policy: pgpOnly,
			format: FormatOpenPGP, signer: "Trusted Releaser <trusted@example.com>", fingerprint: k.pgpTrusted},
		{name: "verify = head on a tag environment checks the commit", ref: "refs/tags/v1.0.0", mode: VerifyHead, policy: pgpOnly,
			format: FormatOpenPGP, signer: "Trusted Releaser <trusted@example.com>", fingerprint: k.pgpTrusted},
		{name: "ssh commit", ref: "refs/heads/ssh-good", mode: VerifyHead, policy: both,
			format: FormatSSH, signer: "alice@example.com,bob@example.com", fingerprint: sshTrusted},
		{name: "ssh tag", ref: "refs/tags/v1.1.0", mode: VerifyTag, policy: sshOnly,
			format: FormatSSH, signer: "alice@example.com,bob@example.com", fingerprint: sshTrusted},
		{name: "none checks nothing", ref: "refs/heads/unsigned", mode: VerifyNone, policy: VerifyPolicy{}, notGit: true},

		{name: "unsigned commit", ref: "refs/heads/unsigned", mode: VerifyHead, policy: both,
			code: RefusedUnsigned, reason: "is not signed"},
		{name: "unsigned annotated tag", ref: "refs/tags/v1.2.0", mode: VerifyTag, policy: both,
			code: RefusedUnsigned, reason: "git tag -s"},
		{name: "lightweight tag", ref: "refs/tags/v1.3.0", mode: VerifyTag, policy: both,
			code: RefusedLightweightTag, reason: "lightweight tag"},
		{name: "signed commit but verify = tag", ref: "refs/heads/pgp-good", mode: VerifyTag, policy: both,
			code: RefusedLightweightTag, reason: "not a tag"},
		{name: "signed tag re-pushed under another name", ref: "refs/tags/v9.0.0", mode: VerifyTag, policy: both,
			code: RefusedTagMismatch, reason: `named "v1.0.0"`, notGit: true},

		{name: "nested tag", ref: "refs/tags/v1.6.0", mode: VerifyTag, policy: both,
			code: RefusedTagMismatch, reason: "points at a tag, not a commit", notGit: true},

		{name: "openpgp untrusted key", ref: "refs/heads/pgp-untrusted", mode: VerifyHead, policy: both,
			code: RefusedUnknownKey, reason: "not in the trusted keyring", refusedF: k.pgpUntrusted},
		{name: "openpgp untrusted tag", ref: "refs/tags/v1.4.0", mode: VerifyTag, policy: both,
			code: RefusedUnknownKey, refusedF: k.pgpUntrusted},
		{name: "openpgp expired key", ref: "refs/heads/pgp-expired", mode: VerifyHead, policy: both,
			code: RefusedExpiredKey, reason: "expired", refusedF: k.pgpExpired},
		{name: "openpgp revoked key", ref: "refs/heads/pgp-revoked", mode: VerifyHead, policy: both,
			code: RefusedRevokedKey, reason: "revoked", refusedF: k.pgpRevoked},
		{name: "openpgp tampered commit", ref: "refs/heads/pgp-tampered", mode: VerifyHead, policy: both,
			code: RefusedBadSignature, reason: "does not match its content", refusedF: k.pgpTrusted},
		{name: "openpgp signature, only ssh trusted", ref: "refs/heads/pgp-good", mode: VerifyHead, policy: sshOnly,
			code: RefusedUntrustedFormat, reason: "trusts only SSH keys", notGit: true},

		{name: "ssh unknown key", ref: "refs/heads/ssh-unknown", mode: VerifyHead, policy: both,
			code: RefusedUnknownKey, reason: "not in the allowed signers", refusedF: k.sshFingerprint(k.sshUnknown)},
		{name: "ssh tampered commit", ref: "refs/heads/ssh-tampered", mode: VerifyHead, policy: both,
			code: RefusedBadSignature, reason: "does not match its content", refusedF: sshTrusted},
		{name: "ssh tampered tag", ref: "refs/tags/v1.5.0", mode: VerifyTag, policy: both,
			code: RefusedBadSignature, refusedF: sshTrusted},
		{name: "ssh key for another namespace", ref: "refs/heads/ssh-fileonly", mode: VerifyHead, policy: both,
			code: RefusedNamespace, reason: `not allowed for namespace "git"`, refusedF: k.sshFingerprint(k.sshFileOnly)},
		{name: "ssh key past valid-before", ref: "refs/heads/ssh-retired", mode: VerifyHead, policy: both,
			code: RefusedExpiredKey, reason: "expired on 2020-01-01", refusedF: k.sshFingerprint(k.sshRetired)},
		{name: "ssh key before valid-after", ref: "refs/heads/ssh-future", mode: VerifyHead, policy: both,
			code: RefusedKeyNotYetValid, reason: "valid only from 2099", refusedF: k.sshFingerprint(k.sshFuture)},
		{name: "ssh signature, only openpgp trusted", ref: "refs/heads/ssh-good", mode: VerifyHead, policy: pgpOnly,
			code: RefusedUntrustedFormat, reason: "trusts only OpenPGP keys", notGit: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			p.Mode = tt.mode
			target := repo.target(t, tt.ref)
			v, err := repo.f.mirror.Verify(t.Context(), target, p)
			if !tt.notGit {
				if gitOK := repo.gitVerifies(k, tt.mode, tt.ref); gitOK != (tt.code == "") {
					t.Errorf("git verify-commit/verify-tag accepts it: %v; Ferry's verdict %q disagrees", gitOK, tt.code)
				}
			}
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if v.Mode != tt.mode || v.Format != tt.format || v.Signer != tt.signer || v.Fingerprint != tt.fingerprint {
					t.Errorf("Verify = %+v, want mode %s format %q signer %q fingerprint %q", v, tt.mode, tt.format, tt.signer, tt.fingerprint)
				}
				want := hashOf(target.Commit)
				if tt.mode == VerifyTag {
					want = repo.refs[plumbing.ReferenceName(tt.ref)].Hash
				}
				if tt.mode != VerifyNone && v.Object != want {
					t.Errorf("verified object %s, want %s", v.Object, want)
				}
				return
			}
			var ue *UnverifiedError
			if !errors.As(err, &ue) {
				t.Fatalf("Verify = %+v, %v; want an *UnverifiedError %s", v, err, tt.code)
			}
			t.Log(err)
			if ue.Code != tt.code {
				t.Errorf("code %s, want %s (%s)", ue.Code, tt.code, ue.Reason)
			}
			if !strings.Contains(ue.Reason, tt.reason) || strings.Contains(ue.Reason, "\n") {
				t.Errorf("reason %q: want one line containing %q", ue.Reason, tt.reason)
			}
			if ue.Fingerprint != tt.refusedF {
				t.Errorf("refusal names key %q, want %q", ue.Fingerprint, tt.refusedF)
			}
			if ue.Env != "production" || ue.Ref != tt.ref || ue.Object.IsZero() {
				t.Errorf("refusal is for %s %s %s", ue.Env, ue.Ref, ue.Object)
			}
			if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), ue.Reason) {
				t.Errorf("error %q: want permanent and carrying the reason", err)
			}
			if v != (Verified{}) {
				t.Errorf("refused, but Verified = %+v", v)
			}
		})
	}

	t.Run("tag that does not point at the target commit", func(t *testing.T) {
		target := repo.target(t, "refs/tags/v1.0.0")
		target.Commit = commit.FromSHA1(repo.refs["refs/heads/unsigned"].Commit)
		_, err := repo.f.mirror.Verify(t.Context(), target, VerifyPolicy{Mode: VerifyTag, OpenPGPKeyring: k.keyring})
		var ue *UnverifiedError
		if !errors.As(err, &ue) || ue.Code != RefusedTagMismatch {
			t.Fatalf("err = %v, want a %s refusal", err, RefusedTagMismatch)
		}
	})
}

// TestVerifyReadsKeysEachTime removes a key from the allowed signers and
// adds it back: each verification sees the file as it is then.
func TestVerifyReadsKeysEachTime(t *testing.T) {
	k := newKeys(t)
	f := newFixture(t)
	r := &signedRepo{t: t, f: f, work: gittest.NewWork(t, f.daemon.URL("app.git"), k.env...)}
	r.commit(k, "main", "ssh good", k.sshTrusted)
	r.work.Push("main")
	h, err := f.mirror.Sync(t.Context(), "refs/heads/main")
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Env: "staging", Ref: "refs/heads/main", Commit: commit.FromSHA1(h)}
	p := VerifyPolicy{Mode: VerifyHead, SSHAllowedSigners: k.allowedSigners}
	if _, err := f.mirror.Verify(t.Context(), target, p); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	orig, _ := os.ReadFile(k.allowedSigners)
	k.write(k.allowedSigners, "carol@example.com "+k.pub(k.sshUnknown)+"\n")
	var ue *UnverifiedError
	if _, err := f.mirror.Verify(t.Context(), target, p); !errors.As(err, &ue) || ue.Code != RefusedUnknownKey {
		t.Fatalf("after removing the key: err = %v, want %s", err, RefusedUnknownKey)
	}
	k.write(k.allowedSigners, string(orig))
	if _, err := f.mirror.Verify(t.Context(), target, p); err != nil {
		t.Fatalf("after restoring the key: %v", err)
	}
}

// TestVerifyConfigErrors: a check that cannot be made is an error, but not
// a refusal of the commit.
func TestVerifyConfigErrors(t *testing.T) {
	k := newKeys(t)
	f := newFixture(t)
	r := &signedRepo{t: t, f: f, work: gittest.NewWork(t, f.daemon.URL("app.git"), k.env...)}
	r.commit(k, "main", "pgp", k.pgpTrusted)
	r.work.Push("main")
	h, err := f.mirror.Sync(t.Context(), "refs/heads/main")
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Env: "staging", Ref: "refs/heads/main", Commit: commit.FromSHA1(h)}
	garbage := filepath.Join(t.TempDir(), "garbage.asc")
	k.write(garbage, "not a keyring\n")
	badSigners := filepath.Join(t.TempDir(), "allowed_signers")
	k.write(badSigners, "alice@example.com bogus-option "+k.pub(k.sshTrusted)+"\n")

	tests := []struct {
		name      string
		target    Target
		policy    VerifyPolicy
		permanent bool
	}{
		{"unknown mode", target, VerifyPolicy{Mode: "always"}, true},
		{"no trusted keys", target, VerifyPolicy{Mode: VerifyHead}, true},
		{"missing keyring", target, VerifyPolicy{Mode: VerifyHead, OpenPGPKeyring: filepath.Join(t.TempDir(), "nope.asc")}, true},
		{"unreadable keyring", target, VerifyPolicy{Mode: VerifyHead, OpenPGPKeyring: garbage}, true},
		{"commit not in the mirror", Target{Env: "staging", Ref: "refs/heads/main", Commit: commit.MustParse("1111111111111111111111111111111111111111")},
			VerifyPolicy{Mode: VerifyHead, OpenPGPKeyring: k.keyring}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.mirror.Verify(t.Context(), tt.target, tt.policy)
			var ue *UnverifiedError
			if err == nil || errors.As(err, &ue) {
				t.Fatalf("err = %v, want an error that is not a refusal", err)
			}
			if errors.Is(err, ErrPermanent) != tt.permanent {
				t.Errorf("permanent = %v, want %v: %v", !tt.permanent, tt.permanent, err)
			}
		})
	}

	// An SSH signature read against a broken allowed_signers file.
	r.commit(k, "main", "ssh", k.sshTrusted)
	r.work.Push("main")
	if h, err = f.mirror.Sync(t.Context(), "refs/heads/main"); err != nil {
		t.Fatal(err)
	}
	target.Commit = commit.FromSHA1(h)
	_, err = f.mirror.Verify(t.Context(), target, VerifyPolicy{Mode: VerifyHead, SSHAllowedSigners: badSigners})
	if err == nil || !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), badSigners+":1:") {
		t.Errorf("broken allowed_signers: err = %v, want a permanent error naming %s:1", err, badSigners)
	}
}

// TestVerifyWatchedTag is the path the agent takes: the watcher picks the
// highest tag, and Verify refuses it because it is an old signed release
// re-pushed under a newer name.
func TestVerifyWatchedTag(t *testing.T) {
	k := newKeys(t)
	f := newFixture(t)
	r := &signedRepo{t: t, f: f, work: gittest.NewWork(t, f.daemon.URL("app.git"), k.env...)}
	r.commit(k, "main", "release", "")
	r.tag(k, "v1.0.0", k.pgpTrusted)
	r.work.Push("main", "v1.0.0")
	w := f.watcher(t, "", Rule{Env: "production", TagPattern: "v*"})
	p := VerifyPolicy{Mode: VerifyTag, OpenPGPKeyring: k.keyring}

	ts := poll(t, w)
	if len(ts) != 1 {
		t.Fatalf("targets %+v", ts)
	}
	if v, err := f.mirror.Verify(t.Context(), ts[0], p); err != nil || v.Fingerprint != k.pgpTrusted {
		t.Fatalf("v1.0.0: %+v, %v", v, err)
	}

	r.work.Push("refs/tags/v1.0.0:refs/tags/v2.0.0")
	ts = poll(t, w)
	if len(ts) != 1 || ts[0].Ref != "refs/tags/v2.0.0" {
		t.Fatalf("targets %+v", ts)
	}
	var ue *UnverifiedError
	if _, err := f.mirror.Verify(t.Context(), ts[0], p); !errors.As(err, &ue) || ue.Code != RefusedTagMismatch {
		t.Fatalf("v2.0.0: err = %v, want %s", err, RefusedTagMismatch)
	}
}
