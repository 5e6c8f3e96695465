# A client that sets its own TCP_KEEPIDLE and TCP_USER_TIMEOUT between
# socket() and connect(), and what the kernel holds once it is connected;
# then its TCP_KEEPCNT after connect(), and what the kernel holds then.
import socket, sys
dst, port = sys.argv[1], int(sys.argv[2])
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((dst, port))
l.listen()
c = socket.socket()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 5)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 1234)
c.connect((dst, port))
g = lambda level, opt: c.getsockopt(level, opt)
show = lambda what: print("%s ka=%d idle=%d cnt=%d ut=%d" % (what, g(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
    g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), g(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
    g(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)), flush=True)
show("conn")
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 7)
show("after")
