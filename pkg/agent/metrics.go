package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the agent's Prometheus series, registered on its own
// registry (no global state).
type metrics struct {
	deploys  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	deployed *prometheus.GaugeVec
	blocked  *prometheus.GaugeVec
	paused   *prometheus.GaugeVec
	looks    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, watchStatus func() (lastSuccess time.Time, failures int)) *metrics {
	m := &metrics{
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_deploys_total", Help: "Deploys finished, by environment, method and outcome.",
		}, []string{"env", "method", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ferry_deploy_duration_seconds", Help: "How long deploys took, by environment and method.",
			Buckets: []float64{30, 60, 120, 300, 600, 900, 1800, 3600},
		}, []string{"env", "method"}),
		deployed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ferry_deployed_commit_info", Help: "1 for the commit each environment last deployed successfully.",
		}, []string{"env", "commit"}),
		blocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ferry_environment_blocked", Help: "1 when an environment waits for a new commit or ferry retry after a failed deploy.",
		}, []string{"env"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ferry_environment_paused", Help: "1 when an environment is paused (ferry pause).",
		}, []string{"env"}),
		looks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_environment_looks_total", Help: "Times the agent looked at an environment (a new target, a control file, a recheck), whatever it then did.",
		}, []string{"env"}),
	}
	reg.MustRegister(m.deploys, m.duration, m.deployed, m.blocked, m.paused, m.looks,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ferry_watch_last_success_timestamp_seconds", Help: "When the git remote was last polled successfully.",
		}, func() float64 {
			t, _ := watchStatus()
			if t.IsZero() {
				return 0
			}
			return float64(t.Unix())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ferry_watch_consecutive_failures", Help: "Polls of the git remote that failed in a row.",
		}, func() float64 {
			_, n := watchStatus()
			return float64(n)
		}),
	)
	return m
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
