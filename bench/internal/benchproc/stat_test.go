package benchproc

import (
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, line := range []string{
		// The command name may hold spaces and parentheses.
		"4242 (ferry (run) x) S 1 4242 4242 0 -1 4194560 1000 200 0 0 150 30 7 5 20 0 12 0 100 1000000 2000 18446744073709551615\n",
		"4242 (ferry (deploy) x) Z 1 4242 4242 0 -1 4194560 1000 200 0 0 150 30 7 5 20 0 12 0 100 0 0 18446744073709551615\n",
	} {
		got, err := ParseStat([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if got.Self != 180 || got.Children != 12 {
			t.Fatalf("ParseStat(%q) = %+v, want self 180 (150+30), children 12 (7+5)", line, got)
		}
	}
	if _, err := ParseStat([]byte("4242 (ferry) S 1 2")); err == nil {
		t.Fatal("a short stat line parsed")
	}
}

func TestParseStatusKiB(t *testing.T) {
	status := "Name:\tferry\nVmPeak:\t  900000 kB\nVmHWM:\t   46080 kB\nVmRSS:\t   44000 kB\nThreads:\t12\n"
	for _, tc := range []struct {
		field string
		want  int64
	}{{"VmRSS", 44000}, {"VmHWM", 46080}} {
		got, err := ParseStatusKiB(strings.NewReader(status), tc.field)
		if err != nil || got != tc.want {
			t.Errorf("ParseStatusKiB(%s) = %d, %v; want %d", tc.field, got, err, tc.want)
		}
		if _, err := ParseStatusKiB(strings.NewReader("Name:\tzombie\n"), tc.field); err == nil {
			t.Errorf("no %s parsed", tc.field)
		}
	}
}
