package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// JobCount is the number of River jobs of one kind, queue and state.
type JobCount struct {
	Kind, Queue, State string
	Jobs               int64
}

var jobsDesc = prometheus.NewDesc("bespin_jobs",
	"River jobs by kind, queue and state, read from Postgres at scrape time.",
	[]string{"kind", "queue", "state"}, nil)

var jobsScrapeErrorsDesc = prometheus.NewDesc("bespin_jobs_scrape_error",
	"1 when the last scrape could not count jobs (Postgres unavailable).", nil, nil)

// jobsCollector asks Postgres at scrape time rather than counting events,
// so every instance reports the same truth, including jobs worked by other
// instances and changed from River UI.
type jobsCollector struct {
	count func(context.Context) ([]JobCount, error)
}

// CollectJobCounts registers count as the source of the bespin_jobs gauge.
func (m *Metrics) CollectJobCounts(count func(context.Context) ([]JobCount, error)) {
	m.Registry.MustRegister(jobsCollector{count: count})
}

func (c jobsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- jobsScrapeErrorsDesc
}

func (c jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(jobsScrapeErrorsDesc, prometheus.GaugeValue, failed)
	for _, jc := range counts {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(jc.Jobs), jc.Kind, jc.Queue, jc.State)
	}
}
