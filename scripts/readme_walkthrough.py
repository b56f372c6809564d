#!/usr/bin/env python3
"""Runs the README's walkthroughs as printed, against fresh servers, and fails when an answer
differs from what the README shows.

    scripts/readme_walkthrough.py --tessera target/release/tessera [--backend sqlite|postgres]...
        [--pg-url postgres://postgres@127.0.0.1:5432/postgres] [--python PYTHON] [--keep]
    scripts/readme_walkthrough.py --check     # only: every README command block has a step below

Every fenced command block of README.md (```sh and ```python) must have a step in PLAN, in the
README's order; a block without a step, or a step whose block is gone, fails the run (the step
may say why a block is not run, e.g. Docker). The README is the script: each command of a block
is run by bash exactly as printed, in one shell session per walk (variables such as $ADMIN_SECRET
or $VERIFIER carry over), with `cargo run [--release] [-- ARGS]` meaning the binary given by
--tessera. Only these are substituted:
  - the README's example values that a reader copies from an earlier answer: <client_id>,
    <client_secret>, <code>, <access_token>, <token N> (generation N of the client's family),
    <refresh token> / <refresh_token> (the client's latest), 'auth0|…' (the user's id),
    dcr_… and cgr_… (the first id of the last list), "eyJ…" in Python (the last access token);
  - the port (127.0.0.1:3000 becomes a free port, also given to the server as TESSERA_BIND);
  - the PostgreSQL database `tessera` becomes a scratch database, dropped at the end.
The browser steps (open the authorize URL, log in as the README's user) are done by a small
cookie-keeping HTTP client.

Expected answers are the comment lines after a command: `# {…}` or `# → {…}` (JSON, continued on
`#  ` lines), `# … "field":…` (those fields among others), `# HTTP/1.1 200` (the status). They
match "in substance": every field shown is there with the value shown; `…` as a member allows
other fields, `…` inside a string matches anything, and inside such a string a run of token
characters that reads as an example value (mixed case, or twelve characters and more) matches any
token text. A command with no expected answer must exit 0 with no HTTP status of 400 or more (the
walk's `curl` reports each status) and no error body.
Each walk is run twice per backend: once taking the CLI path,
once the Management API path (`# or: curl …` alternatives, "Or with the Management API"), each
on a fresh database, so neither path can depend on something only the other does.
"""

from __future__ import annotations

import argparse
import html.parser
import http.client
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_PORT = "127.0.0.1:3000"
# The user the README creates once and logs in as everywhere after.
USER_EMAIL = "ada@example.com"
USER_PASSWORD = "correct horse battery"

