package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// The alerting rules (deploy/prometheus/alerts.yml) and the Grafana
// dashboard (deploy/grafana/livevote.json) are read with Prometheus's own
// rule and PromQL parsers, and every series they name is looked for on the
// /metrics of the real servers: a renamed metric fails here, not on the
// night the alert should have fired.

const (
	alertsFile    = "../deploy/prometheus/alerts.yml"
	dashboardFile = "../deploy/grafana/livevote.json"
	opsDoc        = "../docs/OPERATIONS.md"
)

// prometheusOwn are series Prometheus makes itself for each target; no
// server exports them.
var prometheusOwn = []string{"up"}

// promQL is the parser Prometheus uses by default.
var promQL = parser.NewParser(parser.Options{})

// loadRules parses alerts.yml as Prometheus does when it loads rule_files:
// unknown fields refused, every expression and annotation template checked.
func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, promQL, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("%v", err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return groups
}

// selector is one series selector of an expression: a metric name and the
// labels its matchers name.
type selector struct {
	metric string
	labels []string
}

// selectors parses expr and returns its vector selectors (those inside
// range selectors and subqueries too).
func selectors(expr string) ([]selector, error) {
	e, err := promQL.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []selector
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		s := selector{metric: vs.Name}
		for _, m := range vs.LabelMatchers {
			switch {
			case m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual:
				s.metric = m.Value
			case m.Name != model.MetricNameLabel:
				s.labels = append(s.labels, m.Name)
			}
		}
		out = append(out, s)
		return nil
	})
	return out, nil
}

// grafanaVars stands in for Grafana's interval variables, which PromQL
// does not know.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// dashboard is what the test reads of the Grafana JSON.
type dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []dashVar `json:"list"`
	} `json:"templating"`
	Panels []dashPanel `json:"panels"`
}

// dashVar is a template variable.
type dashVar struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query string `json:"query"`
}

type dashPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	// Panels are those of a collapsed row.
	Panels []dashPanel `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// panels returns every panel, those of collapsed rows too, rows left out.
func (d dashboard) panels() []dashPanel {
	var out []dashPanel
	for _, p := range d.Panels {
		if p.Type == "row" {
			out = append(out, p.Panels...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// ruleExprs and dashExprs name each expression by where it is.
func ruleExprs(groups *rulefmt.RuleGroups) map[string]string {
	out := map[string]string{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			out["rule "+r.Alert+r.Record] = r.Expr
		}
	}
	return out
}

func dashExprs(d dashboard) map[string]string {
	out := map[string]string{}
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			out[fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)] = grafanaVars.Replace(tg.Expr)
		}
	}
	return out
}

// TestAlertRules: alerts.yml loads as Prometheus loads it, and each alert
// waits (for), says how bad it is (severity), what it is (summary,
// description) and what to do: a runbook_url to its own section of
// docs/OPERATIONS.md. Together they watch what an operator must know.
func TestAlertRules(t *testing.T) {
	groups := loadRules(t)
	doc, err := os.ReadFile(opsDoc)
	if err != nil {
		t.Fatal(err)
	}
	anchors := headingAnchors(string(doc))
	watched := map[string]bool{}
	alerts := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			t.Run(r.Alert, func(t *testing.T) {
				if r.For < model.Duration(time.Minute) {
					t.Errorf("for: %v, want at least 1m so a blip does not page", r.For)
				}
				if s := r.Labels["severity"]; s != "critical" && s != "warning" {
					t.Errorf("severity %q, want critical or warning", s)
				}
				for _, a := range []string{"summary", "description"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("no %s annotation", a)
					}
				}
				want := "docs/OPERATIONS.md#" + strings.ToLower(r.Alert)
				if got := r.Annotations["runbook_url"]; got != want {
					t.Errorf("runbook_url %q, want %q", got, want)
				}
				if !anchors[strings.ToLower(r.Alert)] {
					t.Errorf("docs/OPERATIONS.md has no section %q", r.Alert)
				}
				sels, err := selectors(r.Expr)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range sels {
					watched[s.metric] = true
				}
			})
		}
	}
	if alerts == 0 {
		t.Fatal("no alert in alerts.yml")
	}
	// Issue 9: a dependency down, votes refused, the stream growing or its
	// oldest pending entry ageing, tallies stale on a result server,
	// WebSocket clients dropped, the error rate.
	for _, m := range []string{"vote_dependency_up", "worker_dependency_up", "result_dependency_up", "vote_rejected_total",
		"worker_stream_length", "worker_stream_oldest_pending_seconds", "result_seconds_since_nats_tally",
		"result_tally_reload_errors_total", "result_websocket_clients_dropped_total", "http_requests_total"} {
		if !watched[m] {
			t.Errorf("no alert watches %s", m)
		}
	}
}

// headingAnchors returns the anchors a Markdown renderer gives the
// headings of doc (GitHub's: lower case, punctuation dropped, spaces to -).
func headingAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^\p{L}\p{N}\- ]`)
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		out[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
	}
	return out
}

