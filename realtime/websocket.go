package realtime

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
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
	// MaxConnsPerClient caps the connections one client address may hold
	// open at once (Admit refuses more); 0 leaves them uncapped.
	MaxConnsPerClient int

	// Timings; zero means the default.
	WriteTimeout time.Duration // per message (10s)
	PingInterval time.Duration // (30s)
	PongTimeout  time.Duration // a client silent this long is dropped (60s)
}

// Server upgrades and serves WebSocket connections. httpapi validates the
// request (ids, 404, origin, token, CheckHandshake), takes a slot for the
// client's address (Admit) and calls ServeJob or ServeTopic, so that every
// refusal is a normal JSON error sent before upgrading.
//
// A connection costs one goroutine while idle: its reader, which answers
// pings and notices a client gone or silent. The handler returns right
// after upgrading, so net/http's goroutine, its buffers and the request are
// freed; writers run only while there is something to send (subscriber),
// and one pinger per Server asks every connection for its pings.
type Server struct {
	cfg      ServerConfig
	upgrader websocket.Upgrader
	origins  map[string]bool

	mu        sync.Mutex
	conns     map[*wsConn]struct{}
	perClient map[netip.Addr]int // connections (and admitted upgrades) per client address
	closing   chan struct{}      // closed by Shutdown
	shutdown  bool
	pingStop  chan struct{} // closed when the last connection ends; nil: no pinger runs
	pingSlots int
	nextSlot  int
	wg        sync.WaitGroup // readers, writers and the pinger
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
		cfg:       cfg,
		origins:   map[string]bool{},
		conns:     map[*wsConn]struct{}{},
		perClient: map[netip.Addr]int{},
		closing:   make(chan struct{}),
	}
	// Pings are spread over the interval in slots, one slot per tick, so
	// that 10,000 connections do not all want a writer at once.
	s.pingSlots = max(1, min(maxPingSlots, int(cfg.PingInterval/minPingTick)))
	for _, o := range cfg.AllowedOrigins {
		s.origins[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// Small buffers and a shared write-buffer pool: an idle watcher
		// holds no write buffer at all. Non-zero sizes also mean gorilla
		// does not keep net/http's hijacked 4 KiB bufio reader and writer.
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

// Topics lists what ?topic= can stream.
func (s *Server) Topics() []string { return s.cfg.Hub.Topics() }

// ErrNotWebSocket is CheckHandshake's answer to a plain HTTP request.
var ErrNotWebSocket = errors.New("not a WebSocket handshake")

// CheckHandshake reports why r is not a WebSocket opening handshake the
// upgrader would accept (ErrNotWebSocket for a plain request; otherwise an
// error naming the header), so the caller can refuse it in its own error
// shape instead of the upgrader's plain text. The mux has checked GET.
func CheckHandshake(r *http.Request) error {
	if !websocket.IsWebSocketUpgrade(r) {
		return ErrNotWebSocket
	}
	if r.Header.Get("Sec-Websocket-Version") != "13" {
		return errors.New("the Sec-WebSocket-Version header must be 13")
	}
	if key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-Websocket-Key")); err != nil || len(key) != 16 {
		return errors.New("the Sec-WebSocket-Key header must be 16 random bytes in base64")
	}
	return nil
}

// ErrTooManyConnections is Admit's refusal: the client address holds
// MaxConnsPerClient connections already.
var ErrTooManyConnections = errors.New("too many WebSocket connections from this address")

// MaxConnsPerClient is the configured cap per client address (0: none).
func (s *Server) MaxConnsPerClient() int { return s.cfg.MaxConnsPerClient }

// Admission is one connection slot of a client address, taken before
// upgrading; ServeJob and ServeTopic hold it until the connection ends.
type Admission struct {
	s      *Server
	client netip.Addr
	once   sync.Once
}

// Admit takes a connection slot for client, or returns
// ErrTooManyConnections when it holds MaxConnsPerClient already. A slot
// that is not handed to ServeJob or ServeTopic must be released.
func (s *Server) Admit(client netip.Addr) (*Admission, error) {
	a := &Admission{s: s, client: client}
	if s.cfg.MaxConnsPerClient <= 0 || !client.IsValid() {
		return a, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perClient[client] >= s.cfg.MaxConnsPerClient {
		return nil, ErrTooManyConnections
	}
	s.perClient[client]++
	return a, nil
}

// Release gives the slot back; only the first call counts.
func (a *Admission) Release() {
	a.once.Do(func() {
		s := a.s
		if s.cfg.MaxConnsPerClient <= 0 || !a.client.IsValid() {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.perClient[a.client]--; s.perClient[a.client] <= 0 {
			delete(s.perClient, a.client)
		}
	})
}

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
// first, then every change, and closes with 1000 after a terminal one. It
// returns once the connection is set up; the connection lives on, holding
// adm until it ends.
func (s *Server) ServeJob(w http.ResponseWriter, r *http.Request, adm *Admission, id int64, kind string) {
	sub := s.cfg.Hub.subscribeJob(id, kind)
	c := s.upgrade(w, r, adm, sub, func() { s.cfg.Hub.unsubscribeJob(id, sub) })
	if c == nil {
		return
	}
	s.cfg.Jobs.Refresh(id) // the first status, through the feed's serial reads
	sub.attach(c.startWriter)
}

// ServeTopic upgrades r and streams everything published on topic. It
// returns once the connection is set up; the connection holds adm until
// it ends.
func (s *Server) ServeTopic(w http.ResponseWriter, r *http.Request, adm *Admission, topic string) {
	sub := s.cfg.Hub.subscribeTopic(topic)
	c := s.upgrade(w, r, adm, sub, func() { s.cfg.Hub.unsubscribeTopic(topic, sub) })
	if c == nil {
		return
	}
	sub.attach(c.startWriter)
}

// wsConn is one upgraded connection.
type wsConn struct {
	s           *Server
	ws          *websocket.Conn
	sub         *subscriber
	unsubscribe func()
	adm         *Admission
	slot        int // ping slot
}

// upgrade upgrades r, registers the connection and starts its reader.
// On failure it unsubscribes sub, releases adm and returns nil.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, adm *Admission, sub *subscriber, unsubscribe func()) *wsConn {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		unsubscribe()
		adm.Release()
		return nil // the upgrader has answered the client
	}
	c := &wsConn{s: s, ws: ws, sub: sub, unsubscribe: unsubscribe, adm: adm}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		unsubscribe()
		adm.Release()
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
		ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.cfg.WriteTimeout)) //nolint:errcheck
		ws.Close()
		return nil
	}
	s.conns[c] = struct{}{}
	c.slot = s.nextSlot
	s.nextSlot = (s.nextSlot + 1) % s.pingSlots
	if s.pingStop == nil {
		s.pingStop = make(chan struct{})
		s.wg.Add(1)
		go s.pingLoop(s.pingStop)
	}
	s.wg.Add(1)
	s.mu.Unlock()
	s.cfg.Metrics.WebSocketConnections.Inc()
	go c.read()
	return c
}

