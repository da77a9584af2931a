package awssim

import (
	"crypto/ed25519"
	"crypto/md5" //nolint:gosec // EC2's fingerprint of imported RSA keys is MD5
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // EC2's fingerprint of RSA keys it makes is SHA-1
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Key pairs [API_CreateKeyPair, API_ImportKeyPair, verify-keys]. The
// account keeps only the public half; CreateKeyPair's private key is in its
// answer and nowhere else (not in the state file, not in a log). With
// machines, RunInstances' KeyName goes into admin's authorized_keys, as
// cloud-init does on Debian's AMIs.

func keyPairNotFound(name string) *APIError {
	return errf("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", name)
}

// checkKeyNameLocked refuses a missing, too long or taken name.
func (s *Sim) checkKeyNameLocked(name string) *APIError {
	if name == "" {
		return errf("MissingParameter", "The request must contain the parameter KeyName")
	}
	if len(name) > 255 {
		return errf("InvalidParameterValue", "Value (%s) for parameter KeyName is invalid. Length exceeds maximum of 255.", name)
	}
	for _, c := range name {
		if c > 127 {
			return errf("InvalidParameterValue", "Value (%s) for parameter KeyName is invalid. Character sets beyond ASCII are not supported.", name)
		}
	}
	if s.st.KeyPairs[name] != nil {
		return errf("InvalidKeyPair.Duplicate", "The keypair '%s' already exists.", name)
	}
	return nil
}

// colonHex is a digest as EC2 shows RSA fingerprints: 1f:51:ae:….
func colonHex(sum []byte) string {
	h := hex.EncodeToString(sum)
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// ed25519Fingerprint is the SHA-256 of the key in SSH wire form, base64:
// what ssh-keygen -l shows after "SHA256:" (EC2 adds the padding).
func ed25519Fingerprint(pub ssh.PublicKey) string {
	sum := sha256.Sum256(pub.Marshal())
	return base64.StdEncoding.EncodeToString(sum[:])
}

// CreateKeyPair [API_CreateKeyPair]: KeyType rsa (2048 bits, the default)
// or ed25519; KeyFormat pem only (ppk is not simulated). The RSA key is
// PKCS#1 PEM with the SHA-1 of its PKCS#8 DER as fingerprint; the ED25519
// key is in OpenSSH's format with its SHA-256 fingerprint [verify-keys].
func ec2CreateKeyPair(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("KeyName")
	if apiErr := s.checkKeyNameLocked(name); apiErr != nil {
		return nil, apiErr
	}
	if f := p.str("KeyFormat"); f != "" && f != "pem" {
		return nil, errf("InvalidParameterValue", "Value (%s) for parameter KeyFormat is not supported by this simulator: use pem.", f)
	}
	kp := &keyPair{ID: s.newIDLocked("key"), Name: name, Type: p.str("KeyType"), Created: s.now(),
		Tags: tagSpecs(p, "TagSpecification", "key-pair")}
	var material []byte
	switch kp.Type {
	case "", "rsa":
		kp.Type = "rsa"
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, errf("InternalError", "generate key: %v", err)
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, errf("InternalError", "encode key: %v", err)
		}
		sum := sha1.Sum(pkcs8) //nolint:gosec // as EC2 computes it
		kp.Fingerprint = colonHex(sum[:])
		material = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
		pub, err := ssh.NewPublicKey(&priv.PublicKey)
		if err != nil {
			return nil, errf("InternalError", "encode key: %v", err)
		}
		kp.PublicKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	case "ed25519":
		pubKey, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, errf("InternalError", "generate key: %v", err)
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return nil, errf("InternalError", "encode key: %v", err)
		}
		material = pem.EncodeToMemory(block)
		pub, err := ssh.NewPublicKey(pubKey)
		if err != nil {
			return nil, errf("InternalError", "encode key: %v", err)
		}
		kp.Fingerprint = ed25519Fingerprint(pub)
		kp.PublicKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	default:
		return nil, errf("InvalidParameterValue", "Value (%s) for parameter KeyType is invalid. Valid values: rsa, ed25519.", kp.Type)
	}
	kp.PublicKey += " " + name
	s.st.KeyPairs[name] = kp
	return []*node{leaf("keyName", name), leaf("keyFingerprint", kp.Fingerprint),
		leaf("keyMaterial", string(material)), leaf("keyPairId", kp.ID), ec2TagSet(kp.Tags)}, nil
}

// ImportKeyPair [API_ImportKeyPair]: an RSA (1024, 2048 or 4096 bits) or
// ED25519 public key in OpenSSH's authorized_keys form, base64 DER or
// RFC 4716; the RSA fingerprint is the MD5 of its DER [verify-keys].
func ec2ImportKeyPair(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("KeyName")
	if apiErr := s.checkKeyNameLocked(name); apiErr != nil {
		return nil, apiErr
	}
	raw, err := base64.StdEncoding.DecodeString(p.str("PublicKeyMaterial")) // a blob: base64 on the wire
	if err != nil || len(raw) == 0 {
		return nil, errf("InvalidKeyPair.Format", "Key is not in valid OpenSSH public key format")
	}
	pub, apiErr := parsePublicKey(raw)
	if apiErr != nil {
		return nil, apiErr
	}
	kp := &keyPair{ID: s.newIDLocked("key"), Name: name, Created: s.now(), Tags: tagSpecs(p, "TagSpecification", "key-pair")}
	switch ck := pub.(ssh.CryptoPublicKey).CryptoPublicKey().(type) {
	case *rsa.PublicKey:
		if bits := ck.N.BitLen(); bits != 1024 && bits != 2048 && bits != 4096 {
			return nil, errf("InvalidKeyPair.Format", "Invalid RSA key length %d: use 1024, 2048 or 4096 bits", bits)
		}
		der, err := x509.MarshalPKIXPublicKey(ck)
		if err != nil {
			return nil, errf("InvalidKeyPair.Format", "Key is not in valid OpenSSH public key format")
		}
		sum := md5.Sum(der) //nolint:gosec // as EC2 computes it
		kp.Type, kp.Fingerprint = "rsa", colonHex(sum[:])
	case ed25519.PublicKey:
		kp.Type, kp.Fingerprint = "ed25519", ed25519Fingerprint(pub)
	default:
		return nil, errf("InvalidKeyPair.Format", "Key type %s is not supported: use RSA or ED25519", pub.Type())
	}
	kp.PublicKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + name
	s.st.KeyPairs[name] = kp
	return []*node{leaf("keyName", name), leaf("keyFingerprint", kp.Fingerprint), leaf("keyPairId", kp.ID), ec2TagSet(kp.Tags)}, nil
}