// TestDashboard: the dashboard decodes, picks its Prometheus from a
// datasource variable, lays its panels out without overlap, gives every
// panel a query that parses, and shows what issue 9 asks: votes/s,
// refusals, end-to-end delay, backlog, clients, per service CPU and memory.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 36 || d.UID == "" || d.Title == "" {
		t.Errorf("schemaVersion %d, uid %q, title %q: want a schema of Grafana 9 or later, a uid and a title", d.SchemaVersion, d.UID, d.Title)
	}
	if !slices.Contains(d.Templating.List, dashVar{Name: "datasource", Type: "datasource", Query: "prometheus"}) {
		t.Error("no datasource variable of type prometheus")
	}

	ids := map[int]bool{}
	covered := map[[2]int]string{} // (column, row) → the panel there
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, g)
		}
		if other, x, y, ok := cover(covered, p.Title, g.X, g.Y, g.W, g.H); !ok {
			t.Errorf("panels %q and %q overlap at column %d, row %d", other, p.Title, x, y)
		}
	}

	shown := map[string]bool{}
	panels := d.panels()
	if len(panels) == 0 {
		t.Fatal("no panel")
	}
	for _, p := range panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no target", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %q: refId %q empty or twice", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			expr := grafanaVars.Replace(tg.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q target %s: a variable the test does not know: %s", p.Title, tg.RefID, tg.Expr)
				continue
			}
			sels, err := selectors(expr)
			if err != nil {
				t.Errorf("panel %q target %s: %v", p.Title, tg.RefID, err)
				continue
			}
			for _, s := range sels {
				shown[s.metric] = true
			}
		}
	}
	for _, m := range []string{"vote_accepted_total", "vote_rejected_total", "vote_rate_limited_total", "vote_cross_site_refused_total",
		"vote_append_seconds_bucket", "worker_batch_seconds_bucket", "worker_stream_length", "worker_stream_pending",
		"worker_stream_oldest_pending_seconds", "result_websocket_clients", "result_websocket_clients_dropped_total",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "http_requests_total",
		"http_request_duration_seconds_bucket", "pgxpool_acquired_conns", "build_info"} {
		if !shown[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// cover marks the cells of a panel at (x, y) of w×h as title's; ok is
// false, with the other panel and the cell, when one is taken already.
func cover(covered map[[2]int]string, title string, x0, y0, w, h int) (other string, x, y int, ok bool) {
	for x := x0; x < x0+w; x++ {
		for y := y0; y < y0+h; y++ {
			if other, taken := covered[[2]int{x, y}]; taken {
				return other, x, y, false
			}
			covered[[2]int{x, y}] = title
		}
	}
	return "", 0, 0, true
}

// exported is what the servers' /metrics hold: every series name (a
// histogram's _bucket, _sum and _count, a summary's _sum and _count) and
// the labels each carries.
type exported map[string]map[string]bool

func (ex exported) add(families map[string]*dto.MetricFamily) {
	for name, f := range families {
		names := []string{name}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names = []string{name + "_bucket", name + "_sum", name + "_count"}
		case dto.MetricType_SUMMARY:
			names = append(names, name+"_sum", name+"_count")
		}
		for _, n := range names {
			if ex[n] == nil {
				ex[n] = map[string]bool{}
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					ex[n][l.GetName()] = true
				}
			}
			switch {
			case strings.HasSuffix(n, "_bucket"):
				ex[n]["le"] = true
			case f.GetType() == dto.MetricType_SUMMARY && n == name:
				ex[n]["quantile"] = true
			}
		}
	}
}

// scrape reads a server's /metrics.
func scrape(t *testing.T, p *proc) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s /metrics: %s", p.name, resp.Status)
	}
	tp := expfmt.NewTextParser(model.UTF8Validation)
	families, err := tp.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("%s /metrics: %v", p.name, err)
	}
	return families
}

// TestOpsMetricsExist starts the three servers, casts a vote and follows
// it to a result page's WebSocket (so batch, tally and request series
// exist), scrapes each /metrics, and fails when an alert or a dashboard
// panel names a series no server exports, or a label that series lacks
// (job and instance come from Prometheus).
func TestOpsMetricsExist(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result, worker, vote := e.startAll()
	sock := dialSocket(t, result)
	v := newVoter(t)
	if code := v.vote(t, vote, "a"); code != http.StatusAccepted {
		t.Fatalf("vote: got %d, want 202", code)
	}
	waitFor(t, 15*time.Second, "the vote on the WebSocket", func() bool {
		tl, ok := sock.last()
		return ok && tl.Counts["a"] == 1
	})

	ex := exported{}
	for _, p := range []*proc{vote, worker, result} {
		families := scrape(t, p)
		ex.add(families)
		// Each server says which build it runs.
		if f := families["build_info"]; f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge().GetValue() != 1 {
			t.Errorf("%s: build_info is %v, want one series of 1", p.name, f)
		}
	}
	for _, name := range prometheusOwn {
		ex[name] = map[string]bool{}
	}

	groups := loadRules(t)
	exprs := ruleExprs(groups)
	for where, expr := range dashExprs(loadDashboard(t)) {
		exprs[where] = expr
	}
	var wheres []string
	for w := range exprs {
		wheres = append(wheres, w)
	}
	sort.Strings(wheres)
	for _, where := range wheres {
		sels, err := selectors(exprs[where])
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, s := range sels {
			have, ok := ex[s.metric]
			if !ok {
				t.Errorf("%s names %s, which no server exports", where, s.metric)
				continue
			}
			for _, l := range s.labels {
				if l != "job" && l != "instance" && !have[l] {
					t.Errorf("%s selects %s by label %q, which it does not carry", where, s.metric, l)
				}
			}
		}
	}
	if len(wheres) < 20 {
		t.Errorf("checked %d expressions, want the rules and the panels (20 or more)", len(wheres))
	}
}
