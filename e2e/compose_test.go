package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// No container engine runs where the tests run, so compose.yml is loaded
// the way docker compose loads it, with compose-go (the compose
// specification's own Go library: schema validation, interpolation of
// ${VAR} from .env, YAML anchors and merges, profiles), and the loaded
// project is checked. TestComposeChecksCatch breaks it one way at a time
// and wants each check to say so.

// composeServices are the services of `make up`; the seed profile adds seed.
var composeServices = []string{"redis", "postgres", "postgres-roles", "migrate", "nats", "vote", "worker", "result"}

// composeOneShots run once and exit; every other service runs until
// stopped.
var composeOneShots = map[string]string{
	"postgres-roles": "makes or updates the PostgreSQL roles on every start",
	"migrate":        "`worker migrate`, before the worker and the result server start",
	"seed":           "casts the seed load and exits",
}

// composePublished are the only ports published, each on every address of
// the machine: the pages work at any of them.
var composePublished = map[string][]string{"vote": {"8080:8080"}, "result": {"8081:8081"}}

// composeDependsOn is the start order: each service's dependencies and the
// condition compose waits for.
var composeDependsOn = map[string]map[string]string{
	"postgres-roles": {"postgres": types.ServiceConditionHealthy},
	"migrate":        {"postgres-roles": types.ServiceConditionCompletedSuccessfully},
	"vote":           {"redis": types.ServiceConditionHealthy},
	"worker": {"redis": types.ServiceConditionHealthy, "nats": types.ServiceConditionHealthy,
		"migrate": types.ServiceConditionCompletedSuccessfully},
	"result": {"nats": types.ServiceConditionHealthy, "migrate": types.ServiceConditionCompletedSuccessfully},
	"seed":   {"vote": types.ServiceConditionHealthy},
}

// composeHealth is what each long-running service's healthcheck must run
// (the parts its test must hold, in order). Our images are distroless,
// without curl: the binaries answer a healthcheck subcommand.
var composeHealth = map[string][]string{
	"redis":    {"redis-cli ping"},
	"postgres": {"pg_isready", "-h", "127.0.0.1"},
	"nats":     {"wget", "http://127.0.0.1:8222/healthz"},
	"vote":     {"CMD", "/vote", "healthcheck"},
	"worker":   {"CMD", "/worker", "healthcheck"},
	"result":   {"CMD", "/result", "healthcheck"},
}

// composeShutdown says where the code of each Go server bounds its own
// shutdown: the durations (N * time.Second) between from and to in file
// are added up, and stop_grace_period must leave composeGraceMargin beyond
// that before compose sends SIGKILL.
var composeShutdown = map[string][]struct{ file, from, to string }{
	"vote": {{"vote/main.go", `server stopping"`, `server stopped"`}},
	// The relay gives the batch in flight its Grace, then the health
	// server gets its shutdown.
	"worker": {{"worker/internal/relay/relay.go", "if cfg.Grace <= 0", "}"}, {"worker/main.go", `worker stopping"`, `worker stopped"`}},
	// Closing the WebSockets, then the HTTP shutdown.
	"result": {{"result/main.go", `server stopping"`, `server stopped"`}},
}

const composeGraceMargin = 5 * time.Second

// composeOtherGrace are the least stop_grace_period of the services whose
// shutdown is not ours.
var composeOtherGrace = map[string]time.Duration{
	"redis":    20 * time.Second, // syncs the append-only file
	"postgres": 30 * time.Second, // fast shutdown: a checkpoint
	"nats":     5 * time.Second,  // closes its connections at once
}

// composeDefaults are the variables our code reads that compose leaves to
// their default (unset, or empty when .env does not set them), with the
// reason. Every other variable a service's code reads must be set.
var composeDefaults = map[string]map[string]string{
	"vote": {
		"VOTE_ADDR":             ":8080, the port published and asked by the healthcheck",
		"VOTE_STREAM":           "votes, the worker's default too",
		"RESULT_URL":            "unset: the host the page was opened at, port 8081, so the pages work at any address of the machine",
		"VOTER_SECRET":          "unset: the vote servers share a key they keep in Redis",
		"LOG_LEVEL":             "info",
		"POLL_CREATE_TOKEN":     "from .env when set there; empty: anyone may create a poll",
		"RATE_LIMIT_NEW_VOTERS": "from .env when set there; empty: the default limit",
		"RATE_LIMIT_VOTES":      "from .env when set there; empty: the default limit",
		"TRUSTED_PROXIES":       "from .env when set there; empty: no proxy is trusted",
		"VOTE_STREAM_SHARDS":    "1: one stream, the one Redis of compose has no cluster to spread shards over",
		"REDIS_WAIT_REPLICAS":   "0: no WAIT, the compose Redis has no replica",
	},
	"worker": {
		"WORKER_ADDR":        ":8082, asked by the healthcheck, published nowhere",
		"VOTE_STREAM":        "votes, the vote server's default too",
		"TALLY_SUBJECT":      "tally.changed, the result server's default too",
		"WORKER_GROUP":       "workers: every worker of the stream in one consumer group",
		"WORKER_BATCH":       "the measured default",
		"WORKER_CLAIM_IDLE":  "5 s: a dead worker's votes are claimed after it",
		"LOG_LEVEL":          "info",
		"VOTE_STREAM_SHARDS": "1: one stream, the one Redis of compose has no cluster to spread shards over",
	},
	"migrate": {
		"REDIS_URL":          "`worker migrate` reads the database only",
		"NATS_URL":           "`worker migrate` reads the database only",
		"WORKER_ADDR":        "`worker migrate` serves nothing",
		"VOTE_STREAM":        "`worker migrate` reads the database only",
		"TALLY_SUBJECT":      "`worker migrate` reads the database only",
		"WORKER_GROUP":       "`worker migrate` reads the database only",
		"WORKER_BATCH":       "`worker migrate` reads the database only",
		"WORKER_CLAIM_IDLE":  "`worker migrate` reads the database only",
		"LOG_LEVEL":          "info",
		"VOTE_STREAM_SHARDS": "`worker migrate` reads the database only",
	},
	"result": {
		"RESULT_ADDR":                ":8081, the port published and asked by the healthcheck",
		"TALLY_SUBJECT":              "tally.changed, the worker's default too",
		"VOTE_URL":                   "unset: the host the page was opened at, port 8080, so links work at any address of the machine",
		"WS_ORIGINS":                 "unset: pages of the host the browser connected to, any port",
		"PRESENT_FRAME_ANCESTORS":    "unset: no other site may frame the presenter view",
		"WS_MAX_CLIENTS_PER_ADDRESS": "the default, for rooms behind one address",
		"RESULT_PATH_PREFIX":         "unset: served at the root of port 8081, no reverse proxy",
		"TRUSTED_PROXIES":            "from .env when set there; empty: no proxy is trusted",
		"LOG_LEVEL":                  "info",
	},
}

