#!/usr/bin/python3
"""The guests' python3 peers: dynamically linked, so the preload reaches them.

peer.py server PORT          accepts on 127.0.0.1:PORT and holds connections
peer.py fdserver             the same on the listener systemd passes (fd 3)
peer.py client HOST PORT     connects (retrying) and holds the connection
peer.py ownclient HOST PORT  the same, with keepalive of its own (idle 100 s)
                             turned on before connect; SIGUSR1 connects again
peer.py clients HOST:PORT... connects to each in turn (retrying) and holds
                             them; SIGUSR1 connects to each again
peer.py wait HOST PORT FILE  connects, blocks in recv(), and writes when
                             (Unix seconds) and how it failed to FILE
"""
import signal
import socket
import sys
import threading
import time


def hold(conn):
    try:
        while conn.recv(512):
            pass
    except OSError:
        pass
    conn.close()


def serve(listener):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=hold, args=(conn,), daemon=True).start()


def connect(host, port):
    while True:
        try:
            return socket.create_connection((host, int(port)), timeout=5)
        except OSError as e:
            print("peer.py: connect:", e, "(again in 0.5 s)", file=sys.stderr, flush=True)
            time.sleep(0.5)


def main():
    mode = sys.argv[1]
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    if mode == "server":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", int(sys.argv[2])))
        listener.listen(16)
        serve(listener)
    elif mode == "fdserver":
        serve(socket.socket(fileno=3))
    elif mode == "client":
        conn = connect(sys.argv[2], sys.argv[3])
        conn.settimeout(None)
        print("peer.py: connected from", conn.getsockname(), flush=True)
        hold(conn)
        time.sleep(3600)
    elif mode == "ownclient":
        held = []
        while True:
            conn = socket.socket()
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 100)
            conn.connect((sys.argv[2], int(sys.argv[3])))
            held.append(conn)
            print("peer.py: connected from", conn.getsockname(), flush=True)
            signal.sigwait([signal.SIGUSR1])
    elif mode == "clients":
        held = []
        while True:
            for dest in sys.argv[2:]:
                host, port = dest.rsplit(":", 1)
                conn = connect(host, port)
                held.append(conn)
                print("peer.py: connected to", dest, "from", conn.getsockname(), flush=True)
            signal.sigwait([signal.SIGUSR1])
    elif mode == "wait":
        conn = connect(sys.argv[2], sys.argv[3])
        conn.settimeout(None)
        with open(sys.argv[4] + ".connected", "w") as f:
            f.write("%.3f\n" % time.time())
        try:
            conn.recv(1)
            err = "EOF"
        except OSError as e:
            err = str(e)
        with open(sys.argv[4], "w") as f:
            f.write("failed=%.3f err=%s\n" % (time.time(), err))
    else:
        sys.exit("peer.py: unknown mode " + mode)


main()
