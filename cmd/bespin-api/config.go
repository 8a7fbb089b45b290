package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bespin/bespin/internal/env"
	"github.com/bespin/bespin/ratelimit"
	"github.com/bespin/bespin/webhook"
)

// config is everything bespin-api reads from its environment. loadConfig
// validates it all at start, so a bad value stops the process with one line
// naming the variable instead of failing later.
type config struct {
	Env         string // development or production
	DatabaseURL string
	DBMaxConns  int32
	Port        string

	DatabaseURLSet bool // DATABASE_URL chose the database, not the DB_* variables

	RedisAddr      string
	RedisPassword  string
	RedisDB        int
	RedisKeyPrefix string

	APITokens      []string
	SessionTTL     time.Duration
	AllowedOrigins []string
	TrustedProxies []netip.Prefix
	RiverUI        bool // serve River UI at /riverui/

	HTTPMaxHeaderBytes    int           // request line and headers, any route (net/http answers 431 beyond)
	HTTPReadHeaderTimeout time.Duration // a client must send its headers within this
	WSMaxConnectionsPerIP int           // open WebSockets per client address; 0 for no cap
	WebhookMaxHeaderBytes int           // a delivery's headers (431 beyond); what a receipt stores is these, redacted

	AutoMigrate     bool
	RunWorkers      bool
	ShutdownTimeout time.Duration
	LogLevel        string
	LogFormat       string // json or text
	PprofAddr       string // host:port for net/http/pprof; empty disables

	JobWorkers           int
	JobFetchCooldown     time.Duration
	JobFetchPollInterval time.Duration
	JobTimeout           time.Duration // see jobs.Config
	JobRescueAfter       time.Duration

	RateLimitJobs     ratelimit.Limit
	RateLimitWebhooks ratelimit.Limit
	RateLimitLogin    ratelimit.Limit

	WebhookMaxBodyBytes int64
	WebhookTolerance    time.Duration
	WebhookRetention    time.Duration
	WebhookDedupeWindow time.Duration // deliveries without an id: copies of a body within it are duplicates

	// Webhooks is the webhook source registry (secrets validated here).
	Webhooks *webhook.Registry
}

func (c config) production() bool { return c.Env == "production" }

func loadConfig(environ []string) (config, error) {
	vars := env.Parse(environ)
	p := parser{vars: vars}
	var c config

	c.Env = p.oneOf("BESPIN_ENV", "development", "development", "production")
	c.DatabaseURL = p.databaseURL()
	c.DatabaseURLSet = strings.TrimSpace(p.str("DATABASE_URL", "")) != ""
	c.DBMaxConns = int32(p.intRange("DB_MAX_CONNS", 25, 2, 1000))
	c.Port = p.port("PORT", "3002")

	c.RedisAddr = p.hostPort("REDIS_ADDR", "localhost:6379")
	c.RedisPassword = p.str("REDIS_PASSWORD", "")
	c.RedisDB = p.intRange("REDIS_DB", 0, 0, 1<<20)
	c.RedisKeyPrefix = p.str("REDIS_KEY_PREFIX", "bespin:")

	c.APITokens = p.list("API_TOKEN")
	c.SessionTTL = p.duration("SESSION_TTL", 12*time.Hour, time.Minute)
	c.AllowedOrigins = p.list("ALLOWED_ORIGINS")
	c.TrustedProxies = p.prefixes("TRUSTED_PROXIES")
	c.RiverUI = p.boolean("RIVER_UI", true)

	c.HTTPMaxHeaderBytes = p.intRange("HTTP_MAX_HEADER_BYTES", 64<<10, 4<<10, 16<<20)
	c.HTTPReadHeaderTimeout = p.duration("HTTP_READ_HEADER_TIMEOUT", 10*time.Second, 100*time.Millisecond)
	c.WSMaxConnectionsPerIP = p.intRange("WS_MAX_CONNECTIONS_PER_IP", 100, 0, 1_000_000)
	c.WebhookMaxHeaderBytes = p.intRange("WEBHOOK_MAX_HEADER_BYTES", 16<<10, 1<<10, 16<<20)

	c.AutoMigrate = p.boolean("AUTO_MIGRATE", true)
	c.RunWorkers = p.boolean("RUN_WORKERS", true)
	c.ShutdownTimeout = p.duration("SHUTDOWN_TIMEOUT", 30*time.Second, time.Second)
	c.LogLevel = p.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")
	defaultFormat := "text"
	if c.Env == "production" {
		defaultFormat = "json"
	}
	c.LogFormat = p.oneOf("LOG_FORMAT", defaultFormat, "json", "text")
	if s := p.str("PPROF_ADDR", ""); s != "" {
		c.PprofAddr = p.hostPort("PPROF_ADDR", s)
	}

	c.JobWorkers = p.intRange("JOB_WORKERS", 50, 1, 10000)
	c.JobFetchCooldown = p.duration("JOB_FETCH_COOLDOWN", 10*time.Millisecond, time.Millisecond)
	c.JobFetchPollInterval = p.duration("JOB_FETCH_POLL_INTERVAL", time.Second, time.Millisecond)
	c.JobTimeout = p.duration("JOB_TIMEOUT", 30*time.Second, time.Second)
	c.JobRescueAfter = p.duration("JOB_RESCUE_AFTER", c.JobTimeout+30*time.Second, time.Second)
	if p.err == nil && c.JobRescueAfter < c.JobTimeout {
		p.fail("JOB_RESCUE_AFTER", "%s is shorter than JOB_TIMEOUT (%s): jobs could be run again while they still run", c.JobRescueAfter, c.JobTimeout)
	}

	c.RateLimitJobs = ratelimit.Limit{
		PerMinute: p.intRange("RATE_LIMIT_JOBS_PER_MINUTE", 600, 0, 100_000_000),
		Burst:     p.intRange("RATE_LIMIT_JOBS_BURST", 60, 1, 100_000_000),
	}
	c.RateLimitWebhooks = ratelimit.Limit{
		PerMinute: p.intRange("RATE_LIMIT_WEBHOOKS_PER_MINUTE", 6000, 0, 100_000_000),
		Burst:     p.intRange("RATE_LIMIT_WEBHOOKS_BURST", 600, 1, 100_000_000),
	}
	c.RateLimitLogin = ratelimit.Limit{
		PerMinute: p.intRange("RATE_LIMIT_LOGIN_PER_MINUTE", 10, 0, 100_000_000),
		Burst:     p.intRange("RATE_LIMIT_LOGIN_BURST", 5, 1, 100_000_000),
	}

	c.WebhookMaxBodyBytes = int64(p.intRange("WEBHOOK_MAX_BODY_BYTES", webhook.DefaultMaxBodyBytes, 1, 1<<30))
	c.WebhookTolerance = p.duration("WEBHOOK_TOLERANCE", webhook.DefaultTolerance, time.Second)
	c.WebhookRetention = p.duration("WEBHOOK_RETENTION", 90*24*time.Hour, 0)
	c.WebhookDedupeWindow = p.duration("WEBHOOK_DEDUPE_WINDOW", 24*time.Hour, 0)

	if p.err != nil {
		return config{}, p.err
	}
	if c.WebhookMaxHeaderBytes > c.HTTPMaxHeaderBytes {
		return config{}, &env.Error{Var: "WEBHOOK_MAX_HEADER_BYTES", Problem: fmt.Sprintf("%d is more than HTTP_MAX_HEADER_BYTES (%d), which every request is held to first", c.WebhookMaxHeaderBytes, c.HTTPMaxHeaderBytes)}
	}
	if c.production() && len(c.APITokens) == 0 {
		return config{}, &env.Error{Var: "API_TOKEN", Problem: "must be set when BESPIN_ENV=production (it protects the read and control API, metrics, dashboards and River UI)"}
	}
	webhooks, err := webhook.NewRegistry(vars, webhook.Options{Development: !c.production(), Tolerance: c.WebhookTolerance})
	if err != nil {
		return config{}, err // an *env.Error: "VARIABLE: problem"
	}
	c.Webhooks = webhooks
	return c, nil
}

