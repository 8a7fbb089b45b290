package dbtest

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// startContainer starts a throwaway Postgres in Docker for machines that
// have an engine but no local server. The container lives as long as the
// test process; testcontainers' reaper removes it afterwards.
func startContainer(ctx context.Context) (string, error) {
	if !dockerReachable() {
		return "", errors.New("no Docker engine is reachable")
	}
	ctr, err := postgres.Run(ctx, "postgres:15-alpine",
		postgres.WithDatabase("postgres"),
		postgres.WithUsername("postgres"),
		postgres.WithPassword("postgres"),
		testcontainers.WithWaitStrategy(wait.ForLog("database system is ready to accept connections").
			WithOccurrence(2).WithStartupTimeout(60*time.Second)),
	)
	if err != nil {
		return "", err
	}
	return ctr.ConnectionString(ctx, "sslmode=disable")
}

// dockerReachable is a cheap check before asking testcontainers, which
// otherwise spends a while discovering there is nothing to talk to.
func dockerReachable() bool {
	if os.Getenv("DOCKER_HOST") != "" {
		return true
	}
	_, err := os.Stat("/var/run/docker.sock")
	return err == nil
}
