package e2e

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"livevote/shared/servicetest"
)

// A cluster is a Redis (append-only), a PostgreSQL and a NATS of the test's
// own, on free loopback ports in a temporary folder, that the test can kill
// and restart. The fault suite runs the real binaries against it.
type cluster struct {
	t     testing.TB
	dir   string
	redis *server
	pg    *server
	nats  *server
	// natsPasswords are the passwords of nats.conf's users, made up for
	// this cluster.
	natsPasswords map[string]string
}

// server is one dependency process.
type server struct {
	t     testing.TB
	name  string
	port  int
	start func() *exec.Cmd
	// crash, when set, ends the server the way it crashes; else SIGKILL.
	crash func()
	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir}
	c.redis = c.newRedis()
	c.pg = c.newPostgres()
	c.nats = c.newNATS()
	for _, s := range []*server{c.redis, c.pg, c.nats} {
		s.up()
	}
	t.Cleanup(func() {
		for _, s := range []*server{c.redis, c.pg, c.nats} {
			s.kill()
		}
	})
	return c
}

func (c *cluster) redisURL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", c.redis.port) }
func (c *cluster) natsURL() string  { return fmt.Sprintf("nats://127.0.0.1:%d", c.nats.port) }

// natsURLAs is the cluster's NATS with the credentials of one of nats.conf's
// users, worker or result.
func (c *cluster) natsURLAs(user string) string {
	return fmt.Sprintf("nats://%s:%s@127.0.0.1:%d", user, c.natsPasswords[user], c.nats.port)
}
func (c *cluster) dbURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.pg.port)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (c *cluster) newRedis() *server {
	port := freePort(c.t)
	data := filepath.Join(c.dir, "redis")
	if err := os.MkdirAll(data, 0o755); err != nil {
		c.t.Fatal(err)
	}
	return &server{t: c.t, name: "redis", port: port, start: func() *exec.Cmd {
		// Append-only with appendfsync always, the setting under which the
		// contract promises that nothing acknowledged is lost. With everysec
		// the write to the file usually precedes the reply, but Redis may
		// postpone it (up to 2 s) while a slow background fsync runs and
		// still reply: a kill -9 then loses acknowledged votes, as the
		// contract allows for everysec (seen here once under load).
		return exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", data, "--appendonly", "yes", "--appendfsync", "always", "--save", "")
	}}
}

func (c *cluster) newNATS() *server {
	port, monitor := freePort(c.t), freePort(c.t)
	conf, err := filepath.Abs("../nats.conf")
	if err != nil {
		c.t.Fatal(err)
	}
	// A letter first: nats-server reads a value that starts with a digit
	// as a number ("2K…" is a size, "7E5…" a float), and then refuses it.
	c.natsPasswords = map[string]string{"worker": "p" + rand.Text(), "result": "p" + rand.Text()}
	return &server{t: c.t, name: "nats", port: port, start: func() *exec.Cmd {
		cmd := exec.Command("nats-server", "-c", conf, "-a", "127.0.0.1",
			"-p", strconv.Itoa(port), "-m", strconv.Itoa(monitor))
		cmd.Env = append(os.Environ(),
			"NATS_WORKER_PASSWORD="+c.natsPasswords["worker"],
			"NATS_RESULT_PASSWORD="+c.natsPasswords["result"])
		return cmd
	}}
}

// pgTemplate is a PostgreSQL data folder made once by initdb and copied for
// each cluster (initdb takes seconds, a copy a fraction of that).
var pgTemplate struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func pgBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb) found: install postgresql")
}

// asPostgres runs cmd as the postgres user when the tests run as root:
// PostgreSQL refuses to run as root.
func asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() != 0 {
		return exec.Command(name, args...)
	}
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
}

func chownPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs a postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func (c *cluster) newPostgres() *server {
	pgTemplate.once.Do(func() {
		pgTemplate.bin, pgTemplate.err = pgBin()
		if pgTemplate.err != nil {
			return
		}
		dir, err := os.MkdirTemp("", "livevote-pgtemplate-")
		if err != nil {
			pgTemplate.err = err
			return
		}
		pgTemplate.dir = filepath.Join(dir, "data")
		if err := os.Chmod(dir, 0o755); err != nil {
			pgTemplate.err = err
			return
		}
		if err := chownPostgres(dir); err != nil {
			pgTemplate.err = err
			return
		}
		out, err := asPostgres(filepath.Join(pgTemplate.bin, "initdb"), "-D", pgTemplate.dir,
			"-U", "postgres", "--auth=trust", "-E", "UTF8").CombinedOutput()
		if err != nil {
			pgTemplate.err = fmt.Errorf("initdb: %v\n%s", err, out)
		}
	})
	if pgTemplate.err != nil {
		c.t.Fatal(pgTemplate.err)
	}
	port := freePort(c.t)
	root := filepath.Join(c.dir, "pg")
	data := filepath.Join(root, "data")
	if err := os.MkdirAll(root, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", pgTemplate.dir, data).CombinedOutput(); err != nil {
		c.t.Fatalf("copying the PostgreSQL template: %v\n%s", err, out)
	}
	// t.TempDir and its parent are private to their owner; the postgres
	// user must reach the data folder.
	_ = os.Chmod(c.dir, 0o755)
	_ = os.Chmod(filepath.Dir(c.dir), 0o755)
	if err := chownPostgres(root); err != nil {
		c.t.Fatal(err)
	}
	_ = os.Chmod(data, 0o700)
	return &server{t: c.t, name: "postgres", port: port, crash: func() {
		// An immediate shutdown: no checkpoint, crash recovery at the next
		// start; a SIGKILL of the postmaster would leave its backends holding
		// the shared memory that the next start needs.
		_ = asPostgres(filepath.Join(pgTemplate.bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run()
	}, start: func() *exec.Cmd {
		// fsync off: the suite kills processes, not the machine, and what a
		// killed PostgreSQL wrote is in the page cache either way.
		return asPostgres(filepath.Join(pgTemplate.bin, "postgres"), "-D", data,
			"-p", strconv.Itoa(port), "-k", root, "-c", "listen_addresses=127.0.0.1",
			"-c", "fsync=off", "-c", "max_connections=200")
	}}
}

// up starts the server and waits until its port accepts connections.
func (s *server) up() {
	s.t.Helper()
	s.mu.Lock()
	cmd := s.start()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &servicetest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("starting %s: %v", s.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s did not listen on port %d within 30s", s.name, s.port)
		}
		select {
		case <-done:
			s.t.Fatalf("%s exited at start:\n%s", s.name, tail(out.String(), 20))
		case <-time.After(20 * time.Millisecond):
		}
	}
	if s.name == "postgres" {
		// Accepting connections is not accepting queries: wait for recovery.
		waitFor(s.t, 30*time.Second, "postgres to accept queries", func() bool {
			out, err := exec.Command("psql", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "postgres",
				"-Atc", "SELECT 1").CombinedOutput()
			return err == nil && string(out) == "1\n"
		})
	}
}

// kill ends the server at once: SIGKILL to its process group, or its own
// crash for PostgreSQL.
func (s *server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	if s.crash != nil {
		s.crash()
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// restart kills the server, waits down for a while, and starts it again.
func (s *server) restart(down time.Duration) {
	s.kill()
	time.Sleep(down)
	s.up()
}
