import os, socket, sys
assert os.environ["LISTEN_PID"] == str(os.getpid()) and os.environ["LISTEN_FDS"] == "1"
l = socket.socket(fileno=3)
print("listening listener_ka=%d" % l.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), flush=True)
c, _ = l.accept()
g = c.getsockopt
print("accepted ka=%d idle=%d intvl=%d cnt=%d" % (g(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
      g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), g(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
      g(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)), flush=True)
sys.stdin.readline()
