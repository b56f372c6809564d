#!/bin/bash
# Instructions per execution of tessera's refresh-exchange statement inside PostgreSQL, counted
# by valgrind's callgrind: repeatable to the instruction whatever the machine is doing (see
# BENCHMARKS.md, "Where the time goes"). Makes a scratch PostgreSQL cluster under /tmp on
# 127.0.0.1:$PORT, lets `tessera-floor ceiling` migrate and seed it (logging every statement, to
# capture the exchange statement exactly as the store sends it), stops it, then runs
# `postgres --single` under callgrind: the statement prepared and executed 100 and 600 times on
# fresh families, in batches of one and of 16 exchanges (the store sends the exchanges waiting
# together as one statement); (I600 - I100) / (500 × batch) cancels start-up out. With
# --variants, also the variants of bench/statement/variants.py, derived from the captured
# statement (joins removed, columns constant, the floor's plain UPDATE). Other statements to compare: files with one statement each
# (the same nine array parameters), given as arguments.
#
# Needs: root (the cluster runs as the postgres user), PostgreSQL's server binaries, valgrind,
# python3, and a release build: cargo build --release -p tessera-bench
set -euo pipefail
cd "$(dirname "$0")/../.."
FLOOR=${FLOOR:-target/release/tessera-floor}
PORT=${PORT:-5499}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
VARIANTS=0
if [ "${1:-}" = --variants ]; then VARIANTS=1; shift; fi
[ -x "$FLOOR" ] || { echo "build it first: cargo build --release -p tessera-bench" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }

DIR=$(mktemp -d /tmp/tessera-statement.XXXXXX)
chown postgres "$DIR"
pg() { su postgres -c "$*"; }
cleanup() { pg "$PGBIN/pg_ctl -D $DIR/data -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT

pg "$PGBIN/initdb -D $DIR/data -A trust -U postgres" >/dev/null
pg "$PGBIN/pg_ctl -D $DIR/data -l $DIR/log -w -o \"-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c log_min_duration_statement=0\" start" >/dev/null
URL="postgres://postgres@127.0.0.1:$PORT/cg"
pg "$PGBIN/createdb -h 127.0.0.1 -p $PORT cg"
"$FLOOR" ceiling --database-url "$URL" --clients 1 --duration 1 --warmup 0 --families 256 2>&1 | tail -1
q() { pg "$PGBIN/psql -X -At -h 127.0.0.1 -p $PORT -d cg -c \"$1\""; }
CLIENT=$(q "select client_id from clients limit 1")
SECRET=$(q "select encode(secret_hash, 'hex') from clients limit 1")
q "select id from refresh_families where generation = 0 and revoked_at is null" > "$DIR/families"
pg "$PGBIN/pg_ctl -D $DIR/data -w stop" >/dev/null

PYTHONPATH=bench/statement python3 - "$DIR" "$CLIENT" "$SECRET" "$PGBIN" "$VARIANTS" "$@" <<'PY'
import re, subprocess, sys, time
import variants as derived
dir_, client, secret, pgbin, with_variants = sys.argv[1:6]
files = sys.argv[6:]
log = open(f"{dir_}/log").read()
found = re.findall(r"execute [^:]*: (update refresh_families as f set .*?)(?=\n\S|\Z)", log, re.S)
if not found:
    sys.exit("the exchange statement is not in the log")
statements = [("tessera's exchange", " ".join(found[-1].split()))]
if with_variants == "1":
    statements += [(f"variant: {n}", sql) for n, sql in derived.all_variants(statements[0][1])]
statements += [(v, " ".join(open(v).read().split()).rstrip(";")) for v in files]
families = iter(open(f"{dir_}/families").read().split())
now = int(time.time())

def instructions(sql, n, batch):
    """Instructions of `postgres --single` preparing `sql` and executing it n times on a batch of
    `batch` fresh families."""
    chain = [next(families) for _ in range(batch)]
    ids = "ARRAY[" + ", ".join(f"'{f}'" for f in chain) + "]::text[]"
    each = lambda value, ty: f"array_fill({value}::{ty}, ARRAY[{batch}])"
    # The session settings of the store's exchange connections (src/store/pg_exchange.rs).
    lines = ["set enable_seqscan = off", "set plan_cache_mode = force_generic_plan",
             "prepare ex(text[], bigint[], bigint[], text[], text[], boolean[], text[], text[], "
             "bytea[]) as " + sql]
    text = lambda value: each(f"'{value}'", "text")
    lines += [f"execute ex({ids}, {each(g, 'bigint')}, {each(now, 'bigint')}, "
              f"{text('127.0.0.1')}, {text('ua')}, {each('true', 'boolean')}, {text(client)}, "
              f"{text('client_secret_post')}, {each(chr(39) + chr(92) + 'x' + secret + chr(39), 'bytea')})"
              for g in range(n)]
    lines.append(f"select min(generation) from refresh_families where id = any({ids})")
    out = subprocess.run(
        ["su", "postgres", "-c", f"valgrind --tool=callgrind --callgrind-out-file=/dev/null "
         f"{pgbin}/postgres --single -D {dir_}/data cg"],
        input="\n".join(lines) + "\n", capture_output=True, text=True)
    total = re.findall(r"Collected : (\d+)", out.stderr)
    generation = re.findall(r'min = "(\d+)"', out.stdout)
    if not total or generation[-1:] != [str(n)]:
        sys.exit(f"the chain broke (generation {generation[-1:]}, expected {n}): {out.stderr[-500:]}")
    return int(total[0])

for batch in (1, 16):
    for name, sql in statements[:1] if batch > 1 else statements:
        per = (instructions(sql, 600, batch) - instructions(sql, 100, batch)) / (500 * batch)
        print(f"{per / 1000:8.0f} k instructions per exchange, batches of {batch:2}  {name}")
PY