// composeContractVars are the variables of the contract's table (version
// 2), by the binary that reads them: a service must set them or leave them
// to their default on purpose, read by the code yet or not.
var composeContractVars = map[string][]string{
	"vote": {"REDIS_URL", "VOTE_STREAM_SHARDS", "REDIS_WAIT_REPLICAS", "VOTE_ADDR", "OPTION_A", "OPTION_B", "RESULT_URL",
		"VOTE_STREAM", "POLL_CREATE_TOKEN", "RATE_LIMIT_NEW_VOTERS", "RATE_LIMIT_VOTES"},
	"worker": {"REDIS_URL", "VOTE_STREAM_SHARDS", "DATABASE_URL", "NATS_URL", "WORKER_ADDR", "VOTE_STREAM", "TALLY_SUBJECT"},
	"result": {"DATABASE_URL", "NATS_URL", "RESULT_ADDR", "OPTION_A", "OPTION_B", "VOTE_URL", "TALLY_SUBJECT", "WS_ORIGINS"},
}

// composeGoRuntime are variables the Go runtime reads, not our code.
var composeGoRuntime = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG", "GOTRACEBACK"}

// composeLoad is compose.yml loaded with one .env and set of profiles.
type composeLoad struct {
	p        *types.Project
	env      map[string]string
	profiles []string
}

type composeCheck struct {
	name  string
	check func(l *composeLoad) []string
}

var composeChecks = []composeCheck{
	{"services", checkComposeServices},
	{"healthchecks", checkComposeHealth},
	{"restart policies", checkComposeRestart},
	{"memory limits", checkComposeMemory},
	{"hardening", checkComposeHardening},
	{"users", checkComposeUsers},
	{"published ports", checkComposePorts},
	{"networks", checkComposeNetworks},
	{"stop grace", checkComposeGrace},
	{"start order", checkComposeDependsOn},
	{"public URLs", checkComposePublicURLs},
	{"variables", checkComposeVariables},
	{"dependency URLs", checkComposeDependencyURLs},
	{"NATS", checkComposeNATS},
	{"PostgreSQL", checkComposePostgres},
	{"Redis", checkComposeRedis},
	{"builds", checkComposeBuilds},
	{"seed", checkComposeSeed},
}

func TestCompose(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		version  string
		profiles []string
	}{
		{"make up", "", nil},
		{"seed profile", "", []string{"seed"}},
		{"VERSION from make", "v1.2.3-4-gabcdef0", []string{"seed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := composeEnv(t)
			if tc.version != "" {
				env["VERSION"], env["REVISION"] = tc.version, "0123456789abcdef0123456789abcdef01234567"
			}
			l := loadCompose(t, env, tc.profiles...)
			for _, c := range composeChecks {
				t.Run(c.name, func(t *testing.T) {
					for _, p := range c.check(l) {
						t.Error(p)
					}
				})
			}
		})
	}
}

// TestComposeEnvExample: the variables compose requires are exactly those
// .env.example lists to fill in, and compose refuses to load without each
// one, saying to set it and where to look; .env stays out of git.
func TestComposeEnvExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	required := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*):\?([^}]*)\}`).FindAllStringSubmatch(string(b), -1) {
		required[m[1]] = true
		if !strings.Contains(m[2], ".env.example") {
			t.Errorf("compose.yml: ${%s:?%s}: want the message to point at .env.example", m[1], m[2])
		}
	}
	example, optional := readEnvExample(t)
	if got, want := slices.Sorted(maps.Keys(required)), slices.Sorted(maps.Keys(example)); !slices.Equal(got, want) {
		t.Errorf("compose.yml requires %v; .env.example lists %v to fill in: want the same", got, want)
	}
	// Every other use of a variable: a required one is required wherever
	// it is used (else that service would run with it empty); an optional
	// one is explained in .env.example (VERSION and REVISION come from
	// make up).
	for _, m := range regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)(:?[-?+]?)[^}]*\}?`).FindAllStringSubmatch(string(b), -1) {
		switch {
		case m[2] == ":?":
		case example[m[1]]:
			t.Errorf("compose.yml: %s, a variable .env.example requires, used as %q: want ${%s:?…} there too", m[1], m[0], m[1])
		case m[1] != "VERSION" && m[1] != "REVISION" && !optional[m[1]]:
			t.Errorf("compose.yml reads %s from .env (%q); .env.example does not say so", m[1], m[0])
		}
	}
	env := composeEnv(t)
	for _, v := range slices.Sorted(maps.Keys(required)) {
		t.Run(v, func(t *testing.T) {
			for _, empty := range []bool{false, true} {
				without := maps.Clone(env)
				if empty {
					without[v] = ""
				} else {
					delete(without, v)
				}
				_, err := loadComposeErr(t, without)
				if err == nil || !strings.Contains(err.Error(), v) || !strings.Contains(err.Error(), ".env.example") {
					t.Errorf("compose.yml loaded with %s empty=%v: got error %v, want one naming %s and .env.example", v, empty, err, v)
				}
			}
		})
	}
	ignore, err := os.ReadFile("../.gitignore")
	if err != nil || !slices.Contains(strings.Fields(string(ignore)), "/.env") {
		t.Errorf(".gitignore does not ignore /.env, which holds the passwords")
	}
}

// readEnvExample returns the variables .env.example lists to fill in
// (NAME= lines) and those it shows commented out (# NAME=…), optional.
func readEnvExample(t testing.TB) (required, optional map[string]bool) {
	t.Helper()
	b, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatalf(".env.example (the template of .env that compose reads): %v", err)
	}
	required, optional = map[string]bool{}, map[string]bool{}
	name := regexp.MustCompile(`^(#\s*)?([A-Z][A-Z0-9_]*)=`)
	for _, line := range strings.Split(string(b), "\n") {
		if m := name.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			if m[1] == "" {
				required[m[2]] = true
			} else {
				optional[m[2]] = true
			}
		}
	}
	return required, optional
}

// composeEnv is a .env made from .env.example: each variable it lists to
// fill in set to a value of its own, letters and digits as it asks.
func composeEnv(t testing.TB) map[string]string {
	t.Helper()
	required, _ := readEnvExample(t)
	env := map[string]string{}
	for v := range required {
		env[v] = "pw" + strings.ToLower(strings.ReplaceAll(v, "_", ""))
	}
	return env
}

