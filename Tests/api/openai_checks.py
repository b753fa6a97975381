#!/usr/bin/env python3
"""Gantry's OpenAI-compatible API, checked with the official `openai` client.

    openai_checks.py --base-url URL --key KEY --low-key KEY --high-key KEY --engine URL [--engine URL]

Runs against a live gantryd whose agents serve the model "tiny" on real llama-servers (the
--engine URLs, reached directly for comparison). Prints one line per check, then one JSON
line of facts for the caller to check against gantryd's own records ({"cancelled_job": ...,
"priority_jobs": {"low-0": job id, ...}}); exits non-zero if a check failed.
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import openai

failures = []
facts = {}


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        failures.append(name)


def request(method, url, body=None, headers=None, raw=None):
    """(status, parsed JSON body) of one plain HTTP request (the standard library's client)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    prepared = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(prepared, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def direct_usage(engine, path, body):
    status, reply = request("POST", engine + path, body)
    assert status == 200, reply
    return reply["usage"]


def basics(client, args):
    engine = args.engine[0]
    # Non-streamed completion: the engine's own token counts, and the receipt.
    prompt = "The cluster schedules tokens across nodes"
    c = client.completions.create(model="tiny", prompt=prompt, max_tokens=8, temperature=0)
    want = direct_usage(engine, "/v1/completions", {"model": "tiny", "prompt": prompt, "max_tokens": 8, "temperature": 0})
    check("completion: text and usage equal to the engine's own counts",
          c.choices[0].text != "" and c.usage.prompt_tokens == want["prompt_tokens"] and c.usage.completion_tokens == want["completion_tokens"] == 8,
          f"{c.usage} vs {want}")
    gantry = (c.usage.model_extra or {}).get("gantry") or {}
    check("completion: usage.gantry carries the receipt", bool(gantry.get("job_id")) and gantry.get("node") and "cost_usd" in gantry, str(gantry))

    # Streamed completion with usage.
    text, usage, done_chunks = "", None, 0
    for chunk in client.completions.create(model="tiny", prompt=prompt, max_tokens=12, temperature=0, stream=True,
                                           stream_options={"include_usage": True}):
        done_chunks += 1
        if chunk.choices:
            text += chunk.choices[0].text or ""
        if chunk.usage:
            usage = chunk.usage
    check("streamed completion: chunks, then usage (include_usage)",
          text != "" and usage is not None and usage.completion_tokens == 12 and usage.prompt_tokens == want["prompt_tokens"], f"{usage} {text!r}")

    # Chat, whole and streamed: the engine applies its own template.
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say something about GPUs."}]
    want = direct_usage(engine, "/v1/chat/completions", {"model": "tiny", "messages": messages, "max_tokens": 6, "temperature": 0})
    chat = client.chat.completions.create(model="tiny", messages=messages, max_tokens=6, temperature=0)
    check("chat: an answer and usage equal to the engine's own counts",
          chat.choices[0].message.role == "assistant" and chat.usage.prompt_tokens == want["prompt_tokens"]
          and chat.usage.completion_tokens == want["completion_tokens"], f"{chat.usage} vs {want}")
    content, usage, first_role = "", None, None
    for chunk in client.chat.completions.create(model="tiny", messages=messages, max_tokens=6, temperature=0, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.choices:
            delta = chunk.choices[0].delta
            first_role = first_role or delta.role
            content += delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    check("streamed chat: deltas with the assistant role, then usage",
          first_role == "assistant" and usage is not None and usage.prompt_tokens == want["prompt_tokens"], f"{usage}")

    models = [m.id for m in client.models.list()]
    check("models.list() shows the model ready nodes serve", "tiny" in models, str(models))

    # Errors in OpenAI's shape.
    bad = openai.OpenAI(base_url=args.base_url, api_key="gk-0000000000-00000000000000000000000000000000", max_retries=0)
    try:
        bad.completions.create(model="tiny", prompt="x", max_tokens=1)
        check("a wrong key gets 401", False, "accepted")
    except openai.AuthenticationError as e:
        check("a wrong key gets 401", e.status_code == 401)
    try:
        client.completions.create(model="no-such-model", prompt="x", max_tokens=1)
        check("an unknown model gets 404", False, "accepted")
    except openai.NotFoundError as e:
        check("an unknown model gets 404", e.status_code == 404 and "no-such-model" in str(e))
    status, body = request("POST", args.base_url + "/completions", raw=b'{"model": "tiny", "prompt": ',
                        headers={"Authorization": f"Bearer {args.key}"})
    check("a malformed body gets 400 in OpenAI's error shape",
          status == 400 and body.get("error", {}).get("type") == "invalid_request_error" and body["error"].get("message"), str(body))


def keep_alive(args):
    """One connection, several requests, streamed and not: the connection is reused."""
    url = urllib.parse.urlparse(args.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    statuses = []
    for i in range(4):
        body = json.dumps({"model": "tiny", "prompt": f"again {i}", "max_tokens": 4, "stream": i % 2 == 0})
        conn.request("POST", url.path + "/completions", body=body,
                     headers={"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        statuses.append(r.status)
    sock = conn.sock
    conn.close()
    check("a kept-alive connection serves streamed and whole requests one after another", statuses == [200] * 4 and sock is not None, str(statuses))


def disconnect(args):
    """A client that goes away mid-stream: the job is cancelled and the engine's slot freed."""
    url = urllib.parse.urlparse(args.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    body = json.dumps({"model": "tiny", "prompt": "a long story", "max_tokens": 12000, "stream": True})
    conn.request("POST", url.path + "/completions", body=body,
                 headers={"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"})
    r = conn.getresponse()
    job = r.getheader("x-gantry-job-id")
    seen = 0
    while seen < 3:
        line = r.fp.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            seen += 1
    conn.sock.close()
    conn.close()
    # The stream is closed. Every slot of every engine must be idle again within a second.
    gone = time.time()
    busy = True
    while time.time() - gone < 1.0 and busy:
        busy = any(s.get("is_processing") for e in args.engine for s in request("GET", e + "/slots")[1])
        if busy:
            time.sleep(0.02)
    check("a disconnect mid-stream frees the engine's slot within a second", not busy and job is not None,
          f"job {job}, after {time.time() - gone:.2f} s")
    facts["cancelled_job"] = job


def priorities(args):
    """Two tenants' keys of different priorities, competing for busy engines."""
    low = openai.OpenAI(base_url=args.base_url, api_key=args.low_key, max_retries=0, timeout=120)
    high = openai.OpenAI(base_url=args.base_url, api_key=args.high_key, max_retries=0, timeout=120)
    # Fill every slot with long requests of the low key; each ends (its client goes away)
    # only when released, once every short request is queued.
    started = threading.Barrier(args.slots + 1)
    releases = [threading.Event() for _ in range(args.slots)]
    blockers = []

    def blocker(release):
        stream = low.completions.create(model="tiny", prompt="fill", max_tokens=12000, stream=True)
        first = True
        for _ in stream:
            if first:
                started.wait(timeout=60)
                first = False
            if release.is_set():
                break
        stream.close()

    for release in releases:
        t = threading.Thread(target=blocker, args=(release,))
        t.start()
        blockers.append(t)
    started.wait(timeout=60)
    # Each short request's job: the test compares when gantryd assigned them (attempt
    # history). Not when their first token or their end came: an engine whose slot was
    # just freed by a cancellation can be 0.1-0.2 s slower to answer than the other, so a
    # high request placed first can still answer after a low one placed next on the
    # other engine. Times of the first token are printed for the record.
    started_at, jobs = {}, {}

    def short(name, client):
        stream = client.completions.create(model="tiny", prompt=name, max_tokens=8, stream=True,
                                           stream_options={"include_usage": True})
        for chunk in stream:
            started_at.setdefault(name, time.monotonic())
            if chunk.usage:
                jobs[name] = ((chunk.usage.model_extra or {}).get("gantry") or {}).get("job_id")
        stream.close()

    waiting = []
    for i in range(4):
        waiting.append(threading.Thread(target=short, args=(f"low-{i}", low)))
        waiting[-1].start()
    time.sleep(0.3)  # the low ones are queued first
    for i in range(4):
        waiting.append(threading.Thread(target=short, args=(f"high-{i}", high)))
        waiting[-1].start()
    time.sleep(1.0)  # every short request is queued
    for release in releases:  # one slot at a time
        release.set()
        time.sleep(0.5)
    for t in blockers + waiting:
        t.join(timeout=120)
    print("first tokens (s):", json.dumps({k: round(v, 3) for k, v in sorted(started_at.items(), key=lambda kv: kv[1])}))
    check("every short request of both priorities was answered, with its job id",
          len(jobs) == 8 and all(jobs.values()), json.dumps(jobs))
    facts["priority_jobs"] = jobs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--low-key", required=True)
    p.add_argument("--high-key", required=True)
    p.add_argument("--engine", action="append", required=True)
    p.add_argument("--slots", type=int, required=True, help="slots the engines have in all")
    args = p.parse_args()
    client = openai.OpenAI(base_url=args.base_url, api_key=args.key, max_retries=0, timeout=60)
    basics(client, args)
    keep_alive(args)
    disconnect(args)
    priorities(args)
    print(json.dumps(facts))
    print(f"{'FAILED' if failures else 'OK'}: {len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
