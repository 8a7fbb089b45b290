package main

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bespin/bespin/internal/env"
	"github.com/bespin/bespin/sql/migrations"
)

// explainDatabaseError turns "cannot connect to Postgres" into a line that
// names the variable that chose the database, where it looked, and what
// to do. Other errors are returned as they are.
func explainDatabaseError(cfg config, err error) error {
	var ce *migrations.ConnectError
	if !errors.As(err, &ce) {
		return err
	}
	vars := func(url, dbVars string) string {
		if cfg.DatabaseURLSet {
			return url
		}
		return dbVars
	}
	code := ""
	if pgErr := (*pgconn.PgError)(nil); errors.As(ce, &pgErr) {
		code = pgErr.Code
	}
	switch {
	case ce.Unreachable():
		v := vars("DATABASE_URL", "DB_HOST/DB_PORT")
		return &env.Error{Var: v, Problem: fmt.Sprintf(
			"no Postgres answers at %s (%s): start Postgres (`make services`) or fix %s", ce.Addr, ce.Reason(), v)}
	case code == "3D000": // invalid_catalog_name
		v := vars("DATABASE_URL", "DB_NAME")
		return &env.Error{Var: v, Problem: fmt.Sprintf(
			"Postgres at %s has no database %q: create it (`createdb %s`; `make services` does for `make dev`) or fix %s",
			ce.Addr, ce.Database, ce.Database, v)}
	case code == "28P01" || code == "28000": // invalid_password, invalid_authorization_specification
		v := vars("DATABASE_URL", "DB_USER/DB_PASSWORD")
		return &env.Error{Var: v, Problem: fmt.Sprintf(
			"Postgres at %s refused the connection: %s: fix the user or password in %s", ce.Addr, ce.Reason(), v)}
	}
	return &env.Error{Var: vars("DATABASE_URL", "DB_*"), Problem: ce.Error()}
}
