import socket
for fam in (socket.AF_INET, socket.AF_INET6):
    s = socket.socket(fam, socket.SOCK_STREAM)
    print(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
          s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL), s.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))
