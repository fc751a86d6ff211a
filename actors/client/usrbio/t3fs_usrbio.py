"""USRBIO for Python: batched, zero-copy reads and writes of t3fs files through a local t3fs node's
usrbio actor. Pure standard library (mmap, socket, struct). The binary layout and the control
protocol are those of layout.ts and protocol.ts beside this file (keep them in step).

    import t3fs_usrbio as u
    io = u.connect()                      # or u.connect("/dev/shm/t3fs-usrbio.sock")
    region = io.create_region(64 << 20)   # region.buf is a writable memoryview over shared memory
    ring = io.create_ring(64)
    f = io.open("/data/x.bin")
    for i in range(16):
        ring.prep_read(region, i << 20, f, i << 20, 1 << 20, userdata=i)
    ring.submit()
    done = ring.wait(16)                  # [Completion(index, result, userdata)], result < 0 is -errno
    io.close()

Errors are UsrbioError with a stable `code` (ERR_USRBIO_RANGE, ERR_USRBIO_RING_FULL, the server's
codes such as ERR_USRBIO_REGION or ENOENT, ...).
"""
import json
import mmap
import os
import socket
import struct
import time
from collections import namedtuple

RING_MAGIC = 0x4F493354
RING_VERSION = 1
HEADER_BYTES = 512
SQE_BYTES = 48
CQE_BYTES = 24
OFF_MAGIC, OFF_VERSION, OFF_ENTRIES = 0, 4, 8
OFF_SQ_TAIL, OFF_SQ_HEAD, OFF_CQ_TAIL, OFF_CQ_HEAD = 64, 128, 192, 256
OFF_CQ_WAITING, OFF_SQ_NEED_WAKE, OFF_CQ_WAKE_MIN = 320, 384, 448
# Python stores have no fence: a flag seen late is covered by re-checking this often while waiting.
RECHECK_SECONDS = 0.01
OP_READ, OP_WRITE = 1, 2
MAX_RING_ENTRIES = 4096
MAX_IO_BYTES = 1 << 30
SHM_DIR = "/dev/shm"
DEFAULT_SOCKET = "/dev/shm/t3fs-usrbio.sock"
SQE = struct.Struct("<BBHIQQQQQ")
CQE = struct.Struct("<IIqQ")
U32 = struct.Struct("<I")

Completion = namedtuple("Completion", "index result userdata")


class UsrbioError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


def ring_bytes(entries):
    return HEADER_BYTES + entries * (SQE_BYTES + CQE_BYTES)


class Region:
    def __init__(self, rid, name, mm):
        self.id, self.name, self.mm = rid, name, mm
        self.buf = memoryview(mm)
        self.size = len(mm)


class File:
    def __init__(self, fd, path, write, size):
        self.fd, self.path, self.write, self.size = fd, path, write, size


class Ring:
    def __init__(self, client, rid, name, mm, entries):
        self.client, self.id, self.name, self.mm, self.entries = client, rid, name, mm, entries
        self._cq_base = HEADER_BYTES + entries * SQE_BYTES

    def _get(self, off):
        return U32.unpack_from(self.mm, off)[0]

    def _set(self, off, v):
        U32.pack_into(self.mm, off, v & 0xFFFFFFFF)

    def queued(self):
        return (self._get(OFF_SQ_TAIL) - self._get(OFF_SQ_HEAD)) & 0xFFFFFFFF

    def prep_read(self, region, buf_offset, f, file_offset, length, userdata=0):
        return self._prep(OP_READ, region, buf_offset, f, file_offset, length, userdata)

    def prep_write(self, region, buf_offset, f, file_offset, length, userdata=0):
        if not f.write:
            raise UsrbioError("ERR_USRBIO_FD", f"prep_write: {f.path} (fd {f.fd}) was opened for reading; open it with write=True")
        return self._prep(OP_WRITE, region, buf_offset, f, file_offset, length, userdata)

    def _prep(self, op, region, buf_offset, f, file_offset, length, userdata):
        if not (0 <= length <= MAX_IO_BYTES) or buf_offset < 0 or file_offset < 0 or buf_offset + length > region.size:
            raise UsrbioError("ERR_USRBIO_RANGE", f"[{buf_offset}, {buf_offset + length}) is outside region {region.name} of {region.size} bytes (or a negative offset)")
        tail = self._get(OFF_SQ_TAIL)
        if ((tail - self._get(OFF_SQ_HEAD)) & 0xFFFFFFFF) >= self.entries:
            raise UsrbioError("ERR_USRBIO_RING_FULL", f"ring {self.name} has {self.entries} SQEs the server has not taken yet; submit() and wait() before preparing more")
        at = HEADER_BYTES + (tail & (self.entries - 1)) * SQE_BYTES
        SQE.pack_into(self.mm, at, op, 0, region.id, f.fd, buf_offset, file_offset, length, userdata, 0)
        self._set(OFF_SQ_TAIL, tail + 1)  # after the SQE: x86-64 keeps the two stores in order
        return tail

    def submit(self):
        """Hands queued SQEs to the server: rings the doorbell only when it is idle (sqNeedWake)."""
        if self._get(OFF_SQ_NEED_WAKE) == 1 and self.queued() > 0:
            self._ring()

    def _ring(self):
        self.client._send({"op": "submit", "ring": self.id})

    def _reap(self, out):
        head, tail = self._get(OFF_CQ_HEAD), self._get(OFF_CQ_TAIL)
        while head != tail:
            at = self._cq_base + (head & (self.entries - 1)) * CQE_BYTES
            idx, _, result, userdata = CQE.unpack_from(self.mm, at)
            out.append(Completion(idx, result, userdata))
            head = (head + 1) & 0xFFFFFFFF
        self._set(OFF_CQ_HEAD, head)
        if self.queued() > 0:
            self._ring()  # the server pauses while the CQ is full

    def wait(self, min_results=1, timeout=60.0):
        out = []
        deadline = time.monotonic() + timeout
        while True:
            self._reap(out)
            if len(out) >= min_results:
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise UsrbioError("ERR_USRBIO_TIMEOUT", f"ring {self.name}: {len(out)} of {min_results} completions within {timeout} s")
            self._set(OFF_CQ_WAKE_MIN, min_results - len(out))
            self._set(OFF_CQ_WAITING, 1)
            if self._get(OFF_CQ_TAIL) != self._get(OFF_CQ_HEAD):
                continue
            if not self.client._pump(min(left, RECHECK_SECONDS)) and self.queued() > 0:
                self._ring()  # nothing for a while and SQEs not taken: the idle flag may have been missed


