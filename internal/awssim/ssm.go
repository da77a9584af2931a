package awssim

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SSM Parameter Store [API_PutParameter, API_GetParameter, API_GetParameters,
// API_GetParametersByPath, API_DeleteParameter, API_DeleteParameters,
// sysman-parameter-name-constraints]. SecureString values are kept
// encrypted (AES-256-GCM under a key made for each KMS key id the account
// uses, as SSM keeps them encrypted with KMS), so the state file holds no
// secret in clear text and a read without WithDecryption answers the
// ciphertext, as SSM does.

// ssmParameter is one parameter and its versions, oldest first.
type ssmParameter struct {
	Name     string        `json:"name"`
	Versions []*ssmVersion `json:"versions"`
}

// ssmVersion is one version of a parameter: Value in clear for String and
// StringList, Cipher (base64 nonce+sealed) for SecureString.
type ssmVersion struct {
	Version     int64     `json:"version"`
	Type        string    `json:"type"`
	Value       string    `json:"value,omitempty"`
	Cipher      string    `json:"cipher,omitempty"`
	KeyID       string    `json:"keyId,omitempty"`
	Description string    `json:"description,omitempty"`
	Tier        string    `json:"tier"`
	DataType    string    `json:"dataType"`
	Modified    time.Time `json:"modified"`
}

func (p *ssmParameter) latest() *ssmVersion { return p.Versions[len(p.Versions)-1] }

// SSM's limits [sysman-paramstore-versions, parameter-store-advanced-parameters,
// API_GetParameters, API_GetParametersByPath].
const (
	ssmMaxVersions     = 100
	ssmMaxLevels       = 15
	ssmMaxNameLen      = 1011
	ssmStandardValue   = 4096
	ssmAdvancedValue   = 8192
	ssmMaxNames        = 10 // GetParameters, DeleteParameters
	ssmMaxResultsLimit = 10 // GetParametersByPath
	ssmDefaultKeyID    = "alias/aws/ssm"
)

func ssmActions() map[string]jsonHandlerFunc {
	return map[string]jsonHandlerFunc{
		"PutParameter":        (*Sim).ssmPutParameter,
		"GetParameter":        (*Sim).ssmGetParameter,
		"GetParameters":       (*Sim).ssmGetParameters,
		"GetParametersByPath": (*Sim).ssmGetParametersByPath,
		"DeleteParameter":     (*Sim).ssmDeleteParameter,
		"DeleteParameters":    (*Sim).ssmDeleteParameters,
	}
}

func ssmValidation(format string, args ...any) *APIError {
	return errf("ValidationException", format, args...)
}

var ssmNameChars = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`)

// ssmCheckName validates a parameter name [sysman-parameter-name-constraints]:
// SSM trims surrounding spaces; letters, digits and _.-/ only; a name with
// a slash is fully qualified (starts with one) and has no empty level; at
// most 15 levels; no "aws" or "ssm" prefix, with or without the slash.
func ssmCheckName(name string) (string, *APIError) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", ssmValidation("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(name) > ssmMaxNameLen {
		return "", ssmValidation("Parameter name must be at most %d characters", ssmMaxNameLen)
	}
	if strings.Contains(name, " ") {
		return "", ssmValidation("Parameter name: can't contain spaces")
	}
	if !ssmNameChars.MatchString(name) {
		return "", ssmValidation("Parameter name: can include only the symbols and letters a-zA-Z0-9_.-/")
	}
	if strings.Contains(name, "/") {
		if !strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
			return "", ssmValidation("Parameter name must be a fully qualified name: a leading slash and no empty level")
		}
		if strings.Count(name, "/") > ssmMaxLevels {
			return "", errf("HierarchyLevelLimitExceededException", "A hierarchy can have a maximum of %d levels.", ssmMaxLevels)
		}
	}
	first := strings.ToLower(strings.TrimPrefix(name, "/"))
	if strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm") {
		return "", ssmValidation("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).")
	}
	return name, nil
}

var ssmKeyIDForm = regexp.MustCompile(`^(alias/[a-zA-Z0-9/_-]+|[0-9a-fA-F-]{36}|arn:aws:kms:[a-z0-9-]+:[0-9]{12}:(key/[0-9a-fA-F-]{36}|alias/[a-zA-Z0-9/_-]+))$`)

// ssmDataKeyLocked is the AES key standing for KMS key id, made on first use
// (the simulator has no KMS: every well-formed key id exists).
func (s *Sim) ssmDataKeyLocked(keyID string) ([]byte, error) {
	if k, ok := s.st.KMSKeys[keyID]; ok {
		return base64.StdEncoding.DecodeString(k)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	s.st.KMSKeys[keyID] = base64.StdEncoding.EncodeToString(k)
	return k, nil
}

func (s *Sim) ssmSealLocked(keyID, name, value string) (string, error) {
	k, err := s.ssmDataKeyLocked(keyID)
	if err != nil {
		return "", err
	}
	blk, err := aes.NewCipher(k)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(value), []byte(name))), nil
}

func (s *Sim) ssmOpenLocked(v *ssmVersion, name string) (string, error) {
	k, err := s.ssmDataKeyLocked(v.KeyID)
	if err != nil {
		return "", err
	}
	blk, err := aes.NewCipher(k)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		return "", err
	}
	b, err := base64.StdEncoding.DecodeString(v.Cipher)
	if err != nil || len(b) < gcm.NonceSize() {
		return "", fmt.Errorf("ciphertext of %s is damaged", name)
	}
	plain, err := gcm.Open(nil, b[:gcm.NonceSize()], b[gcm.NonceSize():], []byte(name))
	if err != nil {
		return "", fmt.Errorf("ciphertext of %s does not open: %w", name, err)
	}
	return string(plain), nil
}

type ssmTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type ssmPutInput struct {
	Name           string   `json:"Name"`
	Value          *string  `json:"Value"`
	Type           string   `json:"Type"`
	KeyID          string   `json:"KeyId"`
	Overwrite      bool     `json:"Overwrite"`
	Description    string   `json:"Description"`
	Tier           string   `json:"Tier"`
	DataType       string   `json:"DataType"`
	AllowedPattern string   `json:"AllowedPattern"`
	Tags           []ssmTag `json:"Tags"`
}

// AWS: API_PutParameter.
func (s *Sim) ssmPutParameter(body []byte) (any, *APIError) {
	var in ssmPutInput
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	name, e := ssmCheckName(in.Name)
	if e != nil {
		return nil, e
	}
	if in.Value == nil || *in.Value == "" {
		return nil, ssmValidation("1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	value := *in.Value
	switch in.Type {
	case "", "String", "StringList", "SecureString":
	default:
		return nil, ssmValidation("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", in.Type)
	}
	// Intelligent-Tiering is Standard unless the value needs Advanced
	// [parameter-store-advanced-parameters].
	tier := in.Tier
	switch tier {
	case "", "Standard":
		tier = "Standard"
		if len(value) > ssmStandardValue {
			return nil, ssmValidation("Standard tier parameters support a maximum parameter value of %d characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameters tier.", ssmStandardValue)
		}
	case "Intelligent-Tiering":
		tier = "Standard"
		if len(value) > ssmStandardValue {
			tier = "Advanced"
		}
	case "Advanced":
	default:
		return nil, ssmValidation("1 validation error detected: Value '%s' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]", in.Tier)
	}
	if len(value) > ssmAdvancedValue {
		return nil, ssmValidation("Advanced tier parameters support a maximum parameter value of %d characters.", ssmAdvancedValue)
	}
	dataType := in.DataType
	switch dataType {
	case "":
		dataType = "text"
	case "text", "aws:ec2:image", "aws:ssm:integration":
	default:
		return nil, ssmValidation("The following data type is not supported: %s (Data type names are all lowercase.)", in.DataType)
	}
	if len(in.Tags) > 0 && in.Overwrite {
		return nil, ssmValidation("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	if in.AllowedPattern != "" {
		re, err := regexp.Compile(in.AllowedPattern)
		if err != nil {
			return nil, ssmValidation("Parameter allowedPattern is not a valid regular expression")
		}
		if !re.MatchString(value) {
			// The value is not echoed: it may be a secret.
			return nil, errf("ParameterPatternMismatchException", "Parameter value, cannot be validated against allowedPattern: %s", in.AllowedPattern)
		}
	}

	p := s.st.Parameters[name]
	typ := in.Type
	if p != nil {
		if !in.Overwrite {
			return nil, errf("ParameterAlreadyExists", "The parameter already exists. To overwrite this request value, set the overwrite option in the request to true.")
		}
		if typ == "" {
			typ = p.latest().Type
		}
		if typ != p.latest().Type {
			return nil, errf("HierarchyTypeMismatchException", "The parameter type can't be changed: %s is a %s.", name, p.latest().Type)
		}
	} else if typ == "" {
		return nil, ssmValidation("A parameter type is required when you create a parameter.")
	}
	keyID := ""
	if in.KeyID != "" {
		if typ != "SecureString" {
			return nil, ssmValidation("KeyId is required for SecureString type parameter only.")
		}
		if !ssmKeyIDForm.MatchString(in.KeyID) {
			return nil, errf("InvalidKeyId", "Invalid keyId %s", in.KeyID)
		}
		keyID = in.KeyID
	} else if typ == "SecureString" {
		keyID = ssmDefaultKeyID
		if p != nil && p.latest().KeyID != "" {
			keyID = p.latest().KeyID
		}
	}

	v := &ssmVersion{Version: 1, Type: typ, KeyID: keyID, Description: in.Description, Tier: tier, DataType: dataType, Modified: s.now()}
	if typ == "SecureString" {
		c, err := s.ssmSealLocked(keyID, name, value)
		if err != nil {
			return nil, &APIError{Code: "InternalServerError", Message: err.Error(), Status: 500}
		}
		v.Cipher = c
	} else {
		v.Value = value
	}
	if p == nil {
		p = &ssmParameter{Name: name}
		s.st.Parameters[name] = p
	} else {
		v.Version = p.latest().Version + 1
		if v.Description == "" {
			v.Description = p.latest().Description
		}
		// SSM keeps 100 versions and deletes the oldest when a new one
		// comes [sysman-paramstore-versions] (labels are not simulated, so
		// no version is held back by one).
		if len(p.Versions) >= ssmMaxVersions {
			p.Versions = append([]*ssmVersion(nil), p.Versions[len(p.Versions)-ssmMaxVersions+1:]...)
		}
	}
	p.Versions = append(p.Versions, v)
	return map[string]any{"Version": v.Version, "Tier": v.Tier}, nil
}

// ssmParameterOut is the Parameter shape [API_Parameter].
type ssmParameterOut struct {
	Name             string    `json:"Name"`
	Type             string    `json:"Type"`
	Value            string    `json:"Value"`
	Version          int64     `json:"Version"`
	Selector         string    `json:"Selector,omitempty"`
	LastModifiedDate epochTime `json:"LastModifiedDate"`
	ARN              string    `json:"ARN"`
	DataType         string    `json:"DataType"`
}

func (s *Sim) ssmARN(name string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", s.opts.Region, s.opts.AccountID, strings.TrimPrefix(name, "/"))
}

// ssmOutLocked renders version v of p, its value decrypted when asked.
func (s *Sim) ssmOutLocked(p *ssmParameter, v *ssmVersion, selector string, decrypt bool) (ssmParameterOut, *APIError) {
	out := ssmParameterOut{Name: p.Name, Type: v.Type, Value: v.Value, Version: v.Version, Selector: selector,
		LastModifiedDate: epochTime(v.Modified), ARN: s.ssmARN(p.Name), DataType: v.DataType}
	if v.Type == "SecureString" {
		out.Value = v.Cipher
		if decrypt {
			plain, err := s.ssmOpenLocked(v, p.Name)
			if err != nil {
				return out, &APIError{Code: "InternalServerError", Message: err.Error(), Status: 500}
			}
			out.Value = plain
		}
	}
	return out, nil
}

// ssmLookupLocked finds "name" or "name:version" (a label, which the
// simulator does not keep, matches no version). A missing parameter is
// ParameterNotFound, a missing version ParameterVersionNotFound.
func (s *Sim) ssmLookupLocked(ref string) (*ssmParameter, *ssmVersion, string, *APIError) {
	base, selector, hasSel := strings.Cut(strings.TrimSpace(ref), ":")
	name, e := ssmCheckName(base)
	if e != nil {
		return nil, nil, "", e
	}
	p := s.st.Parameters[name]
	if p == nil {
		return nil, nil, "", errf("ParameterNotFound", "Parameter %s not found.", name)
	}
	if !hasSel {
		return p, p.latest(), "", nil
	}
	n, err := strconv.ParseInt(selector, 10, 64)
	if err == nil {
		for _, v := range p.Versions {
			if v.Version == n {
				return p, v, ":" + selector, nil
			}
		}
	}
	return nil, nil, "", errf("ParameterVersionNotFound", "Systems Manager could not find version %s of %s. Verify the version and try again.", selector, name)
}

// AWS: API_GetParameter.
func (s *Sim) ssmGetParameter(body []byte) (any, *APIError) {
	var in struct {
		Name           string `json:"Name"`
		WithDecryption bool   `json:"WithDecryption"`
	}
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	p, v, sel, e := s.ssmLookupLocked(in.Name)
	if e != nil {
		return nil, e
	}
	out, e := s.ssmOutLocked(p, v, sel, in.WithDecryption)
	if e != nil {
		return nil, e
	}
	return map[string]any{"Parameter": out}, nil
}

// AWS: API_GetParameters: unknown names (and versions) are listed in
// InvalidParameters, not an error.
func (s *Sim) ssmGetParameters(body []byte) (any, *APIError) {
	var in struct {
		Names          []string `json:"Names"`
		WithDecryption bool     `json:"WithDecryption"`
	}
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	if len(in.Names) < 1 || len(in.Names) > ssmMaxNames {
		return nil, ssmValidation("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", ssmMaxNames)
	}
	params := []ssmParameterOut{}
	invalid := []string{}
	for _, ref := range in.Names {
		p, v, sel, e := s.ssmLookupLocked(ref)
		if e != nil {
			if e.Code == "ParameterNotFound" || e.Code == "ParameterVersionNotFound" {
				invalid = append(invalid, ref)
				continue
			}
			return nil, e
		}
		out, e := s.ssmOutLocked(p, v, sel, in.WithDecryption)
		if e != nil {
			return nil, e
		}
		params = append(params, out)
	}
	return map[string]any{"Parameters": params, "InvalidParameters": invalid}, nil
}

// AWS: API_GetParametersByPath: the parameters below Path (its direct
// children, or every level with Recursive), by name, at most MaxResults
// (1–10, default 10) a page.
func (s *Sim) ssmGetParametersByPath(body []byte) (any, *APIError) {
	var in struct {
		Path           string `json:"Path"`
		Recursive      bool   `json:"Recursive"`
		WithDecryption bool   `json:"WithDecryption"`
		MaxResults     *int   `json:"MaxResults"`
		NextToken      string `json:"NextToken"`
	}
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	path := strings.TrimSpace(in.Path)
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
		if !strings.HasPrefix(path, "/") {
			return nil, ssmValidation("The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".")
		}
		if _, e := ssmCheckPath(path); e != nil {
			return nil, e
		}
	}
	max := ssmMaxResultsLimit
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > ssmMaxResultsLimit {
			return nil, ssmValidation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to %d and greater than or equal to 1", *in.MaxResults, ssmMaxResultsLimit)
		}
		max = *in.MaxResults
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || !strings.HasPrefix(string(b), "ssm:") {
			return nil, errf("InvalidNextToken", "The specified token isn't valid.")
		}
		after = strings.TrimPrefix(string(b), "ssm:")
	}
	prefix := strings.TrimSuffix(path, "/") + "/"
	var names []string
	for name := range s.st.Parameters {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || rest == "" || (!in.Recursive && strings.Contains(rest, "/")) {
			continue
		}
		if after != "" && name <= after {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	out := map[string]any{}
	params := []ssmParameterOut{}
	for i, name := range names {
		if i == max {
			out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte("ssm:" + names[i-1]))
			break
		}
		p := s.st.Parameters[name]
		o, e := s.ssmOutLocked(p, p.latest(), "", in.WithDecryption)
		if e != nil {
			return nil, e
		}
		params = append(params, o)
	}
	out["Parameters"] = params
	return out, nil
}

// ssmCheckPath validates a hierarchy path as a name (a path is a name
// without its last part).
func ssmCheckPath(path string) (string, *APIError) {
	if strings.Count(path, "/") > ssmMaxLevels {
		return "", errf("HierarchyLevelLimitExceededException", "A hierarchy can have a maximum of %d levels.", ssmMaxLevels)
	}
	if !ssmNameChars.MatchString(path) || strings.Contains(path, "//") {
		return "", ssmValidation("Parameter path: can include only the symbols and letters a-zA-Z0-9_.-/, and no empty level")
	}
	return path, nil
}

// AWS: API_DeleteParameter.
func (s *Sim) ssmDeleteParameter(body []byte) (any, *APIError) {
	var in struct {
		Name string `json:"Name"`
	}
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	name, e := ssmCheckName(in.Name)
	if e != nil {
		return nil, e
	}
	if s.st.Parameters[name] == nil {
		return nil, errf("ParameterNotFound", "Parameter %s not found.", name)
	}
	delete(s.st.Parameters, name)
	return map[string]any{}, nil
}

// AWS: API_DeleteParameters: names that do not exist are listed in
// InvalidParameters.
func (s *Sim) ssmDeleteParameters(body []byte) (any, *APIError) {
	var in struct {
		Names []string `json:"Names"`
	}
	if e := decodeJSON(body, &in); e != nil {
		return nil, e
	}
	if len(in.Names) < 1 || len(in.Names) > ssmMaxNames {
		return nil, ssmValidation("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", ssmMaxNames)
	}
	deleted, invalid := []string{}, []string{}
	for _, ref := range in.Names {
		name, e := ssmCheckName(ref)
		if e != nil || s.st.Parameters[name] == nil {
			invalid = append(invalid, ref)
			continue
		}
		delete(s.st.Parameters, name)
		deleted = append(deleted, name)
	}
	return map[string]any{"DeletedParameters": deleted, "InvalidParameters": invalid}, nil
}
