package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// usage is where the machine's CPU went during a measured window, and
// what the bench database's backends were waiting for: enough to say what
// bound a side (its configuration, the CPU, or a wait in Postgres) without
// guessing.
type usage struct {
	seconds float64
	cpus    int
	// CPU seconds by group: "server" (the bespin-api processes), "postgres"
	// (backends of the bench database), "pg_shared" (Postgres' background
	// processes: WAL writer, checkpointer, ...; they serve every database
	// on the server, so others' work lands here too), "bench" (this
	// process: the load, and River itself in the baselines), "other"
	// (everything else on the machine).
	cpu map[string]float64
	// waits counts pg_stat_activity samples of the bench database's
	// active backends by wait_event_type:wait_event ("CPU" when none) and
	// statement ("CPU in JobGetAvailable").
	waits   map[string]int
	samples int
}

// share is a group's CPU as a fraction of the whole machine.
func (u usage) share(group string) float64 {
	if u.seconds <= 0 {
		return 0
	}
	return u.cpu[group] / (u.seconds * float64(u.cpus))
}

// busy is the fraction of the machine's CPU in use.
func (u usage) busy() float64 {
	total := 0.0
	for _, v := range u.cpu {
		total += v
	}
	if u.seconds <= 0 {
		return 0
	}
	return total / (u.seconds * float64(u.cpus))
}

// figures adds the CPU split to a result's map (fractions of the machine).
func (u usage) figures(into map[string]float64) {
	into["cpu_machine"] = round(u.busy(), 3)
	for _, g := range []string{"server", "postgres", "pg_shared", "bench", "other"} {
		into["cpu_"+g] = round(u.share(g), 3)
	}
}

// perOp is the CPU one operation cost, in µs, when the window held ops of
// them: all of the work's own processes (server, Postgres, the bench; not
// "other"), and Postgres' part of it. Why it is reported: on this shared
// 2-core machine it moves far less from run to run than a rate does, and
// two sides that keep the machine equally busy (no pipeline here keeps it
// fully busy) run at rates in the inverse ratio of their CPU per operation,
// so it says what bounds a side that is bound by "neither configuration
// nor CPU".
func (u usage) perOp(ops float64) (all, pg float64) {
	if ops <= 0 {
		return 0, 0
	}
	for _, g := range []string{"server", "postgres", "pg_shared", "bench"} {
		all += u.cpu[g]
	}
	pg = u.cpu["postgres"] + u.cpu["pg_shared"]
	return round(all/ops*1e6, 1), round(pg/ops*1e6, 1)
}

// String summarises the split and the top waits.
func (u usage) String() string {
	s := fmt.Sprintf("CPU of %d cores %.0f%% busy: server %.0f%%, postgres %.0f%% (+%.0f%% shared background), bench %.0f%%, other %.0f%%",
		u.cpus, 100*u.busy(), 100*u.share("server"), 100*u.share("postgres"), 100*u.share("pg_shared"), 100*u.share("bench"), 100*u.share("other"))
	if u.samples > 0 {
		s += "; Postgres active backends (mean per sample): " + u.topWaits(6)
	}
	return s
}

func (u usage) topWaits(n int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range u.waits {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || (all[i].v == all[j].v && all[i].k < all[j].k) })
	var parts []string
	for i, e := range all {
		if i == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", e.k, float64(e.v)/float64(u.samples)))
	}
	if len(parts) == 0 {
		return "none active"
	}
	return strings.Join(parts, ", ")
}

// bound names what limited a throughput: the side's configuration when it
// reached most of what the configuration allows, else the CPU when the
// machine was saturated, else the top waits.
func (u usage) bound(rate, configCap float64, config string) string {
	switch {
	case configCap > 0 && rate >= 0.7*configCap:
		return fmt.Sprintf("configuration (%s allows at most %.0f/s)", config, configCap)
	case u.busy() >= 0.9:
		return fmt.Sprintf("CPU (machine %.0f%% busy; %s allows %.0f/s)", 100*u.busy(), config, configCap)
	default:
		return fmt.Sprintf("neither configuration (%s allows %.0f/s) nor CPU (%.0f%% busy): see the waits", config, configCap, 100*u.busy())
	}
}

