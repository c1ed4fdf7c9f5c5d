package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeChecksCatch breaks the loaded compose.yml (seed profile on)
// in one way at a time and wants the checks of TestCompose to name what
// broke: a check that cannot fail checks nothing.
func TestComposeChecksCatch(t *testing.T) {
	t.Parallel()
	type edit = func(s *types.ServiceConfig)
	setEnv := func(k, v string) edit { return func(s *types.ServiceConfig) { s.Environment[k] = new(v) } }
	delEnv := func(k string) edit { return func(s *types.ServiceConfig) { delete(s.Environment, k) } }
	for _, tc := range []struct {
		name    string
		service string
		edit    edit
		want    string
	}{
		{"healthcheck removed", "vote", func(s *types.ServiceConfig) { s.HealthCheck = nil }, "vote: no healthcheck"},
		{"healthcheck disabled", "redis", func(s *types.ServiceConfig) { s.HealthCheck.Disable = true }, "redis: no healthcheck"},
		{"healthcheck of another binary", "worker", func(s *types.ServiceConfig) {
			s.HealthCheck.Test = types.HealthCheckTest{"CMD", "/result", "healthcheck"}
		},
			`worker: healthcheck ["CMD" "/result" "healthcheck"], want ["CMD" "/worker" "healthcheck"]`},
		{"healthcheck timeout above interval", "result", func(s *types.ServiceConfig) { s.HealthCheck.Timeout = new(types.Duration(time.Minute)) },
			"result: healthcheck interval"},
		{"pg_isready on the socket", "postgres", func(s *types.ServiceConfig) {
			s.HealthCheck.Test = types.HealthCheckTest{"CMD", "pg_isready", "-U", "postgres"}
		}, "postgres: healthcheck"},
		{"NATS healthcheck on another port", "nats", func(s *types.ServiceConfig) {
			s.HealthCheck.Test = types.HealthCheckTest{"CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8223/healthz"}
		}, "nats: the healthcheck does not ask /healthz on nats.conf's http_port"},
		{"one-shot with a healthcheck", "seed", func(s *types.ServiceConfig) {
			s.HealthCheck = &types.HealthCheckConfig{Test: types.HealthCheckTest{"CMD", "/seed"}}
		},
			"seed: a one-shot with a healthcheck"},
		{"no restart policy", "redis", func(s *types.ServiceConfig) { s.Restart = "" }, `redis: restart "", want unless-stopped`},
		{"one-shot restarted for ever", "migrate", func(s *types.ServiceConfig) { s.Restart = types.RestartPolicyUnlessStopped },
			`migrate: restart "unless-stopped", want "no" or on-failure`},
		{"memory limit removed", "result", func(s *types.ServiceConfig) { s.Deploy = nil }, "result: no memory limit"},
		{"GOMEMLIMIT above the limit", "vote", setEnv("GOMEMLIMIT", "300MiB"), `vote: GOMEMLIMIT "300MiB" with a memory limit of 256 MiB`},
		{"GOMEMLIMIT far under the limit", "worker", setEnv("GOMEMLIMIT", "64MiB"), `worker: GOMEMLIMIT "64MiB"`},
		{"GOMEMLIMIT removed", "nats", delEnv("GOMEMLIMIT"), "nats: a Go program without GOMEMLIMIT"},
		{"WebSocket cap above the memory", "result", setEnv("WS_MAX_CLIENTS", "50000"), `result: WS_MAX_CLIENTS "50000"`},
		{"writable root", "redis", func(s *types.ServiceConfig) { s.ReadOnly = false }, "redis: read_only is not set"},
		{"capabilities kept", "postgres", func(s *types.ServiceConfig) { s.CapDrop = nil }, "postgres: cap_drop [], want [ALL]"},
		{"capability added", "vote", func(s *types.ServiceConfig) { s.CapAdd = []string{"NET_ADMIN"} }, "vote: cap_add NET_ADMIN"},
		{"new privileges allowed", "nats", func(s *types.ServiceConfig) { s.SecurityOpt = nil }, "nats: security_opt [], want no-new-privileges:true"},
		{"privileged", "worker", func(s *types.ServiceConfig) { s.Privileged = true }, "worker: privileged true"},
		{"runs as root", "redis", func(s *types.ServiceConfig) { s.User = "" }, `redis: runs as root (user "")`},
		{"runs as uid 0", "postgres-roles", func(s *types.ServiceConfig) { s.User = "0:0" }, `postgres-roles: runs as root (user "0:0")`},
		{"NATS published on loopback", "nats", func(s *types.ServiceConfig) {
			s.Ports = []types.ServicePortConfig{{HostIP: "127.0.0.1", Published: "4222", Target: 4222}}
		}, "nats: publishes [127.0.0.1:4222:4222], want []"},
		{"PostgreSQL published", "postgres", func(s *types.ServiceConfig) { s.Ports = []types.ServicePortConfig{{Published: "5432", Target: 5432}} },
			"postgres: publishes [5432:5432]"},
		{"vote on another port", "vote", func(s *types.ServiceConfig) { s.Ports[0].Published = "80" }, "vote: publishes [80:8080], want [8080:8080]"},
		{"result on loopback only", "result", func(s *types.ServiceConfig) { s.Ports[0].HostIP = "127.0.0.1" },
			"result: publishes [127.0.0.1:8081:8081], want [8081:8081]"},
		{"stop grace under the shutdown", "worker", func(s *types.ServiceConfig) { s.StopGracePeriod = new(types.Duration(10 * time.Second)) },
			"worker: stop_grace_period 10s, want at least its own shutdown (15s in its code)"},
		{"stop grace removed", "postgres", func(s *types.ServiceConfig) { s.StopGracePeriod = nil }, "postgres: stop_grace_period 0s, want at least 30s"},
		{"PostgreSQL stopped by SIGTERM", "postgres", func(s *types.ServiceConfig) { s.StopSignal = "" }, `postgres: stop_signal ""`},
		{"worker before migrate", "worker", func(s *types.ServiceConfig) { delete(s.DependsOn, "migrate") }, "worker: depends_on"},
		{"result on NATS started only", "result", func(s *types.ServiceConfig) {
			s.DependsOn["nats"] = types.ServiceDependency{Condition: types.ServiceConditionStarted, Required: true}
		}, "result: depends_on map[migrate:service_completed_successfully nats:service_started]"},
		{"results stuck (RESULT_URL at localhost)", "vote", setEnv("RESULT_URL", "http://localhost:8081"),
			`vote: RESULT_URL="http://localhost:8081", want it unset`},
		{"VOTE_URL set", "result", setEnv("VOTE_URL", "http://example.org:8080"), `result: VOTE_URL="http://example.org:8080", want it unset`},
		{"Redis at localhost", "worker", setEnv("REDIS_URL", "redis://127.0.0.1:6379/0"), `worker: REDIS_URL="redis://127.0.0.1:6379/0" names 127.0.0.1`},
		{"variable the code reads unset", "vote", delEnv("REDIS_URL"), "vote: REDIS_URL (read by vote) is neither set nor left to its default on purpose"},
		{"variable set empty", "worker", setEnv("DATABASE_URL", ""), "worker: DATABASE_URL (read by worker) is neither set"},
		{"misspelt variable", "result", setEnv("WS_MAX_CLIENT", "100"), "result: variable WS_MAX_CLIENT is read by no code of result"},
		{"variable of the other server", "worker", setEnv("OPTION_A", "Cats"), "worker: variable OPTION_A is read by no code of worker"},
		{"variable for the seed", "seed", setEnv("VOTE_URL", "http://vote:8080"), "seed: variable VOTE_URL is read by no code of seed"},
		{"NATS user of the result server", "worker", setEnv("NATS_URL", "nats://result:pwnatsresultpassword@nats:4222"), "worker: NATS_URL=nats://result:xxxxx@nats:4222"},
		{"database role of the worker", "result", setEnv("DATABASE_URL", "postgres://livevote_worker:pwpgworkerpassword@postgres:5432/postgres?sslmode=disable"),
			"result: DATABASE_URL=postgres://livevote_worker:xxxxx@postgres:5432"},
		{"labels differ", "result", setEnv("OPTION_A", "Tea"), `OPTION_A: vote has "Cats", result "Tea"`},
		{"NATS password not from .env", "nats", setEnv("NATS_WORKER_PASSWORD", "secret"), "nats: NATS_WORKER_PASSWORD is not the password of .env"},
		{"nats.conf not mounted", "nats", func(s *types.ServiceConfig) { s.Volumes = nil }, "nats: command"},
		{"no socket directory", "postgres", func(s *types.ServiceConfig) { s.Tmpfs = []string{"/tmp"} }, "postgres: no tmpfs at /var/run/postgresql"},
		{"PostgreSQL on no volume", "postgres", func(s *types.ServiceConfig) { s.Volumes = nil }, "postgres: no volume postgres-data"},
		{"roles with another superuser password", "postgres-roles", setEnv("PGPASSWORD", "postgres"), "postgres-roles: PGPASSWORD is not the password of .env"},
		{"migrate not migrating", "migrate", func(s *types.ServiceConfig) { s.Command = nil }, "migrate: build"},
		{"Redis fsync every second", "redis", func(s *types.ServiceConfig) { s.Command[4] = "everysec" }, `redis: --appendfsync "everysec"`},
		{"Redis without append-only", "redis", func(s *types.ServiceConfig) { s.Command[2] = "no" }, "redis: --appendonly yes missing"},
		{"Redis evicting", "redis", func(s *types.ServiceConfig) { s.Command[10] = "allkeys-lru" }, `redis: --maxmemory-policy "allkeys-lru"`},
		{"Redis maxmemory at the limit", "redis", func(s *types.ServiceConfig) { s.Command[8] = "500mb" }, "redis: --maxmemory 500mb with a memory limit of 512 MiB"},
		{"Redis on no volume", "redis", func(s *types.ServiceConfig) { s.Volumes = nil }, "redis: no volume redis-data at /data"},
		{"no version in the image", "vote", func(s *types.ServiceConfig) { delete(s.Build.Args, "VERSION") }, "vote: build argument VERSION <nil>"},
		{"Dockerfile without ARG VERSION", "seed", func(s *types.ServiceConfig) { s.Build.Dockerfile = "e2e/testdata/compose/Dockerfile.noversion" },
			"seed: e2e/testdata/compose/Dockerfile.noversion declares no ARG VERSION"},
		{"image not pinned", "nats", func(s *types.ServiceConfig) { s.Image = "nats:latest" }, `nats: image "nats:latest", want a pinned tag`},
		{"seed against localhost", "seed", func(s *types.ServiceConfig) { s.Command[1] = "http://localhost:8080" }, "seed: command [-url http://localhost:8080"},
		{"seed out of its profile", "seed", func(s *types.ServiceConfig) { s.Profiles = nil }, "seed is not in the profile seed alone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			profiles := []string{"seed"}
			if tc.name == "seed out of its profile" {
				profiles = nil // seed then sits among the disabled services
			}
			l := loadCompose(t, composeEnv(t), profiles...)
			services := l.p.Services
			if profiles == nil {
				services = l.p.DisabledServices
			}
			s, ok := services[tc.service]
			if !ok {
				t.Fatalf("no service %s", tc.service)
			}
			tc.edit(&s)
			services[tc.service] = s
			var all []string
			for _, c := range composeChecks {
				all = append(all, c.check(l)...)
			}
			for _, p := range all {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no check says %q; they say:\n%s", tc.want, strings.Join(all, "\n"))
		})
	}
}
