// Command bespin-bench measures Bespin beside its baselines, in one run, on
// one Postgres: it builds nothing itself (make bench builds bin/bespin-api),
// creates fresh databases, starts bespin-api as a separate process the way a
// user runs it, drives each scenario over real HTTP and WebSocket, runs the
// scenario's baseline on the same Postgres, and prints one JSON line per
// scenario followed by a table. Every ratio is Bespin's figure divided by
// its baseline's: above 1 is better for throughput, below 1 for latency.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type options struct {
	bin          string
	adminURL     string
	redisAddr    string
	scenarios    []string
	duration     time.Duration
	warmup       time.Duration
	concurrency  int
	jobs         int
	rounds       int
	jobWorkers   int
	drainWorkers int
	dbMaxConns   int
	cooldown     time.Duration
	cooldowns    []time.Duration
	rate         int
	burstRate    int
	burstFor     time.Duration
	burstAfter   time.Duration
	watchers     int
	watchJobs    int
	profileDir   string
	keep         bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "bespin-bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bespin-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var scenarios, cooldowns string
	fs.StringVar(&o.bin, "bin", "bin/bespin-api", "the bespin-api binary to measure")
	fs.StringVar(&o.adminURL, "database-url", envOr("BENCH_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"), "Postgres server (maintenance database); bench databases are created and dropped there")
	fs.StringVar(&o.redisAddr, "redis-addr", envOr("REDIS_ADDR", "127.0.0.1:6379"), "Redis address")
	fs.StringVar(&scenarios, "scenarios", "webhooks,jobs,e2e,e2e-burst,fanout", "comma-separated scenarios to run: "+strings.Join(scenarioNames(), ", "))
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measuring time of the webhooks and e2e scenarios (each side)")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "load before measuring starts in the webhooks and e2e scenarios (each side); its figures are dropped")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent clients in the webhooks scenario")
	fs.IntVar(&o.jobs, "jobs", 30000, "jobs drained in the jobs scenario")
	fs.IntVar(&o.rounds, "rounds", 5, "drains per side in the jobs scenario, alternating; the median round is reported")
	fs.IntVar(&o.jobWorkers, "job-workers", 50, "River MaxWorkers (JOB_WORKERS) in the e2e and cooldown scenarios, for Bespin and the River baselines alike")
	fs.IntVar(&o.drainWorkers, "drain-workers", 500, "River MaxWorkers in the jobs scenario, both sides: high enough that MaxWorkers/FetchCooldown does not bound the drain")
	fs.IntVar(&o.dbMaxConns, "db-max-conns", 25, "DB_MAX_CONNS of the bespin-api processes")
	fs.DurationVar(&o.cooldown, "fetch-cooldown", defaultFetchCooldown, "River FetchCooldown (JOB_FETCH_COOLDOWN), for Bespin and the River baselines alike")
	fs.StringVar(&cooldowns, "cooldowns", "5ms,10ms,20ms,50ms,100ms", "fetch cooldowns the cooldown scenario compares")
	fs.IntVar(&o.rate, "rate", 200, "jobs per second created in the e2e scenarios")
	fs.IntVar(&o.burstRate, "burst-rate", 1000, "jobs per second offered during the e2e-burst scenario's burst")
	fs.DurationVar(&o.burstFor, "burst-for", 5*time.Second, "length of the e2e-burst scenario's burst")
	fs.DurationVar(&o.burstAfter, "burst-after", 20*time.Second, "load at -rate after the burst in the e2e-burst scenario")
	fs.IntVar(&o.watchers, "watchers", 10000, "WebSocket watchers in the fanout scenario")
	fs.IntVar(&o.watchJobs, "watch-jobs", 100, "jobs the fanout watchers are spread across")
	fs.StringVar(&o.profileDir, "profile-dir", "", "if set, save a CPU profile of the server during each measured window there (<scenario>.pprof)")
	fs.BoolVar(&o.keep, "keep", false, "keep the bench databases (for inspection)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if _, ok := scenarioFuncs[s]; !ok {
				return fmt.Errorf("-scenarios: unknown scenario %q (have %s)", s, strings.Join(scenarioNames(), ", "))
			}
			o.scenarios = append(o.scenarios, s)
		}
	}
	if len(o.scenarios) == 0 {
		return fmt.Errorf("-scenarios: none given (have %s)", strings.Join(scenarioNames(), ", "))
	}
	for _, c := range strings.Split(cooldowns, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(c))
		if err != nil || d < time.Millisecond {
			return fmt.Errorf("-cooldowns: %q is not a duration of at least 1ms", c)
		}
		o.cooldowns = append(o.cooldowns, d)
	}
	if err := o.validate(); err != nil {
		return err
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return fmt.Errorf("-profile-dir: %w", err)
		}
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("%s: %w (run `make bench`, which builds it)", o.bin, err)
	}
	raiseFileLimit(stderr)

	var results []result
	for _, name := range o.scenarios {
		load := loadAvg()
		progress(stderr, "scenario %s (load average %s)", name, load)
		start := time.Now()
		res, err := scenarioFuncs[name](ctx, o, stderr)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		res.Scenario = name
		res.Seconds = time.Since(start).Seconds()
		res.Load = "load average (1, 5, 15 min) " + load + " before, " + loadAvg() + " after"
		line, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(line))
		results = append(results, res)
	}
	printTable(stdout, results)
	return nil
}