class Client:
    def __init__(self, socket_path=DEFAULT_SOCKET):
        self.socket_path = socket_path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(socket_path)
        except OSError as e:
            raise UsrbioError("ECONNREFUSED" if isinstance(e, ConnectionRefusedError) else "ENOENT", f"connecting to {socket_path}: {e}; is a t3fs node with the usrbio actor running?")
        self._pending = b""
        self._replies = {}
        self._next = 1

    def _send(self, msg):
        self.sock.sendall((json.dumps(msg) + "\n").encode())

    def _pump(self, timeout):
        """Reads what the server sent (replies and wake-ups), waiting up to `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not data:
            raise UsrbioError("ERR_USRBIO_DISCONNECTED", f"the usrbio server at {self.socket_path} closed the connection")
        self._pending += data
        while b"\n" in self._pending:
            line, self._pending = self._pending.split(b"\n", 1)
            m = json.loads(line)
            if "id" in m and m["id"] is not None:
                self._replies[m["id"]] = m
        return True

    def _request(self, msg, timeout=30.0):
        rid = self._next
        self._next += 1
        msg["id"] = rid
        self._send(msg)
        deadline = time.monotonic() + timeout
        while rid not in self._replies:
            left = deadline - time.monotonic()
            if left <= 0:
                raise UsrbioError("ERR_USRBIO_TIMEOUT", f"no reply to {msg['op']} within {timeout} s")
            self._pump(left)
        r = self._replies.pop(rid)
        if not r.get("ok"):
            raise UsrbioError(r.get("code", "EIO"), r.get("message", ""))
        return r

    def _map_server_memory(self, path, obj, size):
        """Maps memory the server made (a size-sealed memfd at /proc/<pid>/fd/<n>), then lets it close its fd."""
        fd = os.open(path, os.O_RDWR)
        try:
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self._request({"op": "mapped", "object": obj})
        return mm

    def create_region(self, size):
        """A new region of `size` bytes; region.buf is a writable memoryview over it."""
        r = self._request({"op": "create-region", "sizeBytes": size})
        return Region(r["region"], r["path"], self._map_server_memory(r["path"], r["region"], size))

    def register_region(self, name):
        """Registers an existing /dev/shm file; returns the server's {region, sizeBytes}."""
        return self._request({"op": "register-region", "name": name})

    def create_ring(self, entries):
        if entries < 1 or entries > MAX_RING_ENTRIES or entries & (entries - 1):
            raise UsrbioError("ERR_USRBIO_RING", f"ring entries is {entries}; accepted: a power of two from 1 to {MAX_RING_ENTRIES}")
        r = self._request({"op": "create-ring", "entries": entries})
        return Ring(self, r["ring"], r["path"], self._map_server_memory(r["path"], r["ring"], ring_bytes(entries)), entries)

    def open(self, path, write=False, create=False, trunc=False):
        r = self._request({"op": "open", "path": path, "write": write, "create": create, "trunc": trunc})
        return File(r["fd"], path, write, r["sizeBytes"])

    def close_file(self, f):
        self._request({"op": "close", "fd": f.fd})

    def close(self):
        self.sock.close()


def connect(socket_path=None):
    return Client(socket_path or os.environ.get("T3FS_USRBIO_SOCKET", DEFAULT_SOCKET))