# One step per README command block, in the README's order, keyed by the block's first line
# (with " #2" for the second block starting with the same line). Actions:
#   run      run its commands and compare the answers
#   server   run it: it starts the server (in the background here); wait until it is ready
#   browser  run it, then open the printed authorize URL and log in (the code flow)
#   implicit run it, then open the authorize URL of its comment and check the fragment
#   python   run it with --python, the token substituted
#   postgres stop the running server (as the README says), then run it
#   skip     not run, for the reason given
# `path` limits a step to the "cli" or the "api" walk; `client` names the client whose values
# fill the placeholders (by the name it was created with); `follow` runs a command that never
# ends for a few seconds and expects output.
PLAN: list[tuple[str, dict]] = [
    ("cargo run           # the server on http://127.0.0.1:3000, data in ./tessera.db (SQLite)",
     {"action": "skip", "reason": "the walkthrough's first block starts the server with "
      "`cargo run`; .ci/run runs `cargo test`"}),
    ("export ADMIN_SECRET=$(openssl rand -hex 32)", {"action": "server"}),
    ("cargo run -- apis create --identifier https://api.example.com/ --name \"Orders API\" \\",
     {"action": "run", "path": "cli"}),
    ("MGMT=$(curl -s http://127.0.0.1:3000/oauth/token \\", {"action": "run", "path": "api"}),
    ("curl -s http://127.0.0.1:3000/oauth/token \\", {"action": "run", "client": "Nightly job"}),
    ("import jwt", {"action": "python"}),
    ("cargo run -- clients create --name \"My SPA\" --app-type spa --callback http://localhost:8080/callback",
     {"action": "run"}),
    ("VERIFIER=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\\n')", {"action": "browser"}),
    ("curl -s http://127.0.0.1:3000/oauth/token -d grant_type=authorization_code \\",
     {"action": "run"}),
    ("cargo run -- clients create --name \"First-party app\" --app-type regular-web \\",
     {"action": "run"}),
    ("cargo run -- clients create --name \"Mobile app\" --app-type regular-web \\",
     {"action": "run"}),
    ("curl -s http://127.0.0.1:3000/oauth/token -d grant_type=refresh_token \\",
     {"action": "run"}),
    ("curl -s http://127.0.0.1:3000/oauth/token -d grant_type=refresh_token \\ #2",
     {"action": "run"}),
    ("cargo run -- clients update --client-id <client_id> --leeway 10", {"action": "run"}),
    ("cargo run -- clients create --name \"Legacy SPA\" --app-type spa --callback https://app.example.com/cb --legacy",
     {"action": "implicit"}),
    ("curl -s http://127.0.0.1:3000/delegation -H 'Content-Type: application/json' -d '{",
     {"action": "run"}),
    ("cargo run -- clients update --client-id <client_id> --oidc-conformant true \\",
     {"action": "run"}),
    ("curl -s http://127.0.0.1:3000/oauth/token -d grant_type=password \\",
     {"action": "run", "client": "Mobile app"}),
    ("curl -s http://127.0.0.1:3000/oauth/token -d grant_type=password \\ #2",
     {"action": "run", "client": "Mobile app", "follow": "logs tail"}),
    ("export DATABASE_URL=postgres://postgres@127.0.0.1:5432/tessera", {"action": "postgres"}),
    ("docker build -t tessera .",
     {"action": "skip", "reason": "no Docker engine in CI; .ci/run lints the Dockerfile"}),
    ("export TESSERA_SECRETS_KEY=$(openssl rand -base64 32) TESSERA_BOOTSTRAP_CLIENT_SECRET=$(openssl rand -hex 32)",
     {"action": "skip", "reason": "docker compose: no Docker engine in CI"}),
    ("cargo run -- keys rotate                 # all algorithms, or --alg RS256",
     {"action": "run"}),
    ("cargo test                                                              # SQLite only",
     {"action": "skip", "reason": "this is what .ci/run itself runs"}),
]


class WalkError(Exception):
    pass


# --- the README's blocks and commands ----------------------------------------------------------


@dataclass
class Command:
    text: str
    line: int
    expected: list[str] = field(default_factory=list)
    alternative: str | None = None  # the `# or: …` command, for the api walk
    notes: list[str] = field(default_factory=list)


@dataclass
class Block:
    line: int
    section: str
    lang: str
    lines: list[str]
    key: str = ""

    def commands(self) -> list[Command]:
        return split_commands(self.lines, self.line + 1)


def read_blocks(text: str) -> list[Block]:
    blocks, section, current = [], "", None
    for number, line in enumerate(text.splitlines(), 1):
        if current is None:
            if line.startswith("#"):
                section = line.lstrip("#").strip()
            elif line.startswith("```") and line.strip() != "```":
                current = Block(number, section, line[3:].strip(), [])
        elif line.strip() == "```":
            if current.lang in ("sh", "bash", "python"):
                blocks.append(current)
            current = None
        else:
            current.lines.append(line)
    seen: dict[str, int] = {}
    for block in blocks:
        first = next(line for line in block.lines if line.strip())
        seen[first] = seen.get(first, 0) + 1
        block.key = first if seen[first] == 1 else f"{first} #{seen[first]}"
    return blocks


def complete(command: str) -> bool:
    """Whether a command (lines joined) is whole: no trailing backslash, quotes balanced."""
    if command.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


