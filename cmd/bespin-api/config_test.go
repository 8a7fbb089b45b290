package main

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(nil)
	require.NoError(t, err)
	require.Equal(t, "development", c.Env)
	require.Equal(t, "postgres://postgres:postgres@localhost:5432/bespin?sslmode=disable", c.DatabaseURL)
	require.Equal(t, "3002", c.Port)
	require.Equal(t, "localhost:6379", c.RedisAddr)
	require.True(t, c.AutoMigrate)
	require.True(t, c.RunWorkers)
	require.Equal(t, "text", c.LogFormat)
	require.Equal(t, int64(1<<20), c.WebhookMaxBodyBytes)
	require.Equal(t, 5*time.Minute, c.WebhookTolerance)
	require.Equal(t, 90*24*time.Hour, c.WebhookRetention)
	require.Equal(t, 24*time.Hour, c.WebhookDedupeWindow)
	require.Equal(t, 64<<10, c.HTTPMaxHeaderBytes)
	require.Equal(t, 10*time.Second, c.HTTPReadHeaderTimeout)
	require.Equal(t, 16<<10, c.WebhookMaxHeaderBytes)
	require.Equal(t, 100, c.WSMaxConnectionsPerIP)
	require.Equal(t, 30*time.Second, c.JobTimeout)
	require.Equal(t, time.Minute, c.JobRescueAfter, "JOB_TIMEOUT + 30s")
	require.False(t, c.DatabaseURLSet)
	require.Equal(t, 12*time.Hour, c.SessionTTL)
	require.True(t, c.RiverUI)
	require.Equal(t, 10, c.RateLimitLogin.PerMinute)
	require.Equal(t, 5, c.RateLimitLogin.Burst)
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	c, err := loadConfig([]string{
		"DB_HOST=db.internal", "DB_PORT=6543", "DB_USER=app", "DB_PASSWORD=p@ss/word", "DB_NAME=jobs",
		"API_TOKEN= one, two ,", "TRUSTED_PROXIES=10.0.0.0/8,192.168.1.7",
		"WEBHOOK_RETENTION=0", "BESPIN_ENV=production", "WEBHOOK_DEDUPE_WINDOW=0", "WS_MAX_CONNECTIONS_PER_IP=0",
	})
	require.NoError(t, err)
	require.Equal(t, "postgres://app:p%40ss%2Fword@db.internal:6543/jobs?sslmode=disable", c.DatabaseURL)
	require.Equal(t, []string{"one", "two"}, c.APITokens)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32")}, c.TrustedProxies)
	require.Zero(t, c.WebhookRetention)
	require.Zero(t, c.WebhookDedupeWindow, "0 turns de-duplication by content off")
	require.Zero(t, c.WSMaxConnectionsPerIP, "0 lifts the cap")
	require.Equal(t, "json", c.LogFormat, "production logs JSON")

	c, err = loadConfig([]string{"DATABASE_URL=postgres://u@h/d", "DB_HOST=ignored"})
	require.NoError(t, err)
	require.Equal(t, "postgres://u@h/d", c.DatabaseURL, "DATABASE_URL wins over DB_*")
	require.True(t, c.DatabaseURLSet)

	c, err = loadConfig([]string{"JOB_TIMEOUT=2m"})
	require.NoError(t, err)
	require.Equal(t, 2*time.Minute+30*time.Second, c.JobRescueAfter, "the rescue follows the timeout")
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  string
		want string
	}{
		{"PORT=99999", "PORT: "},
		{"DB_PORT=x", "DB_PORT: "},
		{"DATABASE_URL=mysql://x", "DATABASE_URL: "},
		{"REDIS_ADDR=nohostport", "REDIS_ADDR: "},
		{"BESPIN_ENV=staging", "BESPIN_ENV: "},
		{"AUTO_MIGRATE=maybe", "AUTO_MIGRATE: "},
		{"SHUTDOWN_TIMEOUT=10", "SHUTDOWN_TIMEOUT: "},
		{"WEBHOOK_RETENTION=-1d", "WEBHOOK_RETENTION: "},
		{"WEBHOOK_MAX_BODY_BYTES=0", "WEBHOOK_MAX_BODY_BYTES: "},
		{"TRUSTED_PROXIES=10.0.0.0/33", "TRUSTED_PROXIES: "},
		{"JOB_WORKERS=0", "JOB_WORKERS: "},
		{"WEBHOOK_DEDUPE_WINDOW=a day", "WEBHOOK_DEDUPE_WINDOW: "},
		{"WS_MAX_CONNECTIONS_PER_IP=-1", "WS_MAX_CONNECTIONS_PER_IP: "},
		{"SESSION_TTL=30s", "SESSION_TTL: "},
		{"RIVER_UI=perhaps", "RIVER_UI: "},
		{"RATE_LIMIT_LOGIN_BURST=0", "RATE_LIMIT_LOGIN_BURST: "},
		{"HTTP_MAX_HEADER_BYTES=100", "HTTP_MAX_HEADER_BYTES: "},
		{"HTTP_READ_HEADER_TIMEOUT=0", "HTTP_READ_HEADER_TIMEOUT: "},
		{"WEBHOOK_MAX_HEADER_BYTES=100000", "WEBHOOK_MAX_HEADER_BYTES: 100000 is more than HTTP_MAX_HEADER_BYTES"},
		{"JOB_TIMEOUT=0", "JOB_TIMEOUT: "},
		{"JOB_RESCUE_AFTER=10s", "JOB_RESCUE_AFTER: 10s is shorter than JOB_TIMEOUT (30s)"},
		{"BESPIN_ENV=production", "API_TOKEN: "},
	} {
		_, err := loadConfig([]string{tc.env})
		require.Error(t, err, tc.env)
		require.Contains(t, err.Error(), tc.want, tc.env)
	}
}
