package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/dbtest"
)

// answer is what one request under fault got.
type answer struct {
	what       string // "webhook" or "job"
	status     int
	retryAfter string
	id         string // the receipt or job id of a 2xx
	err        error  // no HTTP answer at all
}

// Every Postgres connection is cut, several times, while 30 clients post
// webhooks and create jobs: no request may get a 500; every refusal is a
// 503 with Retry-After; and everything acknowledged (201/200, 202) is in
// the database afterwards. Connections lost mid-statement used to give
// 500s ("insert receipts: unexpected EOF").
func TestPostgresCutUnderLoad(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	proxy, proxied := dbtest.NewProxy(t, dbURL)
	srv := startServer(t, "DATABASE_URL="+proxied, "RUN_WORKERS=false",
		"RATE_LIMIT_JOBS_PER_MINUTE=0", "RATE_LIMIT_WEBHOOKS_PER_MINUTE=0")
	client := &http.Client{Timeout: 60 * time.Second}

	var (
		mu      sync.Mutex
		answers []answer
		seq     atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	record := func(a answer) {
		mu.Lock()
		defer mu.Unlock()
		answers = append(answers, a)
	}
	for worker := range 30 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := seq.Add(1)
				if worker%3 == 0 {
					record(createJobUnderFault(client, srv.URL))
				} else {
					// Half with a delivery id, half de-duplicated by content.
					record(postWebhookUnderFault(client, srv.URL, n, worker%2 == 0))
				}
			}
		})
	}
	for range 4 {
		time.Sleep(700 * time.Millisecond)
		proxy.Down() // every connection cut, mid-statement for some
		time.Sleep(700 * time.Millisecond)
		proxy.Up()
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()

	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	counts := map[string]map[int]int{"webhook": {}, "job": {}}
	for _, a := range answers {
		require.NoError(t, a.err, "every request gets an answer")
		counts[a.what][a.status]++
		switch {
		case a.status >= 200 && a.status < 300:
			query := "SELECT count(*) FROM webhook_receipts WHERE id = $1::uuid"
			if a.what == "job" {
				query = "SELECT count(*) FROM river_job WHERE id = $1::bigint"
			}
			var n int
			require.NoError(t, pool.QueryRow(context.Background(), query, a.id).Scan(&n))
			require.Equal(t, 1, n, "acknowledged %s %s is stored", a.what, a.id)
		default:
			require.Equal(t, http.StatusServiceUnavailable, a.status, "%s: only 503 when Postgres is cut (%v)", a.what, counts)
			require.NotEmpty(t, a.retryAfter, "a 503 says when to retry")
		}
	}
	t.Logf("answers: %v", counts)
	for _, what := range []string{"webhook", "job"} {
		require.Positive(t, counts[what][http.StatusServiceUnavailable], "%s: the cuts were felt (%v)", what, counts)
		require.Positive(t, countSuccess(counts[what]), "%s: requests succeeded between cuts (%v)", what, counts)
	}
	// More rows than acknowledgements is fine: a COMMIT cut before its
	// answer reached the server is a 503 that did commit; the sender's
	// retry is then a duplicate.
	require.GreaterOrEqual(t, countRows(t, pool, "SELECT count(*) FROM webhook_receipts"), countSuccess(counts["webhook"]))
}

func countSuccess(byStatus map[int]int) int {
	n := 0
	for status, c := range byStatus {
		if status >= 200 && status < 300 {
			n += c
		}
	}
	return n
}

func countRows(t *testing.T, pool *pgxpool.Pool, query string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), query).Scan(&n))
	return n
}

func createJobUnderFault(client *http.Client, baseURL string) answer {
	resp, err := client.Post(baseURL+"/api/jobs/random-text?length=10", "", nil)
	if err != nil {
		return answer{what: "job", err: err}
	}
	defer resp.Body.Close()
	var c createdJob
	_ = json.NewDecoder(resp.Body).Decode(&c)
	return answer{what: "job", status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), id: c.JobID}
}

func postWebhookUnderFault(client *http.Client, baseURL string, n int64, withID bool) answer {
	body := fmt.Sprintf(`{"event":"fault.test","n":%d}`, n)
	m := hmac.New(sha256.New, []byte("test-secret"))
	m.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, baseURL+"/api/webhooks/test", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", hex.EncodeToString(m.Sum(nil)))
	if withID {
		req.Header.Set("X-Webhook-Id", fmt.Sprintf("fault-%d", n))
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{what: "webhook", err: err}
	}
	defer resp.Body.Close()
	var c struct {
		ID string `json:"id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&c)
	return answer{what: "webhook", status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), id: c.ID}
}

// Copies of one delivery posted by 50 clients to two instances at once,
// with Redis and with Redis unreachable, make one row and one job: with a
// delivery id, and without one (de-duplicated by content).
func TestDuplicateStormAcrossInstances(t *testing.T) {
	t.Parallel()
	for _, redisAddr := range []string{"", "127.0.0.1:1"} {
		name := "redis"
		if redisAddr != "" {
			name = "redis down"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dbURL := dbtest.URL(t)
			env := []string{"DATABASE_URL=" + dbURL, "RUN_WORKERS=false", "RATE_LIMIT_WEBHOOKS_PER_MINUTE=0"}
			if redisAddr != "" {
				env = append(env, "REDIS_ADDR="+redisAddr)
			}
			servers := []*testServer{startServer(t, env...), startServer(t, env...)}
			client := &http.Client{Timeout: 60 * time.Second}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				created = map[bool]int{}
				ids     = map[bool]map[string]bool{true: {}, false: {}}
			)
			for c := range 50 {
				wg.Go(func() {
					for i := range 4 {
						withID := i%2 == 0
						a := postWebhookUnderFault(client, servers[(c+i)%2].URL, 1, withID)
						require.NoError(t, a.err)
						require.Contains(t, []int{http.StatusCreated, http.StatusOK}, a.status)
						mu.Lock()
						if a.status == http.StatusCreated {
							created[withID]++
						}
						ids[withID][a.id] = true
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			require.Equal(t, map[bool]int{true: 1, false: 1}, created, "one 201 each, 99 duplicates each")
			require.Len(t, ids[true], 1)
			require.Len(t, ids[false], 1)
			pool, err := pgxpool.New(context.Background(), dbURL)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			require.Equal(t, 2, countRows(t, pool, "SELECT count(*) FROM webhook_receipts"))
			require.Equal(t, 2, countRows(t, pool, "SELECT count(*) FROM river_job WHERE kind = 'process-webhook'"))
		})
	}
}
