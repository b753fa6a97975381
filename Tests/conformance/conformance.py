#!/usr/bin/env python3
"""A Gantry protocol conformance client, written from proto/README.md alone.

    conformance.py --port PORT --join-token FILE --admin-token FILE --generated DIR

DIR holds the Python code protoc generated from proto/gantry/v1/*.proto. The client runs
against a live gantryd: a full agent handshake, registration, a heartbeat, one job accepted
and completed, then a bad-input suite. It prints one line per check and exits non-zero if
any failed.
"""
import argparse
import hashlib
import hmac
import socket
import struct
import sys
import time

args = None
pb = None  # the generated modules, imported in main()
failures = []


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(name)


class Conn:
    """One TCP connection speaking frames: a 4-byte big-endian length, then an Envelope."""

    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
        self.buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, envelope):
        body = envelope.SerializeToString()
        self.send_raw(struct.pack(">I", len(body)) + body)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """The next Envelope, or None when the server closed the connection."""
        try:
            header = self._read(4)
            if header is None:
                return None
            (length,) = struct.unpack(">I", header)
            body = self._read(length)
            if body is None:
                return None
        except (ConnectionResetError, socket.timeout):
            return None
        env = pb.envelope.Envelope()
        env.ParseFromString(body)
        return env

    def recv_until_closed(self):
        out = []
        while True:
            env = self.recv()
            if env is None:
                return out
            out.append(env)

    def close(self):
        self.sock.close()


def token(path):
    with open(path, "rb") as f:
        return f.read().strip()


def mac(secret, role, node_id, nonce):
    # HMAC-SHA256(token, "gantry-auth-v1" 0x00 role 0x00 node_id 0x00 nonce)
    message = b"gantry-auth-v1\x00" + role + b"\x00" + node_id.encode() + b"\x00" + nonce
    return hmac.new(secret, message, hashlib.sha256).digest()


def envelope(request_id=0, **payload):
    env = pb.envelope.Envelope(request_id=request_id)
    for field, value in payload.items():
        getattr(env, field).CopyFrom(value)
    return env


def hello(role, node_id=""):
    return envelope(hello=pb.handshake.Hello(min_version=1, max_version=1, role=role, node_id=node_id, software="conformance.py"))


def handshake(conn, role, node_id, secret, role_name):
    conn.send(hello(role, node_id))
    challenge = conn.recv()
    if challenge is None or challenge.WhichOneof("payload") != "challenge":
        return None, challenge
    auth = mac(secret, role_name, node_id, challenge.challenge.nonce)
    conn.send(envelope(auth=pb.handshake.Auth(mac=auth)))
    return conn.recv(), auth


def first_error(envs):
    for env in envs:
        kind = env.WhichOneof("payload")
        if kind == "reject":
            return env.reject.code
        if kind == "error":
            return env.error.code
    return None