def split_comment(line: str) -> tuple[str, str]:
    """A shell line's code and its trailing comment (a `#` starting a word outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i:]
    return line, ""


def json_scan(text: str) -> tuple[int, int]:
    """Where the JSON value that opens `text` closes (len(text) when it does not), and the depth
    of brackets still open at that point (0: closed, or no bracket at all)."""
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1, 0
    return len(text), depth


def json_complete(text: str) -> bool:
    return json_scan(text)[1] <= 0


EXPECTED_START = re.compile(r"^#\s*(?:→\s*)?(?=[{\[]|… |HTTP/)")


def split_commands(lines: list[str], first_line: int) -> list[Command]:
    commands: list[Command] = []
    pending: list[str] = []
    open_expected = open_alternative = False
    for offset, line in enumerate(lines):
        stripped = line.strip()
        if pending:
            pending.append(line)
            if complete("\n".join(pending)):
                commands.append(Command("\n".join(pending), first_line + offset))
                pending = []
            continue
        if not stripped:
            open_expected = open_alternative = False
            continue
        if stripped.startswith("#"):
            body = stripped[1:].strip()
            if open_expected:
                commands[-1].expected[-1] += " " + body
                open_expected = not json_complete(commands[-1].expected[-1])
            elif open_alternative:
                commands[-1].alternative += "\n" + body
                open_alternative = not complete(commands[-1].alternative)
            elif body.startswith("or: ") and commands:
                commands[-1].alternative = body[4:]
                open_alternative = not complete(body[4:])
            elif EXPECTED_START.match(stripped) and commands:
                pattern = re.sub(r"^→\s*", "", body)
                commands[-1].expected.append(pattern)
                open_expected = not json_complete(pattern)
            elif commands:
                commands[-1].notes.append(body)
            continue
        open_expected = open_alternative = False
        if complete(line):
            commands.append(Command(line, first_line + offset))
        else:
            pending = [line]
    if pending:
        raise WalkError(f"README line {first_line}: a command block ends inside a command")
    return commands


def check_plan(blocks: list[Block]) -> list[str]:
    problems = []
    keys = [key for key, _ in PLAN]
    for block in blocks:
        if block.key not in keys:
            problems.append(
                f"README.md:{block.line} ({block.section}): the block starting "
                f"{block.key!r} has no step in scripts/readme_walkthrough.py PLAN"
            )
    present = {block.key for block in blocks}
    for key in keys:
        if key not in present:
            problems.append(f"PLAN step {key!r} has no block in README.md (moved or changed?)")
    if not problems:
        for block, key in zip(blocks, keys):
            if block.key != key:
                problems.append(f"README.md:{block.line}: PLAN's steps are not in the README's "
                                f"order (the README has {block.key!r} where PLAN has {key!r})")
                break
    return problems


# --- matching answers in substance -------------------------------------------------------------

def example_value(run: str) -> bool:
    """A run of token characters that reads as an example id or token, not a word: mixed case
    (`qdurLY`), or twelve characters and more."""
    return len(run) >= 12 or (len(run) >= 6 and run != run.lower() and run != run.upper())


def string_matches(pattern: str, actual: str) -> bool:
    if "…" not in pattern:
        return pattern == actual
    regex = ""
    for part in re.split(r"(…|[A-Za-z0-9_-]{6,})", pattern):
        if part == "…":
            regex += ".*"
        elif part and re.fullmatch(r"[A-Za-z0-9_-]+", part) and example_value(part):
            regex += "[A-Za-z0-9_-]+"
        else:
            regex += re.escape(part)
    return re.fullmatch(regex, actual, re.S) is not None


def parse_pattern(text: str):
    """The README's JSON with `…`: as a member it becomes the key "…"."""
    text = text.strip()
    if not text.startswith("…"):
        text = text[: json_scan(text)[0]]  # what follows is a note: `{…}   the secret is shown once`
    if text.startswith("…"):
        text = "{" + text[1:].strip() + ", …}"
    out, in_string, escaped = [], False, False
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch == "…":
            out.append('"…": null')
        else:
            out.append(ch)
    return json.loads("".join(out))


