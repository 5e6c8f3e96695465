# For each DST,PORT,SRC argument: a listener on DST:PORT and a client bound
# to SRC connected to it, both in this process (so both under the library or
# neither), and what the kernel says of each end's keepalive.
import socket, sys
def ka(s):
    return "ka=%d idle=%d cnt=%d" % (s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT))
for arg in sys.argv[1:]:
    dst, port, src = arg.split(",")
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    l = socket.socket(fam)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((dst, int(port)))
    l.listen()
    c = socket.socket(fam)
    c.bind((src, 0))
    c.connect((dst, int(port)))
    a, _ = l.accept()
    print("%s client %s accepted %s" % (arg, ka(c), ka(a)), flush=True)
    for s in (c, a, l):
        s.close()
