package watch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Seeds made with ssh-keygen -Y sign -n git (a throwaway key).
const (
	seedSignerKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA0xa5yb33z7lNBP0i/irXfMhOd4qHzxW/Rh6LT37MWl seed"
	seedSignedMsg = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n\nsigned\n"
	seedSSHSig    = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgDTFrnJvffPuU0E/SL+Ktd8yE53\niofPFb9GHotPfsxaUAAAADZ2l0AAAAAAAAAAZzaGE1MTIAAABTAAAAC3NzaC1lZDI1NTE5\nAAAAQDzEE81Lx/gluWYOChBG1rz+vAJRUxNiKqGApbm/GfbJY4lNSRY2YPm8s+NuSaEhf4\nbsRAmq3qxvgaJl3AAgrgQ=\n-----END SSH SIGNATURE-----\n"
)

// FuzzWebhook sends arbitrary bodies and signature headers to the webhook
// receiver (it listens to the network): it must never panic, and it must
// accept a request exactly when its signature is the one the secret makes.
func FuzzWebhook(f *testing.F) {
	body := []byte(`{"ref":"refs/heads/main","after":"0123"}`)
	f.Add(body, []byte("s3cret"), uint8(0), SignBody([]byte("s3cret"), body))
	f.Add(body, []byte("s3cret"), uint8(1), strings.TrimPrefix(SignBody([]byte("s3cret"), body), "sha256="))
	f.Add(body, []byte("s3cret"), uint8(2), "s3cret")
	f.Add(body, []byte("s3cret"), uint8(3), "sha256=00")
	f.Add([]byte{}, []byte("k"), uint8(4), "")
	headers := []string{headerHub, headerGitea, headerGitLab, headerGeneric, "X-Other"}
	f.Fuzz(func(t *testing.T, body, secret []byte, kind uint8, sig string) {
		if len(secret) == 0 {
			return // refused by NewHookHandler
		}
		var polls atomic.Int32
		h, err := NewHookHandler(HookOptions{Projects: []HookProject{{Name: "p", Secret: secret, Trigger: func() { polls.Add(1) }}}})
		if err != nil {
			t.Fatal(err)
		}
		header := headers[int(kind)%len(headers)]
		req := httptest.NewRequest(http.MethodPost, "/hooks/git?project=p", strings.NewReader(string(body)))
		req.Header.Set(header, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		sum := mac.Sum(nil)
		hexOK := func(s string) bool {
			got, err := hex.DecodeString(s)
			return err == nil && hmac.Equal(got, sum)
		}
		sig = req.Header.Get(header) // as net/http keeps it
		var want bool
		switch header {
		case headerHub, headerGeneric:
			rest, ok := strings.CutPrefix(sig, "sha256=")
			want = ok && hexOK(rest)
		case headerGitea:
			want = sig != "" && hexOK(sig)
		case headerGitLab:
			want = sig != "" && sig == string(secret)
		}
		if accepted := rec.Code == http.StatusAccepted; accepted != want || (polls.Load() == 1) != want {
			t.Fatalf("%s: %q over %d bytes: status %d, %d polls; want accepted=%v", header, sig, len(body), rec.Code, polls.Load(), want)
		}
	})
}

// FuzzAllowedSigners feeds arbitrary allowed_signers files to the parser
// that decides whose signed commits deploy: it must never panic, and a
// file it accepts must give each signer principals and a key.
func FuzzAllowedSigners(f *testing.F) {
	f.Add([]byte("alice@example.com " + seedSignerKey + "\n"))
	f.Add([]byte("# ops\n\"*@ops.example.com,bob@example.com\" namespaces=\"git,file\",valid-after=\"20260101\",valid-before=\"20270101120000Z\" " + seedSignerKey + "\n"))
	f.Add([]byte("ca@example.com cert-authority " + seedSignerKey + "\n\r\n"))
	f.Add([]byte("x namespaces=\"*\" " + seedSignerKey))
	f.Fuzz(func(t *testing.T, data []byte) {
		signers, err := parseAllowedSigners(data, "allowed_signers")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "allowed_signers:") {
				t.Fatalf("error does not name the file and line: %v", err)
			}
			return
		}
		for _, s := range signers {
			if s.principals == "" || s.key == nil || s.line < 1 {
				t.Fatalf("accepted a signer without principals, key or line: %+v", s)
			}
			// Pattern matching runs on whatever a signer allows.
			_ = s.allowsNamespace("git")
			_ = matchPatternList("alice@example.com", s.principals)
		}
	})
}

// FuzzSSHSignature feeds arbitrary armored signatures (they come with the
// commits a remote serves) to the parser and verifier: neither may panic,
// and a signature may verify only the message it was made for.
func FuzzSSHSignature(f *testing.F) {
	f.Add([]byte(seedSSHSig), []byte(seedSignedMsg))
	f.Add([]byte(seedSSHSig), []byte(seedSignedMsg+"x"))
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"), []byte(""))
	f.Fuzz(func(t *testing.T, armored, message []byte) {
		sig, err := parseSSHSig(armored)
		if err != nil {
			return
		}
		if string(armored) == seedSSHSig {
			if err := sig.verify(message); (err == nil) != (string(message) == seedSignedMsg) {
				t.Fatalf("the seed signature over %q: %v", message, err)
			}
		}
		signers, err := parseAllowedSigners([]byte("a@example.com "+seedSignerKey), "allowed_signers")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = checkSSHSignature("commit", armored, message, time.Unix(1700000000, 0), signers, "allowed_signers", time.Unix(1700000000, 0))
	})
}