// loadCompose loads ../compose.yml as docker compose does in the
// repository root with env as its .env (and nothing from this process's
// environment), with the given profiles.
func loadCompose(t testing.TB, env map[string]string, profiles ...string) *composeLoad {
	t.Helper()
	p, err := loadComposeErr(t, env, profiles...)
	if err != nil {
		t.Fatalf("compose.yml: %v", err)
	}
	return &composeLoad{p: p, env: env, profiles: profiles}
}

func loadComposeErr(t testing.TB, env map[string]string, profiles ...string) (*types.Project, error) {
	t.Helper()
	dotenv := filepath.Join(t.TempDir(), ".env")
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "%s=%s\n", k, env[k])
	}
	if err := os.WriteFile(dotenv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{"../compose.yml"},
		cli.WithWorkingDirectory(".."), cli.WithEnvFiles(dotenv), cli.WithDotEnv, cli.WithProfiles(profiles))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

// --- the checks ---

func checkComposeServices(l *composeLoad) []string {
	want := slices.Clone(composeServices)
	if slices.Contains(l.profiles, "seed") {
		want = append(want, "seed")
	}
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(l.p.Services)); !slices.Equal(got, want) {
		return []string{fmt.Sprintf("services %v with profiles %v, want %v", got, l.profiles, want)}
	}
	if s, ok := l.p.DisabledServices["seed"]; len(l.profiles) == 0 && (!ok || !slices.Equal(s.Profiles, []string{"seed"})) {
		return []string{"seed is not in the profile seed alone: `make up` would run it"}
	}
	return nil
}

func composeIsOneShot(name string) bool { _, ok := composeOneShots[name]; return ok }

func checkComposeHealth(l *composeLoad) []string {
	var p []string
	for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
		s := l.p.Services[name]
		h := s.HealthCheck
		if composeIsOneShot(name) {
			if h != nil && !h.Disable {
				p = append(p, fmt.Sprintf("%s: a one-shot with a healthcheck %v; want it disabled (nothing listens)", name, h.Test))
			}
			continue
		}
		want, ok := composeHealth[name]
		switch {
		case !ok:
			p = append(p, fmt.Sprintf("%s: no healthcheck is known for it (composeHealth)", name))
			continue
		case h == nil || h.Disable || len(h.Test) < 2:
			p = append(p, fmt.Sprintf("%s: no healthcheck", name))
			continue
		case h.Interval == nil || h.Timeout == nil || h.Retries == nil || *h.Timeout >= *h.Interval:
			p = append(p, fmt.Sprintf("%s: healthcheck interval %v, timeout %v, retries %v: want all three, the timeout under the interval", name, h.Interval, h.Timeout, h.Retries))
		}
		if !composeInOrder(h.Test, want) {
			p = append(p, fmt.Sprintf("%s: healthcheck %q, want %q in it", name, []string(h.Test), want))
		}
		if s.Build != nil {
			if bin, err := dockerfileEntrypoint(s.Build.Dockerfile); err != nil || h.Test[0] != "CMD" || h.Test[1] != bin {
				p = append(p, fmt.Sprintf("%s: healthcheck %q does not run the image's own binary %s (%v)", name, []string(h.Test), bin, err))
			}
		}
	}
	return p
}

// composeInOrder reports whether test holds each of want in order, as an element
// or inside one (a CMD-SHELL line).
func composeInOrder(test, want []string) bool {
	joined := strings.Join(test, " ")
	i := 0
	for _, w := range want {
		j := strings.Index(joined[i:], w)
		if j < 0 {
			return false
		}
		i += j + len(w)
	}
	return true
}

func checkComposeRestart(l *composeLoad) []string {
	var p []string
	for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
		r := l.p.Services[name].Restart
		switch {
		case composeIsOneShot(name) && r != types.RestartPolicyNo && r != types.RestartPolicyOnFailure:
			p = append(p, fmt.Sprintf("%s: restart %q, want \"no\" or on-failure for a one-shot (%s)", name, r, composeOneShots[name]))
		case !composeIsOneShot(name) && r != types.RestartPolicyUnlessStopped && r != types.RestartPolicyAlways:
			p = append(p, fmt.Sprintf("%s: restart %q, want unless-stopped", name, r))
		}
	}
	return p
}

// composeMemoryLimit is a service's memory limit in bytes, 0 for none.
func composeMemoryLimit(s types.ServiceConfig) int64 {
	if s.Deploy != nil && s.Deploy.Resources.Limits != nil && s.Deploy.Resources.Limits.MemoryBytes > 0 {
		return int64(s.Deploy.Resources.Limits.MemoryBytes)
	}
	return int64(s.MemLimit)
}

// composeIsGo reports whether a service runs a Go program: one of our images, or
// NATS.
func composeIsGo(s types.ServiceConfig) bool {
	return s.Build != nil || strings.HasPrefix(s.Image, "nats:")
}

func composeEnvValue(s types.ServiceConfig, k string) (string, bool) {
	v, ok := s.Environment[k]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

// composeGoMemLimit reads GOMEMLIMIT's form: a number of bytes with B, KiB,
// MiB, GiB or TiB.
func composeGoMemLimit(v string) (int64, error) {
	units := []struct {
		suffix string
		n      int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			return n * u.n, err
		}
	}
	return strconv.ParseInt(v, 10, 64)
}

func checkComposeMemory(l *composeLoad) []string {
	var p []string
	for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
		s := l.p.Services[name]
		limit := composeMemoryLimit(s)
		if limit <= 0 {
			p = append(p, fmt.Sprintf("%s: no memory limit", name))
			continue
		}
		if !composeIsGo(s) {
			continue
		}
		// The Go collector works harder as the heap nears GOMEMLIMIT,
		// rather than the kernel killing the container at the limit.
		v, ok := composeEnvValue(s, "GOMEMLIMIT")
		if !ok {
			p = append(p, fmt.Sprintf("%s: a Go program without GOMEMLIMIT", name))
			continue
		}
		n, err := composeGoMemLimit(v)
		if err != nil || n >= limit || n < limit*3/4 {
			p = append(p, fmt.Sprintf("%s: GOMEMLIMIT %q with a memory limit of %d MiB: want a bit under the limit (75 to 99%%)", name, v, limit>>20))
		}
	}
	// WebSocket clients take about 24 KB each (docs/BENCHMARKS.md: 236 MB
	// RSS with 10,000): the result server's cap must fit its limit.
	if s, ok := l.p.Services["result"]; ok {
		v, _ := composeEnvValue(s, "WS_MAX_CLIENTS")
		n, err := strconv.Atoi(v)
		if err != nil || int64(n)*24_000+60<<20 > composeMemoryLimit(s) {
			p = append(p, fmt.Sprintf("result: WS_MAX_CLIENTS %q: want a number whose clients (24 KB each, plus 60 MiB) fit the memory limit of %d MiB", v, composeMemoryLimit(s)>>20))
		}
	}
	return p
}

