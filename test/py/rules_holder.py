# Holds loopback connections without keepalive for the rules by
# destination, both ends of each, until its stdin ends: n1 to a listener on
# 127.0.0.1, n2 to one on 127.0.0.2 (every other client bound to
# 127.0.0.2, the others from 127.0.0.1, loopback's source), n3 to a second
# listener on 127.0.0.1. Its ports are for ss to tell.
import socket, sys
counts = [int(a) for a in sys.argv[1:4]]
mine = []
for host, n in zip(["127.0.0.1", "127.0.0.2", "127.0.0.1"], counts):
    l = socket.socket()
    l.bind((host, 0))
    l.listen(64)
    mine.append(l)
    for i in range(n):
        c = socket.socket()
        if host == "127.0.0.2" and i % 2 == 0:
            c.bind(("127.0.0.2", 0))
        c.connect(l.getsockname())
        a, _ = l.accept()
        mine += [c, a]
print("ready", flush=True)
sys.stdin.readline()
