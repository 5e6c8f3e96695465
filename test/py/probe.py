import os, socket
s = socket.socket()
g = s.getsockopt
print(g(socket.SOL_SOCKET, socket.SO_KEEPALIVE), g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), g(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
      g(socket.IPPROTO_TCP, socket.TCP_KEEPCNT), g(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))
print(os.environ.get("LD_PRELOAD", ""))