// composeCapsToStart are the capabilities an image that starts as root
// may need to hand its files to its user and drop to it.
var composeCapsToStart = []string{"CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER"}

func checkComposeHardening(l *composeLoad) []string {
	var p []string
	for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
		s := l.p.Services[name]
		if !s.ReadOnly {
			p = append(p, fmt.Sprintf("%s: read_only is not set: the root filesystem is writable", name))
		}
		if !slices.Contains(s.CapDrop, "ALL") {
			p = append(p, fmt.Sprintf("%s: cap_drop %v, want [ALL]", name, s.CapDrop))
		}
		for _, c := range s.CapAdd {
			if !slices.Contains(composeCapsToStart, c) || s.User != "" {
				p = append(p, fmt.Sprintf("%s: cap_add %s: want none, or only %v for an image that starts as root", name, c, composeCapsToStart))
			}
		}
		if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			p = append(p, fmt.Sprintf("%s: security_opt %v, want no-new-privileges:true", name, s.SecurityOpt))
		}
		if s.Privileged || s.NetworkMode == "host" || s.Pid == "host" {
			p = append(p, fmt.Sprintf("%s: privileged %v, network_mode %q, pid %q: want none of the host's", name, s.Privileged, s.NetworkMode, s.Pid))
		}
	}
	return p
}

// checkComposeUsers: no container runs as root: a user is given, or the
// image is ours and its Dockerfile ends with a USER that is not root.
func checkComposeUsers(l *composeLoad) []string {
	var p []string
	for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
		s := l.p.Services[name]
		user := s.User
		if user == "" && s.Build != nil {
			var err error
			if user, err = dockerfileUser(s.Build.Dockerfile); err != nil {
				p = append(p, fmt.Sprintf("%s: %v", name, err))
				continue
			}
		}
		if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
			if len(s.CapAdd) == 0 {
				p = append(p, fmt.Sprintf("%s: runs as root (user %q)", name, user))
			}
		}
	}
	return p
}

func checkComposePorts(l *composeLoad) []string {
	var p []string
	for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
		var got []string
		for _, port := range l.p.Services[name].Ports {
			got = append(got, fmt.Sprintf("%s%s:%d", composeHostIP(port.HostIP), port.Published, port.Target))
		}
		if want := composePublished[name]; !slices.Equal(got, want) {
			p = append(p, fmt.Sprintf("%s: publishes %v, want %v", name, got, want))
		}
	}
	return p
}

// composeReaches is who may reach each dependency: a service outside its
// list must share no network with it (the public result server cannot
// reach Redis, the vote server neither PostgreSQL nor NATS).
var composeReaches = map[string][]string{
	"redis":    {"vote", "worker"},
	"postgres": {"postgres-roles", "migrate", "worker", "result"},
	"nats":     {"worker", "result"},
}

func checkComposeNetworks(l *composeLoad) []string {
	var p []string
	for dep, allowed := range composeReaches {
		d, ok := l.p.Services[dep]
		if !ok {
			continue
		}
		if len(d.Networks) == 0 {
			p = append(p, dep+": on the default network, which every service shares")
			continue
		}
		for net := range d.Networks {
			if n := l.p.Networks[net]; !n.Internal {
				p = append(p, fmt.Sprintf("%s: network %s is not internal", dep, net))
			}
		}
		for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
			if name == dep || slices.Contains(allowed, name) {
				continue
			}
			svc := l.p.Services[name]
			if len(svc.Networks) == 0 {
				p = append(p, fmt.Sprintf("%s: on the default network, so it may share one with %s", name, dep))
			}
			for net := range svc.Networks {
				if _, shared := d.Networks[net]; shared {
					p = append(p, fmt.Sprintf("%s reaches %s (network %s), want only %v", name, dep, net, allowed))
				}
			}
		}
	}
	slices.Sort(p)
	return p
}

func composeHostIP(ip string) string {
	if ip == "" {
		return ""
	}
	return ip + ":"
}

func checkComposeGrace(l *composeLoad) []string {
	var p []string
	shutdowns, err := composeCodeShutdowns()
	if err != nil {
		return []string{err.Error()}
	}
	for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
		if composeIsOneShot(name) {
			continue
		}
		s := l.p.Services[name]
		var grace time.Duration
		if s.StopGracePeriod != nil {
			grace = time.Duration(*s.StopGracePeriod)
		}
		if d, ok := shutdowns[name]; ok {
			if grace < d+composeGraceMargin {
				p = append(p, fmt.Sprintf("%s: stop_grace_period %v, want at least its own shutdown (%v in its code) + %v", name, grace, d, composeGraceMargin))
			}
			continue
		}
		min, ok := composeOtherGrace[name]
		if !ok || grace < min {
			p = append(p, fmt.Sprintf("%s: stop_grace_period %v, want at least %v", name, grace, min))
		}
	}
	if s, ok := l.p.Services["postgres"]; ok && s.StopSignal != "SIGINT" {
		p = append(p, fmt.Sprintf("postgres: stop_signal %q, want SIGINT (fast shutdown; SIGTERM waits for pooled connections that never close)", s.StopSignal))
	}
	return p
}

func checkComposeDependsOn(l *composeLoad) []string {
	var p []string
	for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
		got := map[string]string{}
		for dep, d := range l.p.Services[name].DependsOn {
			got[dep] = d.Condition
		}
		want := composeDependsOn[name]
		if want == nil {
			want = map[string]string{}
		}
		if !maps.Equal(got, want) {
			p = append(p, fmt.Sprintf("%s: depends_on %v, want %v", name, got, want))
		}
	}
	return p
}

