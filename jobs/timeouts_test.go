package jobs

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"
)

// A random-text job's timeout covers its delay: with River's client-wide
// timeout alone (1 minute), a job with the largest delay (60 s) had its
// context cancelled just before its delay ended, on every attempt.
func TestRandomTextTimeoutCoversDelay(t *testing.T) {
	t.Parallel()
	job := func(delayMS int) *river.Job[RandomTextArgs] {
		return &river.Job[RandomTextArgs]{Args: RandomTextArgs{Length: 1, DelayMS: delayMS}}
	}
	w := &RandomTextWorker{JobTimeout: 30 * time.Second}
	require.Equal(t, 90*time.Second, w.Timeout(job(RandomTextMaxDelayMS)))
	require.Equal(t, 30*time.Second, w.Timeout(job(0)))
	require.Equal(t, time.Duration(RandomTextMaxDelayMS)*time.Millisecond+river.JobTimeoutDefault,
		(&RandomTextWorker{}).Timeout(job(RandomTextMaxDelayMS)), "River's default when unset")
}
