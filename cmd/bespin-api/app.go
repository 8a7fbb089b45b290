package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/bespin/bespin/httpapi"
	"github.com/bespin/bespin/ingest"
	"github.com/bespin/bespin/internal/redisbreaker"
	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/metrics"
	"github.com/bespin/bespin/ratelimit"
	"github.com/bespin/bespin/realtime"
	"github.com/bespin/bespin/sql/migrations"
	"github.com/bespin/bespin/store"
	"github.com/bespin/bespin/web"
	"github.com/bespin/bespin/webhook"
)

// app is one bespin-api process, the composition root: every component is
// constructed here and handed what it needs. Its life has three steps:
// build (newServer or newWorker: connect and construct, nothing runs yet),
// start (River, the realtime listener, then the HTTP port) and shutdown
// (the reverse). run strings them together; tests call run too and read
// the address from Addr once Ready is closed.
type app struct {
	cfg    config
	logger *slog.Logger

	pool    *pgxpool.Pool
	redis   *redis.Client
	breaker *redisbreaker.Breaker // skips Redis while it is unavailable
	metrics *metrics.Metrics
	store   *store.Store
	river   *river.Client[pgx.Tx]
	working bool // River works jobs in this process
	// announcer sends, after commit, the job completions this process's
	// workers commit and the receipts it stores (realtime.Announcer).
	announcer *realtime.Announcer

	// The HTTP side, built by newServer only (nil in a worker).
	listener *realtime.Listener
	ws       *realtime.Server
	riverUI  *riverui.Handler // nil with RIVER_UI=false
	http     *http.Server

	background     sync.WaitGroup // the listener and the announcer
	stopBackground context.CancelFunc
	serveErr       chan error
	ready          chan struct{} // closed once the port is open (servers) or River started (workers)
	addr           net.Addr
}

