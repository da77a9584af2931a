package secrets

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary dotenv files to the parser: it must never
// panic, every secret it accepts must be one SSM can keep and a server's
// EnvironmentFile can carry, and its errors must name the file.
func FuzzParse(f *testing.F) {
	f.Add("DB_PASSWORD=pw\n# comment\nexport API_KEY='a b # c'\nQ=\"x\\\"y\\$z\" # note\n")
	f.Add("A=1\nA=2\n")
	f.Add("1BAD=x\nNOEQUALS\nE=\nU=\"unterminated\n")
	f.Add("K=" + strings.Repeat("v", 4097) + "\n")
	f.Add("CR=a\rINJECTED=1\n")
	f.Fuzz(func(t *testing.T, data string) {
		set, err := Parse("prod.env", strings.NewReader(data))
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "prod.env:") {
					t.Fatalf("error line does not name the file: %q", line)
				}
			}
			return
		}
		for k, v := range set {
			switch {
			case !ValidName(k):
				t.Fatalf("accepted name %q", k)
			case v == "" || len(v) > maxValue:
				t.Fatalf("accepted %s with a value of %d bytes", k, len(v))
			case strings.ContainsAny(v, "\x00\n\r"):
				t.Fatalf("accepted %s with a value holding NUL or a line break: %q", k, v)
			}
		}
	})
}
