#!/usr/bin/env bash
# Makes Postgres and Redis reachable for `make dev` and `make test`:
#   1. whatever already answers at the configured addresses is used;
#   2. else, with a Docker engine, `docker compose up -d postgres redis`;
#   3. else private `postgres` / `redis-server` processes under .data/.
# Then it makes sure the database named by DB_NAME (default bespin) exists.
# Usage: scripts/services.sh [--no-db]
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
data="$root/.data"

pg_host=${DB_HOST:-127.0.0.1}
pg_port=${DB_PORT:-5432}
pg_user=${DB_USER:-postgres}
db_name=${DB_NAME:-bespin}
redis_addr=${REDIS_ADDR:-127.0.0.1:6379}
redis_host=${redis_addr%:*}
redis_port=${redis_addr##*:}
[ "$pg_host" = localhost ] && pg_host=127.0.0.1
[ "$redis_host" = localhost ] && redis_host=127.0.0.1

say() { printf 'services: %s\n' "$*" >&2; }
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_for() { # host port what
	for _ in $(seq 1 60); do answers "$1" "$2" && return 0; sleep 0.5; done
	say "$3 did not come up at $1:$2 (see .data/*.log)"; exit 1
}
find_bin() { # name: on PATH, or in Debian's versioned PostgreSQL directory
	command -v "$1" 2>/dev/null && return 0
	ls -1d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}
docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

start_private_postgres() {
	local initdb pg_ctl
	initdb=$(find_bin initdb) || true
	pg_ctl=$(find_bin pg_ctl) || true
	if [ -z "$initdb" ] || [ -z "$pg_ctl" ]; then
		say "no Postgres at $pg_host:$pg_port, no Docker engine, and no PostgreSQL server binaries."
		say "Install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@15) or start a server and set DATABASE_URL/DB_HOST."
		exit 1
	fi
	mkdir -p "$data"
	# Postgres refuses to run as root: use the postgres system user then.
	local as=()
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || useradd --system --home-dir "$data" postgres
		as=(runuser -u postgres --)
		chmod o+x "$data"
	fi
	if [ ! -s "$data/postgres/PG_VERSION" ]; then
		say "initialising a private Postgres in .data/postgres"
		mkdir -p "$data/postgres"
		[ ${#as[@]} -gt 0 ] && chown postgres "$data/postgres"
		"${as[@]}" "$initdb" -D "$data/postgres" -U "$pg_user" --auth=trust >"$data/initdb.log" 2>&1 ||
			{ say "initdb failed; see .data/initdb.log"; exit 1; }
	fi
	touch "$data/postgres.log"
	[ ${#as[@]} -gt 0 ] && chown postgres "$data/postgres.log"
	say "starting a private Postgres on $pg_host:$pg_port (log: .data/postgres.log)"
	"${as[@]}" "$pg_ctl" -D "$data/postgres" -l "$data/postgres.log" -w \
		-o "-p $pg_port -c listen_addresses=$pg_host -k /tmp" start >/dev/null
}

start_private_redis() {
	if ! command -v redis-server >/dev/null 2>&1; then
		say "no Redis at $redis_host:$redis_port, no Docker engine, and no redis-server binary."
		say "Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or start one and set REDIS_ADDR."
		exit 1
	fi
	mkdir -p "$data/redis"
	say "starting a private Redis on $redis_host:$redis_port (log: .data/redis.log)"
	redis-server --daemonize yes --bind "$redis_host" --port "$redis_port" --save "" --appendonly no \
		--dir "$data/redis" --logfile "$data/redis.log" --pidfile "$data/redis.pid"
}

need_pg=1; need_redis=1
answers "$pg_host" "$pg_port" && need_pg=0
answers "$redis_host" "$redis_port" && need_redis=0

if [ $need_pg = 1 ] || [ $need_redis = 1 ]; then
	if docker_ok; then
		svcs=(); [ $need_pg = 1 ] && svcs+=(postgres); [ $need_redis = 1 ] && svcs+=(redis)
		say "starting ${svcs[*]} with docker compose"
		docker compose up -d "${svcs[@]}"
	else
		[ $need_pg = 1 ] && start_private_postgres
		[ $need_redis = 1 ] && start_private_redis
	fi
	[ $need_pg = 1 ] && wait_for "$pg_host" "$pg_port" Postgres
	[ $need_redis = 1 ] && wait_for "$redis_host" "$redis_port" Redis
fi

if [ "${1:-}" != "--no-db" ]; then
	# Create the application database if it is missing. psql comes with the
	# server packages; without it the server's own error will say what is missing.
	psql=$(find_bin psql) || true
	if [ -n "$psql" ]; then
		export PGPASSWORD=${DB_PASSWORD:-postgres}
		if ! "$psql" -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -tAc \
			"SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1; then
			say "creating database $db_name"
			"$psql" -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -qc "CREATE DATABASE \"$db_name\"" >/dev/null
		fi
	fi
fi
say "Postgres at $pg_host:$pg_port and Redis at $redis_host:$redis_port are answering"
