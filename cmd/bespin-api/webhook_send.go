package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/bespin/bespin/webhook"
)

// runWebhook is `bespin-api webhook send`: it signs a delivery the way the
// source's provider does, with the secret the server would check it
// against (read from the same environment), and posts it. With -print it
// prints the headers instead, in the form `curl -H @file` reads.
func runWebhook(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "send" {
		return fmt.Errorf("%w: webhook needs a subcommand: webhook send -source NAME -file BODY.json (webhook send -h for the flags)", errUsage)
	}
	fs := flag.NewFlagSet("bespin-api webhook send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	source := fs.String("source", "test", "the source (POST /api/webhooks/{source}); its secret is read from the usual variable (GITHUB_WEBHOOK_SECRET, WEBHOOK_SECRET_<NAME>, ...)")
	file := fs.String("file", "", "the body to send, byte for byte (- for standard input)")
	scheme := fs.String("scheme", "", "generic, github, stripe, sendgrid or standard (default: the source's provider's, else generic)")
	event := fs.String("event", "", "event name, for the schemes that carry it in a header (generic X-Webhook-Event, GitHub X-GitHub-Event)")
	id := fs.String("id", "", "delivery id (GitHub X-GitHub-Delivery, Standard Webhooks webhook-id, generic X-Webhook-Id; default: random for GitHub and Standard Webhooks)")
	keyFile := fs.String("key", "", "PEM file with the ECDSA P-256 private key that signs SendGrid deliveries")
	contentType := fs.String("content-type", "application/json", "Content-Type of the body")
	target := fs.String("url", "", "server base URL (default http://localhost:PORT)")
	printOnly := fs.Bool("print", false, "print the signed headers instead of sending")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: webhook send: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *file == "" {
		return fmt.Errorf("%w: webhook send needs -file (the body to send)", errUsage)
	}

	src, ok := cfg.Webhooks.Source(*source)
	if !ok {
		return fmt.Errorf("source %q is not enabled here: %s", *source, enableHint(cfg, *source))
	}
	body, err := readBody(*file)
	if err != nil {
		return err
	}
	opts := webhook.SignOptions{Scheme: webhook.Scheme(*scheme), Event: *event, ID: *id, Time: time.Now()}
	if opts.Scheme == "" {
		opts.Scheme = webhook.DefaultScheme(*source)
	}
	if opts.ID == "" && (opts.Scheme == webhook.SchemeGitHub || opts.Scheme == webhook.SchemeStandard) {
		opts.ID = randomID()
	}
	if *keyFile != "" {
		if opts.Key, err = readECDSAKey(*keyFile); err != nil {
			return err
		}
	}
	headers, err := src.Sign(body, opts)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	headers.Set("Content-Type", *contentType)

	if *printOnly {
		names := make([]string, 0, len(headers))
		for k := range headers {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(stdout, "%s: %s\n", k, headers.Get(k))
		}
		return nil
	}

	base := *target
	if base == "" {
		base = "http://localhost:" + cfg.Port
	}
	url := strings.TrimRight(base, "/") + "/api/webhooks/" + *source
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	req.Header = headers
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(stdout, "%s %s\n", resp.Status, bytes.TrimSpace(answer))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}

// enableHint names the variables that would enable source.
func enableHint(cfg config, source string) string {
	for _, d := range cfg.Webhooks.Disabled() {
		if d.Name == source {
			return "set " + strings.Join(d.Vars, " or ")
		}
	}
	if !webhook.ValidSourceName(source) {
		return "not a source name"
	}
	return "set WEBHOOK_SECRET_" + strings.ToUpper(source)
}

func readBody(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("-file: %w", err)
	}
	return b, nil
}

// readECDSAKey reads a PEM private key: PKCS #8 ("PRIVATE KEY", what
// `openssl genpkey` writes) or SEC 1 ("EC PRIVATE KEY").
func readECDSAKey(name string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("-key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("-key: %s is not a PEM file", name)
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("-key: %s holds no EC private key: %w", name, err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("-key: %s holds a %T, not an ECDSA key", name, k)
	}
	return ec, nil
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "msg_" + hex.EncodeToString(b)
}