// meter measures a window; stop returns the usage.
type meter struct {
	start     time.Time
	dbName    string
	servers   []int
	before    map[int]procCPU
	machine0  float64
	stopWaits func() (map[string]int, int)
}

type procCPU struct {
	group string
	secs  float64
}

// startMeter starts measuring: servers are the bespin-api pids, dbName the
// bench database (nil pool: no wait sampling).
func startMeter(ctx context.Context, pool *pgxpool.Pool, dbName string, servers ...int) *meter {
	m := &meter{start: time.Now(), dbName: dbName, servers: servers}
	m.before = m.procs()
	m.machine0 = machineBusy()
	m.stopWaits = sampleWaits(ctx, pool, dbName)
	return m
}

func (m *meter) stop() usage {
	after := m.procs()
	machine := machineBusy() - m.machine0
	u := usage{seconds: time.Since(m.start).Seconds(), cpus: runtime.NumCPU(), cpu: map[string]float64{}}
	ours := 0.0
	for pid, a := range after {
		d := a.secs
		if b, ok := m.before[pid]; ok {
			d -= b.secs
		}
		if d > 0 {
			u.cpu[a.group] += d
			ours += d
		}
	}
	// Processes that ended during the window are missed above; so is
	// everyone else's work: both land in "other".
	u.cpu["other"] = max(0, machine-ours)
	u.waits, u.samples = m.stopWaits()
	return u
}

// procs reads the CPU time of the processes the groups are made of.
func (m *meter) procs() map[int]procCPU {
	out := map[int]procCPU{}
	self := os.Getpid()
	servers := map[int]bool{}
	for _, p := range m.servers {
		servers[p] = true
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var group string
		switch {
		case pid == self:
			group = "bench"
		case servers[pid]:
			group = "server"
		default:
			cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || !bytes.HasPrefix(cmd, []byte("postgres")) {
				continue
			}
			title := string(cmd)
			switch {
			case strings.Contains(title, " "+m.dbName+" "):
				group = "postgres"
			case postgresBackground(title):
				group = "pg_shared"
			default:
				continue // another database's backend: someone else's
			}
		}
		if secs, ok := procSeconds(pid); ok {
			out[pid] = procCPU{group, secs}
		}
	}
	return out
}

// postgresBackground reports whether a process title is one of Postgres'
// shared processes (their work serves every database).
func postgresBackground(title string) bool {
	for _, s := range []string{"checkpointer", "background writer", "walwriter", "autovacuum launcher", "logical replication launcher", "archiver"} {
		if strings.HasSuffix(strings.TrimRight(title, "\x00 "), s) {
			return true
		}
	}
	return false
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// procSeconds is a process's user+system CPU time.
func procSeconds(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks, true
}

// machineBusy is the machine's busy CPU seconds since boot (all cores).
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	total := 0.0
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		total += n
	}
	return total / clockTicks
}

// sampleWaits samples what the bench database's active backends wait for,
// and in which statement (sqlc's query name, else the statement's first
// word), every 10 ms, until the returned function is called.
func sampleWaits(ctx context.Context, pool *pgxpool.Pool, dbName string) func() (map[string]int, int) {
	if pool == nil {
		return func() (map[string]int, int) { return nil, 0 }
	}
	ctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	waits := map[string]int{}
	samples := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rows, err := pool.Query(ctx, `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') || ' in ' ||
					coalesce(substring(query FROM '-- name: (\w+)'), lower(split_part(btrim(query, E' \n\t'), ' ', 1)))
				FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()`, dbName)
			if err != nil {
				continue
			}
			mu.Lock()
			for rows.Next() {
				var w string
				if rows.Scan(&w) == nil {
					waits[w]++
				}
			}
			samples++
			mu.Unlock()
			rows.Close()
		}
	}()
	return func() (map[string]int, int) {
		cancel()
		<-done
		return waits, samples
	}
}
