package httpapi

import (
	"bufio"
	"net"
	"net/http"
)

// websocket serves GET /api/ws and /api/ws/jobs: ?job_id=<id> watches one
// job (with its watch_token where job reads need credentials);
// ?topic=<name> (token or session) streams a topic for dashboards. Everything
// that can be refused is refused here, as a JSON error, before upgrading.
func (a *api) websocket(w http.ResponseWriter, r *http.Request) error {
	if !a.Realtime.OriginAllowed(r) {
		return errorf(http.StatusForbidden, "origin_not_allowed",
			"Origin %q may not open WebSockets here; allowed origins are set with ALLOWED_ORIGINS.", r.Header.Get("Origin"))
	}
	q := r.URL.Query()
	topic, jobID := q.Get("topic"), q.Get("job_id")
	switch {
	case topic != "" && jobID != "":
		return badRequest("Give either job_id or topic, not both.")
	case topic != "":
		if !a.Realtime.HasTopic(topic) {
			return badRequest("topic %q is not a stream; try topic=jobs.", topic)
		}
		if _, err := a.authenticate(r); err != nil && !a.tokenValid(q.Get("token")) {
			if unauthorized(err) {
				return errUnauthorized("Streams need an API token (Authorization: Bearer <API_TOKEN>, or a token query parameter) or a session.")
			}
			return err
		}
		a.Realtime.ServeTopic(hijacker{w}, r, topic)
		return nil
	case jobID == "":
		return badRequest("job_id is required (or topic, for a stream).")
	}
	id, err := parseJobID(jobID, "job_id")
	if err != nil {
		return err
	}
	if err := a.mayReadJob(r, id); err != nil {
		return err
	}
	job, err := a.Store.Job(r.Context(), id)
	if err != nil {
		return err
	}
	a.Realtime.ServeJob(hijacker{w}, r, id, job.Kind)
	return nil
}

// hijacker exposes Hijack through the middleware's wrapped writers, which
// forward it only via Unwrap (http.ResponseController); the WebSocket
// library asks for http.Hijacker directly.
type hijacker struct{ http.ResponseWriter }

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}