// parser reads variables and remembers the first error, so loadConfig reads
// as a list of declarations.
type parser struct {
	vars env.Vars
	err  error
}

func (p *parser) fail(name, format string, args ...any) {
	if p.err == nil {
		p.err = &env.Error{Var: name, Problem: fmt.Sprintf(format, args...)}
	}
}

func (p *parser) str(name, def string) string {
	if v, ok := p.vars[name]; ok && v != "" {
		return v
	}
	return def
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(strings.TrimSpace(p.str(name, def)))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

func (p *parser) intRange(name string, def, lo, hi int) int {
	s := strings.TrimSpace(p.str(name, ""))
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.fail(name, "%q is not a whole number between %d and %d", s, lo, hi)
		return def
	}
	return n
}

func (p *parser) boolean(name string, def bool) bool {
	s := strings.TrimSpace(p.str(name, ""))
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		p.fail(name, "%q is not true or false", s)
		return def
	}
	return b
}

// duration accepts Go durations ("90s", "5m") and whole days ("90d"); "0"
// is zero. Values below min (other than an allowed zero) are refused.
func (p *parser) duration(name string, def, min time.Duration) time.Duration {
	s := strings.TrimSpace(p.str(name, ""))
	if s == "" {
		return def
	}
	d, err := parseDuration(s)
	if err != nil || d < 0 || (d < min) {
		if min > 0 {
			p.fail(name, "%q is not a duration of at least %s (like 30s, 5m, 2h or 90d)", s, min)
		} else {
			p.fail(name, "%q is not a duration (like 30s, 5m, 2h or 90d; 0 to disable)", s)
		}
		return def
	}
	return d
}

func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func (p *parser) port(name, def string) string {
	s := strings.TrimSpace(p.str(name, def))
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		p.fail(name, "%q is not a port number (0-65535)", s)
		return def
	}
	return s
}

func (p *parser) hostPort(name, def string) string {
	s := strings.TrimSpace(p.str(name, def))
	if _, _, err := net.SplitHostPort(s); err != nil {
		p.fail(name, "%q is not host:port", s)
		return def
	}
	return s
}

// list splits a comma-separated value, dropping blanks.
func (p *parser) list(name string) []string {
	var out []string
	for _, s := range strings.Split(p.str(name, ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range p.list(name) {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				p.fail(name, "%q is not a CIDR (like 10.0.0.0/8) or an IP address", s)
				return nil
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, pfx.Masked())
	}
	return out
}

// databaseURL is DATABASE_URL when set, else one built from the seed's DB_*
// variables.
func (p *parser) databaseURL() string {
	if s := strings.TrimSpace(p.str("DATABASE_URL", "")); s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			p.fail("DATABASE_URL", "is not a postgres:// URL")
			return ""
		}
		return s
	}
	port := p.port("DB_PORT", "5432")
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(p.str("DB_USER", "postgres"), p.str("DB_PASSWORD", "postgres")),
		Host:   net.JoinHostPort(p.str("DB_HOST", "localhost"), port),
		Path:   "/" + p.str("DB_NAME", "bespin"),
	}
	q := url.Values{}
	q.Set("sslmode", p.str("DB_SSLMODE", "disable"))
	u.RawQuery = q.Encode()
	return u.String()
}

var errUsage = errors.New("usage")