def agent_flow(join, admin):
    E = pb.error
    agent = Conn()
    welcome, _ = handshake(agent, pb.handshake.ROLE_AGENT, "conformance-agent", join, b"agent")
    check("agent handshake gives Welcome", welcome is not None and welcome.WhichOneof("payload") == "welcome", str(welcome))
    engine = pb.node.Engine(name="fake", kind=pb.node.ENGINE_KIND_SIM, models=["conformance-model"], slots=1, healthy=True)
    agent.send(envelope(register=pb.node.Register(node_id="conformance-agent", engines=[engine], software="conformance.py")))
    registered = agent.recv()
    check("Register gives Registered", registered is not None and registered.WhichOneof("payload") == "registered", str(registered))
    agent.send(envelope(heartbeat=pb.node.Heartbeat(seq=1, sent_at_unix_ms=int(time.time() * 1000), engines=[engine])))

    ctl = Conn()
    welcome, _ = handshake(ctl, pb.handshake.ROLE_ADMIN, "", admin, b"admin")
    check("admin handshake gives Welcome with admin permission",
          welcome is not None and welcome.WhichOneof("payload") == "welcome" and welcome.welcome.permission == pb.handshake.PERMISSION_ADMIN)
    spec = pb.admin.JobSpec(model="conformance-model", prompt="hello from python", max_tokens=5)
    ctl.send(envelope(request_id=1, admin_request=pb.admin.AdminRequest(submit=pb.admin.SubmitRequest(jobs=[spec]))))
    answer = ctl.recv()
    ok = answer is not None and answer.request_id == 1 and answer.WhichOneof("payload") == "admin_response"
    check("submit is answered with the job id", ok, str(answer))
    job_id = answer.admin_response.submit.job_ids[0] if ok else ""

    assign = agent.recv()
    while assign is not None and assign.WhichOneof("payload") == "error":  # tolerate non-fatal notices
        assign = agent.recv()
    ok = assign is not None and assign.WhichOneof("payload") == "job_assign" and assign.job_assign.job_id == job_id
    check("the job is assigned to the fake agent", ok, str(assign))
    if not ok:
        return
    a = assign.job_assign
    agent.send(envelope(job_accept=pb.job.JobAccept(job_id=a.job_id, attempt=a.attempt)))
    agent.send(envelope(job_progress=pb.job.JobProgress(job_id=a.job_id, attempt=a.attempt, output_delta="one ", completion_tokens=1)))
    # Watch it: the output_deltas (since the last output_reset) concatenate to the output.
    ctl.send(envelope(request_id=3, admin_request=pb.admin.AdminRequest(watch_job=pb.admin.WatchJobRequest(job_id=job_id))))
    watched, events = "", [ctl.recv()]
    now = int(time.time() * 1000)
    agent.send(envelope(job_result=pb.job.JobResult(
        job_id=a.job_id, attempt=a.attempt, outcome=pb.job.OUTCOME_SUCCEEDED, output="one two three four five",
        usage=pb.job.Usage(prompt_tokens=4, completion_tokens=5), started_at_unix_ms=now, finished_at_unix_ms=now, engine="fake")))
    ack = agent.recv()
    check("the result is acknowledged", ack is not None and ack.WhichOneof("payload") == "job_ack" and ack.job_ack.attempt == a.attempt, str(ack))
    while events[-1] is not None and events[-1].WhichOneof("payload") == "job_event" and not events[-1].job_event.final:
        events.append(ctl.recv())
    for e in events:
        if e is not None and e.WhichOneof("payload") == "job_event" and e.request_id == 3:
            watched = (e.job_event.output_delta if e.job_event.output_reset else watched + e.job_event.output_delta)
    check("a watch's output_deltas concatenate to the final output",
          watched == "one two three four five" and events[-1] is not None and events[-1].job_event.final, repr(watched))

    # A stale attempt number is refused (and still acknowledged).
    agent.send(envelope(job_result=pb.job.JobResult(
        job_id=a.job_id, attempt=a.attempt + 7, outcome=pb.job.OUTCOME_SUCCEEDED, started_at_unix_ms=now, finished_at_unix_ms=now)))
    stale = agent.recv()
    check("a result for a superseded attempt is refused as STALE_ATTEMPT",
          stale is not None and stale.WhichOneof("payload") == "error" and stale.error.code == E.ERROR_CODE_STALE_ATTEMPT, str(stale))

    ctl.send(envelope(request_id=2, admin_request=pb.admin.AdminRequest(get_job=pb.admin.GetJobRequest(job_id=job_id))))
    info = ctl.recv()
    ok = info is not None and info.WhichOneof("payload") == "admin_response"
    job = info.admin_response.job if ok else None
    check("the job succeeded with the agent's output and usage",
          ok and job.state == "succeeded" and job.output == "one two three four five" and job.usage.completion_tokens == 5, str(info))
    agent.close()
    ctl.close()


