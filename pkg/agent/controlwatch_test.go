package agent

import "testing"

func TestControlEnv(t *testing.T) {
	for _, tc := range []struct {
		name, env string
	}{
		{"paused-staging.json", "staging"},
		{"blocked-prod-eu.json", "prod-eu"},
		{"asg-staging.json", "staging"},
		{"approval-production.json", "production"},
		{"awaiting-production.json", ""},    // written by the agent itself
		{".paused-staging.json8412931", ""}, // an atomic write's temporary file
		{"paused-staging.json8412931", ""},
		{"paused-.json", ""},
		{"journal-staging.json", ""},
		{"paused-staging", ""},
	} {
		env, ok := controlEnv(tc.name)
		if env != tc.env || ok != (tc.env != "") {
			t.Errorf("controlEnv(%q) = %q, %v; want %q", tc.name, env, ok, tc.env)
		}
	}
}
