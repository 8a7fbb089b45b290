package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/internal/redistest"
)

// Redis goes away under a running server (a private redis-server, killed)
// and comes back: requests keep being served (rate limits fail open,
// idempotency in Postgres), /readyz and bespin_redis_up say so, and the
// log has one structured line when it goes and one when it is back, not
// one per request.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	rs := redistest.StartPrivate(t)
	srv := startServer(t, "REDIS_ADDR="+rs.Addr(), "RUN_WORKERS=false")
	ready := func() map[string]string {
		var r map[string]string
		resp := getJSON(t, srv.URL+"/readyz", &r)
		require.Equal(t, http.StatusOK, resp.StatusCode, "Redis down is degraded, not unready")
		return r
	}
	redisUp := func() string {
		resp, err := http.Get(srv.URL + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, "bespin_redis_up "); ok {
				return v
			}
		}
		t.Fatal("no bespin_redis_up in /metrics")
		return ""
	}
	require.Equal(t, "ok", ready()["redis"])
	require.Equal(t, "1", redisUp())

	rs.Kill()
	for i := range 20 {
		createJob(t, srv.URL, "")
		status, created := signedTestDelivery(t, srv.URL, "redis-outage-"+strings.Repeat("x", i%2))
		require.Contains(t, []int{http.StatusCreated, http.StatusOK}, status, "%v", created)
	}
	r := ready()
	require.Equal(t, "degraded", r["redis"])
	since, err := time.Parse(time.RFC3339Nano, r["redis_down_since"])
	require.NoError(t, err, "readyz says since when: %v", r)
	require.WithinDuration(t, time.Now(), since, time.Minute)
	require.Equal(t, "0", redisUp())
	logs := srv.logs.String()
	require.Equal(t, 1, strings.Count(logs, `"msg":"redis unavailable; rate limits fail open`), logs)
	require.NotContains(t, logs, `"level":"WARN","msg":"rate limiter unavailable`, "an outage is not logged per request")
	require.NotContains(t, logs, `"level":"WARN","msg":"redis unavailable for webhook idempotency`)

	rs.Start()
	require.Eventually(t, func() bool { return ready()["redis"] == "ok" }, 60*time.Second, 100*time.Millisecond)
	require.Equal(t, "1", redisUp())
	require.Equal(t, 1, strings.Count(srv.logs.String(), `"msg":"redis is back"`))
	createJob(t, srv.URL, "")
}