def requests(admin):
    """Request errors are non-fatal and echo their request id; listings come in pages."""
    E = pb.error
    c = Conn()
    handshake(c, pb.handshake.ROLE_ADMIN, "", admin, b"admin")
    # A malformed job id, pipelined with a good request behind it.
    c.send(envelope(request_id=11, admin_request=pb.admin.AdminRequest(get_job=pb.admin.GetJobRequest(job_id="not a job id!"))))
    c.send(envelope(request_id=12, admin_request=pb.admin.AdminRequest(status=pb.admin.StatusRequest())))
    first, second = c.recv(), c.recv()
    check("a malformed id: non-fatal BAD_REQUEST echoing the request id",
          first is not None and first.request_id == 11 and first.WhichOneof("payload") == "error"
          and first.error.code == E.ERROR_CODE_BAD_REQUEST and not first.error.fatal, str(first))
    check("... and the request behind it is answered", second is not None and second.request_id == 12
          and second.WhichOneof("payload") == "admin_response", str(second))
    # A request type from a newer version: AdminRequest field 99 (tag 0x9a 0x06, length 0),
    # inside Envelope field 40 (tag 0xc2 0x02, length 3).
    newer = envelope(request_id=13).SerializeToString() + bytes([0xC2, 0x02, 0x03, 0x9A, 0x06, 0x00])
    c.send_raw(struct.pack(">I", len(newer)) + newer)
    err = c.recv()
    check("an unknown request type: non-fatal UNSUPPORTED echoing the request id",
          err is not None and err.request_id == 13 and err.WhichOneof("payload") == "error"
          and err.error.code == E.ERROR_CODE_UNSUPPORTED and not err.error.fatal, str(err))
    # Pages: two more jobs (for a model nobody serves, so they wait), then list one at a time.
    spec = pb.admin.JobSpec(model="conformance-nobody", prompt="wait", max_tokens=1)
    c.send(envelope(request_id=14, admin_request=pb.admin.AdminRequest(submit=pb.admin.SubmitRequest(jobs=[spec, spec]))))
    c.recv()
    seen, page_token, pages = [], "", 0
    while pages < 10:
        c.send(envelope(request_id=20 + pages, admin_request=pb.admin.AdminRequest(
            list_jobs=pb.admin.ListJobsRequest(limit=1, page_token=page_token))))
        page = c.recv()
        if page is None or page.WhichOneof("payload") != "admin_response":
            break
        seen += [j.job_id for j in page.admin_response.jobs.jobs]
        page_token = page.admin_response.jobs.next_page_token
        pages += 1
        if not page_token:
            break
    check("ListJobs pages: limit 1 and next_page_token walk every job, newest first",
          len(seen) >= 3 and len(set(seen)) == len(seen) and seen == sorted(seen, reverse=True), str(seen))
    c.close()