// readLimit bounds client frames: clients have nothing to send but
// control frames.
const readLimit = 512

// read is the connection's one long-lived goroutine: it handles control
// frames (pongs extend the deadline; a close is answered by gorilla) and
// ends when the client closes, goes away or stops answering pings, or
// when the server's close frame got no answer within closeGrace. Then it
// tears the connection down.
func (c *wsConn) read() {
	defer c.finish()
	c.ws.SetReadLimit(readLimit)
	c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.PongTimeout)) //nolint:errcheck
	c.ws.SetPongHandler(c.pong)
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			return
		}
	}
}

func (c *wsConn) pong(string) error {
	c.sub.whileOpen(func() {
		c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.PongTimeout)) //nolint:errcheck
	})
	return nil
}

func (c *wsConn) finish() {
	c.sub.end()
	c.ws.Close()
	c.unsubscribe()
	c.adm.Release()
	s := c.s
	s.mu.Lock()
	delete(s.conns, c)
	if len(s.conns) == 0 && s.pingStop != nil {
		close(s.pingStop)
		s.pingStop = nil
	}
	s.mu.Unlock()
	s.cfg.Metrics.WebSocketConnections.Dec()
	s.wg.Done()
}

// startWriter is the subscriber's start: called with the subscriber
// locked, while the reader runs (so the WaitGroup is above zero).
func (c *wsConn) startWriter() {
	c.s.wg.Add(1)
	go c.write()
}

// write sends what the subscriber has due until nothing is, then ends.
func (c *wsConn) write() {
	defer c.s.wg.Done()
	for {
		o, ok := c.sub.next()
		if !ok {
			return
		}
		if !c.send(o) {
			return
		}
	}
}

// send writes o; false means the connection is closing or broken and the
// writer should end.
func (c *wsConn) send(o outbox) bool {
	switch {
	case o.closeCode != 0:
		c.close(o.closeCode, "server shutting down")
		return false
	case o.dropped:
		c.close(websocket.CloseTryAgainLater, "client too slow")
		return false
	}
	for _, m := range o.msgs {
		c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout)) //nolint:errcheck
		if err := c.ws.WriteMessage(websocket.TextMessage, m.data); err != nil {
			c.broken()
			return false
		}
		if m.terminal {
			c.close(websocket.CloseNormalClosure, "job finished")
			return false
		}
	}
	if o.ping {
		if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
			c.broken()
			return false
		}
	}
	return true
}

// close sends a close frame and gives the client closeGrace to answer
// (its answer, or the deadline, ends the reader, which closes the
// connection).
func (c *wsConn) close(code int, reason string) {
	c.sub.end()
	msg := websocket.FormatCloseMessage(code, reason)
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
		c.ws.Close()
		return
	}
	c.ws.SetReadDeadline(time.Now().Add(closeGrace)) //nolint:errcheck
}

// broken closes a connection a write failed on; the reader then ends.
func (c *wsConn) broken() {
	c.sub.end()
	c.ws.Close()
}

const closeGrace = time.Second

// Ping spreading: the pinger ticks every PingInterval/slots and pings the
// connections of one slot per tick.
const (
	maxPingSlots = 32
	minPingTick  = 10 * time.Millisecond
)

// pingLoop asks every connection for a ping once per PingInterval, until
// stop is closed (no connections left) or the server shuts down.
func (s *Server) pingLoop(stop <-chan struct{}) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.PingInterval / time.Duration(s.pingSlots))
	defer t.Stop()
	for slot := 0; ; slot = (slot + 1) % s.pingSlots {
		select {
		case <-t.C:
		case <-stop:
			return
		case <-s.closing:
			return
		}
		s.mu.Lock()
		for c := range s.conns {
			if c.slot == slot {
				c.sub.requestPing()
			}
		}
		s.mu.Unlock()
	}
}

// Shutdown closes every connection with 1001 (going away) and waits for
// their goroutines, or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.shutdown {
		s.shutdown = true
		close(s.closing)
		for c := range s.conns {
			c.sub.requestClose(websocket.CloseGoingAway)
		}
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
			c.ws.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}
