#!/usr/bin/env python3
"""`make bench`: claimcheck side by side with Envoy's own jwt_authn + rbac.

Starts one Envoy per configuration (all with --concurrency 1, pinned to one core), drives each
with wrk pinned to the other core, alternating configurations over several rounds, and writes
the raw figures as JSON. `bench/report.py` turns that JSON into BENCHMARKS.md.

Configurations (each Envoy answers with a direct response, so no upstream is measured):
  floor             no auth filter at all
  native            jwt_authn + rbac (claim rule on the jwt_authn payload metadata)
  native-cache      the same with jwt_cache_config
  claimcheck        claimcheck, token cache off, crypto "auto"
  claimcheck-cache  claimcheck, token cache on (default size), crypto "auto"
  claimcheck-wasm   claimcheck, token cache off, crypto "wasm" (every signature in the VM)

Cases: a valid token per algorithm (RS256, ES256, ES384, PS256, EdDSA) answered 200, and a
refused request (an RS256 token with a forged signature) answered 401.

Feature cases (FEATURES below) run on claimcheck Envoys whose provider has the feature on
(`claimcheck+dpop`, `claimcheck-cache+introspection`, ...: the same plugin configuration with
one provider setting added), each against the floor, and are compared with a bearer figure of
the same run:
  DPoP                    an ES256 token bound to a key (`cnf.jkt`), a fresh ES256 proof per
                          request (minted just before each load, each sent once); against ES256
  introspection-cached    one opaque token, answered from the introspection cache; against ES256
  introspection-uncached  a new opaque token per request, so one introspection call each;
                          against ES256
  revocation-list         an ES256 token with a `jti`, the provider holding a revocation list
                          of 10,000 `jti`s; against the same token on the Envoy without a list
The introspection endpoint and the list are served by one more Envoy (direct responses), pinned
to the load generator's core so the CPU time measured stays the tested Envoy's own.

Environment (all optional):
  BENCH_DURATION_S  whole seconds of load per measurement  (default 5)
  BENCH_WARMUP_S    whole seconds of load before each one    (default 1; 0 = none)
  BENCH_ROUNDS      rounds over every configuration          (default 3)
  BENCH_CONNECTIONS wrk connections                          (default 32)
  BENCH_ENVOY_CPU / BENCH_WRK_CPU   cores to pin to          (default 0 / 1)
  BENCH_MEMORY_REQUESTS / BENCH_MEMORY_TOKENS  linear-memory run (default 100000 / 10000)
  BENCH_CONFIGS / BENCH_CASES  comma-separated subsets (debugging); the feature cases run on
                    the claimcheck configurations selected
  BENCH_REVOKED_JTIS  entries of the revocation list                (default 10000)
  BENCH_OUT         result file (default target/bench/results.json)
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "bench"
ENVOY = Path(os.environ.get("ENVOY", ROOT / ".venv" / "bin" / "envoy"))
WASM = Path(os.environ.get("CLAIMCHECK_WASM", ROOT / "target/wasm32-wasip1/release/claimcheck.wasm"))
CLI = Path(os.environ.get("CLAIMCHECK", ROOT / "target" / "debug" / "claimcheck"))

ISSUER = "https://bench.example"
AUDIENCE = "bench-api"
ALGORITHMS = ["RS256", "ES256", "ES384", "PS256", "EdDSA"]
# The linear-memory run signs its 10k distinct tokens here with HS256: minting them needs
# only the standard library, and the cache holds an HS256 token like any other.
HS_KID = "bench-hs256"
HS_SECRET = hashlib.sha256(b"claimcheck bench secret, not a real one").digest()

CONFIGS = ["floor", "native", "native-cache", "claimcheck", "claimcheck-cache", "claimcheck-wasm"]
# Feature cases: the provider setting each turns on (the Envoy `<config>+<variant>`), and the
# case its figures are compared with, on the same claimcheck configuration without the feature
# (`None`: the feature case itself, which then runs there too: the same request, no feature).
FEATURES = {
    "DPoP": {"variant": "dpop", "reference": "ES256"},
    "introspection-cached": {"variant": "introspection", "reference": "ES256"},
    "introspection-uncached": {"variant": "introspection", "reference": "ES256"},
    "revocation-list": {"variant": "revocation", "reference": None},
}
# The claimcheck configurations the feature cases run on: token cache off and on.
FEATURE_CONFIGS = ["claimcheck", "claimcheck-cache"]
CASES = ALGORITHMS + ["refused"] + list(FEATURES)

# DPoP: proofs name the URI clients address; `origin` stands for the listener's address, whose
# port is only known once Envoy runs.
DPOP_ORIGIN = "https://api.bench.example"
DPOP_HTU = DPOP_ORIGIN + "/bench"
# Proofs minted for a load before its rate is known (the first warm-up): above the cached
# DPoP rate seen on this machine, so the first load does not run out.
DPOP_FIRST_RATE = 15_000
# The endpoints Envoy: introspection answers and the revocation list, reached by the tested
# Envoys through one static cluster.
ENDPOINTS_CLUSTER = "bench_endpoints"
ENDPOINTS_HOST = "endpoints.bench.example"
INTROSPECTION_CLIENT_TOKEN = "bench-introspection-client"


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name, default):
    value = os.environ.get(name)
    return [item for item in value.split(",") if item] if value else list(default)


def say(message):
    print(f"bench: {message}", flush=True)


def die(message):
    print(f"bench: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---------------------------------------------------------------- keys and tokens


def make_keys():
    """One development key per algorithm (the CLI), and one combined JWKS."""
    keys = []
    for alg in ALGORITHMS:
        out = WORK / "keys" / alg
        subprocess.run(
            [CLI, "keys", "--alg", alg, "--kid", f"bench-{alg}", "--out-dir", out, "--force"],
            check=True, stdout=subprocess.DEVNULL,
        )
        keys.extend(json.loads((out / "jwks.json").read_text())["keys"])
    return {"keys": keys}


def mint(alg, *extra):
    """A token (and, with DPoP arguments in `extra`, proofs: one a line after it)."""
    result = subprocess.run(
        [CLI, "token", "--key", WORK / "keys" / alg / "private-key.pem", "--iss", ISSUER,
         "--sub", "alice", "--aud", AUDIENCE, "--claim", "role=reader", "--ttl", "24h", *extra],
        check=True, capture_output=True, text=True,
    )
    return result.stdout.strip()


def mint_dpop(proofs):
    """An ES256 token bound to the DPoP key, and `proofs` single-use proofs for it, all with
    the current `iat`."""
    lines = mint("ES256", "--dpop-key", WORK / "keys" / "dpop" / "private-key.pem",
                 "--dpop-htu", DPOP_HTU, "--dpop-proofs", str(proofs)).split("\n")
    return lines[0], lines[1:]


def random_id():
    """128 random bits, base64url: a `jti`, or the start of opaque tokens."""
    return secrets.token_urlsafe(16)


def forge(token):
    """The same token with one signature byte changed: well-formed, never verifies."""
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{b64url(bytes(raw))}"


def hs256_tokens(count):
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": HS_KID}).encode())
    tokens = []
    for index in range(count):
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"user-{index}", "role": "reader",
                  "iat": now, "exp": now + 86400}
        signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
        mac = hmac.new(HS_SECRET, signing_input.encode(), hashlib.sha256).digest()
        tokens.append(f"{signing_input}.{b64url(mac)}")
    return tokens


# ---------------------------------------------------------------- Envoy configurations


def http_filters(config, jwks, settings):
    if config == "floor":
        return []
    if config.startswith("native"):
        provider = {
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": json.dumps(jwks)},
            "payload_in_metadata": "jwt_payload",
        }
        if config == "native-cache":
            provider["jwt_cache_config"] = {"jwt_cache_size": 1024}
        return [
            {
                "name": "envoy.filters.http.jwt_authn",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                    "providers": {"bench": provider},
                    "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}],
                },
            },
            {
                "name": "envoy.filters.http.rbac",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                    "rules": {
                        "action": "ALLOW",
                        "policies": {
                            "reader": {
                                "permissions": [{"any": True}],
                                "principals": [{
                                    "metadata": {
                                        "filter": "envoy.filters.http.jwt_authn",
                                        "path": [{"key": "jwt_payload"}, {"key": "role"}],
                                        "value": {"string_match": {"exact": "reader"}},
                                    }
                                }],
                            }
                        },
                    },
                },
            },
        ]
    return [wasm_filter(plugin_config(config, jwks, settings))]


def plugin_config(config, jwks, settings):
    """claimcheck's configuration for `config` (`claimcheck-cache`, or with a feature variant:
    `claimcheck-cache+dpop`): one provider, one claim rule, the feature on that provider."""
    base, _, variant = config.partition("+")
    hs_key = {"kty": "oct", "kid": HS_KID, "alg": "HS256", "k": b64url(HS_SECRET)}
    provider = {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "algorithms": ALGORITHMS + ["HS256"],
        "jwks": {"inline": {"keys": jwks["keys"] + [hs_key]}},
    }
    if variant == "dpop":
        provider["dpop"] = {
            "mode": "allowed",
            "algorithms": ["ES256"],
            "origin": DPOP_ORIGIN,
            # A proof is sent within its load's length (and the time minting takes) of its
            # `iat`, and leaves the replay cache soon after: the cache holds about one load's
            # proofs, a few per slot at most, and no live slot fills up (503).
            "max_age_s": min(600, settings["duration_s"] + settings["warmup_s"] + 15),
            "clock_skew_s": 1,
            "replay_slots": 65_536,
        }
    elif variant == "introspection":
        # An opaque-token provider: no keys, the endpoint's answer is the only check.
        provider = {
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "introspection": {
                "cluster": ENDPOINTS_CLUSTER,
                "uri": f"http://{ENDPOINTS_HOST}/introspect",
                "client_auth": {"bearer": INTROSPECTION_CLIENT_TOKEN},
                "max_ttl_s": 3600,
            },
        }
    elif variant == "revocation":
        provider["revocation"] = {"cluster": ENDPOINTS_CLUSTER,
                                  "uri": f"http://{ENDPOINTS_HOST}/revoked"}
    elif variant:
        die(f"unknown configuration {config}")
    return {
        "providers": {"bench": provider},
        "default": {
            "action": "require",
            "require": {"providers": {"any": ["bench"]},
                        "claims": {"claim": "role", "equals": "reader"}},
        },
        "token_cache": {"max_entries": 1024 if base == "claimcheck-cache" else 0},
        "crypto": "wasm" if base == "claimcheck-wasm" else "auto",
    }


def wasm_filter(plugin):
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "claimcheck",
                "root_id": "claimcheck",
                "failure_policy": "FAIL_CLOSED",
                "vm_config": {
                    "vm_id": "claimcheck",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(WASM)}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": json.dumps(plugin),
                },
            },
        },
    }


def envoy_config(config, jwks, settings, endpoints=None):
    """The whole bootstrap, as JSON (which Envoy reads as YAML). `endpoints`: the address of
    the endpoints Envoy, for the configurations that call it."""
    routes = [{"match": {"prefix": "/"},
               "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}]
    bootstrap = listener_bootstrap(routes, http_filters(config, jwks, settings))
    if endpoints:
        host, port = endpoints.rsplit(":", 1)
        bootstrap["static_resources"]["clusters"] = [{
            "name": ENDPOINTS_CLUSTER,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {"cluster_name": ENDPOINTS_CLUSTER, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": host,
                                                             "port_value": int(port)}}}}]}]},
        }]
    return bootstrap


def endpoints_config(answer, revocation_list):
    """The endpoints Envoy: an introspection endpoint answering every token with `answer`, and
    the revocation list, both direct responses."""
    json_headers = [{"header": {"key": "content-type", "value": "application/json"},
                     "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]
    routes = [
        {"match": {"prefix": "/introspect"}, "response_headers_to_add": json_headers,
         "direct_response": {"status": 200, "body": {"inline_string": json.dumps(answer)}}},
        {"match": {"prefix": "/revoked"}, "response_headers_to_add": json_headers,
         "direct_response": {"status": 200,
                             # Compact: 10,000 entries come near the list's 256 KiB bound.
                             "body": {"inline_string": json.dumps(revocation_list,
                                                                  separators=(",", ":"))}}},
    ]
    # The buffer filter reads a call's body before the direct response goes out: Envoy closes
    # a connection whose response ends before its request, and a new connection per call
    # would be measured as the cost of introspection.
    buffer = {"name": "envoy.filters.http.buffer", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
        "max_request_bytes": 65536}}
    bootstrap = listener_bootstrap(routes, [buffer])
    # The list is far above Envoy's 4 KiB default for a direct response.
    bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"]["route_config"]["max_direct_response_body_size_bytes"] = 1 << 20
    return bootstrap


def listener_bootstrap(routes, filters):
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": [{
            "name": "ingress",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "ingress",
                    "route_config": {"virtual_hosts": [{
                        "name": "bench",
                        "domains": ["*"],
                        "routes": routes,
                    }]},
                    "http_filters": filters + [{
                        "name": "envoy.filters.http.router",
                        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                    }],
                },
            }]}],
        }]},
    }


class Envoy:
    def __init__(self, config, bootstrap_config, cpu):
        self.config = config
        self.dir = WORK / "envoy" / config
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        bootstrap = self.dir / "envoy.yaml"
        bootstrap.write_text(json.dumps(bootstrap_config, indent=1))
        self.log = open(self.dir / "envoy.log", "w")
        self.process = subprocess.Popen(
            ["taskset", "-c", str(cpu), ENVOY, "-c", bootstrap, "--concurrency", "1",
             "--disable-hot-restart", "--log-level", "warn",
             "--admin-address-path", self.dir / "admin-address"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.admin = None
        self.listener = None

    def wait_ready(self, timeout_s=180):
        deadline = time.time() + timeout_s
        address_file = self.dir / "admin-address"
        while time.time() < deadline:
            if self.process.poll() is not None:
                die(f"Envoy for {self.config} exited; see {self.dir / 'envoy.log'}")
            if address_file.exists() and address_file.read_text().strip():
                self.admin = address_file.read_text().strip()
                try:
                    if self.get_admin("/ready").strip() == "LIVE":
                        listeners = self.get_admin("/listeners")
                        match = re.search(r"127\.0\.0\.1:(\d+)", listeners)
                        if match:
                            self.listener = f"127.0.0.1:{match.group(1)}"
                            return
                except OSError:
                    pass
            time.sleep(0.2)
        die(f"Envoy for {self.config} not ready after {timeout_s} s")

    def get_admin(self, path):
        with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=10) as response:
            return response.read().decode()

    def stat(self, name):
        text = self.get_admin(f"/stats?filter=^{re.escape(name)}$")
        match = re.search(r": (\d+)", text)
        return int(match.group(1)) if match else None

    def rss_kib(self):
        # The Envoy process is the child of taskset, which exec()s it: same pid.
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) if match else None

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def probe(envoy, token, headers=None):
    request = urllib.request.Request(f"http://{envoy.listener}/bench",
                                     headers=headers or {"authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def probe_settled(envoy, headers, timeout_s=15):
    """A probe's status once the Envoy has what it fetches at start (a revocation list): a 503
    before that is the cold start, not the answer."""
    deadline = time.time() + timeout_s
    while True:
        status = probe(envoy, None, headers)
        if status != 503 or time.time() > deadline:
            return status
        time.sleep(0.5)


# ---------------------------------------------------------------- load


WRK_SINGLE = """
local token = os.getenv("BENCH_TOKEN")
wrk.headers["authorization"] = "Bearer " .. token
"""

WRK_MANY = """
local tokens = {}
local next_token = 1
function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
end
function request()
  local token = tokens[next_token]
  next_token = next_token % #tokens + 1
  return wrk.format("GET", "/bench", { ["authorization"] = "Bearer " .. token })
