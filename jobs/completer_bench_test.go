package jobs

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
)

// BenchmarkDrain breaks down what self-completion costs River's drain:
// 20,000 random-text jobs drained by 2,000 workers (FetchCooldown 10ms),
// completed by River's completer or by a Completer, with and without the
// job status triggers. It reports jobs/s and the CPU time per job of this
// process (River, the workers) and of the database's Postgres backends.
// Run on a quiet machine:
//
//	go test -run '^$' -bench Drain -benchtime 3x ./jobs
func BenchmarkDrain(b *testing.B) {
	const jobCount = 20_000
	for _, tc := range []struct {
		name      string
		triggers  bool
		completer bool
	}{
		{"river", false, false},
		{"river_triggers", true, false},
		{"completer_triggers", true, true},
		{"completer", false, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var jobs, secs, goCPU, pgCPU float64
			for range b.N {
				b.StopTimer()
				ctx := context.Background()
				dbURL := dbtest.URL(b)
				pool, err := pgxpool.New(ctx, dbURL)
				require.NoError(b, err)
				if !tc.triggers {
					_, err := pool.Exec(ctx, `DROP TRIGGER bespin_job_notify_update ON river_job;
						DROP TRIGGER bespin_job_notify_delete ON river_job`)
					require.NoError(b, err)
				}
				worker := &RandomTextWorker{}
				if tc.completer {
					worker.Completer = NewCompleter(pool, countingAnnouncer{})
				}
				workers := river.NewWorkers()
				river.AddWorker(workers, worker)
				rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
					Logger:        testLogger(),
					Workers:       workers,
					Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2000}},
					FetchCooldown: 10 * time.Millisecond,
				})
				require.NoError(b, err)
				params := make([]river.InsertManyParams, jobCount)
				for i := range params {
					params[i] = river.InsertManyParams{Args: RandomTextArgs{Length: 100}}
				}
				_, err = rc.InsertManyFast(ctx, params)
				require.NoError(b, err)
				dbName := dbURL[strings.LastIndex(dbURL, "/")+1 : strings.Index(dbURL, "?")]

				go0, pg0 := selfCPU(), postgresCPU(dbName)
				b.StartTimer()
				require.NoError(b, rc.Start(ctx))
				for {
					var done int
					require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state = 'completed'").Scan(&done))
					if done == jobCount {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				b.StopTimer()
				goCPU += selfCPU() - go0
				pgCPU += postgresCPU(dbName) - pg0
				var span float64
				require.NoError(b, pool.QueryRow(ctx, "SELECT extract(epoch FROM max(finalized_at) - min(attempted_at))::float8 FROM river_job").Scan(&span))
				jobs += jobCount
				secs += span
				stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				require.NoError(b, rc.Stop(stopCtx))
				cancel()
				pool.Close()
			}
			b.ReportMetric(jobs/secs, "jobs/s")
			b.ReportMetric(goCPU/jobs*1e6, "go-µs/job")
			b.ReportMetric(pgCPU/jobs*1e6, "pg-µs/job")
		})
	}
}

type countingAnnouncer struct{}

func (countingAnnouncer) AnnounceJob(int64, rivertype.JobState) {}

// selfCPU is this process's user+system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// postgresCPU is the CPU seconds of the Postgres backends of dbName.
func postgresCPU(dbName string) float64 {
	total := 0.0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.HasPrefix(string(cmd), "postgres") || !strings.Contains(string(cmd), " "+dbName+" ") {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		total += (ut + st) / 100
	}
	return total
}
