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

Environment (all optional):
  BENCH_DURATION_S  whole seconds of load per measurement  (default 5)
  BENCH_WARMUP_S    whole seconds of load before each one    (default 1; 0 = none)
  BENCH_ROUNDS      rounds over every configuration          (default 3)
  BENCH_CONNECTIONS wrk connections                          (default 32)
  BENCH_ENVOY_CPU / BENCH_WRK_CPU   cores to pin to          (default 0 / 1)
  BENCH_MEMORY_REQUESTS / BENCH_MEMORY_TOKENS  linear-memory run (default 100000 / 10000)
  BENCH_CONFIGS / BENCH_CASES  comma-separated subsets (debugging)
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
CASES = ALGORITHMS + ["refused"]


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


def mint(alg):
    result = subprocess.run(
        [CLI, "token", "--key", WORK / "keys" / alg / "private-key.pem", "--iss", ISSUER,
         "--sub", "alice", "--aud", AUDIENCE, "--claim", "role=reader", "--ttl", "24h"],
        check=True, capture_output=True, text=True,
    )
    return result.stdout.strip()


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


def http_filters(config, jwks):
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
    hs_key = {"kty": "oct", "kid": HS_KID, "alg": "HS256", "k": b64url(HS_SECRET)}
    plugin = {
        "providers": {
            "bench": {
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "algorithms": ALGORITHMS + ["HS256"],
                "jwks": {"inline": {"keys": jwks["keys"] + [hs_key]}},
            }
        },
        "default": {
            "action": "require",
            "require": {"providers": {"any": ["bench"]},
                        "claims": {"claim": "role", "equals": "reader"}},
        },
        "token_cache": {"max_entries": 1024 if config == "claimcheck-cache" else 0},
        "crypto": "wasm" if config == "claimcheck-wasm" else "auto",
    }
    return [{
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
    }]


def envoy_config(config, jwks):
    """The whole bootstrap, as JSON (which Envoy reads as YAML)."""
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
                        "routes": [{"match": {"prefix": "/"},
                                    "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}],
                    }]},
                    "http_filters": http_filters(config, jwks) + [{
                        "name": "envoy.filters.http.router",
                        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                    }],
                },
            }]}],
        }]},
    }


class Envoy:
    def __init__(self, config, jwks, cpu):
        self.config = config
        self.dir = WORK / "envoy" / config
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        bootstrap = self.dir / "envoy.yaml"
        bootstrap.write_text(json.dumps(envoy_config(config, jwks), indent=1))
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


def probe(envoy, token):
    request = urllib.request.Request(f"http://{envoy.listener}/bench",
                                     headers={"authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


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


def main():
    duration = env_int("BENCH_DURATION_S", 5)
    warmup = env_int("BENCH_WARMUP_S", 1)
    rounds = env_int("BENCH_ROUNDS", 3)
    connections = env_int("BENCH_CONNECTIONS", 32)
    envoy_cpu = env_int("BENCH_ENVOY_CPU", 0)
    wrk_cpu = env_int("BENCH_WRK_CPU", 1)
    memory_requests = env_int("BENCH_MEMORY_REQUESTS", 100_000)
    memory_tokens = env_int("BENCH_MEMORY_TOKENS", 10_000)
    configs = env_list("BENCH_CONFIGS", CONFIGS)
    cases = env_list("BENCH_CASES", CASES)
    out_file = Path(os.environ.get("BENCH_OUT", WORK / "results.json"))
    if "floor" not in configs:
        configs.insert(0, "floor")
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            die(f"{tool} is required (Debian: apt-get install {'wrk' if tool == 'wrk' else 'util-linux'})")
    for path in (ENVOY, WASM, CLI):
        if not path.exists():
            die(f"{path} is missing (make build envoy; cargo build -p claimcheck-cli)")

    WORK.mkdir(parents=True, exist_ok=True)
    say("minting keys and tokens")
    jwks = make_keys()
    tokens = {alg: mint(alg) for alg in ALGORITHMS}
    tokens["refused"] = forge(tokens["RS256"])
    expected = {case: (401 if case == "refused" else 200) for case in CASES}
    scripts = WORK / "wrk"
    scripts.mkdir(exist_ok=True)
    (scripts / "single.lua").write_text(WRK_SINGLE)
    (scripts / "many.lua").write_text(WRK_MANY)
    token_file = WORK / "hs256-tokens.txt"
    token_file.write_text("\n".join(hs256_tokens(memory_tokens)) + "\n")

    say(f"starting {len(configs)} Envoys on core {envoy_cpu} (--concurrency 1)")
    envoys = {config: Envoy(config, jwks, envoy_cpu) for config in configs}
    results = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "envoy_version": run_command([str(ENVOY), "--version"]).split("version:")[-1].strip(),
        "wrk_version": run_command(["wrk", "-v"]).splitlines()[0] if run_command(["wrk", "-v"]) else "",
        "machine": machine(),
        "wasm_bytes": WASM.stat().st_size,
        "settings": {"duration_s": duration, "warmup_s": warmup, "rounds": rounds,
                     "connections": connections, "envoy_cpu": envoy_cpu, "wrk_cpu": wrk_cpu,
                     "memory_requests": memory_requests, "memory_tokens": memory_tokens},
        "configs": configs,
        "cases": cases,
        "runs": [],
    }
    try:
        for envoy in envoys.values():
            envoy.wait_ready()
        for envoy in envoys.values():
            if envoy.config == "floor":
                continue
            for case in cases:
                status = probe(envoy, tokens[case])
                if status != expected[case]:
                    die(f"{envoy.config} answers {status} to {case}, expected {expected[case]}; "
                        f"see {envoy.dir / 'envoy.log'}")
        if "claimcheck" in envoys:
            results["host_crypto_calls_at_probe"] = envoys["claimcheck"].stat(
                "wasmcustom.claimcheck.crypto.host_verify")

        single = str(scripts / "single.lua")
        for round_index in range(rounds):
            say(f"round {round_index + 1}/{rounds}")
            for case in cases:
                env = {"BENCH_TOKEN": tokens[case]}
                # Alternate the order inside each round too, so no configuration always runs
                # right after the same neighbour.
                order = configs if round_index % 2 == 0 else list(reversed(configs))
                for config in order:
                    envoy = envoys[config]
                    if warmup > 0:
                        wrk(envoy, warmup, connections, wrk_cpu, single, env)
                    run = wrk(envoy, duration, connections, wrk_cpu, single, env)
                    bad = run["non2xx"] if expected[case] == 200 else run["requests"] - run["non2xx"]
                    if config == "floor":
                        bad = run["non2xx"]
                    run.update(round=round_index, case=case, config=config, wrong_status=bad)
                    results["runs"].append(run)
                    say(f"  {case:8} {config:17} {run['rps']:10.0f} req/s "
                        f"{run['cpu_us_per_request']:7.1f} CPU µs/request")

        results["rss_kib"] = {config: envoy.rss_kib() for config, envoy in envoys.items()}
        if "claimcheck-cache" in envoys:
            results["memory"] = memory_run(envoys["claimcheck-cache"], connections, wrk_cpu,
                                           scripts / "many.lua", token_file, memory_requests)
        if "claimcheck" in envoys:
            results["host_crypto_calls"] = envoys["claimcheck"].stat(
                "wasmcustom.claimcheck.crypto.host_verify")
            results["crypto_backend"] = {
                config: envoys[config].stat("wasmcustom.claimcheck.crypto.host")
                for config in configs if config.startswith("claimcheck")
            }
    finally:
        for envoy in envoys.values():
            envoy.stop()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(results, indent=1))
    say(f"results in {out_file}")


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
