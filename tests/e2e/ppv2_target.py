"""A TCP target for load balancer tests: it reads the Proxy Protocol v2 header each
connection starts with (TLVs included), answers its name and closes, recording each header
and the address the connection came from.
"""

import socket
import struct
import threading


def listening(host):
    """A listening TCP socket on `host` at a free port: (socket, port)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(64)
    return sock, sock.getsockname()[1]


class Target:
    """A TCP server that reads a Proxy Protocol v2 header (with its TLVs), answers its name
    and closes; it records each header and the address the connection came from."""

    def __init__(self, name, host):
        self.name = name
        self.sock, self.port = listening(host)
        self.seen = []  # dicts: command, peer, source, destination, vpce
        self.running = True
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while self.running:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(5)
                    head = self.read(conn, 16)
                    assert head[:12] == b"\r\n\r\n\0\r\nQUIT\n", head
                    body = self.read(conn, struct.unpack(">H", head[14:16])[0])
                    if head[12] == 0x20:  # LOCAL: a health check
                        self.seen.append({"command": "LOCAL"})
                        continue
                    vpce, tlvs = None, body[12:]
                    while len(tlvs) >= 3:
                        kind, length = tlvs[0], struct.unpack(">H", tlvs[1:3])[0]
                        value, tlvs = tlvs[3:3 + length], tlvs[3 + length:]
                        if kind == 0xEA and value[:1] == b"\x01":
                            vpce = value[1:].decode()
                    self.seen.append({
                        "command": "PROXY",
                        "peer": peer[0],
                        "source": socket.inet_ntoa(body[0:4]),
                        "destination": (socket.inet_ntoa(body[4:8]), struct.unpack(">H", body[10:12])[0]),
                        "vpce": vpce,
                    })
                    conn.sendall(self.name.encode())
                except (OSError, AssertionError):
                    pass

    @staticmethod
    def read(conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def proxied(self):
        return [s for s in self.seen if s["command"] == "PROXY"]

    def stop(self):
        self.running = False
        self.sock.close()


def call(address, port, source):
    """One connection from `source`; what the far end answered (empty when it closed at once)."""
    with socket.create_connection((address, port), timeout=10, source_address=(source, 0)) as s:
        data = b""
        while True:
            chunk = s.recv(100)
            if not chunk:
                return data.decode()
            data += chunk
