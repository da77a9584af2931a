package machines_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

// BenchmarkBoot boots N machines at once (N = 1, 4, 8) and reports the
// time to all running, and per machine the memory of its processes
// (proportional set size, so shared pages count once) and the disk of its
// writable layer.
func BenchmarkBoot(b *testing.B) {
	for _, n := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("machines=%d", n), func(b *testing.B) {
			var pss, disk float64
			for range b.N {
				p, d := bootMany(b, n)
				pss, disk = p, d
			}
			b.ReportMetric(pss/float64(n), "PSS-MB/machine")
			b.ReportMetric(disk/float64(n), "disk-MB/machine")
		})
	}
}

func bootMany(b *testing.B, n int) (pssMB, diskMB float64) {
	b.StopTimer()
	h, base := benchHost(b)
	defer h.Close(context.Background())
	b.StartTimer()
	ms := make([]*machines.Machine, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m, err := h.Boot(b.Context(), machines.Spec{Name: fmt.Sprintf("i-bench%d", i), Image: base})
			if err == nil {
				err = m.WaitRunning(b.Context())
			}
			ms[i], errs[i] = m, err
		})
	}
	wg.Wait()
	b.StopTimer()
	defer b.StartTimer()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	// Let cloud-init's last stage finish before measuring.
	time.Sleep(2 * time.Second)
	for _, m := range ms {
		pssMB += float64(treePSS(m.PID())) / 1024
		diskMB += float64(duKB(filepath.Join(m.Dir(), "upper"))) / 1024
	}
	return pssMB, diskMB
}

func benchHost(b *testing.B) (*machines.Host, string) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	store, err := machines.OpenStore(machines.DefaultCacheDir, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	layer, err := store.BaseImage(b.Context(), machines.DefaultRecipe(), machines.BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := machines.Open(b.Context(), machines.Options{StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	return h, layer.ID
}

// treePSS sums Pss (kB) over pid and its descendants.
func treePSS(pid int) int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			children[pp] = append(children[pp], p)
		}
	}
	total := 0
	var walk func(int)
	walk = func(p int) {
		total += pssKB(p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	return total
}

func pssKB(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}

// duKB is the disk used by the files under dir, in kB.
func duKB(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				total += st.Blocks * 512 / 1024
			}
		}
		return nil
	})
	return total
}
