#!/usr/bin/env bash
# Makes Postgres and Redis reachable for `make dev` and `make test`:
#   1. whatever already answers at the configured addresses is used;
#   2. else, for a local address, with a Docker engine,
#      `docker compose up -d postgres redis` (SERVICES_DOCKER=never skips it);
#   3. else private `postgres` / `redis-server` processes under .data/.
# An address on another host is never started here: the script says it
# does not answer and stops.
#
# Where Postgres is, read as the server reads it: DATABASE_URL when set,
# else DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME. The database named
# there is created when it is missing and the server is local.
# With --tests (make test) it is TEST_DATABASE_URL instead, the server the
# tests create their databases on, and nothing is created.
# Usage: scripts/services.sh [--tests]
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
data="$root/.data"

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "$@"; exit 1; }

urldecode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }

# parse_url URL VARIABLE: sets pg_host pg_port pg_user pg_password db_name
# pg_sslmode from a postgres:// URL, the parts pgx reads: user:password,
# host (or [IPv6]), port, database, and host/port/user/password/dbname/
# sslmode query parameters, which win as they do for libpq and pgx.
parse_url() {
	local rest=$1 name=$2 query='' path='' userinfo='' hostport
	case $rest in
	postgres://* | postgresql://*) rest=${rest#*://} ;;
	*) die "$name is not a postgres:// URL" ;;
	esac
	if [[ $rest == *\?* ]]; then query=${rest#*\?}; rest=${rest%%\?*}; fi
	if [[ $rest == */* ]]; then path=${rest#*/}; rest=${rest%%/*}; fi
	if [[ $rest == *@* ]]; then userinfo=${rest%@*}; rest=${rest##*@}; fi
	hostport=${rest%%,*} # the first of several hosts
	if [[ $hostport == \[* ]]; then
		pg_host=${hostport%%]*}; pg_host=${pg_host#[}
		[[ $hostport == *]:* ]] && pg_port=${hostport##*]:}
	elif [[ $hostport == *:* ]]; then
		pg_host=${hostport%%:*}; pg_port=${hostport#*:}
	else
		pg_host=$hostport
	fi
	if [ -n "$userinfo" ]; then
		pg_user=$(urldecode "${userinfo%%:*}")
		[[ $userinfo == *:* ]] && pg_password=$(urldecode "${userinfo#*:}")
	fi
	[ -n "$path" ] && db_name=$(urldecode "$path")
	local kv
	IFS='&' read -ra kvs <<<"$query"
	for kv in "${kvs[@]}"; do
		case $kv in
		host=*) pg_host=$(urldecode "${kv#host=}") ;;
		port=*) pg_port=${kv#port=} ;;
		user=*) pg_user=$(urldecode "${kv#user=}") ;;
		password=*) pg_password=$(urldecode "${kv#password=}") ;;
		dbname=*) db_name=$(urldecode "${kv#dbname=}") ;;
		sslmode=*) pg_sslmode=${kv#sslmode=} ;;
		esac
	done
	[[ $pg_port =~ ^[0-9]+$ ]] || die "$name: port \"$pg_port\" is not a number"
	[[ $pg_host == /* ]] && die "$name: a Unix socket host ($pg_host) is not supported here; use host:port"
	return 0
}

pg_host=localhost pg_port=5432 pg_user=postgres pg_password=postgres db_name=bespin pg_sslmode=''
create_db=1
if [ "${1:-}" = --tests ]; then
	create_db=0
	from=TEST_DATABASE_URL
	parse_url "${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}" TEST_DATABASE_URL
elif [ -n "${DATABASE_URL:-}" ]; then
	from=DATABASE_URL
	parse_url "$DATABASE_URL" DATABASE_URL
else
	from="DB_HOST/DB_PORT"
	pg_host=${DB_HOST:-localhost} pg_port=${DB_PORT:-5432} pg_user=${DB_USER:-postgres}
	pg_password=${DB_PASSWORD:-postgres} db_name=${DB_NAME:-bespin} pg_sslmode=${DB_SSLMODE:-}
fi
[ -z "$pg_host" ] && pg_host=localhost
redis_addr=${REDIS_ADDR:-127.0.0.1:6379}
redis_host=${redis_addr%:*}
redis_port=${redis_addr##*:}
[ "$pg_host" = localhost ] && pg_host=127.0.0.1
[ "$redis_host" = localhost ] && redis_host=127.0.0.1

local_host() { case $1 in 127.0.0.1 | ::1 | '[::1]') return 0 ;; esac; return 1; }
answers() { # host port: a TCP connection opens within 3 s
	if command -v timeout >/dev/null 2>&1; then
		# shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
		timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
	else
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
	fi
}
wait_for() { # host port what
	for _ in $(seq 1 60); do answers "$1" "$2" && return 0; sleep 0.5; done
	die "$3 did not come up at $1:$2 (see .data/*.log)"
}
find_bin() { # name: on PATH, or in Debian's versioned PostgreSQL directory
	command -v "$1" 2>/dev/null && return 0
	local f
	f=$(printf '%s\n' /usr/lib/postgresql/*/bin/"$1" | sort -V | tail -n 1)
	[ -x "$f" ] && echo "$f"
}
docker_ok() {
	[ "${SERVICES_DOCKER:-}" != never ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

start_private_postgres() {
	local initdb pg_ctl
	initdb=$(find_bin initdb) || true
	pg_ctl=$(find_bin pg_ctl) || true
	if [ -z "$initdb" ] || [ -z "$pg_ctl" ]; then
		say "no Postgres at $pg_host:$pg_port ($from), no Docker engine, and no PostgreSQL server binaries."
		die "Install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@15) or start a server and set $from."
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
			die "initdb failed; see .data/initdb.log"
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
		die "Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or start one and set REDIS_ADDR."
	fi
	mkdir -p "$data/redis"
	say "starting a private Redis on $redis_host:$redis_port (log: .data/redis.log)"
	redis-server --daemonize yes --bind "$redis_host" --port "$redis_port" --save "" --appendonly no \
		--dir "$data/redis" --logfile "$data/redis.log" --pidfile "$data/redis.pid"
}

need_pg=1 need_redis=1
answers "$pg_host" "$pg_port" && need_pg=0
answers "$redis_host" "$redis_port" && need_redis=0
if [ $need_pg = 1 ] && ! local_host "$pg_host"; then
	die "$from points at Postgres on $pg_host:$pg_port, which does not answer; start it there or fix $from"
fi
if [ $need_redis = 1 ] && ! local_host "$redis_host"; then
	die "REDIS_ADDR points at $redis_host:$redis_port, which does not answer; start Redis there or fix REDIS_ADDR"
fi

if [ $need_pg = 1 ] || [ $need_redis = 1 ]; then
	if docker_ok; then
		svcs=()
		[ $need_pg = 1 ] && svcs+=(postgres)
		[ $need_redis = 1 ] && svcs+=(redis)
		say "starting ${svcs[*]} with docker compose"
		POSTGRES_HOST_PORT=$pg_port REDIS_HOST_PORT=$redis_port docker compose up -d "${svcs[@]}"
	else
		[ $need_pg = 1 ] && start_private_postgres
		[ $need_redis = 1 ] && start_private_redis
	fi
	[ $need_pg = 1 ] && wait_for "$pg_host" "$pg_port" Postgres
	[ $need_redis = 1 ] && wait_for "$redis_host" "$redis_port" Redis
fi

if [ $create_db = 1 ]; then
	# Create the application database if it is missing (on a local server
	# only: elsewhere that is the server's owner's decision). psql comes with
	# the server packages; without it the server's own error says what is
	# missing.
	psql=$(find_bin psql) || true
	if [ -n "$psql" ] && local_host "$pg_host"; then
		export PGPASSWORD=$pg_password PGCONNECT_TIMEOUT=5
		[ -n "$pg_sslmode" ] && export PGSSLMODE=$pg_sslmode
		pg=("$psql" -X -q -t -A -v ON_ERROR_STOP=1 -v name="$db_name" -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres)
		if ! "${pg[@]}" <<<"SELECT 1 FROM pg_database WHERE datname = :'name'" | grep -q 1; then
			say "creating database $db_name on $pg_host:$pg_port ($from)"
			"${pg[@]}" <<<'CREATE DATABASE :"name"' >/dev/null
		fi
	fi
fi
say "Postgres at $pg_host:$pg_port ($from) and Redis at $redis_host:$redis_port are answering"
