"""A second process for the USRBIO tests: drives t3fs_usrbio from argv's JSON command and prints
one JSON line of results. Commands:
  {"cmd": "read", "socket", "path", "ios": [[bufOff, fileOff, len], ...], "region": n, "out": file}
      one batch of reads; the region is saved to `out`; prints the completions
  {"cmd": "write", "socket", "path", "ios": [...], "region": n, "seed": s, "data": file}
      fills the region with bytes from `seed`, saves them to `data`, writes them in one batch
  {"cmd": "die", "socket", "path", "ios": [...], "region": n}
      submits a batch of reads and kills itself (SIGKILL) before reaping
  {"cmd": "errors", "socket", "path"}  the coded errors of bad inputs
"""
import json, os, random, signal, socket, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../actors/client/usrbio"))
import t3fs_usrbio as u

c = json.loads(sys.argv[1])
io = u.connect(c["socket"])

def batch(ring, region, f, ios, write):
    for i, (b, o, n) in enumerate(ios):
        (ring.prep_write if write else ring.prep_read)(region, b, f, o, n, userdata=1000 + i)
    ring.submit()
    done = ring.wait(len(ios))
    return sorted([[d.userdata - 1000, d.result] for d in done])

if c["cmd"] in ("read", "write", "die"):
    region = io.create_region(c["region"])
    ring = io.create_ring(c.get("entries", 64))
    if c["cmd"] == "read":
        f = io.open(c["path"])
        res = batch(ring, region, f, c["ios"], False)
        with open(c["out"], "wb") as out:
            out.write(region.buf)
        print(json.dumps({"results": res, "size": f.size}))
    elif c["cmd"] == "write":
        rnd = random.Random(c["seed"])
        data = bytes(rnd.getrandbits(8) for _ in range(4096)) * (c["region"] // 4096)
        region.buf[: len(data)] = data
        with open(c["data"], "wb") as out:
            out.write(region.buf)
        f = io.open(c["path"], write=True, create=True)
        res = batch(ring, region, f, c["ios"], True)
        io.close_file(f)
        print(json.dumps({"results": res}))
    else:
        f = io.open(c["path"])
        for i, (b, o, n) in enumerate(c["ios"]):
            ring.prep_read(region, b, f, o, n, userdata=i)
        ring.submit()
        print(json.dumps({"submitted": len(c["ios"])}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
elif c["cmd"] == "flood":
    # 200000 bad requests in one go (unknown op), then count the answers until the server hangs up.
    replies, closed = 0, False
    try:
        io.sock.sendall(b'{"id":1,"op":"nuke"}\n' * 200000)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    io.sock.settimeout(5)
    try:
        while not closed and replies < 200000:
            data = io.sock.recv(1 << 20)
            if not data:
                closed = True
                break
            replies += data.count(b"\n")
    except (socket.timeout, ConnectionResetError):
        closed = True
    print(json.dumps({"replies": replies, "closed": closed}))
elif c["cmd"] == "errors":
    codes = {}
    def code(name, fn):
        try:
            fn()
            codes[name] = "no error"
        except u.UsrbioError as e:
            codes[name] = [e.code, str(e)]
    code("bad-region-name", lambda: io.register_region("../etc/passwd"))
    code("missing-region", lambda: io.register_region("t3fs-no-such-region"))
    region = io.create_region(1 << 20)
    ring = io.create_ring(4)
    f = io.open(c["path"])
    code("out-of-range", lambda: ring.prep_read(region, (1 << 20) - 10, f, 0, 100))
    code("write-on-read-fd", lambda: ring.prep_write(region, 0, f, 0, 100))
    code("missing-file", lambda: io.open("/no/such/file"))
    code("bad-ring-entries", lambda: io.create_ring(3))
    code("zero-region", lambda: io.create_region(0))
    r = io._request({"op": "create-region", "sizeBytes": 1 << 16})
    fd = os.open(r["path"], os.O_RDWR)
    try:
        os.ftruncate(fd, 0)
        codes["shrink"] = "shrunk"
    except OSError as e:
        codes["shrink"] = e.errno
    os.close(fd)
    io._request({"op": "mapped", "object": r["region"]})
    code("mapped-twice", lambda: io._request({"op": "mapped", "object": r["region"]}))
    for i in range(8):
        io._request({"op": "create-region", "sizeBytes": 4096})  # never mapped
    code("unmapped-limit", lambda: io._request({"op": "create-region", "sizeBytes": 4096}))
    for i in range(4):
        ring.prep_read(region, 0, f, 0, 10)
    code("ring-full", lambda: ring.prep_read(region, 0, f, 0, 10))
    ring.submit()
    done = ring.wait(4)
    codes["after-full"] = [d.result for d in done]
    print(json.dumps(codes))
if c["cmd"] != "flood":
    io.close()