// parsePublicKey reads the three formats ImportKeyPair takes.
func parsePublicKey(raw []byte) (ssh.PublicKey, *APIError) {
	bad := errf("InvalidKeyPair.Format", "Key is not in valid OpenSSH public key format")
	text := strings.TrimSpace(string(raw))
	if pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(text)); err == nil {
		return pub, nil
	}
	if strings.HasPrefix(text, "---- BEGIN SSH2 PUBLIC KEY ----") { // RFC 4716
		var body strings.Builder
		cont := false
		for _, line := range strings.Split(text, "\n")[1:] {
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "---- END"):
			case cont || strings.Contains(line, ":"): // a header, maybe continued
				cont = strings.HasSuffix(line, "\\")
			default:
				body.WriteString(line)
			}
		}
		wire, err := base64.StdEncoding.DecodeString(body.String())
		if err != nil {
			return nil, bad
		}
		pub, err := ssh.ParsePublicKey(wire)
		if err != nil {
			return nil, bad
		}
		return pub, nil
	}
	der, err := base64.StdEncoding.DecodeString(text) // base64 DER
	if err != nil {
		return nil, bad
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, bad
	}
	pub, err := ssh.NewPublicKey(k)
	if err != nil {
		return nil, bad
	}
	return pub, nil
}

// DescribeKeyPairs [API_DescribeKeyPairs]: by name or id (an unknown one
// is InvalidKeyPair.NotFound) and filter (key-name, key-pair-id,
// fingerprint, key-type, tag:K, tag-key); IncludePublicKey adds the key.
func ec2DescribeKeyPairs(s *Sim, p params) ([]*node, *APIError) {
	names, ids := p.strs("KeyName"), p.strs("KeyPairId")
	for _, n := range names {
		if s.st.KeyPairs[n] == nil {
			return nil, keyPairNotFound(n)
		}
	}
	for _, id := range ids {
		if s.keyPairByIDLocked(id) == nil {
			return nil, errf("InvalidKeyPair.NotFound", "The key pair ID '%s' does not exist", id)
		}
	}
	filters := ec2Filters(p)
	withPub := p.boolOr("IncludePublicKey", false)
	var its []*node
	for _, name := range sortedKeys(s.st.KeyPairs) {
		kp := s.st.KeyPairs[name]
		if len(names) > 0 && !contains(names, name) || len(ids) > 0 && !contains(ids, kp.ID) {
			continue
		}
		ok := matchFilters(filters, func(f string) []string {
			switch f {
			case "key-name":
				return []string{kp.Name}
			case "key-pair-id":
				return []string{kp.ID}
			case "fingerprint":
				return []string{kp.Fingerprint}
			case "key-type":
				return []string{kp.Type}
			case "tag-key":
				return sortedKeys(kp.Tags)
			}
			if k, ok := strings.CutPrefix(f, "tag:"); ok {
				if v, ok := kp.Tags[k]; ok {
					return []string{v}
				}
			}
			return nil
		})
		if !ok {
			continue
		}
		pub := ""
		if withPub {
			pub = kp.PublicKey
		}
		its = append(its, el("", leaf("keyPairId", kp.ID), leaf("keyFingerprint", kp.Fingerprint),
			leaf("keyName", kp.Name), leaf("keyType", kp.Type), leaf("createTime", kp.Created),
			opt("publicKey", pub), ec2TagSet(kp.Tags)))
	}
	return []*node{items("keySet", its)}, nil
}

func (s *Sim) keyPairByIDLocked(id string) *keyPair {
	for _, kp := range s.st.KeyPairs {
		if kp.ID == id {
			return kp
		}
	}
	return nil
}

// DeleteKeyPair [API_DeleteKeyPair]: by name (an unknown name succeeds,
// as on AWS) or by id. Instances launched with it keep the key.
func ec2DeleteKeyPair(s *Sim, p params) ([]*node, *APIError) {
	name, id := p.str("KeyName"), p.str("KeyPairId")
	switch {
	case id != "":
		kp := s.keyPairByIDLocked(id)
		if kp == nil {
			return nil, errf("InvalidKeyPair.NotFound", "The key pair ID '%s' does not exist", id)
		}
		name = kp.Name
	case name == "":
		return nil, errf("MissingParameter", "The request must contain the parameter KeyName or KeyPairId")
	}
	kp := s.st.KeyPairs[name]
	delete(s.st.KeyPairs, name)
	out := []*node{leaf("return", true)}
	if kp != nil {
		out = append(out, leaf("keyPairId", kp.ID))
	}
	return out, nil
}