// newServer builds `serve`: the HTTP API and WebSockets, and River working
// jobs unless RUN_WORKERS=false.
func newServer(ctx context.Context, cfg config, logger *slog.Logger) (*app, error) {
	a, err := newApp(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	workers := 0
	if cfg.RunWorkers {
		workers = cfg.JobWorkers
	}
	if err := a.buildRiver(workers); err != nil {
		a.close()
		return nil, err
	}
	if err := a.buildHTTP(); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// newWorker builds `worker`: River working jobs, no HTTP.
func newWorker(ctx context.Context, cfg config, logger *slog.Logger) (*app, error) {
	a, err := newApp(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	if err := a.buildRiver(cfg.JobWorkers); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// newApp prepares the schema and opens what every process needs: the
// pool, Redis and the metrics.
func newApp(ctx context.Context, cfg config, logger *slog.Logger) (*app, error) {
	if err := prepareSchema(cfg, logger); err != nil {
		return nil, err
	}
	pool, err := newPool(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &app{
		cfg: cfg, logger: logger, pool: pool, store: store.New(pool), metrics: metrics.New(),
		serveErr: make(chan error, 1), ready: make(chan struct{}),
	}
	a.redis, a.breaker = newRedis(ctx, cfg, logger, a.metrics)
	a.metrics.CollectJobCounts(a.jobCounts)
	a.announcer = realtime.NewAnnouncer(realtime.AnnouncerConfig{
		ConnConfig: pool.Config().ConnConfig, Logger: logger,
		// A failed NOTIFY may not have reached this process's own
		// listener either: its watchers re-read their jobs.
		OnFailure: func() {
			if a.listener != nil {
				a.listener.Resync()
			}
		},
	})
	return a, nil
}

// buildRiver builds the River client; workers 0 makes it insert-only.
func (a *app) buildRiver(workers int) error {
	jobsCfg := jobs.Config{
		Logger: a.logger, MaxWorkers: workers,
		FetchCooldown: a.cfg.JobFetchCooldown, FetchPollInterval: a.cfg.JobFetchPollInterval,
		JobTimeout: a.cfg.JobTimeout, RescueAfter: a.cfg.JobRescueAfter,
	}
	if workers > 0 && a.cfg.WebhookRetention > 0 {
		jobsCfg.PruneInterval = time.Hour
	}
	rc, err := jobs.NewClient(a.pool, jobs.NewWorkers(jobs.WorkerDeps{
		Logger: a.logger, Pool: a.pool,
		WebhookHandlers:  jobs.NewWebhookHandlers(),
		WebhookRetention: a.cfg.WebhookRetention, JobTimeout: a.cfg.JobTimeout,
		Announcer: a.announcer,
	}), jobsCfg)
	if err != nil {
		return err
	}
	a.river, a.working = rc, workers > 0
	return nil
}

// buildHTTP builds the realtime side (job status through LISTEN/NOTIFY,
// see package realtime), webhook ingestion, River UI and the HTTP API.
func (a *app) buildHTTP() error {
	hub := realtime.NewHub()
	jobFeed := realtime.NewJobFeed(a.store, hub, a.logger, a.metrics)
	a.listener = realtime.NewListener(realtime.ListenerConfig{ConnConfig: a.pool.Config().ConnConfig, Logger: a.logger, Metrics: a.metrics})
	jobFeed.AttachTo(a.listener)
	realtime.NewTopicFeed(hub, realtime.WebhookChannel, realtime.TopicWebhooks, a.logger).AttachTo(a.listener)
	a.ws = realtime.NewServer(realtime.ServerConfig{
		Hub: hub, Jobs: jobFeed, Logger: a.logger, Metrics: a.metrics,
		AllowedOrigins: a.cfg.AllowedOrigins, Development: !a.cfg.production(),
		MaxConnsPerClient: a.cfg.WSMaxConnectionsPerIP,
	})
	riverUI, err := a.buildRiverUI()
	if err != nil {
		return err
	}
	handler := httpapi.NewHandler(httpapi.Deps{
		Logger: a.logger, Store: a.store, Pool: a.pool, River: a.river, Redis: a.redis, RedisBreaker: a.breaker, Metrics: a.metrics,
		Ingester: ingest.New(ingest.Config{
			Pool: a.pool, River: a.river, Redis: a.redis, KeyPrefix: a.cfg.RedisKeyPrefix, Logger: a.logger,
			ContentWindow: a.cfg.WebhookDedupeWindow,
			Announcer:     a.announcer.Topic(realtime.WebhookChannel),
			ObserveBatch:  func(n int) { a.metrics.WebhookBatchSize.Observe(float64(n)) },
		}),
		Limiter:  ratelimit.New(a.redis, a.cfg.RedisKeyPrefix+"rl:"),
		Version:  version(),
		Realtime: a.ws,
		RiverUI:  riverUI,
		Console:  web.Handler(),

		APITokens: a.cfg.APITokens, SessionTTL: a.cfg.SessionTTL, PrivateJobs: a.cfg.production(),
		TrustedProxies: a.cfg.TrustedProxies,
		RateLimitJobs:  a.cfg.RateLimitJobs, RateLimitWebhooks: a.cfg.RateLimitWebhooks, RateLimitLogin: a.cfg.RateLimitLogin,
		Webhooks: a.cfg.Webhooks, WebhookMaxBodyBytes: a.cfg.WebhookMaxBodyBytes,
		WebhookMaxHeaderBytes: a.cfg.WebhookMaxHeaderBytes,
	})
	// docs/operations.md ("Limits") lists these bounds.
	a.http = &http.Server{
		Handler:           handler,
		MaxHeaderBytes:    a.cfg.HTTPMaxHeaderBytes,
		ReadHeaderTimeout: a.cfg.HTTPReadHeaderTimeout, // slow clients (slowloris) are dropped
		ReadTimeout:       60 * time.Second,            // large webhook bodies on slow links
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	return nil
}

// buildRiverUI builds River UI (RIVER_UI), or returns nil. Compiled in, it
// runs on Bespin's own River client (and so its River version): its cancel
// and retry are River's current ones. httpapi mounts it behind
// authentication.
func (a *app) buildRiverUI() (http.Handler, error) {
	if !a.cfg.RiverUI {
		return nil, nil // not a nil *riverui.Handler: that would be a non-nil http.Handler
	}
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(a.river, nil),
		Logger:    a.logger.With(slog.String("component", "riverui")),
		Prefix:    "/riverui",
	})
	if err != nil {
		return nil, fmt.Errorf("river ui: %w", err)
	}
	a.riverUI = h
	return h, nil
}

// run starts the app, serves until ctx is cancelled (or the HTTP server
// fails), then shuts down within SHUTDOWN_TIMEOUT.
func (a *app) run(ctx context.Context) error {
	if err := a.start(ctx); err != nil {
		a.shutdown(context.Background()) //nolint:errcheck // reporting the start error instead
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
		a.logger.Info("shutting down", slog.Duration("timeout", a.cfg.ShutdownTimeout))
	case serveErr = <-a.serveErr:
		serveErr = fmt.Errorf("http server: %w", serveErr)
	}
	// A fresh context: ctx is already cancelled.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(serveErr, a.shutdown(shutdownCtx))
}

// start starts the announcer, River's workers, then (servers) the
// listener, and opens the port once LISTEN is up.
func (a *app) start(ctx context.Context) error {
	if a.cfg.PprofAddr != "" {
		startPprof(a.cfg.PprofAddr, a.logger)
	}
	// The announcer and the listener outlive ctx: they stop in shutdown,
	// after River and the HTTP server have finished what they announce.
	bgCtx, stop := context.WithCancel(context.Background())
	a.stopBackground = stop
	a.background.Go(func() { a.announcer.Run(bgCtx) })
	if on, err := a.store.Autovacuum(ctx); err == nil && !on {
		a.logger.Warn("Postgres runs with autovacuum = off: the dead rows every job and receipt leaves are never removed and table statistics never refreshed; turn it on (docs/operations.md, \"Postgres settings\")")
	}
	if a.working {
		// Not ctx: cancelling Start's context is River's hard stop, which
		// would cancel running jobs the moment SIGTERM arrives. shutdown
		// stops it softly instead.
		if err := a.river.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("start river: %w", err)
		}
		a.logger.Info("working jobs", slog.Int("max_workers", a.cfg.JobWorkers))
	}
	if a.http == nil {
		close(a.ready)
		return nil
	}
	a.background.Go(func() { a.listener.Run(bgCtx) })
	if a.riverUI != nil {
		// River UI's background queries stop when bgCtx ends (it offers
		// no wait for them; a query it still runs holds up closing the
		// pool, nothing more).
		if err := a.riverUI.Start(bgCtx); err != nil {
			return fmt.Errorf("start river ui: %w", err)
		}
	}
	a.waitForListener(ctx)
	return a.listen()
}

// waitForListener waits (at most listenerStartWait) for LISTEN, so that a
// watcher or stream that connects as soon as the port opens misses
// nothing. Postgres has just answered the migrations, so this takes
// milliseconds; if it takes longer, serve anyway: the listener keeps
// retrying and resyncs.
func (a *app) waitForListener(ctx context.Context) {
	select {
	case <-a.listener.Connected():
	case <-time.After(listenerStartWait):
		a.logger.Warn("realtime listener not connected yet; serving anyway", slog.Duration("waited", listenerStartWait))
	case <-ctx.Done():
	}
}

// listenerStartWait bounds how long start waits for LISTEN.
const listenerStartWait = 5 * time.Second

// listen opens the port and serves on it.
func (a *app) listen() error {
	if len(a.cfg.APITokens) == 0 {
		a.logger.Warn("API_TOKEN is not set: the read and control API, /metrics, dashboards and River UI are open (development only)")
	}
	logWebhookSources(a.logger, a.cfg.Webhooks)
	ln, err := net.Listen("tcp", ":"+a.cfg.Port)
	if err != nil {
		return fmt.Errorf("listen on port %s: %w", a.cfg.Port, err)
	}
	a.addr = ln.Addr()
	a.logger.Info("http server listening", slog.String("addr", a.addr.String()), slog.String("version", version()))
	go func() { a.serveErr <- a.http.Serve(ln) }()
	close(a.ready)
	return nil
}

// Ready is closed once the app serves (its port is open) or, for a
// worker, works.
func (a *app) Ready() <-chan struct{} { return a.ready }

// Addr is the address the HTTP server listens on, once Ready is closed.
func (a *app) Addr() net.Addr { return a.addr }

// shutdown stops in order: stop accepting and finish in-flight requests,
// close WebSockets with 1001, soft-stop River (cancelling what is still
// running when the deadline nears), stop the listener, the announcer
// (which sends what is queued) and River UI's background queries, and
// close Redis and the pool.
func (a *app) shutdown(ctx context.Context) error {
	var errs []error
	if a.http != nil {
		if err := a.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
		// Hijacked connections are not the http.Server's to wait for.
		if err := a.ws.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("websocket shutdown: %w", err))
		}
	}
	if a.working {
		errs = append(errs, stopRiver(ctx, a.river, a.logger))
	}
	if a.stopBackground != nil {
		a.stopBackground()
		a.background.Wait()
	}
	a.close()
	a.logger.Info("stopped")
	return errors.Join(errs...)
}

// close releases the connections; nothing may use them afterwards.
func (a *app) close() {
	a.breaker.Close()
	a.redis.Close() //nolint:errcheck // nothing to do about it at exit
	a.pool.Close()
}

// stopRiver lets running jobs finish, but cancels them when most of the
// shutdown budget is gone, so the process still exits in time; River puts a
// cancelled job back to be retried.
func stopRiver(ctx context.Context, rc *river.Client[pgx.Tx], logger *slog.Logger) error {
	softCtx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		softCtx, cancel = context.WithDeadline(ctx, deadline.Add(-time.Until(deadline)/4))
		defer cancel()
	}
	err := rc.Stop(softCtx)
	if err == nil {
		return nil
	}
	logger.Warn("jobs still running at the shutdown deadline; cancelling them (River will retry them)")
	if err := rc.StopAndCancel(ctx); err != nil {
		return fmt.Errorf("stop river: %w", err)
	}
	return nil
}

