package main

import (
	"context"
	"io"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/bespin/bespin/internal/dbtest"
)

// There is no Docker engine in CI, so the Docker files are checked the way
// a reviewer would read them, and the healthcheck they rely on is run
// against a real server.

type composeFile struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context string            `yaml:"context"`
			Args    map[string]string `yaml:"args"`
		} `yaml:"build"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

// interpolate applies compose's ${VAR:-default} with every variable unset.
func interpolate(s string) string {
	return regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(s, "$1")
}

// pinned: a version tag with at least major.minor, or a digest. The
// distroless images publish no version tags, only their Debian release.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	if strings.HasPrefix(image, "gcr.io/distroless/") {
		return regexp.MustCompile(`-debian\d+:`).MatchString(image)
	}
	return regexp.MustCompile(`:\d+\.\d+(\.\d+)?([-.][a-z0-9.]+)?$`).MatchString(image)
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + name)
	require.NoError(t, err)
	return string(b)
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	var c composeFile
	require.NoError(t, yaml.Unmarshal([]byte(readRepoFile(t, "docker-compose.yml")), &c))
	require.ElementsMatch(t, []string{"postgres", "redis", "api"}, keys(c.Services), "River UI is served by the api at /riverui/")

	for name, s := range c.Services {
		if s.Build == nil {
			require.True(t, pinned(s.Image), "service %s: image %q is not pinned to a version", name, s.Image)
		}
		for _, p := range s.Ports {
			require.Regexp(t, `^127\.0\.0\.1:\$\{[A-Z_]+_HOST_PORT:-\d*\}:\d+$`, p,
				"service %s publishes %q: on 127.0.0.1, with a configurable host port", name, p)
		}
		require.NotNil(t, s.Healthcheck, "service %s has a healthcheck", name)
	}

	api := c.Services["api"]
	require.Equal(t, []string{"CMD", "/bespin-api", "healthcheck"}, api.Healthcheck.Test)
	require.Equal(t, "${VERSION:-dev}", api.Build.Args["VERSION"], "the version is passed into the build")

	// The api's environment is a configuration bespin-api accepts, pointing
	// at the compose services.
	var environ []string
	for k, v := range api.Environment {
		environ = append(environ, k+"="+interpolate(v))
	}
	cfg, err := loadConfig(environ)
	require.NoError(t, err)
	u, err := url.Parse(cfg.DatabaseURL)
	require.NoError(t, err)
	require.Equal(t, "postgres:5432", u.Host)
	require.Equal(t, "redis:6379", cfg.RedisAddr)
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	df := readRepoFile(t, "Dockerfile")
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	require.Len(t, froms, 2)
	for _, f := range froms {
		require.True(t, pinned(f[1]), "FROM %s is not pinned", f[1])
	}
	// The build image's Go is the one go.mod asks for.
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(readRepoFile(t, "go.mod"))[1]
	require.True(t, strings.HasPrefix(froms[0][1], "golang:"+goVersion+"-"), "build image %s, go.mod says go %s", froms[0][1], goVersion)
	require.Contains(t, df, "ARG VERSION")
	require.Contains(t, df, "-X main.buildVersion=${VERSION}")
	require.Contains(t, df, "COPY --from=build /out/bespin-api /bespin-api", "where the compose healthcheck finds the binary")

	ignored := strings.Fields(readRepoFile(t, ".dockerignore"))
	for _, p := range []string{".git", ".data", "bin"} {
		require.Contains(t, ignored, p, ".dockerignore leaves out %s", p)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// `bespin-api healthcheck` exits 0 while the server on PORT is ready and 1
// when it is not (Postgres down, or no server); `healthcheck worker` checks
// Postgres and the schema. Run as the built binary: Docker reads the exit
// code.
func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	proxy, proxied := dbtest.NewProxy(t, dbtest.URL(t))
	srv := startServer(t, "DATABASE_URL="+proxied)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]

	check := func(args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"healthcheck"}, args...)...)
		cmd.Env = []string{"PORT=" + port, "DATABASE_URL=" + proxied}
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	code, out := check()
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `ready: {"status":"ok"`)
	code, out = check("worker")
	require.Equal(t, 0, code, out)

	proxy.Down()
	code, out = check()
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "not ready: GET http://127.0.0.1:"+port+"/readyz: 503")
	code, out = check("worker")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "DATABASE_URL: no Postgres answers")
	proxy.Up()

	require.NoError(t, srv.stop())
	code, out = check()
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "is `bespin-api serve` running with PORT="+port)

	err := run(context.Background(), []string{"bespin-api", "healthcheck", "sideways"}, nil, io.Discard, io.Discard)
	require.ErrorIs(t, err, errUsage)
}
