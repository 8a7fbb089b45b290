// Command bespin-api is Bespin's one binary: `serve` (the default) serves
// HTTP and WebSocket and works jobs, `worker` only works jobs, `migrate`
// manages the schema and `version` prints the build.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/bespin/bespin/sql/migrations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "bespin-api: %v\n", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage: bespin-api [command]

commands:
  serve               serve HTTP + WebSocket, and work jobs unless RUN_WORKERS=false (default)
  worker              work jobs only
  migrate up          apply every pending migration
  migrate down N|all  revert N migrations, or all of them
  migrate version     print the schema version
  migrate force N     mark the schema as version N (0, or a known version) after fixing a failed migration by hand
  healthcheck         exit 0 when the server on PORT is ready (GET /readyz), 1 when not
  healthcheck worker  exit 0 when Postgres answers with the schema this binary needs
  webhook send ...    sign a delivery with a source's configured secret and send it (webhook send -h)
  version             print the build version

Configuration is read from the environment; see README.md.
`

// run is the whole program; ctx is cancelled on SIGINT/SIGTERM.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 1 {
		cmd = args[1]
	}
	switch cmd {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "bespin-api", version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "serve", "worker", "migrate", "healthcheck", "webhook":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}

	cfg, err := loadConfig(environ)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := newLogger(cfg, stdout)

	build := newServer
	switch cmd {
	case "migrate":
		return explainDatabaseError(cfg, runMigrate(cfg, logger, args[2:], stdout))
	case "healthcheck":
		return explainDatabaseError(cfg, runHealthcheck(ctx, cfg, args[2:], stdout))
	case "webhook":
		return runWebhook(ctx, cfg, args[2:], stdout, stderr)
	case "worker":
		build = newWorker
	}
	a, err := build(ctx, cfg, logger)
	if err != nil {
		return explainDatabaseError(cfg, err)
	}
	return a.run(ctx)
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by loadConfig
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runMigrate(cfg config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: migrate needs up, down N|all, version or force N", errUsage)
	}
	m, err := migrations.New(cfg.DatabaseURL, logger)
	if err != nil {
		return err
	}
	defer m.Close()
	switch args[0] {
	case "up":
		if err := m.Up(); err != nil {
			return err
		}
	case "down":
		if len(args) < 2 {
			return fmt.Errorf("%w: migrate down needs a number of steps, or all", errUsage)
		}
		n := 0
		if args[1] != "all" {
			n, err = strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return fmt.Errorf("%w: migrate down: %q is not a positive number or all", errUsage, args[1])
			}
		}
		if err := m.Down(n); err != nil {
			return err
		}
	case "force":
		if len(args) < 2 {
			return fmt.Errorf("%w: migrate force needs a version", errUsage)
		}
		n, err := strconv.ParseUint(args[1], 10, 0)
		if err != nil {
			return fmt.Errorf("%w: migrate force: %q is not a version (0, or 1 to %d)", errUsage, args[1], migrations.Latest())
		}
		if err := m.Force(uint(n)); err != nil {
			return err
		}
	case "version":
	default:
		return fmt.Errorf("%w: unknown migrate command %q", errUsage, args[0])
	}
	v, dirty, err := m.Version()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d of %d (dirty: %t)\n", v, migrations.Latest(), dirty)
	return nil
}

// buildVersion is set by `make build` (-ldflags "-X main.buildVersion=...").
var buildVersion string

// version is the version stamped at build time, else the module version,
// else the VCS revision.
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "dev-" + s.Value[:12]
		}
	}
	return "dev"
}