// checkComposePublicURLs: vote and result leave RESULT_URL and VOTE_URL
// unset, so that pages opened at any address of the machine find the
// other server there (issue 9: the original's "results stuck" bug was
// RESULT_URL=http://localhost:8081); and no variable names localhost,
// which inside a container is the container itself.
func checkComposePublicURLs(l *composeLoad) []string {
	var p []string
	for svc, v := range map[string]string{"vote": "RESULT_URL", "result": "VOTE_URL"} {
		if s, ok := l.p.Services[svc]; ok {
			if val, set := composeEnvValue(s, v); set {
				p = append(p, fmt.Sprintf("%s: %s=%q, want it unset (the host the page was opened at)", svc, v, val))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
		s := l.p.Services[name]
		for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
			v, _ := composeEnvValue(s, k)
			for _, local := range []string{"localhost", "127.0.0.1", "[::1]"} {
				if strings.Contains(v, local) {
					p = append(p, fmt.Sprintf("%s: %s=%q names %s: in a container that is the container itself", name, k, v, local))
				}
			}
		}
		for i, a := range s.Command {
			if strings.Contains(a, "localhost") || strings.Contains(a, "127.0.0.1") {
				p = append(p, fmt.Sprintf("%s: command argument %d %q names the container itself", name, i, a))
			}
		}
	}
	return p
}

// composeBinary is the program a service runs: its image's ENTRYPOINT for
// ours ("" for images not built here).
func composeBinary(s types.ServiceConfig) string {
	if s.Build == nil {
		return ""
	}
	bin, err := dockerfileEntrypoint(s.Build.Dockerfile)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(bin, "/")
}

// checkComposeVariables: every variable the code of a service's binary
// reads is set, or left to its default on purpose (composeDefaults), and
// every variable set is read by that code (a misspelt one is ignored
// without a word) or by the Go runtime.
func checkComposeVariables(l *composeLoad) []string {
	reads, err := composeCodeVariables()
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
		s := l.p.Services[name]
		bin := composeBinary(s)
		if bin == "" {
			continue
		}
		read, ok := reads[bin]
		if !ok {
			p = append(p, fmt.Sprintf("%s: runs %q, whose code is not known here", name, bin))
			continue
		}
		wanted := maps.Clone(read)
		for _, v := range composeContractVars[bin] {
			wanted[v] = true
		}
		defaults := composeDefaults[name]
		for _, v := range slices.Sorted(maps.Keys(wanted)) {
			val, _ := composeEnvValue(s, v)
			_, deliberate := defaults[v]
			if strings.TrimSpace(val) == "" && !deliberate {
				p = append(p, fmt.Sprintf("%s: %s (read by %s) is neither set nor left to its default on purpose (composeDefaults)", name, v, bin))
			}
		}
		for _, v := range slices.Sorted(maps.Keys(s.Environment)) {
			if !read[v] && !slices.Contains(composeGoRuntime, v) {
				p = append(p, fmt.Sprintf("%s: variable %s is read by no code of %s", name, v, bin))
			}
		}
		for _, v := range slices.Sorted(maps.Keys(defaults)) {
			if !wanted[v] {
				p = append(p, fmt.Sprintf("%s: composeDefaults names %s, which %s does not read", name, v, bin))
			}
		}
	}
	return p
}

// checkComposeDependencyURLs: the services reach Redis, PostgreSQL and
// NATS by their service names and ports, each Go service with its own
// credentials from .env, and vote and result agree on the default poll's
// labels.
func checkComposeDependencyURLs(l *composeLoad) []string {
	type want struct {
		scheme, host, user, password string
	}
	wants := map[string]map[string]want{
		"vote":    {"REDIS_URL": {"redis", "redis:6379", "", ""}},
		"worker":  {"REDIS_URL": {"redis", "redis:6379", "", ""}, "DATABASE_URL": {"postgres", "postgres:5432", "livevote_worker", l.env["PG_WORKER_PASSWORD"]}, "NATS_URL": {"nats", "nats:4222", "worker", l.env["NATS_WORKER_PASSWORD"]}},
		"result":  {"DATABASE_URL": {"postgres", "postgres:5432", "livevote_result", l.env["PG_RESULT_PASSWORD"]}, "NATS_URL": {"nats", "nats:4222", "result", l.env["NATS_RESULT_PASSWORD"]}},
		"migrate": {"DATABASE_URL": {"postgres", "postgres:5432", "livevote_migrate", l.env["PG_MIGRATE_PASSWORD"]}},
	}
	var p []string
	for _, name := range slices.Sorted(maps.Keys(wants)) {
		s := l.p.Services[name]
		for _, k := range slices.Sorted(maps.Keys(wants[name])) {
			w := wants[name][k]
			v, _ := composeEnvValue(s, k)
			u, err := url.Parse(v)
			if err != nil {
				p = append(p, fmt.Sprintf("%s: %s is no URL: %v", name, k, err))
				continue
			}
			pw, _ := u.User.Password()
			if u.Scheme != w.scheme || u.Host != w.host || u.User.Username() != w.user || pw != w.password {
				p = append(p, fmt.Sprintf("%s: %s=%s, want %s://%s@%s with the password from .env", name, k, u.Redacted(), w.scheme, w.user, w.host))
			}
			host, _, _ := strings.Cut(w.host, ":")
			if _, ok := l.p.Services[host]; !ok {
				p = append(p, fmt.Sprintf("%s: %s names %s, which is no service", name, k, host))
			}
		}
	}
	for _, k := range []string{"OPTION_A", "OPTION_B"} {
		a, _ := composeEnvValue(l.p.Services["vote"], k)
		b, _ := composeEnvValue(l.p.Services["result"], k)
		if a != b || a == "" {
			p = append(p, fmt.Sprintf("%s: vote has %q, result %q: want the same label on both", k, a, b))
		}
	}
	return p
}

// checkComposeNATS: NATS runs with the repository's nats.conf and its
// users' passwords from .env; the healthcheck asks the monitoring port the
// config opens.
func checkComposeNATS(l *composeLoad) []string {
	var p []string
	s, ok := l.p.Services["nats"]
	if !ok {
		return []string{"no service nats"}
	}
	conf, err := os.ReadFile("../nats.conf")
	if err != nil {
		return []string{err.Error()}
	}
	if !slices.Equal(s.Command, []string{"-c", "/etc/nats/nats.conf"}) || !composeHasBind(l.p, s, "nats.conf", "/etc/nats/nats.conf") {
		p = append(p, fmt.Sprintf("nats: command %v, volumes %+v: want nats.conf mounted read-only at /etc/nats/nats.conf and -c it", s.Command, s.Volumes))
	}
	for _, v := range []string{"NATS_WORKER_PASSWORD", "NATS_RESULT_PASSWORD"} {
		if got, _ := composeEnvValue(s, v); got != l.env[v] || got == "" {
			p = append(p, fmt.Sprintf("nats: %s is not the password of .env", v))
		}
		if !strings.Contains(string(conf), "$"+v) {
			p = append(p, fmt.Sprintf("nats.conf does not read $%s", v))
		}
	}
	m := regexp.MustCompile(`(?m)^http_port:\s*(\d+)`).FindStringSubmatch(string(conf))
	if m == nil || s.HealthCheck == nil || !composeInOrder(s.HealthCheck.Test, []string{"127.0.0.1:" + m[1] + "/healthz"}) {
		p = append(p, "nats: the healthcheck does not ask /healthz on nats.conf's http_port")
	}
	return p
}

// composeHasBind reports whether s mounts the repository's file or folder src
// read-only at target.
func composeHasBind(p *types.Project, s types.ServiceConfig, src, target string) bool {
	for _, v := range s.Volumes {
		rel, err := filepath.Rel(p.WorkingDir, v.Source)
		if v.Type == types.VolumeTypeBind && err == nil && rel == src && v.Target == target && v.ReadOnly {
			return true
		}
	}
	return false
}

