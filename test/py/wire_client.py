import socket, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.create_connection((host, port))
s.sendall(b"hello\n")
s.recv(6)
print("connected", flush=True)
sys.stdin.readline()  # the test has taken the peer away
t0 = time.monotonic()
try:
    if mode == "busy":
        s.sendall(b"x" * 1000)
    data = s.recv(100)
    print("eof %r after %.2f" % (data, time.monotonic() - t0), flush=True)
except OSError as e:
    print("error %d after %.2f" % (e.errno, time.monotonic() - t0), flush=True)
