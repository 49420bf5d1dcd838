#!/usr/bin/env python3
"""The Assigner end to end against the Learn365 simulator (issue 16), figures in bench/RESULTS.md:

    python3 bench/assigner_e2e.py [USERS]          # default 20000; needs the release binaries and plugins:
                                                   # cargo build --release -p gateway -p learn365-sim
                                                   # bash scripts/build-plugins.sh

Starts the simulator (Learn365 and Microsoft Graph) and the release gateway on a virtual clock (SQLite in
a scratch folder, the per-target kv quota raised), POSTs USERS Entra-shaped users (8 threads), waits for
the sync to bring them into Learn365, saves the Assigner settings, moves the clock through the first data
refresh, creates 20 profiles (department and 20 cities, or a position) and moves the clock through the
first maintenance. Prints the time of each step, the job calls each run made, the groups' sizes and the
simulator's request counts.
"""
import concurrent.futures as cf
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
CACHE = os.environ.get("SCIMGW_CACHE", os.path.expanduser("~/.cache/scimgw"))
T = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(CACHE, "target")), "release")
G, SIM = f"{T}/gateway", f"{T}/learn365-sim"
W = tempfile.mkdtemp(prefix="scimgw-assigner-e2e.")
env = dict(os.environ, DATABASE_URL=f"sqlite://{W}/gw.db", GATEWAY_CREDENTIAL_KEY_FILE=f"{W}/k",
           GATEWAY_PLUGIN_KV_MAX_KEYS="2000000", GATEWAY_PLUGIN_KV_MAX_BYTES=str(1 << 30))
sim = subprocess.Popen([SIM, "--bind", "127.0.0.1:0"], stdout=open(f"{W}/sim.out", "w"), stderr=open(f"{W}/sim.log", "w"))
for _ in range(100):
    t = open(f"{W}/sim.out").read()
    if "listening" in t: break
    time.sleep(0.05)
SU = re.search(r"listening on (\S+)", t).group(1)
def g(*a):
    return subprocess.run([G, *a], env=env, capture_output=True, text=True, check=True).stdout
TOKEN = json.loads(g("tenant", "create", "contoso"))["token"]
g("plugin", "add", os.path.join(os.environ.get("SCIMGW_PLUGINS_DIR", os.path.join(CACHE, "plugins")), "learn365.wasm"))
app = json.dumps({"type": "oauth2-client-credentials", "tokenUrl": f"{SU}/contoso.onmicrosoft.com/oauth2/v2.0/token",
                  "clientId": "sim-graph-client", "clientSecret": "sim-graph-secret", "scope": "https://graph.microsoft.com/.default"})
g("target", "add", "--tenant", "contoso", "--name", "learn365", "--plugin", "learn365",
  "--config", json.dumps({"baseUrl": SU, "assigner": {"graphBaseUrl": SU}}), "--allow-host", SU, "--allow-http",
  "--allow-private", "--credential", "learn365=api:sim-full-key", "--credential", f"entra-app={app}")
ADMIN = secrets.token_hex(16)
PORT = int(os.environ.get("PORT", "18777"))
gw = subprocess.Popen([G, "serve", "--bind", f"127.0.0.1:{PORT}", "--virtual-clock", "2026-03-02T02:10:00Z"],
                      env=dict(env, GATEWAY_ADMIN_TOKEN=ADMIN), stdout=open(f"{W}/gw.log", "w"), stderr=subprocess.STDOUT)
time.sleep(1.5)
def req(method, url, body=None, token=TOKEN, ctype="application/scim+json"):
    r = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                               headers={"Authorization": f"Bearer {token}", "Content-Type": ctype})
    with urllib.request.urlopen(r, timeout=600) as resp:
        return json.loads(resp.read() or b"null")
BASE = f"http://127.0.0.1:{PORT}/scim/v2/contoso"
cities = [f"City {i:03}" for i in range(100)]; depts = [f"Dept {i:02}" for i in range(30)]
pos = ["Customer Success Manager", "Sales Manager", "Engineer", "Nurse", "Recruiter"]
def user(i):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": f"{i:08x}-0000-4000-8000-{i:012}", "userName": f"u{i}@contoso.com", "active": True,
            "displayName": f"User {i}", "emails": [{"primary": True, "type": "work", "value": f"u{i}@contoso.com"}],
            "title": pos[i % 5], "addresses": [{"type": "work", "locality": cities[(i * 7) % 100], "country": "US", "primary": True}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": depts[(i * 11) % 30], "organization": "Contoso"}}
t0 = time.time()
with cf.ThreadPoolExecutor(8) as ex:
    list(ex.map(lambda i: req("POST", f"{BASE}/Users", user(i)), range(N)))
print(f"{N} users posted in {time.time()-t0:.1f}s", flush=True)
def status():
    for _ in range(20):
        try:
            return json.loads(g("target", "status", "--tenant", "contoso", "learn365"))
        except subprocess.CalledProcessError as e:
            err = e.stderr
            time.sleep(1)
    raise SystemExit(err)
while True:
    s = status()
    if s["pending"] == 0 and s["cursor_seq"] == s["last_seq"]: break
    time.sleep(2)
print(f"synced to Learn365 at {time.time()-t0:.1f}s", flush=True)
g("assigner", "settings", "--tenant", "contoso", "--set", json.dumps({"contactEmail": "a@contoso.com", "entraGroupPrefix": "ASG-"}))
time.sleep(2.5)
AD = f"http://127.0.0.1:{PORT}/admin/v1"
def advance(to):
    t = time.time()
    v = req("POST", f"{AD}/clock/advance", {"to": to}, token=ADMIN, ctype="application/json")
    ran = [ (r["job"], r["result"], r["calls"], r["summary"]) for r in v["runs"] if "nothing" not in (r["summary"] or "")]
    return time.time() - t, ran
dt, ran = advance("2026-03-02T02:15:00Z"); print(f"refresh: {dt:.1f}s {ran}", flush=True)
for k in range(20):
    prof = {"title": f"P{k}", "enroll": False, "courses": [], "autoPopulate": True,
            "properties": {"op": "AND", "children": [{"source": "Department", "value": depts[k % 30]},
                           {"op": "OR", "children": [{"source": "City", "value": cities[(k * 3 + j) % 100]} for j in range(20)]}]}}
    if k % 4 == 0:
        prof["properties"] = {"source": "Position", "value": pos[k % 5]}
    open(f"{W}/p.json", "w").write(json.dumps(prof))
    g("assigner", "create", "--tenant", "contoso", f"@{W}/p.json")
time.sleep(2.5)
dt, ran = advance("2026-03-02T03:00:00Z"); print(f"maintenance: {dt:.1f}s {ran}", flush=True)
st = req("GET", f"{SU}/_sim/state", token="x")
sizes = sorted(len(x["members"]) for x in st["graphGroups"])
print("groups:", len(sizes), "members total", sum(sizes), "largest", sizes[-3:], flush=True)
stats = req("GET", f"{SU}/_sim/stats", token="x"); print("sim stats:", json.dumps(stats)[:600])
gw.terminate()
sim.terminate()
print(f"logs in {W}")
