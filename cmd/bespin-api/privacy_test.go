package main

import (
	"net/http"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/jobs"
)

// In production, job ids being sequential, reading a job needs a token, a
// session or that job's own watch token, both over REST and WebSocket;
// creating one does not.
func TestJobPrivacyInProduction(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "BESPIN_ENV=production", "API_TOKEN=tok", "RUN_WORKERS=false")
	job := createJob(t, srv.URL, "length=8")
	other := createJob(t, srv.URL, "length=8")
	get := func(query string, header http.Header) reply {
		return call(t, http.MethodGet, srv.URL+"/api/jobs/"+job.JobID+query, "", header)
	}

	r := get("", nil)
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Contains(t, string(r.body), "watch_token")
	require.Equal(t, http.StatusUnauthorized, get("?watch_token="+other.WatchToken, nil).status, "another job's watch token")
	require.Equal(t, http.StatusUnauthorized, get("?watch_token=guess", nil).status)
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodGet, srv.URL+"/api/jobs/987654321?watch_token="+job.WatchToken, "", nil).status,
		"an unknown job is not revealed to a caller without credentials")

	var st jobs.Status
	r = get("?watch_token="+job.WatchToken, nil)
	require.Equal(t, http.StatusOK, r.status)
	r.decode(t, &st)
	require.Equal(t, job.JobID, st.JobID)
	require.Equal(t, http.StatusOK, get("", bearer("tok")).status)
	cookie := signIn(t, srv.URL, "tok", nil)
	require.Equal(t, http.StatusOK, get("", withCookie(cookie)).status)
	require.Equal(t, http.StatusNotFound, call(t, http.MethodGet, srv.URL+"/api/jobs/987654321", "", bearer("tok")).status)

	dial := func(path string, header http.Header) int {
		conn, resp, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, path), header)
		if err == nil {
			defer conn.Close()
			require.Equal(t, "pending", nextStatus(t, conn).Status)
			return http.StatusSwitchingProtocols
		}
		require.NotNil(t, resp, "%s: %v", path, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, dial("/api/ws?job_id="+job.JobID, nil))
	require.Equal(t, http.StatusUnauthorized, dial("/api/ws/jobs?job_id="+job.JobID+"&watch_token="+other.WatchToken, nil))
	require.Equal(t, http.StatusSwitchingProtocols, dial("/api/ws?job_id="+job.JobID+"&watch_token="+job.WatchToken, nil))
	require.Equal(t, http.StatusSwitchingProtocols, dial("/api/ws/jobs?job_id="+job.JobID, bearer("tok")))
	require.Equal(t, http.StatusSwitchingProtocols, dial("/api/ws?job_id="+job.JobID, withCookie(cookie)))
}
