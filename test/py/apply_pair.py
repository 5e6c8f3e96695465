# A legacy server and its client, neither of which asks for keepalive.
# server HOST: listens, prints "listening PORT", and answers on every
#   connection it accepts: "opts" with its own end's options, anything else
#   echoed.
# client HOST PORT N: makes N connections and prints "ready"; then each line
#   on stdin is a command: "check" sends "opts" on every connection and
#   prints, per connection, its own end's options and the server's answer
#   (so the bytes still flow); "new" makes one more connection and checks it.
import socket, sys, threading

def opts(s):
    g = lambda level, name: s.getsockopt(level, name)
    return "ka=%d idle=%d intvl=%d cnt=%d" % (g(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), g(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        g(socket.IPPROTO_TCP, socket.TCP_KEEPCNT))

def serve(c):
    f = c.makefile("rb")
    for line in f:
        c.sendall((opts(c) + "\n").encode() if line == b"opts\n" else line)

if sys.argv[1] == "server":
    l = socket.socket(socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET)
    l.bind((sys.argv[2], 0))
    l.listen(16)
    print("listening", l.getsockname()[1], flush=True)
    while True:
        c, _ = l.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conns = [socket.create_connection((host, port)) for _ in range(n)]
print("ready", flush=True)

def check(i, c):
    c.sendall(b"opts\n")
    answer = c.makefile("rb").readline().decode().strip()
    print("conn %d client %s server %s" % (i, opts(c), answer.replace(" ", ",")), flush=True)

for cmd in sys.stdin:
    if cmd == "new\n":
        conns.append(socket.create_connection((host, port)))
        check(len(conns) - 1, conns[-1])
    else:
        for i, c in enumerate(conns):
            check(i, c)
    print("done", flush=True)