// prepareSchema applies pending migrations (AUTO_MIGRATE) and refuses a
// schema this binary does not match.
func prepareSchema(cfg config, logger *slog.Logger) error {
	m, err := migrations.New(cfg.DatabaseURL, logger)
	if err != nil {
		return err
	}
	defer m.Close()
	if cfg.AutoMigrate {
		// Never migrate down automatically: a newer schema belongs to a newer binary.
		if v, _, err := m.Version(); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		} else if v <= migrations.Latest() {
			if err := m.Up(); err != nil {
				return err
			}
		}
	}
	return m.Check()
}

func newPool(ctx context.Context, cfg config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pc.MaxConns = cfg.DBMaxConns
	pc.ConnConfig.ConnectTimeout = 5 * time.Second
	// Plan every statement for its parameters and the tables as they are
	// now. pgx prepares each statement once per connection, and Postgres
	// then reuses a generic plan made from the statistics of that moment:
	// made while river_job is new and small, it scans the whole table in
	// every completion (River's JobSetStateIfRunningMany) and status read,
	// and stays until an ANALYZE invalidates it, which never comes where
	// autovacuum is off or behind (this machine's Postgres runs with
	// autovacuum = off). Measured (make bench, docs/operations.md): e2e p99
	// 52 -> 22 ms over a 30 s run, 21,289 -> 240 sequential scans of
	// river_job, the drain 15.4k -> 18.2k jobs/s. A DATABASE_URL that sets
	// plan_cache_mode itself wins.
	if _, set := pc.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		pc.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	return pool, nil
}

