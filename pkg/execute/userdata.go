package execute

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"text/template"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// userData returns the user data of commit's launch source, base64-encoded
// as the APIs take it: Executor.UserData when set, otherwise the
// environment's launch.user_data_file rendered as a text/template with
// {{.Commit}}, {{.ShortCommit}} and {{.Env}} (the placeholders of hook
// commands). "" keeps the user data of the source it is copied from. The
// content is never logged: user data may carry settings an operator would
// not want in a log.
func (e *Executor) userData(c commit.ID) (string, error) {
	if e.UserData != nil {
		return e.UserData(c)
	}
	path := e.Env.Launch.UserDataFile
	if path == "" {
		return "", nil
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("launch.user_data_file: %w", err)
	}
	tmpl, err := template.New(path).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return "", fmt.Errorf("launch.user_data_file: %w", err)
	}
	vars, err := roles.NewVars(e.Env.Name, c)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, vars); err != nil {
		return "", fmt.Errorf("launch.user_data_file: %w", err)
	}
	return base64.StdEncoding.EncodeToString(out.Bytes()), nil
}
