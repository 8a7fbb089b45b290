package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/bespin/bespin/internal/env"
)

// DefaultTestSecret is the `test` source's secret in development when
// TEST_WEBHOOK_SECRET is not set (the seed's behaviour).
const DefaultTestSecret = "test-secret"

// sourceName is what a source may be called: it is a URL segment, a
// metric label and a database value (the table has the same CHECK).
var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidSourceName reports whether s could name a source.
func ValidSourceName(s string) bool { return sourceName.MatchString(s) }

// Options are the registry's settings besides the secrets.
type Options struct {
	// Development allows the `test` source's default secret.
	Development bool
	// Tolerance is the accepted difference between a signed timestamp and
	// now, in both directions.
	Tolerance time.Duration
}

// Source is one enabled webhook source and its credentials. Secrets are
// unexported so they are never printed by accident.
type Source struct {
	Name string
	// DefaultSecret is true when the source runs on DefaultTestSecret.
	DefaultSecret bool

	hmacKeys     [][]byte           // generic, GitHub and Stripe: the secret's bytes
	standardKeys [][]byte           // Standard Webhooks: whsec_ secrets base64-decoded
	publicKeys   []*ecdsa.PublicKey // SendGrid's signed event webhook
	tolerance    time.Duration
	scheme       *SchemeSpec // WEBHOOK_SCHEME_<NAME>: the only scheme accepted; nil: any built-in one
}

// Disabled is a known source that has no credentials, and what enables it.
type Disabled struct {
	Name string
	Vars []string
}

// Registry is the set of sources built from configuration at start.
type Registry struct {
	sources  map[string]*Source
	disabled []Disabled
}

// builtin maps each built-in source to its variables: HMAC secrets and,
// for SendGrid, ECDSA public keys.
var builtin = []struct {
	name      string
	secretVar string
	keyVar    string
}{
	{"github", "GITHUB_WEBHOOK_SECRET", ""},
	{"stripe", "STRIPE_WEBHOOK_SECRET", ""},
	{"sendgrid", "SENDGRID_WEBHOOK_SECRET", "SENDGRID_WEBHOOK_PUBLIC_KEY"},
	{"test", "TEST_WEBHOOK_SECRET", ""},
}

const (
	genericPrefix = "WEBHOOK_SECRET_"
	schemePrefix  = "WEBHOOK_SCHEME_"
)

// NewRegistry builds the registry from the environment. Every
// secret variable may hold several comma-separated values (rotation); an
// empty value inside a list is an error, while an empty variable counts as
// unset. A source without credentials is disabled (see Disabled).
// WEBHOOK_SCHEME_<NAME> gives source <name> its one signature scheme (see
// ParseSchemeSpec); a source without one accepts every built-in scheme.
func NewRegistry(vars env.Vars, opts Options) (*Registry, error) {
	r := &Registry{sources: map[string]*Source{}}
	source := func(name string) *Source {
		s := r.sources[name]
		if s == nil {
			s = &Source{Name: name, tolerance: opts.Tolerance}
			r.sources[name] = s
		}
		return s
	}

	for _, b := range builtin {
		secrets, err := secretList(b.secretVar, vars[b.secretVar])
		if err != nil {
			return nil, err
		}
		if len(secrets) > 0 {
			source(b.name).addSecrets(secrets)
		}
		if b.keyVar != "" {
			keys, err := publicKeys(b.keyVar, vars[b.keyVar])
			if err != nil {
				return nil, err
			}
			if len(keys) > 0 {
				source(b.name).publicKeys = keys
			}
		}
	}

	// WEBHOOK_SECRET_<NAME> adds source <name> (or more secrets to a
	// built-in one).
	generic, err := sourceVars(vars, genericPrefix)
	if err != nil {
		return nil, err
	}
	for _, k := range generic {
		name := strings.ToLower(strings.TrimPrefix(k, genericPrefix))
		secrets, err := secretList(k, vars[k])
		if err != nil {
			return nil, err
		}
		if len(secrets) > 0 {
			source(name).addSecrets(secrets)
		}
	}

	if _, ok := r.sources["test"]; !ok && opts.Development {
		s := source("test")
		s.addSecrets([]string{DefaultTestSecret})
		s.DefaultSecret = true
	}

	schemes, err := sourceVars(vars, schemePrefix)
	if err != nil {
		return nil, err
	}
	for _, k := range schemes {
		if strings.TrimSpace(vars[k]) == "" {
			continue // empty counts as unset, as for secrets
		}
		name := strings.ToLower(strings.TrimPrefix(k, schemePrefix))
		spec, err := ParseSchemeSpec(vars[k])
		if err != nil {
			return nil, &env.Error{Var: k, Problem: err.Error()}
		}
		s := r.sources[name]
		if s == nil || len(s.hmacKeys) == 0 {
			return nil, &env.Error{Var: k, Problem: fmt.Sprintf("source %q has no secret: set %s (the scheme says how deliveries are signed, the secret enables the source)", name, secretVar(name))}
		}
		s.scheme = &spec
	}

	for _, b := range builtin {
		if _, ok := r.sources[b.name]; ok {
			continue
		}
		d := Disabled{Name: b.name, Vars: []string{b.secretVar}}
		if b.keyVar != "" {
			d.Vars = append(d.Vars, b.keyVar)
		}
		r.disabled = append(r.disabled, d)
	}
	return r, nil
}

