package cloud

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ferry-deploy/ferry/pkg/secrets"
)

// ParametersByPath returns every SSM parameter below path, at all levels,
// SecureString values decrypted when decrypt is set (otherwise their value
// is SSM's ciphertext). It follows GetParametersByPath's pages.
func (c *Client) ParametersByPath(ctx context.Context, path string, decrypt bool) ([]secrets.Parameter, error) {
	var out []secrets.Parameter
	pg := ssm.NewGetParametersByPathPaginator(c.ssm, &ssm.GetParametersByPathInput{
		Path: aws.String(path), Recursive: aws.Bool(true), WithDecryption: aws.Bool(decrypt),
	})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("cloud: read SSM parameters under %s: %w%s", path, err,
				deniedHint(err, "ssm:GetParametersByPath on the parameters under "+path, "kms:Decrypt"))
		}
		for _, p := range page.Parameters {
			out = append(out, secrets.Parameter{
				Name: aws.ToString(p.Name), Value: aws.ToString(p.Value), Version: p.Version,
				Modified: aws.ToTime(p.LastModifiedDate), Type: string(p.Type),
			})
		}
	}
	return out, nil
}

// PutSecret writes value as a SecureString parameter, overwriting any
// older version, encrypted with keyID (empty: the account's alias/aws/ssm),
// and returns its new version. The value appears in no error.
func (c *Client) PutSecret(ctx context.Context, name, value, keyID string) (int64, error) {
	in := &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeSecureString,
		Overwrite: aws.Bool(true),
	}
	if keyID != "" {
		in.KeyId = aws.String(keyID)
	}
	out, err := c.ssm.PutParameter(ctx, in)
	if err != nil {
		return 0, fmt.Errorf("cloud: put SSM parameter %s: %w%s", name, err,
			deniedHint(err, "ssm:PutParameter on "+name, "kms:Encrypt"))
	}
	return out.Version, nil
}

// DeleteParameter removes one SSM parameter; a missing one wraps
// ErrNotFound.
func (c *Client) DeleteParameter(ctx context.Context, name string) error {
	_, err := c.ssm.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)})
	var nf *ssmtypes.ParameterNotFound
	if errors.As(err, &nf) {
		return notFound("SSM parameter", name)
	}
	if err != nil {
		return fmt.Errorf("cloud: delete SSM parameter %s: %w", name, err)
	}
	return nil
}

// deniedHint says which permissions this host's AWS identity lacks when
// err is SSM's AccessDeniedException (a missing IAM permission, or KMS
// refusing the key of a SecureString): "" for any other error.
func deniedHint(err error, ssmPermission, kmsPermission string) string {
	if APIErrorCode(err) != "AccessDeniedException" {
		return ""
	}
	return fmt.Sprintf(" (this host's AWS identity needs %s, and %s on the parameters' KMS key; see docs/secrets.md)", ssmPermission, kmsPermission)
}
