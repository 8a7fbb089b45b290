package jobs

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// Bounds of RandomTextArgs, enforced at insert time by the API and again by
// the worker (a job may be inserted by other code).
const (
	RandomTextMinLength     = 1
	RandomTextMaxLength     = 100_000
	RandomTextDefaultLength = 100
	RandomTextMaxDelayMS    = 60_000
)

// RandomTextArgs asks for Length random characters, after DelayMS of
// simulated work.
type RandomTextArgs struct {
	Length  int `json:"length"`
	DelayMS int `json:"delay_ms,omitempty"`
}

func (RandomTextArgs) Kind() string { return "random-text" }

// RandomTextOutput is recorded on the job (River's output recording), so
// River UI and GET /api/jobs/{id} show it.
type RandomTextOutput struct {
	Text   string `json:"text"`
	Length int    `json:"length"`
}

// RandomTextWorker generates the text, and completes its job itself with
// the text recorded on it (see Completer).
type RandomTextWorker struct {
	river.WorkerDefaults[RandomTextArgs]
	JobTimeout time.Duration // the time allowed on top of the delay; see Timeout
	// Completer, if nil, leaves the completion to River's completer (the
	// text is recorded with RecordOutput).
	Completer *Completer
}

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func (w *RandomTextWorker) Work(ctx context.Context, job *river.Job[RandomTextArgs]) error {
	args := job.Args
	if args.Length < RandomTextMinLength || args.Length > RandomTextMaxLength {
		return river.JobCancel(fmt.Errorf("length %d is outside %d..%d", args.Length, RandomTextMinLength, RandomTextMaxLength))
	}
	if args.DelayMS < 0 || args.DelayMS > RandomTextMaxDelayMS {
		return river.JobCancel(fmt.Errorf("delay_ms %d is outside 0..%d", args.DelayMS, RandomTextMaxDelayMS))
	}
	if args.DelayMS > 0 {
		timer := time.NewTimer(time.Duration(args.DelayMS) * time.Millisecond)
		defer timer.Stop()
		select {
		case <-ctx.Done(): // cancelled from River UI / JobCancel, or shutting down
			return ctx.Err()
		case <-timer.C:
		}
	}
	out := RandomTextOutput{Text: randomText(args.Length), Length: args.Length}
	if w.Completer == nil || !w.Completer.Accepting() {
		return river.RecordOutput(ctx, out)
	}
	// Not RecordOutput as well: River's completer would then write the
	// output a second time after the worker returns.
	return w.Completer.Complete(ctx, job.JobRow, out)
}

// randomText draws uniformly from alphabet using crypto/rand with rejection
// sampling (no modulo bias).
func randomText(n int) string {
	const maxUnbiased = 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+16)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, b := range buf {
			if int(b) < maxUnbiased {
				out = append(out, alphabet[int(b)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}
