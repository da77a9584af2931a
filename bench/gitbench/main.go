// Command gitbench measures Ferry's git side against the git CLI on a
// generated repository: time and peak RSS of the first mirror, a poll with
// nothing new and a poll after one new commit, next to git clone --mirror,
// git ls-remote and git fetch, all against the same git daemon in the same
// run. Each operation runs in its own process so its peak RSS is its own.
//
//	go run ./bench/gitbench -commits 100000 -runs 3
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/watch"
	"github.com/go-git/go-git/v5/plumbing"
)

func main() {
	op := flag.String("op", "", "internal: run one Ferry operation (mirror|poll|warm|compact) and exit")
	dir := flag.String("dir", "", "internal: state directory for -op")
	url := flag.String("url", "", "internal: remote URL for -op")
	push := flag.String("push", "", "internal: <work dir>|<push URL> for -op warm")
	commits := flag.Int("commits", 100000, "commits in the generated repository")
	runs := flag.Int("runs", 3, "runs of each measurement (medians reported)")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.Parse()
	if *op != "" {
		if err := ferryOp(*op, *dir, *url, *push); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(*commits, *runs, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "gitbench:", err)
		os.Exit(1)
	}
}

// ferryOp is one Ferry poll as the agent does it: open the mirror and the
// watcher state, list the remote, fetch what moved.
func ferryOp(op, dir, url, push string) error {
	m, err := watch.OpenMirror(watch.MirrorOptions{Dir: filepath.Join(dir, "mirror"), URL: url})
	if err != nil {
		return err
	}
	if op == "compact" {
		did, err := m.Compact(watch.CompactPolicy{Force: true}, time.Now())
		if err != nil || !did {
			return fmt.Errorf("compact: %v, %w", did, err)
		}
		st, err := m.Stats()
		fmt.Fprintf(os.Stderr, "after compaction: %+v\n", st)
		return err
	}
	w, err := watch.New(watch.Options{Mirror: m, StateDir: dir, NotesRef: config.DefaultNotesRef, Rules: []watch.Rule{{Env: "staging", Branch: "main"}}})
	if err != nil {
		return err
	}
	ts, err := w.Poll(context.Background())
	if err != nil {
		return err
	}
	if op == "warm" {
		// The agent is long-lived: measure a poll after one new commit in
		// a process that has already polled and read the history once.
		cur, ok := w.Current("staging")
		if !ok {
			return fmt.Errorf("warm: no current target")
		}
		h := plumbing.NewHash(cur.Commit.String())
		if _, err := m.IsAncestor(h, h); err != nil {
			return err
		}
		parts := strings.SplitN(push, "|", 2)
		if err := newCommit(parts[0], os.Environ(), "warm"); err != nil {
			return err
		}
		c := exec.Command("git", "push", "-q", parts[1], "HEAD:main")
		c.Dir = parts[0]
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("git push: %w: %s", err, out)
		}
		start := time.Now()
		ts, err = w.Poll(context.Background())
		if err != nil {
			return err
		}
		if len(ts) != 1 {
			return fmt.Errorf("warm poll emitted %d targets", len(ts))
		}
		fmt.Fprintf(os.Stderr, "gitbench-warm %d\n", time.Since(start).Microseconds())
		return nil
	}
	if op == "mirror" && len(ts) != 1 {
		return fmt.Errorf("first mirror emitted %d targets", len(ts))
	}
	fmt.Fprintln(os.Stderr, "targets:", len(ts))
	return nil
}

type sample struct {
	wall time.Duration
	rss  int64 // KiB
	warm time.Duration
}

