package roles

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Role
		wantErr bool
	}{
		{"web", Web, false},
		{"db-replica", DBReplica, false},
		{"Web", "", true},
		{"database", "", true},
		{"", "", true},
	} {
		got, err := Parse(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("Parse(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseHook(t *testing.T) {
	if h, err := ParseHook("upgrade_page_on"); err != nil || h != UpgradePageOn {
		t.Errorf("ParseHook(upgrade_page_on) = %q, %v", h, err)
	}
	if _, err := ParseHook("pre_deploy"); err == nil {
		t.Error("ParseHook(pre_deploy) succeeded, want an error")
	}
}

func TestDefaultsUseKnownRolesAndHooks(t *testing.T) {
	for role, cmds := range Defaults() {
		if _, err := Parse(string(role)); err != nil {
			t.Errorf("default commands for unknown role: %v", err)
		}
		for hook, list := range cmds {
			if _, err := ParseHook(string(hook)); err != nil {
				t.Errorf("role %s: %v", role, err)
			}
			if len(list) == 0 {
				t.Errorf("role %s hook %s: empty default list", role, hook)
			}
		}
	}
}

func TestMerge(t *testing.T) {
	got := Merge(Web, Commands{UpgradePageOn: {"echo on"}, PostDeploy: nil})
	if !slices.Equal(got[UpgradePageOn], []string{"echo on"}) {
		t.Errorf("override not applied: %q", got[UpgradePageOn])
	}
	if !slices.Equal(got[UpgradePageOff], Defaults()[Web][UpgradePageOff]) {
		t.Errorf("default lost for a hook not overridden: %q", got[UpgradePageOff])
	}
	if _, ok := got[PostDeploy]; !ok || len(got[PostDeploy]) != 0 {
		t.Errorf("explicitly empty hook should stay present and empty, got %q (present %v)", got[PostDeploy], ok)
	}
	if cmds := Merge(DBPrimary, nil); len(cmds) != 0 {
		t.Errorf("db-primary has no defaults, got %v", cmds)
	}
}
