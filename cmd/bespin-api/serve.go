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

	"github.com/bespin/bespin/db"
	"github.com/bespin/bespin/httpapi"
	"github.com/bespin/bespin/jobs"
	"github.com/bespin/bespin/metrics"
	"github.com/bespin/bespin/ratelimit"
	"github.com/bespin/bespin/realtime"
	"github.com/bespin/bespin/sql/migrations"
	"github.com/bespin/bespin/webhook"
)

// serve runs until ctx is cancelled, then shuts down in order: stop
// accepting and finish in-flight requests, close WebSockets with 1001,
// soft-stop River (cancelling what is still running when the deadline
// nears), close the LISTEN connection, and close the pool. withHTTP false
// is the `worker` command.
func serve(ctx context.Context, cfg config, logger *slog.Logger, withHTTP bool) error {
	if err := prepareSchema(cfg, logger); err != nil {
		return err
	}

	pool, err := newPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	rdb := redis.NewClient(&redis.Options{
		Addr:     cfg.RedisAddr,
		Password: cfg.RedisPassword,
		DB:       cfg.RedisDB,
		// Redis is an optimisation here: fail fast and let callers fall back.
		DialTimeout:  500 * time.Millisecond,
		ReadTimeout:  500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
		MaxRetries:   1,
	})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		logger.Warn("redis is unreachable; rate limits fail open and idempotency falls back to Postgres until it answers",
			slog.String("redis_addr", cfg.RedisAddr), slog.String("error", err.Error()))
	}

	if cfg.PprofAddr != "" {
		startPprof(cfg.PprofAddr, logger)
	}

	m := metrics.New()
	m.CollectJobCounts(func(ctx context.Context) ([]metrics.JobCount, error) {
		rows, err := db.New().JobCountsNow(ctx, pool)
		out := make([]metrics.JobCount, len(rows))
		for i, r := range rows {
			out[i] = metrics.JobCount{Kind: r.Kind, Queue: r.Queue, State: r.State, Jobs: r.Jobs}
		}
		return out, err
	})
	workers := !withHTTP || cfg.RunWorkers
	jobsCfg := jobs.Config{
		Logger:            logger,
		FetchCooldown:     cfg.JobFetchCooldown,
		FetchPollInterval: cfg.JobFetchPollInterval,
	}
	if workers {
		jobsCfg.MaxWorkers = cfg.JobWorkers
		if cfg.WebhookRetention > 0 {
			jobsCfg.PruneInterval = time.Hour
		}
	}
	workerDeps := jobs.WorkerDeps{
		Logger: logger, Pool: pool,
		WebhookHandlers:  jobs.NewWebhookHandlers(),
		WebhookRetention: cfg.WebhookRetention,
	}
	riverClient, err := jobs.NewClient(pool, jobs.NewWorkers(workerDeps), jobsCfg)
	if err != nil {
		return err
	}
	if workers {
		// Not ctx: cancelling Start's context is River's hard stop, which would
		// cancel running jobs the moment SIGTERM arrives. stopRiver stops it
		// softly instead.
		if err := riverClient.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("start river: %w", err)
		}
		logger.Info("working jobs", slog.Int("max_workers", cfg.JobWorkers))
	}

	var srv *http.Server
	var ws *realtime.Server
	var announcer *realtime.Announcer
	serveErr := make(chan error, 1)
	// The listener and the announcer outlive ctx: they stop after the HTTP
	// server has finished its in-flight requests.
	realtimeCtx, stopRealtime := context.WithCancel(context.Background())
	var realtimeDone sync.WaitGroup
	defer func() { stopRealtime(); realtimeDone.Wait() }()
	if withHTTP {
		// Job status reaches WebSocket watchers through LISTEN/NOTIFY on a
		// connection of its own (see package realtime).
		hub := realtime.NewHub()
		jobFeed := realtime.NewJobFeed(pool, hub, logger, m)
		listener := realtime.NewListener(realtime.ListenerConfig{ConnConfig: pool.Config().ConnConfig, Logger: logger, Metrics: m})
		jobFeed.AttachTo(listener)
		// Every new webhook receipt (summary only) for ?topic=webhooks,
		// announced in batches after commit by any instance.
		realtime.NewTopicFeed(hub, webhooksChannel, "webhooks", logger).AttachTo(listener)
		announcer = realtime.NewAnnouncer(pool, webhooksChannel, logger)
		realtimeDone.Go(func() { listener.Run(realtimeCtx) })
		realtimeDone.Go(func() { announcer.Run(realtimeCtx) })
		// Serve once LISTEN is up, so a watcher or stream that connects as
		// soon as the port opens misses nothing; Postgres has just answered
		// the migrations, so this takes milliseconds. If it takes longer,
		// serve anyway: the listener keeps retrying and resyncs.
		select {
		case <-listener.Connected():
		case <-time.After(listenerStartWait):
			logger.Warn("realtime listener not connected yet; serving anyway", slog.Duration("waited", listenerStartWait))
		case <-ctx.Done():
		}
		ws = realtime.NewServer(realtime.ServerConfig{
			Hub: hub, Jobs: jobFeed, Logger: logger, Metrics: m,
			AllowedOrigins: cfg.AllowedOrigins, Development: !cfg.production(),
		})

		if len(cfg.APITokens) == 0 {
			logger.Warn("API_TOKEN is not set: the read API, /metrics and dashboards are open (development only)")
		}
		logWebhookSources(logger, cfg.Webhooks)
		handler := httpapi.NewHandler(httpapi.Deps{
			Logger:            logger,
			Pool:              pool,
			Redis:             rdb,
			River:             riverClient,
			Limiter:           ratelimit.New(rdb, cfg.RedisKeyPrefix+"rl:"),
			Metrics:           m,
			Version:           version(),
			Realtime:          ws,
			APITokens:         cfg.APITokens,
			TrustedProxies:    cfg.TrustedProxies,
			RateLimitJobs:     ratelimit.Limit(cfg.RateLimitJobs),
			RateLimitWebhooks: ratelimit.Limit(cfg.RateLimitWebhooks),

			Webhooks:            cfg.Webhooks,
			WebhookMaxBodyBytes: cfg.WebhookMaxBodyBytes,
			RedisKeyPrefix:      cfg.RedisKeyPrefix,
			WebhookAnnouncer:    announcer,
		})
		srv = &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second, // large webhook bodies on slow links
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		ln, err := net.Listen("tcp", ":"+cfg.Port)
		if err != nil {
			return fmt.Errorf("listen on port %s: %w", cfg.Port, err)
		}
		logger.Info("http server listening", slog.String("addr", ln.Addr().String()), slog.String("version", version()))
		go func() { serveErr <- srv.Serve(ln) }()
	}

	select {
	case <-ctx.Done():
		logger.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	}

	// A fresh context: ctx is already cancelled.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if srv != nil {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
		// Hijacked connections are not the http.Server's to wait for.
		if err := ws.Shutdown(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("websocket shutdown: %w", err))
		}
	}
	if workers {
		errs = append(errs, stopRiver(shutdownCtx, riverClient, logger))
	}
	stopRealtime()
	realtimeDone.Wait()
	logger.Info("stopped")
	return errors.Join(errs...)
}

// webhooksChannel carries new-receipt summaries between instances.
const webhooksChannel = "bespin_webhooks"

// listenerStartWait bounds how long serve waits for LISTEN before serving.
const listenerStartWait = 5 * time.Second

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
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	return pool, nil
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
