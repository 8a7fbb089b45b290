// Package env is how Bespin reads its configuration: the process
// environment as a map, and the one error type that names the variable at
// fault. cmd/bespin-api parses its settings from it, and the webhook source
// registry discovers WEBHOOK_SECRET_<NAME> variables in it, so both read
// the same map and fail the same way.
package env

import "strings"

// Vars is the environment, variable name to value.
type Vars map[string]string

// Parse turns os.Environ-style "KEY=value" entries into Vars. Entries
// without "=" are ignored; a later entry wins over an earlier one.
func Parse(environ []string) Vars {
	vars := make(Vars, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// Error is a configuration error: the variable at fault and what is wrong
// with it, printed as "VARIABLE: problem".
type Error struct {
	Var, Problem string
}

func (e *Error) Error() string { return e.Var + ": " + e.Problem }
