package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// No Docker engine runs where the tests run, so the Dockerfiles are
// checked by parsing: they copy only what exists and run one binary.
// compose.yml is checked in compose_test.go.

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
