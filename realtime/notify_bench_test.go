package realtime

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
)

type benchNoopArgs struct{}

func (benchNoopArgs) Kind() string { return "bench-noop" }

type benchNoopWorker struct {
	river.WorkerDefaults[benchNoopArgs]
}

func (benchNoopWorker) Work(context.Context, *river.Job[benchNoopArgs]) error { return nil }

// BenchmarkJobNotifyTrigger measures what migration 000010's triggers cost
// River: the time for 50 workers to drain 20,000 pre-inserted no-op jobs,
// with the triggers (and a session LISTENing to everything they send) and
// without them. Run:
//
//	go test -run '^$' -bench JobNotifyTrigger -benchtime 3x ./realtime
func BenchmarkJobNotifyTrigger(b *testing.B) {
	const jobCount = 20_000
	for _, tc := range []struct {
		name    string
		trigger bool
	}{{"with_trigger", true}, {"without_trigger", false}} {
		b.Run(tc.name, func(b *testing.B) {
			var total time.Duration
			var notifications int64
			for range b.N {
				b.StopTimer()
				ctx := context.Background()
				pool := dbtest.Pool(b)
				if !tc.trigger {
					_, err := pool.Exec(ctx, `DROP TRIGGER bespin_job_notify_update ON river_job;
						DROP TRIGGER bespin_job_notify_delete ON river_job`)
					require.NoError(b, err)
				}
				// A listener that receives everything, as a server would.
				lconn, err := pgx.Connect(ctx, pool.Config().ConnString())
				require.NoError(b, err)
				_, err = lconn.Exec(ctx, "LISTEN "+JobChannel)
				require.NoError(b, err)
				var received atomic.Int64
				lctx, stopListening := context.WithCancel(ctx)
				listenDone := make(chan struct{})
				go func() {
					defer close(listenDone)
					for {
						if _, err := lconn.WaitForNotification(lctx); err != nil {
							return
						}
						received.Add(1)
					}
				}()

				workers := river.NewWorkers()
				river.AddWorker(workers, benchNoopWorker{})
				rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
					Logger:        discardLogger(),
					Workers:       workers,
					Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 50}},
					FetchCooldown: 10 * time.Millisecond,
				})
				require.NoError(b, err)
				params := make([]river.InsertManyParams, jobCount)
				for i := range params {
					params[i] = river.InsertManyParams{Args: benchNoopArgs{}}
				}
				_, err = rc.InsertManyFast(ctx, params)
				require.NoError(b, err)
				completed, cancelSub := rc.Subscribe(river.EventKindJobCompleted)
				received.Store(0) // count only what the drain sends

				b.StartTimer()
				start := time.Now()
				require.NoError(b, rc.Start(ctx))
				for n := 0; n < jobCount; n++ {
					<-completed
				}
				total += time.Since(start)
				b.StopTimer()

				cancelSub()
				stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				require.NoError(b, rc.Stop(stopCtx))
				cancel()
				time.Sleep(200 * time.Millisecond) // let the last notifications arrive before counting
				notifications += received.Load()
				stopListening()
				<-listenDone
				lconn.Close(ctx)
			}
			b.ReportMetric(float64(jobCount*b.N)/total.Seconds(), "jobs/s")
			b.ReportMetric(float64(notifications)/float64(b.N), "notifies/drain")
		})
	}
}