// newRedis returns the Redis client, guarded by a breaker. Redis is an
// optimisation here (rate limits, the idempotency fast path): callers fall
// back when it fails, and while it is unreachable the breaker fails every
// command at once instead of letting each one dial (see package
// redisbreaker), so an unreachable Redis is one warning, not an error.
func newRedis(ctx context.Context, cfg config, logger *slog.Logger, m *metrics.Metrics) (*redis.Client, *redisbreaker.Breaker) {
	routeRedisLogs(logger)
	rdb := redis.NewClient(&redis.Options{
		Addr: cfg.RedisAddr, Password: cfg.RedisPassword, DB: cfg.RedisDB,
		DialTimeout:   500 * time.Millisecond,
		DialerRetries: 1, // the breaker decides when to try again
		ReadTimeout:   500 * time.Millisecond,
		WriteTimeout:  500 * time.Millisecond,
		MaxRetries:    1,
	})
	m.RedisUp.Set(1)
	b := redisbreaker.New(rdb, redisbreaker.Config{
		Logger: logger, Addr: cfg.RedisAddr,
		OnChange: func(up bool) {
			if up {
				m.RedisUp.Set(1)
			} else {
				m.RedisUp.Set(0)
			}
		},
	})
	rdb.Ping(ctx) //nolint:errcheck // an unreachable Redis opens the breaker, which says so
	return rdb, b
}

// routeRedisLogs sends go-redis' own log lines (it logs through a
// process-wide logger, by default unstructured to stderr) to slog, at debug
// level: the breaker reports outages once, structured. Set once per
// process, with the first app's logger.
func routeRedisLogs(logger *slog.Logger) {
	redisLogsOnce.Do(func() { redis.SetLogger(redisLogger{logger}) })
}

var redisLogsOnce sync.Once

type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.DebugContext(ctx, "go-redis", slog.String("message", fmt.Sprintf(format, v...)))
}

// jobCounts feeds the bespin_jobs gauge at scrape time.
func (a *app) jobCounts(ctx context.Context) ([]metrics.JobCount, error) {
	counts, err := a.store.JobCounts(ctx)
	out := make([]metrics.JobCount, len(counts))
	for i, c := range counts {
		out[i] = metrics.JobCount{Kind: c.Kind, Queue: c.Queue, State: c.State, Jobs: c.Jobs}
	}
	return out, err
}

// logWebhookSources says at start which webhook sources answer and which
// are disabled for want of a secret (their deliveries get 404).
func logWebhookSources(logger *slog.Logger, reg *webhook.Registry) {
	for _, name := range reg.Enabled() {
		if s, _ := reg.Source(name); s.DefaultSecret {
			logger.Warn("webhook source uses the development default secret; set TEST_WEBHOOK_SECRET",
				slog.String("source", name))
		}
	}
	for _, d := range reg.Disabled() {
		logger.Info("webhook source disabled: no secret configured",
			slog.String("source", d.Name), slog.String("set", strings.Join(d.Vars, " or ")))
	}
	logger.Info("webhook sources enabled", slog.String("sources", strings.Join(reg.Enabled(), ",")))
}

// startPprof serves net/http/pprof on its own listener (PPROF_ADDR), never
// on the public port. Bind it to localhost.
func startPprof(addr string, logger *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil {
			logger.Warn("pprof server stopped", slog.String("error", err.Error()))
		}
	}()
	logger.Info("pprof listening", slog.String("addr", addr))
}