// measure runs cmd under GNU time for its peak RSS: Go starts children with
// vfork, so a child's own rusage would start from this process's RSS.
func measure(cmd *exec.Cmd) (sample, error) {
	args := append([]string{"-f", "gitbench-maxrss %M"}, cmd.Args...)
	args[2] = cmd.Path
	timed := exec.Command("/usr/bin/time", args...)
	timed.Dir, timed.Env = cmd.Dir, cmd.Env
	var stderr strings.Builder
	timed.Stderr = &stderr
	start := time.Now()
	if err := timed.Run(); err != nil {
		return sample{}, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	wall := time.Since(start)
	var rss int64
	var warm time.Duration
	for _, line := range strings.Split(stderr.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "gitbench-maxrss "); ok {
			rss, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
		if v, ok := strings.CutPrefix(line, "gitbench-warm "); ok {
			us, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			warm = time.Duration(us) * time.Microsecond
		}
	}
	if rss == 0 {
		return sample{}, fmt.Errorf("no peak RSS from /usr/bin/time: %s", stderr.String())
	}
	return sample{wall: wall, rss: rss, warm: warm}, nil
}

func run(commits, runs int, keep bool) error {
	work, err := os.MkdirTemp("", "gitbench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(work)
	} else {
		fmt.Fprintln(os.Stderr, "work dir:", work)
	}
	// No inherited GIT_ variables: a GIT_DIR from a hook would turn every
	// command below (fast-import, repack, commit) on that repository.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	env = append(env, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=B", "GIT_AUTHOR_EMAIL=b@example.com", "GIT_COMMITTER_NAME=B", "GIT_COMMITTER_EMAIL=b@example.com")
	git := func(dir string, args ...string) error {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	root := filepath.Join(work, "srv")
	repo := filepath.Join(root, "app.git")
	if err := git("", "init", "-q", "--bare", "-b", "main", repo); err != nil {
		return err
	}
	t0 := time.Now()
	if err := generate(repo, env, commits); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "generated %d commits in %v\n", commits, time.Since(t0).Round(time.Millisecond))

	port, stop, err := daemon(root, env)
	if err != nil {
		return err
	}
	defer stop()
	url := fmt.Sprintf("git://127.0.0.1:%d/app.git", port)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ferry := func(op, dir string) *exec.Cmd {
		c := exec.Command(self, "-op", op, "-dir", dir, "-url", url)
		c.Env = env
		return c
	}
	gitCmd := func(dir string, args ...string) *exec.Cmd {
		c := exec.Command("git", args...)
		c.Dir, c.Env = dir, env
		return c
	}
	pusher := filepath.Join(work, "pusher")
	if err := git("", "clone", "-q", "--depth=1", "file://"+repo, pusher); err != nil {
		return err
	}

	results := map[string][]sample{}
	add := func(name string, c *exec.Cmd) error {
		s, err := measure(c)
		if err != nil {
			return err
		}
		results[name] = append(results[name], s)
		fmt.Fprintf(os.Stderr, "%-28s %8.3fs %8d KiB %v\n", name, s.wall.Seconds(), s.rss, s.warm)
		return nil
	}
	for r := range runs {
		fdir := filepath.Join(work, fmt.Sprintf("ferry%d", r))
		gdir := filepath.Join(work, fmt.Sprintf("git%d.git", r))
		if err := add("ferry first mirror", ferry("mirror", fdir)); err != nil {
			return err
		}
		if err := add("git clone --mirror", gitCmd("", "clone", "-q", "--mirror", url, gdir)); err != nil {
			return err
		}
		if err := add("ferry poll, nothing new", ferry("poll", fdir)); err != nil {
			return err
		}
		if err := add("git ls-remote", gitCmd("", "ls-remote", url)); err != nil {
			return err
		}
		// One new commit changing one file, pushed as a person would.
		if err := newCommit(pusher, env, fmt.Sprintf("new %d", r)); err != nil {
			return err
		}
		if err := git(pusher, "push", "-q", "file://"+repo, "HEAD:main"); err != nil {
			return err
		}
		if err := add("ferry poll, one new commit", ferry("poll", fdir)); err != nil {
			return err
		}
		if err := add("git fetch", gitCmd(gdir, "fetch", "-q", "origin")); err != nil {
			return err
		}
	}
	for r := range runs {
		fdir := filepath.Join(work, fmt.Sprintf("ferry%d", r))
		c := ferry("warm", fdir)
		c.Args = append(c.Args, "-push", pusher+"|file://"+repo)
		if err := add("ferry warm poll", c); err != nil {
			return err
		}
		if err := add("ferry compact (merge)", ferry("compact", fdir)); err != nil {
			return err
		}
	}
	report(os.Stdout, commits, runs, results)
	return nil
}

func median(ss []sample) sample {
	w := make([]time.Duration, len(ss))
	r := make([]int64, len(ss))
	for i, s := range ss {
		w[i], r[i] = s.wall, s.rss
	}
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	sort.Slice(r, func(i, j int) bool { return r[i] < r[j] })
	m := make([]time.Duration, len(ss))
	for i, s := range ss {
		m[i] = s.warm
	}
	sort.Slice(m, func(i, j int) bool { return m[i] < m[j] })
	return sample{wall: w[len(w)/2], rss: r[len(r)/2], warm: m[len(m)/2]}
}

func report(out io.Writer, commits, runs int, res map[string][]sample) {
	fmt.Fprintf(out, "Repository: %d commits; median of %d runs; git %s; %s.\n\n", commits, runs, gitVersion(), time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintln(out, "| operation | Ferry time | Ferry peak RSS | git | git time | git peak RSS | time ratio | RSS ratio |")
	fmt.Fprintln(out, "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
	pairs := [][2]string{
		{"ferry first mirror", "git clone --mirror"},
		{"ferry poll, nothing new", "git ls-remote"},
		{"ferry poll, one new commit", "git fetch"},
	}
	for _, p := range pairs {
		f, g := median(res[p[0]]), median(res[p[1]])
		fmt.Fprintf(out, "| %s | %.3f s | %.1f MiB | `%s` | %.3f s | %.1f MiB | %.2f× | %.2f× |\n",
			strings.TrimPrefix(p[0], "ferry "), f.wall.Seconds(), float64(f.rss)/1024, p[1], g.wall.Seconds(), float64(g.rss)/1024,
			f.wall.Seconds()/g.wall.Seconds(), float64(f.rss)/float64(g.rss))
	}
	w := median(res["ferry warm poll"])
	c := median(res["ferry compact (merge)"])
	g := median(res["git fetch"])
	fmt.Fprintf(out, "\nIn a long-lived process that has polled before (the agent's steady state), a poll after one new commit takes %.3f s (%.2f× `git fetch`); that process peaks at %.1f MiB.\n",
		w.warm.Seconds(), w.warm.Seconds()/g.wall.Seconds(), float64(w.rss)/1024)
	fmt.Fprintf(out, "Compaction (merging the packs of recent fetches beside the base pack), as its own process: %.3f s, %.1f MiB peak.\n",
		c.wall.Seconds(), float64(c.rss)/1024)
}

func gitVersion() string {
	out, _ := exec.Command("git", "--version").Output()
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "git version ")
}

// generate writes commits with git fast-import: a tree of 200 files in 20
// directories, each commit changing one file.
func generate(repo string, env []string, commits int) error {
	cmd := exec.Command("git", "fast-import", "--quiet", "--done")
	cmd.Dir, cmd.Env = repo, env
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriterSize(in, 1<<20)
	ts := int64(1600000000)
	for i := 1; i <= commits; i++ {
		fmt.Fprintf(w, "commit refs/heads/main\ncommitter B <b@example.com> %d +0000\n", ts+int64(i))
		msg := fmt.Sprintf("change %d\n", i)
		fmt.Fprintf(w, "data %d\n%s", len(msg), msg)
		if i == 1 {
			for f := range 200 {
				body := fmt.Sprintf("file %d version 0\n%s", f, strings.Repeat("line of content\n", 20))
				fmt.Fprintf(w, "M 100644 inline d%02d/f%03d.txt\ndata %d\n%s", f%20, f, len(body), body)
			}
		} else {
			f := i % 200
			body := fmt.Sprintf("file %d version %d\n%s", f, i, strings.Repeat("line of content\n", 20))
			fmt.Fprintf(w, "M 100644 inline d%02d/f%03d.txt\ndata %d\n%s", f%20, f, len(body), body)
		}
		w.WriteString("\n")
	}
	w.WriteString("done\n")
	if err := w.Flush(); err != nil {
		return err
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("fast-import: %w: %s", err, stderr.String())
	}
	// Serve one pack, as a long-lived server repository would be.
	c := exec.Command("git", "repack", "-adq")
	c.Dir, c.Env = repo, env
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("repack: %w: %s", err, out)
	}
	return nil
}

func daemon(root string, env []string) (int, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1", "--port="+strconv.Itoa(port), "--base-path="+root, root)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	stop := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }
	for range 200 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return port, stop, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	stop()
	return 0, nil, fmt.Errorf("git daemon did not start")
}

// newCommit changes one file in the working clone dir and commits it.
func newCommit(dir string, env []string, msg string) error {
	f := filepath.Join(dir, "d00", "f000.txt")
	old, err := os.ReadFile(f)
	if err != nil {
		return err
	}
	if err := os.WriteFile(f, append(old, []byte(msg+"\n")...), 0o644); err != nil {
		return err
	}
	c := exec.Command("git", "commit", "-q", "-a", "-m", msg)
	c.Dir, c.Env = dir, env
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("git commit: %w: %s", err, out)
	}
	return nil
}