def mismatch(pattern, actual, path="$") -> str | None:
    if isinstance(pattern, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {json.dumps(actual)[:80]}"
        keys = set(pattern) - {"…"}
        if missing := sorted(keys - set(actual)):
            return f"{path}: missing {missing}"
        if "…" not in pattern and (extra := sorted(set(actual) - keys)):
            return f"{path}: fields the README does not show: {extra}"
        for key in sorted(keys):
            if problem := mismatch(pattern[key], actual[key], f"{path}.{key}"):
                return problem
        return None
    if isinstance(pattern, list):
        if not isinstance(actual, list) or len(actual) != len(pattern):
            return f"{path}: expected {len(pattern)} items, got {json.dumps(actual)[:80]}"
        for i, (p, a) in enumerate(zip(pattern, actual)):
            if problem := mismatch(p, a, f"{path}[{i}]"):
                return problem
        return None
    if isinstance(pattern, str):
        if isinstance(actual, str) and string_matches(pattern, actual):
            return None
        return f"{path}: expected {pattern!r}, got {json.dumps(actual)[:80]}"
    if pattern != actual or type(pattern) is not type(actual):
        return f"{path}: expected {json.dumps(pattern)}, got {json.dumps(actual)[:80]}"
    return None


def http_status(output: str) -> int | None:
    match = re.match(r"HTTP/[\d.]+ (\d{3})", output)
    return int(match.group(1)) if match else None


def json_body(output: str):
    """The JSON an answer carries: the body after `curl -i` headers, one document, or JSON lines."""
    if http_status(output) is not None:
        output = re.split(r"\r?\n\r?\n", output, maxsplit=1)[-1]
    output = output.strip()
    if not output:
        return None
    try:
        return json.loads(output)
    except ValueError:
        pass
    try:
        return [json.loads(line) for line in output.splitlines() if line.strip()]
    except ValueError:
        return None


def check_answer(command: Command, output: str) -> None:
    body = json_body(output)
    if not command.expected:
        status = http_status(output)
        failed = (status is not None and status >= 400) or (
            isinstance(body, dict)
            and ("error" in body or (body.get("statusCode") or 0) >= 400)
        )
        if failed:
            raise WalkError(f"an error where the README shows none:\n{output[:600]}")
        return
    for pattern in command.expected:
        if pattern.startswith("HTTP/"):
            want = http_status(pattern)
            if http_status(output) != want:
                raise WalkError(f"expected status {want}, got:\n{output[:600]}")
            continue
        if body is None:
            raise WalkError(f"expected JSON like {pattern}, got:\n{output[:600]}")
        try:
            wanted = parse_pattern(pattern)
        except ValueError as e:
            raise WalkError(f"README line {command.line}: cannot read {pattern!r}: {e}") from e
        if problem := mismatch(wanted, body):
            raise WalkError(f"{problem}\n  README: {pattern}\n  answer: {output.strip()[:800]}")


# --- the walk ----------------------------------------------------------------------------------

SHELL_FUNCTIONS = r"""
curl() {  # as the README calls it, plus the HTTP status on stderr for the walk to check
    command curl --write-out '%{stderr}WALK_HTTP_STATUS %{http_code}\n' "$@"
}
cargo() {  # the README's `cargo run [--release] [-- ARGS]`: the binary under test
    [ "${1:-}" = run ] || { echo "the walk runs only 'cargo run', not: cargo $*" >&2; return 2; }
    shift
    [ "${1:-}" = --release ] && shift
    [ "${1:-}" = -- ] && shift
    if [ $# -gt 0 ]; then "$WALK_TESSERA" "$@"; return; fi
    "$WALK_TESSERA" >"$WALK_DIR/server.out" 2>"$WALK_DIR/server.err" &
    echo $! >"$WALK_DIR/server.pid"
    for _ in $(seq 600); do
        grep -q '^tessera ready on ' "$WALK_DIR/server.out" && { cat "$WALK_DIR/server.out"; return; }
        kill -0 "$(cat "$WALK_DIR/server.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "the server did not become ready:" >&2; cat "$WALK_DIR/server.err" >&2; return 1
}
"""


class Walk:
    def __init__(self, args, backend: str, path: str, blocks: list[Block]):
        self.args, self.backend, self.path, self.blocks = args, backend, path, blocks
        self.dir = Path(tempfile.mkdtemp(prefix=f"readme-{backend}-{path}-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.clients: dict[str, dict] = {}  # name → {client_id, client_secret?}
        self.client: dict = {}
        self.refresh_tokens: list[tuple[str, str]] = []  # (client_id, token)
        self.access_token = self.code = self.user_id = None
        self.list_ids: list[str] = []
        self.databases: list[str] = []
        self.cookies: dict[str, str] = {}
        self.statuses: list[int] = []  # the HTTP statuses curl saw in the last command
        # Variables the README's commands assign carry over from command to command.
        names = set()
        for block in blocks:
            for line in block.lines:
                names.update(re.findall(r"(?:^|\s|export\s+)([A-Z][A-Z0-9_]*)=", line))
        self.state_vars = sorted(names)
        (self.dir / "state.sh").write_text("")
        (self.dir / "functions.sh").write_text(SHELL_FUNCTIONS)

    def log(self, message: str) -> None:
        print(f"[{self.backend}/{self.path}] {message}", flush=True)

    # -- placeholders --
    def substitute(self, text: str) -> str:
        """Fills the placeholders of a command, leaving its comments as printed."""
        return "\n".join(
            self.substitute_code(code) + comment
            for code, comment in map(split_comment, text.split("\n"))
        )

    def substitute_code(self, text: str) -> str:
        text = text.replace(README_PORT, f"127.0.0.1:{self.port}")
        if self.databases:
            database = self.databases[-1]
            pg = urllib.parse.urlsplit(self.args.pg_url)
            text = text.replace(
                "postgres://postgres@127.0.0.1:5432/tessera",
                urllib.parse.urlunsplit(pg._replace(path="/" + database)),
            ).replace("createdb tessera", f"createdb {database}")

        def need(value, what):
            if not value:
                raise WalkError(f"nothing earlier in the walk gives {what}")
            return value

        def client_token(generation=None):
            for client_id, token in reversed(self.refresh_tokens):
                if client_id == self.client.get("client_id") and (
                    generation is None or token.split(".")[2] == generation
                ):
                    return token
            return None

        replacements = {
            "<client_id>": lambda: need(self.client.get("client_id"), "<client_id>"),
            "<client_secret>": lambda: need(self.client.get("client_secret"), "<client_secret>"),
            "<code>": lambda: need(self.code, "<code>"),
            "<access_token>": lambda: need(self.access_token, "<access_token>"),
            "<refresh token>": lambda: need(client_token(), "<refresh token>"),
            "<refresh_token>": lambda: need(client_token(), "<refresh_token>"),
            "'auth0|…'": lambda: shlex.quote(need(self.user_id, "the user's id")),
            "dcr_…": lambda: need(next((i for i in self.list_ids if i.startswith("dcr_")), None),
                                  "a device id (dcr_…)"),
            "cgr_…": lambda: need(next((i for i in self.list_ids if i.startswith("cgr_")), None),
                                  "a grant id (cgr_…)"),
        }
        for placeholder, value in replacements.items():
            if placeholder in text:
                text = text.replace(placeholder, value())
        text = re.sub(
            r"<token (\d+)>",
            lambda m: need(client_token(m.group(1)), m.group(0)),
            text,
        )
        if leftover := re.findall(r"<[a-z_ ]+>", text):
            raise WalkError(f"no value for {leftover}")
        return text

    def pg_env(self) -> dict[str, str]:
        """libpq's variables for `createdb`, pointing at --pg-url's server."""
        pg = urllib.parse.urlsplit(self.args.pg_url)
        return {"PGHOST": pg.hostname or "127.0.0.1", "PGPORT": str(pg.port or 5432),
                "PGUSER": pg.username or "postgres"}

    def new_database(self) -> None:
        self.databases.append(f"tessera_readme_{os.getpid()}_{len(self.databases)}")

    # -- running --
    def shell(self, command: str, timeout: float = 120, follow: bool = False) -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TESSERA_") and k not in ("DATABASE_URL", "MGMT")}
        env.update(
            self.pg_env(), WALK_TESSERA=str(Path(self.args.tessera).resolve()),
            WALK_DIR=str(self.dir), TESSERA_BIND=f"127.0.0.1:{self.port}",
        )
        script = (
            f"source {self.dir}/functions.sh\nsource {self.dir}/state.sh\nset -o pipefail\n"
            f"{command}\nstatus=$?\n"
            f"declare -p {' '.join(self.state_vars)} 2>/dev/null >{self.dir}/state.sh\n"
            "exit $status\n"
        )
        # Its own process group: a command that never ends (`logs tail --follow`) is stopped
        # with everything it started.
        process = subprocess.Popen(
            ["bash", "-c", script], cwd=self.dir, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            if follow:
                return 0, stdout
            raise WalkError(f"did not finish in {timeout} s")
        self.statuses = [int(s) for s in re.findall(r"^WALK_HTTP_STATUS (\d{3})$", stderr, re.M)]
        stderr = re.sub(r"^WALK_HTTP_STATUS \d{3}\n?", "", stderr, flags=re.M)
        if process.returncode != 0:
            raise WalkError(
                f"exit {process.returncode}\n  stdout: {stdout.strip()[:600]}\n"
                f"  stderr: {stderr.strip()[-800:]}"
            )
        return process.returncode, stdout

    def remember(self, output: str) -> None:
        body = json_body(output)
        items = body if isinstance(body, list) else [body]
        self.list_ids = [i["id"] for i in items if isinstance(i, dict) and "id" in i]
        if not isinstance(body, dict):
            return
        if "client_id" in body and "name" in body:
            client = {"client_id": body["client_id"]}
            if body.get("client_secret"):
                client["client_secret"] = body["client_secret"]
            previous = self.clients.get(body["name"], {})
            if previous.get("client_id") == client["client_id"]:
                client = {**previous, **client}
            self.clients[body["name"]] = self.client = client
        if body.get("user_id", "").startswith("auth0|") and body.get("email") == USER_EMAIL:
            self.user_id = body["user_id"]
        if "access_token" in body:
            self.access_token = body["access_token"]
        if "refresh_token" in body and isinstance(body["refresh_token"], str):
            self.refresh_tokens.append((self.client.get("client_id"), body["refresh_token"]))

    def run_command(self, command: Command, step: dict) -> str:
        text = command.text
        if self.path == "api" and command.alternative:
            text = command.alternative
        text = self.substitute(text)
        follow = bool(step.get("follow")) and step["follow"] in text
        _, output = self.shell(text, timeout=3 if follow else 120, follow=follow)
        if follow and not output.strip():
            raise WalkError("no output")
        if not command.expected and (failed := [s for s in self.statuses if s >= 400]):
            raise WalkError(f"HTTP {failed} where the README shows no error:\n{output[:600]}")
        check_answer(command, output)
        self.remember(output)
        return output

    def stop_server(self) -> None:
        pid_file = self.dir / "server.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text())
        pid_file.unlink()
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(300):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)

    def run(self) -> None:
        plan = dict(PLAN)
        if self.backend == "postgres":
            # A reader on PostgreSQL sets it up as "Running with PostgreSQL" says, then walks.
            block = next(b for b in self.blocks if plan[b.key]["action"] == "postgres")
            self.new_database()
            for command in block.commands():
                if not re.search(r"cargo run( --release)?\s*$", command.text):
                    self.run_command(command, {})
            self.log("PostgreSQL set up as the README says")
        for block in self.blocks:
            step = plan[block.key]
            where = f"README.md:{block.line} ({block.section})"
            if step["action"] == "skip" or step.get("path", self.path) != self.path:
                continue
            try:
                self.run_step(block, step)
            except WalkError as e:
                raise WalkError(f"{where}: {e}") from e
            self.log(f"ok  {where}")

    def run_step(self, block: Block, step: dict) -> None:
        action = step["action"]
        if "client" in step:
            self.client = self.clients.get(step["client"]) or {}
        if action == "python":
            code = "\n".join(block.lines).replace('"eyJ…"', json.dumps(self.access_token or ""))
            code = code.replace(README_PORT, f"127.0.0.1:{self.port}")
            done = subprocess.run([self.args.python, "-c", code], capture_output=True, text=True,
                                  timeout=60)
            if done.returncode != 0:
                raise WalkError(f"python failed:\n{done.stderr[-800:]}")
            return
        if action == "postgres":
            self.stop_server()
            self.new_database()
        commands = block.commands()
        outputs = [self.run_command(command, step) for command in commands]
        if action in ("server", "postgres"):
            ready = outputs[-1]
            database = "sqlite://tessera.db" if action == "server" and self.backend == "sqlite" \
                else "postgres://"
            want = f"tessera ready on {self.base} (issuer {self.base}/, database {database}"
            if not ready.startswith(want):
                raise WalkError(f"expected the line {want}…, got {ready!r}")
        elif action == "browser":
            url = outputs[-1].strip()
            location = self.browse(url)
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
            if not location.startswith("http://localhost:8080/callback?") or "code" not in query \
                    or query.get("state") != "xyz":
                raise WalkError(f"the login ended at {location}, not the callback with a code")
            self.code = query["code"]
        elif action == "implicit":
            notes = commands[-1].notes
            start = next(i for i, n in enumerate(notes) if n.startswith("/authorize"))
            arrow = next(i for i, n in enumerate(notes) if n.startswith("→"))
            url = self.base + "".join(notes[start:arrow]).replace(" ", "")
            expected = "".join(notes[arrow:]).lstrip("→").strip()
            url = self.substitute(url)
            location = self.browse(url)
            self.check_fragment(expected, location)

    def check_fragment(self, expected: str, location: str) -> None:
        want_base, _, want_fragment = expected.partition("#")
        base, _, fragment = location.partition("#")
        if base != want_base:
            raise WalkError(f"redirected to {location}, the README shows {expected}")
        got = dict(urllib.parse.parse_qsl(fragment))
        want = dict(urllib.parse.parse_qsl(want_fragment))
        if set(got) != set(want):
            raise WalkError(f"fragment fields {sorted(got)}, the README shows {sorted(want)}")
        for key, value in want.items():
            if not string_matches(value, got[key]):
                raise WalkError(f"fragment {key}={got[key]!r}, the README shows {value!r}")
        self.refresh_tokens.append((self.client.get("client_id"), got["refresh_token"]))

    # -- the browser --
    def request(self, method: str, url: str, form: dict | None = None):
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {"Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        page = response.read().decode("utf-8", "replace")
        for line in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if value and "max-age=0" not in line.lower():
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        connection.close()
        return response.status, response.headers.get("Location"), page

    def browse(self, url: str) -> str:
        """Follows the server's redirects and pages as a browser would; logs in as the README's
        user when the login page shows. Answers the first URL that leaves the server."""
        method, form = "GET", None
        for _ in range(10):
            status, location, page = self.request(method, url, form)
            method, form = "GET", None
            if status in (302, 303) and location:
                url = urllib.parse.urljoin(url, location)
                if not url.startswith(self.base):
                    return url
                continue
            inputs = hidden_inputs(page)
            if status == 200 and 'action="/u/login"' in page:
                url, method = self.base + "/u/login", "POST"
                form = {**inputs, "username": USER_EMAIL, "password": USER_PASSWORD}
                continue
            raise WalkError(f"the browser got {status} at {url}:\n{page[:400]}")
        raise WalkError("too many redirects")


class HiddenInputs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden" and attrs.get("name"):
            self.values[attrs["name"]] = attrs.get("value") or ""


def hidden_inputs(page: str) -> dict[str, str]:
    parser = HiddenInputs()
    parser.feed(page)
    return parser.values


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    # `timeout` stops the walk with SIGTERM: clean up (servers, scratch databases) all the same.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tessera", help="the tessera binary under test")
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgres"],
                        help="repeatable; default: both")
    parser.add_argument("--pg-url", default=os.environ.get(
        "TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--python", default=sys.executable,
                        help="a Python with PyJWT[crypto] for the README's Python block")
    parser.add_argument("--keep", action="store_true", help="keep the walks' directories")
    parser.add_argument("--check", action="store_true",
                        help="only check that every README block has a step")
    args = parser.parse_args()

    blocks = read_blocks(README.read_text())
    if problems := check_plan(blocks):
        print("\n".join(problems), file=sys.stderr)
        return 1
    for block in blocks:
        block.commands()  # every block reads as commands
    print(f"README: {len(blocks)} command blocks, each with a step")
    if args.check:
        return 0
    if not args.tessera:
        parser.error("--tessera is required (or --check)")
    failed = False
    for backend in args.backend or ["sqlite", "postgres"]:
        for path in ("cli", "api"):
            walk = Walk(args, backend, path, blocks)
            try:
                walk.run()
                walk.log("PASS")
            except WalkError as e:
                walk.log(f"FAIL {e}")
                failed = True
                if (walk.dir / "server.err").exists():
                    print((walk.dir / "server.err").read_text()[-2000:], file=sys.stderr)
            finally:
                walk.stop_server()
                for database in walk.databases:
                    subprocess.run(["dropdb", "--if-exists", "--force", database],
                                   env={**os.environ, **walk.pg_env()},
                                   capture_output=True)
                if not args.keep:
                    subprocess.run(["rm", "-rf", str(walk.dir)])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
