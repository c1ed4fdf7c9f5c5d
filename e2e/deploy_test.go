package e2e

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// No Docker engine runs where the tests run, so compose.yml and the
// Dockerfiles are checked by parsing: every service is there, builds from a
// Dockerfile that exists, gets only variables of the contract, and the
// Dockerfiles copy only what exists.

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Restart     string            `yaml:"restart"`
		Healthcheck map[string]any    `yaml:"healthcheck"`
		Build       *composeBuild     `yaml:"build"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Command     []string          `yaml:"command"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
	Name    string         `yaml:"name"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

// contractVars are the variables of the contract's table (version 2).
var contractVars = []string{"REDIS_URL", "VOTE_STREAM_SHARDS", "REDIS_WAIT_REPLICAS", "DATABASE_URL", "NATS_URL",
	"VOTE_ADDR", "RESULT_ADDR", "WORKER_ADDR", "OPTION_A", "OPTION_B", "RESULT_URL", "VOTE_URL", "VOTE_STREAM",
	"TALLY_SUBJECT", "POLL_CREATE_TOKEN", "RATE_LIMIT_NEW_VOTERS", "RATE_LIMIT_VOTES", "WS_ORIGINS"}

func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("../compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yml: %v", err)
	}
	for _, name := range []string{"redis", "postgres", "nats", "vote", "worker", "result"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("compose.yml has no service %q", name)
		}
	}
	wantPorts := map[string]string{"vote": "8080:8080", "result": "8081:8081"}
	for _, name := range []string{"vote", "worker", "result"} {
		s := c.Services[name]
		if s.Build == nil {
			t.Errorf("%s: no build section", name)
			continue
		}
		df := filepath.Join("..", s.Build.Context, s.Build.Dockerfile)
		if _, err := os.Stat(df); err != nil {
			t.Errorf("%s: Dockerfile %s: %v", name, df, err)
		}
		for k := range s.Environment {
			if !slices.Contains(contractVars, k) {
				t.Errorf("%s: variable %s is not in the contract", name, k)
			}
		}
		for dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
			}
		}
		if p := wantPorts[name]; p != "" && !slices.Contains(s.Ports, p) {
			t.Errorf("%s: ports %v, want %s published", name, s.Ports, p)
		}
	}
	if !slices.Contains(c.Services["redis"].Command, "--appendonly") {
		t.Errorf("redis runs without --appendonly: acknowledged votes would not survive its restart")
	}
	if v := c.Services["nats"].Volumes; len(v) == 0 || !strings.HasPrefix(v[0], "./nats.conf:") {
		t.Errorf("nats does not mount nats.conf: %v", v)
	}
	checkComposeNATS(t, c)
}

// composeVar matches compose's ${VAR}, ${VAR:?message} and ${VAR:-default}.
var composeVar = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)(?:(:?[?-])([^}]*))?\}`)

// interpolate expands s as compose does with the variables of env, and
// fails where compose would stop: a required variable unset or empty.
func interpolate(s string, env map[string]string) (string, error) {
	var err error
	out := composeVar.ReplaceAllStringFunc(s, func(m string) string {
		g := composeVar.FindStringSubmatch(m)
		v, set := env[g[1]]
		switch g[2] {
		case ":?":
			if v == "" && err == nil {
				err = fmt.Errorf("%s unset or empty: %s", g[1], g[3])
			}
		case ":-":
			if v == "" {
				v = g[3]
			}
		case "?":
			if !set && err == nil {
				err = fmt.Errorf("%s unset: %s", g[1], g[3])
			}
		}
		return v
	})
	return out, err
}

