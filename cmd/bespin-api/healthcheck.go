package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	"github.com/bespin/bespin/sql/migrations"
)

// healthcheckTimeout bounds one check; orchestrators run their own timeout
// around it too.
const healthcheckTimeout = 5 * time.Second

// runHealthcheck is `bespin-api healthcheck [worker]`, for container
// healthchecks: the distroless image has no shell and no curl. It reads
// the same environment as the process it checks.
//
//   - healthcheck (a `serve` process): GET /readyz on 127.0.0.1:PORT; healthy
//     when it answers 200, that is when the server runs and Postgres answers.
//   - healthcheck worker: a worker has no port, so this checks what it needs
//     to work jobs: Postgres answers at the configured database, with the
//     schema this binary expects. It cannot see a worker process that hangs
//     (a worker that fails exits instead).
func runHealthcheck(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	mode := "serve"
	if len(args) > 0 {
		mode = args[0]
	}
	switch mode {
	case "serve":
		return checkReady(ctx, cfg, stdout)
	case "worker":
		m, err := migrations.New(cfg.DatabaseURL, nil)
		if err != nil {
			return err
		}
		defer m.Close()
		if err := m.Check(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "ok: Postgres answers and the schema is current")
		return nil
	}
	return fmt.Errorf("%w: healthcheck takes no argument (serve) or worker, not %q", errUsage, mode)
}

func checkReady(ctx context.Context, cfg config, stdout io.Writer) error {
	if cfg.Port == "0" {
		return fmt.Errorf("PORT is 0 (a random port): healthcheck needs the port the server listens on")
	}
	url := "http://127.0.0.1:" + cfg.Port + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ue := (*neturl.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		return fmt.Errorf("GET %s: %w (is `bespin-api serve` running with PORT=%s?)", url, err, cfg.Port)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	summary := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: GET %s: %s %s", url, resp.Status, summary)
	}
	fmt.Fprintln(stdout, "ready:", summary)
	return nil
}