// composeHasVolume reports whether s mounts the named volume vol at target.
func composeHasVolume(p *types.Project, s types.ServiceConfig, vol, target string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source == vol && v.Target == target {
			_, ok := p.Volumes[vol]
			return ok
		}
	}
	return false
}

// checkComposePostgres: the data on a volume, the writable directories the
// read-only root needs, and the roles: postgres-roles runs
// deploy/postgres/roles.sh as the superuser with the passwords of .env,
// migrate runs `worker migrate`.
func checkComposePostgres(l *composeLoad) []string {
	var p []string
	pg := l.p.Services["postgres"]
	if !composeHasVolume(l.p, pg, "postgres-data", "/var/lib/postgresql/data") {
		p = append(p, "postgres: no volume postgres-data at /var/lib/postgresql/data")
	}
	for _, dir := range []string{"/var/run/postgresql", "/tmp"} {
		if !slices.ContainsFunc(pg.Tmpfs, func(t string) bool { return t == dir || strings.HasPrefix(t, dir+":") }) {
			p = append(p, fmt.Sprintf("postgres: no tmpfs at %s, which the read-only root leaves unwritable", dir))
		}
	}
	if v, _ := composeEnvValue(pg, "POSTGRES_PASSWORD"); v != l.env["POSTGRES_PASSWORD"] || v == "" {
		p = append(p, "postgres: POSTGRES_PASSWORD is not the password of .env")
	}
	roles := l.p.Services["postgres-roles"]
	if !slices.Equal(roles.Command, []string{"sh", "/deploy/roles.sh"}) || !composeHasBind(l.p, roles, filepath.Join("deploy", "postgres"), "/deploy") {
		p = append(p, fmt.Sprintf("postgres-roles: command %v, volumes %+v: want deploy/postgres mounted read-only at /deploy and roles.sh run", roles.Command, roles.Volumes))
	}
	for k, want := range map[string]string{
		"PGHOST": "postgres", "PGUSER": "postgres", "PGPASSWORD": l.env["POSTGRES_PASSWORD"],
		"PG_MIGRATE_PASSWORD": l.env["PG_MIGRATE_PASSWORD"], "PG_WORKER_PASSWORD": l.env["PG_WORKER_PASSWORD"], "PG_RESULT_PASSWORD": l.env["PG_RESULT_PASSWORD"],
	} {
		if got, _ := composeEnvValue(roles, k); got != want || got == "" {
			p = append(p, fmt.Sprintf("postgres-roles: %s is not %s", k, map[bool]string{true: "postgres", false: "the password of .env"}[want == "postgres"]))
		}
	}
	if roles.Image != pg.Image {
		p = append(p, fmt.Sprintf("postgres-roles: image %s, want postgres's own (%s): its psql", roles.Image, pg.Image))
	}
	m := l.p.Services["migrate"]
	if m.Build == nil || m.Build.Dockerfile != "worker/Dockerfile" || !slices.Equal(m.Command, []string{"migrate"}) {
		p = append(p, fmt.Sprintf("migrate: build %+v, command %v: want the worker's image running migrate", m.Build, m.Command))
	}
	return p
}

// checkComposeRedis: append-only persistence on a volume, with the fsync
// policy under which no acknowledged vote is lost, and a maxmemory under
// the memory limit with no eviction.
func checkComposeRedis(l *composeLoad) []string {
	var p []string
	s := l.p.Services["redis"]
	args := map[string]string{}
	for i := 0; i+1 < len(s.Command); i++ {
		if strings.HasPrefix(s.Command[i], "--") {
			args[strings.TrimPrefix(s.Command[i], "--")] = s.Command[i+1]
		}
	}
	if args["appendonly"] != "yes" {
		p = append(p, "redis: --appendonly yes missing: acknowledged votes would not survive a restart")
	}
	if args["appendfsync"] != "always" {
		p = append(p, fmt.Sprintf("redis: --appendfsync %q: the contract's guarantee across a crash of Redis holds with always (everysec may lose the last second)", args["appendfsync"]))
	}
	if args["maxmemory-policy"] != "noeviction" {
		p = append(p, fmt.Sprintf("redis: --maxmemory-policy %q, want noeviction: an evicted stream entry is a lost vote", args["maxmemory-policy"]))
	}
	if mb, ok := strings.CutSuffix(args["maxmemory"], "mb"); !ok {
		p = append(p, fmt.Sprintf("redis: --maxmemory %q, want N mb", args["maxmemory"]))
	} else if n, err := strconv.ParseInt(mb, 10, 64); err != nil || n<<20 > composeMemoryLimit(s)*3/5 {
		p = append(p, fmt.Sprintf("redis: --maxmemory %s with a memory limit of %d MiB: want at most 60%% of it (the append-only rewrite forks)", args["maxmemory"], composeMemoryLimit(s)>>20))
	}
	if !composeHasVolume(l.p, s, "redis-data", "/data") {
		p = append(p, "redis: no volume redis-data at /data")
	}
	return p
}

