package execute_test

import (
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/pkg/execute"
)

// BenchmarkDeployAWSCalls measures how many AWS API calls a deploy of a
// 4-instance web group makes, by kind, as the simulator counts them; the
// wall time is the simulator's (accelerated) time and means little. Results
// are in docs/benchmarks.md.
func BenchmarkDeployAWSCalls(b *testing.B) {
	for _, tc := range []struct {
		name   string
		full   bool
		policy string
	}{
		{"full", true, ""},
		{"serial-surge", false, ""},
		{"serial-surge-batch2", false, "serial_batch_size = 2\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var total, describes, mutations int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				f := newFixture(b, 4, tc.full, tc.policy)
				p := f.plan()
				f.sim.ResetCounts()
				b.StartTimer()
				r, err := f.executor().Run(f.ctx, p, "bench")
				b.StopTimer()
				if err != nil || r.Outcome != execute.Succeeded {
					b.Fatalf("%s: %v", r.Outcome, err)
				}
				for action, n := range f.sim.Counts() {
					total += n
					if strings.Contains(action, ":Describe") {
						describes += n
					} else {
						mutations += n
					}
				}
			}
			b.ReportMetric(float64(total)/float64(b.N), "calls/deploy")
			b.ReportMetric(float64(describes)/float64(b.N), "describes/deploy")
			b.ReportMetric(float64(mutations)/float64(b.N), "changes/deploy")
		})
	}
}