// sourceVars lists the variables named prefix<NAME>, sorted so errors are
// deterministic, refusing names that cannot name a source.
func sourceVars(vars env.Vars, prefix string) ([]string, error) {
	var out []string
	for k := range vars {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	for _, k := range out {
		name := strings.ToLower(strings.TrimPrefix(k, prefix))
		if !ValidSourceName(name) {
			return nil, &env.Error{Var: k, Problem: fmt.Sprintf("%q is not a usable source name (lower-cased it must match %s)", name, sourceName)}
		}
	}
	return out, nil
}

// secretVar is the variable that holds source name's secrets.
func secretVar(name string) string {
	for _, b := range builtin {
		if b.name == name {
			return b.secretVar
		}
	}
	return genericPrefix + strings.ToUpper(name)
}

func secretList(name, value string) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	parts := strings.Split(value, ",")
	out := make([]string, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, &env.Error{Var: name, Problem: fmt.Sprintf("secret %d of %d is empty (separate rotated secrets with single commas)", i+1, len(parts))}
		}
		out = append(out, p)
	}
	return out, nil
}

func publicKeys(name, value string) ([]*ecdsa.PublicKey, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	parts := strings.Split(value, ",")
	var out []*ecdsa.PublicKey
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, &env.Error{Var: name, Problem: fmt.Sprintf("key %d of %d is empty", i+1, len(parts))}
		}
		der, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			return nil, &env.Error{Var: name, Problem: fmt.Sprintf("key %d is not base64 (SendGrid shows the verification key as base64 DER)", i+1)}
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return nil, &env.Error{Var: name, Problem: fmt.Sprintf("key %d is not a DER public key", i+1)}
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, &env.Error{Var: name, Problem: fmt.Sprintf("key %d is not an ECDSA P-256 key", i+1)}
		}
		out = append(out, ec)
	}
	return out, nil
}

// addSecrets keeps each secret as an HMAC key, and as a Standard Webhooks
// key: whsec_ secrets are base64 after the prefix (the Standard Webhooks
// format); anything else (including a whsec_ value that is not base64, such
// as some providers' own secrets) is used as raw bytes.
func (s *Source) addSecrets(secrets []string) {
	for _, sec := range secrets {
		s.hmacKeys = append(s.hmacKeys, []byte(sec))
		key := []byte(sec)
		if rest, ok := strings.CutPrefix(sec, "whsec_"); ok {
			if k, err := base64.StdEncoding.DecodeString(rest); err == nil && len(k) > 0 {
				key = k
			}
		}
		s.standardKeys = append(s.standardKeys, key)
	}
}

// Source returns the enabled source called name.
func (r *Registry) Source(name string) (*Source, bool) {
	s, ok := r.sources[name]
	return s, ok
}

// Enabled lists the enabled sources' names, sorted.
func (r *Registry) Enabled() []string {
	out := make([]string, 0, len(r.sources))
	for n := range r.sources {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Disabled lists the built-in sources that have no credentials.
func (r *Registry) Disabled() []Disabled { return r.disabled }
