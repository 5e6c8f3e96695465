import socket
for fam in (socket.AF_INET, socket.AF_INET6):
    s = socket.socket(fam, socket.SOCK_STREAM)
    g = lambda lvl, opt: s.getsockopt(lvl, opt)
    print(fam.name, "ka=%d idle=%d intvl=%d cnt=%d ut=%d" % (g(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), g(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        g(socket.IPPROTO_TCP, socket.TCP_KEEPCNT), g(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)))
print("PASS")