// checkComposeBuilds: our images build from a Dockerfile of the repository
// with the version as a build argument the Dockerfile declares.
func checkComposeBuilds(l *composeLoad) []string {
	var p []string
	for _, name := range slices.Sorted(maps.Keys(l.p.Services)) {
		s := l.p.Services[name]
		if s.Build == nil {
			if s.Image == "" || !strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest") {
				p = append(p, fmt.Sprintf("%s: image %q, want a pinned tag", name, s.Image))
			}
			continue
		}
		if s.Build.Context != l.p.WorkingDir {
			p = append(p, fmt.Sprintf("%s: build context %s, want the repository root (the Dockerfiles copy shared/)", name, s.Build.Context))
		}
		b, err := os.ReadFile(filepath.Join("..", s.Build.Dockerfile))
		if err != nil {
			p = append(p, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		for arg, def := range map[string]string{"VERSION": "devel", "REVISION": "unknown"} {
			want := l.env[arg]
			if want == "" {
				want = def
			}
			if got := s.Build.Args[arg]; got == nil || *got != want {
				p = append(p, fmt.Sprintf("%s: build argument %s %v, want %q (from %s, else %s)", name, arg, got, want, arg, def))
			}
			if !regexp.MustCompile(`(?m)^ARG\s+` + arg + `\b`).Match(b) {
				p = append(p, fmt.Sprintf("%s: %s declares no ARG %s: the build argument would not reach the image", name, s.Build.Dockerfile, arg))
			}
		}
	}
	return p
}

// checkComposeSeed: the seed profile posts to the vote service on the
// port it listens on.
func checkComposeSeed(l *composeLoad) []string {
	s, ok := l.p.Services["seed"]
	if !ok {
		return nil
	}
	i := slices.Index(s.Command, "-url")
	if i < 0 || i+1 >= len(s.Command) || s.Command[i+1] != "http://vote:8080" {
		return []string{fmt.Sprintf("seed: command %v, want -url http://vote:8080", s.Command)}
	}
	return nil
}

// --- what the code says ---

// dockerfileEntrypoint is the program of a Dockerfile's ENTRYPOINT
// ["/prog", …].
func dockerfileEntrypoint(dockerfile string) (string, error) {
	b, err := os.ReadFile(filepath.Join("..", dockerfile))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^ENTRYPOINT\s+(\[.*\])\s*$`).FindSubmatch(b)
	var argv []string
	if m == nil || json.Unmarshal(m[1], &argv) != nil || len(argv) == 0 {
		return "", fmt.Errorf("%s: no ENTRYPOINT [\"/program\"]", dockerfile)
	}
	return argv[0], nil
}

// dockerfileUser is the last USER of a Dockerfile: the user its image runs
// as.
func dockerfileUser(dockerfile string) (string, error) {
	f, err := os.Open(filepath.Join("..", dockerfile))
	if err != nil {
		return "", err
	}
	defer f.Close()
	user := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && strings.EqualFold(fields[0], "USER") {
			user = fields[1]
		}
	}
	return user, sc.Err()
}

// composeCodeVariables finds, for each of our binaries, the environment
// variables its code reads. From the binary's run function, it follows
// every call that is handed the getenv function (whatever the parameter is
// called there) through our packages, and collects the string literal
// passed beside it (shared.String(getenv, "NAME", …), limit(getenv,
// "NAME", …)) or to it (getenv("NAME")); os.Getenv("NAME") anywhere in our
// packages counts too. Variables that libraries read of themselves are not
// ours to set.
var composeCodeVariables = sync.OnceValues(func() (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	for _, bin := range []string{"vote", "worker", "result", "seed"} {
		pkg := "livevote/" + bin
		if bin == "seed" {
			pkg = "livevote/e2e/seed"
		}
		idx, err := newGoIndex(pkg)
		if err != nil {
			return nil, err
		}
		read := map[string]bool{}
		if err := idx.follow(pkg, "run", -1, read, map[string]bool{}); err != nil {
			return nil, fmt.Errorf("%s: %w", bin, err)
		}
		for _, v := range idx.osGetenv {
			read[v] = true
		}
		out[bin] = read
	}
	return out, nil
})

// goIndex is the function declarations of a binary's packages of ours.
type goIndex struct {
	funcs    map[string]goFunc // "import/path.Name" (methods: "import/path.*.Name")
	osGetenv []string
}

type goFunc struct {
	decl    *ast.FuncDecl
	pkg     string
	imports map[string]string // name in the file → import path
}

func newGoIndex(pkg string) (*goIndex, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \" \"}}", pkg)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	idx := &goIndex{funcs: map[string]goFunc{}}
	fset := token.NewFileSet()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "\t")
		if len(parts) != 3 || !strings.HasPrefix(parts[0], "livevote/") {
			continue
		}
		for _, name := range strings.Fields(parts[2]) {
			f, err := parser.ParseFile(fset, filepath.Join(parts[1], name), nil, 0)
			if err != nil {
				return nil, err
			}
			imports := map[string]string{}
			for _, im := range f.Imports {
				path, _ := strconv.Unquote(im.Path.Value)
				local := path[strings.LastIndex(path, "/")+1:]
				if im.Name != nil {
					local = im.Name.Name
				}
				imports[local] = path
			}
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				key := parts[0] + "." + fd.Name.Name
				if fd.Recv != nil {
					key = parts[0] + ".*." + fd.Name.Name
				}
				idx.funcs[key] = goFunc{decl: fd, pkg: parts[0], imports: imports}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv") {
						if x, ok := sel.X.(*ast.Ident); ok && imports[x.Name] == "os" && len(call.Args) == 1 {
							if s, ok := stringLit(call.Args[0]); ok {
								idx.osGetenv = append(idx.osGetenv, s)
							}
						}
					}
				}
				return true
			})
		}
	}
	return idx, nil
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// paramName is the name of a function's parameter i; for i < 0, that of
// its first parameter of type func(string) string ("" when none).
func paramName(fd *ast.FuncDecl, i int) string {
	n := 0
	for _, field := range fd.Type.Params.List {
		names := field.Names
		if len(names) == 0 {
			names = []*ast.Ident{{Name: "_"}}
		}
		for _, name := range names {
			if i == n || i < 0 && isGetenvType(field.Type) {
				return name.Name
			}
			n++
		}
	}
	return ""
}

func isGetenvType(e ast.Expr) bool {
	ft, ok := e.(*ast.FuncType)
	if ok {
		return len(ft.Params.List) == 1 && len(ft.Results.List) == 1 && fmt.Sprint(ft.Params.List[0].Type) == "string" && fmt.Sprint(ft.Results.List[0].Type) == "string"
	}
	// A named type such as shared.Getenv.
	if sel, ok := e.(*ast.SelectorExpr); ok {
		return sel.Sel.Name == "Getenv"
	}
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "Getenv"
}

// follow walks the function pkg.name whose parameter param (the first of
// type func(string) string when -1) is the getenv function.
func (idx *goIndex) follow(pkg, name string, param int, read, seen map[string]bool) error {
	key := pkg + "." + name
	f, ok := idx.funcs[key]
	if !ok {
		if f, ok = idx.funcs[pkg+".*."+name]; !ok {
			return fmt.Errorf("no function %s", key)
		}
	}
	visit := fmt.Sprintf("%s#%d", key, param)
	if seen[visit] {
		return nil
	}
	seen[visit] = true
	getenv := paramName(f.decl, param)
	if getenv == "" || getenv == "_" {
		return nil // reads no variable through a getenv
	}
	var err error
	ast.Inspect(f.decl.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || err != nil {
			return err == nil
		}
		if id, ok := call.Fun.(*ast.Ident); ok && id.Name == getenv && len(call.Args) == 1 {
			if s, ok := stringLit(call.Args[0]); ok {
				read[s] = true
			}
			return true
		}
		for i, a := range call.Args {
			if id, ok := a.(*ast.Ident); !ok || id.Name != getenv {
				continue
			}
			if i+1 < len(call.Args) {
				if s, ok := stringLit(call.Args[i+1]); ok {
					read[s] = true
				}
			}
			calleePkg, calleeName := f.pkg, ""
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				calleeName = fn.Name
			case *ast.SelectorExpr:
				calleeName = fn.Sel.Name
				if x, ok := fn.X.(*ast.Ident); ok && f.imports[x.Name] != "" {
					calleePkg = f.imports[x.Name]
				}
			}
			if !strings.HasPrefix(calleePkg, "livevote/") {
				err = fmt.Errorf("%s hands %s to %s, outside our code", key, getenv, calleePkg)
				return false
			}
			if e := idx.follow(calleePkg, calleeName, i, read, seen); e != nil {
				err = e
				return false
			}
		}
		return true
	})
	return err
}

// composeCodeShutdowns adds up, for each Go server, the durations its
// code gives its shutdown (composeShutdown).
var composeCodeShutdowns = sync.OnceValues(func() (map[string]time.Duration, error) {
	seconds := regexp.MustCompile(`(\d+)\s*\*\s*time\.Second`)
	out := map[string]time.Duration{}
	for svc, parts := range composeShutdown {
		for _, part := range parts {
			b, err := os.ReadFile(filepath.Join("..", part.file))
			if err != nil {
				return nil, err
			}
			s := string(b)
			i := strings.Index(s, part.from)
			j := -1
			if i >= 0 {
				j = strings.Index(s[i:], part.to)
			}
			if i < 0 || j < 0 {
				return nil, fmt.Errorf("%s: no %q … %q: the shutdown moved; read it again and update composeShutdown and stop_grace_period", part.file, part.from, part.to)
			}
			ms := seconds.FindAllStringSubmatch(s[i:i+j], -1)
			if len(ms) == 0 {
				return nil, fmt.Errorf("%s: no duration between %q and %q: the shutdown changed; read it again", part.file, part.from, part.to)
			}
			for _, m := range ms {
				n, _ := strconv.Atoi(m[1])
				out[svc] += time.Duration(n) * time.Second
			}
		}
	}
	return out, nil
})

// TestComposeCodeReads pins what the code analysis finds for a few
// variables, so that a walk that finds nothing cannot pass the variables
// check by accident.
func TestComposeCodeReads(t *testing.T) {
	t.Parallel()
	reads, err := composeCodeVariables()
	if err != nil {
		t.Fatal(err)
	}
	for bin, want := range map[string][]string{
		"vote":   {"REDIS_URL", "VOTE_ADDR", "OPTION_A", "OPTION_B", "RESULT_URL", "RATE_LIMIT_NEW_VOTERS", "TRUSTED_PROXIES", "VOTER_SECRET", "LOG_LEVEL"},
		"worker": {"REDIS_URL", "DATABASE_URL", "NATS_URL", "WORKER_ADDR", "WORKER_BATCH", "WORKER_CLAIM_IDLE"},
		"result": {"DATABASE_URL", "NATS_URL", "RESULT_ADDR", "OPTION_A", "VOTE_URL", "WS_ORIGINS", "WS_MAX_CLIENTS", "RESULT_PATH_PREFIX"},
	} {
		for _, v := range want {
			if !reads[bin][v] {
				t.Errorf("%s: the code analysis did not find %s; found %v", bin, v, slices.Sorted(maps.Keys(reads[bin])))
			}
		}
		if got, want := reads[bin]["OPTION_A"], slices.Contains(want, "OPTION_A"); got != want {
			t.Errorf("%s: OPTION_A found %v, want %v (only vote and result label the default poll)", bin, got, want)
		}
	}
	for _, bin := range slices.Sorted(maps.Keys(reads)) {
		t.Logf("%s reads %v", bin, slices.Sorted(maps.Keys(reads[bin])))
	}
	if len(reads["seed"]) != 0 {
		t.Errorf("seed reads %v, want no variable (its flags say everything)", reads["seed"])
	}
	shutdowns, err := composeCodeShutdowns()
	if err != nil {
		t.Fatal(err)
	}
	for svc, min := range map[string]time.Duration{"vote": 5 * time.Second, "worker": 10 * time.Second, "result": 10 * time.Second} {
		if shutdowns[svc] < min {
			t.Errorf("%s: shutdown read from the code as %v, want at least %v", svc, shutdowns[svc], min)
		}
	}
}

// TestComposeSeed runs the seed program of compose's seed profile against
// a real vote server whose new-voter limit it must wait out (429 with
// Retry-After), and wants every vote it reports in PostgreSQL, each a
// distinct voter's; it fails at once, saying why, against no server and
// on bad flags.
func TestComposeSeed(t *testing.T) {
	t.Parallel()
	seed := filepath.Join(t.TempDir(), "seed")
	if out, err := exec.Command("go", "build", "-o", seed, "./seed").CombinedOutput(); err != nil {
		t.Fatalf("go build ./seed: %v\n%s", err, out)
	}
	e := newEnv(t)
	e.start("worker").waitReady()
	vote := e.start("vote", "RATE_LIMIT_NEW_VOTERS=20/s")
	vote.waitReady()

	start := time.Now()
	out, err := exec.Command(seed, "-url", vote.url(""), "-a", "60", "-b", "40", "-c", "16", "-timeout", "60s").CombinedOutput()
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	t.Logf("seed took %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	m := regexp.MustCompile(`100 votes cast \(60 for a, 40 for b\) by 100 distinct voters in [0-9.]+s; (\d+) answers 429`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("seed printed:\n%s\nwant 100 votes cast (60 for a, 40 for b) by 100 distinct voters", out)
	}
	if n, _ := strconv.Atoi(string(m[1])); n == 0 {
		t.Errorf("seed met no 429 at 20 new voters a second: the wait for Retry-After was not tried")
	}
	want := map[string]int64{"a": 60, "b": 40}
	var got map[string]int64
	deadline := time.Now().Add(20 * time.Second)
	for got = e.dbCounts(); !maps.Equal(got, want) && time.Now().Before(deadline); got = e.dbCounts() {
		time.Sleep(100 * time.Millisecond)
	}
	if !maps.Equal(got, want) {
		t.Errorf("PostgreSQL counts %v, want %v", got, want)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no server", []string{"-url", "http://" + freeAddr(t), "-a", "1", "-b", "0", "-attempts", "2"}, "vote for a: 2 tries a second apart failed, the last:"},
		{"no votes", []string{"-a", "0", "-b", "0"}, "-a 0 -b 0: want counts of zero or more, not both zero"},
		{"not a URL", []string{"-url", "vote:8080"}, `-url "vote:8080": want http://host:port`},
		{"not a vote server", []string{"-url", e.start("worker").url(""), "-a", "1", "-b", "0"}, "vote for a: the server answered 404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(seed, tc.args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "seed: "+tc.want) {
				t.Errorf("seed %v: got %v:\n%s\nwant a failure saying %q", tc.args, err, out, tc.want)
			}
		})
	}
}
