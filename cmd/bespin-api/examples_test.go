package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/webhook"
)

// exampleEnv is examples/example.env as KEY=value entries.
func exampleEnv(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../examples/example.env")
	require.NoError(t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// readHeaders reads a file in curl's -H @file format.
func readHeaders(t *testing.T, name string) http.Header {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	h := http.Header{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		require.True(t, ok, "%s: %q is not Name: value", name, line)
		h.Add(k, v)
	}
	return h
}

// signedAt is the timestamp a delivery's headers sign, or now.
func signedAt(t *testing.T, h http.Header) time.Time {
	t.Helper()
	v := h.Get(webhook.HeaderStandardTime) + h.Get(webhook.HeaderSendGridTime)
	if s := h.Get(webhook.HeaderStripe); s != "" {
		sig, err := webhook.ParseStripeSignature(s)
		require.NoError(t, err)
		return sig.Time
	}
	if v == "" {
		return time.Now()
	}
	n, err := strconv.ParseInt(v, 10, 64)
	require.NoError(t, err)
	return time.Unix(n, 0)
}

// Every example body has a headers file that signs it, for the source its
// folder names, under examples/example.env.
func TestExampleDeliveriesAreSigned(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(exampleEnv(t))
	require.NoError(t, err)
	bodies, err := filepath.Glob("../../examples/*/*.json")
	require.NoError(t, err)
	schemes := map[webhook.Scheme]bool{}
	for _, body := range bodies {
		name := strings.TrimSuffix(body, ".json")
		source := filepath.Base(filepath.Dir(body))
		t.Run(source+"/"+filepath.Base(name), func(t *testing.T) {
			b, err := os.ReadFile(body)
			require.NoError(t, err)
			h := readHeaders(t, name+".headers")
			src, ok := cfg.Webhooks.Source(source)
			require.True(t, ok, "example.env enables %s", source)
			v, err := src.Verify(webhook.Request{Header: h, Body: b}, signedAt(t, h))
			require.NoError(t, err, "%s.headers signs %s", name, body)
			d, err := webhook.ParsePayload(v, h, webhook.EncodingJSON, b)
			require.NoError(t, err)
			require.NotEmpty(t, d.Event)
			schemes[v.Scheme] = true
		})
	}
	require.Len(t, schemes, 5, "one example per scheme: generic, GitHub, Stripe, SendGrid, Standard Webhooks")
}

// The commands of examples/README.md marked as run here, run as written
// from the repository root against a real server configured with
// example.env: every delivery is accepted, the curl replays too, and the
// watcher sees its job complete.
func TestExamplesReadme(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is needed (Debian/Ubuntu: apt-get install curl)")
	bin := buildBinary(t)
	env := exampleEnv(t)
	srv := startServer(t, env...)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]

	readme, err := os.ReadFile("../../examples/README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)<!-- run by cmd/bespin-api/examples_test.go -->\n```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	require.Len(t, blocks, 2, "the sends and the curl replays")
	var out strings.Builder
	for _, block := range blocks {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", block[1])
		cmd.Dir = "../.."
		cmd.Env = append(append(os.Environ(), env...), "PORT="+port,
			"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		b, err := cmd.CombinedOutput()
		out.Write(b)
		require.NoError(t, err, "examples/README.md:\n%s\noutput:\n%s\nserver logs:\n%s", block[1], b, srv.logs)
	}
	require.Equal(t, 5, strings.Count(out.String(), "201 Created"), out.String())
	require.Regexp(t, `(?m)^\{"type":"job_status".*"status":"completed"`, out.String(), "the watcher printed the completed job")
	require.Equal(t, 5+2, strings.Count(out.String(), `"duplicate":false`), "five sends and two curl replays, each a new receipt:\n%s", out.String())
}

// webhook send says what is wrong: a source without a secret, a missing
// body, a signature the server refuses.
func TestWebhookSendErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "TEST_WEBHOOK_SECRET=server-secret")
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	send := func(env []string, args ...string) error {
		return run(context.Background(), append([]string{"bespin-api", "webhook", "send"}, args...), append(env, "PORT="+port), io.Discard, io.Discard)
	}
	body := "../../examples/test/ping.json"

	err := send(nil, "-source", "github", "-file", body)
	require.ErrorContains(t, err, `source "github" is not enabled here: set GITHUB_WEBHOOK_SECRET`)
	err = send(nil, "-source", "shopify", "-file", body)
	require.ErrorContains(t, err, "set WEBHOOK_SECRET_SHOPIFY")
	err = send(nil, "-source", "test")
	require.ErrorIs(t, err, errUsage)
	err = send(nil, "-source", "test", "-file", "nope.json")
	require.ErrorContains(t, err, "-file: open nope.json")
	err = send([]string{"GITHUB_WEBHOOK_SECRET=x"}, "-source", "github", "-file", body)
	require.ErrorContains(t, err, "needs an event")
	err = send([]string{"TEST_WEBHOOK_SECRET=client-secret"}, "-source", "test", "-file", body)
	require.ErrorContains(t, err, "401 Unauthorized", "signed with another secret than the server's")
	require.NoError(t, send([]string{"TEST_WEBHOOK_SECRET=server-secret"}, "-source", "test", "-file", body))
}