def bad_inputs(join, admin):
    E = pb.error

    c = Conn()
    c.send_raw(struct.pack(">I", 64 * 1024 * 1024))
    check("oversize length: FRAME_TOO_LARGE and a close", first_error(c.recv_until_closed()) == E.ERROR_CODE_FRAME_TOO_LARGE)

    c = Conn()
    c.send_raw(struct.pack(">I", 100) + b"\x0a\x05")
    c.sock.shutdown(socket.SHUT_WR)
    check("truncated frame: BAD_FRAME and a close", first_error(c.recv_until_closed()) == E.ERROR_CODE_BAD_FRAME)

    c = Conn()
    body = hello(pb.handshake.ROLE_ADMIN).SerializeToString()
    c.send_raw(struct.pack(">I", len(body)) + body + b"\xff\xff\xff\xffgarbage")
    envs = c.recv_until_closed()
    check("garbage after a valid frame: the frame is answered, then FRAME_TOO_LARGE and a close",
          len(envs) >= 2 and envs[0].WhichOneof("payload") == "challenge" and first_error(envs[1:]) == E.ERROR_CODE_FRAME_TOO_LARGE, str(envs))

    c = Conn()
    welcome, _ = handshake(c, pb.handshake.ROLE_ADMIN, "", admin, b"admin")
    c.send_raw(struct.pack(">I", 3) + b"\x98\x06\x01")  # field 99, varint 1
    err = c.recv()
    check("unknown envelope field numbers: UNEXPECTED_MESSAGE naming the field, connection kept",
          err is not None and err.WhichOneof("payload") == "error" and err.error.code == E.ERROR_CODE_UNEXPECTED_MESSAGE
          and "99" in err.error.message and not err.error.fatal, str(err))
    c.send(envelope(request_id=5, admin_request=pb.admin.AdminRequest(status=pb.admin.StatusRequest())))
    status = c.recv()
    check("… and the connection still serves requests", status is not None and status.WhichOneof("payload") == "admin_response")
    # Wrong role for the message: an admin connection sending an agent's Register.
    c.send(envelope(register=pb.node.Register(node_id="x")))
    err = c.recv()
    check("wrong role: an admin sending Register gets UNEXPECTED_MESSAGE",
          err is not None and err.WhichOneof("payload") == "error" and err.error.code == E.ERROR_CODE_UNEXPECTED_MESSAGE, str(err))
    c.close()

    # A replayed auth response: record one, replay it on a new connection (new nonce).
    first = Conn()
    _, recorded = handshake(first, pb.handshake.ROLE_ADMIN, "", admin, b"admin")
    first.close()
    second = Conn()
    second.send(hello(pb.handshake.ROLE_ADMIN))
    second.recv()
    second.send(envelope(auth=pb.handshake.Auth(mac=recorded)))
    check("a replayed auth response: AUTH_FAILED", first_error(second.recv_until_closed()) == E.ERROR_CODE_AUTH_FAILED)

    c = Conn()
    c.send(hello(7))
    check("an unknown role: BAD_ROLE", first_error(c.recv_until_closed()) == E.ERROR_CODE_BAD_ROLE)

    c = Conn()
    answer, _ = handshake(c, pb.handshake.ROLE_ADMIN, "", join, b"admin")
    check("the join token presented for the admin role: AUTH_FAILED",
          first_error([answer] if answer is not None else []) == E.ERROR_CODE_AUTH_FAILED, str(answer))

    c = Conn()
    c.send(envelope(admin_request=pb.admin.AdminRequest(status=pb.admin.StatusRequest())))
    check("a request before the handshake: HANDSHAKE_REQUIRED", first_error(c.recv_until_closed()) == E.ERROR_CODE_HANDSHAKE_REQUIRED)

    c = Conn()
    c.send(envelope(hello=pb.handshake.Hello(min_version=9, max_version=12, role=pb.handshake.ROLE_ADMIN)))
    envs = c.recv_until_closed()
    check("an unsupported version: UNSUPPORTED_VERSION with the server's range",
          first_error(envs) == E.ERROR_CODE_UNSUPPORTED_VERSION and envs and envs[0].reject.max_version >= 1)

    # After all of that, the daemon still serves.
    c = Conn()
    welcome, _ = handshake(c, pb.handshake.ROLE_ADMIN, "", admin, b"admin")
    check("the daemon still serves after the bad inputs", welcome is not None and welcome.WhichOneof("payload") == "welcome")
    c.close()


def main():
    global args, pb
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--join-token", required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--generated", required=True, help="directory of protoc --python_out output")
    args = parser.parse_args()
    sys.path.insert(0, args.generated)
    import types
    from gantry.v1 import admin_pb2, envelope_pb2, error_pb2, handshake_pb2, job_pb2, node_pb2
    pb = types.SimpleNamespace(admin=admin_pb2, envelope=envelope_pb2, error=error_pb2, handshake=handshake_pb2, job=job_pb2, node=node_pb2)

    join, admin = token(args.join_token), token(args.admin_token)
    agent_flow(join, admin)
    requests(admin)
    bad_inputs(join, admin)
    print(f"{'FAILED' if failures else 'OK'}: {len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
