package httpapi

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/bespin/bespin/realtime"
)

// websocket serves GET /api/ws and /api/ws/jobs: ?job_id=<id> watches one
// job (with its watch_token where job reads need credentials);
// ?topic=<name> (token or session) streams a topic for dashboards.
// Everything that can be refused is refused here, as a JSON error, before
// upgrading: the origin, the parameters, the credentials, the job, a
// request that is no WebSocket handshake, and a client address over its
// connection cap.
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
			return badRequest("topic %q is not a stream; the streams are %s.", topic, strings.Join(a.Realtime.Topics(), ", "))
		}
		if _, err := a.authenticate(r); err != nil && !a.tokenValid(q.Get("token")) {
			if unauthorized(err) {
				return errUnauthorized("Streams need an API token (Authorization: Bearer <API_TOKEN>, or a token query parameter) or a session.")
			}
			return err
		}
		adm, err := a.admitWebSocket(r, "")
		if err != nil {
			return err
		}
		a.Realtime.ServeTopic(hijacker{w}, r, adm, topic)
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
	adm, err := a.admitWebSocket(r, " GET /api/jobs/"+jobID+" reads the job's status once.")
	if err != nil {
		return err
	}
	a.Realtime.ServeJob(hijacker{w}, r, adm, id, job.Kind)
	return nil
}

// admitWebSocket refuses a request that is no WebSocket handshake (426,
// with hint appended to the message) or a malformed one (400), and takes
// a connection slot for the client address (429 when it has none left).
func (a *api) admitWebSocket(r *http.Request, hint string) (*realtime.Admission, error) {
	if err := realtime.CheckHandshake(r); errors.Is(err, realtime.ErrNotWebSocket) {
		e := errorf(http.StatusUpgradeRequired, "websocket_required",
			"%s is a WebSocket endpoint: connect with a WebSocket client (Connection: Upgrade, Upgrade: websocket).%s", r.URL.Path, hint)
		e.Header = http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}
		return nil, e
	} else if err != nil {
		return nil, errorf(http.StatusBadRequest, "invalid_handshake", "The WebSocket handshake was refused: %s.", err)
	}
	adm, err := a.Realtime.Admit(a.clientIP(r))
	if errors.Is(err, realtime.ErrTooManyConnections) {
		return nil, errorf(http.StatusTooManyRequests, "too_many_connections",
			"This address already holds %d open WebSockets, the most allowed (WS_MAX_CONNECTIONS_PER_IP); close one and retry.",
			a.Realtime.MaxConnsPerClient())
	}
	return adm, err
}

// hijacker exposes Hijack through the middleware's wrapped writers, which
// forward it only via Unwrap (http.ResponseController); the WebSocket
// library asks for http.Hijacker directly.
type hijacker struct{ http.ResponseWriter }

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}
