import ctypes, os, socket, sys
mode, n = sys.argv[1], int(sys.argv[2])
if len(sys.argv) > 3:
    ctypes.CDLL(None).prctl(15, os.fsencode(sys.argv[3]), 0, 0, 0)
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(64)
mine = []
for i in range(n):
    c = socket.create_connection(l.getsockname())
    a, _ = l.accept()
    mine += [(c, True), (a, False)]
for s, connecting in mine:
    if mode == "keepalive" or (mode == "half" and connecting):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 77)
print("ready", flush=True)
sys.stdin.readline()