var scenarioFuncs = map[string]func(context.Context, options, io.Writer) (result, error){
	"webhooks":  runWebhooks,
	"jobs":      runJobs,
	"e2e":       runE2E,
	"e2e-burst": runE2EBurst,
	"cooldown":  runCooldownSweep,
	"fanout":    runFanout,
}

func scenarioNames() []string {
	return []string{"webhooks", "jobs", "e2e", "e2e-burst", "cooldown", "fanout"}
}

// defaultFetchCooldown is bespin-api's JOB_FETCH_COOLDOWN default, so the
// bench measures what users run unless told otherwise.
const defaultFetchCooldown = 10 * time.Millisecond

// validate says which flag is wrong and why.
func (o options) validate() error {
	for _, c := range []struct {
		name string
		ok   bool
		want string
	}{
		{"-duration", o.duration > 0, "a positive duration"},
		{"-warmup", o.warmup >= 0, "a duration of zero or more"},
		{"-concurrency", o.concurrency >= 1, "at least 1"},
		{"-jobs", o.jobs >= 1, "at least 1"},
		{"-rounds", o.rounds >= 1 && o.rounds <= 20, "from 1 to 20"},
		{"-job-workers", o.jobWorkers >= 1 && o.jobWorkers <= 10000, "from 1 to 10000"},
		{"-drain-workers", o.drainWorkers >= 1 && o.drainWorkers <= 10000, "from 1 to 10000"},
		{"-db-max-conns", o.dbMaxConns >= 2, "at least 2"},
		{"-fetch-cooldown", o.cooldown >= time.Millisecond, "at least 1ms (River's minimum)"},
		{"-rate", o.rate >= 1, "at least 1"},
		{"-burst-rate", o.burstRate >= 1, "at least 1"},
		{"-burst-for", o.burstFor > 0, "a positive duration"},
		{"-burst-after", o.burstAfter >= 10*time.Second, "at least 10s (its last 10 s are measured)"},
		{"-watchers", o.watchers >= 1, "at least 1"},
		{"-watch-jobs", o.watchJobs >= 1 && o.watchJobs <= o.watchers, "from 1 to -watchers"},
	} {
		if !c.ok {
			return fmt.Errorf("%s must be %s", c.name, c.want)
		}
	}
	return nil
}

// result is one scenario's figures. Bespin and Baseline hold the same keys.
type result struct {
	Scenario string             `json:"scenario"`
	Bespin   map[string]float64 `json:"bespin"`
	Baseline map[string]float64 `json:"baseline,omitempty"`
	// Ratio is Bespin's figure over the baseline's for each compared key
	// (for throughput higher is better; for latency lower is better).
	Ratio   map[string]float64 `json:"ratio,omitempty"`
	Notes   string             `json:"notes,omitempty"`
	Load    string             `json:"load"`
	Seconds float64            `json:"seconds"`
}

func (r *result) compare(keys ...string) {
	r.Ratio = map[string]float64{}
	for _, k := range keys {
		if b := r.Baseline[k]; b != 0 {
			r.Ratio[k] = round(r.Bespin[k]/b, 3)
		}
	}
}

func printTable(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nscenario\tmetric\tbespin\tbaseline\tratio")
	for _, r := range results {
		for _, k := range sortedKeys(r.Bespin) {
			base, ratio := "", ""
			if v, ok := r.Baseline[k]; ok {
				base = fmt.Sprint(round(v, 3))
			}
			if v, ok := r.Ratio[k]; ok {
				ratio = fmt.Sprint(v)
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", r.Scenario, k, round(r.Bespin[k], 3), base, ratio)
		}
	}
	tw.Flush()
	for _, r := range results {
		fmt.Fprintf(w, "%s: %s\n", r.Scenario, r.Load)
	}
}

func progress(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func raiseFileLimit(stderr io.Writer) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			progress(stderr, "could not raise the open-file limit: %v", err)
		}
	}
}
