package e2e

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// imagePackages are the Dockerfiles compose.yml builds, all with the
// repository root as context, and the program each builds.
var imagePackages = map[string]string{"vote/Dockerfile": "livevote/vote", "worker/Dockerfile": "livevote/worker",
	"result/Dockerfile": "livevote/result", "e2e/seed/Dockerfile": "livevote/e2e/seed"}

// TestDockerignore applies .dockerignore to the repository as Docker does
// (its own reader and matcher, moby/patternmatcher) and checks the build
// context: every file an image's COPY needs to build is in it; history,
// local service data, binaries, secrets and browser test files are not;
// and it stays small.
func TestDockerignore(t *testing.T) {
	f, err := os.Open("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(path string) bool {
		ex, err := pm.MatchesOrParentMatches(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return ex
	}

	// Needed: every file go build reads for the image's program (its
	// packages' Go and embedded files, their modules' go.mod and go.sum),
	// in the context and copied by the Dockerfile.
	for df, pkg := range imagePackages {
		sources := copySources(t, df)
		files := buildFiles(t, pkg)
		if len(files) < 2 {
			t.Fatalf("%s: go list found %d files", pkg, len(files))
		}
		for _, file := range files {
			if excluded(file) {
				t.Errorf("%s builds %s from %s, which .dockerignore leaves out", df, pkg, file)
			}
			if !slices.ContainsFunc(sources, func(src string) bool {
				return file == src || strings.HasPrefix(file, strings.TrimSuffix(src, "/")+"/")
			}) {
				t.Errorf("%s builds %s from %s, which no COPY of it copies (%v)", df, pkg, file, sources)
			}
		}
	}

	// Never sent, whether the file exists here or not.
	for _, path := range []string{".git/HEAD", ".env", ".env.local", ".data/postgres/PG_VERSION", "bin/vote",
		"vote/vote", "worker/worker", "result/result", "e2e/node_modules/axe-core/axe.js", "docs/screenshots/vote.png",
		"e2e/harness_test.go", "e2e/testdata/x", "e2e.test", "vote/internal/web/web.test", "cpu.out"} {
		if !excluded(path) {
			t.Errorf(".dockerignore lets %s into the build context", path)
		}
	}

	// What this work tree would send, its untracked files included.
	var size int64
	var files int
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if excluded(rel) {
			if d.IsDir() && !reincludes(pm, rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			size += info.Size()
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build context: %d files, %.1f MB", files, float64(size)/1e6)
	if size > 10e6 {
		t.Errorf("the build context holds %.1f MB, want under 10 MB", float64(size)/1e6)
	}
}

// buildFiles lists the files of this repository that go build reads for
// pkg, relative to the repository root: the Go and embedded files of every
// package it imports from here, and those modules' go.mod and go.sum.
func buildFiles(t *testing.T, pkg string) []string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-deps", "-f",
		`{{if not .Standard}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}`+
			`{{with .Module}} {{.GoMod}}{{end}}{{end}}`, pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	seen := map[string]bool{}
	var files []string
	add := func(path string) {
		rel, err := filepath.Rel(root, path)
		if err != nil || strings.HasPrefix(rel, "..") || seen[rel] {
			return // a module of the module cache: the image downloads it
		}
		if _, err := os.Stat(path); err != nil {
			return // a module without go.sum
		}
		seen[rel] = true
		files = append(files, filepath.ToSlash(rel))
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		dir := fields[0]
		for _, f := range fields[1:] {
			if filepath.IsAbs(f) { // the module's go.mod
				add(f)
				add(filepath.Join(filepath.Dir(f), "go.sum"))
				continue
			}
			add(filepath.Join(dir, f))
		}
	}
	return files
}

// reincludes reports whether an exception (!pattern) may bring back
// something under the excluded folder dir, so the walk must go in.
func reincludes(pm *patternmatcher.PatternMatcher, dir string) bool {
	for _, p := range pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String(), dir+"/") {
			return true
		}
	}
	return false
}

// copySources are the sources of a Dockerfile's COPY instructions from the
// context (not --from another stage).
func copySources(t *testing.T, dockerfile string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !strings.EqualFold(fields[0], "COPY") || strings.HasPrefix(fields[1], "--from") {
			continue
		}
		out = append(out, fields[1:len(fields)-1]...)
	}
	if len(out) == 0 {
		t.Fatalf("%s copies nothing from the context", dockerfile)
	}
	return out
}
