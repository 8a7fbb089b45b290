package groupcommit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type item struct {
	size    int
	batchNo int
}

// While the first batch is being handled, everything that arrives forms
// the following batches, capped by MaxItems and MaxWeight.
func TestItemsArrivingDuringABatchFormTheNext(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	b := New(Config[*item]{
		MaxItems:  3,
		MaxWeight: 100,
		Weight:    func(it *item) int { return it.size },
		Handle: func(batch []*item) {
			mu.Lock()
			sizes = append(sizes, len(batch))
			n := len(sizes)
			mu.Unlock()
			for _, it := range batch {
				it.batchNo = n
			}
			if n == 1 {
				<-release
			}
		},
	})

	first := &item{size: 1}
	var wg sync.WaitGroup
	wg.Go(func() { b.Do(first) })
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sizes) == 1 }, 5*time.Second, time.Millisecond)

	// Queued in this order while the first batch is held: 4 small, then
	// three of 60 (two do not fit under MaxWeight together).
	later := []*item{{size: 1}, {size: 1}, {size: 1}, {size: 1}, {size: 60}, {size: 60}, {size: 60}}
	for _, it := range later {
		wg.Go(func() { b.Do(it) })
		require.Eventually(t, func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return len(b.pending) > 0 && b.pending[len(b.pending)-1].item == it
		},
			5*time.Second, time.Millisecond)
	}
	close(release)
	wg.Wait()

	require.Equal(t, []int{1, 3, 2, 1, 1}, sizes)
	require.Equal(t, 1, first.batchNo)
	require.Equal(t, []int{2, 2, 2, 3, 3, 4, 5}, []int{
		later[0].batchNo, later[1].batchNo, later[2].batchNo, later[3].batchNo,
		later[4].batchNo, later[5].batchNo, later[6].batchNo,
	})
}

// Do returns only after its batch was handled, at most Handlers batches
// run at once, and no goroutine is left once every Do has returned
// (goleak, in TestMain).
func TestHandlersAreCappedAndRetire(t *testing.T) {
	var running, most atomic.Int32
	handled := map[*item]bool{}
	var mu sync.Mutex
	b := New(Config[*item]{
		Handlers: 2,
		Handle: func(batch []*item) {
			n := running.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			for _, it := range batch {
				handled[it] = true
			}
			mu.Unlock()
			running.Add(-1)
		},
	})
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			it := &item{}
			b.Do(it)
			mu.Lock()
			defer mu.Unlock()
			require.True(t, handled[it], "Do returned before its batch was handled")
		})
	}
	wg.Wait()
	require.Len(t, handled, 200)
	require.Equal(t, int32(2), most.Load())
	require.Eventually(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.active == 0 }, 5*time.Second, time.Millisecond,
		"handlers retire when nothing is queued")
}
