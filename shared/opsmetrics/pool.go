package opsmetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PoolStat is what a database connection pool tells about itself, read
// at each scrape. *pgxpool.Stat has these methods; shared holds no driver,
// so a service hands its pool's statistics in through this interface.
type PoolStat interface {
	AcquiredConns() int32
	IdleConns() int32
	TotalConns() int32
	ConstructingConns() int32
	MaxConns() int32
	AcquireCount() int64
	AcquireDuration() time.Duration
	EmptyAcquireCount() int64
	CanceledAcquireCount() int64
	NewConnsCount() int64
}

// poolCollector exports a pool's statistics, read once per scrape.
type poolCollector struct {
	stat func() PoolStat

	acquired, idle, total, constructing, max          *prometheus.Desc
	acquires, acquireSeconds, emptyAcquires, canceled *prometheus.Desc
	newConns                                          *prometheus.Desc
}

// NewPoolCollector returns the collector of the pgxpool_* series for the
// pool whose statistics stat returns (func() PoolStat { return
// pool.Stat() }): connections by state and the pool's size, and counters of
// acquires, the time they took, those that had to wait for a connection
// (empty) or gave up (canceled), and connections opened.
func NewPoolCollector(stat func() PoolStat) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc("pgxpool_"+name, help, nil, nil) }
	return &poolCollector{
		stat:           stat,
		acquired:       d("acquired_conns", "Connections in use by the service."),
		idle:           d("idle_conns", "Idle connections in the pool."),
		total:          d("total_conns", "Connections in the pool: acquired, idle and being opened."),
		constructing:   d("constructing_conns", "Connections being opened."),
		max:            d("max_conns", "The most connections the pool opens."),
		acquires:       d("acquire_total", "Connections acquired from the pool."),
		acquireSeconds: d("acquire_duration_seconds_total", "Time spent acquiring connections, waits included."),
		emptyAcquires:  d("empty_acquire_total", "Acquires that found no idle connection and waited for one to be opened or released."),
		canceled:       d("canceled_acquire_total", "Acquires given up (their context ended) before a connection was free."),
		newConns:       d("new_conns_total", "Connections opened."),
	}
}

// Describe sends the descriptions of every series.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.constructing, c.max,
		c.acquires, c.acquireSeconds, c.emptyAcquires, c.canceled, c.newConns} {
		ch <- d
	}
}

// Collect reads the pool's statistics once and sends every series.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	gauge := func(d *prometheus.Desc, v int32) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.acquired, s.AcquiredConns())
	gauge(c.idle, s.IdleConns())
	gauge(c.total, s.TotalConns())
	gauge(c.constructing, s.ConstructingConns())
	gauge(c.max, s.MaxConns())
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.acquireSeconds, s.AcquireDuration().Seconds())
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.canceled, float64(s.CanceledAcquireCount()))
	counter(c.newConns, float64(s.NewConnsCount()))
}
