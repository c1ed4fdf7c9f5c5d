package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// runBinary runs a binary of binDir (or path, when it has a slash) with
// args and env, and returns its stdout, stderr and exit code.
func runBinary(t *testing.T, path string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if !strings.Contains(path, "/") {
		path = filepath.Join(binDir, path)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// versionLine is what -version prints: "<binary> <version> (revision <rev>, <go>)".
var versionLine = regexp.MustCompile(`^(vote|worker|result) (\S+) \(revision (\S+), (go\S+)\)\n$`)

// TestVersionFlag: every binary answers -version with its build and exits
// 0 without starting (no setting needed); -h too; an unknown argument is
// exit 1 with the usage. The version is the one its build_info reports.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"vote", "worker", "result"} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := runBinary(t, name, nil, "-version")
			m := versionLine.FindStringSubmatch(out)
			if code != 0 || m == nil || m[1] != name || m[4] != runtime.Version() || errOut != "" {
				t.Errorf("-version: exit %d, stdout %q, stderr %q; want exit 0 and %q", code, out, errOut,
					name+" <version> (revision <revision>, "+runtime.Version()+")")
			}
			out, _, code = runBinary(t, name, nil, "-h")
			if code != 0 || !strings.HasPrefix(out, "usage: "+name+" [-version] [") {
				t.Errorf("-h: exit %d, stdout %q; want exit 0 and the usage", code, out)
			}
			out, errOut, code = runBinary(t, name, nil, "serve")
			if code != 1 || out != "" || !strings.Contains(errOut, name+`: unknown arguments ["serve"]; usage: `+name+" [-version]") {
				t.Errorf("serve: exit %d, stdout %q, stderr %q; want exit 1 and the usage", code, out, errOut)
			}
		})
	}

	t.Run("build_info", func(t *testing.T) {
		e := newEnv(t)
		p := e.start("vote")
		out, _, _ := runBinary(t, "vote", nil, "-version")
		m := versionLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("-version printed %q", out)
		}
		f := scrape(t, p)["build_info"]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("build_info: %v, want one series", f)
		}
		got := map[string]string{}
		for _, l := range f.GetMetric()[0].GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if got["version"] != m[2] || got["revision"] != m[3] || got["goversion"] != m[4] {
			t.Errorf("build_info labels %v, want version %s, revision %s, goversion %s as -version says", got, m[2], m[3], m[4])
		}
	})
}

// TestMakeBuildStampsVersion: make build stamps VERSION and the commit in
// every binary, and VERSION defaults to git describe.
func TestMakeBuildStampsVersion(t *testing.T) {
	t.Parallel()
	gitOut := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = ".."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	head := gitOut("rev-parse", "HEAD")

	bin := t.TempDir()
	cmd := exec.Command("make", "-s", "build", "BIN="+bin, "VERSION=v1.2.3-e2e")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	for _, name := range []string{"vote", "worker", "result"} {
		out, _, code := runBinary(t, filepath.Join(bin, name), nil, "-version")
		want := name + " v1.2.3-e2e (revision " + head + ", " + runtime.Version() + ")\n"
		if code != 0 || out != want {
			t.Errorf("%s -version: exit %d, %q; want %q", name, code, out, want)
		}
	}

	// Without VERSION: what git describe says (the dry run shows the
	// command; "-dirty" left aside, since others' work may come and go).
	cmd = exec.Command("make", "-n", "build", "BIN="+bin)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	describe := strings.TrimSuffix(gitOut("describe", "--tags", "--always", "--dirty"), "-dirty")
	if !strings.Contains(string(out), "-X livevote/shared/buildinfo.version="+describe) {
		t.Errorf("make build without VERSION runs\n%s\nwant -X livevote/shared/buildinfo.version=%s (git describe)", out, describe)
	}
}

// TestHealthcheckSubcommand: `<binary> healthcheck`, run beside the server
// with the same settings (as a container engine runs it), exits 0 while
// the server answers /healthz and 1 once it is gone; with -ready it asks
// /readyz, so a server whose dependency is down is live but not ready.
func TestHealthcheckSubcommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result, worker, vote := e.startAll()
	for _, p := range []*proc{vote, worker, result} {
		t.Run(p.name, func(t *testing.T) {
			for _, args := range [][]string{{"healthcheck"}, {"healthcheck", "-ready"}} {
				path := "/healthz"
				if len(args) == 2 {
					path = "/readyz"
				}
				out, errOut, code := runBinary(t, p.name, p.cmd.Env, args...)
				if code != 0 || !strings.HasPrefix(out, "GET "+p.url(path)+" answered 200 OK") {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 0 and the answer", args, code, out, errOut)
				}
			}
			if err := p.stop(15 * time.Second); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := runBinary(t, p.name, p.cmd.Env, "healthcheck", "-timeout", "1s")
			if code != 1 || out != "" || !strings.HasPrefix(errOut, p.name+": healthcheck: ") || !strings.Contains(errOut, "connection refused") {
				t.Errorf("server stopped: exit %d, stdout %q, stderr %q; want exit 1 and connection refused", code, out, errOut)
			}
		})
	}

	t.Run("not ready", func(t *testing.T) {
		p := e.start("vote", "REDIS_URL=redis://"+freeAddr(t)+"/0")
		if _, errOut, code := runBinary(t, "vote", p.cmd.Env, "healthcheck"); code != 0 {
			t.Errorf("healthcheck: exit %d (%s), want 0: the process serves", code, errOut)
		}
		out, errOut, code := runBinary(t, "vote", p.cmd.Env, "healthcheck", "-ready")
		if code != 1 || out != "" || !strings.Contains(errOut, "answered 503 Service Unavailable") || !strings.Contains(errOut, `"failing":"redis"`) {
			t.Errorf("healthcheck -ready: exit %d, stdout %q, stderr %q; want exit 1 naming redis", code, out, errOut)
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		_, errOut, code := runBinary(t, "vote", os.Environ(), "healthcheck", "-wait")
		if code != 1 || !strings.Contains(errOut, "flag provided but not defined: -wait; usage: healthcheck [-ready] [-timeout 2s]") {
			t.Errorf("healthcheck -wait: exit %d, stderr %q; want exit 1 and the usage", code, errOut)
		}
	})
}