end
"""

# One DPoP proof per request, in order, each sent once (a file holds enough for the load; were
# it to run out, the proofs would come round again and be refused as replays: wrong statuses).
WRK_DPOP = """
local token = os.getenv("BENCH_TOKEN")
local proofs = {}
local next_proof = 1
function init(args)
  for line in io.lines(os.getenv("BENCH_PROOFS")) do proofs[#proofs + 1] = line end
end
function request()
  local proof = proofs[next_proof]
  next_proof = next_proof % #proofs + 1
  return wrk.format("GET", "/bench", { ["authorization"] = "DPoP " .. token, ["dpop"] = proof })
end
"""

# A new opaque token per request: a random prefix per load, then a counter.
WRK_NEW_TOKENS = """
local prefix = os.getenv("BENCH_TOKEN_PREFIX")
local count = 0
function request()
  count = count + 1
  return wrk.format("GET", "/bench", { ["authorization"] = "Bearer " .. prefix .. count })
end
"""


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(envoy, duration_s, connections, cpu, script, extra_env):
    env = dict(os.environ, **extra_env)
    cpu_before = cpu_seconds(envoy.process.pid)
    result = subprocess.run(
        ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s",
         "-s", script, f"http://{envoy.listener}/bench"],
        capture_output=True, text=True, env=env,
    )
    if result.returncode != 0:
        die(f"wrk failed: {result.stderr.strip()}")
    out = result.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    requests = int(total.group(1)) if total else 0
    cpu_used = cpu_seconds(envoy.process.pid) - cpu_before
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "requests": requests,
        # Envoy's own CPU time per request: unlike req/s, barely moved by other load on the
        # machine, so a second figure to check the first against.
        "cpu_us_per_request": cpu_used * 1e6 / requests if requests else 0.0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
    }


def run_command(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def machine():
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
    }


def envoys_for(case, configs):
    """The Envoys a case runs on, the floor first: every configuration for a bearer case; for
    a feature case, the claimcheck configurations with the feature (and without it, when the
    case is its own reference)."""
    feature = FEATURES.get(case)
    if feature is None:
        return list(configs)
    names = ["floor"]
    for config in configs:
        if config in FEATURE_CONFIGS:
            if feature["reference"] is None:
                names.append(config)
            names.append(f"{config}+{feature['variant']}")
    return names


class Loads:
    """What wrk sends for each case and Envoy: the Lua script and its environment. DPoP proofs
    are minted right before each load (their `iat` must be recent), as many as the load's rate
    seen last time calls for, so each is sent once."""

    def __init__(self, scripts, tokens):
        self.scripts = scripts
        self.tokens = tokens
        self.rates = {}
        self.sent = {}
        self.floor_proofs = None

    def prepare(self, case, config, seconds):
        if case == "DPoP":
            return self.dpop(config, seconds)
        if case == "introspection-uncached":
            return str(self.scripts / "new-tokens.lua"), {"BENCH_TOKEN_PREFIX": random_id()}
        return str(self.scripts / "single.lua"), {"BENCH_TOKEN": self.tokens[case]}

    def dpop(self, config, seconds):
        if config == "floor":
            # The floor checks nothing: the same requests, proofs sent many times over.
            if self.floor_proofs is None:
                self.floor_proofs = self.proof_load(config, *mint_dpop(1000))
            return self.floor_proofs
        rate = self.rates.get(("DPoP", config), DPOP_FIRST_RATE)
        return self.proof_load(config, *mint_dpop(min(1_000_000, int(rate * seconds * 1.5) + 2000)))

    def proof_load(self, config, token, proofs):
        path = self.scripts / f"proofs-{config}.txt"
        path.write_text("\n".join(proofs) + "\n")
        return str(self.scripts / "dpop.lua"), {"BENCH_TOKEN": token, "BENCH_PROOFS": str(path)}

    def ran(self, case, config, run):
        if run["rps"] > 0:
            self.rates[(case, config)] = run["rps"]
        key = f"{case}/{config}"
        self.sent[key] = self.sent.get(key, 0) + run["requests"]


def probe_case(envoy, case, tokens, revoked_token):
    """Dies unless `envoy` answers `case` as the measurement assumes: its requests allowed,
    and the feature in force (a replayed proof refused, a listed `jti` refused)."""
    if case == "DPoP":
        token, proofs = mint_dpop(1)
        headers = {"authorization": f"DPoP {token}", "dpop": proofs[0]}
        checks = [("a fresh proof", probe_settled(envoy, headers), 200),
                  ("the same proof again", probe(envoy, None, headers), 401)]
    elif case == "introspection-uncached":
        checks = [("a new opaque token",
                   probe_settled(envoy, {"authorization": f"Bearer {random_id()}"}), 200)]
    else:
        expected = 401 if case == "refused" else 200
        checks = [(case, probe_settled(envoy, {"authorization": f"Bearer {tokens[case]}"}),
                   expected)]
        if case == "revocation-list" and envoy.config.endswith("+revocation"):
            checks.append(("a token with a listed jti",
                           probe(envoy, revoked_token), 401))
    for what, status, expected in checks:
        if status != expected:
            die(f"{envoy.config} answers {status} to {what} ({case}), expected {expected}; "
                f"see {envoy.dir / 'envoy.log'}")


def refused_configuration(config, jwks, settings):
    """This build's verdict on `config`'s claimcheck configuration (`claimcheck validate`):
    None if it accepts it, else its message."""
    path = WORK / "plugin" / f"{config}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plugin_config(config, jwks, settings), indent=1))
    result = subprocess.run([CLI, "validate", path], capture_output=True, text=True)
    return None if result.returncode == 0 else (result.stdout + result.stderr).strip()


def unsupported_cases(cases, configs, jwks, settings):
    """The feature cases this build cannot run, and why: a build from before revocation lists
    (or the CLI's `--dpop-proofs`) measures the other cases and says why one is missing. Any
    other configuration the build refuses is a fault of this script."""
    skipped = {}
    if "DPoP" in cases and "--dpop-proofs" not in run_command([str(CLI), "token", "--help"]):
        skipped["DPoP"] = "this build's `claimcheck token` has no `--dpop-proofs`"
    for case in [c for c in cases if c in FEATURES and c not in skipped]:
        for config in [name for name in envoys_for(case, configs) if "+" in name]:
            reason = refused_configuration(config, jwks, settings)
            if not reason:
                continue
            if FEATURES[case]["variant"] == "revocation" and "unknown field `revocation`" in reason:
                skipped[case] = "this build of claimcheck has no `providers.<name>.revocation`"
                break
            die(f"claimcheck refuses the configuration of {config}: {reason}")
    for case, reason in skipped.items():
        say(f"skipping {case}: {reason}")
    return skipped


def main():
    duration = env_int("BENCH_DURATION_S", 5)
    warmup = env_int("BENCH_WARMUP_S", 1)
    rounds = env_int("BENCH_ROUNDS", 3)
    connections = env_int("BENCH_CONNECTIONS", 32)
    envoy_cpu = env_int("BENCH_ENVOY_CPU", 0)
    wrk_cpu = env_int("BENCH_WRK_CPU", 1)
    memory_requests = env_int("BENCH_MEMORY_REQUESTS", 100_000)
    memory_tokens = env_int("BENCH_MEMORY_TOKENS", 10_000)
    revoked_jtis = env_int("BENCH_REVOKED_JTIS", 10_000)
    configs = env_list("BENCH_CONFIGS", CONFIGS)
    cases = env_list("BENCH_CASES", CASES)
    out_file = Path(os.environ.get("BENCH_OUT", WORK / "results.json"))
    if "floor" not in configs:
        configs.insert(0, "floor")
    for name in cases:
        if name not in CASES:
            die(f"unknown case {name} (cases: {', '.join(CASES)})")
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            die(f"{tool} is required (Debian: apt-get install {'wrk' if tool == 'wrk' else 'util-linux'})")
    for path in (ENVOY, WASM, CLI):
        if not path.exists():
            die(f"{path} is missing (make build envoy; cargo build -p claimcheck-cli)")
    settings = {"duration_s": duration, "warmup_s": warmup, "rounds": rounds,
                "connections": connections, "envoy_cpu": envoy_cpu, "wrk_cpu": wrk_cpu,
                "memory_requests": memory_requests, "memory_tokens": memory_tokens,
                "revoked_jtis": revoked_jtis}

    WORK.mkdir(parents=True, exist_ok=True)
    say("minting keys and tokens")
    jwks = make_keys()
    subprocess.run([CLI, "keys", "--alg", "ES256", "--kid", "bench-dpop", "--out-dir",
                    WORK / "keys" / "dpop", "--force"], check=True, stdout=subprocess.DEVNULL)
    tokens = {alg: mint(alg) for alg in ALGORITHMS}
    tokens["refused"] = forge(tokens["RS256"])
    tokens["introspection-cached"] = random_id()
    # The revocation list: random 128-bit `jti`s (base64url, as IdPs mint them); the measured
    # token carries a `jti` that is not listed, so every request looks it up and passes.
    revocation_list = {"jti": [random_id() for _ in range(revoked_jtis)]}
    tokens["revocation-list"] = mint("ES256", "--claim", f"jti={random_id()}")
    revoked_token = mint("ES256", "--claim", f"jti={revocation_list['jti'][revoked_jtis // 2]}")
    now = int(time.time())
    introspection_answer = {"active": True, "iss": ISSUER, "aud": AUDIENCE, "sub": "alice",
                            "role": "reader", "client_id": "bench-client",
                            "token_type": "Bearer", "iat": now, "exp": now + 86400}
    expected = {case: (401 if case == "refused" else 200) for case in CASES}
    scripts = WORK / "wrk"
    scripts.mkdir(exist_ok=True)
    (scripts / "single.lua").write_text(WRK_SINGLE)
    (scripts / "many.lua").write_text(WRK_MANY)
    (scripts / "dpop.lua").write_text(WRK_DPOP)
    (scripts / "new-tokens.lua").write_text(WRK_NEW_TOKENS)
    token_file = WORK / "hs256-tokens.txt"
    token_file.write_text("\n".join(hs256_tokens(memory_tokens)) + "\n")

    skipped = unsupported_cases(cases, configs, jwks, settings)
    cases = [case for case in cases if case not in skipped]
    names = list(dict.fromkeys(name for case in cases for name in envoys_for(case, configs)))
    variants = {name.partition("+")[2] for name in names}

    loads = Loads(scripts, tokens)
    endpoints = None
    envoys = {}
    results = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "envoy_version": run_command([str(ENVOY), "--version"]).split("version:")[-1].strip(),
        "wrk_version": run_command(["wrk", "-v"]).splitlines()[0] if run_command(["wrk", "-v"]) else "",
        "machine": machine(),
        "wasm_bytes": WASM.stat().st_size,
        "settings": settings,
        "configs": names,
        "cases": cases,
        "features": {case: FEATURES[case] for case in cases if case in FEATURES},
        "skipped": skipped,
        "runs": [],
    }
    try:
        if variants & {"introspection", "revocation"}:
            say(f"starting the endpoints Envoy on core {wrk_cpu}")
            endpoints = Envoy("endpoints", endpoints_config(introspection_answer, revocation_list),
                              wrk_cpu)
            endpoints.wait_ready()
        if names:
            say(f"starting {len(names)} Envoys on core {envoy_cpu} (--concurrency 1)")
        for name in names:
            calls_endpoints = name.partition("+")[2] in ("introspection", "revocation")
            envoys[name] = Envoy(name, envoy_config(name, jwks, settings,
                                                    endpoints.listener if calls_endpoints else None),
                                 envoy_cpu)
        for envoy in envoys.values():
            envoy.wait_ready()
        for case in cases:
            for name in envoys_for(case, configs):
                if name != "floor":
                    probe_case(envoys[name], case, tokens, revoked_token)
        if "claimcheck" in envoys:
            results["host_crypto_calls_at_probe"] = envoys["claimcheck"].stat(
                "wasmcustom.claimcheck.crypto.host_verify")

        for round_index in range(rounds):
            say(f"round {round_index + 1}/{rounds}")
            for case in cases:
                # Alternate the order inside each round too, so no configuration always runs
                # right after the same neighbour.
                order = envoys_for(case, configs)
                if round_index % 2:
                    order.reverse()
                for config in order:
                    envoy = envoys[config]
                    if warmup > 0:
                        script, env = loads.prepare(case, config, warmup)
                        loads.ran(case, config, wrk(envoy, warmup, connections, wrk_cpu, script, env))
                    script, env = loads.prepare(case, config, duration)
                    run = wrk(envoy, duration, connections, wrk_cpu, script, env)
                    loads.ran(case, config, run)
                    bad = run["non2xx"] if expected[case] == 200 else run["requests"] - run["non2xx"]
                    if config == "floor":
                        bad = run["non2xx"]
                    run.update(round=round_index, case=case, config=config, wrong_status=bad)
                    results["runs"].append(run)
                    say(f"  {case:22} {config:30} {run['rps']:10.0f} req/s "
                        f"{run['cpu_us_per_request']:7.1f} CPU µs/request")

        results["rss_kib"] = {config: envoy.rss_kib() for config, envoy in envoys.items()}
        results["requests_sent"] = loads.sent
        results["feature_counters"] = feature_counters(envoys)
        if "claimcheck-cache" in envoys:
            results["memory"] = memory_run(envoys["claimcheck-cache"], connections, wrk_cpu,
                                           scripts / "many.lua", token_file, memory_requests)
        if "claimcheck" in envoys:
            results["host_crypto_calls"] = envoys["claimcheck"].stat(
                "wasmcustom.claimcheck.crypto.host_verify")
            results["crypto_backend"] = {
                config: envoys[config].stat("wasmcustom.claimcheck.crypto.host")
                for config in names if config.startswith("claimcheck")
            }
    finally:
        for envoy in envoys.values():
            envoy.stop()
        if endpoints:
            endpoints.stop()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(results, indent=1))
    say(f"results in {out_file}")


def feature_counters(envoys):
    """The introspection Envoys' calls and cache hits over the whole run (probes and warm-ups
    included): evidence that the uncached case called once per request and the cached one
    did not call. With them, every claimcheck Envoy's refusals and failed introspection
    calls by reason code, so a run with unexpected statuses says what they were."""
    counters = {}
    time.sleep(2.5)  # counters are reported on the root's (one-second) tick
    for name, envoy in envoys.items():
        if not name.startswith("claimcheck"):
            continue
        found = {}
        if name.endswith("+introspection"):
            found = {
                outcome: envoy.stat(f"wasmcustom.claimcheck.introspection.bench.{outcome}")
                for outcome in ("call", "cache_hit", "waited")
            }
        for prefix, key in (("wasmcustom.claimcheck.requests.denied.", "denied"),
                            ("wasmcustom.claimcheck.introspection.bench.failed.", "failed")):
            text = envoy.get_admin(f"/stats?filter=^{re.escape(prefix)}")
            by_reason = {}
            for line in text.splitlines():
                stat, _, value = line.partition(": ")
                if value.isdigit() and int(value):
                    by_reason[stat.removeprefix(prefix)] = int(value)
            if by_reason:
                found[key] = by_reason
        if found:
            counters[name] = found
    return counters


def memory_run(envoy, connections, cpu, script, token_file, requests):
    """Linear memory of the claimcheck VM after `requests` requests cycling through the
    distinct tokens, twice: a bounded cache keeps the second figure equal to the first."""
    gauge = "wasmcustom.claimcheck.vm.memory_bytes"

    def settle():
        time.sleep(2.5)  # the gauge is refreshed on the root's (one-second) tick
        return envoy.stat(gauge)

    before = settle()
    figures = []
    for _ in range(2):
        # wrk has no request count: load in 3-second slices until enough requests were sent.
        run = {"requests": 0, "non2xx": 0}
        while run["requests"] < requests:
            part = wrk(envoy, 3, connections, cpu, str(script), {"BENCH_TOKENS": str(token_file)})
            if part["requests"] == 0:
                die("the linear-memory run makes no progress")
            run["requests"] += part["requests"]
            run["non2xx"] += part["non2xx"]
        figures.append({"requests": run["requests"], "non2xx": run["non2xx"],
                        "memory_bytes": settle(), "rss_kib": envoy.rss_kib()})
        say(f"  memory run: {run['requests']} requests, linear memory {figures[-1]['memory_bytes']}")
    return {"before_bytes": before, "after": figures,
            "cache_hit": envoy.stat("wasmcustom.claimcheck.cache.hit"),
            "cache_miss": envoy.stat("wasmcustom.claimcheck.cache.miss")}


if __name__ == "__main__":
    main()
