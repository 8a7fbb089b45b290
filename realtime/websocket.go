package realtime

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bespin/bespin/metrics"
)

// ServerConfig configures the WebSocket side.
type ServerConfig struct {
	Hub     *Hub
	Jobs    *JobFeed
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// to connect. Development also allows localhost and 127.0.0.1 on any
	// port. Requests without an Origin header (non-browser clients) are
	// always allowed: origin checks protect browsers' ambient credentials,
	// which such clients do not have.
	AllowedOrigins []string
	Development    bool

	// Timings; zero means the default.
	WriteTimeout time.Duration // per message (10s)
	PingInterval time.Duration // (30s)
	PongTimeout  time.Duration // a client silent this long is dropped (60s)
}

// Server upgrades and serves WebSocket connections. httpapi validates the
// request (ids, 404, origin, token) and calls ServeJob or ServeTopic, so
// that every refusal is a normal JSON error sent before upgrading.
type Server struct {
	cfg      ServerConfig
	upgrader websocket.Upgrader
	origins  map[string]bool

	mu       sync.Mutex
	conns    map[*websocket.Conn]struct{}
	closing  chan struct{}
	shutdown bool
	wg       sync.WaitGroup
}

// NewServer returns a Server.
func NewServer(cfg ServerConfig) *Server {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.PongTimeout <= 0 {
		cfg.PongTimeout = 2 * cfg.PingInterval
	}
	s := &Server{
		cfg:     cfg,
		origins: map[string]bool{},
		conns:   map[*websocket.Conn]struct{}{},
		closing: make(chan struct{}),
	}
	for _, o := range cfg.AllowedOrigins {
		s.origins[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// Small buffers and a shared write-buffer pool: an idle watcher
		// holds no write buffer at all, which is most of what 10,000
		// watchers cost (the fanout benchmark: KiB per connection).
		ReadBufferSize:  512, // clients only send pongs and closes (read limit 512)
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		// Checked before upgrading (OriginAllowed), so refusals are JSON.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return s
}

// HasTopic reports whether ?topic=name can be streamed.
func (s *Server) HasTopic(name string) bool { return s.cfg.Hub.HasTopic(name) }

// OriginAllowed applies the origin policy to r.
func (s *Server) OriginAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if s.origins["*"] || s.origins[strings.ToLower(origin)] {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if s.cfg.Development {
		switch strings.ToLower(u.Hostname()) {
		case "localhost", "127.0.0.1", "::1":
			return true
		}
	}
	// The page's own origin (same host as the request) is always fine.
	return strings.EqualFold(u.Host, r.Host)
}

// ServeJob upgrades r and streams job id's statuses: the current one
// first, then every change, and closes with 1000 after a terminal one.
func (s *Server) ServeJob(w http.ResponseWriter, r *http.Request, id int64, kind string) {
	sub := s.cfg.Hub.subscribeJob(id, kind)
	defer s.cfg.Hub.unsubscribeJob(id, sub)
	conn := s.upgrade(w, r)
	if conn == nil {
		return
	}
	s.cfg.Jobs.Refresh(id) // the first status, through the feed's serial reads
	s.serve(conn, sub)
}

// ServeTopic upgrades r and streams everything published on topic.
func (s *Server) ServeTopic(w http.ResponseWriter, r *http.Request, topic string) {
	sub := s.cfg.Hub.subscribeTopic(topic)
	defer s.cfg.Hub.unsubscribeTopic(topic, sub)
	conn := s.upgrade(w, r)
	if conn == nil {
		return
	}
	s.serve(conn, sub)
}

func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) *websocket.Conn {
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader has answered the client
	}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		s.closeConn(conn, websocket.CloseGoingAway, "server shutting down")
		return nil
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.cfg.Metrics.WebSocketConnections.Inc()
	return conn
}

// serve is the connection's one writer (this goroutine) plus a reader
// goroutine that only handles control frames and notices a gone client.
func (s *Server) serve(conn *websocket.Conn, sub *subscriber) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		s.cfg.Metrics.WebSocketConnections.Dec()
		s.wg.Done()
	}()

	readerDone := make(chan struct{})
	go s.read(conn, readerDone)

	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-sub.ready:
			msgs, dropped := sub.take()
			if dropped {
				s.close(conn, readerDone, websocket.CloseTryAgainLater, "client too slow")
				return
			}
			for _, m := range msgs {
				conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)) //nolint:errcheck
				if err := conn.WriteMessage(websocket.TextMessage, m.data); err != nil {
					conn.Close()
					<-readerDone
					return
				}
				if m.terminal {
					s.close(conn, readerDone, websocket.CloseNormalClosure, "job finished")
					return
				}
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.cfg.WriteTimeout)); err != nil {
				conn.Close()
				<-readerDone
				return
			}
		case <-readerDone:
			conn.Close() // the client closed, or stopped answering pings
			return
		case <-s.closing:
			s.close(conn, readerDone, websocket.CloseGoingAway, "server shutting down")
			return
		}
	}
}

// readLimit bounds client frames: clients have nothing to send but
// control frames.
const readLimit = 512

func (s *Server) read(conn *websocket.Conn, done chan<- struct{}) {
	defer close(done)
	conn.SetReadLimit(readLimit)
	conn.SetReadDeadline(time.Now().Add(s.cfg.PongTimeout)) //nolint:errcheck
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(s.cfg.PongTimeout))
	})
	for {
		if _, _, err := conn.NextReader(); err != nil {
			return
		}
	}
}

// close sends a close frame, waits briefly for the client's reply (which
// ends the reader), and closes the connection.
func (s *Server) close(conn *websocket.Conn, readerDone <-chan struct{}, code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	if err := conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.cfg.WriteTimeout)); err == nil {
		t := time.NewTimer(closeGrace)
		select {
		case <-readerDone:
		case <-t.C:
		}
		t.Stop()
	}
	conn.Close()
	<-readerDone
}

// closeConn closes a connection that has no reader yet.
func (s *Server) closeConn(conn *websocket.Conn, code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.cfg.WriteTimeout)) //nolint:errcheck
	conn.Close()
}

const closeGrace = time.Second

// Shutdown closes every connection with 1001 (going away) and waits for
// their goroutines, or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.shutdown {
		s.shutdown = true
		close(s.closing)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}
