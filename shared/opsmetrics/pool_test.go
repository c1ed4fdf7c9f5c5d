package opsmetrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeStat holds fixed numbers, as a pool's Stat would.
type fakeStat struct{}

func (fakeStat) AcquiredConns() int32           { return 3 }
func (fakeStat) IdleConns() int32               { return 2 }
func (fakeStat) TotalConns() int32              { return 6 }
func (fakeStat) ConstructingConns() int32       { return 1 }
func (fakeStat) MaxConns() int32                { return 10 }
func (fakeStat) AcquireCount() int64            { return 1234 }
func (fakeStat) AcquireDuration() time.Duration { return 1500 * time.Millisecond }
func (fakeStat) EmptyAcquireCount() int64       { return 7 }
func (fakeStat) CanceledAcquireCount() int64    { return 1 }
func (fakeStat) NewConnsCount() int64           { return 9 }

func TestPoolCollector(t *testing.T) {
	calls := 0
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewPoolCollector(func() PoolStat { calls++; return fakeStat{} }))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		typ   dto.MetricType
		value float64
	}{
		"pgxpool_acquired_conns":                 {dto.MetricType_GAUGE, 3},
		"pgxpool_idle_conns":                     {dto.MetricType_GAUGE, 2},
		"pgxpool_total_conns":                    {dto.MetricType_GAUGE, 6},
		"pgxpool_constructing_conns":             {dto.MetricType_GAUGE, 1},
		"pgxpool_max_conns":                      {dto.MetricType_GAUGE, 10},
		"pgxpool_acquire_total":                  {dto.MetricType_COUNTER, 1234},
		"pgxpool_acquire_duration_seconds_total": {dto.MetricType_COUNTER, 1.5},
		"pgxpool_empty_acquire_total":            {dto.MetricType_COUNTER, 7},
		"pgxpool_canceled_acquire_total":         {dto.MetricType_COUNTER, 1},
		"pgxpool_new_conns_total":                {dto.MetricType_COUNTER, 9},
	}
	got := map[string]bool{}
	for _, f := range families {
		w, ok := want[f.GetName()]
		if !ok {
			t.Errorf("unexpected series %s", f.GetName())
			continue
		}
		got[f.GetName()] = true
		m := f.GetMetric()[0]
		v := m.GetGauge().GetValue()
		if f.GetType() == dto.MetricType_COUNTER {
			v = m.GetCounter().GetValue()
		}
		if f.GetType() != w.typ || v != w.value || strings.TrimSpace(f.GetHelp()) == "" {
			t.Errorf("%s: got %v %v, want %v %v with a help text", f.GetName(), f.GetType(), v, w.typ, w.value)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d series, want %d", len(got), len(want))
	}
	if calls != 1 {
		t.Errorf("the pool's statistics were read %d times in one scrape, want once", calls)
	}
}