// checkComposeNATS checks the NATS users' wiring: the NATS server gets both
// passwords from .env, required (compose stops rather than run NATS
// open), and the worker and the result server connect as their users with
// those same passwords; the broker is published on loopback at most.
func checkComposeNATS(t *testing.T, c composeFile) {
	t.Helper()
	users := map[string]string{"worker": "NATS_WORKER_PASSWORD", "result": "NATS_RESULT_PASSWORD"}
	nats := c.Services["nats"]
	for _, p := range nats.Ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("nats publishes port %s beyond loopback", p)
		}
	}
	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatalf(".env.example (the template of .env that compose reads): %v", err)
	}
	ignore, err := os.ReadFile("../.gitignore")
	if err != nil || !slices.Contains(strings.Fields(string(ignore)), "/.env") {
		t.Errorf(".gitignore does not ignore /.env, which holds the passwords")
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(example), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[strings.TrimSpace(k)] = "pw-" + strings.ToLower(k)
		}
	}
	for user, v := range users {
		if _, ok := env[v]; !ok {
			t.Errorf(".env.example does not name %s", v)
		}
		raw := nats.Environment[v]
		if !strings.Contains(raw, "${"+v+":?") {
			t.Errorf("nats: %s=%q, want ${%s:?…}: compose must refuse an unset or empty password", v, raw, v)
		}
		got, err := interpolate(raw, env)
		if err != nil || got != env[v] {
			t.Errorf("nats: %s=%q expands to %q (%v), want the password from .env", v, raw, got, err)
		}
		if _, err := interpolate(raw, map[string]string{}); err == nil {
			t.Errorf("nats: %s=%q expands without .env, want compose to stop", v, raw)
		}
		natsURL, err := interpolate(c.Services[user].Environment["NATS_URL"], env)
		if err != nil {
			t.Errorf("%s: NATS_URL: %v", user, err)
			continue
		}
		u, err := url.Parse(natsURL)
		if err != nil || u.User == nil {
			t.Errorf("%s: NATS_URL %q has no credentials", user, c.Services[user].Environment["NATS_URL"])
			continue
		}
		if pw, _ := u.User.Password(); u.User.Username() != user || pw != env[v] {
			t.Errorf("%s: NATS_URL connects as %q with the password %q, want %q with %s", user, u.User.Username(), pw, user, v)
		}
	}
	conf, err := os.ReadFile("../nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"$NATS_WORKER_PASSWORD", "$NATS_RESULT_PASSWORD", "no_auth_user"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("nats.conf does not hold %s", want)
		}
	}
}

func TestDockerfiles(t *testing.T) {
	for _, svc := range []string{"vote", "worker", "result"} {
		t.Run(svc, func(t *testing.T) {
			f, err := os.Open(filepath.Join("..", svc, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var froms, entry int
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				fields := strings.Fields(sc.Text())
				if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
					continue
				}
				switch strings.ToUpper(fields[0]) {
				case "FROM":
					froms++
				case "ENTRYPOINT":
					entry++
					if !strings.Contains(sc.Text(), `"/`+svc+`"`) {
						t.Errorf("ENTRYPOINT %q does not run /%s", sc.Text(), svc)
					}
				case "COPY":
					if strings.HasPrefix(fields[1], "--from") {
						continue
					}
					for _, src := range fields[1 : len(fields)-1] {
						if _, err := os.Stat(filepath.Join("..", src)); err != nil {
							t.Errorf("COPY source %s: %v", src, err)
						}
					}
				}
			}
			if froms < 2 || entry != 1 {
				t.Errorf("got %d FROM and %d ENTRYPOINT, want a multi-stage build with one entrypoint", froms, entry)
			}
		})
	}
}

// TestServicesBuildAlone builds each service outside the workspace, as its
// Dockerfile does: its go.mod and go.sum must be complete on their own.
func TestServicesBuildAlone(t *testing.T) {
	for _, svc := range []string{"vote", "worker", "result"} {
		t.Run(svc, func(t *testing.T) {
			cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
			cmd.Dir = filepath.Join("..", svc)
			cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("GOWORK=off go build in %s: %v\n%s", svc, err, out)
			}
		})
	}
}
